"""The plotting module on small SYNTHETIC frames in the study schema (fast, headless).

Nothing here writes into results/ or figures/: every file goes to pytest's tmp_path.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings
from itertools import combinations
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt  # headless: MPLBACKEND=Agg, or matplotlib's own fallback without a display
import numpy as np
import pandas as pd
import pytest

from sftrl_repro.paper import paper_tables
from sftrl_repro.plots import common, report, study, sweeps
from sftrl_repro.plots.common import LABELS, figure_data, mean_and_se, save_figure, save_figure_data, smooth

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------ synthetic data
def synthetic_study(task="gp", variant="l", seeds=(0, 1, 2), n_sft=8, n_rl=6, *, rl_ood_slope=0.01,
                    sft_ood_slope=-0.01, zero=False, noise=0.01) -> pd.DataFrame:
    """A study table: init rows once per seed, SFT and RL continuing from the init's compute."""
    rng = np.random.default_rng(0)
    rows = []
    splits = ["id", "rule_ood"] + (["visual_ood"] if variant == "vl" else [])
    for seed in seeds:
        g0 = 1000.0 + seed
        for split in splits:
            base = {"id": 0.3, "rule_ood": 0.12, "visual_ood": 0.2}[split]

            def add(method, step, gflops, p):
                p = 0.0 if zero else float(np.clip(p, 0, 1))
                row = {"method": method, "seed": seed, "step": step, "gflops": gflops, "split": split, "success": p,
                       "success_se": math.sqrt(p * (1 - p) / 200), "n_episodes": 200}
                if task == "virl":
                    row["per_step_accuracy"] = 0.0 if zero else min(1.0, p + 0.3)
                else:
                    row["rule_reading"] = p
                if task == "gp":  # GP-VL: the cards read from the image; GP-L: the hand copied
                    row["recognition"] = 0.0 if zero else min(1.0, p + 0.4)
                rows.append(row)

            add("init", 0, g0, base)
            for s in range(1, n_sft + 1):
                slope = 0.05 if split == "id" else sft_ood_slope
                add("sft", 10 * s, g0 + 100 * s, base + slope * s + rng.normal(0, noise))
            for s in range(1, n_rl + 1):
                slope = 0.04 if split == "id" else rl_ood_slope
                add("rl", s, g0 + 150 * s, base + slope * s + rng.normal(0, noise))
    return pd.DataFrame(rows)


def synthetic_studies(**kw):
    return {"gp_l": synthetic_study(**kw), "virl_l": synthetic_study("virl", **kw),
            "gp_vl": synthetic_study(variant="vl", **kw), "virl_vl": synthetic_study("virl", "vl", seeds=(0,), **kw)}


def synthetic_sweep(param, values, *, task="gp", variant="l", methods=("init", "rl"), seeds=(0,), extra=None):
    frames = []
    for i, v in enumerate(values):
        f = synthetic_study(task, variant, seeds=seeds)
        f = f[f["method"].isin(methods)].copy()
        f[param] = v
        f["task"], f["variant"] = task, variant
        for k, val in (extra or {}).items():
            f[k] = val
        arm = f["method"] != "init"
        f.loc[arm, "success"] = (f.loc[arm, "success"] + 0.01 * i).clip(0, 1)
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def legend_texts(fig) -> list[str]:
    texts = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    for ax in fig.axes:
        if ax.get_legend() is not None:
            texts += [t.get_text() for t in ax.get_legend().get_texts()]
    return texts


def data_axes(fig):
    """Axes that hold drawn data (not a "not run yet" panel)."""
    return [ax for ax in fig.axes if ax.lines or ax.patches or ax.collections]


def assert_percent_axes(fig):
    for ax in data_axes(fig):
        if ax.get_ylabel().endswith("(%)"):
            low, high = ax.get_ylim()
            assert low >= 0 and high >= 10, (ax.get_title(), low, high)
        if ax.get_xlabel().endswith("(%)"):
            assert ax.get_xlim()[0] >= 0


def assert_no_overlapping_ticks(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            boxes = [t.get_window_extent(renderer) for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
            for a, b in combinations(boxes, 2):
                assert not a.overlaps(b), (ax.get_title(), [t.get_text() for t in axis.get_ticklabels()])


# ------------------------------------------------------------------------------------------ the module
def test_importing_the_plotting_modules_selects_no_backend_and_changes_no_setting():
    code = (
        "import matplotlib; before = dict(matplotlib.rcParams)\n"
        "import sftrl_repro.plots, sftrl_repro.plots.study, sftrl_repro.plots.sweeps, sftrl_repro.plots.report\n"
        "import sftrl_repro.plots.gp, sftrl_repro.plots.virl, sftrl_repro.plots.failures, sftrl_repro.flops.plot\n"
        "after = dict(matplotlib.rcParams)\n"
        "assert matplotlib.rcParams._get_backend_or_none() == 'module://matplotlib_inline.backend_inline', "
        "matplotlib.rcParams._get_backend_or_none()\n"
        "changed = [k for k in before if before[k] != after[k]]\n"
        "assert not changed, changed\n"
    )
    env = {**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_no_module_of_the_package_calls_matplotlib_use_and_there_is_one_save_figure():
    sources = list((ROOT / "sftrl_repro").rglob("*.py"))
    assert not [p for p in sources if "matplotlib.use(" in p.read_text()]
    defining = [p for p in sources if "def save_figure(" in p.read_text()]
    assert defining == [ROOT / "sftrl_repro" / "plots" / "common.py"]
    import sftrl_repro.plots.virl as virl

    assert virl.save_figure is common.save_figure  # a re-export for the rendered 00b_virl.ipynb, not a second one


def test_save_figure_writes_atomically_and_keeps_the_figure_open(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = save_figure(fig, "figXX_test", folder=tmp_path)
    assert path == tmp_path / "figXX_test.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.fignum_exists(fig.number)  # a notebook's inline backend still shows it
    explicit = save_figure(fig, tmp_path / "sub" / "other.png")
    assert explicit == tmp_path / "sub" / "other.png" and explicit.is_file()
    assert save_figure(fig, str(tmp_path / "third.png")).is_file()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["figXX_test.png", "other.png", "third.png"]
    assert path.read_bytes() == save_figure(fig, "figXX_test", folder=tmp_path).read_bytes()  # deterministic
    with pytest.raises(ValueError):
        save_figure(fig, tmp_path / "x.png", folder=tmp_path)


def test_save_figure_with_data_writes_the_csv_next_to_the_png(tmp_path):
    fig = study.plot_fig05_main(synthetic_studies())
    png = save_figure(fig, "fig05_main", folder=tmp_path / "figures", data=True, data_folder=tmp_path / "results")
    csv = tmp_path / "results" / "fig05_main.csv"
    assert png.is_file() and csv.is_file()
    table = pd.read_csv(csv)
    assert {"task", "split", "metric", "series", "gflops", "value", "smoothed", "low", "high", "n_seeds"} <= set(table)
    save_figure_data(pd.DataFrame({"a": [1]}), "plain", folder=tmp_path)
    assert (tmp_path / "plain.csv").read_text() == "a\n1\n"
    bare, _ = plt.subplots()
    with pytest.raises(ValueError, match="carries no data"):
        figure_data(bare)


def test_paper_style_is_applied_by_a_function_and_restored():
    before = dict(matplotlib.rcParams)
    with common.paper_style():
        assert matplotlib.rcParams["axes.spines.top"] is False
    assert dict(matplotlib.rcParams) == before
    fig = study.plot_fig05_main(synthetic_studies())  # drawn in the style, settings restored afterwards
    assert dict(matplotlib.rcParams) == before
    assert not fig.axes[0].spines["top"].get_visible()


def test_paper_style_keeps_settings_it_does_not_own():
    # the inline backend turns interactive mode on when the first figure resolves the backend,
    # possibly inside a figure function: leaving the style must keep it on (or notebooks stop showing figures)
    was = matplotlib.is_interactive()
    try:
        with common.paper_style():
            matplotlib.interactive(True)
        assert matplotlib.is_interactive()
    finally:
        matplotlib.interactive(was)


def test_labels_are_words():
    assert common.label("rule_ood") == "Rule OOD" and common.label("virl_l") == "V-IRL-L"
    assert common.metric_label("success", "virl_vl") == "Route success (%)"
    assert common.metric_label("success", "gp_l") == "Success rate (%)"
    assert common.metric_label("per_step_accuracy") == "Per-step accuracy (%)"
    assert LABELS["gflops"] == "Training computation (GFLOPs)"
    assert all("_" not in v and "VIRL" not in v for v in LABELS.values())


# ------------------------------------------------------------------------------------------ smoothing, stats
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_smoothing_leaves_short_series_unchanged(n):
    y = np.arange(n, dtype=float) ** 2
    out = smooth(y)
    assert np.array_equal(out, y) and out is not y


def test_smoothing_is_savitzky_golay_of_order_3():
    x = np.arange(9, dtype=float)
    cubic = 0.1 * x ** 3 - x ** 2 + 2
    assert np.allclose(smooth(cubic), cubic)  # an order-3 filter keeps a cubic
    noisy = cubic + np.array([0.5, -0.5] * 4 + [0.5])
    assert np.abs(smooth(noisy) - cubic).mean() < np.abs(noisy - cubic).mean()
    with_nan = noisy.copy()
    with_nan[4] = np.nan
    out = smooth(with_nan)
    assert np.isnan(out[4]) and np.isfinite(np.delete(out, 4)).all()
    assert len(smooth(np.arange(5.0), window=7)) == 5  # window shrinks to the series


def test_mean_and_se():
    assert mean_and_se([0.5], [0.1]) == (0.5, 0.1, 1)
    mean, se, k = mean_and_se([0.2, 0.4], [0.01, 0.01])
    assert (mean, k) == (pytest.approx(0.3), 2) and se == pytest.approx(np.std([0.2, 0.4], ddof=1) / math.sqrt(2))
    mean, se, k = mean_and_se([0.3, 0.3], [0.1, 0.1])
    assert se == pytest.approx(math.sqrt(0.02) / 2)  # evaluation noise dominates identical seeds
    assert math.isnan(mean_and_se([0.3])[1]) and mean_and_se([])[2] == 0


def test_smoothed_curves_keep_the_raw_points():
    frame = synthetic_study(seeds=(0,))
    fig, ax = plt.subplots()
    data = study.draw_curves(ax, frame, "success", "id")
    raw = [line for line in ax.lines if line.get_linestyle() == "None" and line.get_label().startswith("_")]
    assert len(raw) == 2  # SFT and RL raw means, under their curves
    sft = data[data["series"] == "sft"]
    assert len(sft) == 1 + 8  # the init point and every checkpoint
    expected = 100 * frame[(frame.split == "id") & frame.method.isin(["init", "sft"])].sort_values("gflops")["success"]
    assert np.allclose(sft["value"], expected)
    assert not np.allclose(sft["smoothed"], sft["value"])


def test_short_series_are_drawn():
    frame = synthetic_study(seeds=(0,), n_sft=1, n_rl=2)
    fig = study.plot_fig05_main({"gp_l": frame})
    data = figure_data(fig)
    sizes = data.groupby(["split", "series"]).size()
    assert sizes.loc["id"].to_dict() == {"init": 1, "sft": 2, "rl": 3}  # SFT: init + 1; RL: init + 2
    assert np.allclose(data["smoothed"], data["value"])


# ------------------------------------------------------------------------------------------ equal compute
def test_equal_compute_picks_the_last_checkpoints_at_matched_compute():
    rows = []
    for seed, sft_g, rl_g in [(0, [1100, 1200, 1300, 1400], [1150, 1350, 1600]), (1, [1100, 1200], [1150, 1350])]:
        rows.append({"method": "init", "seed": seed, "step": 0, "gflops": 1000.0})
        rows += [{"method": "sft", "seed": seed, "step": i + 1, "gflops": float(g)} for i, g in enumerate(sft_g)]
        rows += [{"method": "rl", "seed": seed, "step": i + 1, "gflops": float(g)} for i, g in enumerate(rl_g)]
    frame = pd.DataFrame(rows)
    frame = pd.concat([frame.assign(split="id"), frame.assign(split="rule_ood")], ignore_index=True)
    chosen = study.equal_compute(frame)
    picked = chosen[chosen.split == "id"].set_index(["seed", "method"])
    # seed 0: both reached 1400 (SFT's last); SFT at 1400, RL at 1350 (its last not past 1400)
    assert picked.loc[(0, "sft"), "gflops"] == 1400 and picked.loc[(0, "rl"), "gflops"] == 1350
    # seed 1: both reached 1200 (SFT's last); RL's last not past it is 1150
    assert picked.loc[(1, "sft"), "gflops"] == 1200 and picked.loc[(1, "rl"), "gflops"] == 1150
    assert set(chosen.loc[chosen.seed == 0, "matched_gflops"]) == {1400}
    assert len(chosen) == 2 * 2 * 3  # 2 seeds x 2 splits x (init, sft, rl)
    lonely = pd.concat([frame, pd.DataFrame([{"method": "sft", "seed": 2, "step": 1, "gflops": 1100.0, "split": "id"}])])
    with pytest.warns(UserWarning, match="seed 2"):
        assert 2 not in set(study.equal_compute(lonely)["seed"])


def test_equal_compute_summary_averages_over_seeds():
    frame = synthetic_study()
    summary = study.equal_compute_summary(frame, "success", "rule_ood").set_index("method")
    chosen = study.equal_compute(frame)
    chosen = chosen[chosen.split == "rule_ood"]
    for method in ("init", "sft", "rl"):
        assert summary.loc[method, "value"] == pytest.approx(100 * chosen[chosen.method == method]["success"].mean())
        assert summary.loc[method, "n_seeds"] == 3


# ------------------------------------------------------------------------------------------ figures
def test_fig05_main_is_a_2x4_grid_with_init_sft_rl_and_bands():
    studies = synthetic_studies()
    fig = study.plot_fig05_main(studies)
    assert len(fig.axes) == 8
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:4] == ["GP-L: In distribution", "V-IRL-L: In distribution", "GP-VL: In distribution",
                          "V-IRL-VL: In distribution"]
    assert titles[4:] == [t.replace("In distribution", "Rule OOD") for t in titles[:4]]
    for ax in fig.axes:
        curves = [line for line in ax.lines if line.get_label() in ("SFT", "RL")]
        assert [line.get_label() for line in curves] == ["SFT", "RL"]
        assert any(line.get_label() == "Init" for line in ax.lines)
        assert len(ax.collections) == 2  # one seed band per arm
    assert fig.axes[1].get_ylabel() == "Per-step accuracy (%)" and fig.axes[0].get_ylabel() == "Success rate (%)"
    assert fig.axes[4].get_xlabel() == "Training computation (GFLOPs)"
    assert sorted(legend_texts(fig)) == ["Init", "RL", "SFT"]
    assert_percent_axes(fig)
    assert_no_overlapping_ticks(fig)


def test_fig05_marks_missing_tasks_and_all_zero_data_stays_on_a_0_to_10_axis():
    fig = study.plot_fig05_main({"gp_l": synthetic_study(zero=True)})
    assert len(fig.axes) == 8
    assert fig.axes[0].get_ylim() == (0.0, 10.0) and fig.axes[4].get_ylim() == (0.0, 10.0)
    texts = [t.get_text() for ax in fig.axes[1:4] for t in ax.texts]
    assert texts == ["V-IRL-L: not run yet", "GP-VL: not run yet", "V-IRL-VL: not run yet"]


def test_big_compute_numbers_do_not_overlap():
    frame = synthetic_study()
    frame["gflops"] = frame["gflops"] * 37.3
    fig = study.plot_fig05_main({"gp_vl": frame})
    assert_no_overlapping_ticks(fig)


def test_fig06_bars_with_error_bars_and_the_papers_values_beside():
    fig = study.plot_fig06_rule_ood(synthetic_studies())
    assert len(fig.axes) == 4
    paper = paper_tables()["rule_ood"].set_index("task")
    for ax, task in zip(fig.axes, ["GP-L", "V-IRL-L", "GP-VL", "V-IRL-VL"]):
        assert ax.get_title() == task
        bars = ax.patches
        assert len(bars) == 6  # paper SFT / init / RL, this package SFT / init / RL
        assert [b.get_height() for b in bars[:3]] == pytest.approx([paper.loc[task, m] for m in ("sft", "init", "rl")])
        assert [t.get_text() for t in ax.get_xticklabels()] == ["SFT", "Init", "RL"]
        assert any(len(c.get_segments()) == 3 for c in ax.collections)  # three error bars
    data = figure_data(fig)
    ours = data[(data.source == "package") & (data.task == "gp_l")].set_index("method")
    expected = study.equal_compute_summary(synthetic_studies()["gp_l"], "success", "rule_ood").set_index("method")
    assert ours.loc["rl", "value"] == pytest.approx(expected.loc["rl", "value"])
    assert sorted(set(legend_texts(fig))) == ["Paper", "This package"]
    assert_percent_axes(fig)


def test_fig06_without_results_draws_only_the_paper():
    fig = study.plot_fig06_rule_ood({})
    heights = [b.get_height() for b in fig.axes[0].patches]
    assert heights[:3] == pytest.approx([3.4, 11.5, 15.0]) and all(math.isnan(h) for h in heights[3:])
    assert any("not run yet" in t.get_text() for t in fig.axes[0].texts)
    assert (figure_data(fig)["source"] == "paper").all()


def test_fig07_visual_ood_curves_bars_and_previous_best():
    fig = study.plot_fig07_visual_ood(synthetic_studies())
    assert len(fig.axes) == 4
    top_left, top_right, bars_gp, bars_virl = fig.axes
    assert top_right.get_ylabel() == "Route success (%)" and top_left.get_ylabel() == "Success rate (%)"
    assert len(bars_gp.patches) == 6 and len(bars_virl.patches) == 6
    dashed = [line for line in bars_virl.lines if line.get_linestyle() == "--"]
    assert len(dashed) == 1 and dashed[0].get_ydata()[0] == 44.0
    assert not [line for line in bars_gp.lines if line.get_linestyle() == "--"]
    assert any("44.0" in t.get_text() for t in bars_virl.texts)
    assert_percent_axes(fig)


def test_fig08_recognition_vs_success_with_transparency_by_compute():
    fig = study.plot_fig08_recognition(synthetic_study(variant="vl"))
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert ax.get_xlabel() == "Recognition accuracy (%)" and ax.get_ylabel() == "Success rate (%)"
        assert len(ax.collections) == 2 * 3  # (ID, OOD) x (init, SFT, RL)
        alphas = np.concatenate([c.get_facecolors()[:, 3] for c in ax.collections])
        assert alphas.min() == pytest.approx(0.25) and alphas.max() == pytest.approx(1.0)
    assert sorted(legend_texts(fig)) == sorted(["In distribution", "OOD", "SFT", "RL", "Init"])
    assert set(figure_data(fig)["split"]) == {"id", "rule_ood", "visual_ood"}
    assert_percent_axes(fig)


def test_fig01_and_fig18_route_success():
    fig = study.plot_fig01_teaser(synthetic_study("virl"))
    assert len(fig.axes) == 2 and [ax.get_title() for ax in fig.axes] == ["In distribution", "Rule OOD"]
    assert fig.axes[0].get_ylabel() == "Route success (%)"
    assert (figure_data(fig)["metric"] == "success").all()
    fig = study.plot_fig18_virl_vl_route_success(synthetic_study("virl", "vl", seeds=(0,)))
    assert len(fig.axes) == 3 and fig.axes[2].get_title() == "V-IRL-VL: Visual OOD"
    for f in (fig,):
        assert_percent_axes(f)
    assert len(study.plot_fig01_teaser(None).axes) == 2


@pytest.mark.parametrize("plot, param, values, kw, n_panels", [
    (sweeps.plot_fig09_rl_from_base, "lr", [5e-7, 1e-6, 2e-6], {}, 2),
    (sweeps.plot_fig17_rl_lr, "lr", [1e-6, 5e-7], {"variant": "vl"}, 3),
    (sweeps.plot_fig19_rl_from_overfit, "lr", [1e-7, 2e-7], {"task": "virl", "variant": "vl"}, 3),
])
def test_sweep_figures_draw_one_line_per_setting(plot, param, values, kw, n_panels):
    frame = synthetic_sweep(param, values, **kw)
    fig = plot(frame)
    assert len(fig.axes) == n_panels
    for ax in fig.axes:
        assert len([line for line in ax.lines if line.get_label().startswith("lr = ")]) == len(values)
    texts = legend_texts(fig)
    assert "lr = 1e-6" in texts or "lr = 1e-7" in texts
    if kw.get("task") == "virl":
        assert fig.axes[0].get_ylabel() == "Per-step accuracy (%)"
    assert_percent_axes(fig)


def test_fig16_panels_by_tuning_mode_and_fig15_by_task():
    frames = [synthetic_sweep("lr", [1e-6, 5e-7], variant="vl", methods=("init", "sft"), extra={"tune": t})
              for t in ("all", "frozen_vision", "frozen_vision_adapter")]
    fig = sweeps.plot_fig16_sft_lr(pd.concat(frames, ignore_index=True))
    assert len(fig.axes) == 3 * 3  # (ID, rule OOD, visual OOD) x three tuning modes
    assert fig.axes[1].get_title() == "Vision encoder frozen: In distribution"
    frame = pd.concat([synthetic_sweep("data", ["suboptimal"], methods=("init", "sft")),
                       synthetic_sweep("data", ["suboptimal"], task="virl", methods=("init", "sft"))])
    fig = sweeps.plot_fig15_suboptimal_sft(frame)
    assert len(fig.axes) == 2 * 2 and fig.axes[1].get_title() == "V-IRL-L: In distribution"
    assert "Sub-optimal trajectories" in legend_texts(fig)
    assert len(sweeps.plot_fig09_rl_from_base(None).axes) == 1


def test_fig10_verification_growth_at_equal_compute():
    frames = []
    for i, v in enumerate((1, 3, 5, 10)):
        f = synthetic_study(seeds=(0, 1), noise=0.0)
        f = f[f.method != "sft"].copy()
        f["verify_iter"] = v
        f.loc[f.method == "rl", "success"] += 0.01 * i
        frames.append(f)
    frame = pd.concat(frames, ignore_index=True)
    growth = sweeps.verification_growth(frame).set_index(["verify_iter", "split"])
    # RL's last checkpoint (6 updates): ID +0.04/update, OOD +0.01/update, plus 0.01 per setting
    assert growth.loc[(1, "id"), "growth"] == pytest.approx(24.0)
    assert growth.loc[(10, "rule_ood"), "growth"] == pytest.approx(6.0 + 3.0)
    assert growth.loc[(3, "rule_ood"), "n_seeds"] == 2
    fig = sweeps.plot_fig10_verification(frame)
    ax = fig.axes[0]
    assert len(ax.patches) == 3 * 4  # ID growth, OOD growth, paper's OOD growth per VIter
    assert [t.get_text() for t in ax.get_xticklabels()] == ["VIter = 1", "VIter = 3", "VIter = 5", "VIter = 10"]
    assert all("_" not in t for t in legend_texts(fig))
    empty = sweeps.plot_fig10_verification(None)
    assert any("not run yet" in t.get_text() for t in empty.axes[0].texts)


def test_fig10_falls_back_to_last_checkpoints_when_compute_cannot_be_matched(tmp_path):
    frames = []
    for i, v in enumerate((1, 10)):
        f = synthetic_study(seeds=(0,), noise=0.0)
        f = f[f.method != "sft"].copy()
        f["verify_iter"], f["task"], f["variant"] = v, "gp", "l"
        trained = f.method == "rl"
        f.loc[trained, "gflops"] = f.loc[trained, "gflops"] * (1 if v == 1 else 100)  # 10 attempts: every checkpoint later
        f.loc[trained, "success"] += 0.01 * i
        frames.append(f)
    frame = pd.concat(frames, ignore_index=True)
    assert sweeps.verification_growth(frame).empty  # no common compute: the seed is left out
    growth, how = sweeps.fig10_growth(frame)
    last = sweeps.verification_growth(frame, compute="last").set_index(["verify_iter", "split"])
    assert how == "last" and len(growth) == len(last) == 4
    assert last.loc[(10, "rule_ood"), "growth"] - last.loc[(1, "rule_ood"), "growth"] == pytest.approx(1.0)
    fig = sweeps.plot_fig10_verification(frame)
    assert sweeps.LAST_CHECKPOINT_NOTE in fig.axes[0].get_title()
    assert not any("not run yet" in t.get_text() for t in fig.axes[0].texts)
    frame.to_csv(tmp_path / "sweep_verify_iter.csv", index=False)
    rows = report.report_table(tmp_path)
    rows = rows[(rows.figure == "Fig 10") & rows["package"].notna()]
    assert len(rows) == 2 and rows["source"].str.contains("compute not matched").all()
    with pytest.raises(ValueError, match="'equal', 'last'"):
        sweeps.verification_growth(frame, compute="matched")


def test_legends_are_words_in_every_figure():
    studies = synthetic_studies()
    figs = [study.plot_fig05_main(studies), study.plot_fig06_rule_ood(studies), study.plot_fig07_visual_ood(studies),
            study.plot_fig08_recognition(studies["gp_vl"]), study.plot_fig01_teaser(studies["virl_l"]),
            study.plot_sft_vs_rl(studies["gp_l"][studies["gp_l"].method != "sft"], studies["gp_l"][studies["gp_l"].method == "sft"])]
    for fig in figs:
        texts = legend_texts(fig)
        assert texts and all("_" not in t and "VIRL" not in t for t in texts), texts
        for ax in fig.axes:
            assert "_" not in ax.get_title() + ax.get_xlabel() + ax.get_ylabel()


def test_run_notebook_figure_on_all_zero_data_never_goes_negative():
    rl = synthetic_study(zero=True, seeds=(0,))
    fig = study.plot_sft_vs_rl(rl[rl.method != "sft"], rl[rl.method == "sft"], metric="success", task="gp")
    for ax in fig.axes:
        assert ax.get_ylim() == (0.0, 10.0)
    curves = pd.DataFrame({"step": [1, 2, 3], "reward_mean": [-1.0, -0.5, 0.2], "success_rate": [0.0, 0.0, 0.0]})
    fig = study.plot_training_curves(curves)
    assert fig.axes[1].get_ylim() == (0.0, 10.0) and fig.axes[1].get_title() == "Rollout success (%)"


def test_reading_a_missing_study_names_the_file_and_the_command(tmp_path):
    with pytest.raises(study.MissingResults, match=r"study_gp_l\.csv does not exist yet: it is written by `make repro`"):
        study.read_study("gp_l", folder=tmp_path)
    assert study.read_studies(folder=tmp_path) == {}
    with pytest.raises(study.MissingResults, match="sweep_verify_iter.csv"):
        sweeps.read_sweep("verify_iter", folder=tmp_path)
    synthetic_study().to_csv(tmp_path / "study_gp_l.csv", index=False)
    assert list(study.read_studies(folder=tmp_path)) == ["gp_l"]


# ------------------------------------------------------------------------------------------ report
def test_report_marks_every_missing_result_and_makes_up_nothing(tmp_path):
    table = report.report_table(tmp_path)
    assert len(table) == 4 * 5 + 2 * 5 + 1 + 4  # Fig 6, Fig 7, previous best, Fig 10
    assert table["package"].isna().all()
    assert table["source"].str.startswith("n/a").all()
    text = report.build_report(tmp_path)
    assert text.count("n/a: not run yet") == 4 * 5 + 2 * 5 + 4
    assert "| Fig 10 | GP-L (Rule OOD) | OOD growth, VIter = 1 | +0.48 |" in text
    path = report.write_report(tmp_path / "REPORT.md", folder=tmp_path)
    assert path.read_text() == text


def test_report_values_and_signs(tmp_path):
    # GP-L as the paper: RL improves OOD, SFT hurts it; V-IRL-L the other way round
    synthetic_study(rl_ood_slope=0.01, sft_ood_slope=-0.01).to_csv(tmp_path / "study_gp_l.csv", index=False)
    synthetic_study("virl", rl_ood_slope=-0.01, sft_ood_slope=0.01).to_csv(tmp_path / "study_virl_l.csv", index=False)
    synthetic_study(variant="vl", zero=True).to_csv(tmp_path / "study_gp_vl.csv", index=False)
    table = report.report_table(tmp_path).set_index(["figure", "task", "quantity"])
    gp = synthetic_study()
    expected = study.equal_compute_summary(gp, "success", "rule_ood").set_index("method")
    assert table.loc[("Fig 6", "GP-L", "RL"), "package"] == pytest.approx(expected.loc["rl", "value"])
    assert table.loc[("Fig 6", "GP-L", "RL"), "n_seeds"] == 3
    assert table.loc[("Fig 6", "GP-L", "RL - init"), "sign_agrees"] == "yes"
    assert table.loc[("Fig 6", "GP-L", "SFT - init"), "sign_agrees"] == "yes"
    assert table.loc[("Fig 6", "V-IRL-L", "RL - init"), "sign_agrees"].startswith("no")
    assert table.loc[("Fig 6", "V-IRL-L", "SFT - init"), "sign_agrees"].startswith("no")
    assert table.loc[("Fig 6", "GP-VL", "RL - init"), "sign_agrees"] == "no (zero effect)"
    # an arm equal to its init leaves float round-off after the mean over seeds: still no sign
    assert report._sign(17.6, 3.5e-16, 0.6) == "no (zero effect) (|z| < 2)"
    assert report._sign(17.6, 0.1, 0.6) == "yes (|z| < 2)" and report._sign(17.6, -0.1, 0.0) == "no"
    assert table.loc[("Fig 6", "GP-L", "RL - init"), "scale"] == "tiny"
    z = table.loc[("Fig 6", "GP-L", "RL - init")]
    assert z["z"] == pytest.approx(z["package"] / z["se"])
    assert math.isnan(table.loc[("Fig 6", "GP-L", "RL"), "z"])  # a value is not an effect
    # GP-VL's visual split exists; V-IRL-VL was not run
    assert table.loc[("Fig 7", "GP-VL", "RL"), "package"] == 0.0
    assert table.loc[("Fig 7", "V-IRL-VL", "RL"), "source"].startswith("n/a: not run yet")
    text = report.build_report(tmp_path)
    assert "study_gp_l.csv`" in text  # the source of each number is named
    assert "n/a: not run yet" in text


def test_study_summary_and_the_readme_block(tmp_path):
    gp = synthetic_study(rl_ood_slope=0.01, sft_ood_slope=-0.01)
    gp.to_csv(tmp_path / "study_gp_l.csv", index=False)
    synthetic_study("virl", variant="vl").to_csv(tmp_path / "study_virl_vl.csv", index=False)
    summary = report.study_summary(tmp_path)
    assert list(zip(summary["task"], summary["split"])) == [
        ("GP-L", "id"), ("GP-L", "rule_ood"), ("V-IRL-VL", "id"), ("V-IRL-VL", "rule_ood"), ("V-IRL-VL", "visual_ood")]
    effects = study.study_effects(gp, "success").set_index(["split", "arm"])
    row = summary.set_index(["task", "split"]).loc[("GP-L", "rule_ood")]
    assert row["rl_effect"] == pytest.approx(effects.loc[("rule_ood", "rl"), "effect"])
    assert row["sft_se"] == pytest.approx(effects.loc[("rule_ood", "sft"), "effect_se"])
    assert row["rl_reading"] == effects.loc[("rule_ood", "rl"), "reading"] and row["n_seeds"] == 3
    assert (row["paper_init"], row["paper_rl"], row["paper_sft"]) == (11.5, 15.0, 3.4)
    assert math.isnan(summary.set_index(["task", "split"]).loc[("GP-L", "id"), "paper_init"])
    # V-IRL: per-step accuracy against Fig 6, route success against Fig 7's visual OOD
    assert list(summary[summary.task == "V-IRL-VL"]["metric"]) == ["per_step_accuracy"] * 2 + ["success"]
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.README_BEGIN}\nold numbers\n{report.README_END}\nafter\n")
    text = report.update_readme(readme, tmp_path).read_text()
    assert text.startswith("intro\n") and text.endswith(f"{report.README_END}\nafter\n") and "old numbers" not in text
    assert "| GP-L | Rule OOD (success) | 11.5 -> 15.0 / 3.4 |" in text
    assert "| V-IRL-VL | Visual OOD (route success) | 16.7 -> 77.8 / 11.1 |" in text
    assert report.update_readme(readme, tmp_path).read_text() == text  # idempotent
    assert report.summary_markdown(summary) in report.build_report(tmp_path)
    # the decomposition: GP-L hand copied then rule reading on each split, V-IRL-VL per-step accuracy on
    # visual OOD only
    diagnostics = report.diagnostics_summary(tmp_path)
    assert list(zip(diagnostics["task"], diagnostics["split"], diagnostics["metric"])) == [
        ("GP-L", "id", "recognition"), ("GP-L", "rule_ood", "recognition"),
        ("GP-L", "id", "rule_reading"), ("GP-L", "rule_ood", "rule_reading"),
        ("V-IRL-VL", "visual_ood", "per_step_accuracy")]
    reading = study.study_effects(gp, "rule_reading").set_index(["split", "arm"])
    d = diagnostics.set_index(["task", "split", "metric"]).loc[("GP-L", "rule_ood", "rule_reading")]
    assert d["sft_effect"] == pytest.approx(reading.loc[("rule_ood", "sft"), "effect"])
    assert d["init"] == pytest.approx(reading.loc[("rule_ood", "rl"), "init"])
    assert report.diagnostics_markdown(diagnostics) in text and "| GP-L | Rule OOD | rule reading |" in text
    assert "| GP-L | In distribution | hand copied |" in text  # GP-L copies the hand: no image to recognise
    assert report.diagnostic_name("GP-VL", "recognition") == "recognition"
    assert report.diagnostics_markdown(report.diagnostics_summary(tmp_path / "none")) == ""
    bare = tmp_path / "bare.md"
    bare.write_text("no markers\n")
    with pytest.raises(ValueError, match="study-summary"):
        report.update_readme(bare, tmp_path)
    assert bare.read_text() == "no markers\n"
    assert "No study table exists yet" in report.summary_markdown(report.study_summary(tmp_path / "none"))


def test_report_fig10_from_a_sweep(tmp_path):
    frames = []
    for i, v in enumerate((1, 3, 5, 10)):
        f = synthetic_study(seeds=(0,), noise=0.0)
        f = f[f.method != "sft"].copy()
        f["verify_iter"], f["task"], f["variant"] = v, "gp", "l"
        frames.append(f)
    pd.concat(frames).to_csv(tmp_path / "sweep_verify_iter.csv", index=False)
    table = report.report_table(tmp_path)
    fig10 = table[table.figure == "Fig 10"]
    assert fig10["package"].to_numpy() == pytest.approx([6.0] * 4)
    assert (fig10["sign_agrees"].str.startswith("yes")).all()


def test_a_study_table_with_several_scales_gives_the_asked_one(tmp_path):
    both = pd.concat([synthetic_study().assign(scale="tiny"), synthetic_study(zero=True).assign(scale="small")])
    both.to_csv(tmp_path / "study_gp_l.csv", index=False)
    assert (study.read_study("gp_l", folder=tmp_path)["scale"] == "tiny").all()
    small = study.read_study("gp_l", scale="small", folder=tmp_path)
    assert (small["scale"] == "small").all() and (small["success"] == 0).all()
    with pytest.raises(study.MissingResults, match="no rows at scale 'paper'"):
        study.read_study("gp_l", scale="paper", folder=tmp_path)
    table = report.report_table(tmp_path, scale="small").set_index(["figure", "task", "quantity"])
    assert table.loc[("Fig 6", "GP-L", "RL"), "scale"] == "small"
    assert table.loc[("Fig 6", "GP-L", "RL"), "package"] == 0.0
    assert report.report_table(tmp_path, scale="paper")["source"].str.startswith("n/a").all()


def test_curves_start_at_the_inits_own_step():
    frame = synthetic_study(seeds=(0,))
    frame.loc[frame.method == "init", "step"] = 60  # the study's init is an SFT checkpoint
    fig, ax = plt.subplots()
    data = study.draw_curves(ax, frame, "success", "id")
    assert (data.loc[data.series == "init", "step"] == 60).all()
    for series in ("sft", "rl"):  # every arm's curve starts at the init point
        first = data[data.series == series].iloc[0]
        assert first["step"] == 60 and first["gflops"] == 1000.0


# ------------------------------------------------------------------------------------------ figure notebooks
def _execute_figure_notebook(name, root, **parameters):
    import jupytext
    import papermill as pm

    source = tmp = root / f"{name}.src.ipynb"
    jupytext.write(jupytext.read(ROOT / "notebooks" / "src" / f"{name}.py"), source)
    saved = dict(os.environ)
    os.environ["SFTRL_REPRO_ROOT"] = str(root)  # every file the notebook writes lands under tmp
    os.environ.pop("MPLBACKEND", None)  # the kernel's own inline backend, as `make notebooks` runs it
    try:
        return pm.execute_notebook(str(tmp), str(root / f"{name}.ipynb"), parameters=parameters,
                                   progress_bar=False, kernel_name="python3", cwd=str(root))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_figure_notebook_without_results_stops_naming_the_file_and_the_command(tmp_path):
    import papermill as pm

    with pytest.raises(pm.PapermillExecutionError) as err:
        _execute_figure_notebook("fig05_main", tmp_path)
    assert "study_gp_l.csv does not exist yet: it is written by `make repro`" in str(err.value)
    assert not (tmp_path / "figures").exists()


def test_figure_notebook_draws_and_shows_every_figure_from_results(tmp_path):
    from sftrl_repro.paper import write_paper_tables

    write_paper_tables(tmp_path / "results" / "paper")
    for key, frame in synthetic_studies().items():
        frame.to_csv(tmp_path / "results" / f"study_{key}.csv", index=False)
    nb = _execute_figure_notebook("fig05_main", tmp_path)
    names = ["fig01_teaser", "fig05_main", "fig06_rule_ood", "fig18_virl_vl_route_success"]
    assert sorted(p.stem for p in (tmp_path / "figures").glob("*.png")) == names
    assert all((tmp_path / "results" / f"{n}.csv").is_file() for n in names)
    shown = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(shown) == 4  # every figure inline, once


def test_report_notebook_writes_the_report_without_results(tmp_path):
    _execute_figure_notebook("fig99_report", tmp_path)
    assert "n/a: not run yet" in (tmp_path / "results" / "REPORT.md").read_text()


def test_sft_run_figure_draws_virl_per_step_accuracy():
    losses = pd.DataFrame({"trained_tokens": [100, 200, 300], "loss": [2.0, 1.0, 0.5]})
    evaluation = pd.DataFrame({"trained_tokens": [0, 300, 0, 300], "split": ["id", "id", "rule_ood", "rule_ood"],
                               "success": [0.0, 0.1, 0.0, 0.0], "per_step_accuracy": [0.0, 0.5, 0.0, 0.2],
                               "format_rate": [0.0, 1.0, 0.0, 1.0]})
    fig = study.plot_sft_run(losses, evaluation, task="virl")
    assert fig.axes[1].get_ylabel() == "Per-step accuracy (%)"
    assert list(fig.axes[1].lines[0].get_ydata()) == [0.0, 50.0]
    assert fig.axes[1].get_ylim() == (0.0, 60.0) and fig.axes[2].get_ylim() == (0.0, 100.0)
    assert legend_texts(fig) == ["In distribution", "Rule OOD"]
    plt.close(fig)


def test_the_old_sft_run_figure_is_a_deprecated_alias_of_the_plots_one():
    from sftrl_repro.trainers import sft

    losses = pd.DataFrame({"trained_tokens": [100, 200], "loss": [2.0, 1.0]})
    evaluation = pd.DataFrame({"trained_tokens": [0, 200, 0, 200], "split": ["id", "id", "rule_ood", "rule_ood"],
                               "success": [0.0, 0.2, 0.0, 0.1], "success_se": [0.0, 0.05, 0.0, 0.03],
                               "format_rate": [0.0, 1.0, 0.0, 1.0]})
    with pytest.warns(DeprecationWarning, match="plots.study.plot_sft_run"):
        old = sft.plot_sft_run(losses, evaluation, title="t")
    new = study.plot_sft_run(losses, evaluation, title="t")
    try:
        assert legend_texts(old) == legend_texts(new) == ["In distribution", "Rule OOD"]
        assert [ax.get_ylabel() for ax in old.axes] == [ax.get_ylabel() for ax in new.axes]
        assert old.axes[1].get_ylim()[0] == 0.0 and old.axes[1].get_ylabel() == "Success rate (%)"
    finally:
        plt.close(old)
        plt.close(new)


def test_format_value_keeps_every_significant_digit():
    from sftrl_repro.plots.common import format_value

    assert [format_value(v) for v in (1e-6, 1.2e-5, 5e-7, 0.5, "all")] == ["1e-6", "1.2e-5", "5e-7", "0.5", "all"]
    assert format_value(1.2e-5) != format_value(1e-5)  # two learning rates never share a legend entry
