"""``model.name: twotower``: per-domain MLP encoders into one shared space (a baseline).

Photo tower f_img and sketch tower f_ske map features (B, D) to the shared space (B, E),
E = ``model.embed_dim``. Both are trained to classify the seen classes with a cosine
softmax (docs/objective.md Eq. 13, NormFace, Wang et al. 2017) over class weights w_c:

- ``model.twotower_classifier: learned`` — w_c are free parameters (C, E);
- ``model.twotower_classifier: semantic`` — w_c = A x_sem_c with x_sem fixed and only the
  linear projection A (E, S) learned: a zero-shot semantic-embedding model (DeViSE,
  Frome et al. 2013; ESZSL, Romera-Paredes & Torr 2015).

Retrieval: cosine similarity of f_ske(sketch) and f_img(photo) (``eval.space`` unused).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from zsbir.config import LossConfig, ModelConfig
from zsbir.models.base import Batch, TrainableModel
from zsbir.models.blocks import mlp
from zsbir.models import losses

CLASS_WEIGHT = "class_weight"  # state-dict key of the learned (C, E) class weights


class TwoTower(TrainableModel):
    """Two MLP towers and the class weights of the cosine-softmax classifier."""

    def __init__(self, cfg: ModelConfig, feat_dim: int, sem_dim: int, n_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        e = cfg.embed_dim
        self.photo_tower = mlp(feat_dim, cfg.hidden, e, cfg.dropout, depth=2)
        self.sketch_tower = mlp(feat_dim, cfg.hidden, e, cfg.dropout, depth=2)
        self.sem_proj: nn.Linear | None = None
        self.class_weight: nn.Parameter | None = None
        if cfg.twotower_classifier == "learned":
            if n_classes < 1:
                raise ValueError("twotower (learned classifier) needs at least one seen class")
            self.class_weight = nn.Parameter(torch.randn(n_classes, e) / math.sqrt(e))  # (C, E)
        else:
            if sem_dim < 1:
                raise ValueError("twotower_classifier 'semantic' needs class semantic vectors")
            self.sem_proj = nn.Linear(sem_dim, e, bias=False)  # A: x_sem (S) -> w (E)

    def forward(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        """Tower output (B, E) of features x (B, D) of ``domain`` (photo | sketch)."""
        return (self.photo_tower if domain == "photo" else self.sketch_tower)(x)

    def class_weights(self, class_sem: torch.Tensor, sem_mask: torch.Tensor) -> torch.Tensor:
        """w_c for every seen class (C, E): learned, or A x_sem_c (x_sem fixed, (C, S))."""
        if self.class_weight is not None:
            return self.class_weight
        if not bool(sem_mask.any()):
            raise ValueError("twotower_classifier 'semantic': no seen class has a semantic vector")
        assert self.sem_proj is not None
        return self.sem_proj(class_sem.detach())  # (C, E)

    def generator_step(
        self, batch: Batch, loss_cfg: LossConfig, generator: torch.Generator, context: None = None
    ) -> dict[str, torch.Tensor]:
        """Cosine-softmax cross-entropy of both towers over the seen classes (Eq. 13)."""
        w = self.class_weights(batch.class_sem, batch.sem_mask)  # (C, E)
        scale = loss_cfg.cosine_scale
        return losses.paired_terms(
            "ce", self(batch.photo, "photo"), self(batch.sketch, "sketch"),
            lambda emb: losses.cosine_softmax_cross_entropy(emb, w, batch.cls, scale),
        )

    @torch.no_grad()
    def embed_sketch(
        self, sketch: torch.Tensor, space: str, n_samples: int, generator: torch.Generator | None
    ) -> torch.Tensor:
        """L2-normalised f_ske(sketch) (B, E); ``space``/``n_samples`` unused."""
        return F.normalize(self(sketch, "sketch"), dim=1)

    @torch.no_grad()
    def embed_photo(self, photo: torch.Tensor, space: str) -> torch.Tensor:
        """L2-normalised f_img(photo) (B, E)."""
        return F.normalize(self(photo, "photo"), dim=1)
