"""A preallocated KV cache whose attention reads only the filled prefix, and its reuse across turns.

Why: in the tiny models' evaluation every decoding step attends over the cache (a GP hand is 5
attempts of ~55 answer tokens each over prompts of 200-600 tokens; decoding is about half of the
time, the prompts' prefill the other half, measured).
Hugging Face's dynamic cache re-copies the whole cache at every token (``torch.cat``); its
``StaticCache`` preallocates, but every decoding step then attends over all ``prompt + 256`` slots,
the empty ones masked, through SDPA's masked path. :class:`PrefixStaticCache` keeps the
preallocated buffers and hands attention only the slots written so far (the mask is built at that
length too): the same keys and values, so the same attention up to float round-off.

Measured on the study's GP-L init (64 hands, 5 sampled attempts each, one thread, two other
processes on the two cores): 1.13x the episodes per second of ``StaticCache`` in float32 with the
same answers (``benchmarks/bench_rollout.py --eval``), 1.28x in bfloat16 (the study's evaluation
dtype), where 297 of 310 sampled answers are identical (the rest differ by bf16 round-off flipping a
keyed sample). On the GP-VL init (32 red-suit hands, float32) 1.3x Hugging Face's dynamic cache,
the one Mllama used before, with the same answers. Greedy float32 answers are identical to both
Hugging Face caches, text and vision (tested). The package's decode loop
(:func:`~sftrl_repro.models.decode.decode`) decodes into it and drops finished rows from it.
"""

from __future__ import annotations

from transformers import AttentionInterface
from transformers.cache_utils import Cache, StaticLayer
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

#: What :class:`~sftrl_repro.models.policy.Policy` can decode into (``Policy.kv_cache``).
KV_CACHES = ("prefix", "static", "dynamic")
#: The attention implementation of a policy whose keys/values are kept in another dtype than its
#: weights (:func:`sdpa_over_stored_keys`; ``Policy.cast`` sets it on its bfloat16 copies).
STORED_KEYS_SDPA = "sdpa_stored_keys"


def sdpa_over_stored_keys(module, query, key, value, attention_mask, **kwargs):
    """Hugging Face's SDPA attention, computed in the keys' dtype when it is not the query's.

    Why: with bfloat16 weights and the keys/values cached in float32 (``PrefixStaticCache(dtype=)``),
    a decoding step's attention (one query over the whole conversation, bound by memory) runs in
    PyTorch's float32 CPU kernel, 3x faster than its bfloat16 one on the development machine
    (64 conversations x 800 tokens: 8.8 vs 27.5 ms; prefill attention as fast in either); the
    projections and MLPs stay in bfloat16. GP-L evaluation: 1.3x the episodes/s (measured). Same
    inputs in one dtype: exactly ``sdpa``.
    """
    if key.dtype == query.dtype:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    if attention_mask is not None and attention_mask.is_floating_point():  # Mllama's additive cross-attention mask
        attention_mask = attention_mask.to(key.dtype)
    out, weights = sdpa_attention_forward(module, query.to(key.dtype), key, value.to(key.dtype), attention_mask,
                                          **kwargs)
    return out.to(query.dtype), weights


AttentionInterface.register(STORED_KEYS_SDPA, sdpa_over_stored_keys)
AttentionMaskInterface.register(STORED_KEYS_SDPA, sdpa_mask)


class StoredDtypeLayer(StaticLayer):
    """A :class:`~transformers.cache_utils.StaticLayer` that stores the states in ``dtype`` when given
    (else in the incoming states' dtype).

    Why: every decoding step attends from one query over all the stored keys/values, and under
    bfloat16 weights PyTorch's float32 CPU kernel is the faster one (:func:`sdpa_over_stored_keys`)."""

    def __init__(self, max_cache_len: int, dtype=None) -> None:
        super().__init__(max_cache_len=max_cache_len)
        self.dtype = dtype

    def update(self, key_states, value_states, *args, **kwargs):
        if self.dtype is not None:
            key_states, value_states = key_states.to(self.dtype), value_states.to(self.dtype)
        return super().update(key_states, value_states, *args, **kwargs)


class PrefixStaticLayer(StoredDtypeLayer):
    """A self-attention layer whose ``update`` returns the filled slots ``[:, :, :seen]`` (views of
    the preallocated buffers) instead of all ``max_cache_len`` of them, stored in ``dtype`` when given."""

    def lazy_initialization(self, key_states, value_states) -> None:
        """Hugging Face's buffers without its zero fill: every slot that attention reads is written
        first (prefill, then one per step; :meth:`TurnCache.pack` zeroes its rows' padding), and
        zeroing all ``max_cache_len`` slots of a 64-conversation batch was a tenth of a GP
        evaluation's time on the CPU (profiled)."""
        self.device = key_states.device
        self.batch_size, self.num_heads = key_states.shape[:2]
        self.k_head_dim, self.v_head_dim = key_states.shape[-1], value_states.shape[-1]
        shape = (self.batch_size, self.num_heads, self.max_cache_len)
        self.keys = key_states.new_empty((*shape, self.k_head_dim))
        self.values = value_states.new_empty((*shape, self.v_head_dim))
        self.cumulative_length = self.cumulative_length.to(self.device)
        self.is_initialized = True

    def update(self, key_states, value_states, *args, **kwargs):
        keys, values = super().update(key_states, value_states, *args, **kwargs)
        seen = int(self.cumulative_length)
        return keys[:, :, :seen], values[:, :, :seen]

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        """The mask spans what attention will see: the tokens cached so far and the new ones."""
        past = int(self.cumulative_length) if self.is_initialized else 0
        return past + query_length, 0


class ImageStatesLayer(StoredDtypeLayer):
    """Mllama's cross-attention cache layer: the image's projected keys/values, filled once at
    prefill (all ``max_cache_len`` of them), stored in ``dtype`` when given."""


class PrefixStaticCache(Cache):
    """One :class:`PrefixStaticLayer` per self-attention layer, each holding ``max_cache_len`` tokens.

    Mllama's cross-attention layers (vision models) cache the image's projected states instead:
    an :class:`ImageStatesLayer` (a static layer) of the vision length each, as Hugging Face's own
    static cache for Mllama (``MllamaForConditionalGeneration._prepare_static_cache``).

    Args:
        config: the model's config (its text decoder's ``num_hidden_layers``; for Mllama also
            ``cross_attention_layers`` and the vision config's tiles and patches).
        max_cache_len: prompt length + ``max_new_tokens`` of the ``generate`` call it serves.
        num_images: images per conversation (Mllama only).
        dtype: the layers' storage dtype, self- and cross-attention (``None``: the model's);
            ``torch.float32`` under bfloat16 weights needs the :data:`STORED_KEYS_SDPA` attention.
    """

    def __init__(self, config, max_cache_len: int, num_images: int = 1, dtype=None) -> None:
        text = config.get_text_config(decoder=True)
        cross = set(getattr(text, "cross_attention_layers", None) or ())
        layers = []
        for index in range(text.num_hidden_layers):
            if index in cross:
                vision = config.vision_config
                patches = (vision.image_size // vision.patch_size) ** 2 + 1
                layers.append(ImageStatesLayer(max_cache_len=num_images * vision.max_num_tiles * patches, dtype=dtype))
            else:
                layers.append(PrefixStaticLayer(max_cache_len=max_cache_len, dtype=dtype))
        super().__init__(layers=layers)


def image_mark(image) -> str:
    """A short fingerprint of an image (array or PIL), to tell whether a conversation's image changed."""
    import hashlib

    import numpy as np

    array = np.ascontiguousarray(np.asarray(image))
    return hashlib.blake2b(array.tobytes() + str(array.shape).encode(), digest_size=8).hexdigest()


class TurnCache:
    """Each conversation's tokens and keys/values after its last answer, reused by its next turn.

    A multi-turn episode re-sends its whole conversation at every attempt (prompt, answers,
    verifier feedback); without this, every attempt re-encodes all of it, about half of a GP-L
    evaluation's time (measured). :meth:`pack` finds, per conversation, the longest prefix of its
    new prompt's tokens that the store holds (its earlier prompt and answer, up to where the chat
    template re-tokenises them differently), lays the batch out as ``[pad][reused prefix]`` in the
    cache and ``[pad][new tokens]`` as the input, and :meth:`remember` stores what the call
    computed. Positions come from the attention mask (Hugging Face's cumulative sum), so a
    conversation's tokens keep the positions they had: the logits equal a fresh encoding's up to
    float round-off (tested). Mllama: the image is encoded again at every call (its cross-attention
    states are not stored), and a conversation whose image changed reuses nothing. Measured on the
    study's inits (float32, one thread, contended): GP-L 1.72x the prefix cache alone, GP-VL 1.7x
    (32 red-suit hands: the same image through an episode), V-IRL-VL 1.06x (a new image at every
    rail point); the same answers in each. One store serves one batch of episodes under fixed weights
    (:func:`~sftrl_repro.trainers.rollout.collect` makes one per call and forgets finished episodes).

    Attributes:
        entries: ``key -> (token ids, [(keys (H, n, d), values (H, n, d)) per layer], image mark)``
            (``None`` for Mllama's cross-attention layers, whose image states are recomputed).
        reused_tokens, computed_tokens: prompt tokens taken from the store / encoded, over all calls.
    """

    def __init__(self) -> None:
        self.entries: dict = {}
        self.reused_tokens = 0
        self.computed_tokens = 0

    def forget(self, key) -> None:
        """Drop ``key``'s entry (its episode ended)."""
        self.entries.pop(key, None)

    def pack(self, batch, keys, config, max_new_tokens: int, pad_token_id: int, marks=None,
             dtype=None) -> PrefixStaticCache:
        """Re-lay a left-padded prompt batch around the stored prefixes, in place; its cache.

        Args:
            batch: ``Policy.encode_prompts``'s ``(B, P)`` ``input_ids`` and ``attention_mask`` (and
                for Mllama ``cross_attention_mask`` ``(B, P, images, tiles)``, re-laid alike; the
                image itself is encoded again: its cross-attention states are not stored).
            keys: ``B`` hashable conversation keys.
            config: the model's config; max_new_tokens: the call's answer cap.
            marks: ``B`` fingerprints of the conversations' images (:func:`image_mark`; ``None``
                for text): a conversation whose image changed reuses nothing, since its tokens
                after the image placeholder attended to the old one (a V-IRL agent at its next
                rail point).
            dtype: the cache's storage dtype (:class:`PrefixStaticCache`).

        Returns:
            A :class:`PrefixStaticCache` of ``C + S + max_new_tokens`` slots holding the prefixes;
            ``batch`` now holds ``(B, C + S)`` tensors: ``C`` cached columns (the longest reused
            prefix, ``[pad][prefix]`` per row), then ``S`` new ones (the longest remainder,
            ``[pad][new tokens]``).
        """
        import torch

        input_ids, attention_mask = batch["input_ids"], batch["attention_mask"]
        cross = batch.get("cross_attention_mask")
        real = [mask.bool() for mask in attention_mask]
        rows = [ids[r].tolist() for ids, r in zip(input_ids, real)]
        marks = [None] * len(rows) if marks is None else list(marks)
        reused = []
        for key, row, mark in zip(keys, rows, marks):
            stored, _, stored_mark = self.entries.get(key, ((), None, None))
            if stored_mark != mark:
                stored = ()
            n, limit = 0, min(len(stored), len(row) - 1)  # at least one new token to encode
            while n < limit and stored[n] == row[n]:
                n += 1
            reused.append(n)
        width_c = max(reused)
        width_s = max(len(row) - n for row, n in zip(rows, reused))
        size, width = len(rows), width_c + width_s
        ids = torch.full((size, width), pad_token_id, dtype=input_ids.dtype)
        mask = torch.zeros((size, width), dtype=attention_mask.dtype)
        new_cross = None if cross is None else cross.new_zeros((size, width, *cross.shape[2:]))
        for r, (row, n) in enumerate(zip(rows, reused)):
            # where each of the row's real tokens goes: its prefix ends at C, its remainder at C + S
            places = list(range(width_c - n, width_c)) + list(range(width - (len(row) - n), width))
            ids[r, places] = torch.tensor(row, dtype=ids.dtype)
            mask[r, places] = 1
            if cross is not None:
                new_cross[r, places] = cross[r][real[r]]
        cache = PrefixStaticCache(config, width + max_new_tokens, dtype=dtype)
        if width_c:
            for index, layer in enumerate(cache.layers):
                if not isinstance(layer, PrefixStaticLayer):  # Mllama's cross-attention: filled at prefill
                    continue
                k0, v0 = next(self.entries[key][1][index] for key, n in zip(keys, reused) if n)
                layer.lazy_initialization(k0.new_zeros(size, k0.shape[0], 0, k0.shape[-1]),
                                          v0.new_zeros(size, v0.shape[0], 0, v0.shape[-1]))
                for r, (key, n) in enumerate(zip(keys, reused)):
                    # the row's padding: masked, but read by attention, so it must be finite
                    layer.keys[r, :, :width_c - n] = 0
                    layer.values[r, :, :width_c - n] = 0
                    if n:
                        k, v = self.entries[key][1][index]
                        layer.keys[r, :, width_c - n:width_c] = k[:, :n]
                        layer.values[r, :, width_c - n:width_c] = v[:, :n]
                layer.cumulative_length.fill_(width_c)
        self.reused_tokens += sum(reused)
        self.computed_tokens += sum(len(row) - n for row, n in zip(rows, reused))
        batch["input_ids"], batch["attention_mask"] = ids.to(input_ids.device), mask.to(attention_mask.device)
        if cross is not None:
            batch["cross_attention_mask"] = new_cross
        return cache

    def remember(self, keys, sequences, attention_mask, cache: PrefixStaticCache, prompt_len: int,
                 eos_token_ids, marks=None, cache_rows=None) -> None:
        """Store each conversation's tokens whose keys/values the call computed: its prompt's
        (unpadded) and its answer's up to its first end-of-turn token.

        Args:
            keys: ``B`` conversation keys; sequences: ``(B, prompt_len + T)`` from ``generate``;
            attention_mask: ``(B, prompt_len)`` of the call; cache: the call's filled cache;
            marks: the images' fingerprints, as given to :meth:`pack`.
            cache_rows: the row of ``cache`` that holds each conversation (default: row ``r`` for
                conversation ``r``; :func:`~sftrl_repro.models.decode.decode` drops finished rows).
        """
        import torch

        marks = [None] * len(keys) if marks is None else list(marks)
        cache_rows = list(range(len(keys))) if cache_rows is None else list(cache_rows)
        own = [layer if isinstance(layer, PrefixStaticLayer) else None for layer in cache.layers]
        filled = int(next(layer for layer in own if layer is not None).cumulative_length)  # the last
        # token generated was never fed back
        answers = sequences[:, prompt_len:]
        is_eos = torch.isin(answers, torch.tensor(list(eos_token_ids), device=answers.device))
        for r, (key, mark, row) in enumerate(zip(keys, marks, cache_rows)):
            end = prompt_len + (int(is_eos[r].nonzero()[0]) + 1 if is_eos[r].any() else answers.shape[1])
            real = torch.cat([attention_mask[r].bool(), torch.ones(answers.shape[1], dtype=torch.bool,
                                                                   device=answers.device)])
            positions = real[:min(end, filled)].nonzero().squeeze(1)
            self.entries[key] = (sequences[r, positions].tolist(),
                                 [None if layer is None else
                                  (layer.keys[row][:, positions].clone(), layer.values[row][:, positions].clone())
                                  for layer in own], mark)
