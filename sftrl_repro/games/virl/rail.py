"""The ground-truth rail of a route, and its instructions (paper Sec. 4.2).

The agent of the paper never leaves the rail: it is shown the observation of the current rail point,
answers with an action, and moves to the next point only when the action is the ground truth. Two
rules lay the rail; ``mode="authors"`` (the default) is the rule of the authors' code
(LeslieTrue/SFTvsRL @ 5a6ea55, ``NavigationEnvironment._parse_instruction_and_rail`` with
``relocation=True``), point for point; ``mode="package"`` is the package's earlier rule, kept as an
option.

``mode="authors"``:

1. the **start** point (heading: the initial heading; observation ``No landmarks nearby``; action:
   turn to the first leg's heading; instruction 1);
2. per leg whose length is **more than 5 m** (``MIN_LEG_M``), the points at ``i / n`` of the leg,
   ``i = 1 .. n`` (``n = straight_line_length``, the authors' 5; the last one is the leg's end), each
   dropped with probability ``drop_rate`` and kept only if it is **more than 8 m** (``min_gap_m``) from
   **both** ends of the leg: legs up to 20 m get no forward point, 20-40 m get 2, longer legs 4
   (action ``forward()``, observation ``No landmarks nearby``, heading of the leg, the leg's "Move
   forward ..." sentence). Lengths are geodesics on WGS-84 for geocoded (real) routes
   (:func:`~sftrl_repro.games.virl.geometry.geodesic_m`, what their ``geopy`` call gives), metres in the
   plane for generated ones; interpolation is theirs, ``prev * (1 - i/n) + end * (i/n)`` per coordinate;
3. the **end of every leg**: a turning intersection (the landmark text, or ``No landmark nearby``, plus
   ``You observe an intersection``; action: turn to the next leg's heading; the next "Turn ..."
   sentence), the last one the **destination** (action ``stop()``; it shares the last "Move forward
   until you reach destination ..." sentence).

The sentence index is theirs too: a leg of at most 5 m gets no forward points **and does not advance
the index**, so every later point carries the sentence before its own (forward points a "Turn ..."
sentence, turn points a "Move forward ..." one, ``stop()`` the last "Turn ..." one).

``mode="package"``: the inner cut points ``i = 1 .. n-1`` only, kept with probability ``1 - drop_rate``
and if at least ``min_gap_m`` from the previous kept point and from the leg's end; the sentence index
always follows the point's own sentence; intersections without a landmark say ``No landmarks nearby``.

Instructions (:func:`route_instructions`), two sentences per leg: ``"Turn {relative} to face
{direction}."`` (``"First, turn ..."`` for the first leg of a route with several legs), then
``"Move forward until you reach next intersection where {landmark}."`` (``"... next
intersection."`` when there is no landmark), the last leg ``"Move forward until you reach destination
where {landmark}."``; with ``mode="authors"`` a last leg without landmark reads ``"... destination where
No landmark nearby."`` as theirs does (``mode="package"``: ``"... destination."``).

Headings come from the route (geometric for generated cities, ``to_next_intersection_heading`` for the
authors' data). Relative labels follow the authors' code by default: the unwrapped heading difference
(``wrap_relative=False``; see :mod:`~sftrl_repro.games.virl.geometry`), which the paper's numbers were
produced with and which the instructions' words carry in both action spaces, so the prompts equal
the authors' byte for byte. ``wrap_relative=True`` labels turns with 360-degree wrap-around (the
geometric meaning of "left"/"right" the paper describes): it changes 25% of the turns of the
generated training city.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sftrl_repro.games.virl.geometry import Point, distance, geodesic_m, lerp, relative_turn
from sftrl_repro.games.virl.route import Route

#: Observation text of the start and of forward points (the authors' wording, plural).
NO_LANDMARKS = "No landmarks nearby"
#: The authors' text for a leg end with no landmark (singular: their default for a milestone block
#: without ``landmarks``); shown at such intersections and in "... destination where No landmark nearby.".
NO_LANDMARK = "No landmark nearby"
#: Added to the observation at a turning intersection (the authors' wording).
INTERSECTION_SEEN = "You observe an intersection"
#: The authors' training config: legs cut into 5 parts, each inner cut point dropped with p = 0.5.
STRAIGHT_LINE_LENGTH = 5
DROP_RATE = 0.5
#: Forward points must be more than this from both ends of their leg (the authors' 8 m rule), metres.
MIN_GAP_M = 8.0
#: Legs of at most this length get no forward points (the authors' 5 m test), metres.
MIN_LEG_M = 5.0
#: ``"authors"``: the authors' rail rule (default); ``"package"``: the package's earlier rule.
RAIL_MODES = ("authors", "package")

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
        landmark_observation: ``"No landmarks nearby"`` (start, forward points), the landmark text
            (``"X is on your left"``), or for a leg end without landmark ``"No landmark nearby"``
            (``mode="authors"``) / ``"No landmarks nearby"`` (``mode="package"``). The authors' verifier
            compares answers with this text (never with the intersection part).
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
        mode: the rule that laid it, ``"authors"`` or ``"package"`` (see the module docstring).
    """

    route: Route
    init_heading: int
    instructions: tuple[str, ...]
    points: tuple[RailPoint, ...]
    wrap_relative: bool = False
    mode: str = "authors"

    def __len__(self) -> int:
        return len(self.points)


def relative_labels(route: Route, init_heading: float, *, wrap: bool = True) -> list[str]:
    """The relative turn before each leg: from ``init_heading`` to leg 0, then from leg ``k-1`` to leg ``k``."""
    previous = [init_heading, *(leg.heading for leg in route.legs[:-1])]
    return [relative_turn(p, leg.heading, wrap=wrap) for p, leg in zip(previous, route.legs)]


def _check_mode(mode: str) -> str:
    if mode not in RAIL_MODES:
        raise ValueError(f"mode={mode!r} is not valid; choose one of: 'authors', 'package'")
    return mode


def route_instructions(route: Route, init_heading: float, *, wrap_relative: bool = False,
                       mode: str = "authors") -> tuple[str, ...]:
    """The instruction sentences of a route (two per leg), unnumbered; see the module docstring.

    ``mode="authors"`` gives the authors' exact texts (a single-leg route starts with ``"Turn ..."``;
    a last leg without landmark ends ``"... destination where No landmark nearby."``).
    """
    _check_mode(mode)
    labels = relative_labels(route, init_heading, wrap=wrap_relative)
    last = len(route.legs) - 1
    sentences: list[str] = []
    for k, (leg, label) in enumerate(zip(route.legs, labels)):
        turn_word = "First, turn" if k == 0 and k != last else "Turn"
        sentences.append(f"{turn_word} {label} to face {leg.direction}.")
        if k == last:
            landmark = leg.landmark or (NO_LANDMARK if mode == "authors" else "")
            where = f" where {landmark}" if landmark else ""
            sentences.append(f"Move forward until you reach destination{where}.")
        elif leg.landmark:
            sentences.append(f"Move forward until you reach next intersection where {leg.landmark}.")
        else:
            sentences.append("Move forward until you reach next intersection.")
    return tuple(sentences)


def _authors_lerp(a: tuple[float, float], b: tuple[float, float], i: int, n: int) -> tuple[float, float]:
    """The authors' interpolation ``a * (1 - i/n) + b * (i/n)`` per coordinate (bit for bit)."""
    t = i / n
    return (a[0] * (1 - t) + b[0] * t, a[1] * (1 - t) + b[1] * t)


def build_rail(
    route: Route,
    *,
    rng: np.random.Generator,
    init_heading: int | None = None,
    drop_rate: float = DROP_RATE,
    straight_line_length: int = STRAIGHT_LINE_LENGTH,
    min_gap_m: float = MIN_GAP_M,
    wrap_relative: bool = False,
    snap: SnapFn | None = None,
    mode: str = "authors",
) -> Rail:
    """Lay the ground-truth rail over ``route`` for one episode.

    Args:
        route: the route.
        rng: the episode's generator; it draws the initial heading (only when the route has none and
            ``init_heading`` is not given) and which forward points are dropped (one draw per
            candidate, whatever ``drop_rate`` is).
        init_heading: overrides the route's initial heading when given.
        drop_rate: probability of dropping each candidate forward point, in ``[0, 1]``.
        straight_line_length: ``n``: candidates at ``i / n`` of each leg (see the module docstring).
        min_gap_m: the 8 m rule (see the module docstring), metres.
        wrap_relative: ``False`` (default) reproduces the authors' unwrapped labels; ``True`` wraps
            heading changes to ``[-180, 180)`` before labelling (geometric left/right).
        snap: real data only: relocates every point to a street-view panorama (see :data:`SnapFn`).
        mode: ``"authors"`` (default) or ``"package"`` (see the module docstring).

    Returns:
        The :class:`Rail`. The same route, generator state and arguments give the same rail.
    """
    _check_mode(mode)
    if init_heading is None:
        init_heading = route.init_heading
    if init_heading is None:
        init_heading = int(rng.integers(0, 360))
    builder = _authors_points if mode == "authors" else _package_points
    points = builder(route, rng=rng, init_heading=init_heading, drop_rate=drop_rate,
                     n=max(int(straight_line_length), 1), min_gap_m=min_gap_m,
                     labels=relative_labels(route, init_heading, wrap=wrap_relative), snap=snap)
    instructions = route_instructions(route, init_heading, wrap_relative=wrap_relative, mode=mode)
    return Rail(route=route, init_heading=int(init_heading), instructions=instructions,
                points=tuple(points), wrap_relative=wrap_relative, mode=mode)


class _Points(list):
    """Rail points under construction (``add`` numbers them)."""

    def add(self, kind, spot, heading, absolute, relative, instruction, leg, landmark, name="",
            at_intersection=False):
        self.append(RailPoint(
            index=len(self), kind=kind, position=spot[0], heading=int(heading),
            absolute_action=absolute, relative_action=relative, landmark_observation=landmark,
            landmark_name=name, at_intersection=at_intersection, instruction_index=instruction, leg=leg,
            geocode=spot[1], pano_id=spot[2],
        ))


def _placer(snap):
    def place(geocode, position, required):
        """``(xy, geocode, pano_id)`` of a point; real data is relocated to a panorama (``None`` = drop)."""
        if snap is None or geocode is None:
            return position, geocode, None
        return snap(geocode, required)
    return place


def _authors_points(route, *, rng, init_heading, drop_rate, n, min_gap_m, labels, snap):
    """The authors' rail rule (module docstring), on geocodes when the route has them, else metres."""
    legs = route.legs
    last = len(legs) - 1
    on_earth = route.start_geocode is not None and all(leg.end_geocode is not None for leg in legs)
    place = _placer(snap)
    # The space distances are measured and points interpolated in: (lat, lng) or (x, y).
    coord = (lambda spot: spot[1]) if on_earth else (lambda spot: spot[0])
    dist = geodesic_m if on_earth else distance
    points = _Points()
    previous = place(route.start_geocode if on_earth else None, route.start, True)
    points.add("start", previous, init_heading, turn_action(legs[0].direction), turn_action(labels[0]),
               0, 0, NO_LANDMARKS)
    instruction = 1
    for k, leg in enumerate(legs):
        raw_end = leg.end_geocode if on_earth else leg.end
        # As theirs: the leg's length is measured to the end before it is relocated.
        length = dist(coord(previous), raw_end)
        end = place(leg.end_geocode if on_earth else None, leg.end, True)
        if length > MIN_LEG_M:
            dropped = rng.random(n) < drop_rate
            for i in range(1, n + 1):
                if dropped[i - 1]:
                    continue
                if on_earth:
                    spot = place(_authors_lerp(previous[1], end[1], i, n),
                                 _authors_lerp(previous[0], end[0], i, n), False)
                    if spot is None:
                        continue
                else:
                    spot = (_authors_lerp(previous[0], end[0], i, n), None, None)
                c = coord(spot)
                if dist(coord(previous), c) > min_gap_m and dist(coord(end), c) > min_gap_m:
                    points.add("forward", spot, leg.heading, forward_action(), forward_action(),
                               instruction, k, NO_LANDMARKS)
            instruction += 1
        landmark = leg.landmark or NO_LANDMARK
        name = leg.landmark_name if leg.landmark else ""
        if k < last:
            points.add("intersection", end, leg.heading, turn_action(legs[k + 1].direction),
                       turn_action(labels[k + 1]), instruction, k, landmark, name, at_intersection=True)
        else:
            instruction -= 1  # stop() shares the last "Move forward ..." sentence
            points.add("destination", end, leg.heading, stop_action(), stop_action(), instruction, k,
                       landmark, name)
        instruction += 1
        previous = end
    return points


def _package_points(route, *, rng, init_heading, drop_rate, n, min_gap_m, labels, snap):
    """The package's earlier rail rule (module docstring)."""
    legs = route.legs
    last = len(legs) - 1
    place = _placer(snap)
    points = _Points()
    previous = place(route.start_geocode, route.start, True)
    points.add("start", previous, init_heading, turn_action(legs[0].direction), turn_action(labels[0]), 0, 0,
               NO_LANDMARKS)
    for k, leg in enumerate(legs):
        end = place(leg.end_geocode, leg.end, True)
        # One draw per candidate, whatever drop_rate is, so the random stream never depends on it.
        keep = rng.random(n - 1) >= drop_rate
        for j in range(1, n):
            if not keep[j - 1]:
                continue
            t = j / n
            # Real data: interpolate between the relocated ends.
            geocode = lerp(previous[1], end[1], t) if previous[1] is not None and end[1] is not None else None
            spot = place(geocode, lerp(previous[0], end[0], t), False)
            if spot is None:
                continue
            # Too close to the last kept point (or relocated onto the same panorama), or to the leg's end.
            if distance(spot[0], points[-1].position) < min_gap_m or distance(spot[0], end[0]) < min_gap_m:
                continue
            points.add("forward", spot, leg.heading, forward_action(), forward_action(), 2 * k + 1, k,
                       NO_LANDMARKS)
        landmark = leg.landmark or NO_LANDMARKS
        name = leg.landmark_name if leg.landmark else ""
        if k < last:
            points.add("intersection", end, leg.heading, turn_action(legs[k + 1].direction),
                       turn_action(labels[k + 1]), 2 * k + 2, k, landmark, name, at_intersection=True)
        else:
            points.add("destination", end, leg.heading, stop_action(), stop_action(), 2 * k + 1, k, landmark, name)
        previous = end
    return points


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
