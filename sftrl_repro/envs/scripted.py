"""Play scripted answers through any of the package's environments and tabulate what happens.

Used by the notebooks to show sequential revision with real answers and real feedback, and by
tests and oracles. Works with any env whose ``step`` takes answer text and whose ``info`` has
``outcome`` (GeneralPoints, V-IRL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd


def play_episode(env, answers: Iterable[str] | Callable[[dict, dict], str], *, seed: int | None = None,
                 options: dict | None = None, max_steps: int = 1000) -> pd.DataFrame:
    """Reset ``env`` and answer until the episode ends (or the answers run out).

    Args:
        env: a package environment (``GeneralPointsEnv``, ``VIRLEnv``), wrapped or not.
        answers: a list of answer texts, or a policy ``f(obs, info) -> answer``.
        seed, options: passed to ``reset``.
        max_steps: a hard stop for policies that never finish.

    Returns:
        One row per step: ``step``, ``answer``, ``reward``, ``outcome``, ``terminated``,
        ``truncated`` and ``next_user_turn`` (the feedback the model would see next).
    """
    obs, info = env.reset(seed=seed, options=options)
    policy = answers if callable(answers) else None
    queue = None if policy else list(answers)
    rows: list[dict[str, Any]] = []
    for step in range(1, max_steps + 1):
        if policy is not None:
            answer = policy(obs, info)
        elif queue:
            answer = queue.pop(0)
        else:
            break
        obs, reward, terminated, truncated, info = env.step(answer)
        rows.append({"step": step, "answer": answer, "reward": reward, "outcome": info.get("outcome"),
                     "terminated": terminated, "truncated": truncated, "next_user_turn": obs["text"]})
        if terminated or truncated:
            break
    return pd.DataFrame(rows)
