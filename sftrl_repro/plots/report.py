"""``results/REPORT.md``: every number the paper reports beside this package's, from ``results/`` only.

For each number of :mod:`sftrl_repro.paper` (Fig 6 rule OOD, Fig 7 visual OOD and the previous best
on VLN-mini, Fig 10 verification iterations) one row: the paper's value, this package's value with
its SE, for effects the effect in SEs (z), the number of seeds, the scale, and for effects (RL - init, SFT - init,
OOD growth) whether the sign agrees with the paper's. A number whose results do not exist says
"n/a: not run yet" and names the file; nothing is ever filled in.

Rules (the same as the figures'):

* equal compute: :func:`sftrl_repro.plots.study.equal_compute` (per seed, the largest compute both
  arms reached; each arm's last checkpoint at or below it);
* values: mean over seeds, in percent; SE: :func:`sftrl_repro.plots.common.mean_and_se` (the larger
  of the spread across seeds and the binomial evaluation noise); effects are paired per seed
  (RL(seed) - init(seed)), their per-seed SE combining both binomial SEs;
* sign: "yes" when the package's effect has the paper's sign, "no" otherwise (a zero effect is
  "no"); "(|z| < 2)" marks an effect within two SEs of zero.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from sftrl_repro.paths import results_dir
from sftrl_repro.plots.common import label, mean_and_se
from sftrl_repro.plots.study import METRIC, MissingResults, equal_compute, read_study, study_effects, study_path
from sftrl_repro.plots.sweeps import LAST_CHECKPOINT_NOTE, fig10_growth, read_sweep, sweep_path
from sftrl_repro.utils.io import write_text_atomic

#: The paper's task names -> study keys.
TASK_KEYS = {"GP-L": "gp_l", "V-IRL-L": "virl_l", "GP-VL": "gp_vl", "V-IRL-VL": "virl_vl"}
REPORT_COLUMNS = ["figure", "task", "split", "metric", "quantity", "paper", "package", "se", "z", "n_seeds",
                  "scale", "sign_agrees", "source"]


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(results_dir().parent))
    except ValueError:
        return str(path)


def _paired(rows: pd.DataFrame, metric: str, a: str, b: str | None) -> tuple[float, float, int]:
    """Mean over seeds of ``a`` (``b`` is None) or of ``a - b`` paired by seed, in percent, with SE."""
    se_col = f"{metric}_se" if f"{metric}_se" in rows else None
    values, ses = [], []
    for _, g in rows.groupby("seed"):
        ra, rb = g[g["method"] == a], (g[g["method"] == b] if b else None)
        if ra.empty or (rb is not None and rb.empty):
            continue
        va = float(ra[metric].iloc[0])
        sa = float(ra[se_col].iloc[0]) if se_col else math.nan
        if rb is None:
            values.append(va)
            ses.append(sa)
        else:
            values.append(va - float(rb[metric].iloc[0]))
            ses.append(math.hypot(sa, float(rb[se_col].iloc[0])) if se_col else math.nan)
    mean, se, k = mean_and_se(values, ses if se_col else None)
    return 100 * mean, 100 * se, k


#: Effects (points) closer to zero than this are zero: an arm that equals its init over seeds leaves
#: float round-off (e.g. 3e-16) after the mean of per-seed differences, which has no sign.
ZERO_EFFECT = 1e-9


def _sign(paper: float, package: float, se: float) -> str:
    if not np.isfinite(package):
        return ""
    package = 0.0 if abs(package) < ZERO_EFFECT else package
    agrees = np.sign(package) == np.sign(paper) and package != 0
    text = "yes" if agrees else ("no (zero effect)" if package == 0 else "no")
    if np.isfinite(se) and se > 0 and abs(package / se) < 2:
        text += " (|z| < 2)"
    return text


def _row(figure, task, split, metric, quantity, paper, package=math.nan, se=math.nan, k=0, scale="", effect=False,
         source="", missing=""):
    # z only for effects (effect / SE: how many SEs from no effect)
    z = package / se if effect and np.isfinite(package) and np.isfinite(se) and se > 0 else math.nan
    return {"figure": figure, "task": task, "split": split, "metric": metric, "quantity": quantity, "paper": paper,
            "package": package, "se": se, "z": z, "n_seeds": k, "scale": scale if not missing else "",
            "sign_agrees": (_sign(paper, package, se) if effect else "") if not missing else ("n/a" if effect else ""),
            "source": missing or source}


def _scale_of(frame: pd.DataFrame, scale: str) -> str:
    if "scale" in frame and frame["scale"].notna().any():
        return ", ".join(map(str, dict.fromkeys(frame["scale"].dropna())))
    return scale


def _bar_rows(figure: str, paper: pd.DataFrame, split: str, folder, scale: str, metric_of) -> list[dict]:
    rows = []
    for _, p in paper.iterrows():
        task = p["task"]
        key = TASK_KEYS[task]
        metric = metric_of(key)
        path = study_path(key, scale=scale, folder=folder)
        quantities = [("init", "init", None, False), ("RL", "rl", None, False), ("SFT", "sft", None, False),
                      ("RL - init", "rl", "init", True), ("SFT - init", "sft", "init", True)]
        paper_values = {"init": p["init"], "RL": p["rl"], "SFT": p["sft"], "RL - init": p["rl"] - p["init"],
                        "SFT - init": p["sft"] - p["init"]}
        missing = ""
        chosen = None
        frame = read_study(key, scale=scale, folder=folder, required=False)
        if frame is None:
            missing = f"n/a: not run yet ({_rel(path)}" + (f", scale {scale})" if path.is_file() else ")")
        else:
            if metric not in frame or frame[metric].isna().all() or not (frame["split"] == split).any():
                missing = f"n/a: no {split} {metric} in {_rel(path)}"
            else:
                chosen = equal_compute(frame)
                chosen = chosen[chosen["split"] == split]
                if chosen.empty:
                    missing = f"n/a: no checkpoints at equal compute in {_rel(path)}"
        for name, a, b, effect in quantities:
            if missing:
                rows.append(_row(figure, task, split, metric, name, round(paper_values[name], 2), effect=effect,
                                 missing=missing))
                continue
            value, se, k = _paired(chosen, metric, a, b)
            rows.append(_row(figure, task, split, metric, name, round(paper_values[name], 2), value, se, k,
                             _scale_of(frame, scale), effect, _rel(path)))
    return rows


def report_table(folder: str | os.PathLike | None = None, *, scale: str = "tiny") -> pd.DataFrame:
    """The rows of the report (see the module docstring); values in percent (points)."""
    from sftrl_repro.paper import paper_tables

    tables = paper_tables()
    folder = Path(folder) if folder is not None else results_dir()
    rows = _bar_rows("Fig 6", tables["rule_ood"], "rule_ood", folder, scale, lambda key: METRIC[key])
    rows += _bar_rows("Fig 7", tables["visual_ood"], "visual_ood", folder, scale, lambda key: "success")
    best = tables["vln_mini_previous_best"].iloc[0]
    rows.append(_row("Fig 7", "V-IRL-VL", "visual_ood", "route_success", "previous best on VLN-mini (CLIP + GPT-4)",
                     float(best["value"]), missing="n/a: another system's number on the authors' VLN-mini; "
                     "not measured by this package"))
    path = sweep_path("verify_iter", scale=scale, folder=folder)
    growth = pd.DataFrame()
    try:
        frame = read_sweep("verify_iter", scale=scale, folder=folder)
    except MissingResults:
        frame = None
    compute = "equal"
    if frame is not None:
        growth, compute = fig10_growth(frame)
    for _, p in tables["verification_steps"].iterrows():
        viter = int(p["verify_iter"])
        name = f"OOD growth, VIter = {viter}"
        g = growth[(growth["verify_iter"] == viter) & (growth["split"] == "rule_ood")] if len(growth) else growth
        if frame is None:
            rows.append(_row("Fig 10", "GP-L", "rule_ood", "success", name, p["ood_growth_points"], effect=True,
                             missing=f"n/a: not run yet ({_rel(path)})"))
        elif g.empty:
            rows.append(_row("Fig 10", "GP-L", "rule_ood", "success", name, p["ood_growth_points"], effect=True,
                             missing=f"n/a: no VIter = {viter} rule_ood rows in {_rel(path)}"))
        else:
            r = g.iloc[0]
            source = _rel(path) if compute == "equal" else f"{_rel(path)} ({LAST_CHECKPOINT_NOTE})"
            rows.append(_row("Fig 10", "GP-L", "rule_ood", "success", name, p["ood_growth_points"], r["growth"],
                             r["se"], int(r["n_seeds"]), _scale_of(frame, scale), True, source))
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)


#: The README's generated block (:func:`update_readme`) sits between these two lines.
README_BEGIN = "<!-- study-summary: written by `python -m sftrl_repro.plots.report --readme README.md`; do not edit -->"
README_END = "<!-- /study-summary -->"
SUMMARY_COLUMNS = ["task", "split", "metric", "paper_init", "paper_rl", "paper_sft", "init", "rl", "sft", "rl_effect",
                   "rl_se", "rl_reading", "sft_effect", "sft_se", "sft_reading", "n_seeds", "n_episodes"]


def _arms_at_equal_compute(frame: pd.DataFrame, split: str, metric: str) -> dict | None:
    """Init, RL and SFT of ``metric`` on ``split`` at equal compute, each arm minus the init with its SE and
    reading, the seeds and the fewest episodes per checkpoint (``None``: the split lacks the metric or an arm)."""
    if metric not in frame or frame.loc[frame["split"] == split, metric].isna().all():
        return None
    effects = study_effects(frame, metric, splits=[split])
    arms = effects.set_index("arm") if len(effects) else effects
    if not {"sft", "rl"} <= set(arms.index):
        return None
    episodes = frame.loc[frame["split"] == split, "n_episodes"]
    return {"init": float(arms.loc["rl", "init"]), "rl": float(arms.loc["rl", "arm_value"]),
            "sft": float(arms.loc["sft", "arm_value"]),
            "rl_effect": float(arms.loc["rl", "effect"]), "rl_se": float(arms.loc["rl", "effect_se"]),
            "rl_reading": arms.loc["rl", "reading"],
            "sft_effect": float(arms.loc["sft", "effect"]), "sft_se": float(arms.loc["sft", "effect_se"]),
            "sft_reading": arms.loc["sft", "reading"],
            "n_seeds": int(min(arms.loc["rl", "n_seeds"], arms.loc["sft", "n_seeds"])),
            "n_episodes": int(episodes.min()) if episodes.notna().any() else 0}


def _study_frames(folder: str | os.PathLike | None, scale: str):
    """``(task, key, frame)`` for each study table of ``folder`` (default ``results/``) that exists."""
    folder = Path(folder) if folder is not None else results_dir()
    for task, key in TASK_KEYS.items():
        frame = read_study(key, scale=scale, folder=folder, required=False)
        if frame is not None:
            yield task, key, frame


def _splits(frame: pd.DataFrame) -> list[str]:
    return [s for s in ("id", "rule_ood", "visual_ood") if s in set(frame["split"])]


def study_summary(folder: str | os.PathLike | None = None, *, scale: str = "tiny") -> pd.DataFrame:
    """What each task's study shows, one row per (task, split) of the study tables that exist.

    Columns (:data:`SUMMARY_COLUMNS`, percent / points): the paper's init, RL and SFT (Fig 6 rule OOD,
    Fig 7 visual OOD; NaN in distribution, which the paper gives in figures only), this package's at
    equal compute (:func:`~sftrl_repro.plots.study.study_effects`: means over seeds), each arm minus
    the init with its SE and reading ("up"/"down" only when |z| >= 2), the seeds, and the fewest
    episodes per checkpoint of the split. The metric is the paper's: GP episode success; V-IRL
    per-step accuracy (Fig 6), route success on visual OOD (Fig 7).
    """
    from sftrl_repro.paper import paper_tables

    tables = paper_tables()
    rows = []
    for task, key, frame in _study_frames(folder, scale):
        for split in _splits(frame):
            metric = "success" if split == "visual_ood" else METRIC[key]  # Fig 7: V-IRL route success
            arms = _arms_at_equal_compute(frame, split, metric)
            if arms is None:
                continue
            paper = {"rule_ood": tables["rule_ood"], "visual_ood": tables["visual_ood"]}.get(split)
            mine = paper[paper["task"] == task] if paper is not None else None
            p = mine.iloc[0] if mine is not None and len(mine) else None
            rows.append({
                "task": task, "split": split, "metric": metric,
                "paper_init": math.nan if p is None else float(p["init"]),
                "paper_rl": math.nan if p is None else float(p["rl"]),
                "paper_sft": math.nan if p is None else float(p["sft"]),
                **arms,
            })
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


#: The diagnostics that decompose each task's headline metric (what a success or a failure is made of),
#: in the order an answer depends on them: GP ``recognition`` (the ``"cards"`` field is the hand: read
#: from the image for GP-VL, copied from the prompt for GP-L), GP rule reading (the ``"number"`` field
#: right under the stated rule), V-IRL-VL per-step accuracy on the VLN-mini routes (whose headline,
#: as Fig 7, is route success). Per study key: ``(metric, splits)``, ``None`` for every split.
DIAGNOSTICS: dict[str, tuple[tuple[str, tuple[str, ...] | None], ...]] = {
    "gp_l": (("recognition", None), ("rule_reading", None)),
    "gp_vl": (("recognition", None), ("rule_reading", None)),
    "virl_l": (),
    "virl_vl": (("per_step_accuracy", ("visual_ood",)),),
}
DIAGNOSTIC_COLUMNS = ["task", "split", "metric", "init", "rl", "sft", "rl_effect", "rl_se", "rl_reading",
                      "sft_effect", "sft_se", "sft_reading", "n_seeds", "n_episodes"]


def diagnostics_summary(folder: str | os.PathLike | None = None, *, scale: str = "tiny") -> pd.DataFrame:
    """:data:`DIAGNOSTICS` of each study table that exists, as :func:`study_summary` shows the headline
    metric: init, RL and SFT at equal compute (percent, means over seeds) and each arm minus the init
    (points +- SE, reading). Columns :data:`DIAGNOSTIC_COLUMNS`; one row per (task, split, diagnostic)."""
    rows = []
    for task, key, frame in _study_frames(folder, scale):
        for metric, splits in DIAGNOSTICS[key]:
            for split in [s for s in _splits(frame) if splits is None or s in splits]:
                arms = _arms_at_equal_compute(frame, split, metric)
                if arms is not None:
                    rows.append({"task": task, "split": split, "metric": metric, **arms})
    return pd.DataFrame(rows, columns=DIAGNOSTIC_COLUMNS)


def _arm_cells(r: pd.Series) -> str:
    """A summary row's last four Markdown cells: init -> RL / SFT, each arm minus the init, seeds x episodes."""
    return (f"{r['init']:.1f} -> {r['rl']:.1f} / {r['sft']:.1f} | "
            f"{r['rl_effect']:+.1f} +- {r['rl_se']:.1f} ({r['rl_reading']}) | "
            f"{r['sft_effect']:+.1f} +- {r['sft_se']:.1f} ({r['sft_reading']}) | {r['n_seeds']} x {r['n_episodes']}")


def summary_markdown(summary: pd.DataFrame) -> str:
    """:func:`study_summary` as a Markdown table (the README's block and REPORT.md's second section)."""
    if summary.empty:
        return "No study table exists yet (`results/study_<task>_<variant>.csv`: `make repro` writes them)."
    metric_names = {"success": "success", "per_step_accuracy": "per-step accuracy"}
    lines = ["| task | split (metric) | paper: init -> RL / SFT | this package: init -> RL / SFT | RL - init "
             "| SFT - init | seeds x episodes |", "|---|---|---|---|---|---|---|"]
    for _, r in summary.iterrows():
        paper = ("-" if not np.isfinite(r["paper_init"])
                 else f"{r['paper_init']:.1f} -> {r['paper_rl']:.1f} / {r['paper_sft']:.1f}")
        metric = metric_names.get(r["metric"], r["metric"])
        if r["task"].startswith("V-IRL") and r["metric"] == "success":
            metric = "route success"
        lines.append(f"| {r['task']} | {label(r['split'])} ({metric}) | {paper} | {_arm_cells(r)} |")
    return "\n".join(lines)


def diagnostic_name(task: str, metric: str) -> str:
    """What a diagnostic is called in the tables: GP-L's ``recognition`` is the hand *copied* from the prompt
    (there is no image to read), GP-VL's the cards read from the image."""
    if metric == "recognition":
        return "hand copied" if task == "GP-L" else "recognition"
    return {"rule_reading": "rule reading", "per_step_accuracy": "per-step accuracy"}.get(metric, metric)


def diagnostics_markdown(diagnostics: pd.DataFrame) -> str:
    """:func:`diagnostics_summary` as a Markdown table (empty string when there is none)."""
    if diagnostics.empty:
        return ""
    lines = ["| task | split | diagnostic | init -> RL / SFT | RL - init | SFT - init | seeds x episodes |",
             "|---|---|---|---|---|---|---|"]
    for _, r in diagnostics.iterrows():
        lines.append(f"| {r['task']} | {label(r['split'])} | {diagnostic_name(r['task'], r['metric'])} | {_arm_cells(r)} |")
    return "\n".join(lines)


def readme_block(folder: str | os.PathLike | None = None, *, scale: str = "tiny") -> str:
    """The README's generated block (between the markers): :func:`summary_markdown`, then, when the
    tables have them, :func:`diagnostics_markdown` under a one-line heading."""
    text = summary_markdown(study_summary(folder, scale=scale))
    diagnostics = diagnostics_markdown(diagnostics_summary(folder, scale=scale))
    if diagnostics:
        text += ("\n\nWhat the headline numbers are made of (the same checkpoints; GP-L: hand copied, the "
                 "`\"cards\"` field is the prompt's hand; GP-VL: recognition, the four cards read from the image; "
                 "GP: rule reading, the `\"number\"` field right under the stated rule; V-IRL-VL: per-step "
                 "accuracy on the VLN-mini routes):\n\n" + diagnostics)
    return text


def update_readme(path: str | os.PathLike, folder: str | os.PathLike | None = None, *, scale: str = "tiny") -> Path:
    """Rewrite the block of ``path`` between :data:`README_BEGIN` and :data:`README_END` with
    :func:`readme_block` of ``folder``'s study tables (atomically; the rest of the file as it
    was). A file without both markers, in that order, is an error that names them."""
    path = Path(path)
    text = path.read_text()
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        raise ValueError(f"{path} has no generated block: it needs the line {README_BEGIN!r} and, after it, "
                         f"the line {README_END!r}")
    block = f"{README_BEGIN}\n{readme_block(folder, scale=scale)}\n"
    return write_text_atomic(path, text[:begin] + block + text[end:])


def _fmt(x: float, signed: bool = False, digits: int = 1) -> str:
    if not np.isfinite(x):
        return ""
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def build_report(folder: str | os.PathLike | None = None, *, scale: str = "tiny") -> str:
    """``results/REPORT.md``'s text: the report table as Markdown, with its rules."""
    table = report_table(folder, scale=scale)
    lines = [
        "# Paper vs this package",
        "",
        "Generated by `sftrl_repro.plots.report.write_report` from `results/` (do not edit by hand).",
        "Values are percentages (effects: percentage points). GP: episode success within the verification",
        "budget; V-IRL: per-step accuracy (Fig 6) or route success (Fig 7, VLN-mini / OOD cities).",
        "Equal compute: per seed, the largest training compute both arms reached, each arm's last",
        "checkpoint at or below it. SE: the larger of the spread across seeds and the binomial",
        "evaluation noise; effects are paired per seed. z = effect / SE. Sign: does the package's",
        "effect have the paper's sign; \"(|z| < 2)\" marks an effect within two SEs of zero.",
        "",
        "| figure | task | quantity | paper | this package | SE | z | seeds | scale | sign agrees | source |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        effect = r["quantity"].endswith("- init") or r["quantity"].startswith("OOD growth")
        missing = str(r["source"]).startswith("n/a")
        digits = 2 if r["figure"] == "Fig 10" else 1  # the paper gives Fig 10's growths to 0.01
        package = r["source"] if missing else _fmt(r["package"], effect, digits)
        lines.append(" | ".join([
            f"| {r['figure']}", f"{r['task']} ({label(r['split'])})", r["quantity"], _fmt(r["paper"], effect, digits),
            package, "" if missing else _fmt(r["se"], digits=digits), "" if missing else _fmt(r["z"], True),
            "" if missing else str(int(r["n_seeds"])), r["scale"], r["sign_agrees"],
            "" if missing else f"`{r['source']}`",
        ]) + " |")
    lines += ["", "The paper does not state ID end values or recognition accuracies (figures only); they are in",
              "the figures' CSVs (`results/fig*.csv`).", "",
              "## Each arm against the init, per task and split", "",
              "At equal compute, means over seeds (percent; effects in points +- SE, \"up\"/\"down\" only when",
              "|z| >= 2). GP: episode success within the verification budget; V-IRL: per-step accuracy.", "",
              readme_block(folder, scale=scale), ""]
    return "\n".join(lines)


def write_report(path: str | os.PathLike | None = None, *, folder: str | os.PathLike | None = None,
                 scale: str = "tiny") -> Path:
    """Write :func:`build_report` to ``path`` (default ``results/REPORT.md``) atomically."""
    path = Path(path) if path is not None else results_dir() / "REPORT.md"
    return write_text_atomic(path, build_report(folder, scale=scale))


def main(argv: list[str] | None = None) -> None:
    """Write ``results/REPORT.md`` (or ``REPORT_<scale>.md``) and, with ``--readme``, the README's generated block."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sftrl_repro.plots.report", description=main.__doc__)
    parser.add_argument("--scale", choices=("tiny", "small", "paper"), default="tiny")
    parser.add_argument("--readme", metavar="PATH", help="also rewrite this file's block between the markers")
    args = parser.parse_args(argv)
    name = "REPORT.md" if args.scale == "tiny" else f"REPORT_{args.scale}.md"
    print(write_report(results_dir() / name, scale=args.scale))
    if args.readme:
        print(update_readme(args.readme, scale=args.scale))


if __name__ == "__main__":
    main()
