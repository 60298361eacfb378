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
# # Fig 9, 10, 15, 16, 17, 19 · The paper's ablations and sweeps
#
# * Fig 9: RL from the base model without SFT fails (GP-L; the paper's learning rates 5e-7, 1e-6, 2e-6).
# * Fig 10: more verification iterations during RL training (1, 3, 5, 10) give more OOD growth at
#   equal compute (the paper: +0.48, +2.15, +2.99, +5.99 points).
# * Fig 15: SFT on sub-optimal multi-turn trajectories (errors and verifier messages) still overfits.
# * Fig 16 / 17: the SFT learning-rate sweep on GP-VL (all tuned; vision encoder frozen; encoder +
#   adapter frozen) and the RL learning-rate sweep.
# * Fig 19: RL from an over-fitted SFT checkpoint (V-IRL-VL, learning rates 1e-7, 2e-7) cannot recover.
#
# Reads `results/sweep_<name>.csv` (schema: `sftrl_repro.plots.sweeps`) and
# `results/paper/verification_steps.csv`, written by `python -m sftrl_repro.experiments.sweeps --name
# <name>` (`make sweeps`: all of them, hours on 2 cores). The cell below lists which have been run; a
# missing table draws a "not run yet" panel beside the paper's values, so the figures show what will
# be compared. Writes `figures/fig09_rl_from_base.png`,
# `figures/fig10_verification.png`, `figures/fig15_suboptimal_sft.png`, `figures/fig16_sft_lr.png`,
# `figures/fig17_rl_lr.png`, `figures/fig19_rl_from_overfit.png` and their data in `results/`. The
# sweeps run at the tiny scale; each figure says how many seeds.

# %% tags=["parameters"]
scale = "tiny"  # the sweeps' scale: "tiny", "small" or "paper"
window = 7  # Savitzky-Golay window in checkpoints

# %%
import pandas as pd

from sftrl_repro.paths import results_dir
from sftrl_repro.plots import save_figure, set_paper_style
from sftrl_repro.plots.sweeps import (
    LAST_CHECKPOINT_NOTE,
    SWEEPS,
    fig10_growth,
    plot_fig09_rl_from_base,
    plot_fig10_verification,
    plot_fig15_suboptimal_sft,
    plot_fig16_sft_lr,
    plot_fig17_rl_lr,
    plot_fig19_rl_from_overfit,
    read_sweep,
)
from sftrl_repro.utils import check_choice, check_int

pd.set_option("display.width", 200)

# Validate every parameter up front: a bad value stops here with one message naming what is valid.
check_choice("scale", scale, ("tiny", "small", "paper"))
check_int("window", window, low=1, high=101)
suffix = "" if scale == "tiny" else f"_{scale}"
set_paper_style()

from sftrl_repro.plots.study import MissingResults


def read_or_none(name: str):
    """A sweep's table, or ``None`` (drawn as "not run yet") when it does not exist."""
    try:
        return read_sweep(name, scale=scale)
    except MissingResults:
        return None


sweeps = {name: read_or_none(name) for name in SWEEPS}
print("not run yet:", ", ".join(name for name, frame in sweeps.items() if frame is None) or "none")
for name, frame in sweeps.items():
    if frame is not None:
        print(f"{name} (Fig {SWEEPS[name][0]}): {frame['seed'].nunique()} seed(s), "
              f"{int(frame['n_episodes'].max())} episodes per split and checkpoint")
paper_verification = pd.read_csv(results_dir() / "paper" / "verification_steps.csv")

# %% [markdown]
# ## Fig 9: RL from the base model, no SFT init

# %%
fig = plot_fig09_rl_from_base(sweeps["rl_from_base"], scale=scale, window=window)
save_figure(fig, f"fig09_rl_from_base{suffix}", data=True);

# %%
# NBVAL_CHECK_OUTPUT
if sweeps["rl_from_base"] is not None:  # success per learning rate and checkpoint, in percent
    table = sweeps["rl_from_base"].pivot_table(index=["lr", "method", "step"], columns="split", values="success")
    print((100 * table).round(1).to_string())

# %% [markdown]
# ## Fig 10: verification iterations during RL training
# Growth from the init to the RL checkpoint at equal compute (percentage points), ID and rule OOD;
# where the runs share no compute (more attempts cost more per update), at each run's last checkpoint,
# as the figure's title says.

# %%
fig = plot_fig10_verification(sweeps["verify_iter"], paper_verification, scale=scale)
save_figure(fig, f"fig10_verification{suffix}", data=True);

# %%
# NBVAL_CHECK_OUTPUT
if sweeps["verify_iter"] is not None:
    growth, compute = fig10_growth(sweeps["verify_iter"])
    print("compute:", "equal" if compute == "equal" else LAST_CHECKPOINT_NOTE)
    print(growth.round(2).to_string(index=False))

# %% [markdown]
# ## Fig 15: SFT on sub-optimal multi-turn trajectories

# %%
fig = plot_fig15_suboptimal_sft(sweeps["suboptimal_sft"], scale=scale, window=window)
save_figure(fig, f"fig15_suboptimal_sft{suffix}", data=True);

# %% [markdown]
# ## Fig 16: SFT learning rates on GP-VL, three ways of tuning

# %%
fig = plot_fig16_sft_lr(sweeps["sft_lr"], scale=scale, window=window)
save_figure(fig, f"fig16_sft_lr{suffix}", data=True);

# %%
# NBVAL_CHECK_OUTPUT
if sweeps["sft_lr"] is not None:  # success and recognition per tuning, learning rate and checkpoint, in percent
    table = sweeps["sft_lr"].pivot_table(index=["tune", "lr", "method", "step"], columns="split",
                                         values=["success", "recognition"])
    print((100 * table).round(1).to_string())

# %% [markdown]
# ## Fig 17: RL learning rates on GP-VL

# %%
fig = plot_fig17_rl_lr(sweeps["rl_lr"], scale=scale, window=window)
save_figure(fig, f"fig17_rl_lr{suffix}", data=True);

# %%
# NBVAL_CHECK_OUTPUT
if sweeps["rl_lr"] is not None:  # success and recognition per learning rate and checkpoint, in percent
    table = sweeps["rl_lr"].pivot_table(index=["lr", "method", "step"], columns="split",
                                        values=["success", "recognition"])
    print((100 * table).round(1).to_string())

# %% [markdown]
# ## Fig 19: RL from an over-fitted SFT checkpoint (V-IRL-VL)

# %%
fig = plot_fig19_rl_from_overfit(sweeps["rl_from_overfit"], scale=scale, window=window)
save_figure(fig, f"fig19_rl_from_overfit{suffix}", data=True);

# %%
# NBVAL_CHECK_OUTPUT
if sweeps["rl_from_overfit"] is not None:  # per-step accuracy and route success per learning rate, in percent
    table = sweeps["rl_from_overfit"].pivot_table(index=["lr", "method", "step"], columns="split",
                                                  values=["per_step_accuracy", "success"])
    print((100 * table).round(1).to_string())
