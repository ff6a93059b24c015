"""Sketchy, TU-Berlin and QuickDraw from miniature archives with the real layouts.

Each miniature holds every real class (one or two tiny images each) under the published
folder names, typos included, so the tests prove the class mapping and the published
splits against the committed tables; only the expected counts are the miniature's own.
Archives are served from 127.0.0.1 (with Google Drive's confirmation page) or read from a
``data.source`` folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import typing
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import py7zr
import pytest
from conftest import Served
from PIL import Image

from zsbir.config import DataConfig, SketchyConfig, SplitConfig
from zsbir.data.acquire import benchmark, fetch, gdrive
from zsbir.data.datasets import quickdraw, sketchy, tuberlin
from zsbir.data.acquire.benchmark import Benchmark
from zsbir.data.acquire.counts import count_table, read_expected
from zsbir.data.acquire.fetch import read_checksums
from zsbir.data.base import DatasetError
from zsbir.data.datasets import build_dataset
from zsbir.split import wordnet
from zsbir.split.published import published_unseen
from zsbir.split.run import make_split

TABLES = Path(tuberlin.__file__).parent / "tables"
TUBERLIN_DRIVE_ID = tuberlin.PHOTOS_GDRIVE.removeprefix(gdrive.SCHEME)
QD_SPACED = {"cruise_ship", "eiffel_tower", "palm_tree", "soccer_ball", "wine_bottle"}


# --------------------------------------------------------------------- miniatures
def image(seed: int, fmt: str = "PNG") -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (4, 4, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt)
    return buf.getvalue()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def classes_of(dataset: str) -> tuple[str, ...]:
    return read_expected(TABLES / f"{dataset}.tsv").classes


def tuberlin_files() -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Sketch zip (``png/<name with spaces>/<id>.png``) and photo zip (raw, typo'd folders)."""
    raw_folder = {cls: folder for folder, cls in tuberlin.photo_folders().items()}
    sketches: dict[str, bytes] = {"png/filelist.txt": b"airplane/1.png\n"}
    photos: dict[str, bytes] = {"ImageResized/Thumbs.db": b"junk"}
    for k, cls in enumerate(classes_of("tuberlin")):
        name = cls.replace("_", " ")  # TU-Berlin's own spelling
        sketches[f"png/{name}/{k * 80 + 1}.png"] = image(k)
        ext = "JPEG" if k % 2 else "jpg"  # the archive mixes both
        photos[f"ImageResized/{raw_folder.get(cls, cls)}/n0000{k:04d}_{k}.{ext}"] = image(
            1000 + k, "JPEG"
        )
    return sketches, photos


def quickdraw_files() -> tuple[dict[str, bytes], dict[str, bytes]]:
    sketches: dict[str, bytes] = {"QuickDraw_sketches_final/.DS_Store": b"junk"}
    photos: dict[str, bytes] = {}
    for k, cls in enumerate(classes_of("quickdraw")):
        folder = cls.replace("_", " ") if cls in QD_SPACED else cls
        sketches[f"QuickDraw_sketches_final/{folder}/{5147947173937152 + k}.png"] = image(k)
        photos[f"QuickDraw_images_final/{folder}/image_{k:05d}.jpg"] = image(1000 + k, "JPEG")
    return sketches, photos


def sketchy_wnids() -> dict[str, str]:
    listed = read_checksums(
        Path(sketchy.__file__).parent / "checksums/sketchy-mini.sha256"
    )
    return {rel.split("/")[1]: rel.split("/")[2][:9] for rel in sorted(listed, reverse=True)}


SKETCH_VARIANTS = typing.get_args(typing.get_type_hints(SketchyConfig)["sketch_variant"])


def sketchy_files() -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Rendered: 1 photo per class (+ the other photo variant), 2 sketches in 6 renderings.

    Extended: the Sketchy original again (same name), ``ext_1``, and in ``airplane`` an
    ``ext_2`` identical to ``ext_1`` and in ``zebra`` a copy of airplane's ``ext_1``.
    """
    rendered: dict[str, bytes] = {"256x256/README.txt": b"Sketchy"}
    extended: dict[str, bytes] = {}
    for k, (cls, wnid) in enumerate(sorted(sketchy_wnids().items())):
        stem = f"{wnid}_{k + 1}"
        for variant in ("tx_000000000000", "tx_000100000000"):
            rendered[f"256x256/photo/{variant}/{cls}/{stem}.jpg"] = image(k, "JPEG")
        for v, variant in enumerate(SKETCH_VARIANTS):
            for s in (1, 2):
                rendered[f"256x256/sketch/{variant}/{cls}/{stem}-{s}.png"] = image(
                    10_000 * v + k * 3 + s
                )
        extended[f"EXTEND_image_sketchy/{cls}/{stem}.jpg"] = image(500_000 + k, "JPEG")
        extended[f"EXTEND_image_sketchy/{cls}/ext_1.jpg"] = image(600_000 + k, "JPEG")
    first = extended["EXTEND_image_sketchy/airplane/ext_1.jpg"]
    extended["EXTEND_image_sketchy/airplane/ext_2.jpg"] = first
    extended["EXTEND_image_sketchy/zebra/ext_9.jpg"] = first
    return rendered, extended


def expected_counts(tmp_path: Path, bench: Benchmark, files: dict[str, dict[str, bytes]]) -> Path:
    """A counts table of the miniature, counted here independently of the library."""
    found: dict[tuple[str, str], int] = {}
    for pkg in bench.packages:
        for rel in files[pkg.name]:
            item = pkg.parse(rel)
            if item is not None:
                key = (item.group, bench.class_of(item.folder))
                found[key] = found.get(key, 0) + 1
    groups = tuple(g for pkg in bench.packages for g in pkg.groups)
    path = tmp_path / f"{bench.name}-mini.tsv"
    path.write_text(count_table(found, groups))
    return path


def miniature(bench: Benchmark, counts: Path, **locations: tuple[str, ...]) -> Benchmark:
    packages = tuple(
        dataclasses.replace(p, locations=locations.get(p.name, p.locations)) for p in bench.packages
    )
    return dataclasses.replace(bench, packages=packages, counts=counts)


def build(bench: Benchmark, tmp_path: Path, source: Path | None = None, **kw) -> tuple:
    return benchmark.build(
        bench,
        source=str(source) if source else None,
        url=None,
        out_dir=tmp_path / "raw" / bench.name,
        repo_root=tmp_path,
        cache=tmp_path / "cache",
        progress=False,
        retry_wait=0.0,
        **kw,
    )


@pytest.fixture
def no_live_wordnet(monkeypatch: pytest.MonkeyPatch) -> None:
    """The committed tables must be enough: any live WordNet call fails the test."""

    def absent() -> None:
        raise wordnet.WordNetUnavailable("live WordNet used")

    monkeypatch.setattr(wordnet, "wordnet", absent)


def split_of(manifest: pd.DataFrame, dataset: str, method: str = "published"):
    return make_split(manifest, SplitConfig(method=method, semantic="none"), seed=0, dataset=dataset)


# -------------------------------------------------------------------------- tuberlin
def test_tuberlin_downloads_through_drive_confirmation_and_maps_typo_folders(
    tmp_path: Path, server: Served, monkeypatch: pytest.MonkeyPatch, no_live_wordnet: None
) -> None:
    sketches, photos = tuberlin_files()
    real = tuberlin.benchmark(DataConfig(dataset="tuberlin"))
    counts = expected_counts(tmp_path, real, {"sketches": sketches, "photos": photos})
    server.files["/eitz/sketches_png.zip"] = zip_bytes(sketches)
    server.drive[TUBERLIN_DRIVE_ID] = photo_zip = zip_bytes(photos)
    monkeypatch.setattr(gdrive, "DRIVE_DOWNLOAD", server.url("/uc"))  # the real gdrive:// id
    bench = miniature(real, counts, sketches=(server.url("/eitz/sketches_png.zip"),))

    manifest, provenance = build(bench, tmp_path)

    assert set(manifest["class"]) == set(classes_of("tuberlin"))  # every typo folder mapped
    photo_of = manifest[manifest["domain"] == "photo"].set_index("class")["path"]
    assert photo_of["giraffe"].startswith("ImageResized/griaffe/")
    assert photo_of["trombone"].startswith("ImageResized/tromobone/")
    assert photo_of["mouse_(animal)"].startswith("ImageResized/mouse/")
    assert photo_of["space_shuttle"].startswith("ImageResized/spacesshuttle/")
    assert (
        manifest.loc[manifest["class"] == "alarm_clock", "path"]
        .str.startswith(("png/alarm clock/", "ImageResized/alarmclock/"))
        .all()
    )
    assert manifest["wnid"].isna().all() and manifest["pair_id"].isna().all()
    assert len(manifest) == 500
    paths = [r["path"] for r in server.requests]
    assert any(p.startswith("/uc?") for p in paths)
    assert any(p.startswith("/download?") and "confirm=t" in p for p in paths)
    assert provenance["photos.kind"] == "url"
    assert provenance["photos.archive_sha256"] == hashlib.sha256(photo_zip).hexdigest()
    record = tmp_path / "cache" / "tuberlin" / "ImageResized.zip.sha256"
    assert record.read_text().strip() == provenance["photos.archive_sha256"]
    sources = json.loads((tmp_path / "raw/tuberlin/SOURCES.json").read_text())
    assert sources["skipped"] == {"sketches": 1, "photos": 1}  # filelist.txt, Thumbs.db

    published = split_of(manifest, "tuberlin")
    unseen = set(published.classes.loc[published.classes["split"] == "unseen", "class"])
    assert unseen == set(published_unseen("tuberlin-30")) and len(unseen) == 30
    overlap = split_of(manifest, "tuberlin", "imagenet_overlap").classes.set_index("class")
    assert overlap.loc["table", ["wnid", "wnid_source"]].tolist() == ["n04379243", "override"]
    assert overlap.loc["banana", "imagenet_relation"] == "exact"  # banana.n.02, the fruit
    assert overlap.loc["airplane", "wnid_source"] == "first_sense"
    assert "| table | n04379243 | override |" in split_of(manifest, "tuberlin").report


def test_drive_quota_page_names_the_way_out(
    tmp_path: Path, server: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    sketches, photos = tuberlin_files()
    real = tuberlin.benchmark(DataConfig(dataset="tuberlin"))
    counts = expected_counts(tmp_path, real, {"sketches": sketches, "photos": photos})
    server.files["/s.zip"] = zip_bytes(sketches)
    server.drive[TUBERLIN_DRIVE_ID] = zip_bytes(photos)
    server.quota.add(TUBERLIN_DRIVE_ID)
    monkeypatch.setattr(gdrive, "DRIVE_DOWNLOAD", server.url("/uc"))
    with pytest.raises(DatasetError, match="quota.*data.source"):
        build(miniature(real, counts, sketches=(server.url("/s.zip"),)), tmp_path)
    assert not (tmp_path / "raw").exists()


def test_interrupted_drive_download_resumes_at_the_confirmed_url(
    tmp_path: Path, server: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.drive["abcdefghijklmnop"] = body = np.random.default_rng(0).bytes(300_000)
    server.cut_after = 200_000  # three 64 KiB chunks reach the disk before the cut
    monkeypatch.setattr(gdrive, "DRIVE_DOWNLOAD", server.url("/uc"))
    path, digest = fetch.download(
        "gdrive://abcdefghijklmnop", tmp_path, fname="a.bin", retry_wait=0.0, progress=False
    )
    assert path.read_bytes() == body and digest == hashlib.sha256(body).hexdigest()
    resumed = [r for r in server.requests if r["range"]]
    assert resumed and resumed[0]["range"] == f"bytes={3 * 65536}-"
    assert resumed[0]["path"].startswith("/download?")


# ------------------------------------------------------------------------- quickdraw
def test_quickdraw_from_local_archives_offline(tmp_path: Path, no_live_wordnet: None) -> None:
    sketches, photos = quickdraw_files()
    real = quickdraw.benchmark(DataConfig(dataset="quickdraw"))
    counts = expected_counts(tmp_path, real, {"sketches": sketches, "images": photos})
    source = tmp_path / "downloads"
    source.mkdir()
    (source / "QuickDraw_sketches_final.zip").write_bytes(zip_bytes(sketches))
    (source / "my-copy-of-the-photos.zip").write_bytes(zip_bytes(photos))  # found by content
    bench = miniature(real, counts, sketches=(), images=())  # no network location at all

    manifest, provenance = build(bench, tmp_path, source)

    assert set(manifest["class"]) == set(classes_of("quickdraw")) and len(manifest) == 220
    assert (
        manifest.loc[manifest["class"] == "palm_tree", "path"].str.contains("/palm tree/")
    ).all()
    assert provenance["sketches.kind"] == "archive"
    assert provenance["images.location"].endswith("my-copy-of-the-photos.zip")
    assert provenance["sketches.sha256_record"] == "first"
    unseen = split_of(manifest, "quickdraw").classes.query("split == 'unseen'")["class"]
    assert set(unseen) == set(published_unseen("quickdraw-30")) and "palm_tree" in set(unseen)

    surveyed = benchmark.count_files(bench, str(source), tmp_path)  # scripts/count_dataset.py
    assert count_table(surveyed.counts, ("sketch", "photo")) == counts.read_text()
    _, again = build(bench, tmp_path, source)  # the archives are the ones seen before
    assert again["sketches.sha256_record"] == "matched"
    (source / "QuickDraw_sketches_final.zip").write_bytes(zip_bytes({**sketches, "x/y": b"1"}))
    with pytest.raises(DatasetError, match="QuickDraw_sketches_final.zip: SHA-256 .* differs"):
        build(bench, tmp_path, source)


def test_count_mismatch_fails_before_extraction_or_only_warns(tmp_path: Path) -> None:
    sketches, photos = quickdraw_files()
    real = quickdraw.benchmark(DataConfig(dataset="quickdraw"))
    counts = expected_counts(tmp_path, real, {"sketches": sketches, "images": photos})
    sketches["QuickDraw_sketches_final/zebra/1.png"] = image(-1 % 2**32)  # one too many
    source = write_tree(tmp_path / "extracted", {**sketches, **photos})  # extracted folders
    bench = miniature(real, counts)
    with pytest.raises(
        DatasetError, match=r"mini.tsv: sketch of class 'zebra': 2 files, expected 1"
    ):
        build(bench, tmp_path, source)
    assert not (tmp_path / "raw").exists()  # nothing half-written
    manifest, provenance = build(bench, tmp_path, source, check_counts=False)
    assert provenance["sketches.kind"] == "folder" and len(manifest) == 221


def test_unknown_class_folder_is_named(tmp_path: Path) -> None:
    sketches, photos = quickdraw_files()
    real = quickdraw.benchmark(DataConfig(dataset="quickdraw"))
    counts = expected_counts(tmp_path, real, {"sketches": sketches, "images": photos})
    sketches["QuickDraw_sketches_final/unicorn/1.png"] = image(1)
    source = write_tree(tmp_path / "extracted", {**sketches, **photos})
    with pytest.raises(DatasetError, match="class folder 'unicorn'"):
        build(miniature(real, counts), tmp_path, source)


# --------------------------------------------------------------------------- sketchy
@pytest.mark.parametrize("variant", ["tx_000100000000", "tx_000000001010"])
def test_sketchy_7z_and_extended_photos_counted_once(
    tmp_path: Path, variant: str, no_live_wordnet: None
) -> None:
    rendered, extended = sketchy_files()
    cfg = DataConfig(dataset="sketchy", sketchy=SketchyConfig(sketch_variant=variant))
    real = sketchy.benchmark(cfg)
    counts = expected_counts(tmp_path, real, {"rendered": rendered, "extended": extended})
    source = tmp_path / "downloads"
    write_tree(source / "unpacked", rendered)
    with py7zr.SevenZipFile(source / "rendered_256x256.7z", "w") as archive:
        archive.writeall(source / "unpacked" / "256x256", "256x256")
    write_tree(source / "photos", extended)  # Sketchy-Extended already extracted
    (source / "unpacked").rename(tmp_path / "elsewhere")

    manifest, provenance = build(miniature(real, counts), tmp_path, source)

    assert provenance["rendered.kind"] == "archive" and provenance["extended.kind"] == "folder"
    photos = manifest[manifest["domain"] == "photo"]
    sketches = manifest[manifest["domain"] == "sketch"]
    assert len(sketches) == 250 and sketches["path"].str.contains(f"/{variant}/").all()
    # 125 originals from the render + 125 ext_1 + nothing from the duplicates
    assert len(photos) == 250
    assert photos["path"].str.startswith("256x256/photo/tx_000000000000/").sum() == 125
    assert not photos["path"].str.contains("ext_2|ext_9").any()
    assert set(sketches["pair_id"]) <= set(photos["id"]) and sketches["pair_id"].notna().all()
    assert manifest.loc[manifest["class"] == "airplane", "wnid"].dropna().eq("n02691156").all()
    dup = pd.read_csv(tmp_path / "raw/sketchy/duplicates.tsv", sep="\t")
    assert (dup["reason"] == "same name in extended").sum() == 125
    assert set(dup.loc[dup["reason"].str.startswith("identical"), "dropped"]) == {
        "photo/airplane/ext_2",
        "photo/zebra/ext_9",
    }
    assert (dup["reason"] == "identical bytes, other class").sum() == 1
    for name, size in (("sketchy-21", 21), ("sketchy-25", 25)):
        cfg_split = SplitConfig(method="published", published_list=name, semantic="none")
        result = make_split(manifest, cfg_split, seed=0, dataset="sketchy")
        assert (
            set(result.classes.query("split == 'unseen'")["class"]) == set(published_unseen(name))
            and result.metrics["n_unseen"] == size
        )


def test_sketchy_without_extended_photos(tmp_path: Path) -> None:
    rendered, _ = sketchy_files()
    cfg = DataConfig(dataset="sketchy", sketchy=SketchyConfig(extended_photos=False))
    real = sketchy.benchmark(cfg)
    counts = expected_counts(tmp_path, real, {"rendered": rendered})
    source = write_tree(tmp_path / "src", rendered)
    manifest, _ = build(miniature(real, counts), tmp_path, source)
    assert [p.name for p in real.packages] == ["rendered"]
    assert (manifest["domain"] == "photo").sum() == 125


# ------------------------------------------------------------------ the real tables
def test_committed_tables_hold_the_published_facts() -> None:
    tub, qd, sk = (read_expected(TABLES / f"{d}.tsv") for d in ("tuberlin", "quickdraw", "sketchy"))
    assert len(tub.classes) == 250 and str(tub.totals["sketch"]) == "20000"
    assert all(str(tub.per_class["sketch", c]) == "80" for c in tub.classes)
    assert str(tub.totals["photo"]) == "204070"
    assert len(qd.classes) == 110 and qd.totals["sketch"].approx
    assert qd.totals["sketch"].matches(338_000) and not qd.totals["sketch"].matches(300_000)
    assert len(sk.classes) == 125 and str(sk.totals["extended_photo"]) == "73002"
    assert set(sk.classes) == set(sketchy_wnids())
    folders = tuberlin.photo_folders()
    assert len(folders) == 52 and set(folders.values()) <= set(tub.classes)
    for name, classes in (
        ("tuberlin-30", tub.classes),
        ("quickdraw-30", qd.classes),
        ("sketchy-25", sk.classes),
        ("sketchy-21", sk.classes),
    ):
        assert set(published_unseen(name)) <= set(classes), name


def test_registry_builds_a_benchmark_from_params(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``data.dataset=tuberlin`` + ``data.source``: the download stage's own call."""
    sketches, photos = tuberlin_files()
    source = tmp_path / "archives"
    source.mkdir()
    (source / "sketches_png.zip").write_bytes(zip_bytes(sketches))
    (source / "images.zip").write_bytes(zip_bytes(photos))  # the name other scripts use
    monkeypatch.setenv(fetch.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(fetch.SOURCE_ENV, raising=False)
    strict = DataConfig(dataset="tuberlin", source="archives")  # relative to the repo root
    with pytest.raises(DatasetError, match=r"tuberlin.tsv: sketch of class 'airplane': 1 files"):
        build_dataset(strict, seed=0, out_dir=tmp_path / "raw" / "tuberlin", repo_root=tmp_path)
    lenient = dataclasses.replace(strict, check_counts=False)
    built = build_dataset(lenient, seed=0, out_dir=tmp_path / "raw" / "tuberlin", repo_root=tmp_path)
    assert "file counts differ" in caplog.text  # warned, not failed
    assert built.manifest["class"].nunique() == 250
    assert built.provenance["photos.location"].endswith("images.zip")
    records = sorted(p.name for p in (tmp_path / "cache" / "tuberlin").iterdir())
    assert records == ["ImageResized.zip.sha256", "sketches_png.zip.sha256"]  # published names
