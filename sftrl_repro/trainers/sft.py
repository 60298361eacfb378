"""Supervised fine-tuning with TRL's ``SFTTrainer``, for every scale and both modalities.

One call, :func:`train_sft`, runs (or resumes, or returns the cached result of) one SFT run:

* loss on assistant turns only (``assistant_only_loss``: the chat templates of
  :mod:`sftrl_repro.models.chat_templates` mark the answers and their end-of-turn token);
* checkpoints at a list of steps (the paper picks its init checkpoint by step and studies longer
  SFT from it), each a folder :meth:`sftrl_repro.models.Policy.load` reads;
* the trained tokens at each checkpoint, for the compute axis (``X = 6 N D``);
* resumable: killed at any point and started again with the same config, it continues from the
  last checkpoint (weights, optimizer, scheduler, data order, RNG, token counts) and ends with the
  same numbers as an uninterrupted run.

A run folder holds::

    <output_dir>/config.json        the SFTRunConfig (a rerun with another config is refused)
    <output_dir>/metrics.jsonl      TrainerState.log_history: training logs and checkpoint records
    <output_dir>/checkpoints/checkpoint-<step>/   model, processor, policy.json, trainer state
    <output_dir>/DONE               written last; a finished run is returned without training

Devices and processes come from ``accelerate`` (through ``transformers.Trainer``): a plain call
trains on the CPU or the one visible GPU (bf16 there); ``accelerate launch --config_file
configs/accelerate_zero3.yaml`` trains on 8 GPUs with DeepSpeed ZeRO-3 (see ``configs/``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import torch
from datasets import Dataset
from transformers import TrainerCallback
from trl import SFTConfig, SFTTrainer

from sftrl_repro.models.policy import Policy, write_policy_record
from sftrl_repro.utils.io import write_json_atomic, write_text_atomic
from sftrl_repro.utils.params import check_choice, check_int

CONFIG_FILE, METRICS_FILE, DONE_FILE, CHECKPOINTS = "config.json", "metrics.jsonl", "DONE", "checkpoints"
TOKEN_KEYS = ("trained_tokens", "trained_answer_tokens", "trained_images")
#: What an SFT run trains (``SFTRunConfig.tune``; the paper's Fig 16 ablation on GP-VL): every
#: parameter, all but the vision encoder, or all but the encoder and the multi-modal projector.
TUNE_MODES = ("all", "frozen_vision", "frozen_vision_adapter")


@dataclass
class SFTRunConfig:
    """Hyperparameters of one SFT run (TRL/transformers names in brackets).

    Attributes:
        output_dir: the run folder (see the module docstring).
        max_steps: optimizer steps in all [``max_steps``]; the data repeats as needed.
        save_steps: steps after which a checkpoint is written; ``max_steps`` is always one. The
            paper's inits are GP-L step 400 and V-IRL-L step 25.
        learning_rate: peak learning rate [``learning_rate``]; the paper: GP-L 1e-6, GP-VL 5e-7,
            V-IRL-L 1e-6, V-IRL-VL 5e-7 (global batch 128).
        per_device_batch_size: sequences per process and micro-step [``per_device_train_batch_size``].
        gradient_accumulation_steps: micro-steps per optimizer step; global batch =
            ``per_device_batch_size * gradient_accumulation_steps * processes`` (paper: 128).
        lr_scheduler: schedule after warm-up [``lr_scheduler_type``]; the paper: ``'cosine'``.
        warmup_ratio: share of ``max_steps`` with linear warm-up [``warmup_steps`` as a ratio]; paper 3%.
        adam_beta1: AdamW beta1 (paper 0.9).
        adam_beta2: AdamW beta2 (paper 0.98).
        weight_decay: AdamW decoupled weight decay.
        max_grad_norm: gradient clipping norm.
        max_length: sequences are cut to this many tokens (``None``: never).
        seed: seed of weights-independent randomness: data order, dropout [``seed``, ``data_seed``].
        logging_steps: log (and rewrite ``metrics.jsonl``) every this many steps.
        gradient_checkpointing: recompute activations in the backward pass (saves memory; the
            paper scale needs it, the tiny scale is faster without).
        bf16: train in bf16 autocast (float32 weights; on a machine without a GPU, the CPU's autocast);
            ``None``: when a GPU is visible. The ``tiny`` preset sets it.
        deepspeed: path of a DeepSpeed JSON config, when launching with ``torchrun`` instead of
            ``accelerate launch`` (which names the DeepSpeed config itself).
        keep_optimizer_states: ``'last'``: delete the optimizer state of every checkpoint but the
            newest (resuming needs only that one; at the paper scale each is ~130 GB); ``'all'``: keep.
        report_to: ``'auto'`` (TensorBoard when installed), ``'none'``, or a transformers integration name.
        dataloader_num_workers: worker processes of the data loader (vision: image preprocessing).
        tune: what is trained (:data:`TUNE_MODES`): ``'all'`` (default), ``'frozen_vision'`` (the
            Mllama vision encoder frozen) or ``'frozen_vision_adapter'`` (the encoder and the
            multi-modal projector frozen); the frozen modes need a vision policy. The paper's Fig 16.
    """

    output_dir: str
    max_steps: int = 200
    save_steps: tuple[int, ...] = ()
    learning_rate: float = 1e-3
    per_device_batch_size: int = 16
    gradient_accumulation_steps: int = 1
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    adam_beta1: float = 0.9
    adam_beta2: float = 0.98
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    max_length: int | None = 2048
    seed: int = 0
    logging_steps: int = 10
    gradient_checkpointing: bool = False
    bf16: bool | None = None
    deepspeed: str | None = None
    keep_optimizer_states: str = "last"
    report_to: str = "auto"
    dataloader_num_workers: int = 0
    tune: str = "all"

    def __post_init__(self) -> None:
        check_choice("tune", self.tune, TUNE_MODES)
        check_int("max_steps", self.max_steps, low=1)
        self.save_steps = tuple(sorted({check_int("save_steps item", int(s), low=1, high=self.max_steps)
                                        for s in self.save_steps} | {self.max_steps}))
        check_int("per_device_batch_size", self.per_device_batch_size, low=1)
        check_int("gradient_accumulation_steps", self.gradient_accumulation_steps, low=1)
        check_int("logging_steps", self.logging_steps, low=1)
        check_choice("keep_optimizer_states", self.keep_optimizer_states, ("last", "all"))
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio={self.warmup_ratio!r} is not valid; it must be in [0, 1)")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate={self.learning_rate!r} is not valid; it must be > 0")


@dataclass
class CheckpointRecord:
    """One checkpoint of a run: its step, folder and the training compute spent to reach it.

    Attributes:
        step: optimizer steps done.
        path: the checkpoint folder (``Policy.load`` reads it).
        trained_tokens: non-padding tokens through forward and backward, all processes
            (prompt + answer: the ``D`` of ``6 N D``).
        trained_answer_tokens: tokens that carried loss (assistant turns).
        trained_images: images seen (vision; the authors' token count adds 1600 per image).
    """

    step: int
    path: str
    trained_tokens: int
    trained_answer_tokens: int
    trained_images: int


@dataclass
class SFTResult:
    """What :func:`train_sft` returns: the run folder and its checkpoints, oldest first."""

    output_dir: str
    checkpoints: list[CheckpointRecord] = field(default_factory=list)

    @property
    def final(self) -> CheckpointRecord:
        return self.checkpoints[-1]


# ------------------------------------------------------------------------------------ presets
SCALES, TASKS, VARIANTS = ("tiny", "small", "paper"), ("gp", "virl"), ("l", "vl")
#: The paper's peak SFT learning rates (global batch 128), by (task, variant) (the authors' SFT scripts).
PAPER_LEARNING_RATES = {("gp", "l"): 1e-6, ("gp", "vl"): 5e-7, ("virl", "l"): 1e-6, ("virl", "vl"): 5e-7}
#: SFT steps of the paper's init checkpoints (the others are not stated).
PAPER_INIT_STEPS = {("gp", "l"): 400, ("virl", "l"): 25}


def sft_run_config(scale: str, task: str, variant: str, output_dir: str | Path, *, max_steps: int | None = None,
                   save_steps: tuple[int, ...] | None = None, seed: int = 0, **overrides) -> SFTRunConfig:
    """The SFT hyperparameters of a scale, task and variant (``overrides``: any other field).

    * ``tiny``: fine-tuning the pretrained tiny base (lr 5e-4, 10% warm-up, batch 16 for GP and 8 for
      V-IRL, 200 steps, bfloat16 autocast): CPU minutes;
    * ``small``: SmolLM2 fine-tuning (lr 2e-5, batch 16, 400 steps);
    * ``paper``: the paper's recipe: global batch 128 on 8 GPUs (2 per GPU x 8 accumulation
      steps), per-task learning rate, cosine, 3% warm-up, AdamW (0.9, 0.98), bf16, activation
      checkpointing; 1600 steps with a checkpoint every 100 (the inits: GP-L 400, V-IRL-L 25).

    ``save_steps`` defaults to four evenly spaced checkpoints (tiny, small) or every 100 steps
    plus the paper's init step (paper).
    """
    check_choice("scale", scale, SCALES)
    check_choice("task", task, TASKS)
    check_choice("variant", variant, VARIANTS)
    if scale == "paper":
        preset = dict(max_steps=1600, learning_rate=PAPER_LEARNING_RATES[task, variant], per_device_batch_size=2,
                      gradient_accumulation_steps=8, gradient_checkpointing=True, bf16=True, logging_steps=5)
    elif scale == "small":
        preset = dict(max_steps=400, learning_rate=2e-5, per_device_batch_size=16, logging_steps=10)
    else:
        # Fine-tuning the pretrained tiny base: 5e-4 (tuned on in-distribution measures only: at 3e-3
        # 30 GP-L steps left the "number" field right on 1% of ID answers, at 5e-4 60 steps on 78%,
        # i.e. the higher rate erased the base's rule reading). V-IRL prompts are ~3x longer than
        # GeneralPoints ones: half the batch keeps its steps about as fast. bfloat16 autocast (float32
        # weights), as the paper trains: 1.9x the steps/s of float32 on the development machine's CPU
        # (bf16 units; GP-L, 1 thread: 0.84 vs 1.74 s per step, losses equal to 3 digits over 40 steps).
        preset = dict(max_steps=200, learning_rate=5e-4, warmup_ratio=0.1,
                      per_device_batch_size=16 if task == "gp" else 8, logging_steps=10, bf16=True)
    steps = max_steps if max_steps is not None else preset["max_steps"]
    preset["max_steps"] = check_int("max_steps", steps, low=1)
    preset["logging_steps"] = max(1, min(preset["logging_steps"], steps // 10))  # >= 10 points per curve
    if save_steps is None:
        if scale == "paper":
            init = PAPER_INIT_STEPS.get((task, variant))
            save_steps = tuple(range(100, steps + 1, 100)) + ((init,) if init and init <= steps else ())
        else:
            save_steps = tuple(sorted({max(1, round(steps * k / 4)) for k in (1, 2, 3, 4)}))
    return SFTRunConfig(output_dir=str(output_dir), save_steps=tuple(save_steps), seed=seed, **{**preset, **overrides})


# ------------------------------------------------------------------------------------ trainer
class _CountingSFTTrainer(SFTTrainer):
    """``SFTTrainer`` that counts trained tokens across processes, and logs the counts.

    TRL's own ``num_tokens`` restarts from zero on resume; these counters are restored from the
    checkpoint's log history (see :class:`_RunRecorder`), so every record is resume-safe.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.token_counts = torch.zeros(3, dtype=torch.long)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if model.training:
            images = inputs["pixel_values"].shape[0] if inputs.get("pixel_values") is not None else 0
            counts = torch.stack([
                inputs["attention_mask"].sum(),
                (inputs["labels"][:, 1:] != -100).sum(),  # the first label is never predicted
                torch.tensor(images, device=inputs["attention_mask"].device),
            ])
            self.token_counts += self.accelerator.reduce(counts, reduction="sum").cpu()
        return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                    num_items_in_batch=num_items_in_batch)

    def token_record(self) -> dict[str, int]:
        return dict(zip(TOKEN_KEYS, (int(c) for c in self.token_counts)))

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:  # training logs, not the end-of-training summary
            logs.update(self.token_record())
        super().log(logs, start_time)


class _RunRecorder(TrainerCallback):
    """Checkpoints at the configured steps, with their token counts; ``metrics.jsonl``; pruning."""

    def __init__(self, trainer: _CountingSFTTrainer, config: SFTRunConfig, policy: Policy) -> None:
        self.trainer, self.config, self.policy = trainer, config, policy
        self.run_dir = Path(config.output_dir)

    def on_train_begin(self, args, state, control, **kwargs):
        # After a resume, state.log_history is the checkpoint's: restore the counters from it.
        for entry in reversed(state.log_history):
            if all(k in entry for k in TOKEN_KEYS):
                self.trainer.token_counts = torch.tensor([entry[k] for k in TOKEN_KEYS], dtype=torch.long)
                break

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step in self.config.save_steps:
            control.should_save = True
            # Recorded before the save, so the checkpoint's own trainer state holds its record.
            state.log_history.append({"step": state.global_step, "checkpoint": f"checkpoint-{state.global_step}",
                                      "epoch": state.epoch, **self.trainer.token_record()})

    def on_log(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self._write_metrics(state)

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        write_policy_record(folder, scale=self.policy.scale, modality=self.policy.modality,
                            name=f"{self.policy.name} + SFT {state.global_step} steps")
        if self.config.keep_optimizer_states == "last":
            for older in _checkpoint_dirs(Path(args.output_dir)):
                if older != folder:
                    _drop_optimizer_state(older)
        self._write_metrics(state)

    def _write_metrics(self, state) -> None:
        lines = "".join(json.dumps(entry, sort_keys=True) + "\n" for entry in state.log_history)
        write_text_atomic(self.run_dir / METRICS_FILE, lines)


def _checkpoint_dirs(folder: Path) -> list[Path]:
    """``checkpoint-<step>`` folders of ``folder``, by step."""
    dirs = [p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(dirs, key=lambda p: int(p.name.split("-")[-1]))


def _last_complete_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint whose save finished (``trainer_state.json`` is written last), if any.

    A job killed while saving leaves a partial folder; resuming skips it and redoes those steps.
    """
    complete = [p for p in _checkpoint_dirs(folder) if (p / "trainer_state.json").is_file()] if folder.is_dir() else []
    return complete[-1] if complete else None


def _drop_optimizer_state(checkpoint: Path) -> None:
    """Delete what only resuming needs: the optimizer state (torch or DeepSpeed shards)."""
    (checkpoint / "optimizer.pt").unlink(missing_ok=True)
    for shard_dir in checkpoint.glob("global_step*"):
        shutil.rmtree(shard_dir, ignore_errors=True)


# --------------------------------------------------------------------------------------- entry
def train_sft(policy: Policy | Callable[[], Policy], dataset: Dataset, config: SFTRunConfig,
              callbacks: Sequence[TrainerCallback] = ()) -> SFTResult:
    """Fine-tune a policy on ``dataset`` (TRL conversational format) per ``config``; resumable.

    Args:
        policy: the model to train, in place (:func:`sftrl_repro.models.load_policy`), or a
            function returning it. Pass a function at the paper scale: it is called after the
            training arguments exist, so that under DeepSpeed ZeRO-3 transformers shards the
            weights while loading them instead of loading 11B parameters in every process.
        dataset: a ``messages`` column (chats ending with the assistant's answer), and an
            ``images`` column for vision (:mod:`sftrl_repro.data`); other columns are ignored.
        config: see :class:`SFTRunConfig`.
        callbacks: extra ``transformers`` trainer callbacks (logging, early stopping...).

    Returns:
        An :class:`SFTResult` listing every checkpoint. A finished run (``DONE`` present) is
        returned at once; an interrupted one continues from its last checkpoint.
    """
    run_dir = Path(config.output_dir)
    _check_run_folder(run_dir, config)
    if (run_dir / DONE_FILE).is_file():
        return read_sft_result(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / CONFIG_FILE, asdict(config))

    args = make_trl_config(config)  # before the model: it sets up ZeRO-3 sharded loading
    if callable(policy) and not isinstance(policy, Policy):
        policy = policy()
    freeze_for_tune(policy, config.tune)
    columns = [c for c in ("messages", "images") if c in dataset.column_names]
    trainer = _CountingSFTTrainer(
        model=policy.model,
        args=args,
        train_dataset=dataset.select_columns(columns),
        processing_class=policy.processor,
        callbacks=list(callbacks),
    )
    trainer.add_callback(_RunRecorder(trainer, config, policy))
    last = _last_complete_checkpoint(run_dir / CHECKPOINTS)
    trainer.train(resume_from_checkpoint=str(last) if last else None)
    policy.model.eval()
    if trainer.is_world_process_zero():
        write_text_atomic(run_dir / DONE_FILE, "")
    return read_sft_result(run_dir)


def freeze_for_tune(policy: Policy, tune: str) -> list[str]:
    """Freeze (``requires_grad=False``) what ``tune`` leaves untrained; returns the frozen names.

    ``'all'`` freezes nothing; ``'frozen_vision'`` the Mllama vision encoder (``model.vision_model``);
    ``'frozen_vision_adapter'`` also the multi-modal projector that maps its states into the text
    decoder. The trainer's optimizer only holds parameters that require gradients, so frozen ones
    keep their values exactly. A text policy has no vision encoder: a frozen mode is an error there.
    """
    check_choice("tune", tune, TUNE_MODES)
    if tune == "all":
        return []
    if not policy.is_vision:
        raise ValueError(f"tune={tune!r} is not valid for the text policy {policy.name!r}: it freezes the vision "
                         "encoder, which only vision policies have; use tune='all'")
    inner = policy.model.model
    modules = [("model.vision_model", inner.vision_model)]
    if tune == "frozen_vision_adapter":
        modules.append(("model.multi_modal_projector", inner.multi_modal_projector))
    frozen = []
    for prefix, module in modules:
        for name, param in module.named_parameters():
            param.requires_grad_(False)
            frozen.append(f"{prefix}.{name}")
    return frozen


def make_trl_config(config: SFTRunConfig) -> SFTConfig:
    """TRL's ``SFTConfig`` for a run (checkpointing is driven by the run's own callback)."""
    bf16 = torch.cuda.is_available() if config.bf16 is None else config.bf16
    report_to = config.report_to
    if report_to == "auto":
        import importlib.util

        report_to = "tensorboard" if importlib.util.find_spec("tensorboard") else "none"
    return SFTConfig(
        output_dir=str(Path(config.output_dir) / CHECKPOINTS),
        max_steps=config.max_steps,
        per_device_train_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,
        adam_beta1=config.adam_beta1,
        adam_beta2=config.adam_beta2,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        max_length=config.max_length,
        seed=config.seed,
        data_seed=config.seed,
        logging_steps=config.logging_steps,
        activation_checkpointing=config.gradient_checkpointing,
        bf16=bf16,
        # bf16 autocast on a machine without a GPU: transformers asks for use_cpu to allow it
        use_cpu=bool(bf16) and not torch.cuda.is_available(),
        deepspeed=config.deepspeed,
        assistant_only_loss=True,
        packing=False,
        save_strategy="no",  # checkpoints at config.save_steps, set by _RunRecorder
        save_total_limit=None,
        report_to=report_to,
        dataloader_num_workers=config.dataloader_num_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        disable_tqdm=False,
    )


def read_sft_result(run_dir: str | Path) -> SFTResult:
    """The checkpoints of a run folder, from its ``metrics.jsonl`` (those still on disk)."""
    run_dir = Path(run_dir)
    records = []
    for entry in read_metrics(run_dir):
        path = run_dir / CHECKPOINTS / entry.get("checkpoint", "")
        if "checkpoint" in entry and path.is_dir():
            records.append(CheckpointRecord(step=entry["step"], path=str(path),
                                            **{k: int(entry[k]) for k in TOKEN_KEYS}))
    return SFTResult(output_dir=str(run_dir), checkpoints=records)


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The entries of a run's ``metrics.jsonl`` (training logs and checkpoint records)."""
    file = Path(run_dir) / METRICS_FILE
    if not file.is_file():
        return []
    return [json.loads(line) for line in file.read_text().splitlines() if line.strip()]


def _check_run_folder(run_dir: Path, config: SFTRunConfig) -> None:
    """Refuse to resume a folder written with another config (it would silently mix two runs)."""
    file = run_dir / CONFIG_FILE
    if not file.is_file():
        return
    previous = json.loads(file.read_text())
    # A field added to SFTRunConfig after the folder was written (e.g. ``tune``) reads as its
    # default there: that run was trained with the default's behaviour, so it is the same config.
    for f in fields(SFTRunConfig):
        if f.name not in previous and f.default is not MISSING:
            previous[f.name] = json.loads(json.dumps(f.default))
    current = json.loads(json.dumps(asdict(config)))  # tuples -> lists, as stored
    if previous != current:
        changed = sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
        raise ValueError(f"output_dir={str(run_dir)!r} holds a run with another config (differs in "
                         f"{', '.join(changed)}); use another output_dir or delete that folder")


# --------------------------------------------------------------------------------- evaluation
#: Image side used for each task's demonstrations and evaluations at the tiny and small scales
#: (GeneralPoints: the table; V-IRL: each of the 4 street views). The paper scale renders at the
#: environments' own (paper) sizes.
TINY_IMAGE_SIZES = {"gp": 96, "virl": 64}


#: Answer cap of the quick evaluation, by task: about twice the tiny tokenizer's longest
#: demonstration answer (GP ~50 tokens, V-IRL ~70), so well-formed answers always fit.
QUICK_EVAL_MAX_NEW_TOKENS = {"gp": 96, "virl": 144}


def image_size_for(scale: str, task: str) -> int | None:
    """Rendering size for a scale and task (``None``: the environment's default, the paper's)."""
    return None if scale == "paper" else TINY_IMAGE_SIZES[task]


def answer_is_well_formed(task: str, answer: str) -> bool:
    """Whether an answer has every field of the task's answer template (the "format rate")."""
    if task == "gp":
        from sftrl_repro.prompts.gp import parse_gp_answer

        parsed = parse_gp_answer(answer)
        return parsed.cards is not None and parsed.numbers is not None and parsed.formula is not None
    from sftrl_repro.prompts.virl import parse_virl_answer

    parsed = parse_virl_answer(answer)
    return parsed.observation is not None and parsed.instruction is not None and parsed.action is not None


def evaluate_sft_run(result: SFTResult, task: str, variant: str, *, initial: Policy | None = None,
                     splits: Sequence[str] | None = None, n: int = 64, image_size: int | None = None,
                     max_new_tokens: int | None = None, seed: int | None = None):
    """A quick evaluation of every checkpoint of a run (the authors' decoding, ``evaluation.evaluate``'s
    default): format rate and ID / OOD success.

    Args:
        result: the run (:func:`train_sft`).
        task, variant: ``'gp'`` | ``'virl'`` and ``'l'`` | ``'vl'``.
        initial: the policy SFT started from, evaluated as step 0.
        splits: default ID and rule OOD, plus visual OOD for ``vl``.
        n: episodes per split (the paper's protocol uses 234 hands / 48 routes).
        image_size: rendering size (:func:`image_size_for`).
        max_new_tokens: answer cap (default :data:`QUICK_EVAL_MAX_NEW_TOKENS`: about twice the
            longest demonstration answer; the paper's protocol allows 256).
        seed: master seed of the episodes (default: the paper's protocol seed).

    Returns:
        A ``pandas.DataFrame``, one row per (checkpoint, split): ``step``, ``trained_tokens``,
        ``gflops`` (the paper's ``6 N D`` with ``D`` the trained tokens), ``split``,
        ``format_rate`` (first answers with every template field), ``success``, ``success_se``,
        ``per_step_accuracy``, ``per_step_accuracy_se`` and, for GP, ``rule_reading`` and ``recognition``.
    """
    import pandas as pd

    from sftrl_repro.evaluation import evaluate
    from sftrl_repro.flops import n_params, sft_flops

    check_choice("task", task, TASKS)
    modality = {"l": "language", "vl": "vision"}[check_choice("variant", variant, VARIANTS)]
    if splits is None:
        splits = ("id", "rule_ood", "visual_ood") if variant == "vl" else ("id", "rule_ood")
    max_new_tokens = max_new_tokens or QUICK_EVAL_MAX_NEW_TOKENS[task]
    points: list[tuple[int, int, Callable[[], Policy]]] = []
    if initial is not None:
        points.append((0, 0, lambda: initial))
    for record in result.checkpoints:
        points.append((record.step, record.trained_tokens, lambda path=record.path: Policy.load(path)))
    keep = ["success", "success_se", "per_step_accuracy", "per_step_accuracy_se", "rule_reading", "recognition"]
    rows = []
    for step, tokens, load in points:
        policy = load()
        gflops = sft_flops(n_params(policy.model), 0, tokens) / 1e9
        for split in splits:
            metrics, transitions = evaluate(policy, task, split, modality, n=n, seed=seed, image_size=image_size,
                                            num_envs=n, max_new_tokens=max_new_tokens, return_transitions=True)
            first = [t for t in transitions if t.turn == 0]
            rows.append({"step": step, "trained_tokens": tokens, "gflops": gflops, "split": split,
                         "format_rate": sum(answer_is_well_formed(task, t.answer) for t in first) / len(first),
                         **{k: metrics[k] for k in keep if k in metrics}})
    return pd.DataFrame(rows)


def loss_curve(run_dir: str | Path):
    """The training log of a run as a ``DataFrame``: ``step``, ``loss``, ``trained_tokens``, ``learning_rate``."""
    import pandas as pd

    rows = [{k: e[k] for k in ("step", "loss", "trained_tokens", "learning_rate", "mean_token_accuracy") if k in e}
            for e in read_metrics(run_dir) if "loss" in e]
    return pd.DataFrame(rows)


def plot_sft_run(losses, evaluation, *, title: str = "", task: str = "gp", metric: str | None = None):
    """Deprecated: use :func:`sftrl_repro.plots.study.plot_sft_run` (same arguments, plus ``task``).

    A thin alias kept for old callers: it warns and draws with the plots version (worded legends,
    percent axes from 0, V-IRL's per-step accuracy).
    """
    import warnings

    from sftrl_repro.plots.study import plot_sft_run as _plot_sft_run

    warnings.warn("sftrl_repro.trainers.sft.plot_sft_run is deprecated; use sftrl_repro.plots.study.plot_sft_run",
                  DeprecationWarning, stacklevel=2)
    return _plot_sft_run(losses, evaluation, task=task, metric=metric, title=title)


# ------------------------------------------------------------------------------ command line
#: Demonstrations generated per run by default (the data repeats over epochs as needed).
DEFAULT_DEMOS = {"tiny": 2000, "small": 10000, "paper": 20000}


def sft_run_dir(scale: str, task: str, variant: str, *, seed: int, max_steps: int, base: str = "pretrained") -> Path:
    """``runs/sft/<scale>-<task>-<variant>-seed<seed>-<max_steps>steps``: the default run folder
    (``-random`` or ``-isolated`` appended for a tiny run from another base, so it never mixes with the default one)."""
    from sftrl_repro.paths import runs_dir

    suffix = f"-{base}" if scale == "tiny" and base != "pretrained" else ""
    return runs_dir() / "sft" / f"{scale}-{task}-{variant}-seed{seed}-{max_steps}steps{suffix}"


def main(argv: Sequence[str] | None = None) -> SFTResult:
    """``python -m sftrl_repro.trainers.sft --scale tiny --task gp --variant l`` (or under ``accelerate launch``)."""
    import argparse

    from sftrl_repro.data import sft_dataset
    from sftrl_repro.models import BASES, load_policy

    parser = argparse.ArgumentParser(prog="python -m sftrl_repro.trainers.sft", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="tiny", choices=SCALES)
    parser.add_argument("--task", default="gp", choices=TASKS)
    parser.add_argument("--variant", default="l", choices=VARIANTS)
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps (default: the scale's preset)")
    parser.add_argument("--save-steps", default=None, help="comma-separated checkpoint steps")
    parser.add_argument("--demos", type=int, default=None, help="demonstrations to generate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model-name", default=None, help="paper scale: hub id or local folder")
    parser.add_argument("--run-dir", "--output-dir", dest="output_dir", default=None,
                        help="the run folder (default: runs/sft/<scale>-<task>-<variant>-seed<seed>-<steps>steps, "
                             "the folder the notebooks read)")
    parser.add_argument("--base", choices=BASES, default="pretrained",
                        help="tiny only: the package's pretrained tiny base (default), the 'isolated' recipe's "
                             "base, or a random init ('random': quick process checks)")
    parser.add_argument("--eval-n", type=int, default=0,
                        help="after training, evaluate every checkpoint on this many episodes per split "
                             "(written to <run-dir>/eval/<checkpoint>.json; 0: no evaluation)")
    parser.add_argument("--greedy-eval", action="store_true", help="evaluate greedily instead of the authors' sampling")
    args = parser.parse_args(argv)

    save_steps = tuple(int(s) for s in args.save_steps.split(",")) if args.save_steps else None
    probe = sft_run_config(args.scale, args.task, args.variant, "unused", max_steps=args.steps)
    output_dir = args.output_dir or sft_run_dir(args.scale, args.task, args.variant, seed=args.seed,
                                                max_steps=probe.max_steps, base=args.base)
    config = sft_run_config(args.scale, args.task, args.variant, output_dir, max_steps=args.steps,
                            save_steps=save_steps, seed=args.seed)
    modality = "vision" if args.variant == "vl" else "language"
    data = sft_dataset(args.task, args.variant, args.demos or DEFAULT_DEMOS[args.scale], seed=args.seed,
                       image_size=image_size_for(args.scale, args.task))
    base = {"base": args.base} if args.scale == "tiny" else {}
    result = train_sft(lambda: load_policy(args.scale, modality, model_name=args.model_name, seed=args.seed, **base),
                       data, config)
    from accelerate import PartialState

    if not PartialState().is_main_process:
        return result
    for record in result.checkpoints:
        print(json.dumps(asdict(record)))
    if args.eval_n:
        evaluate_checkpoints(result, args.task, args.variant, n=args.eval_n, greedy=args.greedy_eval,
                             image_size=image_size_for(args.scale, args.task),
                             max_new_tokens=256 if args.scale == "paper" else None)
    return result


def evaluate_checkpoints(result: SFTResult, task: str, variant: str, *, n: int, greedy: bool = False,
                         image_size: int | None = None, max_new_tokens: int | None = None) -> Path:
    """Evaluate every checkpoint of an SFT run on its splits; ``<run>/eval/<checkpoint>.json``, cached.

    Each file holds one row per split (``evaluation.evaluate``'s metrics, the checkpoint's step and
    trained tokens). Returns the ``eval`` folder.
    """
    from sftrl_repro.evaluation import evaluate, split_episodes

    modality = {"l": "language", "vl": "vision"}[variant]
    splits = ("id", "rule_ood", "visual_ood") if variant == "vl" else ("id", "rule_ood")
    folder = Path(result.output_dir) / "eval"
    for record in result.checkpoints:
        file = folder / f"{Path(record.path).name}.json"
        if file.is_file():
            continue
        policy = Policy.load(record.path)
        rows = []
        for split in splits:
            episodes = split_episodes(task, split, n)  # V-IRL visual OOD: its 18 routes at most
            rows.append({"step": record.step, "trained_tokens": record.trained_tokens,
                         **evaluate(policy, task, split, modality, n=episodes, greedy=greedy, image_size=image_size,
                                    max_new_tokens=max_new_tokens or QUICK_EVAL_MAX_NEW_TOKENS[task],
                                    num_envs=min(episodes, 64))})
        write_json_atomic(file, rows)
    return folder


if __name__ == "__main__":
    main()
