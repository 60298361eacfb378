"""The SFT demonstrations of a task and variant by name: what notebooks and experiment specs call."""

from __future__ import annotations

from datasets import Dataset

from sftrl_repro.utils.params import check_choice

TASKS = ("gp", "virl")
#: ``l``: language (text) variant; ``vl``: vision-language variant.
VARIANTS = ("l", "vl")
MODALITY_OF_VARIANT = {"l": "language", "vl": "vision"}


def sft_dataset(task: str, variant: str, n: int, *, seed: int = 0, **kwargs) -> Dataset:
    """``n`` optimal single-turn demonstrations of ``task`` (``'gp'`` | ``'virl'``) x ``variant`` (``'l'`` | ``'vl'``).

    Extra keyword arguments go to :func:`~sftrl_repro.data.gp.gp_sft_dataset` or
    :func:`~sftrl_repro.data.virl.virl_sft_dataset` (e.g. ``image_size``).
    """
    check_choice("task", task, TASKS)
    modality = MODALITY_OF_VARIANT[check_choice("variant", variant, VARIANTS)]
    if task == "gp":
        from sftrl_repro.data.gp import gp_sft_dataset

        return gp_sft_dataset(n, modality=modality, seed=seed, **kwargs)
    from sftrl_repro.data.virl import virl_sft_dataset

    return virl_sft_dataset(n, modality=modality, seed=seed, **kwargs)
