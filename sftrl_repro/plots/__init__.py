"""Figures, drawn only from data (``results/`` tables or env outputs), in one style; saved atomically.

Modules: :mod:`~sftrl_repro.plots.common` (style, words, percent axes, smoothing, :func:`save_figure`),
:mod:`~sftrl_repro.plots.study` (the study's figures: Fig 1, 5, 6, 7, 8, 18; equal compute),
:mod:`~sftrl_repro.plots.sweeps` (Fig 9, 10, 15, 16, 17, 19), :mod:`~sftrl_repro.plots.report`
(``results/REPORT.md``), :mod:`~sftrl_repro.plots.gp` (GeneralPoints), :mod:`~sftrl_repro.plots.virl`
(generated cities). Importing them selects no backend and changes no setting.
"""

from sftrl_repro.plots.common import (
    LABELS,
    figure_data,
    label,
    paper_style,
    save_figure,
    save_figure_data,
    set_paper_style,
    smooth,
)

__all__ = ["LABELS", "figure_data", "label", "paper_style", "save_figure", "save_figure_data", "set_paper_style",
           "smooth"]
