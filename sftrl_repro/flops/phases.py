"""Exact FLOPs of each phase of SFT and PPO, per sequence, and the public ``model_flops``.

A PPO update of the paper (paper App. C; the authors' training scripts) does, for every transition (prompt of P tokens,
answer of A tokens, S = P + A):

1. rollout: ``generate`` with a KV cache = a prefill of the P prompt tokens (logits of the last
   position only) + A - 1 decoding steps of one token each (the A-th token is never fed back);
2. a log-prob / value pass: one forward over the S tokens (log-probs of the answer, and the value
   head on the last prompt token) to get the old log-probs and values;
3. ``epochs`` PPO epochs: forward + backward over the S tokens, value head included.

An SFT step is a forward + backward over each demonstration's S tokens. Images (Mllama) go through
the vision encoder once per pass (once per generation: the decoding steps reuse the cached image
keys/values). Padding is not counted: these are the FLOPs of the useful tokens.
"""

from __future__ import annotations

from typing import Any

from sftrl_repro.flops.arch import ModelArch, arch_from_model
from sftrl_repro.flops.exact import (
    VALUE_HEAD_SIZES,
    FlopBreakdown,
    attention_scores,
    model_pass,
    text_pass,
    value_head,
)
from sftrl_repro.utils.params import check_int


def prefill(arch: ModelArch, prompt_len: int, *, images: int = 0) -> FlopBreakdown:
    """Forward FLOPs of ``generate``'s first step: the whole prompt, logits for its last token only."""
    return model_pass(arch, prompt_len, images=images, logits_len=1).forward_only()


def decode(arch: ModelArch, prompt_len: int, new_tokens: int, *, images: int = 0) -> FlopBreakdown:
    """Forward FLOPs of the ``new_tokens - 1`` one-token decoding steps after the prefill.

    Step t (t = 1 .. new_tokens - 1) feeds generated token t with P + t - 1 tokens cached, so its
    queries meet K_t = P + t keys. Everything but the attention scores costs the same at every step;
    the scores are linear in K_t, so the sum over steps equals one product against sum_t K_t keys.
    """
    steps = max(new_tokens - 1, 0)
    if steps == 0:
        return FlopBreakdown()
    text = arch.text
    image_tokens = images * arch.vision.tokens_per_image if images else 0
    one_step = text_pass(text, 1, image_tokens=image_tokens, image_kv_cached=True)
    parts = dict((one_step * steps).parts)
    keys_summed = steps * prompt_len + steps * (steps + 1) // 2  # sum_{t=1}^{steps} (P + t)
    parts["attn_scores"] = text.self_attention_layers * attention_scores(
        1, keys_summed, text.num_heads, text.head_dim, fused=text.fused_attention
    )
    return FlopBreakdown(parts).forward_only()


def generation(arch: ModelArch, prompt_len: int, new_tokens: int, *, images: int = 0) -> FlopBreakdown:
    """Forward FLOPs of generating ``new_tokens`` tokens after a ``prompt_len``-token prompt (KV cache)."""
    if new_tokens <= 0:
        return FlopBreakdown()
    return prefill(arch, prompt_len, images=images) + decode(arch, prompt_len, new_tokens, images=images)


def train_pass(arch: ModelArch, seq_len: int, *, images: int = 0) -> FlopBreakdown:
    """Forward + backward over one ``seq_len``-token sequence (an SFT sample), all weights trained."""
    return model_pass(arch, seq_len, images=images)


def logprob_value_pass(
    arch: ModelArch, seq_len: int, *, images: int = 0, value_sizes: tuple[int, ...] = VALUE_HEAD_SIZES
) -> FlopBreakdown:
    """Forward only: PPO's old log-probs (LM head on all tokens) and value (head on one token)."""
    return (model_pass(arch, seq_len, images=images) + value_head(arch.text.hidden_size, value_sizes)).forward_only()


def ppo_train_pass(
    arch: ModelArch, seq_len: int, *, images: int = 0, value_sizes: tuple[int, ...] = VALUE_HEAD_SIZES
) -> FlopBreakdown:
    """Forward + backward of one PPO sample in one epoch: policy log-probs and value head."""
    return model_pass(arch, seq_len, images=images) + value_head(arch.text.hidden_size, value_sizes)


def ppo_transition(
    arch: ModelArch,
    prompt_len: int,
    answer_len: int,
    *,
    images: int = 0,
    epochs: int = 4,
    value_sizes: tuple[int, ...] = VALUE_HEAD_SIZES,
) -> dict[str, int]:
    """FLOPs one transition costs in a PPO update, by phase (see the module docstring).

    Returns ``{"prefill", "decode", "logprob_value", "ppo_train"}`` -> FLOPs (``ppo_train`` over all
    ``epochs``, forward + backward).
    """
    seq_len = prompt_len + answer_len
    return {
        "prefill": prefill(arch, prompt_len, images=images).forward,
        "decode": decode(arch, prompt_len, answer_len, images=images).forward,
        "logprob_value": logprob_value_pass(arch, seq_len, images=images, value_sizes=value_sizes).forward,
        "ppo_train": epochs * ppo_train_pass(arch, seq_len, images=images, value_sizes=value_sizes).total(True),
    }


def model_flops(model: Any, seq_len: int, batch: int = 1, backward: bool = False) -> int:
    """Exact FLOPs of one pass of a text-only input through ``model``.

    Args:
        model: a ``LlamaForCausalLM`` or ``MllamaForConditionalGeneration`` (any device, meta too).
        seq_len: tokens per sequence (no cache, no padding).
        batch: sequences in the batch.
        backward: count forward + backward (every parameter trained) instead of forward only.

    Returns the FLOPs that ``torch.utils.flop_counter.FlopCounterMode`` reports for
    ``model(input_ids)`` (then ``.backward()`` of a loss on the logits when ``backward``), with the
    CPU flash-attention kernel counted (see :func:`sftrl_repro.flops.measure.flop_counter`): matrix
    products only, a multiply-add = 2 FLOPs, logits for every position. On a text-only input
    Mllama's cross-attention layers and vision encoder do not run and cost nothing.
    """
    check_int("seq_len", seq_len, low=1)
    check_int("batch", batch, low=1)
    arch = arch_from_model(model)
    return batch * model_pass(arch, seq_len).total(bool(backward))


__all__ = [
    "VALUE_HEAD_SIZES",
    "prefill",
    "decode",
    "generation",
    "train_pass",
    "logprob_value_pass",
    "ppo_train_pass",
    "ppo_transition",
    "model_flops",
]
