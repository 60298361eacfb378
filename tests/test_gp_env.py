"""The GeneralPoints environment: check_env, dealing, determinism, sequential revision, images."""

import collections
import hashlib
import itertools
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import sftrl_repro  # noqa: F401  (registers the ids)
from sftrl_repro.envs import GENERAL_POINTS_ID, GeneralPointsEnv
from sftrl_repro.games.cards import FACE_RANKS, RANKS
from sftrl_repro.games.render import card_layout, render_hand
from sftrl_repro.games.solver import is_solvable
from sftrl_repro.prompts.chat import has_image, message_text
from sftrl_repro.prompts.gp import FEEDBACK_PREFIX, gp_answer

COMBOS = list(itertools.product(["language", "vision"], ["id", "ood"], ["id", "ood"], ["paper", "official"]))


def make(**kw):
    kw.setdefault("image_size", 96)
    return gym.make(GENERAL_POINTS_ID, **kw).unwrapped


def right_answer(info):
    return gp_answer(info["cards"], info["numbers"], info["solution"] + f"={info['target']}")


@pytest.mark.parametrize("modality, rule, visual, reward_mode", COMBOS)
def test_check_env_passes_for_every_variant(modality, rule, visual, reward_mode):
    env = make(modality=modality, rule=rule, visual=visual, reward_mode=reward_mode)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checker warning is a failure too
        check_env(env)


def test_registered_id_and_defaults():
    env = gym.make(GENERAL_POINTS_ID)
    assert isinstance(env.unwrapped, GeneralPointsEnv)
    u = env.unwrapped
    assert (u.modality, u.rule, u.visual, u.verify_iter, u.target, u.reward_mode, u.image_size) == (
        "language", "id", "id", 5, 24, "paper", 1200)


@pytest.mark.parametrize("kwargs, message", [
    ({"modality": "audio"}, "'language', 'vision'"),
    ({"rule": "hard"}, "'id', 'ood'"),
    ({"visual": "blue"}, "'id', 'ood'"),
    ({"reward_mode": "strict"}, "'paper', 'official'"),
    ({"verify_iter": 0}, ">= 1"),
    ({"target": "24"}, "integer"),
])
def test_bad_kwargs_fail_with_one_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GeneralPointsEnv(**kwargs)


def test_impossible_target_fails_clearly():
    env = GeneralPointsEnv(target=9_973)  # prime, beyond every 4-card formula
    with pytest.raises(ValueError, match="no solvable hand"):
        env.reset(seed=0)


@pytest.mark.parametrize("rule", ["id", "ood"])
def test_dealt_hands_are_solvable_and_ood_hands_hold_a_face_card(rule):
    env = make(rule=rule)
    for seed in range(400):
        _, info = env.reset(seed=seed)
        assert is_solvable(info["numbers"])
        assert len(info["cards"]) == 4 and all(c in RANKS for c in info["cards"])
        if rule == "ood":
            assert any(c in FACE_RANKS for c in info["cards"])


def test_ranks_are_drawn_with_replacement_and_cover_the_deck():
    env = make(rule="ood")
    counts = collections.Counter()
    pairs = 0
    for seed in range(1500):
        _, info = env.reset(seed=seed)
        counts.update(info["cards"])
        pairs += len(set(info["cards"])) < 4
    assert set(counts) == set(RANKS)
    assert pairs > 100  # duplicates occur: drawn independently, not from one deck


def test_same_seed_same_hand_across_modalities_and_runs():
    hands = {m: [make(modality=m).reset(seed=s)[1]["cards"] for s in range(30)] for m in ("language", "vision")}
    assert hands["language"] == hands["vision"]
    assert hands["language"] == [make().reset(seed=s)[1]["cards"] for s in range(30)]
    assert len({tuple(h) for h in hands["language"]}) > 20


def test_image_bytes_are_deterministic_and_pinned():
    env = make(modality="vision", image_size=128)
    a, _ = env.reset(seed=7)
    b, _ = make(modality="vision", image_size=128).reset(seed=7)
    assert a["image"].dtype == np.uint8 and a["image"].shape == (128, 128, 3)
    assert np.array_equal(a["image"], b["image"])
    # Same seed, same bytes on any machine (pinned Pillow): the digest is part of the contract.
    digest = hashlib.sha256(render_hand(["A", "5", "J", "10"], ["spades", "clubs", "spades", "clubs"], 128)
                            .tobytes()).hexdigest()
    assert digest == PINNED_DIGEST


PINNED_DIGEST = "e4ad1961135eb5d4e0129d230e63ab1b2b8c4676eb9c0e00034d94cf9ba5ad0e"


def test_visual_variants_use_black_or_red_suits():
    ood, _ = make(modality="vision", visual="ood").reset(seed=1)
    idv, _ = make(modality="vision", visual="id").reset(seed=1)
    red = lambda img: int(((img[..., 0] > 150) & (img[..., 1] < 80)).sum())  # noqa: E731
    assert red(ood["image"]) > 50 and red(idv["image"]) == 0


def test_paper_geometry():
    assert card_layout(1200) == [(24, 411, 270, 378), (318, 411, 270, 378), (612, 411, 270, 378), (906, 411, 270, 378)]
    img = render_hand(["A", "2", "3", "4"], ["hearts"] * 4, 1200)
    assert img.shape == (1200, 1200, 3)
    assert tuple(img[5, 5]) == (0x35, 0x65, 0x4D)  # the table
    assert tuple(img[600, 150]) != (0x35, 0x65, 0x4D)  # a card


def test_a_correct_answer_terminates_with_plus_five():
    env = make()
    obs, info = env.reset(seed=3)
    assert obs["text"].startswith("\n[Task Description]") and info["attempt"] == 0
    obs, reward, terminated, truncated, info = env.step(right_answer(info))
    assert (reward, terminated, truncated, info["success"], info["outcome"]) == (5.0, True, False, True, "correct")
    assert info["numbers_correct"] and info["cards_correct"]
    with pytest.raises(RuntimeError, match="reset"):
        env.step("again")


def test_sequential_revision_feedback_and_conversation():
    env = make(modality="vision")
    obs, info = env.reset(seed=4)
    conv = info["conversation"]
    assert len(conv) == 1 and has_image(conv[0]) and message_text(conv[0]) == obs["text"]
    answers = ['{"formula": "1+"}', gp_answer(info["cards"], info["numbers"], "1+1")]
    for k, ans in enumerate(answers, start=1):
        obs, reward, terminated, truncated, info = env.step(ans)
        assert not terminated and not truncated and info["attempt"] == k
        assert obs["text"].startswith(FEEDBACK_PREFIX) and obs["text"] == info["feedback"]
        assert "image" in obs
    roles = [m["role"] for m in info["conversation"]]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    assert [has_image(m) for m in info["conversation"]] == [True, False, False, False, False]  # first turn only
    assert info["conversation"][1]["content"] == answers[0]
    assert info["outcome"] in ("wrong_value", "wrong_numbers")
    obs, reward, terminated, *_ = env.step(right_answer(info))
    assert terminated and reward == 5.0
    assert info["attempt"] == 2 and len(env.conversation) == 6 and env.conversation[-1]["role"] == "assistant"


@pytest.mark.parametrize("verify_iter", [1, 3, 5])
def test_paper_mode_truncates_after_verify_iter_attempts(verify_iter):
    env = make(verify_iter=verify_iter)
    env.reset(seed=0)
    for k in range(1, verify_iter + 1):
        _, reward, terminated, truncated, info = env.step("no idea")
        assert reward == -3.0 and not terminated
        assert truncated == (k == verify_iter)


def test_official_mode_adds_a_truncating_minus_one_step():
    env = make(reward_mode="official", verify_iter=2)
    env.reset(seed=0)
    for _ in range(2):
        _, _, terminated, truncated, _ = env.step("no idea")
        assert not terminated and not truncated
    _, reward, terminated, truncated, info = env.step(right_answer(info := env._info()))
    assert (reward, terminated, truncated, info["outcome"], info["success"]) == (-1.0, False, True, "step_limit", False)


def test_options_deal_a_chosen_hand_and_reject_bad_ones():
    env = make(modality="vision", rule="ood")
    _, info = env.reset(seed=0, options={"cards": ["K", "Q", "2", "A"]})
    assert info["cards"] == ["K", "Q", "2", "A"] and info["numbers"] == [13, 12, 2, 1]
    with pytest.raises(ValueError, match="give 4 ranks"):
        env.reset(options={"cards": ["K", "Z", "2", "A"]})
    with pytest.raises(ValueError, match="give 4 suits"):
        env.reset(options={"cards": ["K", "Q", "2", "A"], "suits": ["stars"] * 4})


def test_wrong_cards_in_vision_and_recognition_flag():
    env = make(modality="vision")
    _, info = env.reset(seed=5)
    bad = gp_answer(["A", "A", "A", "A"] if info["cards"] != ["A"] * 4 else ["2"] * 4, info["numbers"], info["solution"])
    _, reward, _, _, step_info = env.step(bad)
    assert (reward, step_info["outcome"], step_info["cards_correct"]) == (-1.5, "wrong_cards", False)


def test_render_and_huge_or_odd_actions():
    env = make(render_mode="rgb_array")
    env.reset(seed=0)
    assert env.render().shape == (96, 96, 3)
    for junk in ["x" * (1 << 20), "\u0000\uffff", 12345, None]:
        _, reward, *_ = env.step(junk)
        assert reward == -3.0
