"""The extract stage's chunk cache: what is reused, what is recomputed, bit-identical results."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zsbir import io
from zsbir.config import FeaturesConfig
from zsbir.features import extract as E
from zsbir.schema import make_manifest

CFG = FeaturesConfig(weights="random", layers=("gap1",), image_size=16, batch_size=1,
                     num_workers=0, precision="fp32", device="cpu")
REAL_EXTRACT = E.extract_images
N = 20  # photos; chunks of 8 batches of 1 -> 3 chunks per domain (8, 8, 4)


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(N):
        for domain, ext in (("photo", "jpg"), ("sketch", "png")):
            rel = f"{domain}/c/{i:02d}.{ext}"
            (tmp_path / "raw" / domain / "c").mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(
                tmp_path / "raw" / rel)
            rows.append({"id": f"{domain}/c/{i:02d}", "path": rel, "domain": domain, "class": "c"})
    io.write_table(make_manifest(rows), tmp_path / "manifest.parquet")
    return tmp_path


class Crash(Exception):
    """Stands in for the process dying."""


class Counting:
    """extract_images that counts the images it really runs the network on."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_after: int | None = None) -> None:
        self.images, self.calls, self.fail_after = 0, 0, fail_after
        monkeypatch.setattr(E, "extract_images", self)

    def __call__(self, model, paths, *args):  # type: ignore[no-untyped-def]
        if self.fail_after is not None and self.calls == self.fail_after:
            raise Crash()
        self.calls += 1
        self.images += len(paths)
        return REAL_EXTRACT(model, paths, *args)


def _run(root: Path, out: str, cfg: FeaturesConfig = CFG) -> dict[str, np.ndarray]:
    E.run_extract(root / "manifest.parquet", root / "raw", out_dir=root / out, cfg=cfg)
    return {d: io.read_vectors(root / out / f"{d}.parquet")[1] for d in ("photo", "sketch")}


def _cached(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.parquet"))


def test_interrupted_run_resumes_from_cached_chunks_bit_identically(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(E.CACHE_ENV, "off")
    reference = _run(dataset, "reference")
    cache = tmp_path / "cache"
    monkeypatch.setenv(E.CACHE_ENV, str(cache))
    Counting(monkeypatch, fail_after=4)  # photo's 3 chunks and sketch's first, then crash
    with pytest.raises(Crash):
        _run(dataset, "features")
    assert len(_cached(cache)) == 4
    counting = Counting(monkeypatch)
    again = _run(dataset, "features")
    assert counting.images == 8 + 4  # only sketch chunks 2 and 3
    for domain in ("photo", "sketch"):
        assert again[domain].tobytes() == reference[domain].tobytes()
    assert _cached(cache) == []  # merged: the cache is emptied


def test_changed_image_recomputes_only_its_chunk(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(E.CACHE_ENV, str(tmp_path / "cache"))
    Counting(monkeypatch, fail_after=6)  # all chunks cached, crash before the cache is emptied
    monkeypatch.setattr(E, "remove_files", lambda *a: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):
        _run(dataset, "features")
    monkeypatch.undo()
    monkeypatch.setenv(E.CACHE_ENV, str(tmp_path / "cache"))
    Image.new("RGB", (12, 12), (9, 9, 9)).save(dataset / "raw" / "sketch/c/17.png")  # chunk 3
    shutil.rmtree(dataset / "features")  # as `dvc repro` does: the parts go, the cache stays
    counting = Counting(monkeypatch)
    got = _run(dataset, "features")
    assert counting.images == 4
    monkeypatch.setenv(E.CACHE_ENV, "off")
    fresh = _run(dataset, "fresh")
    assert all(got[d].tobytes() == fresh[d].tobytes() for d in got)


def test_other_extractor_or_batching_does_not_reuse_chunks(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(E.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(E, "remove_files", lambda *a: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):
        _run(dataset, "features")
    monkeypatch.undo()
    monkeypatch.setenv(E.CACHE_ENV, str(tmp_path / "cache"))
    shutil.rmtree(dataset / "features")
    for cfg in (replace(CFG, layers=("gap2",)), replace(CFG, batch_size=2),
                replace(CFG, image_size=20)):
        counting = Counting(monkeypatch)
        _run(dataset, f"f-{cfg.batch_size}-{cfg.image_size}-{cfg.layers[0]}", cfg)
        assert counting.images == 2 * N, cfg
        monkeypatch.undo()
        monkeypatch.setenv(E.CACHE_ENV, str(tmp_path / "cache"))


def test_damaged_cache_file_is_recomputed(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv(E.CACHE_ENV, str(cache))
    Counting(monkeypatch, fail_after=1)
    with pytest.raises(Crash):
        _run(dataset, "features")
    (chunk,) = _cached(cache)
    chunk.write_bytes(chunk.read_bytes()[:100])
    counting = Counting(monkeypatch)
    _run(dataset, "features")
    assert counting.images == 2 * N and "damaged feature cache file" in caplog.text


def test_chunks_give_the_bytes_of_one_pass_in_the_configured_precision(dataset: Path) -> None:
    """Reference: the whole domain in batches of batch_size, under the stage's autocast."""
    import torch

    from zsbir.features.images import decode_image
    from zsbir.features.weights import build_extractor

    cfg = replace(CFG, batch_size=3, precision="bf16")  # chunks of 24: 20 = one short chunk
    precision = E.resolve_precision("bf16", torch.device("cpu"))
    manifest = io.read_table(dataset / "manifest.parquet").sort_values("id")
    rows = manifest[manifest["domain"] == "photo"]
    model = build_extractor("random", cfg.layers, seed=0, normalize_layers=cfg.normalize_layers)
    model = model.to(memory_format=torch.channels_last)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    with torch.inference_mode(), autocast:
        images = [decode_image(dataset / "raw" / p, "photo", cfg.image_size) for p in rows["path"]]
        ref = torch.cat([
            model(torch.stack(images[i : i + 3]).contiguous(memory_format=torch.channels_last))
            .float() for i in range(0, len(images), 3)
        ]).numpy()  # (N, D)
    got = _run(dataset, "features", cfg)["photo"]
    assert got.tobytes() == ref.tobytes()
