"""Model output is hostile input: >= 100,000 random and adversarial answers, no exception, fast.

Hypothesis draws 2,000 seed strings per strategy; each one is expanded into a batch of derived
answers (wrapped in the answer template, mutated, repeated, nested), so the verifier, the parser
and the arithmetic see well over 100,000 strings in all. Every call must return a well-formed
verdict and stay under a per-call time bound.
"""

import gc
import random
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sftrl_repro.prompts.gp import gp_answer, parse_gp_answer
from sftrl_repro.rewards import arith
from sftrl_repro.games.solver import solve
from sftrl_repro.rewards.gp import verify_gp

HAND = ["4", "3", "2", "K"]
solve([4, 3, 2, 10])  # warm the solver cache the official verifier consults: time the verifier only
#: Per call, in CPU seconds of this thread (``time.thread_time``: immune to other jobs on a loaded
#: CI machine; the garbage collector is paused while timing). Typical calls take 10-50 microseconds
#: (see benchmarks/bench_gp.py); the bound catches anything super-linear or unbounded.
MAX_SECONDS_PER_CALL = 0.05
BATCH = 26  # derived answers per drawn string (see _variants)
EXAMPLES = 2_000

ADVERSARIAL = [
    "(" * 100_000 + "1" + ")" * 100_000,
    "9" * 1_000_000,
    "9**9**9",
    "9**9**9**9**9",
    "1/0",
    "(1-1)/(2-2)",
    "__import__('os').system('echo pwned')",
    "exec('while True: pass')",
    "lambda: 1",
    "\x00\x01\x02",
    "\u202e4*6\u202c",
    "\uff14*\uff16",  # full-width digits
    "\U0001f0a1\U0001f0b1",
    "2" + "*2" * 5_000,
    "1" + "/3" * 5_000,
    "x" * (1 << 20),
    '{"formula": "' + "(" * 500 + "4*6" + ")" * 500 + '"}',
    '{"cards": [' + "'A'," * 100_000 + '], "formula": "4*6"}',
    '{"formula": ' * 10_000,
    "NaN", "inf", "-inf", "1e308*1e308", "0x18", "0b11000", "24.000000000001",
]
OPERATORS = "+-*/()= ^.,[]{}'\""


def _variants(s: str, rng: random.Random) -> list[str]:
    """26 answers derived from one string: templates, repetitions, splices with adversarial text."""
    out = [s, s * 3, s[::-1], f'{{"formula": "{s}"}}', f'{{"formula": {s}}}',
           gp_answer(HAND, [4, 3, 2, 10], s), gp_answer([s, s, s, s], [4, 3, 2, 10], "4*3+2+10"),
           f'"cards": [{s}], "number": [{s}], "formula": "{s}=24",', "(" * 64 + s + ")" * 64,
           s + "=" + s, "=" + s, s.replace("4", "44")]
    for _ in range(BATCH - len(out) - 4):
        i = rng.randrange(len(s) + 1)
        out.append(s[:i] + rng.choice(OPERATORS) + s[i:])
    for _ in range(4):
        out.append(f'{{"formula": "{rng.choice(ADVERSARIAL)[:2000]}{s}"}}')
    return out


def _check_batch(texts: list[str]) -> None:
    gc.disable()
    try:
        _check_each(texts)
    finally:
        gc.enable()


def _check_each(texts: list[str]) -> None:
    clock = time.thread_time
    for text in texts:
        for mode in ("paper", "official"):
            for modality in ("language", "vision"):
                start = clock()
                v = verify_gp(text, HAND, rule="id", mode=mode, modality=modality)
                elapsed = clock() - start
                assert elapsed < MAX_SECONDS_PER_CALL, (elapsed, text[:80])
                assert isinstance(v.reward, float) and isinstance(v.outcome, str)
                assert isinstance(v.feedback, str) and isinstance(v.cards_correct, bool)
        start = clock()
        arith.evaluate_formula(text)
        parse_gp_answer(text)
        assert clock() - start < MAX_SECONDS_PER_CALL


_formula_alphabet = st.sampled_from(list("0123456789+-*/() =") + ["10", "13", "24"])
FORMULA_LIKE = st.lists(_formula_alphabet, max_size=60).map("".join)
ANY_TEXT = st.text(max_size=300)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(FORMULA_LIKE, st.randoms(use_true_random=False))
def test_formula_like_strings_never_raise_and_stay_fast(s, rng):
    _check_batch(_variants(s, rng))


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ANY_TEXT, st.randoms(use_true_random=False))
def test_arbitrary_unicode_never_raises_and_stays_fast(s, rng):
    _check_batch(_variants(s, rng))


def test_adversarial_corpus():
    # The named attacks themselves, whole (1 MB strings included), in both answer positions.
    for attack in ADVERSARIAL:
        _check_batch([attack, f'{{"formula": "{attack}"}}', gp_answer(HAND, [4, 3, 2, 10], attack)])
    assert arith.evaluate_formula("9**9**9") is None
    assert arith.evaluate_formula("9" * 1_000_000) is None  # over the length cap, not parsed
    assert verify_gp('{"formula": "' + "9" * 1_000_000 + '"}', HAND, rule="id").outcome == "illegal_formula"


def test_total_string_count_is_at_least_100k():
    # Two strategies x EXAMPLES draws x BATCH derived answers (plus the corpus).
    assert 2 * EXAMPLES * BATCH >= 100_000
