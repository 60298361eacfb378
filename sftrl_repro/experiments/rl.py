"""The RL arm of the study: PPO from an SFT init checkpoint, every checkpoint evaluated ID and OOD.

:func:`run_rl_experiment` is what ``notebooks/03_rl_gp`` and ``04_rl_virl`` call, at any scale:

1. the init: the SFT run of ``02_sft`` with the same scale, task, variant, seed and steps (reused
   from ``runs/sft/`` when ``02_sft`` already trained it, trained here otherwise);
2. PPO from that checkpoint (``trainers.ppo``; the scale's preset, the run cached in
   ``runs/ppo/<run-id>``, so a rerun resumes or reuses it), its compute continuing the init's
   (D_init counted, as in the paper's formula);
3. the init and every PPO checkpoint evaluated on the splits with the paper's protocol (fewer
   episodes at the tiny scale), one row per (checkpoint, split), cached per checkpoint.

The same function is the command line's (``python -m sftrl_repro.trainers.ppo``) and the
notebooks', so a run made on a cluster is read back by the notebooks unchanged. One run folder,
``runs/ppo/<run-id>/`` (:attr:`RLExperiment.run_id`; ``--run-dir`` elsewhere)::

    config.json                      the experiment and the PPO config (a changed config is refused)
    metrics.jsonl                    one line per update: update, lr (the rate used), rewards,
                                     PPO diagnostics, compute (D_init included), eval_<split>_success
    checkpoints/step_000001/         state/ (weights, critic, optimizer: resume), policy/ (HF folder),
                                     value_head.pt
    eval/<protocol>/update_0000.json the init's evaluation rows (one per split), then one per checkpoint,
                                     per evaluation protocol (``experiments.eval_cache``: a larger
                                     ``eval_n`` plays only the new episodes)
    DONE                             written last

With ``train=False`` (the paper scale in the notebooks) nothing is trained: a missing or
unfinished run raises :class:`MissingRunError` naming the command (and Slurm script) that makes it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sftrl_repro.paths import runs_dir
from sftrl_repro.utils.io import write_json_atomic
from sftrl_repro.utils.params import check_choice, check_int

#: The cluster runs' settings at the paper scale (what ``scripts/slurm/ppo.sbatch`` runs and the
#: notebooks read with ``-p scale paper``): the SFT run's steps, PPO updates, evaluation episodes.
PAPER_RUNS = {"gp": {"sft_steps": 1600, "updates": 20, "eval_n": 234},
              "virl": {"sft_steps": 1600, "updates": 15, "eval_n": 48}}

#: The SFT checkpoints the paper starts RL from (configs/sft_paper.yaml ``init_step``; the paper
#: names none for the VL variants, which use the L steps unless an init is given).
PAPER_INIT_STEPS = {"gp": 400, "virl": 25}

def default_splits(variant: str) -> tuple[str, ...]:
    """The splits of the paper for a variant: ID and rule OOD, plus visual OOD for ``'vl'``."""
    return ("id", "rule_ood", "visual_ood") if variant == "vl" else ("id", "rule_ood")


#: Episodes an evaluation plays together (the generation batch; fewer when fewer are left). 128 rather
#: than 64: GP-L rule OOD at the tiny init, 256 hands, one thread, two runs each beside other work,
#: 1.13x faster (132 vs 149 s; 256 together: 130 s at 2.3x the memory). The sampled stream is keyed per episode,
#: so the batch does not choose the answers; under bfloat16 its shape can move a logit's rounding:
#: 2 of 2,513 answers of 512 ID hands changed outcome between 64 and 128 (success, rule reading and
#: recognition identical).
EVAL_NUM_ENVS = 128

#: Metrics kept from each evaluation row.
EVAL_KEYS = ("success", "success_se", "per_step_accuracy", "per_step_accuracy_se", "first_attempt_success",
             "rule_reading", "recognition", "episodes", "answers")


@dataclass
class RLExperiment:
    """One PPO run from an SFT init, and how its checkpoints are evaluated.

    Attributes:
        task: ``'gp'`` or ``'virl'``; variant: ``'l'`` (text) or ``'vl'`` (vision).
        scale: ``'tiny'``, ``'small'`` or ``'paper'``.
        seed: seed of the SFT run (data, weights) and of PPO (episodes, sampling, critic).
        sft_steps: steps of the SFT run whose final checkpoint is the init (``02_sft``'s ``steps``).
        updates: PPO updates.
        eval_n: episodes per split and checkpoint (the paper: 234 hands / 48 routes).
        splits: evaluation splits (default: ID and rule OOD, plus visual OOD for ``vl``).
        ppo_overrides: fields of :class:`~sftrl_repro.trainers.ppo.PPOConfig` over the scale's preset.
        eval_max_new_tokens: answer cap in evaluation.
        base: ``tiny`` only: the base the SFT init starts from, ``'pretrained'`` (the package's
            pretrained tiny base), ``'isolated'`` (the ``'isolated'`` recipe's) or ``'random'`` (quick
            process checks); ``load_policy(..., base=...)``.
        init: an SFT checkpoint folder to start from instead of this experiment's own SFT run (a
            cluster SFT checkpoint, e.g. ``runs/sft/paper-gp-l-seed0-1600steps/checkpoints/checkpoint-400``).
        eval_greedy: evaluate with greedy decoding instead of the authors' (the checkpoint's
            generation config, sampled per episode).
        eval_dtype: the precision checkpoints are evaluated in (a copy of the policy):
            ``'bfloat16'`` (default; the paper's evaluation ran in bf16 on GPUs, and on a CPU with
            bf16 units the tiny models evaluate 1.7x faster) or ``'float32'`` (the training precision
            at the tiny scale; use it on a CPU without bf16 units, where bf16 is slow).
    """

    task: str = "gp"
    variant: str = "l"
    scale: str = "tiny"
    seed: int = 0
    sft_steps: int = 120
    updates: int = 8
    eval_n: int = 64
    splits: tuple[str, ...] | None = None
    ppo_overrides: dict[str, Any] = field(default_factory=dict)
    eval_max_new_tokens: int = 128
    base: str = "pretrained"
    init: str | None = None
    eval_greedy: bool = False
    eval_dtype: str = "bfloat16"

    def __post_init__(self) -> None:
        check_choice("task", self.task, ("gp", "virl"))
        check_choice("eval_dtype", self.eval_dtype, ("bfloat16", "float32"))
        from sftrl_repro.models.factory import BASES

        check_choice("base", self.base, BASES)
        check_choice("variant", self.variant, ("l", "vl"))
        check_choice("scale", self.scale, ("tiny", "small", "paper"))
        check_int("seed", self.seed, low=0)
        check_int("sft_steps", self.sft_steps, low=1)
        check_int("updates", self.updates, low=1)
        check_int("eval_n", self.eval_n, low=1)
        if self.scale == "small" and self.variant == "vl":
            raise ValueError("scale='small' with variant='vl' is not valid: SmolLM2 reads text only")
        self.splits = tuple(self.splits or default_splits(self.variant))

    @property
    def modality(self) -> str:
        return "vision" if self.variant == "vl" else "language"

    @property
    def run_id(self) -> str:
        """``<scale>-<task>-<variant>-seed<seed>-sft<steps>-<updates>updates`` (``-random`` or
        ``-isolated`` for a tiny run from another base): the folder under ``runs/ppo/``."""
        base = f"-{self.base}" if self.scale == "tiny" and self.base != "pretrained" else ""
        return (f"{self.scale}-{self.task}-{self.variant}-seed{self.seed}-sft{self.sft_steps}"
                f"-{self.updates}updates{base}")

    def init_path(self) -> str | None:
        """The init checkpoint: :attr:`init`, else at the paper scale the cluster SFT run's checkpoint
        at the paper's init step (``runs/sft/paper-...-<sft_steps>steps/checkpoints/checkpoint-<step>``),
        else ``None`` (this experiment's own SFT run, trained if missing, gives its final checkpoint)."""
        if self.init:
            return self.init
        if self.scale == "paper":
            from sftrl_repro.trainers.sft import sft_run_dir

            run = sft_run_dir("paper", self.task, self.variant, seed=self.seed, max_steps=self.sft_steps)
            return str(run / "checkpoints" / f"checkpoint-{PAPER_INIT_STEPS[self.task]}")
        return None

    def command(self) -> str:
        """The command line that makes this run (what :class:`MissingRunError` prints)."""
        parts = [f"--scale {self.scale}", f"--task {self.task}", f"--variant {self.variant}", f"--seed {self.seed}",
                 f"--sft-steps {self.sft_steps}", f"--updates {self.updates}", f"--eval-n {self.eval_n}"]
        if self.scale == "tiny":
            parts.append(f"--base {self.base}")
        if self.init_path():
            parts.append(f"--init {self.init_path()}")
        launch = ("accelerate launch --config_file configs/accelerate_ppo_zero2.yaml -m sftrl_repro.trainers.ppo"
                  if self.scale == "paper" else "python -m sftrl_repro.trainers.ppo")
        return f"{launch} {' '.join(parts)}"

    def ppo_config(self):
        """The PPO config: the scale's preset, this experiment's updates and seed, the overrides."""
        from sftrl_repro.trainers.ppo import PPOConfig
        from sftrl_repro.trainers.sft import image_size_for

        preset = {"paper": PPOConfig.paper, "small": PPOConfig.small, "tiny": PPOConfig.tiny}[self.scale]
        config = preset(self.task, self.modality, updates=self.updates, seed=self.seed, **self.ppo_overrides)
        size = image_size_for(self.scale, self.task)
        if self.modality == "vision" and size is not None:
            config.env_kwargs.setdefault("image_size", size)
        return config


def init_checkpoint(exp: RLExperiment, *, n_demos: int | None = None):
    """The SFT run of ``02_sft`` for this experiment (trained if not cached); returns its result."""
    from sftrl_repro.data import sft_dataset
    from sftrl_repro.models import load_policy
    from sftrl_repro.trainers.sft import DEFAULT_DEMOS, image_size_for, sft_run_config, sft_run_dir, train_sft

    config = sft_run_config(exp.scale, exp.task, exp.variant,
                            sft_run_dir(exp.scale, exp.task, exp.variant, seed=exp.seed, max_steps=exp.sft_steps,
                                        base=exp.base),
                            max_steps=exp.sft_steps, seed=exp.seed, report_to="none")
    data = sft_dataset(exp.task, exp.variant, n_demos or DEFAULT_DEMOS[exp.scale], seed=exp.seed,
                       image_size=image_size_for(exp.scale, exp.task))
    kwargs = {"base": exp.base} if exp.scale == "tiny" else {}
    return train_sft(lambda: load_policy(exp.scale, exp.modality, seed=exp.seed, **kwargs), data, config)


class MissingRunError(FileNotFoundError):
    """A run the caller only wants to read (``train=False``) is missing or unfinished."""


def find_sft_record(checkpoint: str | Path):
    """The :class:`~sftrl_repro.trainers.sft.CheckpointRecord` of an SFT checkpoint folder (its
    trained tokens: D_init), or ``None`` when the folder is not inside an SFT run of this package."""
    from sftrl_repro.trainers.sft import read_sft_result

    folder = Path(checkpoint).resolve()
    run_dir = folder.parent.parent
    if not (run_dir / "metrics.jsonl").is_file():
        return None
    for record in read_sft_result(run_dir).checkpoints:
        if Path(record.path).resolve() == folder:
            return record
    return None


def init_meter(policy, task: str, record):
    """A compute meter holding an SFT checkpoint's tokens (D_init of the paper's formula): trained
    tokens plus 1600 per image, the convention of both arms of the study."""
    from sftrl_repro.flops import ComputeMeter
    from sftrl_repro.flops.formulas import IMAGE_TOKENS

    meter = ComputeMeter.for_model(policy.model, task)
    if record is not None:
        meter.tokens_sft = int(record.trained_tokens + IMAGE_TOKENS * record.trained_images)
    return meter


def evaluate_policy(policy, exp: RLExperiment, accelerator=None, progress: str | None = None, *,
                    done: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The experiment's evaluation protocol on one policy: one row (dict) per split.

    ``progress``: show a bar per split, described by this text and the split's name. ``done``:
    ``{split: row}`` of an evaluation of the same policy with fewer episodes (a smaller ``eval_n``,
    same protocol otherwise): only the episodes after its ``episodes`` are played, and the rows
    merged exactly (:func:`~sftrl_repro.experiments.eval_cache.merge_rows`)."""
    import torch

    from sftrl_repro.evaluation import evaluate, split_episodes
    from sftrl_repro.experiments.eval_cache import merge_rows
    from sftrl_repro.trainers.sft import image_size_for

    if policy is not None and hasattr(policy, "cast"):
        policy = policy.cast(getattr(torch, exp.eval_dtype))
    rows = []
    for split in exp.splits:
        n = split_episodes(exp.task, split, exp.eval_n)  # V-IRL visual OOD: its 18 routes at most
        earlier = (done or {}).get(split)
        first = int(earlier["episodes"]) if earlier else 0
        if first > n:
            raise ValueError(f"the earlier evaluation of {split!r} has {first} episodes, more than the {n} asked for")
        if first == n:
            rows.append(earlier)
            continue
        row = evaluate(policy, exp.task, split, exp.modality, n=n, first=first, num_envs=min(n - first, EVAL_NUM_ENVS),
                       image_size=image_size_for(exp.scale, exp.task), max_new_tokens=exp.eval_max_new_tokens,
                       greedy=exp.eval_greedy, accelerator=accelerator,
                       progress=f"{progress} {split}" + (f" (episodes {first}-{n - 1})" if first else "")
                       if progress else False)
        row = {"split": split, **{k: row[k] for k in EVAL_KEYS if k in row}}
        rows.append(merge_rows(earlier, row) if earlier else row)
    return rows


def run_rl_experiment(exp: RLExperiment, *, root: str | Path | None = None, run_dir: str | Path | None = None,
                      train: bool = True, progress: bool = True) -> pd.DataFrame:
    """Run (or resume, or read back) the experiment; one row per (checkpoint, split).

    Args:
        exp: the experiment.
        root: folder of PPO runs (default ``runs/ppo``); the run is ``root/<exp.run_id>``.
        run_dir: the run folder itself (overrides ``root``).
        train: ``False``: only read a finished run (raise :class:`MissingRunError` otherwise).
        progress: show progress bars.

    Columns: ``method`` (``'init'`` or ``'rl'``), ``update`` (0 for the init), ``gflops`` (the paper's
    convention, init SFT included), ``gflops_exact_rl`` (exact FLOPs of the PPO phases only: the
    SFT trainer records tokens, not per-sample lengths), ``split`` and the metrics of
    :data:`EVAL_KEYS`. Evaluations are cached in the PPO run folder (``eval/update_<k>.json``).
    Under ``accelerate launch`` every process takes part (rollouts, training and evaluation are
    shared); the model is placed on each process's device.
    """
    from sftrl_repro.experiments.eval_cache import cached_evaluation, protocol
    from sftrl_repro.experiments.runs import Run

    path = Path(run_dir) if run_dir is not None else (Path(root) if root is not None else runs_dir() / "ppo") / exp.run_id
    if not train:
        if not (path / "DONE").is_file():
            state = "unfinished" if path.exists() else "missing"
            raise MissingRunError(
                f"the PPO run {path} is {state}; make it with\n  {exp.command()}"
                + (f"\nor on the cluster: sbatch scripts/slurm/ppo.sbatch {exp.task} {exp.variant} {exp.seed}"
                   if exp.scale == "paper" else ""))
        adopt_legacy_layout(path)
        if not (eval_cache_dir(path, exp) / "update_0000.json").is_file():
            raise MissingRunError(f"the PPO run {path} has no evaluations under this protocol "
                                  f"({json.dumps(protocol(exp))}); make them with\n  {exp.command()}")
        return _read_table(path, exp)
    from accelerate import Accelerator

    from sftrl_repro.models import load_policy
    from sftrl_repro.trainers.ppo import PPOTrainer

    accelerator = Accelerator(cpu=not _cuda())
    init_path = exp.init_path()
    if init_path is None:
        init_path = init_checkpoint(exp).final.path
    elif not (Path(init_path) / "config.json").is_file():
        raise MissingRunError(f"the init checkpoint {init_path} is missing; make it with the SFT run "
                              f"(scripts/slurm/sft.sbatch {exp.task} {exp.variant} {exp.seed}) or pass another init")
    record = find_sft_record(init_path)
    config = exp.ppo_config()
    run_config = {"experiment": training_fields(exp), "ppo": config.to_dict(), "init": str(init_path)}
    if accelerator.is_main_process:
        adopt_legacy_layout(path)
    accelerator.wait_for_everyone()
    run = Run(path.name, run_config, root=path.parent)

    def cached_eval(policy, update: int) -> list[dict[str, Any]]:
        rows = cached_evaluation(
            run.path / "eval", f"update_{update:04d}.json", protocol(exp),
            lambda done: evaluate_policy(policy, exp, accelerator, done=done,
                                         progress=f"eval {exp.run_id} update {update}" if progress else None),
            write=accelerator.is_main_process)
        accelerator.wait_for_everyone()
        return rows

    kwargs = {"base": exp.base} if exp.scale == "tiny" else {}
    policy = load_policy(exp.scale, exp.modality, checkpoint=init_path, device=accelerator.device, **kwargs)
    meter = init_meter(policy, exp.task, record)
    init_gflops = meter.flops("paper") / 1e9  # before PPO adds to the meter
    cached_eval(policy, 0)
    if not run.done:
        def evaluate_hook(p, update: int) -> dict[str, float]:
            rows = cached_eval(p, update)
            return {f"eval_{r['split']}_success": r["success"] for r in rows}

        PPOTrainer(policy, config, run, compute_meter=meter, evaluate=evaluate_hook, accelerator=accelerator,
                   progress=progress).train()
    # A finished run evaluated under a new protocol (say more episodes): each checkpoint from its
    # saved policy (the training evaluates a checkpoint before saving it, so nothing else is missing).
    for step in run.checkpoints():
        if not (eval_cache_dir(run.path, exp) / f"update_{step:04d}.json").is_file():
            cached_eval(load_policy(exp.scale, exp.modality, checkpoint=run.checkpoint_dir(step) / "policy",
                                    device=accelerator.device, **kwargs), step)
    if accelerator.is_main_process:
        write_json_atomic(run.path / "init.json", {"path": str(init_path), "gflops": init_gflops,
                                                   "d_init_known": record is not None})
    accelerator.wait_for_everyone()
    return _read_table(run.path, exp)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def training_fields(exp: RLExperiment) -> dict[str, Any]:
    """What a PPO run of ``exp`` is: the experiment without its evaluation protocol (a run folder's
    identity; evaluating it another way reuses the training and caches the evaluations apart,
    ``eval/<protocol hash>/``, :mod:`~sftrl_repro.experiments.eval_cache`)."""
    from sftrl_repro.experiments.eval_cache import PROTOCOL_FIELDS

    return {k: v for k, v in asdict(exp).items() if k not in PROTOCOL_FIELDS}


def eval_cache_dir(run_dir: str | Path, exp: RLExperiment) -> Path:
    """``<run_dir>/eval/<protocol hash>``: the evaluations of a PPO run under ``exp``'s protocol
    (``update_0000.json`` the init's, then one per checkpoint)."""
    from sftrl_repro.experiments.eval_cache import protocol, protocol_dir

    return protocol_dir(Path(run_dir) / "eval", protocol(exp))


def adopt_legacy_layout(run_dir: str | Path) -> bool:
    """Bring a PPO run folder of an earlier release to today's layout; ``True`` if it did.

    Earlier releases kept the evaluation protocol in the run's ``config.json`` (so a new protocol
    refused the finished training) and the evaluations in ``eval/update_<k>.json``. Such a folder
    gets its evaluations moved to ``eval/<hash of the stored protocol>/`` (the protocol that made
    them) and the protocol removed from its config: the same training, read by today's code, which
    still refuses it if the training differs (:class:`~sftrl_repro.experiments.runs.Run`)."""
    from sftrl_repro.experiments.eval_cache import PROTOCOL_FIELDS, protocol_dir
    from sftrl_repro.experiments.runs import CONFIG_FILE

    file = Path(run_dir) / CONFIG_FILE
    if not file.is_file():
        return False
    stored = json.loads(file.read_text())
    experiment = stored.get("experiment")
    if not isinstance(experiment, dict) or not all(k in experiment for k in PROTOCOL_FIELDS):
        return False
    target = protocol_dir(Path(run_dir) / "eval", {k: experiment[k] for k in PROTOCOL_FIELDS})
    target.mkdir(parents=True, exist_ok=True)
    for old in sorted((Path(run_dir) / "eval").glob("update_*.json")):
        old.replace(target / old.name)
    trimmed = {**stored, "experiment": {k: v for k, v in experiment.items() if k not in PROTOCOL_FIELDS}}
    write_json_atomic(file, trimmed)
    return True


def _read_table(path: Path, exp: RLExperiment) -> pd.DataFrame:
    """The (checkpoint, split) table of a run folder under ``exp``'s evaluation protocol: the
    init's rows, then each evaluated checkpoint's."""
    from sftrl_repro.experiments.runs import METRICS_FILE

    eval_dir = eval_cache_dir(path, exp)
    init = json.loads((path / "init.json").read_text()) if (path / "init.json").is_file() else {}
    table = []
    if (eval_dir / "update_0000.json").is_file():
        table += [{"method": "init", "update": 0, "gflops": init.get("gflops", float("nan")), "gflops_exact_rl": 0.0, **r}
                  for r in json.loads((eval_dir / "update_0000.json").read_text())]
    lines = (path / METRICS_FILE).read_text().splitlines() if (path / METRICS_FILE).is_file() else []
    for m in (json.loads(line) for line in lines if line.strip()):
        file = eval_dir / f"update_{m['step']:04d}.json"
        if not file.is_file():
            continue
        for r in json.loads(file.read_text()):
            table.append({"method": "rl", "update": m["step"], "gflops": m["gflops"],
                          "gflops_exact_rl": m["compute"]["flops_exact"] / 1e9, **r})
    columns = ["method", "update", "gflops", "gflops_exact_rl", "split", *EVAL_KEYS]
    frame = pd.DataFrame(table)
    return frame[[c for c in columns if c in frame]]


def training_curves(exp: RLExperiment | None = None, *, root: str | Path | None = None,
                    run_dir: str | Path | None = None) -> pd.DataFrame:
    """The PPO metrics log of a run (reward, success, PPO diagnostics per update): the experiment's
    run under ``root`` (default ``runs/ppo``), or the run folder ``run_dir``."""
    if run_dir is None and exp is None:
        raise ValueError("training_curves needs an experiment or a run_dir")
    base = Path(run_dir) if run_dir is not None else (Path(root) if root is not None else runs_dir() / "ppo") / exp.run_id
    folder = base / "metrics.jsonl"
    rows = [json.loads(line) for line in folder.read_text().splitlines() if line.strip()] if folder.is_file() else []
    keep = ("step", "lr", "reward_mean", "success_rate", "approx_kl", "clip_frac", "explained_variance", "value_loss",
            "policy_loss", "entropy", "grad_norm", "gflops", "turns_per_episode")
    return pd.DataFrame([{k: r.get(k) for k in keep} for r in rows])
