"""Rollout throughput and the time split of one PPO update, at the tiny scale.

1. Batched multi-env generation (the package: ``num_envs`` GeneralPoints episodes stepped
   together, one batched KV-cached ``generate`` per turn) against one environment at a time with
   batch-1 ``generate`` (the authors' scheme): same model, same episodes, greedy decoding, so the
   answers are the same; reported as transitions per second and their ratio (target >= 5x).
2. One PPO update of the tiny preset split into rollout / log-prob recompute / optimisation.

Run: ``python benchmarks/bench_rollout.py`` (2 CPU threads; takes about a minute).
"""

from __future__ import annotations

import sys
import tempfile
import time

import torch

from sftrl_repro.evaluation import eval_spec
from sftrl_repro.experiments import Run
from sftrl_repro.models import load_policy
from sftrl_repro.trainers.ppo import PPOConfig, PPOTrainer
from sftrl_repro.trainers.rollout import collect

N_EPISODES = 64
MAX_NEW_TOKENS = 64


def bench_rollout(policy) -> dict[str, float]:
    spec = eval_spec("gp", "id", n=N_EPISODES, verify_iter=1)
    out = {}
    for name, num_envs in (("batched (64 envs)", 64), ("one env at a time", 1)):
        start = time.perf_counter()
        trans = collect(policy, spec.make_env, spec.seeds, num_envs=num_envs, max_new_tokens=MAX_NEW_TOKENS)
        elapsed = time.perf_counter() - start
        out[name] = len(trans) / elapsed
        out[name + " answers"] = [t.answer for t in trans]
    return out


def bench_update(policy) -> dict[str, float]:
    config = PPOConfig.tiny("gp", "language", updates=1, transitions_per_update=64, max_new_tokens=MAX_NEW_TOKENS)
    with tempfile.TemporaryDirectory() as root:
        trainer = PPOTrainer(policy, config, Run("bench", config.to_dict(), root=root), progress=False)
        metrics = trainer.train()[-1]
    return {k: metrics[k] for k in ("time_rollout_s", "time_recompute_s", "time_optimise_s", "rollout_transitions")}


def main() -> int:
    torch.set_num_threads(2)
    policy = load_policy("tiny", "language", seed=0, base="random")
    r = bench_rollout(policy)
    same = sum(a == b for a, b in zip(r["batched (64 envs) answers"], r["one env at a time answers"]))
    ratio = r["batched (64 envs)"] / r["one env at a time"]
    print(f"rollout, tiny GP-L, {N_EPISODES} episodes, greedy, up to {MAX_NEW_TOKENS} new tokens")
    print(f"  batched (64 envs)   : {r['batched (64 envs)']:8.1f} transitions/s")
    print(f"  one env at a time   : {r['one env at a time']:8.1f} transitions/s")
    print(f"  speed-up            : {ratio:8.1f}x   (target >= 5x)  identical answers: {same}/{N_EPISODES}")
    u = bench_update(policy)
    total = u["time_rollout_s"] + u["time_recompute_s"] + u["time_optimise_s"]
    print(f"one PPO update (tiny preset, {int(u['rollout_transitions'])} transitions): {total:.2f} s")
    for key, label in (("time_rollout_s", "rollout"), ("time_recompute_s", "log-prob/value recompute"),
                       ("time_optimise_s", "optimisation (2 epochs)")):
        print(f"  {label:26s}: {u[key]:6.2f} s  ({100 * u[key] / total:4.1f}%)")
    return 0 if ratio >= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
