"""FAISS index of photo embeddings, searched by cosine similarity.

Vectors are L2-normalised exactly as the metrics do (:func:`l2_normalise`: float64, then
float32), so the inner product of the index is the cosine of
:func:`zsbir.retrieval.metrics.cosine_scores` up to float32 summation order (a few ulp).

Kinds:

* ``flat`` (default) — ``IndexFlatIP``: exact, brute force, ``O(N D)`` per query.
* ``hnsw`` — ``IndexHNSWFlat`` (Malkov & Yashunin 2018) with ``M`` links per node and
  ``efSearch`` candidates at query time: approximate, sub-linear; recall@10 against
  ``flat`` is measured by ``benchmarks/bench_search.py``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import faiss
import numpy as np

from zsbir import io
from zsbir.retrieval.metrics import l2_normalise

IndexKind = Literal["flat", "hnsw"]
KINDS: tuple[str, ...] = ("flat", "hnsw")
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128


def build_index(vectors: np.ndarray, kind: str = "flat") -> faiss.Index:
    """An index over the unit rows of ``vectors`` (N, D); row i gets id i."""
    if kind not in KINDS:
        raise ValueError(f"index kind must be one of {KINDS}, got {kind!r}")
    x = l2_normalise(np.asarray(vectors))  # (N, D) float32 unit rows
    dim = x.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    index.add(x)
    return index


def search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of each query: ``(scores (Q, k) float32 descending, rows (Q, k) int64)``.

    ``k`` is clipped to the index size; queries are normalised like the gallery.
    """
    k = min(int(k), index.ntotal)
    if k < 1:
        raise ValueError(f"k must be >= 1 and the index non-empty (k={k}, N={index.ntotal})")
    q = l2_normalise(np.asarray(queries))  # (Q, D)
    scores, rows = index.search(q, k)  # (Q, k), (Q, k)
    return scores, rows


def save_index(index: faiss.Index, path: str | os.PathLike[str]) -> None:
    """Write the index atomically (FAISS's own binary format)."""
    with io.atomic_path(path) as tmp:
        faiss.write_index(index, str(tmp))


def load_index(path: str | os.PathLike[str]) -> faiss.Index:
    """Read an index written by :func:`save_index`; a missing/bad file is an ArtifactError."""
    if not Path(path).is_file():
        raise io.ArtifactError(f"missing artifact: {path}")
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as err:
        raise io.ArtifactError(f"{path}: not a readable FAISS index ({err})") from err
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = HNSW_EF_SEARCH
    return index
