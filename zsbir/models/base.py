"""What every model is: a retrieval embedding, and (if it has parameters) its own training.

:class:`RetrievalModel`: ``embed_sketch`` / ``embed_photo`` into the retrieval space
(``eval.space`` where the model has a choice). :class:`TrainableModel` adds the training
step in two halves, so the training loop (:mod:`zsbir.train.loop`), which owns the
optimizers, can run an adversarial model's alternating updates without knowing the model:

1. ``discriminator_step(batch)`` -> ``(d_terms, context)``: the forward pass and the
   discriminator's loss terms (``{}`` for a model without a discriminator); the loop
   minimises ``d_terms["total"]`` over :meth:`TrainableModel.discriminator_parameters`;
2. ``generator_step(batch, context=context)`` -> ``g_terms``: the loop minimises
   ``g_terms["total"]`` over :meth:`TrainableModel.generator_parameters`.

Loss terms are the pure functions of :mod:`zsbir.models.losses`. :func:`embed_in_chunks`
embeds any model's items for model selection (train) and the ``embed`` stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from zsbir.config import LossConfig


@dataclass(frozen=True)
class Batch:
    """One training batch of same-class (sketch, photo) pairs and the seen-class semantics."""

    photo: torch.Tensor  # (B, D) scaled PCA features
    sketch: torch.Tensor  # (B, D)
    cls: torch.Tensor  # (B,) int64 seen-class index of both items of a pair
    class_sem: torch.Tensor  # (C, S) x_sem of every seen class
    sem_mask: torch.Tensor  # (C,) bool: the class has a semantic vector


class RetrievalModel(nn.Module):
    """A model's retrieval embeddings; subclasses implement both ``embed_*`` methods."""

    def embed_sketch(
        self, sketch: torch.Tensor, space: str, n_samples: int, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Embeddings (B, E) of sketch features (B, D)."""
        raise NotImplementedError

    def embed_photo(self, photo: torch.Tensor, space: str) -> torch.Tensor:
        """Embeddings (B, E) of photo features (B, D)."""
        raise NotImplementedError

    def space_note(self, space: str) -> str:
        """What ``eval.space`` means for this model (one line for the log)."""
        return "its own retrieval space; eval.space unused"


class TrainableModel(RetrievalModel):
    """A model with parameters and its own training step (see the module docstring)."""

    def discriminator_parameters(self) -> list[nn.Parameter]:
        """What the discriminator optimizer updates (none: no discriminator step)."""
        return []

    def generator_parameters(self) -> list[nn.Parameter]:
        """What the generator (main) optimizer updates."""
        disc = {id(p) for p in self.discriminator_parameters()}
        return [p for p in self.parameters() if id(p) not in disc]

    def discriminator_step(
        self, batch: Batch, loss_cfg: LossConfig, generator: torch.Generator
    ) -> tuple[dict[str, torch.Tensor], Any]:
        """D-side loss terms and the context :meth:`generator_step` reuses (default: none)."""
        return {}, None

    def generator_step(
        self, batch: Batch, loss_cfg: LossConfig, generator: torch.Generator, context: Any = None
    ) -> dict[str, torch.Tensor]:
        """Loss terms of one batch, their weighted sum under ``"total"``."""
        raise NotImplementedError


@torch.no_grad()
def embed_in_chunks(
    model: RetrievalModel,
    x: torch.Tensor,
    domain: str,
    *,
    space: str,
    n_samples: int,
    generator: torch.Generator | None,
    chunk: int = 1024,
) -> torch.Tensor:
    """``model.embed_sketch`` / ``embed_photo`` over (N, D) in chunks, on the model's device."""
    was_training = model.training
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    parts = []
    for i in range(0, len(x), chunk):
        xb = x[i : i + chunk].to(device)  # (b, D)
        if domain == "sketch":
            parts.append(model.embed_sketch(xb, space, n_samples, generator).cpu())
        else:
            parts.append(model.embed_photo(xb, space).cpu())
    model.train(was_training)
    return torch.cat(parts) if parts else x.new_zeros((0, 0))
