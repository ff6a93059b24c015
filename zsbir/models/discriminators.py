"""Conditional discriminators ``D^img(x, c)`` and ``D^ske(x, c)`` (docs/objective.md Eq. 7).

A discriminator scores a (feature, condition) pair with one logit. The condition is the
other half of the training pair: its detached structure mean (``disc_condition:
structure``) or its raw feature (``paired``); see docs/objective.md Sec. 4.
"""

from __future__ import annotations

import torch
from torch import nn


class ConditionalDiscriminator(nn.Module):
    """(x, c) -> logit; spectral-normalised MLP so the GAN game stays smooth."""

    def __init__(self, feat_dim: int, cond_dim: int, hidden: int) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        self.net = nn.Sequential(
            sn(nn.Linear(feat_dim + cond_dim, hidden)),
            nn.LeakyReLU(0.2),
            sn(nn.Linear(hidden, hidden // 2)),
            nn.LeakyReLU(0.2),
            sn(nn.Linear(hidden // 2, 1)),
        )

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, c], dim=1)).squeeze(1)  # (B,)
