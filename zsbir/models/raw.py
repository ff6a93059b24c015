"""``model.name: raw``: the untrained baseline, retrieval on the PCA features as they are."""

from __future__ import annotations

import torch

from zsbir.config import ModelConfig
from zsbir.models.base import RetrievalModel


class RawFeatures(RetrievalModel):
    """No parameters, nothing to train: sketch and photo features are their own embeddings."""

    def __init__(self, cfg: ModelConfig, feat_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.feat_dim = feat_dim

    def embed_sketch(
        self, sketch: torch.Tensor, space: str, n_samples: int, generator: torch.Generator | None
    ) -> torch.Tensor:
        return sketch

    def embed_photo(self, photo: torch.Tensor, space: str) -> torch.Tensor:
        return photo

    def space_note(self, space: str) -> str:
        return "the PCA features themselves; eval.space unused"
