"""The study of the paper (Sec. 5, Fig 5-7): SFT and RL scaled from one SFT init, every checkpoint
evaluated in-distribution and out-of-distribution, on one compute axis.

For one task x variant x seed, :func:`run_study` does what the paper does, at any scale:

1. **SFT run** from the base on in-distribution demonstrations (``trainers.sft``), with a checkpoint
   at ``init_steps`` and ``sft_checkpoints`` more, evenly spaced up to ``sft_steps``. The checkpoint
   at ``init_steps`` is **the init** (the paper's GP-L init is step 400 of a 1600-step run); the later
   ones are **the SFT arm**: SFT continued from the init, on the same data, in the same run.
2. **RL arm**: multi-turn PPO with sequential revision from the init (``trainers.ppo``; ID rule,
   black suits, training city), a checkpoint every ``rl_checkpoint_every`` updates.
3. **Evaluation** of the init and of every checkpoint of both arms on ID, rule OOD and (VL) visual
   OOD, ``eval_n`` episodes per split (cached per checkpoint, so a rerun only evaluates what is new).
4. **One compute axis** (paper App. C.3): ``X_SFT = 6 N (D_init + D_SFT)``,
   ``X_RL = 6 N (D_init + D_RL) + 2 N lambda D_RL``, with ``D`` counted the same way in both arms
   (prompt + answer tokens of every trained sample, 1600 tokens per image): the init sits at the
   same x in both arms.

Every stage is a run folder under ``runs/study/<run-id>/`` (``sft/``, ``ppo/``, ``eval/``) that
resumes after a kill and refuses a changed config. :func:`run_study_seeds` runs several seeds and
:func:`write_study_results` writes ``results/study_<task>_<variant>.csv`` (see :data:`COLUMNS`).
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from sftrl_repro.experiments.rl import default_splits
from sftrl_repro.experiments.runs import config_hash
from sftrl_repro.paths import results_dir, runs_dir
from sftrl_repro.utils.io import write_csv_atomic, write_json_atomic
from sftrl_repro.utils.params import check_choice, check_int

TASKS, VARIANTS, SCALES = ("gp", "virl"), ("l", "vl"), ("tiny", "small", "paper")
METHODS = ("init", "sft", "rl")

#: Columns of ``results/study_<task>_<variant>.csv``, one row per (method, seed, step, split).
#: ``step`` is the SFT step for ``init`` and ``sft`` rows and the PPO update for ``rl`` rows;
#: ``gflops`` is the training compute on the paper's axis (init included in both arms);
#: ``success`` is GP episode success within the verification budget / V-IRL route success;
#: ``per_step_accuracy`` (V-IRL), ``rule_reading`` (GP: the ``"number"`` field right under the
#: stated rule) and ``recognition`` (GP: the ``"cards"`` field is the hand, read from the image for
#: GP-VL, copied from the prompt for GP-L) are ``NaN`` elsewhere.
COLUMNS = ("task", "variant", "scale", "method", "seed", "step", "gflops", "split", "success", "success_se",
           "n_episodes", "per_step_accuracy", "per_step_accuracy_se", "rule_reading", "recognition",
           "first_attempt_success")

#: Episodes per split and checkpoint below the paper scale (the paper's 234 hands / 48 routes are too
#: few to see OOD differences of a few points: SE 2-3 points at 10-20%). GP: 1000 hands (SE <= 1.6
#: points, 0.9 at 10%, 0.7 at 5%); V-IRL: 200 routes (V-IRL-VL's visual OOD split: its 18 routes).
#: A tiny GP evaluation costs ~0.2 s per hand and core (5 sampled attempts with a growing
#: conversation); a cached evaluation with fewer hands is extended, not redone (``eval_cache``).
POWERED_EVAL_N = {"gp": 1000, "virl": 200}


#: Every stage of a study run that did work (at least ``MIN_TIMED_SECONDS``: a stage read back from
#: its cache is not logged) appends a line to ``<study_dir>/timings.jsonl`` (:func:`log_timing`), so
#: the time of a study resumed over several sessions is still the sum of what ran
#: (``python -m sftrl_repro.experiments.study --times``).
TIMINGS_FILE = "timings.jsonl"
MIN_TIMED_SECONDS = 2.0


def log_timing(folder: str | Path, stage: str, seconds: float) -> None:
    """Append ``{"stage", "seconds", "end", "threads", "load"}`` to ``folder/timings.jsonl`` when the
    stage took at least :data:`MIN_TIMED_SECONDS`. ``threads``: torch's intra-op threads;
    ``load``: the machine's 1-minute load average at the end (other processes sharing the cores)."""
    import torch

    if seconds < MIN_TIMED_SECONDS:
        return
    line = {"stage": stage, "seconds": round(seconds, 1), "end": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "threads": torch.get_num_threads(), "load": round(os.getloadavg()[0], 2)}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / TIMINGS_FILE, "a") as f:
        f.write(json.dumps(line) + "\n")


@contextmanager
def timed_stage(folder: str | Path, stage: str):
    """Time the ``with`` block and :func:`log_timing` it under ``stage`` (when it completes)."""
    started = time.perf_counter()
    yield
    log_timing(folder, stage, time.perf_counter() - started)


def study_timings(root: str | Path | None = None) -> pd.DataFrame:
    """Every logged stage of the study runs under ``root`` (default ``runs/study``): columns ``run``,
    ``stage``, ``minutes``, ``end``, ``threads``, ``load``; empty when nothing was logged."""
    root = Path(root) if root is not None else runs_dir() / "study"
    rows = []
    for path in sorted(root.glob(f"*/{TIMINGS_FILE}")):
        for line in path.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                rows.append({"run": path.parent.name, "stage": entry["stage"], "minutes": entry["seconds"] / 60,
                             "end": entry["end"], "threads": entry["threads"], "load": entry["load"]})
    return pd.DataFrame(rows, columns=["run", "stage", "minutes", "end", "threads", "load"])


#: ``(scale, task) -> (init_steps, sft_steps)``: where the init sits in the SFT run, chosen on
#: in-distribution numbers only (the paper's: GP-L step 400, V-IRL-L step 25, of 1600-step runs).
#: Tiny GP: at step 60 the init read the stated rule on 11% of ID answers and solved none; at 120
#: (02_sft) it reads the rule on 90% and solves 6%, so the init is step 120 of 360. Tiny V-IRL: step
#: 120 of 360, the first checkpoint on the ID plateau for two seeds (per-step accuracy at steps 60 /
#: 90 / 120 / 150 of a 360-step run, 200 routes: seed 0 1.7 / 31.6 / 29.6 / 31.3%, seed 1 19.3 /
#: 27.7 / 31.3 / 29.7%; the random policy's 11-16%; V-IRL-VL seed 0 at 60 / 90 / 120: 20.5 / 17.4 /
#: 30.3%). Step 60 of 300, the first choice (34% on an
#: earlier build of the same base), sits on a cliff: a base built from the same config on other
#: floating-point round-off answered "forward()" at every first step there (1.5%, below random).
SFT_SCHEDULE: dict[tuple[str, str], tuple[int, int]] = {
    ("tiny", "gp"): (120, 360), ("tiny", "virl"): (120, 360),
    ("small", "gp"): (120, 360), ("small", "virl"): (60, 300),
    ("paper", "gp"): (400, 1600), ("paper", "virl"): (25, 1600),
}


@dataclass
class StudyConfig:
    """One task x variant of the study, at one scale, for one seed.

    Attributes:
        task: ``'gp'`` (GeneralPoints) or ``'virl'`` (V-IRL).
        variant: ``'l'`` (text) or ``'vl'`` (vision).
        scale: ``'tiny'``, ``'small'`` or ``'paper'``.
        seed: seed of the demonstrations, the SFT data order, PPO's episodes and sampling.
        base: ``tiny`` only: ``'pretrained'`` (the package's base model), ``'isolated'`` (the base of
            the ``'isolated'`` text recipe) or ``'random'`` (:data:`~sftrl_repro.models.BASES`).
        init_steps: SFT steps of the init checkpoint (default: :data:`SFT_SCHEDULE`).
        sft_steps: steps of the whole SFT run; the SFT arm is its checkpoints after ``init_steps``
            (default: :data:`SFT_SCHEDULE`).
        sft_checkpoints: checkpoints of the SFT arm, evenly spaced in ``(init_steps, sft_steps]``.
        n_demos: demonstrations generated for SFT (default: the scale's).
        rl_updates: PPO updates of the RL arm (default: the paper's 20 GP / 15 V-IRL at the paper
            scale; below it 4, so that its compute range matches the SFT
            arm's: a tiny PPO update of 128 transitions costs as much compute as ~80 SFT steps on
            GP-L and ~95 on V-IRL-L, measured on the paper's axis).
        rl_checkpoint_every: evaluate (and keep) a PPO checkpoint every this many updates (2: the
            equal-compute comparison needs an RL checkpoint at or below the SFT arm's last compute).
        eval_n: episodes per split and checkpoint (default :data:`POWERED_EVAL_N` below the paper
            scale, the paper's protocol at the paper scale); V-IRL's visual OOD split plays its 18
            VLN-mini routes at most (:func:`~sftrl_repro.evaluation.splits.split_episodes`).
        splits: evaluation splits (default ID and rule OOD, plus visual OOD for ``vl``).
        eval_kwargs: evaluation options: ``max_new_tokens``, ``greedy`` (bool), ``dtype``
            (``'bfloat16'``, the default, or ``'float32'``; see ``RLExperiment.eval_dtype``).
        sft_overrides: fields of :class:`~sftrl_repro.trainers.sft.SFTRunConfig` over the preset.
        ppo_overrides: fields of :class:`~sftrl_repro.trainers.ppo.PPOConfig` over the preset.
    """

    task: str = "gp"
    variant: str = "l"
    scale: str = "tiny"
    seed: int = 0
    base: str = "pretrained"
    init_steps: int | None = None
    sft_steps: int | None = None
    sft_checkpoints: int = 2
    n_demos: int | None = None
    rl_updates: int | None = None
    rl_checkpoint_every: int = 2
    eval_n: int | None = None
    splits: tuple[str, ...] | None = None
    eval_kwargs: dict[str, Any] = field(default_factory=dict)
    sft_overrides: dict[str, Any] = field(default_factory=dict)
    ppo_overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("task", self.task, TASKS)
        check_choice("variant", self.variant, VARIANTS)
        check_choice("scale", self.scale, SCALES)
        from sftrl_repro.models.factory import BASES

        check_choice("base", self.base, BASES)
        check_int("seed", self.seed, low=0)
        preset_init, preset_total = SFT_SCHEDULE[self.scale, self.task]
        if self.init_steps is None:
            self.init_steps = preset_init
        if self.sft_steps is None:
            self.sft_steps = max(preset_total, self.init_steps + 1)
        check_int("init_steps", self.init_steps, low=1)
        check_int("sft_steps", self.sft_steps, low=self.init_steps + 1)
        check_int("sft_checkpoints", self.sft_checkpoints, low=1, high=self.sft_steps - self.init_steps)
        if self.rl_updates is None:
            from sftrl_repro.experiments.rl import PAPER_RUNS

            self.rl_updates = PAPER_RUNS[self.task]["updates"] if self.scale == "paper" else 4
        check_int("rl_updates", self.rl_updates, low=1)
        check_int("rl_checkpoint_every", self.rl_checkpoint_every, low=1, high=self.rl_updates)
        if self.scale == "small" and self.variant == "vl":
            raise ValueError("scale='small' with variant='vl' is not valid: SmolLM2 reads text only")
        if self.eval_n is None and self.scale != "paper":
            self.eval_n = POWERED_EVAL_N[self.task]
        if self.eval_n is not None:
            check_int("eval_n", self.eval_n, low=1)
        self.splits = tuple(self.splits or default_splits(self.variant))

    @property
    def modality(self) -> str:
        return "vision" if self.variant == "vl" else "language"

    @property
    def run_id(self) -> str:
        """``<scale>-<task>-<variant>-<base>-seed<seed>``; a tiny pretrained base adds its config
        hash, so runs from another base never mix with these."""
        base = self.base
        if self.scale == "tiny" and self.base != "random":
            from sftrl_repro.trainers.pretrain import base_recipe, default_config

            base += "-" + default_config(self.modality, recipe=base_recipe(self.base)).run_id().rsplit("-", 1)[-1]
        return f"{self.scale}-{self.task}-{self.variant}-{base}-seed{self.seed}"

    @property
    def sft_save_steps(self) -> tuple[int, ...]:
        """The init step, then ``sft_checkpoints`` evenly spaced steps up to ``sft_steps``."""
        span = self.sft_steps - self.init_steps
        later = {self.init_steps + round(span * (k + 1) / self.sft_checkpoints) for k in range(self.sft_checkpoints)}
        return tuple(sorted({self.init_steps} | later))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------- stages
def study_dir(config: StudyConfig, root: str | Path | None = None) -> Path:
    """``<root>/<run-id>`` (default root ``runs/study``): the folder holding one seed's SFT, PPO and
    evaluation runs."""
    return (Path(root) if root is not None else runs_dir() / "study") / config.run_id


def sft_dir(config: StudyConfig, root: str | Path | None = None) -> Path:
    """The study's SFT run: ``<study_dir>/sft``; at the paper scale (trained on a cluster by
    ``scripts/slurm/sft.sbatch``, never here) the launcher's ``runs/sft/paper-<task>-<variant>-seed<s>-<steps>steps``."""
    if config.scale == "paper" and root is None:
        from sftrl_repro.trainers.sft import sft_run_dir

        return sft_run_dir("paper", config.task, config.variant, seed=config.seed, max_steps=config.sft_steps)
    return study_dir(config, root) / "sft"


def ppo_dir(config: StudyConfig, root: str | Path | None = None) -> Path:
    """The study's PPO run: ``<study_dir>/ppo``; at the paper scale ``scripts/slurm/ppo.sbatch``'s
    ``runs/ppo/paper-<task>-<variant>-seed<s>-sft<steps>-<updates>updates``."""
    if config.scale == "paper" and root is None:
        return runs_dir() / "ppo" / rl_experiment(config).run_id
    return study_dir(config, root) / "ppo"


def cluster_commands(config: StudyConfig) -> str:
    """The Slurm lines that make a paper-scale seed (SFT, then PPO from its init)."""
    t, v, s = config.task, config.variant, config.seed
    return (f"  sbatch scripts/slurm/sft.sbatch {t} {v} {s} {config.sft_steps}\n"
            f"  sbatch scripts/slurm/ppo.sbatch {t} {v} {s}   # after the SFT job (UPDATES={config.rl_updates})")


def rl_experiment(config: StudyConfig, init_path: str | None = None):
    """The RL arm as an :class:`~sftrl_repro.experiments.rl.RLExperiment` (its evaluation protocol is
    also the SFT arm's, so both arms are measured the same way)."""
    from sftrl_repro.experiments.rl import RLExperiment
    from sftrl_repro.trainers.sft import QUICK_EVAL_MAX_NEW_TOKENS

    eval_n = config.eval_n
    if eval_n is None:  # the paper's protocol
        from sftrl_repro.evaluation.splits import PROTOCOL

        eval_n = PROTOCOL[config.task]["n"]
    max_new = 256 if config.scale == "paper" else QUICK_EVAL_MAX_NEW_TOKENS[config.task]
    return RLExperiment(task=config.task, variant=config.variant, scale=config.scale, seed=config.seed,
                        sft_steps=config.sft_steps, updates=config.rl_updates, eval_n=eval_n, splits=config.splits,
                        ppo_overrides={"checkpoint_every": config.rl_checkpoint_every, **config.ppo_overrides},
                        eval_max_new_tokens=config.eval_kwargs.get("max_new_tokens", max_new),
                        eval_greedy=bool(config.eval_kwargs.get("greedy", False)), base=config.base,
                        init=init_path, eval_dtype=config.eval_kwargs.get("dtype", "bfloat16"))


def run_sft_arm(config: StudyConfig, *, root: str | Path | None = None):
    """The SFT run whose checkpoint at ``init_steps`` is the init and whose later ones are the SFT arm."""
    return sft_run(config, sft_dir(config, root))


def sft_run(config: StudyConfig, output_dir: str | Path, *, make_data=None):
    """An SFT run from the base with the study's schedule (``config``'s steps, checkpoints, seed and
    ``sft_overrides``) into ``output_dir``; trained, resumed or read back by
    :func:`~sftrl_repro.trainers.sft.train_sft`, whose result (``.checkpoints``) it returns.

    ``make_data``: a function returning the demonstrations (default: the study's optimal ones,
    :func:`sft_demos` of them); the sweeps pass others (the sub-optimal trajectories of the paper's
    Fig 15). They are only made when the run has training left."""
    from sftrl_repro.data import sft_dataset
    from sftrl_repro.models import load_policy
    from sftrl_repro.trainers.sft import DONE_FILE, image_size_for, sft_run_config, train_sft

    sft = sft_run_config(config.scale, config.task, config.variant, output_dir,
                         max_steps=config.sft_steps, save_steps=config.sft_save_steps, seed=config.seed,
                         **{"report_to": "none", **config.sft_overrides})
    if make_data is None:
        def make_data():
            return sft_dataset(config.task, config.variant, sft_demos(config), seed=config.seed,
                               image_size=image_size_for(config.scale, config.task))

    # A finished run is read back without its data (train_sft checks its config and returns first).
    data = None if (Path(output_dir) / DONE_FILE).is_file() else make_data()
    kwargs = {"base": config.base} if config.scale == "tiny" else {}
    return train_sft(lambda: load_policy(config.scale, config.modality, seed=config.seed, **kwargs), data, sft)


def sft_demos(config: StudyConfig) -> int:
    """The demonstrations an SFT run of ``config`` generates: ``n_demos``, else the scale's default."""
    from sftrl_repro.trainers.sft import DEFAULT_DEMOS

    return config.n_demos or DEFAULT_DEMOS[config.scale]


def sft_gflops(policy, task: str, record) -> float:
    """Training GFLOPs of an SFT checkpoint on the paper's axis: ``6 N D`` with ``D`` its trained
    tokens plus 1600 per image, exactly as the RL arm counts its init (D_init)."""
    from sftrl_repro.experiments.rl import init_meter

    return init_meter(policy, task, record).flops("paper") / 1e9


def evaluate_checkpoint(policy, config: StudyConfig, cache: Path, label: str = "", progress: bool = True
                        ) -> list[dict[str, Any]]:
    """Every split of ``config`` for one policy, with the RL arm's protocol; cached as JSON at ``cache``.

    ``cache`` is ``<folder>/<protocol hash>/<name>.json`` (:func:`eval_dir`'s layout): when it is
    missing but ``<folder>`` holds the same checkpoint evaluated with fewer episodes under the same
    protocol, only the new episodes are played and the rows merged
    (:func:`~sftrl_repro.experiments.eval_cache.cached_evaluation`). ``policy`` may be ``None``
    when the cache exists. ``label`` names the checkpoint in the progress bar (e.g. ``'sft step 120'``)."""
    from sftrl_repro.experiments.eval_cache import cached_evaluation
    from sftrl_repro.experiments.rl import evaluate_policy

    cache, proto = Path(cache), eval_protocol(config)
    text = f"eval {config.run_id} {label}".rstrip() if progress else None
    if cache.parent.name != config_hash(proto):  # a cache file outside the protocol layout: no top-up
        if not cache.is_file():
            write_json_atomic(cache, evaluate_policy(policy, rl_experiment(config), progress=text))
        return json.loads(cache.read_text())
    return cached_evaluation(cache.parent.parent, cache.name, proto,
                             lambda done: evaluate_policy(policy, rl_experiment(config), done=done, progress=text))


def eval_protocol(config: StudyConfig) -> dict[str, Any]:
    """The evaluation protocol of ``config`` (episodes, splits, answer cap, decoding, precision):
    what a cached evaluation depends on (:data:`~sftrl_repro.experiments.eval_cache.PROTOCOL_FIELDS`)."""
    from sftrl_repro.experiments.eval_cache import protocol

    return protocol(rl_experiment(config))


def eval_dir(config: StudyConfig, root: str | Path | None = None) -> Path:
    """``<study_dir>/eval/<protocol hash>``: the cached evaluations of the study's SFT checkpoints
    (``sft_step_<step>.json``); the protocol names the folder, so a changed protocol never reads
    stale numbers."""
    return protocol_eval_dir(study_dir(config, root), config)


def protocol_eval_dir(folder: str | Path, config: StudyConfig) -> Path:
    """``<folder>/eval/<protocol hash>``: where evaluations of ``config``'s protocol are cached
    (:func:`~sftrl_repro.experiments.eval_cache.protocol_dir`)."""
    from sftrl_repro.experiments.eval_cache import protocol_dir

    return protocol_dir(Path(folder) / "eval", eval_protocol(config))


def sft_arm_rows(config: StudyConfig, checkpoints, cache_dir: Path, *, init_step: int | None = None,
                 progress: bool | str = True) -> list[dict[str, Any]]:
    """Evaluate SFT checkpoints (records with ``.step`` and ``.path``) with the study's protocol,
    each cached as ``cache_dir/sft_step_<step>.json``; returns :data:`COLUMNS` rows (dicts), one per
    (checkpoint, split), ``gflops`` on the paper's axis (:func:`sft_gflops`).

    The checkpoint at ``init_step`` gets ``method='init'``, every other ``'sft'``. ``progress``:
    ``False`` for no bars; a text is put before each checkpoint's label in its bar (e.g. a sweep's point)."""
    from sftrl_repro.models.policy import Policy

    rows: list[dict[str, Any]] = []
    for record in checkpoints:
        policy = Policy.load(record.path)
        gflops = sft_gflops(policy, config.task, record)
        method = "init" if record.step == init_step else "sft"
        label = f"{progress + ' ' if isinstance(progress, str) else ''}{method} step {record.step}"
        # cache_dir is <run folder>/eval/<protocol hash>: the run folder keeps the log
        with timed_stage(cache_dir.parent.parent, f"evaluation of SFT step {record.step}"):
            metrics_rows = evaluate_checkpoint(policy, config, cache_dir / f"sft_step_{record.step:06d}.json", label,
                                               bool(progress))
        rows += [_row(config, method, record.step, gflops, metrics) for metrics in metrics_rows]
    return rows


def _row(config: StudyConfig, method: str, step: int, gflops: float, metrics: dict[str, Any]) -> dict[str, Any]:
    row = {"task": config.task, "variant": config.variant, "scale": config.scale, "method": method,
           "seed": config.seed, "step": int(step), "gflops": float(gflops), "split": metrics["split"],
           "n_episodes": metrics.get("episodes")}
    for key in COLUMNS:
        if key not in row:
            row[key] = metrics.get(key)
    return row


def study_command(config: StudyConfig) -> str:
    """The command line that runs ``config`` (the same run folders as :func:`run_study`)."""
    default = StudyConfig(task=config.task, variant=config.variant, scale=config.scale, seed=config.seed).to_dict()
    sets = " ".join(f"--set {k}={json.dumps(v, separators=(',', ':'))}" for k, v in config.to_dict().items()
                    if k not in ("task", "variant", "scale", "seed") and v != default[k])
    return (f"python -m sftrl_repro.experiments.study --task {config.task} --variant {config.variant} "
            f"--scale {config.scale} --seeds {config.seed} {sets}").rstrip()


def run_study(config: StudyConfig, *, root: str | Path | None = None, progress: bool = True,
              train: bool = True) -> pd.DataFrame:
    """Run (or resume, or read back) one seed of the study; one row per (method, step, split).

    ``train=False`` only reads finished runs (the paper scale, trained on a cluster): a missing or
    unfinished one raises :class:`~sftrl_repro.experiments.rl.MissingRunError` with its command.

    Returns a frame with :data:`COLUMNS`. The init appears once (``method='init'``, ``step`` = its
    SFT step); the SFT arm's steps continue the SFT run's; the RL arm's are PPO updates (1, 2, ...);
    ``gflops`` includes the init's compute in both arms.
    """
    from sftrl_repro.experiments.rl import MissingRunError, eval_cache_dir, run_rl_experiment

    cache = eval_dir(config, root)
    if not train and not (sft_dir(config, root) / "DONE").is_file():
        how = (cluster_commands(config) if config.scale == "paper" and root is None
               else f"  {study_command(config)}")
        raise MissingRunError(f"the study's SFT run {sft_dir(config, root)} is missing or unfinished; make it with\n{how}")
    with timed_stage(study_dir(config, root), "sft"):
        sft = run_sft_arm(config, root=root)
    init = {record.step: record for record in sft.checkpoints}[config.init_steps]

    # the init and the SFT arm: the SFT run's checkpoints from init_steps on
    rows = sft_arm_rows(config, [r for r in sft.checkpoints if r.step >= config.init_steps], cache,
                        init_step=config.init_steps, progress=progress)

    # the RL arm from the same init; its update-0 evaluation is the init's, measured above
    rl_dir = ppo_dir(config, root)
    init_eval = eval_cache_dir(rl_dir, rl_experiment(config)) / "update_0000.json"
    if train and not init_eval.is_file():
        write_json_atomic(init_eval, evaluate_checkpoint(None, config, cache / f"sft_step_{init.step:06d}.json",
                                                         progress=False))
    try:
        with timed_stage(study_dir(config, root), "rl (PPO and its evaluations)"):
            table = run_rl_experiment(rl_experiment(config, init.path), run_dir=rl_dir, progress=progress, train=train)
    except MissingRunError as err:
        if config.scale == "paper" and root is None:
            raise
        raise MissingRunError(f"{err}\n(the study's own command: {study_command(config)})") from None
    for _, r in table[table["method"] == "rl"].iterrows():
        rows.append(_row(config, "rl", int(r["update"]), float(r["gflops"]), r.to_dict()))
    frame = pd.DataFrame(rows)
    return frame[list(COLUMNS)]


def study_checkpoints(config: StudyConfig, root: str | Path | None = None) -> dict[str, Path]:
    """The policy folders of one finished seed: ``init``, the SFT arm's last checkpoint (``sft``) and
    the RL arm's last (``rl``); each loads with :meth:`~sftrl_repro.models.Policy.load`."""
    from sftrl_repro.experiments.rl import MissingRunError
    from sftrl_repro.trainers.sft import read_sft_result

    sft, rl = sft_dir(config, root), ppo_dir(config, root)
    if not (sft / "DONE").is_file() or not (rl / "DONE").is_file():
        raise MissingRunError(f"the study run {study_dir(config, root)} is unfinished; make it with\n  {study_command(config)}")
    records = {r.step: Path(r.path) for r in read_sft_result(sft).checkpoints}
    rl_steps = sorted(int(p.name[5:]) for p in (rl / "checkpoints").glob("step_*") if p.name[5:].isdigit())
    return {"init": records[config.init_steps], "sft": records[max(records)],
            "rl": rl / "checkpoints" / f"step_{rl_steps[-1]:06d}" / "policy"}


def study_examples(config: StudyConfig, root: str | Path | None = None, n: int = 32) -> pd.DataFrame:
    """Real answers of one finished seed's init, last SFT and last RL checkpoints on the first ``n``
    episodes of each split of the evaluation protocol (the paper's Fig 20 / 21 material); rows as
    :func:`sftrl_repro.evaluation.collect_examples` (method ``init`` / ``sft`` / ``rl``)."""
    import torch

    from sftrl_repro.evaluation import collect_examples
    from sftrl_repro.models.policy import Policy
    from sftrl_repro.trainers.sft import QUICK_EVAL_MAX_NEW_TOKENS, image_size_for

    exp = rl_experiment(config)  # the evaluation protocol's precision and decoding
    policies = {m: Policy.load(p).cast(getattr(torch, exp.eval_dtype))
                for m, p in study_checkpoints(config, root).items()}
    max_new = 256 if config.scale == "paper" else QUICK_EVAL_MAX_NEW_TOKENS[config.task]
    return collect_examples(policies, config.task, config.modality, splits=config.splits, n=n, seed=None,
                            image_size=image_size_for(config.scale, config.task),
                            max_new_tokens=config.eval_kwargs.get("max_new_tokens", max_new),
                            greedy=exp.eval_greedy)


def run_study_seeds(config: StudyConfig, seeds: list[int], **kwargs: Any) -> pd.DataFrame:
    """:func:`run_study` for each seed (``config.seed`` replaced), concatenated."""
    from dataclasses import replace

    return pd.concat([run_study(replace(config, seed=s), **kwargs) for s in seeds], ignore_index=True)


def study_results_path(task: str, variant: str, scale: str = "tiny") -> Path:
    """``results/study_<task>_<variant>.csv`` (``_<scale>`` appended beyond ``tiny``, so a cluster
    run never overwrites the tiny table; :func:`sftrl_repro.plots.study.read_study` reads either)."""
    name = f"study_{check_choice('task', task, TASKS)}_{check_choice('variant', variant, VARIANTS)}"
    return results_dir() / (f"{name}.csv" if check_choice("scale", scale, SCALES) == "tiny" else f"{name}_{scale}.csv")


def write_study_results(frame: pd.DataFrame) -> Path:
    """Write a study frame (one task, variant and scale) to :func:`study_results_path`, atomically."""
    (task,), (variant,), (scale,) = frame["task"].unique(), frame["variant"].unique(), frame["scale"].unique()
    path = study_results_path(task, variant, scale)
    write_csv_atomic(path, frame.sort_values(["method", "seed", "step", "split"]))
    return path


# ----------------------------------------------------------------------------------- command line
def timings_report(timings: pd.DataFrame) -> str:
    """:func:`study_timings` in words: each run's stages (minutes, load) and total, then the sum
    over runs in core-minutes (one thread per run) and core-hours."""
    if timings.empty:
        return "no study stage has been timed yet (runs/study/*/timings.jsonl)"
    lines = []
    for run, group in timings.groupby("run", sort=True):
        stages = "; ".join(f"{r.stage} {r.minutes:.1f} min (load {r.load:.1f})" for r in group.itertuples())
        lines.append(f"{run}: {group['minutes'].sum():.1f} min: {stages}")
    core = (timings["minutes"] * timings["threads"]).sum()
    lines.append(f"total: {core:.0f} core-minutes ({core / 60:.1f} core-hours) over {timings['run'].nunique()} run(s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``python -m sftrl_repro.experiments.study --task gp --variant l --seeds 0 1 2 [--set key=value ...]``.

    Runs (or resumes) the seeds one after the other and writes ``results/study_<task>_<variant>.csv``
    with those seeds. Seeds can run in separate processes (``--no-write``, one torch thread each);
    a last call with every seed then reads their cached runs back and writes the table.
    """
    import argparse

    from sftrl_repro.utils.params import parse_overrides

    parser = argparse.ArgumentParser(prog="python -m sftrl_repro.experiments.study", description=main.__doc__)
    parser.add_argument("--task", choices=TASKS, help="required unless --times")
    parser.add_argument("--variant", choices=VARIANTS, default="l")
    parser.add_argument("--scale", choices=SCALES, default="tiny")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a StudyConfig field, e.g. --set eval_n=500 (repeatable)")
    parser.add_argument("--no-write", action="store_true", help="do not write results/study_*.csv")
    parser.add_argument("--times", action="store_true",
                        help="print the logged stage times of every study run under runs/study and exit")
    args = parser.parse_args(argv)
    if args.times:
        print(timings_report(study_timings()))
        return
    if args.task is None:
        parser.error(f"--task is required: one of {', '.join(TASKS)}")
    try:
        overrides = parse_overrides(args.overrides, StudyConfig)
    except ValueError as err:
        parser.error(f"--set {err}")
    config = StudyConfig(task=args.task, variant=args.variant, scale=args.scale, **overrides)
    # The paper scale is trained on a cluster (scripts/slurm/); here its runs are only read (and the
    # SFT arm's checkpoints evaluated, on the GPU node this runs on).
    frame = run_study_seeds(config, args.seeds, train=args.scale != "paper")
    if not args.no_write:
        print(write_study_results(frame))


if __name__ == "__main__":
    main()
