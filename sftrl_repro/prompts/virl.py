"""V-IRL prompts, the SFT answer template, the feedback turn and the answer parser (no torch).

The wording follows the authors' V-IRL prompt (PAPER.md section 3), so that models trained on their
format see the same input: the sections ``[Task Description]``, ``[Instruction]`` (numbered
sentences), ``[Observation format]`` (vision only: the 2x2 grid), ``[Action space]``,
``[Observations and actions sequence]`` (``O_i`` / ``A_i`` lines holding ground-truth actions only,
ending with the current observation and an empty ``A_n:``) and ``[Output]``, an object with the keys
``"current observation"``, ``"current instruction"`` and ``"action"`` whose template ends in a
trailing comma (not valid JSON). In vision, the current observation line does not describe the
landmarks (the image does), but says whether the point is an intersection, as the authors' does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sftrl_repro.games.virl.geometry import COMPASS, RELATIVE
from sftrl_repro.prompts.chat import Message, revision_conversation
from sftrl_repro.prompts.parsing import MAX_FIELD_CHARS, clip_answer, extract_string_field

#: Every feedback turn starts with this (the authors' wording, shared with GeneralPoints).
FEEDBACK_PREFIX = "You failed this trial because"
#: The keys of an answer, in template order; only ``"action"`` is graded.
ANSWER_KEYS: tuple[str, ...] = ("current observation", "current instruction", "action")
#: Said in the observation at a turning intersection (same text as ``games.virl.rail.INTERSECTION_SEEN``).
INTERSECTION_TEXT = "You observe an intersection"
ACTION_SPACES = ("absolute", "relative")
MODALITIES = ("language", "vision")

_QUOTES = "\"'\u201c\u201d\u2018\u2019"


def valid_actions(actions: str) -> tuple[str, ...]:
    """Every action of the ``"absolute"`` (10 actions) or ``"relative"`` (6 actions) action space."""
    directions = COMPASS if actions == "absolute" else RELATIVE
    return ("forward()", *(f"turn_direction({d})" for d in directions), "stop()")


def action_space_text(actions: str) -> str:
    """The ``[Action space]`` section body (the authors' wording)."""
    if actions == "absolute":
        choices = "any following 8 directions " + repr(list(COMPASS))
    else:
        choices = "any following " + repr(list(RELATIVE))
    return "\n".join([
        '"forward()": indicates moving forward one step',
        f'"turn_direction(x)": indicates adjust the ego agent direction towards x direction. x could be {choices}',
        '"stop()": indicates the navigation is finished.',
    ])


def numbered_instructions(sentences: Sequence[str]) -> str:
    """``"1. First, turn ...\\n2. Move forward ..."``: the ``[Instruction]`` section body."""
    return "\n".join(f"{i + 1}. {s}" for i, s in enumerate(sentences))


def observation_action_sequence(history: Sequence[tuple[str, str]], current_observation: str, *,
                                at_intersection: bool, modality: str) -> str:
    """The ``[Observations and actions sequence]`` section body.

    Args:
        history: ``(observation, ground-truth action)`` of every point already passed, oldest first.
        current_observation: the current point's observation text (language variant).
        at_intersection: whether the current point is a turning intersection (said in vision too).
        modality: ``"language"`` or ``"vision"``; in vision the current line points to the image.

    Returns:
        ``O_1: ...`` / ``A_1: ...`` lines, then ``O_n: <current>`` and an empty ``A_n:`` line.
    """
    lines = []
    for i, (observation, action) in enumerate(history):
        lines += [f"O_{i + 1}: {observation}", f"A_{i + 1}: {action}"]
    n = len(history) + 1
    if modality == "vision":
        current = f"You observe an image of 4 views; {INTERSECTION_TEXT if at_intersection else ''}"
    else:
        current = current_observation
    lines += [f"O_{n}: {current}", f"A_{n}: "]
    return "\n".join(lines)


def _output_section(modality: str) -> list[str]:
    source = "the street view grid" if modality == "vision" else "the observation sequence"
    return [
        "[Output]",
        "{",
        f'  "current observation": latest observation from {source},',
        '  "current instruction": analyze the full instruction and identify the sentence to be executed,',
        '  "action": the action to be taken chosen from the action space,',
        "}",
    ]


def virl_prompt(instructions: Sequence[str], history: Sequence[tuple[str, str]], current_observation: str, *,
                at_intersection: bool, actions: str, modality: str) -> str:
    """The user turn that asks for the action at the current rail point.

    Args:
        instructions: the route's instruction sentences, unnumbered.
        history: ``(observation, ground-truth action)`` of the points already passed.
        current_observation: the current point's observation text.
        at_intersection: whether the current point is a turning intersection.
        actions: ``"absolute"`` or ``"relative"`` (the action space described).
        modality: ``"language"`` or ``"vision"``.
    """
    vision = modality == "vision"
    observing = " while observing your surrounding street views" if vision else ""
    lines = [
        "[Task Description]",
        f"You are an expert in navigation. You will receive a sequence of instructions to follow{observing}. "
        "You are also provided with your observation and action history in text. Your goal is to first "
        "analyze the instruction and identify the next sentence to be executed. Then, you need to provide "
        "the action to be taken based on the current observation and instruction.",
        "",
        "[Instruction]",
        numbered_instructions(instructions),
        "",
    ]
    if vision:
        lines += [
            "[Observation format]",
            "You observe a 2x2 grid of streetview images with the following headings:",
            "[front, right",
            " back, left]",
            "You need to identify if any of the landmarks in the instruction are visible in the street view grid.",
            "",
        ]
    lines += [
        "[Action space]",
        action_space_text(actions),
        "",
        "[Observations and actions sequence]",
        observation_action_sequence(history, current_observation, at_intersection=at_intersection,
                                    modality=modality),
        "",
        *_output_section(modality),
    ]
    return "\n".join(lines)


def output_format(modality: str) -> str:
    """The ``[Output]`` block, repeated at the end of feedback turns (as the authors do)."""
    return "\n".join(_output_section(modality))


def virl_answer(observation: str, instruction: str, action: str) -> str:
    """An answer in the authors' template (SFT targets; trailing comma included on purpose).

    >>> print(virl_answer("No landmarks nearby; ", "Turn right to face north.", "turn_direction(north)"))
    {
      "current observation": "No landmarks nearby; ",
      "current instruction": "Turn right to face north.",
      "action": "turn_direction(north)",
    }
    """
    return "\n".join([
        "{",
        f'  "current observation": "{observation}",',
        f'  "current instruction": "{instruction}",',
        f'  "action": "{action}",',
        "}",
    ])


def virl_feedback(reason: str) -> str:
    """The user turn after a wrong answer: ``"You failed this trial because <reason>"``."""
    return f"{FEEDBACK_PREFIX} {reason}"


def virl_conversation(prompt: str, attempts: Sequence[tuple[str, str]], *, image: bool) -> list[Message]:
    """The chat at the current rail point: the prompt, then each wrong answer and its feedback turn.

    Args:
        prompt: the user turn of this point (:func:`virl_prompt`).
        attempts: ``(answer, feedback_text)`` of every wrong attempt at this point, oldest first.
        image: whether the prompt carries the street-view grid (vision; first turn only).

    Returns:
        ``[user(prompt), assistant(a1), user(f1), ...]``, always ending with a user turn.
    """
    return revision_conversation(prompt, attempts, image=image)


@dataclass(frozen=True)
class VIRLAnswer:
    """The fields of a model answer, as found in its text (``None`` = key absent).

    Attributes:
        observation: the ``"current observation"`` field, stripped, at most 512 characters.
        instruction: the ``"current instruction"`` field, stripped, at most 512 characters.
        action: the ``"action"`` field, stripped, at most 512 characters (graded by exact match).
    """

    observation: str | None
    instruction: str | None
    action: str | None


_KEY_PATTERNS = {key: re.compile(r"[\"'\u201c\u201d]?" + re.escape(key) + r"[\"'\u201c\u201d]?[ \t]*:[ \t]*",
                                 re.IGNORECASE) for key in ANSWER_KEYS}


def _free_text_field(text: str, key: str) -> str | None:
    """A field whose value is free text that may hold apostrophes (``"Joe's Pizza is on your left"``).

    ``extract_string_field`` ends a quoted value at the first quote character of any kind; here the
    value runs to the end of its line (one field per line, as in the template), or to the next key on
    a one-line answer, and one pair of enclosing quotes is removed. Bounded like ``prompts.parsing``.
    """
    match = _KEY_PATTERNS[key].search(text)
    if match is None:
        return None
    line = text[match.end():match.end() + MAX_FIELD_CHARS + 2].split("\n", 1)[0]
    lowered = line.lower()
    for other in ANSWER_KEYS:
        if other != key:
            for quote in "\"'":
                cut = lowered.find(quote + other)
                if cut > 0:
                    line, lowered = line[:cut], lowered[:cut]
    line = line.strip().rstrip(",}").rstrip().rstrip(",").rstrip()
    if line and line[0] in _QUOTES:
        line = line[1:]
        if line and line[-1] in _QUOTES:
            line = line[:-1]
    return line.strip()[:MAX_FIELD_CHARS]


def parse_virl_answer(text: object) -> VIRLAnswer:
    """Parse a model's answer leniently; total (never raises) and bounded (at most 4096 characters read).

    >>> parse_virl_answer('{"current observation": "Joe\\'s Pizza is on your left; ", "action": "forward()",}')
    VIRLAnswer(observation="Joe's Pizza is on your left;", instruction=None, action='forward()')
    """
    clipped = clip_answer(text)
    return VIRLAnswer(
        observation=_free_text_field(clipped, "current observation"),
        instruction=_free_text_field(clipped, "current instruction"),
        action=extract_string_field(clipped, "action"),
    )


def parse_action(text: object) -> str | None:
    """The ``"action"`` field of an answer (``None`` if absent); never raises."""
    return extract_string_field(clip_answer(text), "action")
