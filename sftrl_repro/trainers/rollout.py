"""Batched sequential-revision rollouts: many environments stepped together, one generate per turn.

The authors step one environment at a time with batch-1 ``generate``. Here ``num_envs``
environments advance in lock-step: at every turn the conversations of all running episodes go to
the policy as one batch (left-padded, KV-cached generation), each answer is graded by its own
environment, and finished episodes are replaced by fresh ones until enough have been played.

Every generation is one :class:`Transition` (retries included), the unit PPO trains on and the
unit the paper's per-step accuracy counts.

Determinism: episode ``k`` of a rollout is reset with ``episode_seeds[k]``; which slot plays it
and which other episodes share its batch do not change the hand it gets. With greedy decoding the
answers do not depend on the batch either (up to float round-off in padded batches).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

#: ``info`` keys copied into each transition (what metrics and evaluation need; the rest is dropped).
INFO_KEYS = ("outcome", "success", "cards_correct", "numbers_correct", "correct", "gt_action", "attempt")


class GenerativePolicy(Protocol):
    """What a rollout needs from a policy (``models.Policy`` or ``evaluation.api.ChatAPIPolicy``)."""

    def generate(self, conversations: Sequence[list[dict]], images: Sequence[Any] | None = None, *,
                 max_new_tokens: int = 256, temperature: float = 0.0, seed: int | None = None,
                 **kwargs: Any) -> Any:  # returns an object with ``.texts`` (and ``.answer_ids()``)
        ...


@dataclass
class Transition:
    """One generation and what the environment said of it.

    Attributes:
        episode: index of the episode within the rollout (``0..n_episodes-1``).
        turn: 0-based attempt number within the episode.
        conversation: the chat the model answered (ends with a user turn).
        image: the episode's image (uint8 ``(H, W, 3)``) for vision tasks, else ``None``.
        answer: the generated text.
        answer_ids: its token ids (with the end-of-turn token), or ``[]`` for API policies.
        reward: the environment's reward for this answer.
        terminated: the episode ended with this answer (success, or V-IRL failure).
        truncated: the episode hit its attempt limit with this answer.
        info: the selected ``info`` entries of :data:`INFO_KEYS` present in the step's info.
    """

    episode: int
    turn: int
    conversation: list[dict]
    image: np.ndarray | None
    answer: str
    answer_ids: list[int]
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated


def episode_seeds(seed: int, n: int) -> list[int]:
    """``n`` reset seeds drawn from one master ``seed`` (stable across machines and numpy versions)."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n, dtype=np.uint32)]


def collect(
    policy: GenerativePolicy,
    make_env: Callable[[], Any],
    seeds: Sequence[int],
    *,
    num_envs: int = 8,
    min_transitions: int | None = None,
    temperature: float = 0.0,
    max_new_tokens: int = 256,
    generation_seed: int | None = None,
    options: Sequence[dict | None] | None = None,
    progress: bool | str = False,
) -> list[Transition]:
    """Play episodes with the policy, ``num_envs`` at a time, and return every transition.

    Args:
        policy: anything with :meth:`GenerativePolicy.generate`.
        make_env: builds one environment (called ``min(num_envs, len(seeds))`` times).
        seeds: reset seed of each episode, in order; at most ``len(seeds)`` episodes are played.
        num_envs: environments stepped together (the generation batch size).
        min_transitions: stop *starting* episodes once this many transitions are certain (finished
            ones, plus at least one per running episode); running episodes always finish, so
            multi-turn episodes can take the count past it. ``None`` plays every seed.
        temperature: 0 for greedy decoding (evaluation); the paper samples at 0.2 in RL.
        max_new_tokens: answer length cap.
        generation_seed: seeds sampling, turn by turn (``generation_seed + turn``); ``None`` uses
            the global torch RNG.
        options: reset options of each episode (e.g. ``{"route_index": k}`` to play V-IRL routes in
            order), parallel to ``seeds``; ``None`` for none.
        progress: show a tqdm bar (a string is its description).

    Returns:
        Transitions ordered by episode, then turn.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs={num_envs} is not valid; it must be >= 1")
    if options is not None and len(options) != len(seeds):
        raise ValueError(f"options has {len(options)} entries; it must have one per seed ({len(seeds)})")
    envs = [make_env() for _ in range(min(num_envs, len(seeds)))]
    slots: list[dict[str, Any] | None] = [None] * len(envs)
    next_episode = 0
    done_transitions: list[Transition] = []
    bar = tqdm(total=min_transitions or len(seeds), desc=progress if isinstance(progress, str) else "rollout",
               unit="trans" if min_transitions else "ep", disable=not progress, leave=False)

    def start(i: int) -> None:
        nonlocal next_episode
        k = next_episode
        next_episode += 1
        obs, info = envs[i].reset(seed=int(seeds[k]), options=None if options is None else options[k])
        slots[i] = {"episode": k, "turn": 0, "obs": obs, "conversation": info["conversation"], "trans": []}

    def may_start() -> bool:
        if next_episode >= len(seeds):
            return False
        if min_transitions is None:
            return True
        # Transitions already certain: finished ones, running episodes' so far, plus one more
        # for each running episode (it has not answered its current turn yet).
        running = [s for s in slots if s is not None]
        certain = len(done_transitions) + sum(len(s["trans"]) + 1 for s in running)
        return certain < min_transitions

    for i in range(len(envs)):
        if may_start():
            start(i)
    turn_counter = 0
    while any(s is not None for s in slots):
        active = [i for i, s in enumerate(slots) if s is not None]
        conversations = [slots[i]["conversation"] for i in active]
        images = [slots[i]["obs"]["image"] for i in active] if "image" in slots[active[0]]["obs"] else None
        gen_seed = None if generation_seed is None else generation_seed + turn_counter
        out = policy.generate(conversations, images, max_new_tokens=max_new_tokens, temperature=temperature,
                              seed=gen_seed)
        turn_counter += 1
        ids = out.answer_ids() if hasattr(out, "answer_ids") else [[] for _ in active]
        for j, i in enumerate(active):
            slot = slots[i]
            obs, reward, terminated, truncated, info = envs[i].step(out.texts[j])
            t = Transition(
                episode=slot["episode"], turn=slot["turn"], conversation=slot["conversation"],
                image=None if images is None else images[j], answer=out.texts[j], answer_ids=list(ids[j]),
                reward=float(reward), terminated=bool(terminated), truncated=bool(truncated),
                info={k: info[k] for k in INFO_KEYS if k in info},
            )
            slot["trans"].append(t)
            if terminated or truncated:
                done_transitions.extend(slot["trans"])
                bar.update(len(slot["trans"]) if min_transitions else 1)
                slots[i] = None
                if may_start():
                    start(i)
            else:
                slot.update(turn=slot["turn"] + 1, obs=obs, conversation=info["conversation"])
    bar.close()
    done_transitions.sort(key=lambda t: (t.episode, t.turn))
    return done_transitions
