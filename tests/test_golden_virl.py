"""V-IRL against reference data produced by running the authors' code (tests/golden/README.md).

Routes are rebuilt from ``virl_route_infos.json`` through the package's loader of the authors' format,
with the authors' rail (``rail="authors"``), their unwrapped relative labels (``wrap_relative=False``)
and no random drop (``drop_rate=0``), as the reference data was produced.
"""

from __future__ import annotations

import collections
import functools

import numpy as np
import pytest
from golden_data import GOLDEN, golden_json, golden_rows

from sftrl_repro.envs.virl import VIRLEnv
from sftrl_repro.games.virl.geometry import geodesic_m
from sftrl_repro.games.virl.rail import build_rail
from sftrl_repro.games.virl.real_data import RealRoutes, load_route_infos
from sftrl_repro.prompts.virl import (
    RESPONSE_VIRL,
    STEP_LIMIT_INFO,
    numbered_instructions,
    virl_answer,
    virl_feedback,
    virl_prompt,
)
from sftrl_repro.rewards.virl import authors_raise, verify_virl

AUTHORS = dict(rail="authors", wrap_relative=False, drop_rate=0.0, reward_mode="official")


class _BlankViews(RealRoutes):
    """The golden routes with black street views (the reference prompts do not depend on images)."""

    def views(self, route, point, size):
        return [np.zeros((size, size, 3), dtype=np.uint8)] * 4


@functools.lru_cache(maxsize=None)
def routes():
    return load_route_infos(GOLDEN / "virl_route_infos.json")


@functools.lru_cache(maxsize=None)
def rail(route_index: int):
    return build_rail(routes()[route_index], rng=np.random.default_rng(0), drop_rate=0.0, wrap_relative=False,
                      mode="authors")


def env(actions="absolute", modality="language", **kwargs):
    return VIRLEnv(routes=_BlankViews(routes(), None, name="golden"), actions=actions, modality=modality,
                   image_size=8, **{**AUTHORS, **kwargs})


def walk(e, route_index, step):
    """Reset on a route and answer the ground truth until rail point ``step``."""
    obs, info = e.reset(seed=0, options={"route_index": route_index})
    while info["waypoint"] < step:
        obs, reward, terminated, truncated, info = e.step(info["gt_answer"])
        assert reward == 1.0 and not (terminated or truncated)
    return obs, info


PROMPTS = [r for r in golden_rows("virl_prompts") if r["kind"] == "prompt"]
RAILS = golden_rows("virl_rails")
REWARDS = golden_rows("virl_rewards")


def test_golden_files_are_the_expected_size():
    assert len(PROMPTS) == 288 and len(RAILS) == 108 and len(REWARDS) == 2746
    assert len(routes()) == golden_json("virl_route_infos")[1] == 108


def test_answer_template_is_response_virl():
    templates = [r["authors_template"] for r in golden_rows("virl_prompts") if r["kind"] == "response_template"]
    assert templates == [RESPONSE_VIRL, RESPONSE_VIRL]
    assert virl_answer("a; ", "b.", "stop()") == RESPONSE_VIRL.format(
        current_observation="a; ", current_instruction="b.", action="stop()")


# ------------------------------------------------------------------------------------------- rails

@pytest.mark.parametrize("row", RAILS, ids=lambda r: f"route{r['route_index']}")
def test_rail_equals_the_authors(row):
    r = rail(row["route_index"])
    assert r.init_heading == row["init_heading"]
    assert list(r.instructions) == row["list_instruction"]
    assert numbered_instructions(r.instructions) == row["global_instruction"]
    assert len(r.points) == row["n_points"] == len(row["points"])
    for p, g in zip(r.points, row["points"]):
        assert list(p.geocode) == g["geocode"]  # their interpolation, bit for bit
        assert p.heading == g["heading"]
        assert p.absolute_action == g["gt_action_absolute"]
        assert p.relative_action == g["gt_action_relative"]
        assert p.landmark_observation == g["observation"]
        assert (p.kind in ("intersection", "destination")) == bool(g["intersection_observation"])
        assert p.observation == g["oracle_observation"]
        assert r.instructions[p.instruction_index] == g["instruction"]
        assert p.instruction_index + 1 == g["instruction_idx"]


@pytest.mark.parametrize("row", RAILS, ids=lambda r: f"route{r['route_index']}")
def test_geodesic_leg_lengths_and_threshold_cases(row):
    route = routes()[row["route_index"]]
    ends = [route.start_geocode, *(leg.end_geocode for leg in route.legs)]
    lengths = [geodesic_m(a, b) for a, b in zip(ends, ends[1:])]
    assert lengths == pytest.approx(row["legs_m"], abs=5e-4 + 1e-9)
    for case in row["near_threshold"]:  # points within centimetres of the 8 m test
        a, b = ends[case["leg"] - 1], ends[case["leg"]]
        i = case["point"]
        point = tuple(a[k] * (1 - i / 5) + b[k] * (i / 5) for k in range(2))
        d = geodesic_m(a if case["test"].endswith("start") else b, point)
        assert d == pytest.approx(case["distance_m"], abs=5e-5 + 1e-9)


def test_short_legs_shift_the_instruction_index():
    # Routes 100, 102, 104 and 106 have a leg of at most 5 m (tests/golden/README.md item 14).
    for index in (100, 102, 104, 106):
        r = rail(index)
        assert any(length <= 5 for length in RAILS[index]["legs_m"])
        stop = r.points[-1]
        assert r.instructions[stop.instruction_index].startswith("Turn ")
    assert rail(0).instructions[rail(0).points[-1].instruction_index].startswith("Move forward")


@pytest.mark.parametrize("actions", ["absolute", "relative"])
def test_oracle_walk_through_the_env(actions):
    for row in RAILS:
        e = env(actions)
        _, info = e.reset(seed=0, options={"route_index": row["route_index"]})
        steps, rewards = 0, set()
        while True:
            _, reward, terminated, truncated, info = e.step(info["gt_answer"])
            steps += 1
            rewards.add(reward)
            if terminated or truncated:
                break
        walk_ = row["oracle_walk"][actions]
        assert (steps, sorted(rewards), terminated, truncated, info["success"]) == (
            walk_["steps"], walk_["rewards"], walk_["terminated"], walk_["truncated"], walk_["is_success"])


# ----------------------------------------------------------------------------------------- prompts

@pytest.mark.parametrize("row", PROMPTS, ids=lambda r: f"r{r['route_index']}-s{r['step']}-{r['actions'][:3]}-"
                                                       f"{r['modality'][:3]}")
def test_prompt_equals_the_authors(row):
    r = rail(row["route_index"])
    points, step, actions = r.points, row["step"], row["actions"]
    history = [(p.observation, p.action(actions)) for p in points[:step]]
    here = points[step]
    assert here.action(actions) == row["gt_action"]
    prompt = virl_prompt(r.instructions, history, here.observation, at_intersection=here.at_intersection,
                         actions=actions, modality=row["modality"])
    assert prompt == row["authors_prompt"]


@pytest.mark.parametrize("modality", ["language", "vision"])
@pytest.mark.parametrize("actions", ["absolute", "relative"])
def test_env_prompt_is_the_same_string(actions, modality):
    rows = [r for r in PROMPTS if r["actions"] == actions and r["modality"] == modality]
    assert rows
    e = env(actions, modality)
    for row in rows:
        obs, info = walk(e, row["route_index"], row["step"])
        assert info["gt_action"] == row["gt_action"]
        assert obs["text"] == row["authors_prompt"]


def test_vision_prompt_keeps_the_typo_and_hides_the_current_landmark():
    row = next(r for r in PROMPTS if r["modality"] == "vision" and r["step"] > 0)
    assert "surrounding stree tviews. You\nare" in row["authors_prompt"]
    assert "You observe an image of 4 views; " in row["authors_prompt"]


# ----------------------------------------------------------------------------------------- rewards

REWARD_KINDS = sorted({r["kind"] for r in REWARDS})


def _grade(row, **kwargs):
    return verify_virl(row["raw"], gt_action=row["gt_action"], landmark_observation=row["gt_observation"],
                       at_intersection=bool(row["intersection_observation"]), mode="official", **kwargs)


@pytest.mark.parametrize("kind", REWARD_KINDS)
def test_official_reward_and_feedback_equal_the_authors(kind):
    rows = [r for r in REWARDS if r["kind"] == kind and r["authors_reward"] is not None]
    wrong = [(r["raw"], r["authors_reward"], _grade(r)) for r in rows
             if (_grade(r).reward, _grade(r).feedback) != (r["authors_reward"], r["authors_feedback"])]
    assert not wrong, wrong[:3]
    # The modality does not change the authors' reward.
    assert all(_grade(r, modality="vision").reward == r["authors_reward"] for r in rows[:20])


def test_official_agreement_is_complete_and_type_errors_are_documented():
    graded = [r for r in REWARDS if r["authors_reward"] is not None]
    equal = sum((_grade(r).reward, _grade(r).feedback) == (r["authors_reward"], r["authors_feedback"])
                for r in graded)
    assert (equal, len(graded)) == (2504, 2504)
    raised = [r for r in REWARDS if r["authors_reward"] is None]
    assert len(raised) == 242 and {r["authors_error"] for r in raised} == {"TypeError"}
    outcomes = collections.Counter()
    for r in raised:
        assert authors_raise(r["raw"], r["gt_action"])
        v = _grade(r)  # the package reads a null / numeric observation as absent ("None")
        outcomes[(v.reward, v.outcome)] += 1
        assert v.feedback.startswith("You failed this trial because you make incorrect action.")
    assert outcomes == {(-1.0, "wrong_action"): 242}
    assert not any(authors_raise(r["raw"], r["gt_action"]) for r in graded)


# ---------------------------------------------------------------------------------------- episodes

EPISODES = golden_json("episodes")["virl"]


@pytest.mark.parametrize("case", EPISODES, ids=lambda c: f"{c['where']}-{c['scenario']}")
def test_episode_flow_and_step_limit(case):
    e = env(verify_iter=case["verify_iter"])
    obs, info = walk(e, case["route_index"], case["point_index"])
    assert info["gt_action"] == case["gt_action"]
    for call in case["calls"]:
        obs, reward, terminated, truncated, info = e.step(call["raw"])
        assert (reward, terminated, truncated) == (call["authors_reward"], call["terminated"], call["truncated"])
        assert (info["gt_action"], info["waypoint"]) == (call["gt_action_after"], call["point_index_after"])
        if call["verify_info"] == STEP_LIMIT_INFO:
            assert info["outcome"] == "step_limit" and not info["graded"]
        elif call["authors_reward"] < 0:  # the trainer's next user turn
            assert obs["text"] == virl_feedback(call["verify_info"])
        else:
            assert call["verify_info"] == "Correct action." and info["correct"]
