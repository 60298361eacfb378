"""Street views of a rail point: four 90-degree views (front, right, back, left) in a 2x2 grid.

Two sources, one output format (``uint8`` arrays, ``(size, size, 3)`` per view):

* :class:`StreetViewRenderer` draws a generated city with PIL: sky, ground, the streets leaving the
  point (a crossing street shows up in the side views, so intersections are visible), generic
  buildings in the city's style, and the landmarks within 60 m as facades with a sign carrying their
  name, drawn where they are (a landmark "on your right front" appears in the right half of the front
  view and the left half of the right view).
* :func:`panorama_view` cuts a perspective view out of an equirectangular street-view panorama by
  heading (the authors' released data).

:func:`view_grid` pastes the four views as ``[front, right; back, left]`` with black separator lines,
like the authors' grid (1200-pixel views and a 5-pixel separator, scaled with the view size).
Every pseudo-random detail (building colours, trees) is seeded from the position and the view, so an
image depends only on the city, the point and the heading.
"""

from __future__ import annotations

import functools
import math
import random
import zlib
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sftrl_repro.games.virl.city import City
from sftrl_repro.games.virl.geometry import Point, heading_between, wrap_degrees
from sftrl_repro.games.virl.styles import KIND_STYLES, STYLES, CityStyle, KindStyle

#: The authors' view size (``resolution: 1200``); the default of :class:`~sftrl_repro.envs.virl.env.VIRLEnv`.
PAPER_VIEW_SIZE = 1200
#: A view size for tiny models: the grid is 129 x 129 pixels.
TINY_VIEW_SIZE = 64
#: Horizontal field of view of each of the 4 views, degrees (4 x 90 = the full circle).
FOV_DEG = 90.0
#: View names and their heading offsets from the facing direction, in grid order.
VIEW_NAMES: tuple[str, ...] = ("front", "right", "back", "left")
VIEW_OFFSETS: tuple[int, ...] = (0, 90, 180, 270)
#: Landmarks farther than this are not drawn, metres.
LANDMARK_VISIBLE_M = 60.0
#: A point this close to an intersection sees all the streets that meet there, metres.
_AT_NODE_M = 6.0
#: A point this close to a street sees that street ahead and behind, metres.
_ON_STREET_M = 15.0


def grid_separator(size: int) -> int:
    """Width in pixels of the black lines between views: the authors' 5 px at 1200, scaled, at least 1."""
    return max(1, round(5 * size / PAPER_VIEW_SIZE))


def grid_shape(size: int) -> tuple[int, int, int]:
    """Shape ``(H, W, 3)`` of the 2x2 grid of views of ``size`` pixels."""
    side = 2 * size + grid_separator(size)
    return (side, side, 3)


def view_grid(views: Sequence[np.ndarray]) -> np.ndarray:
    """Paste 4 square views (front, right, back, left) into the 2x2 grid ``[front, right; back, left]``.

    Args:
        views: 4 ``uint8`` arrays of shape ``(S, S, 3)``.

    Returns:
        A ``uint8`` array of shape :func:`grid_shape` ``(S)``, black between the views.
    """
    size = views[0].shape[0]
    sep = grid_separator(size)
    grid = np.zeros(grid_shape(size), dtype=np.uint8)
    for i, view in enumerate(views):
        x, y = (i % 2) * (size + sep), (i // 2) * (size + sep)
        grid[y:y + size, x:x + size] = view
    return grid


# ----------------------------------------------------------------------------------------------
# Real data: views cut from equirectangular panoramas
# ----------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def _ray_angles(size: int, fov: float) -> tuple[np.ndarray, np.ndarray]:
    """Longitude offset and latitude (degrees) of every pixel ray of a pinhole view, ``(size, size)`` each."""
    focal = (size / 2) / math.tan(math.radians(fov) / 2)
    coords = (np.arange(size) + 0.5 - size / 2) / focal
    x, y = np.meshgrid(coords, coords)  # x to the right, y down
    longitude = np.degrees(np.arctan2(x, 1.0))
    latitude = np.degrees(np.arctan2(-y, np.sqrt(x * x + 1.0)))
    return longitude, latitude


def panorama_view(panorama: np.ndarray, heading: float, size: int, *, rotation: float = 0.0,
                  fov: float = FOV_DEG) -> np.ndarray:
    """A ``size`` x ``size`` perspective view cut from an equirectangular panorama, facing ``heading``.

    Args:
        panorama: ``uint8`` array ``(H, W, 3)``; columns span 360 degrees of heading, rows 180
            degrees of pitch (top = straight up).
        heading: the view's centre direction, degrees clockwise from north.
        size: output side in pixels.
        rotation: the panorama's heading offset (its metadata ``rotation``): the heading ``h`` is at
            column fraction ``((h + rotation) / 360) mod 1``, the convention of the V-IRL platform's
            offline panoramas.
        fov: horizontal field of view, degrees.

    Returns:
        ``uint8`` array ``(size, size, 3)`` (nearest-neighbour sampling).
    """
    height, width = panorama.shape[:2]
    longitude, latitude = _ray_angles(int(size), float(fov))
    cols = (((heading + rotation + longitude) / 360.0) % 1.0 * width).astype(np.intp)
    rows = ((0.5 - latitude / 180.0) * height).astype(np.intp)
    return panorama[np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)]


# ----------------------------------------------------------------------------------------------
# Generated cities: drawn views
# ----------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _font() -> ImageFont.ImageFont:
    # The bitmap font: identical pixels on every machine (a TrueType rasteriser may not be).
    return ImageFont.load_default_imagefont()


@functools.lru_cache(maxsize=4096)
def _text_mask(text: str) -> Image.Image:
    """The text in the bitmap font, as an ``L`` mask at its native ~11 px height."""
    left, top, right, bottom = _font().getbbox(text)
    mask = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, fill=255, font=_font())
    return mask


def _detail_rng(*key: object) -> random.Random:
    """An explicitly seeded generator for cosmetic details (stable across runs and machines)."""
    return random.Random(zlib.crc32("|".join(map(str, key)).encode()))


class StreetViewRenderer:
    """Draws the street views of a generated city.

    Args:
        city: the city (its streets and landmarks are what the views show).
        style: overrides the city's style (default: ``STYLES[city.name]``).
    """

    def __init__(self, city: City, style: CityStyle | None = None):
        self.city = city
        self.style = style or STYLES[city.name]
        self._nodes = np.asarray(city.nodes, dtype=float)
        self._seg_a = np.asarray([city.nodes[a] for a, _, _ in city.edges], dtype=float)
        self._seg_b = np.asarray([city.nodes[b] for _, b, _ in city.edges], dtype=float)
        self._landmarks = np.asarray([lm.position for lm in city.landmarks], dtype=float).reshape(-1, 2)

    # -- what is around a point --------------------------------------------------------------

    def street_directions(self, position: Point) -> list[float]:
        """Headings (degrees) of the streets leaving ``position``: all of them at an intersection,
        both ways along the street mid-block, none off-street."""
        p = np.asarray(position, dtype=float)
        node_d = np.hypot(*(self._nodes - p).T)
        v = int(np.argmin(node_d))
        if node_d[v] <= _AT_NODE_M:
            out = []
            for e in self.city.node_edges[v]:
                a, b, _ = self.city.edges[e]
                other = b if a == v else a
                out.append(heading_between(self.city.nodes[v], self.city.nodes[other]))
            return out
        ab = self._seg_b - self._seg_a
        t = np.clip(np.einsum("ij,ij->i", p - self._seg_a, ab) / np.einsum("ij,ij->i", ab, ab), 0.0, 1.0)
        seg_d = np.hypot(*(self._seg_a + t[:, None] * ab - p).T)
        e = int(np.argmin(seg_d))
        if seg_d[e] > _ON_STREET_M:
            return []
        forward = heading_between(tuple(self._seg_a[e]), tuple(self._seg_b[e]))
        return [forward, (forward + 180.0) % 360.0]

    def visible_landmarks(self, position: Point) -> list[tuple[int, float, float]]:
        """``(landmark index, distance m, bearing deg)`` of the landmarks within sight, farthest first."""
        if not len(self._landmarks):
            return []
        delta = self._landmarks - np.asarray(position, dtype=float)
        dist = np.hypot(delta[:, 0], delta[:, 1])
        near = np.nonzero(dist <= LANDMARK_VISIBLE_M)[0]
        bearings = np.degrees(np.arctan2(delta[near, 0], delta[near, 1])) % 360.0
        found = [(int(i), float(dist[i]), float(b)) for i, b in zip(near, bearings)]
        return sorted(found, key=lambda item: (-item[1], item[0]))

    # -- drawing -----------------------------------------------------------------------------

    def views(self, position: Point, heading: float, size: int) -> list[np.ndarray]:
        """The 4 views (front, right, back, left) at ``position`` facing ``heading``: ``uint8 (size, size, 3)`` each."""
        streets = self.street_directions(position)
        landmarks = self.visible_landmarks(position)
        return [np.asarray(self.view(position, heading + offset, size, streets=streets, landmarks=landmarks))
                for offset in VIEW_OFFSETS]

    def grid(self, position: Point, heading: float, size: int) -> np.ndarray:
        """The 2x2 grid of :meth:`views` (see :func:`view_grid`)."""
        return view_grid(self.views(position, heading, size))

    def view(self, position: Point, heading: float, size: int, *, streets: list[float] | None = None,
             landmarks: list[tuple[int, float, float]] | None = None) -> Image.Image:
        """One ``size`` x ``size`` view centred on ``heading`` (degrees), as a PIL image."""
        style, s = self.style, int(size)
        if streets is None:
            streets = self.street_directions(position)
        if landmarks is None:
            landmarks = self.visible_landmarks(position)
        image = Image.new("RGB", (s, s), style.sky)
        draw = ImageDraw.Draw(image)
        horizon = style.horizon * s
        draw.rectangle((0, horizon, s, s), fill=style.ground)
        rng = _detail_rng(self.city.name, round(position[0]), round(position[1]), round(heading) % 360, s)

        roads = [wrap_degrees(d - heading) for d in streets]
        ahead = [r for r in roads if abs(r) <= 30.0]
        if ahead:
            vanish_x = s / 2 + (s / 2) * math.tan(math.radians(min(ahead, key=abs)))
            _walls(draw, s, horizon, vanish_x, style, rng)
        else:
            _facade_row(draw, s, horizon, style, rng)
        for r in roads:
            if abs(r) <= 50.0:
                _road(draw, s, horizon, r, style)
        for index, dist, bearing in landmarks:
            rel = wrap_degrees(bearing - heading)
            if abs(rel) < FOV_DEG / 2 + 3:
                lm = self.city.landmarks[index]
                _landmark(image, draw, s, horizon, rel, dist, lm.name, KIND_STYLES[lm.kind])
        return image


def _road(draw: ImageDraw.ImageDraw, s: int, horizon: float, rel: float, style: CityStyle) -> None:
    """A road leaving towards relative angle ``rel`` (degrees): a trapezoid to its vanishing point."""
    vx = s / 2 + (s / 2) * math.tan(math.radians(rel))
    bx = s / 2 + 2.5 * (vx - s / 2)
    half = 0.6 * s
    draw.polygon([(vx - 0.01 * s, horizon), (vx + 0.01 * s, horizon), (bx + half, s), (bx - half, s)],
                 fill=style.road)
    for t0, t1 in ((0.08, 0.16), (0.3, 0.42), (0.62, 0.8)):
        (x0, y0), (x1, y1) = [(vx + (bx - vx) * t, horizon + (s - horizon) * t) for t in (t0, t1)]
        w0, w1 = 0.004 * s + 0.02 * s * t0, 0.004 * s + 0.02 * s * t1
        draw.polygon([(x0 - w0, y0), (x0 + w0, y0), (x1 + w1, y1), (x1 - w1, y1)], fill=style.marking)


def _walls(draw, s: int, horizon: float, vanish_x: float, style: CityStyle, rng: random.Random) -> None:
    """Building walls on both sides of a street that runs ahead to ``vanish_x`` on the horizon."""
    near_top = horizon - style.height[1] * s * 1.6
    near_bottom, far_top, far_bottom = horizon + 0.28 * s, horizon - 0.04 * s, horizon + 0.005 * s
    cuts = (0.0, 0.45, 0.68, 0.82, 0.91, 1.0)  # building boundaries, near to far (perspective spacing)
    for near_x, far_x in ((0.0, vanish_x - 0.06 * s), (float(s), vanish_x + 0.06 * s)):
        for u0, u1 in zip(cuts, cuts[1:]):
            k = rng.uniform(0.7, 1.0)  # this building's height, relative to the street's skyline
            color = style.buildings[rng.randrange(len(style.buildings))]

            def at(u, frac, k=k, near_x=near_x, far_x=far_x):
                """The wall point a fraction ``u`` of the way to the vanishing point, ``frac`` down from the roof."""
                x = near_x + (far_x - near_x) * u
                top = horizon - (horizon - (near_top + (far_top - near_top) * u)) * k
                bottom = near_bottom + (far_bottom - near_bottom) * u
                return (x, top + (bottom - top) * frac)

            draw.polygon([at(u0, 0.0), at(u1, 0.0), at(u1, 1.0), at(u0, 1.0)], fill=color)
            a, b = u0 + 0.08 * (u1 - u0), u1 - 0.08 * (u1 - u0)
            for f in (0.15, 0.35, 0.55):
                draw.polygon([at(a, f), at(b, f), at(b, f + 0.08), at(a, f + 0.08)], fill=style.window)


def _facade_row(draw, s: int, horizon: float, style: CityStyle, rng: random.Random) -> None:
    """A row of building fronts seen face-on (a side view with no street ahead)."""
    bottom = horizon + 0.3 * s
    draw.rectangle((0, bottom, s, s), fill=style.road)
    cut1, cut2 = rng.uniform(0.28, 0.42) * s, rng.uniform(0.6, 0.74) * s
    for x0, x1 in ((-1.0, cut1), (cut1, cut2), (cut2, s + 1.0)):
        top = horizon - rng.uniform(*style.height) * s * 1.4
        draw.rectangle((x0, top, x1, bottom), fill=style.buildings[rng.randrange(len(style.buildings))])
        cols, rows = 3, max(2, int((bottom - top) / (0.12 * s)))
        cw, rh = (x1 - x0) / cols, (bottom - top) / (rows + 1)
        for r in range(rows):
            for c in range(cols):
                wx, wy = x0 + (c + 0.3) * cw, top + (r + 0.4) * rh
                draw.rectangle((wx, wy, wx + 0.4 * cw, wy + 0.45 * rh), fill=style.window)
        if rng.random() < style.trees:
            cx = (x0 + x1) / 2 + rng.uniform(-0.1, 0.1) * s
            draw.rectangle((cx - 0.012 * s, bottom - 0.18 * s, cx + 0.012 * s, bottom + 0.02 * s), fill=(90, 60, 40))
            draw.ellipse((cx - 0.09 * s, bottom - 0.34 * s, cx + 0.09 * s, bottom - 0.14 * s), fill=style.foliage)


def _landmark(image: Image.Image, draw: ImageDraw.ImageDraw, s: int, horizon: float, rel: float, dist: float,
              name: str, kind: KindStyle) -> None:
    """A landmark at relative angle ``rel`` (degrees) and ``dist`` metres: a facade with its name sign."""
    scale = min(1.0, max(0.15, 18.0 / max(dist, 1.0)))
    cx = s / 2 + (s / 2) * math.tan(math.radians(rel))
    w = h = 0.7 * s * scale
    bottom = horizon + 0.3 * s * scale
    x0, x1, top = cx - w / 2, cx + w / 2, bottom - h
    band = top + 0.22 * h
    if kind.feature == "trees":  # a park: trees behind a name board
        for dx in (-0.3, 0.0, 0.3):
            tx = cx + dx * w
            draw.rectangle((tx - 0.03 * w, bottom - 0.35 * h, tx + 0.03 * w, bottom), fill=(90, 60, 40))
            draw.ellipse((tx - 0.2 * w, top + 0.15 * h, tx + 0.2 * w, bottom - 0.25 * h), fill=kind.accent)
        draw.rectangle((x0, bottom - 0.02 * h, x1, bottom + 0.02 * h), fill=kind.facade)
        x0, x1, top, band = cx - 0.4 * w, cx + 0.4 * w, top + 0.02 * h, top + 0.2 * h
    else:
        if kind.feature == "tower":
            draw.rectangle((cx - 0.25 * w, top - 0.35 * h, cx + 0.25 * w, top), fill=kind.facade)
            for f in (0.25, 0.6):
                draw.rectangle((cx - 0.15 * w, top - 0.35 * h * (1 - f), cx + 0.15 * w, top - 0.35 * h * (1 - f) + 0.06 * h),
                               fill=kind.accent)
        draw.rectangle((x0, top, x1, bottom), fill=kind.facade)
        draw.rectangle((cx - 0.1 * w, bottom - 0.35 * h, cx + 0.1 * w, bottom), fill=(35, 30, 30))  # door
        _feature(draw, kind, x0, x1, band, bottom, w, h)
    draw.rectangle((x0, top, x1, band), fill=kind.sign)
    if kind.feature == "marquee":
        for i in range(9):
            bx = x0 + (i + 0.5) * (x1 - x0) / 9
            draw.ellipse((bx - 0.015 * w, band - 0.02 * h, bx + 0.015 * w, band + 0.01 * h), fill=kind.accent)
    if kind.feature == "cross":
        cy, arm = (top + band) / 2, 0.08 * h
        draw.rectangle((x0 + 0.06 * w, cy - arm / 3, x0 + 0.06 * w + arm * 2, cy + arm / 3), fill=(255, 255, 255))
        draw.rectangle((x0 + 0.06 * w + arm * 2 / 3, cy - arm, x0 + 0.06 * w + arm * 4 / 3, cy + arm), fill=(255, 255, 255))
    _sign_text(image, name, x0, x1, top, band, kind.text)


def _feature(draw, kind: KindStyle, x0, x1, band, bottom, w, h) -> None:
    if kind.feature == "awning":
        stripes = 6
        for i in range(stripes):
            sx0, sx1 = x0 + i * (x1 - x0) / stripes, x0 + (i + 1) * (x1 - x0) / stripes
            draw.polygon([(sx0, band), (sx1, band), (sx1 + 0.02 * w, band + 0.12 * h), (sx0 + 0.02 * w, band + 0.12 * h)],
                         fill=kind.accent if i % 2 else kind.sign)
    elif kind.feature == "columns":
        for i in range(4):
            colx = x0 + (0.1 + 0.8 * i / 3) * w
            draw.rectangle((colx - 0.03 * w, band + 0.05 * h, colx + 0.03 * w, bottom), fill=kind.accent)
    elif kind.feature in ("cart", "plain"):  # a wide shop window
        draw.rectangle((x0 + 0.08 * w, band + 0.12 * h, x0 + 0.32 * w, bottom - 0.12 * h), fill=kind.accent)
        draw.rectangle((x1 - 0.32 * w, band + 0.12 * h, x1 - 0.08 * w, bottom - 0.12 * h), fill=kind.accent)


def _sign_text(image: Image.Image, text: str, x0: float, x1: float, top: float, band: float, color) -> None:
    """The name in the sign band, scaled to fit (skipped when it would be under 3 px tall)."""
    mask = _text_mask(text)
    height = 0.6 * (band - top)
    width = mask.width * height / mask.height
    if width > 0.92 * (x1 - x0):
        height *= 0.92 * (x1 - x0) / width
        width = 0.92 * (x1 - x0)
    if height < 3 or width < 3:
        return
    scaled = mask.resize((int(width), int(height)), Image.NEAREST)
    left = int((x0 + x1) / 2 - width / 2)
    upper = int((top + band) / 2 - height / 2)
    image.paste(color, (left, upper, left + scaled.width, upper + scaled.height), scaled)
