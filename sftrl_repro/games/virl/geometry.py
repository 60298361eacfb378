"""Headings, compass names, relative turns and spatial relations (pure Python, no numpy).

Conventions used throughout V-IRL:

* positions are ``(x, y)`` in metres in a local flat frame, ``x`` east and ``y`` north;
* a heading is in degrees clockwise from north, in ``[0, 360)``: 0 = north, 90 = east;
* a turn is the signed heading change wrapped to ``[-180, 180)``: negative = to the left.

The relative labels follow the authors' thresholds (paper Sec. 4.2): a change below -45 degrees
is ``left``, above +45 ``right``, in ``[-45, 0]`` ``slightly left`` and in ``(0, 45]`` ``slightly right``
(0 counts as slightly left, as in their code). The authors apply these thresholds to the *raw*
difference ``next - previous`` without wrapping, so a turn from 350 to 10 degrees (+20, slightly
right) is labelled ``left`` (-340). :func:`relative_turn` wraps by default and reproduces the
authors' computation with ``wrap=False``.

Distances between geocodes (the authors' rail, see :mod:`~sftrl_repro.games.virl.rail`) are geodesics on
the WGS-84 ellipsoid, as the authors' ``geocode_utils.calculate_distance_from_geocode`` computes them
with ``geopy.distance.geodesic(a, b).meters``: :func:`geodesic_m` solves the same inverse problem
(Vincenty's iteration; within 0.1 mm of geopy's Karney solution at city scale).
"""

from __future__ import annotations

import math

Point = tuple[float, float]
"""A position ``(x, y)`` in metres: ``x`` east, ``y`` north."""

#: The 8 compass directions of the absolute action space, in heading order (0, 45, ..., 315 degrees).
COMPASS: tuple[str, ...] = (
    "north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest",
)
#: Heading in degrees of each name in :data:`COMPASS`.
COMPASS_DEGREES: dict[str, int] = {name: 45 * i for i, name in enumerate(COMPASS)}
#: The 4 directions of the relative (rule-OOD) action space, in the authors' order.
RELATIVE: tuple[str, ...] = ("left", "right", "slightly left", "slightly right")
#: Spatial relations of a landmark to an observer, in the V-IRL wording ("... is on your right front").
SPATIAL: tuple[str, ...] = (
    "front", "right front", "right", "right behind", "behind", "left behind", "left", "left front",
)

#: Mean Earth radius in metres, for the small-area equirectangular projection of geocodes.
EARTH_RADIUS_M = 6_371_000.0


def normalize_heading(heading: float) -> float:
    """``heading`` modulo 360, in ``[0, 360)``."""
    return heading % 360.0


def wrap_degrees(delta: float) -> float:
    """A signed angle wrapped to ``[-180, 180)`` (negative = counter-clockwise = to the left)."""
    return (delta + 180.0) % 360.0 - 180.0


def heading_between(a: Point, b: Point) -> float:
    """Heading in degrees ``[0, 360)`` of the straight line from ``a`` to ``b`` (0 = north, 90 = east)."""
    return math.degrees(math.atan2(b[0] - a[0], b[1] - a[1])) % 360.0


def distance(a: Point, b: Point) -> float:
    """Euclidean distance between two points, in metres."""
    return math.hypot(b[0] - a[0], b[1] - a[1])


def unit_vector(heading: float) -> Point:
    """The unit step ``(dx, dy)`` of walking one metre along ``heading`` degrees."""
    rad = math.radians(heading)
    return (math.sin(rad), math.cos(rad))


def compass_name(heading: float) -> str:
    """The nearest of the 8 compass names (each covers a 45-degree sector centred on its heading)."""
    return COMPASS[int(math.floor(normalize_heading(heading) / 45.0 + 0.5)) % 8]


def heading_change(previous: float, new: float, *, wrap: bool = True) -> float:
    """The turn from ``previous`` to ``new`` in degrees: wrapped to ``[-180, 180)``, or raw if ``wrap=False``."""
    delta = new - previous
    return wrap_degrees(delta) if wrap else delta


def relative_label(delta: float) -> str:
    """The relative direction of a turn of ``delta`` degrees (the authors' thresholds, see module doc)."""
    if delta < -45:
        return "left"
    if delta > 45:
        return "right"
    if delta <= 0:
        return "slightly left"
    return "slightly right"


def relative_turn(previous: float, new: float, *, wrap: bool = True) -> str:
    """The relative label of turning from heading ``previous`` to heading ``new``.

    >>> relative_turn(350, 10), relative_turn(350, 10, wrap=False)
    ('slightly right', 'left')
    """
    return relative_label(heading_change(previous, new, wrap=wrap))


def spatial_relation(observer_heading: float, bearing: float) -> str:
    """Where something at ``bearing`` (degrees) lies for an observer facing ``observer_heading``.

    One of :data:`SPATIAL`, each covering 45 degrees: e.g. a landmark 100 degrees clockwise of the
    facing direction is on the ``right``, one 140 degrees clockwise is ``right behind``.
    """
    rel = normalize_heading(bearing - observer_heading)
    return SPATIAL[int(math.floor(rel / 45.0 + 0.5)) % 8]


def geocode_to_xy(geocode: tuple[float, float], origin: tuple[float, float]) -> Point:
    """Project ``(lat, lng)`` to local metres around ``origin`` (equirectangular; exact enough for a city)."""
    lat0 = math.radians(origin[0])
    x = math.radians(geocode[1] - origin[1]) * math.cos(lat0) * EARTH_RADIUS_M
    y = math.radians(geocode[0] - origin[0]) * EARTH_RADIUS_M
    return (x, y)


def xy_to_geocode(point: Point, origin: tuple[float, float]) -> tuple[float, float]:
    """Inverse of :func:`geocode_to_xy`: local metres around ``origin`` to ``(lat, lng)`` in degrees."""
    lat0 = math.radians(origin[0])
    lat = origin[0] + math.degrees(point[1] / EARTH_RADIUS_M)
    lng = origin[1] + math.degrees(point[0] / (EARTH_RADIUS_M * math.cos(lat0)))
    return (lat, lng)


def lerp(a: Point, b: Point, t: float) -> Point:
    """The point a fraction ``t`` of the way from ``a`` to ``b``."""
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


#: WGS-84 ellipsoid: semi-major axis (m) and flattening (geopy's default ellipsoid).
WGS84_A = 6_378_137.0
WGS84_F = 1 / 298.257223563


def geodesic_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Geodesic distance in metres between two ``(lat, lng)`` geocodes on the WGS-84 ellipsoid.

    The inverse geodesic problem solved by Vincenty's iteration (converged to 1e-13 rad), the quantity
    ``geopy.distance.geodesic(a, b).meters`` gives (geopy uses Karney's algorithm; the two agree to well
    under a millimetre for points of one city). Nearly antipodal points, where the iteration may not
    converge, fall back to the last iterate (never relevant to a street route).

    >>> round(geodesic_m((40.758, -73.9855), (40.758, -73.98519438059517)), 3)
    25.807
    """
    lat1, lon1, lat2, lon2 = float(a[0]), float(a[1]), float(b[0]), float(b[1])
    if lat1 == lat2 and lon1 == lon2:
        return 0.0
    f, major = WGS84_F, WGS84_A
    minor = major * (1 - f)
    u1 = math.atan((1 - f) * math.tan(math.radians(lat1)))
    u2 = math.atan((1 - f) * math.tan(math.radians(lat2)))
    sin_u1, cos_u1, sin_u2, cos_u2 = math.sin(u1), math.cos(u1), math.sin(u2), math.cos(u2)
    big_l = math.radians(lon2 - lon1)
    lam = big_l
    sin_sigma = cos_sigma = sigma = cos2_alpha = cos_2sm = 0.0
    for _ in range(200):
        sin_lam, cos_lam = math.sin(lam), math.cos(lam)
        sin_sigma = math.hypot(cos_u2 * sin_lam, cos_u1 * sin_u2 - sin_u1 * cos_u2 * cos_lam)
        if sin_sigma == 0.0:
            return 0.0
        cos_sigma = sin_u1 * sin_u2 + cos_u1 * cos_u2 * cos_lam
        sigma = math.atan2(sin_sigma, cos_sigma)
        sin_alpha = cos_u1 * cos_u2 * sin_lam / sin_sigma
        cos2_alpha = 1 - sin_alpha * sin_alpha
        cos_2sm = cos_sigma - 2 * sin_u1 * sin_u2 / cos2_alpha if cos2_alpha != 0.0 else 0.0
        c = f / 16 * cos2_alpha * (4 + f * (4 - 3 * cos2_alpha))
        previous = lam
        lam = big_l + (1 - c) * f * sin_alpha * (
            sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1 + 2 * cos_2sm * cos_2sm)))
        if abs(lam - previous) < 1e-13:
            break
    u_sq = cos2_alpha * (major * major - minor * minor) / (minor * minor)
    big_a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    big_b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    delta_sigma = big_b * sin_sigma * (cos_2sm + big_b / 4 * (
        cos_sigma * (-1 + 2 * cos_2sm * cos_2sm)
        - big_b / 6 * cos_2sm * (-3 + 4 * sin_sigma * sin_sigma) * (-3 + 4 * cos_2sm * cos_2sm)))
    return minor * big_a * (sigma - delta_sigma)
