"""Verifiers: the reward and the feedback message for one model answer (no torch)."""

from sftrl_repro.rewards.gp import (
    PAPER_REWARDS,
    STEP_LIMIT_REWARD,
    GPVerdict,
    cards_match,
    numbers_field_correct,
    verify_gp,
)

__all__ = ["PAPER_REWARDS", "STEP_LIMIT_REWARD", "GPVerdict", "cards_match", "numbers_field_correct", "verify_gp"]
