"""Baseline: the cVAE of Yelamarthi et al. (ECCV 2018).

cVAE (docs/objective.md Sec. 7): an encoder on [photo || sketch] gives q(z | x_img, x_ske);
the decoder generates a photo feature conditioned on the sketch, [z || x_ske] -> x_img.
Loss: MSE reconstruction + KL (Eq. 12). At test time a sketch's embedding is the mean of
``n_samples`` generated photo features with z ~ N(0, I); photos keep their real features.
"""

from __future__ import annotations


import torch
from torch import nn

from zsbir.config import LossConfig, ModelConfig
from zsbir.models import losses
from zsbir.models.base import Batch, TrainableModel
from zsbir.models.blocks import GaussianEncoder, mlp, reparameterize, sample_prior
from zsbir.models.outputs import CVAEOutputs


class SketchConditionedCVAE(TrainableModel):
    """Yelamarthi et al. 2018 cVAE: E([x_img || x_ske]) -> z, G([z || x_ske]) -> x_img."""

    def __init__(self, cfg: ModelConfig, feat_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.z_dim = cfg.z_structure
        self.encoder = GaussianEncoder(2 * feat_dim, cfg.hidden, self.z_dim, cfg.dropout)
        self.decoder = mlp(self.z_dim + feat_dim, cfg.hidden, feat_dim, cfg.dropout, depth=3)

    def forward(
        self, photo: torch.Tensor, sketch: torch.Tensor, generator: torch.Generator | None = None
    ) -> CVAEOutputs:
        mu, logvar = self.encoder(torch.cat([photo, sketch], dim=1))  # (B, Z) each
        z = reparameterize(mu, logvar, generator)  # (B, Z)
        return CVAEOutputs(mu, logvar, self.decoder(torch.cat([z, sketch], dim=1)))

    def generator_step(
        self, batch: Batch, loss_cfg: LossConfig, generator: torch.Generator, context: None = None
    ) -> dict[str, torch.Tensor]:
        """MSE reconstruction of the photo + KL (Eq. 12)."""
        return losses.cvae_losses(self(batch.photo, batch.sketch, generator), batch.photo, loss_cfg)

    def space_note(self, space: str) -> str:
        return "sketches: mean generated photo feature (no structure space); photos: real"

    @torch.no_grad()
    def embed_sketch(
        self, sketch: torch.Tensor, space: str, n_samples: int, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Mean of ``n_samples`` generated photo features, z ~ N(0, I) (``space`` unused)."""
        total = torch.zeros_like(sketch)  # (B, D)
        n = max(1, n_samples)
        for _ in range(n):
            z = sample_prior((sketch.shape[0], self.z_dim), generator).to(sketch)  # (B, Z)
            total += self.decoder(torch.cat([z, sketch], dim=1))
        return total / n

    @torch.no_grad()
    def embed_photo(self, photo: torch.Tensor, space: str) -> torch.Tensor:
        return photo
