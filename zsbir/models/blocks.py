"""Building blocks shared by every model: the MLP and the diagonal-Gaussian encoder.

A Gaussian encoder maps a feature ``x`` to the posterior q(z|x) = N(mu, diag(sigma^2)) of
docs/objective.md Eq. (1); :func:`reparameterize` draws z = mu + sigma * eps (Eq. 2).
"""

from __future__ import annotations

import torch
from torch import nn

# log sigma^2 is clamped to this range: sigma in [e^-5, e^5], no overflow in exp().
LOGVAR_RANGE = (-10.0, 10.0)


def mlp(
    in_dim: int, hidden: int, out_dim: int, dropout: float = 0.0, depth: int = 2
) -> nn.Sequential:
    """``depth`` linear layers (``depth - 1`` hidden ones of width ``hidden``), LeakyReLU(0.2)."""
    if depth < 1:
        raise ValueError(f"mlp depth must be >= 1, got {depth}")
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(depth - 1):
        layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = hidden
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class GaussianEncoder(nn.Module):
    """x -> (mu, log sigma^2) of a diagonal Gaussian posterior (Eq. 1)."""

    def __init__(self, in_dim: int, hidden: int, z_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.body = mlp(in_dim, hidden, hidden, dropout, depth=2)
        self.act = nn.LeakyReLU(0.2)
        self.mu = nn.Linear(hidden, z_dim)
        self.logvar = nn.Linear(hidden, z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.act(self.body(x))  # (B, H)
        logvar = self.logvar(h).clamp(*LOGVAR_RANGE)  # (B, Z)
        return self.mu(h), logvar  # (B, Z), (B, Z)


def reparameterize(
    mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) drawn from ``generator`` (Eq. 2).

    The noise is drawn on the generator's device (CPU) and moved, so a seeded CPU
    generator gives the same z on every device and its state can be checkpointed.
    """
    eps = sample_prior(mu.shape, generator).to(mu.device, mu.dtype)  # (B, Z)
    return mu + torch.exp(0.5 * logvar) * eps


def sample_prior(
    shape: torch.Size | tuple[int, ...], generator: torch.Generator | None
) -> torch.Tensor:
    """eps ~ N(0, I) of ``shape`` on the CPU, from ``generator`` (or the global RNG)."""
    return torch.randn(tuple(shape), generator=generator)
