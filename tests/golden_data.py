"""Reference data produced by running the authors' code (LeslieTrue/SFTvsRL @ 5a6ea55), see
``tests/golden/README.md``. The ``.jsonl`` files are stored gzipped; this module reads them."""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"


@lru_cache(maxsize=None)
def golden_rows(name: str) -> tuple[dict, ...]:
    """All rows of ``tests/golden/<name>.jsonl.gz`` (e.g. ``golden_rows("gp_prompts")``)."""
    with gzip.open(GOLDEN / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
        return tuple(json.loads(line) for line in f if line.strip())


@lru_cache(maxsize=None)
def golden_json(name: str):
    """The object in ``tests/golden/<name>.json`` (e.g. ``golden_json("gp_ood_deal")``)."""
    return json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
