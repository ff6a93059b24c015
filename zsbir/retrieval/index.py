"""FAISS index of photo embeddings, searched by cosine similarity.

Vectors are L2-normalised exactly as the metrics do (:func:`l2_normalise`: float64, then
float32), so the inner product of the index is the cosine of
:func:`zsbir.retrieval.metrics.cosine_scores` up to float32 summation order (a few ulp).

Kinds (:class:`zsbir.config.IndexSpec`; figures in ``benchmarks/bench_search.py``):

* ``flat`` (default) — ``IndexFlatIP``: exact, brute force, ``O(N D)`` per query,
  ``4 D`` bytes a vector.
* ``sq8`` — ``IndexScalarQuantizer`` with ``QT_8bit``: every coordinate stored as one
  byte on the per-dimension [min, max] range of the gallery (trained on all of it), so
  ``D`` bytes a vector (a quarter of flat) and a quarter of the memory traffic; the
  ranking is exact up to the quantisation step ``(max - min) / 255``.
* ``ivf`` — ``IndexIVFFlat`` over an ``IndexFlatIP`` coarse quantizer: k-means cuts the
  gallery into ``nlist`` cells; a query scans the ``nprobe`` cells whose centroids have
  the largest inner product with it, about ``N nprobe / nlist`` vectors. ``nprobe =
  nlist`` scans everything and returns exactly ``flat``'s top k.
* ``hnsw`` — ``IndexHNSWFlat`` (Malkov & Yashunin 2018) with ``M`` links per node and
  ``efSearch`` candidates at query time: approximate, sub-linear.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import faiss
import numpy as np

from zsbir import io
from zsbir.config import IndexSpec
from zsbir.retrieval.metrics import l2_normalise
from zsbir.seed import derive

KINDS: tuple[str, ...] = ("flat", "sq8", "ivf", "hnsw")
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
MIN_POINTS_PER_LIST = 39  # FAISS warns below 39 training points per k-means centroid
IVF_LISTS_PER_SQRT_N = 4  # default nlist = 4 sqrt(N)
IVF_PROBE_FRACTION = 16  # default nprobe = ceil(nlist / 16)
IVF_TRAIN_PER_LIST = 64  # k-means training sample: up to 64 vectors per list


class IndexSizeError(ValueError):
    """The gallery is too small for the index kind asked for; the message says the fix."""


def resolve_spec(spec: IndexSpec, n: int) -> IndexSpec:
    """``spec`` with ``nlist``/``nprobe`` filled in for a gallery of ``n`` vectors.

    Defaults (``ivf``): ``nlist = min(round(4 sqrt(n)), n // 39)`` (at least 1), so every
    list has at least 39 training points; ``nprobe = ceil(nlist / 16)``. An ``nlist`` > 1
    given explicitly must leave 39 points per list (one list is a full scan, fine for any
    ``n``); nothing falls back silently to another kind. Resolving twice changes nothing.
    """
    if n < 1:
        raise IndexSizeError("cannot build an index over an empty gallery")
    if spec.kind != "ivf":
        return spec
    if spec.nlist is None:
        nlist = max(1, min(round(IVF_LISTS_PER_SQRT_N * math.sqrt(n)), n // MIN_POINTS_PER_LIST))
    else:
        nlist = spec.nlist
        if nlist > 1 and n < MIN_POINTS_PER_LIST * nlist:  # one list: a full scan, any n
            raise IndexSizeError(
                f"a gallery of {n} vectors is too small for ivf with nlist={nlist} (needs >= "
                f"{MIN_POINTS_PER_LIST * nlist}, {MIN_POINTS_PER_LIST} per list); give "
                f"--nlist <= {max(1, n // MIN_POINTS_PER_LIST)}, leave it out, or use --kind flat"
            )
    nprobe = spec.nprobe if spec.nprobe is not None else math.ceil(nlist / IVF_PROBE_FRACTION)
    if nprobe > nlist:
        raise IndexSizeError(f"nprobe={nprobe} exceeds nlist={nlist}; give --nprobe <= {nlist}")
    return IndexSpec("ivf", nlist, nprobe)


def build_index(vectors: np.ndarray, spec: IndexSpec = IndexSpec(), seed: int = 0) -> faiss.Index:
    """An index of kind ``spec.kind`` over the unit rows of ``vectors`` (N, D); row i gets id i.

    ``ivf`` trains k-means on a sample drawn with ``derive(seed, "index", "ivf")`` (up to
    64 vectors per list); the other kinds need no randomness.
    """
    x = l2_normalise(np.asarray(vectors))  # (N, D) float32 unit rows
    n, dim = x.shape
    spec = resolve_spec(spec, n)
    index: faiss.Index
    if spec.kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif spec.kind == "sq8":
        index = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit,
                                           faiss.METRIC_INNER_PRODUCT)
        index.train(x)  # per-dimension min and max of the whole gallery
    elif spec.kind == "ivf":
        assert spec.nlist is not None and spec.nprobe is not None  # resolved above
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, spec.nlist,
                                   faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(derive(seed, "index", "ivf"))
        size = min(n, IVF_TRAIN_PER_LIST * spec.nlist)
        sample = x[np.sort(rng.choice(n, size, replace=False))]  # (S, D)
        index.cp.seed = derive(seed, "index", "kmeans") % 2**31
        index.cp.max_points_per_centroid = IVF_TRAIN_PER_LIST  # FAISS subsamples no further
        index.cp.min_points_per_centroid = 1  # resolve_spec enforced 39 (or a single list)
        index.train(sample)
    else:
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.add(x)
    configure(index, spec)
    return index


def configure(index: faiss.Index, spec: IndexSpec) -> None:
    """Set the query-time knobs of ``index`` (``nprobe`` of ivf, ``efSearch`` of hnsw)."""
    if isinstance(index, faiss.IndexIVF) and spec.nprobe is not None:
        index.nprobe = spec.nprobe
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = HNSW_EF_SEARCH


def search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of each query: ``(scores (Q, k) float32 descending, rows (Q, k) int64)``.

    ``k`` is clipped to the index size; queries are normalised like the gallery. An ``ivf``
    index pads with row -1 (score -inf) when its probed lists hold fewer than ``k``.
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


def load_index(path: str | os.PathLike[str], spec: IndexSpec | None = None) -> faiss.Index:
    """Read an index written by :func:`save_index`; a missing/bad file is an ArtifactError.

    ``spec`` (as recorded in ``index.json``) restores the query-time knobs; its kind must
    match the file's.
    """
    if not Path(path).is_file():
        raise io.ArtifactError(f"missing artifact: {path}")
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as err:
        raise io.ArtifactError(f"{path}: not a readable FAISS index ({err})") from err
    if spec is not None and kind_of(index) != spec.kind:
        raise io.ArtifactError(f"{path}: a {kind_of(index)} index, but recorded as {spec.kind}")
    configure(index, spec if spec is not None else IndexSpec(kind_of(index)))
    return index


def kind_of(index: faiss.Index) -> str:
    """The :data:`KINDS` name of a FAISS index built by :func:`build_index`."""
    for cls, kind in ((faiss.IndexFlatIP, "flat"), (faiss.IndexScalarQuantizer, "sq8"),
                      (faiss.IndexIVFFlat, "ivf"), (faiss.IndexHNSW, "hnsw")):
        if isinstance(index, cls):
            return kind
    raise io.ArtifactError(f"unsupported FAISS index type {type(index).__name__}")
