"""sftrl_repro: a reproducibility package for *SFT Memorizes, RL Generalizes* (Chu et al., ICML 2025).

Importing the package registers its Gymnasium environments (``sftrl_repro/GeneralPoints-v0``, ...)
and nothing heavier: ``envs``, ``rewards`` and ``prompts`` never import torch.
"""

from sftrl_repro import envs as envs  # noqa: F401  (registers the Gymnasium ids)

__version__ = "0.1.0"
