"""Shared figure helpers: a quiet house style and atomic PNG/PDF saving into ``figures/``."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: notebooks and CI draw without a display
import matplotlib.pyplot as plt  # noqa: E402

from sftrl_repro.paths import figures_dir  # noqa: E402
from sftrl_repro.utils.io import write_bytes_atomic  # noqa: E402


def save_figure(fig: "plt.Figure", name: str, *, folder: str | Path | None = None, pdf: bool = False,
                dpi: int = 110) -> Path:
    """Save ``fig`` as ``<folder>/<name>.png`` (and ``.pdf`` if asked) atomically; returns the PNG path.

    PNG metadata (software version, date) is stripped so that the same data gives the same bytes.
    """
    folder = Path(folder) if folder is not None else figures_dir()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    path = write_bytes_atomic(folder / f"{name}.png", buf.getvalue())
    if pdf:
        buf = io.BytesIO()
        fig.savefig(buf, format="pdf", bbox_inches="tight", metadata={"Creator": None, "Producer": None,
                                                                      "CreationDate": None})
        write_bytes_atomic(folder / f"{name}.pdf", buf.getvalue())
    return path
