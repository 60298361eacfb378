"""The V-IRL verifier: reward, outcome and feedback for one model answer (PAPER.md section 3).

Only the ``"action"`` field is graded, by exact match with the ground-truth action (after stripping
surrounding whitespace). A wrong action may instead count as a *detection failure*:

``"paper"`` (default): exactly one outcome per answer.

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

``"official"``: the authors' verifier as PAPER.md summarises it (reconstructed, not copied): the same
+1 / -1, but the detection check runs in *both* modalities, is a case-sensitive substring test of
``"intersection"`` in the answer's observation (the string ``"None"`` when the key is missing)
against the point's *landmark* text only (which never says "intersection", so any answer that
mentions an intersection is a detection failure, even at a real one), and never looks at landmarks.

The step limit (-1, :data:`STEP_LIMIT_REWARD`) is applied by the environment, not here.
"""

from __future__ import annotations

from typing import NamedTuple

from sftrl_repro.prompts.virl import MODALITIES, VIRLAnswer, output_format, parse_virl_answer, virl_feedback

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
            ending with the output format); ``""`` for a correct one.
        action: the action read from the answer (``None`` if the key is missing).
    """

    reward: float
    outcome: str
    feedback: str
    action: str | None


def says_intersection(observation: str | None) -> bool:
    """Whether an answer's observation claims an intersection (paper mode; negations excluded)."""
    if not observation:
        return False
    text = observation.lower()
    for phrase in _NEGATIONS:
        text = text.replace(phrase, "")
    return "intersection" in text


def _reason(what: str, avoid: str, modality: str) -> str:
    return virl_feedback(f"{what} Please avoid this {avoid} and try again in the same format:\n"
                         f"{output_format(modality)}")


def verify_virl(
    answer: str | VIRLAnswer,
    *,
    gt_action: str,
    landmark_observation: str,
    at_intersection: bool,
    landmark_name: str = "",
    modality: str = "language",
    mode: str = "paper",
) -> VIRLVerdict:
    """Grade one V-IRL answer at one rail point.

    Args:
        answer: the model's raw answer (parsed leniently, see ``prompts.virl.parse_virl_answer``) or a
            parsed :class:`~sftrl_repro.prompts.virl.VIRLAnswer`.
        gt_action: the ground-truth action of the point (``"forward()"``, ``"turn_direction(north)"``...).
        landmark_observation: the point's landmark text (``"No landmarks nearby"`` or ``"X is on your left"``).
        at_intersection: whether the point is a turning intersection.
        landmark_name: the name of the landmark seen at the point (``""`` if none).
        modality: ``"language"`` or ``"vision"``.
        mode: ``"paper"`` (default) or ``"official"``.

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
    parsed = answer if isinstance(answer, VIRLAnswer) else parse_virl_answer(answer)
    action = parsed.action
    if action is not None and action.strip() == gt_action:
        return VIRLVerdict(PAPER_REWARDS["correct"], "correct", "", action)

    def verdict(outcome: str, what: str) -> VIRLVerdict:
        avoid = "action" if outcome == "wrong_action" else "observation"
        return VIRLVerdict(PAPER_REWARDS[outcome], outcome, _reason(what, avoid, modality), action)

    if mode == "official":
        said = parsed.observation if parsed.observation is not None else "None"
        if "intersection" in said and "intersection" not in landmark_observation:
            return verdict("detection_failure", "you are not at any intersection.")
        if "intersection" not in said and "intersection" in landmark_observation:
            return verdict("detection_failure", "you are at an intersection.")
        return verdict("wrong_action", "you made an incorrect action.")

    if modality == "vision":
        claimed = says_intersection(parsed.observation)
        if claimed and not at_intersection:
            return verdict("detection_failure", "you are not at any intersection.")
        if at_intersection and not claimed:
            return verdict("detection_failure", "you are at an intersection.")
        if landmark_name and landmark_name.lower() not in (parsed.observation or "").lower():
            return verdict("detection_failure", "you did not recognize the landmark in the street views.")
    return verdict("wrong_action", "you made an incorrect action.")
