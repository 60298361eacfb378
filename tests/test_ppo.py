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


# ------------------------------------------------------- issue 9: the authors' PPO details by default
def test_defaults_follow_the_authors():
    cfg = PPOConfig.paper("gp", "language")
    assert (cfg.lr_schedule, cfg.lr_max_steps, cfg.lr_min, cfg.logprob_temperature) == ("authors", 100, 1e-9, "sampling")
    assert cfg.scoring_temperature == 0.2 and (cfg.top_k, cfg.top_p) == (None, None)
    assert PPOConfig.paper("virl", "vision").lr_max_steps == 20
    assert PPOConfig(logprob_temperature=1.0).scoring_temperature == 1.0
    with pytest.raises(ValueError, match="'authors', 'cosine', 'constant'"):
        PPOConfig(lr_schedule="linear")


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_authors_schedule_is_cosine_annealing_stepped_once_per_update():
    cfg = PPOConfig.paper("virl", "language")  # T_max 20, 15 updates
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-6)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20, eta_min=1e-9)
    for update in range(cfg.updates):
        for step in range(3):  # every optimizer step of an update uses the update's rate
            assert cfg.learning_rate(1e-6, update, step, 3) == pytest.approx(sched.get_last_lr()[0], rel=1e-12)
        sched.step()
    assert cfg.learning_rate(1e-6, 0) == 1e-6 and cfg.learning_rate(1e-6, 14) > 1e-7


def test_package_cosine_never_reaches_zero_whatever_the_step_count():
    cfg = PPOConfig(lr_schedule="cosine", updates=6)
    for steps in (1, 2, 7, 40):  # whatever the rollout made of the last update
        rates = [cfg.learning_rate(1e-3, 5, j, steps) for j in range(steps)]
        assert min(rates) > 0 and rates == sorted(rates, reverse=True)
    assert cfg.learning_rate(1e-3, 0) == 1e-3


def test_update_plan_counts_steps_from_the_real_rollout():
    from sftrl_repro.trainers.ppo import plan_update

    cfg = PPOConfig(minibatch_size=4, grad_accum_steps=3, ppo_epochs=2)
    plan = plan_update([37, 29], cfg)  # overshoot and unequal shares
    assert plan.micro_batches == 10 and [len(w) for w in plan.windows()] == [3, 3, 3, 1]
    assert plan.optimizer_steps == 8
    assert sum(plan.window_samples(w) for w in plan.windows()) == 66
    assert plan.real(1, 7) == 1 and plan.real(1, 8) == 0 and plan.real(0, 9) == 1
    with pytest.raises(RuntimeError, match="no transition"):
        plan_update([5, 0], cfg)


def test_training_seeds_never_equal_evaluation_seeds():
    from sftrl_repro.evaluation import eval_spec
    from sftrl_repro.trainers.rollout import TRAIN_SEED_BASE, episode_seeds, training_seeds

    evals = set()
    for task in ("gp", "virl"):
        for split in ("id", "rule_ood"):
            evals |= set(eval_spec(task, split).seeds)
    assert max(evals) < TRAIN_SEED_BASE and max(episode_seeds(12345, 1000)) < TRAIN_SEED_BASE
    for seed in (0, 1, 12, 42):
        for update in range(25):  # the old scheme replayed V-IRL's 48 routes at update 12 (seed 0)
            seeds = training_seeds(seed, update, 600)
            assert min(seeds) >= TRAIN_SEED_BASE and not evals & set(seeds)
    assert training_seeds(0, 1, 5) != training_seeds(0, 2, 5) != training_seeds(1, 1, 5)
    from sftrl_repro.envs.general_points import GeneralPointsEnv

    env = GeneralPointsEnv()  # the env takes seeds past 2**32, deterministically
    assert env.reset(seed=TRAIN_SEED_BASE + 7)[1]["cards"] == env.reset(seed=TRAIN_SEED_BASE + 7)[1]["cards"]


def test_logprobs_are_tempered_and_entropy_is_the_full_distribution():
    from sftrl_repro.models import load_policy
    from sftrl_repro.prompts.chat import user_message

    policy = load_policy("tiny", "language", seed=0, base="random")
    convs = [[user_message("Cards: [1, 2, 3, 4]")], [user_message("hi")]]
    answers = policy.tokenize_answers(["a b", "c"])
    plain = policy.score(convs, answers, temperature=1.0, entropy="value")
    hot = policy.score(convs, answers, temperature=0.2, entropy="value")
    # log p_T = log softmax(z / T): recover it from the model's logits by hand
    batch = policy.encode_prompts(convs)
    ids = torch.tensor([answers[0]])
    inputs = torch.cat([batch["input_ids"][:1], ids], 1)
    mask = torch.cat([batch["attention_mask"][:1], torch.ones_like(ids)], 1)
    with torch.no_grad():
        logits = policy.model(input_ids=inputs, attention_mask=mask,
                              position_ids=(mask.cumsum(-1) - 1).clamp(min=0)).logits[0, -ids.shape[1] - 1 : -1]
    want = torch.log_softmax(logits / 0.2, -1).gather(-1, ids[0, :, None])[:, 0]
    torch.testing.assert_close(hot.logprobs[0, : ids.shape[1]], want, atol=1e-4, rtol=1e-4)
    p = torch.softmax(logits / 0.2, -1)
    torch.testing.assert_close(hot.entropy[0, : ids.shape[1]], -(p * p.log()).sum(-1), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(plain.logprobs, hot.logprobs)
    assert hot.entropy[1, len(answers[1]):].abs().sum() == 0  # padding


def test_top_p_and_top_k_come_from_the_checkpoint():
    from sftrl_repro.models import load_policy
    from sftrl_repro.models.policy import SeededSampler

    policy = load_policy("tiny", "language", seed=0, base="random")
    assert policy.decoding(0.2) == type(policy.decoding(0.2))(True, 0.2, 50, 1.0)  # HF defaults when unset
    policy.model.generation_config.top_p = 0.9  # Llama-3.2-Vision's config
    d = policy.decoding(0.2)
    assert (d.do_sample, d.temperature, d.top_k, d.top_p) == (True, 0.2, 50, 0.9)
    assert policy.decoding(0.2, top_p=1.0).top_p == 1.0 and not policy.decoding(0).do_sample
    names = [type(w).__name__ for w in SeededSampler([(1,)], 0, d).warpers]
    assert names == ["TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper"]
    # the evaluation default: the checkpoint's sampling, or the paper model's where it says nothing
    e = policy.decoding(None)
    assert (e.do_sample, e.temperature, e.top_p) == (True, 0.6, 0.9)
    policy.model.generation_config.do_sample = False
    assert not policy.decoding(None).do_sample


def test_sampled_rollouts_do_not_depend_on_the_batch():
    from ppo_toy import variable_gp

    from sftrl_repro.models import load_policy
    from sftrl_repro.trainers.rollout import collect, training_seeds

    policy = load_policy("tiny", "language", seed=0, base="random")
    seeds = training_seeds(0, 0, 5)
    runs = [collect(policy, variable_gp, seeds, num_envs=k, temperature=1.0, max_new_tokens=6, generation_seed=3)
            for k in (1, 5)]
    shuffled = collect(policy, variable_gp, seeds[::-1], num_envs=2, temperature=1.0, max_new_tokens=6,
                       generation_seed=3)
    key = lambda ts: sorted((t.conversation[0]["content"] if isinstance(t.conversation[0]["content"], str) else "",
                             t.turn, t.answer) for t in ts)
    assert key(runs[0]) == key(runs[1]) == key(shuffled)
    waves = collect(policy, variable_gp, seeds, num_envs=2, temperature=1.0, max_new_tokens=6, generation_seed=3,
                    refill=False)
    assert key(waves) == key(runs[0]) and [t.episode for t in waves] == [t.episode for t in runs[0]]
    other = collect(policy, variable_gp, seeds, num_envs=5, temperature=1.0, max_new_tokens=6, generation_seed=4)
    assert key(other) != key(runs[0])


def test_waves_keep_every_batch_at_one_turn():
    """``refill=False`` plays episodes in waves: every batch holds conversations of one turn only."""
    from ppo_toy import variable_gp

    from sftrl_repro.trainers.rollout import collect, training_seeds

    turns_per_call: list[set[int]] = []

    class Recorder:
        def generate(self, conversations, images=None, *, sample_keys=None, **kwargs):
            turns_per_call.append({k[2] for k in sample_keys})
            return type("G", (), {"texts": ["{}" for _ in conversations]})()

    seeds = training_seeds(1, 0, 7)
    out = collect(Recorder(), variable_gp, seeds, num_envs=3, temperature=1.0, generation_seed=0, refill=False)
    assert len({t.episode for t in out}) == 7
    assert all(len(t) == 1 for t in turns_per_call)
    waves = len(turns_per_call)
    turns_per_call.clear()
    collect(Recorder(), variable_gp, seeds, num_envs=3, temperature=1.0, generation_seed=0)
    assert any(len(t) > 1 for t in turns_per_call)  # refilling mixes turns (budgets 1-3 differ)
    assert len(turns_per_call) <= waves  # and never needs more generate calls


def test_optimizer_steps_follow_the_overshooting_rollout(tmp_path):
    from ppo_toy import train, variable_gp  # noqa: F401

    _, metrics = train(str(tmp_path), "gp", 2, env="gp", transitions_per_update=8, num_envs=4, max_new_tokens=4,
                       minibatch_size=3, grad_accum_steps=2, ppo_epochs=2, lr_schedule="cosine")
    for m in metrics:
        n = m["rollout_transitions"]
        assert n >= 8
        assert m["optimizer_steps"] == 2 * math.ceil(math.ceil(n / 3) / 2)
        assert m["lr"] > 0 and m["lr_end"] > 0 and m["first_step_ratio_dev"] == 0.0
    cfg = PPOConfig.tiny("gp", "language", updates=2, lr_schedule="cosine", lr=4e-3)
    assert metrics[1]["lr"] == pytest.approx(cfg.learning_rate(4e-3, 1, 0, metrics[1]["optimizer_steps"]))


def test_deepspeed_branch_marks_every_boundary_and_steps_once_per_window(tmp_path):
    """The engine protocol of DeepSpeed (0.19): set_gradient_accumulation_boundary before each
    micro-batch, backward without its own 1/gas scaling (the trainer weights the window), and one
    engine.step() per window; padding micro-batches are run too, so all ranks agree."""
    from ppo_toy import SpaceEnv, toy_config

    from sftrl_repro.experiments import Run
    from sftrl_repro.models import load_policy
    from sftrl_repro.trainers.ppo import PPOTrainer, plan_update

    config = toy_config(1, transitions_per_update=8, num_envs=8, minibatch_size=2, grad_accum_steps=3, ppo_epochs=1)
    policy = load_policy("tiny", "language", seed=0, base="random")
    trainer = PPOTrainer(policy, config, Run("ds", config.to_dict(), root=tmp_path), make_env=SpaceEnv, progress=False)
    calls = []

    class FakeEngine(torch.nn.Module):
        def __init__(self, module, optimizer):
            super().__init__()
            self.module, self.opt = module, optimizer

        def forward(self, *args, **kwargs):
            return self.module(*args, **kwargs)

        def set_gradient_accumulation_boundary(self, is_boundary):
            calls.append(("boundary", is_boundary))

        def backward(self, loss, scale_wrt_gas=True):
            calls.append(("backward", scale_wrt_gas))
            loss.backward()

        def step(self):
            calls.append(("step", self.opt.param_groups[0]["lr"]))
            self.opt.step()
            self.opt.zero_grad()

        def get_global_grad_norm(self):
            return 1.0

    trainer.model, trainer.deepspeed = FakeEngine(trainer.model, trainer.optimizer), True
    transitions = trainer.rollout(0)
    n = len(transitions)
    plan = plan_update([n, n + 6], config)  # another rank holds 3 more micro-batches
    orders = trainer.micro_batch_orders(n, 0)
    diag = trainer.optimise(trainer.prepare_batch(transitions, orders[0]), 0, plan, orders)
    boundaries = [b for kind, b in calls if kind == "boundary"]
    assert len(boundaries) == plan.micro_batches == (n + 6 + 1) // 2  # padding micro-batches included
    assert boundaries == [j == w[-1] for w in plan.windows() for j in w]
    assert all(flag is False for kind, flag in calls if kind == "backward")
    steps = [lr for kind, lr in calls if kind == "step"]
    assert len(steps) == diag["optimizer_steps"] == plan.optimizer_steps and steps == [config.lr] * len(steps)


def test_cast_copies_the_policy_in_another_precision():
    from sftrl_repro.evaluation import evaluate
    from sftrl_repro.models import load_policy

    policy = load_policy("tiny", "language", seed=0, base="random")
    assert policy.cast(torch.float32) is policy
    half = policy.cast(torch.bfloat16)
    assert half.model.dtype == torch.bfloat16 and policy.model.dtype == torch.float32
    assert half.processor is policy.processor and half.kv_cache == policy.kv_cache == "prefix"
    row = evaluate(half, "gp", "id", n=2, num_envs=2, max_new_tokens=8, verify_iter=1)
    assert row["episodes"] == 2
