"""Model selection on the seen-class **val** split: sketch -> photo retrieval mAP.

Val sketches of seen classes query the val photos of seen classes by cosine similarity
in the retrieval space (``eval.space``); mAP@all is the tie-aware exact mean AP of
``zsbir.evaluate.metrics`` (the number the ``evaluate`` stage reports). Test / unseen items
never reach this module (``TrainData`` cannot hold them; see ``check_no_leakage``).
"""

from __future__ import annotations

import torch
from torch import nn

from zsbir.evaluate.metrics import retrieval_metrics
from zsbir.models.retrieval import embed_in_chunks
from zsbir.train.data import ItemSet


def validation_map(
    model: nn.Module,
    sketches: ItemSet,
    photos: ItemSet,
    space: str,
    n_samples: int,
    seed: int,
) -> float:
    """Val mAP@all: seen-class val sketches -> seen-class val photos (the selection metric).

    Sampling (``eval.space: photo``) uses its own generator seeded with ``seed`` so that
    validation never moves the training RNG.
    """
    if len(sketches.ids) == 0 or len(photos.ids) == 0:
        return float("nan")
    gen = torch.Generator().manual_seed(seed)
    q = embed_in_chunks(model, sketches.x, "sketch", space, n_samples, gen)  # (Q, E)
    g = embed_in_chunks(model, photos.x, "photo", space, n_samples, gen)  # (G, E)
    scores = retrieval_metrics(q.numpy(), sketches.cls.numpy(), g.numpy(), photos.cls.numpy())
    return scores.summary()["map_all"]
