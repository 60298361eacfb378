"""Pretraining throughput of the tiny bases (tokens/s through forward + backward + AdamW step).

Measures, with one torch thread (``torch.set_num_threads(1)``; the machine is shared, so each
measurement is run twice and the faster counts), for the default base sizes
(:data:`sftrl_repro.trainers.pretrain.BASE_SPEC`):

1. text steps: packed batches of the text corpus (``rows x row_tokens`` of the default config);
2. vision steps: batches of ``image_batch`` card and street images (Mllama, text decoder and ViT);
3. corpus generation alone (examples/s), to show it is not the bottleneck;

and prints the time a default base would take at that speed (``steps`` of the default configs).
With ``--autocast`` each step is also timed under bfloat16 autocast (``PretrainConfig.bf16_autocast``)
on the same batches, and the ratio printed.

Run: ``.venv/bin/python benchmarks/bench_pretrain.py [--autocast]`` (about 1-2 minutes on one core).
"""

from __future__ import annotations

import argparse
import time

import torch

from sftrl_repro.data.pretrain import example_at
from sftrl_repro.models.tiny import build_tiny
from sftrl_repro.trainers.pretrain import default_config, text_batch, vision_batch


def _steps_per_second(model, batches, repeats: int = 2, autocast: bool = False) -> float:
    """Seconds for one pass over ``batches`` (forward, backward, AdamW), the fastest of ``repeats``."""
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()

    def loss(batch):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            return model(**batch).loss

    loss(batches[0]).backward()  # warm-up
    optim.zero_grad()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            loss(batch).backward()
            optim.step()
            optim.zero_grad()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per measurement")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--autocast", action="store_true", help="also time the text steps under bf16 autocast")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    text_cfg, vision_cfg = default_config("language"), default_config("vision")

    start = time.perf_counter()
    n = 2000
    for i in range(n):
        example_at(text_cfg.corpus, 0, i)
    print(f"text corpus generation: {n / (time.perf_counter() - start):,.0f} examples/s")
    start = time.perf_counter()
    for i in range(100):
        example_at(vision_cfg.corpus, 0, i)
    print(f"vision corpus generation: {100 / (time.perf_counter() - start):,.0f} examples/s")

    model, tok = build_tiny("language", text_cfg.spec)
    cursor, batches = 0, []
    for _ in range(args.steps):
        batch, cursor = text_batch(tok, text_cfg.corpus, 0, cursor, text_cfg.rows, text_cfg.row_tokens)
        batches.append(batch)
    tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    seconds = _steps_per_second(model, batches)
    params = sum(p.numel() for p in model.parameters())
    tps = tokens / seconds
    print(f"text base ({params / 1e6:.1f}M parameters, {args.threads} thread(s)): {tps:,.0f} tokens/s, "
          f"{seconds / args.steps:.2f} s/step -> {text_cfg.steps} steps ~ {text_cfg.steps * seconds / args.steps / 60:.1f} min")
    if args.autocast:
        fast = _steps_per_second(model, batches, autocast=True)
        print(f"  under bf16 autocast: {tokens / fast:,.0f} tokens/s, {fast / args.steps:.2f} s/step: "
              f"{seconds / fast:.2f}x float32")

    model, processor = build_tiny("vision", vision_cfg.spec)
    cursor, batches = 0, []
    for _ in range(args.steps):
        batch, cursor = vision_batch(processor, vision_cfg.corpus, 0, cursor, vision_cfg.image_batch)
        batches.append(batch)
    vtokens = sum(int(b["attention_mask"].sum()) for b in batches)
    vseconds = _steps_per_second(model, batches)
    params = sum(p.numel() for p in model.parameters())
    per_step = (vseconds / args.steps) * (1 - 1 / vision_cfg.replay_every) + (seconds / args.steps) / vision_cfg.replay_every
    print(f"vision base ({params / 1e6:.1f}M parameters): {vtokens / vseconds:,.0f} text tokens/s, "
          f"{vision_cfg.image_batch * args.steps / vseconds:,.1f} images/s, {vseconds / args.steps:.2f} s/image step "
          f"-> {vision_cfg.steps} steps (1 in {vision_cfg.replay_every} a text step) ~ {vision_cfg.steps * per_step / 60:.1f} min")


if __name__ == "__main__":
    main()
