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
# # 03 · RL on GeneralPoints (multi-turn PPO with sequential revision)
#
# The paper's RL arm (paper Sec. 3, 4.1 and 5): start from the SFT init checkpoint, train with PPO on the
# in-distribution rule (J/Q/K = 10; black suits for `vl`), where every answer (retries included) is
# a transition with its own outcome reward and each retry sees the verifier's feedback. Every
# checkpoint is evaluated in distribution and under the rule change (J/Q/K = 11/12/13), plus the
# visual change (red suits) for `vl`, against training compute in the paper's convention (D_init
# counted). The SFT arm comes from `02_sft` (same scale, variant, seed and steps) when its results
# exist.
#
# Writes `results/rl_gp_<variant>.csv` (one row per checkpoint and split), `results/rl_gp_<variant>_training.csv`
# and `figures/rl_gp_<variant>.png`; smoke runs write under `runs/smoke/` instead.

# %% tags=["parameters"]
variant = "l"  # "l" (GP-L, cards as text) or "vl" (GP-VL, cards as an image)
scale = "tiny"  # "tiny" (CPU minutes), "small" (SmolLM2-135M, text only) or "paper"
seed = 0  # seed of the SFT init run and of PPO
sft_steps = 120  # steps of the 02_sft run whose last checkpoint is the init
updates = 6  # PPO updates (the paper: 20)
eval_n = 64  # hands per split and checkpoint (the paper's protocol: 234)
smoke = False  # a few steps, updates and hands only (CI)

# %%
import os
import warnings

import pandas as pd
from tqdm import TqdmWarning

warnings.filterwarnings("ignore", category=TqdmWarning)

from sftrl_repro.experiments.rl import PAPER_RUNS, RLExperiment, run_rl_experiment, training_curves
from sftrl_repro.paths import figures_dir, results_dir, runs_dir
from sftrl_repro.plots import save_figure
from sftrl_repro.plots.study import plot_sft_vs_rl, plot_training_curves
from sftrl_repro.utils import check_choice, write_csv_atomic

pd.set_option("display.width", 200)
pd.set_option("display.precision", 3)

# Validate every parameter up front: a bad value stops here with one message naming what is valid.
check_choice("smoke", smoke, (True, False))
smoke = smoke or os.environ.get("SFTRL_SMOKE") == "1"  # CI runs every notebook in smoke mode
# Smoke mode shrinks the run, not the parameters (the preset table below shows the real run's).
# Its init takes 6 SFT steps, not 02_sft's smoke 8: under pytest-xdist the notebooks run at once
# and must not train into the same run folder.
run_sft_steps, run_updates, run_eval_n = (6, 1, min(eval_n, 4)) if smoke else (sft_steps, updates, eval_n)
if scale == "paper":  # the paper scale is read from finished cluster runs (scripts/slurm/), never trained here
    run_sft_steps, run_updates, run_eval_n = (PAPER_RUNS["gp"][k] for k in ("sft_steps", "updates", "eval_n"))
overrides = {"transitions_per_update": 8, "num_envs": 4, "max_new_tokens": 32} if smoke else {}
base = "random" if smoke else "pretrained"  # tiny: the pretrained base, as 02_sft; random keeps smoke short
experiment = RLExperiment(task="gp", variant=variant, scale=scale, seed=seed, sft_steps=run_sft_steps,
                          updates=run_updates, eval_n=run_eval_n, ppo_overrides=overrides, base=base, eval_max_new_tokens=32 if smoke else 96)
suffix = "" if scale == "tiny" else f"_{scale}"
out_results = runs_dir() / "smoke" / "results" if smoke else results_dir()
out_figures = runs_dir() / "smoke" / "figures" if smoke else figures_dir()
name = f"rl_gp_{variant}{suffix}"

# %% [markdown]
# ## The PPO recipe at this scale
# The paper's recipe is `PPOConfig.paper`; the `tiny` preset keeps the algorithm and changes only
# what the CPU budget forces (documented in `PPOConfig.tiny`).

# %%
# NBVAL_CHECK_OUTPUT
preset = RLExperiment(task=experiment.task, variant=variant, scale=scale, seed=seed, updates=updates).ppo_config()
keys = ["transitions_per_update", "updates", "ppo_epochs", "minibatch_size", "grad_accum_steps", "lr", "gamma",
        "gae_lambda", "clip_coef", "value_clip_coef", "vf_coef", "max_grad_norm", "temperature", "thought_coef",
        "ratio_level", "kl_coef", "ent_coef"]
from sftrl_repro.trainers.ppo import PPOConfig

paper = PPOConfig.paper("gp", experiment.modality)
print(pd.DataFrame({f"{scale} preset": [getattr(preset, k) for k in keys], "paper": [getattr(paper, k) for k in keys]},
                   index=keys).to_string())

# %% [markdown]
# ## Train and evaluate
# The init SFT run, the PPO run and every evaluation are cached under `runs/`: rerunning resumes an
# interrupted run or reads a finished one back.

# %%
if experiment.ppo_overrides:
    print("smoke overrides:", experiment.ppo_overrides)
# At the paper scale a missing run stops here with the command (and the sbatch line) that makes it.
table = run_rl_experiment(experiment, train=scale != "paper")
curves = training_curves(experiment)
write_csv_atomic(out_results / f"{name}.csv", table)
write_csv_atomic(out_results / f"{name}_training.csv", curves)

# %%
cols = ["method", "update", "gflops", "split", "success", "success_se", "first_attempt_success", "rule_reading"]
if variant == "vl":
    cols.append("recognition")
table[cols].round(3)

# %% [markdown]
# ## Training diagnostics
# Mean reward per transition and episode success of the rollouts, PPO's approximate KL and clip
# fraction, the critic's explained variance and the sampled-token entropy, per update.

# %%
curves.round(3)

# %%
fig = plot_training_curves(curves)
save_figure(fig, f"{name}_training", folder=out_figures);

# %% [markdown]
# ## SFT vs RL against compute

# %%
sft_file = (runs_dir() / "smoke" / "results" if smoke else results_dir()) / f"sft_gp_{variant}{suffix}.csv"
sft = pd.read_csv(sft_file) if sft_file.is_file() else None
fig = plot_sft_vs_rl(table, sft, title=f"GP-{variant.upper()} ({scale})")
save_figure(fig, name, folder=out_figures);

# %% [markdown]
# ## Paper vs this run
# The paper's rule-OOD numbers (Fig 6, GP success %) beside this run's init and last RL checkpoint.

# %%
paper_numbers = pd.read_csv(results_dir() / "paper" / "rule_ood.csv")
task_name = f"GP-{variant.upper()}"
ours = table[table.split == "rule_ood"].sort_values("gflops")
side_by_side = pd.DataFrame({
    "paper": paper_numbers.set_index("task").loc[task_name, ["init", "rl", "sft"]].tolist(),
    "this run": [100 * ours.success.iloc[0], 100 * ours.success.iloc[-1], float("nan")],
}, index=["init", "RL (last)", "SFT (equal compute)"])
side_by_side.round(1)
