"""A toy task and a runnable PPO script for the trainer's tests (imported by tests, run by them).

``SpaceEnv``: one-turn episodes with a fixed prompt; the answer earns 1 if it starts with a space.
An untrained tiny policy sampling at temperature 1 does so about a quarter of the time, so PPO has
clear room to improve. Run as a script (``python tests/ppo_toy.py ROOT RUN_ID UPDATES [TEMP]``,
or under ``torchrun``) it trains on it and prints the final metrics as JSON.
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


def toy_config(updates: int, temperature: float = 1.0, **overrides):
    from sftrl_repro.trainers.ppo import PPOConfig

    base = dict(updates=updates, transitions_per_update=64, num_envs=32, max_new_tokens=8,
                temperature=temperature, lr=4e-3, lr_schedule="constant", ppo_epochs=2,
                minibatch_size=16, grad_accum_steps=1)
    return PPOConfig.tiny("gp", "language", **{**base, **overrides})


def train(root: str, run_id: str, updates: int, temperature: float = 1.0, **overrides):
    from sftrl_repro.experiments import Run
    from sftrl_repro.models import load_policy
    from sftrl_repro.trainers.ppo import PPOTrainer

    torch.set_num_threads(1)
    varied = overrides.pop("varied_prompts", False)
    config = toy_config(updates, temperature, **overrides)
    policy = load_policy("tiny", "language", seed=0)
    trainer = PPOTrainer(policy, config, Run(run_id, config.to_dict(), root=root),
                         make_env=lambda: SpaceEnv(varied=varied), progress=False)
    metrics = trainer.train()
    return trainer, metrics


if __name__ == "__main__":
    root, run_id, updates = sys.argv[1], sys.argv[2], int(sys.argv[3])
    temperature = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
    trainer, metrics = train(root, run_id, updates, temperature, **extra)
    if trainer.accelerator.is_main_process:
        params = [p.double() for p in trainer.policy.model.parameters()]
        print("RESULT " + json.dumps({"metrics": metrics, "weight_sum": sum(float(p.sum()) for p in params),
                                      "weight_sq": sum(float((p * p).sum()) for p in params)}))
