"""Playing cards of GeneralPoints: ranks, suits and the face-card rules (PAPER.md section 2).

The in-distribution rule counts J, Q and K as 10; the rule-OOD variant counts them as 11, 12 and 13.
An ace is 1 and 2..10 count at face value under both rules.
"""

from __future__ import annotations

from collections.abc import Sequence

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
