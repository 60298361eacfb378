# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Paper vs this package: `results/REPORT.md`
#
# For every number the paper reports (Fig 6 rule OOD, Fig 7 visual OOD and the previous best on
# VLN-mini, Fig 10 verification iterations; `sftrl_repro/paper.py`), the paper's value and this
# package's beside it, with its SE, the effect in SEs, the number of seeds and the scale, and whether
# the sign of each effect (RL - init, SFT - init, OOD growth) agrees. A result that does not exist
# yet reads "n/a: not run yet" with the file it needs; nothing is filled in. Reads `results/`
# only; writes `results/REPORT.md` (rules: `sftrl_repro.plots.report`).

# %% tags=["parameters"]
scale = "tiny"  # the results' scale: "tiny", "small" or "paper"

# %%
from IPython.display import Markdown

from sftrl_repro.paths import results_dir
from sftrl_repro.plots.report import build_report, write_report
from sftrl_repro.utils import check_choice

# Validate every parameter up front: a bad value stops here with one message naming what is valid.
check_choice("scale", scale, ("tiny", "small", "paper"))
name = "REPORT.md" if scale == "tiny" else f"REPORT_{scale}.md"

# %%
path = write_report(results_dir() / name, scale=scale)
Markdown(path.read_text())
