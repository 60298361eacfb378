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
# # 02 · Supervised fine-tuning
#
# The paper's SFT (paper Sec. 3 and App. C): optimal single-turn demonstrations, answer only, in-distribution
# rule only (GeneralPoints: J/Q/K = 10, solver formulas; V-IRL: absolute headings, ground-truth
# rail), loss on the assistant's answer, checkpoints along the way. Each checkpoint then gets a quick
# evaluation (sampled, as the authors' evaluator): the share of first answers in the answer template (**format rate**) and the
# success rate in distribution and under the rule change (and the visual change for `vl`), against
# the training compute (trained tokens; GFLOPs = 6 N D).
#
# The tiny models start from the package's pretrained tiny base (`05_base`), which knows card
# values under stated rules, a little arithmetic and route following, but never saw the task: SFT
# teaches the answer format within 30 steps and the in-distribution rule soon after; success stays
# low because the base's arithmetic is weak. The study itself (SFT and RL from one init, with many
# more episodes per checkpoint) is `03_rl_gp` / `04_rl_virl`.
#
# It writes `results/sft_<task>_<variant>.csv` (one row per checkpoint and split),
# `results/sft_<task>_<variant>_loss.csv` and `figures/sft_<task>_<variant>.png` (a `_<scale>` suffix
# for scales other than `tiny`; smoke runs write under `runs/smoke/` instead).

# %% tags=["parameters"]
task = "gp"  # "gp" (GeneralPoints) or "virl" (V-IRL navigation)
variant = "l"  # "l" (text) or "vl" (vision-language)
scale = "tiny"  # "tiny" (CPU minutes), "small" (SmolLM2-135M, text only) or "paper" (Llama-3.2-11B-Vision)
steps = 120  # SFT optimizer steps (checkpoints at 1/4, 1/2, 3/4 and all of them)
seed = 0  # seed of the demonstrations, the initial weights and the data order
smoke = False  # a few steps and episodes only (CI)

# %%
import os
import warnings

import pandas as pd
from tqdm import TqdmWarning

warnings.filterwarnings("ignore", category=TqdmWarning)

from sftrl_repro.data import sft_dataset
from sftrl_repro.models import load_policy
from sftrl_repro.paths import figures_dir, results_dir, runs_dir
from sftrl_repro.plots import save_figure
from sftrl_repro.plots.study import plot_sft_run
from sftrl_repro.trainers.sft import (
    DEFAULT_DEMOS,
    SCALES,
    evaluate_sft_run,
    image_size_for,
    loss_curve,
    sft_run_config,
    sft_run_dir,
    train_sft,
)
from sftrl_repro.utils import check_choice, check_int, write_csv_atomic

pd.set_option("display.width", 200)
pd.set_option("display.precision", 3)

# Validate every parameter up front: a bad value stops here with one message naming what is valid.
check_choice("task", task, ("gp", "virl"))
check_choice("variant", variant, ("l", "vl"))
check_choice("scale", scale, SCALES)
check_int("steps", steps, low=1)
check_int("seed", seed, low=0)
check_choice("smoke", smoke, (True, False))
smoke = smoke or os.environ.get("SFTRL_SMOKE") == "1"  # CI runs every notebook in smoke mode
base = "random" if smoke else "pretrained"  # tiny: the package's pretrained base (05_base); random keeps smoke short
if scale == "small" and variant == "vl":
    raise ValueError("scale='small' with variant='vl' is not valid: SmolLM2 reads text only; use 'tiny' or 'paper'")

modality = "vision" if variant == "vl" else "language"
if smoke:
    steps = min(steps, 8)
n_demos = 64 if smoke else DEFAULT_DEMOS[scale]
n_eval = 4 if smoke else (32 if task == "gp" else 16)  # episodes per split and checkpoint (paper: 234 / 48)
image_size = image_size_for(scale, task)
suffix = "" if scale == "tiny" else f"_{scale}"
out_results = runs_dir() / "smoke" / "results" if smoke else results_dir()
out_figures = runs_dir() / "smoke" / "figures" if smoke else figures_dir()
name = f"sft_{task}_{variant}{suffix}"

# %% [markdown]
# ## Demonstrations
# One optimal answer per prompt, in the format of `sftrl_repro.prompts`; the prompts are dealt by the
# task's own environment, so they are exactly what evaluation and RL see.

# %%
# NBVAL_CHECK_OUTPUT
data = sft_dataset(task, variant, n_demos, seed=seed, image_size=image_size)
print(f"columns {data.column_names}; the first demonstration's answer:")
answer = data[0]["messages"][-1]["content"]
print(answer if isinstance(answer, str) else answer[0]["text"])

# %% [markdown]
# ## Training
# TRL's `SFTTrainer`, loss on the assistant's answer only. The run lives in `runs/sft/...`: rerunning
# this cell resumes an interrupted run, or reuses a finished one.

# %%
config = sft_run_config(scale, task, variant, sft_run_dir(scale, task, variant, seed=seed, max_steps=steps),
                        max_steps=steps, seed=seed, report_to="none")
result = train_sft(lambda: load_policy(scale, modality, seed=seed, base=base), data, config)

# %%
checkpoints = pd.DataFrame([{"step": c.step, "trained_tokens": c.trained_tokens,
                             "answer_tokens": c.trained_answer_tokens, "images": c.trained_images}
                            for c in result.checkpoints])
print(checkpoints.to_string(index=False))

# %%
losses = loss_curve(result.output_dir)
write_csv_atomic(out_results / f"{name}_loss.csv", losses)
print(losses.iloc[[0, len(losses) // 2, -1]].round(3).to_string(index=False))

# %% [markdown]
# ## Quick evaluation of every checkpoint
# Step 0 is the initial model. `format_rate`: first answers with every field of the template;
# `success`: episodes solved within the paper's attempt budget (± binomial standard error).

# %%
table = evaluate_sft_run(result, task, variant, initial=load_policy(scale, modality, seed=seed, base=base), n=n_eval,
                         image_size=image_size)
write_csv_atomic(out_results / f"{name}.csv", table)
print(table.round(3).to_string(index=False))

# %% [markdown]
# ## Figure (drawn from the `results/` tables)
# The middle panel draws the paper's metric: success for GeneralPoints, per-step accuracy (every graded
# answer, retries included) for V-IRL.

# %%
fig = plot_sft_run(pd.read_csv(out_results / f"{name}_loss.csv"), pd.read_csv(out_results / f"{name}.csv"),
                   task=task, title=f"SFT {task.upper()}-{variant.upper()} ({scale})")
save_figure(fig, name, folder=out_figures);
