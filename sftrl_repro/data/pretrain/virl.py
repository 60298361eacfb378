"""Instruction following for the tiny base (text): route directions in formats of the package's own.

A synthetic route (2-4 legs, no city, no V-IRL route) is described by numbered sentences that
name each turn twice, as a relative turn and as a compass heading, in one of several wordings; an
observation history says what was seen at each point and which action was taken; the question
asks for the action at the current point in a stated action vocabulary (compass names, compass
abbreviations or relative turns) and syntax (three sets of action words). The skills: find the
sentence being executed, match the landmark seen at an intersection with the one the directions
name (other landmarks are distractors), and copy the turn in the vocabulary asked for. The answer
is the V-IRL answer object (current observation, current instruction, action).
"""

from __future__ import annotations

import random

from sftrl_repro.games.virl.geometry import COMPASS, relative_turn
from sftrl_repro.prompts.virl import virl_answer

ABBREVIATIONS = dict(zip(COMPASS, ("N", "NE", "E", "SE", "S", "SW", "W", "NW")))
RELATIVE_WORDS = ("left", "right", "slightly left", "slightly right")
VOCABULARIES = ("absolute", "abbreviated", "relative")
#: Action syntaxes: (forward, turn template, stop).
SYNTAXES: tuple[tuple[str, str, str], ...] = (
    ("forward()", "turn_direction({})", "stop()"),
    ("move()", "turn({})", "halt()"),
    ("go_straight", "rotate:{}", "done"),
)
_ADJ = ("Red", "Quiet", "Tall", "Little", "Sunny", "Old", "Green", "Bright", "Hidden", "Grand", "Rusty",
        "Silent", "Happy", "Lazy", "Windy", "Stone", "Paper", "Iron", "Velvet", "Crystal", "Marble", "Purple")
_NOUN = ("Bakery", "Library", "Clinic", "Bistro", "Tea House", "Garage", "Gym", "Florist", "Post Office",
         "Toy Shop", "Barber", "Deli", "Church", "Tower", "Fountain", "Bridge", "Arcade", "Laundry",
         "Tailor", "Kiosk", "Studio", "Market Hall")
_SIDES = ("left", "right", "left front", "right front", "left behind", "right behind")


def landmark_name(rng: random.Random) -> str:
    return f"{rng.choice(_ADJ)} {rng.choice(_NOUN)}"


def _turn_sentence(style: int, rel: str, abs_: str, first: bool) -> str:
    head = "First, " if first else ""
    if style == 0:
        return f"{head}{'t' if first else 'T'}urn {rel} to face {abs_}." if not first else f"First, turn {rel} to face {abs_}."
    if style == 1:
        return f"{head}{'f' if first else 'F'}ace {abs_} by turning {rel}."
    return f"{head}{'m' if first else 'M'}ake a {rel} turn, so that you head {abs_}."


def _move_sentence(style: int, landmark: str, last: bool) -> str:
    if style == 0:
        return (f"Go straight until you arrive at {landmark}, your destination." if last
                else f"Go straight until you reach the crossing where {landmark} is.")
    if style == 1:
        return (f"Walk on until you reach {landmark}, then stop." if last
                else f"Walk on until {landmark} appears at a junction.")
    return (f"Continue ahead to the end at {landmark}." if last
            else f"Continue ahead to the intersection by {landmark}.")


def route_example(rng: random.Random) -> tuple[str, str]:
    """One question about one point of a synthetic route (see the module docstring)."""
    n_legs = rng.randint(2, 4)
    heading = rng.randrange(360)
    legs = []  # (compass name, relative word, landmark)
    current = rng.randrange(8) * 45
    names: set[str] = set()
    for k in range(n_legs):
        if k:
            current = (current + rng.choice((90, -90, 90, -90, 45, -45, 135, -135))) % 360
        rel = relative_turn(heading, current)
        while (name := landmark_name(rng)) in names:
            pass
        names.add(name)
        legs.append((COMPASS[current // 45], rel, name))
        heading = current
    style = rng.randrange(3)
    sentences = []
    for k, (abs_, rel, name) in enumerate(legs):
        sentences.append(_turn_sentence(style, rel, abs_, k == 0 and n_legs > 1))
        sentences.append(_move_sentence(style, name, k == n_legs - 1))
    vocab = rng.choice(VOCABULARIES)
    fwd, turn, stop = rng.choice(SYNTAXES)

    def turn_to(leg: int) -> str:
        abs_, rel, _ = legs[leg]
        word = {"absolute": abs_, "abbreviated": ABBREVIATIONS[abs_], "relative": rel}[vocab]
        return turn.format(word)

    quiet = rng.choice(("Nothing notable", "No landmark in sight"))
    crossing = rng.choice(("at an intersection", "a crossing is here"))
    # The rail: (observation, action, index of the sentence being executed).
    points = [(quiet, turn_to(0), 0)]
    for k, (_, _, name) in enumerate(legs):
        for _ in range(rng.randint(0, 2)):
            if rng.random() < 0.35:
                while (other := landmark_name(rng)) in names:
                    pass
                obs = f"{other} is on your {rng.choice(_SIDES)}"
            else:
                obs = quiet
            points.append((obs, fwd, 2 * k + 1))
        seen = f"{name} is on your {rng.choice(_SIDES)}"
        if k < n_legs - 1:
            points.append((f"{seen}; {crossing}", turn_to(k + 1), 2 * k + 2))
        else:
            points.append((seen, stop, 2 * k + 1))
    now = rng.randrange(len(points))
    if vocab == "absolute":
        words = list(COMPASS)
    elif vocab == "abbreviated":
        words = list(ABBREVIATIONS.values())
    else:
        words = list(RELATIVE_WORDS)
    history = "\n".join(f"{i + 1}: {obs} => {act}" for i, (obs, act, _) in enumerate(points[:now])) or "(nothing yet)"
    prompt = "\n".join([
        "Directions:",
        *(f"{i + 1}. {s}" for i, s in enumerate(sentences)),
        "",
        f"Actions: {fwd} | {turn.format('x')} with x in {words!r} | {stop}",
        "",
        "So far:",
        history,
        f"Now: {points[now][0]}",
        "",
        "Reply with the current observation, the current instruction and the action.",
    ])
    obs, action, sentence = points[now]
    return prompt, virl_answer(obs, sentences[sentence], action)
