"""Figures of the SFT-vs-RL study (the paper's Fig 1, 5, 6, 7, 8, 18), drawn from ``results/`` only.

The study's results (issue 10, section 3) are one table per task, ``results/study_<task>_<variant>.csv``
(``_<scale>`` appended for a scale other than ``tiny``), one row per checkpoint, seed and split:

=====================  ==========================================================================
``method``             ``init`` | ``sft`` | ``rl``; the init rows appear once per seed, and both
                       arms continue from the init's compute
``seed``               the seed of the init and of both arms
``step``               the arm's checkpoint step (SFT step or PPO update)
``gflops``             training computation so far, the paper's convention (D_init counted)
``split``              ``id`` | ``rule_ood`` | ``visual_ood`` (VL tasks)
``success``            GP: episode success within the verification budget; V-IRL: route success (0-1)
``success_se``         binomial SE of ``success`` at this seed
``n_episodes``         episodes (hands / routes) evaluated
``per_step_accuracy``  V-IRL only (0-1); ``per_step_accuracy_se`` is used when present
``rule_reading``       GP only: the ``"number"`` field right under the stated rule (0-1)
``recognition``        GP-VL only: the four cards recognised (0-1)
=====================  ==========================================================================

The paper's metric per task (:data:`METRIC`): episode success for GP, per-step accuracy for V-IRL.

Every figure function takes these frames (``studies``: a mapping from the study key ``gp_l``,
``virl_l``, ``gp_vl``, ``virl_vl`` to its frame; missing keys draw a "not run yet" panel) and returns
a Figure that carries its data (:func:`sftrl_repro.plots.figure_data`), so that
``save_figure(fig, "fig05_main", data=True)`` writes ``figures/fig05_main.png`` and
``results/fig05_main.csv``.

Aggregation over seeds: the mean; its SE is :func:`sftrl_repro.plots.common.mean_and_se` (the larger
of the spread across seeds and the binomial evaluation noise). Bands on curves show the range over
seeds (min to max) with two seeds or more, and +-1 binomial SE with one seed.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sftrl_repro.paths import results_dir
from sftrl_repro.plots.common import (
    COLORS,
    LABELS,
    MARKERS,
    attach_data,
    compute_axis,
    label,
    mark_missing,
    mean_and_se,
    metric_label,
    percent_axis,
    smooth,
    styled,
)

#: The study's tasks in the paper's Fig 5 column order: key -> (task, variant).
STUDY_TASKS: dict[str, tuple[str, str]] = {
    "gp_l": ("gp", "l"),
    "virl_l": ("virl", "l"),
    "gp_vl": ("gp", "vl"),
    "virl_vl": ("virl", "vl"),
}
#: The paper's metric per study key (Fig 5, Fig 6): GP episode success, V-IRL per-step accuracy.
METRIC: dict[str, str] = {"gp_l": "success", "virl_l": "per_step_accuracy", "gp_vl": "success",
                          "virl_vl": "per_step_accuracy"}
#: The command that writes the study's tables (named in "missing results" messages).
STUDY_COMMAND = "make repro"
#: Columns every study table has.
STUDY_COLUMNS = ("method", "seed", "step", "gflops", "split", "success", "success_se", "n_episodes")
_TOL = 1e-9  # relative tolerance of compute comparisons


# ------------------------------------------------------------------------------------------ reading
def study_path(key: str, *, scale: str = "tiny", folder: str | os.PathLike | None = None) -> Path:
    """Where the study's table for ``key`` is: ``results/study_<key>_<scale>.csv`` when that exists
    for a scale other than tiny, else ``results/study_<key>.csv`` (which may hold several scales in
    its ``scale`` column; :func:`read_study` keeps the asked one)."""
    if key not in STUDY_TASKS:
        raise ValueError(f"study key {key!r} is not valid; choose one of: {', '.join(map(repr, STUDY_TASKS))}")
    folder = Path(folder if folder is not None else results_dir())
    scaled = folder / f"study_{key}_{scale}.csv"
    return scaled if scale != "tiny" and scaled.is_file() else folder / f"study_{key}.csv"


class MissingResults(FileNotFoundError):
    """A results table a figure needs does not exist yet (the message names it and its command)."""


def require(path: str | os.PathLike, command: str = STUDY_COMMAND) -> Path:
    """``path`` if it is a file, else :class:`MissingResults` naming it and the command that makes it."""
    path = Path(path)
    if not path.is_file():
        raise MissingResults(f"{path} does not exist yet: it is written by `{command}`. "
                             "Run that first; this notebook only reads results/ and draws.")
    return path


def keep_scale(frame: pd.DataFrame, scale: str, path: Path, command: str = STUDY_COMMAND) -> pd.DataFrame:
    """The rows of ``scale`` when the table has a ``scale`` column (all rows otherwise)."""
    if "scale" not in frame or frame["scale"].isna().all():
        return frame
    kept = frame[frame["scale"] == scale]
    if kept.empty:
        raise MissingResults(f"{path} has no rows at scale {scale!r} (it has {sorted(frame['scale'].dropna().unique())}): "
                             f"they are written by `{command}` at that scale.")
    return kept.reset_index(drop=True)


def read_study(key: str, *, scale: str = "tiny", folder: str | os.PathLike | None = None,
               required: bool = True) -> pd.DataFrame | None:
    """One study table at one scale, checked for the schema's columns; ``None`` if missing (no file,
    or no rows at ``scale``) and not ``required``, else :class:`MissingResults`."""
    path = study_path(key, scale=scale, folder=folder)
    try:
        frame = keep_scale(pd.read_csv(require(path)), scale, path)
    except MissingResults:
        if required:
            raise
        return None
    missing = [c for c in STUDY_COLUMNS if c not in frame]
    if missing:
        raise ValueError(f"{path} lacks the study columns {missing} (issue 10, section 3)")
    return frame


def read_studies(keys: Sequence[str] = tuple(STUDY_TASKS), *, scale: str = "tiny",
                 folder: str | os.PathLike | None = None) -> dict[str, pd.DataFrame]:
    """The study tables that exist, by key (a missing one is simply left out)."""
    out = {}
    for key in keys:
        frame = read_study(key, scale=scale, folder=folder, required=False)
        if frame is not None:
            out[key] = frame
    return out


# ------------------------------------------------------------------------------------------ numbers
def _se_column(frame: pd.DataFrame, metric: str):
    col = f"{metric}_se"
    return col if col in frame else None


def aggregate(frame: pd.DataFrame, metric: str, *, by: Sequence[str] = ("method", "step")) -> pd.DataFrame:
    """Mean over seeds per checkpoint (``by``), in percent: ``gflops``, ``value``, ``se``, ``low``,
    ``high`` (the band: min-max over seeds with >= 2 seeds, else +-1 SE, clipped to 0-100), ``n_seeds``."""
    rows = []
    se_col = _se_column(frame, metric)
    by = list(by)
    for key, g in frame.groupby(by, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        values = g[metric].to_numpy(dtype=float)
        mean, se, k = mean_and_se(values, g[se_col] if se_col else None)
        if k >= 2:
            low, high = np.nanmin(values), np.nanmax(values)
        else:
            low, high = (mean - se, mean + se) if np.isfinite(se) else (mean, mean)
        rows.append({**dict(zip(by, key)), "gflops": float(g["gflops"].mean()), "value": 100 * mean,
                     "se": 100 * se, "low": max(0.0, 100 * low), "high": min(100.0, 100 * high), "n_seeds": k})
    return pd.DataFrame(rows)


def equal_compute(frame: pd.DataFrame, *, arm: str = "method", arms: Sequence | None = None,
                  init: str = "init") -> pd.DataFrame:
    """The checkpoints of the arms at matched training compute, per seed (the paper's Fig 6 / 7 / 10).

    Rule, for each seed: ``matched_gflops`` is the largest compute that every arm reached (the
    smallest of the arms' last-checkpoint GFLOPs); each arm contributes its checkpoint with the
    largest ``gflops`` at or below it (so the arm that stopped first contributes its last checkpoint
    and the other its last checkpoint not past it). A seed where some arm has no checkpoint at or
    below ``matched_gflops`` (or no checkpoint at all) is left out with a warning. The seed's init
    rows (``method == init``) are kept as they are.

    Args:
        frame: study-schema rows (all splits); a checkpoint is one (seed, arm, ``step``).
        arm: the column naming the arms: ``method`` (arms ``sft``, ``rl``) or a sweep parameter
            such as ``verify_iter`` (arms: its values among the non-init rows).
        arms: the arms to match (default: ``("sft", "rl")`` for ``method``, else every value).
        init: the ``method`` value of init rows.

    Returns:
        The selected rows (every split) with ``matched_gflops`` added; init rows included.
    """
    is_init = frame["method"] == init
    trained = frame[~is_init]
    if arms is None:
        arms = ("sft", "rl") if arm == "method" else sorted(trained[arm].dropna().unique())
    out = []
    for seed, rows in trained.groupby("seed", sort=True):
        reached = {a: rows.loc[rows[arm] == a, "gflops"].max() for a in arms}
        if any(pd.isna(v) for v in reached.values()):
            lacking = [a for a, v in reached.items() if pd.isna(v)]
            warnings.warn(f"seed {seed}: no checkpoints for {lacking}; left out of the equal-compute comparison",
                          stacklevel=2)
            continue
        matched = min(reached.values())
        chosen = []
        for a in arms:
            mine = rows[(rows[arm] == a) & (rows["gflops"] <= matched * (1 + _TOL))]
            if mine.empty:
                warnings.warn(f"seed {seed}: arm {a!r} has no checkpoint at or below {matched:.4g} GFLOPs; "
                              "seed left out of the equal-compute comparison", stacklevel=2)
                chosen = []
                break
            best = mine.loc[mine["gflops"] == mine["gflops"].max(), "step"].max()
            chosen.append(mine[mine["step"] == best])
        if chosen:
            inits = frame[is_init & (frame["seed"] == seed)]
            out.append(pd.concat([inits, *chosen]).assign(matched_gflops=matched))
    if not out:
        return frame.iloc[:0].assign(matched_gflops=pd.Series(dtype=float))
    return pd.concat(out, ignore_index=True)


def equal_compute_summary(frame: pd.DataFrame, metric: str, split: str) -> pd.DataFrame:
    """Init / SFT / RL at equal compute on ``split``, over seeds: ``method``, ``value``, ``se`` (percent),
    ``n_seeds``, ``gflops`` (mean of the chosen checkpoints), ``matched_gflops`` (mean over seeds)."""
    rows = equal_compute(frame)
    rows = rows[rows["split"] == split]
    out = []
    for method in ("sft", "init", "rl"):
        g = rows[rows["method"] == method]
        if g.empty or metric not in g:
            continue
        se_col = _se_column(g, metric)
        mean, se, k = mean_and_se(g[metric], g[se_col] if se_col else None)
        out.append({"split": split, "metric": metric, "method": method, "value": 100 * mean, "se": 100 * se,
                    "n_seeds": k, "gflops": float(g["gflops"].mean()),
                    "matched_gflops": float(g["matched_gflops"].mean())})
    return pd.DataFrame(out)


def study_effects(frame: pd.DataFrame, metric: str, splits: Sequence[str] | None = None) -> pd.DataFrame:
    """What the study shows, per split: each arm at equal compute minus the init, over seeds.

    One row per (split, arm in ``sft``, ``rl``): ``init`` and ``arm_value`` (percent, means over
    seeds), ``effect`` (the arm minus the init, percentage points: the mean of per-seed
    differences), ``effect_se`` (:func:`~sftrl_repro.plots.common.mean_and_se` of those differences,
    each seed's binomial SE ``sqrt(se_arm^2 + se_init^2)``, from the ``<metric>_se`` column or else
    from ``n_episodes``), ``z`` (``effect / effect_se``),
    ``n_seeds``, and ``reading``: ``'up'`` / ``'down'`` when ``|z| >= 2``, else ``'no clear change'``.
    """
    chosen = equal_compute(frame)
    splits = list(splits) if splits is not None else [s for s in ("id", "rule_ood", "visual_ood")
                                                      if s in set(frame["split"])]
    out = []
    for split in splits:
        rows = chosen[chosen["split"] == split]
        if rows.empty or metric not in rows:
            continue
        se_col = _se_column(rows, metric)
        init = rows[rows["method"] == "init"].set_index("seed")
        for arm in ("sft", "rl"):
            mine = rows[rows["method"] == arm].set_index("seed")
            seeds = sorted(set(init.index) & set(mine.index))
            if not seeds:
                continue
            diff = [float(mine.loc[s, metric]) - float(init.loc[s, metric]) for s in seeds]
            def se(rows: pd.DataFrame, s) -> float:
                """A seed's SE of the metric: its column, else binomial from ``n_episodes``."""
                if se_col:
                    return float(rows.loc[s, se_col])
                p, n = float(rows.loc[s, metric]), float(rows.loc[s, "n_episodes"])
                return math.sqrt(max(p * (1 - p), 0.0) / n) if n > 0 else math.nan

            ses = [math.hypot(se(mine, s), se(init, s)) for s in seeds] if (se_col or "n_episodes" in rows) else None
            effect, se, k = mean_and_se(diff, ses)
            z = effect / se if se and np.isfinite(se) and se > 0 else math.nan
            reading = "no clear change" if not np.isfinite(z) or abs(z) < 2 else ("up" if z > 0 else "down")
            out.append({"split": split, "metric": metric, "arm": arm,
                        "init": 100 * float(np.mean([init.loc[s, metric] for s in seeds])),
                        "arm_value": 100 * float(np.mean([mine.loc[s, metric] for s in seeds])),
                        "effect": 100 * effect, "effect_se": 100 * se, "z": z, "n_seeds": k, "reading": reading})
    return pd.DataFrame(out)


def describe_effects(effects: pd.DataFrame, metric: str, floor: float = 0.5) -> str:
    """What :func:`study_effects` shows for ``metric``, in words: one line per (split, arm), e.g.
    ``"  rule_ood SFT: 4.1% -> 13.6% (+9.5 +- 1.0 points, up, 3 seed(s))"``, preceded by a warning
    when the init is at the floor (at most ``floor`` percent) on every OOD split, where neither arm
    can show an OOD effect whatever its sign. Empty when ``effects`` has no row for ``metric``.
    """
    mine = effects[effects["metric"] == metric] if len(effects) else effects
    lines = []
    ood = mine[mine["split"] != "id"] if len(mine) else mine
    if len(ood) and (ood["init"] <= floor).all():
        lines.append(f"Out of distribution the init is at the floor ({ood['init'].max():.1f}%): neither arm can "
                     "show an OOD effect here, whatever its sign. The diagnostics above (and the README's "
                     "decomposition) say what is missing.")
    for _, r in mine.iterrows():
        lines.append(f"{r['split']:>10} {r['arm'].upper():>3}: {r['init']:.1f}% -> {r['arm_value']:.1f}% "
                     f"({r['effect']:+.1f} +- {r['effect_se']:.1f} points, {r['reading']}, "
                     f"{int(r['n_seeds'])} seed(s))")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ drawing
def _band_note(frames: Mapping[str, pd.DataFrame]) -> str:
    counts = {int(f["seed"].nunique()) for f in frames.values()}
    if not counts:
        return ""
    parts = []
    if any(k >= 2 for k in counts):
        parts.append("range over seeds")
    if 1 in counts:
        parts.append("+-1 binomial SE with 1 seed")
    return "; band: " + ", ".join(parts)


def draw_curves(ax, frame: pd.DataFrame, metric: str, split: str, *, methods: Sequence[str] = ("sft", "rl"),
                window: int = 7, legend: bool = False, task: str | None = None,
                series_by: str = "method", colors: Mapping | None = None,
                series_label=None) -> pd.DataFrame:
    """Draw one panel: the init point, then each series (``series_by`` value) against training
    compute: raw means over seeds as faint markers, the Savitzky-Golay curve (order 3) over them, the
    seed band. Every series starts at the init point. Returns the drawn data (tidy)."""
    rows = frame[frame["split"] == split]
    if rows.empty or metric not in rows or rows[metric].isna().all():
        mark_missing(ax, f"no {label(split)} rows")
        return pd.DataFrame()
    colors = dict(COLORS if colors is None else colors)
    init_rows = rows[rows["method"] == "init"]
    init = aggregate(init_rows, metric, by=("method",)) if len(init_rows) else pd.DataFrame()
    init_step = int(init_rows["step"].min()) if len(init_rows) else 0
    drawn, tops = [], [0.0]
    for value in methods:
        part = rows[(rows[series_by] == value) & (rows["method"] != "init")]
        if part.empty:
            continue
        agg = aggregate(part, metric, by=("step",)).sort_values("gflops")
        if len(init):
            agg = pd.concat([init.drop(columns="method").assign(step=init_step), agg], ignore_index=True)
        agg["smoothed"] = np.clip(smooth(agg["value"], window=window), 0.0, 100.0)
        color = colors.get(value, None)
        name = series_label(value) if series_label else label(value)
        ax.fill_between(agg["gflops"], agg["low"], agg["high"], color=color, alpha=0.15, lw=0)
        ax.plot(agg["gflops"], agg["value"], ls="none", marker=MARKERS.get(value, "o"), ms=4, alpha=0.45, color=color,
                clip_on=False)
        (line,) = ax.plot(agg["gflops"], agg["smoothed"], color=color, lw=2, label=name)
        drawn.append(agg.assign(series=value, method=rows.loc[rows[series_by] == value, "method"].iloc[0]))
        tops += [agg["high"].max(), agg["smoothed"].max(), agg["value"].max()]
    if len(init):
        ax.plot(init["gflops"], init["value"], ls="none", marker=MARKERS["init"], ms=12, color=COLORS["init"],
                mec="white", mew=0.8, zorder=5, label=label("init"), clip_on=False)
        tops.append(float(init["high"].max()))
    percent_axis(ax, tops)
    compute_axis(ax)
    ax.set_ylabel(metric_label(metric, task))
    if legend:
        ax.legend(loc="best", fontsize=8)
    data = pd.concat(drawn, ignore_index=True) if drawn else pd.DataFrame()
    if len(init):
        data = pd.concat([init.assign(series="init", smoothed=init["value"], step=init_step), data], ignore_index=True)
    return data.assign(split=split, metric=metric)


def _bars(ax, summary: pd.DataFrame, paper: Mapping[str, float] | None, *, task: str, metric: str,
          methods: Sequence[str] = ("sft", "init", "rl")) -> list[float]:
    """SFT / Init / RL bars of this package (with SE error bars) and the paper's beside (grey, hatched)."""
    x = np.arange(len(methods), dtype=float)
    width = 0.38 if paper is not None else 0.6
    tops = [0.0]
    ours = summary.set_index("method") if len(summary) else pd.DataFrame()
    if paper is not None:
        vals = [paper.get(m, math.nan) for m in methods]
        bars = ax.bar(x - width / 2, vals, width, color="white", edgecolor="0.45", hatch="///", lw=0.8,
                      label=LABELS["paper"])
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1, color="0.35")
        tops += [v for v in vals if np.isfinite(v)]
    offset = width / 2 if paper is not None else 0.0
    vals = [float(ours.loc[m, "value"]) if m in ours.index else math.nan for m in methods]
    errs = [float(ours.loc[m, "se"]) if m in ours.index else math.nan for m in methods]
    errs = [e if np.isfinite(e) else 0.0 for e in errs]
    bars = ax.bar(x + offset, vals, width, yerr=errs, capsize=3, color=[COLORS[m] for m in methods],
                  error_kw={"lw": 1, "ecolor": "0.2"}, label=LABELS["package"])
    ax.bar_label(bars, labels=[f"{v:.1f}" if np.isfinite(v) else "" for v in vals], fontsize=7, padding=2)
    if all(not np.isfinite(v) for v in vals):
        ax.text(x[1] + offset, 2, "not run yet", ha="center", va="bottom", fontsize=8, color="0.45", rotation=90)
    tops += [v + e for v, e in zip(vals, errs) if np.isfinite(v)]
    ax.set_xticks(x, [label(m) for m in methods])
    ax.set_ylabel(metric_label(metric, task))
    ax.grid(axis="x", visible=False)
    return tops


def _paper_row(paper: pd.DataFrame | None, task_name: str) -> dict | None:
    if paper is None:
        return None
    row = paper[paper["task"] == task_name]
    return None if row.empty else {m: float(row[m].iloc[0]) for m in ("init", "rl", "sft")}


def _paper_tables() -> dict[str, pd.DataFrame]:
    from sftrl_repro.paper import paper_tables

    return paper_tables()


def _seed_note(frames: Mapping[str, pd.DataFrame], scale: str) -> str:
    seeds = {k: int(f["seed"].nunique()) for k, f in frames.items()}
    if not seeds:
        return f"{scale} scale; no results yet"
    parts = ", ".join(f"{label(k)}: {n} seed{'s' if n != 1 else ''}" for k, n in seeds.items())
    return f"This package: {scale} scale ({parts})"


# ------------------------------------------------------------------------------------------ figures
@styled
def plot_fig01_teaser(study: pd.DataFrame | None, *, key: str = "virl_l", ood_split: str = "rule_ood",
                      window: int = 7) -> plt.Figure:
    """Fig 1 (teaser): V-IRL route success against training compute, in distribution and OOD, SFT vs RL.

    Reads the ``success`` (route success) column of ``results/study_<key>.csv`` (default V-IRL-L).
    """
    fig, axes = plt.subplots(1, 2, figsize=(8.6, 3.4), constrained_layout=True)
    data = []
    for ax, split in zip(axes, ("id", ood_split)):
        ax.set_title(label(split))
        if study is None:
            mark_missing(ax)
            continue
        data.append(draw_curves(ax, study, "success", split, task=key, window=window, legend=split == "id"))
    fig.suptitle(f"{label(key)}: route success, SFT memorizes, RL generalizes")
    return attach_data(fig, pd.concat(data, ignore_index=True).assign(task=key) if data else pd.DataFrame())


@styled
def plot_fig05_main(studies: Mapping[str, pd.DataFrame], *, window: int = 7, scale: str = "tiny") -> plt.Figure:
    """Fig 5: the 2x4 grid, in distribution (top) and rule OOD (bottom) for GP-L, V-IRL-L, GP-VL, V-IRL-VL.

    GP panels draw episode success, V-IRL panels per-step accuracy, against training GFLOPs: the
    init point, SFT and RL curves (Savitzky-Golay, order 3, over the raw means), seed bands.
    """
    keys = list(STUDY_TASKS)
    fig, axes = plt.subplots(2, 4, figsize=(14.5, 6.2), constrained_layout=True)
    data = []
    for col, key in enumerate(keys):
        frame = studies.get(key)
        for row, split in enumerate(("id", "rule_ood")):
            ax = axes[row, col]
            ax.set_title(f"{label(key)}: {label(split)}", fontsize=10)
            if frame is None:
                mark_missing(ax, f"{label(key)}: not run yet")
                continue
            part = draw_curves(ax, frame, METRIC[key], split, task=key, window=window)
            if len(part):
                data.append(part.assign(task=key))
            if row == 0:
                ax.set_xlabel("")
    handles = [plt.Line2D([], [], color=COLORS["sft"], lw=2, marker=MARKERS["sft"], label=LABELS["sft"]),
               plt.Line2D([], [], color=COLORS["rl"], lw=2, marker=MARKERS["rl"], label=LABELS["rl"]),
               plt.Line2D([], [], ls="none", marker=MARKERS["init"], ms=10, color=COLORS["init"], label=LABELS["init"])]
    fig.legend(handles=handles, loc="outside lower center", ncol=3)
    fig.suptitle(f"{_seed_note(studies, scale)}; smoothed: Savitzky-Golay (order 3){_band_note(studies)}",
                 fontsize=9, color="0.3")
    return attach_data(fig, pd.concat(data, ignore_index=True) if data else pd.DataFrame())


@styled
def plot_fig06_rule_ood(studies: Mapping[str, pd.DataFrame], paper: pd.DataFrame | None = None, *,
                        scale: str = "tiny") -> plt.Figure:
    """Fig 6: rule-OOD performance at equal compute, SFT / Init / RL bars with SE error bars, the
    paper's values (``results/paper/rule_ood.csv``, default :mod:`sftrl_repro.paper`) beside.

    GP: episode success; V-IRL: per-step accuracy (percent). Equal compute: :func:`equal_compute`.
    """
    paper = _paper_tables()["rule_ood"] if paper is None else paper
    fig, axes = plt.subplots(1, 4, figsize=(14.5, 3.6), constrained_layout=True)
    data = []
    for ax, key in zip(axes, STUDY_TASKS):
        frame = studies.get(key)
        metric = METRIC[key]
        summary = equal_compute_summary(frame, metric, "rule_ood") if frame is not None else pd.DataFrame()
        tops = _bars(ax, summary, _paper_row(paper, label(key)), task=key, metric=metric)
        percent_axis(ax, tops)
        ax.set_title(label(key))
        if len(summary):
            data.append(summary.assign(task=key, source="package"))
        p = _paper_row(paper, label(key))
        if p:
            data.append(pd.DataFrame([{"task": key, "split": "rule_ood", "metric": metric, "method": m,
                                       "value": v, "source": "paper"} for m, v in p.items()]))
    axes[0].legend(loc="upper left", fontsize=8)
    fig.suptitle(f"Rule OOD at equal training compute. {_seed_note(studies, scale)}; error bars: SE over seeds",
                 fontsize=9, color="0.3")
    return attach_data(fig, pd.concat(data, ignore_index=True) if data else pd.DataFrame())


VISUAL_METRIC = {"gp_vl": "success", "virl_vl": "success"}  # GP-VL episode success; V-IRL-VL route success


@styled
def plot_fig07_visual_ood(studies: Mapping[str, pd.DataFrame], paper: pd.DataFrame | None = None,
                          previous_best: float | None = None, *, window: int = 7, scale: str = "tiny") -> plt.Figure:
    """Fig 7: visual OOD (GP-VL red suits: episode success; V-IRL-VL OOD cities: route success).

    Top row: the ``visual_ood`` curves against compute; bottom row: SFT / Init / RL at equal compute
    with the paper's values beside (``results/paper/visual_ood.csv``) and, on V-IRL-VL, the previous
    best on VLN-mini (44.0, ``results/paper/vln_mini_previous_best.csv``) as a dashed line.
    """
    tables = _paper_tables()
    paper = tables["visual_ood"] if paper is None else paper
    if previous_best is None:
        previous_best = float(tables["vln_mini_previous_best"]["value"].iloc[0])
    fig, axes = plt.subplots(2, 2, figsize=(9.5, 6.6), constrained_layout=True)
    data = []
    present = {k: v for k, v in studies.items() if k in VISUAL_METRIC}
    for col, key in enumerate(VISUAL_METRIC):
        frame = studies.get(key)
        metric = VISUAL_METRIC[key]
        ax = axes[0, col]
        ax.set_title(f"{label(key)}: {label('visual_ood')}")
        if frame is None:
            mark_missing(ax, f"{label(key)}: not run yet")
        else:
            part = draw_curves(ax, frame, metric, "visual_ood", task=key, window=window, legend=col == 0)
            if len(part):
                data.append(part.assign(task=key, source="package"))
        ax = axes[1, col]
        summary = equal_compute_summary(frame, metric, "visual_ood") if frame is not None else pd.DataFrame()
        tops = _bars(ax, summary, _paper_row(paper, label(key)), task=key, metric=metric)
        if key == "virl_vl":
            ax.axhline(previous_best, color="0.2", ls="--", lw=1)
            ax.text(0.02, previous_best, f"Previous best (CLIP + GPT-4): {previous_best:.1f}", fontsize=7,
                    va="bottom", ha="left", transform=ax.get_yaxis_transform())
            tops.append(previous_best)
        percent_axis(ax, tops)
        ax.set_title(f"{label(key)}: equal compute")
        if len(summary):
            data.append(summary.assign(task=key, source="package"))
    axes[1, 0].legend(loc="upper left", fontsize=8)
    fig.suptitle(f"Visual OOD. {_seed_note(present, scale)}", fontsize=9, color="0.3")
    return attach_data(fig, pd.concat(data, ignore_index=True) if data else pd.DataFrame())


@styled
def plot_fig08_recognition(rule: pd.DataFrame | None, visual: pd.DataFrame | None = None) -> plt.Figure:
    """Fig 8: GP-VL recognition accuracy (x) against episode success (y) for every checkpoint (mean
    over seeds): rule variant (ID and rule OOD) left, visual variant (ID and visual OOD) right; colour
    by split, marker by method (SFT triangle, RL circle, init star), transparency by training compute.

    ``rule`` and ``visual`` are study frames with a ``recognition`` column (usually both
    ``results/study_gp_vl.csv``, whose splits include ``rule_ood`` and ``visual_ood``).
    """
    visual = rule if visual is None else visual
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.0), constrained_layout=True)
    data = []
    for ax, (name, frame, ood) in zip(axes, (("Rule variant", rule, "rule_ood"), ("Visual variant", visual, "visual_ood"))):
        ax.set_title(f"GP-VL: {name.lower()}")
        if frame is None or "recognition" not in frame:
            mark_missing(ax, "GP-VL recognition: not run yet")
            continue
        rows = frame[frame["split"].isin(["id", ood])]
        success = aggregate(rows, "success", by=("split", "method", "step"))
        recog = aggregate(rows, "recognition", by=("split", "method", "step"))
        merged = success.merge(recog[["split", "method", "step", "value"]], on=["split", "method", "step"],
                               suffixes=("", "_recognition"))
        lo, hi = merged["gflops"].min(), merged["gflops"].max()
        span = hi - lo if hi > lo else 1.0
        merged["alpha"] = 0.25 + 0.75 * (merged["gflops"] - lo) / span
        for (split, method), g in merged.groupby(["split", "method"], sort=False):
            colors = [(*plt.matplotlib.colors.to_rgb(COLORS[split]), a) for a in g["alpha"]]
            ax.scatter(g["value_recognition"], g["value"], c=colors, marker=MARKERS.get(method, "o"),
                       s=90 if method == "init" else 36, edgecolors="none", clip_on=False)
        percent_axis(ax, merged["value_recognition"], axis="x")
        percent_axis(ax, merged["value"])
        ax.set_xlabel(LABELS["recognition"])
        ax.set_ylabel(LABELS["success"])
        data.append(merged.rename(columns={"value": "success", "value_recognition": "recognition"})
                    .assign(variant=name))
    handles = [plt.Line2D([], [], ls="none", marker="s", color=COLORS["id"], label=LABELS["id"]),
               plt.Line2D([], [], ls="none", marker="s", color=COLORS["rule_ood"], label="OOD"),
               *[plt.Line2D([], [], ls="none", marker=MARKERS[m], color="0.3", label=LABELS[m]) for m in ("sft", "rl", "init")]]
    fig.legend(handles=handles, loc="outside lower center", ncol=5)
    fig.suptitle("Transparency: training compute (faint = early)", fontsize=9, color="0.3")
    return attach_data(fig, pd.concat(data, ignore_index=True) if data else pd.DataFrame())


#: The diagnostic drawn under each study task's own metric in :func:`plot_study`.
DIAGNOSTIC: dict[str, str] = {"gp_l": "rule_reading", "virl_l": "success", "gp_vl": "recognition",
                              "virl_vl": "success"}


@styled
def plot_study(frame: pd.DataFrame, key: str, *, window: int = 7, title: str = "") -> plt.Figure:
    """One study task (notebooks 03 / 04): a column per split; top row the paper's metric (GP
    success, V-IRL per-step accuracy), bottom row the diagnostic that explains it (GP-L rule
    reading, GP-VL recognition, V-IRL route success), init / SFT / RL against training GFLOPs."""
    from sftrl_repro.utils.params import check_choice

    check_choice("key", key, tuple(STUDY_TASKS))
    splits = [s for s in ("id", "rule_ood", "visual_ood") if s in set(frame["split"])]
    metrics = [METRIC[key], DIAGNOSTIC[key]]
    fig, axes = plt.subplots(2, len(splits), figsize=(3.9 * len(splits), 5.6), squeeze=False,
                             constrained_layout=True)
    data = []
    for row, metric in enumerate(metrics):
        for col, split in enumerate(splits):
            ax = axes[row, col]
            ax.set_title(f"{label(split)}: {metric_label(metric, key).split(' (')[0]}", fontsize=10)
            part = draw_curves(ax, frame, metric, split, task=key, window=window, legend=row == 0 and col == 0)
            if len(part):
                data.append(part)
            if row == 0:
                ax.set_xlabel("")
    fig.suptitle(title or f"{label(key)}: {_seed_note({key: frame}, str(frame['scale'].iloc[0]) if 'scale' in frame else 'tiny')}"
                 f"{_band_note({key: frame})}", fontsize=9, color="0.3")
    return attach_data(fig, pd.concat(data, ignore_index=True) if data else pd.DataFrame())


@styled
def plot_fig18_virl_vl_route_success(study: pd.DataFrame | None, *, window: int = 7) -> plt.Figure:
    """Fig 18: V-IRL-VL route success (the ``success`` column) against compute, SFT vs RL, one panel
    per split (in distribution, rule OOD, and visual OOD when evaluated)."""
    splits = ["id", "rule_ood"]
    if study is not None and (study["split"] == "visual_ood").any():
        splits.append("visual_ood")
    fig, axes = plt.subplots(1, len(splits), figsize=(4.3 * len(splits), 3.4), constrained_layout=True)
    data = []
    for ax, split in zip(axes, splits):
        ax.set_title(f"{label('virl_vl')}: {label(split)}")
        if study is None:
            mark_missing(ax)
            continue
        data.append(draw_curves(ax, study, "success", split, task="virl_vl", window=window, legend=split == "id"))
    return attach_data(fig, pd.concat(data, ignore_index=True).assign(task="virl_vl") if data else pd.DataFrame())


# ------------------------------------------------------------------------------------------ run notebooks
@styled
def plot_sft_vs_rl(rl: pd.DataFrame, sft: pd.DataFrame | None = None, *, metric: str = "success",
                   title: str = "", task: str | None = None) -> plt.Figure:
    """One run's SFT and RL checkpoints against training GFLOPs, one panel per split (notebooks 03/04).

    Args:
        rl: :func:`sftrl_repro.experiments.rl.run_rl_experiment`'s table (``method``, ``gflops``,
            ``split``, the metric, ``<metric>_se`` when present).
        sft: ``02_sft``'s table (``gflops``, ``split``, the metric, ...), or ``None``.
        metric: the column to draw, a fraction in [0, 1] (``success``, ``per_step_accuracy``, ...).
        task: ``"gp"`` or ``"virl"`` (words of the y label; V-IRL ``success`` is route success).
    """
    splits = list(dict.fromkeys(rl["split"]))
    fig, axes = plt.subplots(1, len(splits), figsize=(4.3 * len(splits), 3.4), squeeze=False,
                             constrained_layout=True)
    for ax, split in zip(axes[0], splits):
        series = [("rl", rl[(rl.split == split) & (rl.method != "init")].sort_values("gflops"))]
        if sft is not None and metric in sft:
            series.append(("sft", sft[sft.split == split].sort_values("gflops")))
        tops = [0.0]
        for method, rows in series:
            se = rows[f"{metric}_se"] if f"{metric}_se" in rows else None
            ax.errorbar(rows["gflops"], 100 * rows[metric], yerr=None if se is None else 100 * se,
                        marker=MARKERS[method], ms=4, capsize=2, color=COLORS[method], label=label(method),
                        clip_on=False)
            tops.append(float((100 * (rows[metric] + (0 if se is None else se))).max()))
        init = rl[(rl.split == split) & (rl.method == "init")]
        if len(init):
            ax.plot(init["gflops"], 100 * init[metric], ls="none", marker=MARKERS["init"], ms=12,
                    color=COLORS["init"], label=label("init"), clip_on=False)
            tops.append(float(100 * init[metric].max()))
        ax.set_title(label(split))
        compute_axis(ax)
        percent_axis(ax, tops)
        ax.set_ylabel(metric_label(metric, task))
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


@styled
def plot_training_curves(curves: pd.DataFrame, keys=("reward_mean", "success_rate", "approx_kl", "clip_frac",
                                                      "explained_variance", "entropy")) -> plt.Figure:
    """PPO diagnostics per update (:func:`sftrl_repro.experiments.rl.training_curves`), one small panel each."""
    from matplotlib.ticker import MaxNLocator

    keys = [k for k in keys if k in curves and curves[k].notna().any()]
    fig, axes = plt.subplots(1, len(keys), figsize=(2.7 * len(keys), 2.6), squeeze=False, constrained_layout=True)
    for ax, key in zip(axes[0], keys):
        y = curves[key] * (100 if key == "success_rate" else 1)
        ax.plot(curves["step"], y, marker="o", ms=3, color=COLORS["rl"])
        ax.set_title(label(key), fontsize=9)
        ax.set_xlabel(label("update"))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        if key == "success_rate":
            percent_axis(ax, y)
    return fig


@styled
def plot_sft_run(losses: pd.DataFrame, evaluation: pd.DataFrame, *, task: str = "gp", metric: str | None = None,
                 title: str = "") -> plt.Figure:
    """One SFT run (notebook 02): training loss, the paper's metric per split and the well-formed
    answer rate against trained tokens. A drop-in for ``trainers.sft.plot_sft_run`` that draws
    V-IRL's per-step accuracy (the paper's V-IRL metric) rather than route success.

    Args:
        losses: ``trainers.sft.loss_curve``'s table (``trained_tokens``, ``loss``).
        evaluation: ``trainers.sft.evaluate_sft_run``'s table (``trained_tokens``, ``split``, the
            metric, ``<metric>_se`` when present, ``format_rate``).
        task: ``"gp"`` or ``"virl"``; ``metric`` defaults to success (GP) / per-step accuracy (V-IRL).
    """
    from matplotlib.ticker import MaxNLocator

    metric = metric or ("per_step_accuracy" if str(task).startswith("virl") else "success")
    fig, (ax_loss, ax_metric, ax_format) = plt.subplots(1, 3, figsize=(13, 3.5), constrained_layout=True)
    ax_loss.plot(losses["trained_tokens"], losses["loss"], color="0.2")
    ax_loss.set(xlabel="Trained tokens", ylabel="SFT loss (answer tokens)", yscale="log")
    tops_metric, tops_format = [0.0], [0.0]
    for split, rows in evaluation.groupby("split", sort=False):
        rows = rows.sort_values("trained_tokens")
        color = {"id": COLORS["id"], "rule_ood": COLORS["rule_ood"], "visual_ood": "#5aa469"}.get(split)
        se = 100 * rows[f"{metric}_se"] if f"{metric}_se" in rows else None
        ax_metric.errorbar(rows["trained_tokens"], 100 * rows[metric], yerr=se, marker="o", ms=4, capsize=2,
                           color=color, label=label(split), clip_on=False)
        tops_metric.append(float((100 * rows[metric] + (0 if se is None else se)).max()))
        if "format_rate" in rows:
            ax_format.plot(rows["trained_tokens"], 100 * rows["format_rate"], marker="o", ms=4, color=color,
                           label=label(split), clip_on=False)
    ax_metric.set(xlabel="Trained tokens", ylabel=metric_label(metric, task))
    ax_format.set(xlabel="Trained tokens", ylabel=LABELS["format_rate"])
    percent_axis(ax_metric, tops_metric)
    percent_axis(ax_format, full=True)
    for ax in (ax_loss, ax_metric, ax_format):
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4), useMathText=True)
    ax_metric.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
