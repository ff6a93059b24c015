"""Sketch-photo training pairs of the same seen class (docs/objective.md Sec. 5).

``train.pairing: instance`` pairs each train sketch with the photo it was drawn from
(``pair_id`` in the manifest) and falls back to a random same-class photo for sketches
without one; ``class`` pairs every sketch with a random same-class photo, redrawn each
epoch. All randomness comes from the caller's seeded ``torch.Generator``.
"""

from __future__ import annotations

from typing import Literal

import torch


def random_same_class(
    sketch_cls: torch.Tensor, photo_cls: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """For each sketch (N,), the index of a uniformly drawn photo of its class."""
    n_classes = int(max(sketch_cls.max(), photo_cls.max())) + 1
    counts = torch.bincount(photo_cls, minlength=n_classes)  # (C,)
    empty = torch.unique(sketch_cls[counts[sketch_cls] == 0])
    if len(empty):
        raise ValueError(f"classes {empty.tolist()} have train sketches but no train photo")
    order = torch.argsort(photo_cls, stable=True)  # photos grouped by class
    starts = torch.cumsum(counts, 0) - counts  # (C,)
    u = torch.rand(len(sketch_cls), generator=generator)  # (N,)
    offset = (u * counts[sketch_cls]).long().clamp_max(counts[sketch_cls] - 1)
    return order[starts[sketch_cls] + offset]  # (N,)


def epoch_pairs(
    sketch_pair: torch.Tensor,
    sketch_cls: torch.Tensor,
    photo_cls: torch.Tensor,
    mode: Literal["instance", "class"],
    generator: torch.Generator,
) -> torch.Tensor:
    """Photo index (N,) for every train sketch this epoch.

    The class draw is made in both modes so that the generator advances identically.
    """
    drawn = random_same_class(sketch_cls, photo_cls, generator)  # (N,)
    if mode == "class":
        return drawn
    return torch.where(sketch_pair >= 0, sketch_pair, drawn)


def batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """A seeded shuffle of range(n) cut into batches (the last may be smaller, never < 2)."""
    perm = torch.randperm(n, generator=generator)
    chunks = list(torch.split(perm, batch_size))
    if len(chunks) > 1 and len(chunks[-1]) < 2:  # a batch of 1 breaks batch statistics
        last = chunks.pop()
        chunks[-1] = torch.cat([chunks[-1], last])
    return chunks
