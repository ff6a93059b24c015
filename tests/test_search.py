"""Search product: bundle, Retriever, zsbir index/query, and product == evaluation."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from search_helpers import EVAL, FEATURES, SEED

from zsbir.features.images import ImageReadError
from zsbir.io import read_vectors
from zsbir.search import gallery
from zsbir.search.bundle import Bundle, BundleError, BundleInputs, load_extractor, write_bundle
from zsbir.search.cli import main
from zsbir.search.check import CheckInputs, check_product
from zsbir.search.gallery import index_folder
from zsbir.search.photo_index import GalleryError, PhotoIndex
from zsbir.search.retriever import Retriever

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pipe(search_pipeline: Path) -> Path:
    return search_pipeline


@pytest.fixture(scope="module")
def retriever(pipe: Path) -> Retriever:
    return Retriever.load(pipe / "models/bundle")


def _photos(pipe: Path, dest: Path, n: int = 6) -> list[str]:
    """Copy ``n`` synthetic photos into ``dest`` (nested folders, mixed-case extension)."""
    src = sorted((pipe / "data/raw/synthetic/photo").rglob("*.jpg"))[:n]
    names = []
    for i, path in enumerate(src):
        name = f"{'sub/' if i % 2 else ''}{path.stem}{'.JPG' if i == 0 else '.jpg'}"
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest / name)
        names.append(name)
    return sorted(names)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``zsbir ARGS`` in this process (the product test runs it as a subprocess)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _bomb_png(path: Path, side: int = 40_000) -> None:
    """A PNG header claiming side x side pixels (PIL's decompression-bomb limit is ~179 Mpx)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\0" * 64))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat)


# ------------------------------------------------------------------- product == eval
def test_served_rankings_reproduce_eval_map_all(pipe: Path, tmp_path: Path) -> None:
    d = pipe / "data"
    inputs = CheckInputs(d / "split.parquet", d / "manifest.parquet", d / "raw/synthetic",
                         pipe / "metrics/eval.json", pipe / "models/bundle")
    report = check_product(inputs, tmp_path, n_sample=1)
    assert report["abs_diff"] <= 1e-6 and report["cli_equal"]
    assert report["n_queries"] == 18 and report["n_gallery"] == 18
    assert 0 < report["map_all_served"] < 1


def test_api_embeddings_equal_the_embed_stage(pipe: Path, retriever: Retriever) -> None:
    import pandas as pd

    manifest = pd.read_parquet(pipe / "data/manifest.parquet").set_index("id")["path"]
    for domain, embed in (("sketch", retriever.embed_sketches), ("photo", retriever.embed_photos)):
        meta, expected = read_vectors(pipe / f"data/embeddings/{domain}.parquet")
        files = [pipe / "data/raw/synthetic" / manifest[i] for i in meta["id"]]
        got = embed(files)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
        # in-memory images (bytes, PIL) embed exactly like their files
        np.testing.assert_array_equal(embed([files[0].read_bytes()]), embed([files[0]]))
        with Image.open(files[1]) as im:
            np.testing.assert_array_equal(embed([im]), embed([files[1]]))


def test_bundle_loads_without_data_or_params(pipe: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere"
    shutil.copytree(pipe / "models/bundle", moved)
    spec = json.loads((moved / "bundle.json").read_text())
    assert spec["backbone"]["file"] is None and not (moved / "backbone.pt").exists()
    assert spec["metrics"]["map_all"] > 0 and len(spec["training_classes"]) == 7
    r = Retriever.load(moved)
    sketch = sorted((pipe / "data/raw/synthetic/sketch").rglob("*.png"))[0]
    assert r.embed_sketches([sketch]).shape == (1, 8)


# ---------------------------------------------------------------------- bad bundles
def test_missing_damaged_or_mismatched_bundle_is_named(pipe: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a zsbir bundle"):
        Retriever.load(tmp_path / "nowhere")
    damaged = tmp_path / "damaged"
    shutil.copytree(pipe / "models/bundle", damaged)
    with open(damaged / "model.pt", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(BundleError, match="model.pt: content differs"):
        Retriever.load(damaged)
    spec = json.loads((pipe / "models/bundle/bundle.json").read_text())
    spec["backbone"]["seed"] = 1  # another random backbone than the one recorded
    with pytest.raises(BundleError, match="backbone rebuilt here"):
        load_extractor(Bundle(pipe / "models/bundle", spec))


def test_index_refuses_another_bundle(pipe: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    _photos(pipe, photos, 3)
    index_folder(photos, pipe / "models/bundle", tmp_path / "index")
    d = pipe / "data"
    other = tmp_path / "other"
    write_bundle(other, BundleInputs(pipe / "models/model.pt", d / "pca/pca.npz",
                                     d / "classes.parquet", pipe / "metrics/eval.json"),
                 FEATURES, {"space": EVAL.space, "n_samples": EVAL.n_samples, "seed": SEED + 1},
                 "test")
    with pytest.raises(GalleryError, match="built by bundle"):
        index_folder(photos, other, tmp_path / "index")
    with pytest.raises(GalleryError, match="built by bundle"):
        Retriever.load(other, index=tmp_path / "index")


# ------------------------------------------------------------------ zsbir index
def test_incremental_reindex_embeds_only_changed_content(
    pipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos, out = tmp_path / "photos", tmp_path / "index"
    names = _photos(pipe, photos, 6)
    first = index_folder(photos, pipe / "models/bundle", out)
    assert first["embedded"] == 6 and first["count"] == 6
    meta0, vec0 = read_vectors(out / "photos.parquet")
    assert list(meta0["path"]) == names
    extra = sorted((pipe / "data/raw/synthetic/photo").rglob("*.jpg"))[10]
    shutil.copyfile(extra, photos / "added.jpg")
    shutil.copyfile(photos / names[1], photos / "copy_of_1.jpg")  # same content: no new embedding
    (photos / names[2]).unlink()
    changed = sorted((pipe / "data/raw/synthetic/photo").rglob("*.jpg"))[11]
    shutil.copyfile(changed, photos / names[3])  # new content at an indexed path
    second = index_folder(photos, pipe / "models/bundle", out)
    assert second["embedded"] == 2 and second["count"] == 7
    meta1, vec1 = read_vectors(out / "photos.parquet")
    assert meta1["path"].is_unique and names[2] not in set(meta1["path"])
    row = dict(zip(meta1["path"], vec1))
    np.testing.assert_array_equal(row["copy_of_1.jpg"], row[names[1]])
    np.testing.assert_array_equal(row[names[0]], vec0[0])
    # an interrupted run keeps its finished chunks and resumes from them
    (photos / "added.jpg").unlink()
    for i in range(3):
        shutil.copyfile(sorted((pipe / "data/raw/synthetic/photo").rglob("*.jpg"))[20 + i],
                        photos / f"new{i}.jpg")
    monkeypatch.setattr(gallery, "CHUNK", 1)
    calls = {"n": 0}
    real = Retriever.file_features

    def flaky(self, *args, **kwargs):  # noqa: ANN001, ANN202
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Retriever, "file_features", flaky)
    with pytest.raises(KeyboardInterrupt):
        index_folder(photos, pipe / "models/bundle", out)
    assert len(list((out / "parts").glob("*.parquet"))) == 1
    resumed = index_folder(photos, pipe / "models/bundle", out)
    assert resumed["embedded"] == 2 and resumed["count"] == 9 and not (out / "parts").exists()


def test_unreadable_photos_are_named_or_skipped_and_listed(
    pipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    _photos(pipe, photos, 3)
    jpg = sorted(photos.rglob("*.jpg"))[0].read_bytes()
    (photos / "truncated.jpg").write_bytes(jpg[: len(jpg) // 3])
    (photos / "empty.png").write_bytes(b"")
    (photos / "notes.webp").write_text("not an image")
    _bomb_png(photos / "bomb.png")
    bundle = str(pipe / "models/bundle")
    code, _, err = _cli(capsys, "index", str(photos), "--bundle", bundle, "--out",
                        str(tmp_path / "index"))
    assert code == 2 and "Traceback" not in err
    assert "cannot read image" in err and str(photos) in err
    assert not (tmp_path / "index/index.json").exists()
    code, _, err = _cli(capsys, "index", str(photos), "--bundle", bundle, "--out",
                        str(tmp_path / "index"), "--skip-unreadable")
    assert code == 0, err
    meta = json.loads((tmp_path / "index/index.json").read_text())
    skipped = {s["path"]: s["error"] for s in meta["skipped"]}
    assert set(skipped) == {"truncated.jpg", "empty.png", "notes.webp", "bomb.png"}
    assert "DecompressionBomb" in skipped["bomb.png"] and meta["count"] == 3
    for name in skipped:
        assert f"skipped {name}" in err


def test_empty_folder_and_missing_bundle_are_clear_errors(
    pipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty/readme.txt").write_text("no images here")
    with pytest.raises(GalleryError, match="no images"):
        index_folder(tmp_path / "empty", pipe / "models/bundle", tmp_path / "index")
    code, _, err = _cli(capsys, "index", str(tmp_path / "empty"), "--bundle",
                        str(tmp_path / "nope"), "--out", str(tmp_path / "index"))
    assert code == 2 and "not a zsbir bundle" in err


def test_one_bad_photo_fails_with_its_name(pipe: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    _photos(pipe, photos, 2)
    (photos / "zero.jpg").write_bytes(b"")
    with pytest.raises(ImageReadError, match="zero.jpg"):
        index_folder(photos, pipe / "models/bundle", tmp_path / "index")


# ------------------------------------------------------------------ zsbir query
def test_query_cli_json_and_sheet_match_the_api(
    pipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    _photos(pipe, photos, 6)
    index_folder(photos, pipe / "models/bundle", tmp_path / "index")
    sketch = sorted((pipe / "data/raw/synthetic/sketch").rglob("*.png"))[0]
    code, out, err = _cli(capsys, "query", str(sketch), "--index", str(tmp_path / "index"),
                          "-k", "4", "--json", "--sheet", str(tmp_path / "sheet.png"))
    assert code == 0, err
    results = json.loads(out)["results"]
    api = Retriever.for_index(tmp_path / "index").search(sketch, 4)
    assert [r["path"] for r in results] == [h.path for h in api]
    np.testing.assert_allclose([r["score"] for r in results], [h.score for h in api], atol=1e-6)
    assert [r["rank"] for r in results] == [1, 2, 3, 4]
    assert all(a >= b for a, b in zip([h.score for h in api], [h.score for h in api][1:]))
    with Image.open(tmp_path / "sheet.png") as sheet:
        assert sheet.width > 5 * 160 and sheet.height > 160


def test_index_kinds_sq8_and_ivf_end_to_end_then_query(
    pipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    _photos(pipe, photos, 6)
    bundle = str(pipe / "models/bundle")
    sketch = str(sorted((pipe / "data/raw/synthetic/sketch").rglob("*.png"))[0])
    results = {}
    for kind, extra in (("flat", []), ("sq8", []), ("ivf", ["--nprobe", "1"])):
        out = str(tmp_path / kind)
        code, _, err = _cli(capsys, "index", str(photos), "--bundle", bundle, "--out", out,
                            "--kind", kind, *extra)
        assert code == 0, err
        meta = json.loads((tmp_path / kind / "index.json").read_text())
        assert meta["kind"] == kind
        code, printed, err = _cli(capsys, "query", sketch, "--index", out, "-k", "6", "--json")
        assert code == 0, err
        results[kind] = json.loads(printed)["results"]
    assert meta["index_params"] == {"kind": "ivf", "nlist": 1, "nprobe": 1}  # 6 photos: 1 list
    assert PhotoIndex.load(tmp_path / "ivf").faiss_index.nprobe == 1
    paths = {kind: [r["path"] for r in rows] for kind, rows in results.items()}
    assert paths["ivf"] == paths["flat"]  # one list probed = all of it: exact
    assert sorted(paths["sq8"]) == sorted(paths["flat"])
    np.testing.assert_allclose([r["score"] for r in results["sq8"]],
                               [r["score"] for r in results["flat"]], atol=2e-2)
    code, _, err = _cli(capsys, "index", str(photos), "--bundle", bundle, "--out",
                        str(tmp_path / "flat"), "--kind", "ivf", "--nlist", "2")
    assert code == 2 and "6 vectors is too small for ivf with nlist=2" in err
    assert "Traceback" not in err
    assert PhotoIndex.load(tmp_path / "flat").meta["kind"] == "flat"  # left as it was
    code, _, err = _cli(capsys, "index", str(photos), "--bundle", bundle, "--out",
                        str(tmp_path / "bad"), "--kind", "sq8", "--nprobe", "4")
    assert code == 2 and "apply to kind 'ivf' only" in err


def test_degenerate_sketches_get_an_answer(pipe: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    _photos(pipe, photos, 4)
    index_folder(photos, pipe / "models/bundle", tmp_path / "index")
    r = Retriever.for_index(tmp_path / "index")
    for sketch in (Image.new("L", (1, 1), 0), Image.new("RGB", (300, 200), "white"),
                   Image.new("RGBA", (64, 64), (0, 0, 0, 0))):
        hits = r.search(sketch, 10)
        assert len(hits) == 4 and all(np.isfinite(h.score) for h in hits)
    with pytest.raises(ImageReadError, match="cannot read image"):
        r.search(b"<html>not an image</html>", 3)


# ------------------------------------------------------------------ FAISS index
def test_flat_index_ranks_like_the_metrics_cosine_and_hnsw_recalls(tmp_path: Path) -> None:
    from zsbir.retrieval.metrics import cosine_scores, l2_normalise, top_k
    from zsbir.config import IndexSpec
    from zsbir.retrieval.index import build_index, load_index, save_index, search

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 16))
    noise = 0.3 * rng.normal(size=(2000, 16))
    gallery = (centres[rng.integers(0, 20, 2000)] + noise).astype(np.float32)  # (2000, 16)
    queries = rng.normal(size=(50, 16)).astype(np.float32)
    scores, rows = search(build_index(gallery), queries, 10)
    reference = cosine_scores(l2_normalise(queries), l2_normalise(gallery))  # (50, 2000)
    np.testing.assert_allclose(scores, np.sort(reference, axis=1)[:, ::-1][:, :10], atol=1e-5)
    assert (rows == top_k(queries, gallery, 10)).mean() > 0.99  # equal but for float32 near-ties
    hnsw = build_index(gallery, IndexSpec("hnsw"))
    save_index(hnsw, tmp_path / "h.index")
    _, approx = search(load_index(tmp_path / "h.index"), queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approx, rows)])
    assert recall > 0.9
    assert search(build_index(gallery[:3]), queries[:1], 10)[1].shape == (1, 3)  # k clipped
