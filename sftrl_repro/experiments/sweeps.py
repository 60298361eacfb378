"""The paper's sweeps and ablations (Fig 9, 10, 15, 16, 17, 19): run them and write their tables.

Each sweep (:data:`SWEEP_SPECS`, keyed like :data:`sftrl_repro.plots.sweeps.SWEEPS`) is a set of runs
of one arm of the study (:mod:`sftrl_repro.experiments.study`), one per parameter value and seed,
made with the study's own machinery: the study's SFT run gives the init (or the over-fitted last
checkpoint), PPO runs through :func:`~sftrl_repro.experiments.rl.run_rl_experiment`, SFT runs through
the study's schedule (:func:`~sftrl_repro.experiments.study.sft_run`), and every checkpoint is
evaluated with the study's protocol on the study's compute axis (D_init included).

=====================  ======  ===========================  ===========  ==============================
name                   figure  runs                         start        parameter: tiny values [paper]
=====================  ======  ===========================  ===========  ==============================
``rl_from_base``       9       PPO, GP-L                    the base     ``lr``: 3e-6, 6e-6, 1.2e-5
                                                                         [5e-7, 1e-6, 2e-6]
``verify_iter``        10      PPO, GP-L                    study init   ``verify_iter``: 1, 3, 5, 10
``suboptimal_sft``     15      SFT on sub-optimal           the base     ``data``: suboptimal
                               trajectories, GP-L
``sft_lr``             16      SFT, GP-VL                   the base     ``tune`` x ``lr``: 5e-4, 5e-5
``rl_lr``              17      PPO, GP-VL                   study init   ``lr``: 3e-6, 6e-6, 1.2e-5
``rl_from_overfit``    19      PPO, V-IRL-VL                last SFT     ``lr``: 3e-6, 6e-6 [1e-7, 2e-7]
=====================  ======  ===========================  ===========  ==============================

The tiny PPO preset's learning rate is 6e-6 where the paper's is 1e-6 (``PPOConfig.tiny``), so the
RL learning rates are the paper's scaled by 6. The tiny SFT preset's is 5e-4
(``trainers.sft.sft_run_config``): the SFT sweep tries it and a tenth of it.

Sizes (defaults, for 2 CPU cores): ``eval_n`` = 200 GP hands / 100 V-IRL routes per split and
checkpoint (:data:`SWEEP_EVAL_N`; SE <= 3.5 / 5 points), RL runs of 4 PPO updates with a checkpoint
every 2 (the study's tiny RL arm), SFT runs with the study's schedule (GP: checkpoints at steps
120, 240, 360). Measured, two sweep processes sharing 2 cores (one torch thread each), with the
prefix cache and turn reuse: a GP-VL SFT point (Fig 16) about 15 min, a GP-VL RL point (Fig 17)
about 11 min, a V-IRL-VL RL point (Fig 19) about 12 min; the GP-L sweeps, run before those
speed-ups, took 21 (Fig 9), 22 (Fig 15) and 43 min (Fig 10).

Table (:func:`run_sweep`, :func:`write_sweep_results`: ``results/sweep_<name>.csv``): the study's
:data:`~sftrl_repro.experiments.study.COLUMNS` plus the sweep's parameter column(s), one row per
(method, seed, parameter value, step, split). ``method`` is ``rl`` / ``sft`` for a run's
checkpoints and ``init`` for the start's evaluation, repeated for each seed and parameter value
(the same numbers: the protocol does not depend on the parameter). ``step`` is the PPO update for
``rl`` rows, the SFT step for ``sft`` rows and the start's SFT step (0 for the base) for ``init``.

Run folders (resume after a kill; a changed config is refused by the run machinery)::

    runs/sweeps/<name>/<point-id>/ppo/             an RL point: run_rl_experiment's run folder
    runs/sweeps/<name>/<point-id>/sft/             an SFT point: train_sft's run folder
    runs/sweeps/<name>/<point-id>/eval/<protocol>/ its checkpoints' evaluations
    runs/sweeps/starts/<study-run-id>/base/        a random tiny base as a policy folder (the
                                                   pretrained one is its own run's base/)
    runs/sweeps/starts/<study-run-id>/eval/<protocol>/  the base's (or a given start's) evaluation

``<point-id>`` is the study's run id (scale, task, variant, base, seed) and the point's values, e.g.
``tiny-gp-l-pretrained-b3687897e8-seed0-lr3e-06``. The study's init and last SFT checkpoint are read
from (or trained into) ``runs/study/`` and their evaluations cached in the study's own ``eval/``.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import pandas as pd

from sftrl_repro.experiments.runs import config_hash
from sftrl_repro.experiments.study import (
    COLUMNS,
    SCALES,
    StudyConfig,
    _row,
    eval_dir,
    evaluate_checkpoint,
    protocol_eval_dir,
    rl_experiment,
    run_sft_arm,
    sft_arm_rows,
    sft_demos,
    sft_dir,
    sft_run,
)
from sftrl_repro.paper import RL_FROM_BASE_LRS, RL_FROM_OVERFIT_LRS, SFT_TUNE_MODES, VERIFY_ITERS
from sftrl_repro.paths import results_dir, runs_dir
from sftrl_repro.utils.io import write_csv_atomic, write_json_atomic
from sftrl_repro.utils.params import check_choice, check_int

#: Episodes per split and checkpoint of the sweeps below the paper scale (fewer than the study's
#: 500 / 200: a sweep has several runs per seed; SE <= 3.5 points for GP, <= 5 for V-IRL).
SWEEP_EVAL_N = {"gp": 200, "virl": 100}
#: The tiny PPO preset's learning rate (``PPOConfig.tiny``): the paper's 1e-6, scaled.
TINY_PPO_LR = 6e-6
#: The tiny SFT preset's learning rate (``trainers.sft.sft_run_config``, every task and variant).
TINY_SFT_LR = 5e-4
#: What the ``data`` parameter of an SFT sweep can be: the paper's sub-optimal multi-turn
#: trajectories (Fig 15), or the study's optimal demonstrations (a control).
DATA_KINDS = ("suboptimal", "optimal")
ARMS, STARTS = ("rl", "sft"), ("base", "init", "last_sft")


# ------------------------------------------------------------------------------------- the specs
@dataclass(frozen=True)
class SweepSpec:
    """One sweep of the paper: what it trains, from where, over which values.

    Attributes:
        name: its key in :data:`sftrl_repro.plots.sweeps.SWEEPS` (table ``results/sweep_<name>.csv``).
        figure: the paper's figure.
        task: ``'gp'`` or ``'virl'``; variant: ``'l'`` or ``'vl'``.
        arm: ``'rl'`` (PPO from the start, the study's RL arm settings) or ``'sft'`` (an SFT run from
            the base with the study's SFT schedule and evaluation).
        start: where each run starts: ``'base'`` (the pretrained base itself, no SFT: D_init = 0),
            ``'init'`` (the study's init: its SFT run's checkpoint at ``init_steps``, where the
            study's RL arm starts) or ``'last_sft'`` (the study's SFT run's last checkpoint, over-fitted).
        grid: ``(parameter column, tiny values)`` pairs; one run per combination, in this order.
        paper: the paper's values and setting, in words.
        note: what differs from the paper, and why.
    """

    name: str
    figure: int
    task: str
    variant: str
    arm: str
    start: str
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    paper: str
    note: str = ""

    def __post_init__(self) -> None:
        check_choice("arm", self.arm, ARMS)
        check_choice("start", self.start, STARTS)
        if self.arm == "sft" and self.start != "base":
            raise ValueError(f"sweep {self.name!r}: an SFT sweep starts from the base, not start={self.start!r}")

    @property
    def params(self) -> tuple[str, ...]:
        """The parameter columns of the sweep's table."""
        return tuple(column for column, _ in self.grid)

    @property
    def modality(self) -> str:
        """``'vision'`` for the ``vl`` variant, else ``'language'``."""
        return "vision" if self.variant == "vl" else "language"


SWEEP_SPECS: dict[str, SweepSpec] = {spec.name: spec for spec in (
    SweepSpec("rl_from_base", 9, "gp", "l", "rl", "base", (("lr", (3e-6, 6e-6, 1.2e-5)),),
              paper=f"Fig 9: PPO on GP-L from Llama-3.2-Vision itself, no SFT; lr {RL_FROM_BASE_LRS}",
              note="the tiny PPO preset's 6e-6 stands for the paper's 1e-6 (x6 throughout)"),
    SweepSpec("verify_iter", 10, "gp", "l", "rl", "init", (("verify_iter", VERIFY_ITERS),),
              paper=f"Fig 10: PPO on GP-L from the SFT init with {VERIFY_ITERS} graded attempts per "
                    "training episode; evaluated with 5; ID and OOD growth at equal compute",
              note="evaluation keeps the study's protocol (5 attempts per hand) for every value"),
    SweepSpec("suboptimal_sft", 15, "gp", "l", "sft", "base", (("data", ("suboptimal",)),),
              paper="Fig 15: SFT on sub-optimal multi-turn trajectories (wrong answers, the verifier's "
                    "feedback, then the right answer), GP-L and V-IRL-L",
              note="GP-L only: sftrl_repro.data.virl has no sub-optimal V-IRL trajectories; the optimal "
                   "control is values={'data': ['suboptimal', 'optimal']}"),
    SweepSpec("sft_lr", 16, "gp", "vl", "sft", "base",
              (("tune", SFT_TUNE_MODES), ("lr", (TINY_SFT_LR, TINY_SFT_LR / 10))),
              paper="Fig 16: SFT learning rates on GP-VL, all parameters tuned / vision encoder frozen / "
                    "encoder and adapter frozen",
              note="the tiny SFT preset's rate and a tenth of it"),
    SweepSpec("rl_lr", 17, "gp", "vl", "rl", "init", (("lr", (3e-6, 6e-6, 1.2e-5)),),
              paper="Fig 17: PPO learning rates on GP-VL from the SFT init",
              note="the tiny PPO preset's 6e-6, half and double it"),
    SweepSpec("rl_from_overfit", 19, "virl", "vl", "rl", "last_sft", (("lr", (3e-6, 6e-6)),),
              paper=f"Fig 19: PPO on V-IRL-VL from an over-fitted SFT checkpoint; lr {RL_FROM_OVERFIT_LRS}",
              note="the start is the last checkpoint of the study's V-IRL-VL SFT run; the tiny rates are "
                   "half and all of the tiny preset's 6e-6 (the paper's are 1x and 2x its V-IRL-VL 1e-7)"),
)}


def sweep_spec(name: str) -> SweepSpec:
    """The spec of sweep ``name``; an unknown name raises one ``ValueError`` naming the valid ones."""
    if name not in SWEEP_SPECS:
        raise ValueError(f"sweep {name!r} is not valid; choose one of: {', '.join(map(repr, SWEEP_SPECS))}")
    return SWEEP_SPECS[name]


# ---------------------------------------------------------------------------------- the settings
@dataclass
class SweepSettings:
    """How a sweep is run: ``run_sweep(name, **overrides)`` and ``--set key=value``.

    Attributes:
        values: ``{parameter column: [values]}`` replacing the spec's values of those columns
            (e.g. ``{"lr": [6e-6]}``, ``{"data": ["suboptimal", "optimal"]}``).
        base: ``tiny`` only: ``'pretrained'`` (the package's base) or ``'random'`` (process checks).
        start: RL sweeps: a policy folder to start from instead of the spec's start (a base of
            another size, a cluster checkpoint); D_init is its SFT tokens when it lies in an SFT run
            of this package, else 0. Needed for ``rl_from_base`` at the paper scale.
        study_root: folder of the study's runs (default ``runs/study``): where the init comes from.
        init_steps, sft_steps, sft_checkpoints, n_demos: the study's SFT schedule (default the
            study's, :data:`~sftrl_repro.experiments.study.SFT_SCHEDULE`); the SFT sweeps use it too.
        rl_updates: PPO updates per RL run (default the study's: 4 below the paper scale).
        rl_checkpoint_every: evaluate a PPO checkpoint every this many updates (2).
        splits: evaluation splits (default ID and rule OOD, plus visual OOD for ``vl``).
        eval_kwargs, sft_overrides, ppo_overrides: as in :class:`~sftrl_repro.experiments.study.StudyConfig`
            (``sft_overrides`` also reach the study's SFT run, which must match the study's own).
    """

    values: dict[str, list[Any]] = field(default_factory=dict)
    base: str = "pretrained"
    start: str | None = None
    study_root: str | None = None
    init_steps: int | None = None
    sft_steps: int | None = None
    sft_checkpoints: int = 2
    n_demos: int | None = None
    rl_updates: int | None = None
    rl_checkpoint_every: int = 2
    splits: tuple[str, ...] | None = None
    eval_kwargs: dict[str, Any] = field(default_factory=dict)
    sft_overrides: dict[str, Any] = field(default_factory=dict)
    ppo_overrides: dict[str, Any] = field(default_factory=dict)


#: The settings that are :class:`StudyConfig` fields of the same name.
STUDY_FIELDS = ("base", "init_steps", "sft_steps", "sft_checkpoints", "n_demos", "rl_updates", "rl_checkpoint_every",
                "splits", "eval_kwargs", "sft_overrides", "ppo_overrides")


def _check_value(column: str, value: Any) -> Any:
    """One parameter value, validated before anything trains."""
    if column == "lr":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"lr={value!r} is not valid; it must be a number > 0")
        return float(value)
    if column == "verify_iter":
        return check_int("verify_iter", value, low=1, high=100)
    if column == "tune":
        return check_choice("tune", value, SFT_TUNE_MODES)
    return check_choice(column, value, DATA_KINDS)


def sweep_points(spec: SweepSpec, values: dict[str, list[Any]] | None = None) -> list[dict[str, Any]]:
    """The sweep's points: one ``{parameter column: value}`` per combination of the grid, with
    ``values`` replacing the spec's values of some columns (validated: an unknown column, an empty
    list or a bad value raises ``ValueError``)."""
    values = dict(values or {})
    unknown = sorted(set(values) - set(spec.params))
    if unknown:
        raise ValueError(f"values={values!r} is not valid for sweep {spec.name!r}: its parameter columns are "
                         f"{list(spec.params)}, not {unknown}")
    grid = []
    for column, default in spec.grid:
        chosen = values.get(column, default)
        if isinstance(chosen, (str, bytes)) or not isinstance(chosen, (list, tuple)) or not chosen:
            raise ValueError(f"values[{column!r}]={chosen!r} is not valid; give a non-empty list")
        grid.append([_check_value(column, v) for v in chosen])
    return [dict(zip(spec.params, combo)) for combo in itertools.product(*grid)]


def study_config(spec: SweepSpec, settings: SweepSettings, *, seed: int, scale: str = "tiny",
                 eval_n: int | None = None) -> StudyConfig:
    """The study's config for one seed of a sweep (its SFT run gives the init; its protocol
    evaluates every run); ``eval_n`` defaults to :data:`SWEEP_EVAL_N` below the paper scale."""
    if eval_n is None and scale != "paper":
        eval_n = SWEEP_EVAL_N[spec.task]
    return StudyConfig(task=spec.task, variant=spec.variant, scale=scale, seed=seed, eval_n=eval_n,
                       **{k: getattr(settings, k) for k in STUDY_FIELDS})


def point_config(spec: SweepSpec, study: StudyConfig, point: dict[str, Any]) -> StudyConfig:
    """``study`` with one point's parameters applied: ``lr`` to PPO (RL sweeps) or SFT (SFT sweeps),
    ``verify_iter`` to the training environment (the evaluation keeps the study's 5 attempts),
    ``tune`` to the SFT run. (``data`` chooses the demonstrations: :func:`point_data`.)"""
    sft, ppo = dict(study.sft_overrides), dict(study.ppo_overrides)
    for column, value in point.items():
        if column == "lr" and spec.arm == "rl":
            ppo["lr"] = value
        elif column == "lr":
            sft["learning_rate"] = value
        elif column == "verify_iter":
            # PPO's env_kwargs replace the preset's dict whole: keep its modality
            ppo["env_kwargs"] = {"modality": study.modality, **ppo.get("env_kwargs", {}), "verify_iter": value}
        elif column == "tune":
            sft["tune"] = value
    return replace(study, sft_overrides=sft, ppo_overrides=ppo)


def point_data(config: StudyConfig, point: dict[str, Any]):
    """A function making the demonstrations of an SFT point (``None``: the study's optimal ones).

    ``data='suboptimal'``: :func:`~sftrl_repro.data.gp.gp_suboptimal_dataset` (GP only; the package
    has no sub-optimal V-IRL trajectories), as many as the study's demonstrations, same seed."""
    if point.get("data", "optimal") == "optimal":
        return None
    if config.task != "gp":
        raise ValueError(f"data='suboptimal' is not valid for task={config.task!r}: sftrl_repro.data has "
                         "sub-optimal trajectories for GeneralPoints only")

    def make():
        from sftrl_repro.data.gp import gp_suboptimal_dataset
        from sftrl_repro.trainers.sft import image_size_for

        return gp_suboptimal_dataset(sft_demos(config), modality=config.modality, seed=config.seed,
                                     image_size=image_size_for(config.scale, config.task))

    return make


def _format(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def point_id(study: StudyConfig, point: dict[str, Any]) -> str:
    """``<study run id>-<column><value>...``, e.g. ``tiny-gp-l-pretrained-b3687897e8-seed0-lr3e-06``."""
    return "-".join([study.run_id, *(f"{column}{_format(value)}" for column, value in point.items())])


def _label(point: dict[str, Any]) -> str:
    return " ".join(f"{column}={_format(value)}" for column, value in point.items())


def sweeps_root(root: str | Path | None = None) -> Path:
    """The folder of the sweeps' runs: ``root``, default ``runs/sweeps``."""
    return Path(root) if root is not None else runs_dir() / "sweeps"


def sweep_command(name: str, seeds, *, scale: str = "tiny", eval_n: int | None = None, **overrides: Any) -> str:
    """The command line that runs (or resumes) a sweep with these settings."""
    import shlex

    default = asdict(SweepSettings())
    pairs = [f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in overrides.items() if v != default.get(k)]
    sets = " ".join(f"--set {shlex.quote(pair)}" for pair in pairs)
    extra = (f" --scale {scale}" if scale != "tiny" else "") + (f" --eval-n {eval_n}" if eval_n is not None else "")
    return (f"python -m sftrl_repro.experiments.sweeps --name {name} --seeds {' '.join(map(str, seeds))}"
            f"{extra} {sets}").rstrip()


# ------------------------------------------------------------------------------------ the starts
@dataclass(frozen=True)
class Start:
    """Where a sweep's runs start: a policy folder, its SFT step (0 for a base) and where its
    evaluation is cached."""

    path: Path
    step: int
    cache: Path


def _missing(what: str, command: str):
    from sftrl_repro.experiments.rl import MissingRunError

    return MissingRunError(f"{what} is missing or unfinished; make it with\n  {command}")


def base_folder(study: StudyConfig, root: Path, *, train: bool, command: str) -> Path:
    """The base of ``study`` as a policy folder (what RL from the base starts from).

    The tiny pretrained base is ``runs/<pretrain run id>/base`` (built if missing, when training);
    a random tiny base (``base='random'``) or SmolLM2 is saved once (atomically) to
    ``<root>/starts/<study run id>/base``, with the very weights the study's SFT run starts from.
    The paper scale has no local copy: give ``start=<folder>``."""
    from sftrl_repro.models import load_policy
    from sftrl_repro.trainers.pretrain import BASE_DIR, base_recipe, default_config, pretrain_base

    if study.scale == "paper":
        raise ValueError("the paper-scale base has no folder here; pass start=<the base model's folder>")
    if study.scale == "tiny" and study.base != "random":
        config = default_config(study.modality, recipe=base_recipe(study.base))
        if not train and not (runs_dir() / config.run_id() / "DONE").is_file():
            raise _missing(f"the tiny {study.modality} base {runs_dir() / config.run_id()}", command)
        return pretrain_base(config).path / BASE_DIR
    folder = root / "starts" / study.run_id / "base"
    if not (folder / "config.json").is_file():
        if not train:
            raise _missing(f"the base folder {folder}", command)
        kwargs = {"base": study.base} if study.scale == "tiny" else {}
        tmp = folder.with_name(".tmp-base")
        shutil.rmtree(tmp, ignore_errors=True)
        load_policy(study.scale, study.modality, seed=study.seed, device="cpu", **kwargs).save(tmp)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)  # a kill mid-save never leaves a half folder under the real name
    return folder


def study_sft_checkpoints(study: StudyConfig, root: str | Path | None, *, train: bool, command: str):
    """The checkpoint records of the study's SFT run for this seed (trained if missing, when training)."""
    if not train and not (sft_dir(study, root) / "DONE").is_file():
        raise _missing(f"the study's SFT run {sft_dir(study, root)}", command)
    return run_sft_arm(study, root=root).checkpoints


def start_record(start: str, checkpoints, init_steps: int):
    """The record a start names among the study's SFT checkpoints: ``'init'`` the one at
    ``init_steps``, ``'last_sft'`` the last one."""
    by_step = {record.step: record for record in checkpoints}
    return by_step[init_steps] if start == "init" else by_step[max(by_step)]


def sweep_start(spec: SweepSpec, settings: SweepSettings, study: StudyConfig, root: Path, *, train: bool,
                command: str) -> Start:
    """Where the runs of one seed of a sweep start (the given ``start`` folder, the base, the
    study's init or its last SFT checkpoint), with the cache of its evaluation: the study's own for
    its SFT checkpoints, ``<root>/starts/<study run id>/eval/<protocol>/`` otherwise."""
    own = protocol_eval_dir(root / "starts" / study.run_id, study)
    if settings.start is not None:
        from sftrl_repro.experiments.rl import find_sft_record

        path = Path(settings.start)
        if not (path / "config.json").is_file():
            raise ValueError(f"start={settings.start!r} is not a policy folder (it has no config.json)")
        record = find_sft_record(path)
        cache = own / f"start-{config_hash({'path': str(path.resolve())})}.json"
        return Start(path, record.step if record else 0, cache)
    if spec.start == "base":
        return Start(base_folder(study, root, train=train, command=command), 0, own / "base.json")
    checkpoints = study_sft_checkpoints(study, settings.study_root, train=train, command=command)
    record = start_record(spec.start, checkpoints, study.init_steps)
    cache = eval_dir(study, settings.study_root) / f"sft_step_{record.step:06d}.json"
    return Start(Path(record.path), record.step, cache)


def start_evaluation(start: Start, config: StudyConfig, label: str, progress: bool) -> list[dict[str, Any]]:
    """The start's evaluation rows (one per split) with the study's protocol, cached at ``start.cache``."""
    from sftrl_repro.models.policy import Policy

    policy = None if start.cache.is_file() else Policy.load(start.path)
    return evaluate_checkpoint(policy, config, start.cache, label, progress)


# ------------------------------------------------------------------------------------ the points
def run_rl_point(config: StudyConfig, start: Start, folder: Path, *, label: str, progress: bool, train: bool,
                 command: str) -> list[dict[str, Any]]:
    """One PPO run of an RL sweep from ``start`` (``folder/ppo``): :data:`COLUMNS` rows (dicts) for
    the start (``init``, step = its SFT step) and every PPO checkpoint (``rl``, step = update)."""
    from sftrl_repro.experiments.rl import MissingRunError, eval_cache_dir, run_rl_experiment

    run_dir = folder / "ppo"
    exp = rl_experiment(config, str(start.path))
    # The start is evaluated once per seed, not once per point: its cached rows become a new run's
    # update-0 evaluation (only a new one: an existing folder may hold another start, which the run
    # machinery then refuses).
    if train and not run_dir.exists():
        write_json_atomic(eval_cache_dir(run_dir, exp) / "update_0000.json",
                          start_evaluation(start, config, f"{label} start", progress))
    try:
        table = run_rl_experiment(exp, run_dir=run_dir, progress=progress, train=train)
    except MissingRunError as err:
        raise MissingRunError(f"{err}\n(the sweep's own command: {command})") from None
    rows = []
    for _, r in table.iterrows():
        init = r["method"] == "init"
        rows.append(_row(config, "init" if init else "rl", start.step if init else int(r["update"]),
                         float(r["gflops"]), r.to_dict()))
    return rows


def run_sft_point(config: StudyConfig, start: Start, folder: Path, *, make_data, label: str, progress: bool,
                  train: bool, command: str) -> list[dict[str, Any]]:
    """One SFT run of an SFT sweep from the base (``folder/sft``, the study's schedule): the base's
    evaluation (``init``, step 0, 0 GFLOPs) and every checkpoint's (``sft``), :data:`COLUMNS` rows."""
    if not train and not (folder / "sft" / "DONE").is_file():
        raise _missing(f"the SFT run {folder / 'sft'}", command)
    rows = [_row(config, "init", 0, 0.0, m) for m in start_evaluation(start, config, f"{label} base", progress)]
    result = sft_run(config, folder / "sft", make_data=make_data)
    cache = protocol_eval_dir(folder, config)
    return rows + sft_arm_rows(config, result.checkpoints, cache, progress=label if progress else False)


# ----------------------------------------------------------------------------------- the sweeps
def run_sweep(name: str, *, seeds=(0,), scale: str = "tiny", eval_n: int | None = None,
              root: str | Path | None = None, progress: bool = True, train: bool = True,
              **overrides: Any) -> pd.DataFrame:
    """Run (or resume, or read back) a sweep for ``seeds``; its table.

    Args:
        name: a key of :data:`SWEEP_SPECS` (an unknown one raises ``ValueError`` naming the valid ones).
        seeds: the study's seeds (data, init, PPO episodes).
        scale: ``'tiny'`` (what the defaults are sized for), ``'small'`` or ``'paper'``.
        eval_n: episodes per split and checkpoint (default :data:`SWEEP_EVAL_N`).
        root: folder of the sweeps' runs (default ``runs/sweeps``).
        progress: progress bars (the sweep and its point, then each checkpoint's evaluation).
        train: ``False``: only read finished runs; a missing one raises
            :class:`~sftrl_repro.experiments.rl.MissingRunError` with the command that makes it.
        overrides: fields of :class:`SweepSettings` (an unknown one raises ``ValueError``).

    Returns:
        A frame with :data:`~sftrl_repro.experiments.study.COLUMNS` and the sweep's parameter
        columns: ``init`` rows (the start) once per seed and parameter value, then ``rl`` or ``sft``
        rows per checkpoint; ``gflops`` on the study's axis (D_init included).
    """
    from tqdm.auto import tqdm

    spec = sweep_spec(name)
    check_choice("scale", scale, SCALES)
    settings = _settings(overrides)
    if settings.start is not None and spec.arm != "rl":
        raise ValueError(f"start={settings.start!r} is not valid for the SFT sweep {name!r}: its runs start from "
                         "the base (set base= instead)")
    points = sweep_points(spec, settings.values)
    # every seed's config built (validated) before anything trains
    studies = [study_config(spec, settings, seed=seed, scale=scale, eval_n=eval_n) for seed in seeds]
    folder = sweeps_root(root)
    command = sweep_command(name, seeds, scale=scale, eval_n=eval_n, **overrides)
    rows: list[dict[str, Any]] = []
    bar = tqdm(total=len(seeds) * len(points), desc=f"sweep {name}", disable=not progress, dynamic_ncols=True)
    for seed, study in zip(seeds, studies):
        start = sweep_start(spec, settings, study, folder, train=train, command=command)
        for point in points:
            config = point_config(spec, study, point)
            label = f"sweep {name} {_label(point)}"
            bar.set_postfix_str(f"seed {seed} {_label(point)}")
            where = folder / name / point_id(study, point)
            if spec.arm == "rl":
                found = run_rl_point(config, start, where, label=label, progress=progress, train=train,
                                     command=command)
            else:
                found = run_sft_point(config, start, where, make_data=point_data(config, point), label=label,
                                      progress=progress, train=train, command=command)
            rows += [{**row, **point} for row in found]
            bar.update(1)
    bar.close()
    return pd.DataFrame(rows, columns=[*COLUMNS, *spec.params])


def _settings(overrides: dict[str, Any]) -> SweepSettings:
    names = sorted(f.name for f in fields(SweepSettings))
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ValueError(f"{unknown} not valid; the sweep settings are {names}")
    return SweepSettings(**overrides)


def sweep_results_path(name: str, scale: str = "tiny") -> Path:
    """``results/sweep_<name>.csv`` (:func:`sftrl_repro.plots.sweeps.sweep_path`), with ``_<scale>``
    appended beyond ``tiny`` so that a larger run never overwrites the tiny table."""
    from sftrl_repro.plots.sweeps import sweep_path

    sweep_spec(name)
    if check_choice("scale", scale, SCALES) == "tiny":
        return sweep_path(name)
    return results_dir() / f"sweep_{name}_{scale}.csv"


def write_sweep_results(name: str, frame: pd.DataFrame) -> Path:
    """Write a sweep's frame (one scale) to :func:`sweep_results_path`, atomically; returns the path."""
    spec = sweep_spec(name)
    missing = [c for c in (*COLUMNS, *spec.params) if c not in frame]
    if missing:
        raise ValueError(f"the frame lacks the sweep columns {missing}; make it with run_sweep({name!r})")
    scales = frame["scale"].dropna().unique()
    if len(scales) != 1:
        raise ValueError(f"a sweep table holds one scale; this frame has {sorted(scales)}")
    path = sweep_results_path(name, scales[0])
    write_csv_atomic(path, frame.sort_values(["method", *spec.params, "seed", "step", "split"], kind="stable"))
    return path


# ----------------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> None:
    """``python -m sftrl_repro.experiments.sweeps --name rl_from_base --seeds 0 [--set key=value ...]``.

    Runs (or resumes) the sweep's runs for the seeds, one after the other, and writes
    ``results/sweep_<name>.csv``. Seeds can run in separate processes (``--no-write``, one torch
    thread each); a last call with every seed then reads their cached runs back and writes the table.
    """
    import argparse

    from sftrl_repro.utils.params import parse_overrides

    parser = argparse.ArgumentParser(prog="python -m sftrl_repro.experiments.sweeps", description=main.__doc__)
    parser.add_argument("--name", required=True, help=f"one of: {', '.join(SWEEP_SPECS)}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--scale", choices=SCALES, default="tiny")
    parser.add_argument("--eval-n", type=int, default=None,
                        help=f"episodes per split and checkpoint (default {SWEEP_EVAL_N})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help='a SweepSettings field, e.g. --set values=\'{"lr":[6e-6]}\' (repeatable)')
    parser.add_argument("--no-write", action="store_true", help="do not write results/sweep_<name>.csv")
    args = parser.parse_args(argv)
    try:
        sweep_spec(args.name)
    except ValueError as err:
        parser.error(f"--name: {err}")
    try:
        overrides = parse_overrides(args.overrides, SweepSettings)
    except ValueError as err:
        parser.error(f"--set {err}")
    frame = run_sweep(args.name, seeds=args.seeds, scale=args.scale, eval_n=args.eval_n, **overrides)
    if not args.no_write:
        print(write_sweep_results(args.name, frame))


__all__ = [
    "SWEEP_SPECS", "SWEEP_EVAL_N", "DATA_KINDS", "SweepSpec", "SweepSettings", "Start", "sweep_spec", "sweep_points",
    "study_config", "point_config", "point_data", "point_id", "sweeps_root", "base_folder", "start_record",
    "sweep_start", "start_evaluation", "run_rl_point", "run_sft_point", "run_sweep", "sweep_results_path",
    "write_sweep_results", "sweep_command", "main",
]


if __name__ == "__main__":
    main()
