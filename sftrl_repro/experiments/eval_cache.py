"""Cached checkpoint evaluations, keyed by their protocol, that grow: asking for more episodes plays
only the new ones.

Every evaluation of a checkpoint (the study's SFT and RL checkpoints, a sweep's starts, a PPO run's
updates) is cached as JSON rows, one per split, in ``<folder>/<protocol hash>/<name>.json``, where
the protocol is :data:`PROTOCOL_FIELDS` of the experiment (episodes, splits, answer cap, decoding,
precision): a changed protocol never reads stale numbers.

Raising ``eval_n`` (say the study's 500 GP hands to 1000) does not redo the first 500: a split's
episodes are a prefix-stable list (``episode_seeds(seed, n)[:m] == episode_seeds(seed, m)``) and
sampling is keyed per episode and turn, never per batch position, so the first ``m`` episodes of an
``n``-episode evaluation are the ``m``-episode evaluation's episodes, played with the same keys.
:func:`cached_evaluation` finds the largest cached evaluation of the same protocol with fewer
episodes, plays episodes ``m .. n-1`` only, and merges the two rows exactly from their counts
(:func:`merge_rows`). The merged row equals a single ``n``-episode evaluation up to float
round-off (other batches, other padding), which can flip a sampled token as any change of batch
does (tested equal on float32 greedy decoding).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sftrl_repro.experiments.runs import config_hash
from sftrl_repro.utils.io import write_json_atomic

#: What a cached evaluation depends on (attributes of an ``RLExperiment``).
PROTOCOL_FIELDS = ("eval_n", "splits", "eval_max_new_tokens", "eval_greedy", "eval_dtype")

#: Proportions of a row and the count each is a proportion of (GP's first-answer metrics are over
#: episodes; per-step accuracy is over graded answers).
_OVER_EPISODES = ("success", "first_attempt_success", "rule_reading", "recognition")
_OVER_ANSWERS = ("per_step_accuracy",)


def protocol(exp: Any) -> dict[str, Any]:
    """The evaluation protocol of an ``RLExperiment`` (:data:`PROTOCOL_FIELDS`)."""
    return {k: getattr(exp, k) for k in PROTOCOL_FIELDS}


def protocol_dir(folder: str | Path, proto: dict[str, Any]) -> Path:
    """``<folder>/<hash of proto>``: where evaluations made with ``proto`` are cached."""
    return Path(folder) / config_hash(proto)


def merge_rows(first: dict[str, Any], rest: dict[str, Any]) -> dict[str, Any]:
    """One split's row over episodes ``0..m-1`` (``first``) and ``m..n-1`` (``rest``): the row over
    all ``n``, each proportion recomputed from its count (``round(p * count)``) and its binomial SE
    from the merged proportion. Keys other than the metrics are ``first``'s."""
    from sftrl_repro.evaluation.evaluate import binomial_se

    if first["split"] != rest["split"]:
        raise ValueError(f"cannot merge rows of different splits ({first['split']!r} and {rest['split']!r})")
    merged = dict(first)
    totals = {"episodes": first["episodes"] + rest["episodes"], "answers": first["answers"] + rest["answers"]}
    merged.update(totals)
    for key in _OVER_EPISODES + _OVER_ANSWERS:
        if key not in first and key not in rest:
            continue
        count_key = "episodes" if key in _OVER_EPISODES else "answers"
        hits = sum(round(row[key] * row[count_key]) for row in (first, rest) if row[count_key])
        merged[key] = hits / totals[count_key] if totals[count_key] else 0.0
        if f"{key}_se" in first:
            merged[f"{key}_se"] = binomial_se(merged[key], totals[count_key])
    return merged


def smaller_evaluation(folder: str | Path, name: str, proto: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The rows of the largest cached evaluation ``<folder>/<hash>/<name>`` whose protocol is
    ``proto`` with fewer episodes, or ``None``."""
    for n in range(int(proto["eval_n"]) - 1, 0, -1):
        file = protocol_dir(folder, {**proto, "eval_n": n}) / name
        if file.is_file():
            return json.loads(file.read_text())
    return None


def cached_evaluation(folder: str | Path, name: str, proto: dict[str, Any],
                      evaluate: Callable[[dict[str, dict[str, Any]] | None], list[dict[str, Any]]],
                      *, write: bool = True) -> list[dict[str, Any]]:
    """The rows cached at ``<folder>/<hash of proto>/<name>``; else ``evaluate(done)`` cached there.

    ``done`` is ``None`` or ``{split: row}`` of the largest smaller evaluation of the same protocol
    (:func:`smaller_evaluation`): ``evaluate`` then plays only the episodes after those and merges
    (``experiments.rl.evaluate_policy(..., done=done)`` does both). ``write=False`` (the non-main
    processes of a multi-process run) evaluates without writing.
    """
    file = protocol_dir(folder, proto) / name
    if file.is_file():
        return json.loads(file.read_text())
    earlier = smaller_evaluation(folder, name, proto)
    rows = evaluate(None if earlier is None else {row["split"]: row for row in earlier})
    if write:
        write_json_atomic(file, rows)
    return rows
