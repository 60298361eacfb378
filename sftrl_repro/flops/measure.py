"""Measured FLOPs (``torch.utils.flop_counter.FlopCounterMode``) and parameter counts.

PyTorch's FlopCounterMode has formulas for the CUDA fused attention kernels but not for the CPU one
(``aten._scaled_dot_product_flash_attention_for_cpu`` and its backward): on CPU it silently counts 0
FLOPs for SDPA attention. :func:`flop_counter` registers the same formulas PyTorch uses for the CUDA
kernels for the CPU kernel, so a count taken on CPU equals the count on a GPU. On the meta device
SDPA runs its math fallback (plain ``bmm``), which FlopCounterMode already counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count


def _cpu_sdpa_forward(query, key, value, *args, out_val=None, **kwargs) -> int:
    # (query, key, value, dropout_p, is_causal, *, attn_mask, scale) -> (output, logsumexp)
    return sdpa_flop_count(query.shape, key.shape, value.shape)


def _cpu_sdpa_backward(grad_out, query, key, value, *args, out_val=None, **kwargs) -> int:
    # (grad_out, query, key, value, out, logsumexp, dropout_p, is_causal, *, attn_mask, scale)
    return sdpa_backward_flop_count(grad_out.shape, query.shape, key.shape, value.shape)


_cpu_sdpa_forward._get_raw = True  # type: ignore[attr-defined]  # receives tensors, not shapes
_cpu_sdpa_backward._get_raw = True  # type: ignore[attr-defined]

CPU_ATTENTION_FORMULAS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_forward,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward,
}


def flop_counter() -> FlopCounterMode:
    """A silent ``FlopCounterMode`` that also counts the CPU flash-attention kernel."""
    return FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FORMULAS)


def measure_flops(fn: Callable[[], Any]) -> int:
    """FLOPs FlopCounterMode counts while ``fn()`` runs (forward, backward, ``generate``: anything)."""
    with flop_counter() as counter:
        fn()
    return counter.get_total_flops()


def n_params(model: torch.nn.Module) -> int:
    """N: the number of parameters of ``model`` (each tied/shared tensor once), as the paper counts."""
    return sum(p.numel() for p in model.parameters())


def build_on_meta(config: Any) -> torch.nn.Module:
    """The model of a ``LlamaConfig`` / ``MllamaConfig`` on the meta device: shapes only, no memory."""
    from transformers import LlamaForCausalLM, MllamaForConditionalGeneration

    classes = {"llama": LlamaForCausalLM, "mllama": MllamaForConditionalGeneration}
    model_type = getattr(config, "model_type", None)
    if model_type not in classes:
        options = ", ".join(repr(t) for t in classes)
        raise ValueError(f"model_type={model_type!r} is not valid; choose one of: {options}")
    with torch.device("meta"):
        return classes[model_type](config)


def count_parameters(config: Any) -> int:
    """N of the model a config describes, counted on the meta device (exact, instant, no memory)."""
    return n_params(build_on_meta(config))


def model_inputs(model: torch.nn.Module, seq_len: int, batch: int = 1, images: int = 0) -> dict[str, torch.Tensor]:
    """Random inputs of the given shape on the model's device: token ids, and for ``images`` > 0
    (Mllama) pixel values of ``images`` full-size images per sequence with every tile in use."""
    device = next(model.parameters()).device
    config = model.config
    text = getattr(config, "text_config", config)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, text.vocab_size, (batch, seq_len), generator=generator).to(device)
    inputs = {"input_ids": ids}
    if images:
        vision = config.vision_config
        tiles, side = vision.max_num_tiles, int(vision.image_size)
        inputs.update(
            pixel_values=torch.zeros(batch, images, tiles, vision.num_channels, side, side, device=device),
            aspect_ratio_ids=torch.ones(batch, images, dtype=torch.long, device=device),
            aspect_ratio_mask=torch.ones(batch, images, tiles, dtype=torch.long, device=device),
            cross_attention_mask=torch.ones(batch, seq_len, images, tiles, dtype=torch.long, device=device),
        )
    return inputs


def measure_model(
    model: torch.nn.Module, seq_len: int, batch: int = 1, *, images: int = 0, backward: bool = False
) -> int:
    """FlopCounterMode's count of one pass of random inputs (see :func:`model_inputs`) through ``model``:
    the forward, and with ``backward`` the backward of ``logits.sum()`` (every parameter trained)."""
    inputs = model_inputs(model, seq_len, batch, images)

    def run() -> None:
        with torch.set_grad_enabled(backward):
            logits = model(**inputs).logits
        if backward:
            logits.sum().backward()

    flops = measure_flops(run)
    model.zero_grad(set_to_none=True)
    return flops
