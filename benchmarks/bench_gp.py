"""GeneralPoints benchmarks (issue: GeneralPoints end to end). Run: ``python benchmarks/bench_gp.py``.

1. Cold-solving all 1820 rank multisets under both rules (every distinct formula, exact rationals).
2. Verifier throughput over a mix of correct, wrong and malformed answers (both reward modes).
3. Environment reset + step against a naive environment that re-solves each dealt hand by brute
   force (permutations x operators x bracketings, exact rationals) at every reset, as the
   authors' environment does; same seeds, same answers, in one run.

Everything runs in this one process on one core (CPython is single-threaded here).
"""

from __future__ import annotations

import itertools
import random
import sys
import time
from fractions import Fraction

import numpy as np

from sftrl_repro.envs import solver
from sftrl_repro.games.cards import RANKS, card_values
from sftrl_repro.envs.general_points import GeneralPointsEnv
from sftrl_repro.prompts.gp import gp_answer
from sftrl_repro.rewards.gp import verify_gp


def bench_cold_solve() -> float:
    solver.clear_cache()
    hands = list(itertools.combinations_with_replacement(RANKS, 4))
    start = time.perf_counter()
    solved = {rule: sum(bool(solver.solve(card_values(h, rule))) for h in hands) for rule in ("id", "ood")}
    elapsed = time.perf_counter() - start
    assert solved == {"id": 1236, "ood": 1362}, solved
    return elapsed


def _answers(n: int, seed: int = 0) -> list[tuple[str, list[str]]]:
    """A mix: 1/3 correct, 1/3 wrong (bad value / numbers / cards), 1/3 malformed."""
    rng = random.Random(seed)
    hands = [h for h in itertools.combinations_with_replacement(RANKS, 4) if solver.is_solvable(card_values(h, "id"))]
    junk = ["", "I think the answer is 24", '{"formula": "4*(3+", }', '{"formula": "-4*6"}',
            '{"cards": [1,2,3,4]', "x" * 5000, '{"formula": "9**9**9"}', "\u2660\u2663 24"]
    out = []
    for i in range(n):
        hand = list(rng.choice(hands))
        values = card_values(hand, "id")
        kind = i % 3
        if kind == 0:
            text = gp_answer(hand, values, rng.choice(solver.solve(values)) + "=24")
        elif kind == 1:
            wrong = rng.choice(["+".join(map(str, values)), "*".join(map(str, values)), "1+2+3", "24"])
            text = gp_answer(rng.sample(hand, 4), values, wrong)
        else:
            text = rng.choice(junk)
        out.append((text, hand))
    return out


def bench_verifier(n: int = 30_000) -> dict[str, float]:
    answers = _answers(n)
    rates = {}
    for mode in ("paper", "official"):
        start = time.perf_counter()
        for text, hand in answers:
            verify_gp(text, hand, rule="id", mode=mode)
        rates[mode] = n / (time.perf_counter() - start)
    return rates


# --------------------------------------------------------------------- the naive reference env
_OPS = [("+", lambda a, b: a + b), ("-", lambda a, b: a - b), ("*", lambda a, b: a * b),
        ("/", lambda a, b: a / b if b != 0 else None)]
_SHAPES = ["((a{0}b){1}c){2}d", "(a{0}b){2}(c{1}d)", "(a{1}(b{0}c)){2}d", "a{2}((b{0}c){1}d)", "a{2}(b{1}(c{0}d))"]


def _brute_force(numbers, target=24, first_only=False) -> list[str]:
    """Every permutation x operator triple x bracketing, exact rationals (the authors' scheme)."""
    def ap(f, a, b):
        return None if a is None or b is None else f(a, b)

    found = []
    for perm in itertools.permutations(numbers):
        a, b, c, d = (Fraction(x) for x in perm)
        for (s0, f), (s1, g), (s2, h) in itertools.product(_OPS, repeat=3):
            values = [ap(h, ap(g, ap(f, a, b), c), d), ap(h, ap(f, a, b), ap(g, c, d)),
                      ap(h, ap(g, a, ap(f, b, c)), d), ap(h, a, ap(g, ap(f, b, c), d)),
                      ap(h, a, ap(g, b, ap(f, c, d)))]
            for shape, v in zip(_SHAPES, values):
                if v is not None and v == target:
                    found.append(shape.format(s0, s1, s2).replace("a", str(perm[0])).replace(
                        "b", str(perm[1])).replace("c", str(perm[2])).replace("d", str(perm[3])))
                    if first_only:
                        return found
    return found


class NaiveGeneralPointsEnv(GeneralPointsEnv):
    """The same env, but each reset re-solves its hand by brute force, without any cache."""

    def _deal(self):
        rng = self.np_random
        while True:
            cards = [RANKS[i] for i in rng.integers(0, len(RANKS), size=4)]
            suits = [self.np_random.choice(["spades", "clubs"]) for _ in range(4)]
            if _brute_force(card_values(cards, self.rule), self.target, first_only=True):
                self._naive_solutions = _brute_force(card_values(cards, self.rule), self.target)
                return cards, list(suits)


def bench_env(n: int = 200, modality: str = "language", image_size: int = 1200) -> dict[str, float]:
    out = {}
    for name, cls in (("package", GeneralPointsEnv), ("naive", NaiveGeneralPointsEnv)):
        env = cls(modality=modality, image_size=image_size)
        env.reset(seed=10_000)  # warm-up (fonts, tiles)
        start = time.perf_counter()
        for seed in range(n):
            _, info = env.reset(seed=seed)
            env.step(gp_answer(info["cards"], info["numbers"], "1+2+3+4"))
        out[name] = (time.perf_counter() - start) / n
    return out


def main() -> int:
    rows = []
    cold = bench_cold_solve()
    rows.append(("cold-solve 1820 multisets x 2 rules (all formulas)", f"{cold:.2f} s", "<= 2 s", cold <= 2.0))
    rates = bench_verifier()
    for mode, rate in rates.items():
        rows.append((f"verifier throughput ({mode})", f"{rate:,.0f} answers/s", ">= 50,000/s", rate >= 50_000))
    lang = bench_env(200, "language")
    ratio = lang["naive"] / lang["package"]
    rows.append(("language reset+step: package", f"{lang['package'] * 1e3:.3f} ms", "< 1 ms", lang["package"] < 1e-3))
    rows.append(("language reset+step: naive brute force", f"{lang['naive'] * 1e3:.1f} ms", "", True))
    rows.append(("  speed-up", f"{ratio:,.0f}x", ">= 100x", ratio >= 100))
    vis = bench_env(50, "vision", 1200)
    rows.append(("vision reset+step at 1200x1200: package", f"{vis['package'] * 1e3:.2f} ms", "< 30 ms",
                 vis["package"] < 0.03))
    rows.append(("vision reset+step at 1200x1200: naive", f"{vis['naive'] * 1e3:.1f} ms", "", True))
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'measured':>22}  {'target':>12}  ok")
    for name, value, target, ok in rows:
        print(f"{name:<{width}}  {value:>22}  {target:>12}  {'yes' if ok else 'NO'}")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
