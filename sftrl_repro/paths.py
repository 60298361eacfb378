"""Where the package reads and writes: ``results/``, ``figures/`` and ``runs/`` of the repository.

The root is ``$SFTRL_REPRO_ROOT`` when set, else the nearest folder at or above the current working
directory that holds this project's ``pyproject.toml`` (so notebooks executed from ``notebooks/``
and scripts run from the root write to the same place), else the current working directory.
"""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The project root (see the module docstring)."""
    env = os.environ.get("SFTRL_REPRO_ROOT")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and 'name = "sftrl_repro"' in pyproject.read_text(errors="ignore"):
            return folder
    return here


def results_dir() -> Path:
    """``<root>/results``: small committed CSV/JSON tables."""
    return repo_root() / "results"


def figures_dir() -> Path:
    """``<root>/figures``: committed PNG/PDF figures, drawn only from ``results/``."""
    return repo_root() / "figures"


def runs_dir() -> Path:
    """``<root>/runs``: git-ignored checkpoints, raw logs and caches."""
    return repo_root() / "runs"
