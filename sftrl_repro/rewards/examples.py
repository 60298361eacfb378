"""Real answers that exercise every GeneralPoints reward outcome, graded in both modes."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd

from sftrl_repro.games.cards import RANKS, card_values
from sftrl_repro.games.solver import one_solution
from sftrl_repro.prompts.gp import gp_answer
from sftrl_repro.rewards.gp import REWARD_MODES, verify_gp


def example_answers(cards: Sequence[str], *, rule: str = "id", target: int = 24) -> dict[str, str]:
    """One answer per case, built for this hand: ``{case name: answer text}``.

    Cases: correct (from the solver), a correct formula with misread cards, illegal formulas
    (unary minus, ``**``, unbalanced), a wrong value, numbers not from the cards, run-together
    digits, spaces, a correct formula that the authors' regex cannot read (no space after the
    colon), the same answer as valid JSON (their vision card check always fails it), and free text.
    """
    values = card_values(cards, rule)
    solution = one_solution(values, target)
    if solution is None:
        raise ValueError(f"cards={list(cards)!r} cannot make {target} under rule {rule!r}; pick a solvable hand")
    a, b, c, d = values
    spaced = "".join(f" {ch} " if ch in "+-*/" else ch for ch in solution)
    misread = [RANKS[(RANKS.index(cards[0]) + 1) % len(RANKS)], *cards[1:]]
    return {
        "correct": gp_answer(cards, values, f"{solution}={target}"),
        "correct formula, misread cards": gp_answer(misread, values, f"{solution}={target}"),
        "wrong value": gp_answer(cards, values, f"{a}+{b}+{c}+{d}={target}"),
        "a number not on the cards": gp_answer(cards, values, f"{a}*{b}+{c}+{d}+1={target}"),
        "a card unused": gp_answer(cards, values, f"{a}*{b}+{c}={target}"),
        "digits run together": gp_answer(cards, values, f"{a}{b}+{c}+{d}={target}"),
        "unary minus": gp_answer(cards, values, f"-{a}+{b}+{c}+{d}={target}"),
        "power operator": gp_answer(cards, values, f"{a}**{b}+{c}+{d}={target}"),
        "unbalanced bracket": gp_answer(cards, values, f"({a}+{b}*{c}+{d}={target}"),
        "spaces in the formula": gp_answer(cards, values, f"{spaced} = {target}"),
        "no space after the colon": gp_answer(cards, values, f"{solution}={target}").replace(
            '"formula": "', '"formula":"'),
        "valid JSON": json.dumps({"cards": list(cards), "number": list(values), "formula": f"{solution}={target}"}),
        "no formula key": f"The answer is {solution} = {target}.",
    }


def reward_table(cards: Sequence[str], *, rule: str = "id", target: int = 24) -> pd.DataFrame:
    """Every case of :func:`example_answers` graded in both modalities and both reward modes.

    Columns: ``case``, ``formula`` (as the parser reads it), and per (modality, mode) the outcome
    and reward, e.g. ``language/paper``.
    """
    from sftrl_repro.prompts.gp import parse_gp_answer

    rows = []
    for case, text in example_answers(cards, rule=rule, target=target).items():
        row = {"case": case, "formula": parse_gp_answer(text).formula}
        for modality in ("language", "vision"):
            for mode in REWARD_MODES:
                v = verify_gp(text, cards, rule=rule, target=target, modality=modality, mode=mode)
                row[f"{modality}/{mode}"] = f"{v.outcome} ({v.reward:+g})"
        rows.append(row)
    return pd.DataFrame(rows)
