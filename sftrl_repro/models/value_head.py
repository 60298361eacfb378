"""The critic's head: the paper's MLP on the last prompt token's final hidden state.

Policy and critic share the backbone (paper Sec. 3 and App. C; the RL4VLM recipe the authors build on): the value of a state
is ``ValueHead(h)``, where ``h`` is the final hidden state of the last prompt token
(:meth:`sftrl_repro.models.Policy.score` returns it beside the answer log-probabilities, from the
same forward pass).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ValueHead(nn.Module):
    """``hidden -> 1024 -> 512 -> 1`` with ReLUs (the paper's sizes for a 4096-wide backbone).

    Args:
        hidden_size: width of the backbone's final hidden state.
        widths: hidden widths of the MLP.

    The head keeps its own dtype (float32 by default) and casts its input to it, so a bf16
    backbone can feed a float32 critic.
    """

    def __init__(self, hidden_size: int, widths: Sequence[int] = (1024, 512)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = hidden_size
        for w in widths:
            layers += [nn.Linear(width, w), nn.ReLU()]
            width = w
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """Values of a batch of states.

        Args:
            hidden: ``(B, H)`` final hidden states of the last prompt tokens.

        Returns:
            ``(B,)`` state values.
        """
        return self.mlp(hidden.to(self.mlp[0].weight.dtype)).squeeze(-1)
