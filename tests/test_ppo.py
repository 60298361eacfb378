"""Multi-turn PPO: GAE and the losses against hand-computed values, thought weights, learning,
resume after SIGKILL, and 1- vs 2-process equality."""

import math

import numpy as np
import pytest
import torch

from sftrl_repro.trainers.ppo import PPOConfig, compute_gae, ppo_losses, thought_weights


# ------------------------------------------------------------------------------------- GAE
def _hand_gae():
    # Episode 0: three turns (-1, -2, +5, terminated). Episode 1: two turns (-3, -1, truncated).
    rewards = [-1.0, -2.0, 5.0, -3.0, -1.0]
    values = [0.5, 1.0, 2.0, -1.0, 0.0]
    episodes = [0, 0, 0, 1, 1]
    terminated = [False, False, True, False, False]
    g, lam = 0.9, 0.95
    # By hand, backwards through each episode; an episode's end has next value 0.
    d2 = 5.0 - 2.0
    d1 = -2.0 + g * 2.0 - 1.0
    d0 = -1.0 + g * 1.0 - 0.5
    a2 = d2
    a1 = d1 + g * lam * a2
    a0 = d0 + g * lam * a1
    d4 = -1.0 - 0.0
    d3 = -3.0 + g * 0.0 - (-1.0)
    a4 = d4
    a3 = d3 + g * lam * a4
    return rewards, values, episodes, terminated, [a0, a1, a2, a3, a4]


def test_gae_matches_hand_computation_and_stops_at_episode_ends():
    rewards, values, episodes, terminated, expected = _hand_gae()
    adv, ret = compute_gae(rewards, values, episodes, terminated, gamma=0.9, lam=0.95)
    np.testing.assert_allclose(adv, expected, rtol=1e-12)
    np.testing.assert_allclose(ret, np.array(expected) + np.array(values), rtol=1e-12)


def test_gae_bootstrap_flag_lets_a_truncated_episode_run_into_the_next():
    rewards = [-1.0, -1.0, 5.0]
    values = [0.2, 0.4, 1.5]
    episodes = [0, 0, 1]
    terminated = [False, False, True]  # episode 0 was truncated after two turns
    plain, _ = compute_gae(rewards, values, episodes, terminated, gamma=0.9, lam=0.95)
    authors, _ = compute_gae(rewards, values, episodes, terminated, gamma=0.9, lam=0.95,
                             bootstrap_across_episodes=True)
    a2 = 5.0 - 1.5
    assert plain[1] == pytest.approx(-1.0 - 0.4)
    assert authors[1] == pytest.approx(-1.0 + 0.9 * 1.5 - 0.4 + 0.9 * 0.95 * a2)
    assert plain[2] == authors[2] == pytest.approx(a2)
    # A terminated episode is never bootstrapped, flag or not.
    term = compute_gae(rewards, values, episodes, [False, True, True], gamma=0.9, lam=0.95,
                       bootstrap_across_episodes=True)[0]
    assert term[1] == pytest.approx(-1.0 - 0.4)


# ------------------------------------------------------------------------------------ losses
def test_sequence_losses_match_hand_computation():
    new = torch.tensor([-1.0, -2.0, -3.0])
    old = torch.tensor([-1.2, -1.5, -3.0])  # ratios e^0.2, e^-0.5, 1
    adv = torch.tensor([1.0, -2.0, 0.5])
    v_new, v_old, ret = torch.tensor([0.5, 0.0, 1.0]), torch.tensor([0.3, 0.2, 1.0]), torch.tensor([1.0, -1.0, 2.0])
    out = ppo_losses(new, old, adv, v_new, v_old, ret, clip_coef=0.1, value_clip_coef=0.1)
    r = [math.exp(0.2), math.exp(-0.5), 1.0]
    pg = [max(-1.0 * r[0], -1.0 * 1.1), max(2.0 * r[1], 2.0 * 0.9), max(-0.5, -0.5)]
    assert out["policy_loss"].item() == pytest.approx(sum(pg) / 3, rel=1e-6)
    vc = [0.3 + 0.1, 0.2 - 0.1, 1.0]  # clipped around the rollout values
    vl = [max((0.5 - 1.0) ** 2, (vc[0] - 1.0) ** 2), max((0.0 + 1.0) ** 2, (vc[1] + 1.0) ** 2), 1.0]
    assert out["value_loss"].item() == pytest.approx(0.5 * sum(vl) / 3, rel=1e-6)
    assert out["clip_frac"].item() == pytest.approx(2 / 3)
    kl = [(x - 1) - math.log(x) for x in r]
    assert out["approx_kl"].item() == pytest.approx(sum(kl) / 3, rel=1e-6)


def test_token_losses_weight_tokens_and_unclipped_value():
    new = torch.tensor([[-1.0, -1.0], [-2.0, 0.0]])
    old = torch.tensor([[-1.0, -1.0], [-2.0, 0.0]])
    w = torch.tensor([[0.5, 1.0], [1.0, 0.0]])
    adv = torch.tensor([2.0, -1.0])
    out = ppo_losses(new, old, adv, torch.zeros(2), torch.ones(2), torch.ones(2), clip_coef=0.2,
                     value_clip_coef=None, weights=w)
    # ratio 1 everywhere: loss = -sum(w * adv) / sum(w)
    assert out["policy_loss"].item() == pytest.approx(-(0.5 * 2 + 1 * 2 - 1 * 1) / 2.5)
    assert out["value_loss"].item() == pytest.approx(0.5)
    assert out["approx_kl"].item() == 0 and out["clip_frac"].item() == 0


def test_thought_weights_split_at_the_key():
    from sftrl_repro.models.tokenizer import train_tiny_tokenizer
    from sftrl_repro.prompts.gp import gp_answer

    tok = train_tiny_tokenizer()
    answer = gp_answer(["4", "3", "2", "K"], [4, 3, 2, 10], "4*3+2+10=24")
    ids = tok(answer, add_special_tokens=False)["input_ids"]
    w = thought_weights(tok, [ids, ids[:5]], '"formula"', 0.5, len(ids) + 2)
    split = int((w[0] == 0.5).sum())
    assert 0 < split < len(ids)
    assert '"formula"' not in tok.decode(ids[:split]) and '"formula"' in tok.decode(ids[: split + 3])
    assert torch.all(w[0, split : len(ids)] == 1) and torch.all(w[0, len(ids) :] == 0)
    assert torch.all(w[1, :5] == 0.5) and torch.all(w[1, 5:] == 0)  # no key: all thought


def test_config_presets_and_validation():
    paper = PPOConfig.paper("virl", "vision")
    assert (paper.lr, paper.updates, paper.gamma, paper.gae_lambda, paper.clip_coef, paper.ppo_epochs) == (
        1e-7, 15, 0.9, 0.95, 0.1, 4)
    assert (paper.max_grad_norm, paper.vf_coef, paper.temperature, paper.thought_coef) == (0.01, 0.5, 0.2, 0.5)
    assert PPOConfig.paper("gp", "language").lr == 1e-6
    assert PPOConfig.from_dict(paper.to_dict()) == paper
    with pytest.raises(ValueError, match="'sequence', 'token'"):
        PPOConfig(ratio_level="word")
    with pytest.raises(ValueError, match="'gp', 'virl'"):
        PPOConfig(task="chess")


# ----------------------------------------------------------------------------- the trainer
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

TOY = Path(__file__).with_name("ppo_toy.py")


def _comparable(metrics):
    return [{k: v for k, v in m.items() if not k.startswith("time_")} for m in metrics]


def test_trainer_learns_and_is_reproducible(tmp_path):
    from ppo_toy import train

    _, metrics = train(str(tmp_path), "learn", 8)
    rewards = [m["reward_mean"] for m in metrics]
    assert len(metrics) == 8 and all(m["rollout_transitions"] == 64 for m in metrics)
    assert sum(rewards[-2:]) / 2 >= sum(rewards[:2]) / 2 + 0.2, rewards  # ~0.35 -> ~0.65
    assert metrics[-1]["gflops"] > metrics[0]["gflops"] > 0
    assert {"approx_kl", "clip_frac", "explained_variance", "value_mean", "return_mean", "success_rate",
            "outcome_correct", "grad_norm", "entropy"} <= set(metrics[0])
    _, again = train(str(tmp_path), "again", 2)  # same seed: the same first two updates
    assert _comparable(again) == _comparable(metrics[:2])


def _run_toy(root, updates, *extra):
    out = subprocess.run([sys.executable, str(TOY), str(root), "a", str(updates), *extra],
                         capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_sigkill_then_resume_ends_with_the_same_numbers(tmp_path):
    full = _run_toy(tmp_path / "full", 3)
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(TOY), str(killed), "a", "3"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    first = killed / "a" / "checkpoints" / "step_000001"
    deadline = time.time() + 300
    while not first.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # into the second update
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first.exists()
    resumed = _run_toy(killed, 3)
    assert _comparable(resumed["metrics"]) == _comparable(full["metrics"])
    assert resumed["weight_sum"] == full["weight_sum"]


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    # Greedy rollouts over episodes split by rank and one optimizer step per update on the
    # full-batch mean: 1 process x 4 micro-batches == 2 gloo processes x 2 micro-batches each.
    common = {"ppo_epochs": 1, "minibatch_size": 16, "varied_prompts": True}
    one = _run_toy(tmp_path / "one", 2, "0", json.dumps({**common, "grad_accum_steps": 4}))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    out = subprocess.run([*torchrun, str(TOY), str(tmp_path / "two"), "a", "2", "0",
                          json.dumps({**common, "grad_accum_steps": 2})],
                         capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    two = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")][-1][len("RESULT "):])
    for a, b in zip(one["metrics"], two["metrics"]):
        assert a["rollout_transitions"] == b["rollout_transitions"] == 64
        assert b["reward_mean"] == pytest.approx(a["reward_mean"], abs=1 / 64 + 1e-9)  # at most one flip
        assert b["optimizer_steps"] == a["optimizer_steps"] == 1
    # The first step sees the same averaged gradient (its norm is computed after the all-reduce).
    assert two["metrics"][0]["grad_norm"] == pytest.approx(one["metrics"][0]["grad_norm"], rel=1e-4)
    start = _run_toy(tmp_path / "start", 1, "0", json.dumps({**common, "grad_accum_steps": 4, "lr": 1e-12}))
    moved = abs(one["weight_sq"] - start["weight_sq"])
    assert moved > 1.0  # training moved the weights...
    # ...and both runs moved them the same way: only all-reduce round-off differs, which Adam's
    # sign-like first steps can amplify for near-zero gradients, hence a tolerance relative to the move.
    assert abs(two["weight_sq"] - one["weight_sq"]) < 1e-3 * moved
