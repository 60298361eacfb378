"""The run cache: one folder per run, so that re-running resumes and finished runs are reused.

Layout of ``runs/<run-id>/``::

    config.json        the full config of the run (written once, atomically, at creation)
    metrics.jsonl      one JSON object per logged step, appended as the run goes
    checkpoints/
      step_000010/     whatever the trainer saves at that step (weights, optimizer, RNG states)
      ...
    DONE               written last: the run finished; its results can be read without training

Resume protocol (what makes "kill it at any moment, start it again, same numbers" hold):

1. a checkpoint folder is written under a temporary name and renamed into place when complete,
   so ``latest_checkpoint()`` never returns a half-written one;
2. on resume, metrics lines logged *after* the latest checkpoint are dropped (that work is redone
   from the checkpoint, deterministically), so the log ends up identical to an uninterrupted run's;
3. starting a run whose folder holds a *different* config is an error, never a silent mix.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sftrl_repro.paths import runs_dir
from sftrl_repro.utils.io import write_json_atomic, write_text_atomic

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
DONE_FILE = "DONE"
CHECKPOINTS = "checkpoints"


class RunConfigMismatch(ValueError):
    """A run folder exists with a different config than the one asked for."""


def config_hash(config: dict[str, Any]) -> str:
    """A short, stable hash of a JSON-serialisable config (key order does not matter)."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def _jsonable(config: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(config, sort_keys=True, default=str))


class Run:
    """One run folder (see the module docstring).

    Args:
        run_id: the folder name under ``root``; letters, digits, ``-``, ``_`` and ``.`` only.
        config: the run's full config (JSON-serialisable; dataclasses via ``dataclasses.asdict``).
        root: where runs live (default ``runs/`` of the project root).
    """

    def __init__(self, run_id: str, config: dict[str, Any], *, root: str | Path | None = None) -> None:
        if not run_id or not all(c.isalnum() or c in "-_." for c in run_id) or run_id.startswith("."):
            raise ValueError(f"run_id={run_id!r} is not valid; use letters, digits, '-', '_' and '.' only")
        self.run_id = run_id
        self.config = _jsonable(config)
        self.path = Path(root if root is not None else runs_dir()) / run_id
        self.path.mkdir(parents=True, exist_ok=True)
        cfg_path = self.path / CONFIG_FILE
        if cfg_path.exists():
            stored = json.loads(cfg_path.read_text())
            if stored != self.config:
                diff = sorted(k for k in set(stored) | set(self.config) if stored.get(k) != self.config.get(k))
                raise RunConfigMismatch(
                    f"run {run_id!r} at {self.path} exists with a different config (keys {diff}); "
                    "use another run id or delete that folder to start over")
        else:
            write_json_atomic(cfg_path, self.config)
        self.resumed_from = self.latest_step()
        self._truncate_metrics_after(self.resumed_from)

    # --------------------------------------------------------------------------------- state
    @property
    def done(self) -> bool:
        """Whether the run finished (its ``DONE`` marker exists)."""
        return (self.path / DONE_FILE).exists()

    def mark_done(self, summary: dict[str, Any] | None = None) -> None:
        """Write the ``DONE`` marker (with an optional JSON summary) last, atomically."""
        write_text_atomic(self.path / DONE_FILE, json.dumps(summary or {}, sort_keys=True) + "\n")

    # ------------------------------------------------------------------------------- metrics
    def log(self, step: int, **metrics: Any) -> None:
        """Append one metrics line ``{"step": step, **metrics}`` (flushed to disk at once)."""
        line = json.dumps({"step": int(step), **metrics}, sort_keys=True, default=float)
        with open(self.path / METRICS_FILE, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def metrics(self) -> list[dict[str, Any]]:
        """Every metrics line logged so far (a torn last line, from a kill mid-write, is skipped)."""
        path = self.path / METRICS_FILE
        if not path.exists():
            return []
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return rows

    def _truncate_metrics_after(self, step: int | None) -> None:
        kept = [r for r in self.metrics() if step is not None and r["step"] <= step]
        path = self.path / METRICS_FILE
        if path.exists():
            write_text_atomic(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))

    # --------------------------------------------------------------------------- checkpoints
    def checkpoint_dir(self, step: int) -> Path:
        return self.path / CHECKPOINTS / f"step_{int(step):06d}"

    def checkpoints(self) -> list[int]:
        """Steps of the complete checkpoints, ascending."""
        folder = self.path / CHECKPOINTS
        if not folder.exists():
            return []
        return sorted(int(p.name[5:]) for p in folder.iterdir() if p.is_dir() and p.name.startswith("step_")
                      and p.name[5:].isdigit())

    def latest_step(self) -> int | None:
        """The step of the newest complete checkpoint, or ``None``."""
        steps = self.checkpoints()
        return steps[-1] if steps else None

    def save_checkpoint(self, step: int, write: Callable[[Path], None]) -> Path:
        """Call ``write(folder)`` on a temporary folder, then rename it to ``checkpoints/step_N``."""
        final = self.checkpoint_dir(step)
        tmp = final.with_name(f".tmp-{final.name}")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        write(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        return final

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.metrics())

    def __repr__(self) -> str:
        state = "done" if self.done else f"latest checkpoint {self.latest_step()}"
        return f"Run({self.run_id!r}, {state})"
