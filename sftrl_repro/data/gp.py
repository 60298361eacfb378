"""GeneralPoints SFT demonstrations, from the solver (paper Sec. 4.1 and Sec. 5).

:func:`gp_sft_dataset`: the paper's SFT data. Optimal, single-turn, answer only (no chain of
thought): the prompt of a dealt hand and an answer with the right cards, their numbers under the
in-distribution rule and a formula that makes the target. Hands are dealt by
:class:`~sftrl_repro.envs.general_points.GeneralPointsEnv` itself, so the demonstrations follow the
distribution (the authors' deal), prompt (the authors' text, or ``prompt_style="clean"``) and image
the RL runs and evaluations see; answers are the authors' ``ResponseEqn``.

:func:`gp_suboptimal_dataset`: multi-turn sub-optimal demonstrations for the paper's Fig 15: one or
more wrong answers, each followed by the verifier's real feedback turn, then the corrected answer.

Both return a ``datasets.Dataset`` in TRL's conversational format: a ``messages`` column (the chat,
ending with the assistant's answer) and, for vision, an ``images`` column holding the one image of
the first user turn. Vision messages keep every ``content`` in the list-of-parts form (a uniform
Arrow schema; an image part reads back as ``{"type": "image", "text": None}``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from datasets import Dataset, List, Value
from PIL import Image as PILImage

from sftrl_repro.data.format import demonstrations
from sftrl_repro.games.cards import RANKS, card_values
from sftrl_repro.envs.general_points import GeneralPointsEnv
from sftrl_repro.games.solver import one_solution, solve
from sftrl_repro.prompts.chat import assistant_message, user_message
from sftrl_repro.prompts.gp import gp_answer, parse_gp_answer
from sftrl_repro.rewards import arith
from sftrl_repro.utils.params import check_choice, check_int

MODALITIES = ("language", "vision")
FORMULA_CHOICES = ("shortest", "random")
#: Kinds of wrong answers in the sub-optimal demonstrations (``wrong_cards``: vision only).
MISTAKES = ("wrong_value", "wrong_numbers", "illegal_formula", "wrong_cards")
_COLUMNS = {"cards": List(Value("string")), "numbers": List(Value("int64")), "formula": Value("string")}
#: Image side of the tiny vision models (``TinySpec.image_size``); the paper renders 1200.
DEFAULT_IMAGE_SIZE = 96


def gp_sft_dataset(
    n: int,
    *,
    modality: str = "language",
    seed: int = 0,
    rule: str = "id",
    target: int = 24,
    image_size: int = DEFAULT_IMAGE_SIZE,
    formula: str = "shortest",
    prompt_style: str = "authors",
) -> Dataset:
    """``n`` optimal single-turn demonstrations (the paper's SFT data).

    Args:
        n: number of demonstrations (one hand each; hands may repeat, as in the env).
        modality: ``'language'`` (cards in the prompt) or ``'vision'`` (cards in the image).
        seed: seed of the dealer; the same seed gives the same dataset on every machine.
        rule: face-card rule of prompts and answers; the paper trains on ``'id'`` only.
        target: the number to make.
        image_size: side of the rendered table (vision).
        formula: ``'shortest'`` (the solver's first formula: one answer per hand) or ``'random'``
            (uniform over the hand's distinct formulas).
        prompt_style: ``'authors'`` (their prompt, byte for byte; default) or ``'clean'``
            (see ``prompts.gp``). Answers are always their ``ResponseEqn``.

    Returns:
        A ``Dataset`` with columns ``messages``, ``cards``, ``numbers``, ``formula`` (and
        ``images`` for vision).
    """
    modality, env, rng = _setup(n, modality=modality, seed=seed, rule=rule, target=target,
                                image_size=image_size, formula=formula, prompt_style=prompt_style)
    rows = []
    for i in range(n):
        obs, info = env.reset(seed=seed if i == 0 else None)
        answer = gp_answer(info["cards"], info["numbers"], _formula(info, target, formula, rng))
        rows.append(_row(info, [user_message(obs["text"], image=modality == "vision"), assistant_message(answer)],
                         obs, modality))
    return demonstrations(rows, vision=modality == "vision", columns=_COLUMNS)


def gp_suboptimal_dataset(
    n: int,
    *,
    modality: str = "language",
    seed: int = 0,
    max_wrong: int = 2,
    rule: str = "id",
    target: int = 24,
    image_size: int = DEFAULT_IMAGE_SIZE,
    formula: str = "shortest",
    prompt_style: str = "authors",
) -> Dataset:
    """``n`` multi-turn demonstrations: wrong answers with feedback, then the corrected answer (Fig 15).

    Each trajectory holds ``k`` wrong answers, ``k`` uniform in ``1..max_wrong``, of kinds drawn from
    :data:`MISTAKES` (``wrong_cards`` for vision only): a formula of the right numbers with the
    wrong value, the solution of a hand with one number misread, a truncated formula, or (vision)
    one card misrecognised. Every wrong answer is graded by the env's verifier and followed by its
    feedback turn, exactly what sequential revision shows the model; the last answer is correct.

    Args:
        max_wrong: most wrong answers per trajectory (at most 4: the paper's episodes have 5 attempts).
        The other arguments are those of :func:`gp_sft_dataset`.

    Returns:
        A ``Dataset`` with columns ``messages``, ``cards``, ``numbers``, ``formula``, ``mistakes``
        (the kinds, in order) and, for vision, ``images``.
    """
    check_int("max_wrong", max_wrong, low=1, high=4)
    modality, env, rng = _setup(n, modality=modality, seed=seed, rule=rule, target=target,
                                image_size=image_size, formula=formula, prompt_style=prompt_style)
    kinds = [k for k in MISTAKES if k != "wrong_cards" or modality == "vision"]
    rows = []
    for i in range(n):
        obs, info = env.reset(seed=seed if i == 0 else None)
        first_obs = obs
        mistakes = []
        for _ in range(rng.randint(1, max_wrong)):
            kind = rng.choice(kinds)
            obs, reward, terminated, truncated, info = env.step(_wrong_answer(kind, info, rule, target, rng))
            assert not terminated, "a scripted wrong answer was graded correct"
            mistakes.append(kind)
        final = gp_answer(info["cards"], info["numbers"], _formula(info, target, formula, rng))
        obs, reward, terminated, truncated, info = env.step(final)
        assert terminated and info["success"], "the solver's answer was not graded correct"
        row = _row(info, info["conversation"], first_obs, modality)
        row["mistakes"] = mistakes
        rows.append(row)
    return demonstrations(rows, vision=modality == "vision", columns={**_COLUMNS, "mistakes": List(Value("string"))})


# ----------------------------------------------------------------------------------- internals
def _setup(n, *, modality, seed, rule, target, image_size, formula, prompt_style="authors"):
    check_int("n", n, low=1)
    check_int("seed", seed, low=0)
    modality = check_choice("modality", modality, MODALITIES)
    check_choice("formula", formula, FORMULA_CHOICES)
    env = GeneralPointsEnv(modality=modality, rule=rule, visual="id", target=target, image_size=image_size,
                           verify_iter=5, prompt_style=prompt_style)
    # A second, independent stream for the package's own choices (formulas, mistakes), so the
    # dealt hands are the env's own for a seed whatever those choices are.
    return modality, env, random.Random(seed)


def _formula(info: dict, target: int, choice: str, rng: random.Random) -> str:
    expr = info["solution"] if choice == "shortest" else rng.choice(solve(info["numbers"], target))
    return f"{expr}={target}"


def _row(info: dict, messages: list[dict], first_obs: dict, modality: str) -> dict:
    answer = messages[-1]["content"]
    row = {
        "messages": messages,
        "cards": list(info["cards"]),
        "numbers": [int(v) for v in info["numbers"]],
        "formula": arith.strip_tail(parse_gp_answer(answer).formula),
    }
    if modality == "vision":
        row["images"] = [PILImage.fromarray(first_obs["image"])]  # PIL: stored as PNG bytes
    return row


def _wrong_answer(kind: str, info: dict, rule: str, target: int, rng: random.Random) -> str:
    """A wrong answer of the given kind for the current hand (see :func:`gp_suboptimal_dataset`)."""
    cards, numbers = list(info["cards"]), list(info["numbers"])
    if kind == "wrong_value":
        return gp_answer(cards, numbers, f"{_random_wrong_expression(numbers, target, rng)}={target}")
    if kind == "illegal_formula":
        solution = info["solution"]
        return gp_answer(cards, numbers, f"{solution[: rng.randint(1, len(solution) - 1)]}{rng.choice('+-*/(')}")
    if kind == "wrong_numbers":
        misread = _misread_numbers(numbers, target, rng)
        formula = one_solution(misread, target) or "+".join(map(str, misread))
        return gp_answer(cards, misread, f"{formula}={target}")
    # wrong_cards: one card misrecognised, the answer consistent with what was "seen".
    seen = list(cards)
    i = rng.randrange(4)
    seen[i] = rng.choice([r for r in RANKS if r != cards[i]])
    values = card_values(seen, rule)
    formula = one_solution(values, target) or "+".join(map(str, values))
    return gp_answer(seen, values, f"{formula}={target}")


def _random_wrong_expression(numbers: Sequence[int], target: int, rng: random.Random) -> str:
    """An expression using each number once whose exact value is defined and is not ``target``."""
    for _ in range(1000):
        a, b, c, d = rng.sample(list(numbers), 4)
        o1, o2, o3 = (rng.choice("+-*/") for _ in range(3))
        expr = rng.choice([f"({a}{o1}{b}){o2}{c}{o3}{d}", f"({a}{o1}{b}){o2}({c}{o3}{d})",
                           f"{a}{o1}{b}{o2}{c}{o3}{d}", f"{a}{o1}({b}{o2}{c}){o3}{d}"])
        value = arith.evaluate_formula(expr)
        if value is not None and value != target:
            return expr
    return "+".join(map(str, numbers)) + "+1"  # never reached for real hands; still wrong


def _misread_numbers(numbers: Sequence[int], target: int, rng: random.Random) -> list[int]:
    """The hand's numbers with one misread by 1-3, such that the misread numbers can make the target."""
    for _ in range(1000):
        misread = list(numbers)
        i = rng.randrange(4)
        misread[i] = max(1, min(13, misread[i] + rng.choice((-3, -2, -1, 1, 2, 3))))
        if misread[i] != numbers[i] and one_solution(misread, target):
            return misread
    return [n + 1 for n in numbers]  # never reached for real hands; still wrong numbers
