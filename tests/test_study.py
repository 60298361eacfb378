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
    with pytest.raises(ValueError, match="'random', 'pretrained', 'isolated'"):
        StudyConfig(base="imagenet")


def test_each_base_names_its_own_runs():
    """The run ids of the study, its PPO runs and SFT folders carry the base (and the tiny base's
    config hash), so runs from the default base, the 'isolated' recipe's and a random init never mix."""
    from sftrl_repro.experiments.rl import RLExperiment
    from sftrl_repro.trainers.pretrain import default_config
    from sftrl_repro.trainers.sft import sft_run_dir

    ids = {base: StudyConfig(base=base).run_id for base in ("pretrained", "isolated", "random")}
    assert ids["pretrained"] == "tiny-gp-l-pretrained-" + default_config("language").run_id()[-10:] + "-seed0"
    assert ids["isolated"] == "tiny-gp-l-isolated-a25e7226de-seed0"  # the README's measured seed
    assert ids["random"] == "tiny-gp-l-random-seed0"
    assert StudyConfig(variant="vl", base="isolated").run_id.endswith(
        default_config("vision", recipe="isolated").run_id()[-10:] + "-seed0")
    rl = {base: RLExperiment(base=base).run_id for base in ("pretrained", "isolated", "random")}
    assert len(set(rl.values())) == 3 and rl["isolated"].endswith("-isolated")
    assert sft_run_dir("tiny", "gp", "l", seed=0, max_steps=9, base="isolated").name.endswith("-isolated")


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
    # more episodes per split: only the new ones are played (3 checkpoints x 2 splits x 2), and the
    # PPO run is not retrained
    import sftrl_repro.evaluation as evaluation

    played, real = [], evaluation.evaluate
    monkeypatch.setattr(evaluation, "evaluate", lambda *a, n, first=0, **k: played.append(n - first) or real(
        *a, n=n, first=first, **k))
    log = (tmp_path / "study" / config.run_id / "ppo" / "metrics.jsonl").read_text()
    grown = run_study(StudyConfig(**{**config.__dict__, "eval_n": 6}), root=tmp_path / "study", progress=False)
    assert played == [2] * 6 and (grown["n_episodes"] == 6).all()
    assert (tmp_path / "study" / config.run_id / "ppo" / "metrics.jsonl").read_text() == log
    monkeypatch.setattr(evaluation, "evaluate", real)
    path = write_study_results(frame)
    assert path == study_results_path("gp", "l") and path.is_file()
    from sftrl_repro.experiments.study import study_examples

    examples = study_examples(config, root=tmp_path / "study", n=2)
    assert set(examples["method"]) == {"init", "sft", "rl"} and set(examples["split"]) == {"id", "rule_ood"}
    assert (examples.groupby(["method", "split"])["episode"].nunique() == 2).all()


def test_reading_only_names_the_missing_run_and_its_command(tmp_path):
    from sftrl_repro.experiments.rl import MissingRunError
    from sftrl_repro.experiments.study import study_command

    config = StudyConfig(task="virl", variant="l", seed=2, eval_n=50)
    command = study_command(config)
    assert command.startswith("python -m sftrl_repro.experiments.study --task virl --variant l --scale tiny --seeds 2")
    assert "--set eval_n=50" in command and "init_steps" not in command  # only what differs from the defaults
    with pytest.raises(MissingRunError, match="study --task virl"):
        run_study(config, root=tmp_path, train=False)
    assert not any(tmp_path.iterdir())  # reading writes nothing


def test_command_line_rejects_an_unknown_field_with_the_valid_ones(capsys):
    from sftrl_repro.experiments.study import main

    with pytest.raises(SystemExit):
        main(["--task", "gp", "--set", "steps=3"])
    err = capsys.readouterr().err
    assert "steps=3" in err and "'init_steps'" in err and "'rl_updates'" in err


def test_effects_are_arm_minus_init_at_equal_compute_in_ses():
    from sftrl_repro.plots.study import study_effects

    rows = []
    for seed, (init, sft, rl) in enumerate([(0.20, 0.10, 0.30), (0.22, 0.12, 0.32)]):
        for method, step, gflops, value in (("init", 60, 1.0, init), ("sft", 120, 2.0, sft), ("sft", 180, 3.0, 0.0),
                                            ("rl", 4, 2.5, rl)):
            rows.append({"method": method, "seed": seed, "step": step, "gflops": gflops, "split": "rule_ood",
                         "success": value, "success_se": 0.01, "n_episodes": 1000})
    effects = study_effects(pd.DataFrame(rows), "success").set_index("arm")
    # equal compute: RL stopped at 2.5 GFLOPs, so SFT contributes its step-120 checkpoint (2.0), not 180
    assert effects.loc["sft", "effect"] == pytest.approx(-10.0)
    assert effects.loc["rl", "effect"] == pytest.approx(10.0)
    assert effects.loc["rl", "effect_se"] == pytest.approx(100 * (2 * 0.01 ** 2) ** 0.5 * 2 ** 0.5 / 2)
    assert effects.loc["rl", "reading"] == "up" and effects.loc["sft", "reading"] == "down"
    assert (effects["n_seeds"] == 2).all()


def test_paper_scale_reads_the_cluster_runs_and_names_their_sbatch_lines(tmp_path, monkeypatch):
    from sftrl_repro.experiments.rl import MissingRunError
    from sftrl_repro.experiments.study import ppo_dir, sft_dir

    monkeypatch.setenv("SFTRL_REPRO_ROOT", str(tmp_path))
    config = StudyConfig(task="gp", variant="vl", scale="paper", seed=1)
    assert (config.init_steps, config.sft_steps, config.rl_updates) == (400, 1600, 20)
    assert sft_dir(config).name == "paper-gp-vl-seed1-1600steps" and sft_dir(config).parent.name == "sft"
    assert ppo_dir(config).name == "paper-gp-vl-seed1-sft1600-20updates"
    with pytest.raises(MissingRunError, match=r"sbatch scripts/slurm/sft.sbatch gp vl 1 1600"):
        run_study(config, train=False)
    assert not (tmp_path / "runs" / "study").exists()


def test_effects_without_an_se_column_use_the_binomial_se_of_the_episodes():
    from sftrl_repro.plots.study import study_effects

    rows = [{"method": m, "seed": 0, "step": st, "gflops": g, "split": "rule_ood", "rule_reading": v, "success": 0.0,
             "success_se": 0.0, "n_episodes": 400} for m, st, g, v in (("init", 1, 1.0, 0.5), ("sft", 2, 2.0, 0.3),
                                                                        ("rl", 1, 2.0, 0.6))]
    effects = study_effects(pd.DataFrame(rows), "rule_reading").set_index("arm")
    se = 100 * ((0.5 * 0.5 / 400) + (0.3 * 0.7 / 400)) ** 0.5
    assert effects.loc["sft", "effect"] == pytest.approx(-20.0) and effects.loc["sft", "effect_se"] == pytest.approx(se)
    assert effects.loc["sft", "reading"] == "down"


def test_effects_in_words_name_each_arm_and_warn_at_the_ood_floor():
    from sftrl_repro.plots.study import describe_effects

    def effects(ood_init):
        return pd.DataFrame([
            {"split": "id", "metric": "success", "arm": "sft", "init": 4.1, "arm_value": 13.6, "effect": 9.5,
             "effect_se": 1.0, "z": 9.5, "n_seeds": 3, "reading": "up"},
            {"split": "rule_ood", "metric": "success", "arm": "rl", "init": ood_init, "arm_value": 0.0,
             "effect": -ood_init, "effect_se": 0.4, "z": -ood_init / 0.4, "n_seeds": 3, "reading": "no clear change"},
            {"split": "id", "metric": "rule_reading", "arm": "sft", "init": 90.0, "arm_value": 95.0, "effect": 5.0,
             "effect_se": 1.0, "z": 5.0, "n_seeds": 3, "reading": "up"}])

    text = describe_effects(effects(0.0), "success").splitlines()
    assert text[0].startswith("Out of distribution the init is at the floor (0.0%)")
    assert text[1] == "        id SFT: 4.1% -> 13.6% (+9.5 +- 1.0 points, up, 3 seed(s))"
    assert len(text) == 3 and "RL: 0.0% -> 0.0%" in text[2]  # the rule_reading row is another metric's
    assert "floor" not in describe_effects(effects(12.0), "success")  # OOD off the floor: no warning
    assert describe_effects(effects(0.0), "recognition") == ""
    assert describe_effects(pd.DataFrame(), "success") == ""


def test_stage_timings_are_logged_summed_and_skip_cached_stages(tmp_path, monkeypatch, capsys):
    from sftrl_repro.experiments import study

    run = tmp_path / "tiny-gp-l-pretrained-abc-seed0"
    study.log_timing(run, "sft", 90.0)
    study.log_timing(run, "evaluation of SFT step 120", 30.0)
    study.log_timing(run, "evaluation of SFT step 240", 0.5)  # read back from its cache: not logged
    study.log_timing(tmp_path / "tiny-virl-l-pretrained-abc-seed0", "rl (PPO and its evaluations)", 60.0)
    timings = study.study_timings(tmp_path)
    assert list(timings["stage"]) == ["sft", "evaluation of SFT step 120", "rl (PPO and its evaluations)"]
    assert timings["minutes"].tolist() == [1.5, 0.5, 1.0] and (timings["threads"] >= 1).all()
    text = study.timings_report(timings)
    assert "tiny-gp-l-pretrained-abc-seed0: 2.0 min" in text
    assert f"total: {3 * timings['threads'].iloc[0]:.0f} core-minutes" in text
    assert study.timings_report(study.study_timings(tmp_path / "none")).startswith("no study stage")
    with study.timed_stage(run, "quick"):  # under MIN_TIMED_SECONDS: not logged
        pass
    assert len(study.study_timings(tmp_path)) == 3
    monkeypatch.setattr(study, "MIN_TIMED_SECONDS", 0.0)
    with pytest.raises(RuntimeError), study.timed_stage(run, "failed"):  # a stage that fails is not logged
        raise RuntimeError("stopped")
    with study.timed_stage(run, "quick"):
        pass
    mine = study.study_timings(tmp_path)
    assert list(mine[mine["run"] == run.name]["stage"]) == ["sft", "evaluation of SFT step 120", "quick"]
    monkeypatch.setattr(study, "runs_dir", lambda: tmp_path.parent)
    monkeypatch.setattr(study, "study_timings", lambda root=None: timings)
    study.main(["--times"])
    assert "core-minutes" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        study.main(["--seeds", "0"])  # no --task
    assert "--task is required: one of gp, virl" in capsys.readouterr().err
