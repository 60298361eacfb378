"""Safe arithmetic for model-written formulas: tokenize, validate, evaluate (no ``eval``, ever).

Model output is hostile input. Everything here is

* total: any ``str`` gives a result, never an exception;
* bounded: a formula longer than :data:`MAX_FORMULA_CHARS` is rejected before it is scanned, so
  numbers have at most that many digits in total and exact rational results stay small;
* iterative: no recursion, so ten thousand nested brackets cost what ten do.

Grammar of a legal formula (``paper`` mode)::

    formula := expr [ '=' anything ]          (the tail after '=' is ignored)
    expr    := term   (('+' | '-') term)*
    term    := factor (('*' | '/') factor)*
    factor  := INTEGER | '(' expr ')'         (INTEGER: ASCII digits; spaces allowed between tokens)

Unary minus, decimals, ``**``, ``^`` and square brackets are illegal. Digits run together form one
number (``12`` is twelve, never a 1 and a 2).
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

#: Formulas (before the ``=`` tail) longer than this are illegal; real answers are ~10-30 chars.
MAX_FORMULA_CHARS = 256

_DIGITS = frozenset("0123456789")
_OPERATORS = frozenset("+-*/")
_SPACES = frozenset(" \t")
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}

# Token kinds.
NUM, OP, LP, RP = "num", "op", "(", ")"


class Token(NamedTuple):
    """One lexical token: ``kind`` in {'num', 'op', '(', ')'}; ``text`` its characters."""

    kind: str
    text: str


def strip_tail(formula: str) -> str:
    """The part of a formula before its first ``=`` (``'4*6=24'`` -> ``'4*6'``)."""
    return formula.split("=", 1)[0]


def tokenize(expr: str, *, allow_spaces: bool = True) -> list[Token] | None:
    """Split ``expr`` into tokens, or ``None`` if it holds any other character or is too long.

    >>> [t.text for t in tokenize("(10 - 4)*4")]
    ['(', '10', '-', '4', ')', '*', '4']
    """
    if not isinstance(expr, str) or len(expr) > MAX_FORMULA_CHARS:
        return None
    tokens: list[Token] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c in _DIGITS:
            j = i + 1
            while j < n and expr[j] in _DIGITS:
                j += 1
            tokens.append(Token(NUM, expr[i:j]))
            i = j
            continue
        if c in _OPERATORS:
            tokens.append(Token(OP, c))
        elif c == "(":
            tokens.append(Token(LP, c))
        elif c == ")":
            tokens.append(Token(RP, c))
        elif not (allow_spaces and c in _SPACES):
            return None
        i += 1
    return tokens


# Which token may follow which: the grammar above as a two-state machine, read pairwise.
_MAY_START = frozenset({NUM, LP})
_MAY_END = frozenset({NUM, RP})
_MAY_FOLLOW = {NUM: frozenset({OP, RP}), OP: frozenset({NUM, LP}), LP: frozenset({NUM, LP}),
               RP: frozenset({OP, RP})}


def sequence_errors(tokens: list[Token]) -> int:
    """How many adjacent-token rules a token list breaks (bad start, bad pair, bad end).

    Bracket balance is not counted here (see :func:`is_balanced`). An empty list counts one error.
    """
    if not tokens:
        return 1
    errors = tokens[0].kind not in _MAY_START
    for prev, cur in zip(tokens, tokens[1:]):
        errors += cur.kind not in _MAY_FOLLOW[prev.kind]
    errors += tokens[-1].kind not in _MAY_END
    return int(errors)


def is_balanced(tokens: list[Token]) -> bool:
    """Whether brackets pair up (depth never negative, zero at the end)."""
    depth = 0
    for t in tokens:
        if t.kind == LP:
            depth += 1
        elif t.kind == RP:
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def parse_formula(formula: object) -> list[Token] | None:
    """Tokens of a *legal* formula (grammar in the module docstring), or ``None`` if illegal.

    The ``=...`` tail is dropped first; spaces between tokens are allowed.
    """
    if not isinstance(formula, str):
        return None
    tokens = tokenize(strip_tail(formula))
    if tokens is None or sequence_errors(tokens) or not is_balanced(tokens):
        return None
    return tokens


def numbers_in(tokens: list[Token]) -> list[int]:
    """The integers of a token list, in order (``'12'`` is one number)."""
    return [int(t.text) for t in tokens if t.kind == NUM]


def _to_rpn(tokens: list[Token]) -> list[Token]:
    """Shunting-yard: infix tokens of a legal formula -> reverse Polish notation (left-assoc ops)."""
    out: list[Token] = []
    stack: list[Token] = []
    for t in tokens:
        if t.kind == NUM:
            out.append(t)
        elif t.kind == OP:
            while stack and stack[-1].kind == OP and _PRECEDENCE[stack[-1].text] >= _PRECEDENCE[t.text]:
                out.append(stack.pop())
            stack.append(t)
        elif t.kind == LP:
            stack.append(t)
        else:  # RP: pop to the matching '('
            while stack[-1].kind != LP:
                out.append(stack.pop())
            stack.pop()
    out.extend(reversed(stack))
    return out


class DivisionByZero(Exception):
    """Raised internally by :func:`_apply`; never escapes this module."""


def _apply(op: str, a, b, exact: bool):
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        raise DivisionByZero
    if exact:
        # Stay in Python ints while divisions are exact: several times faster than Fractions,
        # and Fraction arithmetic takes over (exactly) once a quotient is not whole.
        if isinstance(a, int) and isinstance(b, int) and a % b == 0:
            return a // b
        return Fraction(a) / b
    return a / b


def evaluate(tokens: list[Token], *, exact: bool = True) -> Fraction | float | None:
    """Value of a legal formula's tokens, or ``None`` on division by zero.

    ``exact=True`` computes with :class:`~fractions.Fraction` (the package's verifier);
    ``exact=False`` with Python floats in the same left-to-right order as Python's own evaluation
    of the formula (the authors' verifier), so ``8/(3-8/3)`` gives ``23.999999999999993``.
    ``tokens`` must come from :func:`parse_formula` (or be balanced with no sequence errors).
    """
    number = int if exact else float
    stack: list = []
    try:
        for t in _to_rpn(tokens):
            if t.kind == NUM:
                stack.append(number(int(t.text)))
            else:
                b = stack.pop()
                a = stack.pop()
                stack.append(_apply(t.text, a, b, exact))
    except (DivisionByZero, OverflowError):
        return None
    if len(stack) != 1:
        return None
    return Fraction(stack[0]) if exact else stack[0]


def evaluate_formula(formula: object) -> Fraction | None:
    """Exact value of a legal formula string, or ``None`` if illegal or dividing by zero.

    >>> evaluate_formula("8/(3-8/3)=24")
    Fraction(24, 1)
    """
    tokens = parse_formula(formula)
    return None if tokens is None else evaluate(tokens)
