"""Rollout throughput and the time split of one PPO update, at the tiny scale.

1. Batched multi-env generation (the package: ``num_envs`` GeneralPoints episodes stepped
   together, one batched KV-cached ``generate`` per turn) against one environment at a time with
   batch-1 ``generate`` (the authors' scheme): same model, same episodes, greedy decoding, so the
   answers are the same; reported as transitions per second and their ratio (target >= 5x).
2. One PPO update of the tiny preset split into rollout / log-prob recompute / optimisation.
2b. ``--eval``: the study's evaluation protocol (GP-L, in distribution, 5 attempts with feedback,
   sampled as the authors' evaluator) on the study's GP-L init when it exists (else the tiny base):
   episodes per second with the dynamic KV cache and episode refilling (the first release), Hugging
   Face's static cache and waves of episodes (the next), the prefix cache (``models.kv_cache``:
   preallocated, attention over the filled slots only) and waves, with it each episode's
   keys/values kept between its attempts (``TurnCache``), and the package's decode loop, which drops
   finished rows from the batch (``models.decode``: now); the answers must be the same. Then the
   bfloat16 copy the study evaluates, with its keys/values in bfloat16 and (``Policy.cast``'s
   default) in float32.

3. ``--small``: the ``small`` scale (SmolLM2-135M) on the CPU: time of one PPO update and of one
   evaluation at small budgets (the figures the README quotes).

Run: ``python benchmarks/bench_rollout.py`` (2 CPU threads; takes about a minute);
``python benchmarks/bench_rollout.py --small`` (a few minutes).
"""

from __future__ import annotations

import sys
import tempfile
import time

import torch

from sftrl_repro.evaluation import eval_spec
from sftrl_repro.experiments import Run
from sftrl_repro.models import load_policy
from sftrl_repro.models.kv_cache import STORED_KEYS_SDPA
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


def bench_small(episodes: int = 2, eval_n: int = 4, max_new_tokens: int = 48) -> dict[str, float]:
    """One PPO update and one evaluation of SmolLM2-135M on GP-L, on the CPU, at small budgets."""
    from sftrl_repro.evaluation import evaluate

    out: dict[str, float] = {}
    start = time.perf_counter()
    policy = load_policy("small", "language")
    out["load_s"] = time.perf_counter() - start
    config = PPOConfig.small("gp", updates=1, episodes_per_update=episodes, num_envs=episodes,
                             max_new_tokens=max_new_tokens, ppo_epochs=1, minibatch_size=2, grad_accum_steps=64)
    with tempfile.TemporaryDirectory() as root:
        trainer = PPOTrainer(policy, config, Run("bench", config.to_dict(), root=root), progress=False)
        m = trainer.train()[-1]
    out.update({k: m[k] for k in ("time_rollout_s", "time_recompute_s", "time_optimise_s", "rollout_transitions",
                                  "optimizer_steps")})
    policy.model.eval()
    start = time.perf_counter()
    row = evaluate(policy, "gp", "id", n=eval_n, num_envs=eval_n, max_new_tokens=max_new_tokens)
    out["eval_s"], out["eval_answers"], out["eval_episodes"] = time.perf_counter() - start, row["answers"], eval_n
    return out


#: (name, Policy.kv_cache, refill, reuse_turns, Policy.drop_finished): the previous releases'
#: settings (Hugging Face's generate), then today's (the package's loop, finished rows dropped).
EVAL_SETTINGS = (("dynamic cache, refill", "dynamic", True, False, False),
                 ("static cache, waves", "static", False, False, False),
                 ("prefix cache, waves", "prefix", False, False, False),
                 ("prefix + turn reuse", "prefix", False, True, False),
                 ("+ drop finished rows", "prefix", False, True, True))
TODAY = EVAL_SETTINGS[-1][0]


def bench_evaluation(n: int = 64, num_envs: int = 32) -> dict[str, float]:
    """Episodes/s of the study's GP-L evaluation under :data:`EVAL_SETTINGS` (float32, whose answers
    must agree), then today's setting on the bfloat16 copy the study evaluates."""
    from pathlib import Path

    from sftrl_repro.evaluation import evaluate
    from sftrl_repro.experiments.study import StudyConfig, study_dir
    from sftrl_repro.models import Policy

    init = study_dir(StudyConfig()) / "sft" / "checkpoints" / f"checkpoint-{StudyConfig().init_steps}"
    policy = Policy.load(init) if Path(init, "config.json").is_file() else load_policy("tiny", "language")
    out: dict[str, float] = {"policy": str(init) if Path(init, "config.json").is_file() else "tiny base"}
    for name, cache, refill, reuse, drop in EVAL_SETTINGS:
        policy.kv_cache, policy.drop_finished = cache, drop
        start = time.perf_counter()
        row, trans = evaluate(policy, "gp", "id", n=n, num_envs=num_envs, max_new_tokens=96, refill=refill,
                              reuse_turns=reuse, return_transitions=True)
        out[name] = n / (time.perf_counter() - start)
        out[name + " answers"] = [t.answer for t in trans]
    # The study's protocol evaluates a bfloat16 copy (RLExperiment.eval_dtype): other numerics,
    # so other sampled answers; its speed and success are reported beside.
    half = policy.cast(torch.bfloat16)  # float32 keys/values and attention (Policy.kv_dtype)
    for name, kv in ((", bf16 keys", None), (", bf16", torch.float32)):
        half.kv_dtype = kv
        half.model.set_attn_implementation("sdpa" if kv is None else STORED_KEYS_SDPA)
        start = time.perf_counter()
        row = evaluate(half, "gp", "id", n=n, num_envs=num_envs, max_new_tokens=96)
        out[TODAY + name] = n / (time.perf_counter() - start)
        out[f"{name} success"] = row["success"]
    return out


def main_eval() -> int:
    torch.set_num_threads(1)
    r = bench_evaluation()
    answers = [r[setting[0] + " answers"] for setting in EVAL_SETTINGS]
    same = all(a == answers[0] for a in answers)
    print(f"evaluation, GP-L ID, 64 hands, 5 attempts, sampled (the study's protocol), 1 thread, {r['policy']}")
    for name in [setting[0] for setting in EVAL_SETTINGS] + [TODAY + ", bf16 keys", TODAY + ", bf16"]:
        print(f"  {name:26s}: {r[name]:6.2f} episodes/s")
    base = r["dynamic cache, refill"]
    print(f"  speed-up, static + waves  : {r['static cache, waves'] / base:6.2f}x")
    print(f"  speed-up, prefix + waves  : {r['prefix cache, waves'] / base:6.2f}x "
          f"({r['prefix cache, waves'] / r['static cache, waves']:.2f}x static)")
    print(f"  speed-up, + turn reuse    : {r['prefix + turn reuse'] / base:6.2f}x "
          f"({r['prefix + turn reuse'] / r['prefix cache, waves']:.2f}x prefix)")
    print(f"  speed-up, + drop finished : {r[TODAY] / base:6.2f}x ({r[TODAY] / r['prefix + turn reuse']:.2f}x turn reuse)"
          f"   same answers in all five: {same}")
    print(f"  speed-up, + bfloat16      : {r[TODAY + ', bf16 keys'] / base:6.2f}x   (other numerics: "
          f"success {r[', bf16 keys success']:.3f})")
    print(f"  + float32 keys/attention  : {r[TODAY + ', bf16'] / base:6.2f}x   (Policy.cast's copy, today: "
          f"success {r[', bf16 success']:.3f})")
    return 0 if same else 1


def main_small() -> int:
    torch.set_num_threads(2)
    s = bench_small()
    update = s["time_rollout_s"] + s["time_recompute_s"] + s["time_optimise_s"]
    print(f"small scale (SmolLM2-135M, GGUF Q4_1 dequantised to float32), CPU, {torch.get_num_threads()} threads")
    print(f"  load                         : {s['load_s']:7.1f} s")
    print(f"  one PPO update ({int(s['rollout_transitions'])} transitions, 1 epoch, {int(s['optimizer_steps'])} steps): "
          f"{update:7.1f} s  (rollout {s['time_rollout_s']:.1f}, recompute {s['time_recompute_s']:.1f}, "
          f"optimise {s['time_optimise_s']:.1f})")
    n = s["rollout_transitions"]
    print(f"  per transition               : {update / n:7.2f} s  (rollout {s['time_rollout_s'] / n:.2f}, "
          f"recompute {s['time_recompute_s'] / n:.2f}, optimise 1 epoch {s['time_optimise_s'] / n:.2f})")
    print(f"  evaluation (GP ID, {int(s['eval_episodes'])} hands, {int(s['eval_answers'])} answers): {s['eval_s']:7.1f} s"
          f"  ({s['eval_s'] / s['eval_episodes']:.2f} s per hand)")
    return 0


def main() -> int:
    if "--small" in sys.argv:
        return main_small()
    if "--eval" in sys.argv:
        return main_eval()
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
