"""The GeneralPoints verifier: reward, outcome and feedback for one model answer (paper Sec. 4.1).

Two conventions (``mode``):

``"paper"`` (default): the paper's reward table (paper Sec. 4.1 and App. A.1), exactly one outcome
per answer, checked in this order of precedence; fields are read leniently
(``prompts.gp.parse_gp_answer``), values are exact rationals:

=====================  =======  ===========================================================
outcome                reward   when
=====================  =======  ===========================================================
``wrong_cards``        -1.5     vision only: ``"cards"`` missing or not the hand (as a multiset)
``illegal_formula``    -3       ``"formula"`` missing or not a legal expression (``rewards.arith``)
``wrong_numbers``      -2       the numbers used are not the card values (as a multiset)
``correct``            +5       the exact value equals the target
``wrong_value``        -1       any other value, division by zero included
=====================  =======  ===========================================================

``"official"``: the authors' verifier, reward AND Verify Info text (LeslieTrue/SFTvsRL @ 5a6ea55:
``GeneralPointEnv_oneline.step`` -> ``utils_general.re_match`` / ``robust_str_to_list`` ->
``utils_rl.step_rewards``), reimplemented without ``eval``; it agrees with their code on every
reference answer the package's tests hold. In order:

1. **Fields** (``prompts.parsing.authors_field``): ``json.loads(answer)[key]`` if the answer is JSON
   with that key, else the first match of ``"formula": "(.*?)"`` (one space after the colon,
   double quotes, no newline inside), else the string ``"None"``. A string formula is cut at its
   first ``=``.
2. **Vision card check** (vision only, first): the ``"cards"`` field through their
   ``robust_str_to_list`` (drop ``[ ] '`` and spaces, split on ``,``, exactly 4 items; a JSON list
   or an all-integer list gives ``[]``) must equal the hand's rank names as a multiset, exactly
   (``'A'`` not ``'1'``, ``'10'`` not ``'T'``, no double quotes); else -1.5, Verify Info
   ``"you recognized wrong cards"`` (no period), nothing else checked.
3. **Characters**: the formula must consist of ``\\d+`` (any Unicode decimal digit) and
   ``+-*/()`` only; anything else (a space, ``x``, ``.``, ``"None"``) is -3 ``"illegal characters."``.
4. **Token sequence**, -3 per error, messages in token order: a number after a number or ``)``
   (``invalid sequence after number``), an operator first or after an operator or ``(``
   (``... after operator``), a ``(`` after a number or ``)`` (``invalid sequence before '('``; that
   ``(`` is not pushed), a ``)`` first or after an operator or ``(`` (``invalid sequence after ')'``),
   a ``)`` with no open ``(`` (``unmatched closing parenthesis``). The end of the formula and
   unclosed ``(`` are not checked here.
5. **Numbers** (values of the digit runs), not stacked per number: -2 once if any number is not on
   the cards (``you used invalid numbers: [..]``), else -2 once if any is used too often
   (``you used numbers: [..] too many times``); plus -2 once if any card is unused
   (``you didn't use numbers: [..]``). An empty formula is -2. Sequence and number penalties add up
   (-5, -6, -9 ... occur); any penalty ends the check.
6. **Value**, only with no penalty: Python's float semantics (ints for ``+ - *``, true division),
   compared with ``==``: equal to the target is +5 ``"Correct solution."``. The formula "fails to
   evaluate" on a trailing operator or ``(``, an unclosed ``(``, a leading zero (``08``), a non-ASCII
   digit, more than 200 nested brackets (CPython's parser limit) or a division by zero; then it
   earns +1 ``"partial solution."`` if it is a prefix of one of their solution strings
   (``games.solver.authors_solutions``).
7. **Otherwise** -1 with the longest token prefix found in their solution strings:
   ``"<prefix> is partially correct but the full formula does not match any solution."`` or
   ``"your formula does not match any solution."``; if the whole formula is one of their strings
   but its float value misses the target (``8/(3-8/3)`` = 23.999999999999993) the reward is **0**
   with Verify Info ``"."``.

The feedback turn is ``"You failed this trial because " + Verify Info`` (``""`` after +5).

Where their code raises (a JSON answer whose ``"formula"`` is a number, ``null`` or a list reaches
``re.findall``: TypeError), the package grades the answer as if the formula were missing: -3,
``"illegal characters."`` (what their reader gives for an unreadable formula). Answers are cut to
:data:`OFFICIAL_MAX_ANSWER_CHARS` characters first (their code has no limit; the cap bounds the
work on hostile input); a number of more than 4300 digits, which makes their ``int()`` raise
ValueError on Python >= 3.11, is an invalid number here.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from fractions import Fraction
from typing import NamedTuple

from sftrl_repro.games.cards import card_values, normalize_rank
from sftrl_repro.games.solver import authors_solutions
from sftrl_repro.prompts.gp import FEEDBACK_PREFIX, GPAnswer, gp_feedback, parse_gp_answer
from sftrl_repro.prompts.parsing import authors_fields, authors_str_to_list
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
#: Official mode reads at most this many characters of an answer (their code: no limit).
OFFICIAL_MAX_ANSWER_CHARS = 65_536
#: Verify Info of the authors' step limit (the 6th call of an episode; applied by the env).
STEP_LIMIT_INFO = "step_limit_reached"
#: Verify Info of a correct answer in the authors' code (no feedback turn follows it).
CORRECT_INFO = "Correct solution."
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
            ``'illegal_formula'``, ``'wrong_cards'``; official mode adds ``'formula_errors'``
            (token-sequence errors, with or without number penalties) and ``'partial_solution'``
            (+1); its ``'wrong_value'`` is -1, or 0 for one of their solution strings whose float
            value misses the target, and its ``'wrong_numbers'`` is -2 or -4).
        feedback: the user turn that follows a wrong answer (``"You failed this trial because ..."``);
            ``''`` for a correct one.
        cards_correct: whether the answer's ``"cards"`` equal the hand as a multiset (recognition
            accuracy; computed in both modalities, penalised only in vision). Paper mode reads
            the cards leniently (``'king'`` = ``'K'``); official mode uses the authors' check.
    """

    reward: float
    outcome: str
    feedback: str
    cards_correct: bool

    @property
    def verify_info(self) -> str:
        """The verifier's message without the feedback prefix (the authors' ``info['Verify Info']``)."""
        if self.outcome == "correct":
            return CORRECT_INFO
        return self.feedback[len(FEEDBACK_PREFIX) + 1:] if self.feedback.startswith(FEEDBACK_PREFIX) else self.feedback


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


# ------------------------------------------------------------------------------ official mode
_FORMULA_CHARS = re.compile(r"[\d+\-*/()]*")
_TOKENS = re.compile(r"\d+|[+\-*/()]")
#: CPython's parser refuses more nested brackets than this ("too many nested parentheses").
_MAX_NESTING = 200
#: Python's ``int()`` refuses longer digit strings (3.11+: ``sys.int_info.default_max_str_digits``).
_INT_MAX_DIGITS = 4300


def _starts_a_solution(text: str, solutions: tuple[str, ...]) -> bool:
    """Their ``any(sol.startswith(text) for sol in solutions)``, by bisection in the sorted tuple."""
    i = bisect_left(solutions, text)
    return i < len(solutions) and solutions[i].startswith(text)


def _number(token: str) -> tuple[object, str]:
    """(Counter key, text as their message prints it) of a digit run (any Unicode digits)."""
    if len(token) <= 64:
        value = int(token)
        return value, token if token.isascii() and token[0] != "0" else str(value)
    digits = token if token.isascii() else "".join(str(int(ch)) for ch in token)
    digits = digits.lstrip("0") or "0"
    if len(digits) <= _INT_MAX_DIGITS:
        return int(digits), digits
    return ("big", digits), digits  # their int() would raise ValueError; never a card value


def _float_op(op: str, a, b):
    """``a <op> b`` as Python evaluates it (ints stay ints, ``/`` gives a float); ``None`` for a
    division by zero (Python's ZeroDivisionError)."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return None if b == 0 else a / b


def _python_value(tokens: list[str]):
    """What ``eval`` gives for a formula whose token sequence passed the checks: a number, or ``None``.

    ``None`` where Python raises: SyntaxError (leading zero, non-ASCII digit, trailing operator or
    ``(``, unclosed ``(``, more than 200 nested brackets) or ZeroDivisionError. Values follow
    Python: ints stay ints under ``+ - *``, ``/`` gives a float, operators by precedence, left to right.
    """
    depth = 0
    for t in tokens:
        if t == "(":
            depth += 1
            if depth > _MAX_NESTING:
                return None
        elif t == ")":
            depth -= 1
        elif t[0] not in "+-*/" and (not t.isascii() or (len(t) > 1 and t[0] == "0")):
            return None
    if depth != 0 or tokens[-1] in ("+", "-", "*", "/", "("):
        return None
    # Shunting-yard with immediate evaluation (left associative, * and / before + and -).
    out: list = []
    ops: list[str] = []
    try:
        for t in tokens:
            if t == "(":
                ops.append(t)
                continue
            if t == ")":
                stop = "("
            elif t == "+" or t == "-":
                stop = "+-"  # pops every operator down to "("
            elif t == "*" or t == "/":
                stop = "*/"  # pops * and / only
            else:
                out.append(int(t))
                continue
            while ops and ops[-1] != "(" and (stop != "*/" or ops[-1] in "*/"):
                b = out.pop()
                value = _float_op(ops.pop(), out.pop(), b)
                if value is None:
                    return None  # ZeroDivisionError
                out.append(value)
            if t == ")":
                ops.pop()
            else:
                ops.append(t)
        while ops:
            b = out.pop()
            value = _float_op(ops.pop(), out.pop(), b)
            if value is None:
                return None
            out.append(value)
    except (OverflowError, ValueError, IndexError):  # not reachable for 4 card numbers; total anyway
        return None
    return out[0] if len(out) == 1 else None


_WRONG_CARDS_FEEDBACK = gp_feedback("you recognized wrong cards")
#: Formulas that can only break the bracket-balance rule: ``(* number )* (op (* number )*)*``.
_WELL_FORMED = re.compile(r"\(*\d+\)*(?:[+\-*/]\(*\d+\)*)*")
_DIGIT_RUNS = re.compile(r"\d+")
_BRACKETS = re.compile(r"[()]")


def _sequence_check(tokens: list[str]) -> tuple[list[str], list[str]]:
    """Their token-sequence rules (module docstring, step 4): (messages in token order, number tokens)."""
    messages: list[str] = []
    numbers: list[str] = []
    prev = ""  # "", "n" (number), "o" (operator), "(" or ")"
    open_parens = 0
    for t in tokens:
        c = t[0]
        if c in "+-*/":
            if prev != "n" and prev != ")":
                messages.append("invalid sequence after operator")
            prev = "o"
        elif c == "(":
            if prev == "" or prev == "o" or prev == "(":
                open_parens += 1
            else:
                messages.append("invalid sequence before '('")
            prev = "("
        elif c == ")":
            if prev == "n" or prev == ")":
                if open_parens:
                    open_parens -= 1
                else:
                    messages.append("unmatched closing parenthesis")
            else:
                messages.append("invalid sequence after ')'")
            prev = ")"
        else:
            if prev == "n" or prev == ")":
                messages.append("invalid sequence after number")
            numbers.append(t)
            prev = "n"
    return messages, numbers
_ILLEGAL = ["illegal characters"]


def _official(raw: object, cards: Sequence[str], values: list[int], *, target: int, modality: str) -> GPVerdict:
    text = raw[:OFFICIAL_MAX_ANSWER_CHARS] if isinstance(raw, str) else ""
    fields = authors_fields(text, ("formula", "cards"))
    cards_ok = sorted(authors_str_to_list(fields["cards"])) == sorted(cards)
    if modality == "vision" and not cards_ok:
        return GPVerdict(PAPER_REWARDS["wrong_cards"], "wrong_cards", _WRONG_CARDS_FEEDBACK, False)

    def verdict(outcome: str, reward: float, messages: list[str]) -> GPVerdict:
        feedback = "" if outcome == "correct" else gp_feedback(", ".join(messages) + ".")
        return GPVerdict(float(reward), outcome, feedback, cards_ok)

    formula = fields["formula"]
    if not isinstance(formula, str):
        # Their code raises TypeError here (re.findall on a non-string): graded as a missing formula.
        return verdict("illegal_formula", -3, _ILLEGAL)
    formula = formula.split("=", 1)[0]
    if not _FORMULA_CHARS.fullmatch(formula):
        return verdict("illegal_formula", -3, _ILLEGAL)
    tokens = _TOKENS.findall(formula)

    if _WELL_FORMED.fullmatch(formula):
        # Fast path: brackets only around numbers, operators only between them, so the one
        # possible sequence error is a ')' with no open '('.
        messages = []
        if ")" in formula:
            open_parens = 0
            for c in _BRACKETS.findall(formula):
                if c == "(":
                    open_parens += 1
                elif open_parens:
                    open_parens -= 1
                else:
                    messages.append("unmatched closing parenthesis")
        numbers = _DIGIT_RUNS.findall(formula)
    else:
        messages, numbers = _sequence_check(tokens)
    reward = -3 * len(messages)
    sequence_errors = bool(messages)

    # Numbers: -2 once for invalid (else overused) ones, -2 once for unused cards.
    used: dict = {}
    shown: dict = {}
    for t in numbers:
        key, text_value = _number(t)
        if key in used:
            used[key] += 1
        else:
            used[key] = 1
            shown[key] = text_value
    have: dict = {}
    for v in values:
        have[v] = have.get(v, 0) + 1
    invalid = [k for k in used if k not in have]
    if invalid:
        reward -= 2
        messages.append(f"you used invalid numbers: [{', '.join(shown[k] for k in invalid)}]")
    else:
        overused = [k for k in used if used[k] > have[k]]
        if overused:
            reward -= 2
            messages.append(f"you used numbers: [{', '.join(shown[k] for k in overused)}] too many times")
    unused = [k for k in have if have[k] > used.get(k, 0)]
    if unused:
        reward -= 2
        messages.append(f"you didn't use numbers: {unused}")
    if reward:
        return verdict("formula_errors" if sequence_errors else "wrong_numbers", reward, messages)

    value = _python_value(tokens)
    if value is not None and value == target:
        return GPVerdict(PAPER_REWARDS["correct"], "correct", "", cards_ok)
    solutions = authors_solutions(values, target)  # sorted; cached per multiset
    if value is None and _starts_a_solution(formula, solutions):
        return verdict("partial_solution", PARTIAL_SOLUTION_REWARD, ["partial solution"])
    register = ""
    for t in tokens:
        if not _starts_a_solution(register + t, solutions):
            if register:
                messages.append(f"{register} is partially correct but the full formula does not match any solution")
            else:
                messages.append("your formula does not match any solution")
            return verdict("wrong_value", PAPER_REWARDS["wrong_value"], messages)
        register += t
    # The whole formula is one of their solution strings but its float value misses the target.
    return verdict("wrong_value", 0.0, messages)


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
        answer: the model's raw answer text (paper mode parses it leniently, see
            ``prompts.gp.parse_gp_answer``, and also takes an already parsed
            :class:`~sftrl_repro.prompts.gp.GPAnswer`; official mode reads the text as the authors do).
        cards: the hand's rank names, e.g. ``['A', '5', 'J', '10']``.
        rule: ``'id'`` (J/Q/K = 10) or ``'ood'`` (J/Q/K = 11/12/13).
        target: the number to make (24 in the paper).
        modality: ``'language'`` or ``'vision'`` (vision also checks the recognised cards).
        mode: ``'paper'`` (the paper's table; default) or ``'official'`` (the authors' code).

    Returns:
        A :class:`GPVerdict` ``(reward, outcome, feedback, cards_correct)``. Never raises on any
        answer text (paper mode: cut to 4096 characters, formulas to 256; official mode: cut to
        :data:`OFFICIAL_MAX_ANSWER_CHARS`); a typical answer is graded in tens of microseconds.

    >>> verify_gp('{"cards": ["4","3","2","K"], "number": [4,3,2,10], "formula": "4*3+2+10=24"}',
    ...           ['4', '3', '2', 'K'], rule='id').outcome
    'correct'
    """
    if mode not in REWARD_MODES:
        raise ValueError(f"mode={mode!r} is not valid; choose one of: 'paper', 'official'")
    if modality not in MODALITIES:
        raise ValueError(f"modality={modality!r} is not valid; choose one of: 'language', 'vision'")
    values = card_values(cards, rule)  # raises KeyError for a bad rule/card: a caller's bug
    if mode == "official":
        if isinstance(answer, GPAnswer):
            raise TypeError("mode='official' grades the raw answer text (the authors' parser); pass a str")
        return _official(answer, cards, values, target=target, modality=modality)
    parsed = answer if isinstance(answer, GPAnswer) else parse_gp_answer(answer)
    cards_ok = cards_match(parsed.cards, cards)
    return _verify_paper(parsed, cards, values, target=target, modality=modality, cards_ok=cards_ok)
