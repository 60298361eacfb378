"""The paper's sweeps (experiments.sweeps): specs, settings, the runs from the study's starts, their
table in the schema plots.sweeps reads, resumption from the cache, and SFT's ``tune`` (Fig 16)."""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

from sftrl_repro.experiments import sweeps
from sftrl_repro.experiments.study import COLUMNS, eval_protocol, sft_dir, study_dir

#: The smallest runs: a 4-step SFT run from a random tiny base (init at step 2), 1 PPO update, 4
#: episodes per split.
TINY = dict(base="random", init_steps=2, sft_steps=4, sft_checkpoints=1, n_demos=16, rl_updates=1,
            rl_checkpoint_every=1, sft_overrides={"per_device_batch_size": 4, "logging_steps": 1},
            ppo_overrides={"transitions_per_update": 4, "num_envs": 4, "max_new_tokens": 8, "ppo_epochs": 1,
                           "minibatch_size": 4, "grad_accum_steps": 1})


def test_specs_are_the_plots_sweeps_with_their_tiny_values():
    import torch  # noqa: F401  (the sft module needs it; imported here so the guard fixture is active)

    from sftrl_repro.plots.sweeps import SWEEPS
    from sftrl_repro.trainers.ppo import PPOConfig
    from sftrl_repro.trainers.sft import TUNE_MODES, sft_run_config

    assert list(sweeps.SWEEP_SPECS) == list(SWEEPS)
    for name, spec in sweeps.SWEEP_SPECS.items():
        figure, column, _ = SWEEPS[name]
        assert spec.figure == figure and column in spec.params and f"Fig {figure}" in spec.paper
    assert sweeps.TINY_SFT_LR == sft_run_config("tiny", "gp", "vl", "unused").learning_rate
    assert sweeps.TINY_PPO_LR == PPOConfig.tiny("gp", "vision").lr
    assert dict(sweeps.SWEEP_SPECS["rl_lr"].grid)["lr"] == (3e-6, 6e-6, 1.2e-5)
    assert dict(sweeps.SWEEP_SPECS["sft_lr"].grid) == {"tune": TUNE_MODES, "lr": (5e-4, 5e-5)}
    assert [s.start for s in sweeps.SWEEP_SPECS.values()] == ["base", "init", "base", "base", "init", "last_sft"]
    points = sweeps.sweep_points(sweeps.SWEEP_SPECS["sft_lr"])
    assert len(points) == 6 and points[0] == {"tune": "all", "lr": 5e-4}
    study = sweeps.study_config(sweeps.SWEEP_SPECS["sft_lr"], sweeps.SweepSettings(), seed=1)
    assert len({sweeps.point_id(study, p) for p in points}) == 6
    assert sweeps.point_id(study, points[1]).endswith("-seed1-tuneall-lr5e-05")
    assert study.eval_n == 200 and study.rl_updates == 4 and study.rl_checkpoint_every == 2
    assert sweeps.study_config(sweeps.SWEEP_SPECS["rl_from_overfit"], sweeps.SweepSettings(), seed=0).eval_n == 100


def test_points_set_ppo_sft_or_the_training_env_and_keep_the_evaluation():
    settings = sweeps.SweepSettings()
    spec = sweeps.SWEEP_SPECS["verify_iter"]
    study = sweeps.study_config(spec, settings, seed=0)
    config = sweeps.point_config(spec, study, {"verify_iter": 10})
    ppo = sweeps.rl_experiment(config).ppo_config()
    assert ppo.env_kwargs == {"modality": "language", "verify_iter": 10}
    assert eval_protocol(config) == eval_protocol(study)  # evaluated with the study's 5 attempts
    rl = sweeps.point_config(sweeps.SWEEP_SPECS["rl_lr"], study, {"lr": 3e-6})
    assert sweeps.rl_experiment(rl).ppo_config().lr == 3e-6 and rl.sft_overrides == {}
    sft = sweeps.point_config(sweeps.SWEEP_SPECS["sft_lr"], study, {"tune": "frozen_vision", "lr": 5e-5})
    assert sft.sft_overrides == {"learning_rate": 5e-5, "tune": "frozen_vision"} and sft.ppo_overrides == {}
    from sftrl_repro.trainers.sft import sft_run_config

    run = sft_run_config("tiny", "gp", "vl", "unused", **sft.sft_overrides)  # what sft_run builds
    assert (run.tune, run.learning_rate) == ("frozen_vision", 5e-5)

    class Record:
        def __init__(self, step):
            self.step = step

    records = [Record(s) for s in (120, 240, 360)]
    assert sweeps.start_record("init", records, 120).step == 120
    assert sweeps.start_record("last_sft", records, 120).step == 360


def test_bad_names_and_settings_end_in_one_error_naming_the_valid_ones(tmp_path, capsys):
    with pytest.raises(ValueError, match="'rl_from_base', 'verify_iter'"):
        sweeps.run_sweep("rl_from_nowhere", root=tmp_path)
    with pytest.raises(ValueError, match="'values'"):
        sweeps.run_sweep("rl_lr", root=tmp_path, learning_rates=[1e-6])
    with pytest.raises(ValueError, match=r"parameter columns are \['lr'\]"):
        sweeps.run_sweep("rl_lr", root=tmp_path, values={"tune": ["all"]})
    with pytest.raises(ValueError, match="non-empty list"):
        sweeps.run_sweep("verify_iter", root=tmp_path, values={"verify_iter": []})
    with pytest.raises(ValueError, match="'frozen_vision_adapter'"):
        sweeps.run_sweep("sft_lr", root=tmp_path, values={"tune": ["frozen"]})
    with pytest.raises(ValueError, match="lr=-1"):
        sweeps.run_sweep("rl_lr", root=tmp_path, values={"lr": [-1]})
    with pytest.raises(ValueError, match="its runs start from the base"):
        sweeps.run_sweep("suboptimal_sft", root=tmp_path, start=str(tmp_path))
    assert not any(tmp_path.iterdir())  # refused before anything is written
    with pytest.raises(SystemExit):
        sweeps.main(["--name", "fig9"])
    err = capsys.readouterr().err
    assert "'fig9' is not valid" in err and "'rl_from_overfit'" in err
    with pytest.raises(SystemExit):
        sweeps.main(["--name", "rl_lr", "--set", "lrs=[1]"])
    err = capsys.readouterr().err
    assert "lrs=[1]" in err and "'values'" in err and "'study_root'" in err
    command = sweeps.sweep_command("rl_lr", [0, 1], values={"lr": [1e-5]}, base="pretrained")
    assert command == ("python -m sftrl_repro.experiments.sweeps --name rl_lr --seeds 0 1 "
                       "--set 'values={\"lr\":[1e-05]}'")


def test_rl_sweep_starts_from_the_study_init_and_reads_back_its_cache(tmp_path, monkeypatch):
    from sftrl_repro.experiments.study import StudyConfig
    from sftrl_repro.plots.sweeps import plot_fig10_verification, read_sweep, verification_growth

    monkeypatch.setenv("SFTRL_REPRO_ROOT", str(tmp_path))
    frame = sweeps.run_sweep("verify_iter", eval_n=4, progress=False, values={"verify_iter": [1, 2]}, **TINY)
    assert list(frame.columns) == [*COLUMNS, "verify_iter"]
    assert set(frame["method"]) == {"init", "rl"} and set(frame["split"]) == {"id", "rule_ood"}
    init, rl = frame[frame.method == "init"], frame[frame.method == "rl"]
    # the start's evaluation once per seed and value (per split), at the init's SFT step and compute
    assert len(init) == 2 * 2 and sorted(init["verify_iter"].unique()) == [1, 2] and set(init["step"]) == {2}
    assert init["gflops"].nunique() == 1 and init["gflops"].iloc[0] > 0  # D_init counted
    assert set(rl["step"]) == {1} and (rl["gflops"] > init["gflops"].max()).all()
    assert (frame["n_episodes"] == 4).all()
    # the init is the study's own: its SFT run and its evaluation cache
    study = StudyConfig(task="gp", variant="l", seed=0, eval_n=4, **TINY)
    assert (sft_dir(study) / "DONE").is_file() and any((study_dir(study) / "eval").rglob("sft_step_000002.json"))
    point = tmp_path / "runs" / "sweeps" / "verify_iter" / f"{study.run_id}-verify_iter2"
    ppo = json.loads((point / "ppo" / "config.json").read_text())["ppo"]
    assert ppo["env_kwargs"] == {"modality": "language", "verify_iter": 2} and ppo["lr"] == 6e-6
    # read back from the cache, identically, without training
    again = sweeps.run_sweep("verify_iter", eval_n=4, progress=False, train=False, values={"verify_iter": [1, 2]},
                             **TINY)
    pd.testing.assert_frame_equal(frame, again)
    path = sweeps.write_sweep_results("verify_iter", frame)
    assert path == tmp_path / "results" / "sweep_verify_iter.csv"
    table = read_sweep("verify_iter")
    assert len(table) == len(frame) and set(table["verify_iter"]) == {1, 2}
    # (one PPO update each: the runs rarely reach a common compute, which Fig 10 needs, so only the
    # drawing is checked here)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert set(verification_growth(table)["verify_iter"]) <= {1, 2}
        plot_fig10_verification(table)


def test_rl_from_base_counts_no_sft_and_a_missing_run_names_the_sweep_command(tmp_path, monkeypatch):
    from sftrl_repro.experiments.rl import MissingRunError
    from sftrl_repro.plots.sweeps import plot_fig09_rl_from_base

    monkeypatch.setenv("SFTRL_REPRO_ROOT", str(tmp_path))
    with pytest.raises(MissingRunError, match="--name rl_from_base --seeds 0"):
        sweeps.run_sweep("rl_from_base", eval_n=4, progress=False, train=False, **TINY)
    frame = sweeps.run_sweep("rl_from_base", eval_n=4, progress=False, values={"lr": [1.2e-5]}, **TINY)
    init, rl = frame[frame.method == "init"], frame[frame.method == "rl"]
    assert set(init["step"]) == {0} and (init["gflops"] == 0).all() and set(frame["lr"]) == {1.2e-5}
    assert (rl["gflops"] > 0).all()
    assert not (tmp_path / "runs" / "study").exists()  # no SFT run: the start is the base itself
    starts = tmp_path / "runs" / "sweeps" / "starts"
    assert len(list(starts.glob("*/base/config.json"))) == 1 and len(list(starts.glob("*/eval/*/base.json"))) == 1
    plot_fig09_rl_from_base(frame)


def test_suboptimal_sft_trains_on_multi_turn_trajectories_from_the_base(tmp_path, monkeypatch):
    from sftrl_repro.plots.sweeps import plot_fig15_suboptimal_sft, read_sweep
    from sftrl_repro.trainers.sft import read_sft_result

    monkeypatch.setenv("SFTRL_REPRO_ROOT", str(tmp_path))
    frame = sweeps.run_sweep("suboptimal_sft", eval_n=4, progress=False, **TINY)
    assert list(frame.columns) == [*COLUMNS, "data"] and set(frame["data"]) == {"suboptimal"}
    init, sft = frame[frame.method == "init"], frame[frame.method == "sft"]
    assert len(init) == 2 and set(init["step"]) == {0} and (init["gflops"] == 0).all()
    assert set(sft["step"]) == {2, 4} and sft.groupby("step")["gflops"].first().is_monotonic_increasing
    assert not (tmp_path / "runs" / "study").exists()
    # the demonstrations: wrong answers, the verifier's feedback, then the right answer
    study = sweeps.study_config(sweeps.SWEEP_SPECS["suboptimal_sft"], sweeps.SweepSettings(**TINY), seed=0, eval_n=4)
    data = sweeps.point_data(study, {"data": "suboptimal"})()
    assert len(data) == 16 and all(len(m) >= 4 for m in data["messages"]) and all(data["mistakes"])
    point = tmp_path / "runs" / "sweeps" / "suboptimal_sft" / f"{study.run_id}-datasuboptimal"
    assert [r.step for r in read_sft_result(point / "sft").checkpoints] == [2, 4]
    again = sweeps.run_sweep("suboptimal_sft", eval_n=4, progress=False, train=False, **TINY)
    pd.testing.assert_frame_equal(frame, again)
    sweeps.write_sweep_results("suboptimal_sft", frame)
    plot_fig15_suboptimal_sft(read_sweep("suboptimal_sft"))


# ------------------------------------------------------------------------------ SFT's tune (Fig 16)
def test_tune_is_validated_and_old_run_folders_without_it_are_the_same_config(tmp_path):
    from dataclasses import asdict

    from sftrl_repro.models import load_policy
    from sftrl_repro.trainers.sft import SFTRunConfig, _check_run_folder, freeze_for_tune

    with pytest.raises(ValueError, match="tune='vision'.*'all', 'frozen_vision', 'frozen_vision_adapter'"):
        SFTRunConfig(output_dir=str(tmp_path), tune="vision")
    stored = asdict(SFTRunConfig(output_dir=str(tmp_path), save_steps=(3,)))
    stored.pop("tune")  # a run folder written before the field existed
    (tmp_path / "config.json").write_text(json.dumps(stored))
    _check_run_folder(tmp_path, SFTRunConfig(output_dir=str(tmp_path), save_steps=(3,)))
    with pytest.raises(ValueError, match="differs in tune"):
        _check_run_folder(tmp_path, SFTRunConfig(output_dir=str(tmp_path), save_steps=(3,), tune="frozen_vision"))
    with pytest.raises(ValueError, match="text policy"):
        freeze_for_tune(load_policy("tiny", "language", base="random"), "frozen_vision")


@pytest.mark.parametrize("tune", ["frozen_vision", "frozen_vision_adapter"])
def test_frozen_parameters_do_not_change_and_the_others_do(tmp_path, tune):
    import torch

    from sftrl_repro.data import gp_sft_dataset
    from sftrl_repro.models import Policy, load_policy
    from sftrl_repro.trainers.sft import SFTRunConfig, train_sft

    policy = load_policy("tiny", "vision", base="random")
    before = {n: p.detach().clone() for n, p in policy.model.named_parameters()}
    data = gp_sft_dataset(8, modality="vision", seed=0, image_size=96)
    config = SFTRunConfig(output_dir=str(tmp_path / "run"), max_steps=3, per_device_batch_size=4, learning_rate=1e-2,
                          warmup_ratio=0.0, logging_steps=1, report_to="none", tune=tune)
    after = dict(Policy.load(train_sft(policy, data, config).final.path).model.named_parameters())
    changed = {n for n, p in before.items() if not torch.equal(p, after[n].detach().to(p.dtype))}
    frozen = ("model.vision_model.",) + (("model.multi_modal_projector.",) if tune.endswith("adapter") else ())
    assert not [n for n in changed if n.startswith(frozen)]
    assert any(n.startswith("model.language_model.") for n in changed)
    if tune == "frozen_vision":  # the projector gets gradients, so freezing is what keeps the encoder
        assert any(n.startswith("model.multi_modal_projector.") for n in changed)
