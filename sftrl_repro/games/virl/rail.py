"""The ground-truth rail of a route, and its instructions (paper Sec. 4.2).

The agent of the paper never leaves the rail: it is shown the observation of the current rail point,
answers with an action, and moves to the next point only when the action is the ground truth. A rail
is built the way the authors build it:

1. the **start** point: facing the initial heading, the action turns to the first leg's heading;
2. for every leg, **forward points** interpolated along the straight line (action ``forward()``,
   observation ``No landmarks nearby``): the leg is cut into ``straight_line_length`` equal parts and
   each inner cut point is kept with probability ``1 - drop_rate`` (the authors' training config uses
   5 and 0.5, so a leg has 0-4 forward points, 2 on average); points closer than ``min_gap_m`` to
   the previous rail point or to the end of the leg are dropped too (the authors' 8 m rule; it also
   removes their fifth cut point, which is the leg's end itself);
3. the **intersection** at the end of every leg but the last: the landmark seen there plus
   ``You observe an intersection``; the action turns to the next leg's heading;
4. the **destination**: the destination's landmark text; the action is ``stop()``.

Headings come from the route (computed geometrically for generated cities, read from
``to_next_intersection_heading`` for real data). Relative labels are computed with wrap-around by
default; ``wrap_relative=False`` reproduces the authors' unwrapped difference (see
:mod:`~sftrl_repro.games.virl.geometry`), which also changes the words of the instructions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sftrl_repro.games.virl.geometry import Point, distance, lerp, relative_turn
from sftrl_repro.games.virl.route import Route

#: Observation text of a point where nothing is named (the authors' wording).
NO_LANDMARKS = "No landmarks nearby"
#: Added to the observation at a turning intersection (the authors' wording).
INTERSECTION_SEEN = "You observe an intersection"
#: The authors' training config: legs cut into 5 parts, each inner cut point dropped with p = 0.5.
STRAIGHT_LINE_LENGTH = 5
DROP_RATE = 0.5
#: Forward points closer than this to the previous point or the leg's end are dropped (the authors' 8 m rule).
MIN_GAP_M = 8.0

ACTION_SPACES = ("absolute", "relative")

SnapFn = Callable[[tuple[float, float], bool], "tuple[Point, tuple[float, float], str] | None"]
"""``snap(geocode, required) -> (xy, geocode, pano_id) | None``: relocate a geocode to a street-view
panorama (real data). With ``required=False`` it may return ``None`` (no panorama close enough: the
point is dropped, as the authors drop points that fail to relocate)."""


def forward_action() -> str:
    """The action of moving one rail point ahead."""
    return "forward()"


def stop_action() -> str:
    """The action that ends the route at the destination."""
    return "stop()"


def turn_action(direction: str) -> str:
    """``turn_direction(<direction>)``, for a compass name or a relative label."""
    return f"turn_direction({direction})"


@dataclass(frozen=True)
class RailPoint:
    """One movable point of the rail: where the agent stands, what it observes, what it must do.

    Attributes:
        index: position on the rail, 0 = start.
        kind: ``"start"``, ``"forward"``, ``"intersection"`` or ``"destination"``.
        position: ``(x, y)`` metres in the route's frame.
        heading: the direction the agent faces here before acting, whole degrees in ``[0, 360)``.
        absolute_action: ground-truth action in the absolute (ID) action space.
        relative_action: ground-truth action in the relative (rule-OOD) action space.
        landmark_observation: ``"No landmarks nearby"`` or the landmark text (``"X is on your left"``).
        landmark_name: the landmark's name when one is named here, else ``""``.
        at_intersection: whether this is a turning intersection (it is then said in the observation).
        instruction_index: 0-based index of the instruction sentence being executed here (the
            authors store it 1-based).
        leg: index of the leg this point belongs to (the start belongs to leg 0; an intersection to
            the leg it ends).
        geocode: ``(lat, lng)`` for real data, else ``None``.
        pano_id: the street-view panorama of this point (real data), else ``None``.
    """

    index: int
    kind: str
    position: Point
    heading: int
    absolute_action: str
    relative_action: str
    landmark_observation: str
    landmark_name: str
    at_intersection: bool
    instruction_index: int
    leg: int
    geocode: tuple[float, float] | None = None
    pano_id: str | None = None

    @property
    def observation(self) -> str:
        """The oracle observation text, exactly as the authors format it: ``"<landmark>; <intersection>"``."""
        return f"{self.landmark_observation}; {INTERSECTION_SEEN if self.at_intersection else ''}"

    def action(self, actions: str) -> str:
        """The ground-truth action in the ``"absolute"`` or ``"relative"`` action space."""
        return self.absolute_action if actions == "absolute" else self.relative_action


@dataclass(frozen=True)
class Rail:
    """The ground-truth rail of one episode over a route.

    Attributes:
        route: the route it was built over.
        init_heading: the initial facing used (the route's, or drawn for this episode).
        instructions: the instruction sentences, unnumbered (see :func:`route_instructions`).
        points: the rail points, start first, destination last.
        wrap_relative: whether relative labels were computed with 360-degree wrap-around.
    """

    route: Route
    init_heading: int
    instructions: tuple[str, ...]
    points: tuple[RailPoint, ...]
    wrap_relative: bool = True

    def __len__(self) -> int:
        return len(self.points)


def relative_labels(route: Route, init_heading: float, *, wrap: bool = True) -> list[str]:
    """The relative turn before each leg: from ``init_heading`` to leg 0, then from leg ``k-1`` to leg ``k``."""
    previous = [init_heading, *(leg.heading for leg in route.legs[:-1])]
    return [relative_turn(p, leg.heading, wrap=wrap) for p, leg in zip(previous, route.legs)]


def route_instructions(route: Route, init_heading: float, *, wrap_relative: bool = True) -> tuple[str, ...]:
    """The instruction sentences of a route, in the authors' sentence pattern (two per leg).

    Per leg: ``"Turn {relative} to face {direction}."`` (``"First, turn ..."`` for the first of
    several legs), then ``"Move forward until you reach next intersection where {landmark}."``, the
    last leg ending ``"... until you reach destination where {landmark}."``.
    """
    labels = relative_labels(route, init_heading, wrap=wrap_relative)
    last = len(route.legs) - 1
    sentences: list[str] = []
    for k, (leg, label) in enumerate(zip(route.legs, labels)):
        turn_word = "First, turn" if k == 0 and k != last else "Turn"
        sentences.append(f"{turn_word} {label} to face {leg.direction}.")
        if k == last:
            where = f" where {leg.landmark}" if leg.landmark else ""
            sentences.append(f"Move forward until you reach destination{where}.")
        elif leg.landmark:
            sentences.append(f"Move forward until you reach next intersection where {leg.landmark}.")
        else:
            sentences.append("Move forward until you reach next intersection.")
    return tuple(sentences)


def build_rail(
    route: Route,
    *,
    rng: np.random.Generator,
    init_heading: int | None = None,
    drop_rate: float = DROP_RATE,
    straight_line_length: int = STRAIGHT_LINE_LENGTH,
    min_gap_m: float = MIN_GAP_M,
    wrap_relative: bool = True,
    snap: SnapFn | None = None,
) -> Rail:
    """Lay the ground-truth rail over ``route`` for one episode.

    Args:
        route: the route.
        rng: the episode's generator; it draws the initial heading (only when the route has none and
            ``init_heading`` is not given) and which forward points are dropped.
        init_heading: overrides the route's initial heading when given.
        drop_rate: probability of dropping each candidate forward point, in ``[0, 1]``.
        straight_line_length: a leg is cut into this many equal parts; the inner cut points are the
            forward-point candidates (``straight_line_length - 1`` per leg).
        min_gap_m: forward points closer than this (metres) to the previous rail point or to the end of
            their leg are dropped.
        wrap_relative: ``True`` (default) wraps heading changes to ``[-180, 180)`` before labelling;
            ``False`` reproduces the authors' unwrapped labels.
        snap: real data only: relocates every point to a street-view panorama (see :data:`SnapFn`).

    Returns:
        The :class:`Rail`. The same route, generator state and arguments give the same rail.
    """
    if init_heading is None:
        init_heading = route.init_heading
    if init_heading is None:
        init_heading = int(rng.integers(0, 360))
    instructions = route_instructions(route, init_heading, wrap_relative=wrap_relative)
    labels = relative_labels(route, init_heading, wrap=wrap_relative)
    legs = route.legs
    last = len(legs) - 1
    points: list[RailPoint] = []

    def place(geocode, position, required):
        """``(xy, geocode, pano_id)`` of a point; real data is relocated to a panorama (``None`` = drop)."""
        if snap is None or geocode is None:
            return position, None, None
        return snap(geocode, required)

    def add(kind, spot, heading, absolute, relative, instruction, leg, landmark="", name="", at_intersection=False):
        points.append(RailPoint(
            index=len(points), kind=kind, position=spot[0], heading=int(heading),
            absolute_action=absolute, relative_action=relative,
            landmark_observation=landmark or NO_LANDMARKS, landmark_name=name if landmark else "",
            at_intersection=at_intersection, instruction_index=instruction, leg=leg,
            geocode=spot[1], pano_id=spot[2],
        ))

    previous = place(route.start_geocode, route.start, True)
    add("start", previous, init_heading, absolute=turn_action(legs[0].direction),
        relative=turn_action(labels[0]), instruction=0, leg=0)
    n = max(int(straight_line_length), 1)
    for k, leg in enumerate(legs):
        end = place(leg.end_geocode, leg.end, True)
        # One draw per candidate, whatever drop_rate is, so the random stream never depends on it.
        keep = rng.random(n - 1) >= drop_rate
        for j in range(1, n):
            if not keep[j - 1]:
                continue
            t = j / n
            # Real data: interpolate between the relocated ends, as the authors do.
            geocode = lerp(previous[1], end[1], t) if previous[1] is not None and end[1] is not None else None
            spot = place(geocode, lerp(previous[0], end[0], t), False)
            if spot is None:
                continue
            # Too close to the last kept point (or relocated onto the same panorama), or to the leg's end.
            if distance(spot[0], points[-1].position) < min_gap_m or distance(spot[0], end[0]) < min_gap_m:
                continue
            add("forward", spot, leg.heading, absolute=forward_action(), relative=forward_action(),
                instruction=2 * k + 1, leg=k)
        if k < last:
            add("intersection", end, leg.heading, absolute=turn_action(legs[k + 1].direction),
                relative=turn_action(labels[k + 1]), instruction=2 * k + 2, leg=k,
                landmark=leg.landmark, name=leg.landmark_name, at_intersection=True)
        else:
            # stop() shares the last "Move forward until you reach destination ..." sentence.
            add("destination", end, leg.heading, absolute=stop_action(), relative=stop_action(),
                instruction=2 * k + 1, leg=k, landmark=leg.landmark, name=leg.landmark_name)
        previous = end
    return Rail(route=route, init_heading=int(init_heading), instructions=instructions,
                points=tuple(points), wrap_relative=wrap_relative)


def rail_rows(rail: Rail, *, unwrapped: Rail | None = None) -> list[dict]:
    """The rail as table rows (for notebooks): point, kind, heading, observation and actions.

    Args:
        rail: the rail.
        unwrapped: optionally the same rail built with ``wrap_relative=False`` (same generator state),
            to show the authors' relative labels beside the corrected ones.
    """
    rows = []
    for i, p in enumerate(rail.points):
        row = {
            "point": p.index, "kind": p.kind, "heading": p.heading, "observation": p.observation.strip(),
            "absolute": p.absolute_action, "relative": p.relative_action,
        }
        if unwrapped is not None:
            row["relative (unwrapped)"] = unwrapped.points[i].relative_action
        rows.append(row)
    return rows


def unwrapped_differences(routes, *, seed: int = 0) -> dict:
    """How often the authors' unwrapped relative labels differ from the wrapped ones.

    Each route's rail is built twice from the same generator state (``seed + route number``), with and
    without wrap-around. Returns ``{"routes", "routes differing", "turns", "turns differing"}``, turns
    being the rail points whose action is a turn.
    """
    routes_differing = turns = turns_differing = 0
    for i, route in enumerate(routes):
        wrapped = build_rail(route, rng=np.random.default_rng(seed + i))
        unwrapped = build_rail(route, rng=np.random.default_rng(seed + i), wrap_relative=False)
        differ = [a.relative_action != b.relative_action for a, b in zip(wrapped.points, unwrapped.points)
                  if a.relative_action.startswith("turn_direction")]
        turns += len(differ)
        turns_differing += sum(differ)
        routes_differing += any(differ)
    return {"routes": len(routes), "routes differing": routes_differing, "turns": turns,
            "turns differing": turns_differing}
