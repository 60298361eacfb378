"""The tiny base's pretraining corpus: general knowledge in formats of the package's own, never the task.

The tiny base plays the role of Llama-3.2-Vision: it knows cards, arithmetic, directions and how
to read images, but it never saw a GeneralPoints prompt with the target 24 (under either rule, in
either modality) nor a V-IRL route prompt (training city or OOD routes). ``tests/test_pretrain.py``
checks that on generated corpora.

What the corpus holds (``kind``: generator; see each module's docstring):

==================  ==========================================================================
``rule_reading``    a face-card rule stated in one of 5 wordings + 4 cards -> their numbers
                    (:func:`.gp.rule_reading`); rules drawn from 1..13, never 10/10/10 nor 11/12/13
``make_t``          4 numbers from 1..13 + a target in 2..48 -> a formula (:func:`.gp.make_t`); no
                    cards, no rule sentence; the default base: 24 on 60% of puzzles, its numbers
                    drawn uniformly over the solvable multisets (``make_t_draw='solvable'``)
``make_t_sheet``    (not in the default mix) 4-8 puzzles in one worksheet, make-24 drawn uniformly
                    over the solvable multisets -> one formula per line (:func:`.gp.make_t_sheet`)
``card_puzzle``     rule + 4 cards + a target other than 24 -> the GeneralPoints answer object
                    (:func:`.gp.card_puzzle`)
``route``           numbered directions, history, current observation -> the V-IRL answer object,
                    in 3 action vocabularies x 3 syntaxes (:func:`.virl.route_example`)
``recall``          (not in the default mix) a list behind 0-8 filler sentences -> the list again
                    (:func:`.recall.recall`): copying by content, not by position
``card_caption``    (vision) an image of 1-4 cards on a random background -> ranks, numbers under a
                    stated rule, or the answer object for a target other than 24
``street_scene``    (vision) a 2x2 street-view grid of a pretraining city -> landmark per view,
                    intersection or not
==================  ==========================================================================

Every example is a function of ``(seed, index)`` only (:func:`example_at`), so a training run can be
killed and resumed anywhere and the corpus is the same on every machine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from sftrl_repro.data.pretrain import gp, recall, virl
from sftrl_repro.utils.params import check_choice

TEXT_KINDS = ("rule_reading", "rule_drill", "make_t", "make_t_sheet", "card_puzzle", "route", "recall")
VISION_KINDS = ("card_caption", "street_scene")
KINDS = TEXT_KINDS + VISION_KINDS


@dataclass(frozen=True)
class CorpusSpec:
    """What the corpus mixes.

    Attributes:
        weights: ``kind -> weight`` (normalised); kinds with weight 0 are left out.
        rules: ``'diverse'`` (face-card rules drawn from 1..13, never a task rule) or ``'fixed'``
            (the ablation: always J/Q/K = 10).
        p24: share of ``make_t`` puzzles with the target 24.
        image_size: side of card images (the tiny Mllama's tile).
        make_t_draw: how ``make_t`` puzzles are drawn (:func:`.gp.make_t_puzzle`): ``'random'``
            (random numbers, 24 when they make it) or ``'solvable'`` (make-24 drawn uniformly over
            the 1,362 solvable multisets, the recipe that teaches make-24 as knowledge).
        asides: card examples put 0-3 aside sentences between the cards and the question
            (:func:`.gp.asides`), so that the distance a copy of the hand reaches back varies.
        card_layout: how ``card_caption`` images lay their cards out (:data:`.vision.CARD_LAYOUTS`):
            ``'random'`` (each card its own gap and height) or ``'mixed'`` (half of the 4-card
            images the standard row of four equal cards on another background, :func:`.vision.card_row_image`).
        rule_mix: shares of ``'diverse'`` rules with three distinct values, all equal, two equal
            (:func:`.gp.draw_rule`), for ``rule_reading`` and ``card_puzzle``.
    """

    weights: tuple[tuple[str, float], ...] = (
        ("rule_reading", 0.1), ("make_t", 0.5), ("card_puzzle", 0.25), ("route", 0.15))
    rules: str = "diverse"
    p24: float = 0.4
    image_size: int = 96
    make_t_draw: str = "random"
    asides: bool = False
    card_layout: str = "random"
    rule_mix: tuple[float, float, float] = gp.RULE_MIX

    def __post_init__(self) -> None:
        for kind, w in self.weights:
            check_choice("kind", kind, KINDS)
            if w < 0:
                raise ValueError(f"weight of {kind!r} is {w}; weights must be >= 0")
        check_choice("rules", self.rules, gp.RULE_DIVERSITY)
        check_choice("make_t_draw", self.make_t_draw, gp.MAKE_T_DRAWS)
        check_choice("card_layout", self.card_layout, ("random", "mixed"))
        if len(self.rule_mix) != 3 or min(self.rule_mix) < 0 or sum(self.rule_mix) <= 0:
            raise ValueError(f"rule_mix={self.rule_mix!r} is not valid; give three shares >= 0 (distinct, "
                             "all equal, two equal) with a positive sum")


#: The text base's corpus (the default recipe, ``'single'``); the vision base trains on
#: :data:`VISION_CORPUS` and replays this one.
TEXT_CORPUS = CorpusSpec()
#: The ``'staged'`` recipe's first stage: make-T arithmetic only, make-24 on 60% of puzzles with
#: its numbers drawn uniformly over the solvable multisets (the recipe that taught a 3.4M-parameter
#: model make-24 as knowledge; mixed with the other kinds from the start, the same budget left
#: make-24 at 0.5-3%).
ARITHMETIC_CORPUS = CorpusSpec(weights=(("make_t", 1.0),), p24=0.6, make_t_draw="solvable")
#: The ``'staged'`` recipe's second stage, from the first's weights: make-T stays at 30% so the
#: arithmetic is kept; card examples carry asides.
STAGED_CORPUS = CorpusSpec(weights=(("rule_reading", 0.25), ("make_t", 0.3), ("card_puzzle", 0.25), ("route", 0.2)),
                           p24=0.6, make_t_draw="solvable", asides=True)
#: The ``'isolated'`` recipe's corpus (each packed example attending to itself only): the default
#: mix with rule reading doubled (20%), make-T 40% and ``recall`` lists (15%), card examples with
#: asides; trained at lr 1e-3 (at 2e-3 the copy circuit never formed: 0 of 60 hands; measured).
ISOLATED_CORPUS = CorpusSpec(weights=(("rule_reading", 0.2), ("make_t", 0.4), ("card_puzzle", 0.25), ("route", 0.15),
                                      ("recall", 0.15)), asides=True)
VISION_CORPUS = CorpusSpec(weights=(("card_caption", 0.8), ("street_scene", 0.2)))
#: The ``'encoder_first'`` vision recipe's captions: half of the 4-card images the standard row.
ROW_VISION_CORPUS = CorpusSpec(weights=(("card_caption", 0.8), ("street_scene", 0.2)), card_layout="mixed")


@dataclass
class Example:
    """One pretraining example: a user turn, the assistant's answer, and for vision its image."""

    kind: str
    prompt: str
    answer: str
    image: Any = field(default=None, repr=False)


def _draw_kind(spec: CorpusSpec, rng: random.Random) -> str:
    kinds = [(k, w) for k, w in spec.weights if w > 0]
    total = sum(w for _, w in kinds)
    x = rng.random() * total
    for k, w in kinds:
        x -= w
        if x < 0:
            return k
    return kinds[-1][0]


def example_at(spec: CorpusSpec, seed: int, index: int) -> Example:
    """The ``index``-th example of the corpus ``(spec, seed)``: a pure function of its arguments."""
    rng = random.Random((int(seed) << 40) + int(index))
    kind = _draw_kind(spec, rng)
    if kind == "rule_reading":
        return Example(kind, *gp.rule_reading(rng, spec.rules, asides=spec.asides, rule_mix=spec.rule_mix))
    if kind == "rule_drill":
        return Example(kind, *gp.rule_drill(rng))
    if kind == "make_t":
        return Example(kind, *gp.make_t(rng, p24=spec.p24, draw=spec.make_t_draw))
    if kind == "make_t_sheet":
        return Example(kind, *gp.make_t_sheet(rng, p24=spec.p24))
    if kind == "card_puzzle":
        return Example(kind, *gp.card_puzzle(rng, spec.rules, asides=spec.asides, rule_mix=spec.rule_mix))
    if kind == "route":
        return Example(kind, *virl.route_example(rng))
    if kind == "recall":
        return Example(kind, *recall.recall(rng))
    from sftrl_repro.data.pretrain import vision

    if kind == "card_caption":
        return Example(kind, *vision.card_caption(rng, spec.rules, spec.image_size, layout=spec.card_layout))
    return Example(kind, *vision.street_scene(rng))


def corpus_digest(spec: CorpusSpec, seed: int, n: int = 64) -> str:
    """A short hash of the first ``n`` examples (texts and image bytes): it changes when a template
    the corpus borrows (e.g. the GeneralPoints answer object) changes, so a cached base is rebuilt."""
    import hashlib

    h = hashlib.sha256()
    for ex in corpus(spec, seed, n):
        h.update(f"{ex.kind}\x00{ex.prompt}\x00{ex.answer}\x00".encode())
        if ex.image is not None:
            h.update(ex.image.tobytes())
    return h.hexdigest()[:12]


def corpus(spec: CorpusSpec, seed: int, n: int, start: int = 0) -> list[Example]:
    """Examples ``start .. start + n - 1`` of the corpus ``(spec, seed)``."""
    return [example_at(spec, seed, i) for i in range(start, start + n)]


__all__ = ["CorpusSpec", "Example", "ARITHMETIC_CORPUS", "STAGED_CORPUS", "ISOLATED_CORPUS", "TEXT_CORPUS", "VISION_CORPUS", "ROW_VISION_CORPUS", "KINDS", "TEXT_KINDS", "VISION_KINDS",
           "example_at", "corpus", "corpus_digest"]
