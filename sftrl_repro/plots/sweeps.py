"""Figures of the paper's sweeps and ablations (Fig 9, 10, 15, 16, 17, 19), drawn from ``results/`` only.

Schema of a sweep table, ``results/sweep_<name>.csv`` (``_<scale>`` appended for a scale other than
``tiny``): the study schema (:mod:`sftrl_repro.plots.study`: ``method``, ``seed``, ``step``,
``gflops``, ``split``, ``success``, ``success_se``, ``n_episodes``, and ``per_step_accuracy`` for
V-IRL) plus ``task`` (``gp`` | ``virl``), ``variant`` (``l`` | ``vl``) and the sweep's parameter
column(s), one value per run:

=====================  ======  ==========================================  =============================
name                   figure  runs                                        parameter column(s)
=====================  ======  ==========================================  =============================
``rl_from_base``       9       RL (PPO) from the base, no SFT init, GP-L   ``lr`` (paper: 5e-7, 1e-6, 2e-6)
``verify_iter``        10      RL from the init, GP-L, verification        ``verify_iter`` (1, 3, 5, 10)
                               iterations per training episode
``suboptimal_sft``     15      SFT on sub-optimal multi-turn trajectories  ``data`` (``suboptimal``; an
                               (errors + verifier messages), GP-L, V-IRL-L  ``optimal`` control may be added)
``sft_lr``             16      SFT learning-rate sweep, GP-VL              ``tune`` (``all`` |
                                                                           ``frozen_vision`` |
                                                                           ``frozen_vision_adapter``), ``lr``
``rl_lr``              17      RL learning-rate sweep, GP-VL               ``lr``
``rl_from_overfit``    19      RL from an over-fitted SFT checkpoint,      ``lr`` (paper: 1e-7, 2e-7)
                               V-IRL-VL
=====================  ======  ==========================================  =============================

``method`` is ``rl`` or ``sft`` for the runs' checkpoints and ``init`` for the evaluation of the
starting checkpoint (the base for ``rl_from_base``, the over-fitted SFT checkpoint for
``rl_from_overfit``), once per seed; an init row may carry the parameter value (its own evaluation,
e.g. with that number of verification iterations) or leave it empty (shared by every run).
``gflops`` counts from the same origin as the study (D_init included).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from sftrl_repro.paths import results_dir
from sftrl_repro.plots.common import (
    LABELS,
    attach_data,
    format_value,
    label,
    mark_missing,
    mean_and_se,
    styled,
)
from sftrl_repro.plots.study import draw_curves, equal_compute, keep_scale, require
from sftrl_repro.utils.params import check_choice

#: Sweep name -> (figure number, parameter column, the command that writes it).
SWEEPS: dict[str, tuple[int, str, str]] = {
    "rl_from_base": (9, "lr", "python -m sftrl_repro.experiments.sweeps --name rl_from_base"),
    "verify_iter": (10, "verify_iter", "python -m sftrl_repro.experiments.sweeps --name verify_iter"),
    "suboptimal_sft": (15, "data", "python -m sftrl_repro.experiments.sweeps --name suboptimal_sft"),
    "sft_lr": (16, "lr", "python -m sftrl_repro.experiments.sweeps --name sft_lr"),
    "rl_lr": (17, "lr", "python -m sftrl_repro.experiments.sweeps --name rl_lr"),
    "rl_from_overfit": (19, "lr", "python -m sftrl_repro.experiments.sweeps --name rl_from_overfit"),
}


def sweep_path(name: str, *, scale: str = "tiny", folder: str | os.PathLike | None = None) -> Path:
    """``results/sweep_<name>_<scale>.csv`` when that exists for a scale other than tiny, else
    ``results/sweep_<name>.csv`` (rows of other scales are dropped by :func:`read_sweep`)."""
    if name not in SWEEPS:
        raise ValueError(f"sweep {name!r} is not valid; choose one of: {', '.join(map(repr, SWEEPS))}")
    folder = Path(folder if folder is not None else results_dir())
    scaled = folder / f"sweep_{name}_{scale}.csv"
    return scaled if scale != "tiny" and scaled.is_file() else folder / f"sweep_{name}.csv"


def read_sweep(name: str, *, scale: str = "tiny", folder: str | os.PathLike | None = None) -> pd.DataFrame:
    """A sweep table (:class:`~sftrl_repro.plots.study.MissingResults` naming its command if missing)."""
    path = sweep_path(name, scale=scale, folder=folder)
    frame = keep_scale(pd.read_csv(require(path, SWEEPS[name][2])), scale, path, SWEEPS[name][2])
    param = SWEEPS[name][1]
    missing = [c for c in ("method", "seed", "step", "gflops", "split", "task", "variant", param) if c not in frame]
    if missing:
        raise ValueError(f"{path} lacks the sweep columns {missing} (see sftrl_repro.plots.sweeps)")
    return frame


def _param_label(param: str, value) -> str:
    if param == "lr":
        return f"lr = {format_value(value)}"
    if param == "verify_iter":
        return f"VIter = {int(value)}"
    if param == "data":
        return {"suboptimal": "Sub-optimal trajectories", "optimal": "Optimal trajectories"}.get(value, str(value))
    return f"{label(param)} = {format_value(value)}"


def _seeds_note(frame: pd.DataFrame, scale: str) -> str:
    k = int(frame["seed"].nunique()) if len(frame) else 0
    return f"{scale} scale, {k} seed{'s' if k != 1 else ''} per setting"


def _task_key(frame: pd.DataFrame) -> str:
    return f"{frame['task'].iloc[0]}_{frame['variant'].iloc[0]}" if len(frame) else ""


def _metric_for(task_key: str, metric: str | None) -> str:
    return metric or ("per_step_accuracy" if task_key.startswith("virl") else "success")


@styled
def plot_sweep(frame: pd.DataFrame | None, param: str, *, metric: str | None = None, splits: Sequence[str] | None = None,
               panel_by: str | None = None, title: str = "", scale: str = "tiny", window: int = 7) -> plt.Figure:
    """A sweep's curves against training compute: one line per ``param`` value (smoothed over raw
    points, seed bands, the init point), one panel per split (rows) and per ``panel_by`` value
    (columns, e.g. ``tune`` or ``task``). ``metric`` defaults to the task's (GP success, V-IRL
    per-step accuracy)."""
    if frame is None or frame.empty:
        fig, ax = plt.subplots(figsize=(4.5, 3.2), constrained_layout=True)
        mark_missing(ax)
        if title:
            fig.suptitle(title)
        return attach_data(fig, pd.DataFrame())
    splits = list(splits or [s for s in ("id", "rule_ood", "visual_ood") if (frame["split"] == s).any()])
    panels = [None] if panel_by is None else list(dict.fromkeys(frame[panel_by].dropna()))
    if panel_by is None:  # one row, a panel per split
        fig, axes = plt.subplots(1, len(splits), figsize=(max(6.0, 4.3 * len(splits)), 3.4), squeeze=False,
                                 constrained_layout=True)
        axes = axes.T  # axes[split][0]
    else:  # a row per split, a column per panel
        fig, axes = plt.subplots(len(splits), len(panels), figsize=(max(6.0, 4.3 * len(panels)), 3.1 * len(splits)),
                                 squeeze=False, constrained_layout=True)
    values = sorted(frame.loc[frame["method"] != "init", param].dropna().unique(), key=lambda v: (str(type(v)), v))
    palette = dict(zip(values, sns.color_palette("flare" if param == "lr" else "crest", n_colors=max(len(values), 1))))
    data = []
    for c, panel in enumerate(panels):
        # a panel's rows, with the init rows shared by every panel (an empty panel_by value)
        part = frame if panel is None else frame[(frame[panel_by] == panel) | frame[panel_by].isna()]
        key = _task_key(part)
        m = _metric_for(key, metric)
        for r, split in enumerate(splits):
            ax = axes[r, c]
            head = label(split) if panel is None else f"{label(panel)}: {label(split)}"
            ax.set_title(head, fontsize=10)
            drawn = draw_curves(ax, part, m, split, methods=values, series_by=param, colors=palette, task=key,
                                window=window, series_label=lambda v: _param_label(param, v))
            if len(drawn):
                data.append(drawn.assign(panel=panel, param=param))
    handles, labels_ = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels_, loc="outside right center")
    fig.suptitle(f"{title}\n({_seeds_note(frame, scale)})" if title else _seeds_note(frame, scale), fontsize=10)
    return attach_data(fig, pd.concat(data, ignore_index=True) if data else pd.DataFrame())


def plot_fig09_rl_from_base(frame: pd.DataFrame | None, **kw) -> plt.Figure:
    """Fig 9: RL from the base model without SFT (``results/sweep_rl_from_base.csv``, lines by ``lr``)."""
    return plot_sweep(frame, "lr", title="RL from the base model, no SFT init (GP-L)", **kw)


def plot_fig15_suboptimal_sft(frame: pd.DataFrame | None, **kw) -> plt.Figure:
    """Fig 15: SFT on sub-optimal multi-turn trajectories (``results/sweep_suboptimal_sft.csv``):
    one column per task (``task``_``variant``), ID and rule OOD rows, lines by ``data``."""
    if frame is not None and len(frame):
        frame = frame.assign(task_key=frame["task"] + "_" + frame["variant"])
    return plot_sweep(frame, "data", panel_by="task_key" if frame is not None else None,
                      title="SFT on sub-optimal multi-turn trajectories", **kw)


def plot_fig16_sft_lr(frame: pd.DataFrame | None, **kw) -> plt.Figure:
    """Fig 16: the SFT learning-rate sweep on GP-VL (``results/sweep_sft_lr.csv``): one column per
    ``tune`` mode (all tuned; vision encoder frozen; encoder + adapter frozen), lines by ``lr``."""
    return plot_sweep(frame, "lr", panel_by="tune" if frame is not None else None,
                      title="SFT learning-rate sweep (GP-VL)", **kw)


def plot_fig17_rl_lr(frame: pd.DataFrame | None, **kw) -> plt.Figure:
    """Fig 17: the RL learning-rate sweep on GP-VL (``results/sweep_rl_lr.csv``, lines by ``lr``)."""
    return plot_sweep(frame, "lr", title="RL learning-rate sweep (GP-VL)", **kw)


def plot_fig19_rl_from_overfit(frame: pd.DataFrame | None, **kw) -> plt.Figure:
    """Fig 19: RL from an over-fitted SFT checkpoint, V-IRL-VL (``results/sweep_rl_from_overfit.csv``,
    lines by ``lr``; per-step accuracy)."""
    return plot_sweep(frame, "lr", title="RL from an over-fitted SFT checkpoint (V-IRL-VL)", **kw)


# ------------------------------------------------------------------------------------------ Fig 10
#: Columns of :func:`verification_growth`.
GROWTH_COLUMNS = ["verify_iter", "split", "growth", "se", "n_seeds", "matched_gflops"]


def verification_growth(frame: pd.DataFrame, *, metric: str = "success", compute: str = "equal") -> pd.DataFrame:
    """Growth of ``metric`` (percentage points) from the init to an RL checkpoint, per number of
    verification iterations, ID and OOD, over seeds.

    ``compute='equal'`` (the paper's Fig 10): :func:`~sftrl_repro.plots.study.equal_compute` with the
    ``verify_iter`` values as the arms (each run's last checkpoint not past the largest compute every
    run reached; a seed where some run has no checkpoint that early is left out). ``'last'``: each
    run's last checkpoint, compute not matched. Growth per seed = the run's value minus the init's
    (the init row with the same ``verify_iter``, else the shared one); then
    :func:`~sftrl_repro.plots.common.mean_and_se` over seeds, the SE combining both rows' binomial
    SEs. Columns: ``verify_iter``, ``split``, ``growth``, ``se``, ``n_seeds``, ``matched_gflops``
    (``'last'``: the checkpoints' own compute).
    """
    check_choice("compute", compute, ("equal", "last"))
    runs = frame[frame["method"].isin(["init", "rl"])]
    if compute == "equal":
        rows = equal_compute(runs, arm="verify_iter")
    else:
        trained = runs[runs["method"] == "rl"]
        last = trained.groupby(["seed", "verify_iter"])["step"].transform("max")
        rows = pd.concat([runs[runs["method"] == "init"], trained[trained["step"] == last]], ignore_index=True)
        rows["matched_gflops"] = rows["gflops"]
    se_col = f"{metric}_se" if f"{metric}_se" in frame else None
    out = []
    inits = rows[rows["method"] == "init"]
    for (viter, split), g in rows[rows["method"] == "rl"].groupby(["verify_iter", "split"]):
        diffs, ses = [], []
        for _, r in g.iterrows():
            base = inits[(inits["seed"] == r["seed"]) & (inits["split"] == split)]
            own = base[base["verify_iter"] == viter] if "verify_iter" in base else base.iloc[:0]
            base = own if len(own) else base[base["verify_iter"].isna()] if "verify_iter" in base else base
            if base.empty:
                continue
            b = base.iloc[0]
            diffs.append(r[metric] - b[metric])
            ses.append(math.hypot(r[se_col], b[se_col]) if se_col else math.nan)
        mean, se, k = mean_and_se(diffs, ses if se_col else None)
        out.append({"verify_iter": int(viter), "split": split, "growth": 100 * mean, "se": 100 * se, "n_seeds": k,
                    "matched_gflops": float(g["matched_gflops"].mean())})
    return pd.DataFrame(out, columns=GROWTH_COLUMNS)


def fig10_growth(frame: pd.DataFrame | None) -> tuple[pd.DataFrame, str]:
    """Fig 10's growths and how compute was matched: :func:`verification_growth` at equal compute,
    or, where no seed has every run at a common compute (the runs with more attempts cost more per
    update, and a short sweep's first checkpoint can lie past the cheapest run's last), at each
    run's last checkpoint. Returns ``(growth, 'equal' | 'last')``; empty growth when ``frame`` is."""
    if frame is None or not len(frame):
        return pd.DataFrame(columns=GROWTH_COLUMNS), "equal"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a seed left out is the case handled here
        growth = verification_growth(frame)
    if len(growth):
        return growth, "equal"
    return verification_growth(frame, compute="last"), "last"


#: Fig 10's title note when compute could not be matched.
LAST_CHECKPOINT_NOTE = "each run's last checkpoint: compute not matched"


@styled
def plot_fig10_verification(frame: pd.DataFrame | None, paper: pd.DataFrame | None = None, *,
                            ood_split: str = "rule_ood", scale: str = "tiny") -> plt.Figure:
    """Fig 10: ID growth vs OOD growth (percentage points, init -> RL at equal compute) for 1, 3, 5,
    10 verification iterations during RL training on GP-L (``results/sweep_verify_iter.csv``), with
    the paper's OOD growth (``results/paper/verification_steps.csv``) beside."""
    if paper is None:
        from sftrl_repro.paper import paper_tables

        paper = paper_tables()["verification_steps"]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), constrained_layout=True)
    viters = [int(v) for v in paper["verify_iter"]]
    growth, compute = fig10_growth(frame)
    if len(growth):
        viters = sorted(set(viters) | set(growth["verify_iter"]))
    x = np.arange(len(viters), dtype=float)
    width = 0.27
    specs = [("id", "id_growth", "#d1495b", -width), (ood_split, "ood_growth", "#2e6db4", 0.0)]
    for split, name, color, dx in specs:
        g = growth[growth["split"] == split].set_index("verify_iter") if len(growth) else pd.DataFrame()
        vals = [float(g.loc[v, "growth"]) if v in g.index else math.nan for v in viters]
        errs = [float(g.loc[v, "se"]) if v in g.index and np.isfinite(g.loc[v, "se"]) else 0.0 for v in viters]
        ax.bar(x + dx, vals, width, yerr=errs, capsize=3, color=color, label=f"{LABELS[name]} (this package)",
               error_kw={"lw": 1})
    pv = paper.set_index("verify_iter")["ood_growth_points"]
    bars = ax.bar(x + width, [float(pv.get(v, math.nan)) for v in viters], width, color="white", edgecolor="0.45",
                  hatch="///", label=f"{LABELS['ood_growth']} (paper)")
    ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    if growth.empty:
        ax.text(0.5, 0.92, "this package: not run yet", transform=ax.transAxes, ha="center", fontsize=8, color="0.45")
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_xticks(x, [f"VIter = {v}" for v in viters])
    ax.set_ylabel("Growth (percentage points)")
    ax.grid(axis="x", visible=False)
    ax.legend(fontsize=8, loc="upper left")
    note = _seeds_note(frame, scale) if frame is not None and len(frame) else f"{scale} scale: not run yet"
    how = "equal compute" if compute == "equal" else LAST_CHECKPOINT_NOTE
    ax.set_title(f"GP-L: RL with more verification iterations, {how}\n({note})", fontsize=10)
    data = pd.concat([growth.assign(source="package"),
                      paper.rename(columns={"ood_growth_points": "growth"}).assign(split=ood_split, source="paper")],
                     ignore_index=True)
    return attach_data(fig, data)


__all__ = [
    "SWEEPS", "sweep_path", "read_sweep", "plot_sweep", "plot_fig09_rl_from_base", "verification_growth",
    "fig10_growth", "LAST_CHECKPOINT_NOTE",
    "plot_fig10_verification", "plot_fig15_suboptimal_sft", "plot_fig16_sft_lr", "plot_fig17_rl_lr",
    "plot_fig19_rl_from_overfit",
]
