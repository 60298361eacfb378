"""Predicted H800 GPU-hours of each paper-scale job, from the package's FLOPs accounting.

A PREDICTION, not a measurement: FLOPs come from ``sftrl_repro.flops`` (exact per-phase counts
of Llama-3.2-11B-Vision for the paper's budgets, ``flops.paper_scale``), turned into time with
the explicit assumptions below (model FLOPs utilisation per phase, decode bound by memory
bandwidth, CPU-offloaded Adam). Run ``python scripts/slurm/predict_gpu_hours.py``.
"""

from __future__ import annotations

from dataclasses import replace

from sftrl_repro.flops.arch import arch_from_config
from sftrl_repro.flops.measure import count_parameters
from sftrl_repro.flops.meter import ComputeMeter
from sftrl_repro.flops.paper_scale import PaperBudget, gp_budgets, paper_model_config

# ---- assumptions (H800 SXM: 989 dense bf16 TFLOP/s, 3.35 TB/s HBM) ------------------------------
PEAK = 989e12
HBM = 3.35e12
MFU_SFT = 0.15  # ZeRO-3 with parameter and optimizer offload to CPU: transfer-bound
MFU_PPO = 0.20  # ZeRO-2, micro-batch 1 of ~400 tokens, CPU optimizer offload
DECODE_BATCH = 8  # PPOConfig.paper num_envs: episodes generated together per GPU
DECODE_STEPS = 64  # decoding steps per batched turn (answers ~45 tokens; the longest of 8 sets it)
ADAM_S_PER_STEP = 6.0  # CPU Adam over a 1/8 partition of 10.7 B parameters + gradient transfer, per step
EVAL_HANDS = {"gp": 234 * 2.5, "virl": 48 * 2 * 6}  # generations per split (retries, route points)
GPUS = 8


def budgets() -> list[PaperBudget]:
    gl, gvl = gp_budgets()
    # V-IRL: ASSUMPTION longer prompts (instruction + observations so far), 15 updates, init step 25
    vl = replace(gl, task="V-IRL-L", family="virl", init_sft_steps=25, prompt_tokens=700, rl_prompt_tokens=900,
                 rl_updates=15)
    vvl = replace(gvl, task="V-IRL-VL", family="virl", init_sft_steps=25, prompt_tokens=680, rl_prompt_tokens=880,
                  rl_updates=15)
    return [gl, gvl, vl, vvl]


def predict(sft_steps: int = 1600) -> list[dict]:
    config = paper_model_config()
    arch, n = arch_from_config(config), count_parameters(config)
    weights_bytes = 2 * n
    rows = []
    for b in budgets():
        sft = ComputeMeter(n_params=n, arch=arch, task=b.family)
        for _ in range(sft_steps):
            sft.add_sft_step([b.prompt_tokens + b.answer_tokens] * b.sft_batch, images=b.images)
        sft_h = sft.exact_flops["sft"] / (GPUS * PEAK * MFU_SFT) / 3600 * GPUS
        ppo = ComputeMeter(n_params=n, arch=arch, task=b.family)
        t = b.transitions_per_update
        seqs = [b.rl_prompt_tokens + b.answer_tokens] * t
        ppo.add_generations([b.rl_prompt_tokens] * t, [b.answer_tokens] * t, images=b.images)
        ppo.add_logprob_pass(seqs, images=b.images)
        for _ in range(b.ppo_epochs):
            ppo.add_ppo_epoch(seqs, images=b.images)
        e = ppo.exact_flops
        decode_s = (b.transitions_per_process / DECODE_BATCH) * DECODE_STEPS * weights_bytes / HBM
        compute_s = (e["prefill"] + e["logprob_value"] + e["ppo_train"]) / (GPUS * PEAK * MFU_PPO)
        steps = b.ppo_epochs * 2  # 256 micro-batches of 1 per process / 128 accumulation = 2 per epoch
        update_s = decode_s + compute_s + steps * ADAM_S_PER_STEP
        eval_s = 3 * EVAL_HANDS[b.family] / GPUS / DECODE_BATCH * DECODE_STEPS * weights_bytes / HBM
        ppo_h = b.rl_updates * (update_s + eval_s) / 3600 * GPUS
        rows.append({"task": b.task, "sft_gpu_h": sft_h, "ppo_update_min": update_s / 60, "ppo_gpu_h": ppo_h,
                     "ppo_tflops_per_update": (e["prefill"] + e["decode"] + e["logprob_value"] + e["ppo_train"]) / 1e12,
                     "sft_pflops": sft.exact_flops["sft"] / 1e15})
    return rows


if __name__ == "__main__":
    print(f"{'task':9s} {'SFT PFLOP':>10s} {'SFT GPU-h':>10s} {'PPO TFLOP/upd':>14s} {'min/update':>11s} {'PPO GPU-h':>10s}")
    for r in predict():
        print(f"{r['task']:9s} {r['sft_pflops']:10.0f} {r['sft_gpu_h']:10.0f} {r['ppo_tflops_per_update']:14.0f} "
              f"{r['ppo_update_min']:11.1f} {r['ppo_gpu_h']:10.1f}")
