"""Exact solver of the "make T from these numbers" puzzle (GeneralPoints, paper Sec. 4.1).

Two solvers:

* :func:`solve` / :func:`is_solvable` / :func:`one_solution`: every distinct formula in canonical
  form (the package's own; below);
* :func:`authors_solutions`: the authors' solution *strings* (LeslieTrue/SFTvsRL @ 5a6ea55,
  ``GeneralPointEnv_oneline.solve``), which their verifier matches answers against; see the comment
  above that function. Both accept exactly the same hands (1236 / 1362 of the 1820 rank multisets
  for target 24; also checked for other targets).

In :func:`solve` every value is an exact rational (:class:`fractions.Fraction`); nothing is
evaluated as a float. The search is a dynamic programme over sub-multisets, memoised across hands:

* ``_expressions(sub)`` maps every value reachable from the sub-multiset ``sub`` (a sorted tuple)
  to the set of *canonical* expressions that reach it, each number used exactly once;
* for the full hand, a split into two parts ``(A, B)`` reaches the target if some value ``a`` of A
  meets a value ``b`` of B with ``a op b == T``; instead of combining every pair, the partner ``b``
  is looked up by inverting ``op`` (``b = T - a``, ``a - T``, ``T / a`` ...), a hash lookup.

Sub-multisets of sizes 1..n-1 are shared by many hands (455 triples cover all 1820 four-card
hands), so solving the whole hand space costs little more than solving the triples once.

Canonical form: sums and products are flattened and their operands sorted, so ``a+b``/``b+a``,
``(a+b)+c``/``a+(b+c)`` and ``a-(b-c)``/``a+c-b`` are one formula; brackets appear only where
needed. "Distinct formulas" means distinct canonical forms.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from fractions import Fraction
from functools import lru_cache

import numpy as np

# An expression tree in canonical form, hashable:
#   ("n", k)               a number k
#   ("s", plus, minus)     sum: sum(plus) - sum(minus); operands are never sums, sorted tuples
#   ("p", num, den)        product: prod(num) / prod(den); operands are never products, sorted
Expr = tuple


def _sort_key(e: Expr) -> str:
    return render(e)


def _parts(e: Expr, kind: str) -> tuple[tuple[Expr, ...], tuple[Expr, ...]]:
    """Operands of ``e`` seen as a sum (``kind='s'``) or product (``'p'``): (positive, negative)."""
    if e[0] == kind:
        return e[1], e[2]
    return (e,), ()


def _make(kind: str, pos: Iterable[Expr], neg: Iterable[Expr]) -> Expr:
    return (kind, tuple(sorted(pos, key=_sort_key)), tuple(sorted(neg, key=_sort_key)))


def _add(x: Expr, y: Expr) -> Expr:
    (xp, xn), (yp, yn) = _parts(x, "s"), _parts(y, "s")
    return _make("s", xp + yp, xn + yn)


def _sub(x: Expr, y: Expr) -> Expr:
    (xp, xn), (yp, yn) = _parts(x, "s"), _parts(y, "s")
    return _make("s", xp + yn, xn + yp)


def _mul(x: Expr, y: Expr) -> Expr:
    (xp, xn), (yp, yn) = _parts(x, "p"), _parts(y, "p")
    return _make("p", xp + yp, xn + yn)


def _div(x: Expr, y: Expr) -> Expr:
    (xp, xn), (yp, yn) = _parts(x, "p"), _parts(y, "p")
    return _make("p", xp + yn, xn + yp)


@lru_cache(maxsize=None)
def render(e: Expr) -> str:
    """The canonical expression as a formula string with minimal brackets (no spaces)."""
    kind = e[0]
    if kind == "n":
        return str(e[1])
    if kind == "s":
        # Operands of a sum are numbers or products: never bracketed.
        return "+".join(render(t) for t in e[1]) + "".join("-" + render(t) for t in e[2])
    # Operands of a product are numbers or sums: sums need brackets.
    def factor(t: Expr) -> str:
        return f"({render(t)})" if t[0] == "s" else render(t)

    return "*".join(factor(t) for t in e[1]) + "".join("/" + factor(t) for t in e[2])


def _combine(xs: dict[Fraction, set], ys: dict[Fraction, set], out: dict[Fraction, set]) -> None:
    """All ``x op y`` (both orders for ``-`` and ``/``) of values of two disjoint parts, into ``out``."""
    for a, ea in xs.items():
        for b, eb in ys.items():
            results = [(a + b, _add), (a - b, _sub), (b - a, None), (a * b, _mul)]
            for value, op in results:
                bucket = out.setdefault(value, set())
                for x in ea:
                    for y in eb:
                        bucket.add(op(x, y) if op is not None else _sub(y, x))
            if b != 0:
                bucket = out.setdefault(a / b, set())
                for x in ea:
                    for y in eb:
                        bucket.add(_div(x, y))
            if a != 0:
                bucket = out.setdefault(b / a, set())
                for x in ea:
                    for y in eb:
                        bucket.add(_div(y, x))


def _splits(sub: tuple[int, ...]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Distinct unordered splits of a sorted multiset into two non-empty sorted sub-multisets."""
    n = len(sub)
    seen: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
    out = []
    for mask in range(1, (1 << n) - 1):
        if not mask & 1:  # fix element 0 on the left: each unordered split once (up to multiset)
            continue
        left = tuple(sub[i] for i in range(n) if mask >> i & 1)
        right = tuple(sub[i] for i in range(n) if not mask >> i & 1)
        key = (left, right)
        if key not in seen:
            seen.add(key)
            out.append(key)
    return out


@lru_cache(maxsize=None)
def _expressions(sub: tuple[int, ...]) -> dict[Fraction, frozenset]:
    """Every value reachable from the sorted multiset ``sub`` -> its canonical expressions."""
    if len(sub) == 1:
        return {Fraction(sub[0]): frozenset({("n", sub[0])})}
    out: dict[Fraction, set] = {}
    for left, right in _splits(sub):
        _combine(_expressions(left), _expressions(right), out)
    return {v: frozenset(es) for v, es in out.items()}


def _partner_values(a: Fraction, target: Fraction, b_values: dict) -> list[tuple[Fraction, str]]:
    """Values ``b`` of the other part with ``a op b == target``, and the op, by inverting each op."""
    hits = []
    candidates = [(target - a, "a+b"), (a - target, "a-b"), (target + a, "b-a")]
    if a != 0:
        candidates.append((target / a, "a*b"))
        candidates.append((target * a, "b/a"))
    elif target == 0:  # 0 * b == 0 for every b
        candidates.extend((b, "a*b") for b in b_values)
    if target != 0:
        candidates.append((a / target, "a/b"))
    elif a == 0:  # 0 / b == 0 for every non-zero b
        candidates.extend((b, "a/b") for b in b_values if b != 0)
    for b, op in candidates:
        if b in b_values and not (op == "a/b" and b == 0):
            hits.append((b, op))
    return hits


_OPS = {"a+b": lambda x, y: _add(x, y), "a-b": lambda x, y: _sub(x, y), "b-a": lambda x, y: _sub(y, x),
        "a*b": lambda x, y: _mul(x, y), "a/b": lambda x, y: _div(x, y), "b/a": lambda x, y: _div(y, x)}


@lru_cache(maxsize=None)
def _solve_sorted(numbers: tuple[int, ...], target: int) -> tuple[str, ...]:
    if len(numbers) == 1:
        return (str(numbers[0]),) if numbers[0] == target else ()
    goal = Fraction(target)
    found: set[Expr] = set()
    for left, right in _splits(numbers):
        xs, ys = _expressions(left), _expressions(right)
        if len(xs) > len(ys):  # iterate over the smaller side, look up in the larger
            xs, ys = ys, xs
        for a, ea in xs.items():
            for b, op in _partner_values(a, goal, ys):
                make = _OPS[op]
                for x in ea:
                    for y in ys[b]:
                        found.add(make(x, y))
    return tuple(sorted({render(e) for e in found}, key=lambda s: (len(s), s)))


def _check_numbers(numbers: Sequence[int]) -> tuple[int, ...]:
    values = tuple(sorted(int(n) for n in numbers))
    if not 1 <= len(values) <= 6:
        raise ValueError(f"solve() takes 1 to 6 numbers, got {len(values)}")
    return values


def solve(numbers: Sequence[int], target: int = 24) -> list[str]:
    """Every distinct formula (canonical form, see the module docstring) that makes ``target``.

    Each number is used exactly once with ``+ - * /`` and brackets, in exact rational arithmetic.
    Results are cached per multiset, so repeated hands cost a dictionary lookup.

    Args:
        numbers: the card values (any order; 1 to 6 of them).
        target: the integer to reach.

    Returns:
        The formulas without ``=target``, shortest first (ties alphabetical); ``[]`` if unsolvable.

    >>> solve([4, 4, 10, 10])
    ['(10*10-4)/4']
    """
    return list(_solve_sorted(_check_numbers(numbers), int(target)))


def is_solvable(numbers: Sequence[int], target: int = 24) -> bool:
    """Whether ``numbers`` can make ``target`` (cached)."""
    return bool(_solve_sorted(_check_numbers(numbers), int(target)))


def one_solution(numbers: Sequence[int], target: int = 24) -> str | None:
    """The first formula of :func:`solve` (shortest, then alphabetical), or ``None`` if unsolvable."""
    found = _solve_sorted(_check_numbers(numbers), int(target))
    return found[0] if found else None


def clear_cache() -> None:
    """Forget every memoised result (used by the cold-solve benchmark)."""
    _solve_sorted.cache_clear()
    _expressions.cache_clear()
    render.cache_clear()


# ------------------------------------------------------------------ the authors' solution list
# The authors' environment (LeslieTrue/SFTvsRL @ 5a6ea55, ``GeneralPointEnv_oneline.solve``, from
# Rosetta Code's "24 game/Solve") lists solutions as *strings*, and its verifier compares answers
# with those strings (prefix tests for its "+1 partial solution" and its "... is partially
# correct" messages). The list is reproduced here as a separate function, without ``eval``:
#
# * every distinct ordering of the numbers (``a, b, c, d``), every operator triple from
#   ``+-*/`` (``o1, o2, o3``), and 7 bracket placements:
#   ``a o1 b o2 c o3 d``, ``(a o1 b) o2 c o3 d``, ``(a o1 b o2 c) o3 d``, ``a o1 (b o2 c) o3 d``,
#   ``a o1 (b o2 c o3 d)``, ``a o1 b o2 (c o3 d)``, ``(a o1 b) o2 (c o3 d)``;
# * a string is kept when its value, under Python's precedence and left associativity, equals the
#   target exactly (their code evaluates with ints, or Fractions when a ``/`` occurs; a division by
#   zero skips the string). Here all 448 (placement, operators) programs are evaluated for all
#   orderings at once with numpy: in floats for card values 1..13 (exhaustively shown exact, see
#   ``_CARD_TOLERANCE``), in int64 fractions for other numbers up to 100, else a float screen
#   confirmed in Python integers;
# * numbers are written as plain decimal integers, no spaces, no ``=target`` tail.
#
# Their list is shuffled with Python's global ``random``; the order never matters to their
# verifier (it only asks whether *any* string starts with a given text), so this one is sorted.

_AUTHORS_PATTERNS = (  # token templates: 0-3 = the number slots, "o0".."o2" = the operators
    (0, "o0", 1, "o1", 2, "o2", 3),
    ("(", 0, "o0", 1, ")", "o1", 2, "o2", 3),
    ("(", 0, "o0", 1, "o1", 2, ")", "o2", 3),
    (0, "o0", "(", 1, "o1", 2, ")", "o2", 3),
    (0, "o0", "(", 1, "o1", 2, "o2", 3, ")"),
    (0, "o0", 1, "o1", "(", 2, "o2", 3, ")"),
    ("(", 0, "o0", 1, ")", "o1", "(", 2, "o2", 3, ")"),
)
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}


def _parse_template(tokens: tuple) -> tuple:
    """Expression tree ``(op, left, right)`` / slot index of a template, by Python's precedence."""
    out: list = []
    stack: list = []

    def reduce_top() -> None:
        op = stack.pop()
        right = out.pop()
        out.append((op, out.pop(), right))

    for t in tokens:
        if isinstance(t, int):
            out.append(t)
        elif t == "(":
            stack.append(t)
        elif t == ")":
            while stack[-1] != "(":
                reduce_top()
            stack.pop()
        else:
            while stack and stack[-1] != "(" and _PREC[stack[-1]] >= _PREC[t]:
                reduce_top()
            stack.append(t)
    while stack:
        reduce_top()
    return out[0]


def _build_authors_programs():
    """Every (template, operator triple): its text pieces and its tree as a node program.

    Returns ``(nodes, programs)``: ``nodes`` lists distinct sub-trees bottom-up as
    ``(op, left_node, right_node)`` over node ids (ids 0-3 are the four number slots);
    ``programs`` lists ``(root_node, pieces)`` where ``pieces`` rebuilds the string (ints are slots).
    """
    ids: dict = {0: 0, 1: 1, 2: 2, 3: 3}
    nodes: list = []

    def node_id(tree) -> int:
        if isinstance(tree, int):
            return tree
        key = (tree[0], node_id(tree[1]), node_id(tree[2]))
        if key not in ids:
            ids[key] = 4 + len(nodes)
            nodes.append(key)
        return ids[key]

    programs = []
    for ops in itertools.product("+-*/", repeat=3):
        for pattern in _AUTHORS_PATTERNS:
            tokens = tuple(ops[int(t[1])] if isinstance(t, str) and t[0] == "o" else t for t in pattern)
            programs.append((node_id(_parse_template(tokens)), tokens))
    return tuple(nodes), tuple(programs)


_AUTHORS_NODES, _AUTHORS_PROGRAMS = _build_authors_programs()


def _node_levels():
    """Node ids grouped by (depth, operator), bottom-up: each group is one vectorised numpy operation."""
    depth = {i: 0 for i in range(4)}
    groups: dict = {}
    for k, (op, left, right) in enumerate(_AUTHORS_NODES):
        node = 4 + k
        depth[node] = 1 + max(depth[left], depth[right])
        groups.setdefault((depth[node], op), []).append((node, left, right))
    out = []
    for key in sorted(groups):
        nodes, lefts, rights = zip(*groups[key])
        out.append((key[1], np.array(nodes), np.array(lefts), np.array(rights)))
    return tuple(out)


_AUTHORS_LEVELS = _node_levels()
_AUTHORS_ROOTS = np.array([root for root, _ in _AUTHORS_PROGRAMS])
#: Each program's string as a format template: ``"({0}+{1})*{2}-{3}"``.
_AUTHORS_FORMATS = tuple("".join("{%d}" % p if isinstance(p, int) else p for p in pieces)
                         for _, pieces in _AUTHORS_PROGRAMS)


def _exact_value(node: int, perm: tuple[int, ...]) -> tuple[int, int] | None:
    """Exact value of ``node`` for the numbers ``perm`` as an unreduced fraction ``(num, den)``.

    ``None`` on a division by zero anywhere in the sub-tree (their ``eval`` raises and skips it).
    """
    if node < 4:
        return perm[node], 1
    op, left, right = _AUTHORS_NODES[node - 4]
    x, y = _exact_value(left, perm), _exact_value(right, perm)
    if x is None or y is None:
        return None
    (n1, d1), (n2, d2) = x, y
    if op == "+":
        return n1 * d2 + n2 * d1, d1 * d2
    if op == "-":
        return n1 * d2 - n2 * d1, d1 * d2
    if op == "*":
        return n1 * n2, d1 * d2
    if n2 == 0:
        return None
    return n1 * d2, d1 * n2


def _exact_roots(perms: list[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """``(num, den)[program, perm]``: each program's exact value as an unreduced int64 fraction
    (``den == 0`` marks a division by zero somewhere in the program).

    Every node of every program for every ordering at once. With numbers of magnitude <= 100 a
    4-leaf value's numerator and denominator stay below ``8 * 100**4``.
    """
    n_nodes = 4 + len(_AUTHORS_NODES)
    num = np.empty((n_nodes, len(perms)), dtype=np.int64)
    den = np.ones((n_nodes, len(perms)), dtype=np.int64)  # 0 marks a division by zero below
    num[:4] = np.array(perms, dtype=np.int64).T
    for op, nodes, lefts, rights in _AUTHORS_LEVELS:
        n1, d1, n2, d2 = num[lefts], den[lefts], num[rights], den[rights]
        if op == "+":
            num[nodes], den[nodes] = n1 * d2 + n2 * d1, d1 * d2
        elif op == "-":
            num[nodes], den[nodes] = n1 * d2 - n2 * d1, d1 * d2
        elif op == "*":
            num[nodes], den[nodes] = n1 * n2, d1 * d2
        else:
            num[nodes] = n1 * d2
            den[nodes] = np.where((d1 == 0) | (d2 == 0), 0, d1 * n2)
    return num[_AUTHORS_ROOTS], den[_AUTHORS_ROOTS]


def _exact_hits(perms: list[tuple[int, ...]], target: int) -> np.ndarray:
    """``hits[program, perm]``: the program's exact value equals ``target`` (no division by zero);
    ``target * den`` fits in int64 for ``|target| <= 10**9`` (see :func:`_exact_roots`)."""
    roots_num, roots_den = _exact_roots(perms)
    return (roots_den != 0) & (roots_num == target * roots_den)


def _depth_groups():
    """Per depth: (node ids, left ids, right ids, index arrays of the nodes per operator)."""
    depth = {i: 0 for i in range(4)}
    by_depth: dict = {}
    for k, (op, left, right) in enumerate(_AUTHORS_NODES):
        node = 4 + k
        depth[node] = 1 + max(depth[left], depth[right])
        by_depth.setdefault(depth[node], []).append((node, left, right, op))
    out = []
    for d in sorted(by_depth):
        nodes, lefts, rights, ops = zip(*by_depth[d])
        ops = np.array(ops)
        out.append((np.array(nodes), np.array(lefts), np.array(rights),
                    *(np.flatnonzero(ops == op) for op in "+-*/")))
    return tuple(out)


_AUTHORS_DEPTHS = _depth_groups()


def _float_values(perms: list[tuple[int, ...]]) -> np.ndarray:
    """Float value of every program's root for every ordering (NaN after a division by zero)."""
    values = np.empty((4 + len(_AUTHORS_NODES), len(perms)))
    values[:4] = np.array(perms, dtype=float).T
    with np.errstate(all="ignore"):
        for nodes, lefts, rights, add, sub, mul, div in _AUTHORS_DEPTHS:
            a, b = values[lefts], values[rights]
            out = np.empty_like(a)
            out[add] = a[add] + b[add]
            out[sub] = a[sub] - b[sub]
            out[mul] = a[mul] * b[mul]
            q = a[div] / b[div]
            q[b[div] == 0] = np.nan
            out[div] = q
            values[nodes] = out
    return values[_AUTHORS_ROOTS]


#: For card values (1..13) floats decide exactly: over all 13**4 orderings and all 448 programs,
#: the float error is below 2e-15 relative (6e-11 absolute), a non-integer value is at least
#: 4.5e-4 from every integer, and NaN appears exactly where a divisor is 0 (checked exhaustively
#: in tests/test_gp_solver.py), so ``|value - target| <= 1e-6`` is ``value == target``.
_CARD_TOLERANCE = 1e-6


def _screened_hits(perms: list[tuple[int, ...]], target: int) -> np.ndarray:
    """Hits for numbers outside 1..13 and large ones: a float screen, near hits confirmed exactly."""
    hits = np.abs(_float_values(perms) - target) <= 1e-6 * max(1.0, abs(target))
    for program, p in zip(*np.nonzero(hits)):
        exact = _exact_value(_AUTHORS_PROGRAMS[program][0], perms[p])
        hits[program, p] = exact is not None and exact[0] == target * exact[1]
    return hits


@lru_cache(maxsize=None)
def _authors_solutions_sorted(numbers: tuple[int, ...], target: int) -> tuple[str, ...]:
    perms = sorted(set(itertools.permutations(numbers)))
    if all(1 <= n <= 13 for n in numbers):
        hits = np.abs(_float_values(perms) - target) <= _CARD_TOLERANCE
    elif max(abs(n) for n in numbers) <= 100 and abs(target) <= 10**9:
        hits = _exact_hits(perms, target)
    else:
        hits = _screened_hits(perms, target)
    found = {_AUTHORS_FORMATS[program].format(*perms[p]) for program, p in zip(*np.nonzero(hits))}
    return tuple(sorted(found))


def authors_solutions(numbers: Sequence[int], target: int = 24) -> tuple[str, ...]:
    """The authors' solution strings for a hand of 4 numbers (see the comment above this function).

    These are the strings the authors' verifier matches answers against (the "+1 partial
    solution" and the "... is partially correct" messages); they differ from :func:`solve`'s
    canonical forms: every ordering and both bracketings are listed (``(1+2+3)*4``,
    ``(3+2+1)*4``, ...), and no formula needs nested brackets. Cached per multiset.

    >>> authors_solutions([3, 3, 8, 8])
    ('8/(3-8/3)',)
    """
    values = tuple(sorted(int(n) for n in numbers))
    if len(values) != 4:
        raise ValueError(f"authors_solutions() takes 4 numbers, got {len(values)}")
    return _authors_solutions_sorted(values, int(target))
