"""Procedural cities: named streets, landmarks and routes, deterministic from a seed.

A city is drawn on a square of ``extent_m`` metres as three families of straight streets:

* the *main* family (e.g. avenues), rotated a little off north;
* the *cross* family, roughly perpendicular to it;
* a few *diagonal* boulevards at roughly 45 and 135 degrees to the grid (like Broadway), so that
  legs along all 8 compass headings occur.

Street crossings closer than ``merge_radius_m`` are merged into one intersection (a diagonal that
passes near a grid corner makes a 6-way intersection, not two tiny blocks). Landmarks of several
kinds stand at intersection corners and mid-block. A route is a random walk over the street graph: it
starts mid-block, walks 1-3 blocks per leg, turns onto another street at 2-4 intersections (never a
U-turn or a straight continuation), and ends in front of a mid-block landmark, its destination. Leg
headings are the geometric headings of the straight line from the leg's start to its end, rounded to
whole degrees, like the authors' ``to_next_intersection_heading``.

Everything is drawn from one ``numpy`` generator seeded by ``(seed, city name, tag)``, in a fixed
order, so the same config gives the same city on every machine.
"""

from __future__ import annotations

import functools
import re
import zlib
from dataclasses import dataclass, field, replace

import numpy as np

from sftrl_repro.games.virl.geometry import (
    COMPASS,
    Point,
    compass_name,
    distance,
    heading_between,
    lerp,
    spatial_relation,
    unit_vector,
    wrap_degrees,
)
from sftrl_repro.games.virl.names import CITY_NAMES, LANDMARK_KINDS, VLN_MINI_CITIES, LandmarkNamer, street_names
from sftrl_repro.games.virl.route import Landmark, Leg, Route
from sftrl_repro.utils.params import check_choice, check_int

#: Number of routes of the default training city (the authors' NYC set has 1,000 routes).
TRAIN_ROUTES = 1000
#: Name of the training city; its style is New York's, as the paper trains on NYC routes.
TRAIN_CITY = "New York"


@dataclass(frozen=True)
class CityConfig:
    """Parameters of a generated city.

    Attributes:
        name: the city; picks its street and landmark names and its visual style (one of
            :data:`~sftrl_repro.games.virl.names.CITY_NAMES`).
        seed: the seed; with ``name`` and ``tag`` it decides everything.
        n_routes: number of distinct routes to generate.
        tag: separates cities that share a name and a seed (``"train"`` vs ``"vln_mini"``).
        extent_m: side of the square city, metres.
        grid_angle_deg: range of the main family's rotation from north, degrees.
        main_spacing_m: range of the gap between neighbouring main-family streets, metres.
        cross_spacing_m: range of the gap between neighbouring cross-family streets, metres.
        n_diagonals: number of diagonal boulevards (alternating ~45 and ~135 degrees to the grid).
        merge_radius_m: crossings closer than this become one intersection, metres.
        corner_landmark_p: probability that an intersection has a landmark at one of its corners.
        midblock_landmark_p: probability of a landmark on each side of each long enough block.
        min_turns: fewest turning intersections of a route.
        max_turns: most turning intersections of a route.
        max_blocks_per_leg: most blocks walked in one leg.
        min_leg_m: shortest leg, metres.
    """

    name: str = TRAIN_CITY
    seed: int = 0
    n_routes: int = TRAIN_ROUTES
    tag: str = "train"
    extent_m: float = 1800.0
    grid_angle_deg: tuple[float, float] = (-12.0, 12.0)
    main_spacing_m: tuple[float, float] = (120.0, 180.0)
    cross_spacing_m: tuple[float, float] = (80.0, 120.0)
    n_diagonals: int = 3
    merge_radius_m: float = 30.0
    corner_landmark_p: float = 0.85
    midblock_landmark_p: float = 0.6
    min_turns: int = 2
    max_turns: int = 4
    max_blocks_per_leg: int = 3
    min_leg_m: float = 40.0

    def validate(self) -> CityConfig:
        """Return ``self`` if every field is valid; else raise ``ValueError`` naming the field."""
        check_choice("name", self.name, CITY_NAMES)
        check_int("seed", self.seed)
        check_int("n_routes", self.n_routes, low=1)
        check_int("n_diagonals", self.n_diagonals, low=0)
        check_int("min_turns", self.min_turns, low=1)
        check_int("max_turns", self.max_turns, low=self.min_turns)
        check_int("max_blocks_per_leg", self.max_blocks_per_leg, low=1)
        for name in ("extent_m", "merge_radius_m", "min_leg_m"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}={getattr(self, name)!r} is not valid; it must be > 0")
        for name in ("main_spacing_m", "cross_spacing_m"):
            low, high = getattr(self, name)
            if not 2 * self.merge_radius_m < low <= high:
                raise ValueError(f"{name}={(low, high)!r} is not valid; it must satisfy "
                                 f"2 * merge_radius_m < low <= high")
        return self


@dataclass(frozen=True)
class Street:
    """A named street: a chain of intersections.

    Attributes:
        name: the street's name (``"5th Avenue"``).
        family: ``"main"``, ``"cross"`` or ``"diagonal"``.
        nodes: indices into :attr:`City.nodes` of its intersections, in order along the street.
    """

    name: str
    family: str
    nodes: tuple[int, ...]


@dataclass(frozen=True)
class City:
    """A generated city and its routes.

    Attributes:
        config: the config it was generated from.
        nodes: intersection positions ``(x, y)`` metres.
        streets: the streets.
        edges: street segments between neighbouring intersections, ``(node a, node b, street index)``
            with ``a`` before ``b`` along the street.
        landmarks: the landmarks.
        routes: the routes, ``config.n_routes`` of them, all distinct.
    """

    config: CityConfig
    nodes: tuple[Point, ...]
    streets: tuple[Street, ...]
    edges: tuple[tuple[int, int, int], ...]
    landmarks: tuple[Landmark, ...]
    routes: tuple[Route, ...] = field(repr=False)

    @property
    def name(self) -> str:
        """The city's name (also the key of its visual style)."""
        return self.config.name

    @functools.cached_property
    def node_edges(self) -> tuple[tuple[int, ...], ...]:
        """For each intersection, the indices of the edges that touch it."""
        touching: list[list[int]] = [[] for _ in self.nodes]
        for e, (a, b, _) in enumerate(self.edges):
            touching[a].append(e)
            touching[b].append(e)
        return tuple(tuple(t) for t in touching)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _rng(config: CityConfig) -> np.random.Generator:
    # zlib.crc32, not hash(): Python's string hash is salted per process.
    entropy = [config.seed % 2**32, zlib.crc32(config.name.encode()), zlib.crc32(config.tag.encode())]
    return np.random.default_rng(np.random.SeedSequence(entropy))


# ----------------------------------------------------------------------------------------------
# Street network
# ----------------------------------------------------------------------------------------------

@dataclass
class _Line:
    family: str
    angle: float  # direction of the street, degrees clockwise from north
    offset: float  # signed distance of the line from the city centre, along its normal


def _draw_lines(config: CityConfig, rng: np.random.Generator) -> list[_Line]:
    half_diag = config.extent_m * 0.75  # covers the square whatever the rotation
    main_angle = float(rng.uniform(*config.grid_angle_deg))
    cross_angle = main_angle + 90.0 + float(rng.uniform(-8.0, 8.0))
    lines = []
    for family, angle, spacing in (("main", main_angle, config.main_spacing_m),
                                   ("cross", cross_angle, config.cross_spacing_m)):
        offset = -half_diag + float(rng.uniform(0.0, spacing[1]))
        while offset < half_diag:
            lines.append(_Line(family, angle, offset))
            offset += float(rng.uniform(*spacing))
    for i in range(config.n_diagonals):
        angle = main_angle + (45.0 if i % 2 == 0 else 135.0) + float(rng.uniform(-10.0, 10.0))
        offset = float(rng.uniform(-0.3, 0.3)) * config.extent_m
        lines.append(_Line("diagonal", angle, offset))
    return lines


def _crossings(lines: list[_Line], extent: float) -> list[tuple[int, int, np.ndarray, float, float]]:
    """All crossings inside the square: ``(line i, line j, point, t along i, t along j)``."""
    centre = np.array([extent / 2, extent / 2])
    dirs = [np.array(unit_vector(line.angle)) for line in lines]
    normals = [np.array([d[1], -d[0]]) for d in dirs]
    margin = 0.03 * extent
    out = []
    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            if lines[i].family == lines[j].family and lines[i].family != "diagonal":
                continue  # parallel streets never meet
            # Solve o_i n_i + t u_i = o_j n_j + s u_j for (t, s).
            matrix = np.column_stack([dirs[i], -dirs[j]])
            if abs(np.linalg.det(matrix)) < 0.2:  # near-parallel diagonals: no clean crossing
                continue
            t, s = np.linalg.solve(matrix, lines[j].offset * normals[j] - lines[i].offset * normals[i])
            point = centre + lines[i].offset * normals[i] + t * dirs[i]
            if margin <= point[0] <= extent - margin and margin <= point[1] <= extent - margin:
                out.append((i, j, point, float(t), float(s)))
    return out


def _merge(points: np.ndarray, radius: float) -> np.ndarray:
    """Cluster labels (0..k-1, in order of first appearance) of points closer than ``radius``."""
    parent = list(range(len(points)))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    close = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1) < radius
    for i, j in zip(*np.nonzero(np.triu(close, k=1))):
        parent[root(int(j))] = root(int(i))
    labels, seen = np.empty(len(points), dtype=int), {}
    for i in range(len(points)):
        labels[i] = seen.setdefault(root(i), len(seen))
    return labels


def _street_network(config: CityConfig, rng: np.random.Generator):
    lines = _draw_lines(config, rng)
    crossings = _crossings(lines, config.extent_m)
    if not crossings:
        return [], [], []
    points = np.array([c[2] for c in crossings])
    labels = _merge(points, config.merge_radius_m)
    n_nodes = int(labels.max()) + 1
    nodes = [tuple(map(float, points[labels == k].mean(axis=0))) for k in range(n_nodes)]

    along: dict[int, list[tuple[float, int]]] = {}
    for (i, j, _, t, s), label in zip(crossings, labels):
        along.setdefault(i, []).append((t, int(label)))
        along.setdefault(j, []).append((s, int(label)))
    chains = []  # (family, line index, node chain)
    for li in sorted(along):
        chain: list[int] = []
        for _, node in sorted(along[li]):
            if node not in chain:
                chain.append(node)
        if len(chain) >= 2:
            chains.append((lines[li].family, li, chain))

    names = CITY_NAMES[config.name]
    pools = {"main": names.main, "cross": names.cross, "diagonal": names.diagonal}
    streets, edges, seen_pairs = [], [], set()
    for family in ("main", "cross", "diagonal"):
        members = [c for c in chains if c[0] == family]
        for (_, _, chain), name in zip(members, street_names(pools[family], len(members), rng)):
            index = len(streets)
            streets.append(Street(name=name, family=family, nodes=tuple(chain)))
            for a, b in zip(chain, chain[1:]):
                pair = (min(a, b), max(a, b))
                if pair not in seen_pairs:  # two streets merged onto the same block: keep one
                    seen_pairs.add(pair)
                    edges.append((a, b, index))
    return nodes, streets, edges


# ----------------------------------------------------------------------------------------------
# Landmarks
# ----------------------------------------------------------------------------------------------

#: How far from the street a facade stands, and how far along it a corner landmark sits, metres.
_SETBACK_M = 14.0
_CORNER_M = 15.0
#: Blocks shorter than this get no mid-block landmark (it would crowd the corners), metres.
_MIDBLOCK_MIN_EDGE_M = 70.0
#: A landmark this close to an intersection names it in routes, metres.
INTERSECTION_LANDMARK_RADIUS_M = 35.0


def _place_landmarks(config, rng, nodes, streets, edges) -> list[Landmark]:
    namer = LandmarkNamer(CITY_NAMES[config.name], rng)
    incident: list[list[int]] = [[] for _ in nodes]
    for e, (a, b, _) in enumerate(edges):
        incident[a].append(e)
        incident[b].append(e)
    landmarks: list[Landmark] = []

    def add(edge: int, anchor: Point, direction: Point, side: int):
        street = edges[edge][2]
        perp = (direction[1] * side, -direction[0] * side)  # side +1 = right of direction
        position = (anchor[0] + _SETBACK_M * perp[0], anchor[1] + _SETBACK_M * perp[1])
        kind = LANDMARK_KINDS[int(rng.integers(len(LANDMARK_KINDS)))]
        landmarks.append(Landmark(name=namer(kind, streets[street].name), kind=kind, position=position,
                                  anchor=anchor, street=street, edge=edge))

    for v, touching in enumerate(incident):
        if not touching or rng.random() >= config.corner_landmark_p:
            continue
        e = touching[int(rng.integers(len(touching)))]
        a, b, _ = edges[e]
        other = b if a == v else a
        length = distance(nodes[v], nodes[other])
        d = ((nodes[other][0] - nodes[v][0]) / length, (nodes[other][1] - nodes[v][1]) / length)
        along = min(_CORNER_M, 0.25 * length)
        add(e, (nodes[v][0] + along * d[0], nodes[v][1] + along * d[1]), d, 1 if rng.random() < 0.5 else -1)
    for e, (a, b, _) in enumerate(edges):
        length = distance(nodes[a], nodes[b])
        if length < _MIDBLOCK_MIN_EDGE_M:
            continue
        d = ((nodes[b][0] - nodes[a][0]) / length, (nodes[b][1] - nodes[a][1]) / length)
        for side in (1, -1):
            if rng.random() < config.midblock_landmark_p:
                add(e, lerp(nodes[a], nodes[b], float(rng.uniform(0.35, 0.65))), d, side)
    return landmarks


# ----------------------------------------------------------------------------------------------
# Routes
# ----------------------------------------------------------------------------------------------

#: Turns at an intersection must change the heading by at least / at most this much, degrees.
_MIN_TURN_DEG, _MAX_TURN_DEG = 25.0, 155.0


class _RouteMaker:
    """Random walks over the street graph (see the module docstring)."""

    def __init__(self, config: CityConfig, rng, nodes, streets, edges, landmarks):
        self.config, self.rng, self.nodes, self.streets, self.landmarks = config, rng, nodes, streets, landmarks
        self.edge_of = {(min(a, b), max(a, b)): e for e, (a, b, _) in enumerate(edges)}
        # Where each node sits on each street: node -> [(street, position along it)].
        self.on_streets: list[list[tuple[int, int]]] = [[] for _ in nodes]
        for s, street in enumerate(streets):
            for p, v in enumerate(street.nodes):
                self.on_streets[v].append((s, p))
        # Destinations: mid-block landmarks, by edge.
        self.destinations: dict[int, list[int]] = {}
        for i, lm in enumerate(landmarks):
            a, b, _ = edges[lm.edge]
            if min(distance(lm.anchor, nodes[a]), distance(lm.anchor, nodes[b])) >= 25.0:
                self.destinations.setdefault(lm.edge, []).append(i)
        # The landmark naming each intersection: the nearest within the radius (by distance order).
        positions = np.array([lm.position for lm in landmarks]) if landmarks else np.zeros((0, 2))
        node_xy = np.array(nodes)
        dists = np.linalg.norm(node_xy[:, None, :] - positions[None, :, :], axis=-1)
        self.near: list[list[int]] = []
        for v in range(len(nodes)):
            order = np.argsort(dists[v], kind="stable")
            self.near.append([int(i) for i in order if dists[v, i] <= INTERSECTION_LANDMARK_RADIUS_M])
        self.starts = [s for s, street in enumerate(streets) if len(street.nodes) >= 3]

    def _edge(self, a: int, b: int) -> int | None:
        return self.edge_of.get((min(a, b), max(a, b)))

    def attempt(self):
        """One random walk; returns ``(key, start, turn nodes, streets, destination landmark)`` or ``None``."""
        rng, cfg = self.rng, self.config
        s = self.starts[int(rng.integers(len(self.starts)))]
        chain = self.streets[s].nodes
        i = int(rng.integers(len(chain) - 1))
        frac = round(float(rng.uniform(0.3, 0.7)), 3)
        start = lerp(self.nodes[chain[i]], self.nodes[chain[i + 1]], frac)
        d = 1 if rng.random() < 0.5 else -1
        n_turns = int(rng.integers(cfg.min_turns, cfg.max_turns + 1))
        position = i + 1 if d == 1 else i  # the first node ahead
        visited: list[int] = []
        turn_nodes: list[int] = []
        leg_streets = [s]
        heading = heading_between(self.nodes[chain[i]], self.nodes[chain[i + 1]]) if d == 1 else \
            heading_between(self.nodes[chain[i + 1]], self.nodes[chain[i]])
        for turn in range(n_turns + 1):
            chain = self.streets[s].nodes
            last_leg = turn == n_turns
            blocks = int(rng.integers(1, cfg.max_blocks_per_leg + 1))
            if last_leg:
                # Walk into the `blocks`-th block ahead and stop in front of a mid-block landmark there.
                near_end = position - d + d * (blocks - 1)  # the node where that block begins
                far_end = near_end + d
                if not (0 <= near_end < len(chain) and 0 <= far_end < len(chain)):
                    return None
                edge = self._edge(chain[near_end], chain[far_end])
                candidates = self.destinations.get(edge, []) if edge is not None else []
                if not candidates:
                    return None
                dest = candidates[int(rng.integers(len(candidates)))]
                # Intersections passed on the way (none when the destination is on the first block).
                visited.extend(chain[position:near_end + 1] if d == 1 else chain[near_end:position + 1][::-1])
                break
            target = position + d * (blocks - 1)
            if not 0 <= target < len(chain):
                return None
            visited.extend(chain[position:target + 1] if d == 1 else chain[target:position + 1][::-1])
            v = chain[target]
            previous_node = chain[target - d] if 0 <= target - d < len(chain) else None
            if previous_node is not None:
                heading = heading_between(self.nodes[previous_node], self.nodes[v])
            # Turn onto another street through v, neither straight on nor back.
            options = []
            for s2, p in self.on_streets[v]:
                if s2 == s:
                    continue
                for d2 in (1, -1):
                    if 0 <= p + d2 < len(self.streets[s2].nodes):
                        nxt = self.streets[s2].nodes[p + d2]
                        change = abs(wrap_degrees(heading_between(self.nodes[v], self.nodes[nxt]) - heading))
                        if _MIN_TURN_DEG <= change <= _MAX_TURN_DEG:
                            options.append((s2, p, d2))
            if not options:
                return None
            s, p, d = options[int(rng.integers(len(options)))]
            turn_nodes.append(v)
            leg_streets.append(s)
            position = p + d
            heading = heading_between(self.nodes[v], self.nodes[self.streets[s].nodes[position]])
        if len(set(visited)) != len(visited):
            return None  # the walk crosses itself
        key = (leg_streets[0], i, frac, d, tuple(turn_nodes), dest)
        return key, start, turn_nodes, leg_streets, dest

    def route(self, index: int, start, turn_nodes, leg_streets, dest: int) -> Route | None:
        """Turn a walk into a :class:`Route` (``None`` if a leg is too short or a turn too shallow)."""
        cfg = self.config
        destination = self.landmarks[dest]
        ends = [self.nodes[v] for v in turn_nodes] + [destination.anchor]
        legs, previous, previous_heading = [], start, None
        for k, end in enumerate(ends):
            if distance(previous, end) < cfg.min_leg_m:
                return None
            heading = int(round(heading_between(previous, end))) % 360
            if previous_heading is not None and abs(wrap_degrees(heading - previous_heading)) < _MIN_TURN_DEG - 5:
                return None
            if k < len(turn_nodes):
                named = [i for i in self.near[turn_nodes[k]] if i != dest]
                landmark = self.landmarks[named[0]] if named else None
                where = landmark.position if landmark else None
            else:
                landmark, where = destination, destination.position
            text = f"{landmark.name} is on your {spatial_relation(heading, heading_between(end, where))}" \
                if landmark else ""
            legs.append(Leg(heading=heading, direction=compass_name(heading), end=end, landmark=text,
                            landmark_name=landmark.name if landmark else "",
                            street=self.streets[leg_streets[k]].name))
            previous, previous_heading = end, heading
        return Route(route_id=f"{_slug(cfg.name)}-{index:04d}", city=cfg.name, start=start,
                     init_heading=int(self.rng.integers(1, 360)), legs=tuple(legs),
                     destination=destination.name)


def generate_city(config: CityConfig = CityConfig()) -> City:
    """Generate a city and its ``config.n_routes`` distinct routes (deterministic from the config).

    Raises:
        ValueError: a config field is invalid, or the city is too small to hold that many routes.
    """
    config.validate()
    rng = _rng(config)
    nodes, streets, edges = _street_network(config, rng)
    landmarks = _place_landmarks(config, rng, nodes, streets, edges)
    if not any(len(street.nodes) >= 3 for street in streets) or not landmarks:
        raise ValueError(f"extent_m={config.extent_m!r} is not valid for this city: no street is long enough "
                         f"to start a route; use a larger extent_m")
    maker = _RouteMaker(config, rng, nodes, streets, edges, landmarks)
    routes: list[Route] = []
    keys: set = set()
    budget = 200 * config.n_routes + 1000
    for _ in range(budget):
        if len(routes) == config.n_routes:
            break
        walk = maker.attempt()
        if walk is None or walk[0] in keys:
            continue
        route = maker.route(len(routes), *walk[1:])
        if route is not None:
            keys.add(walk[0])
            routes.append(route)
    if len(routes) < config.n_routes:
        raise ValueError(f"n_routes={config.n_routes} is not valid for this city: only {len(routes)} distinct "
                         f"routes were found; use a larger extent_m or fewer routes")
    return City(config=config, nodes=tuple(nodes), streets=tuple(streets), edges=tuple(edges),
                landmarks=tuple(landmarks), routes=tuple(routes))


@functools.lru_cache(maxsize=4)
def training_city(seed: int = 0, n_routes: int = TRAIN_ROUTES) -> City:
    """The default training city: New York style, 1,000 routes (mirrors the authors' NYC set). Cached."""
    return generate_city(CityConfig(name=TRAIN_CITY, seed=seed, n_routes=n_routes, tag="train"))


def vln_mini_config(name: str, seed: int = 0) -> CityConfig:
    """The config of one VLN-mini-like city: a small district with 2 routes and its own layout."""
    check_choice("name", name, VLN_MINI_CITIES)
    index = VLN_MINI_CITIES.index(name)
    # Each city gets its own grid rotation and block sizes, so layouts differ from the training city.
    return replace(
        CityConfig(name=name, seed=seed, n_routes=2, tag="vln_mini", extent_m=900.0),
        grid_angle_deg=(-40.0 + 8 * index, -28.0 + 8 * index),
        main_spacing_m=(90.0 + 5 * (index % 3), 150.0 + 10 * (index % 4)),
        cross_spacing_m=(75.0 + 5 * (index % 2), 120.0 + 5 * (index % 5)),
        n_diagonals=2 + index % 2,
    )


@functools.lru_cache(maxsize=4)
def vln_mini_cities(seed: int = 0) -> tuple[City, ...]:
    """The 9 cities of the VLN-mini-like visual-OOD set, in the paper's order, 2 routes each. Cached."""
    return tuple(generate_city(vln_mini_config(name, seed)) for name in VLN_MINI_CITIES)


def vln_mini_routes(seed: int = 0) -> tuple[Route, ...]:
    """The 18 VLN-mini-like routes, city by city in the paper's order (evaluate them in this order)."""
    return tuple(route for city in vln_mini_cities(seed) for route in city.routes)


def city_summary(city: City) -> dict:
    """Counts that describe a city (for notebooks and tests)."""
    headings = {}
    for route in city.routes:
        for leg in route.legs:
            headings[leg.direction] = headings.get(leg.direction, 0) + 1
    turns = {}
    for route in city.routes:
        turns[route.n_turns] = turns.get(route.n_turns, 0) + 1
    return {
        "city": city.name,
        "streets": len(city.streets),
        "intersections": len(city.nodes),
        "landmarks": len(city.landmarks),
        "landmark kinds": len({lm.kind for lm in city.landmarks}),
        "routes": len(city.routes),
        "turns per route": dict(sorted(turns.items())),
        "legs per heading": {d: headings[d] for d in COMPASS if d in headings},
        "mean route length m": round(float(np.mean([
            sum(distance(a, b) for a, b in zip(r.points, r.points[1:])) for r in city.routes])), 1),
    }
