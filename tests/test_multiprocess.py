"""Multi-process PPO on CPU with 2 gloo processes (``torchrun``): no deadlock on multi-turn episodes
of unequal length, the same learning rates and weights as one process with the same global batch,
and a vision policy on a text task. Every run has a timeout, so a deadlock fails instead of hanging."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

TOY = Path(__file__).with_name("ppo_toy.py")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
# Multi-turn GP episodes (1-3 turns each, from the seed), exactly 6 episodes per update, so the
# rollout does not depend on the process count; one accumulation window per epoch (16 micro-batches
# of 2 > any share), so each optimizer step follows the mean gradient of the whole global batch.
COMMON = {"env": "gp", "episodes_per_update": 6, "num_envs": 4, "minibatch_size": 2, "grad_accum_steps": 16,
          "ppo_epochs": 2, "lr": 1e-3, "adam_eps": 1e-4, "max_new_tokens": 6, "lr_schedule": "authors",
          "lr_max_steps": 3, "seed": 0, "save_weights": True}


def _result(stdout: str) -> dict:
    return json.loads([ln for ln in stdout.splitlines() if ln.startswith("RESULT ")][-1][len("RESULT "):])


def _run(root: Path, run_id: str, updates: int, overrides: dict, processes: int) -> dict:
    launcher = [sys.executable] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    try:
        out = subprocess.run([*launcher, str(TOY), str(root), run_id, str(updates), "1.0", json.dumps(overrides)],
                             capture_output=True, text=True, timeout=420, env=ENV)
    except subprocess.TimeoutExpired as err:  # a deadlock ends here, not in a hung CI job
        pytest.fail(f"{processes}-process PPO did not finish in 420 s (deadlock?): {str(err.stderr)[-2000:]}")
    assert out.returncode == 0, out.stderr[-4000:]
    return _result(out.stdout)


def test_two_processes_with_unequal_multi_turn_episodes_match_one_process(tmp_path):
    one = _run(tmp_path, "one", 2, COMMON, 1)
    two = _run(tmp_path, "two", 2, COMMON, 2)
    for a, b in zip(one["metrics"], two["metrics"], strict=True):
        # The same episodes (per-episode seeded sampling) ...
        assert a["rollout_transitions"] == b["rollout_transitions"] == sum(b["transitions_per_process"])
        assert a["rollout_episodes"] == b["rollout_episodes"] == 6
        assert b["reward_mean"] == pytest.approx(a["reward_mean"], abs=1e-9)
        # ... the same optimizer steps and learning rates (the authors' cosine, once per update) ...
        assert a["optimizer_steps"] == b["optimizer_steps"] == 2
        assert a["lr"] == b["lr"] == pytest.approx(1e-9 + (1e-3 - 1e-9) * (1 + math.cos(math.pi * (a["update"] - 1) / 3)) / 2,
                                                   rel=1e-12)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-4)
        assert a["first_step_ratio_dev"] == b["first_step_ratio_dev"] == 0.0
    # The processes had different amounts of work (so padding micro-batches were needed).
    assert any(len(set(m["transitions_per_process"])) > 1 for m in two["metrics"]), two["metrics"]
    assert any(math.ceil(x / 2) != math.ceil(y / 2) for m in two["metrics"] for x, y in [m["transitions_per_process"]])
    w1 = torch.load(tmp_path / "one" / "weights.pt")
    w2 = torch.load(tmp_path / "two" / "weights.pt")
    moved = max(float((w1[k] - w2[k]).abs().max()) for k in w1)
    assert moved < 2e-6, moved
    start = torch.load(tmp_path / "one" / "weights.pt")  # the run moved the weights by ~lr per step
    from sftrl_repro.models import load_policy

    init = load_policy("tiny", "language", seed=0, base="random").model.state_dict()
    assert max(float((start[k] - init[k]).abs().max()) for k in init) > 1e-3


def test_vision_policy_on_a_text_task_under_two_processes(tmp_path):
    out = _run(tmp_path, "vl", 1, {**COMMON, "vision": True, "ppo_epochs": 1}, 2)
    m = out["metrics"][-1]
    assert m["optimizer_steps"] == 1 and m["rollout_episodes"] == 6 and math.isfinite(m["grad_norm"])
