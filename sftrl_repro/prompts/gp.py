"""GeneralPoints prompts, the SFT answer template, the feedback turn and the answer parser.

Default (``prompt_style="authors"``): the authors' text, byte for byte (LeslieTrue/SFTvsRL @ 5a6ea55,
``prompt_lib/prompts.py``: ``Q_GeneralPoint_EQN_L`` / ``Q_GeneralPoint_EQN_VL``, the versions
without an example, filled as their trainer and evaluator fill them), so that their released init
checkpoints (``tianzhechu/GP-L-Init``, ``GP-VL-Init``) see the input they were trained on
(paper Sec. 4.1 and App. A.1). Its quirks are kept on purpose:

* the prompt starts with ``"\\n"`` and ends with ``"\\n\\n"``;
* their face-card sentence already ends with a period and the template adds more, so it reads
  ``Note that 'J', 'Q', and 'K' count as '10'., and each card must be used once.`` and
  ``"cards": [x, y, z, w], where 'J', 'Q', and 'K' count as '10'.,`` (rule OOD:
  ``... count as '11', '12', and '13' respectively.,``);
* the language prompt lists the cards as a Python list (``Cards: ['A', '10', 'K', '6']``); the vision
  prompt has no ``[Input]`` section and says "Your response should be a valid json file in the
  following format:" although the format shown (and their SFT answers) end with a trailing comma;
* the answer template shows ``"formula": 'an equation that equals 24'`` in single quotes, which
  their verifier's regular expression does not read (it needs ``"formula": "..."``).

The target appears three times (``You are an expert 24 points ...``, ``evaluates to 24``, ``equals
24``); any other target replaces all three, as their template's ``{target_number}`` does.

``prompt_style="clean"``: the package's plain wording for tiny models trained from scratch (one
period, the same sections and keys; not the authors' distribution).

The SFT answer (:func:`gp_answer`) is their ``ResponseEqn`` (it starts with ``"\\n"`` and ends with
a trailing comma before ``}``: not JSON). A wrong answer is followed by the user turn
``"You failed this trial because " + <their verifier's Verify Info>`` (:func:`gp_feedback`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sftrl_repro.games.cards import rule_description
from sftrl_repro.prompts.chat import Message, revision_conversation
from sftrl_repro.prompts.parsing import extract_fields

#: Every feedback turn starts with this (the authors' wording).
FEEDBACK_PREFIX = "You failed this trial because"
#: ``gp_prompt(prompt_style=...)`` choices: the authors' text (default) or the package's clean one.
PROMPT_STYLES = ("authors", "clean")

#: The authors' ``face_card_msg`` by rule (their trainer/evaluator, ``treat_face_cards_as_10``).
FACE_CARD_MSG = {
    "id": "'J', 'Q', and 'K' count as '10'.",
    "ood": "'J', 'Q', and 'K' count as '11', '12', and '13' respectively.",
}

# The authors' templates (``prompt_lib/prompts.py``), as str.format templates.
_TASK = (
    "\n[Task Description]\n"
    "You are an expert {target_number} points card game player. {seeing}\n"
    "Note that {face_card_msg}, and each card must be used once.\n"
    "Your goal is to output a formula that evaluates to {target_number} using numbers from the cards "
    "and operators such as '+', '-', '*', '/', '(', ')', and '='.\n\n"
)
_OUTPUT = (
    "{{\n"
    '  "cards": [x, y, z, w], where {face_card_msg},\n'
    '  "number": [a, b, c, d], where a, b, c, and d are the numbers on the cards,\n'
    "  \"formula\": 'an equation that equals {target_number}',\n"
    "}}\n\n"
)
#: ``Q_GeneralPoint_EQN_L``
Q_GENERAL_POINT_EQN_L = (_TASK.replace("{seeing}", "You will receive a set of 4 cards.")
                         + "[Input]\nCards: {cards}\n\n[Output]\n" + _OUTPUT)
#: ``Q_GeneralPoint_EQN_VL``
Q_GENERAL_POINT_EQN_VL = (_TASK.replace("{seeing}", "You are observing these four cards in the image.")
                          + "[Output]\nYour response should be a valid json file in the following format:\n"
                          + _OUTPUT)
#: ``ResponseEqn``: the SFT answer.
RESPONSE_EQN = '\n{{\n  "cards": {cards},\n  "number": {numbers},\n  "formula": "{formula}",\n}}'


def gp_prompt(cards: Sequence[str], *, rule: str, modality: str, target: int = 24,
              prompt_style: str = "authors") -> str:
    """The first user turn of a GeneralPoints episode (see the module docstring).

    Args:
        cards: the hand's rank names, e.g. ``['A', '3', 'K', '6']``; shown in ``[Input]`` for the
            language variant only (the vision variant shows them in the image).
        rule: ``'id'`` (J/Q/K = 10) or ``'ood'`` (J/Q/K = 11/12/13); stated in the task description.
        modality: ``'language'`` or ``'vision'``.
        target: the number the formula must equal (24 in the paper); replaces every ``24``.
        prompt_style: ``'authors'`` (default: their text, byte for byte) or ``'clean'``.

    >>> gp_prompt(['A', '3', 'K', '6'], rule='id', modality='language').splitlines()[7]
    "Cards: ['A', '3', 'K', '6']"
    """
    if rule not in FACE_CARD_MSG:
        raise ValueError(f"rule={rule!r} is not valid; choose one of: 'id', 'ood'")
    if modality not in ("language", "vision"):
        raise ValueError(f"modality={modality!r} is not valid; choose one of: 'language', 'vision'")
    if prompt_style == "clean":
        return _clean_prompt(cards, rule=rule, modality=modality, target=target)
    if prompt_style != "authors":
        raise ValueError(f"prompt_style={prompt_style!r} is not valid; choose one of: 'authors', 'clean'")
    template = Q_GENERAL_POINT_EQN_VL if modality == "vision" else Q_GENERAL_POINT_EQN_L
    return template.format(cards=[str(c) for c in cards], face_card_msg=FACE_CARD_MSG[rule], target_number=str(target))


def _clean_prompt(cards: Sequence[str], *, rule: str, modality: str, target: int) -> str:
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
    """An answer in the authors' ``ResponseEqn`` (SFT targets; leading newline and trailing comma included).

    >>> print(gp_answer(['4', '3', '2', 'K'], [4, 3, 2, 10], '4*3+2+10=24'))
    <BLANKLINE>
    {
      "cards": ['4', '3', '2', 'K'],
      "number": [4, 3, 2, 10],
      "formula": "4*3+2+10=24",
    }
    """
    return RESPONSE_EQN.format(cards=[str(c) for c in cards], numbers=[int(n) for n in numbers], formula=formula)


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
