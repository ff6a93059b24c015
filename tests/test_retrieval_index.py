"""FAISS index kinds (zsbir.retrieval.index) against an independent numpy brute force."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zsbir.config import ConfigError, IndexSpec
from zsbir.retrieval.index import (
    IndexSizeError,
    build_index,
    load_index,
    resolve_spec,
    save_index,
    search,
)


def _clustered(seed: int = 0, n: int = 5000, dim: int = 32, classes: int = 30
               ) -> tuple[np.ndarray, np.ndarray]:
    """Gallery (n, dim) and 200 queries drawn around the same class centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))  # (C, D)
    gallery = centres[rng.integers(0, classes, n)] + 0.6 * rng.normal(size=(n, dim))
    queries = centres[rng.integers(0, classes, 200)] + 0.6 * rng.normal(size=(200, dim))
    return gallery.astype(np.float32), queries.astype(np.float32)


def _reference_top(queries: np.ndarray, gallery: np.ndarray, k: int) -> np.ndarray:
    """Top-k rows by cosine, float64 numpy (no FAISS, no zsbir code)."""
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    return np.argsort(-(q.astype(np.float64) @ g.astype(np.float64).T), axis=1)[:, :k]


def _recall(rows: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / truth.shape[1] for a, b in zip(rows, truth)]))


def test_ivf_probing_every_list_returns_exactly_flats_top_k() -> None:
    gallery, queries = _clustered()
    _, flat = search(build_index(gallery), queries, 10)
    _, ivf = search(build_index(gallery, IndexSpec("ivf", 40, 40)), queries, 10)
    np.testing.assert_array_equal(ivf, flat)
    assert _recall(flat, _reference_top(queries, gallery, 10)) > 0.99  # float32 near-ties only


@pytest.mark.parametrize(("spec", "bound"), [(IndexSpec("sq8"), 0.95), (IndexSpec("ivf"), 0.9)])
def test_compressed_and_partitioned_recall_on_clustered_data(spec: IndexSpec, bound: float
                                                             ) -> None:
    gallery, queries = _clustered()
    _, rows = search(build_index(gallery, spec), queries, 10)
    assert _recall(rows, _reference_top(queries, gallery, 10)) > bound


def test_defaults_keep_39_points_a_list_and_probe_a_sixteenth() -> None:
    assert resolve_spec(IndexSpec("ivf"), 1_000_000) == IndexSpec("ivf", 4000, 250)
    assert resolve_spec(IndexSpec("ivf"), 5000) == IndexSpec("ivf", 128, 8)  # 5000 // 39
    assert resolve_spec(IndexSpec("ivf"), 6) == IndexSpec("ivf", 1, 1)
    assert resolve_spec(IndexSpec("ivf", nprobe=3), 10_000) == IndexSpec("ivf", 256, 3)
    assert resolve_spec(IndexSpec("sq8"), 6) == IndexSpec("sq8")


def test_ivf_training_is_seeded() -> None:
    gallery, queries = _clustered(n=3000)
    spec = IndexSpec("ivf", 30, 2)
    a = search(build_index(gallery, spec, seed=7), queries, 10)[1]
    b = search(build_index(gallery, spec, seed=7), queries, 10)[1]
    np.testing.assert_array_equal(a, b)


def test_save_load_keeps_nprobe_and_checks_the_kind(tmp_path: Path) -> None:
    gallery, queries = _clustered(n=3000)
    spec = IndexSpec("ivf", 30, 7)
    index = build_index(gallery, spec)
    save_index(index, tmp_path / "ivf.index")
    loaded = load_index(tmp_path / "ivf.index", spec)
    assert loaded.nprobe == 7 and loaded.nlist == 30
    np.testing.assert_array_equal(search(loaded, queries, 10)[1], search(index, queries, 10)[1])
    assert load_index(tmp_path / "ivf.index", IndexSpec("ivf", 30, 30)).nprobe == 30
    with pytest.raises(Exception, match="a ivf index, but recorded as sq8"):
        load_index(tmp_path / "ivf.index", IndexSpec("sq8"))


def test_too_small_gallery_and_bad_specs_fail_named() -> None:
    gallery, _ = _clustered(n=100)
    with pytest.raises(IndexSizeError, match="100 vectors is too small for ivf with nlist=10"):
        build_index(gallery, IndexSpec("ivf", 10))
    with pytest.raises(IndexSizeError, match="empty gallery"):
        build_index(gallery[:0], IndexSpec("sq8"))
    with pytest.raises(IndexSizeError, match="nprobe=5 exceeds nlist=2"):
        resolve_spec(IndexSpec("ivf", nprobe=5), 100)
    with pytest.raises(ConfigError, match="apply to kind 'ivf' only"):
        IndexSpec("sq8", nlist=4)
    with pytest.raises(ConfigError, match="'index.nprobe' must be >= 1, got 0"):
        IndexSpec("ivf", nprobe=0)
    with pytest.raises(ConfigError, match="'index.kind' must be one of"):
        IndexSpec("pq")  # type: ignore[arg-type]
