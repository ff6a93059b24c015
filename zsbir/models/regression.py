"""``model.name: semantic-regression``: regress both domains onto x_sem (a baseline).

The classic zero-shot baseline (e.g. Lampert et al. 2014's attribute regression; DeViSE,
Frome et al. 2013): heads r_img, r_ske map photo / sketch features (B, D) to the class
semantic vector x_sem (B, S), trained with docs/objective.md Eq. 14 (``loss.regression_loss``
cosine or mse). Retrieval happens in the semantic space: cosine of r_ske(sketch) and
r_img(photo). ``model.regression_head``: two-layer MLP or a single linear map.
"""

from __future__ import annotations

import torch
from torch import nn

from zsbir.config import LossConfig, ModelConfig
from zsbir.models.base import Batch, TrainableModel
from zsbir.models.blocks import mlp
from zsbir.models import losses


class SemanticRegression(TrainableModel):
    """Photo and sketch regressors onto the class semantic space."""

    def __init__(self, cfg: ModelConfig, feat_dim: int, sem_dim: int) -> None:
        super().__init__()
        if sem_dim < 1:
            raise ValueError("semantic-regression needs class semantic vectors (sem_dim 0)")
        self.cfg = cfg
        self.photo_head = _head(cfg, feat_dim, sem_dim)
        self.sketch_head = _head(cfg, feat_dim, sem_dim)

    def forward(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        """Predicted x_sem (B, S) of features x (B, D) of ``domain`` (photo | sketch)."""
        return (self.photo_head if domain == "photo" else self.sketch_head)(x)

    def generator_step(
        self, batch: Batch, loss_cfg: LossConfig, generator: torch.Generator, context: None = None
    ) -> dict[str, torch.Tensor]:
        """Regression of both domains onto their class's x_sem (Eq. 14)."""
        target = batch.class_sem[batch.cls]  # (B, S)
        mask = batch.sem_mask[batch.cls]  # (B,)
        if not bool(mask.any()):
            raise ValueError("semantic-regression: no class of the batch has a semantic vector")
        return losses.paired_terms(
            "regress", self(batch.photo, "photo"), self(batch.sketch, "sketch"),
            lambda pred: losses.semantic_regression(pred, target, mask, loss_cfg.regression_loss),
        )

    @torch.no_grad()
    def embed_sketch(
        self, sketch: torch.Tensor, space: str, n_samples: int, generator: torch.Generator | None
    ) -> torch.Tensor:
        """r_ske(sketch) (B, S): the sketch's predicted semantic vector."""
        return self(sketch, "sketch")

    @torch.no_grad()
    def embed_photo(self, photo: torch.Tensor, space: str) -> torch.Tensor:
        """r_img(photo) (B, S)."""
        return self(photo, "photo")


def _head(cfg: ModelConfig, feat_dim: int, sem_dim: int) -> nn.Module:
    if cfg.regression_head == "linear":
        return nn.Linear(feat_dim, sem_dim)
    return mlp(feat_dim, cfg.hidden, sem_dim, cfg.dropout, depth=2)
