"""The paper's compute formulas (App. C.3) and the authors' token counter (the authors' code).

Paper convention (``paper``): training costs 6 N FLOPs per token and inference 2 N per token, N the
number of parameters::

    X_SFT = 6 N (D_init + D_SFT)
    X_RL  = 6 N (D_init + D_RL) + 2 N D_buffer,   D_buffer = lambda D_RL,  lambda = 6 (GP), 5.1 (V-IRL)

The measured-lambda variant replaces the constant by what a run did: D_buffer = the tokens its
generation calls processed (input + output), lambda = D_buffer / D_RL.

Official convention (``official``): the authors' code logs a token counter instead: prompt tokens
once per generation call, 6 x sequence length per PPO sample per epoch, and 1600 extra tokens per
image. The counter is in units of N FLOPs (a trained token adds 6, i.e. 6 N FLOPs, as in 6ND), so
its FLOPs are N x counter; the package applies the same 6 x length rule to SFT samples.

Token counts D include ``IMAGE_TOKENS`` per image wherever a formula is applied to a vision task:
the paper's GP-VL axis (2-6e10 GFLOPs, 5x GP-L) is only reached if images count (see
:mod:`sftrl_repro.flops.paper_scale`).
"""

from __future__ import annotations

from sftrl_repro.utils.params import check_choice

# lambda of the paper: generated (buffer) tokens per RL training token.
PAPER_LAMBDA = {"gp": 6.0, "virl": 5.1}
# Tokens the authors' counter adds per image (about one 560 x 560 tile: 40 x 40 patches).
IMAGE_TOKENS = 1600
# Training FLOPs per parameter per token (forward 2 + backward 4) and inference FLOPs per token.
TRAIN_FLOPS_PER_PARAM = 6
INFER_FLOPS_PER_PARAM = 2


def paper_lambda(task: str) -> float:
    """The paper's lambda for a task family: ``"gp"`` -> 6, ``"virl"`` -> 5.1."""
    return PAPER_LAMBDA[check_choice("task", task, tuple(PAPER_LAMBDA))]


def sft_flops(n_params: int, d_init: float, d_sft: float) -> float:
    """X_SFT = 6 N (D_init + D_SFT)."""
    return TRAIN_FLOPS_PER_PARAM * n_params * (d_init + d_sft)


def rl_flops(n_params: int, d_init: float, d_rl: float, lam: float) -> float:
    """X_RL = 6 N (D_init + D_RL) + 2 N lambda D_RL."""
    return TRAIN_FLOPS_PER_PARAM * n_params * (d_init + d_rl) + INFER_FLOPS_PER_PARAM * n_params * lam * d_rl


def measured_lambda(n_generations: int, mean_input_tokens: float, mean_output_tokens: float, d_rl: float) -> float:
    """lambda from a run: D_buffer / D_RL with D_buffer = generation calls x (mean input + mean output).

    With a KV cache each generation call pushes its input and output tokens through the model once
    (about 2 N FLOPs each), which is what the 2 N D_buffer term charges.
    """
    if d_rl <= 0:
        raise ValueError(f"d_rl={d_rl!r} is not valid; it must be > 0 (no RL training tokens yet)")
    return n_generations * (mean_input_tokens + mean_output_tokens) / d_rl


def official_generation_tokens(prompt_tokens: int, images: int = 0) -> int:
    """The authors' counter for one generation call: its prompt tokens, +1600 per image."""
    return prompt_tokens + IMAGE_TOKENS * images


def official_training_tokens(seq_len: int, images: int = 0, epochs: int = 1) -> int:
    """The authors' counter for one trained sample: 6 x its length (+1600 per image) per epoch."""
    return TRAIN_FLOPS_PER_PARAM * (seq_len + IMAGE_TOKENS * images) * epochs


def official_flops(n_params: int, counter_tokens: float) -> float:
    """FLOPs of the authors' counter: N x counter (a trained token counts 6, i.e. 6 N FLOPs)."""
    return n_params * counter_tokens
