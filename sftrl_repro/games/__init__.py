"""The game rules, below everything else (pure Python + PIL + numpy; never torch).

GeneralPoints (paper Sec. 4.1):

* :mod:`.cards` ranks, suits, the face-card rules, and the authors' way of dealing a hand;
* :mod:`.solver` every formula that makes the target (exact rational arithmetic);
* :mod:`.render` the table image of a hand (paper App. A.1: 1200x1200 green table);
* :mod:`.gp_stats` statistics of the hand space (solvable multisets, solutions per hand).

V-IRL (paper Sec. 4.2): :mod:`.virl` (geometry, procedural cities, ground-truth rails,
street-view rendering, the authors' data loader).

Layering: ``games`` <- ``prompts``, ``rewards`` <- ``envs`` (Gymnasium classes) <- everything that
trains. Nothing here imports from the layers above it.
"""
