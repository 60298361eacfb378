"""Shared pytest set-up: keep torch (where a test uses it) to one thread per xdist worker."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


import sys

import pytest


@pytest.fixture(autouse=True)
def _no_full_tiny_base_pretraining(monkeypatch):
    """A test that would pretrain the full tiny base (minutes: ``load_policy("tiny", ...)`` or a
    command line without ``base="random"``) fails at once with a clear message instead of making CI
    slow. Tests that build a base on purpose use a micro config (a few steps), which is allowed.
    (Notebook kernels under nbval are separate processes and unaffected; they honour SFTRL_SMOKE.)"""
    if "torch" not in sys.modules:  # nothing can reach pretraining without torch; keep fast tests fast
        return
    import sftrl_repro.trainers.pretrain as pretrain

    real = pretrain.pretrained_base

    def guarded(modality, *args, **kwargs):
        config = pretrain.default_config(modality, kwargs.get("spec"),
                                         recipe=kwargs.get("recipe", pretrain.DEFAULT_RECIPE))
        if config.steps > 50:
            raise RuntimeError(f"this test would pretrain the full tiny {modality} base ({config.steps} steps); "
                               "pass base='random' (load_policy) or --base random (command lines)")
        return real(modality, *args, **kwargs)

    monkeypatch.setattr(pretrain, "pretrained_base", guarded)
