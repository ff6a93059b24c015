"""What a model that owns its training step looks like (``twotower``, ``semantic-regression``).

The training loop (:mod:`zsbir.train.loop`) hands such a model one :class:`Batch` and gets
back a dict of named loss tensors whose ``"total"`` it minimises; the loss terms themselves
are pure functions of :mod:`zsbir.train.losses`. Retrieval embeddings come from the same
``embed_sketch`` / ``embed_photo`` interface every model has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from zsbir.config import LossConfig


@dataclass(frozen=True)
class Batch:
    """One training batch of same-class (sketch, photo) pairs and the seen-class semantics."""

    photo: torch.Tensor  # (B, D) scaled PCA features
    sketch: torch.Tensor  # (B, D)
    cls: torch.Tensor  # (B,) int64 seen-class index of both items of a pair
    class_sem: torch.Tensor  # (C, S) x_sem of every seen class
    sem_mask: torch.Tensor  # (C,) bool: the class has a semantic vector


@runtime_checkable
class Trainable(Protocol):
    """A model with its own (single-optimizer) training step."""

    def training_step(
        self, batch: Batch, loss_cfg: LossConfig, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """Loss terms of one batch, their weighted sum under ``"total"``."""
        ...
