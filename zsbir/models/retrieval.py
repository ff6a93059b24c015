"""Retrieval embeddings of any model (``embed_sketch`` / ``embed_photo``), in chunks.

Shared by model selection (``zsbir.train.select``) and the ``embed`` stage (``zsbir.embed``).
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def embed_in_chunks(
    model: nn.Module,
    x: torch.Tensor,
    domain: str,
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
