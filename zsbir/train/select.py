"""Model selection on the seen-class **val** split: sketch -> photo retrieval mAP.

Val sketches of seen classes query the val photos of seen classes by cosine similarity
in the retrieval space (``eval.space``); mAP@all is the tie-aware exact mean AP of
``zsbir.retrieval.metrics`` (the number the ``evaluate`` stage reports). Test / unseen items
never reach this module (``TrainData`` cannot hold them; see ``check_no_leakage``).
"""

from __future__ import annotations

import torch

from zsbir.models.base import RetrievalModel, embed_in_chunks
from zsbir.retrieval.metrics import retrieval_metrics
from zsbir.schema import MAP_ALL
from zsbir.train.data import ItemSet


def validation_map(
    model: RetrievalModel,
    sketches: ItemSet,
    photos: ItemSet,
    *,
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
    kw = {"space": space, "n_samples": n_samples, "generator": gen}
    q = embed_in_chunks(model, sketches.x, "sketch", **kw)  # (Q, E)
    g = embed_in_chunks(model, photos.x, "photo", **kw)  # (G, E)
    scores = retrieval_metrics(q.numpy(), sketches.cls.numpy(), g.numpy(), photos.cls.numpy())
    return scores.summary()[MAP_ALL]
