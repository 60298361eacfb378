"""V-IRL prompts, the SFT answer template, the feedback turns and the answer parsers (no torch).

``prompt_style="authors"`` (the default everywhere) gives the authors' texts byte for byte: their
``Q_VIRL_L`` / ``Q_VIRL_VL`` (``prompt_lib/prompts.py`` of LeslieTrue/SFTvsRL @ 5a6ea55) formatted as
their trainer does (``LlamaTrainer.formulate_prompt``: ``instruction`` = the env's numbered
``global_instruction``, one ``"<i>. <sentence>\n"`` line per sentence; ``action_space`` = their
``set_str_action_space``; ``obs_act_seq`` = their ``get_observation_action_sequence``). Their quirks are
kept: the prompt starts with ``"\n"``, has a line break after "to follow. You", a space before a line
break after "to be executed.", two empty lines before ``[Action space]`` and ``[Output]``, the VL typo
"stree tviews", and an ``[Output]`` template with a trailing comma (not JSON). In the observation
sequence every line ends with ``"\n"``; past points show their oracle text (``"<landmark>; <intersection>"``),
the current one too in language, while in vision it is ``"You observe an image of 4 views; "`` plus
``"You observe an intersection"`` when the current oracle text says so. The answer template is their
``ResponseVIRL`` (leading and trailing newline, trailing comma). The feedback turn after a wrong answer is
``"You failed this trial because " + <Verify Info>``, where their Verify Info is the verifier's message
plus an ``[Output]`` block that is never passed through ``format``: it keeps the doubled braces
``{{`` / ``}}`` and says "streetview grid" in both modalities, and it ends with ``"."``.

``prompt_style="clean"`` is the package's earlier, tidier wording (no leading newline, no typo, one empty
line between sections, the feedback's ``[Output]`` block with single braces and the modality's own
wording); an explicit option, never the default.

Parsing: :func:`authors_virl_field` is the authors' ``re_match`` rule (``json.loads(text)[key]``, else the
first match of ``"key": "(.*?)"``, else the string ``"None"``), used by the ``official`` verifier;
:func:`parse_virl_answer` is the package's lenient parser (any quotes, any spacing), used by ``paper``.
Neither ever evaluates model output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
#: ``"authors"``: their texts byte for byte (default); ``"clean"``: the package's tidier wording.
PROMPT_STYLES = ("authors", "clean")

_TASK_HEAD = ("\n[Task Description]\nYou are an expert in navigation. You will receive a sequence of instructions "
              "to follow")
_TASK_TAIL = (". You\nare also provided with your observation and action history in text. Your goal is to first "
              "analyze the instruction and identify the next sentence to be executed. \nThen, you need to "
              "provide the action to be taken based on the current observation and instruction.\n\n"
              "[Instruction]\n{instruction}\n")
_AUTHORS_OUTPUT = ('[Output]\n{{\n  "current observation": latest observation from the {source},\n'
                   '  "current instruction": analyze the full instruction and identify the sentence to be executed,\n'
                   '  "action": the action to be taken chosen from the action space,\n}}\n')
_ACTION_AND_SEQUENCE = "[Action space]\n{action_space}\n\n[Observations and actions sequence]\n{obs_act_seq}\n"

#: The authors' ``Q_VIRL_L`` (fields ``instruction``, ``action_space``, ``obs_act_seq``).
Q_VIRL_L = (_TASK_HEAD + _TASK_TAIL + "\n" + _ACTION_AND_SEQUENCE + "\n"
            + _AUTHORS_OUTPUT.replace("{source}", "observation sequence"))
#: The authors' ``Q_VIRL_VL``, typo included ("stree tviews").
Q_VIRL_VL = (_TASK_HEAD + " while observing your surrounding stree tviews" + _TASK_TAIL + "\n"
             "[Observation format]\nYou observe a 2x2 grid of streetview images with the following headings:\n"
             "[front, right\n back, left]\nYou need to identify if any of the landmarks in the instruction are "
             "visible in the street view grid.\n\n" + _ACTION_AND_SEQUENCE + "\n"
             + _AUTHORS_OUTPUT.replace("{source}", "street view grid"))
#: The authors' ``ResponseVIRL`` (fields ``current_observation``, ``current_instruction``, ``action``).
RESPONSE_VIRL = ('\n{{\n  "current observation": "{current_observation}",\n'
                 '  "current instruction": "{current_instruction}",\n  "action": "{action}",\n}}\n')
#: The ``[Output]`` block the authors' verifier appends to its messages, never formatted: doubled braces.
AUTHORS_FEEDBACK_FORMAT = ('\n[Output]\n{{\n  "current observation": latest observation from the streetview grid,\n'
                           '  "current instruction": analyze the full instruction and identify the sentence to be '
                           'executed,\n  "action": the action to be taken chosen from the action space,\n}}')
#: The verifier's messages (the authors' wording; ``missed_landmark`` is the package's paper-mode check).
VERIFY_MESSAGES: dict[str, str] = {
    "wrong_action": "you make incorrect action. Please avoid this action and try again in the same format:",
    "not_at_intersection": ("you are not at any intersection. Please avoid this observation and try again in the "
                            "same format:"),
    "at_intersection": "you are at an intersection. Please avoid this observation and try again in the same format:",
    "missed_landmark": ("you did not recognize the landmark in the street views. Please avoid this observation "
                        "and try again in the same format:"),
}
#: The authors' env's Verify Info for a call past the step limit (no feedback turn follows it).
STEP_LIMIT_INFO = "Exceed maximum verify steps"

_QUOTES = "\"'\u201c\u201d\u2018\u2019"


def _check_style(style: str) -> str:
    if style not in PROMPT_STYLES:
        raise ValueError(f"prompt_style={style!r} is not valid; choose one of: 'authors', 'clean'")
    return style


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


def numbered_instructions(sentences: Sequence[str], *, prompt_style: str = "authors") -> str:
    """The ``[Instruction]`` section body: ``"1. First, turn ...\\n2. Move forward ...\\n"``.

    ``"authors"``: every line ends with ``"\\n"``, the last one too (their ``global_instruction``);
    ``"clean"``: lines joined by ``"\\n"``.
    """
    lines = [f"{i + 1}. {s}" for i, s in enumerate(sentences)]
    if _check_style(prompt_style) == "authors":
        return "".join(line + "\n" for line in lines)
    return "\n".join(lines)


def observation_action_sequence(history: Sequence[tuple[str, str]], current_observation: str, *,
                                at_intersection: bool, modality: str, prompt_style: str = "authors") -> str:
    """The ``[Observations and actions sequence]`` section body.

    Args:
        history: ``(observation, ground-truth action)`` of every point already passed, oldest first.
        current_observation: the current point's oracle text (``"<landmark>; <intersection>"``).
        at_intersection: whether the current point is a turning intersection (``"clean"`` vision only;
            the authors look for ``"You observe an intersection"`` in ``current_observation``).
        modality: ``"language"`` or ``"vision"``; in vision the current line points to the image.
        prompt_style: ``"authors"`` (every line ends with ``"\\n"``) or ``"clean"``.

    Returns:
        ``O_1: ...`` / ``A_1: ...`` lines, then ``O_n: <current>`` and an empty ``A_n:`` line.
    """
    authors = _check_style(prompt_style) == "authors"
    lines = []
    for i, (observation, action) in enumerate(history):
        lines += [f"O_{i + 1}: {observation}", f"A_{i + 1}: {action}"]
    n = len(history) + 1
    if modality == "vision":
        seen = INTERSECTION_TEXT in current_observation if authors else at_intersection
        current = f"You observe an image of 4 views; {INTERSECTION_TEXT if seen else ''}"
    else:
        current = current_observation
    lines += [f"O_{n}: {current}", f"A_{n}: "]
    return "".join(line + "\n" for line in lines) if authors else "\n".join(lines)


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
                at_intersection: bool, actions: str, modality: str, prompt_style: str = "authors") -> str:
    """The user turn that asks for the action at the current rail point.

    Args:
        instructions: the route's instruction sentences, unnumbered.
        history: ``(oracle observation, ground-truth action)`` of the points already passed.
        current_observation: the current point's oracle text (``"<landmark>; <intersection>"``).
        at_intersection: whether the current point is a turning intersection.
        actions: ``"absolute"`` or ``"relative"`` (the action space described).
        modality: ``"language"`` or ``"vision"``.
        prompt_style: ``"authors"`` (default: ``Q_VIRL_L`` / ``Q_VIRL_VL`` byte for byte) or ``"clean"``.
    """
    if _check_style(prompt_style) == "authors":
        template = Q_VIRL_VL if modality == "vision" else Q_VIRL_L
        return template.format(
            instruction=numbered_instructions(instructions),
            action_space=action_space_text(actions),
            obs_act_seq=observation_action_sequence(history, current_observation, at_intersection=at_intersection,
                                                    modality=modality))
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
        numbered_instructions(instructions, prompt_style="clean"),
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
                                    modality=modality, prompt_style="clean"),
        "",
        *_output_section(modality),
    ]
    return "\n".join(lines)


def output_format(modality: str) -> str:
    """The ``[Output]`` block of the ``"clean"`` prompt (single braces, the modality's wording)."""
    return "\n".join(_output_section(modality))


def virl_answer(observation: str, instruction: str, action: str, *, prompt_style: str = "authors") -> str:
    """An answer in the authors' ``ResponseVIRL`` template (SFT targets; trailing comma included).

    ``"authors"``: with their leading and trailing newline; ``"clean"``: without them.

    >>> print(virl_answer("No landmarks nearby; ", "Turn right to face north.", "turn_direction(north)").strip())
    {
      "current observation": "No landmarks nearby; ",
      "current instruction": "Turn right to face north.",
      "action": "turn_direction(north)",
    }
    """
    text = RESPONSE_VIRL.format(current_observation=observation, current_instruction=instruction, action=action)
    return text if _check_style(prompt_style) == "authors" else text[1:-1]


def virl_feedback(reason: str) -> str:
    """The user turn after a wrong answer: ``"You failed this trial because <reason>"``."""
    return f"{FEEDBACK_PREFIX} {reason}"


def virl_verify_info(kind: str, *, modality: str = "language", prompt_style: str = "authors") -> str:
    """The verifier's message for a wrong answer (the authors' Verify Info), ``kind`` a key of
    :data:`VERIFY_MESSAGES`.

    ``"authors"``: ``message + AUTHORS_FEEDBACK_FORMAT + "."`` (doubled braces, "streetview grid"), exactly
    their ``aggregate_fn`` output; ``"clean"``: ``message``, a newline and the modality's ``[Output]`` block.
    """
    message = VERIFY_MESSAGES[kind]
    if _check_style(prompt_style) == "authors":
        return message + AUTHORS_FEEDBACK_FORMAT + "."
    return f"{message}\n{output_format(modality)}"


def virl_feedback_turn(kind: str, *, modality: str = "language", prompt_style: str = "authors") -> str:
    """The user turn after a wrong answer: ``"You failed this trial because " + virl_verify_info(...)``.

    >>> virl_feedback_turn("wrong_action").endswith("chosen from the action space,\\n}}.")
    True
    """
    return virl_feedback(virl_verify_info(kind, modality=modality, prompt_style=prompt_style))


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


#: The authors' regular expressions (``RE_PATTERN_DICT`` of their ``utils_general.py``): one space after
#: the colon, double quotes, no newline inside, the first match wins.
AUTHORS_PATTERNS: dict[str, re.Pattern] = {key: re.compile('"' + key + '": "(.*?)"') for key in ANSWER_KEYS}


def authors_virl_field(text: object, key: str) -> Any:
    """A field of an answer by the authors' rule (their ``re_match``), used by the ``official`` verifier.

    ``json.loads(text)[key]`` when the whole answer is JSON holding the key (then any JSON value: a
    string, ``None``, a number, a list...); otherwise the first match of ``"key": "(.*?)"`` (exactly one
    space after the colon, double quotes, on one line); otherwise the string ``"None"``. Total: never
    raises, never evaluates; reads at most :data:`~sftrl_repro.prompts.parsing.MAX_ANSWER_CHARS` characters.

    >>> authors_virl_field('{"action": "forward()",}', "action"), authors_virl_field("{'action': 'stop()'}", "action")
    ('forward()', 'None')
    """
    text = clip_answer(text)
    try:
        return json.loads(text)[key]
    except Exception:  # not JSON, not an object, no such key (their bare except)
        pass
    match = AUTHORS_PATTERNS[key].search(text)
    return match.group(1) if match else "None"


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
