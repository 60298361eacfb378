"""Scripted V-IRL baselines: an oracle that follows the rail, and a random policy (the floor).

A policy is any ``callable(obs, info) -> answer text``. :func:`run_policy` plays it over routes and
returns the paper's two metrics: per-step accuracy (every graded attempt counts, retries included)
and route success.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from sftrl_repro.prompts.virl import valid_actions, virl_answer

Policy = Callable[[dict, dict], str]


def oracle_policy(obs: dict, info: dict) -> str:
    """Answer with the ground truth of the current point (``info["gt_answer"]``)."""
    return info["gt_answer"]


class RandomPolicy:
    """Answers in the right format with an action drawn uniformly from the action space.

    Args:
        actions: ``"absolute"`` (10 actions) or ``"relative"`` (6 actions).
        seed: seed of the policy's own generator.
    """

    def __init__(self, actions: str, seed: int = 0):
        self.choices = valid_actions(actions)
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: dict, info: dict) -> str:
        action = self.choices[int(self.rng.integers(len(self.choices)))]
        return virl_answer(info["observation"], info["current_instruction"], action)


def run_policy(env, policy: Policy, route_indices: Sequence[int], *, seed: int = 0) -> dict:
    """Play ``policy`` once on each route; the episode of route ``route_indices[i]`` is seeded ``seed + i``.

    Returns:
        ``{"episodes", "steps" (graded attempts), "per_step_accuracy", "success_rate"}``.
    """
    steps = correct = successes = 0
    for i, index in enumerate(route_indices):
        obs, info = env.reset(seed=seed + i, options={"route_index": int(index)})
        while True:
            obs, _, terminated, truncated, info = env.step(policy(obs, info))
            if info["graded"]:
                steps += 1
                correct += info["correct"]
            if terminated or truncated:
                successes += info["success"]
                break
    episodes = len(route_indices)
    return {
        "episodes": episodes,
        "steps": steps,
        "per_step_accuracy": correct / steps if steps else 0.0,
        "success_rate": successes / episodes if episodes else 0.0,
    }


def baseline_table(env_factory: Callable[[str], object], *, n_routes: int, seed: int = 0,
                   action_spaces: Sequence[str] = ("absolute", "relative")) -> list[dict]:
    """Oracle and random policies on the first ``n_routes`` routes, for each action space.

    Args:
        env_factory: ``actions -> env`` (e.g. ``lambda a: VIRLEnv(actions=a)``).
        n_routes: routes played per (policy, action space).
        seed: episode and policy seed.

    Returns:
        One row per (policy, action space): the :func:`run_policy` metrics plus ``policy`` and ``actions``.
    """
    rows = []
    for actions in action_spaces:
        env = env_factory(actions)
        indices = range(min(n_routes, len(env.route_set)))
        for name, policy in (("oracle", oracle_policy), ("random", RandomPolicy(actions, seed))):
            rows.append({"policy": name, "actions": actions, **run_policy(env, policy, indices, seed=seed)})
    return rows


def walk_to(env, obs: dict, info: dict, kind: str, *, max_steps: int = 1000) -> tuple[dict, dict]:
    """From ``(obs, info)``, answer with the oracle until the current rail point is of ``kind``
    (``"start"``, ``"forward"``, ``"intersection"``, ``"destination"``, or ``"landmark"``: the first
    point where a landmark is named); returns the ``(obs, info)`` there.

    Raises:
        ValueError: the route has no such point ahead.
    """
    for _ in range(max_steps):
        point = env.unwrapped.rail.points[info["waypoint"]]
        if point.kind == kind or (kind == "landmark" and point.landmark_name):
            return obs, info
        obs, _, terminated, truncated, info = env.step(info["gt_answer"])
        if terminated or truncated:
            break
    raise ValueError(f"kind={kind!r} is not valid for this route: no such point ahead")
