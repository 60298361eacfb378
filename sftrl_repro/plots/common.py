"""The package's one plotting toolkit: style, words, percent axes, smoothing and atomic saving.

Conventions (every figure of the package and every notebook follows them):

* A figure function takes data frames and **returns** a :class:`matplotlib.figure.Figure` made with
  ``pyplot``; it never saves, shows or closes it. In a notebook the inline backend shows every figure
  made in a cell at the cell's end; a notebook cell therefore draws, saves and ends with
  ``save_figure(...);`` (the ``;`` hides the returned path) and never returns the figure as the
  cell's value (which would show it twice).
* :func:`save_figure` writes the PNG atomically and never closes the figure. Scripts and tests close
  their figures themselves (``plt.close(fig)``).
* No module selects a backend: a notebook kernel uses the inline backend (ipykernel sets
  ``MPLBACKEND``), a headless run without a display gets Agg from matplotlib's own fallback or from
  ``MPLBACKEND=Agg``.
* The style is seaborn's ``paper``-like theme, applied by :func:`set_paper_style` (globally, for a
  notebook) or :func:`paper_style` (a context manager; every figure function draws inside it, so
  its figures look the same whatever the caller's settings). Importing this module changes nothing.
* Every word on a figure comes from :data:`LABELS` (``"Rule OOD"``, never ``rule_ood``).
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from sftrl_repro.paths import figures_dir, results_dir
from sftrl_repro.utils.io import write_bytes_atomic, write_csv_atomic

# ------------------------------------------------------------------------------------------ words
#: The words every figure uses for the package's keys (splits, methods, tasks, metrics, axes).
LABELS: dict[str, str] = {
    # splits
    "id": "In distribution",
    "rule_ood": "Rule OOD",
    "visual_ood": "Visual OOD",
    "ood": "OOD",
    # methods
    "init": "Init",
    "sft": "SFT",
    "rl": "RL",
    "paper": "Paper",
    "package": "This package",
    # tasks (study keys and the paper's names)
    "gp_l": "GP-L",
    "gp_vl": "GP-VL",
    "virl_l": "V-IRL-L",
    "virl_vl": "V-IRL-VL",
    "gp": "GeneralPoints",
    "virl": "V-IRL",
    # metrics (percent axes)
    "success": "Success rate (%)",
    "route_success": "Route success (%)",
    "per_step_accuracy": "Per-step accuracy (%)",
    "recognition": "Recognition accuracy (%)",
    "rule_reading": "Rule reading (%)",
    "first_attempt_success": "First-attempt success (%)",
    "format_rate": "Well-formed answers (%)",
    # axes and sweep parameters
    "gflops": "Training computation (GFLOPs)",
    "step": "Training step",
    "update": "PPO update",
    "lr": "Learning rate",
    "verify_iter": "Verification iterations",
    "tune": "Tuned components",
    "all": "All components tuned",
    "frozen_vision": "Vision encoder frozen",
    "frozen_vision_adapter": "Vision encoder + adapter frozen",
    "id_growth": "ID growth",
    "ood_growth": "OOD growth",
    # PPO diagnostics (plot_training_curves)
    "reward_mean": "Mean reward per answer",
    "success_rate": "Rollout success (%)",
    "approx_kl": "Approximate KL",
    "clip_frac": "Clip fraction",
    "explained_variance": "Explained variance",
    "entropy": "Entropy (nats)",
}

#: Metrics stored as fractions in [0, 1] and drawn in percent.
PERCENT_METRICS = ("success", "route_success", "per_step_accuracy", "recognition", "rule_reading",
                   "first_attempt_success", "format_rate", "success_rate")


def label(key: str) -> str:
    """The words for ``key`` (:data:`LABELS`); an unknown key gets its underscores turned to spaces."""
    key = str(key)
    if key in LABELS:
        return LABELS[key]
    return key.replace("_", " ")


def metric_label(metric: str, task: str | None = None) -> str:
    """The axis label of ``metric``; V-IRL's ``success`` is route success (``task`` starts ``virl``)."""
    if metric == "success" and task is not None and str(task).startswith("virl"):
        return LABELS["route_success"]
    return label(metric)


# ------------------------------------------------------------------------------------------ style
#: Colours by method (RL warm, SFT cool, init grey), splits and paper values.
COLORS: dict[str, str] = {
    "rl": "#d1495b",
    "sft": "#2e6db4",
    "init": "#6b6b6b",
    "id": "#d1495b",
    "rule_ood": "#2e6db4",
    "visual_ood": "#2e6db4",
    "paper": "#bdbdbd",
}
#: Markers by method.
MARKERS: dict[str, str] = {"rl": "o", "sft": "^", "init": "*"}


def paper_rc() -> dict:
    """The matplotlib rc settings of the paper-like style (seaborn ``whitegrid`` in ``paper`` context)."""
    import seaborn as sns

    rc: dict = {}
    rc.update(sns.axes_style("whitegrid"))
    rc.update(sns.plotting_context("paper", font_scale=1.25))
    rc.update({
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.edgecolor": "0.3",
        "axes.titleweight": "bold",
        "grid.color": "0.9",
        "legend.frameon": False,
        "figure.dpi": 100,
        "savefig.dpi": 150,
        "font.family": "sans-serif",
        "axes.prop_cycle": __import__("cycler").cycler(color=sns.color_palette("deep")),
    })
    return rc


def set_paper_style() -> None:
    """Apply the paper-like style to every later figure (for a notebook's set-up cell)."""
    import matplotlib as mpl

    mpl.rcParams.update(paper_rc())


@contextlib.contextmanager
def paper_style() -> Iterator[None]:
    """Draw inside the paper-like style, restoring afterwards only the settings the style changed.

    Not ``plt.rc_context``: that restores *every* setting, and when the first figure of a kernel
    resolves the backend inside it (ipykernel's inline backend turns interactive mode on then), it
    would turn interactive mode back off and later figures would no longer show in the notebook.
    """
    import matplotlib as mpl

    rc = paper_rc()
    saved = {key: mpl.rcParams[key] for key in rc}
    mpl.rcParams.update(rc)
    try:
        yield
    finally:
        mpl.rcParams.update(saved)


def styled(func):
    """Decorator: run a figure function inside :func:`paper_style`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with paper_style():
            return func(*args, **kwargs)

    return wrapper


# ------------------------------------------------------------------------------------------ axes
def nice_ceiling(value: float) -> float:
    """The smallest of 10, 20, 25, 30, 40, 50, 60, 80, 100 at or above ``value`` (percent axes)."""
    for top in (10, 20, 25, 30, 40, 50, 60, 80, 100):
        if value <= top:
            return float(top)
    return 100.0


def percent_axis(ax, values=None, *, axis: str = "y", full: bool = False, floor: float = 10.0) -> None:
    """Make ``axis`` of ``ax`` a percent axis from 0: never negative, never auto-scaled to +-0.04.

    The top is 100 when ``full``, else :func:`nice_ceiling` of 1.05 x the largest of ``values``
    (what is drawn, error bars included; default: the axis's current data limit), at least ``floor``.
    """
    from matplotlib.ticker import MaxNLocator

    if full:
        top = 100.0
    else:
        if values is None:
            lim = ax.dataLim.y1 if axis == "y" else ax.dataLim.x1
            high = lim if np.isfinite(lim) else 0.0
        else:
            arr = np.asarray(pd.Series(np.ravel(np.asarray(values, dtype=float))).dropna())
            high = float(arr.max()) if arr.size else 0.0
        top = max(floor, nice_ceiling(1.05 * high))
    (ax.set_ylim if axis == "y" else ax.set_xlim)(0.0, top)
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))


def compute_axis(ax) -> None:
    """The training-compute x axis: worded label, at most 4 ticks, large numbers with SI prefixes
    on each tick (``15k``, ``3M``: no offset text to collide with the label)."""
    from matplotlib.ticker import EngFormatter, MaxNLocator

    ax.set_xlabel(LABELS["gflops"])
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4, min_n_ticks=2))
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))


def mark_missing(ax, text: str = "not run yet") -> None:
    """An empty panel that says what is missing (no made-up data)."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.45", fontsize=9,
            wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def format_value(value: float) -> str:
    """A compact tick/legend form of a number (learning rates: ``1e-06`` -> ``1e-6``,
    ``1.2e-05`` -> ``1.2e-5``: every significant digit kept, so two values never share a label)."""
    if isinstance(value, str):
        return value
    value = float(value)
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        mantissa, exponent = f"{value:.6e}".split("e")
        return f"{float(mantissa):g}e{int(exponent)}"
    return f"{value:g}"


# ------------------------------------------------------------------------------------------ smoothing
def smooth(values, *, window: int = 7, polyorder: int = 3) -> np.ndarray:
    """Savitzky-Golay smoothing (order 3, the paper's), for curves drawn over their raw points.

    The window is the largest odd length <= ``window`` and <= the series' length; a series too short
    for a window above ``polyorder`` (fewer than 5 points at order 3) comes back unchanged (a copy).
    NaNs are left in place and the rest is smoothed as one series.
    """
    from scipy.signal import savgol_filter

    y = np.asarray(values, dtype=float).copy()
    ok = np.isfinite(y)
    n = int(ok.sum())
    length = min(window, n)
    if length % 2 == 0:
        length -= 1
    if length <= polyorder:
        return y
    y[ok] = savgol_filter(y[ok], length, polyorder, mode="interp")
    return y


# ------------------------------------------------------------------------------------------ saving
_FIGURE_DATA: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def attach_data(fig, data: pd.DataFrame):
    """Remember ``data`` as what ``fig`` draws (figure functions call this); returns ``fig``."""
    _FIGURE_DATA[fig] = data
    return fig


def figure_data(fig) -> pd.DataFrame:
    """The tidy table a figure function drew in ``fig`` (the CSV of :func:`save_figure_data`)."""
    try:
        return _FIGURE_DATA[fig]
    except KeyError:
        raise ValueError("this figure carries no data: it was not drawn by a sftrl_repro.plots figure "
                         "function; pass the DataFrame itself") from None


def _png_path(name: str | os.PathLike, folder: str | os.PathLike | None) -> Path:
    explicit = isinstance(name, os.PathLike) or str(name).endswith(".png") or os.sep in str(name)
    if explicit:
        if folder is not None:
            raise ValueError("give either a bare name with folder=..., or a path ending in .png, not both")
        path = Path(name)
        return path if path.suffix == ".png" else path.with_suffix(".png")
    return Path(folder if folder is not None else figures_dir()) / f"{name}.png"


def save_figure(fig, name: str | os.PathLike, *, folder: str | os.PathLike | None = None, pdf: bool = False,
                dpi: int = 150, data: "bool | pd.DataFrame" = False,
                data_folder: str | os.PathLike | None = None) -> Path:
    """Save ``fig`` as a PNG atomically (rendered in memory, then renamed into place); returns its path.

    Args:
        fig: the figure; it is **not** closed (a notebook's inline backend still shows it).
        name: a bare name (``"fig05_main"`` -> ``<folder>/fig05_main.png``, ``folder`` defaulting to
            ``figures/``) or an explicit path (a ``Path``, or a string ending in ``.png``).
        pdf: also write ``<same stem>.pdf``.
        data: ``True`` to also write the figure's data (:func:`figure_data`), or a DataFrame to
            write, as ``<data_folder>/<stem>.csv`` (default ``results/``) via :func:`save_figure_data`.

    PNG/PDF metadata (software version, dates) is left out so that the same data gives the same bytes.
    """
    path = _png_path(name, folder)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    write_bytes_atomic(path, buf.getvalue())
    if pdf:
        buf = io.BytesIO()
        fig.savefig(buf, format="pdf", bbox_inches="tight",
                    metadata={"Creator": None, "Producer": None, "CreationDate": None})
        write_bytes_atomic(path.with_suffix(".pdf"), buf.getvalue())
    if data is not False and data is not None:
        save_figure_data(fig if data is True else data, path.stem, folder=data_folder)
    return path


def save_figure_data(data, name: str, *, folder: str | os.PathLike | None = None) -> Path:
    """Write a figure's data as ``<folder>/<name>.csv`` (default ``results/``), atomically.

    ``data`` is a DataFrame or a figure drawn by a figure function of this package (its
    :func:`figure_data`); ``results/fig05_main.csv`` goes with ``figures/fig05_main.png``.
    """
    frame = data if isinstance(data, pd.DataFrame) else figure_data(data)
    return write_csv_atomic(Path(folder if folder is not None else results_dir()) / f"{name}.csv", frame)


# ------------------------------------------------------------------------------------------ stats
def mean_and_se(values, ses=None) -> tuple[float, float, int]:
    """Mean over seeds of a metric, its standard error, and the number of seeds.

    The SE is the larger of the spread across seeds (``std(ddof=1) / sqrt(k)``, when k >= 2) and
    the evaluation noise of the mean (``sqrt(sum(se_i^2)) / k`` from each seed's binomial SE, when
    given): conservative with few seeds, where the between-seed estimate is itself noisy.
    """
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v)
    v = v[ok]
    k = int(v.size)
    if k == 0:
        return math.nan, math.nan, 0
    between = float(np.std(v, ddof=1) / math.sqrt(k)) if k >= 2 else math.nan
    noise = math.nan
    if ses is not None:
        s = np.asarray(ses, dtype=float)[ok]
        if np.isfinite(s).all():
            noise = float(math.sqrt(np.sum(s ** 2)) / k)
    known = [x for x in (between, noise) if np.isfinite(x)]
    return float(v.mean()), (max(known) if known else math.nan), k
