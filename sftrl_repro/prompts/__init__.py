"""Prompt and answer templates, feedback turns and total, bounded parsers of model output (no torch)."""

from sftrl_repro.prompts.chat import assistant_message, message_text, user_message
from sftrl_repro.prompts.gp import (
    FEEDBACK_PREFIX,
    PROMPT_STYLES,
    GPAnswer,
    gp_answer,
    gp_conversation,
    gp_feedback,
    gp_prompt,
    parse_gp_answer,
)
from sftrl_repro.prompts.virl import (
    VIRLAnswer,
    parse_virl_answer,
    virl_answer,
    virl_conversation,
    virl_feedback,
    virl_feedback_turn,
    virl_prompt,
)

__all__ = [
    "user_message",
    "assistant_message",
    "message_text",
    "FEEDBACK_PREFIX",
    "PROMPT_STYLES",
    "GPAnswer",
    "gp_prompt",
    "gp_answer",
    "gp_feedback",
    "gp_conversation",
    "parse_gp_answer",
    "VIRLAnswer",
    "virl_prompt",
    "virl_answer",
    "virl_feedback",
    "virl_feedback_turn",
    "virl_conversation",
    "parse_virl_answer",
]
