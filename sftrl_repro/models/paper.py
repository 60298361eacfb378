"""The ``paper`` scale: Llama-3.2-11B-Vision-Instruct (hub id or local path), bf16, SDPA attention.

The paper trains this one backbone on all four tasks, text tasks included, so the ``paper`` scale
loads the vision-language model for both modalities (a text-only conversation simply skips the
cross-attention layers). Its code path after loading is the ``tiny`` vision path at full size; the
tests check it with a small Mllama checkpoint saved to disk.

The hub checkpoint is gated: accept Meta's licence on Hugging Face and log in
(``huggingface-cli login``), or pass a local folder. Under DeepSpeed ZeRO-3 load the model after
the training arguments exist (the SFT trainer does), so that transformers shards it at load time.
"""

from __future__ import annotations

import torch
from transformers import MllamaForConditionalGeneration, MllamaProcessor

from sftrl_repro.models.chat_templates import LLAMA3_TEMPLATE

PAPER_MODEL = "meta-llama/Llama-3.2-11B-Vision-Instruct"


def build_paper(name_or_path: str = PAPER_MODEL, *, dtype: torch.dtype = torch.bfloat16):
    """``(MllamaForConditionalGeneration, MllamaProcessor)`` from a hub id or a local folder.

    Args:
        name_or_path: ``meta-llama/Llama-3.2-11B-Vision-Instruct`` (default) or a folder holding an
            Mllama checkpoint and its processor.
        dtype: weight dtype (bf16, as the paper trains).
    """
    model = MllamaForConditionalGeneration.from_pretrained(name_or_path, dtype=dtype, attn_implementation="sdpa")
    processor = MllamaProcessor.from_pretrained(name_or_path)
    processor.chat_template = LLAMA3_TEMPLATE
    processor.tokenizer.chat_template = LLAMA3_TEMPLATE
    tokenizer = processor.tokenizer
    if tokenizer.pad_token is None:
        # Llama 3 reserves <|finetune_right_pad_id|> (128004) for padding; the config names it.
        pad_id = model.config.text_config.pad_token_id
        tokenizer.pad_token = tokenizer.convert_ids_to_tokens(pad_id) if pad_id is not None else tokenizer.eos_token
    eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
    eos = model.generation_config.eos_token_id
    eos = [eos] if isinstance(eos, int) else list(eos or [])
    model.generation_config.eos_token_id = eos + [eot] if eot not in eos else eos
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval(), processor
