"""The tiny base's corpus and trainer: deterministic, never the task, resumable, cached."""

from __future__ import annotations

import collections
import json
import math
import random
import re
from dataclasses import replace

import numpy as np
import pytest
import torch

from sftrl_repro.data.pretrain import TEXT_CORPUS, VISION_CORPUS, CorpusSpec, corpus, corpus_digest, example_at
from sftrl_repro.data.pretrain import gp as pgp
from sftrl_repro.experiments.runs import Run, RunConfigMismatch
from sftrl_repro.games.cards import deal_ranks, rule_description
from sftrl_repro.models.tiny import TinySpec, build_tiny
from sftrl_repro.prompts.gp import gp_prompt
from sftrl_repro.trainers.pretrain import (
    BASE_DIR,
    PretrainConfig,
    copy_text_into_vision,
    encode_example,
    pretrain_base,
    text_batch,
    vision_batch,
    with_digest,
)

torch.set_num_threads(1)

MICRO = TinySpec(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, cross_attention_layers=(1,),
                 image_size=32, patch_size=8, vision_hidden_size=16, vision_layers=1, vision_global_layers=1,
                 vision_heads=2)
MICRO_VISION_CORPUS = replace(VISION_CORPUS, image_size=32)


@pytest.fixture(scope="module")
def text_corpus():
    return corpus(TEXT_CORPUS, 0, 3000)


@pytest.fixture(scope="module")
def vision_corpus():
    return corpus(VISION_CORPUS, 0, 150)


# ------------------------------------------------------------------------------------------ corpus
def test_corpus_is_a_pure_function_of_seed_and_index():
    a = [example_at(TEXT_CORPUS, 3, i) for i in (0, 7, 99)]
    b = [example_at(TEXT_CORPUS, 3, i) for i in (99, 7, 0)][::-1]
    assert [(e.prompt, e.answer) for e in a] == [(e.prompt, e.answer) for e in b]
    assert example_at(TEXT_CORPUS, 3, 0).prompt != example_at(TEXT_CORPUS, 4, 0).prompt
    assert corpus_digest(TEXT_CORPUS, 0, 16) == corpus_digest(TEXT_CORPUS, 0, 16)
    im1, im2 = example_at(VISION_CORPUS, 0, 5).image, example_at(VISION_CORPUS, 0, 5).image
    assert np.array_equal(im1, im2)


def test_corpus_mixes_every_kind(text_corpus, vision_corpus):
    assert {e.kind for e in text_corpus} == {"rule_reading", "make_t", "card_puzzle", "route"}
    sheets = CorpusSpec(weights=(("make_t_sheet", 1.0),))
    assert {e.kind for e in corpus(sheets, 0, 5)} == {"make_t_sheet"}
    assert {e.kind for e in vision_corpus} == {"card_caption", "street_scene"}


def test_corpus_never_holds_the_gp_task(text_corpus, vision_corpus):
    """No GeneralPoints prompt with the target 24 (either rule, modality or prompt style), no task
    rule sentence, and no card puzzle with the target 24."""
    from sftrl_repro.data.pretrain import ARITHMETIC_CORPUS, ISOLATED_CORPUS, STAGED_CORPUS

    drills = corpus(CorpusSpec(weights=(("rule_drill", 1.0),)), 0, 300)
    text_corpus = (text_corpus + corpus(STAGED_CORPUS, 0, 2000) + corpus(ARITHMETIC_CORPUS, 0, 500) + drills
                   + corpus(ISOLATED_CORPUS, 0, 2000))
    everything = "\n".join(e.prompt + "\n" + e.answer for e in text_corpus + vision_corpus)
    rng = np.random.default_rng(0)
    for rule in ("id", "ood"):
        assert not re.search(re.escape(rule_description(rule)) + r"(?!, ')", everything)
        for _ in range(150):
            cards = deal_ranks(rng, rule)
            for modality in ("language", "vision"):
                for style in ("authors", "clean"):
                    prompt = gp_prompt(cards, rule=rule, modality=modality, target=24, prompt_style=style)
                    assert prompt.strip() not in everything
    for e in text_corpus + vision_corpus:
        if e.kind in ("card_puzzle", "card_caption") and '"formula"' in e.answer:
            assert "=24\"" not in e.answer, e
        if e.kind in ("rule_reading", "rule_drill", "card_puzzle", "card_caption"):
            assert not re.search(r"count as '10'(?!, ')", e.prompt) and "'11', '12', and '13'" not in e.prompt


def test_cards_sit_at_varying_distances_from_the_question(text_corpus):
    """Asides between the cards and the question vary the distance a copy has to reach back, so the
    base learns to copy the hand by its content (a fixed layout teaches copying by position)."""
    from sftrl_repro.data.pretrain import STAGED_CORPUS

    gaps = {len(e.prompt) - e.prompt.index("Cards: [") for e in corpus(STAGED_CORPUS, 0, 3000) if "Cards: [" in e.prompt
            and e.kind in ("rule_reading", "card_puzzle")}
    assert len(gaps) > 20
    assert not any("Remember: " in e.prompt for e in text_corpus)  # the default corpus has none
    restated = [e for e in corpus(STAGED_CORPUS, 0, 3000) if "Remember: " in e.prompt]
    assert restated and all(e.prompt.index("Remember: ") > e.prompt.index("[") for e in restated)


def test_recall_copies_a_list_from_varying_distances():
    """A recall answer is the list exactly as the prompt writes it, and the list sits at many
    distances from the end of the prompt (a copy by position cannot answer them all)."""
    spec = CorpusSpec(weights=(("recall", 1.0),))
    examples = corpus(spec, 0, 400)
    assert all(e.kind == "recall" and e.answer in e.prompt and e.answer.strip() for e in examples)
    gaps = {len(e.prompt) - e.prompt.index(e.answer) for e in examples}
    assert len(gaps) > 100 and max(gaps) - min(gaps) > 300
    assert any(e.prompt.index(e.answer) > len(e.prompt) // 2 for e in examples)  # question first, list last


def test_diverse_rules_never_are_task_rules_and_fixed_is_the_ablation():
    rng = random.Random(0)
    drawn = {pgp.draw_rule(rng) for _ in range(3000)}
    assert not drawn & set(pgp.TASK_RULES)
    assert any(len(set(v)) == 3 for v in drawn) and any(len(set(v)) == 1 for v in drawn)
    assert {pgp.draw_rule(rng, "fixed") for _ in range(10)} == {(10, 10, 10)}
    with pytest.raises(ValueError, match="'diverse', 'fixed'"):
        CorpusSpec(rules="random")


def test_rule_mix_sets_the_shares_of_distinct_equal_and_paired_rules():
    rng = random.Random(0)
    kinds = collections.Counter(len(set(pgp.draw_rule(rng, mix=(0.8, 0.1, 0.1)))) for _ in range(4000))
    assert abs(kinds[3] / 4000 - 0.8) < 0.03 and abs(kinds[1] / 4000 - 0.1) < 0.02
    assert {len(set(pgp.draw_rule(rng, mix=(1, 0, 0)))) for _ in range(500)} == {3}
    # the corpus passes it on: under distinct-only rules no all-equal sentence is ever stated
    weights = (("rule_reading", 0.5), ("card_puzzle", 0.5))
    all_equal = re.compile(r"count as '\d+'[^,]")
    assert any(all_equal.search(e.prompt) for e in corpus(CorpusSpec(weights=weights), 0, 600))
    assert not any(all_equal.search(e.prompt)
                   for e in corpus(CorpusSpec(weights=weights, rule_mix=(1.0, 0.0, 0.0)), 0, 600))
    # the default keeps the corpus (and so the cached base's id) as it was
    assert corpus(CorpusSpec(), 0, 200) == corpus(CorpusSpec(rule_mix=pgp.RULE_MIX), 0, 200)
    for bad in ((1.0, 0.0), (-1.0, 1.0, 1.0), (0.0, 0.0, 0.0)):
        with pytest.raises(ValueError, match="rule_mix"):
            CorpusSpec(rule_mix=bad)


def test_rule_drills_read_every_hand_under_mostly_distinct_rules():
    """A drill states one rule (never a task rule; J/Q/K distinct in most drills) and gives the
    numbers of each of its numbered hands under it, in order, the hands themselves in the prompt."""
    rng = random.Random(0)
    rules = [pgp.draw_distinct_rule(rng) for _ in range(2000)]
    assert not set(rules) & set(pgp.TASK_RULES)
    assert 0.8 < sum(len(set(v)) == 3 for v in rules) / len(rules) < 0.95
    for i in range(200):
        prompt, answer = pgp.rule_drill(random.Random(i))
        stated = re.search(r"Card values: (.*); A is 1", prompt).group(1)
        values = _rule_in(stated)
        assert values not in pgp.TASK_RULES and _states(stated, values)
        table = pgp.rank_values(values)
        hands = re.findall(r"^(\d+)\) (.*)$", prompt, flags=re.M)
        lines = re.findall(r"^(\d+)\) (.*)$", answer, flags=re.M)
        assert 4 <= len(hands) == len(lines) <= 8 and len(answer.splitlines()) == len(lines)
        for (i_hand, cards), (i_line, numbers) in zip(hands, lines):
            assert i_hand == i_line
            assert [table[c] for c in cards.split()] == [int(x) for x in numbers.split()], (prompt, answer)


def _rule_in(sentence: str) -> tuple[int, int, int]:
    """The (J, Q, K) values of a sentence of ``pgp.rule_sentence`` (three numbers, or one for all)."""
    numbers = tuple(int(x) for x in re.findall(r"\d+", sentence))
    return numbers if len(numbers) == 3 else numbers * 3


def _states(sentence: str, values) -> bool:
    """Whether ``pgp.rule_sentence`` words ``values`` as ``sentence`` (in one of its wordings)."""
    return any(pgp.rule_sentence(values, random.Random(seed)) == sentence for seed in range(60))


def test_corpus_never_holds_a_virl_task_prompt(text_corpus):
    from sftrl_repro.envs.virl.env import VIRLEnv

    everything = "\n".join(e.prompt for e in text_corpus)
    for routes in ("train", "vln_mini"):
        for actions in ("absolute", "relative"):
            env = VIRLEnv(actions=actions, routes=routes, n_routes=20) if routes == "train" else (
                VIRLEnv(actions=actions, routes=routes))
            for i in range(min(10, len(env.route_set.routes))):
                obs, _ = env.reset(seed=i, options={"route_index": i})
                assert obs["text"].strip() not in everything
                instructions = obs["text"].split("[Instruction]")[1].split("[")[0].strip()
                assert instructions not in everything


def test_make_t_answers_are_right():
    rng = random.Random(1)
    from sftrl_repro.rewards import arith

    for _ in range(200):
        numbers, target, formula = pgp.make_t_puzzle(rng)
        tokens = arith.parse_formula(formula)
        assert sorted(arith.numbers_in(tokens)) == sorted(numbers) and arith.evaluate(tokens) == target


def test_make_24_draws_cover_the_solvable_multisets_and_sheets_are_right():
    from collections import Counter

    from sftrl_repro.rewards import arith

    assert len(pgp.solvable_24()) == 1362
    rng = random.Random(2)
    hands = Counter(tuple(sorted(pgp.make_t_puzzle(rng, p24=1.0, draw="solvable")[0])) for _ in range(4000))
    assert set(hands) <= set(pgp.solvable_24()) and len(hands) > 1000  # uniform: ~1291 distinct expected
    others = [pgp.make_t_puzzle(rng, p24=0.0, draw="solvable")[1] for _ in range(300)]
    assert 24 not in others
    for _ in range(50):
        prompt, answer = pgp.make_t_sheet(rng)
        lines = answer.splitlines()
        assert 4 <= len(lines) <= 8 and len(prompt.splitlines()) == len(lines) + 1
        for i, line in enumerate(lines):
            assert line.startswith(f"{i + 1}. ")
            formula, target = line[len(f"{i + 1}. "):].rsplit("=", 1)
            tokens = arith.parse_formula(formula)
            assert arith.evaluate(tokens) == int(target)
            assert " ".join(map(str, sorted(arith.numbers_in(tokens)))) in " ".join(
                " ".join(map(str, sorted(int(x) for x in row.replace(",", " ").split(":")[-1].split("->")[0].split()
                                          if x.isdigit()))) for row in prompt.splitlines()[1:])


# ----------------------------------------------------------------------------------------- batches
def test_text_batch_packs_and_labels_answers_only():
    _, tok = build_tiny("language", MICRO)
    batch, cursor = text_batch(tok, TEXT_CORPUS, 0, 0, rows=2, row_tokens=256)
    assert batch["input_ids"].shape == (2, 256) and cursor >= 2
    labelled = batch["labels"][batch["labels"] != -100].tolist()
    answers = []
    for i in range(cursor):
        ids, labels = encode_example(tok, example_at(TEXT_CORPUS, 0, i))
        if len(ids) <= 256:  # longer ones are skipped
            answers += [t for t in labels if t != -100]
    assert sorted(labelled) == sorted(answers)
    assert tok.decode([t for t in labels if t != -100]).endswith("<|eot_id|>")
    again, cursor2 = text_batch(tok, TEXT_CORPUS, 0, 0, rows=2, row_tokens=256)
    assert cursor2 == cursor and torch.equal(again["input_ids"], batch["input_ids"])


def test_isolated_examples_see_only_themselves_in_a_packed_row(tmp_path):
    from sftrl_repro.trainers.pretrain import isolated

    model, tok = build_tiny("language", MICRO, seed=5)
    plain, _ = text_batch(tok, TEXT_CORPUS, 0, 0, rows=1, row_tokens=400)
    batch, _ = text_batch(tok, TEXT_CORPUS, 0, 0, rows=1, row_tokens=400, positions=True)
    assert "position_ids" not in plain and torch.equal(plain["input_ids"], batch["input_ids"])
    pos = batch["position_ids"][0]
    starts = [i for i in range(len(pos)) if pos[i] == 0]
    assert len(starts) >= 3  # two examples or more, then the padding
    first, second = starts[1], starts[2]  # the second example of the row
    alone = batch["input_ids"][:, first:second]
    with torch.no_grad():
        want = model(input_ids=alone).logits[0]
        got = model(**isolated(batch)).logits[0, first:second]
        shared = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[0, first:second]
    assert torch.allclose(got, want, atol=1e-4)  # as if alone in its row
    assert not torch.allclose(shared, want, atol=1e-2)  # read as one sequence, it sees its neighbour
    with pytest.raises(ValueError, match="'language' setting"):
        _micro(modality="vision", isolate_examples=True)
    assert "isolate_examples" not in _micro().to_dict()  # older configs keep their ids
    runs = [pretrain_base(_micro(steps=2, isolate_examples=iso), root=tmp_path, progress=False) for iso in (False, True)]
    losses = [[r["loss"] for r in run.metrics()] for run in runs]
    assert runs[1].done and all(math.isfinite(x) for x in losses[1]) and losses[0] != losses[1]


def test_vision_batch_and_text_weights_in_the_vision_model():
    text, _ = build_tiny("language", MICRO, seed=3)
    vision, processor = build_tiny("vision", MICRO, seed=4)
    copy_text_into_vision(text, vision, MICRO)
    ids = torch.tensor([[1, 20, 30, 40, 50]])
    with torch.no_grad():
        want = text(input_ids=ids).logits
        got = vision(input_ids=ids).logits[..., : want.shape[-1]]
    assert torch.allclose(want, got, atol=1e-5)
    batch, cursor = vision_batch(processor, MICRO_VISION_CORPUS, 0, 0, 3)
    assert cursor == 3 and batch["pixel_values"].shape[0] == 3
    assert batch["cross_attention_mask"].shape[:2] == batch["input_ids"].shape
    loss = vision(**batch).loss
    assert torch.isfinite(loss)


# ----------------------------------------------------------------------------------------- trainer
def _micro(**kw) -> PretrainConfig:
    base = dict(spec=MICRO, steps=4, rows=2, row_tokens=128, save_every=2, log_every=1, warmup_steps=1)
    base.update(kw)
    return PretrainConfig(**base)


def test_pretraining_resumes_to_the_same_weights_and_refuses_a_changed_config(tmp_path):
    config = _micro()
    whole = pretrain_base(config, root=tmp_path / "a", progress=False)
    part = pretrain_base(config, root=tmp_path / "b", progress=False, stop_after=2)
    assert not part.done and part.latest_step() == 2
    part = pretrain_base(config, root=tmp_path / "b", progress=False)
    assert part.done
    w1 = torch.load(whole.checkpoint_dir(4) / "state.pt", weights_only=False)["model"]
    w2 = torch.load(part.checkpoint_dir(4) / "state.pt", weights_only=False)["model"]
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert [r["loss"] for r in whole.metrics()] == [r["loss"] for r in part.metrics()]
    assert (whole.path / BASE_DIR / "config.json").is_file()
    with pytest.raises(RunConfigMismatch):
        pretrain_base(replace(config, learning_rate=1e-4), run_id=whole.run_id, root=tmp_path / "a")


def test_vision_base_starts_from_the_text_base(tmp_path):
    text = _micro(steps=2)
    config = _micro(modality="vision", corpus=MICRO_VISION_CORPUS, replay=TEXT_CORPUS, replay_every=2,
                    init_from=text, steps=2, image_batch=2, cross_gate_init=0.5)
    run = pretrain_base(config, root=tmp_path, progress=False)
    assert run.done and (tmp_path / text.run_id() / "DONE").is_file()
    assert [r["images"] for r in run.metrics()] == [2, 2]  # step 1 images, step 2 a text (replay) step
    from sftrl_repro.models.policy import Policy

    gates = [p for n, p in Policy.load(run.path / BASE_DIR, device="cpu").model.named_parameters()
             if n.endswith("cross_attn_attn_gate")]
    assert gates and all(abs(float(g) - 0.5) < 0.1 for g in gates)  # opened, then trained 1 image step
    assert "cross_gate_init" not in text.to_dict()  # older configs keep their hash


def test_a_text_stage_starts_from_the_earlier_stage(tmp_path):
    from sftrl_repro.data.pretrain import ARITHMETIC_CORPUS
    from sftrl_repro.models.policy import Policy

    first = _micro(corpus=ARITHMETIC_CORPUS, steps=2)
    second = _micro(init_from=first, steps=1, learning_rate=1e-9, warmup_steps=1)  # ~no change
    run = pretrain_base(second, root=tmp_path, progress=False)
    assert run.done and (tmp_path / first.run_id() / "DONE").is_file()
    a = Policy.load(tmp_path / first.run_id() / BASE_DIR, device="cpu").model.state_dict()
    b = Policy.load(run.path / BASE_DIR, device="cpu").model.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)  # the second stage began at the first's weights
    fresh = pretrain_base(_micro(steps=1, learning_rate=1e-9, warmup_steps=1), root=tmp_path / "r", progress=False)
    c = Policy.load(fresh.path / BASE_DIR, device="cpu").model.state_dict()
    assert not all(torch.allclose(a[k], c[k], atol=1e-6) for k in a)
    with pytest.raises(ValueError, match="same spec"):
        _micro(init_from=_micro(spec=replace(MICRO, hidden_size=64)))


def test_bf16_autocast_trains_float32_weights_with_other_numerics_under_its_own_id(tmp_path):
    from sftrl_repro.models.policy import Policy

    plain, fast = _micro(steps=2), _micro(steps=2, bf16_autocast=True)
    assert fast.run_id() != plain.run_id() and "bf16_autocast" not in plain.to_dict()  # old ids kept
    runs = [pretrain_base(c, root=tmp_path, progress=False) for c in (plain, fast)]
    losses = [[r["loss"] for r in run.metrics()] for run in runs]
    assert all(math.isfinite(x) for x in losses[1]) and losses[0] != losses[1]  # bf16 forward: other losses
    assert abs(losses[0][0] - losses[1][0]) < 0.05 * losses[0][0]  # ... of the same model
    weights = Policy.load(runs[1].path / BASE_DIR, device="cpu").model.state_dict()
    assert all(w.dtype == torch.float32 for w in weights.values())


def test_the_default_base_keeps_its_id_and_the_staged_recipe_is_an_option():
    from sftrl_repro.trainers.pretrain import _with_threads, default_config

    # the default base (and so every study run id built on it) is unchanged by the staged recipe's fields
    assert default_config("language").run_id() == "tiny-base-language-b3687897e8"
    assert default_config("language").corpus_digest == "a3f846438f61"  # asides off: the same corpus
    staged = default_config("vision", recipe="staged")
    assert _with_threads(staged, 2).run_id() == staged.run_id()  # threads: a speed setting from version 2
    assert _with_threads(staged, 2).init_from.init_from.num_threads == 2
    assert staged.init_from.init_from.corpus.make_t_draw == "solvable" and staged.replay.asides
    with pytest.raises(ValueError, match="'single', 'staged', 'isolated'"):
        default_config("language", recipe="mixed")


def test_the_isolated_recipe_is_one_isolated_run_with_recall_and_asides():
    from sftrl_repro.data.pretrain import ISOLATED_CORPUS
    from sftrl_repro.trainers.pretrain import ISOLATED_STEPS, _with_threads, default_config

    text = default_config("language", recipe="isolated")
    assert text.isolate_examples and text.bf16_autocast and text.init_from is None
    assert text.corpus == ISOLATED_CORPUS and text.steps == ISOLATED_STEPS and text.learning_rate == 1e-3
    assert ISOLATED_CORPUS.asides and dict(ISOLATED_CORPUS.weights)["recall"] > 0
    assert text.run_id() == "tiny-base-language-a25e7226de"  # the measured base (README)
    assert _with_threads(text, 2).run_id() == text.run_id()
    vision = default_config("vision", recipe="isolated")
    assert vision.init_from == text and vision.replay == ISOLATED_CORPUS and not vision.isolate_examples
    kinds = {e.kind for e in corpus(ISOLATED_CORPUS, 0, 300)}
    assert kinds == {"rule_reading", "make_t", "card_puzzle", "route", "recall"}


def test_card_rows_are_the_standard_row_off_the_table():
    import random

    from sftrl_repro.data.pretrain.vision import card_row_image
    from sftrl_repro.games.render import TABLE_COLOR, card_layout, render_hand
    from sftrl_repro.trainers.pretrain import card_rows

    images, ranks = card_rows(0, 3, 5, 96)
    again, ranks2 = card_rows(0, 3, 5, 96)
    assert ranks.shape == (5, 4) and torch.equal(ranks, ranks2) and all((a == b).all() for a, b in zip(images, again))
    assert not torch.equal(ranks, card_rows(0, 4, 5, 96)[1])
    hand, suits = ["A", "K", "7", "10"], ["hearts", "spades", "clubs", "diamonds"]
    table = render_hand(hand, suits, 96)
    for seed in range(10):
        im = card_row_image(hand, suits, random.Random(seed), 96)
        assert im.shape == (96, 96, 3) and not (im == TABLE_COLOR).all(axis=-1).any()  # never the green cloth
        for left, top, w, h in card_layout(96):  # the cards' pixels are the task's, off the table
            card, task = im[top:top + h, left:left + w], table[top:top + h, left:left + w]
            inside = ~(task == TABLE_COLOR).all(axis=-1)
            assert (card[inside] == task[inside]).all()
    with pytest.raises(ValueError, match="exactly 4 cards"):
        card_row_image(hand[:3], suits[:3], random.Random(0), 96)


def test_encoder_warm_up_trains_only_the_vit_and_is_a_vision_recipe(tmp_path):
    from sftrl_repro.trainers.pretrain import ENCODER_STEPS, default_config, warm_up_encoder

    text = _micro(steps=1)
    config = _micro(modality="vision", corpus=replace(MICRO_VISION_CORPUS, card_layout="mixed"), replay=TEXT_CORPUS,
                    replay_every=2, init_from=text, steps=1, image_batch=2, encoder_steps=3, encoder_batch=2)
    model, processor = build_tiny("vision", MICRO, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    logged = []
    metrics = warm_up_encoder(model, processor, config, log=lambda step, **m: logged.append((step, m)))
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("model.vision_model.") for k in changed)
    assert logged[-1][0] == 0 and logged[-1][1]["phase_step"] == 3 and logged[-1][1]["phase"] == "encoder"
    assert 0 <= metrics["encoder_card_accuracy"] <= 1
    run = pretrain_base(config, root=tmp_path, progress=False)  # the warm-up inside a run: logged, then captions
    phases = [r.get("phase") for r in run.metrics()]
    assert phases[0] == "encoder" and phases[-1] is None
    # the warm-up's lines survive a reopening of the finished run (which keeps lines up to its last
    # checkpoint: the warm-up is logged at step 0, before the caption steps)
    again = Run(run.run_id, config.to_dict(), root=tmp_path)
    assert [r for r in again.metrics() if r.get("phase") == "encoder"][-1]["phase_step"] == 3
    with pytest.raises(ValueError, match="vision setting"):
        _micro(encoder_steps=2)
    first = default_config("vision", vision_recipe="encoder_first")
    assert first.encoder_steps == ENCODER_STEPS and first.corpus.card_layout == "mixed"
    assert first.init_from.run_id() == "tiny-base-language-b3687897e8"  # the default text base under it
    assert default_config("vision") == first  # the default since the reader warm-up
    assert first.run_id() == "tiny-base-vision-7193cc70b5"
    # the earlier default (captions only) keeps its id, so its cached base and study runs stay valid
    assert default_config("vision", vision_recipe="captions").run_id() == "tiny-base-vision-859acac748"
    with pytest.raises(ValueError, match="'captions', 'encoder_first'"):
        default_config("vision", vision_recipe="rows")


def test_reader_warm_up_trains_only_projector_and_cross_attention_on_rows_it_can_name(tmp_path):
    from sftrl_repro.games.cards import RANKS
    from sftrl_repro.trainers.pretrain import READER_STEPS, card_rows, default_config, reader_batch, warm_up_reader

    model, processor = build_tiny("vision", MICRO, seed=0)
    tok = processor.tokenizer
    batch = reader_batch(processor, 0, 5, 3)
    again = reader_batch(processor, 0, 5, 3)
    assert all(torch.equal(batch[k], again[k]) for k in batch)  # a function of (seed, step)
    _, ranks = card_rows(0, 5, 3, MICRO.image_size)  # the same rows as the encoder warm-up's step 5
    for r in range(3):  # the labels are exactly the answer "cards": [...] and its end of turn
        answer = tok.decode([t for t in batch["labels"][r].tolist() if t != -100])
        assert answer.startswith(f'"cards": {[RANKS[i] for i in ranks[r].tolist()]!r}')
        prompt_len = int((batch["labels"][r] == -100).logical_and(batch["attention_mask"][r] == 1).sum())
        assert batch["cross_attention_mask"][r, prompt_len:].sum() > 0  # the answer's tokens see the image
    assert batch["pixel_values"].shape[0] == 3

    config = _micro(modality="vision", corpus=MICRO_VISION_CORPUS, steps=1, image_batch=2, reader_steps=2,
                    reader_batch=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    logged = []
    metrics = warm_up_reader(model, processor, config, log=lambda step, **m: logged.append((step, m)))
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all("multi_modal_projector" in k or "cross_attn" in k for k in changed)
    assert any("multi_modal_projector" in k for k in changed) and any("cross_attn" in k for k in changed)
    assert all(p.requires_grad for p in model.parameters())  # the frozen parts thawed again for the captions
    assert logged == [(0, {"phase": "reader", "phase_step": 2, "reader_loss": metrics["reader_loss"]})]
    assert metrics["reader_loss"] > 0
    with pytest.raises(ValueError, match="vision setting"):
        _micro(reader_steps=2)
    assert default_config("vision", vision_recipe="encoder_first").reader_steps == READER_STEPS
    assert default_config("vision", vision_recipe="captions").reader_steps == 0


def test_load_policy_builds_and_caches_the_pretrained_base(tmp_path, monkeypatch):
    import sftrl_repro.trainers.pretrain as pretrain
    from sftrl_repro.models import load_policy

    monkeypatch.setenv("SFTRL_REPRO_ROOT", str(tmp_path))
    recipes = []

    def micro_config(modality, spec=None, recipe=pretrain.DEFAULT_RECIPE, **kw):
        recipes.append(recipe)
        return _micro(steps=2)

    monkeypatch.setattr(pretrain, "default_config", micro_config)
    policy = load_policy("tiny", "language", base="pretrained", device="cpu")
    assert policy.name.startswith("tiny-language-pretrained")
    assert len(list((tmp_path / "runs").glob("tiny-base-language-*/DONE"))) == 1
    again = load_policy("tiny", "language", base="pretrained", device="cpu")
    first = dict(policy.model.named_parameters())
    assert all(torch.equal(p, first[k]) for k, p in again.model.named_parameters())
    assert set(recipes) == {pretrain.DEFAULT_RECIPE}
    before = len(recipes)
    isolated = load_policy("tiny", "language", base="isolated", device="cpu")  # the same micro config here
    assert set(recipes[before:]) == {"isolated"}
    assert isolated.name.startswith("tiny-language-isolated")


def test_the_pretrained_base_is_the_default():
    import inspect

    from sftrl_repro.models import load_policy

    assert inspect.signature(load_policy).parameters["base"].default == "pretrained"


def test_copy_skills_tells_a_copy_by_content_from_one_by_position():
    """``copy_skills`` scores scripted policies: one that answers every prompt right, one that copies
    only when no aside moved the hand (a copy by position), one that answers nothing."""
    from types import SimpleNamespace

    from sftrl_repro.trainers.pretrain import copy_skills

    answers = {}
    for asides in (False, True):
        for e in corpus(CorpusSpec(weights=(("rule_reading", 1.0),), asides=asides), 99, 600):  # copy_skills(n=30) reads the first 600
            answers[e.prompt] = e.answer
    for e in corpus(CorpusSpec(weights=(("recall", 1.0),)), 99, 60):
        answers[e.prompt] = e.answer
    moved = tuple(pgp.ASIDES) + ("Remember: ",)

    class Scripted:
        def __init__(self, mode):
            self.mode = mode

        def generate(self, convs, images=None, **kwargs):
            texts = []
            for conv in convs:
                prompt = conv[0]["content"]
                right = answers[prompt]
                if self.mode == "position" and (any(m in prompt for m in moved) or "Repeat" in prompt):
                    right = "'A'"
                texts.append(right if self.mode != "none" else "")
            return SimpleNamespace(texts=texts)

    perfect = copy_skills(Scripted("all"), n=30)
    assert perfect == {"hand_copy_plain": 1.0, "hand_copy_asides": 1.0, "recall": 1.0}
    positional = copy_skills(Scripted("position"), n=30)
    assert positional["hand_copy_plain"] == 1.0 and 0.0 < positional["hand_copy_asides"] < 1.0
    assert positional["recall"] == 0.0
    assert copy_skills(Scripted("none"), n=30) == {"hand_copy_plain": 0.0, "hand_copy_asides": 0.0, "recall": 0.0}
