"""GeneralPoints figures: card images side by side, solutions per hand."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sftrl_repro.plots.common import styled


def plot_card_images(images: Mapping[str, np.ndarray], *, crop: bool = True) -> plt.Figure:
    """One panel per image (title = key). ``crop`` trims the empty table above and below the cards."""
    fig, axes = plt.subplots(1, len(images), figsize=(4.2 * len(images), 2.4), squeeze=False)
    for ax, (title, img) in zip(axes[0], images.items()):
        if crop:
            h = img.shape[0]
            img = img[int(h * 0.31) : int(h * 0.69)]
        ax.imshow(img, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    return fig


@styled
def plot_solutions_per_hand(space: pd.DataFrame) -> plt.Figure:
    """Histogram of distinct solutions per solvable hand, one series per rule (``games.gp_stats.hand_space``)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    labels = {"id": "J/Q/K = 10 (ID)", "ood": "J/Q/K = 11/12/13 (OOD)"}
    top = int(space.n_solutions.max())
    bins = np.arange(1, top + 2) - 0.5
    for rule, g in space.groupby("rule", sort=False):
        solvable = g.n_solutions[g.n_solutions > 0]
        ax.hist(solvable, bins=bins, alpha=0.6, label=f"{labels.get(rule, rule)}: {len(solvable)} hands")
    ax.set_xlabel("Distinct formulas making the target (canonical forms)")
    ax.set_ylabel("Rank multisets")
    ax.set_xlim(0.5, min(top, 40) + 0.5)
    ax.legend(frameon=False)
    ax.grid(axis="x", visible=False)
    fig.tight_layout()
    return fig
