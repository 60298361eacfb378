"""Recall: copy a list back from wherever it sits in the prompt (a general skill the tasks lean on).

Why: both tasks ask the model to copy from a long prompt (the GeneralPoints ``"cards"`` field from
``Cards: [...]``, the V-IRL ``"current instruction"`` from the numbered instructions). Measured on
the default tiny base: it copies a hand in its own rule-reading format on 59 of 60 prompts, but on
15 of 60 once 0-3 aside sentences move the hand further from the question: it copies by *position*,
not by content. Its GP-L init then copies the hand on 96% of ID prompts and on 0% of rule-OOD ones
(whose longer rule sentence moves the hand). A recall example hides a list behind 0-8 filler
sentences (0 to ~150 tokens), so that only a content-based copy (an induction head) can answer.

The items are card ranks, small numbers, compass and turn words or landmark-like names; the list is
written as a Python list or space-separated, and the answer repeats it the same way. Nothing here is
a task prompt.
"""

from __future__ import annotations

import random

from sftrl_repro.games.cards import RANKS

_WORDS = ("north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest",
          "left", "right", "forward", "stop", "slightly left", "slightly right")
_NAMES = ("Bakery", "Museum", "Pharmacy", "Library", "Station", "Cinema", "Gallery", "Bank", "Cafe",
          "Park", "Hotel", "Market", "School", "Theatre", "Clinic", "Garden", "Tower", "Harbor")
_FILLER = (
    "The weather was mild that afternoon.",
    "Nobody else was in the room.",
    "Read everything carefully before you answer.",
    "Some of these may repeat.",
    "The order matters.",
    "There is no trick here.",
    "Take your time.",
    "Each entry is separated by a comma.",
    "This is only a memory exercise.",
    "The list was written down earlier.",
    "Ignore the sentences that are not part of the list.",
    "A second copy is not needed.",
    "Keep the spelling exactly as given.",
    "Cards, numbers and words may all appear.",
)


def _items(rng: random.Random) -> list[str]:
    n = rng.randint(3, 8)
    kind = rng.randrange(4)
    if kind == 0:
        return [rng.choice(RANKS) for _ in range(n)]
    if kind == 1:
        return [str(rng.randint(1, 13)) for _ in range(n)]
    if kind == 2:
        return [rng.choice(_WORDS) for _ in range(n)]
    return [rng.choice(_NAMES) for _ in range(n)]


def recall(rng: random.Random) -> tuple[str, str]:
    """A list, 0-8 filler sentences, then the question (or question first) -> the list again."""
    items = _items(rng)
    as_list = rng.random() < 0.6
    written = repr(items) if as_list else " ".join(items)
    label = rng.choice(("Items", "List", "Sequence", "Remember these"))
    filler = " ".join(rng.sample(_FILLER, rng.randint(0, 8)))
    if rng.random() < 0.75:
        parts = [f"{label}: {written}", filler, "Repeat the items in order."]
    else:
        parts = ["Repeat the items below in order, after reading the notes.", filler, f"{label}: {written}"]
    return "\n".join(p for p in parts if p), written
