"""Evaluation with the paper's protocol, for any checkpoint of any scale or an API endpoint.

* :func:`evaluate`, :func:`evaluate_splits`, :func:`verification_sweep` (``evaluation.evaluate``);
* :func:`eval_spec` and the split definitions (``evaluation.splits``);
* :class:`ChatAPIPolicy` for OpenAI-compatible endpoints (``evaluation.api``);
* :func:`collect_examples`: several models' answers on the same episodes (``evaluation.examples``,
  the paper's Fig 20 / 21).
"""

from sftrl_repro.evaluation.api import ChatAPIPolicy
from sftrl_repro.evaluation.evaluate import binomial_se, evaluate, evaluate_splits, summarize, verification_sweep
from sftrl_repro.evaluation.examples import collect_examples
from sftrl_repro.evaluation.splits import PROTOCOL, SPLITS, EvalSpec, eval_spec, split_episodes

__all__ = ["ChatAPIPolicy", "collect_examples", "evaluate", "evaluate_splits", "verification_sweep", "summarize",
           "binomial_se", "eval_spec", "split_episodes", "EvalSpec", "SPLITS", "PROTOCOL"]
