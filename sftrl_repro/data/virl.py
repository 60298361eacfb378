"""V-IRL SFT demonstrations, from the ground-truth rail (paper Sec. 4.2).

One demonstration per rail point: the prompt the agent sees there (the authors' ``Q_VIRL_L`` /
``Q_VIRL_VL`` by default: instructions, the ground-truth observation/action history, the current
observation; the 2x2 street-view grid for vision) and the answer in the authors' ``ResponseVIRL``
template with the current observation, the instruction being executed and the ground-truth action.
Single-turn, answer only, in-distribution action space (absolute compass headings). Routes are drawn
and walked by :class:`~sftrl_repro.envs.virl.env.VIRLEnv` itself (answering its own
``info["gt_answer"]``), so prompts and images are exactly what RL and evaluation see.
"""

from __future__ import annotations

from datasets import Dataset, Value
from PIL import Image as PILImage

from sftrl_repro.data.format import demonstrations
from sftrl_repro.prompts.chat import assistant_message
from sftrl_repro.utils.params import check_choice, check_int

MODALITIES = ("language", "vision")
ACTION_SPACES = ("absolute", "relative")


def virl_sft_dataset(
    n: int,
    *,
    modality: str = "language",
    seed: int = 0,
    actions: str = "absolute",
    routes: str = "train",
    image_size: int | None = None,
    **env_kwargs,
) -> Dataset:
    """``n`` optimal single-turn demonstrations, whole routes walked point by point.

    Args:
        n: number of demonstrations (rail points); the last route may be cut short.
        modality: ``'language'`` or ``'vision'`` (the prompt comes with the view grid).
        seed: seed of the route draws (and of the rails' forward points).
        actions: action space of prompts and answers; the paper trains on ``'absolute'`` only.
        routes: the env's route set (``'train'``: the generated New York-style city).
        image_size: side of each street view (vision); default the env's tiny size (64: a 129 x 129 grid).
        env_kwargs: other :class:`~sftrl_repro.envs.virl.env.VIRLEnv` arguments (``city_seed``, ...).

    Returns:
        A ``Dataset`` with columns ``messages``, ``route_id``, ``waypoint``, ``action`` (the
        ground-truth action) and, for vision, ``images``.
    """
    from sftrl_repro.envs.virl.env import VIRLEnv
    from sftrl_repro.games.virl.render import TINY_VIEW_SIZE

    check_int("n", n, low=1)
    check_int("seed", seed, low=0)
    check_choice("modality", modality, MODALITIES)
    check_choice("actions", actions, ACTION_SPACES)
    env = VIRLEnv(modality=modality, actions=actions, routes=routes,
                  image_size=image_size or TINY_VIEW_SIZE, **env_kwargs)
    vision = modality == "vision"
    rows: list[dict] = []
    obs, info = env.reset(seed=seed)
    while len(rows) < n:
        messages = [*info["conversation"], assistant_message(info["gt_answer"])]
        row = {"messages": messages, "route_id": str(info["route_id"]), "waypoint": int(info["waypoint"]),
               "action": info["gt_action"]}
        if vision:
            row["images"] = [PILImage.fromarray(obs["image"])]
        rows.append(row)
        obs, _, terminated, truncated, info = env.step(info["gt_answer"])
        assert not truncated, "the ground-truth answer was graded wrong"
        if terminated:
            obs, info = env.reset()
    return demonstrations(rows, vision=vision, columns={
        "route_id": Value("string"), "waypoint": Value("int64"), "action": Value("string")})


def virl_tokenizer_texts(seed: int = 0, n_routes: int = 4) -> list[str]:
    """V-IRL prompts and answers for the tiny tokenizer's corpus: both modalities and action spaces."""
    from sftrl_repro.envs.virl.env import VIRLEnv

    texts: list[str] = []
    for modality in MODALITIES:
        for actions in ACTION_SPACES:
            env = VIRLEnv(modality=modality, actions=actions, image_size=8)
            for r in range(n_routes):
                obs, info = env.reset(seed=seed + r)
                while True:
                    texts += [obs["text"], info["gt_answer"]]
                    obs, _, terminated, truncated, info = env.step(info["gt_answer"])
                    if terminated or truncated:
                        break
                # One wrong answer per route, for the wording of the feedback turn.
                env.reset(seed=seed + r)
                texts.append(env.step("{}")[0]["text"])
    return [t for t in texts if t]
