"""Figures, drawn only from data (``results/`` tables or env outputs), in one style; saved atomically.

Modules: :mod:`~sftrl_repro.plots.common` (style, words, percent axes, smoothing, :func:`save_figure`),
:mod:`~sftrl_repro.plots.study` (the study's figures: Fig 1, 5, 6, 7, 8, 18; equal compute),
:mod:`~sftrl_repro.plots.sweeps` (Fig 9, 10, 15, 16, 17, 19), :mod:`~sftrl_repro.plots.report`
(``results/REPORT.md``), :mod:`~sftrl_repro.plots.gp` (GeneralPoints), :mod:`~sftrl_repro.plots.virl`
(generated cities), :mod:`~sftrl_repro.plots.failures` (Fig 20 / 21: real answers of SFT and RL on one
OOD prompt; :func:`plot_failure_examples` and :func:`pick_failure_examples` are exported here, loaded on
first use). Importing them selects no backend and changes no setting.
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

__all__ = ["LABELS", "figure_data", "label", "paper_style", "pick_failure_examples", "plot_failure_examples",
           "save_figure", "save_figure_data", "set_paper_style", "smooth"]

_LAZY = {"pick_failure_examples": "sftrl_repro.plots.failures", "plot_failure_examples": "sftrl_repro.plots.failures"}


def __getattr__(name: str):
    # Figure modules import pyplot; load them on first use so that ``import sftrl_repro.plots`` stays light.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
