"""The numbers of a model's architecture that decide its FLOPs, read from a Hugging Face config.

The exact counter (:mod:`sftrl_repro.flops.exact`) works from these two small dataclasses, not from
module objects, so it can count a model that was never built (the paper's 11B model on a laptop).
Supported configs: ``LlamaConfig`` (text) and ``MllamaConfig`` (Llama-3.2-Vision: a text decoder with
interleaved cross-attention layers plus a two-stage ViT vision encoder).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SUPPORTED_MODEL_TYPES = ("llama", "mllama")

# Attention implementations whose kernels FlopCounterMode counts with the "math" rule (two bmm in the
# forward, four in the backward). Every other implementation ("sdpa", "flex_attention", ...) runs a
# fused kernel whose backward recomputes the score matrix: five bmm-sized products (see exact.py).
MATH_ATTENTION = ("eager",)


@dataclass(frozen=True)
class TextArch:
    """A causal text decoder (Llama, or the text half of Mllama).

    Attributes:
        vocab_size: rows of the LM head (``config.vocab_size``); Mllama's input embedding has 8 more
            rows, which cost no FLOPs (an embedding is a gather).
        hidden_size: model width d.
        num_layers: decoder layers, cross-attention layers included.
        num_heads: query heads H.
        num_kv_heads: key/value heads (grouped-query attention when smaller than ``num_heads``).
        head_dim: width of one head; ``num_heads * head_dim`` is the query projection's output width.
        intermediate_size: width of the gated MLP (gate, up: d -> I; down: I -> d).
        cross_attention_layers: indices of the layers that attend to image features (Mllama);
            empty for Llama. On a text-only input these layers are skipped entirely.
        fused_attention: True when attention runs in a fused SDPA kernel (``sdpa`` on CPU/GPU),
            False for ``eager`` attention or SDPA's math fallback (e.g. on the meta device); only the
            backward count differs (see :func:`sftrl_repro.flops.exact.attention_scores`).
    """

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    cross_attention_layers: tuple[int, ...] = ()
    fused_attention: bool = True

    @property
    def self_attention_layers(self) -> int:
        """Number of ordinary (self-attention) decoder layers."""
        return self.num_layers - len(self.cross_attention_layers)


@dataclass(frozen=True)
class VisionArch:
    """Mllama's vision encoder: patch conv, a "local" ViT, a gated "global" ViT, then a projector.

    Attributes:
        hidden_size: ViT width Dv.
        num_heads: ViT attention heads.
        intermediate_size: ViT MLP width (fc1: Dv -> Iv, fc2: Iv -> Dv, both with bias).
        num_local_layers: layers of the first transformer (``config.num_hidden_layers``).
        num_global_layers: layers of the gated global transformer.
        num_channels: image channels (3).
        image_size: side of one tile in pixels (560 for Llama-3.2-Vision).
        patch_size: side of one patch (14).
        max_num_tiles: tiles per image; the processor pads every image to this many tiles and the
            model computes all of them.
        output_dim: width of the concatenated final + intermediate features fed to the projector
            (``vision_output_dim`` = Dv x (1 + number of intermediate layers)).
        fused_attention: as in :class:`TextArch`.
    """

    hidden_size: int
    num_heads: int
    intermediate_size: int
    num_local_layers: int
    num_global_layers: int
    num_channels: int
    image_size: int
    patch_size: int
    max_num_tiles: int
    output_dim: int
    fused_attention: bool = True

    @property
    def head_dim(self) -> int:
        """Width of one ViT head."""
        return self.hidden_size // self.num_heads

    @property
    def patches_per_tile(self) -> int:
        """Patches of one tile plus the class token: (image_size / patch_size)^2 + 1."""
        return (self.image_size // self.patch_size) ** 2 + 1

    @property
    def padded_patches_per_tile(self) -> int:
        """``patches_per_tile`` rounded up to a multiple of 8 (the ViT pads each tile so)."""
        return -(-self.patches_per_tile // 8) * 8

    @property
    def tokens_per_image(self) -> int:
        """Image tokens one image gives the text decoder's cross-attention: tiles x patches."""
        return self.max_num_tiles * self.patches_per_tile


@dataclass(frozen=True)
class ModelArch:
    """A whole model: a text decoder and, for Mllama, a vision encoder.

    Attributes:
        text: the decoder.
        vision: the vision encoder, or None for a text-only model.
    """

    text: TextArch
    vision: VisionArch | None = None


def _fused(config: Any, default: str) -> bool:
    implementation = getattr(config, "_attn_implementation", None) or default
    return implementation not in MATH_ATTENTION


def _text_arch(config: Any, *, fused: bool | None, default_attn: str) -> TextArch:
    heads = config.num_attention_heads
    model_type = getattr(config, "model_type", "")
    # Mllama's text attention always uses hidden // heads; Llama honours an explicit head_dim.
    head_dim = config.hidden_size // heads
    if model_type == "llama" and getattr(config, "head_dim", None):
        head_dim = config.head_dim
    return TextArch(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        num_layers=config.num_hidden_layers,
        num_heads=heads,
        num_kv_heads=config.num_key_value_heads or heads,
        head_dim=head_dim,
        intermediate_size=config.intermediate_size,
        cross_attention_layers=tuple(getattr(config, "cross_attention_layers", None) or ()),
        fused_attention=_fused(config, default_attn) if fused is None else fused,
    )


def _vision_arch(config: Any, *, fused: bool | None, default_attn: str) -> VisionArch:
    return VisionArch(
        hidden_size=config.hidden_size,
        num_heads=config.attention_heads,
        intermediate_size=config.intermediate_size,
        num_local_layers=config.num_hidden_layers,
        num_global_layers=config.num_global_layers,
        num_channels=config.num_channels,
        image_size=int(config.image_size),
        patch_size=int(config.patch_size),
        max_num_tiles=config.max_num_tiles,
        output_dim=config.vision_output_dim,
        fused_attention=_fused(config, default_attn) if fused is None else fused,
    )


def arch_from_config(config: Any, *, fused_attention: bool | None = None) -> ModelArch:
    """The :class:`ModelArch` of a ``LlamaConfig`` or ``MllamaConfig``.

    ``fused_attention`` overrides what the config's attention implementation implies (None: ``eager``
    -> math, anything else -> fused; a config with no implementation set is taken as ``sdpa``).
    Raises ``ValueError`` naming the supported model types for any other config.
    """
    model_type = getattr(config, "model_type", None)
    if model_type == "llama":
        return ModelArch(text=_text_arch(config, fused=fused_attention, default_attn="sdpa"))
    if model_type == "mllama":
        return ModelArch(
            text=_text_arch(config.text_config, fused=fused_attention, default_attn="sdpa"),
            vision=_vision_arch(config.vision_config, fused=fused_attention, default_attn="sdpa"),
        )
    options = ", ".join(repr(t) for t in SUPPORTED_MODEL_TYPES)
    raise ValueError(f"model_type={model_type!r} is not valid for FLOPs counting; choose one of: {options}")


def arch_from_model(model: Any) -> ModelArch:
    """The :class:`ModelArch` of a built ``LlamaForCausalLM`` or ``MllamaForConditionalGeneration``.

    A model whose weights live on the meta device runs SDPA through its math fallback (two bmm
    forward, four backward), so its attention is counted as unfused, as FlopCounterMode sees it.
    """
    on_meta = any(p.is_meta for p in model.parameters())
    return arch_from_config(model.config, fused_attention=False if on_meta else None)
