"""Pretraining of the ``tiny`` bases: the package's stand-in for Llama-3.2-Vision's knowledge.

:func:`pretrain_base` trains (or resumes, or returns the cached result of) one base on the corpus
of :mod:`sftrl_repro.data.pretrain`; :func:`pretrained_base` is what ``load_policy("tiny",
modality)`` calls: it builds the default base on first use and loads it.

* text (``LlamaForCausalLM``): examples rendered with the Llama 3 chat template (user turn, then
  the assistant's answer), packed into rows of ``row_tokens`` tokens; loss on answer tokens only
  (and their end-of-turn token), as the SFT trainer does;
* vision (``MllamaForConditionalGeneration``): its text decoder starts from the text base (every
  self-attention layer, the embeddings and the output layer copied; the new cross-attention layers'
  gates opened at ``cross_gate_init``); with the default ``'encoder_first'`` recipe the ViT then
  learns card ranks directly (:func:`warm_up_encoder`) and the projector and cross-attention learn
  to pass them to the language model (:func:`warm_up_reader`); then everything trains on image
  captions (:data:`~sftrl_repro.data.pretrain.ROW_VISION_CORPUS`) with every ``replay_every``-th
  step a text step on the text corpus, so the text skills are kept;
* a run lives in ``runs/<run_id>/`` (:class:`~sftrl_repro.experiments.runs.Run`): resumable after a
  kill (weights, optimizer, data cursors; the corpus is a function of the example index), a changed
  config under the same run id is refused, metrics are appended to ``metrics.jsonl`` as it goes;
  the finished base is the folder ``runs/<run_id>/base`` (:meth:`Policy.save` format).

Speed is set by ``num_threads`` (default 1, so that two processes can share two cores).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from sftrl_repro.data.pretrain import (
    ARITHMETIC_CORPUS,
    ISOLATED_CORPUS,
    ROW_VISION_CORPUS,
    STAGED_CORPUS,
    TEXT_CORPUS,
    VISION_CORPUS,
    CorpusSpec,
    Example,
    corpus_digest,
    example_at,
)
from sftrl_repro.experiments.runs import Run, config_hash
from sftrl_repro.models.tiny import TinySpec, build_tiny
from sftrl_repro.prompts.chat import user_message
from sftrl_repro.utils.params import check_choice, check_int

#: Sizes of the pretrained tiny base (larger than :class:`TinySpec`'s default, which stays the
#: random-init model of fast tests): 3.7M parameters for text.
BASE_SPEC = TinySpec(hidden_size=256, intermediate_size=768, num_layers=4, num_heads=4)
BASE_DIR = "base"
#: Steps of the ``'staged'`` text base's two stages (:func:`default_config`); 8 rows x 512 tokens each.
ARITHMETIC_STEPS, MIX_STEPS = 1800, 800
#: Bumped whenever a code change alters what a config trains (architecture details, batching).
#: Version 2 (the ``'staged'`` recipe) leaves ``num_threads`` out of a run's identity; version 1
#: configs keep it in, so that the default base keeps the id its cached runs (and every study run
#: built on it, whose id carries the base's hash) have.
BASE_VERSION = 1
#: How the tiny text base is made: ``'single'`` (the default: one run on :data:`TEXT_CORPUS`),
#: ``'staged'`` (make-T arithmetic first, then :data:`STAGED_CORPUS` from its weights; measured in
#: the README: make-24 up, rule reading down) or ``'isolated'`` (one run on :data:`ISOLATED_CORPUS`,
#: each packed example attending to itself only, bfloat16 autocast, lr 1e-3, :data:`ISOLATED_STEPS`
#: steps: the base that copies a hand by its content; measured in the README).
RECIPES = ("single", "staged", "isolated")
#: Steps of the ``'isolated'`` text base (8 rows x 512 tokens each; 4.5M tokens, ~25 min on one thread).
ISOLATED_STEPS = 1200
DEFAULT_RECIPE = "single"
#: How the tiny vision base learns to see: ``'encoder_first'`` (the default: :func:`warm_up_encoder`:
#: the ViT learns card ranks from a direct per-card objective on the standard row of four cards on
#: other backgrounds; :func:`warm_up_reader`: the projector and cross-attention learn to pass them to
#: the language model; then captions with half of the 4-card images in that row,
#: :data:`~sftrl_repro.data.pretrain.ROW_VISION_CORPUS`) or ``'captions'`` (image captions only, the
#: ViT trained through the language model: recognition 0%, measured; the base of the first VL runs).
VISION_RECIPES = ("captions", "encoder_first")
DEFAULT_VISION_RECIPE = "encoder_first"
#: Encoder warm-up steps of the ``'encoder_first'`` recipe (64 rows of 4 cards each): a probe of
#: this ViT read the task's cards 99.4% (black) / 97.9% (red) per card after 400 such steps.
ENCODER_STEPS = 400
#: Steps of the ``'encoder_first'`` recipe's reader warm-up (:func:`warm_up_reader`): at lr 3e-3 and 16
#: rows a step its rank accuracy leaves the plateau at ~300 steps and is ~98% by 900 (probe, 1 seed).
READER_STEPS = 1000


@dataclass(frozen=True)
class PretrainConfig:
    """One pretraining run.

    Attributes:
        modality: ``'language'`` (Llama) or ``'vision'`` (Mllama).
        spec: the model sizes.
        corpus: the corpus of this run (text: :data:`TEXT_CORPUS`; vision: :data:`VISION_CORPUS`).
        replay: vision only: the text corpus replayed every ``replay_every``-th step.
        replay_every: vision only: every this many steps, one is a text step (0: never).
        init_from: the config of an earlier base whose weights start this one (``None``: random):
            for vision, a text base copied into the text decoder; for text, an earlier text stage
            of the same sizes (the default base is two stages: arithmetic, then the mix).
        steps: optimizer steps.
        rows: text steps: rows per batch.
        row_tokens: text steps: tokens per row (examples are packed; longer ones are cut).
        image_batch: vision steps: examples (images) per batch.
        learning_rate: peak AdamW learning rate (linear warm-up, then cosine to ``min_lr_ratio``).
        min_lr_ratio: final learning rate as a share of the peak.
        warmup_steps: linear warm-up steps.
        weight_decay: AdamW decoupled weight decay.
        betas: AdamW betas.
        max_grad_norm: gradient clipping norm.
        seed: weights and corpus seed.
        save_every: checkpoint every this many steps (the last step always).
        log_every: log a metrics line every this many steps.
        num_threads: torch threads while training (a speed setting, not part of the run's
            identity: a run may resume with another count).
        version: the package's base-building code version (:data:`BASE_VERSION`), so that a code
            change that alters the base (not seen in the config) makes a new run.
        encoder_steps: vision only: steps of :func:`warm_up_encoder` before the caption steps (0:
            none): the ViT and a per-card head (thrown away after) learn the ranks of rows of 4
            cards; encoder_batch: rows per warm-up step; encoder_lr: its AdamW learning rate.
        reader_steps: vision only: steps of :func:`warm_up_reader` after the encoder warm-up (0:
            none): only the projector and the cross-attention layers learn, through the language
            model's loss, to name the cards of standard rows; reader_batch: rows per step;
            reader_lr: its AdamW learning rate.
        cross_gate_init: vision only: value the cross-attention gates start at after the text
            weights are copied (``None``: Mllama's 0, which leaves the image unread at this scale:
            the gates stay closed; measured). Open gates let the image in from the first step.
        corpus_digest: :func:`~sftrl_repro.data.pretrain.corpus_digest` of the corpora (set by
            :func:`default_config`), so that a change of a borrowed template makes a new run.
        bf16_autocast: run the forward pass (and so the backward) of the main steps under
            ``torch.autocast(dtype=bfloat16)``; the weights and AdamW's state stay float32. On a CPU
            with AMX (the development machine's Xeon) a text step of the base's 8 x 512 packed
            corpus tokens takes 0.90 s instead of 1.53 s (1.7x, one thread, another process on the
            other core; ``benchmarks/bench_pretrain.py --autocast``). Other numerics, so part of the
            run's identity; off for the cached default bases.
        isolate_examples: text steps of a ``'language'`` base: each packed example attends to itself
            only (:func:`isolated`); ``False``: a row is one sequence (the cached default bases).
    """

    modality: str = "language"
    spec: TinySpec = BASE_SPEC
    corpus: CorpusSpec = TEXT_CORPUS
    replay: CorpusSpec | None = None
    replay_every: int = 0
    init_from: PretrainConfig | None = None
    steps: int = 450
    rows: int = 8
    row_tokens: int = 512
    image_batch: int = 24
    learning_rate: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 20
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    max_grad_norm: float = 1.0
    seed: int = 0
    save_every: int = 50
    log_every: int = 10
    num_threads: int = 1
    corpus_digest: str = ""
    version: int = BASE_VERSION
    cross_gate_init: float | None = None
    encoder_steps: int = 0
    encoder_batch: int = 64
    encoder_lr: float = 1e-3
    reader_steps: int = 0
    reader_batch: int = 16
    reader_lr: float = 3e-3
    bf16_autocast: bool = False
    isolate_examples: bool = False

    def __post_init__(self) -> None:
        check_choice("modality", self.modality, ("language", "vision"))
        check_int("steps", self.steps, low=1)
        check_int("rows", self.rows, low=1)
        check_int("row_tokens", self.row_tokens, low=16)
        check_int("num_threads", self.num_threads, low=1)
        check_int("encoder_steps", self.encoder_steps, low=0)
        check_int("encoder_batch", self.encoder_batch, low=1)
        check_int("reader_steps", self.reader_steps, low=0)
        check_int("reader_batch", self.reader_batch, low=1)
        if self.encoder_steps and self.modality != "vision":
            raise ValueError("encoder_steps is a vision setting (the ViT's warm-up); it must be 0 for 'language'")
        if self.reader_steps and self.modality != "vision":
            raise ValueError("reader_steps is a vision setting (the cross-attention's warm-up); it must be 0 for "
                             "'language'")
        if self.isolate_examples and self.modality != "language":
            raise ValueError("isolate_examples is a 'language' setting (the text base's packed rows); it must be "
                             "False for 'vision'")
        if self.init_from is not None and self.modality == "language" and (
                self.init_from.modality != "language" or self.init_from.spec != self.spec):
            raise ValueError("a text base can start only from a text base of the same spec (init_from)")

    def to_dict(self) -> dict[str, Any]:
        """The config as it names the run (from version 2 on, without ``num_threads``: a speed setting)."""
        return _drop_later_defaults(asdict(self))

    def run_id(self) -> str:
        """``tiny-base-<modality>-<hash of the config>``: a changed config is a new run."""
        return f"tiny-base-{self.modality}-{config_hash(self.to_dict())}"


#: Fields added after bases were cached, with their defaults: left out of a config's dict (and so
#: of its hash) while they hold the default, so that the older runs keep their ids.
_LATER_DEFAULTS = {"cross_gate_init": None, "make_t_draw": "random", "asides": False, "card_layout": "random",
                   "encoder_steps": 0, "encoder_batch": 64, "encoder_lr": 1e-3, "reader_steps": 0, "reader_batch": 16,
                   "reader_lr": 3e-3, "rule_mix": (0.55, 0.25, 0.2), "bf16_autocast": False,
                   "isolate_examples": False}


def _drop_later_defaults(d: Any) -> Any:
    if isinstance(d, dict):
        speed_free = d.get("version", 1) >= 2  # see BASE_VERSION
        return {k: _drop_later_defaults(v) for k, v in d.items()
                if not (speed_free and k == "num_threads") and not (k in _LATER_DEFAULTS and v == _LATER_DEFAULTS[k])}
    return d


def arithmetic_config(spec: TinySpec | None = None) -> PretrainConfig:
    """Stage 1 of the ``'staged'`` text base: make-T arithmetic only (:data:`ARITHMETIC_CORPUS`)."""
    return with_digest(PretrainConfig(modality="language", spec=spec or BASE_SPEC, corpus=ARITHMETIC_CORPUS,
                                      steps=ARITHMETIC_STEPS, learning_rate=2e-3, version=2))


def default_config(modality: str, spec: TinySpec | None = None, recipe: str = DEFAULT_RECIPE,
                   vision_recipe: str = DEFAULT_VISION_RECIPE) -> PretrainConfig:
    """The config of the package's tiny base for ``modality`` (the default recipes: what ``load_policy`` uses).

    Text, ``recipe='single'``: one run on :data:`TEXT_CORPUS` (rule reading, make-T, card puzzles,
    routes); ``'staged'``: :func:`arithmetic_config`, then :data:`STAGED_CORPUS` from its weights,
    each a cached run; ``'isolated'``: one run on :data:`ISOLATED_CORPUS` with
    :attr:`PretrainConfig.isolate_examples` and bfloat16 autocast. Vision: that text base copied into
    Mllama's text decoder, then image captions with a text step (the text base's corpus) every fourth step; ``vision_recipe='encoder_first'``
    warms the ViT up on card ranks first (:data:`VISION_RECIPES`).
    """
    check_choice("modality", modality, ("language", "vision"))
    check_choice("recipe", recipe, RECIPES)
    check_choice("vision_recipe", vision_recipe, VISION_RECIPES)
    spec = spec or BASE_SPEC
    if recipe == "single":
        text, replay, version = with_digest(PretrainConfig(modality="language", spec=spec)), TEXT_CORPUS, BASE_VERSION
    elif recipe == "isolated":
        text = with_digest(PretrainConfig(modality="language", spec=spec, corpus=ISOLATED_CORPUS, steps=ISOLATED_STEPS,
                                          learning_rate=1e-3, isolate_examples=True, bf16_autocast=True, version=2))
        replay, version = ISOLATED_CORPUS, 2
    else:
        text = with_digest(PretrainConfig(modality="language", spec=spec, corpus=STAGED_CORPUS, steps=MIX_STEPS,
                                          init_from=arithmetic_config(spec), learning_rate=1e-3, version=2))
        replay, version = STAGED_CORPUS, 2
    if modality == "language":
        return text
    if vision_recipe == "encoder_first":  # a new recipe: version 2 (threads a speed setting)
        return with_digest(PretrainConfig(modality="vision", spec=spec, corpus=ROW_VISION_CORPUS, replay=replay,
                                          replay_every=4, init_from=text, steps=300, learning_rate=1.5e-3,
                                          warmup_steps=10, cross_gate_init=0.5, encoder_steps=ENCODER_STEPS,
                                          reader_steps=READER_STEPS, version=2))
    return with_digest(PretrainConfig(modality="vision", spec=spec, corpus=VISION_CORPUS, replay=replay,
                                      replay_every=4, init_from=text, steps=300, learning_rate=1.5e-3,
                                      warmup_steps=10, cross_gate_init=0.5, version=version))


def base_recipe(base: str) -> str:
    """The text recipe of a pretrained tiny ``base`` (``load_policy``'s and ``StudyConfig``'s
    ``base``): ``'pretrained'`` is the default recipe, ``'isolated'`` its namesake."""
    check_choice("base", base, ("pretrained", "isolated"))
    return DEFAULT_RECIPE if base == "pretrained" else base


def with_digest(config: PretrainConfig) -> PretrainConfig:
    """``config`` with :attr:`PretrainConfig.corpus_digest` filled in from its corpora."""
    parts = [corpus_digest(config.corpus, config.seed)]
    if config.replay is not None:
        parts.append(corpus_digest(config.replay, config.seed + 1))
    return replace(config, corpus_digest="-".join(parts))


# ----------------------------------------------------------------------------------------- batches
def _prompt_text(tokenizer, prompt: str, image: bool) -> str:
    return tokenizer.apply_chat_template([user_message(prompt, image=image)], tokenize=False,
                                         add_generation_prompt=True)


def encode_example(tokenizer, ex: Example, image: bool = False) -> tuple[list[int], list[int]]:
    """``(ids, labels)`` of one example: the templated prompt (label -100) then answer + end of turn."""
    p = tokenizer(_prompt_text(tokenizer, ex.prompt, image), add_special_tokens=False)["input_ids"]
    a = tokenizer(ex.answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return p + a, [-100] * len(p) + a


def text_batch(tokenizer, corpus: CorpusSpec, seed: int, cursor: int, rows: int, row_tokens: int,
               positions: bool = False):
    """Pack examples ``cursor, cursor + 1, ...`` first-fit into ``rows`` rows of ``row_tokens``.

    Returns ``(batch, next_cursor)``: the batch has ``input_ids``, ``attention_mask``, ``labels``
    ``(rows, row_tokens)``; packing stops at the first example that fits in no row (an example
    longer than a row is skipped). The model reads a row as one sequence. With ``positions``, also
    ``position_ids`` that restart at 0 with every example (and the padding after a row's last one),
    from which :func:`isolated` gives each example attention over itself only.
    """
    ids = [[] for _ in range(rows)]
    labels = [[] for _ in range(rows)]
    offsets = [[] for _ in range(rows)]  # each token's position within its example
    while True:
        x, y = encode_example(tokenizer, example_at(corpus, seed, cursor))
        if len(x) > row_tokens:  # never cut an answer: an example longer than a row is skipped
            cursor += 1
            continue
        row = next((r for r in range(rows) if len(ids[r]) + len(x) <= row_tokens), None)
        if row is None:
            break
        ids[row] += x
        labels[row] += y
        offsets[row] += range(len(x))
        cursor += 1
    pad = tokenizer.pad_token_id
    input_ids = torch.full((rows, row_tokens), pad, dtype=torch.long)
    lab = torch.full((rows, row_tokens), -100, dtype=torch.long)
    mask = torch.zeros((rows, row_tokens), dtype=torch.long)
    for r in range(rows):
        n = len(ids[r])
        input_ids[r, :n] = torch.tensor(ids[r])
        lab[r, :n] = torch.tensor(labels[r])
        mask[r, :n] = 1
    batch = {"input_ids": input_ids, "attention_mask": mask, "labels": lab}
    if positions:
        # the padding after a row's last example counts as a sequence of its own
        batch["position_ids"] = torch.stack([torch.tensor(o + list(range(row_tokens - len(o))), dtype=torch.long)
                                             for o in offsets])
    return batch, cursor


def isolated(batch: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The model inputs of a packed :func:`text_batch` (made with ``positions=True``) in which every
    example attends to itself only.

    Without a 2D ``attention_mask``, with per-example ``position_ids`` and no cache, transformers
    builds a block-causal mask from where the positions restart (``masking_utils``'s packed-sequence
    mask): each example's logits are those it has alone (tested). Why: in a row read as one
    sequence, an example's attention also reaches the earlier examples of its row, full of hands and
    lists of the same cards and words, and the tiny base never learned to copy a hand by its content
    (measured, README "The tiny base")."""
    return {"input_ids": batch["input_ids"], "labels": batch["labels"], "position_ids": batch["position_ids"],
            "use_cache": False}


def vision_batch(processor, corpus: CorpusSpec, seed: int, cursor: int, n: int):
    """``n`` image examples from ``cursor``, right-padded: Mllama inputs with ``labels``."""
    from PIL import Image

    tok = processor.tokenizer
    parts = []
    for i in range(cursor, cursor + n):
        ex = example_at(corpus, seed, i)
        enc = processor(text=[_prompt_text(tok, ex.prompt, True)], images=[[Image.fromarray(ex.image)]],
                        add_special_tokens=False, return_tensors="pt")
        answer = tok(ex.answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        parts.append((enc, answer))
    return _mllama_batch(tok, parts), cursor + n


def _mllama_batch(tok, parts) -> dict[str, torch.Tensor]:
    """Right-pad ``(processor output, answer ids)`` pairs into one Mllama batch with ``labels`` on the answers."""
    n = len(parts)
    length = max(e["input_ids"].shape[1] + len(a) for e, a in parts)
    input_ids = torch.full((n, length), tok.pad_token_id, dtype=torch.long)
    labels = torch.full((n, length), -100, dtype=torch.long)
    mask = torch.zeros((n, length), dtype=torch.long)
    tiles = parts[0][0]["cross_attention_mask"].shape[-1]
    xmask = torch.zeros((n, length, 1, tiles), dtype=torch.long)
    for r, (enc, answer) in enumerate(parts):
        p = enc["input_ids"].shape[1]
        input_ids[r, :p] = enc["input_ids"][0]
        input_ids[r, p:p + len(answer)] = torch.tensor(answer)
        labels[r, p:p + len(answer)] = torch.tensor(answer)
        mask[r, :p + len(answer)] = 1
        xmask[r, :p] = enc["cross_attention_mask"][0]
        xmask[r, p:p + len(answer)] = enc["cross_attention_mask"][0, -1]
    cat = lambda key: torch.cat([e[key] for e, _ in parts])  # noqa: E731
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels, "cross_attention_mask": xmask,
            "pixel_values": cat("pixel_values"), "aspect_ratio_ids": cat("aspect_ratio_ids"),
            "aspect_ratio_mask": cat("aspect_ratio_mask")}


# ------------------------------------------------------------------------------------------ model
def copy_text_into_vision(text_model, vision_model, spec: TinySpec) -> None:
    """Copy a tiny Llama's weights into the text decoder of a tiny Mllama of the same ``spec``.

    Self-attention layer ``j`` of the Llama goes to the ``j``-th non-cross-attention layer of the
    Mllama stack; embeddings (Mllama has 8 extra rows, left as they are), final norm and output
    layer are copied. The cross-attention layers keep their initialisation (gates at 0).
    """
    src = text_model.state_dict()
    dst = vision_model.state_dict()
    self_layers = [i for i in range(spec.num_layers + len(spec.cross_attention_layers))
                   if i not in spec.cross_attention_layers]
    out = {}
    for key, value in src.items():
        if key.startswith("model.layers."):
            j, rest = key[len("model.layers."):].split(".", 1)
            out[f"model.language_model.layers.{self_layers[int(j)]}.{rest}"] = value
        elif key == "model.embed_tokens.weight":
            emb = dst["model.language_model.embed_tokens.weight"].clone()
            emb[: value.shape[0]] = value
            out["model.language_model.embed_tokens.weight"] = emb
        elif key == "model.norm.weight":
            out["model.language_model.norm.weight"] = value
        elif key == "lm_head.weight":
            out["lm_head.weight"] = value
    missing = [k for k in out if k not in dst]
    if missing:
        raise RuntimeError(f"text weights with no place in the vision model: {missing[:5]}")
    vision_model.load_state_dict(out, strict=False)


class CardSlotHead(torch.nn.Module):
    """The encoder warm-up's read-out: 4 learned queries (card slots, left to right) attend over the
    ViT's patch features ``(B, patches, D)`` -> rank logits ``(B, 4, 13)``. Thrown away after the
    warm-up: the language model learns to read the features through its cross-attention."""

    def __init__(self, dim: int, slots: int = 4, classes: int = 13) -> None:
        super().__init__()
        self.queries = torch.nn.Parameter(torch.randn(slots, dim) * 0.02)
        self.attention = torch.nn.MultiheadAttention(dim, 4, batch_first=True)
        self.classify = torch.nn.Linear(dim, classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        queries = self.queries.unsqueeze(0).expand(features.shape[0], -1, -1)
        read, _ = self.attention(queries, features, features)
        return self.classify(read)


def _vision_features(model, processor, images) -> torch.Tensor:
    """The Mllama ViT's output for a list of ``(H, W, 3)`` uint8 images: ``(B, patches, D)``."""
    from PIL import Image

    enc = processor.image_processor(images=[[Image.fromarray(im)] for im in images], return_tensors="pt")
    out = model.model.vision_model(pixel_values=enc["pixel_values"], aspect_ratio_ids=enc["aspect_ratio_ids"],
                                   aspect_ratio_mask=enc["aspect_ratio_mask"]).last_hidden_state
    return out.reshape(out.shape[0], -1, out.shape[-1])


def card_rows(seed: int, step: int, n: int, size: int) -> tuple[list, torch.Tensor]:
    """Warm-up step ``step``'s ``n`` images of 4 random cards in the standard row (random suits and
    backgrounds, never the task's table: :func:`~sftrl_repro.data.pretrain.vision.card_row_image`)
    and their ranks ``(n, 4)`` as indices into ``RANKS``; a function of ``(seed, step)`` only."""
    import random

    from sftrl_repro.data.pretrain.vision import ALL_SUITS, card_row_image
    from sftrl_repro.games.cards import RANKS

    rng = random.Random(f"encoder-{seed}-{step}")
    images, ranks = [], []
    for _ in range(n):
        cards = [rng.choice(RANKS) for _ in range(4)]
        images.append(card_row_image(cards, [rng.choice(ALL_SUITS) for _ in cards], rng, size))
        ranks.append([RANKS.index(c) for c in cards])
    return images, torch.tensor(ranks)


def warm_up_encoder(model, processor, config: PretrainConfig, log=None, progress: bool = False) -> dict[str, float]:
    """Train the Mllama's ViT (with a :class:`CardSlotHead`, then discarded) to name the 4 cards of
    rows of cards: ``config.encoder_steps`` steps of ``config.encoder_batch`` images, AdamW at
    ``config.encoder_lr`` (50 warm-up steps). Only ``model.model.vision_model`` changes.

    Why: trained only through the language model (captions), this ViT stayed at chance (per card
    10%); trained directly on the standard row it reads the task's cards (a probe: 99% per card
    after 400 steps), while on random layouts or rows moved by a few pixels the same objective
    stayed at chance for 600-1,250 steps (see :func:`~sftrl_repro.data.pretrain.vision.card_row_image`).

    ``log(0, phase="encoder", phase_step=s, **metrics)`` gets ``encoder_loss`` and
    ``encoder_card_accuracy`` (the step's batch) every 50 steps: logged at the run's step 0 (the
    warm-ups come before caption step 0, so a resumed run, which keeps the lines up to its last
    checkpoint, keeps them). Returns the last of them.
    """
    from tqdm.auto import tqdm

    vision = model.model.vision_model
    size = model.config.vision_config.image_size
    with torch.no_grad():
        dim = _vision_features(model, processor, card_rows(config.seed, -1, 1, size)[0]).shape[-1]
    with torch.random.fork_rng(devices=[]):  # PyTorch's default init, seeded, without moving the global RNG
        torch.manual_seed(config.seed)
        head = CardSlotHead(dim)
    params = list(vision.parameters()) + list(head.parameters())
    optim = torch.optim.AdamW(params, lr=config.encoder_lr, weight_decay=config.weight_decay)
    vision.train()
    metrics: dict[str, float] = {}
    window = {"loss": 0.0, "right": 0, "n": 0}
    for step in range(config.encoder_steps):
        images, ranks = card_rows(config.seed, step, config.encoder_batch, size)
        logits = head(_vision_features(model, processor, images))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ranks.reshape(-1))
        for g in optim.param_groups:
            g["lr"] = config.encoder_lr * min(1.0, (step + 1) / 50)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        optim.step()
        optim.zero_grad(set_to_none=True)
        window["loss"] += loss.item()
        window["right"] += int((logits.argmax(-1) == ranks).sum())
        window["n"] += ranks.numel()
        if (step + 1) % 50 == 0 or step + 1 == config.encoder_steps:
            steps_in = (step % 50) + 1
            metrics = {"encoder_loss": window["loss"] / steps_in, "encoder_card_accuracy": window["right"] / window["n"]}
            if log is not None:
                log(0, phase="encoder", phase_step=step + 1, **metrics)
            if progress:
                tqdm.write(f"encoder warm-up step {step + 1}/{config.encoder_steps}: loss {metrics['encoder_loss']:.3f}, "
                           f"card accuracy {metrics['encoder_card_accuracy']:.3f}", file=sys.stderr)
            window = {"loss": 0.0, "right": 0, "n": 0}
    return metrics


def reader_batch(processor, seed: int, step: int, n: int) -> dict[str, torch.Tensor]:
    """Reader warm-up step ``step``'s batch: :func:`card_rows` images, a recognition question each and
    the answer ``"cards": [...]`` (the caption corpus's format): Mllama inputs with ``labels``
    (answer tokens and end-of-turn only), ``(n, L)``; a function of ``(seed, step)`` only."""
    import random

    from PIL import Image

    from sftrl_repro.data.pretrain.vision import RECOGNITION_QUESTIONS
    from sftrl_repro.games.cards import RANKS

    tok = processor.tokenizer
    images, ranks = card_rows(seed, step, n, processor.image_processor.size["height"])
    rng = random.Random(f"reader-{seed}-{step}")
    parts = []
    for image, row in zip(images, ranks.tolist()):
        enc = processor(text=[_prompt_text(tok, rng.choice(RECOGNITION_QUESTIONS), True)],
                        images=[[Image.fromarray(image)]], add_special_tokens=False, return_tensors="pt")
        answer = tok(f'"cards": {[RANKS[r] for r in row]!r}', add_special_tokens=False)["input_ids"]
        parts.append((enc, answer + [tok.eos_token_id]))
    return _mllama_batch(tok, parts)


def warm_up_reader(model, processor, config: PretrainConfig, log=None, progress: bool = False) -> dict[str, float]:
    """Teach the language model to read the ViT: ``config.reader_steps`` steps of
    ``config.reader_batch`` :func:`reader_batch` rows, AdamW at ``config.reader_lr`` (20 warm-up
    steps) on the projector and the cross-attention layers only (ViT and self-attention decoder
    frozen), with the language model's own loss.

    Why: after :func:`warm_up_encoder` the ViT names the cards (99% per card through its slot head),
    yet the language model trained on captions answered the same ranks whatever the image (caption
    loss with the right image, another one or none: 0.445 / 0.450 / 0.444). Its cross-attention
    sits on a plateau: fed oracle features (one distinct vector per card at fixed patches) it reads
    the cards in 100 steps; fed the ViT's features, with the rest frozen, its rank accuracy stays at
    the prior for ~300 steps and then climbs to ~98% by step 900 (probes, 1 seed); with the ViT
    also training, the plateau lasts ~900 steps. So the reader learns alone, on the rows the ViT reads.

    ``log(0, phase="reader", phase_step=s, **metrics)`` gets ``reader_loss`` (averaged over the last
    50 steps) every 50 steps (step 0: see :func:`warm_up_encoder`). Returns the last of them.
    """
    from tqdm.auto import tqdm

    reader = [p for n, p in model.named_parameters() if "multi_modal_projector" in n or "cross_attn" in n]
    trainable = {id(p) for p in reader}
    frozen = [p for p in model.parameters() if id(p) not in trainable and p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    optim = torch.optim.AdamW(reader, lr=config.reader_lr, weight_decay=0.0)
    model.train()
    metrics: dict[str, float] = {}
    window = 0.0
    try:
        for step in range(config.reader_steps):
            batch = reader_batch(processor, config.seed, step, config.reader_batch)
            for g in optim.param_groups:
                g["lr"] = config.reader_lr * min(1.0, (step + 1) / 20)
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(reader, config.max_grad_norm)
            optim.step()
            optim.zero_grad(set_to_none=True)
            window += loss.item()
            if (step + 1) % 50 == 0 or step + 1 == config.reader_steps:
                metrics = {"reader_loss": window / ((step % 50) + 1)}
                if log is not None:
                    log(0, phase="reader", phase_step=step + 1, **metrics)
                if progress:
                    tqdm.write(f"reader warm-up step {step + 1}/{config.reader_steps}: loss {metrics['reader_loss']:.3f}",
                               file=sys.stderr)
                window = 0.0
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return metrics


def _lr(config: PretrainConfig, step: int) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    t = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.learning_rate * (config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


@contextlib.contextmanager
def _num_threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (so two processes never train the same run at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------- training
def pretrain_base(config: PretrainConfig, *, run_id: str | None = None, root: str | Path | None = None,
                  progress: bool = True, stop_after: int | None = None) -> Run:
    """Train (or resume, or return the finished) base of ``config``; the base is ``run.path / 'base'``.

    Args:
        config: the run's config.
        run_id: the run folder's name (default :meth:`PretrainConfig.run_id`); an existing folder
            with another config is refused (:class:`~sftrl_repro.experiments.runs.RunConfigMismatch`).
        root: where runs live (default ``runs/``).
        progress: show a tqdm bar.
        stop_after: stop (as if killed) after this many steps of this call, after a checkpoint
            (tests of resumption).
    """
    from tqdm.auto import tqdm

    from sftrl_repro.models.policy import Policy

    run = Run(run_id or config.run_id(), config.to_dict(), root=root)
    if run.done:
        return run
    with _locked(run.path / ".lock"):
        run = Run(run.run_id, config.to_dict(), root=root)  # re-read: another process may have finished it
        if run.done:
            return run
        if config.init_from is not None:  # the text base first (cached under its own run id)
            pretrain_base(config.init_from, root=root, progress=progress)
        with _num_threads(config.num_threads):
            _train(run, config, root, progress, stop_after, tqdm, Policy)
    return run


def _train(run: Run, config: PretrainConfig, root, progress, stop_after, tqdm, Policy) -> None:
    model, processor = build_tiny(config.modality, config.spec, seed=config.seed)
    tokenizer = getattr(processor, "tokenizer", processor)
    state = {"step": 0, "cursor": 0, "replay_cursor": 0, "tokens": 0, "answer_tokens": 0, "images": 0,
             "seconds": 0.0}
    resumed = run.latest_step()
    if resumed is None and config.init_from is not None and config.modality == "language":
        earlier = Policy.load(Path(run.path.parent) / config.init_from.run_id() / BASE_DIR, device="cpu",
                              dtype=torch.float32)
        model.load_state_dict(earlier.model.state_dict())  # same spec and tokenizer: an earlier stage
    elif resumed is None and config.init_from is not None:
        text = Policy.load(Path(run.path.parent) / config.init_from.run_id() / BASE_DIR, device="cpu",
                           dtype=torch.float32)
        copy_text_into_vision(text.model, model, config.spec)
        if config.cross_gate_init is not None:
            with torch.no_grad():
                for name, p in model.named_parameters():
                    if name.endswith(("cross_attn_attn_gate", "cross_attn_mlp_gate")):
                        p.fill_(config.cross_gate_init)
    if resumed is None and config.encoder_steps:  # before the first checkpoint: a resumed run has the warmed-up ViT
        warm_up_encoder(model, processor, config, log=run.log, progress=progress)
    if resumed is None and config.reader_steps:
        warm_up_reader(model, processor, config, log=run.log, progress=progress)
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optim = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                               {"params": no_decay, "weight_decay": 0.0}],
                              lr=config.learning_rate, betas=config.betas)
    if resumed is not None:
        saved = torch.load(run.checkpoint_dir(resumed) / "state.pt", weights_only=False)
        model.load_state_dict(saved["model"])
        optim.load_state_dict(saved["optim"])
        state = saved["state"]

    def save(step: int) -> None:
        def write(folder: Path) -> None:
            torch.save({"model": model.state_dict(), "optim": optim.state_dict(), "state": dict(state)},
                       folder / "state.pt")
        run.save_checkpoint(step, write)
        for old in run.checkpoints()[:-1]:  # resuming needs only the newest
            shutil.rmtree(run.checkpoint_dir(old), ignore_errors=True)

    if state["step"] == 0 and not run.checkpoints():
        print(f"Pretraining the tiny {config.modality} base ({config.steps} steps, "
              f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, {config.num_threads} "
              f"thread(s)) into {run.path}", file=sys.stderr)
    bar = tqdm(total=config.steps, initial=state["step"], desc=f"pretrain tiny {config.modality} base",
               disable=not progress, dynamic_ncols=True)
    done_here = 0
    window = {"loss": 0.0, "n": 0, "tokens": 0, "t": time.perf_counter()}
    while state["step"] < config.steps:
        step = state["step"]
        started = time.perf_counter()
        text_step = config.modality == "language" or (config.replay_every and step % config.replay_every
                                                      == config.replay_every - 1)
        if config.modality == "language":
            batch, state["cursor"] = text_batch(tokenizer, config.corpus, config.seed, state["cursor"],
                                                config.rows, config.row_tokens, positions=config.isolate_examples)
        elif text_step:
            batch, state["replay_cursor"] = text_batch(tokenizer, config.replay, config.seed + 1,
                                                       state["replay_cursor"], config.rows, config.row_tokens)
        else:
            batch, state["cursor"] = vision_batch(processor, config.corpus, config.seed, state["cursor"],
                                                  config.image_batch)
            state["images"] += config.image_batch
        for g in optim.param_groups:
            g["lr"] = _lr(config, step)
        inputs = isolated(batch) if config.isolate_examples else batch
        with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=config.bf16_autocast):
            loss = model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optim.step()
        optim.zero_grad(set_to_none=True)
        tokens = int(batch["attention_mask"].sum())
        state["tokens"] += tokens
        state["answer_tokens"] += int((batch["labels"] != -100).sum())
        state["step"] = step + 1
        state["seconds"] += time.perf_counter() - started
        window["loss"] += loss.item()
        window["n"] += 1
        window["tokens"] += tokens
        bar.update(1)
        if state["step"] % config.log_every == 0 or state["step"] == config.steps:
            elapsed = time.perf_counter() - window["t"]
            row = {"loss": window["loss"] / window["n"], "lr": _lr(config, step), "tokens": state["tokens"],
                   "answer_tokens": state["answer_tokens"], "images": state["images"],
                   "seconds": round(state["seconds"], 2), "tokens_per_s": window["tokens"] / max(elapsed, 1e-9)}
            run.log(state["step"], **row)
            bar.set_postfix(loss=f"{row['loss']:.3f}", tok_s=f"{row['tokens_per_s']:.0f}")
            window = {"loss": 0.0, "n": 0, "tokens": 0, "t": time.perf_counter()}
        done_here += 1
        if state["step"] % config.save_every == 0 or state["step"] == config.steps:
            save(state["step"])
            if stop_after is not None and done_here >= stop_after and state["step"] < config.steps:
                bar.close()
                return
    bar.close()
    model.eval()
    name = f"tiny-{config.modality}-pretrained-{run.run_id}"
    Policy(model, processor, scale="tiny", modality=config.modality, name=name).save(run.path / BASE_DIR)
    run.mark_done({k: state[k] for k in ("step", "tokens", "answer_tokens", "images", "seconds")})


def pretrained_base(modality: str, *, spec: TinySpec | None = None, root: str | Path | None = None,
                    progress: bool = True, recipe: str = DEFAULT_RECIPE):
    """``(model, processor)`` of the package's tiny base for ``modality`` (text ``recipe``, one of
    :data:`RECIPES`), built on first use.

    The first call trains it (minutes, with a progress bar) into ``runs/tiny-base-<modality>-<hash>``;
    later calls load it from there.
    """
    from sftrl_repro.models.policy import Policy

    config = default_config(modality, spec, recipe=recipe)
    run = pretrain_base(config, root=root, progress=progress)
    policy = Policy.load(run.path / BASE_DIR, device="cpu", dtype=torch.float32)
    return policy.model, policy.processor


def base_summary(run: Run) -> dict[str, Any]:
    """The ``DONE`` summary of a finished base run (steps, tokens, images, seconds)."""
    return json.loads((run.path / "DONE").read_text() or "{}")


__all__ = ["BASE_SPEC", "RECIPES", "DEFAULT_RECIPE", "ISOLATED_STEPS", "VISION_RECIPES", "DEFAULT_VISION_RECIPE", "ENCODER_STEPS",
           "CardSlotHead", "warm_up_encoder", "card_rows", "PretrainConfig", "arithmetic_config", "default_config", "base_recipe", "pretrain_base", "pretrained_base",
           "text_batch", "vision_batch", "encode_example", "text_skills", "copy_skills", "vision_skills", "copy_text_into_vision", "base_summary"]


# -------------------------------------------------------------------------------------- base skills
def _answers(policy, prompts: list[str], images=None, batch: int = 64, max_new_tokens: int = 96) -> list[str]:
    out: list[str] = []
    for i in range(0, len(prompts), batch):
        convs = [[user_message(p, image=images is not None)] for p in prompts[i:i + batch]]
        ims = None if images is None else list(images[i:i + batch])
        out += policy.generate(convs, ims, max_new_tokens=max_new_tokens, temperature=0.0,
                               with_logprobs=False).texts
    return out


def _formula_makes(answer: str, numbers: list[int], target: int) -> bool:
    from sftrl_repro.prompts.gp import parse_gp_answer
    from sftrl_repro.rewards import arith

    formula = parse_gp_answer("{" + answer + "}").formula or parse_gp_answer(answer).formula
    if formula is None:
        return False
    tokens = arith.parse_formula(arith.strip_tail(formula))
    if tokens is None or sorted(arith.numbers_in(tokens)) != sorted(numbers):
        return False
    return arith.evaluate(tokens) == target


def _task_hands(n: int, rule: str, seed: int) -> list[list[str]]:
    import numpy as np

    from sftrl_repro.games.cards import deal_ranks

    rng = np.random.default_rng(seed)
    return [deal_ranks(rng, rule) for _ in range(n)]


def text_skills(policy, n: int = 200, seed: int = 12345) -> dict[str, float]:
    """The text base's own skills, greedy, on fresh draws (seeds the corpus never uses).

    * ``rule_reading_<rule>``: the numbers of 4 task hands, in the corpus's rule-reading format,
      under the task's rule sentence (``id``: J/Q/K = 10; ``ood``: 11/12/13), rules the corpus never
      states;
    * ``make24_<rule>``: make-24 in the corpus's plain-number format, on the values of task hands
      under that rule (exact check: each number once, value 24);
    * ``make_t``: the corpus's own make-T puzzles (all targets);
    * ``gp24_<rule>_success`` / ``gp24_<rule>_numbers``: zero-shot on the task's own prompt (never
      seen): success, and the share whose ``"number"`` field is right under the stated rule;
    * ``route_<vocabulary>``: action accuracy on the corpus's route questions, per vocabulary.
    """
    import random

    from sftrl_repro.data.pretrain import gp as pgp
    from sftrl_repro.data.pretrain import virl as pvirl
    from sftrl_repro.games.cards import card_values, rule_description
    from sftrl_repro.prompts.gp import gp_prompt
    from sftrl_repro.prompts.virl import parse_virl_answer
    from sftrl_repro.rewards.gp import numbers_field_correct, verify_gp

    out: dict[str, float] = {}
    for rule in ("id", "ood"):
        hands = _task_hands(n, rule, seed + (rule == "ood"))
        prompts = [f"Card values: {rule_description(rule)}; A is 1, other cards count their pips.\n"
                   f"Cards: {h!r}\nWhat are the numbers?" for h in hands]
        answers = _answers(policy, prompts, max_new_tokens=24)
        out[f"rule_reading_{rule}"] = sum(numbers_field_correct("{" + a + "}", h, rule=rule)
                                          for a, h in zip(answers, hands)) / n
        values = [card_values(h, rule) for h in hands]
        answers = _answers(policy, [f"Make 24 from {' '.join(map(str, v))}." for v in values], max_new_tokens=32)
        out[f"make24_{rule}"] = sum(_formula_makes(a, v, 24) for a, v in zip(answers, values)) / n
        answers = _answers(policy, [gp_prompt(h, rule=rule, modality="language", target=24) for h in hands])
        out[f"gp24_{rule}_success"] = sum(verify_gp(a, h, rule=rule).reward > 0 for a, h in zip(answers, hands)) / n
        out[f"gp24_{rule}_numbers"] = sum(numbers_field_correct(a, h, rule=rule) for a, h in zip(answers, hands)) / n
    rng = random.Random(seed)
    puzzles = [pgp.make_t_puzzle(rng) for _ in range(n)]
    answers = _answers(policy, [pgp.make_t_prompt(v, t, 1) for v, t, _ in puzzles], max_new_tokens=32)
    out["make_t"] = sum(_formula_makes(a, v, t) for a, (v, t, _) in zip(answers, puzzles)) / n
    routes = [pvirl.route_example(random.Random(seed * 7 + i)) for i in range(2 * n)]
    answers = _answers(policy, [p for p, _ in routes], max_new_tokens=80)
    for vocab, words in (("relative", "'left', 'right'"), ("absolute", "'north'"), ("abbreviated", "'N'")):
        pairs = [(a, t) for (p, t), a in zip(routes, answers) if words in p]
        out[f"route_{vocab}"] = (sum(parse_virl_answer(a).action == parse_virl_answer(t).action for a, t in pairs)
                                 / max(1, len(pairs)))
    return out


def copy_skills(policy, n: int = 60, seed: int = 99) -> dict[str, float]:
    """Does the model copy a hand by its content or by its position? Greedy, on the corpus's own
    ``"cards"``/``"number"`` rule-reading prompts (fresh draws):

    * ``hand_copy_plain``: share of answers whose ``"cards"`` line is the hand, prompts as the
      default corpus writes them (the hand at a fixed distance from the question);
    * ``hand_copy_asides``: the same with 0-3 aside sentences between the hand and the question
      (:func:`~sftrl_repro.data.pretrain.gp.asides`): a copy by position fails here, one by content not;
    * ``recall``: share of :func:`~sftrl_repro.data.pretrain.recall.recall` lists copied exactly.

    Measured (README, "The tiny base"): the default text base 59 / 15 of 60 (plain / asides), recall 0.
    """
    from sftrl_repro.data.pretrain import corpus

    out: dict[str, float] = {}
    for name, asides in (("hand_copy_plain", False), ("hand_copy_asides", True)):
        spec = CorpusSpec(weights=(("rule_reading", 1.0),), asides=asides)
        examples = [e for e in corpus(spec, seed, 20 * n) if e.answer.startswith('"cards"')][:n]
        answers = _answers(policy, [e.prompt for e in examples], max_new_tokens=40)
        out[name] = sum(a.split("\n")[0].strip() == e.answer.split("\n")[0] for e, a in zip(examples, answers)) / len(examples)
    examples = corpus(CorpusSpec(weights=(("recall", 1.0),)), seed, n)
    answers = _answers(policy, [e.prompt for e in examples], max_new_tokens=48)
    out["recall"] = sum(a.strip() == e.answer for e, a in zip(examples, answers)) / n
    return out


def vision_skills(policy, n: int = 200, seed: int = 12345) -> dict[str, float]:
    """The vision base's recognition, greedy: the 4 ranks of an image as a multiset (the paper's
    recognition accuracy) on the corpus's own card images (fresh draws) and on the task's images
    (the green table, never seen: black suits = ID, red suits = visual OOD)."""
    import random

    from sftrl_repro.data.pretrain import vision as pvision
    from sftrl_repro.games.cards import SUITS
    from sftrl_repro.games.render import render_hand
    from sftrl_repro.prompts.gp import parse_gp_answer
    from sftrl_repro.rewards.gp import cards_match

    size = policy.model.config.vision_config.image_size
    question = pvision.RECOGNITION_QUESTIONS[0]
    rng = random.Random(seed)
    out: dict[str, float] = {}
    own = []
    for _ in range(n):
        cards = pvision.draw_cards(rng, face_p=0.6)
        suits = [rng.choice(("spades", "clubs", "hearts", "diamonds")) for _ in cards]
        own.append((cards, pvision.card_image(cards, suits, rng, size)))
    for name, items in (
        ("recognition_own_images", own),
        ("recognition_task_black", [(h, render_hand(h, [rng.choice(SUITS["id"]) for _ in h], size))
                                    for h in _task_hands(n, "id", seed)]),
        ("recognition_task_red", [(h, render_hand(h, [rng.choice(SUITS["ood"]) for _ in h], size))
                                  for h in _task_hands(n, "id", seed + 1)]),
    ):
        answers = _answers(policy, [question] * len(items), images=[im for _, im in items], max_new_tokens=32)
        out[name] = sum(cards_match(parse_gp_answer("{" + a + "}").cards, h) for a, (h, _) in zip(answers, items)) / n
        out[name + "_in_order"] = sum((parse_gp_answer("{" + a + "}").cards or []) == h
                                      for a, (h, _) in zip(answers, items)) / n
    return out


def _with_threads(config: PretrainConfig, n: int) -> PretrainConfig:
    """``config`` and the earlier stages it starts from, trained with ``n`` threads where threads are
    a speed setting (version 2 configs); a version 1 stage (the default bases) keeps its recorded 1."""
    earlier = None if config.init_from is None else _with_threads(config.init_from, n)
    return replace(config, num_threads=n if config.version >= 2 else config.num_threads, init_from=earlier)


def main(argv: list[str] | None = None) -> None:
    """``python -m sftrl_repro.trainers.pretrain [--modality language|vision|both]``: build (or
    resume, or find finished) the package's default tiny base(s) under ``runs/``; prints the folders."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sftrl_repro.trainers.pretrain", description=main.__doc__)
    parser.add_argument("--modality", choices=("language", "vision", "both"), default="both")
    parser.add_argument("--recipe", choices=RECIPES, default=DEFAULT_RECIPE,
                        help="how the text base is made (the default base: %(default)s)")
    parser.add_argument("--vision-recipe", choices=VISION_RECIPES, default=DEFAULT_VISION_RECIPE,
                        help="how the vision base learns to see (the default base: %(default)s)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; only the 'staged' and 'isolated' recipes' runs take it as a speed setting (2 when the "
                             "build has the 2-core machine to itself: 2.4x faster), the default base's id records 1")
    args = parser.parse_args(argv)
    check_int("threads", args.threads, low=1)
    if args.threads != 1 and args.recipe == "single" and (args.modality != "vision" or args.vision_recipe == "captions"):
        parser.error("--threads is not valid with --recipe single (text) nor --vision-recipe captions: the default "
                     "bases' run ids record 1 thread")
    for modality in ("language", "vision") if args.modality == "both" else (args.modality,):
        config = default_config(modality, recipe=args.recipe, vision_recipe=args.vision_recipe)
        run = pretrain_base(_with_threads(config, args.threads))
        print(modality, run.path / BASE_DIR, base_summary(run))


if __name__ == "__main__":
    main()
