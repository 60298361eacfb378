"""Card images for GeneralPoints-VL, drawn by the package with PIL (paper Sec. 4.1 and App. A).

The authors composed card-art PNGs onto a 1200x1200 green table (``#35654d``) with four 270x378
cards side by side, vertically centred. The package draws its own cards at the same geometry:
a white rounded card, the rank at two corners and large in the centre, suit symbols drawn as
polygons (no font glyphs for suits, so every machine draws the same pixels), black suits for the
in-distribution images and red suits for visual OOD.

``image_size`` scales the whole layout (``1200`` = the paper's canvas; tiny models use e.g. 128).
Card tiles and the empty table are cached, so a reset only pastes four tiles into a copy of the
table: about a millisecond at the paper's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: The paper's canvas and card geometry (pixels at ``image_size=1200``).
PAPER_CANVAS = 1200
PAPER_CARD_W, PAPER_CARD_H = 270, 378
TABLE_COLOR = (0x35, 0x65, 0x4D)
SUIT_COLORS = {"spades": (20, 20, 20), "clubs": (20, 20, 20), "hearts": (200, 16, 32), "diamonds": (200, 16, 32)}


def card_layout(image_size: int) -> list[tuple[int, int, int, int]]:
    """Pixel boxes ``(left, top, width, height)`` of the four cards on an ``image_size`` canvas.

    At 1200: cards of 270x378 with 24-pixel gaps (``5 * 24 + 4 * 270 = 1200``), top at 411.
    """
    scale = image_size / PAPER_CANVAS
    w, h = max(4, round(PAPER_CARD_W * scale)), max(6, round(PAPER_CARD_H * scale))
    gap = (image_size - 4 * w) / 5
    top = (image_size - h) // 2
    return [(round(gap + i * (w + gap)), top, w, h) for i in range(4)]


def _suit_polygon(draw: ImageDraw.ImageDraw, suit: str, cx: float, cy: float, r: float, color) -> None:
    """Draw one suit symbol of half-size ``r`` centred at ``(cx, cy)`` with polygons and ellipses."""
    if suit == "diamonds":
        draw.polygon([(cx, cy - r), (cx + 0.75 * r, cy), (cx, cy + r), (cx - 0.75 * r, cy)], fill=color)
        return
    if suit == "hearts":
        q = r * 0.5
        draw.ellipse([cx - r, cy - r * 0.8, cx, cy + 0.2 * r], fill=color)
        draw.ellipse([cx, cy - r * 0.8, cx + r, cy + 0.2 * r], fill=color)
        draw.polygon([(cx - r * 0.97, cy - q * 0.2), (cx + r * 0.97, cy - q * 0.2), (cx, cy + r)], fill=color)
        return
    if suit == "spades":
        draw.ellipse([cx - r, cy - r * 0.2, cx, cy + 0.75 * r], fill=color)
        draw.ellipse([cx, cy - r * 0.2, cx + r, cy + 0.75 * r], fill=color)
        draw.polygon([(cx - r * 0.97, cy + 0.3 * r), (cx + r * 0.97, cy + 0.3 * r), (cx, cy - r)], fill=color)
        draw.polygon([(cx, cy + 0.3 * r), (cx + 0.35 * r, cy + r), (cx - 0.35 * r, cy + r)], fill=color)
        return
    # clubs: three leaves and a stem
    s = r * 0.48
    for dx, dy in ((0, -0.5 * r), (-0.5 * r, 0.15 * r), (0.5 * r, 0.15 * r)):
        draw.ellipse([cx + dx - s, cy + dy - s, cx + dx + s, cy + dy + s], fill=color)
    draw.polygon([(cx, cy), (cx + 0.35 * r, cy + r), (cx - 0.35 * r, cy + r)], fill=color)


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.ImageFont:
    # Pillow's bundled scalable font: the same glyphs on every machine with the pinned Pillow.
    return ImageFont.load_default(size=max(4, size))


@lru_cache(maxsize=512)
def card_tile(rank: str, suit: str, width: int, height: int) -> np.ndarray:
    """One card drawn over the table colour, as a uint8 array of shape ``(height, width, 3)``."""
    img = Image.new("RGB", (width, height), TABLE_COLOR)
    draw = ImageDraw.Draw(img)
    radius = max(1, width // 12)
    border = max(1, width // 90)
    draw.rounded_rectangle([0, 0, width - 1, height - 1], radius=radius, fill=(250, 250, 246),
                           outline=(90, 90, 90), width=border)
    color = SUIT_COLORS[suit]
    # Corner index: rank above a small suit, top-left and (mirrored) bottom-right.
    corner = max(4, round(width * 0.16))
    font = _font(corner)
    pad = max(1, round(width * 0.05))
    draw.text((pad, pad), rank, fill=color, font=font)
    _suit_polygon(draw, suit, pad + corner * 0.45, pad + corner * 1.7, corner * 0.38, color)
    draw.text((width - pad, height - pad), rank, fill=color, font=font, anchor="rd")
    _suit_polygon(draw, suit, width - pad - corner * 0.45, height - pad - corner * 1.7, corner * 0.38, color)
    # Centre: the rank large (the cue a model must read), a suit symbol below it.
    big = _font(round(width * 0.42))
    draw.text((width / 2, height * 0.42), rank, fill=color, font=big, anchor="mm")
    _suit_polygon(draw, suit, width / 2, height * 0.72, width * 0.14, color)
    tile = np.asarray(img, dtype=np.uint8)
    tile.flags.writeable = False
    return tile


@lru_cache(maxsize=8)
def _table(image_size: int) -> np.ndarray:
    table = np.empty((image_size, image_size, 3), dtype=np.uint8)
    table[:] = TABLE_COLOR
    table.flags.writeable = False
    return table


def render_hand(cards: Sequence[str], suits: Sequence[str], image_size: int = PAPER_CANVAS) -> np.ndarray:
    """The table with four cards, as a uint8 RGB array of shape ``(image_size, image_size, 3)``.

    Args:
        cards: four rank names, e.g. ``['A', '5', 'J', '10']``.
        suits: four suit names (``'spades'``, ``'clubs'``, ``'hearts'``, ``'diamonds'``).
        image_size: canvas side in pixels; 1200 is the paper's.
    """
    if len(cards) != 4 or len(suits) != 4:
        raise ValueError(f"render_hand draws exactly 4 cards, got {len(cards)} cards and {len(suits)} suits")
    canvas = _table(image_size).copy()
    for (left, top, w, h), rank, suit in zip(card_layout(image_size), cards, suits):
        canvas[top : top + h, left : left + w] = card_tile(rank, suit, w, h)
    return canvas
