"""Statistics of the GeneralPoints hand space, from the exact solver (no sampling, no torch)."""

from __future__ import annotations

import itertools

import pandas as pd

from sftrl_repro.games.cards import FACE_RANKS, RANKS, RULES, card_values
from sftrl_repro.games.solver import solve


def hand_space(target: int = 24) -> pd.DataFrame:
    """One row per (rank multiset, rule): ``hand``, ``rule``, ``has_face``, ``n_solutions``.

    1820 multisets x 2 rules = 3640 rows; ``n_solutions`` counts distinct canonical formulas.
    """
    rows = []
    for hand in itertools.combinations_with_replacement(RANKS, 4):
        has_face = any(r in FACE_RANKS for r in hand)
        for rule in RULES:
            rows.append({"hand": " ".join(hand), "rule": rule, "has_face": has_face,
                         "n_solutions": len(solve(card_values(hand, rule), target))})
    return pd.DataFrame(rows)


def solver_statistics(target: int = 24) -> pd.DataFrame:
    """Per rule: multisets, solvable ones, the same among hands with a face card, solutions per hand.

    The counts for target 24: 1236 / 670 for J/Q/K = 10; 1362 / 796 for 11/12/13 (the authors' solve()
    accepts the same multisets).
    """
    space = hand_space(target)
    rows = []
    for rule, g in space.groupby("rule", sort=False):
        solvable = g[g.n_solutions > 0]
        face = g[g.has_face]
        rows.append({
            "rule": rule,
            "multisets": len(g),
            "solvable": len(solvable),
            "with_face_card": len(face),
            "solvable_with_face_card": int((face.n_solutions > 0).sum()),
            "solutions_per_solvable_hand_mean": round(float(solvable.n_solutions.mean()), 2),
            "solutions_per_solvable_hand_median": float(solvable.n_solutions.median()),
            "solutions_per_solvable_hand_max": int(solvable.n_solutions.max()),
            "single_solution_hands": int((solvable.n_solutions == 1).sum()),
        })
    return pd.DataFrame(rows)
