"""SFT with TRL at the tiny scale: it learns, checkpoints at chosen steps, counts tokens, resumes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

from sftrl_repro.data import gp_sft_dataset
from sftrl_repro.envs.general_points import GeneralPointsEnv
from sftrl_repro.models import Policy, load_policy
from sftrl_repro.prompts.gp import parse_gp_answer
from sftrl_repro.trainers.sft import SFTRunConfig, read_metrics, sft_run_config, train_sft

torch.set_num_threads(1)


def _config(out: Path, **kw) -> SFTRunConfig:
    base = dict(max_steps=6, save_steps=(3,), per_device_batch_size=4, learning_rate=3e-3, logging_steps=1,
                report_to="none")
    return SFTRunConfig(output_dir=str(out), **{**base, **kw})


class _Crash(TrainerCallback):
    """Simulates a killed job: raises once the given step is done (after its checkpoint, if any)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt("simulated kill")


@pytest.fixture(scope="module")
def text_data():
    return gp_sft_dataset(400, modality="language", seed=0)


def test_sft_lowers_loss_and_teaches_the_answer_format(tmp_path, text_data):
    policy = load_policy("tiny", "language", base="random")
    result = train_sft(policy, text_data, _config(tmp_path / "run", max_steps=80, save_steps=(40,), per_device_batch_size=8,
                                                  warmup_ratio=0.1, logging_steps=5))
    losses = [e["loss"] for e in read_metrics(tmp_path / "run") if "loss" in e]
    assert losses[-1] < 0.3 * losses[0]
    assert [c.step for c in result.checkpoints] == [40, 80]
    # Held-out prompts (seeds the training data never used): answers parse with every field.
    env = GeneralPointsEnv(modality="language", rule="id")
    conversations = [env.reset(seed=10_000 + i)[1]["conversation"] for i in range(16)]
    trained = Policy.load(result.final.path)
    answers = [parse_gp_answer(t) for t in trained.generate(conversations, max_new_tokens=128).texts]
    # (From random weights, 80 steps teach the template, not the task: every answer opens with the
    # "cards" and "number" fields; the last field, "formula", is dropped by a few.)
    assert all(a.cards is not None and a.numbers is not None for a in answers), answers
    complete = sum(a.formula is not None for a in answers)
    assert complete >= 8, [a for a in answers if a.formula is None]


def test_checkpoints_record_tokens_and_resume_matches_an_uninterrupted_run(tmp_path, text_data):
    straight = train_sft(load_policy("tiny", "language", base="random"), text_data, _config(tmp_path / "a"))

    with pytest.raises(KeyboardInterrupt):
        train_sft(load_policy("tiny", "language", base="random"), text_data, _config(tmp_path / "b"), callbacks=[_Crash(5)])
    assert not (tmp_path / "b" / "DONE").exists()
    # A kill during a save leaves a partial checkpoint folder: resuming must skip it.
    partial = tmp_path / "b" / "checkpoints" / "checkpoint-5"
    partial.mkdir()
    (partial / "config.json").write_text("{}")
    resumed_policy = load_policy("tiny", "language", base="random")
    resumed = train_sft(resumed_policy, text_data, _config(tmp_path / "b"))

    assert [c.step for c in straight.checkpoints] == [c.step for c in resumed.checkpoints] == [3, 6]
    for a, b in zip(straight.checkpoints, resumed.checkpoints):
        assert (a.trained_tokens, a.trained_answer_tokens) == (b.trained_tokens, b.trained_answer_tokens)
    first, last = straight.checkpoints
    assert 0 < first.trained_answer_tokens < first.trained_tokens < last.trained_tokens
    assert last.trained_tokens == pytest.approx(2 * first.trained_tokens, rel=0.2)
    # Same weights and the same logged losses as if nothing had happened.
    a, b = Policy.load(straight.final.path), Policy.load(resumed.final.path)
    for (name, p), q in zip(a.model.named_parameters(), b.model.parameters()):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5, msg=name)
    for p, q in zip(a.model.parameters(), resumed_policy.model.parameters()):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5)
    loss = lambda run: [(e["step"], round(e["loss"], 5)) for e in read_metrics(tmp_path / run) if "loss" in e]  # noqa: E731
    assert loss("a") == loss("b") and len(loss("a")) == 6
    # Only the newest checkpoint keeps the optimizer state that resuming needs.
    assert not (Path(first.path) / "optimizer.pt").exists() and (Path(last.path) / "optimizer.pt").exists()


def test_finished_run_is_returned_and_a_changed_config_is_refused(tmp_path, text_data):
    config = _config(tmp_path / "run", max_steps=2, save_steps=())
    first = train_sft(load_policy("tiny", "language", base="random"), text_data, config)
    again = train_sft(load_policy("tiny", "language", base="random"), text_data, config, callbacks=[_Crash(1)])  # no training
    assert again == first and (tmp_path / "run" / "DONE").is_file()
    with pytest.raises(ValueError, match="learning_rate"):
        train_sft(load_policy("tiny", "language", base="random"), text_data, _config(tmp_path / "run", max_steps=2, save_steps=(), learning_rate=1e-4))


@pytest.mark.parametrize("data_modality", ["vision", "language"])
def test_vision_model_sft_on_images_and_on_text(tmp_path, data_modality):
    """The Mllama path (tiny vision = paper architecture): image demos, and text demos (GP-L at paper scale)."""
    data = gp_sft_dataset(8, modality=data_modality, seed=1)
    policy = load_policy("tiny", "vision", base="random")
    before = [p.detach().clone() for p in policy.model.parameters()]
    result = train_sft(policy, data, _config(tmp_path / "run", max_steps=2, save_steps=(), per_device_batch_size=2))
    assert result.final.trained_images == (4 if data_modality == "vision" else 0)
    assert any(not torch.equal(a, b) for a, b in zip(before, policy.model.parameters()))
    trained = load_policy("tiny", "vision", checkpoint=result.final.path)
    env = GeneralPointsEnv(modality=data_modality, rule="id", image_size=96)
    obs, info = env.reset(seed=3)
    images = [obs["image"]] if data_modality == "vision" else None
    assert len(trained.generate([info["conversation"]], images, max_new_tokens=4).texts) == 1


def test_presets_follow_the_paper_and_validate():
    paper = sft_run_config("paper", "gp", "vl", "/tmp/unused")
    assert paper.learning_rate == 5e-7 and paper.per_device_batch_size * paper.gradient_accumulation_steps * 8 == 128
    assert (paper.lr_scheduler, paper.warmup_ratio, paper.adam_beta2) == ("cosine", 0.03, 0.98)
    assert 400 in sft_run_config("paper", "gp", "l", "/tmp/unused").save_steps
    assert sft_run_config("tiny", "gp", "l", "/tmp/unused", max_steps=8).save_steps == (2, 4, 6, 8)
    with pytest.raises(ValueError, match="'gp', 'virl'"):
        sft_run_config("tiny", "chess", "l", "/tmp/unused")
    with pytest.raises(ValueError, match="save_steps"):
        SFTRunConfig(output_dir="/tmp/unused", max_steps=5, save_steps=(9,))


def test_paper_config_files_agree_with_the_preset():
    import json

    import yaml

    root = Path(__file__).resolve().parents[1] / "configs"
    paper = yaml.safe_load((root / "sft_paper.yaml").read_text())
    common = paper["common"]
    for key, lr in paper["learning_rate"].items():
        task, variant = key.split("-")
        config = sft_run_config("paper", task, variant, "/tmp/unused")
        assert config.learning_rate == lr
        for field in ("per_device_batch_size", "gradient_accumulation_steps", "lr_scheduler", "warmup_ratio",
                      "adam_beta1", "adam_beta2", "bf16", "gradient_checkpointing", "max_steps"):
            assert getattr(config, field) == common[field], field
        assert paper["init_step"].get(key, config.save_steps[0]) in config.save_steps
    assert common["gpus"] * common["per_device_batch_size"] * common["gradient_accumulation_steps"] == 128
    launch = yaml.safe_load((root / "accelerate_sft_zero3.yaml").read_text())
    assert launch["num_processes"] == common["gpus"] and launch["distributed_type"] == "DEEPSPEED"
    deepspeed = json.loads((root.parent / launch["deepspeed_config"]["deepspeed_config_file"]).read_text())
    zero = deepspeed["zero_optimization"]
    assert zero["stage"] == 3 and zero["offload_optimizer"]["device"] == zero["offload_param"]["device"] == "cpu"


def test_cli_run_then_quick_evaluation_and_figure(tmp_path):
    from sftrl_repro.prompts.gp import gp_answer
    from sftrl_repro.prompts.virl import virl_answer
    from sftrl_repro.plots.study import plot_sft_run
    from sftrl_repro.trainers.sft import answer_is_well_formed, evaluate_sft_run, loss_curve, main

    assert answer_is_well_formed("gp", gp_answer(["A"], [1], "1=24"))
    assert answer_is_well_formed("virl", virl_answer("No landmarks nearby; ", "Turn left.", "forward()"))
    assert not answer_is_well_formed("gp", '{"cards": [1], "formula": "1=24"}')
    assert not answer_is_well_formed("virl", '{"action": "stop()"}')

    result = main(["--task", "gp", "--variant", "l", "--base", "random", "--steps", "2", "--save-steps", "1", "--demos", "8",
                   "--output-dir", str(tmp_path / "run")])
    assert [c.step for c in result.checkpoints] == [1, 2]
    table = evaluate_sft_run(result, "gp", "l", initial=load_policy("tiny", "language", base="random"), n=2, max_new_tokens=8)
    assert list(table["step"]) == [0, 0, 1, 1, 2, 2] and set(table["split"]) == {"id", "rule_ood"}
    assert table["format_rate"].between(0, 1).all() and (table["gflops"].diff().fillna(0) >= 0).all()
    assert table.loc[table["step"] == 2, "gflops"].iloc[0] > 0
    losses = loss_curve(tmp_path / "run")
    assert list(losses["step"]) == [1, 2] and (losses["trained_tokens"] > 0).all()
    fig = plot_sft_run(losses, table, title="test")
    assert len(fig.axes) == 3


def test_checkpoint_evaluation_plays_at_most_the_18_vln_mini_routes(tmp_path, monkeypatch):
    import json

    import sftrl_repro.evaluation as evaluation
    from sftrl_repro.trainers import sft
    from sftrl_repro.trainers.sft import CheckpointRecord, SFTResult, evaluate_checkpoints

    asked = []

    def fake_evaluate(policy, task, split, modality, *, n, num_envs, **kw):
        asked.append((split, n, num_envs))
        return {"success": 0.0, "episodes": n}

    monkeypatch.setattr(evaluation, "evaluate", fake_evaluate)
    monkeypatch.setattr(sft.Policy, "load", classmethod(lambda cls, path, **kw: object()))
    record = CheckpointRecord(step=5, path=str(tmp_path / "checkpoint-5"), trained_tokens=1, trained_answer_tokens=1,
                              trained_images=1)
    folder = evaluate_checkpoints(SFTResult(str(tmp_path), [record]), "virl", "vl", n=200)
    assert asked == [("id", 200, 64), ("rule_ood", 200, 64), ("visual_ood", 18, 18)]
    rows = json.loads((folder / "checkpoint-5.json").read_text())
    assert [r["episodes"] for r in rows] == [200, 200, 18] and all(r["step"] == 5 for r in rows)
