"""Retrieval metrics against scikit-learn and hand-built rankings with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, precision_recall_curve

from zsbir.retrieval.curves import per_class_ap
from zsbir.retrieval.metrics import (
    cosine_scores,
    l2_normalise,
    retrieval_metrics,
    run_starts,
    searchsorted_rows,
    top_k,
)


def _cosine(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    qn = q.astype(np.float64) / np.linalg.norm(q.astype(np.float64), axis=1, keepdims=True)
    gn = g.astype(np.float64) / np.linalg.norm(g.astype(np.float64), axis=1, keepdims=True)
    return qn @ gn.T  # (Q, N)


def _tied_embeddings(rng: np.random.Generator, n: int, dim: int = 12) -> np.ndarray:
    """Rows with exactly four entries +-1: normalised entries are +-0.5, so every cosine is
    an exact multiple of 1/4 whatever the summation order -> many exact ties."""
    x = np.zeros((n, dim), np.float32)
    for row in x:
        row[rng.choice(dim, 4, replace=False)] = rng.choice([-1.0, 1.0], 4)
    return x


def _sklearn_ap(q, ql, g, gl) -> np.ndarray:
    scores = _cosine(q, g)
    return np.array([average_precision_score(gl == ql[i], scores[i]) for i in range(len(q))])


@pytest.fixture(scope="module")
def tied() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    q, g = _tied_embeddings(rng, 60), _tied_embeddings(rng, 250)
    ql = rng.choice(list("abcde"), 60)
    gl = rng.choice(list("abcde"), 250)
    return q, ql, g, gl


def test_ap_equals_sklearn_with_ties(tied) -> None:
    q, ql, g, gl = tied
    scores = _cosine(q, g)
    assert len(np.unique(scores[0])) < 10  # the test really has ties
    ours = retrieval_metrics(q, ql, g, gl, chunk_size=7)
    ref = _sklearn_ap(q, ql, g, gl)
    np.testing.assert_allclose(ours.ap, ref, rtol=0, atol=1e-6)
    assert ours.summary()["map_all"] == pytest.approx(ref.mean(), abs=1e-6)


def test_ap_equals_sklearn_on_continuous_scores() -> None:
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((6, 32))
    ql, gl = rng.integers(0, 6, 80), rng.integers(0, 6, 400)
    q = (centres[ql] + 2.0 * rng.standard_normal((80, 32))).astype(np.float32)
    g = (centres[gl] + 2.0 * rng.standard_normal((400, 32))).astype(np.float32)
    ours = retrieval_metrics(q, ql, g, gl, chunk_size=32)
    np.testing.assert_allclose(ours.ap, _sklearn_ap(q, ql, g, gl), rtol=0, atol=1e-6)


def test_chunk_size_does_not_change_anything(tied) -> None:
    q, ql, g, gl = tied
    a = retrieval_metrics(q, ql, g, gl, chunk_size=1)
    b = retrieval_metrics(q, ql, g, gl, chunk_size=1000)
    assert a.summary() == b.summary()
    np.testing.assert_array_equal(a.interpolated_precision, b.interpolated_precision)


def test_pr_curve_equals_interpolated_sklearn_curve(tied) -> None:
    q, ql, g, gl = tied
    ours = retrieval_metrics(q, ql, g, gl, chunk_size=16)
    scores = _cosine(q, g)
    for i in range(len(q)):
        precision, recall, _ = precision_recall_curve(gl == ql[i], scores[i])
        precision, recall = precision[:-1], recall[:-1]  # drop sklearn's (R=0, P=1) end point
        ref = [precision[recall >= level - 1e-12].max() for level in ours.recall_levels]
        np.testing.assert_allclose(ours.interpolated_precision[i], ref, rtol=0, atol=1e-9)


def _ranked_gallery(n: int) -> tuple[np.ndarray, np.ndarray]:
    """One query at angle 0 and n photos at increasing angles: rank i = gallery row i."""
    angles = np.linspace(0.01, 1.5, n)
    gallery = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return np.array([[1.0, 0.0]]), gallery


def test_hand_built_ranking_map200_and_precision() -> None:
    q, g = _ranked_gallery(300)
    gl = np.array(["no"] * 300, dtype=object)
    gl[[0, 2, 5, 249]] = "yes"  # relevant at ranks 1, 3, 6 and 250
    res = retrieval_metrics(q, np.array(["yes"]), g, gl).summary()
    top = 1 / 1 + 2 / 3 + 3 / 6  # sum of rel_k * P@k within the top 200
    assert res["map_all"] == pytest.approx((top + 4 / 250) / 4)
    assert res["map_200"] == pytest.approx(top / 200)
    assert res["map_200_norm"] == pytest.approx(top / 3)
    assert res["p_100"] == pytest.approx(3 / 100)
    assert res["p_200"] == pytest.approx(3 / 200)


def test_no_relevant_item_in_top_k_gives_zero() -> None:
    q, g = _ranked_gallery(300)
    gl = np.array(["no"] * 300, dtype=object)
    gl[260] = "yes"
    res = retrieval_metrics(q, np.array(["yes"]), g, gl).summary()
    assert res["map_200"] == res["map_200_norm"] == res["p_200"] == 0.0
    assert res["map_all"] == pytest.approx(1 / 261)


def test_ties_are_broken_by_gallery_order() -> None:
    g = np.ones((10, 3))  # every photo ties with every other
    gl = np.array(["x"] * 10, dtype=object)
    gl[[0, 5]] = "q"
    res = retrieval_metrics(np.ones((1, 3)), np.array(["q"]), g, gl, precision_ks=(1, 5, 6))
    assert res.precision_at[1][0] == 1.0  # row 0 ranks first
    assert res.precision_at[5][0] == pytest.approx(1 / 5)
    assert res.precision_at[6][0] == pytest.approx(2 / 6)
    assert res.ap[0] == pytest.approx(2 / 10)  # one threshold: precision 2/10 at recall 1
    np.testing.assert_array_equal(top_k(np.ones((1, 3)), g, 4), [[0, 1, 2, 3]])


def test_gallery_smaller_than_k_clips_k() -> None:
    q, g = _ranked_gallery(5)
    gl = np.array(["y", "n", "y", "n", "n"], dtype=object)
    res = retrieval_metrics(q, np.array(["y"]), g, gl).summary()
    assert res["p_100"] == res["p_200"] == pytest.approx(2 / 5)
    assert res["map_200"] == pytest.approx((1 + 2 / 3) / 5)
    assert res["map_200_norm"] == res["map_all"] == pytest.approx((1 + 2 / 3) / 2)


def test_query_class_without_gallery_item_is_an_error() -> None:
    q, g = _ranked_gallery(5)
    with pytest.raises(ValueError, match="'zebra'"):
        retrieval_metrics(q, np.array(["zebra"]), g, np.array(["cat"] * 5))


def test_non_finite_embeddings_are_an_error() -> None:
    q, g = _ranked_gallery(5)
    g[2, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        retrieval_metrics(q, np.array(["cat"]), g, np.array(["cat"] * 5))


def test_rank_metrics_equal_a_stable_sort_reference(tied) -> None:
    q, ql, g, gl = tied
    res = retrieval_metrics(q, ql, g, gl, map_k=200, precision_ks=(10, 100, 200))
    order = np.argsort(-_cosine(q, g), axis=1, kind="stable")  # ties: lower gallery row first
    np.testing.assert_array_equal(top_k(q, g, 30), order[:, :30])
    rel = gl[order[:, :200]] == ql[:, None]  # (Q, 200)
    precision = np.cumsum(rel, axis=1) / np.arange(1, 201)
    for k in (10, 100, 200):
        np.testing.assert_allclose(res.precision_at[k], rel[:, :k].mean(axis=1), atol=1e-12)
    np.testing.assert_allclose(res.ap_at_k, (rel * precision).sum(axis=1) / 200, atol=1e-12)
    np.testing.assert_allclose(
        res.ap_at_k_norm, (rel * precision).sum(axis=1) / rel.sum(axis=1), atol=1e-12
    )


def test_per_class_ap_is_the_mean_over_the_class_queries() -> None:
    table = per_class_ap(np.array([0.2, 0.4, 1.0]), np.array(["b", "b", "a"]))
    assert table.to_dict("list") == {"class": ["a", "b"], "ap": [1.0, 0.30000000000000004],
                                     "n_queries": [1, 2]}


# --------------------------------------------------- float32 scores: the exact-reference contract
def _float32_scores(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The score rows the metrics are defined on, as float64 for scikit-learn."""
    return cosine_scores(l2_normalise(q), l2_normalise(g)).astype(np.float64)  # (Q, N)


@pytest.fixture(scope="module")
def continuous() -> tuple[np.ndarray, ...]:
    """Clustered 64-d embeddings, 3,000 photos: enough near-ties that float32 and float64
    cosines give different AP (so the float32 contract is really exercised)."""
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((4, 64))
    ql, gl = rng.integers(0, 4, 90), rng.integers(0, 4, 3000)
    q = (centres[ql] + 3.0 * rng.standard_normal((90, 64))).astype(np.float32)
    g = (centres[gl] + 3.0 * rng.standard_normal((3000, 64))).astype(np.float32)
    return q, ql, g, gl


def test_scores_do_not_depend_on_the_batch(continuous) -> None:
    q, _, g, _ = continuous
    qn, gn = l2_normalise(q), l2_normalise(g)
    full = cosine_scores(qn, gn)  # (90, 3000)
    assert full.dtype == np.float32
    for start, stop in ((0, 1), (7, 8), (3, 5), (10, 25), (40, 90)):
        np.testing.assert_array_equal(cosine_scores(qn[start:stop], gn), full[start:stop])
    np.testing.assert_allclose(full, _cosine(q, g), rtol=0, atol=1e-6)  # float64 cosine


def test_ap_equals_sklearn_on_the_same_float32_scores(continuous) -> None:
    q, ql, g, gl = continuous
    scores = _float32_scores(q, g)
    ref = np.array([average_precision_score(gl == ql[i], s) for i, s in enumerate(scores)])
    ours = retrieval_metrics(q, ql, g, gl, chunk_size=13)
    np.testing.assert_allclose(ours.ap, ref, rtol=0, atol=1e-12)
    ref64 = _sklearn_ap(q, ql, g, gl)
    assert 0 < np.abs(ours.ap - ref64).max() < 1e-5  # float64 cosines differ, slightly


def test_rank_metrics_on_continuous_scores_with_duplicate_photos(continuous) -> None:
    """Duplicated photos tie exactly: rows mix the no-tie (SIMD sort) and tie paths."""
    q, ql, g, gl = continuous
    dup = [5, 17, 900, 2001]
    g, gl = np.concatenate([g, g[dup]]), np.concatenate([gl, gl[dup]])  # 4 duplicates
    scores = _float32_scores(q, g)
    order = np.argsort(-scores, axis=1, kind="stable")  # (Q, N)
    top = np.sort(scores, axis=1)[:, ::-1][:, :200]  # (Q, 200)
    has_tie = (top[:, 1:] == top[:, :-1]).any(axis=1)
    assert has_tie.any() and not has_tie.all()
    np.testing.assert_array_equal(top_k(q, g, 200), order[:, :200])
    res = retrieval_metrics(q, ql, g, gl, chunk_size=8)
    rel = gl[order[:, :200]] == ql[:, None]  # (Q, 200)
    precision = np.cumsum(rel, axis=1) / np.arange(1, 201)
    np.testing.assert_allclose(res.ap_at_k, (rel * precision).sum(axis=1) / 200, atol=1e-12)
    np.testing.assert_allclose(res.precision_at[100], rel[:, :100].mean(axis=1), atol=1e-12)
    ref = np.array([average_precision_score(gl == ql[i], s) for i, s in enumerate(scores)])
    np.testing.assert_allclose(res.ap, ref, rtol=0, atol=1e-12)


def test_run_starts_equals_a_left_search() -> None:
    rows = np.sort(np.random.default_rng(2).integers(0, 6, (5, 40)).astype(np.float32), axis=1)
    np.testing.assert_array_equal(run_starts(rows), searchsorted_rows(rows, rows))
    assert run_starts(np.zeros((2, 1), np.float32)).tolist() == [[0], [0]]
