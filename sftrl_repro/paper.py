"""The numbers the paper reports, as data (paper Fig. 6, 7 and 10), and their CSV tables.

Every notebook shows "paper vs this package" side by side by reading ``results/paper/*.csv``,
which :func:`write_paper_tables` regenerates from the constants below (sources in comments).
Units: percentages, as printed in the paper's figures.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sftrl_repro.paths import results_dir
from sftrl_repro.utils.io import write_csv_atomic

# Fig 6: rule-variant OOD at equal compute. GP: episode success %; V-IRL: per-step accuracy %.
RULE_OOD = [
    # task, metric, init, rl, sft
    ("GP-L", "success", 11.5, 15.0, 3.4),
    ("V-IRL-L", "per_step_accuracy", 80.8, 91.8, 1.3),
    ("GP-VL", "success", 11.2, 14.2, 5.6),
    ("V-IRL-VL", "per_step_accuracy", 35.7, 45.0, 2.5),
]
# Fig 7: visual-variant OOD. GP-VL: episode success %; V-IRL-VL: route success % on VLN-mini.
VISUAL_OOD = [
    ("GP-VL", "success", 23.6, 41.2, 13.7),
    ("V-IRL-VL", "route_success", 16.7, 77.8, 11.1),
]
# Previous best on VLN-mini (two-stage CLIP + GPT-4, from the V-IRL paper), route success %.
VLN_MINI_PREVIOUS_BEST = 44.0
# Fig 10: GP-L RL at equal compute, OOD growth (points) by number of verification steps.
VERIFICATION_STEPS_OOD_GROWTH = [(1, 0.48), (3, 2.15), (5, 2.99), (10, 5.99)]

# The settings of the paper's sweeps (what the sweep tables of ``sftrl_repro.plots.sweeps`` vary).
#: Fig 9: RL from the base model without SFT (GP-L), learning rates.
RL_FROM_BASE_LRS = (5e-7, 1e-6, 2e-6)
#: Fig 10: verification iterations per training episode (GP-L RL).
VERIFY_ITERS = tuple(v for v, _ in VERIFICATION_STEPS_OOD_GROWTH)
#: Fig 19: RL from an over-fitted SFT checkpoint (V-IRL-VL), learning rates.
RL_FROM_OVERFIT_LRS = (1e-7, 2e-7)
#: Fig 16: what the GP-VL SFT learning-rate sweep tunes (the ``tune`` column of ``sweep_sft_lr.csv``).
SFT_TUNE_MODES = ("all", "frozen_vision", "frozen_vision_adapter")


def paper_tables() -> dict[str, pd.DataFrame]:
    """The paper's reported numbers as tables, keyed by CSV file stem."""
    cols = ["task", "metric", "init", "rl", "sft"]
    rule = pd.DataFrame(RULE_OOD, columns=cols)
    visual = pd.DataFrame(VISUAL_OOD, columns=cols)
    for frame in (rule, visual):
        frame["rl_gain"] = (frame["rl"] - frame["init"]).round(1)
        frame["sft_gain"] = (frame["sft"] - frame["init"]).round(1)
    verify = pd.DataFrame(VERIFICATION_STEPS_OOD_GROWTH, columns=["verify_iter", "ood_growth_points"])
    verify.insert(0, "task", "GP-L")
    best = pd.DataFrame([("V-IRL-VL", "route_success", "VLN-mini previous best (CLIP + GPT-4)",
                          VLN_MINI_PREVIOUS_BEST)], columns=["task", "metric", "method", "value"])
    return {"rule_ood": rule, "visual_ood": visual, "verification_steps": verify, "vln_mini_previous_best": best}


def write_paper_tables(folder: str | Path | None = None) -> list[Path]:
    """Write :func:`paper_tables` to ``folder`` (default ``results/paper/``); returns the paths."""
    folder = Path(folder) if folder is not None else results_dir() / "paper"
    return [write_csv_atomic(folder / f"{name}.csv", frame) for name, frame in paper_tables().items()]
