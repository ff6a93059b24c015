"""What one forward pass of a generative model returns: the inputs of its losses.

A module of its own so that :mod:`zsbir.models.losses` and the models that call it
(:mod:`zsbir.models.cvae`, :mod:`zsbir.models.cvaegan`) both import it, not each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class CVAEOutputs:
    """Yelamarthi et al. 2018 cVAE: q(z | x_img, x_ske) and G(z, x_ske)."""

    mu: torch.Tensor  # (B, Z)
    logvar: torch.Tensor  # (B, Z)
    photo_hat: torch.Tensor  # (B, D)


@dataclass
class Posterior:
    """q(z|x) = N(mu, exp(logvar)) and one sample z (Eqs. 1-2); all (B, Z)."""

    mu: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor


@dataclass
class CVAEGANOutputs:
    """Everything one forward pass over a batch of (photo, sketch) pairs produces."""

    img_s: Posterior  # E_s^img(x_img)
    ske_s: Posterior  # E^ske(x_ske)
    img_a: Posterior | None  # E_a^img(x_img); None without appearance
    img_from_img: torch.Tensor | None = None  # G^img(z_s^img, z_a^img)       (B, D)
    img_from_ske: torch.Tensor | None = None  # G^img(z_s^ske, z_a^img)       (B, D)
    img_from_ske_prior: torch.Tensor | None = None  # G^img(z_s^ske, z_a ~ p) (B, D)
    ske_from_ske: torch.Tensor | None = None  # G^ske(z_s^ske)                (B, D)
    ske_from_img: torch.Tensor | None = None  # G^ske(z_s^img)                (B, D)
    sem_img: torch.Tensor | None = None  # S(z_s^img)                        (B, S)
    sem_ske: torch.Tensor | None = None  # S(z_s^ske)                        (B, S)
    sem_photo_real: torch.Tensor | None = None  # S'(x_img)                  (B, S)
    sem_photo_gen: torch.Tensor | None = None  # S'(G^img(z_s^ske, .))      (B, S)
