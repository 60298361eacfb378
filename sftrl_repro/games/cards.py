"""Playing cards of GeneralPoints: ranks, suits, the face-card rules and the deal (paper Sec. 4.1).

The in-distribution rule counts J, Q and K as 10; the rule-OOD variant counts them as 11, 12 and 13.
An ace is 1 and 2..10 count at face value under both rules.

Dealing (:func:`deal_ranks`) follows the authors' environment (LeslieTrue/SFTvsRL @ 5a6ea55,
``GeneralPointEnv_oneline._generate_cards`` and ``reset``), with the caller's seeded generator
instead of Python's global ``random``:

* rule ``id``: four ranks drawn independently and uniformly from A..K;
* rule ``ood``: three ranks uniform from A..K plus one uniform from J, Q, K, shuffled (so every
  hand holds a face card, at a uniform position, and may hold up to four: 1.62 on average);
* the WHOLE hand is redrawn until it can make the target under the active rule.

Their solvability test is their own ``solve()``; the package's exact solver accepts exactly the same
rank multisets (1236 of 1820 for J/Q/K = 10, 1362 for 11/12/13 at target 24; also checked for targets
0, 1, 10, 12, 18, 30, 36), so it is used here. ID hands therefore never hold four face cards.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sftrl_repro.games.solver import is_solvable

#: The 13 ranks, in order; hands hold rank *names* like ``['A', '5', 'J', '10']``.
RANKS: tuple[str, ...] = ("A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K")
#: Face cards, the ones whose value the rule changes.
FACE_RANKS: tuple[str, ...] = ("J", "Q", "K")
#: Rule name -> value of each rank. ``id``: J/Q/K = 10 (training); ``ood``: J/Q/K = 11/12/13.
RULES: dict[str, dict[str, int]] = {
    "id": {**{r: i + 1 for i, r in enumerate(RANKS[:10])}, "J": 10, "Q": 10, "K": 10},
    "ood": {r: i + 1 for i, r in enumerate(RANKS)},
}
#: Suits by visual variant: in-distribution images show black suits, visual OOD red ones.
SUITS: dict[str, tuple[str, ...]] = {"id": ("spades", "clubs"), "ood": ("hearts", "diamonds")}
ALL_SUITS: tuple[str, ...] = ("spades", "clubs", "hearts", "diamonds")

# Lenient spellings a model may use for a rank; everything is compared upper-case, stripped.
_RANK_ALIASES = {
    "ACE": "A", "1": "A", "JACK": "J", "QUEEN": "Q", "KING": "K", "T": "10",
    "TWO": "2", "THREE": "3", "FOUR": "4", "FIVE": "5", "SIX": "6", "SEVEN": "7",
    "EIGHT": "8", "NINE": "9", "TEN": "10",
}


def card_value(rank: str, rule: str) -> int:
    """The value of one rank name under ``rule`` (``'id'`` or ``'ood'``)."""
    return RULES[rule][rank]


def card_values(cards: Sequence[str], rule: str) -> list[int]:
    """Values of a hand's ranks under ``rule``, in hand order: ``['A','K'] -> [1, 10]`` (id)."""
    table = RULES[rule]
    return [table[c] for c in cards]


def normalize_rank(token: object) -> str | None:
    """A rank name from a model's spelling of it (``'king'`` -> ``'K'``, ``' 10 '`` -> ``'10'``), or None.

    Total: any object gives a rank or ``None``; at most 16 characters are looked at.
    """
    if not isinstance(token, str):
        return None
    t = token.strip()[:16].upper()
    if t in RANKS:
        return t
    return _RANK_ALIASES.get(t)


def rule_description(rule: str) -> str:
    """The face-card sentence of the prompt for ``rule``, worded as the authors' prompts word it."""
    if rule == "id":
        return "'J', 'Q', and 'K' count as '10'"
    return "'J', 'Q', and 'K' count as '11', '12', and '13' respectively"


#: A deal that finds no solvable hand in this many draws means the target is (nearly) impossible.
MAX_DEAL_TRIES = 10_000


def draw_ranks(rng: np.random.Generator, rule: str) -> list[str]:
    """One draw of the authors' ``_generate_cards`` (not yet checked for solvability).

    Rule ``id``: four ranks uniform from A..K. Rule ``ood``: three uniform ranks and one uniform
    from J, Q, K, in a uniformly shuffled order.
    """
    if rule == "ood":
        idx = [int(i) for i in rng.integers(0, len(RANKS), size=3)]
        idx.append(int(rng.integers(len(RANKS) - len(FACE_RANKS), len(RANKS))))
        return [RANKS[idx[i]] for i in rng.permutation(4)]
    return [RANKS[i] for i in rng.integers(0, len(RANKS), size=4)]


def deal_ranks(rng: np.random.Generator, rule: str, target: int = 24) -> list[str]:
    """Deal one hand's rank names the authors' way (see the module docstring).

    Args:
        rng: the caller's seeded generator (e.g. a Gymnasium env's ``np_random``): same seed, same hand.
        rule: ``'id'`` (four uniform ranks) or ``'ood'`` (a forced J/Q/K among them, shuffled).
        target: the number the hand must be able to make under ``rule``.

    Raises:
        ValueError: no solvable hand in :data:`MAX_DEAL_TRIES` draws (an impossible target).
    """
    table = RULES[rule]
    for _ in range(MAX_DEAL_TRIES):
        cards = draw_ranks(rng, rule)
        if is_solvable([table[c] for c in cards], target):
            return cards
    raise ValueError(f"target={target} is not valid: no solvable hand was found in "
                     f"{MAX_DEAL_TRIES} draws; use a target that four cards can make, e.g. 24")
