"""Seeing for the tiny vision base: captions of card images and of street-view-like scenes.

* ``card_caption``: 1 to 4 cards of all four suits (black and red) on a plain background of a
  random colour (never the task's green table), at random sizes, gaps and heights, read left to
  right; the question asks for the ranks, or for ranks and numbers under a stated rule
  (:mod:`.gp`'s rules), or for the GeneralPoints answer object for a target other than 24.
* ``street_scene``: a 2x2 grid of views (front, right, back, left) at a random spot of a city
  generated for pretraining (``tag='pretrain'``, seeds of its own: never the training city of
  V-IRL nor the VLN-mini cities, though in the same nine visual styles); the caption names the
  landmark seen in each view and says whether the spot is an intersection.
"""

from __future__ import annotations

import random
from functools import lru_cache

import numpy as np

from sftrl_repro.games.cards import ALL_SUITS
from sftrl_repro.games.render import TABLE_COLOR, card_tile
from sftrl_repro.data.pretrain.gp import PUZZLE_TARGETS, _target_and_formula, draw_cards, draw_rule, rank_values, rule_sentence
from sftrl_repro.prompts.gp import gp_answer

#: Seeds of the pretraining cities (the V-IRL task's cities use tags 'train' and 'vln_mini').
SCENE_SEEDS = (101, 102)
SCENE_VIEW_SIZE = 64


def _background(rng: random.Random) -> tuple[int, int, int]:
    while True:
        color = tuple(rng.randrange(256) for _ in range(3))
        if sum(abs(a - b) for a, b in zip(color, TABLE_COLOR)) > 120 and sum(color) < 640:
            return color  # type: ignore[return-value]


def card_image(cards: list[str], suits: list[str], rng: random.Random, size: int = 96) -> np.ndarray:
    """``cards`` left to right on a random background, random card size, gaps and heights."""
    bg = np.array(_background(rng), dtype=np.uint8)
    canvas = np.empty((size, size, 3), dtype=np.uint8)
    canvas[:] = bg
    n = len(cards)
    hi = max(4, min(size * 26 // 96, (size - 2) // n - 1))
    w = rng.randint(min(hi, max(4, size * 14 // 96)), hi)
    h = min(size - 2, round(w * rng.uniform(1.3, 1.5)))
    free = size - n * w
    cuts = sorted(rng.randint(0, free) for _ in range(n))  # random gaps, order kept
    gaps = [cuts[0]] + [b - a for a, b in zip(cuts, cuts[1:])]
    row_top = rng.randint(0, size - h)
    x = 0
    for rank, suit, gap in zip(cards, suits, gaps):
        x += gap
        top = min(size - h, max(0, row_top + rng.randint(-6, 6)))
        tile = card_tile(rank, suit, w, h).copy()
        tile[(tile == TABLE_COLOR).all(axis=-1)] = bg  # the tile's rounded corners
        canvas[top:top + h, x:x + w] = tile
        x += w
    return canvas


def card_row_image(cards: list[str], suits: list[str], rng: random.Random, size: int = 96) -> np.ndarray:
    """Four ``cards`` in the standard row (the boxes of :func:`~sftrl_repro.games.render.card_layout`:
    four equal cards, equal gaps, centred) on a random background that is never the task's green
    table.

    Why the standard row and not rows at random places: the tiny ViT (8-pixel patches over 96
    pixels, width 64) learns card ranks within minutes only where a rank's glyph always falls on
    the same pixels of a patch (a probe: 99% per card after 400 steps of 64 images); rows whose
    place or card size varies by a few pixels, or random layouts, stayed at chance for 600-1,250
    steps, with a per-slot or a per-patch objective.
    """
    from sftrl_repro.games.render import card_layout

    if len(cards) != 4 or len(suits) != 4:
        raise ValueError(f"card_row_image draws exactly 4 cards, got {len(cards)} cards and {len(suits)} suits")
    bg = np.array(_background(rng), dtype=np.uint8)
    canvas = np.empty((size, size, 3), dtype=np.uint8)
    canvas[:] = bg
    for (left, top, w, h), rank, suit in zip(card_layout(size), cards, suits):
        tile = card_tile(rank, suit, w, h).copy()
        tile[(tile == TABLE_COLOR).all(axis=-1)] = bg  # the tile's rounded corners
        canvas[top:top + h, left:left + w] = tile
    return canvas


#: How card images are laid out: ``'random'`` (every card its own gap and height:
#: :func:`card_image`) or ``'mixed'`` (half of the 4-card images the standard row: :func:`card_row_image`).
CARD_LAYOUTS = ("random", "mixed")


#: The caption corpus's questions asking only for the ranks (also the reader warm-up's questions).
RECOGNITION_QUESTIONS = ("What cards are in the image, from left to right?", "Read the cards in the picture.",
                         "List the ranks of the cards you see.")


def card_caption(rng: random.Random, diversity: str = "diverse", size: int = 96, layout: str = "random"):
    """``(prompt, answer, image)`` about an image of cards (``layout``: see :data:`CARD_LAYOUTS`)."""
    n = 4 if rng.random() < 0.8 else rng.randint(1, 3)
    cards = draw_cards(rng, face_p=0.6)[:n]
    suits = [rng.choice(ALL_SUITS) for _ in cards]
    row = layout == "mixed" and n == 4 and rng.random() < 0.5
    image = (card_row_image if row else card_image)(cards, suits, rng, size)
    kind = rng.random()
    if kind < 0.5 or n < 4:
        prompt = rng.choice(RECOGNITION_QUESTIONS)
        return prompt, f'"cards": {cards!r}', image
    values = draw_rule(rng, diversity)
    numbers = [rank_values(values)[c] for c in cards]
    rule = rule_sentence(values, rng)
    if kind < 0.8:
        return (f"Note that {rule}. What cards do you see in the image, and what numbers are they?",
                f'"cards": {cards!r},\n"number": {numbers!r}', image)
    hit = _target_and_formula(numbers, rng, PUZZLE_TARGETS, 0.0)
    if hit is None:
        return (f"Rule: {rule}. Which cards are shown and what are their numbers?",
                f'"cards": {cards!r},\n"number": {numbers!r}', image)
    target, formula = hit
    return (f"The image shows four cards. Note that {rule}, and each card must be used once. "
            f"Give the cards, their numbers and a formula equal to {target}.",
            gp_answer(cards, numbers, f"{formula}={target}"), image)


@lru_cache(maxsize=32)
def _scene_city(name: str, seed: int):
    from sftrl_repro.games.virl.city import CityConfig, generate_city
    from sftrl_repro.games.virl.render import StreetViewRenderer

    city = generate_city(CityConfig(name=name, seed=seed, tag="pretrain", n_routes=1))
    return city, StreetViewRenderer(city)


def street_scene(rng: random.Random, view_size: int = SCENE_VIEW_SIZE):
    """``(prompt, answer, image)``: what each view of a street-view grid shows."""
    from sftrl_repro.games.virl.geometry import wrap_degrees
    from sftrl_repro.games.virl.names import CITY_NAMES
    from sftrl_repro.games.virl.render import FOV_DEG, VIEW_OFFSETS

    city, renderer = _scene_city(rng.choice(sorted(CITY_NAMES)), rng.choice(SCENE_SEEDS))
    if city.landmarks and rng.random() < 0.7:  # near a landmark, so that most views show one
        lm = rng.choice(city.landmarks).position
        a = rng.uniform(0, 2 * np.pi)
        position = (lm[0] + 25 * np.sin(a), lm[1] + 25 * np.cos(a))
    else:
        position = city.nodes[rng.randrange(len(city.nodes))]
    streets = renderer.street_directions(position)
    heading = rng.choice(streets) if streets and rng.random() < 0.8 else rng.randrange(360)
    views = renderer.views(position, heading, view_size)
    from sftrl_repro.games.virl.render import view_grid

    image = view_grid(views)
    seen = []
    landmarks = renderer.visible_landmarks(position)
    for label, offset in zip(("front", "right", "back", "left"), VIEW_OFFSETS):
        names = [city.landmarks[i].name for i, _, b in reversed(landmarks)
                 if abs(wrap_degrees(b - heading - offset)) < FOV_DEG / 2]
        seen.append(f'"{label}": "{names[0] if names else "none"}"')
    crossing = "yes" if len(streets) >= 3 else "no"
    prompt = rng.choice(("Which landmark does each view of the street-view grid [front, right; back, left] show?",
                         "Describe the 2x2 street-view grid (front, right, back, left): landmarks and intersection."))
    return prompt, "\n".join(seen + [f'"intersection": "{crossing}"']), image
