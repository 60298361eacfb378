"""The 6N-vs-exact figure, drawn from ``results/compute_6n_vs_exact.csv``."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from sftrl_repro.plots.common import save_figure, styled


def _short(n: int) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(n)


@styled
def plot_6n_vs_exact(table: pd.DataFrame | str | Path) -> plt.Figure:
    """exact / 6ND for each model (ordered by N) and sequence length, on a log scale.

    ``table`` is the frame of :func:`sftrl_repro.flops.report.sixn_vs_exact` or the path of its CSV.
    """
    frame = pd.read_csv(table) if isinstance(table, (str, Path)) else table
    models = frame.drop_duplicates("model").sort_values(["N", "images"], kind="stable")
    position = {name: i for i, name in enumerate(models["model"])}
    fig, ax = plt.subplots(figsize=(8.4, 4.4))
    for seq_len, g in frame.groupby("seq_len"):
        x = g["model"].map(position)
        ax.plot(x, g["exact/6ND"], marker="o", label=f"{seq_len} tokens")
    ax.axhline(1.0, color="0.5", lw=0.8, ls="--")
    ax.set_yscale("log")
    ax.set_xticks(range(len(position)))
    ax.set_xticklabels([f"{m}\nN={_short(n)}" for m, n in zip(models["model"], models["N"])], fontsize=7,
                       rotation=20, ha="right")
    ax.set_ylabel("Exact training FLOPs / 6ND")
    ax.set_title("6ND against the exact count (forward + backward, SDPA; D counts 1600 tokens per image)",
                 fontsize=9)
    ax.legend(title="sequence length", frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def save_6n_vs_exact(table: pd.DataFrame | str | Path, folder: str | Path | None = None) -> Path:
    """Draw :func:`plot_6n_vs_exact` and save it as ``figures/compute_6n_vs_exact.png`` (atomically).

    The figure stays open, so that a notebook's inline backend shows it at the end of the cell.
    """
    return save_figure(plot_6n_vs_exact(table), "compute_6n_vs_exact", folder=folder)
