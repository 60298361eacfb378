"""The GeneralPoints verifier: reward, outcome and feedback for one model answer (PAPER.md section 2).

Two conventions (``mode``):

``"paper"`` (default): the paper's reward table, exactly one outcome per answer, checked in this
order of precedence:

=====================  =======  ===========================================================
outcome                reward   when
=====================  =======  ===========================================================
``wrong_cards``        -1.5     vision only: ``"cards"`` missing or not the hand (as a multiset)
``illegal_formula``    -3       ``"formula"`` missing or not a legal expression (``rewards.arith``)
``wrong_numbers``      -2       the numbers used are not the card values (as a multiset)
``correct``            +5       the exact value equals the target
``wrong_value``        -1       any other value, division by zero included
=====================  =======  ===========================================================

``"official"``: the authors' verifier as PAPER.md summarises it (the package's reconstruction; its
code is not copied): the vision card check comes first (-1.5); any character other than digits and
``+-*/()`` (spaces included) is illegal (-3 at once); otherwise penalties *stack*: -3 per broken
token-sequence rule and -2 per number not on the cards (e.g. -7); a formula that then fails to
evaluate but is a prefix of a known solution earns +1 (``partial_solution``), else -3; a formula
that evaluates but leaves cards unused gets -2 per unused card; the value is compared in Python
floats (so ``8/(3-8/3)`` is *wrong*: 23.999999999999993); +5 if equal, else -1.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import NamedTuple

from sftrl_repro.games.cards import card_values, normalize_rank
from sftrl_repro.games.solver import solve
from sftrl_repro.prompts.gp import GPAnswer, gp_feedback, parse_gp_answer
from sftrl_repro.rewards import arith

#: Rewards of the paper's table (``mode="paper"``), by outcome.
PAPER_REWARDS: dict[str, float] = {
    "correct": 5.0,
    "wrong_value": -1.0,
    "wrong_numbers": -2.0,
    "illegal_formula": -3.0,
    "wrong_cards": -1.5,
}
#: Reward of an attempt past the step limit (the official 6th, truncating generation).
STEP_LIMIT_REWARD = -1.0
#: Reward of a formula that fails to evaluate but is a prefix of a solution (official mode).
PARTIAL_SOLUTION_REWARD = 1.0

REWARD_MODES = ("paper", "official")
MODALITIES = ("language", "vision")

_REASONS = {
    "wrong_cards": "the cards you recognized are not the cards in the image.",
    "illegal_formula": "your formula is not a legal arithmetic expression of the card numbers.",
    "wrong_numbers": "your formula does not use each card's number exactly once.",
    "partial_solution": "your formula is incomplete.",
}


class GPVerdict(NamedTuple):
    """What the verifier says of one answer; unpacks as ``reward, outcome, feedback, cards_correct``.

    Attributes:
        reward: the scalar reward (see the module docstring).
        outcome: the outcome name (``'correct'``, ``'wrong_value'``, ``'wrong_numbers'``,
            ``'illegal_formula'``, ``'wrong_cards'``; official mode adds ``'formula_errors'`` and
            ``'partial_solution'``).
        feedback: the user turn that follows a wrong answer (``"You failed this trial because ..."``);
            ``''`` for a correct one.
        cards_correct: whether the answer's ``"cards"`` equal the hand as a multiset (recognition
            accuracy; computed in both modalities, penalised only in vision).
    """

    reward: float
    outcome: str
    feedback: str
    cards_correct: bool


def cards_match(recognised: Sequence[str] | None, cards: Sequence[str]) -> bool:
    """Whether recognised rank names equal the hand as a multiset (lenient spelling, e.g. 'king')."""
    if recognised is None or len(recognised) != len(cards):
        return False
    names = [normalize_rank(c) for c in recognised]
    return None not in names and sorted(names) == sorted(cards)


def numbers_field_correct(answer: str | GPAnswer, cards: Sequence[str], *, rule: str) -> bool:
    """Whether the answer's ``"number"`` field holds the card values under ``rule`` (in hand order).

    Separates *rule reading* from arithmetic: a model can read the stated face-card rule right and
    still fail to make the target.
    """
    parsed = answer if isinstance(answer, GPAnswer) else parse_gp_answer(answer)
    if parsed.numbers is None:
        return False
    want = [str(v) for v in card_values(cards, rule)]
    return [n.strip() for n in parsed.numbers] == want


def _excess(items: Sequence[int], pool: Sequence[int]) -> int:
    """How many of ``items`` are left over after matching them one-to-one against ``pool``."""
    remaining = list(pool)
    extra = 0
    for x in items:
        try:
            remaining.remove(x)
        except ValueError:
            extra += 1
    return extra


def _show(value) -> str:
    """A value for a feedback message: ``24``, ``47/2`` (exact) or ``23.999999999999993`` (float)."""
    if isinstance(value, Fraction):
        return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _feedback(outcome: str, value=None, target: int = 24) -> str:
    if outcome == "correct":
        return ""
    if outcome == "wrong_value":
        if value is None:
            return gp_feedback("your formula divides by zero.")
        return gp_feedback(f"your formula evaluates to {_show(value)} instead of {target}.")
    if outcome == "formula_errors":
        return gp_feedback("your formula has illegal token sequences or numbers not on the cards.")
    return gp_feedback(_REASONS[outcome])


def _verify_paper(parsed: GPAnswer, cards, values, *, target, modality, cards_ok) -> GPVerdict:
    def verdict(outcome: str, value=None) -> GPVerdict:
        return GPVerdict(PAPER_REWARDS[outcome], outcome, _feedback(outcome, value, target), cards_ok)

    if modality == "vision" and not cards_ok:
        return verdict("wrong_cards")
    tokens = arith.parse_formula(parsed.formula) if parsed.formula is not None else None
    if tokens is None:
        return verdict("illegal_formula")
    if sorted(arith.numbers_in(tokens)) != sorted(values):
        return verdict("wrong_numbers")
    value = arith.evaluate(tokens)  # exact; small: the numbers are the card values
    if value is not None and value == target:
        return verdict("correct")
    return verdict("wrong_value", value)


def _verify_official(parsed: GPAnswer, cards, values, *, target, modality, cards_ok) -> GPVerdict:
    def verdict(outcome: str, reward: float, value=None) -> GPVerdict:
        return GPVerdict(reward, outcome, _feedback(outcome, value, target), cards_ok)

    if modality == "vision" and not cards_ok:
        return verdict("wrong_cards", PAPER_REWARDS["wrong_cards"])
    expr = arith.strip_tail(parsed.formula) if parsed.formula is not None else ""
    tokens = arith.tokenize(expr, allow_spaces=False)
    if tokens is None or not tokens:
        return verdict("illegal_formula", PAPER_REWARDS["illegal_formula"])
    seq_errors = arith.sequence_errors(tokens)
    used = arith.numbers_in(tokens)
    num_errors = _excess(used, values)
    if seq_errors or num_errors:
        return verdict("formula_errors", -3.0 * seq_errors - 2.0 * num_errors)
    value = arith.evaluate(tokens, exact=False) if arith.is_balanced(tokens) else None
    if value is None:
        if any(s.startswith(expr) for s in solve(values, target)):
            return verdict("partial_solution", PARTIAL_SOLUTION_REWARD)
        return verdict("illegal_formula", PAPER_REWARDS["illegal_formula"])
    missing = _excess(values, used)
    if missing:
        return verdict("wrong_numbers", -2.0 * missing)
    if value == target:
        return verdict("correct", PAPER_REWARDS["correct"])
    return verdict("wrong_value", PAPER_REWARDS["wrong_value"], value)


def verify_gp(
    answer: str | GPAnswer,
    cards: Sequence[str],
    *,
    rule: str,
    target: int = 24,
    modality: str = "language",
    mode: str = "paper",
) -> GPVerdict:
    """Grade one GeneralPoints answer.

    Args:
        answer: the model's raw answer text (parsed leniently, see ``prompts.gp.parse_gp_answer``)
            or an already parsed :class:`~sftrl_repro.prompts.gp.GPAnswer`.
        cards: the hand's rank names, e.g. ``['A', '5', 'J', '10']``.
        rule: ``'id'`` (J/Q/K = 10) or ``'ood'`` (J/Q/K = 11/12/13).
        target: the number to make (24 in the paper).
        modality: ``'language'`` or ``'vision'`` (vision also checks the recognised cards).
        mode: ``'paper'`` (the paper's table; default) or ``'official'`` (the authors' code).

    Returns:
        A :class:`GPVerdict` ``(reward, outcome, feedback, cards_correct)``. Never raises on any
        answer; answers of any length are graded in well under a millisecond (they are cut to 4096
        characters and formulas to 256).

    >>> verify_gp('{"cards": ["4","3","2","K"], "number": [4,3,2,10], "formula": "4*3+2+10=24"}',
    ...           ['4', '3', '2', 'K'], rule='id').outcome
    'correct'
    """
    if mode not in REWARD_MODES:
        raise ValueError(f"mode={mode!r} is not valid; choose one of: 'paper', 'official'")
    if modality not in MODALITIES:
        raise ValueError(f"modality={modality!r} is not valid; choose one of: 'language', 'vision'")
    values = card_values(cards, rule)  # raises KeyError for a bad rule/card: a caller's bug
    parsed = answer if isinstance(answer, GPAnswer) else parse_gp_answer(answer)
    cards_ok = cards_match(parsed.cards, cards)
    grade = _verify_paper if mode == "paper" else _verify_official
    return grade(parsed, cards, values, target=target, modality=modality, cards_ok=cards_ok)
