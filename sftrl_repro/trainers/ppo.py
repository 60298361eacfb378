"""Multi-turn PPO with sequential revision (paper Sec. 3 and App. C; the authors' RL4VLM-style trainer), readable like CleanRL.

One loop, the algorithm in plain sight::

    for update in range(updates):
        1. rollout   : play episodes in many envs at once; every generation (retries included) is a
                       transition with its own reward                       (trainers/rollout.py)
        2. recompute : old log-probs of each answer and the critic's value of each prompt, with
                       the same forward pass the update uses (no sampling-time numerics leak in)
        3. GAE       : advantages over the turns of each episode (gamma 0.9, lambda 0.95);
                       an episode's end is never bootstrapped into the next one unless
                       ``bootstrap_across_episodes`` mimics the authors' buffer
        4. PPO epochs: clipped policy loss on the (thought-weighted) sequence log-prob ratio,
                       clipped value loss, optional KL-to-init and entropy terms, gradient
                       accumulation, global-norm clipping; the learning rate of the update
                       follows the authors' CosineAnnealingLR, stepped once per update
        5. log       : PPO diagnostics, rewards by outcome, success, compute -> runs/<id>/metrics.jsonl
        6. checkpoint: weights, critic, optimizer, scheduler (accelerate state) + an HF policy folder

Policy and critic share the backbone: the critic is :class:`~sftrl_repro.models.ValueHead` on the
final hidden state of the last prompt token, read from the same forward pass that scores the
answer (:meth:`~sftrl_repro.models.Policy.score`).

The action log-prob of an answer is a *sequence* quantity (RL4VLM, the authors' recipe): the sum of
its token log-probs, with the tokens before the answer's final key (``"formula"`` for
GeneralPoints, ``"action"`` for V-IRL) scaled by ``thought_coef`` = 0.5. ``ratio_level="token"``
switches to the per-token ratio of modern LLM PPO.

Log-probabilities (old and new) are those of ``softmax(logits / T)`` with ``T`` the sampling
temperature, as in the authors' code (``logprob_temperature="sampling"``; ``1.0`` is the option).

Processes: run under ``accelerate launch`` for several processes (DeepSpeed ZeRO-2 at the paper
scale: ``configs/accelerate_ppo_zero2.yaml``); each process plays its own share of the episodes
(global episode ``k`` is played by rank ``k % world``) and gradients are averaged across processes.
Multi-turn episodes give processes different numbers of transitions, so after each rollout the
processes agree on a plan (:func:`plan_update`): every process runs the same number of
micro-batches (the largest share; a process with fewer pads with zero-weight micro-batches), hence
the same number of backward passes, gradient synchronisations and optimizer steps, and each
sample's loss is weighted by ``1 / (samples of its accumulation window over all processes)``, so
an optimizer step sees the mean gradient of its window whatever the process count. Gradient
synchronisation happens once per window (``no_sync`` covers the forward and backward passes of
the other micro-batches; under DeepSpeed the engine is told each boundary). The learning rate is
set from the update index (no wrapped scheduler to step once per process).
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections import Counter
from contextlib import nullcontext
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate.utils import DistributedType, gather_object

from sftrl_repro.experiments.runs import Run
from sftrl_repro.trainers.rollout import Transition, collect, training_seeds
from sftrl_repro.utils.params import check_choice, check_int

TASKS = ("gp", "virl")
LR_SCHEDULES = ("authors", "cosine", "constant")
#: ``lr_max_steps`` (``T_max`` of the authors' CosineAnnealingLR) in the authors' training scripts.
AUTHORS_LR_MAX_STEPS = {"gp": 100, "virl": 20}
#: ``end_lr`` (``eta_min``) of the authors' optimizer config.
AUTHORS_LR_MIN = 1e-9
#: The key that starts the graded part of an answer; tokens before it are "thought" tokens.
THOUGHT_KEYS = {"gp": '"formula"', "virl": '"action"'}


# =============================================================================== configuration
@dataclass
class PPOConfig:
    """Everything that defines a PPO run. Defaults are the paper's recipe (App. C and the authors' scripts).

    Environment and rollout
        task: ``'gp'`` (GeneralPoints) or ``'virl'`` (V-IRL).
        env_kwargs: kwargs of the training environment (``modality``, ``rule``, ``image_size``...);
            training always uses the in-distribution rule and visuals unless told otherwise.
        num_envs: environments stepped together per process (the generation batch).
        transitions_per_update: transitions collected per update, over all processes (paper: 8
            processes x 256). Complete episodes are kept, so a rollout exceeds it (each process
            stops starting episodes at its share; running ones finish): the optimizer steps of an
            update are planned from the transitions really collected.
        episodes_per_update: play exactly this many episodes per update instead (over all
            processes, at least one per process; ``transitions_per_update`` is then ignored): the
            rollout is then the same whatever the process count.
        temperature: sampling temperature of rollouts (paper: 0.2).
        top_k, top_p: truncation of rollout sampling; ``None`` (default): the checkpoint's
            generation config, as the authors' ``generate(temperature=...)`` (Llama-3.2-Vision:
            top-p 0.9; Hugging Face's top-k 50 where the config sets none).
        max_new_tokens: answer length cap in rollouts (paper: 512).

    Optimisation
        updates: PPO updates (paper: 20 for GeneralPoints, 15 for V-IRL).
        ppo_epochs: passes over each rollout (paper: 4).
        minibatch_size: transitions per forward/backward on one process (paper: 1).
        grad_accum_steps: micro-batches per optimizer step (paper: 128).
        lr: Adam learning rate of the policy (paper: 1e-6; V-IRL-VL 1e-7).
        value_lr: Adam learning rate of the value head (``None``: same as ``lr``).
        lr_schedule: ``'authors'`` (default): their ``CosineAnnealingLR(T_max=lr_max_steps,
            eta_min=lr_min)`` stepped once per update: update ``u`` (0-based) trains at
            ``lr_min + (lr - lr_min) (1 + cos(pi u / lr_max_steps)) / 2``; ``'cosine'``: the
            package's cosine from ``lr`` to 0 over the run, by optimizer step (update ``u``'s step
            ``j`` of ``S_u`` at progress ``(u + j / S_u) / updates``, so no step runs at 0);
            ``'constant'``.
        lr_max_steps: ``T_max`` of the authors' schedule; ``None``: theirs (100 for GP, 20 for V-IRL).
        lr_min: ``eta_min`` of the authors' schedule (theirs: 1e-9).
        adam_eps: Adam epsilon.
        max_grad_norm: global gradient-norm clip (paper: 0.01).

    PPO
        gamma: discount over the turns of an episode (paper: 0.9).
        gae_lambda: GAE lambda (paper: 0.95).
        clip_coef: policy ratio clip (paper: 0.1).
        value_clip_coef: value clip around the rollout's values (paper: 0.1; ``None`` disables).
        vf_coef: value-loss coefficient (paper: 0.5).
        norm_adv: normalise advantages over the rollout (paper: yes).
        ratio_level: ``'sequence'`` (paper: one ratio per answer) or ``'token'``.
        thought_coef: weight of thought tokens in the sequence log-prob (paper: 0.5).
        logprob_temperature: the temperature log-probs (old and new) are taken at: ``'sampling'``
            (default, the authors': logits divided by ``temperature``) or a number (``1.0``: the
            model's own distribution).
        kl_coef: coefficient of a KL-to-init penalty (paper: 0, none).
        ent_coef: coefficient of an entropy bonus (paper: 0, none). The entropy (bonus and the
            logged ``entropy`` diagnostic) is the exact full-vocabulary entropy of the distribution
            the log-probs are taken from, ``softmax(logits / logprob temperature)``, averaged over
            answer tokens (before top-k / top-p truncation).
        bootstrap_across_episodes: the authors' buffer lets GAE run from a truncated episode's last
            turn into the next episode's first; ``False`` (default) ends every episode at 0.

    Bookkeeping
        seed: master seed (episode seeds, sampling, minibatch order, critic init).
        checkpoint_every: save every this many updates (the last update is always saved).
        value_head_widths: hidden widths of the critic MLP (paper: 1024, 512).
    """

    task: str = "gp"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    num_envs: int = 8
    transitions_per_update: int = 256 * 8
    episodes_per_update: int | None = None
    temperature: float = 0.2
    top_k: int | None = None
    top_p: float | None = None
    max_new_tokens: int = 512
    updates: int = 20
    ppo_epochs: int = 4
    minibatch_size: int = 1
    grad_accum_steps: int = 128
    lr: float = 1e-6
    value_lr: float | None = None
    lr_schedule: str = "authors"
    lr_max_steps: int | None = None
    lr_min: float = AUTHORS_LR_MIN
    adam_eps: float = 1e-7
    max_grad_norm: float = 0.01
    gamma: float = 0.9
    gae_lambda: float = 0.95
    clip_coef: float = 0.1
    value_clip_coef: float | None = 0.1
    vf_coef: float = 0.5
    norm_adv: bool = True
    ratio_level: str = "sequence"
    thought_coef: float = 0.5
    logprob_temperature: str | float = "sampling"
    kl_coef: float = 0.0
    ent_coef: float = 0.0
    bootstrap_across_episodes: bool = False
    seed: int = 0
    checkpoint_every: int = 1
    value_head_widths: tuple[int, ...] = (1024, 512)

    def __post_init__(self) -> None:
        check_choice("task", self.task, TASKS)
        check_choice("ratio_level", self.ratio_level, ("sequence", "token"))
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        for name in ("num_envs", "transitions_per_update", "updates", "ppo_epochs", "minibatch_size",
                     "grad_accum_steps", "max_new_tokens", "checkpoint_every"):
            check_int(name, getattr(self, name), low=1)
        if self.episodes_per_update is not None:
            check_int("episodes_per_update", self.episodes_per_update, low=1)
        if self.lr_max_steps is None:
            self.lr_max_steps = AUTHORS_LR_MAX_STEPS[self.task]
        check_int("lr_max_steps", self.lr_max_steps, low=1)
        if not self.temperature > 0:
            raise ValueError(f"temperature={self.temperature} is not valid; PPO samples, so it must be > 0")
        if isinstance(self.logprob_temperature, str):
            check_choice("logprob_temperature", self.logprob_temperature, ("sampling",))
        elif not self.logprob_temperature > 0:
            raise ValueError(f"logprob_temperature={self.logprob_temperature} is not valid; "
                             "use 'sampling' or a number > 0")
        self.value_head_widths = tuple(self.value_head_widths)

    @property
    def scoring_temperature(self) -> float:
        """The temperature old and new log-probs are taken at (see ``logprob_temperature``)."""
        return self.temperature if self.logprob_temperature == "sampling" else float(self.logprob_temperature)

    def learning_rate(self, base_lr: float, update: int, step: int = 0, steps: int = 1) -> float:
        """The rate for optimizer step ``step`` of ``steps`` in update ``update`` (0-based) of a group
        whose initial rate is ``base_lr`` (see ``lr_schedule``)."""
        if self.lr_schedule == "constant":
            return base_lr
        if self.lr_schedule == "authors":  # CosineAnnealingLR's closed form, stepped once per update
            return self.lr_min + (base_lr - self.lr_min) * (1 + math.cos(math.pi * update / self.lr_max_steps)) / 2
        progress = (update + step / max(steps, 1)) / self.updates
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    @classmethod
    def paper(cls, task: str, modality: str, **overrides: Any) -> "PPOConfig":
        """The paper's recipe for one of the four tasks (8 processes x 256 transitions per update)."""
        check_choice("modality", modality, ("language", "vision"))
        lr = 1e-7 if (task, modality) == ("virl", "vision") else 1e-6
        base = dict(task=task, env_kwargs={"modality": modality}, lr=lr, updates=20 if task == "gp" else 15)
        return cls(**{**base, **overrides})

    @classmethod
    def tiny(cls, task: str, modality: str, **overrides: Any) -> "PPOConfig":
        """A CPU preset for the ``tiny`` models: minutes per run on 2 cores.

        Differences from the paper's recipe, and why: far fewer transitions per update (CPU
        time); larger micro-batches and fewer accumulation steps (per-sample backward passes
        would waste the CPU); a larger learning rate and a looser gradient clip (a 4M-parameter
        model fresh from a short SFT needs larger steps than an 11B one: at the paper's 1e-6 and
        0.01 nothing moves in a few updates); shorter answers (a tiny GP answer is ~55 tokens, a V-IRL one ~45).
        The learning rate, 6e-6, was set on in-distribution diagnostics: with the authors' tempered
        log-probs (logits / 0.2, which multiplies the policy gradient by 5) 3e-5 gave approximate
        KL 0.1-1.1 and clip fractions 0.45-0.78 per update (the policy left the trust region).
        """
        check_choice("modality", modality, ("language", "vision"))
        base = dict(
            task=task, env_kwargs={"modality": modality}, num_envs=32, transitions_per_update=128,
            max_new_tokens=72 if task == "gp" else 96, updates=8, ppo_epochs=2, minibatch_size=16,
            grad_accum_steps=2, lr=6e-6, value_lr=1e-3, max_grad_norm=1.0, value_head_widths=(128, 64),
        )
        return cls(**{**base, **overrides})

    @classmethod
    def small(cls, task: str, modality: str = "language", **overrides: Any) -> "PPOConfig":
        """The ``small`` scale (SmolLM2-135M, text only): the paper's recipe sized for one GPU.

        Differences from the paper's recipe, and why: one process with 256 transitions per update
        (not 8 x 256: one GPU); micro-batches of 8 with 8 accumulation steps (a 135M model fits
        many samples per pass; 4 optimizer steps per epoch, as the paper's 2048 / 1024 x 2); a
        learning rate of 1e-5 and a gradient clip of 1.0 (a 135M model after a short SFT needs
        larger steps than an 11B one); answers up to 128 tokens (a GP answer is ~55 tokens).
        """
        check_choice("modality", modality, ("language",))
        base = dict(task=task, env_kwargs={"modality": modality}, num_envs=32, transitions_per_update=256,
                    max_new_tokens=128, updates=20 if task == "gp" else 15, minibatch_size=8, grad_accum_steps=8,
                    lr=1e-5, value_lr=1e-4, max_grad_norm=1.0, value_head_widths=(256, 128))
        return cls(**{**base, **overrides})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PPOConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# ================================================================================ the algorithm
def compute_gae(
    rewards: Sequence[float],
    values: Sequence[float],
    episode_ids: Sequence[int],
    terminated: Sequence[bool],
    *,
    gamma: float,
    lam: float,
    bootstrap_across_episodes: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimation over a buffer of whole episodes, turn by turn.

    Args:
        rewards, values: ``(N,)`` reward of each transition and the critic's value of its prompt.
        episode_ids: ``(N,)`` episode of each transition; an episode's turns are contiguous and in order.
        terminated: ``(N,)`` whether the transition ended its episode by termination (not truncation).
        gamma, lam: discount and GAE lambda.
        bootstrap_across_episodes: let a *truncated* episode's last turn bootstrap from the next
            transition in the buffer (the authors' buffer behaviour); by default every episode
            ends with a next value of 0.

    Returns:
        ``(advantages, returns)``, each ``(N,)`` float64, with ``returns = advantages + values``.
    """
    n = len(rewards)
    adv = np.zeros(n)
    last = 0.0
    for t in reversed(range(n)):
        last_turn = t == n - 1 or episode_ids[t + 1] != episode_ids[t]
        if not last_turn:
            nonterminal, next_value = 1.0, values[t + 1]
        elif bootstrap_across_episodes and t < n - 1 and not terminated[t]:
            nonterminal, next_value = 1.0, values[t + 1]
        else:
            nonterminal, next_value, last = 0.0, 0.0, 0.0
        delta = rewards[t] + gamma * next_value * nonterminal - values[t]
        last = delta + gamma * lam * nonterminal * last
        adv[t] = last
    return adv, adv + np.asarray(values, dtype=np.float64)


def ppo_losses(
    new_logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    new_values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    *,
    clip_coef: float,
    value_clip_coef: float | None,
    weights: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The clipped PPO objective (CleanRL's), for sequence- or token-level ratios.

    Args:
        new_logp, old_logp: log-probs of the taken actions under the current and the rollout
            policy: ``(B,)`` for sequence ratios, or ``(B, T)`` for token ratios.
        advantages: ``(B,)`` (broadcast over tokens for token ratios).
        new_values, old_values, returns: ``(B,)`` critic outputs now and at rollout, GAE returns.
        clip_coef: policy ratio clip; value_clip_coef: value clip (``None``: unclipped).
        weights: ``(B, T)`` token weights (answer mask x thought weights) for token ratios.

    Returns:
        ``policy_loss``, ``value_loss`` (scalars: means over the batch; token ratios: the policy
        loss is the weighted mean over all tokens), their per-sample terms ``policy_per_sample``
        and ``value_per_sample`` ``(B,)`` (token ratios: a sample's weighted token mean; the
        trainer weights these to average over a whole accumulation window), and diagnostics
        ``approx_kl`` (the k3 estimator ``(r - 1) - log r``), ``clip_frac`` and ``ratio_mean``
        (scalars) with their per-sample versions ``*_per_sample``.
    """
    log_ratio = new_logp - old_logp
    ratio = log_ratio.exp()
    adv = advantages if new_logp.dim() == 1 else advantages.unsqueeze(-1)
    pg = torch.max(-adv * ratio, -adv * ratio.clamp(1 - clip_coef, 1 + clip_coef))

    def mean(x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 1 or weights is None:
            return x.mean()
        return (x * weights).sum() / weights.sum().clamp(min=1e-8)

    def per_sample(x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 1:
            return x
        if weights is None:
            return x.mean(-1)
        return (x * weights).sum(-1) / weights.sum(-1).clamp(min=1e-8)

    v_loss = (new_values - returns) ** 2
    if value_clip_coef is not None:
        v_clipped = old_values + (new_values - old_values).clamp(-value_clip_coef, value_clip_coef)
        v_loss = torch.max(v_loss, (v_clipped - returns) ** 2)
    out = {"policy_loss": mean(pg), "value_loss": 0.5 * v_loss.mean(),
           "policy_per_sample": per_sample(pg), "value_per_sample": 0.5 * v_loss}
    with torch.no_grad():
        kl, clipped = (ratio - 1) - log_ratio, ((ratio - 1).abs() > clip_coef).float()
        for name, x in (("approx_kl", kl), ("clip_frac", clipped), ("ratio_mean", ratio.detach())):
            out[name] = mean(x)
            out[f"{name}_per_sample"] = per_sample(x)
    return out


def thought_weights(tokenizer, answer_ids: Sequence[Sequence[int]], key: str, thought_coef: float,
                    length: int) -> torch.Tensor:
    """``(B, length)`` token weights: ``thought_coef`` before ``key`` in the decoded answer, 1 after.

    The split token is the first whose decoded prefix contains the start of ``key`` (binary search
    over prefixes: O(T log T) decodes). An answer without ``key`` is all thought. Padding gets 0.
    """
    out = torch.zeros(len(answer_ids), length)
    for i, ids in enumerate(answer_ids):
        ids = list(ids)
        text = tokenizer.decode(ids, skip_special_tokens=True)
        at = text.find(key)
        split = len(ids)
        if at >= 0:
            lo, hi = 0, len(ids)  # smallest k whose decoded prefix reaches past position `at`
            while lo < hi:
                mid = (lo + hi) // 2
                if len(tokenizer.decode(ids[: mid + 1], skip_special_tokens=True)) > at:
                    hi = mid
                else:
                    lo = mid + 1
            split = lo
        out[i, :split] = thought_coef
        out[i, split : len(ids)] = 1.0
    return out


# ================================================================================== the trainer
@dataclass(frozen=True)
class UpdatePlan:
    """How the PPO epochs of one update run, identical on every process (see :func:`plan_update`).

    Attributes:
        counts: transitions collected by each process (rank order).
        minibatch_size: transitions per micro-batch (one forward/backward).
        grad_accum_steps: micro-batches per accumulation window (one optimizer step each).
        epochs: PPO epochs.
    """

    counts: tuple[int, ...]
    minibatch_size: int
    grad_accum_steps: int
    epochs: int

    @property
    def micro_batches(self) -> int:
        """Micro-batches per epoch on *every* process: the largest process's share."""
        return max(math.ceil(n / self.minibatch_size) for n in self.counts)

    def windows(self) -> list[range]:
        """The accumulation windows of an epoch, as ranges of micro-batch indices (the last may be short)."""
        m, a = self.micro_batches, self.grad_accum_steps
        return [range(i, min(i + a, m)) for i in range(0, m, a)]

    @property
    def optimizer_steps(self) -> int:
        """Optimizer steps of the update: epochs x windows, from the transitions really collected."""
        return self.epochs * len(self.windows())

    def real(self, rank: int, micro: int) -> int:
        """Real (non-padding) transitions in micro-batch ``micro`` of process ``rank``."""
        return max(0, min(self.minibatch_size, self.counts[rank] - micro * self.minibatch_size))

    def window_samples(self, window: range) -> int:
        """Real transitions in a window, over all processes: the denominator of its mean gradient."""
        return sum(self.real(r, j) for r in range(len(self.counts)) for j in window)


def plan_update(counts: Sequence[int], config: "PPOConfig") -> UpdatePlan:
    """The plan every process follows for an update whose processes collected ``counts`` transitions."""
    if min(counts) < 1:
        raise RuntimeError(f"a process collected no transition ({list(counts)}); every process must play an episode")
    return UpdatePlan(tuple(int(n) for n in counts), config.minibatch_size, config.grad_accum_steps, config.ppo_epochs)


@dataclass
class UpdateBatch:
    """One rollout, recomputed and with advantages: the tensors the PPO epochs iterate over.

    ``N`` transitions, ``T`` longest answer.
    """

    transitions: list[Transition]
    answer_ids: list[list[int]]
    weights: torch.Tensor  # (N, T) token weights (thought_coef / 1 / 0 on padding)
    old_token_logp: torch.Tensor  # (N, T)
    old_values: torch.Tensor  # (N,)
    ref_token_logp: torch.Tensor | None  # (N, T) under the init policy (KL penalty only)
    advantages: torch.Tensor  # (N,)
    returns: torch.Tensor  # (N,)
    prompt_lens: list[int]  # (N,) prompt tokens of each transition (compute accounting)


def _chunk(order: Sequence[int], size: int) -> list[list[int]]:
    return [list(order[i : i + size]) for i in range(0, len(order), size)]


class ActorCritic(torch.nn.Module):
    """The policy model and its value head as one module (one DDP / DeepSpeed engine for both).

    ``forward`` is the policy model's (so :meth:`Policy.score` can run through the wrapped
    engine); the critic is applied to the hidden state that forward returns.
    """

    def __init__(self, policy_model: torch.nn.Module, value_head: torch.nn.Module) -> None:
        super().__init__()
        self.policy_model = policy_model
        self.value_head = value_head

    def forward(self, *args: Any, **kwargs: Any):
        return self.policy_model(*args, **kwargs)


#: Per-sample diagnostics summed over real transitions and averaged over all processes.
_DIAG = ("policy_loss", "value_loss", "approx_kl", "clip_frac", "ratio_mean", "entropy", "kl_to_init")


class PPOTrainer:
    """Multi-turn PPO on a :class:`~sftrl_repro.models.Policy` (see the module docstring).

    Args:
        policy: the policy to train (its ``model`` is updated in place). Under several processes,
            load it on ``accelerator.device`` (``load_policy(..., device=accelerator.device)``).
        config: a :class:`PPOConfig`.
        run: the run folder (``experiments.Run``): metrics and checkpoints go there; an existing
            run resumes from its last checkpoint.
        make_env: builds one training environment; default: the task's env with ``config.env_kwargs``.
        evaluate: optional ``f(policy, update) -> dict`` called on every process after each
            checkpoint (it may shard the work across processes); its numbers are logged with the
            update's metrics.
        compute_meter: a :class:`~sftrl_repro.flops.ComputeMeter` to continue (e.g. the SFT init
            run's, so that D_init is counted); default: a fresh one. Its totals are logged with
            every update under ``"compute"`` (all conventions) and ``"gflops"`` (the paper's).
        accelerator: an ``accelerate.Accelerator`` made before the policy was loaded (so that the
            policy could be put on its device); default: a new one for the policy's device.
        progress: show progress bars.
    """

    def __init__(self, policy, config: PPOConfig, run: Run, *, make_env: Callable[[], Any] | None = None,
                 evaluate: Callable[[Any, int], dict] | None = None, compute_meter: Any = None,
                 accelerator: Any = None, progress: bool = True) -> None:
        from accelerate import Accelerator

        from sftrl_repro.flops import ComputeMeter
        from sftrl_repro.flops.arch import arch_from_model
        from sftrl_repro.models import ValueHead

        self.policy, self.config, self.run = policy, config, run
        self.evaluate, self.progress = evaluate, progress
        self.meter = compute_meter or ComputeMeter.for_model(policy.model, config.task)
        self.make_env = make_env or _default_env_factory(config)
        self.accelerator = accelerator or Accelerator(cpu=policy.device.type == "cpu")
        acc = self.accelerator
        if policy.device != acc.device and not (policy.device.type == acc.device.type == "cpu"):
            raise ValueError(f"the policy is on {policy.device} but this process trains on {acc.device}; "
                             "load it with load_policy(..., device=accelerator.device)")
        if config.episodes_per_update is not None and config.episodes_per_update < acc.num_processes:
            raise ValueError(f"episodes_per_update={config.episodes_per_update} is not valid with "
                             f"{acc.num_processes} processes; every process needs at least one episode")
        # A vision policy on a text task: what text never reaches gets no gradient; freeze it (DDP needs it).
        self.frozen = policy.freeze_vision() if config.env_kwargs.get("modality", "language") == "language" else []
        torch.manual_seed(config.seed)  # critic initialisation
        value_head = ValueHead(policy.hidden_size, config.value_head_widths).to(policy.device)
        self.reference = None
        if config.kl_coef > 0:  # a frozen copy of the starting policy
            import copy

            self.reference = copy.deepcopy(policy.model).eval().requires_grad_(False)
        # One module for actor and critic: DeepSpeed (paper scale) drives exactly one engine.
        actor_critic = ActorCritic(policy.model, value_head)
        value_lr = config.value_lr if config.value_lr is not None else config.lr
        self.base_lrs = [config.lr, value_lr]
        optimizer = torch.optim.Adam(
            [{"params": [p for p in policy.model.parameters() if p.requires_grad], "lr": config.lr},
             {"params": list(value_head.parameters()), "lr": value_lr}],
            eps=config.adam_eps,
        )
        self.deepspeed = acc.distributed_type == DistributedType.DEEPSPEED
        if self.deepspeed:
            # No dataloader goes through prepare(), so DeepSpeed's batch geometry comes from the
            # PPO config. The trainer tells the engine every accumulation boundary itself
            # (set_gradient_accumulation_boundary) and weights the loss over the whole window, so
            # the engine must not divide by its accumulation count (backward(scale_wrt_gas=False));
            # the engine clips at max_grad_norm. No scheduler is handed over: the rate is set per
            # update in the optimizer's param groups.
            ds = acc.state.deepspeed_plugin.deepspeed_config
            ds["train_micro_batch_size_per_gpu"] = config.minibatch_size
            ds["gradient_accumulation_steps"] = config.grad_accum_steps
            ds["gradient_clipping"] = config.max_grad_norm
            ds.pop("train_batch_size", None)
        self.model, self.optimizer = acc.prepare(actor_critic, optimizer)
        self.value_head = acc.unwrap_model(self.model).value_head
        self.start_update = 0
        if run.latest_step() is not None:
            acc.load_state(str(run.checkpoint_dir(run.latest_step()) / "state"))
            self.start_update = run.latest_step()
            logged = [m for m in run.metrics() if m["step"] == self.start_update and "compute" in m]
            if logged:  # the compute counted up to the checkpoint
                self.meter = ComputeMeter.from_dict(logged[-1]["compute"], arch_from_model(policy.model))

    # ------------------------------------------------------------------------------ helpers
    def _gather(self, obj: Any) -> list[Any]:
        """``obj`` of every process, in rank order (a one-element list with one process)."""
        return gather_object([obj]) if self.accelerator.num_processes > 1 else [obj]

    def _set_lr(self, update: int, step: int, steps: int) -> list[float]:
        rates = [self.config.learning_rate(base, update, step, steps) for base in self.base_lrs]
        for group, rate in zip(self.optimizer.param_groups, rates):
            group["lr"] = rate
        return rates

    # ------------------------------------------------------------------------------- phase 1
    def rollout(self, update: int) -> list[Transition]:
        """Play this process's share of the update's episodes (global episode ``k`` on rank ``k % world``)."""
        cfg, acc = self.config, self.accelerator
        world, rank = acc.num_processes, acc.process_index
        if cfg.episodes_per_update is not None:
            seeds, target = training_seeds(cfg.seed, update, cfg.episodes_per_update)[rank::world], None
        else:  # far more seeds than needed; each process stops starting episodes at its share
            target = math.ceil(cfg.transitions_per_update / world)
            seeds = training_seeds(cfg.seed, update, 4 * cfg.transitions_per_update + 4 * world)[rank::world]
        self.policy.model.eval()
        return collect(
            self.policy, self.make_env, seeds, num_envs=cfg.num_envs, min_transitions=target,
            temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens, generation_seed=cfg.seed,
            generate_kwargs={"top_k": cfg.top_k, "top_p": cfg.top_p},
            progress=f"update {update + 1} rollout" if self.progress and acc.is_main_process else False,
        )

    def micro_batch_orders(self, n: int, update: int) -> list[list[list[int]]]:
        """Per epoch, this process's micro-batches (lists of transition indices), shuffled per epoch."""
        cfg = self.config
        gen = torch.Generator().manual_seed(cfg.seed * 104_729 + update * 8191 + self.accelerator.process_index)
        return [_chunk(torch.randperm(n, generator=gen).tolist(), cfg.minibatch_size) for _ in range(cfg.ppo_epochs)]

    # ------------------------------------------------------------------------------- phase 2-3
    @torch.no_grad()
    def prepare_batch(self, transitions: list[Transition], micro_batches: list[list[int]] | None = None) -> UpdateBatch:
        """Recompute old log-probs and values with the training forward, then GAE.

        ``micro_batches``: the first epoch's micro-batches, so that each old log-prob comes from
        the very forward pass (same batch composition and padding) the first epoch trains on;
        default: consecutive micro-batches of ``minibatch_size``.
        """
        cfg = self.config
        answer_ids = [t.answer_ids for t in transitions]
        length = max(len(a) for a in answer_ids)
        weights = thought_weights(self.policy.tokenizer, answer_ids, THOUGHT_KEYS[cfg.task], cfg.thought_coef, length)
        old_logp = torch.zeros(len(transitions), length)
        values = torch.zeros(len(transitions))
        ref_logp = torch.zeros(len(transitions), length) if self.reference is not None else None
        prompt_lens = [0] * len(transitions)
        self.model.eval()
        for idx in micro_batches or _chunk(range(len(transitions)), cfg.minibatch_size):
            chunk = [transitions[i] for i in idx]
            scores = self._score(chunk)
            n = scores.logprobs.shape[1]
            old_logp[idx, :n] = scores.logprobs.float().cpu()
            values[idx] = self.value_head(scores.prompt_hidden).float().cpu()
            encoded = self.policy.encode_prompts([t.conversation for t in chunk],
                                                 [t.image for t in chunk] if chunk[0].image is not None else None)
            for i, m in zip(idx, encoded["attention_mask"].sum(1).tolist()):
                prompt_lens[i] = int(m)
            if ref_logp is not None:
                ref = self._score(chunk, model=self.reference)
                ref_logp[idx, :n] = ref.logprobs.float().cpu()
        adv, ret = compute_gae(
            [t.reward for t in transitions], values.tolist(), [t.episode for t in transitions],
            [t.terminated for t in transitions], gamma=cfg.gamma, lam=cfg.gae_lambda,
            bootstrap_across_episodes=cfg.bootstrap_across_episodes,
        )
        advantages = torch.as_tensor(adv, dtype=torch.float32)
        if cfg.norm_adv:
            advantages = self._normalise(advantages)
        return UpdateBatch(transitions, answer_ids, weights, old_logp, values, ref_logp, advantages,
                           torch.as_tensor(ret, dtype=torch.float32), prompt_lens)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise with statistics over *all* processes' transitions (so the global batch decides)."""
        acc = self.accelerator
        stats = torch.stack([x.sum(), (x * x).sum(), torch.tensor(float(len(x)))]).double().to(acc.device)
        total = acc.reduce(stats, reduction="sum") if acc.num_processes > 1 else stats
        total = total.cpu()
        mean = total[0] / total[2]
        var = (total[1] / total[2] - mean * mean).clamp(min=0) * total[2] / (total[2] - 1).clamp(min=1)
        return ((x.double() - mean) / (var.sqrt() + 1e-8)).float()

    def _score(self, transitions: list[Transition], model=None, entropy: str | None = None):
        images = [t.image for t in transitions] if transitions[0].image is not None else None
        return self.policy.score([t.conversation for t in transitions], [t.answer_ids for t in transitions],
                                 images, model=model if model is not None else self.model,
                                 temperature=self.config.scoring_temperature, entropy=entropy)

    # ------------------------------------------------------------------------------- phase 4
    def _micro_loss(self, batch: UpdateBatch, idx: list[int], scale: float, sums: Counter) -> torch.Tensor:
        """The loss of one micro-batch: per-sample PPO terms summed and multiplied by ``scale``."""
        cfg = self.config
        scores = self._score([batch.transitions[i] for i in idx], entropy="grad" if cfg.ent_coef else "value")
        n = scores.logprobs.shape[1]
        w = batch.weights[idx, :n].to(scores.logprobs.device)
        new_tok = scores.logprobs.float()
        old_tok = batch.old_token_logp[idx, :n].to(new_tok.device)
        if cfg.ratio_level == "sequence":
            new_lp, old_lp = (new_tok * w).sum(-1), (old_tok * w).sum(-1)
        else:
            new_lp, old_lp = new_tok, old_tok
        new_v = self.value_head(scores.prompt_hidden).float()
        dev = new_v.device
        out = ppo_losses(
            new_lp, old_lp, batch.advantages[idx].to(dev), new_v, batch.old_values[idx].to(dev),
            batch.returns[idx].to(dev), clip_coef=cfg.clip_coef, value_clip_coef=cfg.value_clip_coef,
            weights=w if cfg.ratio_level == "token" else None,
        )
        mask = (w > 0).float()
        tokens = mask.sum(-1).clamp(min=1)
        entropy = (scores.entropy * mask).sum(-1) / tokens  # (B,) mean entropy per answer token
        per_sample = out["policy_per_sample"] + cfg.vf_coef * out["value_per_sample"]
        if cfg.ent_coef:
            per_sample = per_sample - cfg.ent_coef * entropy
        if batch.ref_token_logp is not None:
            ref = batch.ref_token_logp[idx, :n].to(dev)
            kl = ((((ref - new_tok).exp() - (ref - new_tok) - 1) * mask).sum(-1) / tokens)  # k3 per token
            per_sample = per_sample + cfg.kl_coef * kl
            if scale:
                sums["kl_to_init"] += float(kl.detach().sum())
        if scale:  # diagnostics of real samples only
            for k in ("policy", "value"):
                sums[f"{k}_loss"] += float(out[f"{k}_per_sample"].detach().sum())
            for k in ("approx_kl", "clip_frac", "ratio_mean"):
                sums[k] += float(out[f"{k}_per_sample"].sum())
            sums["entropy"] += float(entropy.detach().sum())
            sums["samples"] += len(idx)
        return per_sample.sum() * scale

    def optimise(self, batch: UpdateBatch, update: int, plan: UpdatePlan | None = None,
                 orders: list[list[list[int]]] | None = None) -> dict[str, float]:
        """``ppo_epochs`` passes of clipped PPO over the batch, following ``plan``; returns diagnostics.

        Every process runs ``plan.micro_batches`` micro-batches per epoch (padding micro-batches
        have weight 0) and one optimizer step per accumulation window; a sample's loss is
        weighted by ``world / (real samples of its window over all processes)``, so after the
        gradient average over processes each step follows the mean gradient of its window.
        """
        cfg, acc = self.config, self.accelerator
        n = len(batch.transitions)
        plan = plan or plan_update([n], cfg)
        orders = orders or self.micro_batch_orders(n, update)
        world = acc.num_processes
        sums: Counter = Counter()
        norms: list[float] = []
        rates: list[list[float]] = []
        self.model.train()
        step = 0
        first_step_ratio_dev = 0.0
        for epoch in range(cfg.ppo_epochs):
            for window in plan.windows():
                denominator = plan.window_samples(window)
                for j in window:
                    boundary = j == window[-1]
                    real = j < len(orders[epoch])
                    idx = orders[epoch][j] if real else orders[0][0][:1]  # padding: any sample, weight 0
                    scale = world / denominator if real else 0.0
                    before = Counter(sums)
                    if self.deepspeed:
                        engine = self.model
                        engine.set_gradient_accumulation_boundary(boundary)
                        loss = self._micro_loss(batch, idx, scale, sums)
                        engine.backward(loss, scale_wrt_gas=False)
                    else:
                        sync = boundary or world == 1
                        with nullcontext() if sync else acc.no_sync(self.model):
                            loss = self._micro_loss(batch, idx, scale, sums)
                            acc.backward(loss)
                    if step == 0 and epoch == 0 and real:  # no step taken yet: the ratio must be 1
                        k = sums["samples"] - before["samples"]
                        first_step_ratio_dev = max(first_step_ratio_dev,
                                                   abs((sums["ratio_mean"] - before["ratio_mean"]) / max(k, 1) - 1))
                rates.append(self._set_lr(update, step, plan.optimizer_steps))
                if self.deepspeed:
                    self.model.step()
                    norms.append(float(self.model.get_global_grad_norm() or 0.0))
                else:
                    norms.append(self._step())
                step += 1
        totals = torch.tensor([float(sums[k]) for k in (*_DIAG, "samples")], dtype=torch.float64)
        if world > 1:
            totals = acc.reduce(totals.to(acc.device), reduction="sum").cpu()
        samples = max(float(totals[-1]), 1.0)
        diag = {k: float(v) / samples for k, v in zip(_DIAG, totals[:-1].tolist())}
        if self.reference is None:
            diag.pop("kl_to_init")
        diag.update(grad_norm=sum(norms) / len(norms), optimizer_steps=step, micro_batches=plan.micro_batches,
                    lr=rates[0][0], lr_end=rates[-1][0], value_lr=rates[0][1],
                    first_step_ratio_dev=float(first_step_ratio_dev))
        return diag

    def _step(self) -> float:
        acc = self.accelerator
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        norm = acc.clip_grad_norm_(params, self.config.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(norm) if norm is not None else float("nan")

    # --------------------------------------------------------------------------------- the loop
    def train(self) -> list[dict[str, Any]]:
        """Run (or resume) every update; returns the metrics of all updates."""
        cfg, acc = self.config, self.accelerator
        for update in range(self.start_update, cfg.updates):
            t0 = time.perf_counter()
            transitions = self.rollout(update)
            t1 = time.perf_counter()
            counts = self._gather(len(transitions))
            plan = plan_update(counts, cfg)
            orders = self.micro_batch_orders(len(transitions), update)
            batch = self.prepare_batch(transitions, orders[0])
            t2 = time.perf_counter()
            diag = self.optimise(batch, update, plan, orders)
            t3 = time.perf_counter()
            metrics = {**self.rollout_metrics(transitions), **diag, **self.value_metrics(batch),
                       "transitions_per_process": list(counts),
                       "time_rollout_s": t1 - t0, "time_recompute_s": t2 - t1, "time_optimise_s": t3 - t2}
            self.count_compute(batch)
            metrics["compute"] = self.meter.to_dict()
            metrics["gflops"] = self.meter.flops() / 1e9
            step = update + 1
            checkpoint = step % cfg.checkpoint_every == 0 or step == cfg.updates
            if checkpoint and self.evaluate is not None:
                self.policy.model.eval()
                metrics.update(self.evaluate(self.policy, step))
            # Log first, checkpoint second: a kill in between only loses work that the resume
            # redoes (lines after the last checkpoint are dropped), never a logged line.
            if acc.is_main_process:
                self.run.log(step, update=step, **metrics)
            if checkpoint:
                self.save(step)
            acc.wait_for_everyone()
        if acc.is_main_process:
            self.run.mark_done({"updates": cfg.updates})
        return self.run.metrics()

    def rollout_metrics(self, transitions: list[Transition]) -> dict[str, float]:
        """:func:`rollout_metrics` over every process's transitions."""
        local = _rollout_counts(transitions)
        return _rollout_summary(self._gather(local))

    def value_metrics(self, batch: UpdateBatch) -> dict[str, float]:
        """The critic's values and the returns, over every process's transitions."""
        rows = self._gather((batch.old_values.tolist(), batch.returns.tolist()))
        v = torch.tensor([x for r in rows for x in r[0]], dtype=torch.float64)
        r = torch.tensor([x for r in rows for x in r[1]], dtype=torch.float64)
        var_r = r.var(unbiased=False)
        explained = float(1 - (r - v).var(unbiased=False) / var_r) if var_r > 0 else float("nan")
        return {"value_mean": float(v.mean()), "return_mean": float(r.mean()),
                "return_std": float(r.std(unbiased=False)), "explained_variance": explained}

    def count_compute(self, batch: UpdateBatch) -> None:
        """Add this update's generations, recompute pass and PPO epochs (all processes) to the meter."""
        local = [(p, len(a), int(t.image is not None)) for p, a, t in
                 zip(batch.prompt_lens, batch.answer_ids, batch.transitions)]
        rows = gather_object(local) if self.accelerator.num_processes > 1 else local
        prompts, answers, images = ([r[i] for r in rows] for i in range(3))
        seq = [p + a for p, a in zip(prompts, answers)]
        self.meter.add_generations(prompts, answers, images)
        self.meter.add_logprob_pass(seq, images)
        for _ in range(self.config.ppo_epochs):
            self.meter.add_ppo_epoch(seq, images)

    def save(self, step: int) -> Path:
        """Checkpoint ``step``: accelerate state (weights, critic, optimizer, scheduler) + HF policy."""
        acc = self.accelerator

        def write(folder: Path) -> None:
            acc.save_state(str(folder / "state"))
            if acc.is_main_process:
                self.policy.save(folder / "policy")
                torch.save(self.value_head.state_dict(), folder / "value_head.pt")

        acc.wait_for_everyone()
        if acc.num_processes == 1:
            return self.run.save_checkpoint(step, write)
        # Several processes: all write into the same temporary folder, the main one publishes it.
        folder = self.run.checkpoint_dir(step)
        tmp = folder.with_name(f".tmp-{folder.name}")
        if acc.is_main_process:
            tmp.mkdir(parents=True, exist_ok=True)
        acc.wait_for_everyone()
        write(tmp)
        acc.wait_for_everyone()
        if acc.is_main_process:
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        acc.wait_for_everyone()
        return folder


# ================================================================================== metrics
def _rollout_counts(transitions: list[Transition]) -> dict[str, Any]:
    return {"transitions": len(transitions), "episodes": len({t.episode for t in transitions}),
            "successes": len({t.episode for t in transitions if t.info.get("success")}),
            "reward_sum": sum(t.reward for t in transitions),
            "turns_sum": sum(t.turn + 1 for t in transitions if t.done),
            "outcomes": dict(Counter(t.info.get("outcome", "unknown") for t in transitions))}


def _rollout_summary(parts: Sequence[dict[str, Any]]) -> dict[str, float]:
    total: Counter = Counter()
    outcomes: Counter = Counter()
    for p in parts:
        total.update({k: v for k, v in p.items() if k != "outcomes"})
        outcomes.update(p["outcomes"])
    n, e = max(total["transitions"], 1), max(total["episodes"], 1)
    out = {"rollout_transitions": total["transitions"], "rollout_episodes": total["episodes"],
           "reward_mean": total["reward_sum"] / n, "success_rate": total["successes"] / e,
           "turns_per_episode": total["turns_sum"] / e}
    out.update({f"outcome_{k}": outcomes[k] / n for k in sorted(outcomes)})
    return out


def rollout_metrics(transitions: list[Transition]) -> dict[str, float]:
    """Reward, success and outcome shares of a rollout (one process's; the trainer gathers all)."""
    return _rollout_summary([_rollout_counts(transitions)])


def _default_env_factory(config: PPOConfig) -> Callable[[], Any]:
    import gymnasium as gym

    import sftrl_repro  # noqa: F401  (registers the ids)
    from sftrl_repro.envs import GENERAL_POINTS_ID, VIRL_ID

    env_id = GENERAL_POINTS_ID if config.task == "gp" else VIRL_ID
    return lambda: gym.make(env_id, **config.env_kwargs).unwrapped


# ================================================================================ command line
def _parse_value(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: Sequence[str] | None = None):
    """``python -m sftrl_repro.trainers.ppo``: one PPO run from an SFT init, every checkpoint evaluated.

    The run is :func:`sftrl_repro.experiments.rl.run_rl_experiment`'s (the notebooks' function):
    it writes ``--run-dir`` (default ``runs/ppo/<scale>-<task>-<variant>-seed<seed>-sft<steps>-<updates>updates``,
    the folder the notebooks read): ``metrics.jsonl`` (one line per update with ``update`` and
    ``lr``, the rate used), ``checkpoints/``, ``eval/update_<k>.json`` (the init as update 0) and
    ``DONE``. Killed and started again, it resumes from its last checkpoint. At the paper scale,
    under ``accelerate launch --config_file configs/accelerate_ppo_zero2.yaml`` (8 processes,
    DeepSpeed ZeRO-2 with CPU optimizer offload)::

        accelerate launch --config_file configs/accelerate_ppo_zero2.yaml -m sftrl_repro.trainers.ppo \
            --scale paper --task gp --variant l --sft-steps 1600 \
            --init runs/sft/paper-gp-l-seed0-1600steps/checkpoints/checkpoint-400
    """
    import argparse

    from sftrl_repro.experiments.rl import RLExperiment, run_rl_experiment
    from sftrl_repro.models.factory import BASES

    parser = argparse.ArgumentParser(prog="python -m sftrl_repro.trainers.ppo", description=main.__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("tiny", "small", "paper"), default="tiny")
    parser.add_argument("--task", choices=TASKS, default="gp")
    parser.add_argument("--variant", choices=("l", "vl"), default="l")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base", choices=BASES, default="pretrained",
                        help="tiny only: the base the SFT init starts from (default: the pretrained tiny base; "
                             "'isolated': the 'isolated' recipe's base; 'random': quick process checks)")
    parser.add_argument("--init", default=None,
                        help="SFT checkpoint folder to start from (default: this experiment's SFT run, trained if missing)")
    parser.add_argument("--sft-steps", type=int, default=120, help="steps of the SFT run (the run id; the init when --init is not given)")
    parser.add_argument("--updates", type=int, default=None, help="PPO updates (default: the paper's, 20 GP / 15 V-IRL; tiny 8)")
    parser.add_argument("--eval-n", type=int, default=None, help="episodes per split and checkpoint (default: the paper's 234 / 48; tiny 64)")
    parser.add_argument("--splits", default=None, help="comma-separated evaluation splits (default: id,rule_ood[,visual_ood])")
    parser.add_argument("--greedy-eval", action="store_true", help="evaluate greedily instead of the authors' sampling")
    parser.add_argument("--run-dir", default=None, help="the run folder (default: the notebooks' layout under runs/ppo/)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a PPOConfig field (JSON value), e.g. --set transitions_per_update=64")
    parser.add_argument("--lr", type=float, default=None, help="shorthand for --set lr=...")
    args = parser.parse_args(argv)
    names = {f.name for f in fields(PPOConfig)}
    overrides: dict[str, Any] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or key not in names:
            parser.error(f"--set {item!r} is not valid; use FIELD=VALUE with FIELD one of {sorted(names)}")
        overrides[key] = _parse_value(value)
    if args.lr is not None:
        overrides["lr"] = args.lr
    paper = args.scale == "paper"
    updates = args.updates or (PPOConfig.paper(args.task, "language").updates if paper else 8)
    eval_n = args.eval_n or ({"gp": 234, "virl": 48}[args.task] if paper else 64)
    exp = RLExperiment(task=args.task, variant=args.variant, scale=args.scale, seed=args.seed, sft_steps=args.sft_steps,
                       updates=updates, eval_n=eval_n, splits=tuple(args.splits.split(",")) if args.splits else None,
                       ppo_overrides=overrides, eval_max_new_tokens=256 if paper else 128, base=args.base,
                       init=args.init, eval_greedy=args.greedy_eval)
    table = run_rl_experiment(exp, run_dir=args.run_dir)
    from accelerate import PartialState

    if PartialState().is_main_process:
        print(table.to_string())
    return table


if __name__ == "__main__":
    main()
