"""``ComputeMeter``: the cumulative training compute of one run, kept by the trainers.

The SFT trainer calls :meth:`ComputeMeter.add_sft_step` once per optimizer step; the PPO trainer
calls :meth:`~ComputeMeter.add_generations` for every batch of rollouts, :meth:`~ComputeMeter.add_logprob_pass`
for the old log-prob / value pass and :meth:`~ComputeMeter.add_ppo_epoch` for each PPO epoch. At each
checkpoint they write :meth:`~ComputeMeter.to_dict` into the metrics log, so every figure can put
compute on its x-axis under any convention. A run that starts from the init checkpoint starts from a
copy of the init run's meter (``ComputeMeter.from_dict(init_metrics, arch)``), so D_init is counted;
a resumed run restores its meter the same way from its last checkpoint's metrics.

Conventions (``CONVENTIONS``): ``paper`` (6ND with the paper's lambda; the default of the figures),
``paper_measured`` (the same with lambda measured from the run's generations), ``exact`` (analytic
matmul FLOPs, FlopCounterMode's convention) and ``official`` (the authors' token counter x N).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sftrl_repro.flops import formulas, phases
from sftrl_repro.flops.arch import ModelArch, arch_from_model
from sftrl_repro.flops.measure import n_params as count_model_params
from sftrl_repro.utils.params import check_choice, check_int

CONVENTIONS = ("paper", "paper_measured", "exact", "official")
DEFAULT_CONVENTION = "paper"
PHASES = ("sft", "prefill", "decode", "logprob_value", "ppo_train")
_COUNTERS = (
    "tokens_sft",
    "tokens_rl",
    "generations",
    "generation_input_tokens",
    "generation_output_tokens",
    "official_tokens",
)


@lru_cache(maxsize=65536)
def _phase_flops(arch: ModelArch, phase: str, length: int, extra: int, images: int) -> int:
    # One sample's exact FLOPs in one phase (cached: trainers repeat the same lengths a lot).
    if phase == "sft":
        return phases.train_pass(arch, length, images=images).total(True)
    if phase == "prefill":
        return phases.prefill(arch, length, images=images).forward
    if phase == "decode":
        return phases.decode(arch, length, extra, images=images).forward
    if phase == "logprob_value":
        return phases.logprob_value_pass(arch, length, images=images).forward
    return phases.ppo_train_pass(arch, length, images=images).total(True)


def _lengths(name: str, values: Sequence[int]) -> list[int]:
    return [check_int(f"{name}[{i}]", v, low=0) for i, v in enumerate(values)]


def _images(images: int | Sequence[int], n: int) -> list[int]:
    if isinstance(images, int) and not isinstance(images, bool):
        return [check_int("images", images, low=0)] * n
    values = _lengths("images", images)
    if len(values) != n:
        raise ValueError(f"images has {len(values)} entries; it must have one per sample ({n})")
    return values


@dataclass
class ComputeMeter:
    """Cumulative compute of one run under every convention.

    Attributes:
        n_params: N, all parameters of the model (what the paper's formulas multiply).
        arch: the model's architecture, for the exact count.
        task: ``"gp"`` or ``"virl"``: selects the paper's lambda (6 or 5.1).
        tokens_sft: D_init + D_SFT: tokens of every SFT sample trained on (prompt + answer,
            +1600 per image), counted once per time a sample is trained on.
        tokens_rl: D_RL: tokens of every PPO sample trained on, counted once per PPO epoch
            (+1600 per image); the reading of D_RL that lands on the paper's axes.
        generations: generation calls (one per answer generated, retries included).
        generation_input_tokens: prompt tokens of all generation calls (+1600 per image).
        generation_output_tokens: tokens generated.
        official_tokens: the authors' token counter (prompt tokens once per generation call,
            6 x length per trained sample per epoch, +1600 per image).
        exact_flops: phase (``PHASES``) -> exact FLOPs so far.
    """

    n_params: int
    arch: ModelArch
    task: str = "gp"
    tokens_sft: int = 0
    tokens_rl: int = 0
    generations: int = 0
    generation_input_tokens: int = 0
    generation_output_tokens: int = 0
    official_tokens: int = 0
    exact_flops: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PHASES, 0))

    def __post_init__(self) -> None:
        check_choice("task", self.task, tuple(formulas.PAPER_LAMBDA))
        check_int("n_params", self.n_params, low=1)

    @classmethod
    def for_model(cls, model: Any, task: str = "gp") -> ComputeMeter:
        """An empty meter for a built model (N and architecture read from it)."""
        return cls(n_params=count_model_params(model), arch=arch_from_model(model), task=task)

    # -- recording ------------------------------------------------------------------------------

    def add_sft_step(self, seq_lens: Sequence[int], images: int | Sequence[int] = 0) -> None:
        """One SFT step: forward + backward over samples of ``seq_lens`` tokens (no padding)."""
        lens = _lengths("seq_lens", seq_lens)
        imgs = _images(images, len(lens))
        for n, k in zip(lens, imgs):
            self.tokens_sft += n + formulas.IMAGE_TOKENS * k
            self.official_tokens += formulas.official_training_tokens(n, k)
            self.exact_flops["sft"] += _phase_flops(self.arch, "sft", n, 0, k)

    def add_generations(
        self, prompt_lens: Sequence[int], new_tokens: Sequence[int], images: int | Sequence[int] = 0
    ) -> None:
        """Generation calls with a KV cache: prompt i of ``prompt_lens[i]`` tokens, ``new_tokens[i]`` generated."""
        prompts = _lengths("prompt_lens", prompt_lens)
        outputs = _lengths("new_tokens", new_tokens)
        if len(outputs) != len(prompts):
            raise ValueError(f"new_tokens has {len(outputs)} entries; it must have one per prompt ({len(prompts)})")
        imgs = _images(images, len(prompts))
        for p, a, k in zip(prompts, outputs, imgs):
            self.generations += 1
            self.generation_input_tokens += p + formulas.IMAGE_TOKENS * k
            self.generation_output_tokens += a
            self.official_tokens += formulas.official_generation_tokens(p, k)
            if a > 0:
                self.exact_flops["prefill"] += _phase_flops(self.arch, "prefill", p, 0, k)
                self.exact_flops["decode"] += _phase_flops(self.arch, "decode", p, a, k)

    def add_logprob_pass(self, seq_lens: Sequence[int], images: int | Sequence[int] = 0) -> None:
        """PPO's forward-only pass for old log-probs and values over samples of ``seq_lens`` tokens."""
        lens = _lengths("seq_lens", seq_lens)
        for n, k in zip(lens, _images(images, len(lens))):
            self.exact_flops["logprob_value"] += _phase_flops(self.arch, "logprob_value", n, 0, k)

    def add_ppo_epoch(self, seq_lens: Sequence[int], images: int | Sequence[int] = 0) -> None:
        """One PPO epoch: forward + backward (value head included) over samples of ``seq_lens`` tokens."""
        lens = _lengths("seq_lens", seq_lens)
        for n, k in zip(lens, _images(images, len(lens))):
            self.tokens_rl += n + formulas.IMAGE_TOKENS * k
            self.official_tokens += formulas.official_training_tokens(n, k)
            self.exact_flops["ppo_train"] += _phase_flops(self.arch, "ppo_train", n, 0, k)

    # -- reading --------------------------------------------------------------------------------

    @property
    def lambda_measured(self) -> float | None:
        """D_buffer / D_RL of this run, None before any PPO epoch."""
        if self.tokens_rl == 0:
            return None
        return (self.generation_input_tokens + self.generation_output_tokens) / self.tokens_rl

    def flops(self, convention: str = DEFAULT_CONVENTION) -> float:
        """Cumulative FLOPs under ``convention`` (one of ``CONVENTIONS``)."""
        check_choice("convention", convention, CONVENTIONS)
        n, d_train = self.n_params, self.tokens_sft + self.tokens_rl
        if convention == "paper":
            return formulas.rl_flops(n, self.tokens_sft, self.tokens_rl, formulas.paper_lambda(self.task))
        if convention == "paper_measured":
            d_buffer = self.generation_input_tokens + self.generation_output_tokens
            return formulas.TRAIN_FLOPS_PER_PARAM * n * d_train + formulas.INFER_FLOPS_PER_PARAM * n * d_buffer
        if convention == "exact":
            return sum(self.exact_flops.values())
        return formulas.official_flops(n, self.official_tokens)

    def to_dict(self) -> dict[str, Any]:
        """Flat scalars for a metrics log: every counter, and ``flops_<convention>`` for each convention."""
        out: dict[str, Any] = {"n_params": self.n_params, "task": self.task}
        out.update({name: getattr(self, name) for name in _COUNTERS})
        out.update({f"exact_flops_{phase}": self.exact_flops[phase] for phase in PHASES})
        out["lambda_paper"] = formulas.paper_lambda(self.task)
        out["lambda_measured"] = self.lambda_measured
        out.update({f"flops_{c}": self.flops(c) for c in CONVENTIONS})
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], arch: ModelArch) -> ComputeMeter:
        """The meter whose :meth:`to_dict` gave ``data`` (to resume, or to branch from the init run)."""
        meter = cls(n_params=int(data["n_params"]), arch=arch, task=str(data["task"]))
        for name in _COUNTERS:
            setattr(meter, name, int(data[name]))
        meter.exact_flops = {phase: int(data[f"exact_flops_{phase}"]) for phase in PHASES}
        return meter
