"""The ``tiny`` scale: the paper's architectures in miniature, built from configs (no download).

* language: a ``LlamaForCausalLM`` (Llama 3's text architecture);
* vision: a ``MllamaForConditionalGeneration``, Llama-3.2-Vision's architecture: a ViT with local
  and global encoder layers over one image tile, a projector, and a text decoder whose
  cross-attention layers read the image; the same code path as the ``paper`` scale.

Both use the tokenizer of :mod:`sftrl_repro.models.tokenizer`. The default sizes (under 2M
parameters) make an SFT step on a batch of 16 GeneralPoints prompts take well under a second on
two CPU cores; every size is a field of :class:`TinySpec`. These are the sizes of a *random* tiny
model (``load_policy(..., base='random')``, fast tests); the pretrained tiny base that
``load_policy`` returns by default is larger (:data:`sftrl_repro.trainers.pretrain.BASE_SPEC`:
width 256, 4 layers, 3.7M parameters for text) and is built by :mod:`sftrl_repro.trainers.pretrain`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    MllamaConfig,
    MllamaForConditionalGeneration,
    MllamaProcessor,
    PreTrainedTokenizerFast,
)
from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil

from sftrl_repro.models.chat_templates import LLAMA3_TEMPLATE
from sftrl_repro.models.tokenizer import IMAGE, train_tiny_tokenizer


@dataclass(frozen=True)
class TinySpec:
    """Sizes of the tiny models.

    Attributes:
        vocab_size: BPE vocabulary budget of the tokenizer; the embedding has ``len(tokenizer)``
            rows rounded up to a multiple of 64.
        hidden_size: width of the text decoder.
        intermediate_size: width of the decoder's SwiGLU MLP.
        num_layers: self-attention layers of the text decoder (both modalities).
        num_heads: attention heads (query and key/value: no grouped-query attention at this size).
        max_positions: longest sequence (prompt + every attempt of a 5-attempt episode fits).
        cross_attention_layers: indices, in the vision decoder's stack of
            ``num_layers + len(cross_attention_layers)`` layers, of the cross-attention layers that
            read the image (Llama-3.2-Vision puts one after every four self-attention layers).
        image_size: side of the (square) image, one tile; GeneralPoints renders its table at this size.
        patch_size: ViT patch side; ``(image_size / patch_size) ** 2`` patches plus a class token.
        vision_hidden_size: width of the ViT.
        vision_layers: local ViT encoder layers.
        vision_global_layers: global (gated) ViT encoder layers after the local ones.
        vision_heads: ViT attention heads.
        vision_intermediate_layers: local layers whose outputs are concatenated to the ViT output
            (as Llama-3.2-Vision does with 5 of its 32 layers).
    """

    vocab_size: int = 1024
    hidden_size: int = 128
    intermediate_size: int = 384
    num_layers: int = 4
    num_heads: int = 4
    max_positions: int = 2048
    cross_attention_layers: tuple[int, ...] = (1, 4)
    image_size: int = 96
    patch_size: int = 8
    vision_hidden_size: int = 64
    vision_layers: int = 2
    vision_global_layers: int = 1
    vision_heads: int = 4
    vision_intermediate_layers: tuple[int, ...] = field(default=(0,))


def _embedding_rows(tokenizer: PreTrainedTokenizerFast) -> int:
    return -(-len(tokenizer) // 64) * 64


def tiny_text_config(tokenizer: PreTrainedTokenizerFast, spec: TinySpec = TinySpec()) -> LlamaConfig:
    """The ``LlamaConfig`` of the tiny language model for ``tokenizer``."""
    return LlamaConfig(
        vocab_size=_embedding_rows(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_heads,
        max_position_embeddings=spec.max_positions,
        # Llama 3's RoPE base and norm epsilon, the values of Mllama's text config: the vision base's
        # text decoder starts from the text base's weights, so both must compute the same function.
        rope_theta=500000.0,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def tiny_vision_config(tokenizer: PreTrainedTokenizerFast, spec: TinySpec = TinySpec()) -> MllamaConfig:
    """The ``MllamaConfig`` of the tiny vision-language model for ``tokenizer``."""
    n_out = len(spec.vision_intermediate_layers) + 1  # the final output + the intermediate ones
    vision = dict(
        hidden_size=spec.vision_hidden_size,
        num_hidden_layers=spec.vision_layers,
        num_global_layers=spec.vision_global_layers,
        attention_heads=spec.vision_heads,
        intermediate_size=4 * spec.vision_hidden_size,
        vision_output_dim=n_out * spec.vision_hidden_size,
        image_size=spec.image_size,
        patch_size=spec.patch_size,
        max_num_tiles=1,
        supported_aspect_ratios=[[1, 1]],
        intermediate_layers_indices=list(spec.vision_intermediate_layers),
    )
    text = dict(
        vocab_size=_embedding_rows(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers + len(spec.cross_attention_layers),
        cross_attention_layers=list(spec.cross_attention_layers),
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_heads,
        max_position_embeddings=spec.max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return MllamaConfig(
        vision_config=vision, text_config=text, image_token_index=tokenizer.convert_tokens_to_ids(IMAGE)
    )


def mllama_processor(tokenizer: PreTrainedTokenizerFast, image_size: int) -> MllamaProcessor:
    """Mllama's processor with one square tile of ``image_size`` pixels and the package's template."""
    # The PIL image processor: the default one needs torchvision, which the package does not install.
    image_processor = MllamaImageProcessorPil(size={"height": image_size, "width": image_size}, max_image_tiles=1)
    tokenizer.chat_template = LLAMA3_TEMPLATE
    return MllamaProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=LLAMA3_TEMPLATE)


def build_tiny(modality: str, spec: TinySpec = TinySpec(), *, seed: int = 0):
    """A freshly initialised tiny model and its tokenizer (language) or processor (vision).

    Args:
        modality: ``'language'`` (``LlamaForCausalLM``) or ``'vision'`` (``MllamaForConditionalGeneration``).
        spec: the sizes.
        seed: seed of the weight initialisation (the global torch RNG is left as it was).

    Returns:
        ``(model, processor)``: the model in float32 on the CPU, in eval mode; ``processor`` is the
        tokenizer for language, an ``MllamaProcessor`` for vision.
    """
    tokenizer = train_tiny_tokenizer(spec.vocab_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if modality == "vision":
            model = MllamaForConditionalGeneration(tiny_vision_config(tokenizer, spec))
            processor = mllama_processor(tokenizer, spec.image_size)
        else:
            model = LlamaForCausalLM(tiny_text_config(tokenizer, spec))
            processor = tokenizer
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval(), processor
