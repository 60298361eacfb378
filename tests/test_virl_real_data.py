"""The loader of the authors' V-IRL files, on a fixture the package writes in their schema."""

from __future__ import annotations

import json
import math
import os
import pickle
import string

import numpy as np
import pytest

from sftrl_repro.envs.virl import VIRLEnv
from sftrl_repro.games.virl.city import CityConfig, generate_city
from sftrl_repro.envs.virl.policies import oracle_policy, run_policy
from sftrl_repro.games.virl.real_data import (
    DATA_ENV_VAR,
    MAPPING_FILE,
    MAPPING_RADIUS_M,
    ROUTE_FILE,
    SECTOR_COLORS,
    VIEWS_DIR,
    VIRLDataNotFoundError,
    ascii_text,
    load_pano_mapping,
    load_real_routes,
    parse_heading,
    parse_milestones,
    write_fixture,
)
from sftrl_repro.games.virl.render import panorama_view, view_grid

N_ROUTES = 3


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_fixture(tmp_path_factory.mktemp("virl_data"), seed=0, n_routes=N_ROUTES)


def test_fixture_is_in_the_authors_schema(data_dir):
    route_list, route_num = json.loads((data_dir / ROUTE_FILE).read_text())
    assert route_num == len(route_list) == N_ROUTES
    route = route_list[0]
    assert set(route) >= {"start_place", "init_heading", "route_results", "dest_place", "milestone_info"}
    assert len(route["start_place"]["relocated_geocode"]) == 2
    assert set(route["route_results"]) >= {"geocode_list", "landmark_list"}
    blocks = parse_milestones(route["milestone_info"])
    assert len(blocks) == len(route["route_results"]["geocode_list"])
    assert all(b["to_next_intersection_heading"].endswith(")") for b in blocks)
    mapping = load_pano_mapping(data_dir / MAPPING_FILE)
    assert all((data_dir / VIEWS_DIR / f"{pano}.jpg").is_file() for pano in mapping.values())


def test_loader_recovers_the_generated_routes(data_dir):
    source = generate_city(CityConfig(name="New York", seed=0, n_routes=N_ROUTES, tag="fixture", extent_m=800.0))
    loaded = load_real_routes(data_dir)
    assert len(loaded.routes) == N_ROUTES and loaded.panoramas is not None
    for original, route in zip(source.routes, loaded.routes):
        assert route.init_heading == original.init_heading and route.destination == original.destination
        assert [(leg.heading, leg.direction, leg.landmark, leg.landmark_name) for leg in route.legs] == [
            (leg.heading, leg.direction, leg.landmark, leg.landmark_name) for leg in original.legs]
        for leg, leg0 in zip(route.legs, original.legs):  # metres around the start, through lat/lng and back
            offset = (leg0.end[0] - original.start[0], leg0.end[1] - original.start[1])
            assert math.dist(leg.end, offset) < 0.5


def test_rails_are_relocated_to_panoramas(data_dir):
    routes = load_real_routes(data_dir)
    for i, route in enumerate(routes.routes):
        rail = routes.rail(route, rng=np.random.default_rng(i))
        assert all(p.pano_id is not None and p.geocode is not None for p in rail.points)
        for p in rail.points:
            _, pano, dist = routes.panoramas.nearest(p.geocode)
            assert pano == p.pano_id and dist < 1e-6  # the point sits on its panorama
        ids = [p.pano_id for p in rail.points]
        assert all(a != b for a, b in zip(ids, ids[1:]))  # no two consecutive points on one panorama
        assert rail.points[-1].absolute_action == "stop()"


@pytest.mark.parametrize("modality", ["language", "vision"])
def test_oracle_succeeds_on_the_real_schema(data_dir, modality):
    env = VIRLEnv(routes="real", data_dir=data_dir, modality=modality, image_size=24)
    result = run_policy(env, oracle_policy, range(N_ROUTES))
    assert result["success_rate"] == 1.0 and result["per_step_accuracy"] == 1.0


def test_views_are_cut_from_panoramas_by_heading(data_dir):
    env = VIRLEnv(routes="real", data_dir=data_dir, modality="vision", image_size=40)
    obs, info = env.reset(seed=0, options={"route_index": 0})
    point = env.rail.points[0]
    assert np.array_equal(obs["image"], view_grid(env.route_set.views(env.rail.route, point, 40)))
    store = env.route_set.panoramas
    for sector, heading in enumerate(range(0, 360, 45)):
        front, right, back, left = store.views(point.pano_id, heading, 40)
        # Fixture panoramas are painted by the compass sector each column faces (rotation included).
        for view, shift in ((front, 0), (right, 2), (back, 4), (left, 6)):
            centre = view[20, 20].astype(int)
            assert np.abs(centre - np.asarray(SECTOR_COLORS[(sector + shift) % 8])).max() < 40


def test_panorama_view_geometry():
    width = 360
    panorama = np.zeros((180, width, 3), dtype=np.uint8)
    panorama[:, :, 0] = (np.arange(width) * 255 // width)[None, :]  # red encodes the column
    panorama[:90, :, 1] = 255  # upper half green: the sky
    for heading, rotation in ((0, 0), (90, 0), (200, 30), (350, 100)):
        view = panorama_view(panorama, heading, 21, rotation=rotation)
        column = ((heading + rotation) % 360) * 255 // 360
        assert abs(int(view[10, 10, 0]) - column) <= 2
        assert view[0, 10, 1] == 255 and view[20, 10, 1] == 0  # up is up


def test_missing_data_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    for kwargs in ({}, {"data_dir": tmp_path / "nowhere"}, {"data_dir": tmp_path}):
        with pytest.raises(VIRLDataNotFoundError) as err:
            VIRLEnv(routes="real", **kwargs)
        message = str(err.value)
        assert "tianzhechu/SFTvsRL_Data" in message and "nyc_1k_routes.zip" in message
        assert "VLN_mini.zip" in message and "data_dir=" in message and DATA_ENV_VAR in message
    assert isinstance(err.value, FileNotFoundError)


def test_data_is_found_below_the_given_folder_and_through_the_variable(data_dir, monkeypatch):
    parent = data_dir.parent
    assert len(load_real_routes(parent).routes) == N_ROUTES  # one folder down
    monkeypatch.setenv(DATA_ENV_VAR, str(data_dir))
    env = VIRLEnv(routes="real")
    assert len(env.route_set) == N_ROUTES


def test_language_only_folder_and_unicode_names(tmp_path):
    route = {
        "start_place": {"relocated_geocode": [40.758, -73.9855]},
        "init_heading": 0,
        "route_results": {"geocode_list": [[40.759, -73.9855], [40.759, -73.9835]], "landmark_list": [None]},
        "dest_place": {"name": "Caf\u00e9 de la Presse", "geocode": [40.7591, -73.9835]},
        "milestone_info": '{\n"landmarks": "Joe\u2019s Caf\u00e9 is on your right front",\n'
                          '"to_next_intersection_heading": "0 (north)",\n}\n'
                          '{\n"landmarks": "Caf\u00e9 de la Presse is on your right",\n'
                          '"to_next_intersection_heading": "90 (east)",\n}\n',
    }
    (tmp_path / ROUTE_FILE).write_text(json.dumps([[route], 1]), encoding="utf-8")
    routes = load_real_routes(tmp_path)
    assert routes.panoramas is None and routes.routes[0].init_heading is None  # 0 = draw per episode
    assert routes.routes[0].destination == "Cafe de la Presse"
    assert routes.routes[0].legs[0].landmark_name == "Joe's Cafe"
    env = VIRLEnv(routes=routes)
    obs, info = env.reset(seed=0)
    assert set(obs["text"]) <= set(string.printable) and "Joe's Cafe is on your right front" in obs["text"]
    heads = {VIRLEnv(routes=routes).reset(seed=s)[1]["gt_action"] for s in range(2)}
    assert heads == {"turn_direction(north)"}  # absolute action independent of the random start heading
    inits = set()
    for s in range(10):
        env.reset(seed=s)
        inits.add(env.rail.init_heading)
    assert len(inits) > 3
    assert run_policy(env, oracle_policy, [0])["success_rate"] == 1.0
    with pytest.raises(VIRLDataNotFoundError, match="vision needs"):
        VIRLEnv(routes=routes, modality="vision", image_size=16).reset(seed=0)


def test_malformed_files_are_clear_errors(tmp_path):
    (tmp_path / ROUTE_FILE).write_text(json.dumps([[{"start_place": {}}], 1]))
    with pytest.raises(ValueError, match="route 0 is malformed"):
        load_real_routes(tmp_path)
    (tmp_path / ROUTE_FILE).write_text(json.dumps({"routes": []}))
    with pytest.raises(ValueError, match=r"expected \[route_list, route_num\]"):
        load_real_routes(tmp_path)


def test_mapping_pickle_cannot_run_code(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    path = tmp_path / MAPPING_FILE
    path.write_bytes(pickle.dumps({(40.0, -73.0): Exploit()}))
    with pytest.raises(pickle.UnpicklingError, match="plain data"):
        load_pano_mapping(path)
    assert not (tmp_path / "pwned").exists()
    path.write_bytes(pickle.dumps({(np.float64(40.0), np.float64(-73.0)): "pano"}))
    assert load_pano_mapping(path) == {(40.0, -73.0): "pano"}


def test_parsers_are_lenient():
    assert parse_heading("177 (south)") == (177, "south")
    assert parse_heading(" 44.6 ") == (45, "northeast")
    assert parse_heading("370 (sideways)") == (10, "north")
    assert parse_milestones("garbage without blocks") == []
    assert ascii_text("\u201cS\u00e3o\u201d \u2013 Z\u00fcrich\u2026") == '"Sao" - Zurich...'
    assert MAPPING_RADIUS_M == 20.0
