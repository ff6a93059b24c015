"""Batched extraction: outputs vs. a direct forward, workers, precision, unreadable images."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from zsbir import io
from zsbir.config import FeaturesConfig
from zsbir.features import device as device_mod
from zsbir.features import extract as E
from zsbir.features.images import ImageReadError, decode_image
from zsbir.features.weights import build_extractor
from zsbir.schema import ManifestError, make_manifest

CFG = FeaturesConfig(
    weights="random",
    layers=("gap2", "gap1"),
    image_size=32,
    batch_size=3,
    num_workers=0,
    precision="fp32",
    device="cpu",
)


def _dataset(root: Path, n_photos: int = 5) -> Path:
    """Tiny raw folder + manifest: n photos (RGB jpg) and one grayscale sketch png each."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_photos):
        cls = f"c{i % 2}"
        (root / "raw" / "photo" / cls).mkdir(parents=True, exist_ok=True)
        (root / "raw" / "sketch" / cls).mkdir(parents=True, exist_ok=True)
        photo, sketch = f"photo/{cls}/p{i}.jpg", f"sketch/{cls}/p{i}-1.png"
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(
            root / "raw" / photo
        )
        Image.fromarray(rng.integers(0, 256, (24, 24), dtype=np.uint8)).save(root / "raw" / sketch)
        rows += [
            {
                "id": f"photo/{cls}/p{i}",
                "path": photo,
                "domain": "photo",
                "class": cls,
                "wnid": None,
                "pair_id": None,
            },
            {
                "id": f"sketch/{cls}/p{i}-1",
                "path": sketch,
                "domain": "sketch",
                "class": cls,
                "wnid": None,
                "pair_id": f"photo/{cls}/p{i}",
            },
        ]
    io.write_table(pd.DataFrame(rows), root / "manifest.parquet")
    return root / "manifest.parquet"


def _direct(root: Path, manifest: Path, domain: str) -> tuple[list[str], np.ndarray]:
    """Reference: decode each image and run the model one at a time, no DataLoader."""
    df = io.read_table(manifest)
    df = df[df["domain"] == domain].sort_values("id")
    model = build_extractor("random", CFG.layers, seed=0, normalize_layers=CFG.normalize_layers)
    with torch.no_grad():
        out = [model(decode_image(root / "raw" / p, domain, 32)[None])[0] for p in df["path"]]
    return list(df["id"]), torch.stack(out).numpy()


def test_extract_matches_direct_forward(tmp_path: Path) -> None:
    manifest = _dataset(tmp_path)
    summary = E.run_extract(manifest, tmp_path / "raw", out_dir=tmp_path / "features", cfg=CFG)
    assert summary is not None
    assert summary["photo"]["count"] == summary["sketch"]["count"] == 5
    assert summary["dim"] == 128 + 64 and summary["weights"] == "random"
    assert summary["precision"] == "fp32" and summary["images_per_s"] > 0
    for domain in ("photo", "sketch"):
        meta, matrix = io.read_vectors(tmp_path / "features" / f"{domain}.parquet")
        ids, ref = _direct(tmp_path, manifest, domain)
        assert meta["id"].tolist() == ids and matrix.dtype == np.float32
        np.testing.assert_allclose(matrix, ref, rtol=1e-4, atol=1e-5)
    assert not (tmp_path / "features" / "parts").exists()


def test_worker_processes_give_the_same_features(tmp_path: Path) -> None:
    manifest = _dataset(tmp_path, n_photos=3)
    E.run_extract(manifest, tmp_path / "raw", out_dir=tmp_path / "a", cfg=CFG)
    E.run_extract(manifest, tmp_path / "raw", out_dir=tmp_path / "b", cfg=replace(CFG, num_workers=2))
    for domain in ("photo", "sketch"):
        np.testing.assert_array_equal(
            io.read_vectors(tmp_path / "a" / f"{domain}.parquet")[1],
            io.read_vectors(tmp_path / "b" / f"{domain}.parquet")[1],
        )


def test_bf16_agrees_with_fp32(tmp_path: Path) -> None:
    manifest = _dataset(tmp_path, n_photos=3)
    E.run_extract(manifest, tmp_path / "raw", out_dir=tmp_path / "a", cfg=CFG)
    bf16 = replace(CFG, precision="bf16")
    summary = E.run_extract(manifest, tmp_path / "raw", out_dir=tmp_path / "b", cfg=bf16)
    assert summary["precision"] == E.resolve_precision("bf16", torch.device("cpu"))
    a = io.read_vectors(tmp_path / "a" / "photo.parquet")[1]
    b = io.read_vectors(tmp_path / "b" / "photo.parquet")[1]
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.999


def test_unreadable_image_fails_with_path_or_is_skipped(tmp_path: Path) -> None:
    manifest = _dataset(tmp_path, n_photos=3)
    (tmp_path / "raw" / "photo" / "c1" / "p1.jpg").write_bytes(b"truncated")
    with pytest.raises(ImageReadError, match="photo/c1/p1.jpg"):
        E.run_extract(manifest, tmp_path / "raw", out_dir=tmp_path / "f", cfg=CFG)
    assert not (tmp_path / "f" / "photo.parquet").exists()

    skip = replace(CFG, skip_unreadable=True)
    summary = E.run_extract(manifest, tmp_path / "raw", out_dir=tmp_path / "f", cfg=skip)
    assert summary["photo"] == {"count": 2, "unreadable": 1}
    assert summary["sketch"] == {"count": 3, "unreadable": 0}
    assert [u["id"] for u in summary["unreadable"]] == ["photo/c1/p1"]
    meta, _ = io.read_vectors(tmp_path / "f" / "photo.parquet")
    assert meta["id"].tolist() == ["photo/c0/p0", "photo/c0/p2"]
    report = pd.read_csv(tmp_path / "f" / "unreadable.csv")
    assert report["path"].tolist() == ["photo/c1/p1.jpg"] and "p1.jpg" in report["error"][0]


def test_bad_manifest_is_named(tmp_path: Path) -> None:
    io.write_table(pd.DataFrame({"id": ["a"], "path": ["a.png"]}), tmp_path / "m.parquet")
    with pytest.raises(ManifestError, match=r"m.parquet: manifest lacks column\(s\) \['domain', 'class'"):
        E.load_manifest(tmp_path / "m.parquet")
    bad = make_manifest([{"id": "painting/c/a", "path": "a.png", "domain": "painting", "class": "c"}])
    io.write_table(bad, tmp_path / "m.parquet")
    with pytest.raises(ManifestError, match="m.parquet: item 'painting/c/a': domain 'painting'"):
        E.load_manifest(tmp_path / "m.parquet")


def test_unreadable_image_in_a_worker_process_still_names_its_path(tmp_path: Path) -> None:
    manifest = _dataset(tmp_path, n_photos=2)
    (tmp_path / "raw" / "sketch" / "c1" / "p1-1.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match="sketch/c1/p1-1.png"):
        E.run_extract(manifest, tmp_path / "raw", out_dir=tmp_path / "f", cfg=replace(CFG, num_workers=1))


def test_bf16_without_native_support_falls_back_to_fp32(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(device_mod, "bf16_supported", lambda device: False)
    assert E.resolve_precision("bf16", torch.device("cpu")) == "fp32"
    assert E.resolve_precision("fp32", torch.device("cpu")) == "fp32"
    manifest = _dataset(tmp_path, n_photos=1)
    summary = E.run_extract(
        manifest, tmp_path / "raw", out_dir=tmp_path / "f", cfg=replace(CFG, precision="bf16")
    )
    assert summary["precision"] == "fp32"
