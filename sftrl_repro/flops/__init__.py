"""Compute accounting: the paper's formulas, exact FLOP counts, and the authors' token counter.

Three conventions, all recorded by :class:`ComputeMeter` for every checkpoint:

* ``paper`` (default of the figures): X = 6 N D for training and 2 N lambda D_RL for the RL buffer,
  lambda = 6 (GP) or 5.1 (V-IRL); ``paper_measured`` takes lambda from the run's generations.
* ``exact``: analytic matrix-product FLOPs of every pass (prefill, KV-cache decoding, training
  forward + backward, PPO log-prob / value passes), with FlopCounterMode's convention (a multiply-add
  = 2 FLOPs; norms, activations and softmax ignored). Checked against FlopCounterMode in the tests.
* ``official``: the authors' token counter x N.

Public entry point: ``model_flops(model, seq_len, batch=1, backward=False) -> int``.
"""

from sftrl_repro.flops.arch import ModelArch, TextArch, VisionArch, arch_from_config, arch_from_model
from sftrl_repro.flops.exact import FlopBreakdown, Flops, model_pass, text_pass, value_head, vision_pass
from sftrl_repro.flops.formulas import (
    IMAGE_TOKENS,
    PAPER_LAMBDA,
    measured_lambda,
    official_flops,
    official_generation_tokens,
    official_training_tokens,
    paper_lambda,
    rl_flops,
    sft_flops,
)
from sftrl_repro.flops.measure import build_on_meta, count_parameters, flop_counter, measure_flops, n_params
from sftrl_repro.flops.meter import CONVENTIONS, DEFAULT_CONVENTION, PHASES, ComputeMeter
from sftrl_repro.flops.phases import (
    VALUE_HEAD_SIZES,
    decode,
    generation,
    logprob_value_pass,
    model_flops,
    ppo_train_pass,
    ppo_transition,
    prefill,
    train_pass,
)

__all__ = [
    "model_flops",
    "ComputeMeter",
    "CONVENTIONS",
    "DEFAULT_CONVENTION",
    "PHASES",
    "ModelArch",
    "TextArch",
    "VisionArch",
    "arch_from_config",
    "arch_from_model",
    "Flops",
    "FlopBreakdown",
    "model_pass",
    "text_pass",
    "vision_pass",
    "value_head",
    "VALUE_HEAD_SIZES",
    "prefill",
    "decode",
    "generation",
    "train_pass",
    "logprob_value_pass",
    "ppo_train_pass",
    "ppo_transition",
    "IMAGE_TOKENS",
    "PAPER_LAMBDA",
    "paper_lambda",
    "sft_flops",
    "rl_flops",
    "measured_lambda",
    "official_generation_tokens",
    "official_training_tokens",
    "official_flops",
    "flop_counter",
    "measure_flops",
    "n_params",
    "count_parameters",
    "build_on_meta",
]
