"""The policy: one object with the operations the trainers and evaluations need, at every scale.

A :class:`Policy` wraps a Hugging Face causal LM (``LlamaForCausalLM``) or vision-language model
(``MllamaForConditionalGeneration``) with its tokenizer or processor, and speaks the package's
chat format (``sftrl_repro.prompts.chat``): a *conversation* is a list of chat messages ending
with the user turn to answer; for vision, the first user turn holds an image placeholder and the
image travels beside the conversation, one per conversation.

* :meth:`Policy.generate`: batched sampling or greedy decoding (left padding, KV cache);
* :meth:`Policy.score`: per-token log-probabilities of given answers, and the last prompt token's
  final hidden state (the value head's input), from one forward pass with gradients;
* :meth:`Policy.save` / :meth:`Policy.load`: a folder with the model, its processor and
  ``policy.json`` (scale, modality, name).

Shapes: ``B`` conversations, ``P`` prompt tokens (left-padded: every prompt ends at ``P - 1``),
``T`` answer tokens (right-padded), ``H`` hidden size, ``V`` vocabulary.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import GenerationConfig
from transformers.generation.logits_process import (
    LogitsProcessor,
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from sftrl_repro.models.kv_cache import KV_CACHES, PrefixStaticCache, TurnCache, image_mark
from sftrl_repro.utils.io import write_json_atomic
from sftrl_repro.utils.params import check_choice

POLICY_FILE = "policy.json"
#: ``generation_config.json`` of meta-llama/Llama-3.2-11B-Vision-Instruct (sampling fields): what the
#: authors' checkpoints, all fine-tuned from it, decode with when ``generate`` is given no settings.
PAPER_GENERATION = {"do_sample": True, "temperature": 0.6, "top_p": 0.9}
#: Hugging Face's defaults for decoding fields a checkpoint's generation config leaves unset.
HF_DEFAULTS = {"temperature": 1.0, "top_k": 50, "top_p": 1.0}


@dataclass(frozen=True)
class Decoding:
    """Resolved decoding settings (see :meth:`Policy.decoding`).

    Attributes:
        do_sample: sample (``True``) or decode greedily.
        temperature: logits are divided by it before sampling.
        top_k: keep the ``top_k`` most likely tokens (``0``: no top-k).
        top_p: nucleus sampling mass (``1.0``: no top-p).
    """

    do_sample: bool
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0


_MASK32 = 0xFFFFFFFF


def _mix32(x):
    """A 32-bit integer hash (Wellons' ``lowbias32``) on Python ints or int64 tensors holding 0..2^32-1.

    Products may wrap in int64; only their low 32 bits are kept, which wrapping leaves exact.
    """
    x = (x ^ (x >> 16)) & _MASK32
    x = (x * 0x7FEB352D) & _MASK32
    x = (x ^ (x >> 15)) & _MASK32
    x = (x * 0x846CA68B) & _MASK32
    return (x ^ (x >> 16)) & _MASK32


def _key_hash(key: Sequence[int]) -> int:
    """One 32-bit hash of a tuple of non-negative integers of any size."""
    h = 0x9E3779B9
    for part in key:
        part = int(part)
        if part < 0:
            raise ValueError(f"sample key {tuple(key)} is not valid: its parts must be >= 0")
        while True:  # every 32-bit word of the part, then a terminator
            h = _mix32(h ^ (part & _MASK32))
            part >>= 32
            if part == 0:
                break
        h = _mix32(h ^ 0x5BD1E995)
    return h


def keyed_gumbel(keys: Sequence[Sequence[int]], position: int, vocab: int, device=None) -> torch.Tensor:
    """``(B, vocab)`` float64 standard Gumbel noise, a pure function of (key, position, token id).

    A counter-based draw: the same key, answer position and token always give the same value, on
    any device and in any batch.
    """
    rows = torch.tensor([_mix32(_key_hash(k) ^ _mix32(position + 0x632BE5AB)) for k in keys],
                        dtype=torch.int64, device=device)
    tokens = torch.arange(vocab, dtype=torch.int64, device=device)
    x = _mix32((rows[:, None] ^ _mix32(tokens * 0x9E3779B1 & _MASK32)) & _MASK32)
    x = _mix32(x ^ 0x85EBCA6B)
    u = (x.double() + 0.5) / 4294967296.0
    return -torch.log(-torch.log(u))


def logits_warpers(decoding: Decoding) -> list:
    """Hugging Face's warpers for ``decoding``, in its sampling order: temperature, top-k, top-p."""
    warpers = [TemperatureLogitsWarper(decoding.temperature)]
    if decoding.top_k > 0:
        warpers.append(TopKLogitsWarper(decoding.top_k))
    if decoding.top_p < 1.0:
        warpers.append(TopPLogitsWarper(decoding.top_p))
    return warpers


class SeededSampler(LogitsProcessor):
    """Sampling by keyed Gumbel-max: with greedy search over its output, row ``i`` is a sample of
    ``softmax(top_p(top_k(logits / T)))`` drawn with the noise of ``keys[i]`` at each position.

    The warping is Hugging Face's own (temperature, then top-k, then top-p, its sampling order), so
    the distribution is exactly the one ``generate(do_sample=True)`` samples from; only the source
    of randomness differs (keyed per row instead of the global RNG).
    """

    def __init__(self, keys: Sequence[Sequence[int]], prompt_len: int, decoding: Decoding) -> None:
        self.keys = [tuple(int(v) for v in k) for k in keys]
        self.prompt_len = prompt_len
        self.warpers = logits_warpers(decoding)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        return self.perturb(scores, self.keys, input_ids.shape[1] - self.prompt_len)

    def perturb(self, scores: torch.Tensor, keys: Sequence[Sequence[int]], position: int) -> torch.Tensor:
        """``(b, V)`` warped logits plus the keyed Gumbel noise of ``keys`` at answer ``position``."""
        scores = scores.float()
        for warp in self.warpers:
            scores = warp(None, scores)
        noise = keyed_gumbel(keys, position, scores.shape[-1], scores.device)
        return (scores.double() + noise).float()

    def choose(self, scores: torch.Tensor, rows: torch.Tensor, position: int) -> torch.Tensor:
        """The sampled tokens ``(b,)`` of batch rows ``rows`` at answer ``position`` (:func:`~sftrl_repro.models.decode.decode`)."""
        return self.perturb(scores, [self.keys[r] for r in rows.tolist()], position).argmax(-1)


@dataclass
class Generation:
    """Answers generated for a batch of ``B`` conversations.

    Attributes:
        texts: ``B`` decoded answers, special tokens (end of turn) removed.
        token_ids: ``(B, T)`` long: the answer tokens, right-padded with the pad id; the end-of-turn
            token is included when the model emitted it (it is an action like any other token).
        mask: ``(B, T)`` bool: ``True`` on answer tokens.
        logprobs: ``(B, T)`` float32: log-probability of each token under ``softmax(logits / T)``
            with ``T`` the sampling temperature (1 for greedy decoding; top-k / top-p truncation is
            not applied, as in the authors' PPO), ``0`` on padding; ``None`` when generation was
            called with ``with_logprobs=False``.
        finished: ``(B,)`` bool: whether the answer ended with an end-of-turn token (``False``:
            cut at ``max_new_tokens``).
    """

    texts: list[str]
    token_ids: torch.Tensor
    mask: torch.Tensor
    logprobs: torch.Tensor | None
    finished: torch.Tensor

    def answer_ids(self) -> list[list[int]]:
        """The answers' token ids without padding, one list per conversation."""
        return [row[m].tolist() for row, m in zip(self.token_ids, self.mask)]


@dataclass
class AnswerScores:
    """What one forward pass over ``prompt + answer`` gives (see :meth:`Policy.score`).

    Attributes:
        logprobs: ``(B, T)`` float32: ``log p(answer_t | prompt, answer_<t)``, ``0`` on padding;
            differentiable.
        mask: ``(B, T)`` bool: ``True`` on answer tokens.
        prompt_hidden: ``(B, H)``: final hidden state (after the last norm) of the last prompt
            token, in the model's dtype; differentiable; the value head's input.
        entropy: ``(B, T)`` float32 entropy (nats) of the full-vocabulary distribution
            ``softmax(logits / temperature)`` at each answer position, ``0`` on padding; ``None``
            unless asked for.
    """

    logprobs: torch.Tensor
    mask: torch.Tensor
    prompt_hidden: torch.Tensor
    entropy: torch.Tensor | None = None


class Policy:
    """A chat model behind the package's interface (see the module docstring).

    Args:
        model: a ``LlamaForCausalLM`` or ``MllamaForConditionalGeneration`` (or another causal LM
            whose forward takes ``logits_to_keep`` and ``output_hidden_states``).
        processor: its tokenizer (text models) or ``MllamaProcessor`` (vision models), with a chat
            template from :mod:`sftrl_repro.models.chat_templates`.
        scale: ``'tiny'``, ``'small'`` or ``'paper'`` (recorded in ``policy.json``).
        modality: ``'language'`` or ``'vision'``: the tasks it is meant for (a vision model also
            answers text-only conversations).
        name: where the weights came from (a hub id, a folder, ``'tiny-init'``...), for the record.
    """

    def __init__(self, model, processor, *, scale: str, modality: str, name: str = "") -> None:
        self.model = model
        self.processor = processor
        self.scale = scale
        self.modality = modality
        self.name = name
        tokenizer = self.tokenizer
        eos = model.generation_config.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        # Every id that ends a turn: the tokenizer's EOS and whatever the model's config lists.
        self.eos_token_ids: list[int] = sorted({tokenizer.eos_token_id, *eos})
        #: The KV cache ``generate`` decodes into (one of :data:`~sftrl_repro.models.kv_cache.KV_CACHES`):
        #: ``'prefix'`` (default: preallocated, attention over the filled slots only,
        #: :class:`~sftrl_repro.models.kv_cache.PrefixStaticCache`), ``'static'`` (Hugging Face's
        #: ``StaticCache``: attends over every slot) or ``'dynamic'`` (re-copies the cache at every
        #: token). Same answers up to float round-off (tested, text and vision).
        self.kv_cache: str = "prefix"
        #: With the prefix cache, decode with the package's loop (:func:`~sftrl_repro.models.decode.decode`),
        #: which drops finished conversations from the batch (``True``, default), or with Hugging
        #: Face's ``generate``, which decodes every row until the longest answer ends. Same answers
        #: up to float round-off (tested).
        self.drop_finished: bool = True
        #: Storage dtype of the prefix cache's keys/values (``None``: the weights'). ``cast`` to
        #: bfloat16 sets ``torch.float32`` with the :data:`~sftrl_repro.models.kv_cache.STORED_KEYS_SDPA`
        #: attention: decoding's attention in float32 is 3x faster on a CPU (see there).
        self.kv_dtype: torch.dtype | None = None

    # ------------------------------------------------------------------------------ properties
    @property
    def tokenizer(self):
        """The tokenizer (the processor's, for a vision model)."""
        return getattr(self.processor, "tokenizer", self.processor)

    @property
    def is_vision(self) -> bool:
        """Whether the model takes images (an Mllama model)."""
        return getattr(self.model.config, "model_type", "") == "mllama"

    @property
    def reuses_turns(self) -> bool:
        """Whether :meth:`generate` can reuse a :class:`~sftrl_repro.models.kv_cache.TurnCache`
        (models decoding into the prefix cache)."""
        return self.kv_cache == "prefix"

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def hidden_size(self) -> int:
        """Width ``H`` of :attr:`AnswerScores.prompt_hidden` (the value head's input)."""
        return self.model.config.get_text_config().hidden_size

    def cast(self, dtype: torch.dtype) -> "Policy":
        """A copy of this policy with its weights in ``dtype`` (``self`` when they already are);
        the processor is shared. Evaluation uses it: ``bfloat16``, as the paper's GPUs, is 1.7x
        faster than ``float32`` for the tiny models' matrix products on a CPU with bf16 units (AMX /
        AVX-512-BF16). A bfloat16 copy keeps its cached keys/values in float32 (:attr:`kv_dtype`),
        where a decoding step's attention is faster."""
        import copy

        from sftrl_repro.models.kv_cache import STORED_KEYS_SDPA

        if self.model.dtype == dtype:
            return self
        out = Policy(copy.deepcopy(self.model).to(dtype), self.processor, scale=self.scale, modality=self.modality,
                     name=self.name)
        out.model.eval()
        out.kv_cache, out.drop_finished = self.kv_cache, self.drop_finished
        if dtype in (torch.bfloat16, torch.float16):
            out.kv_dtype = torch.float32
            out.model.set_attn_implementation(STORED_KEYS_SDPA)
        return out

    def to(self, device: str | torch.device) -> "Policy":
        self.model.to(device)
        return self

    def freeze_vision(self) -> list[str]:
        """Freeze what a text-only conversation never reaches; returns the frozen parameter names.

        Mllama on text alone skips the vision tower, the projector and the cross-attention layers
        (they only read image states), so those parameters get no gradient. DDP fails on such
        parameters ("Expected to have finished reduction..."); freezing them keeps the paper's
        semantics exactly: with no gradient and no weight decay, the authors' Adam leaves them
        unchanged too. Used when a vision policy trains on a text task (GP-L, V-IRL-L). A text
        model has nothing to freeze.
        """
        if not self.is_vision:
            return []
        inner = self.model.model
        layers = set(self.model.config.get_text_config().cross_attention_layers)
        modules = [("model.vision_model", inner.vision_model), ("model.multi_modal_projector", inner.multi_modal_projector)]
        modules += [(f"model.language_model.layers.{i}", inner.language_model.layers[i]) for i in sorted(layers)]
        frozen = []
        for prefix, module in modules:
            for name, param in module.named_parameters():
                if param.requires_grad:
                    param.requires_grad_(False)
                    frozen.append(f"{prefix}.{name}")
        return frozen

    # -------------------------------------------------------------------------------- encoding
    def encode_prompts(self, conversations: Sequence[list[dict]], images: Sequence[Any] | None = None):
        """Render and tokenize conversations as left-padded prompts ending in the assistant header.

        Args:
            conversations: ``B`` chat conversations, each ending with the user turn to answer.
            images: for a vision model, one image per conversation (uint8 ``(H, W, 3)`` array or
                PIL image), or ``None`` for text-only conversations; must be ``None`` for a text model.

        Returns:
            A ``BatchFeature`` on :attr:`device` with ``input_ids`` and ``attention_mask`` ``(B, P)``;
            with images also ``pixel_values`` ``(B, 1, tiles, 3, S, S)``, ``aspect_ratio_ids``
            ``(B, 1)``, ``aspect_ratio_mask`` ``(B, 1, tiles)`` and ``cross_attention_mask``
            ``(B, P, 1, tiles)`` (Mllama must always get it: without it the text would attend to
            padding tiles and to the image before its placeholder).
        """
        if len(conversations) == 0:
            raise ValueError("conversations is empty; pass at least one conversation")
        texts = self.processor.apply_chat_template(list(conversations), tokenize=False, add_generation_prompt=True)
        common = dict(padding=True, padding_side="left", add_special_tokens=False, return_tensors="pt")
        if images is not None:
            if not self.is_vision:
                raise ValueError(f"images were given to a text-only policy ({self.scale}, {self.modality}); "
                                 "pass images=None or load a vision policy (modality='vision')")
            if len(images) != len(conversations):
                raise ValueError(f"got {len(images)} images for {len(conversations)} conversations; "
                                 "pass exactly one image per conversation")
            batch = self.processor(text=texts, images=[[_as_image(im)] for im in images], **common)
            batch["pixel_values"] = batch["pixel_values"].to(self.model.dtype)
        elif self.is_vision:
            batch = self.processor(text=texts, **common)
        else:
            batch = self.tokenizer(texts, **common)
        return batch.to(self.device)

    def tokenize_answers(self, answers: Sequence[str]) -> list[list[int]]:
        """Token ids of answer texts as the model would emit them, end-of-turn token appended."""
        eot = self.tokenizer.eos_token_id
        return [self.tokenizer(a, add_special_tokens=False)["input_ids"] + [eot] for a in answers]

    # ------------------------------------------------------------------------------ generation
    def decoding(self, temperature: float | None = 0.0, *, top_k: int | None = None,
                 top_p: float | None = None) -> Decoding:
        """The decoding settings a call to :meth:`generate` with these arguments uses.

        * ``temperature=0``: greedy decoding.
        * ``temperature > 0``: sampling at that temperature; ``top_k`` / ``top_p`` left ``None`` come
          from the checkpoint's generation config, with Hugging Face's defaults for what it leaves
          unset (``top_k=50``, ``top_p=1.0``), exactly what ``model.generate(temperature=...)`` does
          in the authors' rollouts (Llama-3.2-Vision's config: ``top_p=0.9``).
        * ``temperature=None``: everything from the checkpoint's generation config, as the authors'
          evaluator (``model.generate(**inputs, max_new_tokens=256)``) decodes. A checkpoint whose
          config does not say whether to sample (the ``tiny`` and ``small`` models) decodes with
          the paper model's settings, :data:`PAPER_GENERATION` (sampling at 0.6, top-p 0.9): the
          authors' checkpoints all carry them.
        """
        g = self.model.generation_config
        if temperature is None:
            source = g if g.do_sample is not None else GenerationConfig(**PAPER_GENERATION)
            if not source.do_sample:
                return Decoding(do_sample=False)
            temperature = source.temperature if source.temperature is not None else HF_DEFAULTS["temperature"]
            top_k = source.top_k if top_k is None else top_k
            top_p = source.top_p if top_p is None else top_p
        if temperature < 0:
            raise ValueError(f"temperature={temperature} is not valid; use 0 (greedy), a positive value, or None")
        if temperature == 0:
            return Decoding(do_sample=False)
        top_k = next(v for v in (top_k, g.top_k, HF_DEFAULTS["top_k"]) if v is not None)
        top_p = next(v for v in (top_p, g.top_p, HF_DEFAULTS["top_p"]) if v is not None)
        return Decoding(do_sample=True, temperature=float(temperature), top_k=int(top_k), top_p=float(top_p))

    @torch.no_grad()
    def generate(
        self,
        conversations: Sequence[list[dict]],
        images: Sequence[Any] | None = None,
        *,
        max_new_tokens: int = 256,
        temperature: float | None = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        sample_keys: Sequence[Sequence[int]] | None = None,
        seed: int | None = None,
        with_logprobs: bool = True,
        turn_cache: TurnCache | None = None,
        turn_keys: Sequence[Any] | None = None,
    ) -> Generation:
        """Answer a batch of conversations (batched, left-padded, with a KV cache).

        Args:
            conversations: ``B`` conversations (see :meth:`encode_prompts`).
            images: one image per conversation for vision tasks, else ``None``.
            max_new_tokens: answer length cap (the paper: 512 in RL, 256 in evaluation).
            temperature, top_k, top_p: the decoding (see :meth:`decoding`): ``0`` greedy, ``> 0``
                sampling with top-k / top-p from the checkpoint's config unless given, ``None``
                everything from the checkpoint's config.
            sample_keys: one tuple of integers per conversation (e.g. ``(salt, episode seed, turn)``)
                that seeds its sampling on its own: a Gumbel-max draw keyed by the tuple, the answer
                position and the token id (:class:`SeededSampler`), so a conversation's answer does
                not depend on which others share its batch, on the batch size, the process or the
                device (up to float round-off in the logits). ``None``: see ``seed``.
            seed: without ``sample_keys``, row ``i`` is keyed ``(seed, i)`` (reproducible, but
                dependent on the batch's composition); ``None`` with no keys samples from the
                global torch RNG (Hugging Face's multinomial sampling).
            with_logprobs: also return each token's log-probability (keeps ``(T, B, V)`` logits).
            turn_cache, turn_keys: reuse the keys/values an earlier call computed for the same
                conversations (one hashable key each, e.g. the episode) instead of re-encoding
                their shared prefix (:class:`~sftrl_repro.models.kv_cache.TurnCache`); same answers
                up to float round-off. Used when :attr:`reuses_turns`, ignored otherwise.

        Returns:
            A :class:`Generation`.
        """
        check_choice("kv_cache", self.kv_cache, KV_CACHES)
        batch = self.encode_prompts(conversations, images)
        cache, marks = None, None
        if turn_cache is not None and self.reuses_turns:
            if turn_keys is None or len(turn_keys) != len(conversations):
                raise ValueError("turn_cache needs turn_keys: one key per conversation")
            marks = None if images is None else [image_mark(im) for im in images]
            cache = turn_cache.pack(batch, turn_keys, self.model.config, max_new_tokens, self.tokenizer.pad_token_id,
                                    marks, dtype=self.kv_dtype)
        prompt_len = batch["input_ids"].shape[1]
        dec = self.decoding(temperature, top_k=top_k, top_p=top_p)
        if sample_keys is None and seed is not None:
            sample_keys = [(int(seed), i) for i in range(len(conversations))]
        if sample_keys is not None and len(sample_keys) != len(conversations):
            raise ValueError(f"got {len(sample_keys)} sample_keys for {len(conversations)} conversations")
        if self.kv_cache == "prefix" and self.drop_finished:
            token_ids, logprobs = self._decode(batch, cache, dec, sample_keys, max_new_tokens, with_logprobs,
                                               turn_cache if cache is not None else None, turn_keys, marks)
            return self._generation(token_ids, logprobs)
        processors = LogitsProcessorList()
        hf_sampling = dec.do_sample and sample_keys is None
        if dec.do_sample and sample_keys is not None:
            # Greedy search over (warped logits + keyed Gumbel noise) = a keyed sample of the same distribution.
            processors.append(SeededSampler(sample_keys, prompt_len, dec))
        # Every decoding field is set explicitly: unset ones would be filled from the checkpoint's config.
        sampling = dict(temperature=dec.temperature, top_k=dec.top_k, top_p=dec.top_p) if hf_sampling else \
            dict(temperature=1.0, top_k=50, top_p=1.0)  # Hugging Face's neutral values: no warnings
        config = GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=hf_sampling,
            **sampling,
            eos_token_id=self.eos_token_ids,
            pad_token_id=self.tokenizer.pad_token_id,
            output_logits=with_logprobs,
            return_dict_in_generate=True,
            # Decode into a preallocated KV cache: the default dynamic cache re-copies the whole
            # cache at every token (torch.cat), a third of the tiny models' evaluation time on CPU;
            # same answers (tested), 1.45x faster (text, measured).
            cache_implementation="static" if self.kv_cache == "static" else None,
        )
        extra = {}
        if self.kv_cache == "prefix":
            # ... whose attention reads only its filled slots (kv_cache.py: 1.28x StaticCache on
            # text, 1.3x the dynamic cache on GP-VL, measured).
            extra["cache"] = cache if cache is not None else PrefixStaticCache(self.model.config, prompt_len + max_new_tokens,
                                                                               dtype=self.kv_dtype)
        out = self.model.generate(**batch, generation_config=config, logits_processor=processors, **extra)
        if cache is not None:
            turn_cache.remember(turn_keys, out.sequences, batch["attention_mask"], cache, prompt_len,
                                self.eos_token_ids, marks)
        token_ids = out.sequences[:, prompt_len:]
        logprobs = None
        if with_logprobs:
            logits = torch.stack(out.logits, dim=1)  # (B, T, V), raw logits
            tempered = logits.float() / dec.temperature if dec.do_sample else logits
            logprobs = log_softmax_gather(tempered, token_ids)
        return self._generation(token_ids, logprobs)

    def _decode(self, batch, cache, dec: Decoding, sample_keys, max_new_tokens: int, with_logprobs: bool,
                turn_cache: TurnCache | None, turn_keys, marks) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`generate` with the package's loop, which drops finished rows (see ``models.decode``)."""
        from sftrl_repro.models.decode import decode

        prompt_len = batch["input_ids"].shape[1]
        if cache is None:
            cache = PrefixStaticCache(self.model.config, prompt_len + max_new_tokens, dtype=self.kv_dtype)
        if not dec.do_sample:
            choose = lambda logits, rows, position: logits.argmax(-1)  # noqa: E731
        elif sample_keys is not None:
            choose = SeededSampler(sample_keys, prompt_len, dec).choose
        else:  # Hugging Face's multinomial sampling from the global RNG
            warpers = logits_warpers(dec)

            def choose(logits, rows, position):
                for warp in warpers:
                    logits = warp(None, logits)
                return torch.multinomial(F.softmax(logits, dim=-1), num_samples=1).squeeze(1)
        on_leave = None
        if turn_cache is not None:
            ids, mask = batch["input_ids"], batch["attention_mask"]

            def on_leave(rows, cache_rows, answers):
                turn_cache.remember([turn_keys[r] for r in rows], torch.cat([ids[rows], answers[rows]], dim=1),
                                    mask[rows], cache, prompt_len, self.eos_token_ids,
                                    None if marks is None else [marks[r] for r in rows], cache_rows=cache_rows)
        return decode(self.model, batch, cache, max_new_tokens=max_new_tokens, choose=choose,
                      eos_token_ids=self.eos_token_ids, pad_token_id=self.tokenizer.pad_token_id,
                      logprob_temperature=(dec.temperature if dec.do_sample else 1.0) if with_logprobs else None,
                      on_leave=on_leave)

    def _generation(self, token_ids: torch.Tensor, logprobs: torch.Tensor | None) -> Generation:
        """The :class:`Generation` of ``(B, T)`` answer tokens (and their ``(B, T)`` log-probabilities)."""
        is_eos = torch.isin(token_ids, torch.tensor(self.eos_token_ids, device=token_ids.device))
        # Keep every token up to and including the first end-of-turn token.
        ended_before = (is_eos.cumsum(dim=1) - is_eos.long()) > 0
        mask = ~ended_before
        finished = is_eos.any(dim=1)
        token_ids = token_ids.masked_fill(~mask, self.tokenizer.pad_token_id)
        if logprobs is not None:
            logprobs = logprobs * mask
        texts = [
            self.tokenizer.decode(row[m & ~e], skip_special_tokens=True)
            for row, m, e in zip(token_ids, mask, is_eos)
        ]
        return Generation(texts=texts, token_ids=token_ids, mask=mask, logprobs=logprobs, finished=finished)

    # --------------------------------------------------------------------------------- scoring
    def score(
        self,
        conversations: Sequence[list[dict]],
        answer_ids: Sequence[Sequence[int]],
        images: Sequence[Any] | None = None,
        *,
        model=None,
        temperature: float = 1.0,
        entropy: str | None = None,
    ) -> AnswerScores:
        """Log-probabilities of given answers and the prompts' last hidden states, in one forward.

        Teacher-forced over ``[left-padded prompt | right-padded answer]`` with position ids that
        skip the padding, exactly as :meth:`generate` saw the prompt, so the log-probability of a
        generated answer matches the one recorded while generating (tested).

        Args:
            conversations: ``B`` conversations (see :meth:`encode_prompts`).
            answer_ids: ``B`` answers as token ids (:meth:`Generation.answer_ids` or
                :meth:`tokenize_answers`); each non-empty.
            images: one image per conversation for vision tasks, else ``None``.
            model: the module to run (default :attr:`model`); pass the accelerate/DeepSpeed-wrapped
                model when training, so that gradient synchronisation sees the forward.
            temperature: log-probabilities of ``softmax(logits / temperature)`` (the authors' PPO
                divides by the sampling temperature; 1: the model's own distribution).
            entropy: also return the per-token entropy of that distribution: ``'value'`` (no
                gradient) or ``'grad'`` (differentiable, for an entropy bonus); ``None``: not computed.

        Returns:
            :class:`AnswerScores` with ``logprobs``/``mask`` ``(B, T)`` and ``prompt_hidden`` ``(B, H)``.
        """
        if len(answer_ids) != len(conversations) or any(len(a) == 0 for a in answer_ids):
            raise ValueError("answer_ids must hold one non-empty answer per conversation")
        batch = self.encode_prompts(conversations, images)
        prompt_len = batch["input_ids"].shape[1]
        n_answer = max(len(a) for a in answer_ids)
        answer = torch.full((len(answer_ids), n_answer), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(answer, dtype=torch.bool)
        for i, ids in enumerate(answer_ids):
            answer[i, : len(ids)] = torch.as_tensor(list(ids), dtype=torch.long)
            mask[i, : len(ids)] = True
        answer, mask = answer.to(self.device), mask.to(self.device)

        inputs = dict(batch)
        inputs["input_ids"] = torch.cat([batch["input_ids"], answer], dim=1)
        inputs["attention_mask"] = torch.cat([batch["attention_mask"], mask.long()], dim=1)
        inputs["position_ids"] = (inputs["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        if "cross_attention_mask" in batch:
            # Answer tokens see the image like the last prompt token does (as during generation).
            last = batch["cross_attention_mask"][:, -1:]
            inputs["cross_attention_mask"] = torch.cat(
                [batch["cross_attention_mask"], last.expand(-1, n_answer, -1, -1)], dim=1
            )
        # Logits only where they are needed: positions P-1 .. P+T-2 predict answer tokens 0 .. T-1.
        out = (model or self.model)(**inputs, logits_to_keep=n_answer + 1, output_hidden_states=True, use_cache=False)
        if temperature <= 0:
            raise ValueError(f"temperature={temperature} is not valid; it must be > 0")
        logits = out.logits[:, :-1].float()  # (B, T, V)
        if temperature != 1.0:
            logits = logits / temperature
        logp_all = F.log_softmax(logits, dim=-1)
        logprobs = logp_all.gather(-1, answer.unsqueeze(-1)).squeeze(-1) * mask
        ent = None
        if entropy is not None:
            check = ("value", "grad")
            if entropy not in check:
                raise ValueError(f"entropy={entropy!r} is not valid; choose one of {check} or None")
            with torch.set_grad_enabled(entropy == "grad" and torch.is_grad_enabled()):
                ent = -(logp_all.exp() * logp_all).sum(-1) * mask
        prompt_hidden = out.hidden_states[-1][:, prompt_len - 1]
        return AnswerScores(logprobs=logprobs, mask=mask, prompt_hidden=prompt_hidden, entropy=ent)

    def prompt_hidden(self, conversations: Sequence[list[dict]], images: Sequence[Any] | None = None, *, model=None):
        """``(B, H)`` final hidden state of each prompt's last token (value of a state, no answer)."""
        batch = self.encode_prompts(conversations, images)
        inputs = dict(batch)
        inputs["position_ids"] = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        out = (model or self.model)(**inputs, logits_to_keep=1, output_hidden_states=True, use_cache=False)
        return out.hidden_states[-1][:, -1]

    # ------------------------------------------------------------------------------ save / load
    def save(self, path: str | Path) -> Path:
        """Write the model, its processor and ``policy.json`` to the folder ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(path)
        self.processor.save_pretrained(path)
        write_policy_record(path, scale=self.scale, modality=self.modality, name=self.name)
        return path

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device | None = None, dtype: torch.dtype | None = None):
        """A policy saved by :meth:`save` or a training checkpoint (an HF model folder with its processor).

        Args:
            path: the folder.
            device: ``'cuda'`` when available, else ``'cpu'``, unless given.
            dtype: bf16 on a GPU, float32 on the CPU, unless given.
        """
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, MllamaForConditionalGeneration

        path = Path(path)
        if not (path / "config.json").is_file():
            raise ValueError(f"checkpoint={str(path)!r} is not valid: it holds no config.json; "
                             "pass a folder written by Policy.save or by the SFT/RL trainers")
        record = read_policy_record(path)
        device = torch.device(device or default_device())
        dtype = dtype or default_dtype(device)
        config = AutoConfig.from_pretrained(path)
        if config.model_type == "mllama":
            from transformers import MllamaProcessor

            model = MllamaForConditionalGeneration.from_pretrained(path, dtype=dtype)
            processor = MllamaProcessor.from_pretrained(path)
        else:
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
            processor = AutoTokenizer.from_pretrained(path)
        modality = record.get("modality", "vision" if config.model_type == "mllama" else "language")
        policy = cls(model.eval(), processor, scale=record.get("scale", "checkpoint"), modality=modality,
                     name=record.get("name", str(path)))
        return policy.to(device)


def write_policy_record(path: str | Path, *, scale: str, modality: str, name: str) -> None:
    """Write ``policy.json`` (what :meth:`Policy.load` needs beyond the HF files) into ``path``."""
    write_json_atomic(Path(path) / POLICY_FILE, {"scale": scale, "modality": modality, "name": name})


def read_policy_record(path: str | Path) -> dict:
    """``policy.json`` of a folder, or ``{}`` when it has none."""
    file = Path(path) / POLICY_FILE
    return json.loads(file.read_text()) if file.is_file() else {}


def default_device() -> str:
    """``'cuda'`` when a GPU is visible, else ``'cpu'``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str | torch.device) -> torch.dtype:
    """bf16 on a GPU (the paper trains in bf16), float32 on the CPU (bf16 matmuls are slow there)."""
    return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32


def _as_image(image: Any):
    """A PIL image from a uint8 ``(H, W, 3)`` array or a PIL image (processors take both; arrays
    are converted so that channel order is never guessed)."""
    from PIL import Image

    if isinstance(image, np.ndarray):
        return Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    return image


def log_softmax_gather(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """``log_softmax(logits)[..., ids]``: ``(..., V)`` logits and ``(...)`` ids -> ``(...)`` float32."""
    return F.log_softmax(logits.float(), dim=-1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)
