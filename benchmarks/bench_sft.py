"""SFT throughput: the package's TRL trainer vs a plain PyTorch loop, and SmolLM2 on this machine.

1. Tiny GP-L SFT, tokens/s (non-padding tokens through forward + backward + AdamW step), measured
   over the same steps for :func:`sftrl_repro.trainers.sft.train_sft` (TRL ``SFTTrainer``) and for a
   plain loop over the same model architecture, initial weights, batch composition and
   assistant-only labels. The first steps are warm-up and not timed; each is run twice, alternating,
   and the faster run counts (the machine is shared). The trainer may cost at most 1.3x the plain
   loop's time per token: the script exits with status 1 otherwise.
2. SmolLM2-135M-Instruct (``small`` scale), when its wheel is installed: SFT tokens/s (batch 4) and
   greedy generation tokens/s (batch 8, 64 new tokens).

Run: ``.venv/bin/python benchmarks/bench_sft.py`` (about 3 minutes on one CPU core).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import torch
from transformers import TrainerCallback

from sftrl_repro.data import gp_sft_dataset
from sftrl_repro.envs.general_points import GeneralPointsEnv
from sftrl_repro.models import load_policy
from sftrl_repro.trainers.sft import SFTRunConfig, train_sft

MAX_OVERHEAD = 1.3


class _StepTimer(TrainerCallback):
    """Wall time from the end of the warm-up checkpoint's save to the end of the last step."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start = self.end = 0.0

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.warmup:
            self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == args.max_steps:
            self.end = time.perf_counter()


def trl_tokens_per_second(data, *, steps: int, warmup: int, batch: int) -> float:
    """Tokens/s of ``train_sft`` on the tiny GP-L model, from its own checkpoint token records.

    Checkpoints at ``warmup`` and ``steps`` give the tokens trained in between; the timer starts
    after the first checkpoint is written and stops before the last one is.
    """
    timer = _StepTimer(warmup)
    with tempfile.TemporaryDirectory() as out:
        config = SFTRunConfig(output_dir=out, max_steps=steps, save_steps=(warmup,), per_device_batch_size=batch,
                              learning_rate=1e-3, logging_steps=steps, report_to="none")
        result = train_sft(load_policy("tiny", "language", base="random"), data, config, callbacks=[timer])
    first, last = result.checkpoints
    return (last.trained_tokens - first.trained_tokens) / (timer.end - timer.start)


def plain_batches(policy, data, *, batch: int):
    """Right-padded batches with assistant-only labels, built as TRL builds them."""
    tok = policy.tokenizer
    batches = []
    for start in range(0, len(data) - batch + 1, batch):
        rows = [tok.apply_chat_template(m, return_dict=True, return_assistant_tokens_mask=True)
                for m in data[start : start + batch]["messages"]]
        length = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((batch, length), tok.pad_token_id)
        mask = torch.zeros((batch, length), dtype=torch.long)
        labels = torch.full((batch, length), -100)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = torch.tensor(r["input_ids"])
            mask[i, :n] = 1
            keep = torch.tensor(r["assistant_masks"], dtype=torch.bool)
            labels[i, :n] = torch.where(keep, ids[i, :n], -100)
        batches.append({"input_ids": ids, "attention_mask": mask, "labels": labels})
    return batches


def plain_tokens_per_second(data, *, steps: int, warmup: int, batch: int) -> float:
    """Tokens/s of a minimal loop: forward with labels, backward, clip, AdamW step."""
    policy = load_policy("tiny", "language", base="random")
    model = policy.model.train()
    batches = plain_batches(policy, data, batch=batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=0.0)
    tokens, start = 0, 0.0
    for step in range(steps):
        b = batches[step % len(batches)]
        loss = model(**b).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step + 1 == warmup:
            start = time.perf_counter()
        elif step + 1 > warmup:
            tokens += int(b["attention_mask"].sum())
    return tokens / (time.perf_counter() - start)


def smollm2_numbers(data) -> dict[str, float] | None:
    """SmolLM2 SFT and generation tokens/s on this machine, or ``None`` without its wheel."""
    try:
        policy = load_policy("small", "language")
    except ModuleNotFoundError as err:
        print(f"SmolLM2 skipped: {err}")
        return None
    model = policy.model.train()
    batch = plain_batches(policy, data, batch=4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    timings = []
    for b in batch[:3]:
        start = time.perf_counter()
        model(**b).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        timings.append((int(b["attention_mask"].sum()), time.perf_counter() - start))
    train_tps = sum(t for t, _ in timings[1:]) / sum(s for _, s in timings[1:])
    model.eval()
    env = GeneralPointsEnv(modality="language")
    conversations = [env.reset(seed=i)[1]["conversation"] for i in range(8)]
    start = time.perf_counter()
    gen = policy.generate(conversations, max_new_tokens=64, with_logprobs=False)
    gen_tps = int(gen.mask.sum()) / (time.perf_counter() - start)
    return {"sft_tokens_per_s": train_tps, "generate_tokens_per_s": gen_tps}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=25, help="steps per measurement (the first 5 not timed)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: stable on a shared machine)")
    parser.add_argument("--no-smollm2", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = gp_sft_dataset(args.steps * args.batch, modality="language", seed=0)
    warmup = 5

    trl, plain = [], []
    for _ in range(2):  # alternate, keep the best of each: the CPU is shared
        trl.append(trl_tokens_per_second(data, steps=args.steps, warmup=warmup, batch=args.batch))
        plain.append(plain_tokens_per_second(data, steps=args.steps, warmup=warmup, batch=args.batch))
    overhead = max(plain) / max(trl)
    print(f"tiny GP-L SFT, batch {args.batch}, {args.threads} threads, {args.steps - warmup} timed steps:")
    print(f"  train_sft (TRL SFTTrainer): {max(trl):8.0f} tokens/s  (runs: {', '.join(f'{x:.0f}' for x in trl)})")
    print(f"  plain PyTorch loop:         {max(plain):8.0f} tokens/s  (runs: {', '.join(f'{x:.0f}' for x in plain)})")
    print(f"  trainer time per token / plain loop's: {overhead:.2f}x (limit {MAX_OVERHEAD}x)")

    if not args.no_smollm2:
        numbers = smollm2_numbers(data)
        if numbers:
            device = "GPU" if torch.cuda.is_available() else f"CPU, {args.threads} threads"
            print(f"SmolLM2-135M-Instruct ({device}): SFT {numbers['sft_tokens_per_s']:.0f} tokens/s (batch 4), "
                  f"greedy generation {numbers['generate_tokens_per_s']:.1f} tokens/s (batch 8)")
    return 0 if overhead <= MAX_OVERHEAD else 1


if __name__ == "__main__":
    sys.exit(main())
