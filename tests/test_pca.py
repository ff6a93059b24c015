"""PCA stage: against scikit-learn's PCA, train-only fitting, per-domain, artifacts."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

from zsbir import io
from zsbir.config import PCAConfig
from zsbir.features import pca as P


def _data(n: int = 60, d: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scales = np.linspace(3.0, 0.2, d)  # distinct variances -> well separated components
    return (rng.normal(size=(n, d)) * scales @ _rotation(d, rng) + 5.0).astype(np.float32)


def _rotation(d: int, rng: np.random.Generator) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return q


def _assert_equal_up_to_sign(a: np.ndarray, b: np.ndarray, atol: float = 1e-4) -> None:
    signs = np.sign((a * b).sum(axis=0))
    np.testing.assert_allclose(a, b * signs, atol=atol)


@pytest.mark.parametrize("whiten", [False, True])
def test_matches_sklearn_pca(whiten: bool) -> None:
    x = _data()
    before = x.copy()
    ours = P.fit_pca(x, 5, whiten=whiten)
    ref = PCA(n_components=5, whiten=whiten, svd_solver="full").fit(x.astype(np.float64))
    np.testing.assert_allclose(ours.explained_variance, ref.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(
        ours.explained_variance_ratio, ref.explained_variance_ratio_, rtol=1e-6
    )
    _assert_equal_up_to_sign(ours.components.T, ref.components_.T, atol=1e-8)
    z = ours.transform(x)
    assert z.dtype == np.float32 and z.shape == (60, 5)
    _assert_equal_up_to_sign(z, ref.transform(x.astype(np.float64)))
    np.testing.assert_array_equal(x, before)  # input untouched
    if whiten:
        np.testing.assert_allclose(z.std(axis=0, ddof=1), 1.0, atol=1e-4)


@pytest.mark.parametrize("whiten", [False, True])
def test_chunked_covariance_path_matches_sklearn_pca(
    whiten: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above SVD_MAX_CELLS the fit is the chunked covariance eigendecomposition: same model."""
    monkeypatch.setattr(P, "SVD_MAX_CELLS", 0)
    monkeypatch.setattr(P, "CHUNK_ROWS", 7)  # 60 rows: nine chunks, the last one short
    x = _data()
    ours = P.fit_pca(x, 5, whiten=whiten)
    ref = PCA(n_components=5, whiten=whiten, svd_solver="full").fit(x.astype(np.float64))
    np.testing.assert_allclose(ours.explained_variance, ref.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(
        ours.explained_variance_ratio, ref.explained_variance_ratio_, rtol=1e-6
    )
    _assert_equal_up_to_sign(ours.components.T, ref.components_.T, atol=1e-8)
    _assert_equal_up_to_sign(ours.transform(x), ref.transform(x.astype(np.float64)))


def test_dim_larger_than_train_rows_or_features_fails() -> None:
    with pytest.raises(P.PCAError, match=r"pca.dim=13 .*min\(60, 12\)"):
        P.fit_pca(_data(), 13)
    with pytest.raises(P.PCAError, match=r"pca.dim=11 .*min\(10, 12\)"):
        P.fit_pca(_data(n=10), 11)


def _features(n: int = 40, d: int = 10) -> tuple[P.Features, pd.DataFrame]:
    feats, rows = {}, []
    for k, domain in enumerate(("photo", "sketch")):
        x = _data(n, d, seed=k + 1)
        ids = [f"{domain}/{i}" for i in range(n)]
        feats[domain] = (pd.DataFrame({"id": ids}), x)
        rows += [
            {
                "id": i,
                "domain": domain,
                "class": "c",
                "split": "train" if j % 4 else ("val" if j % 8 else "test"),
            }
            for j, i in enumerate(ids)
        ]
    return feats, pd.DataFrame(rows)


def test_fit_uses_only_train_rows() -> None:
    feats, split = _features()
    cfg = PCAConfig(dim=4)
    _, clean = P.run_pca(feats, split, cfg)
    outliers = {}
    for domain, (meta, x) in feats.items():
        x = x.copy()
        held_out = (meta["id"].map(split.set_index("id")["split"]) != "train").to_numpy()
        x[held_out] = 1e6 * np.random.default_rng(0).normal(size=x[held_out].shape)
        outliers[domain] = (meta, x)
    out, dirty = P.run_pca(outliers, split, cfg)
    np.testing.assert_allclose(dirty["joint"].components, clean["joint"].components, atol=1e-10)
    np.testing.assert_allclose(dirty["joint"].mean, clean["joint"].mean, atol=1e-10)
    train = np.concatenate(
        [
            x[(split.set_index("id").loc[m["id"], "split"] == "train").to_numpy()]
            for m, x in feats.values()
        ]
    )
    assert dirty["joint"].n_samples == len(train) == 60
    ref = PCA(4, svd_solver="full").fit(train.astype(np.float64))
    _assert_equal_up_to_sign(out["photo"], ref.transform(outliers["photo"][1]), atol=1.0)


def test_per_domain_fits_each_domain_separately() -> None:
    feats, split = _features()
    out, models = P.run_pca(feats, split, PCAConfig(dim=3, fit_on="per_domain", whiten=True))
    assert sorted(models) == ["photo", "sketch"]
    for domain, (meta, x) in feats.items():
        train = x[(meta["id"].map(split.set_index("id")["split"]) == "train").to_numpy()]
        ref = PCA(3, whiten=True, svd_solver="full").fit(train.astype(np.float64))
        _assert_equal_up_to_sign(out[domain], ref.transform(x.astype(np.float64)))


def test_disabled_passes_features_through() -> None:
    feats, split = _features()
    out, models = P.run_pca(feats, split, PCAConfig(enabled=False))
    assert models == {}
    for domain, (_, x) in feats.items():
        np.testing.assert_array_equal(out[domain], x)


def test_ids_missing_from_split_are_named() -> None:
    feats, split = _features()
    with pytest.raises(P.PCAError, match="'photo/0'"):
        P.run_pca(feats, split[split["id"] != "photo/0"], PCAConfig(dim=2))


def test_stage_writes_artifacts_and_npz_round_trips(tmp_path: Path) -> None:
    feats, split = _features()
    for domain, (meta, x) in feats.items():
        io.write_vectors(tmp_path / "features" / f"{domain}.parquet", x, {"id": meta["id"]})
    io.write_table(split, tmp_path / "split.parquet")
    cfg = PCAConfig(dim=4, whiten=True)
    curve, metrics = P.pca_stage(
        tmp_path / "features", split_path=tmp_path / "split.parquet", out_dir=tmp_path / "pca", cfg=cfg
    )
    assert metrics["output_dim"] == 4 and metrics["input_dim"] == 10
    assert metrics["count"] == {"photo": 40, "sketch": 40} and metrics["joint_train_rows"] == 60
    assert list(curve.columns[:3]) == ["component", "explained", "cumulative"]
    assert curve["component"].tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(curve["cumulative"], np.cumsum(curve["explained"]))
    models = P.load_models(tmp_path / "pca" / "pca.npz")  # allow_pickle=False inside
    meta, z = io.read_vectors(tmp_path / "pca" / "sketch.parquet")
    assert meta["id"].tolist() == feats["sketch"][0]["id"].tolist()
    np.testing.assert_allclose(models["joint"].transform(feats["sketch"][1]), z, atol=1e-4)
    assert not [p for p in (tmp_path / "pca").iterdir() if p.name.startswith(".")]
