"""Tables of the compute notebook: estimate vs measured, 6N vs exact, one PPO update by phase."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch

from sftrl_repro.flops import formulas
from sftrl_repro.flops.arch import ModelArch, arch_from_config, arch_from_model
from sftrl_repro.flops.exact import model_pass
from sftrl_repro.flops.measure import build_on_meta, count_parameters, measure_model, n_params
from sftrl_repro.flops.meter import ComputeMeter
from sftrl_repro.flops.paper_scale import paper_model_config
from sftrl_repro.flops.reference import PUBLIC_TEXT_CONFIGS, ReferenceModel, public_text_config, tiny_configs
from sftrl_repro.paths import results_dir
from sftrl_repro.utils.io import write_csv_atomic


def _build(ref: ReferenceModel) -> torch.nn.Module:
    if ref.device == "meta":
        return build_on_meta(ref.config)
    from transformers import LlamaForCausalLM, MllamaForConditionalGeneration

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        cls = MllamaForConditionalGeneration if ref.vision else LlamaForCausalLM
        return cls(ref.config)


def estimate_vs_measured(models: Sequence[ReferenceModel], seq_len: int = 128, batch: int = 2) -> pd.DataFrame:
    """For each model, input (text-only; text + 1 image for vision models) and pass (forward;
    forward + backward): FlopCounterMode's count, the exact count, and the 6ND-style estimate
    (2 N D forward, 6 N D forward + backward, D = tokens + 1600 per image), with their ratios."""
    rows = []
    for ref in models:
        model = _build(ref)
        arch, n = arch_from_model(model), n_params(model)
        for images in (0, 1) if ref.vision else (0,):
            for backward in (False, True):
                measured = measure_model(model, seq_len, batch, images=images, backward=backward)
                exact = batch * model_pass(arch, seq_len, images=images).total(backward)
                tokens = batch * (seq_len + formulas.IMAGE_TOKENS * images)
                per_token = formulas.TRAIN_FLOPS_PER_PARAM if backward else formulas.INFER_FLOPS_PER_PARAM
                estimate = per_token * n * tokens
                rows.append({
                    "model": ref.name,
                    "input": f"{batch}x{seq_len} tokens" + (f" + {batch} images" if images else ""),
                    "pass": "fwd+bwd" if backward else "fwd",
                    "N": n,
                    "measured": measured,
                    "exact": exact,
                    "exact/measured": exact / measured,
                    "6ND or 2ND": estimate,
                    "estimate/measured": estimate / measured,
                })
        del model
    return pd.DataFrame(rows)


def sweep_models() -> dict[str, tuple[Any, int]]:
    """Name -> (config, images per sequence) of the 6N-vs-exact sweep, smallest to largest."""
    models: dict[str, tuple[Any, int]] = {"tiny-language": (tiny_configs()["tiny-language"], 0)}
    models.update({name: (public_text_config(name), 0) for name in PUBLIC_TEXT_CONFIGS})
    models["Llama-3.2-11B-Vision, text only"] = (paper_model_config(), 0)
    models["Llama-3.2-11B-Vision, 1 image"] = (paper_model_config(), 1)
    return models


def sixn_vs_exact(seq_lens: Sequence[int] = (128, 512, 2048, 8192)) -> pd.DataFrame:
    """Exact training FLOPs (forward + backward, SDPA) against 6 N D across model sizes and lengths.

    D = sequence tokens (+1600 per image, as the paper's convention counts an image). The ratio
    ``exact / 6ND`` is below 1 where parameters do no matmul per token (an untied input embedding,
    layers a text-only input skips) and above 1 where the attention term (linear in the sequence
    length) is large.
    """
    rows = []
    for name, (config, images) in sweep_models().items():
        arch, n = arch_from_config(config, fused_attention=True), count_parameters(config)
        for seq_len in seq_lens:
            exact = model_pass(arch, seq_len, images=images).total(True)
            tokens = seq_len + formulas.IMAGE_TOKENS * images
            rows.append({
                "model": name,
                "N": n,
                "seq_len": seq_len,
                "images": images,
                "exact_per_token": exact / tokens,
                "six_n": 6 * n,
                "exact/6ND": exact / (6 * n * tokens),
            })
    return pd.DataFrame(rows)


def write_sixn_vs_exact(frame: pd.DataFrame, path=None):
    """Write the sweep to ``results/compute_6n_vs_exact.csv`` atomically; returns the path."""
    path = path if path is not None else results_dir() / "compute_6n_vs_exact.csv"
    return write_csv_atomic(path, frame, float_format="%.6g")


def ppo_update_phases(
    arch: ModelArch,
    n: int,
    *,
    prompt_tokens: int,
    answer_tokens: int,
    transitions: int,
    epochs: int = 4,
    images: int = 0,
    task: str = "gp",
) -> pd.DataFrame:
    """Compute of one PPO update (``transitions`` generations of ``answer_tokens`` after prompts of
    ``prompt_tokens``, then ``epochs`` PPO epochs), by phase: exact GFLOPs and their share, beside
    the paper formula's terms (rollout = 2 N lambda D_RL, training = 6 N D_RL) with lambda from the
    paper and measured (D_buffer / D_RL)."""
    meter = ComputeMeter(n_params=n, arch=arch, task=task)
    seqs = [prompt_tokens + answer_tokens] * transitions
    meter.add_generations([prompt_tokens] * transitions, [answer_tokens] * transitions, images=images)
    meter.add_logprob_pass(seqs, images=images)
    for _ in range(epochs):
        meter.add_ppo_epoch(seqs, images=images)
    ex = meter.exact_flops
    lam = formulas.paper_lambda(task)
    d_rl, d_buffer = meter.tokens_rl, meter.generation_input_tokens + meter.generation_output_tokens
    rows = [
        ("rollout (prefill + decode)", ex["prefill"] + ex["decode"], 2 * n * lam * d_rl, 2 * n * d_buffer),
        ("  of which prefill", ex["prefill"], float("nan"), float("nan")),
        ("  of which decode (KV cache)", ex["decode"], float("nan"), float("nan")),
        ("log-prob / value pass", ex["logprob_value"], 0.0, 0.0),
        (f"PPO epochs x{epochs} (fwd+bwd)", ex["ppo_train"], 6 * n * d_rl, 6 * n * d_rl),
    ]
    frame = pd.DataFrame(rows, columns=["phase", "exact", "paper (lambda)", "paper (measured lambda)"])
    total = frame.iloc[[0, 3, 4]].sum(numeric_only=True)
    frame.loc[len(frame)] = ["total", total["exact"], total["paper (lambda)"], total["paper (measured lambda)"]]
    frame["exact share"] = frame["exact"] / total["exact"]
    for col in ("exact", "paper (lambda)", "paper (measured lambda)"):
        frame[col] = frame[col] / 1e9
    return frame.rename(columns={c: f"{c} GFLOPs" for c in ("exact", "paper (lambda)", "paper (measured lambda)")})


def to_text(frame: pd.DataFrame, digits: int = 4) -> str:
    """The frame as text with every number rounded to ``digits`` significant digits (stable output
    for notebooks checked by nbval)."""

    def fmt(value: Any) -> str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, float) and math.isnan(value):
                return "-"
            return f"{value:.{digits}g}"
        return str(value)

    numeric = frame.select_dtypes("number").columns
    return frame.to_string(index=False, formatters={c: fmt for c in numeric}, na_rep="-")
