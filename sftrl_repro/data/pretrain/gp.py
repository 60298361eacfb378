"""Card and arithmetic knowledge for the tiny base (text): rule reading, make-T, card puzzles.

Three kinds of examples, each a ``(prompt, answer)`` pair in formats of the package's own:

* ``rule_reading``: a stated face-card rule and four cards -> the cards' numbers;
* ``rule_drill``: a stated rule, mostly with three distinct values, and a drill of several hands ->
  each hand and its numbers on a line (many rule bindings per token; not in the default corpus);
* ``make_t``: four numbers from 1..13 and a target (24 among many) -> a formula; no cards, no rule;
* ``make_t_sheet``: a worksheet of several make-T puzzles -> one formula per line (the same
  knowledge as ``make_t`` at a third of the tokens per puzzle: one chat frame for many puzzles);
* ``card_puzzle``: a stated face-card rule, four cards and a target other than 24 -> the answer
  object of GeneralPoints (``"cards"``, ``"number"``, ``"formula"``), its answer format.

Worksheet make-24 puzzles are drawn uniformly over the 1,362 solvable multisets of 1..13 (numbers
in random order), the recipe that taught a 3.4M-parameter character model make-24 in ~4M tokens of
make-T only; worksheets are not in the default corpus (see ``CorpusSpec``: measured, a base with
them at 66% of its tokens still solved make-24 1-3% of the time).

Rules: ``'diverse'`` draws J/Q/K values from 1..13 (distinct values, all equal, or two equal) and
never the task's two rules, J/Q/K = 10/10/10 (in-distribution) and 11/12/13 (rule-OOD): the base
must *read* a stated rule. ``'fixed'`` (the ablation) always states and uses J/Q/K = 10.
Targets of card puzzles are never 24: a card-list + rule + 24 combination never occurs.
"""

from __future__ import annotations

import random

from functools import lru_cache
from itertools import combinations_with_replacement

from sftrl_repro.games.cards import RANKS
from sftrl_repro.games.solver import solve
from sftrl_repro.prompts.gp import gp_answer

#: The two task rules, as (J, Q, K) values: never stated by the ``'diverse'`` corpus.
TASK_RULES: tuple[tuple[int, int, int], ...] = ((10, 10, 10), (11, 12, 13))
RULE_DIVERSITY = ("diverse", "fixed")
#: Targets of ``card_puzzle`` examples (24 excluded) and of ``make_t`` examples (24 included).
PUZZLE_TARGETS: tuple[int, ...] = tuple(t for t in range(2, 49) if t != 24)
MAKE_T_TARGETS: tuple[int, ...] = tuple(range(2, 49))
#: How make-T puzzles are drawn (:func:`make_t_puzzle`).
MAKE_T_DRAWS = ("random", "solvable")


#: Default shares of ``'diverse'`` rules with three distinct values, all three equal, two equal.
RULE_MIX: tuple[float, float, float] = (0.55, 0.25, 0.2)


def draw_rule(rng: random.Random, diversity: str = "diverse",
              mix: tuple[float, float, float] = RULE_MIX) -> tuple[int, int, int]:
    """J/Q/K values of a random rule (never a task rule when ``'diverse'``).

    ``mix``: shares of rules with three distinct values, all equal, two equal (normalised). All-equal
    rules reward a shortcut (answer the last value the sentence names for every face card); the
    default base took it (measured: 13 for J, Q and K alike under the 11/12/13 sentence)."""
    if diversity == "fixed":
        return (10, 10, 10)
    total = sum(mix)
    distinct, equal = mix[0] / total, (mix[0] + mix[1]) / total
    while True:
        kind = rng.random()
        if kind < distinct:
            values = tuple(rng.sample(range(1, 14), 3))
        elif kind < equal:
            values = (rng.randint(1, 13),) * 3
        else:
            a, b = rng.sample(range(1, 14), 2)
            values = tuple(rng.sample([a, a, b], 3))
        if values not in TASK_RULES:
            return values  # type: ignore[return-value]


def rule_sentence(values: tuple[int, int, int], rng: random.Random) -> str:
    """The rule in one of several wordings (one of them in the style of the task's sentence)."""
    j, q, k = values
    style = rng.randrange(5)
    if style == 0:
        if j == q == k:
            return f"'J', 'Q', and 'K' count as '{j}'"
        return f"'J', 'Q', and 'K' count as '{j}', '{q}', and '{k}' respectively"
    if style == 1:
        return f"J is worth {j}, Q is worth {q} and K is worth {k}"
    if style == 2:
        return f"Jack = {j}, Queen = {q}, King = {k}"
    if style == 3:
        return f"face cards score J:{j} Q:{q} K:{k}"
    return f"'J' counts as '{j}', 'Q' as '{q}' and 'K' as '{k}'"


def rank_values(values: tuple[int, int, int]) -> dict[str, int]:
    """Rank name -> value: A = 1, 2..10 at face value, J/Q/K from ``values``."""
    table = {r: i + 1 for i, r in enumerate(RANKS[:10])}
    table.update(zip(("J", "Q", "K"), values))
    return table


def draw_cards(rng: random.Random, face_p: float = 0.7) -> list[str]:
    """Four rank names, uniform over A..K; with probability ``face_p`` at least one face card."""
    want_face = rng.random() < face_p
    while True:
        cards = [rng.choice(RANKS) for _ in range(4)]
        if not want_face or any(c in ("J", "Q", "K") for c in cards):
            return cards


#: Sentences put between the cards and the question, 0-3 of them: where the cards sit relative to
#: the answer varies, so copying them has to follow their content, not a fixed distance. (Measured on
#: the first base, whose card examples had fixed layouts: its SFT init copied the hand on 96% of ID
#: prompts and on 0% of rule-OOD prompts, whose longer rule sentence moves the cards.)
ASIDES = (
    "Each card is used exactly once.",
    "Suits do not matter here.",
    "The cards are listed from left to right.",
    "Take care with the face cards.",
    "Write the answer on one line per field.",
    "An ace is always worth 1.",
    "Numbered cards count their pips.",
    "Keep the cards in the order given.",
    "Double-check every value before answering.",
    "There is exactly one hand on the table.",
)


def _asides(rng: random.Random, rule: str, on: bool) -> str:
    return asides(rng, rule) if on else ""  # off: no draw from rng, the corpus stays as it was


def asides(rng: random.Random, rule: str) -> str:
    """0-3 aside sentences (one of them, sometimes, the stated rule again), each on its own line."""
    lines = rng.sample(ASIDES, rng.randint(0, 3))
    if rng.random() < 0.35:
        lines.insert(rng.randint(0, len(lines)), f"Remember: {rule}.")
    return "".join(line + "\n" for line in lines)


def rule_reading(rng: random.Random, diversity: str = "diverse", asides: bool = False,
                 rule_mix: tuple[float, float, float] = RULE_MIX) -> tuple[str, str]:
    """A stated rule and four cards -> their numbers (``asides``: see :func:`asides`; ``rule_mix``:
    see :func:`draw_rule`)."""
    values = draw_rule(rng, diversity, rule_mix)
    cards = draw_cards(rng)
    numbers = [rank_values(values)[c] for c in cards]
    rule = rule_sentence(values, rng)
    style = rng.randrange(3)
    if style == 0:
        prompt = (f"Card values: {rule}; A is 1, other cards count their pips.\nCards: {cards!r}\n"
                  f"{_asides(rng, rule, asides)}What are the numbers?")
        answer = f'"number": {numbers!r}'
    elif style == 1:
        prompt = f"Note that {rule}. Read these cards as numbers: {' '.join(cards)}"
        answer = " ".join(map(str, numbers))
    else:
        prompt = f"Rule: {rule}.\nHand: {cards!r}\n{_asides(rng, rule, asides)}Give \"cards\" and \"number\"."
        answer = f'"cards": {cards!r},\n"number": {numbers!r}'
    return prompt, answer


def draw_distinct_rule(rng: random.Random, distinct_p: float = 0.85) -> tuple[int, int, int]:
    """J/Q/K values of a drill's rule: three distinct values from 1..13 with probability
    ``distinct_p`` (else :func:`draw_rule`'s mix); never a task rule."""
    if rng.random() >= distinct_p:
        return draw_rule(rng)
    while True:
        values = tuple(rng.sample(range(1, 14), 3))
        if values not in TASK_RULES:
            return values  # type: ignore[return-value]


def rule_drill(rng: random.Random, size: tuple[int, int] = (4, 8)) -> tuple[str, str]:
    """A stated rule and ``size[0]..size[1]`` numbered hands -> each hand's numbers, one per line.

    Why: the single base reads a stated rule it has not seen as *the last value the rule names*
    (under the 11/12/13 sentence it answers 13 for J, Q and K alike: 80 / 125 / 88 of 88 / 130 / 93
    face cards, measured), the shortcut that all-equal rules reward. Drills put many bindings of
    three distinct values to their positions in one example, so the shortcut fails on most tokens.
    The hands sit in the prompt, so the loss falls on the numbers only (a first version wrote
    ``<cards> = <numbers>`` lines in the answer: the random cards' loss swamped the rest, and the
    base read no rule at all, 0% of 200 hands, measured). Measured with this version at 15% of the
    single recipe's examples (450 steps, one seed): rule reading 46% ID, 0% OOD, below the default
    mix's 87.5 / 12.5%; so it stays out of the default corpus.
    """
    values = draw_distinct_rule(rng)
    table = rank_values(values)
    rule = rule_sentence(values, rng)
    hands = [draw_cards(rng, face_p=0.9) for _ in range(rng.randint(*size))]
    prompt = (f"Card values: {rule}; A is 1, other cards count their pips.\n"
              + "".join(f"{i + 1}) {' '.join(h)}\n" for i, h in enumerate(hands))
              + "Give each hand's numbers, one line per hand.")
    answer = "\n".join(f"{i + 1}) {' '.join(str(table[c]) for c in h)}" for i, h in enumerate(hands))
    return prompt, answer


def _target_and_formula(numbers: list[int], rng: random.Random, targets: tuple[int, ...],
                        p24: float) -> tuple[int, str] | None:
    """A target the numbers can make (24 with probability ``p24`` when it is in ``targets``) and the
    solver's shortest formula for it (the form the SFT demonstrations use), or ``None``."""
    if 24 in targets and rng.random() < p24:
        found = solve(numbers, 24)
        if found:
            return 24, found[0]
    for _ in range(12):
        target = rng.choice(targets)
        if target == 24:  # drawn above with its own probability
            continue
        found = solve(numbers, target)
        if found:
            return target, found[0]
    return None


@lru_cache(maxsize=1)
def solvable_24() -> tuple[tuple[int, ...], ...]:
    """The multisets of four numbers from 1..13 that make 24 (1,362 of 1,820), sorted."""
    return tuple(m for m in combinations_with_replacement(range(1, 14), 4) if solve(list(m), 24))


def make_t_puzzle(rng: random.Random, p24: float = 0.4, high_p: float = 0.6,
                  draw: str = "random") -> tuple[list[int], int, str]:
    """Four numbers from 1..13, a target they can make, and the solver's shortest formula.

    ``draw='random'`` (the default corpus): four random numbers, with probability ``high_p`` at
    least one of them 11, 12 or 13 (the values face cards take under rules other than 10); the
    target is 24 with probability ``p24`` when they can make it, else another target they can make.
    ``draw='solvable'`` (worksheets): with probability ``p24`` the target is 24 and the numbers a
    uniform draw of the 1,362 solvable multisets (:func:`solvable_24`) in random order; otherwise
    random numbers and a target other than 24.
    """
    if draw not in MAKE_T_DRAWS:
        raise ValueError(f"draw={draw!r} is not valid; choose 'random' or 'solvable'")
    if draw == "solvable" and rng.random() < p24:
        numbers = list(rng.choice(solvable_24()))
        rng.shuffle(numbers)
        return numbers, 24, solve(numbers, 24)[0]
    targets, p = (MAKE_T_TARGETS, p24) if draw == "random" else (PUZZLE_TARGETS, 0.0)
    while True:
        numbers = [rng.randint(1, 13) for _ in range(4)]
        if rng.random() < high_p and not any(n > 10 for n in numbers):
            numbers[rng.randrange(4)] = rng.randint(11, 13)
        hit = _target_and_formula(numbers, rng, targets, p)
        if hit:
            return numbers, hit[0], hit[1]


def make_t_prompt(numbers: list[int], target: int, style: int) -> str:
    """The make-T question in one of 3 wordings."""
    if style == 0:
        return f"Numbers: {', '.join(map(str, numbers))}\nTarget: {target}\nUse each number once with + - * / ( )."
    if style == 1:
        return f"Make {target} from {' '.join(map(str, numbers))}."
    return f"Combine {numbers!r} into {target}, every number exactly once."


def make_t(rng: random.Random, p24: float = 0.4, high_p: float = 0.6, draw: str = "random") -> tuple[str, str]:
    """Four numbers from 1..13 and a target -> a formula ``"formula": "<expr>=<target>"``."""
    numbers, target, formula = make_t_puzzle(rng, p24, high_p, draw=draw)
    return make_t_prompt(numbers, target, rng.randrange(3)), f'"formula": "{formula}={target}"'


def make_t_sheet(rng: random.Random, p24: float = 0.4, size: tuple[int, int] = (4, 8)) -> tuple[str, str]:
    """A worksheet of ``size[0]..size[1]`` make-T puzzles -> one ``<formula>=<target>`` per line."""
    puzzles = [make_t_puzzle(rng, p24, draw="solvable") for _ in range(rng.randint(*size))]
    if rng.random() < 0.5:
        prompt = "Solve each: use all four numbers once with + - * / ( ).\n" + "\n".join(
            f"{i + 1}. {' '.join(map(str, v))} -> {t}" for i, (v, t, _) in enumerate(puzzles))
    else:
        prompt = "Worksheet. Reach the target with every number exactly once.\n" + "\n".join(
            f"{i + 1}) target {t}: {', '.join(map(str, v))}" for i, (v, t, _) in enumerate(puzzles))
    return prompt, "\n".join(f"{i + 1}. {f}={t}" for i, (_, t, f) in enumerate(puzzles))


def card_puzzle(rng: random.Random, diversity: str = "diverse", asides: bool = False,
                rule_mix: tuple[float, float, float] = RULE_MIX) -> tuple[str, str]:
    """A stated rule, four cards and a target other than 24 -> the GeneralPoints answer object
    (``asides``: see :func:`asides`; ``rule_mix``: see :func:`draw_rule`)."""
    values = draw_rule(rng, diversity, rule_mix)
    table = rank_values(values)
    while True:
        cards = draw_cards(rng)
        numbers = [table[c] for c in cards]
        hit = _target_and_formula(numbers, rng, PUZZLE_TARGETS, 0.0)
        if hit:
            break
    target, formula = hit
    rule = rule_sentence(values, rng)
    style = rng.randrange(3)
    if style == 0:
        prompt = "\n".join([
            "[Card puzzle]",
            f"Note that {rule}, and each card must be used once. Combine the numbers of the cards "
            f"with '+', '-', '*', '/', '(', ')' into a formula equal to {target}.",
            "",
            f"Cards: {cards!r}",
            "",
            f'{_asides(rng, rule, asides)}Answer with "cards", "number" and "formula".',
        ])
    elif style == 1:
        prompt = f"Cards on the table: {cards!r}. Rule: {rule}. Target: {target}. Give the cards, their numbers and a formula."
    else:
        prompt = f"Using the cards {' '.join(cards)} once each ({rule}), reach {target}."
    return prompt, gp_answer(cards, numbers, f"{formula}={target}")
