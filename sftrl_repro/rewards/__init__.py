"""Verifiers: the reward and the feedback message for one model answer (no torch)."""

from sftrl_repro.rewards.gp import (
    OFFICIAL_MAX_ANSWER_CHARS,
    PAPER_REWARDS,
    STEP_LIMIT_REWARD,
    GPVerdict,
    cards_match,
    numbers_field_correct,
    verify_gp,
)
from sftrl_repro.rewards.virl import VIRLVerdict, verify_virl

__all__ = ["OFFICIAL_MAX_ANSWER_CHARS", "PAPER_REWARDS", "STEP_LIMIT_REWARD", "GPVerdict", "cards_match", "numbers_field_correct", "verify_gp",
           "VIRLVerdict", "verify_virl"]
