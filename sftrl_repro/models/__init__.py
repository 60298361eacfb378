"""Models at three scales behind one interface (:func:`load_policy` -> :class:`Policy`).

* :func:`load_policy` ``(scale, modality, ..., base=...)``: ``tiny`` (built from configs, tokenizer
  trained in-process; the package's pretrained base or random weights), ``small``
  (SmolLM2-135M-Instruct, offline) or ``paper`` (Llama-3.2-11B-Vision-Instruct);
* :class:`Policy`: batched generation, per-token answer log-probabilities with the last prompt
  token's hidden state, save / load;
* :class:`ValueHead`: the paper's critic MLP on that hidden state.
"""

from sftrl_repro.models.factory import BASES, MODALITIES, SCALES, load_policy
from sftrl_repro.models.policy import AnswerScores, Generation, Policy
from sftrl_repro.models.tiny import TinySpec
from sftrl_repro.models.value_head import ValueHead

__all__ = ["SCALES", "MODALITIES", "BASES", "load_policy", "Policy", "Generation", "AnswerScores", "TinySpec", "ValueHead"]
