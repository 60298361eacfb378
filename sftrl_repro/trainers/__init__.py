"""Trainers: SFT (TRL's ``SFTTrainer``) and RL (the package's multi-turn PPO, batched rollouts).

Submodules are imported on first use (``from sftrl_repro.trainers.sft import train_sft``), so that
importing the package does not pull in TRL.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "SFTRunConfig": "sftrl_repro.trainers.sft",
    "SFTResult": "sftrl_repro.trainers.sft",
    "CheckpointRecord": "sftrl_repro.trainers.sft",
    "train_sft": "sftrl_repro.trainers.sft",
    "sft_run_config": "sftrl_repro.trainers.sft",
    "read_sft_result": "sftrl_repro.trainers.sft",
    "read_metrics": "sftrl_repro.trainers.sft",
    "PPOConfig": "sftrl_repro.trainers.ppo",
    "PPOTrainer": "sftrl_repro.trainers.ppo",
    "compute_gae": "sftrl_repro.trainers.ppo",
    "ppo_losses": "sftrl_repro.trainers.ppo",
    "Transition": "sftrl_repro.trainers.rollout",
    "collect": "sftrl_repro.trainers.rollout",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sftrl_repro.trainers' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
