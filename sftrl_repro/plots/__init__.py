"""Figures, drawn only from data (``results/`` tables or env outputs); saved atomically.

Modules: :mod:`sftrl_repro.plots.common` (saving, style), :mod:`sftrl_repro.plots.gp` (GeneralPoints).
"""

from sftrl_repro.plots.common import save_figure

__all__ = ["save_figure"]
