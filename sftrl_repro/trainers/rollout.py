"""Batched sequential-revision rollouts: many environments stepped together, one generate per turn.

The authors step one environment at a time with batch-1 ``generate``. Here ``num_envs``
environments advance in lock-step: at every turn the conversations of all running episodes go to
the policy as one batch (left-padded, KV-cached generation), each answer is graded by its own
environment, and finished episodes are replaced by fresh ones until enough have been played.

Every generation is one :class:`Transition` (retries included), the unit PPO trains on and the
unit the paper's per-step accuracy counts.

Determinism: episode ``k`` of a rollout is reset with ``seeds[k]``; which slot plays it and which
other episodes share its batch do not change the hand it gets. Sampling is keyed per episode: turn
``j`` of the episode reset with seed ``s`` is sampled with the key ``(generation_seed, s, j)``
(:class:`~sftrl_repro.models.policy.SeededSampler`), so a sampled rollout, like a greedy one, is
the same whatever ``num_envs``, the process count or the order episodes are played in (up to float
round-off in padded batches).

Seed spaces: evaluation episodes use :func:`episode_seeds` (values below ``2**32``); training
episodes use :func:`training_seeds` (values from ``2**32`` up), so a training episode can never
replay an evaluation episode.
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
                 max_new_tokens: int = 256, temperature: float | None = 0.0,
                 sample_keys: Sequence[Sequence[int]] | None = None, **kwargs: Any) -> Any:  # returns an object with ``.texts`` (and ``.answer_ids()``)
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


#: Training episode seeds are ``TRAIN_SEED_BASE + uint32``; evaluation seeds are plain uint32.
TRAIN_SEED_BASE = 2**32


def episode_seeds(seed: int, n: int) -> list[int]:
    """``n`` evaluation reset seeds (each ``< 2**32``) drawn from one master ``seed`` (stable across
    machines and numpy versions)."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n, dtype=np.uint32)]


def training_seeds(seed: int, update: int, n: int) -> list[int]:
    """``n`` training reset seeds for one PPO update of a run with master ``seed``.

    Each is ``>= 2**32``: disjoint from every evaluation seed (:func:`episode_seeds`), whatever the
    seeds and update (distinct updates draw from distinct seed sequences).
    """
    words = np.random.SeedSequence([int(seed), int(update), 0x7472_6169]).generate_state(n, dtype=np.uint32)
    return [TRAIN_SEED_BASE + int(s) for s in words]


def collect(
    policy: GenerativePolicy,
    make_env: Callable[[], Any],
    seeds: Sequence[int],
    *,
    num_envs: int = 8,
    min_transitions: int | None = None,
    temperature: float | None = 0.0,
    max_new_tokens: int = 256,
    generation_seed: int | None = None,
    generate_kwargs: dict[str, Any] | None = None,
    options: Sequence[dict | None] | None = None,
    progress: bool | str = False,
    refill: bool = True,
    reuse_turns: bool = True,
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
        temperature: 0 for greedy decoding; the paper samples at 0.2 in RL; ``None``: the
            checkpoint's generation config (see ``Policy.decoding``).
        generate_kwargs: more keyword arguments of ``policy.generate`` (e.g. ``top_p``).
        max_new_tokens: answer length cap.
        generation_seed: keys sampling per episode and turn: ``(generation_seed, episode seed,
            turn)`` (see the module docstring); ``None`` uses the global torch RNG.
        options: reset options of each episode (e.g. ``{"route_index": k}`` to play V-IRL routes in
            order), parallel to ``seeds``; ``None`` for none.
        progress: show a tqdm bar (a string is its description).
        refill: start a new episode in a slot as soon as its episode ends (``True``), or play in
            waves of ``num_envs`` episodes (``False``): a wave's conversations are at the same turn,
            so of similar lengths, and the padded batch wastes less (with the static KV cache, GP
            evaluation runs 1.43x faster: ``benchmarks/bench_rollout.py --eval``); the answers are
            the same either way (keyed sampling).
        reuse_turns: a policy that can (``policy.reuses_turns``: a ``Policy`` decoding into the
            prefix cache, text or vision) keeps each running episode's keys/values between its turns
            (:class:`~sftrl_repro.models.kv_cache.TurnCache`) and encodes only what the environment
            added (the answer's end, the feedback; everything when a vision episode's image changed):
            same answers up to float round-off.

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
        slots[i] = {"episode": k, "seed": int(seeds[k]), "turn": 0, "obs": obs, "conversation": info["conversation"],
                    "trans": []}

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

    def start_wave() -> None:
        for i in range(len(envs)):
            if may_start():
                start(i)

    turns = None
    if reuse_turns and getattr(policy, "reuses_turns", False):
        from sftrl_repro.models.kv_cache import TurnCache

        turns = TurnCache()
    start_wave()
    while any(s is not None for s in slots):
        active = [i for i, s in enumerate(slots) if s is not None]
        conversations = [slots[i]["conversation"] for i in active]
        images = [slots[i]["obs"]["image"] for i in active] if "image" in slots[active[0]]["obs"] else None
        keys = None if generation_seed is None else [(int(generation_seed), slots[i]["seed"], slots[i]["turn"])
                                                     for i in active]
        reuse = {} if turns is None else {"turn_cache": turns, "turn_keys": [slots[i]["episode"] for i in active]}
        out = policy.generate(conversations, images, max_new_tokens=max_new_tokens, temperature=temperature,
                              sample_keys=keys, **reuse, **(generate_kwargs or {}))
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
                if turns is not None:
                    turns.forget(slot["episode"])
                done_transitions.extend(slot["trans"])
                bar.update(len(slot["trans"]) if min_transitions else 1)
                slots[i] = None
                if refill and may_start():
                    start(i)
            else:
                slot.update(turn=slot["turn"] + 1, obs=obs, conversation=info["conversation"])
        if not refill and all(s is None for s in slots):
            start_wave()
    bar.close()
    done_transitions.sort(key=lambda t: (t.episode, t.turn))
    return done_transitions
