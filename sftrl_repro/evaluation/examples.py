"""Real answers of several models on the same episodes, side by side (the paper's Fig 20 and 21).

:func:`collect_examples` plays the same episodes of each split (the protocol's seeds: every method
gets the same hands / routes) with every policy and keeps what each model wrote and what the
verifier said of it, one row per answer. :func:`sftrl_repro.plots.failures.plot_failure_examples`
draws them; :func:`~sftrl_repro.plots.failures.pick_failure_examples` chooses the episode to show.

Model output is untrusted text: it is stored as written (a ``str``), never evaluated; the GeneralPoints
and V-IRL fields the rows carry come from the verifier (which parses without ``eval``) or from the
package's total, bounded parsers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from sftrl_repro.evaluation.evaluate import evaluate
from sftrl_repro.evaluation.splits import split_episodes
from sftrl_repro.prompts.chat import message_text

#: Columns of :func:`collect_examples`, in order (``numbers_correct``/``cards_correct`` for GP only,
#: ``gt_action``/``action`` for V-IRL only).
EXAMPLE_COLUMNS = ("method", "task", "modality", "split", "episode", "turn", "prompt", "answer", "reward", "outcome",
                   "correct", "success")
GP_COLUMNS = ("numbers_correct", "cards_correct")
VIRL_COLUMNS = ("gt_action", "action")


def _last_user_text(conversation: list[dict]) -> str:
    """The text of the last user turn of a conversation (the turn the answer replies to)."""
    for message in reversed(conversation):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def _answered_gt_action(transitions: list, index: int, reward_mode: str) -> str | None:
    """The ground-truth action of the rail point that transition ``index`` of an episode answered.

    The env's ``info["gt_action"]`` after a step is the action of the point the *next* answer is
    about: for turn ``k > 0`` the previous transition's says it; for the first answer it is the
    transition's own when the point did not change (a wrong answer, or ``stop()`` at the
    destination), else (a right answer that moved on) the action the verifier accepted, which is the
    ground truth by definition (read without ``eval``, as the verifier of ``reward_mode`` reads it).
    """
    t = transitions[index]
    if index > 0:
        return transitions[index - 1].info.get("gt_action")
    moved = t.info.get("outcome") == "correct" and not t.terminated
    if not moved:
        return t.info.get("gt_action")
    if reward_mode == "official":
        from sftrl_repro.prompts.virl import authors_virl_field

        action = authors_virl_field(t.answer, "action")
        return action if isinstance(action, str) else None
    from sftrl_repro.prompts.virl import parse_action

    action = parse_action(t.answer)
    return action.strip() if action is not None else None


def example_rows(transitions: Iterable, *, method: str, task: str, split: str, modality: str = "language",
                 all_turns: bool = False, reward_mode: str = "paper") -> list[dict[str, Any]]:
    """The rows of :func:`collect_examples` for one method and split, from an evaluation's transitions."""
    episodes: dict[int, list] = {}
    for t in sorted(transitions, key=lambda t: (t.episode, t.turn)):
        episodes.setdefault(t.episode, []).append(t)
    rows = []
    for episode, ts in episodes.items():
        solved = any(bool(t.info.get("success")) for t in ts)
        for i, t in enumerate(ts if all_turns else ts[:1]):
            info = t.info
            correct = bool(info["correct"]) if "correct" in info else info.get("outcome") == "correct"
            row: dict[str, Any] = {
                "method": method, "task": task, "modality": modality, "split": split, "episode": int(episode),
                "turn": int(t.turn), "prompt": _last_user_text(t.conversation), "answer": str(t.answer),
                "reward": float(t.reward), "outcome": str(info.get("outcome", "unknown")), "correct": correct,
                "success": solved,
            }
            if task == "gp":
                row["numbers_correct"] = bool(info.get("numbers_correct", False))
                row["cards_correct"] = bool(info.get("cards_correct", False))
            elif task == "virl":
                from sftrl_repro.prompts.virl import parse_action

                row["gt_action"] = _answered_gt_action(ts, i, reward_mode)
                action = parse_action(t.answer)
                row["action"] = action.strip() if action is not None else None
            rows.append(row)
    return rows


def collect_examples(policies: Mapping[str, Any], task: str, modality: str = "language",
                     splits: Iterable[str] = ("id", "rule_ood"), n: int = 8, seed: int = 0, *,
                     all_turns: bool = False, **evaluate_kwargs: Any) -> pd.DataFrame:
    """What each model answered on the same episodes, with the verifier's verdict (paper Fig 20/21).

    For every ``(method name, policy)`` of ``policies`` and every split, runs
    :func:`sftrl_repro.evaluation.evaluate` ``(policy, task, split, modality, n=n, seed=seed,
    return_transitions=True, **evaluate_kwargs)``; episode ``k`` of a split is the same hand / route
    for every method (it is set by ``seed``, not by the policy).

    Args:
        policies: ``{method name: policy}`` (``"sft"``, ``"rl"``, ``"init"``...); a policy is anything
            with ``generate(conversations, images, *, max_new_tokens, temperature, sample_keys, ...)``
            returning an object with ``.texts`` (:class:`~sftrl_repro.trainers.rollout.GenerativePolicy`).
        task: ``"gp"`` or ``"virl"``.
        modality: ``"language"`` or ``"vision"``.
        splits: the splits to play (``"visual_ood"`` for vision only).
        n: episodes per split (V-IRL visual OOD: at most its 18 routes, :func:`~sftrl_repro.evaluation.splits.split_episodes`);
            ``seed``: the master seed of the episodes.
        all_turns: ``False`` (default): one row per episode, its first answer (no feedback seen yet;
            V-IRL: the first point of the route); ``True``: one row per answer, retries included.
        **evaluate_kwargs: more arguments of :func:`~sftrl_repro.evaluation.evaluate`
            (``greedy``, ``max_new_tokens``, ``verify_iter``, ``image_size``, ``reward_mode``...).

    Returns:
        A ``DataFrame``, ordered by method (as given), split, episode, turn, with columns:

        * ``method``, ``task``, ``modality``, ``split``, ``episode`` (index within the split),
          ``turn`` (0-based answer number within the episode);
        * ``prompt``: the text of the last user message the model answered (the task prompt for
          turn 0, a feedback turn after it), as shown to the model;
        * ``answer``: the model's raw text (untrusted; stored, never evaluated);
        * ``reward``: the environment's reward; ``outcome``: the verifier's outcome name
          (``"correct"``, ``"wrong_value"``, ``"wrong_action"``...);
        * ``correct``: this answer was right; ``success``: the episode was solved in the end (GP: some
          answer right within the attempt budget; V-IRL: the route completed);
        * GP only: ``numbers_correct`` (the ``"number"`` field holds the card values under the stated
          rule: the rule reading the paper's SFT model gets wrong out of distribution) and
          ``cards_correct`` (the ``"cards"`` field is the hand: recognition);
        * V-IRL only: ``gt_action`` (the ground-truth action of the point this answer is about) and
          ``action`` (the action read from the answer, ``None`` when it has none).
    """
    if task not in ("gp", "virl"):
        raise ValueError(f"task={task!r} is not valid; choose one of: 'gp', 'virl'")
    if not policies:
        raise ValueError("policies is empty; pass {method name: policy}, e.g. {'sft': sft, 'rl': rl}")
    for key in ("return_transitions", "split", "task"):
        if key in evaluate_kwargs:
            raise ValueError(f"{key}= is set by collect_examples; do not pass it")
    reward_mode = evaluate_kwargs.get("reward_mode", "paper")
    rows: list[dict[str, Any]] = []
    for method, policy in policies.items():
        for split in splits:
            _, transitions = evaluate(policy, task, split, modality, n=split_episodes(task, split, n), seed=seed,
                                      return_transitions=True, **evaluate_kwargs)
            rows += example_rows(transitions, method=str(method), task=task, split=split, modality=modality,
                                 all_turns=all_turns, reward_mode=reward_mode)
    columns = list(EXAMPLE_COLUMNS) + list(GP_COLUMNS if task == "gp" else VIRL_COLUMNS)
    return pd.DataFrame(rows, columns=columns)
