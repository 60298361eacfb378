"""Compute accounting: exact counts against FlopCounterMode, the paper's formulas, the meter."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, MllamaConfig, MllamaForConditionalGeneration

from sftrl_repro.flops import (
    ComputeMeter,
    arch_from_config,
    arch_from_model,
    build_on_meta,
    count_parameters,
    decode,
    generation,
    measure_flops,
    measured_lambda,
    model_flops,
    model_pass,
    official_flops,
    official_generation_tokens,
    official_training_tokens,
    paper_lambda,
    ppo_transition,
    prefill,
    rl_flops,
    sft_flops,
    text_pass,
    value_head,
)
from sftrl_repro.flops.measure import measure_model, model_inputs
from sftrl_repro.flops.paper_scale import PAPER_BUDGETS, paper_model_config, paper_scale_table, write_paper_scale_table

ATTENTION = ("sdpa", "eager")


def text_config(attn: str = "sdpa", **overrides) -> LlamaConfig:
    sizes = dict(vocab_size=96, hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=512)
    sizes.update(overrides)
    return LlamaConfig(**sizes, attn_implementation=attn)


def vision_config(attn: str = "sdpa") -> MllamaConfig:
    vision = dict(hidden_size=32, attention_heads=2, intermediate_size=64, num_hidden_layers=2, num_global_layers=1,
                  intermediate_layers_indices=[0, 1], vision_output_dim=96, image_size=56, patch_size=14,
                  max_num_tiles=1, supported_aspect_ratios=[[1, 1]])
    text = dict(vocab_size=120, hidden_size=64, num_hidden_layers=3, cross_attention_layers=[1], num_attention_heads=4,
                num_key_value_heads=2, intermediate_size=128, max_position_embeddings=512, bos_token_id=1,
                eos_token_id=2, pad_token_id=0)
    return MllamaConfig(vision_config=vision, text_config=text, image_token_index=120, attn_implementation=attn)


def build(config):
    torch.manual_seed(0)
    cls = MllamaForConditionalGeneration if config.model_type == "mllama" else LlamaForCausalLM
    return cls(config).eval()


def close(a: float, b: float, rel: float = 0.05) -> bool:
    return abs(a - b) <= rel * abs(b)


# -- exact count vs FlopCounterMode ------------------------------------------------------------


@pytest.mark.parametrize("attn", ATTENTION)
def test_text_llama_forward_and_backward_match_flop_counter(attn):
    model = build(text_config(attn))
    for backward in (False, True):
        measured = measure_model(model, 17, 2, backward=backward)
        exact = model_flops(model, 17, batch=2, backward=backward)
        assert close(exact, measured) and exact == measured


def test_fused_attention_backward_counts_the_recomputed_scores():
    # Same weights, same input: only the attention backward differs (5 bmm fused vs 4 math).
    fused, math_ = (model_flops(build(text_config(a)), 33, backward=True) for a in ATTENTION)
    scores = 2 * 4 * 33 * 33 * 16  # one (33 x 33) bmm over 4 heads of width 16
    assert fused - math_ == 2 * scores  # two layers, one extra bmm each


@pytest.mark.parametrize("attn", ATTENTION)
def test_mllama_with_image_matches_flop_counter(attn):
    model = build(vision_config(attn))
    arch = arch_from_model(model)
    for backward in (False, True):
        measured = measure_model(model, 11, 2, images=1, backward=backward)
        exact = 2 * model_pass(arch, 11, images=1).total(backward)
        assert close(exact, measured) and exact == measured
    # A text-only input skips the vision tower and the cross-attention layers.
    assert model_flops(model, 11, batch=2) == measure_model(model, 11, 2)
    assert model_flops(model, 11) < model_pass(arch, 11, images=1).forward


def test_mid_size_text_config_matches_flop_counter():
    # 25M parameters, 4 layers, 256 tokens: the attention term is a visible share of the total.
    model = build(text_config(vocab_size=4096, hidden_size=512, intermediate_size=1376, num_hidden_layers=4,
                              num_attention_heads=8, num_key_value_heads=4))
    measured = measure_model(model, 256, 1, backward=True)
    exact = model_flops(model, 256, backward=True)
    assert close(exact, measured) and exact == measured
    scores = model_pass(arch_from_model(model), 256).parts["attn_scores"].total(True)
    assert scores > 0.05 * exact


def test_paper_model_on_meta_matches_flop_counter():
    config = paper_model_config()
    model = build_on_meta(config)
    assert count_parameters(config) == 10_670_220_835  # Llama-3.2-11B-Vision
    measured = measure_model(model, 64, 1, images=1, backward=True)
    assert model_pass(arch_from_model(model), 64, images=1).total(True) == measured
    assert model_flops(model, 64) == measure_model(model, 64, 1)


@pytest.mark.parametrize("vision", [False, True])
def test_generate_with_kv_cache_is_prefill_plus_decode(vision):
    model = build(vision_config() if vision else text_config())
    images = 1 if vision else 0
    inputs = model_inputs(model, 9, 1, images=images)
    measured = measure_flops(lambda: model.generate(**inputs, max_new_tokens=6, min_new_tokens=6, do_sample=False,
                                                    eos_token_id=None, pad_token_id=0))
    assert generation(arch_from_model(model), 9, 6, images=images).forward == measured


def test_decode_closed_form_equals_the_sum_of_steps():
    arch = arch_from_config(vision_config())
    image_tokens = arch.vision.tokens_per_image
    steps = sum(text_pass(arch.text, 1, past_len=20 + t - 1, image_tokens=image_tokens, image_kv_cached=True).forward
                for t in range(1, 12))
    assert decode(arch, 20, 12, images=1).forward == steps
    assert decode(arch, 20, 1).forward == 0 and generation(arch, 20, 0).forward == 0


def test_value_head_matches_flop_counter():
    head = torch.nn.Sequential(torch.nn.Linear(64, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 512),
                               torch.nn.ReLU(), torch.nn.Linear(512, 1))
    hidden = torch.randn(1, 64, requires_grad=True)
    assert measure_flops(lambda: head(hidden)) == value_head(64).forward
    assert measure_flops(lambda: head(hidden).sum().backward()) == value_head(64).total(True)


def test_ppo_transition_phases_add_up():
    arch = arch_from_config(text_config())
    phases = ppo_transition(arch, 30, 10, epochs=4)
    assert phases["prefill"] == prefill(arch, 30).forward
    assert phases["ppo_train"] == 4 * (model_pass(arch, 40).total(True) + value_head(64).total(True))
    assert phases["logprob_value"] == model_pass(arch, 40).forward + value_head(64).forward


def test_bad_inputs_raise_clear_errors():
    model = build(text_config())
    with pytest.raises(ValueError, match="seq_len"):
        model_flops(model, 0)
    with pytest.raises(ValueError, match="'llama', 'mllama'"):
        arch_from_config(type("Cfg", (), {"model_type": "gpt2"})())
    with pytest.raises(ValueError, match="text-only"):
        model_pass(arch_from_model(model), 8, images=1)


# -- paper formulas and the official counter -------------------------------------------------


def test_paper_formulas_by_hand():
    assert sft_flops(10, 100, 50) == 6 * 10 * 150
    assert rl_flops(10, 100, 50, paper_lambda("gp")) == 6 * 10 * 150 + 2 * 10 * 6 * 50  # 15000
    assert rl_flops(10, 100, 50, paper_lambda("virl")) == pytest.approx(9000 + 2 * 10 * 5.1 * 50)
    with pytest.raises(ValueError, match="'gp', 'virl'"):
        paper_lambda("sokoban")


def test_measured_lambda():
    # 100 generations of 300 + 50 tokens against 4 epochs of 100 samples of 350 tokens.
    assert measured_lambda(100, 300, 50, 4 * 100 * 350) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="d_rl"):
        measured_lambda(1, 1, 1, 0)


def test_official_counter():
    assert official_generation_tokens(300) == 300
    assert official_generation_tokens(300, images=1) == 1900
    assert official_training_tokens(345, epochs=4) == 6 * 345 * 4
    assert official_training_tokens(345, images=1) == 6 * 1945
    assert official_flops(10, 1900) == 19000


# -- the meter ---------------------------------------------------------------------------------


def test_meter_counts_every_convention():
    model = build(text_config())
    arch, n = arch_from_model(model), sum(p.numel() for p in model.parameters())
    meter = ComputeMeter.for_model(model, task="gp")
    assert meter.n_params == n and meter.lambda_measured is None
    meter.add_sft_step([10, 20])
    meter.add_generations([5, 7], [3, 4])
    meter.add_logprob_pass([8, 11])
    for _ in range(2):
        meter.add_ppo_epoch([8, 11])
    assert (meter.tokens_sft, meter.tokens_rl) == (30, 38)
    assert (meter.generations, meter.generation_input_tokens, meter.generation_output_tokens) == (2, 12, 7)
    assert meter.official_tokens == 6 * 30 + 12 + 6 * 38
    assert meter.flops("paper") == 6 * n * 68 + 2 * n * 6 * 38
    assert meter.flops("paper_measured") == 6 * n * 68 + 2 * n * 19
    assert meter.flops("official") == n * (6 * 30 + 12 + 6 * 38)
    assert meter.lambda_measured == pytest.approx(19 / 38)
    exact = (model_pass(arch, 10).total(True) + model_pass(arch, 20).total(True)
             + generation(arch, 5, 3).forward + generation(arch, 7, 4).forward
             + sum(model_pass(arch, s).forward + value_head(64).forward for s in (8, 11))
             + 2 * sum(model_pass(arch, s).total(True) + value_head(64).total(True) for s in (8, 11)))
    assert meter.flops("exact") == exact
    with pytest.raises(ValueError, match="'paper', 'paper_measured', 'exact', 'official'"):
        meter.flops("kaplan")


def test_meter_sft_step_equals_a_measured_training_step():
    model = build(text_config())
    meter = ComputeMeter.for_model(model)
    meter.add_sft_step([24, 24])
    assert meter.flops("exact") == measure_model(model, 24, 2, backward=True)


def test_meter_images_and_validation():
    arch = arch_from_config(vision_config())
    meter = ComputeMeter(n_params=1000, arch=arch, task="virl")
    meter.add_ppo_epoch([10, 12], images=[1, 0])
    meter.add_generations([6], [2], images=1)
    assert meter.tokens_rl == 22 + 1600
    assert meter.generation_input_tokens == 6 + 1600
    passes = model_pass(arch, 10, images=1) + model_pass(arch, 12) + 2 * value_head(64)
    assert meter.exact_flops["ppo_train"] == passes.total(True)
    assert meter.flops("paper") == pytest.approx(6 * 1000 * 1622 + 2 * 1000 * 5.1 * 1622)
    with pytest.raises(ValueError, match="one per sample"):
        meter.add_sft_step([10, 12], images=[1])
    with pytest.raises(ValueError, match="seq_lens"):
        meter.add_sft_step([-1])
    with pytest.raises(ValueError, match="task"):
        ComputeMeter(n_params=1, arch=arch, task="chess")


def test_meter_round_trips_through_its_dict():
    arch = arch_from_config(text_config())
    meter = ComputeMeter(n_params=12345, arch=arch)
    meter.add_sft_step([9, 9, 9])
    meter.add_generations([4], [5])
    meter.add_ppo_epoch([9])
    logged = meter.to_dict()
    assert {f"flops_{c}" for c in ("paper", "paper_measured", "exact", "official")} <= logged.keys()
    restored = ComputeMeter.from_dict(logged, arch)
    assert restored.to_dict() == logged
    restored.add_sft_step([9])  # a branch from a checkpoint counts on from where it was
    assert restored.tokens_sft == meter.tokens_sft + 9 and meter.tokens_sft == 27


# -- the paper's scale -------------------------------------------------------------------------


def test_paper_scale_lands_on_the_paper_axes(tmp_path):
    table = paper_scale_table(PAPER_BUDGETS)
    end = table[table.point == "rl_end"].set_index("task")
    # The paper's Fig. 5 axes: GP-L up to about 1e10 GFLOPs, GP-VL 2e10 - 6e10.
    assert 5e9 < end.loc["GP-L", "gflops_paper"] < 2e10
    assert 2e10 < end.loc["GP-VL", "gflops_paper"] < 8e10
    # A KV-cache rollout pushes 1/epochs as many tokens as the PPO epochs do: lambda measured = 0.25.
    assert end["lambda_measured"].tolist() == pytest.approx([0.25, 0.25])
    # Exact < paper: text-only GP-L leaves the vision tower and cross-attention layers idle.
    assert (end["gflops_exact"] < end["gflops_paper_measured"]).all()
    path = write_paper_scale_table(table, tmp_path / "compute_paper_scale.csv")
    assert math.isclose(pd.read_csv(path).gflops_paper.max(), table.gflops_paper.max(), rel_tol=1e-5)
