"""sketchy-mini: verified ingest from folders/archives, resumable download, clear errors.

A tiny fake dataset with the real layout (and its own checksum list) is served by a local
HTTP server on 127.0.0.1 that honours ``Range`` and can drop a connection mid-file.
"""

import hashlib
import io
import tarfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import Served
from PIL import Image

from zsbir.config import DataConfig
from zsbir.data.acquire import fetch
from zsbir.data.datasets import sketchy_mini
from zsbir.data.base import DatasetError
from zsbir.schema import ManifestError
from zsbir.schema import validate_manifest

REAL = Path("/work/shared/datasets/sketchy-mini")
TOP = f"DCGAN-MNIST-{sketchy_mini.COMMIT}"
CLASSES = {"cat": "n02121808", "giraffe": "n02439033"}


# ------------------------------------------------------------------ fake dataset
@dataclass
class Fake:
    root: Path  # folder source: photo/, sketch/, README.md
    checksums: Path  # its own checksum list

    def files(self) -> dict[str, bytes]:
        return {
            p.relative_to(self.root).as_posix(): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file()
        }

    def relist(self) -> None:
        """Rewrite the checksum list from the current photo/ and sketch/ files."""
        sums = fetch.hash_tree(self.root, ("photo", "sketch"))
        self.checksums.write_text(fetch.format_checksums(sums))


def _image_bytes(seed: int, fmt: str) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt)
    return buf.getvalue()


def make_fake(root: Path) -> Fake:
    """2 classes x 2 photos; photo 1 has two sketches, photo 2 one; plus unlisted files."""
    seed = 0
    for cls, wnid in CLASSES.items():
        for n, n_sketches in ((1, 2), (2, 1)):
            path = root / "photo" / cls / f"{wnid}_{n}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_image_bytes(seed := seed + 1, "JPEG"))
            for k in range(1, n_sketches + 1):
                path = root / "sketch" / cls / f"{wnid}_{n}-{k}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(_image_bytes(seed := seed + 1, "PNG"))
    (root / "README.md").write_text("not listed, never ingested\n")
    blob = np.random.default_rng(1).integers(0, 255, 300_000, dtype=np.uint8).tobytes()
    (root / "extra").mkdir()
    (root / "extra" / "blob.bin").write_bytes(blob)  # unlisted; makes the archive ~300 kB
    fake = Fake(root, root.parent / f"{root.name}.sha256")
    fake.relist()
    return fake


def zip_bytes(fake: Fake, top: str = TOP, corrupt: str | None = None) -> bytes:
    """The fake as a GitHub-style archive (one top folder), members stored uncompressed."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for rel, data in fake.files().items():
            zf.writestr(f"{top}/{rel}", data)
    raw = bytearray(buf.getvalue())
    if corrupt is not None:  # flip one byte inside that member's data
        data = fake.files()[corrupt]
        at = bytes(raw).index(data) + len(data) // 2
        raw[at] ^= 0xFF
    return bytes(raw)


@pytest.fixture
def fake(tmp_path: Path) -> Fake:
    return make_fake(tmp_path / "fake")


@pytest.fixture(autouse=True)
def data_no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No outside source override; the cache lives in the test's folder."""
    monkeypatch.delenv(fetch.SOURCE_ENV, raising=False)
    monkeypatch.setenv(fetch.CACHE_ENV, str(tmp_path / "cache"))


def _build(fake: Fake, tmp_path: Path, **cfg: str | None) -> tuple:
    return sketchy_mini.build(
        DataConfig(dataset="sketchy-mini", **cfg),
        tmp_path / "raw" / "sk",
        tmp_path,
        checksums=fake.checksums,
        retry_wait=0.0,
    )


def _leftovers(tmp_path: Path) -> list[str]:
    raw = tmp_path / "raw"
    return sorted(p.name for p in raw.iterdir()) if raw.exists() else []


# -------------------------------------------------------------------------- tests
def test_download_verify_and_cache(fake: Fake, server: Served, tmp_path: Path) -> None:
    archive = zip_bytes(fake)
    server.files["/a.zip"] = archive
    manifest, prov = _build(fake, tmp_path, url=server.url("/a.zip"))
    out = tmp_path / "raw" / "sk"
    listed = fetch.read_checksums(fake.checksums)
    assert sorted(manifest["path"]) == sorted(listed) and len(manifest) == 4 + 6
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == set(listed)
    assert all((out / rel).read_bytes() == fake.files()[rel] for rel in listed)
    assert prov == {
        "kind": "url",
        "location": server.url("/a.zip"),
        "archive_sha256": hashlib.sha256(archive).hexdigest(),
    }
    record = next((tmp_path / "cache").glob("*.sha256"))
    assert record.read_text().strip() == hashlib.sha256(archive).hexdigest()
    sk = manifest.set_index("id").loc["sketch/cat/n02121808_1-2"]
    assert (sk["pair_id"], sk["wnid"], sk["class"]) == ("photo/cat/n02121808_1", "n02121808", "cat")
    _build(fake, tmp_path, url=server.url("/a.zip"))  # second run: served from the cache
    assert len(server.requests) == 1
    assert _leftovers(tmp_path) == ["sk"]


def test_env_source_builds_without_data_source(
    fake: Fake, server: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The grid sets no data.source: $ZSBIR_DATA_SOURCE alone selects the local copy.
    server.files["/a.zip"] = zip_bytes(fake)
    monkeypatch.setenv(fetch.SOURCE_ENV, str(fake.root))
    manifest, prov = _build(fake, tmp_path, url=server.url("/a.zip"))
    validate_manifest(manifest, tmp_path / "raw" / "sk")
    assert prov == {"kind": "folder", "location": str(fake.root)} and server.requests == []


def test_many_builds_download_once_into_the_env_cache(
    fake: Fake, server: Served, tmp_path: Path
) -> None:
    # No source, no explicit cache: the archive lands in $ZSBIR_CACHE (the fixture's
    # folder), downloaded by the first build only; every later build verifies the cached
    # copy against its recorded SHA-256 and reads it (the paper grid: 48 experiments).
    archive = zip_bytes(fake)
    server.files["/a.zip"] = archive
    digests = set()
    for _ in range(3):
        manifest, prov = _build(fake, tmp_path, url=server.url("/a.zip"))
        digests.add(prov["archive_sha256"])
        validate_manifest(manifest, tmp_path / "raw" / "sk")
    assert len(server.requests) == 1 and digests == {hashlib.sha256(archive).hexdigest()}
    cached = [p for p in (tmp_path / "cache").iterdir() if p.read_bytes() == archive]
    assert len(cached) == 1
    cached[0].write_bytes(archive[:-10])  # a damaged cached copy is fetched again
    _build(fake, tmp_path, url=server.url("/a.zip"))
    assert len(server.requests) == 2 and cached[0].read_bytes() == archive


def test_concurrent_downloads_share_one_transfer(
    fake: Fake, server: Served, tmp_path: Path
) -> None:
    # Parallel queue workers: the cache entry's lock lets one download, the others wait.
    server.files["/a.zip"] = archive = zip_bytes(fake)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(
            lambda _: fetch.download(server.url("/a.zip"), progress=False), range(4)
        ))
    assert len(server.requests) == 1
    assert {path.read_bytes() == archive for path, _ in results} == {True}


def test_interrupted_download_resumes_with_range(
    fake: Fake, server: Served, tmp_path: Path
) -> None:
    archive = zip_bytes(fake)
    cut = len(archive) // 2
    server.files["/a.zip"], server.cut_after = archive, cut
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match="interrupted after .* run again to resume"):
        fetch.download(server.url("/a.zip"), cache, retries=0, progress=False)
    (part,) = cache.glob("*.part")
    have = part.stat().st_size  # whole chunks received before the cut are kept
    assert 0 < have <= cut and part.read_bytes() == archive[:have]
    path, digest = fetch.download(server.url("/a.zip"), cache, retries=0, progress=False)
    assert path.read_bytes() == archive and digest == hashlib.sha256(archive).hexdigest()
    assert server.requests[-1]["range"] == f"bytes={have}-"
    assert not list(cache.glob("*.part"))


def test_dropped_connection_is_retried_within_one_call(
    fake: Fake, server: Served, tmp_path: Path
) -> None:
    archive = zip_bytes(fake)
    server.files["/a.zip"], server.cut_after = archive, 200_000
    manifest, _ = _build(fake, tmp_path, url=server.url("/a.zip"))
    assert len(manifest) == 10
    first, second = (r["range"] for r in server.requests)
    assert first == "" and 0 < int(second.removeprefix("bytes=").rstrip("-")) <= 200_000


def test_recorded_archive_hash_heals_cache_and_catches_remote_change(
    fake: Fake, server: Served, tmp_path: Path
) -> None:
    archive = zip_bytes(fake)
    server.files["/a.zip"] = archive
    cache = tmp_path / "cache"
    path, _ = fetch.download(server.url("/a.zip"), cache, progress=False)
    path.write_bytes(b"damaged cache")  # differs from the recorded hash: fetched again
    again, _ = fetch.download(server.url("/a.zip"), cache, progress=False)
    assert again.read_bytes() == archive and len(server.requests) == 2
    path.unlink()
    server.files["/a.zip"] = zip_bytes(fake, top="other")  # the remote archive changed
    with pytest.raises(DatasetError, match="no longer matches the SHA-256 recorded"):
        fetch.download(server.url("/a.zip"), cache, progress=False)


def test_server_without_range_support_restarts(fake: Fake, server: Served, tmp_path: Path) -> None:
    archive = zip_bytes(fake)
    server.files["/a.zip"], server.ranges = archive, False
    cache = tmp_path / "cache"
    cache.mkdir()
    name = fetch.pooch.utils.unique_file_name(server.url("/a.zip"))
    (cache / f"{name}.part").write_bytes(b"stale bytes from another file")
    path, _ = fetch.download(server.url("/a.zip"), cache, progress=False)
    assert path.read_bytes() == archive


def test_http_error_and_unreachable_server(fake: Fake, server: Served, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="HTTP 404"):
        _build(fake, tmp_path, url=server.url("/missing.zip"))
    with pytest.raises(DatasetError, match="127.0.0.1:9/"):
        _build(fake, tmp_path, url="http://127.0.0.1:9/a.zip")  # discard port: refused
    assert _leftovers(tmp_path) == []


def test_corrupted_byte_in_folder_names_the_file(fake: Fake, tmp_path: Path) -> None:
    victim = fake.root / "photo" / "giraffe" / "n02439033_2.jpg"
    data = bytearray(victim.read_bytes())
    data[40] ^= 0x01
    victim.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="checksum mismatch for photo/giraffe/n02439033_2.jpg"):
        _build(fake, tmp_path, source=str(fake.root))
    assert _leftovers(tmp_path) == []  # nothing half-written


def test_corrupted_byte_in_archive_names_the_file(
    fake: Fake, server: Served, tmp_path: Path
) -> None:
    rel = "sketch/cat/n02121808_2-1.png"
    server.files["/a.zip"] = zip_bytes(fake, corrupt=rel)
    with pytest.raises(DatasetError, match=rel):
        _build(fake, tmp_path, url=server.url("/a.zip"))
    assert _leftovers(tmp_path) == []


def test_failed_build_keeps_previous_output(fake: Fake, tmp_path: Path) -> None:
    _build(fake, tmp_path, source=str(fake.root))
    before = {p: p.read_bytes() for p in (tmp_path / "raw" / "sk").rglob("*") if p.is_file()}
    (fake.root / "sketch" / "cat" / "n02121808_1-1.png").write_bytes(b"changed")
    with pytest.raises(DatasetError, match="sketch/cat/n02121808_1-1.png"):
        _build(fake, tmp_path, source=str(fake.root))
    after = {p: p.read_bytes() for p in (tmp_path / "raw" / "sk").rglob("*") if p.is_file()}
    assert after == before and _leftovers(tmp_path) == ["sk"]


def test_missing_source_and_env_override(
    fake: Fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(DatasetError, match=r"data source .*nowhere \(from params key"):
        _build(fake, tmp_path, source="nowhere")
    monkeypatch.setenv(fetch.SOURCE_ENV, str(fake.root))  # overrides data.source
    manifest, prov = _build(fake, tmp_path, source="nowhere")
    assert len(manifest) == 10 and prov == {"kind": "folder", "location": str(fake.root)}


def test_relative_source_resolves_from_repo_root(fake: Fake, tmp_path: Path) -> None:
    manifest, _ = _build(fake, tmp_path, source="fake")  # tmp_path is the repo root here
    validate_manifest(manifest, tmp_path / "raw" / "sk")


def test_missing_listed_file_is_named(fake: Fake, tmp_path: Path) -> None:
    (fake.root / "photo" / "cat" / "n02121808_2.jpg").unlink()
    with pytest.raises(DatasetError, match="missing from .*first: photo/cat/n02121808_2.jpg"):
        _build(fake, tmp_path, source=str(fake.root))


def test_truncated_image_is_named(fake: Fake, tmp_path: Path) -> None:
    victim = fake.root / "photo" / "cat" / "n02121808_1.jpg"
    victim.write_bytes(victim.read_bytes()[:-60])
    fake.relist()  # the list matches the truncated file: only decoding can catch it
    with pytest.raises(DatasetError, match="photo/cat/n02121808_1.jpg: unreadable or truncated"):
        _build(fake, tmp_path, source=str(fake.root))
    assert _leftovers(tmp_path) == []


def test_empty_class_folder_is_named(fake: Fake, tmp_path: Path) -> None:
    (fake.root / "sketch" / "zebra").mkdir()
    with pytest.raises(DatasetError, match="class 'zebra': folder sketch/zebra/"):
        _build(fake, tmp_path, source=str(fake.root))


def test_class_without_sketches_is_named(fake: Fake, tmp_path: Path) -> None:
    lines = [ln for ln in fake.checksums.read_text().splitlines() if "sketch/giraffe/" not in ln]
    fake.checksums.write_text("\n".join(lines) + "\n")
    with pytest.raises(ManifestError, match="class 'giraffe' has no sketch items"):
        _build(fake, tmp_path, source=str(fake.root))


def test_bad_checksum_list_and_file_names(fake: Fake, tmp_path: Path) -> None:
    good = fake.checksums.read_text()
    fake.checksums.write_text(good + "xyz  photo/cat/n02121808_9.jpg\n")
    with pytest.raises(DatasetError, match=r"\.sha256:11: not '<sha256>  <path>'"):
        _build(fake, tmp_path, source=str(fake.root))
    fake.checksums.write_text(good + f"{'0' * 64}  photo/cat/kitten.jpg\n")
    with pytest.raises(DatasetError, match="photo/cat/kitten.jpg: not photo/<class>"):
        _build(fake, tmp_path, source=str(fake.root))


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_local_archive_source(kind: str, fake: Fake, tmp_path: Path) -> None:
    path = tmp_path / f"archive.{kind}"
    if kind == "zip":
        path.write_bytes(zip_bytes(fake, top="anything"))
    else:
        with tarfile.open(path, "w:gz") as tf:
            tf.add(fake.root, arcname="sketchy-mini")
    manifest, prov = _build(fake, tmp_path, source=str(path))
    assert len(manifest) == 10 and prov["kind"] == "archive"
    assert prov["archive_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not (tmp_path / "raw" / "sk" / "README.md").exists()


def test_committed_checksums_parse_and_name_sketchy_layout() -> None:
    listed = fetch.read_checksums(sketchy_mini.CHECKSUMS)
    manifest = sketchy_mini.manifest_from_paths(sorted(listed))
    assert len(listed) == 6250 and manifest["class"].nunique() == 125


@pytest.mark.skipif(not REAL.is_dir(), reason=f"real sketchy-mini not present at {REAL}")
def test_real_sketchy_mini(tmp_path: Path) -> None:
    assert sketchy_mini.CHECKSUMS.read_bytes() == (REAL / "SHA256SUMS").read_bytes()
    manifest, prov = sketchy_mini.build(
        DataConfig(dataset="sketchy-mini", source=str(REAL)), tmp_path / "sk", tmp_path
    )
    validate_manifest(manifest, tmp_path / "sk")
    counts = manifest["domain"].value_counts()
    assert len(manifest) == 6250 and manifest["class"].nunique() == 125
    assert counts["photo"] == 3125 and counts["sketch"] == 3125
    photos = set(manifest.loc[manifest["domain"] == "photo", "id"])
    sketches = manifest[manifest["domain"] == "sketch"]
    assert sketches["pair_id"].isin(photos).all()
    assert (manifest.groupby(["class", "domain"]).size() == 25).all()
    assert prov == {"kind": "folder", "location": str(REAL)}
