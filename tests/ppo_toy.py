"""Toy tasks and a runnable PPO script for the trainer's tests (imported by tests, run by them).

``SpaceEnv``: one-turn episodes with a fixed prompt; the answer earns 1 if it starts with a space.
An untrained tiny policy sampling at temperature 1 does so about a quarter of the time, so PPO has
clear room to improve.

``VariableGP``: the GeneralPoints env (text) whose attempt budget is 1, 2 or 3, drawn from the
episode's reset seed: an untrained policy never solves a hand, so episodes last 1-3 turns and
processes that play different episodes collect different numbers of transitions (the multi-process
tests need exactly that).

Run as a script (``python tests/ppo_toy.py ROOT RUN_ID UPDATES [TEMP] [JSON overrides]``, or under
``torchrun``) it trains and prints the final metrics as JSON; ``"env": "gp"`` in the overrides
picks ``VariableGP``, ``"vision": true`` a vision policy, ``"save_weights": true`` writes the final
weights to ``ROOT/RUN_ID/weights.pt``.
"""

from __future__ import annotations

import json
import sys

import gymnasium as gym
import torch
from gymnasium import spaces

from sftrl_repro.prompts.chat import user_message

PROMPT = "[Task Description] answer"


class SpaceEnv(gym.Env):
    """Reward 1 when the answer starts with a space, else 0; one answer per episode.

    ``varied=True`` appends a number drawn from the reset seed to the prompt, so that greedy
    answers (and rewards) differ between episodes.
    """

    def __init__(self, varied: bool = False) -> None:
        self.varied = varied
        self.observation_space = spaces.Dict({"text": spaces.Text(100)})
        self.action_space = spaces.Text(100)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        prompt = PROMPT + (f" {int(self.np_random.integers(0, 10_000))}" if self.varied else "")
        self.conversation = [user_message(prompt)]
        return {"text": prompt}, {"conversation": self.conversation}

    def step(self, answer):
        ok = isinstance(answer, str) and answer[:1] == " "
        info = {"success": ok, "outcome": "correct" if ok else "wrong", "conversation": self.conversation}
        return {"text": ""}, float(ok), True, False, info


def variable_gp():
    """A GeneralPoints env (text) whose attempt budget is ``1 + seed % 3``."""
    from sftrl_repro.envs.general_points import GeneralPointsEnv

    class VariableGP(GeneralPointsEnv):
        def reset(self, *, seed=None, options=None):
            self.verify_iter = 1 + int(seed) % 3
            return super().reset(seed=seed, options=options)

    return VariableGP(modality="language")


def toy_config(updates: int, temperature: float = 1.0, **overrides):
    from sftrl_repro.trainers.ppo import PPOConfig

    base = dict(updates=updates, transitions_per_update=64, num_envs=32, max_new_tokens=8,
                temperature=temperature, lr=4e-3, lr_schedule="constant", ppo_epochs=2,
                minibatch_size=16, grad_accum_steps=1)
    return PPOConfig.tiny("gp", "language", **{**base, **overrides})


def train(root: str, run_id: str, updates: int, temperature: float = 1.0, **overrides):
    from accelerate import Accelerator

    from sftrl_repro.experiments import Run
    from sftrl_repro.models import load_policy
    from sftrl_repro.trainers.ppo import PPOTrainer

    torch.set_num_threads(1)
    varied = overrides.pop("varied_prompts", False)
    env = overrides.pop("env", "space")
    vision = overrides.pop("vision", False)
    overrides.pop("save_weights", None)
    config = toy_config(updates, temperature, **overrides)
    accelerator = Accelerator(cpu=True)
    policy = load_policy("tiny", "vision" if vision else "language", seed=0, base="random", device=accelerator.device)
    make_env = variable_gp if env == "gp" else (lambda: SpaceEnv(varied=varied))
    trainer = PPOTrainer(policy, config, Run(run_id, config.to_dict(), root=root), make_env=make_env,
                         accelerator=accelerator, progress=False)
    metrics = trainer.train()
    return trainer, metrics


if __name__ == "__main__":
    root, run_id, updates = sys.argv[1], sys.argv[2], int(sys.argv[3])
    temperature = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
    save = extra.get("save_weights", False)
    trainer, metrics = train(root, run_id, updates, temperature, **extra)
    if trainer.accelerator.is_main_process:
        params = [p.double() for p in trainer.policy.model.parameters()]
        if save:
            torch.save({k: v.detach().clone() for k, v in trainer.policy.model.state_dict().items()},
                       f"{root}/{run_id}/weights.pt")
        print("RESULT " + json.dumps({"metrics": metrics, "weight_sum": sum(float(p.sum()) for p in params),
                                      "weight_sq": sum(float((p * p).sum()) for p in params)}))
