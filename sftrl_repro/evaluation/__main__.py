"""``python -m sftrl_repro.evaluation``: evaluate one checkpoint on the paper's splits, one JSON row per split.

    python -m sftrl_repro.evaluation --checkpoint runs/ppo/<run>/checkpoints/step_000020/policy \\
        --task gp --variant l --out runs/eval/gp-l-step20.json

Under ``accelerate launch`` (e.g. ``--num_processes 8``) the episodes are shared among the
processes (per-episode seeded sampling: the same numbers as one process). Decoding is the
authors' (the checkpoint's generation config) unless ``--greedy``. The output is written atomically
by the main process; an existing output is left as is (requeue-safe).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> list[dict]:
    from accelerate import Accelerator

    from sftrl_repro.evaluation import evaluate
    from sftrl_repro.evaluation.splits import PROTOCOL
    from sftrl_repro.models import load_policy
    from sftrl_repro.trainers.sft import image_size_for
    from sftrl_repro.utils.io import write_json_atomic

    parser = argparse.ArgumentParser(prog="python -m sftrl_repro.evaluation", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="a policy folder (SFT checkpoint or PPO checkpoint's policy/)")
    parser.add_argument("--scale", choices=("tiny", "small", "paper"), default="paper")
    parser.add_argument("--task", choices=("gp", "virl"), required=True)
    parser.add_argument("--variant", choices=("l", "vl"), required=True)
    parser.add_argument("--splits", default=None, help="comma-separated (default: id,rule_ood[,visual_ood])")
    parser.add_argument("--n", type=int, default=None, help="episodes per split (default: the paper's 234 / 48)")
    parser.add_argument("--verify-iter", type=int, default=None, help="attempts (default: the paper's 5 / 2)")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--greedy", action="store_true", help="greedy decoding instead of the authors' sampling")
    parser.add_argument("--out", required=True, help="the JSON file to write")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.is_file():
        print(f"{out} exists; nothing to do")
        return json.loads(out.read_text())
    modality = "vision" if args.variant == "vl" else "language"
    splits = args.splits.split(",") if args.splits else (
        ["id", "rule_ood", "visual_ood"] if modality == "vision" else ["id", "rule_ood"])
    accelerator = Accelerator()
    policy = load_policy(args.scale, modality, checkpoint=args.checkpoint, device=accelerator.device)
    rows = [evaluate(policy, args.task, split, modality, n=args.n or PROTOCOL[args.task]["n"],
                     verify_iter=args.verify_iter, image_size=image_size_for(args.scale, args.task),
                     max_new_tokens=args.max_new_tokens, greedy=args.greedy, accelerator=accelerator,
                     progress=accelerator.is_main_process) for split in splits]
    rows = [{"checkpoint": str(args.checkpoint), **r} for r in rows]
    if accelerator.is_main_process:
        write_json_atomic(out, rows)
        print(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
