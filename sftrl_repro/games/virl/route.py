"""The route schema shared by generated cities and the authors' released data.

A route is a start, a facing direction, and a list of straight *legs*. Each leg is walked along one
heading and ends at a turning intersection, except the last, which ends at the destination. This is
exactly what the authors' ``route_infos.json`` holds (paper Sec. 4.2): ``start_place``,
``init_heading``, ``route_results.geocode_list`` (the leg ends) and ``milestone_info`` (one block
per leg with ``to_next_intersection_heading`` and the ``landmarks`` seen where the leg ends).
Everything per-episode (the dropped forward points, a random initial heading) is decided later, when
:func:`~sftrl_repro.games.virl.rail.build_rail` lays the ground-truth rail over a route.
"""

from __future__ import annotations

from dataclasses import dataclass

from sftrl_repro.games.virl.geometry import Point


@dataclass(frozen=True)
class Landmark:
    """A named place beside a street of a generated city.

    Attributes:
        name: display name, ASCII, unique within its city (e.g. ``"Hotel Brera"``).
        kind: one of :data:`~sftrl_repro.games.virl.names.LANDMARK_KINDS` (``"cafe"``, ``"bank"``, ...);
            decides the facade drawn in street views.
        position: where the facade stands, ``(x, y)`` metres (a few metres off the street).
        anchor: the point on the street in front of it, ``(x, y)`` metres; a route ending at this
            landmark ends here.
        street: index of that street in :attr:`City.streets`.
        edge: index in :attr:`City.edges` of the street segment the anchor lies on.
    """

    name: str
    kind: str
    position: Point
    anchor: Point
    street: int
    edge: int


@dataclass(frozen=True)
class Leg:
    """One straight walk of a route.

    Attributes:
        heading: direction of walking, whole degrees clockwise from north in ``[0, 360)``
            (the ``deg`` of ``to_next_intersection_heading: 'deg (dir)'`` in the authors' data).
        direction: its compass name (``"north"`` ... ``"northwest"``); the ``dir`` of the authors'
            ``'deg (dir)'``, so it is taken from the data when there is data.
        end: where the leg ends, ``(x, y)`` metres: a turning intersection, or the destination for the
            last leg.
        landmark: what is seen where the leg ends, in the V-IRL wording
            (``"Hotel 32One is on your right behind"``); ``""`` when nothing is named there.
        landmark_name: the name inside :attr:`landmark` (``"Hotel 32One"``), ``""`` if none; used
            to check landmark detection in vision.
        end_geocode: ``(lat, lng)`` of :attr:`end` for real data (to find street-view panoramas);
            ``None`` for generated routes.
        street: name of the street walked, ``""`` when unknown (real data).
    """

    heading: int
    direction: str
    end: Point
    landmark: str
    landmark_name: str = ""
    end_geocode: tuple[float, float] | None = None
    street: str = ""


@dataclass(frozen=True)
class Route:
    """A start, an initial facing, and the legs to a destination.

    Attributes:
        route_id: unique id within its route set (``"new_york-0007"`` or ``"real-0007"``).
        city: name of the city; for generated routes, the key of its visual style.
        start: start position ``(x, y)`` metres.
        init_heading: the direction the agent faces at the start, whole degrees; ``None`` means
            "draw one at random for each episode" (the authors do this when ``init_heading`` is 0
            or missing).
        legs: the straight legs, at least one; every leg but the last ends at a turning intersection.
        destination: name of the destination place.
        start_geocode: ``(lat, lng)`` of :attr:`start` for real data, else ``None``.
    """

    route_id: str
    city: str
    start: Point
    init_heading: int | None
    legs: tuple[Leg, ...]
    destination: str
    start_geocode: tuple[float, float] | None = None

    @property
    def n_turns(self) -> int:
        """Turning intersections on the way (legs minus one); the start turn is not counted."""
        return len(self.legs) - 1

    @property
    def points(self) -> tuple[Point, ...]:
        """Start, then the end of every leg: ``(n_legs + 1)`` positions in metres."""
        return (self.start, *(leg.end for leg in self.legs))
