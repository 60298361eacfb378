"""VIRLEnv: Gymnasium conformance, oracle success, rewards and turns, untrusted answers, determinism."""

from __future__ import annotations

import itertools

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import sftrl_repro  # noqa: F401  (registers the ids)
from sftrl_repro.envs import VIRL_ID
from sftrl_repro.envs.virl import VIRLEnv
from sftrl_repro.envs.virl.env import MAX_PROMPT_CHARS
from sftrl_repro.envs.virl.policies import RandomPolicy, baseline_table, oracle_policy, run_policy
from sftrl_repro.games.virl.rail import INTERSECTION_SEEN
from sftrl_repro.games.virl.render import grid_shape
from sftrl_repro.prompts.chat import has_image, message_text
from sftrl_repro.prompts.virl import (
    INTERSECTION_TEXT,
    parse_virl_answer,
    valid_actions,
    virl_answer,
)
from sftrl_repro.rewards.virl import verify_virl

TINY = 16  # view size for tests: a 33 x 33 grid


def answer_with(action: str, observation: str = "No landmarks nearby; ", instruction: str = "") -> str:
    return virl_answer(observation, instruction, action)


def walk_to_intersection(env, info):
    """Answer correctly until the current point is a turning intersection."""
    while not info["at_intersection"]:
        _, _, terminated, _, info = env.step(info["gt_answer"])
        assert not terminated
    return info


@pytest.mark.parametrize("modality,actions,reward_mode",
                         list(itertools.product(("language", "vision"), ("absolute", "relative"),
                                                ("paper", "official"))))
def test_check_env_passes_for_every_combination(modality, actions, reward_mode):
    env = gymnasium.make(VIRL_ID, modality=modality, actions=actions, reward_mode=reward_mode, image_size=TINY)
    check_env(env.unwrapped)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert set(obs) == ({"text", "image"} if modality == "vision" else {"text"})


@pytest.mark.parametrize("actions", ["absolute", "relative"])
def test_oracle_answering_gt_action_always_succeeds(actions):
    env = VIRLEnv(actions=actions)
    for i in range(150):
        obs, info = env.reset(seed=i, options={"route_index": i})
        n_waypoints, rewards = info["n_waypoints"], []
        while True:
            expected = info["waypoint"]
            obs, reward, terminated, truncated, info = env.step(answer_with(info["gt_action"]))
            assert info["graded"] and info["correct"] and info["graded_waypoint"] == expected
            rewards.append(reward)
            if terminated or truncated:
                break
        assert terminated and not truncated and info["success"] and info["outcome"] == "correct"
        assert rewards == [1.0] * n_waypoints and obs["text"] == ""


def test_oracle_and_random_baselines():
    rows = {(r["policy"], r["actions"]): r for r in baseline_table(lambda a: VIRLEnv(actions=a), n_routes=60)}
    for actions in ("absolute", "relative"):
        assert rows["oracle", actions]["success_rate"] == 1.0 and rows["oracle", actions]["per_step_accuracy"] == 1.0
        assert rows["random", actions]["success_rate"] < 0.05
        assert 0.0 < rows["random", actions]["per_step_accuracy"] < 0.35


def test_oracle_succeeds_on_vln_mini_in_vision():
    env = VIRLEnv(modality="vision", routes="vln_mini", image_size=TINY)
    assert len(env.route_set) == 18
    result = run_policy(env, oracle_policy, range(18))
    assert result["success_rate"] == 1.0 and result["per_step_accuracy"] == 1.0


def test_info_and_conversation_describe_the_current_point():
    env = VIRLEnv(modality="vision", image_size=TINY)
    obs, info = env.reset(seed=3, options={"route_index": 3})
    conversation = info["conversation"]
    assert len(conversation) == 1 and has_image(conversation[0]) and message_text(conversation[0]) == obs["text"]
    assert info["waypoint"] == 0 and info["attempt"] == 0 and not info["graded"]
    assert "[Observation format]" in obs["text"] and "O_1: You observe an image of 4 views; \nA_1: " in obs["text"]
    obs, reward, *_, info = env.step(info["gt_answer"])
    assert reward == 1.0 and info["waypoint"] == 1 and "A_1: " + env.rail.points[0].absolute_action in obs["text"]
    # A wrong answer: same point, the answer and the feedback join the conversation; image on turn 1 only.
    wrong = answer_with("stop()", observation=info["observation"])
    obs, reward, terminated, _, info2 = env.step(wrong)
    assert reward == -1.0 and not terminated and info2["waypoint"] == info["waypoint"] and info2["attempt"] == 1
    roles = [m["role"] for m in info2["conversation"]]
    assert roles == ["user", "assistant", "user"]
    assert message_text(info2["conversation"][1]) == wrong
    assert obs["text"] == message_text(info2["conversation"][-1])
    assert obs["text"].startswith("You failed this trial because you make incorrect action.")  # theirs, verbatim
    assert [has_image(m) for m in info2["conversation"]] == [True, False, False]


@pytest.mark.parametrize("answer", [
    "",
    "forward()",                                    # no keys at all
    '{"current observation": "x", "current instruction": "y",}',   # no action key
    '{"action": "fly()",}',                         # unknown action
    '{"action": "turn_direction(up)",}',
    '{"action": "Forward()",}',                     # exact match is case-sensitive
    "{" + '"action": "' + "a" * 1_000_000 + '",}',  # 1 MB
    "\x00\ud800\U0001f600 \u202e" * 1000,          # control characters, a lone surrogate, emoji, bidi
    '{"action": "\u0444\u043e\u0440\u0432\u0430\u0440\u0434()",}',
    None, b'{"action": "forward()"}', 42, ["forward()"],
])
def test_malformed_answers_get_the_wrong_action_reward_and_never_raise(answer):
    env = VIRLEnv()
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(answer)
    assert reward == -1.0 and info["outcome"] == "wrong_action" and not info["correct"]
    assert not terminated and not truncated and info["waypoint"] == 0
    assert env.observation_space.contains(obs)  # the echoed answer is clipped, not the feedback text
    assert len(message_text(info["conversation"][1])) <= 4096


def test_two_wrong_answers_end_the_route_paper_mode():
    env = VIRLEnv(reward_mode="paper")
    _, info = env.reset(seed=1)
    *_, info = env.step(info["gt_answer"])
    results = [env.step(answer_with("stop()")) for _ in range(2)]
    assert [(r[1], r[2], r[3]) for r in results] == [(-1.0, False, False), (-1.0, False, True)]
    obs, info = results[-1][0], results[-1][4]
    assert not info["success"] and obs["text"] == ""
    # The chat ends with the final answer: prompt, wrong answer, feedback, final wrong answer.
    assert [m["role"] for m in info["conversation"]] == ["user", "assistant", "user", "assistant"]
    with pytest.raises(RuntimeError, match="finished episode"):
        env.step(info["gt_answer"])


def test_official_mode_adds_an_ungraded_truncating_step_past_the_limit():
    env = VIRLEnv(reward_mode="official")
    _, info = env.reset(seed=1)
    for _ in range(2):
        _, reward, terminated, truncated, info = env.step(answer_with("stop()"))
        assert reward == -1.0 and not terminated and not truncated
    _, reward, terminated, truncated, info = env.step(info["gt_answer"])  # even a right answer is ignored
    assert reward == -1.0 and truncated and not terminated and info["outcome"] == "step_limit"
    assert not info["graded"] and not info["success"] and info["attempt"] == 0


def test_verify_iter_sets_the_number_of_attempts():
    env = VIRLEnv(verify_iter=3)
    _, info = env.reset(seed=2)
    for attempt in (1, 2):
        *_, terminated, _, info = env.step(answer_with("stop()"))
        assert not terminated and info["attempt"] == attempt
    _, _, terminated, _, info = env.step(info["gt_answer"])
    assert info["correct"] and info["attempt"] == 3 and info["waypoint"] == 1 and not terminated


def test_vision_detection_failures():
    env = VIRLEnv(modality="vision", image_size=TINY)
    _, info = env.reset(seed=0, options={"route_index": 0})
    # Not at an intersection, but the answer claims one: -1.5.
    _, reward, *_, out = env.step(answer_with("stop()", observation="I observe an intersection"))
    assert (reward, out["outcome"]) == (-1.5, "detection_failure")
    _, reward, *_, out = env.step(answer_with("stop()", observation="No landmarks, no intersection"))
    assert (reward, out["outcome"]) == (-1.0, "wrong_action")
    _, info = env.reset(seed=0, options={"route_index": 0})
    info = walk_to_intersection(env, info)
    point = env.rail.points[info["waypoint"]]
    wrong = "forward()"
    _, reward, *_, out = env.step(answer_with(wrong, observation="nothing here"))
    assert reward == -1.5  # missed the intersection
    if point.landmark_name:
        _, reward, *_, out = env.step(answer_with(wrong, observation="I observe an intersection"))
        assert reward == -1.5  # missed the landmark


def test_language_never_gives_detection_failures_in_paper_mode_but_official_does():
    paper, official = VIRLEnv(), VIRLEnv(reward_mode="official")
    for env, expected in ((paper, -1.0), (official, -1.5)):
        _, info = env.reset(seed=0, options={"route_index": 0})
        info = walk_to_intersection(env, info)
        # At a real intersection, saying so: the authors' check still calls it a detection failure.
        _, reward, *_ = env.step(answer_with("forward()", observation=info["observation"]))
        assert reward == expected


def test_verifier_directly():
    kwargs = dict(gt_action="turn_direction(north)", landmark_observation="Joe's Pizza is on your left",
                  at_intersection=True, landmark_name="Joe's Pizza", modality="vision")
    good_obs = "Joe's Pizza is on your left; You observe an intersection"
    assert verify_virl(answer_with("turn_direction(north)"), **kwargs).reward == 1.0
    assert verify_virl(answer_with("turn_direction(south)", good_obs), **kwargs).outcome == "wrong_action"
    assert verify_virl(answer_with("turn_direction(south)", "You observe an intersection"), **kwargs).reward == -1.5
    assert verify_virl(" {\"action\" : 'turn_direction(north)' ,}", **kwargs).reward == 1.0
    with pytest.raises(ValueError, match="mode='strict' is not valid"):
        verify_virl("", mode="strict", **kwargs)


def test_answer_template_round_trips_through_the_parser():
    text = virl_answer("Joe's Pizza is on your left; You observe an intersection",
                       "Turn left to face west.", "turn_direction(west)")
    parsed = parse_virl_answer(text)
    assert parsed.observation == "Joe's Pizza is on your left; You observe an intersection"
    assert parsed.instruction == "Turn left to face west." and parsed.action == "turn_direction(west)"
    one_line = '{"current observation": "A\'s; B", "current instruction": "Go.", "action": "stop()"}'
    assert parse_virl_answer(one_line) == type(parsed)("A's; B", "Go.", "stop()")
    assert INTERSECTION_TEXT == INTERSECTION_SEEN
    assert len(valid_actions("absolute")) == 10 and len(valid_actions("relative")) == 6


def test_same_seed_same_episode_and_images():
    def episode(seed):
        env = VIRLEnv(modality="vision", image_size=TINY)
        obs, info = env.reset(seed=seed)
        texts, images = [obs["text"]], [obs["image"]]
        policy = RandomPolicy("absolute", seed=seed)
        for _ in range(6):
            answer = info["gt_answer"] if len(texts) % 3 else policy(obs, info)
            obs, _, terminated, truncated, info = env.step(answer)
            texts.append(obs["text"])
            images.append(obs["image"])
            if terminated or truncated:
                break
        return texts, images

    a, b, c = episode(11), episode(11), episode(12)
    assert a[0] == b[0] and all(np.array_equal(x, y) for x, y in zip(a[1], b[1]))
    assert a[0] != c[0]


def test_image_space_sizes_and_render():
    env = VIRLEnv(modality="vision", image_size=64, render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    assert obs["image"].shape == grid_shape(64) == (129, 129, 3) and obs["image"].dtype == np.uint8
    assert np.array_equal(env.render(), obs["image"])
    assert env.observation_space["image"].shape == (129, 129, 3)
    assert VIRLEnv(modality="vision").observation_space["image"].shape == (2405, 2405, 3)  # paper size default


def test_prompts_stay_within_the_text_space():
    env = VIRLEnv()
    longest = 0
    for i in range(0, 1000, 50):
        obs, info = env.reset(seed=i, options={"route_index": i})
        while True:
            assert env.observation_space.contains(obs)
            longest = max(longest, len(obs["text"]))
            obs, _, terminated, truncated, info = env.step(info["gt_answer"])
            if terminated or truncated:
                break
    assert longest < MAX_PROMPT_CHARS


def test_bad_arguments_are_one_clear_error():
    with pytest.raises(ValueError, match="modality='audio' is not valid; choose one of: 'language', 'vision'"):
        VIRLEnv(modality="audio")
    with pytest.raises(ValueError, match="actions='compass' is not valid"):
        VIRLEnv(actions="compass")
    with pytest.raises(ValueError, match="routes='paris' is not valid; choose one of: 'train', 'vln_mini', 'real'"):
        VIRLEnv(routes="paris")
    with pytest.raises(ValueError, match="verify_iter=0 is not valid"):
        VIRLEnv(verify_iter=0)
    with pytest.raises(ValueError, match="drop_rate=1.5 is not valid"):
        VIRLEnv(drop_rate=1.5)
    with pytest.raises(ValueError, match="rail='exact' is not valid; choose one of: 'authors', 'package'"):
        VIRLEnv(rail="exact")
    with pytest.raises(ValueError, match="prompt_style='tidy' is not valid; choose one of: 'authors', 'clean'"):
        VIRLEnv(prompt_style="tidy")
    env = VIRLEnv()
    with pytest.raises(ValueError, match="route_index=1000 is not valid; it must be <= 999"):
        env.reset(options={"route_index": 1000})


def test_city_argument_uses_its_routes():
    from sftrl_repro.games.virl.city import vln_mini_cities

    lagos = vln_mini_cities()[7]
    env = VIRLEnv(city=lagos, modality="vision", image_size=TINY)
    assert [r.route_id for r in env.route_set.routes] == [r.route_id for r in lagos.routes]
    _, info = env.reset(seed=0)
    assert info["route_id"].startswith("lagos-")
    with pytest.raises(ValueError, match="pass only one of them"):
        VIRLEnv(city=lagos, routes="vln_mini")


def test_envs_prompts_and_rewards_do_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; import sftrl_repro.envs.virl.env, sftrl_repro.games.virl.real_data, "
            "sftrl_repro.envs.virl.policies, sftrl_repro.rewards.virl, sftrl_repro.prompts.virl; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("modality", ["language", "vision"])
def test_authors_prompt_by_default_clean_prompt_as_an_option(modality):
    authors = VIRLEnv(modality=modality, image_size=TINY)
    clean = VIRLEnv(modality=modality, image_size=TINY, prompt_style="clean")
    (a, info_a), (c, info_c) = authors.reset(seed=4), clean.reset(seed=4)
    assert a["text"].startswith("\n[Task Description]\n") and a["text"].endswith("space,\n}\n")
    assert c["text"].startswith("[Task Description]\n") and c["text"].endswith("space,\n}")
    assert ("stree tviews" in a["text"]) == (modality == "vision") and "stree tviews" not in c["text"]
    assert info_a["gt_answer"] == "\n" + info_c["gt_answer"] + "\n"
    wrong = '{"action": "stop()"}'
    fa, fc = authors.step(wrong)[0]["text"], clean.step(wrong)[0]["text"]
    assert fa.startswith("You failed this trial because you make incorrect action.") and fa.endswith("\n}}.")
    assert "{{" not in fc and fc.endswith("\n}")
    # The same grading either way.
    assert authors.step(info_a["gt_answer"])[1] == clean.step(info_c["gt_answer"])[1] == 1.0


def test_official_step_limit_at_the_destination_terminates_and_truncates():
    env = VIRLEnv(reward_mode="official")
    _, info = env.reset(seed=0, options={"route_index": 5})
    while env.rail.points[info["waypoint"]].kind != "destination":
        _, _, _, _, info = env.step(info["gt_answer"])
    last = info["waypoint"]
    for _ in range(2):
        _, reward, terminated, truncated, info = env.step(answer_with("forward()"))
        assert (reward, terminated, truncated) == (-1.0, False, False)
    _, reward, terminated, truncated, info = env.step(info["gt_answer"])
    assert (reward, terminated, truncated, info["success"]) == (-1.0, True, True, False)
    assert info["waypoint"] == last and info["outcome"] == "step_limit"
    # Elsewhere their env moves on: the info describes the next point.
    _, info = env.reset(seed=0, options={"route_index": 5})
    for _ in range(3):
        _, reward, terminated, truncated, info = env.step(answer_with("stop()"))
    assert (terminated, truncated, info["waypoint"]) == (False, True, 1)


def test_package_rail_is_an_option():
    env = VIRLEnv(rail="package")
    _, info = env.reset(seed=0, options={"route_index": 0})
    default = VIRLEnv()
    default.reset(seed=0, options={"route_index": 0})
    assert env.rail.mode == "package" and default.rail.mode == "authors"
    while True:
        _, reward, terminated, truncated, info = env.step(info["gt_answer"])
        assert reward == 1.0
        if terminated or truncated:
            break
    assert info["success"]
