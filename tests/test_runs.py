"""The run cache: config guard, metrics log, atomic checkpoints, resume truncation, DONE."""

import json

import pytest

from sftrl_repro.experiments import Run, RunConfigMismatch, config_hash


def _write(payload):
    def write(folder):
        (folder / "state.json").write_text(json.dumps(payload))
    return write


def test_fresh_run_logs_checkpoints_and_finishes(tmp_path):
    run = Run("gp-l-ppo", {"lr": 1e-6, "updates": 3}, root=tmp_path)
    assert run.resumed_from is None and not run.done
    for step in (1, 2, 3):
        run.log(step, reward=float(step))
        run.save_checkpoint(step, _write({"step": step}))
    run.mark_done({"final_reward": 3.0})
    assert run.checkpoints() == [1, 2, 3] and run.latest_step() == 3 and run.done
    assert [m["reward"] for m in run.metrics()] == [1.0, 2.0, 3.0]
    assert json.loads((run.path / "config.json").read_text()) == {"lr": 1e-6, "updates": 3}


def test_resume_drops_metrics_logged_after_the_last_checkpoint(tmp_path):
    run = Run("r", {"a": 1}, root=tmp_path)
    run.log(1, x=1)
    run.save_checkpoint(1, _write({}))
    run.log(2, x=2)  # killed before checkpoint 2
    (run.path / "metrics.jsonl").open("a").write('{"step": 3, "x"')  # torn line
    again = Run("r", {"a": 1}, root=tmp_path)
    assert again.resumed_from == 1
    assert again.metrics() == [{"step": 1, "x": 1}]


def test_half_written_checkpoints_are_ignored(tmp_path):
    run = Run("r", {}, root=tmp_path)

    def crash(folder):
        (folder / "partial").write_text("x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run.save_checkpoint(5, crash)
    assert run.checkpoints() == []
    run.save_checkpoint(5, _write({}))  # a retry cleans the temporary folder
    assert run.checkpoints() == [5]


def test_a_different_config_is_refused(tmp_path):
    Run("r", {"lr": 1}, root=tmp_path)
    with pytest.raises(RunConfigMismatch, match=r"different config \(keys \['lr'\]\)"):
        Run("r", {"lr": 2}, root=tmp_path)


def test_run_ids_and_hashes():
    with pytest.raises(ValueError, match="run_id"):
        Run("../escape", {})
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1}) != config_hash({"a": 2, "b": 2})


def test_ppo_command_line_writes_the_run_layout_the_notebooks_read(tmp_path):
    import pytest

    from sftrl_repro.experiments.rl import MissingRunError, RLExperiment, eval_cache_dir, run_rl_experiment
    from sftrl_repro.models import load_policy
    from sftrl_repro.trainers.ppo import main

    load_policy("tiny", "language", seed=0, base="random").save(tmp_path / "init")
    run_dir = tmp_path / "run"
    argv = ["--scale", "tiny", "--task", "gp", "--variant", "l", "--base", "random", "--init", str(tmp_path / "init"),
            "--updates", "2", "--eval-n", "2", "--splits", "id", "--run-dir", str(run_dir),
            "--set", "transitions_per_update=4", "--set", "num_envs=2", "--set", "max_new_tokens=6",
            "--set", "checkpoint_every=2"]
    table = main(argv)
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["update"] for m in metrics] == [1, 2] and all(m["lr"] > 0 for m in metrics)
    assert (run_dir / "DONE").is_file() and (run_dir / "checkpoints" / "step_000002" / "policy" / "config.json").is_file()
    exp = RLExperiment(task="gp", variant="l", scale="tiny", updates=2, eval_n=2, splits=("id",))
    assert sorted(p.name for p in eval_cache_dir(run_dir, exp).iterdir()) == ["update_0000.json", "update_0002.json"]
    assert list(table["method"]) == ["init", "rl"] and list(table["update"]) == [0, 2]
    assert "eval_id_success" in metrics[1] and "eval_id_success" not in metrics[0]
    # The notebooks' read-only path gives the same table; a missing run names its command.
    assert run_rl_experiment(exp, run_dir=run_dir, train=False).equals(table)
    with pytest.raises(MissingRunError, match="python -m sftrl_repro.trainers.ppo --scale tiny"):
        run_rl_experiment(exp, run_dir=tmp_path / "nothing", train=False)
    paper = RLExperiment(task="gp", variant="l", scale="paper", updates=20, sft_steps=1600, eval_n=234)
    with pytest.raises(MissingRunError, match="sbatch scripts/slurm/ppo.sbatch gp l 0"):
        run_rl_experiment(paper, run_dir=tmp_path / "nothing", train=False)


def test_a_ppo_run_evaluated_with_more_episodes_keeps_its_training_and_plays_only_the_new_ones(tmp_path):
    import shutil

    from sftrl_repro.experiments import rl
    from sftrl_repro.experiments.rl import RLExperiment, adopt_legacy_layout, eval_cache_dir, run_rl_experiment
    from sftrl_repro.models import load_policy

    load_policy("tiny", "language", seed=0, base="random").save(tmp_path / "init")
    small = {"transitions_per_update": 4, "num_envs": 2, "max_new_tokens": 6, "checkpoint_every": 2}
    exp = RLExperiment(task="gp", variant="l", scale="tiny", updates=2, eval_n=2, splits=("id",),
                       init=str(tmp_path / "init"), ppo_overrides=small, eval_max_new_tokens=6, eval_greedy=True)
    run_dir = tmp_path / "run"
    first = run_rl_experiment(exp, run_dir=run_dir, progress=False)
    log = (run_dir / "metrics.jsonl").read_text()
    played = []
    real = rl.evaluate_policy

    def counting(policy, e, *args, done=None, **kwargs):
        played.append({s: r["episodes"] for s, r in (done or {}).items()})
        return real(policy, e, *args, done=done, **kwargs)

    rl.evaluate_policy = counting
    try:
        more = RLExperiment(**{**exp.__dict__, "eval_n": 3})
        grown = run_rl_experiment(more, run_dir=run_dir, progress=False)
    finally:
        rl.evaluate_policy = real
    assert (run_dir / "metrics.jsonl").read_text() == log  # not retrained
    assert played == [{"id": 2}, {"id": 2}]  # the init and update 2, each from its 2 earlier episodes
    assert list(grown["episodes"]) == [3, 3] and list(first["episodes"]) == [2, 2]
    assert sorted(p.name for p in (run_dir / "eval").iterdir()) == sorted(
        [eval_cache_dir(run_dir, exp).name, eval_cache_dir(run_dir, more).name])
    # The same 3 episodes evaluated at once give the same rows (greedy float32 here).
    fresh = tmp_path / "fresh"
    shutil.copytree(run_dir, fresh)
    shutil.rmtree(fresh / "eval")
    assert run_rl_experiment(more, run_dir=fresh, progress=False).equals(grown)
    # A folder of an earlier release (protocol in config.json, evaluations in eval/) is adopted as is.
    legacy = tmp_path / "legacy"
    shutil.copytree(run_dir, legacy)
    shutil.rmtree(legacy / "eval")
    shutil.copytree(eval_cache_dir(run_dir, exp), legacy / "eval")
    config = json.loads((legacy / "config.json").read_text())
    config["experiment"].update(eval_n=2, splits=["id"], eval_max_new_tokens=6, eval_greedy=True,
                                eval_dtype="bfloat16")
    (legacy / "config.json").write_text(json.dumps(config))
    assert run_rl_experiment(exp, run_dir=legacy, train=False).equals(first)
    assert not adopt_legacy_layout(legacy)  # once only
    assert json.loads((legacy / "config.json").read_text()) == json.loads((run_dir / "config.json").read_text())


def test_sft_command_line_writes_its_run_folder_and_checkpoint_evaluations(tmp_path):
    from sftrl_repro.trainers.sft import main

    run_dir = tmp_path / "sft"
    result = main(["--scale", "tiny", "--task", "gp", "--variant", "l", "--base", "random", "--steps", "2",
                   "--save-steps", "1", "--demos", "8", "--run-dir", str(run_dir), "--eval-n", "1"])
    assert [c.step for c in result.checkpoints] == [1, 2] and (run_dir / "DONE").is_file()
    rows = json.loads((run_dir / "eval" / "checkpoint-2.json").read_text())
    assert [r["split"] for r in rows] == ["id", "rule_ood"] and rows[0]["step"] == 2 and rows[0]["episodes"] == 1
    assert sorted(p.name for p in (run_dir / "eval").iterdir()) == ["checkpoint-1.json", "checkpoint-2.json"]
