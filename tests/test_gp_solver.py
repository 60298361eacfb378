"""The exact solver: the solvable counts (1236 / 1362), soundness of every formula, brute-force agreement."""

import itertools
import random
from fractions import Fraction

import pytest

from sftrl_repro.envs import solver
from sftrl_repro.games import solver as gsolver
from sftrl_repro.games.cards import FACE_RANKS, RANKS, RULES
from sftrl_repro.rewards.arith import evaluate_formula, numbers_in, parse_formula

MULTISETS = list(itertools.combinations_with_replacement(RANKS, 4))


def _values(hand, rule):
    return [RULES[rule][r] for r in hand]


def test_there_are_1820_rank_multisets():
    assert len(MULTISETS) == 1820


@pytest.mark.parametrize("rule, solvable, with_face, solvable_with_face",
                         [("id", 1236, 1105, 670), ("ood", 1362, 1105, 796)])
def test_solvable_counts_match_paper(rule, solvable, with_face, solvable_with_face):
    # Exact counts, independently computed (the authors' solve() gives the same: tests/golden/README.md).
    flags = [solver.is_solvable(_values(h, rule)) for h in MULTISETS]
    face = [any(r in FACE_RANKS for r in h) for h in MULTISETS]
    assert sum(flags) == solvable
    assert sum(face) == with_face
    assert sum(f for f, fc in zip(flags, face) if fc) == solvable_with_face


def _brute_force_solvable(numbers, target):
    """Naive reference: every permutation x operator triple x the 5 bracketings, exact rationals."""
    ops = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b,
           lambda a, b: a / b if b != 0 else None]

    def ap(f, a, b):
        return None if a is None or b is None else f(a, b)

    for a, b, c, d in itertools.permutations([Fraction(n) for n in numbers]):
        for f, g, h in itertools.product(ops, repeat=3):
            shapes = [ap(h, ap(g, ap(f, a, b), c), d), ap(h, ap(f, a, b), ap(g, c, d)),
                      ap(h, ap(g, a, ap(f, b, c)), d), ap(h, a, ap(g, ap(f, b, c), d)),
                      ap(h, a, ap(g, b, ap(f, c, d)))]
            if any(v is not None and v == target for v in shapes):
                return True
    return False


@pytest.mark.parametrize("target", [24, 10, 0, 1])
def test_agrees_with_brute_force(target):
    rng = random.Random(target)
    for hand in rng.sample(MULTISETS, 120):
        values = _values(hand, "ood")
        assert solver.is_solvable(values, target) == _brute_force_solvable(values, target), (values, target)


@pytest.mark.parametrize("rule", ["id", "ood"])
def test_every_formula_is_legal_uses_the_numbers_once_and_hits_the_target(rule):
    rng = random.Random(1)
    for hand in rng.sample(MULTISETS, 200):
        values = _values(hand, rule)
        formulas = solver.solve(values)
        assert len(formulas) == len(set(formulas))
        for f in formulas:
            tokens = parse_formula(f)
            assert tokens is not None, f
            assert sorted(numbers_in(tokens)) == sorted(values), f
            assert evaluate_formula(f) == 24, f


def test_canonical_forms_merge_commutative_and_associative_variants():
    # 1,2,3,4: (1+2+3)*4, 1*2*3*4, 2*3*4/1 and (1+3)*(2+4) are the only essentially different ways.
    assert sorted(solver.solve([1, 2, 3, 4])) == sorted(["1*2*3*4", "2*3*4/1", "(1+2+3)*4", "(1+3)*(2+4)"])
    assert solver.solve([3, 3, 8, 8]) == ["8/(3-8/3)"]
    assert solver.solve([4, 3, 2, 1]) == solver.solve([1, 2, 3, 4])  # order does not matter


def test_unsolvable_and_helpers():
    assert solver.solve([1, 1, 1, 1]) == []
    assert not solver.is_solvable([1, 1, 1, 1])
    assert solver.one_solution([1, 1, 1, 1]) is None
    assert solver.one_solution([4, 4, 10, 10]) == "(10*10-4)/4"
    assert solver.solve([24]) == ["24"]
    assert solver.solve([6, 4], 24) == ["4*6"]


def test_zero_target_and_bad_sizes():
    assert "1-1+2-2" in solver.solve([1, 1, 2, 2], 0) or solver.is_solvable([1, 1, 2, 2], 0)
    assert all(evaluate_formula(f) == 0 for f in solver.solve([1, 1, 2, 2], 0))
    with pytest.raises(ValueError, match="1 to 6 numbers"):
        solver.solve([])


def test_cold_cache_gives_same_answers():
    before = solver.solve([5, 5, 5, 1])
    solver.clear_cache()
    assert solver.solve([5, 5, 5, 1]) == before == ["5*(5-1/5)"]


# ------------------------------------------------------------------ the authors' solution list
def test_authors_solutions_float_screen_is_exact_for_card_values():
    # games.solver decides "value == target" in floats for numbers 1..13. Exhaustively, over all
    # 13**4 orderings and the 448 programs: float error tiny, non-integers far from integers, and
    # NaN exactly where an exact division by zero occurs (so no integer target can be misjudged).
    import numpy as np

    orderings = list(itertools.product(range(1, 14), repeat=4))
    max_err, min_dist, nan_mismatch = 0.0, 1.0, 0
    for k in range(0, len(orderings), 4096):
        perms = orderings[k:k + 4096]
        floats = gsolver._float_values(perms)
        n, d = gsolver._exact_roots(perms)  # exact (the Fraction reference test below checks it)
        valid = d != 0
        nan_mismatch += int((valid == np.isnan(floats)).sum())
        n, d, f = n[valid] * np.sign(d[valid]), np.abs(d[valid]), floats[valid]
        max_err = max(max_err, float(np.max(np.abs(f - n / d))))
        rem = np.mod(n, d)
        frac = rem != 0
        min_dist = min(min_dist, float(np.min(np.minimum(rem[frac], d[frac] - rem[frac]) / d[frac])))
    assert nan_mismatch == 0
    assert max_err < 1e-9 and min_dist > 4e-4
    assert max_err < gsolver._CARD_TOLERANCE < min_dist - max_err


def test_authors_solutions_equal_an_exact_enumeration():
    # A slow, obviously exact reference (Fractions) on a sample of hands and targets.
    rng = random.Random(5)
    for values in [(3, 3, 8, 8), (1, 5, 5, 5), (1, 1, 1, 1)] + [tuple(rng.randint(1, 13) for _ in range(4))
                                                              for _ in range(12)]:
        for target in (24, 1, 0, 10):
            want = set()
            for perm in set(itertools.permutations(values)):
                for ops in itertools.product("+-*/", repeat=3):
                    for root, pieces in [p for p in gsolver._AUTHORS_PROGRAMS
                                         if tuple(x for x in p[1] if isinstance(x, str) and x in "+-*/") == ops]:
                        exact = gsolver._exact_value(root, perm)
                        if exact is not None and exact[0] == target * exact[1]:
                            want.add("".join(str(perm[i]) if isinstance(i, int) else i for i in pieces))
            assert set(gsolver.authors_solutions(values, target)) == want, (values, target)
