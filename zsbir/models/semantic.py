"""Semantic-preservation heads (docs/objective.md Eq. 9).

``S(z_s)`` regresses the class semantic vector x_sem from the structure code; with
``model.semantic_on: generated|both`` a second head ``S'(x)`` regresses it from (real and
generated) photo features, so the photo generator must keep the class semantics.
"""

from __future__ import annotations

import torch
from torch import nn

from zsbir.models.blocks import mlp


class SemanticHead(nn.Module):
    """v -> predicted x_sem (Eq. 9); a two-layer MLP."""

    def __init__(self, in_dim: int, hidden: int, sem_dim: int, dropout: float) -> None:
        super().__init__()
        self.net = mlp(in_dim, hidden, sem_dim, dropout, depth=2)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.net(v)  # (B, S)
