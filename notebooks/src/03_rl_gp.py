# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · GeneralPoints: SFT vs RL from one init (the study)
#
# The paper's experiment on GeneralPoints (paper Sec. 5, Fig 5 and 6), per seed:
#
# 1. **the init**: an early checkpoint of SFT on in-distribution demonstrations (J/Q/K = 10; black
#    suits for `vl`), from the pretrained base (the paper's GP-L init is step 400 of a 1600-step run);
# 2. **the SFT arm**: the same SFT run continued past the init;
# 3. **the RL arm**: multi-turn PPO with sequential revision (5 attempts, the verifier's feedback
#    after each wrong answer) from that same init, in-distribution prompts only;
# 4. every checkpoint of both arms evaluated in distribution, under the rule change (J/Q/K =
#    11/12/13) and, for `vl`, the visual change (red suits), on one compute axis (paper App. C.3:
#    the init's compute and image tokens counted the same way in both arms).
#
# The metric is episode success within the verification budget; beside it, **rule reading** (the
# answer's `"number"` field right under the *stated* rule) and **recognition** (the `"cards"` field is
# the hand: read from the image for `vl`, copied from the prompt for `l`): they separate "did not
# see (or copy) the cards" / "did not read the rule" from "could not do the arithmetic".
#
# Writes `results/study_gp_<variant>.csv` (one row per seed, checkpoint and split; the figure
# notebooks draw Fig 5-8 from it) and `figures/study_gp_<variant>.png`; smoke runs write under
# `runs/smoke/` instead. Every run is cached under `runs/study/`: a rerun resumes or reads back.

# %% tags=["parameters"]
variant = "l"  # "l" (GP-L, cards as text) or "vl" (GP-VL, cards as an image)
scale = "tiny"  # "tiny" (CPU), "small" (SmolLM2-135M, text only) or "paper" (reads finished cluster runs)
n_seeds = 3  # seeds 0 .. n_seeds-1 (each reruns the init and both arms)
eval_n = 1000  # hands per split and checkpoint (the paper's protocol: 234)
init_steps = None  # SFT steps of the init checkpoint (None: the scale's preset, experiments.study.SFT_SCHEDULE)
sft_steps = None  # steps of the whole SFT run, the SFT arm being its checkpoints after the init (None: preset)
sft_checkpoints = 2  # SFT-arm checkpoints, evenly spaced after the init
rl_updates = 4  # PPO updates of the RL arm (its compute then spans the SFT arm's)
rl_checkpoint_every = 2  # evaluate a PPO checkpoint every this many updates
smoke = False  # a few steps, updates and hands only (CI)

# %%
import os
import warnings

import pandas as pd
from tqdm import TqdmWarning

warnings.filterwarnings("ignore", category=TqdmWarning)

from sftrl_repro.experiments.rl import training_curves
from sftrl_repro.experiments.study import (
    StudyConfig,
    ppo_dir,
    run_study_seeds,
    study_examples,
    write_study_results,
)
from sftrl_repro.paths import figures_dir, results_dir, runs_dir
from sftrl_repro.plots import save_figure
from sftrl_repro.plots.study import METRIC, describe_effects, plot_study, plot_training_curves, study_effects
from sftrl_repro.utils import check_choice, check_int

pd.set_option("display.width", 200)
pd.set_option("display.precision", 3)

# Validate every parameter up front: a bad value stops here with one message naming what is valid.
check_choice("smoke", smoke, (True, False))
check_int("n_seeds", n_seeds, low=1)
smoke = smoke or os.environ.get("SFTRL_SMOKE") == "1"  # CI runs every notebook in smoke mode
config = StudyConfig(task="gp", variant=variant, scale=scale, init_steps=init_steps, sft_steps=sft_steps,
                     sft_checkpoints=sft_checkpoints, rl_updates=rl_updates, rl_checkpoint_every=rl_checkpoint_every,
                     eval_n=None if scale == "paper" else eval_n)
seeds = list(range(n_seeds))
root = None
if smoke:  # a random tiny base and a handful of steps and hands: checks that the notebook runs end to end
    config = StudyConfig(task="gp", variant=variant, scale=scale, base="random", init_steps=2, sft_steps=4,
                         sft_checkpoints=1, n_demos=16, rl_updates=1, rl_checkpoint_every=1, eval_n=4,
                         sft_overrides={"per_device_batch_size": 4},
                         ppo_overrides={"transitions_per_update": 8, "num_envs": 4, "max_new_tokens": 32,
                                        "ppo_epochs": 1, "minibatch_size": 4, "grad_accum_steps": 1})
    seeds, root = [0], runs_dir() / "smoke" / "study"
key = f"gp_{variant}"
out_figures = runs_dir() / "smoke" / "figures" if smoke else figures_dir()

# %% [markdown]
# ## The recipes at this scale
# SFT and PPO presets of the scale beside the paper's (the tiny presets were tuned on
# in-distribution success only, never on OOD numbers).

# %%
# NBVAL_CHECK_OUTPUT
from sftrl_repro.trainers.ppo import PPOConfig
from sftrl_repro.trainers.sft import sft_run_config

keys = ["transitions_per_update", "ppo_epochs", "minibatch_size", "grad_accum_steps", "lr", "gamma", "gae_lambda",
        "clip_coef", "vf_coef", "max_grad_norm", "temperature", "logprob_temperature", "kl_coef", "ent_coef"]
preset = getattr(PPOConfig, scale if scale != "paper" else "paper")("gp", config.modality)
paper = PPOConfig.paper("gp", config.modality)
print(pd.DataFrame({f"PPO {scale}": [str(getattr(preset, k)) for k in keys],  # str: 6e-06 stays 6e-06
                    "PPO paper": [str(getattr(paper, k)) for k in keys]}, index=keys).to_string())
sft_keys = ["learning_rate", "per_device_batch_size", "gradient_accumulation_steps", "lr_scheduler", "warmup_ratio"]
sft_preset = sft_run_config(scale, "gp", variant, "unused")
print(pd.Series({k: str(getattr(sft_preset, k)) for k in sft_keys}, name=f"SFT {scale}").to_string())

# %% [markdown]
# ## Run (or read back) every seed
# Progress bars name the task, seed, arm and checkpoint. At the paper scale nothing is trained here:
# a missing cluster run stops with the command that makes it.

# %%
study = run_study_seeds(config, seeds, root=root, train=scale != "paper")
if not smoke:
    print("wrote", write_study_results(study))
metric = METRIC[key]
cols = ["method", "seed", "step", "gflops", "split", "success", "success_se", "first_attempt_success", "recognition",
        "rule_reading"]
study[cols].sort_values(["split", "seed", "method", "gflops"]).round(3)

# %% [markdown]
# ## Against training compute
# Top: episode success; bottom: the diagnostic (rule reading for GP-L, recognition for GP-VL).
# Curves: means over seeds with the range over seeds as a band.

# %%
fig = plot_study(study, key)
save_figure(fig, f"study_{key}" + ("" if scale == "tiny" else f"_{scale}"), folder=out_figures);

# %% [markdown]
# ## What this study shows
# Each arm at equal compute (per seed, the largest compute both arms reached; each arm's last
# checkpoint at or below it) minus the init, in percentage points, with its SE (the larger of the
# spread across seeds and the evaluation noise) and its size in SEs (`z`); `reading` says "up" or
# "down" only when |z| >= 2. The paper (GP-L, Fig 6): rule OOD, SFT 11.5% -> 3.4%, RL 11.5% -> 15.0%.

# %%
effects = pd.concat([study_effects(study, m) for m in dict.fromkeys([metric, "recognition", "rule_reading"])],
                    ignore_index=True)
effects.round(2)

# %%
# What can be read from it, in words (computed from the table above, not written by hand).
print(describe_effects(effects, metric))  # empty when no arm matched in compute

# %% [markdown]
# ## PPO diagnostics (seed 0)
# Mean reward per transition and episode success of the rollouts, PPO's approximate KL and clip
# fraction, the critic's explained variance and the sampled-token entropy, per update.

# %%
from dataclasses import replace

curves = training_curves(run_dir=ppo_dir(replace(config, seed=seeds[0]), root))
fig = plot_training_curves(curves)
save_figure(fig, f"study_{key}_ppo_training" + ("" if scale == "tiny" else f"_{scale}"), folder=out_figures);
curves.round(3).assign(lr=curves["lr"].map("{:.1e}".format))  # the learning rate in full, not rounded to 0

# %% [markdown]
# ## Real answers: the paper's failure examples (Fig 20)
# The init, the SFT arm's last checkpoint and the RL arm's last (seed 0) answer the same
# in-distribution and rule-OOD episodes (the first episodes of the evaluation protocol, sampled as
# in evaluation). Written to `results/examples_gp_<variant>.csv`; the figure shows an OOD
# episode where SFT fails (preferably one RL solves), as the paper's Fig 20.

# %%
from sftrl_repro.plots import plot_failure_examples
from sftrl_repro.utils import write_csv_atomic

examples = study_examples(replace(config, seed=seeds[0]), root, n=4 if smoke else 32)
out_results = runs_dir() / "smoke" / "results" if smoke else results_dir()
write_csv_atomic(out_results / f"examples_{key}.csv", examples)
fig = plot_failure_examples(examples, task="gp", split="rule_ood")
save_figure(fig, f"study_{key}_examples", folder=out_figures);
