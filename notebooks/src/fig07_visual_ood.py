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
# # Fig 7, 8 · The visual variants: red suits, unseen cities, and recognition
#
# The paper's Fig 7: trained on black suits (GP-VL) and on New York routes (V-IRL-VL), RL also
# generalises to red suits and to the VLN-mini cities, where SFT degrades; on VLN-mini the paper's
# RL (77.8% route success) beats the previous best (44.0%, two-stage CLIP + GPT-4). Fig 8: GP-VL
# recognition accuracy against episode success: RL improves recognition with success, SFT does not.
# This notebook only reads the study's results and draws.
#
# Reads `results/study_gp_vl.csv` and `results/study_virl_vl.csv` (the study, `make repro`) and
# `results/paper/visual_ood.csv`, `results/paper/vln_mini_previous_best.csv`. Writes
# `figures/fig07_visual_ood.png`, `figures/fig08_recognition.png` and their data in `results/`
# (same names, `.csv`). Note: the package's V-IRL-VL OOD cities are procedurally generated
# (`routes="vln_mini"`) unless the study ran on the authors' data; the previous best was measured on
# the authors' VLN-mini and is drawn as the paper draws it, not as a comparable number.

# %% tags=["parameters"]
scale = "tiny"  # the study's scale: "tiny", "small" or "paper"
window = 7  # Savitzky-Golay window in checkpoints

# %%
import pandas as pd

from sftrl_repro.paths import results_dir
from sftrl_repro.plots import save_figure, set_paper_style
from sftrl_repro.plots.study import (
    VISUAL_METRIC,
    equal_compute_summary,
    plot_fig07_visual_ood,
    plot_fig08_recognition,
    read_study,
)
from sftrl_repro.utils import check_choice, check_int

pd.set_option("display.width", 200)

# Validate every parameter up front: a bad value stops here with one message naming what is valid.
check_choice("scale", scale, ("tiny", "small", "paper"))
check_int("window", window, low=1, high=101)
suffix = "" if scale == "tiny" else f"_{scale}"
set_paper_style()

# The study's VL tables (a task not run yet is drawn as such).
studies = {key: read_study(key, scale=scale, required=False) for key in ("gp_vl", "virl_vl")}
ran = {key: frame for key, frame in studies.items() if frame is not None}  # the figure draws the others as "not run yet"
print("not run yet:", ", ".join(key for key in studies if key not in ran) or "none")
paper_visual = pd.read_csv(results_dir() / "paper" / "visual_ood.csv")
previous_best = float(pd.read_csv(results_dir() / "paper" / "vln_mini_previous_best.csv")["value"].iloc[0])

# %% [markdown]
# ## Fig 7: visual OOD against compute (top) and at equal compute (bottom)
# GP-VL: episode success on red suits; V-IRL-VL: route success in the OOD cities.

# %%
fig = plot_fig07_visual_ood(ran, paper_visual, previous_best, window=window, scale=scale)
save_figure(fig, f"fig07_visual_ood{suffix}", data=True);

# %%
# NBVAL_CHECK_OUTPUT
if ran:
    table = pd.concat([equal_compute_summary(frame, VISUAL_METRIC[key], "visual_ood").assign(task=key)
                       for key, frame in ran.items()], ignore_index=True)
    print(table[["task", "method", "value", "se", "n_seeds", "gflops"]].round(2).to_string(index=False))

# %% [markdown]
# ## Fig 8: GP-VL recognition accuracy against success
# Each point is a checkpoint (mean over seeds); faint = early in training.

# %%
fig = plot_fig08_recognition(studies["gp_vl"])
save_figure(fig, f"fig08_recognition{suffix}", data=True);
