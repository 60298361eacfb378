"""V-IRL geometry, procedural cities, instructions and ground-truth rails (no environment loop here)."""

from __future__ import annotations

import hashlib
import math
import string

import numpy as np
import pytest

from sftrl_repro.games.virl.city import (
    INTERSECTION_LANDMARK_RADIUS_M,
    CityConfig,
    city_summary,
    generate_city,
    training_city,
    vln_mini_cities,
    vln_mini_routes,
)
from sftrl_repro.games.virl.geometry import (
    COMPASS,
    compass_name,
    geocode_to_xy,
    heading_between,
    relative_turn,
    spatial_relation,
    wrap_degrees,
    xy_to_geocode,
)
from sftrl_repro.games.virl.names import LANDMARK_KINDS, VLN_MINI_CITIES
from sftrl_repro.games.virl.rail import NO_LANDMARKS, build_rail, route_instructions
from sftrl_repro.games.virl.render import StreetViewRenderer, grid_shape
from sftrl_repro.games.virl.route import Leg, Route
from sftrl_repro.games.virl.styles import STYLES

PRINTABLE = set(string.printable)


def expected_relative(previous: float, new: float) -> str:
    """The relative label, recomputed independently: wrap to [-180, 180), then the authors' thresholds."""
    delta = ((new - previous + 180) % 360) - 180
    if delta < -45:
        return "left"
    if delta > 45:
        return "right"
    return "slightly left" if delta <= 0 else "slightly right"


# -- geometry ----------------------------------------------------------------------------------

def test_headings_and_compass_names():
    assert heading_between((0, 0), (0, 10)) == pytest.approx(0.0)
    assert heading_between((0, 0), (10, 0)) == pytest.approx(90.0)
    assert heading_between((0, 0), (-10, -10)) == pytest.approx(225.0)
    assert [compass_name(h) for h in (0, 22.4, 22.6, 90, 181, 337.4, 337.6, 359.9)] == [
        "north", "north", "northeast", "east", "south", "northwest", "north", "north"]
    assert wrap_degrees(350 - 10) == -20 and wrap_degrees(10 - 350) == 20 and wrap_degrees(180) == -180


def test_relative_turn_wraps_and_reproduces_the_unwrapped_bug():
    assert relative_turn(350, 10) == "slightly right"
    assert relative_turn(350, 10, wrap=False) == "left"  # raw difference -340
    assert relative_turn(10, 300) == "left" and relative_turn(10, 300, wrap=False) == "right"  # -70 vs +290
    assert relative_turn(90, 90) == "slightly left"  # 0 counts as slightly left, as in the authors' code
    assert relative_turn(0, 45) == "slightly right" and relative_turn(0, 46) == "right"


def test_spatial_relation_and_geocode_round_trip():
    assert spatial_relation(0, 100) == "right" and spatial_relation(0, 140) == "right behind"
    assert spatial_relation(270, 250) == "front" and spatial_relation(90, 30) == "left front"
    origin = (40.758, -73.9855)
    back = xy_to_geocode((123.4, -56.7), origin)
    x, y = geocode_to_xy(back, origin)
    assert x == pytest.approx(123.4, abs=1e-6) and y == pytest.approx(-56.7, abs=1e-6)


# -- cities ------------------------------------------------------------------------------------

def test_training_city_mirrors_the_paper_and_uses_all_8_headings():
    city = training_city()
    summary = city_summary(city)
    assert summary["routes"] == 1000
    assert len({r.route_id for r in city.routes}) == 1000
    assert set(summary["legs per heading"]) == set(COMPASS)
    assert min(summary["turns per route"]) >= 2
    assert summary["landmark kinds"] >= 8 and set(lm.kind for lm in city.landmarks) <= set(LANDMARK_KINDS)
    assert len({lm.name for lm in city.landmarks}) == len(city.landmarks)  # unique names
    assert len({s.name for s in city.streets}) == len(city.streets)


def test_generation_is_deterministic_and_seeded():
    config = CityConfig(seed=7, n_routes=50, extent_m=1000.0)
    a, b = generate_city(config), generate_city(config)
    assert a == b
    other = generate_city(CityConfig(seed=8, n_routes=50, extent_m=1000.0))
    assert [r.legs for r in other.routes] != [r.legs for r in a.routes]


def test_training_city_is_pinned():
    """Same seed, same city on every machine. If generation changes on purpose, update these values."""
    route = training_city().routes[0]
    assert (route.route_id, route.init_heading, route.destination) == ("new_york-0000", 26, "The Union Theater")
    assert [leg.heading for leg in route.legs] == [191, 276, 10, 276, 11]
    digests = {}
    for wrap in (False, True):  # the authors' unwrapped labels (default) and geometric ones
        text = "\n".join(route_instructions(route, route.init_heading, wrap_relative=wrap))
        digests[wrap] = hashlib.sha256(text.encode()).hexdigest()[:16]
    assert digests == {False: "d4ad3ddec493c7e5", True: "df5ef1ed979e77f7"}


def test_routes_are_geometrically_consistent():
    city = training_city()
    nodes = np.asarray(city.nodes)
    landmarks = {lm.name: lm for lm in city.landmarks}
    for route in city.routes:
        points = route.points
        for k, leg in enumerate(route.legs):
            assert leg.heading == round(heading_between(points[k], leg.end)) % 360
            assert leg.direction == compass_name(leg.heading)
            assert math.dist(points[k], leg.end) >= city.config.min_leg_m
            if k:
                assert abs(wrap_degrees(leg.heading - route.legs[k - 1].heading)) >= 20  # a real turn
            if k < len(route.legs) - 1:  # ends at an intersection
                assert np.min(np.hypot(*(nodes - leg.end).T)) < 1e-6
                if leg.landmark_name:
                    named = landmarks[leg.landmark_name]
                    assert math.dist(named.position, leg.end) <= INTERSECTION_LANDMARK_RADIUS_M
                    relation = spatial_relation(leg.heading, heading_between(leg.end, named.position))
                    assert leg.landmark == f"{leg.landmark_name} is on your {relation}"
        destination = landmarks[route.destination]
        assert route.legs[-1].end == destination.anchor and route.legs[-1].landmark_name == route.destination
        assert all(set(s) <= PRINTABLE for leg in route.legs for s in (leg.landmark, leg.street))


def test_vln_mini_set_has_9_styled_cities_with_2_routes_each():
    cities = vln_mini_cities()
    assert tuple(c.name for c in cities) == VLN_MINI_CITIES == (
        "Milan", "New Delhi", "Buenos Aires", "London", "Hong Kong", "New York", "Melbourne", "Lagos",
        "San Francisco")
    routes = vln_mini_routes()
    assert len(routes) == 18 and [r.city for r in routes] == [c for c in VLN_MINI_CITIES for _ in range(2)]
    assert len({STYLES[c] for c in VLN_MINI_CITIES}) == 9
    assert all(r.n_turns >= 2 for r in routes)
    # Not the training city: VLN-mini New York is another district with other routes.
    assert routes[10].legs != training_city().routes[0].legs


def test_city_styles_render_differently():
    means = []
    for city in vln_mini_cities():
        rail = build_rail(city.routes[0], rng=np.random.default_rng(0))
        grid = StreetViewRenderer(city).grid(rail.points[0].position, rail.points[0].heading, 32)
        assert grid.shape == grid_shape(32) and grid.dtype == np.uint8
        means.append(tuple(np.round(grid.reshape(-1, 3).mean(axis=0), 1)))
    assert len(set(means)) == 9


def test_bad_city_config_is_one_clear_error():
    with pytest.raises(ValueError, match="name='Paris' is not valid; choose one of: 'New York'"):
        generate_city(CityConfig(name="Paris"))
    with pytest.raises(ValueError, match="extent_m=150.0 is not valid for this city"):
        generate_city(CityConfig(n_routes=10, extent_m=150.0))
    with pytest.raises(ValueError, match="n_routes=20 is not valid for this city"):
        generate_city(CityConfig(n_routes=20, extent_m=250.0, min_turns=4, max_turns=4))
    with pytest.raises(ValueError, match="max_turns"):
        generate_city(CityConfig(min_turns=3, max_turns=2))


# -- rails -------------------------------------------------------------------------------------

def _rail_cities():
    return [training_city(seed) for seed in (0, 1, 2)]


def test_rail_labels_match_geometry_on_thousands_of_routes():
    """3,000 routes: every action and relative label agrees with the headings; the rail ends at stop()."""
    rng = np.random.default_rng(0)
    checked = 0
    for city in _rail_cities():
        for route in city.routes:
            rail = build_rail(route, rng=rng, wrap_relative=True)  # geometric labels
            points = rail.points
            assert points[0].kind == "start" and points[-1].kind == "destination"
            assert points[-1].absolute_action == points[-1].relative_action == "stop()"
            legs_seen = 0
            for p in points[:-1]:
                if p.kind == "forward":
                    assert p.absolute_action == p.relative_action == "forward()"
                    assert p.observation == f"{NO_LANDMARKS}; "
                    assert rail.instructions[p.instruction_index].startswith("Move forward")
                    continue
                next_leg = route.legs[legs_seen]
                legs_seen += 1
                assert p.absolute_action == f"turn_direction({compass_name(next_leg.heading)})"
                assert p.relative_action == f"turn_direction({expected_relative(p.heading, next_leg.heading)})"
                assert "turn" in rail.instructions[p.instruction_index].lower()
                assert p.at_intersection == (p.kind == "intersection")
                assert p.observation.endswith("You observe an intersection") == p.at_intersection
            assert legs_seen == len(route.legs)
            assert "destination" in rail.instructions[points[-1].instruction_index]
            checked += 1
    assert checked == 3000


def test_forward_points_lie_on_their_leg_and_respect_the_drop_rate():
    city = training_city()
    route = city.routes[3]
    full = build_rail(route, rng=np.random.default_rng(0), drop_rate=0.0)
    none = build_rail(route, rng=np.random.default_rng(0), drop_rate=1.0)
    assert [p.kind for p in none.points].count("forward") == 0
    assert len(none.points) == len(route.legs) + 1
    assert [p.kind for p in full.points].count("forward") >= 3 * len(route.legs)  # 4 candidates per leg
    starts = route.points
    for p in full.points:
        if p.kind == "forward":
            a, b = starts[p.leg], route.legs[p.leg].end
            cross = (b[0] - a[0]) * (p.position[1] - a[1]) - (b[1] - a[1]) * (p.position[0] - a[0])
            assert abs(cross) / math.dist(a, b) < 1e-6  # on the straight leg
            assert p.heading == route.legs[p.leg].heading
    gaps = [math.dist(p.position, q.position) for p, q in zip(full.points, full.points[1:])]
    assert min(gaps) >= 8.0 - 1e-9
    # On average half of the candidates survive the paper's drop rate.
    kept = [sum(p.kind == "forward" for p in build_rail(r, rng=np.random.default_rng(i)).points)
            for i, r in enumerate(city.routes[:300])]
    candidates = sum(4 * len(r.legs) for r in city.routes[:300])  # 4 inner cut points per leg
    assert 0.4 < sum(kept) / candidates < 0.55


def _toy_route(init_heading: int | None) -> Route:
    legs = (
        Leg(heading=10, direction="north", end=(17.4, 98.5), landmark="Cafe A is on your right", landmark_name="Cafe A"),
        Leg(heading=280, direction="west", end=(-81.0, 115.9), landmark=""),
        Leg(heading=190, direction="south", end=(-98.4, 17.4), landmark="Bank B is on your left", landmark_name="Bank B"),
    )
    return Route(route_id="toy-0", city="New York", start=(0.0, 0.0), init_heading=init_heading, legs=legs,
                 destination="Bank B")


def test_instructions_follow_the_authors_sentence_pattern():
    assert route_instructions(_toy_route(350), 350, wrap_relative=True) == (
        "First, turn slightly right to face north.",
        "Move forward until you reach next intersection where Cafe A is on your right.",
        "Turn left to face west.",
        "Move forward until you reach next intersection.",
        "Turn left to face south.",
        "Move forward until you reach destination where Bank B is on your left.",
    )
    # The authors' unwrapped labels: 350 -> 10 is "left" (-340), 10 -> 280 is "right" (+270).
    unwrapped = route_instructions(_toy_route(350), 350, wrap_relative=False)
    assert unwrapped[0] == "First, turn left to face north." and unwrapped[2] == "Turn right to face west."
    rail = build_rail(_toy_route(350), rng=np.random.default_rng(0), wrap_relative=False)
    assert rail.points[0].relative_action == "turn_direction(left)"
    assert rail.points[0].absolute_action == "turn_direction(north)"


def test_unwrapped_labels_differ_on_real_share_of_training_routes():
    differing = 0
    for route in training_city().routes:
        a = build_rail(route, rng=np.random.default_rng(0), wrap_relative=True)
        b = build_rail(route, rng=np.random.default_rng(0))  # the authors' unwrapped default
        differing += [p.relative_action for p in a.points] != [p.relative_action for p in b.points]
    assert 0 < differing < 1000


def test_random_initial_heading_is_drawn_from_the_episode_generator():
    route = _toy_route(None)
    a = build_rail(route, rng=np.random.default_rng(5))
    b = build_rail(route, rng=np.random.default_rng(5))
    assert a.init_heading == b.init_heading and a.points[0].heading == a.init_heading
    assert len({build_rail(route, rng=np.random.default_rng(s)).init_heading for s in range(20)}) > 5


# ----------------------------------------------------------------------------- the authors' rail rule

def _straight_route(lengths, landmarks=None, headings=None) -> Route:
    """Legs alternating north / east of the given lengths (metres), in the plane."""
    legs, x, y = [], 0.0, 0.0
    for k, length in enumerate(lengths):
        heading = (headings or [0, 90] * len(lengths))[k]
        x, y = x + length * math.sin(math.radians(heading)), y + length * math.cos(math.radians(heading))
        landmark = (landmarks or [""] * len(lengths))[k]
        legs.append(Leg(heading=heading, direction="north" if heading == 0 else "east", end=(x, y),
                        landmark=landmark, landmark_name=landmark.split(" is on")[0]))
    return Route(route_id="straight", city="New York", start=(0.0, 0.0), init_heading=200, legs=tuple(legs),
                 destination="D")


def test_geodesic_distance_is_wgs84():
    from sftrl_repro.games.virl.geometry import geodesic_m

    assert geodesic_m((40.758, -73.9855), (40.758, -73.9855)) == 0.0
    a, b = (40.758, -73.9855), (40.7580, -73.98519438059517)
    assert geodesic_m(a, b) == pytest.approx(25.807, abs=5e-4) and geodesic_m(a, b) == geodesic_m(b, a)
    # One degree of latitude at the equator on WGS-84 (geographiclib: 110574.3886 m).
    assert geodesic_m((0.0, 0.0), (1.0, 0.0)) == pytest.approx(110574.3886, abs=1e-3)
    # New York to Paris, WGS-84 geodesic (geographiclib 2.1, Karney: 5852935.2918 m).
    assert geodesic_m((40.7128, -74.0060), (48.8566, 2.3522)) == pytest.approx(5852935.2918, abs=1e-3)


@pytest.mark.parametrize("length,expected", [(4.0, 0), (15.0, 0), (20.5, 2), (30.0, 2), (39.0, 2), (41.0, 4),
                                              (300.0, 4)])
def test_authors_spacing_rule(length, expected):
    route = _straight_route([length, 100.0])
    rail = build_rail(route, rng=np.random.default_rng(0), drop_rate=0.0)
    forward = [p for p in rail.points if p.kind == "forward" and p.leg == 0]
    assert len(forward) == expected
    for p in forward:  # more than 8 m from both ends of the leg
        assert math.dist(p.position, route.start) > 8 and math.dist(p.position, route.legs[0].end) > 8


def test_package_rule_is_an_option_and_differs():
    route = _straight_route([30.0, 100.0])
    authors = build_rail(route, rng=np.random.default_rng(0), drop_rate=0.0)
    package = build_rail(route, rng=np.random.default_rng(0), drop_rate=0.0, mode="package")
    assert authors.mode == "authors" and package.mode == "package"
    # 30 m: the authors keep 12 m and 18 m (both > 8 m from both ends); the package's gap rule drops
    # 18 m (6 m after the kept 12 m).
    assert [round(p.position[1]) for p in authors.points if p.kind == "forward" and p.leg == 0] == [12, 18]
    assert [round(p.position[1]) for p in package.points if p.kind == "forward" and p.leg == 0] == [12]
    with pytest.raises(ValueError, match="mode='exact' is not valid"):
        build_rail(route, rng=np.random.default_rng(0), mode="exact")


def test_short_leg_shifts_the_sentence_index_in_authors_mode():
    route = _straight_route([60.0, 4.0, 60.0], landmarks=["A is on your left", "", "B is on your right"])
    rail = build_rail(route, rng=np.random.default_rng(0), drop_rate=0.0)
    said = [(p.kind, rail.instructions[p.instruction_index]) for p in rail.points]
    # After the 4 m leg every point carries the sentence before its own.
    assert said[-1] == ("destination", "Turn left to face north.")
    assert ("forward", "Turn left to face north.") in said[-5:]
    assert said[6] == ("intersection", "Move forward until you reach next intersection.")  # the 4 m leg's
    package = build_rail(route, rng=np.random.default_rng(0), drop_rate=0.0, mode="package")
    assert package.instructions[package.points[-1].instruction_index].startswith("Move forward until you reach dest")


def test_authors_texts_for_missing_landmarks():
    route = _straight_route([60.0], landmarks=[""])
    assert route_instructions(route, 200, wrap_relative=False) == ("Turn left to face north.",
                                              "Move forward until you reach destination where No landmark nearby.")
    assert route_instructions(route, 200, mode="package")[1] == "Move forward until you reach destination."
    two = _straight_route([60.0, 60.0], landmarks=["", "B is on your right"])
    rail = build_rail(two, rng=np.random.default_rng(0), drop_rate=0.0)
    turn = next(p for p in rail.points if p.kind == "intersection")
    assert turn.landmark_observation == "No landmark nearby"  # singular, the authors' default
    assert turn.observation == "No landmark nearby; You observe an intersection"
    assert rail.points[0].observation == rail.points[1].observation == "No landmarks nearby; "
    assert rail.instructions[0].startswith("First, turn") and rail.instructions[1].endswith("next intersection.")
