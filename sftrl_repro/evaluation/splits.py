"""The evaluation splits of the paper (paper Sec. 4 and 5; the authors' evaluation scripts), as environment settings.

=============  ==========================================  ==========================================
split          GeneralPoints (234 hands, seed 42, 5 tries)  V-IRL (48 routes, seed 12, 2 tries/point)
=============  ==========================================  ==========================================
``id``         J/Q/K = 10, black suits                      absolute actions, training city
``rule_ood``   J/Q/K = 11/12/13                             relative actions
``visual_ood`` red suits (vision only)                      VLN-mini-like routes, 18 in order (vision only)
=============  ==========================================  ==========================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sftrl_repro.trainers.rollout import episode_seeds
from sftrl_repro.utils.params import check_choice, check_int

TASKS = ("gp", "virl")
SPLITS = ("id", "rule_ood", "visual_ood")
#: Protocol defaults [code]: episodes, master seed, graded attempts.
PROTOCOL = {"gp": {"n": 234, "seed": 42, "verify_iter": 5}, "virl": {"n": 48, "seed": 12, "verify_iter": 2}}
VLN_MINI_ROUTES = 18


def split_episodes(task: str, split: str, n: int) -> int:
    """Episodes a run asking for ``n`` per split plays on ``split``: ``n``, except on V-IRL's visual
    OOD split, whose VLN-mini routes are a fixed set of :data:`VLN_MINI_ROUTES` played in order (at
    most all of them). :func:`eval_spec` itself refuses a larger ``n`` there; experiments that ask
    for one count for every split (the study's ``eval_n``) pass it through this."""
    check_choice("task", task, TASKS)
    check_choice("split", split, SPLITS)
    check_int("n", n, low=1)
    return min(n, VLN_MINI_ROUTES) if (task, split) == ("virl", "visual_ood") else n


@dataclass
class EvalSpec:
    """Everything that fixes an evaluation: which environment, which episodes.

    Attributes:
        task, split, modality: what is evaluated (see the module docstring).
        env_kwargs: kwargs of the environment (``gymnasium.make`` of the task's id).
        seeds: the reset seed of each episode (``n`` of them, from the master seed).
        options: per-episode reset options (V-IRL visual OOD: routes in order), or ``None``.
    """

    task: str
    split: str
    modality: str
    env_kwargs: dict[str, Any]
    seeds: list[int]
    options: list[dict] | None = field(default=None)

    def make_env(self) -> Any:
        import gymnasium as gym

        import sftrl_repro  # noqa: F401  (registers the ids)
        from sftrl_repro.envs import GENERAL_POINTS_ID, VIRL_ID

        return gym.make(GENERAL_POINTS_ID if self.task == "gp" else VIRL_ID, **self.env_kwargs).unwrapped

    @property
    def env_factory(self) -> Callable[[], Any]:
        return self.make_env


def eval_spec(task: str, split: str, modality: str = "language", *, n: int | None = None,
              seed: int | None = None, verify_iter: int | None = None, reward_mode: str = "paper",
              image_size: int | None = None, **env_overrides: Any) -> EvalSpec:
    """The paper's evaluation of ``task`` on ``split`` (counts, seeds and attempts overridable).

    Args:
        task: ``'gp'`` or ``'virl'``; split: ``'id'``, ``'rule_ood'`` or ``'visual_ood'``.
        modality: ``'language'`` or ``'vision'`` (``visual_ood`` needs ``'vision'``).
        n: episodes (default 234 hands / 48 routes; V-IRL visual OOD: the 18 routes).
        seed: master seed (default 42 / 12); verify_iter: attempts (default 5 / 2).
        image_size: rendering size (default: the environment's, the paper's).
        env_overrides: any other environment kwarg (e.g. ``target``, ``city_seed``).
    """
    check_choice("task", task, TASKS)
    check_choice("split", split, SPLITS)
    check_choice("modality", modality, ("language", "vision"))
    if split == "visual_ood" and modality != "vision":
        raise ValueError("split='visual_ood' is only valid with modality='vision' (the change is in the images)")
    proto = PROTOCOL[task]
    seed = proto["seed"] if seed is None else check_int("seed", seed, low=0)
    verify_iter = proto["verify_iter"] if verify_iter is None else check_int("verify_iter", verify_iter, low=1)
    kwargs: dict[str, Any] = {"modality": modality, "verify_iter": verify_iter, "reward_mode": reward_mode}
    if image_size is not None:
        kwargs["image_size"] = image_size
    options = None
    if task == "gp":
        kwargs.update(rule="ood" if split == "rule_ood" else "id", visual="ood" if split == "visual_ood" else "id")
        n = proto["n"] if n is None else check_int("n", n, low=1)
    else:
        kwargs["actions"] = "relative" if split == "rule_ood" else "absolute"
        if split == "visual_ood":
            kwargs["routes"] = "vln_mini"
            n = VLN_MINI_ROUTES if n is None else check_int("n", n, low=1, high=VLN_MINI_ROUTES)
            options = [{"route_index": i} for i in range(n)]
        else:
            n = proto["n"] if n is None else check_int("n", n, low=1)
    kwargs.update(env_overrides)
    return EvalSpec(task, split, modality, kwargs, episode_seeds(seed, n), options)
