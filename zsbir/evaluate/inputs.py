"""Queries and gallery of the zero-shot retrieval task, read from the embedding tables.

Queries are the sketches of unseen classes. The gallery is the photos of unseen classes;
in the generalized setting (``eval.generalized``) it also holds every seen-class photo of
the photo table. Rows keep the order of the files.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from zsbir.io import ArtifactError, read_vectors
from zsbir.schema import validate_embeddings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrievalSet:
    """Query and gallery embeddings with their ``id``/``class``/``seen`` metadata."""

    query_meta: pd.DataFrame  # (Q rows)
    queries: np.ndarray  # (Q, D) float32
    gallery_meta: pd.DataFrame  # (N rows)
    gallery: np.ndarray  # (N, D) float32


def load_retrieval_set(
    sketch_path: str | os.PathLike[str],
    photo_path: str | os.PathLike[str],
    generalized: bool,
) -> RetrievalSet:
    """Read both embedding tables and select queries and gallery (see module docstring)."""
    sketch_meta, sketches = _read(sketch_path)
    photo_meta, photos = _read(photo_path)
    if sketches.shape[1] != photos.shape[1]:
        raise ArtifactError(
            f"{sketch_path} has {sketches.shape[1]}-d embeddings but {photo_path} has "
            f"{photos.shape[1]}-d; both must live in the same retrieval space"
        )
    queries = ~sketch_meta["seen"].to_numpy()
    if not queries.any():
        raise ArtifactError(f"{sketch_path}: no unseen-class sketch (seen=false) to query with")
    in_gallery = np.ones(len(photo_meta), bool) if generalized else ~photo_meta["seen"].to_numpy()
    if generalized and not photo_meta["seen"].any():
        log.warning("eval.generalized is true but %s holds no seen-class photo", photo_path)
    if not in_gallery.any():
        raise ArtifactError(f"{photo_path}: no photo for the gallery")
    return RetrievalSet(
        query_meta=sketch_meta[queries].reset_index(drop=True),
        queries=sketches[queries],
        gallery_meta=photo_meta[in_gallery].reset_index(drop=True),
        gallery=photos[in_gallery],
    )


def _read(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, np.ndarray]:
    meta, vectors = read_vectors(path)
    validate_embeddings(meta, vectors, source=str(path))
    meta = meta.assign(id=meta["id"].astype(str), **{"class": meta["class"].astype(str)})
    return meta, vectors
