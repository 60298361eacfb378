"""Failure examples as real model outputs (the paper's Fig 20, GeneralPoints, and Fig 21, V-IRL).

The paper shows, for one out-of-distribution prompt, what the SFT model answered (it applies the
in-distribution rule: J/Q/K counted as 10 under the rule 11/12/13, absolute headings where relative
turns are asked) beside the RL model's answer. Here both come from a table of
:func:`sftrl_repro.evaluation.collect_examples` (real generations, graded by the verifier):

* :func:`pick_failure_examples` chooses the episode(s) to show, deterministically;
* :func:`plot_failure_examples` draws the shortened prompt once and, one panel per method, the
  model's raw answer with the verifier's verdict in words and colour (green right, red wrong);
* :func:`shorten_prompt` keeps the part of a prompt that states the rule and the input.

Model answers are untrusted text: they are drawn as plain text (no mathtext, control characters
replaced), never evaluated.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd

from sftrl_repro.plots.common import COLORS, LABELS, attach_data, label, styled

#: Colours of a right and a wrong verdict.
RIGHT_COLOR = "#1a9850"
WRONG_COLOR = "#d73027"

#: The verifier's outcome names in words (GeneralPoints and V-IRL, both reward modes).
OUTCOME_WORDS: dict[str, str] = {
    "correct": "correct",
    "wrong_value": "wrong value (the formula does not make the target)",
    "wrong_numbers": "wrong numbers (not each card's value exactly once)",
    "illegal_formula": "illegal formula",
    "formula_errors": "formula errors",
    "partial_solution": "incomplete formula",
    "wrong_cards": "wrong cards recognised",
    "wrong_action": "wrong action",
    "detection_failure": "detection failure (wrong observation)",
    "step_limit": "past the attempt limit (not graded)",
    "unknown": "not graded",
}

# Sections of each task's prompt kept by shorten_prompt, and within each, which lines (None: all).
_KEEP: dict[str, dict[str, str | None]] = {
    "gp": {"Task Description": r"count as", "Input": None},
    "virl": {"Instruction": None, "Action space": r"turn_direction", "Observations and actions sequence": None},
}
_SECTION = re.compile(r"^\[([^\]\n]{1,60})\][ \t]*$", re.MULTILINE)
_ELLIPSIS = "[...]"


def outcome_words(outcome: str) -> str:
    """The verifier's ``outcome`` in words (:data:`OUTCOME_WORDS`; unknown names: underscores to spaces)."""
    return OUTCOME_WORDS.get(str(outcome), str(outcome).replace("_", " "))


def _clean(text: object) -> str:
    """Untrusted text made safe to draw: a ``str``, tabs expanded, other control characters shown as ``?``."""
    text = str(text).replace("\r\n", "\n").expandtabs(4)
    return "".join(ch if ch == "\n" or ch.isprintable() else "?" for ch in text)


def _elide(text: str, max_chars: int | None) -> str:
    """``text`` cut to about ``max_chars`` characters, its middle replaced by ``[...]``."""
    if max_chars is None or len(text) <= max_chars:
        return text
    keep = max(max_chars - len(_ELLIPSIS) - 2, 2)
    head, tail = text[: keep - keep // 2], text[len(text) - keep // 2:]
    # Cut at line ends where that keeps most of each part (not in the middle of a word).
    if head.rfind("\n") > len(head) // 2:
        head = head[: head.rfind("\n")]
    if 0 <= tail.find("\n") < len(tail) // 2:
        tail = tail[tail.find("\n") + 1:]
    return f"{head.rstrip()}\n{_ELLIPSIS}\n{tail.lstrip()}"


def shorten_prompt(text: str, task: str, max_chars: int | None = 700) -> str:
    """The part of a task prompt that matters for a failure example, at most about ``max_chars`` characters.

    GeneralPoints: the sentence stating the face-card rule and the ``[Input]`` cards; V-IRL: the
    instructions, the action space's turn directions (absolute or relative) and the observation and
    action sequence. The ``[Output]`` template and the task boilerplate are left out (``[...]``
    marks a cut). A prompt without the expected sections (another style, a feedback turn) is kept
    whole. Beyond ``max_chars`` (``None``: no limit) the middle is cut.
    """
    text = _clean(text).strip("\n")
    keep = _KEEP.get(task, {})
    heads = list(_SECTION.finditer(text))
    parts: list[str] = []
    for i, head in enumerate(heads):
        name = head.group(1).strip()
        if name not in keep:
            continue
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        lines = [line.rstrip() for line in text[head.end():end].strip("\n").splitlines()]
        pattern = keep[name]
        if pattern is not None:
            chosen = [line for line in lines if re.search(pattern, line)]
            lines = chosen + [_ELLIPSIS] if chosen and len(chosen) < len(lines) else chosen
        lines = [line for line in lines if line.strip()]
        if lines:
            parts.append("\n".join([f"[{name}]", *lines]))
    shortened = "\n".join(parts) if parts else text
    return _elide(shortened, max_chars)


def _wrap(text: str, width: int) -> str:
    lines: list[str] = []
    for line in text.splitlines() or [""]:
        lines += textwrap.wrap(line, width=width, subsequent_indent="  ", replace_whitespace=False,
                               drop_whitespace=True) or [""]
    return "\n".join(lines)


def _first_answers(frame: pd.DataFrame, task: str, split: str) -> pd.DataFrame:
    rows = frame
    if "task" in rows:
        rows = rows[rows["task"] == task]
    rows = rows[rows["split"] == split]
    if "turn" in rows:
        rows = rows[rows["turn"] == 0]
    return rows


def _turn_argument(action: object) -> str | None:
    match = re.fullmatch(r"\s*turn_direction\((.*)\)\s*", action) if isinstance(action, str) else None
    return match.group(1).strip().strip("'\"").lower() if match else None


def rule_misread(row: pd.Series | dict, task: str) -> bool:
    """Whether an answer misreads the stated rule (what the paper's SFT model does out of distribution).

    GeneralPoints: the ``"number"`` field is not the card values under the stated rule
    (``numbers_correct`` false). V-IRL: the answer turns in the other action space than the one asked
    (a compass heading where a relative turn is expected, or the reverse).
    """
    if task == "gp":
        return not bool(row.get("numbers_correct", True))
    from sftrl_repro.games.virl.geometry import COMPASS, RELATIVE

    said, truth = _turn_argument(row.get("action")), _turn_argument(row.get("gt_action"))
    if said is None or truth is None:
        return False
    space = {**{d: "absolute" for d in COMPASS}, **{d: "relative" for d in RELATIVE}}
    return said in space and truth in space and space[said] != space[truth]


def pick_failure_examples(frame: pd.DataFrame, task: str, split: str = "rule_ood", *,
                          methods: Sequence[str] = ("sft", "rl"), k: int = 1) -> list[int]:
    """The episode(s) of ``split`` that best show the failure (first answers; deterministic).

    ``methods[0]`` is the method expected to fail (SFT), ``methods[-1]`` the one expected to
    succeed (RL). Episodes are ranked, ties broken by the smaller episode number:

    1. the failing method is wrong and the other right, its rule reading wrong first
       (:func:`rule_misread`: GP, the card values under the stated rule; V-IRL, the action space);
    2. the failing method misreads the rule;
    3. the failing method is wrong;
    4. any other episode (so the first episode when nothing fails).

    Returns:
        Up to ``k`` episode numbers, best first; ``[]`` when ``frame`` has no first answer of ``split``.
    """
    rows = _first_answers(frame, task, split)
    bad, good = methods[0], methods[-1]
    by_method = {m: g.drop_duplicates("episode").set_index("episode") for m, g in rows.groupby("method")}
    ranked = []
    for episode in sorted(int(e) for e in rows["episode"].unique()):
        fail = by_method.get(bad)
        fail = fail.loc[episode] if fail is not None and episode in fail.index else None
        win = by_method.get(good)
        win = win.loc[episode] if win is not None and episode in win.index else None
        fail_wrong = fail is not None and not bool(fail["correct"])
        misread = fail is not None and rule_misread(fail, task)
        win_right = win is not None and bool(win["correct"])
        if fail_wrong and win_right:
            tier = (0, 0 if misread else 1)
        elif misread:
            tier = (1, 0)
        elif fail_wrong:
            tier = (2, 0)
        else:
            tier = (3, 0)
        ranked.append((tier, episode))
    return [episode for _, episode in sorted(ranked)[:k]]


def _verdict(row: pd.Series, task: str) -> tuple[str, str]:
    """``(text, colour)``: the verifier's verdict in words, and details of the answer."""
    right = bool(row["correct"])
    lines = [f"Verifier: {'RIGHT' if right else 'WRONG'} - {outcome_words(row['outcome'])} "
             f"(reward {float(row['reward']):+g})"]
    if task == "gp" and "numbers_correct" in row:
        lines.append("Card values under the stated rule: " + ("right" if bool(row["numbers_correct"]) else "wrong"))
    if task == "virl":
        if isinstance(row.get("gt_action"), str):
            lines.append(f"Expected action: {_clean(row['gt_action'])}")
        if rule_misread(row, task):
            lines.append("Turns in the other action space than the one asked")
    return "\n".join(lines), RIGHT_COLOR if right else WRONG_COLOR


@styled
def plot_failure_examples(frame: pd.DataFrame, *, task: str, split: str = "rule_ood",
                          methods: Sequence[str] = ("sft", "rl"), episode: int | None = None,
                          max_chars: int = 800, width: int = 56, title: str | None = None) -> plt.Figure:
    """One episode's prompt and each method's real answer, in the style of the paper's Fig 20 / 21.

    Args:
        frame: :func:`sftrl_repro.evaluation.collect_examples`'s table (its turn-0 rows are used).
        task: ``"gp"`` or ``"virl"``; ``split``: the split of the example (rule OOD by default).
        methods: the methods, one panel (column) each, left to right; a method absent from
            ``frame`` gets a panel that says so.
        episode: the episode to show (default: :func:`pick_failure_examples`'s first choice).
        max_chars: the prompt (shortened by :func:`shorten_prompt`) and each answer are cut to about
            this many characters; ``width``: characters per line.
        title: the figure title (default: the task, the split and the episode).

    Returns:
        The figure; its data (:func:`~sftrl_repro.plots.figure_data`) is the rows drawn, so
        ``save_figure(fig, name, data=True)`` also writes them as CSV.

    Raises:
        ValueError: ``frame`` has no first answer of ``split`` (or of ``episode``).
    """
    rows = _first_answers(frame, task, split)
    if rows.empty:
        raise ValueError(f"frame has no first answer of task {task!r}, split {split!r}; "
                         "collect it with sftrl_repro.evaluation.collect_examples")
    if episode is None:
        episode = pick_failure_examples(frame, task, split, methods=methods)[0]
    rows = rows[rows["episode"] == episode]
    if rows.empty:
        raise ValueError(f"episode {episode} is not in the frame for split {split!r}")
    shown = {m: rows[rows["method"] == m].iloc[0] for m in methods if (rows["method"] == m).any()}

    prompts = [r["prompt"] for r in shown.values()]
    prompt = _wrap(shorten_prompt(prompts[0], task, max_chars), width * len(methods) + 4 * (len(methods) - 1))
    if len(set(prompts)) > 1:
        prompt += f"\n(the methods saw different prompts; this is {label(next(iter(shown)))}'s)"
    answers = {m: _wrap(_elide(_clean(r["answer"]).strip("\n") or "(empty answer)", max_chars), width)
               for m, r in shown.items()}
    verdicts = {m: (_wrap(text, width), color) for m, (text, color) in
                ((m, _verdict(r, task)) for m, r in shown.items())}

    fontsize = 8.0
    line_in = fontsize * 1.3 / 72
    n_prompt = prompt.count("\n") + 1
    n_answer = max([a.count("\n") + 1 for a in answers.values()] + [3])
    n_verdict = max([v[0].count("\n") + 1 for v in verdicts.values()] + [1])
    top_h = (n_prompt + 2.5) * line_in
    bottom_h = (n_answer + n_verdict + 4) * line_in
    col_w = width * fontsize * 0.62 / 72 + 0.3
    title_h = 0.55
    fig_h = top_h + bottom_h + title_h
    fig = plt.figure(figsize=(col_w * len(methods) + 0.2, fig_h))
    grid = fig.add_gridspec(2, len(methods), height_ratios=[top_h, bottom_h], hspace=0.12, wspace=0.06,
                            left=0.02, right=0.98, bottom=0.01, top=1 - title_h / fig_h)
    text_kw = dict(family="monospace", fontsize=fontsize, va="top", ha="left", parse_math=False)

    ax = fig.add_subplot(grid[0, :])
    ax.axis("off")
    ax.set_title(f"{label(split)} prompt (shortened)", loc="left", fontsize=9.5)
    ax.text(0.0, 1.0, prompt, transform=ax.transAxes, **text_kw,
            bbox=dict(boxstyle="round,pad=0.5", facecolor="#f4f4f4", edgecolor="0.75"))
    for j, method in enumerate(methods):
        ax = fig.add_subplot(grid[1, j])
        ax.axis("off")
        ax.set_title(f"{label(method)} answer", loc="left", fontsize=9.5, color=COLORS.get(method, "0.2"))
        if method not in shown:
            ax.text(0.5, 0.5, f"no {label(method)} answer collected", transform=ax.transAxes, ha="center",
                    va="center", color="0.45", fontsize=9)
            continue
        verdict, color = verdicts[method]
        ax.text(0.0, 1.0, answers[method], transform=ax.transAxes, **text_kw,
                bbox=dict(boxstyle="round,pad=0.5", facecolor="white", edgecolor=color, linewidth=1.6))
        ax.text(0.0, 1.0 - (n_answer + 2.5) * line_in / bottom_h, verdict, transform=ax.transAxes, color=color,
                fontsize=fontsize, fontweight="bold", va="top", ha="left", parse_math=False)
    fig.suptitle(title if title is not None else f"{LABELS.get(task, task)}, {label(split)}: episode {episode}",
                 x=0.02, y=1 - 0.1 / fig_h, ha="left", va="top", fontsize=11, fontweight="bold")
    data = pd.DataFrame([r for r in shown.values()]).reset_index(drop=True)
    return attach_data(fig, data)
