"""SFT demonstrations: correct, in the env's format, deterministic, tokenizable with assistant masks."""

from __future__ import annotations

import numpy as np
import pytest

from sftrl_repro.data import gp_sft_dataset, gp_suboptimal_dataset, sft_dataset
from sftrl_repro.envs.general_points import GeneralPointsEnv
from sftrl_repro.prompts.gp import FEEDBACK_PREFIX, gp_prompt
from sftrl_repro.rewards.gp import verify_gp


def _text(content) -> str:
    return content if isinstance(content, str) else "".join(p["text"] or "" for p in content if p["type"] == "text")


@pytest.mark.parametrize("modality", ["language", "vision"])
def test_gp_demonstrations_are_correct_single_turn_id_rule(modality):
    data = gp_sft_dataset(40, modality=modality, seed=3)
    assert len(data) == 40
    for row in data:
        user, assistant = row["messages"]
        assert (user["role"], assistant["role"]) == ("user", "assistant")
        assert _text(user["content"]) == gp_prompt(row["cards"], rule="id", modality=modality)
        verdict = verify_gp(_text(assistant["content"]), row["cards"], rule="id", modality=modality)
        assert verdict.outcome == "correct"
        assert row["numbers"] == [10 if c in "JQK" else (1 if c == "A" else int(c)) for c in row["cards"]]
        assert f'"formula": "{row["formula"]}=24"' in _text(assistant["content"])
    if modality == "vision":
        assert data[0]["messages"][0]["content"][0] == {"type": "image", "text": None}
        image = np.asarray(data[0]["images"][0])
        assert image.shape == (96, 96, 3) and image.dtype == np.uint8


def test_demonstrations_follow_the_env_deal_and_are_deterministic():
    data = gp_sft_dataset(5, modality="vision", seed=11, image_size=64)
    env = GeneralPointsEnv(modality="vision", rule="id", image_size=64)
    obs, info = env.reset(seed=11)
    assert data[0]["cards"] == info["cards"]
    assert np.array_equal(np.asarray(data[0]["images"][0]), obs["image"])  # PNG is lossless
    text_data = gp_sft_dataset(5, modality="language", seed=11)
    assert text_data["cards"] == data["cards"]  # both modalities deal the same hands for a seed
    assert gp_sft_dataset(5, modality="language", seed=11)["messages"] == text_data["messages"]
    assert gp_sft_dataset(5, modality="language", seed=12)["cards"] != text_data["cards"]


def test_random_formula_choice_is_still_correct_and_varies():
    shortest = gp_sft_dataset(60, seed=0)
    varied = gp_sft_dataset(60, seed=0, formula="random")
    assert shortest["cards"] == varied["cards"]
    assert shortest["formula"] != varied["formula"]
    for row in varied:
        assert verify_gp(row["messages"][1]["content"], row["cards"], rule="id").outcome == "correct"


@pytest.mark.parametrize("modality", ["language", "vision"])
def test_suboptimal_trajectories_hold_real_feedback_then_the_correction(modality):
    data = gp_suboptimal_dataset(30, modality=modality, seed=2, max_wrong=3)
    kinds = set()
    for row in data:
        messages = row["messages"]
        n_wrong = len(row["mistakes"])
        assert 1 <= n_wrong <= 3 and len(messages) == 2 + 2 * n_wrong
        assert [m["role"] for m in messages] == ["user", "assistant"] * (n_wrong + 1)
        for k in range(n_wrong):
            answer, feedback = _text(messages[1 + 2 * k]["content"]), _text(messages[2 + 2 * k]["content"])
            verdict = verify_gp(answer, row["cards"], rule="id", modality=modality)
            assert verdict.outcome != "correct" and feedback == verdict.feedback
            assert feedback.startswith(FEEDBACK_PREFIX)
        final = verify_gp(_text(messages[-1]["content"]), row["cards"], rule="id", modality=modality)
        assert final.outcome == "correct"
        kinds.update(row["mistakes"])
    expected = {"wrong_value", "wrong_numbers", "illegal_formula"} | ({"wrong_cards"} if modality == "vision" else set())
    assert kinds == expected


def test_demonstrations_tokenize_with_assistant_masks_for_trl():
    from sftrl_repro.models import load_policy

    policy = load_policy("tiny", "language", base="random")
    row = gp_suboptimal_dataset(1, seed=0, max_wrong=2)[0]
    out = policy.tokenizer.apply_chat_template(row["messages"], return_dict=True, return_assistant_tokens_mask=True)
    marked = [t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m]
    answers = [m["content"] + "<|eot_id|>" for m in row["messages"] if m["role"] == "assistant"]
    assert policy.tokenizer.decode(marked) == "".join(answers)


def test_sft_dataset_by_name_and_errors():
    assert sft_dataset("gp", "l", 3, seed=0)["cards"] == gp_sft_dataset(3, seed=0)["cards"]
    assert "images" in sft_dataset("gp", "vl", 2, seed=0).column_names
    with pytest.raises(ValueError, match="'l', 'vl'"):
        sft_dataset("gp", "v", 3)
    with pytest.raises(ValueError, match="'gp', 'virl'"):
        sft_dataset("chess", "l", 3)
    with pytest.raises(ValueError, match="'shortest', 'random'"):
        gp_sft_dataset(3, formula="longest")
    with pytest.raises(ValueError, match="max_wrong"):
        gp_suboptimal_dataset(3, max_wrong=5)


@pytest.mark.parametrize("modality", ["language", "vision"])
def test_virl_demonstrations_walk_the_ground_truth_rail(modality):
    from sftrl_repro.data.virl import virl_sft_dataset
    from sftrl_repro.prompts.virl import parse_virl_answer, valid_actions

    data = virl_sft_dataset(30, modality=modality, seed=4)
    assert len(data) == 30
    previous = None
    for row in data:
        user, assistant = row["messages"]
        assert _text(user["content"]).startswith("\n[Task Description]")
        assert parse_virl_answer(_text(assistant["content"])).action == row["action"]
        assert row["action"] in valid_actions("absolute")
        if previous is not None and previous["route_id"] == row["route_id"]:
            assert row["waypoint"] == previous["waypoint"] + 1
        else:
            assert row["waypoint"] == 0 and row["action"].startswith("turn_direction(")
            if previous is not None:
                assert previous["action"] == "stop()"  # the previous route was walked to its end
        previous = row
    assert len(set(data["route_id"])) >= 2
    assert virl_sft_dataset(30, modality=modality, seed=4)["messages"] == data["messages"]
    if modality == "vision":
        assert data[0]["messages"][0]["content"][0]["type"] == "image"
        assert np.asarray(data[0]["images"][0]).shape == (129, 129, 3)
    assert sft_dataset("virl", "vl" if modality == "vision" else "l", 30, seed=4)["action"] == data["action"]
