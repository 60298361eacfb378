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
# # Fig 1, 5, 6, 18 · SFT memorizes, RL generalizes: the rule variants
#
# The paper's main result (Chu et al. 2025, Fig 5 and 6): from one SFT init, scaling SFT and RL
# (multi-turn PPO) separately, RL's out-of-distribution performance under an unseen rule (GP: J, Q,
# K count 11/12/13; V-IRL: relative actions) grows while SFT's falls. This notebook only reads the
# study's results and draws; it runs in seconds.
#
# Reads `results/study_<task>_<variant>.csv` for GP-L, V-IRL-L, GP-VL, V-IRL-VL (written by the
# study, `make repro`) and the paper's numbers `results/paper/rule_ood.csv`. Writes
# `figures/fig01_teaser.png`, `figures/fig05_main.png`, `figures/fig06_rule_ood.png`,
# `figures/fig18_virl_vl_route_success.png` and each figure's data beside it in `results/` (same
# name, `.csv`); a `_<scale>` suffix for a scale other than `tiny`.
#
# Conventions: GP panels draw episode success within the verification budget, V-IRL panels per-step
# accuracy (Fig 1 and 18: route success), against training computation in GFLOPs (the paper's
# convention, the init's compute included). Curves: Savitzky-Golay (polynomial order 3, as the
# paper) drawn over the raw means over seeds; bands: the range over seeds (+-1 binomial SE with one
# seed). Equal compute (Fig 6): per seed, the largest compute both arms reached, each arm's last
# checkpoint at or below it.

# %% tags=["parameters"]
scale = "tiny"  # the study's scale: "tiny", "small" or "paper" (reads results/study_*_<scale>.csv beyond tiny)
window = 7  # Savitzky-Golay window in checkpoints (shrinks to short series; < 5 points are drawn raw)

# %%
import pandas as pd

from sftrl_repro.paths import results_dir
from sftrl_repro.plots import label, save_figure, set_paper_style
from sftrl_repro.plots.study import (
    METRIC,
    STUDY_TASKS,
    equal_compute_summary,
    plot_fig01_teaser,
    plot_fig05_main,
    plot_fig06_rule_ood,
    plot_fig18_virl_vl_route_success,
    read_study,
)
from sftrl_repro.utils import check_choice, check_int

pd.set_option("display.width", 200)
pd.set_option("display.precision", 2)

# Validate every parameter up front: a bad value stops here with one message naming what is valid.
check_choice("scale", scale, ("tiny", "small", "paper"))
check_int("window", window, low=1, high=101)
suffix = "" if scale == "tiny" else f"_{scale}"
set_paper_style()

# The study's tables; a task not run yet is drawn as such ("not run yet" panels) and left out of
# the tables below. With none at all, this stops, naming the files and the command that writes them.
studies = {key: read_study(key, scale=scale, required=False) for key in STUDY_TASKS}
ran = {key: frame for key, frame in studies.items() if frame is not None}
if not ran:
    read_study("gp_l", scale=scale)  # raises MissingResults with the command
print("not run yet:", ", ".join(key for key in studies if key not in ran) or "none")
paper_rule_ood = pd.read_csv(results_dir() / "paper" / "rule_ood.csv")

# %% [markdown]
# ## What was run
# Seeds, checkpoints per arm and the compute range of each task.

# %%
# NBVAL_CHECK_OUTPUT
overview = pd.DataFrame([{
    "task": key, "seeds": frame["seed"].nunique(),
    "SFT checkpoints": frame.loc[frame.method == "sft", ["seed", "step"]].drop_duplicates().shape[0],
    "RL checkpoints": frame.loc[frame.method == "rl", ["seed", "step"]].drop_duplicates().shape[0],
    "episodes per split": int(frame["n_episodes"].median()),
    "GFLOPs from": frame["gflops"].min(), "GFLOPs to": frame["gflops"].max(),
} for key, frame in ran.items()])
print(overview.to_string(index=False))

# %% [markdown]
# ## Fig 5: in distribution (top) and rule OOD (bottom) against training compute

# %%
fig = plot_fig05_main(ran, window=window, scale=scale)
save_figure(fig, f"fig05_main{suffix}", data=True);

# %% [markdown]
# ## Fig 6: rule OOD at equal compute, beside the paper's numbers
# Hatched: the paper; solid: this package (mean over seeds, error bars: SE). GP: episode success;
# V-IRL: per-step accuracy.

# %%
fig = plot_fig06_rule_ood(ran, paper_rule_ood, scale=scale)
save_figure(fig, f"fig06_rule_ood{suffix}", data=True);

# %%
# NBVAL_CHECK_OUTPUT
rows = []
for key, frame in ran.items():
    summary = equal_compute_summary(frame, METRIC[key], "rule_ood").set_index("method")
    paper = paper_rule_ood.set_index("task").loc[label(key)]  # "gp_l" -> "GP-L"
    for method in ("init", "sft", "rl"):
        rows.append({"task": key, "method": method, "paper": paper[method],
                     "this package": summary.loc[method, "value"], "SE": summary.loc[method, "se"],
                     "seeds": summary.loc[method, "n_seeds"], "GFLOPs": summary.loc[method, "gflops"]})
print(pd.DataFrame(rows).round(2).to_string(index=False))

# %% [markdown]
# ## Fig 1 (teaser): V-IRL route success, SFT vs RL

# %%
fig = plot_fig01_teaser(studies["virl_l"], key="virl_l", window=window)
save_figure(fig, f"fig01_teaser{suffix}", data=True);

# %% [markdown]
# ## Fig 18: V-IRL-VL route success

# %%
fig = plot_fig18_virl_vl_route_success(studies["virl_vl"], window=window)
save_figure(fig, f"fig18_virl_vl_route_success{suffix}", data=True);
