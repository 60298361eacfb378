"""Compute at the paper's scale: Llama-3.2-11B-Vision-Instruct and the paper's training budgets.

The model is described by its public ``config.json`` (written out below, so nothing is downloaded)
and counted on the meta device: N = 10,670,220,835. The budgets follow the paper's recipe (App. C and the authors' scripts); the
token lengths of prompts and answers are not published and are explicit, documented assumptions
(:class:`PaperBudget`), estimated from the authors' prompt templates (about 760 characters of GP
prompt, about 4 characters per Llama-3 token, plus the chat template).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sftrl_repro.flops import formulas
from sftrl_repro.flops.arch import ModelArch, arch_from_config
from sftrl_repro.flops.measure import count_parameters
from sftrl_repro.flops.meter import ComputeMeter
from sftrl_repro.paths import results_dir
from sftrl_repro.utils.io import write_csv_atomic

PAPER_MODEL_ID = "meta-llama/Llama-3.2-11B-Vision-Instruct"


def paper_model_config() -> Any:
    """``MllamaConfig`` of Llama-3.2-11B-Vision-Instruct (numbers of its public config.json)."""
    from transformers import MllamaConfig

    text = dict(
        vocab_size=128256,
        hidden_size=4096,
        num_hidden_layers=40,  # 32 self-attention + 8 cross-attention layers
        cross_attention_layers=[3, 8, 13, 18, 23, 28, 33, 38],
        num_attention_heads=32,
        num_key_value_heads=8,
        intermediate_size=14336,
        hidden_act="silu",
        max_position_embeddings=131072,
        rms_norm_eps=1e-5,
        rope_parameters=dict(
            rope_type="llama3",
            rope_theta=500000.0,
            factor=8.0,
            low_freq_factor=1.0,
            high_freq_factor=4.0,
            original_max_position_embeddings=8192,
        ),
        tie_word_embeddings=False,
        bos_token_id=128000,
        eos_token_id=[128001, 128008, 128009],
        pad_token_id=128004,
    )
    vision = dict(
        hidden_size=1280,
        attention_heads=16,
        intermediate_size=5120,
        num_hidden_layers=32,  # "local" transformer
        num_global_layers=8,  # gated "global" transformer
        intermediate_layers_indices=[3, 7, 15, 23, 30],
        vision_output_dim=7680,  # 1280 x (1 final + 5 intermediate layers)
        image_size=560,
        patch_size=14,
        num_channels=3,
        max_num_tiles=4,
        supported_aspect_ratios=[[1, 1], [1, 2], [1, 3], [1, 4], [2, 1], [2, 2], [3, 1], [4, 1]],
        norm_eps=1e-5,
        hidden_act="gelu",
    )
    return MllamaConfig(vision_config=vision, text_config=text, image_token_index=128256)


@dataclass(frozen=True)
class PaperBudget:
    """One task's training budget at the paper's scale.

    Attributes:
        task: the paper's name for the task (``"GP-L"``, ``"GP-VL"``, ...).
        family: ``"gp"`` or ``"virl"`` (picks lambda).
        images: images per prompt (1 for the VL variants, sent in the first user turn).
        init_sft_steps: SFT steps of the init checkpoint (the authors' GP-L init is step 400; assumed equal for GP-VL).
        sft_batch: SFT global batch (128).
        prompt_tokens: ASSUMPTION: text tokens of a first-attempt prompt, chat template included.
        answer_tokens: ASSUMPTION: tokens of an answer (the JSON object and end-of-turn token).
        rl_prompt_tokens: ASSUMPTION: mean input tokens of a generation call during RL (later
            attempts carry the earlier answers and the verifier's feedback).
        rl_updates: PPO updates (20 for GP, 15 for V-IRL).
        processes: data-parallel processes, each with its own environment (8).
        transitions_per_process: generations per process per update (256).
        ppo_epochs: PPO epochs per update (4).
    """

    task: str
    family: str
    images: int
    init_sft_steps: int
    prompt_tokens: int
    answer_tokens: int
    rl_prompt_tokens: int
    sft_batch: int = 128
    rl_updates: int = 20
    processes: int = 8
    transitions_per_process: int = 256
    ppo_epochs: int = 4

    @property
    def transitions_per_update(self) -> int:
        """Generations (= PPO samples) per update, over all processes."""
        return self.processes * self.transitions_per_process


def gp_budgets(
    *,
    init_sft_steps: int = 400,
    l_prompt_tokens: int = 220,
    vl_prompt_tokens: int = 200,
    answer_tokens: int = 45,
    l_rl_prompt_tokens: int = 350,
    vl_rl_prompt_tokens: int = 330,
) -> tuple[PaperBudget, PaperBudget]:
    """The GP-L and GP-VL budgets (the paper's recipe, App. C; token lengths as given)."""
    common = dict(family="gp", init_sft_steps=init_sft_steps, answer_tokens=answer_tokens)
    return (
        PaperBudget(task="GP-L", images=0, prompt_tokens=l_prompt_tokens, rl_prompt_tokens=l_rl_prompt_tokens,
                    **common),
        PaperBudget(task="GP-VL", images=1, prompt_tokens=vl_prompt_tokens, rl_prompt_tokens=vl_rl_prompt_tokens,
                    **common),
    )


PAPER_BUDGETS = gp_budgets()
# The paper's x-axis ranges (Fig. 5), in GFLOPs, as read off the figure.
PAPER_AXIS_GFLOPS = {"GP-L": "up to ~1e10", "GP-VL": "2e10 - 6e10"}


def simulate_budget(
    budget: PaperBudget, *, arch: ModelArch | None = None, n_params: int | None = None
) -> dict[str, ComputeMeter]:
    """Run the budget through :class:`ComputeMeter` (as the trainers would) and return the meters
    at the init checkpoint (``"init"``) and after the last PPO update (``"rl_end"``)."""
    config = None
    if arch is None or n_params is None:
        config = paper_model_config()
    arch = arch if arch is not None else arch_from_config(config)
    n_params = n_params if n_params is not None else count_parameters(config)
    meter = ComputeMeter(n_params=n_params, arch=arch, task=budget.family)
    sft_len = budget.prompt_tokens + budget.answer_tokens
    for _ in range(budget.init_sft_steps):
        meter.add_sft_step([sft_len] * budget.sft_batch, images=budget.images)
    init = ComputeMeter.from_dict(meter.to_dict(), arch)
    n = budget.transitions_per_update
    prompts, answers = [budget.rl_prompt_tokens] * n, [budget.answer_tokens] * n
    seqs = [budget.rl_prompt_tokens + budget.answer_tokens] * n
    for _ in range(budget.rl_updates):
        meter.add_generations(prompts, answers, images=budget.images)
        meter.add_logprob_pass(seqs, images=budget.images)
        for _ in range(budget.ppo_epochs):
            meter.add_ppo_epoch(seqs, images=budget.images)
    return {"init": init, "rl_end": meter}


def paper_scale_table(budgets: Sequence[PaperBudget] = PAPER_BUDGETS):
    """GFLOPs at the init checkpoint and at the end of RL for each budget, under every convention.

    Columns: the budget (assumptions included), N, the token counts D_init, D_RL (summed over PPO
    epochs), D_buffer, lambda (paper and measured), ``gflops_<convention>``, the paper formula with
    D_RL counted once per sample instead of once per epoch (``gflops_paper_rl_once``), and the
    paper's axis range.
    """
    import pandas as pd

    config = paper_model_config()
    arch, n_params = arch_from_config(config), count_parameters(config)
    rows = []
    for budget in budgets:
        meters = simulate_budget(budget, arch=arch, n_params=n_params)
        for point, meter in meters.items():
            d = meter.to_dict()
            d_rl_once = meter.tokens_rl // budget.ppo_epochs
            lam = formulas.paper_lambda(budget.family)
            row = {
                **{k: v for k, v in asdict(budget).items()},
                "point": point,
                "n_params": n_params,
                "d_init": d["tokens_sft"],
                "d_rl": d["tokens_rl"],
                "d_buffer": d["generation_input_tokens"] + d["generation_output_tokens"],
                "lambda_paper": lam,
                "lambda_measured": d["lambda_measured"],
            }
            for convention in ("paper", "paper_measured", "exact", "official"):
                row[f"gflops_{convention}"] = d[f"flops_{convention}"] / 1e9
            row["gflops_paper_rl_once"] = formulas.rl_flops(n_params, meter.tokens_sft, d_rl_once, lam) / 1e9
            row["paper_axis_gflops"] = PAPER_AXIS_GFLOPS.get(budget.task, "")
            rows.append(row)
    return pd.DataFrame(rows)


def write_paper_scale_table(frame=None, path: str | Path | None = None) -> Path:
    """Write the table to ``results/compute_paper_scale.csv`` (atomically); returns the path."""
    frame = paper_scale_table() if frame is None else frame
    path = Path(path) if path is not None else results_dir() / "compute_paper_scale.csv"
    return write_csv_atomic(path, frame, float_format="%.6g")
