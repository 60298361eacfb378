"""The package's decode loop: a batch of answers where a finished conversation leaves the batch.

Why: Hugging Face's ``generate`` decodes every row of a batch until its longest answer ends (a
finished row keeps decoding padding). In a multi-turn evaluation the answers of one turn differ
in length a lot: on the study's GP-L init, 64 hands with 5 sampled attempts each, only 41% of
the row-steps ``generate`` decoded were answer tokens (the second attempts: 6 tokens on average,
58 at most; measured). Decoding is the bulk of a tiny model's evaluation (287 decoding steps took
19.7 s of 25 s, the prompts' prefill 2.3 s), and a decoding step's cost grows with its rows (the
attention reads every row's keys/values), so :func:`decode` drops finished rows from the batch and
from the KV cache, a quarter of the batch at a time (each drop copies the cache once).

Same tokens as ``generate`` (greedy, and keyed sampling, :class:`~sftrl_repro.models.policy.SeededSampler`)
up to float round-off: a row's logits do not depend on the other rows of its batch, except through
the matrix kernels' blocking (tested equal on a float32 multi-turn batch, text and vision).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

#: Drop finished rows once they are at least this fraction of the rows still in the batch.
DROP_FRACTION = 0.25


def select_rows(cache, index: torch.Tensor) -> None:
    """Keep rows ``index`` (long, ``(b,)``) of every filled layer of ``cache``, in that order (in place).

    Works for the package's :class:`~sftrl_repro.models.kv_cache.PrefixStaticCache` (self-attention
    layers and, for Mllama, the cross-attention layers holding the image's states).
    """
    for layer in cache.layers:
        if getattr(layer, "is_initialized", False) and layer.keys.numel() > 0:
            layer.keys = layer.keys.index_select(0, index)
            layer.values = layer.values.index_select(0, index)
            layer.batch_size = int(index.numel())


@torch.no_grad()
def decode(
    model,
    batch: dict,
    cache,
    *,
    max_new_tokens: int,
    choose: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor],
    eos_token_ids: Sequence[int],
    pad_token_id: int,
    logprob_temperature: float | None = None,
    on_leave: Callable[[list[int], list[int], torch.Tensor], None] | None = None,
    drop_fraction: float = DROP_FRACTION,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Generate answers for a left-padded batch into ``cache``, dropping finished rows as it goes.

    Args:
        model: a ``LlamaForCausalLM`` or ``MllamaForConditionalGeneration``.
        batch: ``input_ids`` / ``attention_mask`` ``(B, P)`` (Mllama: also ``pixel_values``,
            ``aspect_ratio_ids``, ``aspect_ratio_mask``, ``cross_attention_mask`` ``(B, P, 1, tiles)``).
            When ``cache`` already holds the first ``C`` columns (a
            :class:`~sftrl_repro.models.kv_cache.TurnCache` prefix), only columns ``C..P-1`` are encoded.
        cache: a :class:`~sftrl_repro.models.kv_cache.PrefixStaticCache` of at least
            ``P + max_new_tokens`` slots.
        max_new_tokens: answer length cap ``T``.
        choose: ``(logits (b, V) float32, rows (b,) long, position) -> (b,) long`` next tokens of
            the ``b`` rows still decoding (``rows``: their indices in the batch; ``position``: the
            answer position, 0 for the first token).
        eos_token_ids: the tokens that end an answer.
        pad_token_id: what fills a row after its end token (and what a finished row is fed until it leaves).
        logprob_temperature: ``None``: no log-probabilities; else each chosen token's
            ``log softmax(logits / t)`` (``t = 1``: the model's own distribution).
        on_leave: ``(rows, cache_rows, tokens)`` is called just before rows leave the cache (finished
            ones, and all remaining ones at the end): ``rows`` their batch indices, ``cache_rows``
            their rows in ``cache`` now, ``tokens`` ``(B, t)`` the answers so far (the
            :class:`~sftrl_repro.models.kv_cache.TurnCache` stores their keys/values then).
        drop_fraction: drop finished rows once they are this fraction of the batch (``0``: at once;
            ``> 1``: never, i.e. Hugging Face's behaviour).

    Returns:
        ``tokens`` ``(B, T')`` long, each row's answer with its end token, then ``pad_token_id``
        (``T'``: the longest answer, at most ``max_new_tokens``), and ``logprobs`` ``(B, T')``
        float32 (``0`` after a row's end) or ``None``.
    """
    input_ids, mask = batch["input_ids"], batch["attention_mask"]
    size, device = input_ids.shape[0], input_ids.device
    eos = torch.tensor(list(eos_token_ids), device=device)
    position = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)
    cached = int(cache.get_seq_length())
    inputs = dict(batch)
    inputs.update(input_ids=input_ids[:, cached:], position_ids=position[:, cached:])
    cross = batch.get("cross_attention_mask")
    if cross is not None:
        inputs["cross_attention_mask"] = cross[:, cached:]
        cross = cross[:, -1:]  # every answer token sees the image as the last prompt token does
    logits = model(**inputs, cache=cache, use_cache=True, logits_to_keep=1).logits[:, -1].float()

    tokens = torch.full((size, max_new_tokens), pad_token_id, dtype=torch.long, device=device)
    logprobs = None if logprob_temperature is None else torch.zeros((size, max_new_tokens), device=device)
    rows = torch.arange(size, device=device)  # batch index of each row in the cache
    done = torch.zeros(size, dtype=torch.bool, device=device)  # per cache row
    last = position[:, -1]
    steps = 0
    for t in range(max_new_tokens):
        live = ~done
        chosen = choose(logits[live], rows[live], t)
        token = torch.full((rows.numel(),), pad_token_id, dtype=torch.long, device=device)
        token[live] = chosen
        tokens[rows[live], t] = chosen
        if logprobs is not None:
            scaled = logits[live] / logprob_temperature if logprob_temperature != 1.0 else logits[live]
            logprobs[rows[live], t] = F.log_softmax(scaled, dim=-1).gather(-1, chosen[:, None]).squeeze(-1)
        done = done | (live & torch.isin(token, eos))
        steps = t + 1
        if bool(done.all()) or t == max_new_tokens - 1:
            break
        if bool(done.any()) and int(done.sum()) >= drop_fraction * rows.numel():
            keep = (~done).nonzero().squeeze(1)
            if on_leave is not None:
                gone = done.nonzero().squeeze(1)
                on_leave(rows[gone].tolist(), gone.tolist(), tokens[:, :steps])
            select_rows(cache, keep)
            rows, done, last, token, mask = rows[keep], done[keep], last[keep], token[keep], mask[keep]
            cross = None if cross is None else cross[keep]
        last = last + 1
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
        step = dict(input_ids=token[:, None], attention_mask=mask, position_ids=last[:, None], cache=cache, use_cache=True)
        if cross is not None:
            step["cross_attention_mask"] = cross
        logits = model(**step).logits[:, -1].float()
    if on_leave is not None:
        on_leave(rows.tolist(), list(range(rows.numel())), tokens[:, :steps])
    return tokens[:, :steps], None if logprobs is None else logprobs[:, :steps]
