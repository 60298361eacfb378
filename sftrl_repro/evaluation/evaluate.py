"""Evaluate any policy on the paper's splits: success, per-step accuracy, recognition, rule reading.

``evaluate(policy, task, split, modality)`` plays the split's episodes (the authors' evaluation protocol) with
batched generation and returns one row of metrics. Decoding follows the authors' evaluator by
default: ``model.generate(**inputs, max_new_tokens=256)``, i.e. the checkpoint's generation config
(Llama-3.2-Vision's: sampling at temperature 0.6 with top-p 0.9; a checkpoint whose config does not
say, like the ``tiny`` and ``small`` models, uses those same settings: see ``Policy.decoding``).
Sampling is keyed per episode and turn (``sampling_seed``), so an evaluation is reproducible and
its sampled stream does not depend on ``num_envs`` (the batch's shape can still move a logit's
rounding and, rarely, an answer: under bfloat16, 2 of 2,513 answers measured at 64 vs 128,
``experiments.rl.EVAL_NUM_ENVS``). ``greedy=True`` decodes greedily instead (the package's former
default); ``temperature=`` sets a temperature of your own; any object with a
``generate(conversations, images, ...)`` method works: a :class:`~sftrl_repro.models.Policy` of any
scale or an OpenAI-compatible endpoint (:class:`~sftrl_repro.evaluation.api.ChatAPIPolicy`).

Metrics (proportions in [0, 1], each with its binomial standard error ``sqrt(p (1 - p) / N)``):

* ``success``: episodes solved within the attempt budget (GP: episode success; V-IRL: route success);
* ``per_step_accuracy``: graded answers that were right, retries included (the paper's V-IRL metric);
* ``first_attempt_success``: episodes solved by the first answer (no feedback seen yet);
* GP only, from the first answer of each episode (which is exactly the one-attempt, no-verification
  protocol of the authors' recognition evaluation): ``recognition`` (the ``"cards"`` field is the
  hand) and ``rule_reading`` (the ``"number"`` field holds the card values under the stated rule).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from sftrl_repro.evaluation.splits import EvalSpec, eval_spec
from sftrl_repro.trainers.rollout import Transition, collect


def binomial_se(p: float, n: int) -> float:
    """Standard error of a proportion ``p`` measured on ``n`` trials (the paper's error bars)."""
    return math.sqrt(max(p * (1 - p), 0.0) / n) if n > 0 else float("nan")


def summarize(transitions: Sequence[Transition], spec: EvalSpec) -> dict[str, Any]:
    """One row of metrics from an evaluation's transitions (see the module docstring)."""
    episodes: dict[int, list[Transition]] = defaultdict(list)
    for t in transitions:
        episodes[t.episode].append(t)
    n = len(episodes)
    graded = [t for t in transitions if t.info.get("outcome") != "step_limit"]
    right = [bool(t.info["correct"]) if "correct" in t.info else t.info.get("outcome") == "correct" for t in graded]
    success = sum(any(t.info.get("success") for t in ts) for ts in episodes.values()) / max(n, 1)
    first = [ts[0] for ts in episodes.values()]
    row: dict[str, Any] = {
        "task": spec.task, "split": spec.split, "modality": spec.modality,
        "verify_iter": spec.env_kwargs.get("verify_iter"), "episodes": n, "answers": len(graded),
        "success": success, "success_se": binomial_se(success, n),
    }
    acc = sum(right) / max(len(right), 1)
    row.update(per_step_accuracy=acc, per_step_accuracy_se=binomial_se(acc, len(right)))
    if spec.task == "gp":
        fa = sum(t.info.get("outcome") == "correct" for t in first) / max(n, 1)
        rec = sum(bool(t.info.get("cards_correct")) for t in first) / max(n, 1)
        rule = sum(bool(t.info.get("numbers_correct")) for t in first) / max(n, 1)
        row.update(first_attempt_success=fa, first_attempt_success_se=binomial_se(fa, n),
                   recognition=rec, recognition_se=binomial_se(rec, n),
                   rule_reading=rule, rule_reading_se=binomial_se(rule, n),
                   answers_per_episode=len(transitions) / max(n, 1))
    outcomes = Counter(t.info.get("outcome", "unknown") for t in transitions)
    row.update({f"outcome_{k}": v / max(len(transitions), 1) for k, v in sorted(outcomes.items())})
    return row


def evaluate(
    policy: Any,
    task: str,
    split: str,
    modality: str = "language",
    *,
    n: int | None = None,
    seed: int | None = None,
    verify_iter: int | None = None,
    image_size: int | None = None,
    num_envs: int = 32,
    max_new_tokens: int = 256,
    greedy: bool = False,
    temperature: float | None = None,
    sampling_seed: int = 0,
    reward_mode: str = "paper",
    progress: bool | str = False,
    return_transitions: bool = False,
    accelerator: Any = None,
    refill: bool = False,
    reuse_turns: bool = True,
    first: int = 0,
    **env_overrides: Any,
) -> dict[str, Any] | tuple[dict[str, Any], list[Transition]]:
    """Evaluate ``policy`` on one split with the paper's protocol (see ``evaluation.splits``).

    Args:
        policy: a ``models.Policy`` (any scale) or an ``evaluation.api.ChatAPIPolicy``.
        task, split, modality: what to evaluate (``'gp'``/``'virl'``; ``'id'``/``'rule_ood'``/``'visual_ood'``).
        n, seed, verify_iter: episodes, master seed, attempts (defaults: the paper's protocol).
        image_size: rendering size for vision (use the tiny model's size for ``tiny`` policies).
        num_envs: episodes played together (the generation batch).
        max_new_tokens: answer cap (paper: 256 in evaluation).
        greedy: decode greedily (overrides ``temperature``).
        temperature: ``None`` (default): the checkpoint's generation config, as the authors'
            evaluator; ``0``: greedy; ``> 0``: sampling at it (top-k / top-p from the checkpoint).
        sampling_seed: salt of the per-episode sampling keys (another value: another draw).
        reward_mode: ``'paper'`` or ``'official'`` verifier.
        progress: show a progress bar (a string: its description).
        return_transitions: also return every transition (for inspection).
        accelerator: under several processes (an ``accelerate.Accelerator``), every process plays
            a share of the episodes (episode ``k`` on rank ``k % world``) and all get the row of the
            whole split; keyed sampling makes it equal to a one-process evaluation. Transitions
            come back without images.
        refill: refill a finished episode's slot at once (``False``: waves of ``num_envs``).
        reuse_turns: keep each episode's keys/values between its attempts (policies with
            ``reuses_turns``; same answers, see :func:`~sftrl_repro.trainers.rollout.collect`).
        first: play episodes ``first .. n-1`` of the split only (the row is over those): the rest of
            an evaluation of ``first`` episodes, with the same episodes and sampling keys (the
            episode list is prefix-stable; see ``experiments.eval_cache``).

    Returns:
        The metrics row (dict), or ``(row, transitions)``.
    """
    spec = eval_spec(task, split, modality, n=n, seed=seed, verify_iter=verify_iter, image_size=image_size,
                     reward_mode=reward_mode, **env_overrides)
    if not isinstance(first, int) or isinstance(first, bool) or not 0 <= first < len(spec.seeds):
        raise ValueError(f"first={first!r} is not valid: an episode index in [0, {len(spec.seeds)})")
    if first:
        spec.seeds = spec.seeds[first:]
        spec.options = None if spec.options is None else spec.options[first:]
    temperature = 0.0 if greedy else temperature
    world = accelerator.num_processes if accelerator is not None else 1
    rank = accelerator.process_index if world > 1 else 0
    transitions = collect(policy, spec.make_env, spec.seeds[rank::world],
                          options=None if spec.options is None else spec.options[rank::world],
                          num_envs=num_envs, temperature=temperature, max_new_tokens=max_new_tokens,
                          generation_seed=None if temperature == 0 else int(sampling_seed), refill=refill,
                          reuse_turns=reuse_turns,
                          progress=(progress if isinstance(progress, str) else f"eval {task}/{split}")
                          if progress else False)
    if world > 1:
        from dataclasses import replace

        from accelerate.utils import gather_object

        local = [replace(t, episode=t.episode * world + rank, image=None) for t in transitions]
        transitions = sorted(gather_object(local), key=lambda t: (t.episode, t.turn))
    row = summarize(transitions, spec)
    row["decoding"] = "greedy" if temperature == 0 else ("checkpoint" if temperature is None else f"T={temperature:g}")
    return (row, transitions) if return_transitions else row


def evaluate_splits(policy: Any, task: str, modality: str, splits: Iterable[str] | None = None,
                    **kwargs: Any) -> pd.DataFrame:
    """:func:`evaluate` on several splits (default: ID, rule OOD, and visual OOD for vision); one row each."""
    if splits is None:
        splits = ("id", "rule_ood", "visual_ood") if modality == "vision" else ("id", "rule_ood")
    return pd.DataFrame([evaluate(policy, task, s, modality, **kwargs) for s in splits])


def verification_sweep(policy: Any, task: str = "gp", split: str = "id", modality: str = "language",
                       iters: Sequence[int] = (1, 3, 5, 10), **kwargs: Any) -> pd.DataFrame:
    """Success with 1, 3, 5, 10 attempts (the paper's Fig 10 axis), one row per budget."""
    return pd.DataFrame([evaluate(policy, task, split, modality, verify_iter=k, **kwargs) for k in iters])
