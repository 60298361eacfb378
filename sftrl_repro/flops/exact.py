"""Exact FLOPs of one pass through a Llama / Mllama model, derived term by term from the shapes.

Counting convention (the one of ``torch.utils.flop_counter.FlopCounterMode``, so the two agree):

* a multiply-add is 2 FLOPs: ``(m, k) @ (k, n)`` costs ``2 m k n``;
* only matrix products are counted: ``mm``/``addmm`` (linear layers; a bias add is free), ``bmm``
  (eager attention), convolutions and the fused attention kernels;
* ignored, because FlopCounterMode ignores them: embedding look-ups, RMSNorm/LayerNorm, rotary
  embeddings, activations (SiLU, GELU), the gating products, softmax, masks, residual adds, the loss;
  they cost O(d) per token (softmax: O(heads x keys)) against the O(d^2) of the products: a few
  percent of the total for the tiny models, a few hundredths of a percent at the paper's width;
* causal masking saves nothing: attention scores are counted for the full (query x key) rectangle,
  as every dense kernel computes them;
* backward of a linear layer = 2x its forward (gradient of the input, gradient of the weight); the
  patch convolution's input is the image, which needs no gradient, so its backward = 1x forward;
* backward of attention = 2x forward for eager / math attention (four bmm: dP, dV, dQ, dK) and 2.5x
  for a fused SDPA kernel, which also recomputes the score matrix Q K^T (five bmm), as FlopCounterMode
  counts ``_scaled_dot_product_*_attention_backward``.

Every function below counts ONE sequence (batch 1); multiply by the batch size for a batch.
Notation: d = text width, H = query heads, KV = key/value heads, hd = head width, I = MLP width,
V = vocabulary, S = query tokens, K = key tokens (cache + new), Dv/Iv = ViT width / MLP width.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sftrl_repro.flops.arch import ModelArch, TextArch, VisionArch

# The paper's PPO value head: final hidden state of the last prompt token -> 1024 -> 512 -> 1.
VALUE_HEAD_SIZES = (1024, 512)


@dataclass(frozen=True)
class Flops:
    """FLOPs of one component of a pass.

    Attributes:
        forward: FLOPs of the forward computation.
        backward: FLOPs of its backward (input and weight gradients), 0 where nothing is trained.
    """

    forward: int = 0
    backward: int = 0

    def total(self, backward: bool = False) -> int:
        """Forward FLOPs, or forward + backward when ``backward``."""
        return self.forward + (self.backward if backward else 0)

    def __add__(self, other: Flops) -> Flops:
        return Flops(self.forward + other.forward, self.backward + other.backward)

    def __mul__(self, k: int) -> Flops:
        return Flops(self.forward * k, self.backward * k)

    __rmul__ = __mul__


@dataclass(frozen=True)
class FlopBreakdown:
    """FLOPs of a pass, split by component (``"mlp"``, ``"attn_scores"``, ``"lm_head"``, ...).

    Attributes:
        parts: component name -> :class:`Flops`; components absent from a pass are absent here.
    """

    parts: Mapping[str, Flops] = field(default_factory=dict)

    @property
    def forward(self) -> int:
        """Total forward FLOPs."""
        return sum(f.forward for f in self.parts.values())

    @property
    def backward(self) -> int:
        """Total backward FLOPs."""
        return sum(f.backward for f in self.parts.values())

    def total(self, backward: bool = False) -> int:
        """Forward FLOPs, or forward + backward when ``backward``."""
        return self.forward + (self.backward if backward else 0)

    def __add__(self, other: FlopBreakdown) -> FlopBreakdown:
        parts = dict(self.parts)
        for name, flops in other.parts.items():
            parts[name] = parts.get(name, Flops()) + flops
        return FlopBreakdown(parts)

    def __mul__(self, k: int) -> FlopBreakdown:
        return FlopBreakdown({name: flops * k for name, flops in self.parts.items()})

    __rmul__ = __mul__

    def forward_only(self) -> FlopBreakdown:
        """The same pass without its backward (inference)."""
        return FlopBreakdown({name: Flops(f.forward, 0) for name, f in self.parts.items()})


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------


def linear(tokens: int, d_in: int, d_out: int) -> Flops:
    """A linear layer on ``tokens`` rows: x (tokens, d_in) @ W^T (d_in, d_out).

    Backward: grad_x = grad_y (tokens, d_out) @ W (d_out, d_in) and grad_W = grad_y^T @ x, each as
    large as the forward.
    """
    fwd = 2 * tokens * d_in * d_out
    return Flops(fwd, 2 * fwd)


def attention_scores(q_len: int, kv_len: int, heads: int, head_dim: int, *, fused: bool) -> Flops:
    """The sequence-length term of attention, per sequence: the two (q_len x kv_len) products.

    Forward: S = Q (H, q_len, hd) @ K^T (H, hd, kv_len) and O = P (H, q_len, kv_len) @ V (H, kv_len, hd);
    each is one "bmm" of ``2 H q_len kv_len hd`` FLOPs (keys/values are shared across a query group
    in GQA but the products still run per query head).
    Backward: dP = dO @ V^T, dV = P^T @ dO, dQ = dS @ K, dK = dS^T @ Q (4 bmm), plus the recomputation
    of S in fused kernels (5 bmm).
    """
    bmm = 2 * heads * q_len * kv_len * head_dim
    return Flops(2 * bmm, (5 if fused else 4) * bmm)


def patch_conv(tiles: int, patches: int, channels: int, patch: int, width: int) -> Flops:
    """The ViT patch embedding: a (patch x patch) stride-patch convolution, no bias.

    Each of ``tiles * patches`` output positions is a dot product of length channels * patch^2 for
    each of ``width`` output channels. Backward: only grad_W (pixels need no gradient).
    """
    fwd = 2 * tiles * patches * channels * patch * patch * width
    return Flops(fwd, fwd)


def value_head(hidden: int, sizes: Iterable[int] = VALUE_HEAD_SIZES) -> FlopBreakdown:
    """The paper's PPO value head on ONE token (the last prompt token): hidden -> 1024 -> 512 -> 1."""
    widths = [hidden, *sizes, 1]
    flops = Flops()
    for d_in, d_out in zip(widths[:-1], widths[1:]):
        flops = flops + linear(1, d_in, d_out)  # (1, d_in) @ (d_in, d_out)
    return FlopBreakdown({"value_head": flops})


# ---------------------------------------------------------------------------------------------
# Vision encoder (Mllama)
# ---------------------------------------------------------------------------------------------


def vision_pass(vision: VisionArch, text_hidden: int) -> FlopBreakdown:
    """One image through Mllama's vision encoder and projector.

    Shapes: T = max_num_tiles, P = patches per tile + 1 class token, P8 = P padded to a multiple of
    8, L = T x P8 ViT tokens (both transformers attend across all tiles of the image at once).
    """
    T, P, P8 = vision.max_num_tiles, vision.patches_per_tile, vision.padded_patches_per_tile
    L = T * P8
    Dv, Iv, heads, hd = vision.hidden_size, vision.intermediate_size, vision.num_heads, vision.head_dim
    layers = vision.num_local_layers + vision.num_global_layers
    parts = {
        # pixels (T, C, image_size, image_size) -> patches (T, P-1, Dv)
        "vision_patch_conv": patch_conv(T, P - 1, vision.num_channels, vision.patch_size, Dv),
        # padding mask as an outer product: (L, 1) @ (1, L); built from integers, no gradient
        "vision_mask": Flops(2 * L * L * 1, 0),
        # q, k, v, o: (L, Dv) @ (Dv, heads*hd), no bias
        "vision_attn_qkvo": layers * (4 * linear(L, Dv, heads * hd)),
        # scores over the L tokens of the image
        "vision_attn_scores": layers * attention_scores(L, L, heads, hd, fused=vision.fused_attention),
        # fc1 (L, Dv) @ (Dv, Iv) and fc2 (L, Iv) @ (Iv, Dv), with bias (addmm: the bias is free)
        "vision_mlp": layers * (linear(L, Dv, Iv) + linear(L, Iv, Dv)),
        # projector on the unpadded tokens: (T*P, output_dim) @ (output_dim, d)
        "vision_projector": linear(T * P, vision.output_dim, text_hidden),
    }
    return FlopBreakdown(parts)


# ---------------------------------------------------------------------------------------------
# Text decoder
# ---------------------------------------------------------------------------------------------


def text_pass(
    text: TextArch,
    q_len: int,
    *,
    past_len: int = 0,
    image_tokens: int = 0,
    image_kv_cached: bool = False,
    logits_len: int | None = None,
) -> FlopBreakdown:
    """``q_len`` new tokens of one sequence through the decoder.

    Args:
        text: the decoder.
        q_len: tokens processed in this pass (the whole sequence, or 1 per decoding step).
        past_len: tokens already in the KV cache; attention keys = past_len + q_len.
        image_tokens: image tokens the cross-attention layers attend to (0: text-only input, and
            then the cross-attention layers are skipped, as Mllama does).
        image_kv_cached: the cross-attention keys/values were projected in an earlier pass
            (decoding steps after the prefill), so their projections are not repeated.
        logits_len: rows that reach the LM head (default ``q_len``; 1 in ``generate``'s prefill,
            which keeps only the last position's logits).
    """
    d, H, KV, hd, I = text.hidden_size, text.num_heads, text.num_kv_heads, text.head_dim, text.intermediate_size
    S, K = q_len, past_len + q_len
    cross = set(text.cross_attention_layers)
    n_self = text.num_layers - len(cross)
    n_cross = len(cross) if image_tokens else 0
    parts = {
        # q (S, d) @ (d, H*hd); k, v (S, d) @ (d, KV*hd); o (S, H*hd) @ (H*hd, d)
        "attn_qkvo": n_self * (linear(S, d, H * hd) + 2 * linear(S, d, KV * hd) + linear(S, H * hd, d)),
        # the sequence-length term: S queries against K keys
        "attn_scores": n_self * attention_scores(S, K, H, hd, fused=text.fused_attention),
        # gate and up (S, d) @ (d, I), down (S, I) @ (I, d): in every layer that runs
        "mlp": (n_self + n_cross) * (2 * linear(S, d, I) + linear(S, I, d)),
        # logits: (logits_len, d) @ (d, V)
        "lm_head": linear(S if logits_len is None else logits_len, d, text.vocab_size),
    }
    if n_cross:
        # queries and output of the text tokens: (S, d) @ (d, H*hd), (S, H*hd) @ (H*hd, d)
        parts["cross_attn_qo"] = n_cross * (linear(S, d, H * hd) + linear(S, H * hd, d))
        if not image_kv_cached:
            # keys and values of the image tokens: (image_tokens, d) @ (d, KV*hd), twice
            parts["cross_attn_kv"] = n_cross * (2 * linear(image_tokens, d, KV * hd))
        # S text queries against the image tokens
        parts["cross_attn_scores"] = n_cross * attention_scores(S, image_tokens, H, hd, fused=text.fused_attention)
    return FlopBreakdown(parts)


def model_pass(
    arch: ModelArch,
    seq_len: int,
    *,
    images: int = 0,
    logits_len: int | None = None,
) -> FlopBreakdown:
    """One sequence of ``seq_len`` tokens (plus ``images`` images) through the whole model, no cache.

    Images go through the vision encoder once each; the text attends to all their tokens.
    """
    if images and arch.vision is None:
        raise ValueError(f"images={images!r} is not valid for a text-only model; it must be 0")
    out = text_pass(
        arch.text,
        seq_len,
        image_tokens=images * arch.vision.tokens_per_image if images else 0,
        logits_len=logits_len,
    )
    if images:
        out = out + images * vision_pass(arch.vision, arch.text.hidden_size)
    return out
