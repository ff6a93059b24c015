"""Feature generators ``G^img(z_s, z_a)`` and ``G^ske(z_s)`` (docs/objective.md Eq. 3).

Both map latent codes to a (PCA-reduced) feature vector; the photo generator also takes
the appearance code when the model has one. Outputs are linear: PCA features are
unbounded and centred.
"""

from __future__ import annotations

import torch
from torch import nn

from zsbir.models.blocks import mlp


class FeatureDecoder(nn.Module):
    """[z_s || z_a] -> feature (Eq. 3); ``z_a_dim = 0`` gives a structure-only generator."""

    def __init__(
        self, z_s_dim: int, z_a_dim: int, hidden: int, out_dim: int, dropout: float
    ) -> None:
        super().__init__()
        self.z_a_dim = z_a_dim
        self.net = mlp(z_s_dim + z_a_dim, hidden, out_dim, dropout, depth=3)

    def forward(self, z_s: torch.Tensor, z_a: torch.Tensor | None = None) -> torch.Tensor:
        if (z_a is None) != (self.z_a_dim == 0):
            raise ValueError(f"decoder expects z_a of dim {self.z_a_dim}, got {z_a is not None}")
        z = z_s if z_a is None else torch.cat([z_s, z_a], dim=1)  # (B, Zs [+ Za])
        return self.net(z)  # (B, D)
