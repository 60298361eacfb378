"""Named experiments and the run cache under ``runs/<run-id>/`` (resumable, DomainBed-style)."""

from sftrl_repro.experiments.runs import Run, RunConfigMismatch, config_hash

__all__ = ["Run", "RunConfigMismatch", "config_hash"]
