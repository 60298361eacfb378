"""Reference models for the compute notebook: the package's three scales and public Llama sizes.

All are described by configs (numbers of the public ``config.json`` files), so they can be built on
the meta device and counted without downloading or allocating anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sftrl_repro.flops.paper_scale import paper_model_config
from sftrl_repro.utils.params import check_choice

SCALES = ("tiny", "small", "paper")

# Public Llama-family text configs (hidden, MLP width, layers, heads, KV heads, vocab, tied LM head).
PUBLIC_TEXT_CONFIGS: dict[str, dict[str, Any]] = {
    "SmolLM2-135M": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, vocab_size=49152, tie_word_embeddings=True),
    "Llama-3.2-1B": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                         num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True),
    "Llama-3.2-3B": dict(hidden_size=3072, intermediate_size=8192, num_hidden_layers=28, num_attention_heads=24,
                         num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True),
    "Llama-3.1-8B": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                         num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=False),
}


@dataclass(frozen=True)
class ReferenceModel:
    """A model to count.

    Attributes:
        name: display name.
        config: its ``LlamaConfig`` or ``MllamaConfig``.
        device: ``"cpu"`` (built with random weights and run) or ``"meta"`` (shapes only).
        vision: whether it reads images (Mllama).
    """

    name: str
    config: Any
    device: str
    vision: bool


def public_text_config(name: str, attn_implementation: str = "sdpa") -> Any:
    """``LlamaConfig`` of one of ``PUBLIC_TEXT_CONFIGS``."""
    from transformers import LlamaConfig

    check_choice("name", name, tuple(PUBLIC_TEXT_CONFIGS))
    return LlamaConfig(**PUBLIC_TEXT_CONFIGS[name], attn_implementation=attn_implementation)


def tiny_configs(attn_implementation: str = "sdpa") -> dict[str, Any]:
    """Configs of the package's ``tiny`` language and vision models (:mod:`sftrl_repro.models.tiny`)."""
    from sftrl_repro.models.tiny import TinySpec, tiny_text_config, tiny_vision_config
    from sftrl_repro.models.tokenizer import train_tiny_tokenizer

    spec = TinySpec()
    tokenizer = train_tiny_tokenizer(spec.vocab_size)
    configs = {"tiny-language": tiny_text_config(tokenizer, spec), "tiny-vision": tiny_vision_config(tokenizer, spec)}
    for config in configs.values():
        config._attn_implementation = attn_implementation
        for sub in ("text_config", "vision_config"):
            if hasattr(config, sub):
                getattr(config, sub)._attn_implementation = attn_implementation
    return configs


def reference_models(scale: str) -> list[ReferenceModel]:
    """The models the notebook measures for ``scale``: always the tiny models (SDPA and eager,
    run on the CPU), plus the scale's own model: SmolLM2-135M's architecture (``small``, random
    weights on the CPU) or Llama-3.2-11B-Vision (``paper``, on the meta device)."""
    check_choice("scale", scale, SCALES)
    models = []
    for attn in ("sdpa", "eager"):
        for name, config in tiny_configs(attn).items():
            models.append(ReferenceModel(f"{name} ({attn})", config, "cpu", name.endswith("vision")))
    if scale == "small":
        models.append(ReferenceModel("SmolLM2-135M (sdpa)", public_text_config("SmolLM2-135M"), "cpu", False))
    if scale == "paper":
        models.append(ReferenceModel("Llama-3.2-11B-Vision (meta)", paper_model_config(), "meta", True))
    return models
