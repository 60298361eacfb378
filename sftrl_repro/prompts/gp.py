"""GeneralPoints prompts, the SFT answer template, the feedback turn and the answer parser.

The wording follows the authors' prompt (PAPER.md section 2) so that their released init checkpoints
(``tianzhechu/GP-L-Init``, ``GP-VL-Init``) see the input format they were trained on: the sections
``[Task Description]``, ``[Input]`` (text variant only) and ``[Output]``; the face-card rule stated
in the task description; and an answer object with the keys ``"cards"``, ``"number"`` and
``"formula"`` whose template ends in a trailing comma (not valid JSON; :func:`parse_gp_answer`
parses it leniently).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sftrl_repro.games.cards import rule_description
from sftrl_repro.prompts.chat import Message, revision_conversation
from sftrl_repro.prompts.parsing import extract_fields

#: Every feedback turn starts with this (the authors' wording).
FEEDBACK_PREFIX = "You failed this trial because"


def gp_prompt(cards: Sequence[str], *, rule: str, modality: str, target: int = 24) -> str:
    """The first user turn of a GeneralPoints episode.

    Args:
        cards: the hand's rank names, e.g. ``['A', '3', 'K', '6']``; shown in ``[Input]`` for the
            language variant only (the vision variant shows them in the image).
        rule: ``'id'`` (J/Q/K = 10) or ``'ood'`` (J/Q/K = 11/12/13); stated in the task description.
        modality: ``'language'`` or ``'vision'``.
        target: the number the formula must equal (24 in the paper).
    """
    rule_text = rule_description(rule)
    seeing = "You are observing these four cards in the image." if modality == "vision" else (
        "You are given four cards.")
    lines = [
        "[Task Description]",
        f"You are an expert {target} points card game player. {seeing} Note that {rule_text}, "
        "and each card must be used once. Your goal is to output a formula that evaluates to "
        f"{target} using numbers from the cards and operators such as '+', '-', '*', '/', '(', ')', "
        "and '='.",
        "",
    ]
    if modality != "vision":
        lines += ["[Input]", f"Cards: {list(cards)!r}", ""]
    lines += [
        "[Output]",
        "{",
        f'  "cards": [x, y, z, w], where {rule_text}.',
        '  "number": [a, b, c, d], where a, b, c, and d are the numbers on the cards.',
        f"  \"formula\": 'an equation that equals {target}',",
        "}",
    ]
    return "\n".join(lines)


def gp_answer(cards: Sequence[str], numbers: Sequence[int], formula: str) -> str:
    """An answer in the authors' template (SFT targets; trailing comma included on purpose).

    >>> print(gp_answer(['4', '3', '2', 'K'], [4, 3, 2, 10], '4*3+2+10=24'))
    {
      "cards": ['4', '3', '2', 'K'],
      "number": [4, 3, 2, 10],
      "formula": "4*3+2+10=24",
    }
    """
    return "\n".join([
        "{",
        f'  "cards": {list(cards)!r},',
        f'  "number": {[int(n) for n in numbers]!r},',
        f'  "formula": "{formula}",',
        "}",
    ])


def gp_feedback(reason: str) -> str:
    """The user turn after a wrong answer: ``"You failed this trial because <reason>"``."""
    return f"{FEEDBACK_PREFIX} {reason}"


def gp_conversation(prompt: str, attempts: Sequence[tuple[str, str]], *, image: bool) -> list[Message]:
    """The chat so far: the prompt, then each earlier answer followed by its feedback turn.

    Args:
        prompt: the first user turn (:func:`gp_prompt`).
        attempts: ``(answer, feedback_text)`` for every graded wrong attempt so far, oldest first.
        image: whether the first user turn carries the image (vision variant; first turn only).

    Returns:
        ``[user(prompt), assistant(a1), user(f1), ..., assistant(ak), user(fk)]``: it always ends
        with the user turn the model must answer next.
    """
    return revision_conversation(prompt, attempts, image=image)


@dataclass(frozen=True)
class GPAnswer:
    """The fields of a model answer, as found in its text (``None`` = key absent or unreadable).

    Attributes:
        cards: the recognised cards, as written (e.g. ``['A', '3', 'K', '6']``), not yet normalised.
        numbers: the ``"number"`` field's items as written (strings).
        formula: the ``"formula"`` field, stripped, at most 512 characters.
    """

    cards: list[str] | None
    numbers: list[str] | None
    formula: str | None


def parse_gp_answer(text: object) -> GPAnswer:
    """Parse a model's answer leniently; total (never raises) and bounded (see ``prompts.parsing``).

    >>> parse_gp_answer('{"cards": ["4", "3"], "number": [4, 3], "formula": "4*3=12",}').formula
    '4*3=12'
    """
    fields = extract_fields(text, strings=("formula",), lists=("cards", "number"))
    return GPAnswer(cards=fields["cards"], numbers=fields["number"], formula=fields["formula"])
