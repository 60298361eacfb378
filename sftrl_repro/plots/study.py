"""Figures of the SFT-vs-RL study, drawn from ``results/`` tables only."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

SPLIT_TITLES = {"id": "in distribution", "rule_ood": "rule OOD", "visual_ood": "visual OOD"}
COLORS = {"rl": "#c0392b", "sft": "#2c6fbb", "init": "0.3"}


def plot_sft_vs_rl(rl: pd.DataFrame, sft: pd.DataFrame | None = None, *, metric: str = "success",
                   title: str = "") -> plt.Figure:
    """Success (or another metric) against training GFLOPs, one panel per split: RL from the init,
    and SFT's checkpoints when given (the paper's Fig 5 layout, with binomial error bars).

    Args:
        rl: ``experiments.rl.run_rl_experiment``'s table (``method``, ``gflops``, ``split``, metric, ``<metric>_se``).
        sft: ``02_sft``'s table (``gflops``, ``split``, metric, ...), or ``None``.
        metric: column to draw (``success``, ``per_step_accuracy``, ``rule_reading``...), in [0, 1].
    """
    splits = list(dict.fromkeys(rl["split"]))
    fig, axes = plt.subplots(1, len(splits), figsize=(4.2 * len(splits), 3.3), squeeze=False, constrained_layout=True)
    for ax, split in zip(axes[0], splits):
        series = [("RL (PPO) from init", rl[rl.split == split].sort_values("gflops"), COLORS["rl"])]
        if sft is not None and metric in sft:
            series.append(("SFT", sft[sft.split == split].sort_values("gflops"), COLORS["sft"]))
        for label, rows, color in series:
            se = rows[f"{metric}_se"] if f"{metric}_se" in rows else None
            ax.errorbar(rows["gflops"], 100 * rows[metric], yerr=None if se is None else 100 * se,
                        marker="o", ms=4, capsize=2, color=color, label=label)
        init = rl[(rl.split == split) & (rl.method == "init")]
        if len(init):
            ax.axhline(100 * init[metric].iloc[0], color=COLORS["init"], lw=0.8, ls="--", label="init")
        ax.set_title(SPLIT_TITLES.get(split, split), fontsize=10)
        ax.set_xlabel("training computation (GFLOPs)")
        ax.set_ylabel(f"{metric.replace('_', ' ')} (%)")
        ax.spines[["top", "right"]].set_visible(False)
    axes[0][0].legend(frameon=False, fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_training_curves(curves: pd.DataFrame, keys=("reward_mean", "success_rate", "approx_kl", "clip_frac",
                                                      "explained_variance", "entropy")) -> plt.Figure:
    """PPO diagnostics per update (``experiments.rl.training_curves``), one small panel each."""
    keys = [k for k in keys if k in curves and curves[k].notna().any()]
    fig, axes = plt.subplots(1, len(keys), figsize=(2.6 * len(keys), 2.4), squeeze=False, constrained_layout=True)
    for ax, key in zip(axes[0], keys):
        ax.plot(curves["step"], curves[key], marker="o", ms=3, color=COLORS["rl"])
        ax.set_title(key.replace("_", " "), fontsize=9)
        ax.set_xlabel("update")
        ax.spines[["top", "right"]].set_visible(False)
    return fig
