"""Figures of generated cities: a map with a route and its rail, and a labelled 2x2 view grid (matplotlib).

Figures are saved with the package's one :func:`sftrl_repro.plots.save_figure` (atomic: the PNG
appears complete or not at all); these functions return the figure and never close it.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from sftrl_repro.games.virl.city import City
from sftrl_repro.games.virl.names import LANDMARK_KINDS
from sftrl_repro.games.virl.rail import Rail
from sftrl_repro.games.virl.render import VIEW_NAMES, grid_separator
from sftrl_repro.games.virl.styles import KIND_STYLES
from sftrl_repro.plots.common import save_figure  # noqa: F401  the one save_figure, re-exported: the
# rendered notebooks/00b_virl.ipynb imports it from here until it is re-rendered from its source

_POINT_STYLE = {  # marker, size, colour of each rail point kind
    "start": ("o", 70, "#1b7837"),
    "forward": (".", 40, "#2166ac"),
    "intersection": ("D", 45, "#d6604d"),
    "destination": ("*", 160, "#b2182b"),
}


def plot_city(city: City, rail: Rail | None = None, *, ax=None, label_streets: int = 12):
    """A map of ``city``: streets, landmarks coloured by kind, and optionally one route's rail.

    Args:
        city: the generated city.
        rail: a rail over one of its routes (drawn as legs with arrows, points marked by kind).
        ax: an axis to draw on (a new 8 x 8 inch figure otherwise).
        label_streets: without a rail, how many street names to write (the longest streets first);
            with one, the streets of the route are named.

    Returns:
        The matplotlib figure.
    """
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(8, 8))
    nodes = np.asarray(city.nodes)
    for a, b, _ in city.edges:
        ax.plot(*nodes[[a, b]].T, color="#bdbdbd", lw=1.2, zorder=1)
    if rail is None:  # name the longest streets at their middle intersection
        for street in sorted(city.streets, key=lambda s: -len(s.nodes))[:label_streets]:
            mid = nodes[street.nodes[len(street.nodes) // 2]]
            ax.text(mid[0], mid[1], street.name, fontsize=6, color="#636363", zorder=2, clip_on=True)
    else:  # name the streets the route walks, beside each leg
        for start, leg in zip(rail.route.points, rail.route.legs):
            if leg.street:
                ax.text((start[0] + leg.end[0]) / 2 + 8, (start[1] + leg.end[1]) / 2 + 8, leg.street,
                        fontsize=7, color="#40004b", zorder=7, clip_on=True)
    for kind in LANDMARK_KINDS:
        xy = np.asarray([lm.position for lm in city.landmarks if lm.kind == kind]).reshape(-1, 2)
        if len(xy):
            ax.scatter(*xy.T, s=9, color=np.asarray(KIND_STYLES[kind].facade) / 255, label=kind, zorder=3,
                       edgecolors="black", linewidths=0.2)
    if rail is not None:
        route = rail.route
        path = np.asarray(route.points)
        ax.plot(*path.T, color="#762a83", lw=3, alpha=0.8, zorder=4, label="route")
        for (x0, y0), (x1, y1) in zip(path[:-1], path[1:]):
            ax.annotate("", xy=((x0 + x1) / 2 + (x1 - x0) * 0.05, (y0 + y1) / 2 + (y1 - y0) * 0.05),
                        xytext=((x0 + x1) / 2, (y0 + y1) / 2),
                        arrowprops={"arrowstyle": "-|>", "color": "#762a83"}, zorder=5)
        for kind, (marker, size, color) in _POINT_STYLE.items():
            xy = np.asarray([p.position for p in rail.points if p.kind == kind]).reshape(-1, 2)
            ax.scatter(*xy.T, marker=marker, s=size, color=color, zorder=6, label=f"rail: {kind}")
        ax.set_title(f"{city.name} (seed {city.config.seed}): route {route.route_id}, "
                     f"{route.n_turns} turns, to {route.destination}", fontsize=9)
        pad = 120.0
        ax.set_xlim(path[:, 0].min() - pad, path[:, 0].max() + pad)
        ax.set_ylim(path[:, 1].min() - pad, path[:, 1].max() + pad)
    else:
        ax.set_title(f"{city.name} (seed {city.config.seed})", fontsize=9)
    ax.set_aspect("equal")
    ax.set_xlabel("east (m)")
    ax.set_ylabel("north (m)")
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def plot_views(grid: np.ndarray, *, title: str = ""):
    """The 2x2 view grid ``[front, right; back, left]`` with each view named.

    Args:
        grid: ``uint8`` array ``(2S + sep, 2S + sep, 3)`` (see ``render.view_grid``).
        title: figure title.

    Returns:
        The matplotlib figure.
    """
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(grid, interpolation="nearest")
    side = grid.shape[0]
    size = (side - grid_separator_from_side(side)) // 2
    for i, name in enumerate(VIEW_NAMES):
        x, y = (i % 2) * (side - size), (i // 2) * (side - size)
        ax.text(x + 2, y + 2, name, color="white", fontsize=9, va="top",
                bbox={"facecolor": "black", "alpha": 0.6, "pad": 1.5})
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def grid_separator_from_side(side: int) -> int:
    """The separator width of a grid whose side is ``side`` pixels (inverse of ``render.grid_shape``)."""
    for sep in range(1, 64):
        if (side - sep) % 2 == 0 and grid_separator((side - sep) // 2) == sep:
            return sep
    raise ValueError(f"{side} is not the side of a view grid")

