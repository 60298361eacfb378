"""The study's design (experiments.study): one SFT run gives the init and the SFT arm, PPO starts
from that same init, both arms share one compute axis and one evaluation protocol."""

from __future__ import annotations

import pandas as pd
import pytest

from sftrl_repro.experiments.study import COLUMNS, StudyConfig, run_study, study_results_path, write_study_results


def test_config_validates_and_places_checkpoints():
    config = StudyConfig(init_steps=60, sft_steps=300, sft_checkpoints=4)
    assert config.sft_save_steps == (60, 120, 180, 240, 300)
    assert config.eval_n == 1000 and StudyConfig(task="virl").eval_n == 200
    assert StudyConfig(variant="vl").splits == ("id", "rule_ood", "visual_ood")
    with pytest.raises(ValueError, match="sft_steps"):
        StudyConfig(init_steps=10, sft_steps=10)
    with pytest.raises(ValueError, match="base"):
        StudyConfig(base="imagenet")


def test_one_seed_runs_both_arms_from_one_init(tmp_path, monkeypatch):
    monkeypatch.setenv("SFTRL_REPRO_ROOT", str(tmp_path))
    config = StudyConfig(task="gp", variant="l", base="random", init_steps=2, sft_steps=4, sft_checkpoints=1,
                         n_demos=16, rl_updates=1, rl_checkpoint_every=1, eval_n=4,
                         sft_overrides={"per_device_batch_size": 4, "logging_steps": 1},
                         ppo_overrides={"transitions_per_update": 4, "num_envs": 4, "max_new_tokens": 8,
                                        "ppo_epochs": 1, "minibatch_size": 4, "grad_accum_steps": 1})
    frame = run_study(config, root=tmp_path / "study", progress=False)
    assert list(frame.columns) == list(COLUMNS)
    assert set(frame["method"]) == {"init", "sft", "rl"}
    assert set(frame["split"]) == {"id", "rule_ood"}
    init = frame[frame.method == "init"]
    assert set(init["step"]) == {2} and len(init) == 2  # once per split
    sft, rl = frame[frame.method == "sft"], frame[frame.method == "rl"]
    assert set(sft["step"]) == {4} and set(rl["step"]) == {1}
    # one compute axis: both arms start from the init's compute and go beyond it
    assert (sft["gflops"] > init["gflops"].max()).all() and (rl["gflops"] > init["gflops"].max()).all()
    assert (frame["n_episodes"] == 4).all()
    # rerun reads everything back from the cache, identically
    again = run_study(config, root=tmp_path / "study", progress=False)
    pd.testing.assert_frame_equal(frame, again)
    path = write_study_results(frame)
    assert path == study_results_path("gp", "l") and path.is_file()
