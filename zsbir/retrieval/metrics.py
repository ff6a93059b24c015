"""Exact retrieval metrics of zero-shot SBIR, vectorised and chunked over queries.

Every sketch query ranks the whole photo gallery by cosine similarity; a gallery photo is
*relevant* to a query when it has the same class. **Scores are float32 cosine
similarities**: embeddings are L2-normalised in float64, rounded to float32 (how they are
stored anyway) and multiplied with a float32 torch GEMM (:func:`cosine_scores`). Every
metric below, exact-tie handling included, is defined on those float32 scores; a query's
scores do not depend on which or how many queries share its batch, so a reference fed
``cosine_scores`` rows reproduces our numbers exactly. (Against float64 cosines, AP moves by
~1e-8 on average and by up to a few 1e-6 where float32 rounding swaps a near-tied relevant
and non-relevant photo.) With ``rel_k`` the relevance of the item at rank ``k`` (1-based),
``n_rel`` the number of relevant gallery items and ``P@k`` the precision of the top ``k``:

* **AP@all** (tie-aware) equals scikit-learn's ``average_precision_score(relevance, scores)``:
  items with equal scores form one threshold, so ``AP = sum_t (R_t - R_{t-1}) * P_t`` over
  the distinct scores ``t`` in descending order, ``P_t``/``R_t`` being precision/recall of
  the set of items scoring ``>= t``. Equivalently ``AP = (1/n_rel) * sum_{i relevant}
  |{relevant j: s_j >= s_i}| / |{j: s_j >= s_i}|``, which is how it is computed here. The
  value does not depend on how ties are ordered. **mAP@all** is its mean over queries.
* **mAP@200** follows Yelamarthi et al. (ECCV 2018):
  ``AP@K = (1/K) * sum_{k<=K} rel_k * P@k`` with ``K = 200``, averaged over queries.
  ``map_200_norm`` divides instead by the number of relevant items within the top K
  (``sum_{k<=K} rel_k``; a query with none scores 0).
* **P@K** = (relevant items in the top K) / K.

Rank-based metrics (mAP@200, P@K) need a strict order: ties are broken as by a stable sort
on descending score, i.e. the lower gallery row ranks first. When the gallery holds fewer
than K items, K is clipped to the gallery size (P@K = hits / N). A query whose class has no
gallery item makes AP undefined and raises :class:`ValueError` naming the class.

Queries are processed class by class, ``chunk_size`` at a time; memory is a few
``(chunk_size, N_gallery)`` float32 arrays (scores and their sorted copy) whatever the
number of queries. Per chunk: one GEMM, one row sort (numpy's SIMD sort: cheaper here than
sorting only the relevant scores and counting the others with a batched
``torch.searchsorted``, or than ``torch.sort``/``torch.topk``), ``R log N`` binary searches
for the relevant thresholds and one comparison pass over the scores for the top K. numpy's
OpenBLAS GEMM is faster on some CPUs but its float32 rows change with the batch size and
thread count, so it would break the exact-reference property above.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from zsbir.retrieval.curves import RECALL_LEVELS, interpolated_precision
from zsbir.schema import MAP_ALL, MAP_K, PRECISION_KS

log = logging.getLogger(__name__)

_MIN_GEMM_ROWS = 16


@dataclass(frozen=True)
class RetrievalScores:
    """Per-query metric values; :meth:`summary` gives the mean metrics."""

    ap: np.ndarray  # (Q,) tie-aware AP@all
    ap_at_k: np.ndarray  # (Q,) AP@K, Yelamarthi et al. (divided by K)
    ap_at_k_norm: np.ndarray  # (Q,) AP@K divided by the relevant items in the top K
    precision_at: dict[int, np.ndarray]  # K -> (Q,) P@K
    n_relevant: np.ndarray  # (Q,) relevant gallery items per query
    recall_levels: np.ndarray  # (L,)
    interpolated_precision: np.ndarray  # (Q, L) max precision at recall >= level
    map_k: int = MAP_K
    n_gallery: int = 0
    classes: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))

    def summary(self) -> dict[str, float]:
        """``map_all``, ``map_<K>``, ``map_<K>_norm`` and ``p_<K>``: means over queries."""
        out = {
            MAP_ALL: float(self.ap.mean()),
            f"map_{self.map_k}": float(self.ap_at_k.mean()),
            f"map_{self.map_k}_norm": float(self.ap_at_k_norm.mean()),
        }
        out.update({f"p_{k}": float(v.mean()) for k, v in self.precision_at.items()})
        return out


# ------------------------------------------------------------------------ building blocks
def l2_normalise(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit L2 norm in float64, returned as float32 (a zero row stays zero)."""
    x = np.asarray(x, dtype=np.float64)
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), eps)  # (N, D)
    return unit.astype(np.float32)


def cosine_scores(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """``(B, D) x (N, D) -> (B, N)`` float32 dot products of unit rows (torch GEMM, all cores).

    Batches of fewer than ``_MIN_GEMM_ROWS`` rows are zero-padded: MKL switches to other
    kernels (other float32 rounding) for very short batches, and padding keeps every row's
    scores bit-identical whatever batch it is computed in (checked by the tests).
    """
    q = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32))  # (B, D)
    g = torch.from_numpy(np.ascontiguousarray(gallery, dtype=np.float32))  # (N, D)
    b = len(q)
    if b < _MIN_GEMM_ROWS:
        q = torch.cat([q, q.new_zeros(_MIN_GEMM_ROWS - b, q.shape[1])])  # (16, D)
    return (q @ g.T)[:b].numpy()  # (B, N)


def searchsorted_rows(sorted_rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Row-wise ``np.searchsorted(side="left")``: ``(B, N)`` ascending rows, ``(B, M)`` -> (B, M).

    One vectorised call per row (faster here than a batched torch.searchsorted).
    """
    out = np.empty(values.shape, dtype=np.int64)
    for i, (row, vals) in enumerate(zip(sorted_rows, values)):
        out[i] = np.searchsorted(row, vals)
    return out


def run_starts(sorted_rows: np.ndarray) -> np.ndarray:
    """Index of the first entry equal to each entry of ascending rows. (B, R) -> (B, R) int64.

    Equals ``searchsorted_rows(sorted_rows, sorted_rows)`` without a search: a run of equal
    values starts where a row changes value.
    """
    b, r = sorted_rows.shape
    starts = np.zeros((b, r), dtype=np.int64)  # (B, R)
    if r > 1:
        changes = sorted_rows[:, 1:] != sorted_rows[:, :-1]  # (B, R-1)
        starts[:, 1:] = np.where(changes, np.arange(1, r), 0)
    return np.maximum.accumulate(starts, axis=1)


def threshold_precision(
    ascending: np.ndarray, relevant_ascending: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Precision and hit count at the threshold of every relevant item.

    For relevant score ``s_i``: ``hits_i = |{relevant j: s_j >= s_i}|`` and
    ``P_i = hits_i / |{j: s_j >= s_i}|`` (the operating point of scikit-learn's PR curve
    at threshold ``s_i``; tied items share it). ``ascending`` (B, N) all scores sorted
    ascending; ``relevant_ascending`` (B, R) the relevant scores sorted ascending.
    Returns (B, R) float64 precision and (B, R) int64 hits (non-increasing along a row).
    """
    n, r = ascending.shape[1], relevant_ascending.shape[1]
    n_at_or_above = n - searchsorted_rows(ascending, relevant_ascending)  # (B, R)
    hits = r - run_starts(relevant_ascending)  # (B, R)
    return hits / n_at_or_above, hits


def tied_average_precision(precision: np.ndarray) -> np.ndarray:
    """AP = mean over relevant items of the precision at their threshold. (B, R) -> (B,)."""
    return precision.mean(axis=1)


def top_ranked(scores: np.ndarray, ascending: np.ndarray, k: int) -> np.ndarray:
    """Gallery columns of the top ``k`` of each row, by descending score then column.

    Exactly the first ``k`` of a stable sort on ``-scores``, without sorting whole rows:
    everything above the k-th largest value, plus the lowest-column items equal to it.
    ``scores`` (B, N), ``ascending`` the same rows sorted; returns (B, min(k, N)) int64.
    """
    b, n = scores.shape
    k = min(k, n)
    kth = ascending[:, n - k, None]  # (B, 1) k-th largest value
    keep = scores >= kth  # (B, N) top k plus any further items tied with the k-th
    crowded = np.flatnonzero(np.count_nonzero(keep, axis=1) > k)  # (C,) rows with extra ties
    if len(crowded):  # keep the lowest columns among the items equal to the k-th value
        rows = scores[crowded]  # (C, N)
        equal = rows == kth[crowded]  # (C, N)
        room = k - np.count_nonzero(rows > kth[crowded], axis=1)  # (C,) places for ties
        keep[crowded] &= ~equal | (np.cumsum(equal, axis=1) <= room[:, None])
    cols = (np.flatnonzero(keep) % n).reshape(b, k)  # (B, k) ascending columns per row
    negated = -np.take_along_axis(scores, cols, axis=1)  # (B, k)
    order = np.argsort(negated, axis=1)  # (B, k) SIMD sort; its order of ties is arbitrary
    top_values = ascending[:, n - k :]  # (B, k) the same values, ascending
    tied = np.flatnonzero((top_values[:, 1:] == top_values[:, :-1]).any(axis=1))  # (T,)
    if len(tied):  # a stable sort keeps tied items in ascending column order
        order[tied] = np.argsort(negated[tied], axis=1, kind="stable")
    return np.take_along_axis(cols, order, axis=1)  # (B, k)


def precision_at_k(relevant_top: np.ndarray, k: int) -> np.ndarray:
    """P@K = hits in the top K / K, K clipped to the ranked length. (B, >=K) bool -> (B,)."""
    k = min(k, relevant_top.shape[1])
    return relevant_top[:, :k].sum(axis=1) / k


def average_precision_at_k(relevant_top: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """AP@K of Yelamarthi et al. 2018, ``sum_{i<=K} rel_i P@i / K``, and its normalised form.

    The normalised form divides by ``sum_{i<=K} rel_i`` instead (0 when that is 0). K is
    clipped to the ranked length. ``relevant_top`` (B, >=K) bool; returns two (B,) arrays.
    """
    rel = relevant_top[:, : min(k, relevant_top.shape[1])]  # (B, K)
    hits = np.cumsum(rel, axis=1)  # (B, K)
    summed = (rel * hits / np.arange(1, rel.shape[1] + 1)).sum(axis=1)  # (B,)
    n_top = hits[:, -1]  # (B,)
    return summed / rel.shape[1], np.where(n_top > 0, summed / np.maximum(n_top, 1), 0.0)


# ------------------------------------------------------------------------------- driver
def encode_labels(
    query_labels: np.ndarray, gallery_labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map class labels to integer codes shared by queries and gallery: ``(classes, q, g)``.

    Raises ``ValueError`` naming every query class absent from the gallery (AP undefined).
    """
    q = np.asarray(query_labels).astype(str)
    g = np.asarray(gallery_labels).astype(str)
    missing = sorted(set(q) - set(g))
    if missing:
        raise ValueError(
            f"query classes with no gallery item (AP undefined): {missing}; "
            "every query class must have at least one photo in the gallery"
        )
    classes = np.unique(g)
    return classes, np.searchsorted(classes, q), np.searchsorted(classes, g)


def retrieval_metrics(
    queries: np.ndarray,
    query_labels: np.ndarray,
    gallery: np.ndarray,
    gallery_labels: np.ndarray,
    *,
    chunk_size: int = 1024,
    map_k: int = MAP_K,
    precision_ks: tuple[int, ...] = PRECISION_KS,
    recall_levels: np.ndarray = RECALL_LEVELS,
) -> RetrievalScores:
    """All retrieval metrics (see the module docstring) of ``queries`` against ``gallery``.

    ``queries`` (Q, D) and ``gallery`` (N, D) are raw embeddings (normalised here);
    labels are class names of length Q and N. Processes ``chunk_size`` queries of one
    class at a time.
    """
    _check_inputs(queries, gallery, query_labels, gallery_labels, chunk_size)
    classes, q_codes, g_codes = encode_labels(query_labels, gallery_labels)
    n_q, n_g = len(queries), len(gallery)
    top = max(map_k, *precision_ks)
    if n_g < top:
        log.warning("gallery has %d items, fewer than K=%d; K is clipped to %d", n_g, top, n_g)
    levels = np.asarray(recall_levels, dtype=np.float64)  # (L,)
    gal = l2_normalise(gallery)  # (N, D)

    ap, ap_k, ap_k_norm = (np.empty(n_q) for _ in range(3))
    p_at = {k: np.empty(n_q) for k in precision_ks}
    interp = np.empty((n_q, len(levels)))
    chunks = _class_chunks(q_codes, chunk_size)
    with torch.inference_mode():
        for code, rows in tqdm(chunks, desc="evaluate: query chunks", disable=len(chunks) < 2):
            relevant_cols = np.flatnonzero(g_codes == code)  # (R,)
            scores = cosine_scores(l2_normalise(queries[rows]), gal)  # (B, N)
            ascending = np.sort(scores, axis=1)  # (B, N)
            relevant_ascending = np.sort(scores[:, relevant_cols], axis=1)  # (B, R)
            precision, hits = threshold_precision(ascending, relevant_ascending)  # (B, R)
            ap[rows] = tied_average_precision(precision)
            interp[rows] = interpolated_precision(precision, hits, levels)
            relevant_top = g_codes[top_ranked(scores, ascending, top)] == code  # (B, K)
            ap_k[rows], ap_k_norm[rows] = average_precision_at_k(relevant_top, map_k)
            for k in precision_ks:
                p_at[k][rows] = precision_at_k(relevant_top, k)
    return RetrievalScores(
        ap=ap,
        ap_at_k=ap_k,
        ap_at_k_norm=ap_k_norm,
        precision_at=p_at,
        n_relevant=np.bincount(g_codes, minlength=len(classes))[q_codes],
        recall_levels=levels,
        interpolated_precision=interp,
        map_k=map_k,
        n_gallery=n_g,
        classes=classes,
    )


def top_k(queries: np.ndarray, gallery: np.ndarray, k: int) -> np.ndarray:
    """Gallery indices of the top ``k`` items of each query, same order/ties as the metrics.

    (Q, D), (N, D) -> (Q, min(k, N)) int64.
    """
    with torch.inference_mode():
        scores = cosine_scores(l2_normalise(queries), l2_normalise(gallery))  # (Q, N)
    return top_ranked(scores, np.sort(scores, axis=1), k)


def _class_chunks(q_codes: np.ndarray, chunk_size: int) -> list[tuple[int, np.ndarray]]:
    """``(class code, query rows)`` pairs: the queries of each class, ``chunk_size`` at a time."""
    chunks = []
    for code in np.unique(q_codes):
        rows = np.flatnonzero(q_codes == code)
        chunks += [(int(code), rows[i : i + chunk_size]) for i in range(0, len(rows), chunk_size)]
    return chunks


def _check_inputs(
    queries: np.ndarray,
    gallery: np.ndarray,
    query_labels: np.ndarray,
    gallery_labels: np.ndarray,
    chunk_size: int,
) -> None:
    if queries.ndim != 2 or gallery.ndim != 2 or queries.shape[1] != gallery.shape[1]:
        raise ValueError(f"queries {queries.shape} and gallery {gallery.shape} must be (*, D)")
    if len(queries) == 0 or len(gallery) == 0:
        raise ValueError(f"empty retrieval set: {len(queries)} queries, {len(gallery)} gallery")
    if len(query_labels) != len(queries) or len(gallery_labels) != len(gallery):
        raise ValueError("one class label per query and per gallery item is required")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    for name, x in (("queries", queries), ("gallery", gallery)):
        if not np.isfinite(x).all():
            raise ValueError(f"{name} hold non-finite values (NaN/inf) in embeddings")
