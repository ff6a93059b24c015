"""Building blocks of the models: the MLP, the diagonal-Gaussian encoder and the three
posterior encoders, the feature generators, the conditional discriminators and the
semantic heads of the parallel cVAE-GAN.

A Gaussian encoder maps a feature ``x`` to the posterior q(z|x) = N(mu, diag(sigma^2)) of
docs/objective.md Eq. (1); :func:`reparameterize` draws z = mu + sigma * eps (Eq. 2).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from zsbir.schema import Domain

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


# ------------------------------------------------------------------ encoders
# Posterior encoders E_s^img, E^ske, E_a^img (docs/objective.md Sec. 2): one network type,
# the domain and the code are parameters.
Code = Literal["structure", "appearance"]


class FeatureEncoder(GaussianEncoder):
    """q(z | x) for one domain and one code (Eq. 1); ``forward`` returns (mu, logvar)."""

    def __init__(
        self, domain: Domain, code: Code, in_dim: int, hidden: int, z_dim: int, dropout: float
    ) -> None:
        if domain == "sketch" and code == "appearance":
            raise ValueError("sketches have no appearance code (only E_a^img exists)")
        super().__init__(in_dim, hidden, z_dim, dropout)
        self.domain = domain
        self.code = code

    def extra_repr(self) -> str:
        return f"domain={self.domain}, code={self.code}, z_dim={self.z_dim}"


def build_encoder(
    domain: Domain, code: Code, in_dim: int, hidden: int, z_dim: int, dropout: float
) -> FeatureEncoder:
    """E_s^img = build_encoder("photo", "structure", ...), E^ske = ("sketch", "structure")."""
    return FeatureEncoder(domain, code, in_dim, hidden, z_dim, dropout)


# ------------------------------------------------------------------ decoders
# Feature generators G^img(z_s, z_a), G^ske(z_s) (Eq. 3): linear outputs, as PCA features
# are unbounded and centred.
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


# ------------------------------------------------------------ discriminators
# Conditional discriminators D^img(x, c), D^ske(x, c) (Eq. 7); c is the other half of the
# training pair (Sec. 4).
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


# ------------------------------------------------------------------ semantic
# Semantic-preservation heads S(z_s) and S'(x) (Eq. 9).
class SemanticHead(nn.Module):
    """v -> predicted x_sem (Eq. 9); a two-layer MLP."""

    def __init__(self, in_dim: int, hidden: int, sem_dim: int, dropout: float) -> None:
        super().__init__()
        self.net = mlp(in_dim, hidden, sem_dim, dropout, depth=2)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.net(v)  # (B, S)
