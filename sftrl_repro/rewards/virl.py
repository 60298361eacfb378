"""The V-IRL verifier: reward, outcome and feedback for one model answer (paper Sec. 4.2 and App. B).

Two reward modes. Both give +1 for the ground-truth action and follow the feedback wording of the
authors' code (LeslieTrue/SFTvsRL @ 5a6ea55; see :mod:`sftrl_repro.prompts.virl`); they differ in how
the answer is read and when a wrong answer counts as a *detection failure*.

``"paper"`` (default): the paper's reward table, the package's lenient parser (any quotes, any spacing;
the action is compared after stripping surrounding whitespace). Exactly one outcome per answer:

=====================  =======  ==============================================================
outcome                reward   when
=====================  =======  ==============================================================
``correct``            +1       the action is the ground truth
``detection_failure``  -1.5     vision only, wrong action, and the ``"current observation"``
                                gets the intersection wrong (says "intersection" at a point that
                                is not a turning intersection, or does not say it at one;
                                "no intersection" / "not at an intersection" count as not saying
                                it) or does not name the landmark seen at this point
``wrong_action``       -1       any other answer: wrong, unknown or missing action
=====================  =======  ==============================================================

``"official"``: the authors' ``utils_rl.step_rewards_virl(raw, gt_action, gt_obs, gt_instruction)`` as
their ``NavigationEnvironment.step`` calls it, rule for rule (reconstructed, not copied):

* fields are read by their ``re_match`` (:func:`~sftrl_repro.prompts.virl.authors_virl_field`): the JSON
  value when the whole answer is JSON, else the first ``"action": "(.*?)"`` match (one space after the colon,
  double quotes), else ``"None"``;
* the action must **equal** the ground truth: no stripping, no case folding (+1, "Correct action.");
* otherwise, in both modalities: -1.5 "you are not at any intersection" when the answer's observation
  contains ``"intersection"`` (case-sensitive substring; list membership for a JSON list) and the
  ground-truth observation does not; -1.5 "you are at an intersection" for the reverse; else -1 "you make
  incorrect action". The ground-truth observation their env passes is the point's **landmark** text,
  which never says "You observe an intersection": an answer that repeats the shown observation at a
  real intersection with a wrong action gets -1.5 "you are not at any intersection";
* the answer's ``"current instruction"`` is never checked (their -1.75 never occurs).

Where the authors' code raises ``TypeError`` (the answer is JSON whose ``"current observation"`` is
``null``, a number or a boolean, and the action is wrong), the package reads that observation as absent
(``"None"``): -1 with the wrong-action feedback (-1.5 "you are at an intersection" if the landmark text
said "intersection"). :func:`authors_raise` tells whether their code would raise on an answer.

Answers are cut to :data:`~sftrl_repro.prompts.parsing.MAX_ANSWER_CHARS` characters before grading in
both modes (the authors' generations are at most 512 tokens). The step limit (-1,
:data:`STEP_LIMIT_REWARD`) is applied by the environment, not here.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sftrl_repro.prompts.virl import (
    MODALITIES,
    PROMPT_STYLES,
    VIRLAnswer,
    authors_virl_field,
    parse_virl_answer,
    virl_feedback_turn,
)

#: Rewards of the paper's table, by outcome.
PAPER_REWARDS: dict[str, float] = {"correct": 1.0, "wrong_action": -1.0, "detection_failure": -1.5}
#: Reward of a generation past the step limit (verification budget of a waypoint used up).
STEP_LIMIT_REWARD = -1.0
REWARD_MODES = ("paper", "official")

# Phrases that deny an intersection; removed before looking for the word (paper mode).
_NEGATIONS = ("no intersection", "not at an intersection", "not at any intersection", "not an intersection",
              "not at the intersection", "no intersections")


class VIRLVerdict(NamedTuple):
    """What the verifier says of one answer; unpacks as ``reward, outcome, feedback, action``.

    Attributes:
        reward: the scalar reward (see the module docstring).
        outcome: ``"correct"``, ``"wrong_action"`` or ``"detection_failure"``.
        feedback: the user turn that follows a wrong answer (``"You failed this trial because ..."``,
            see :func:`~sftrl_repro.prompts.virl.virl_feedback_turn`); ``""`` for a correct one.
        action: the action read from the answer (``None`` if the key is missing; official mode: the
            authors' reading, ``"None"`` when absent, any JSON value for a JSON answer).
    """

    reward: float
    outcome: str
    feedback: str
    action: Any


def says_intersection(observation: str | None) -> bool:
    """Whether an answer's observation claims an intersection (paper mode; negations excluded)."""
    if not observation:
        return False
    text = observation.lower()
    for phrase in _NEGATIONS:
        text = text.replace(phrase, "")
    return "intersection" in text


def _mentions_intersection(observation: Any) -> bool | None:
    """The authors' ``'intersection' in output_obs``; ``None`` where it raises ``TypeError``."""
    if isinstance(observation, (str, list, dict)):
        return "intersection" in observation
    return None


def authors_raise(answer: str, gt_action: str) -> bool:
    """Whether the authors' ``step_rewards_virl`` raises ``TypeError`` on this answer (see module docstring)."""
    if authors_virl_field(answer, "action") == gt_action:
        return False
    return _mentions_intersection(authors_virl_field(answer, "current observation")) is None


def _official(answer: str | VIRLAnswer, gt_action: str, landmark_observation: str) -> tuple[str, str, Any]:
    """``(outcome, message kind, action)`` by the authors' rule."""
    if isinstance(answer, VIRLAnswer):
        action = answer.action if answer.action is not None else "None"
        observation = answer.observation if answer.observation is not None else "None"
    else:
        action = authors_virl_field(answer, "action")
        if action == gt_action:
            return "correct", "", action
        observation = authors_virl_field(answer, "current observation")
    if action == gt_action:
        return "correct", "", action
    said = _mentions_intersection(observation)
    said = bool(said)  # their TypeError: read as absent ("None")
    truth = "intersection" in landmark_observation
    if said and not truth:
        return "detection_failure", "not_at_intersection", action
    if not said and truth:
        return "detection_failure", "at_intersection", action
    return "wrong_action", "wrong_action", action


def _paper(parsed: VIRLAnswer, gt_action: str, at_intersection: bool, landmark_name: str,
           modality: str) -> tuple[str, str]:
    """``(outcome, message kind)`` by the paper's table."""
    if parsed.action is not None and parsed.action.strip() == gt_action:
        return "correct", ""
    if modality == "vision":
        claimed = says_intersection(parsed.observation)
        if claimed and not at_intersection:
            return "detection_failure", "not_at_intersection"
        if at_intersection and not claimed:
            return "detection_failure", "at_intersection"
        if landmark_name and landmark_name.lower() not in (parsed.observation or "").lower():
            return "detection_failure", "missed_landmark"
    return "wrong_action", "wrong_action"


def verify_virl(
    answer: str | VIRLAnswer,
    *,
    gt_action: str,
    landmark_observation: str,
    at_intersection: bool,
    landmark_name: str = "",
    modality: str = "language",
    mode: str = "paper",
    prompt_style: str = "authors",
) -> VIRLVerdict:
    """Grade one V-IRL answer at one rail point.

    Args:
        answer: the model's raw answer, or a parsed :class:`~sftrl_repro.prompts.virl.VIRLAnswer`.
        gt_action: the ground-truth action of the point (``"forward()"``, ``"turn_direction(north)"``...).
        landmark_observation: the point's landmark text (``"No landmarks nearby"``, ``"No landmark nearby"``
            or ``"X is on your left"``): what the authors' env passes as the ground-truth observation.
        at_intersection: whether the point is a turning intersection (paper mode).
        landmark_name: the name of the landmark seen at the point (``""`` if none; paper mode, vision).
        modality: ``"language"`` or ``"vision"`` (the official reward ignores it, as theirs does).
        mode: ``"paper"`` (default) or ``"official"``.
        prompt_style: wording of the feedback turn: ``"authors"`` (default, theirs byte for byte) or
            ``"clean"``.

    Returns:
        A :class:`VIRLVerdict`. Never raises on any answer (malformed, huge, non-string).

    >>> verify_virl('{"action": "forward()",}', gt_action="forward()",
    ...             landmark_observation="No landmarks nearby", at_intersection=False).reward
    1.0
    """
    if mode not in REWARD_MODES:
        raise ValueError(f"mode={mode!r} is not valid; choose one of: 'paper', 'official'")
    if modality not in MODALITIES:
        raise ValueError(f"modality={modality!r} is not valid; choose one of: 'language', 'vision'")
    if prompt_style not in PROMPT_STYLES:
        raise ValueError(f"prompt_style={prompt_style!r} is not valid; choose one of: 'authors', 'clean'")
    if mode == "official":
        outcome, kind, action = _official(answer, gt_action, landmark_observation)
    else:
        parsed = answer if isinstance(answer, VIRLAnswer) else parse_virl_answer(answer)
        outcome, kind = _paper(parsed, gt_action, at_intersection, landmark_name, modality)
        action = parsed.action
    feedback = virl_feedback_turn(kind, modality=modality, prompt_style=prompt_style) if kind else ""
    return VIRLVerdict(PAPER_REWARDS[outcome], outcome, feedback, action)
