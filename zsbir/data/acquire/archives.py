"""List and extract large archives (zip, tar, 7z) or folders by path, streaming.

A *package* is one published archive of a benchmark, or the folder it was extracted to.
Its files live under a known top folder (``root``, e.g. ``256x256`` or ``ImageResized``),
possibly below one extra wrapper folder. :func:`list_package` returns the files below
``root`` as paths that start with ``root``; :func:`extract` writes a chosen subset of
them to ``<out>/<path>`` without holding more than one file in memory; :func:`hash_files`
hashes extracted files on a thread pool (``hashlib`` releases the GIL), checking that
each opens as an image.
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import threading
import zipfile
from collections.abc import Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from zsbir.data.base import DatasetError
from zsbir.io import file_sha256

log = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".zip", ".7z", ".tar", ".tar.gz", ".tgz")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Listing:
    """Files of a package: ``{path from root: name inside the archive or folder}``."""

    location: Path
    kind: str  # zip | tar | 7z | folder
    members: Mapping[str, str]


def _kind(path: Path) -> str:
    if path.is_dir():
        return "folder"
    if path.suffix == ".7z":
        return "7z"
    if zipfile.is_zipfile(path):
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
    raise DatasetError(f"{path} is neither a folder nor a zip, tar or 7z archive")


def _names(path: Path, kind: str, root: str) -> list[str]:
    """Every file name inside an archive, or every file below a folder's ``root`` folders."""
    try:
        if kind == "folder":
            return [
                (Path(d) / f).relative_to(path).as_posix()
                for base in (path / root, *sorted(path.glob(f"*/{root}")))
                for d, _, files in os.walk(base)
                for f in files
            ]
        if kind == "zip":
            with zipfile.ZipFile(path) as zf:
                return [i.filename for i in zf.infolist() if not i.is_dir()]
        if kind == "tar":
            with tarfile.open(path) as tf:
                return [m.name for m in tf if m.isfile()]
        import py7zr

        with py7zr.SevenZipFile(path) as sz:
            return [e.filename for e in sz.list() if not e.is_directory]
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, ValueError) as err:
        raise DatasetError(f"archive {path} is corrupt or unreadable: {err}") from err


def list_package(path: str | os.PathLike[str], root: str) -> Listing:
    """The files below ``root/`` in ``path`` (``root`` at depth 0 or 1, e.g. ``x/root/``)."""
    path = Path(path)
    kind = _kind(path)
    members: dict[str, str] = {}
    for name in _names(path, kind, root):
        parts = name.replace("\\", "/").split("/")
        for depth in (0, 1):
            if len(parts) > depth + 1 and parts[depth] == root:
                members["/".join(parts[depth:])] = name
                break
    if not members:
        raise DatasetError(f"{path}: no files below a '{root}/' folder (is it the right archive?)")
    log.info("%s: %d files below %s/ (%s)", path, len(members), root, kind)
    return Listing(path, kind, members)


def extract(listing: Listing, paths: Collection[str], out: Path, progress: bool = True) -> None:
    """Write ``paths`` (keys of ``listing.members``) of the package to ``out/<path>``."""
    wanted = {p: listing.members[p] for p in sorted(paths)}
    bar = tqdm(
        total=len(wanted),
        desc=f"extract {listing.location.name}",
        unit="file",
        disable=not progress,
        mininterval=1.0,
    )
    try:
        with bar:
            if listing.kind == "7z":
                _extract_7z(listing.location, wanted, out, bar)
            elif listing.kind == "tar":
                _extract_tar(listing.location, wanted, out, bar)
            else:
                _extract_parallel(listing, wanted, out, bar)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as err:
        raise DatasetError(f"archive {listing.location} is corrupt: {err}") from err


def _dest(out: Path, rel: str) -> Path:
    dest = out / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest


def _extract_parallel(listing: Listing, wanted: Mapping[str, str], out: Path, bar: tqdm) -> None:
    """Zip members or folder files, on a thread pool (one zip handle per thread)."""
    local = threading.local()

    def one(rel: str) -> None:
        name = wanted[rel]
        if listing.kind == "folder":
            src = listing.location / name
            try:
                os.link(src, _dest(out, rel))  # same file system: no copy
            except OSError:
                shutil.copyfile(src, _dest(out, rel))
            return
        if not hasattr(local, "zip"):
            local.zip = zipfile.ZipFile(listing.location)
        try:  # zipfile checks each member's CRC-32 while reading
            with local.zip.open(name) as src, open(_dest(out, rel), "wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
        except zipfile.BadZipFile as err:
            raise DatasetError(f"{name} in {listing.location} is corrupt: {err}") from err

    with ThreadPoolExecutor(max_workers=workers()) as pool:
        for _ in pool.map(one, wanted):
            bar.update()


def _extract_tar(path: Path, wanted: Mapping[str, str], out: Path, bar: tqdm) -> None:
    """One sequential pass (a compressed tar cannot be read out of order cheaply)."""
    by_name = {name: rel for rel, name in wanted.items()}
    with tarfile.open(path) as tf:
        for member in tf:
            rel = by_name.get(member.name)
            if rel is None or not member.isfile():
                continue
            src = tf.extractfile(member)
            assert src is not None  # a regular file
            with src, open(_dest(out, rel), "wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
            bar.update()


def _extract_7z(path: Path, wanted: Mapping[str, str], out: Path, bar: tqdm) -> None:
    """py7zr writes members under their own names: extract to a staging folder, then move."""
    import py7zr

    staging = out / f".staging-{path.name}"
    try:
        with py7zr.SevenZipFile(path) as sz:
            sz.extract(path=staging, targets=list(wanted.values()))
        for rel, name in wanted.items():
            src = staging / name
            if not src.is_file():
                raise DatasetError(f"{name} was not extracted from {path}")
            os.replace(src, _dest(out, rel))
            bar.update()
    except (py7zr.exceptions.Bad7zFile, py7zr.exceptions.CrcError, OSError) as err:
        raise DatasetError(f"archive {path} is corrupt or unreadable: {err}") from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def workers() -> int:
    """Threads for I/O-bound work: twice the cores, at most 8."""
    return min(8, (os.cpu_count() or 1) * 2)


def check_image(rel: str, image: bytes | Path) -> None:
    """Raise :class:`DatasetError` naming ``rel`` unless ``image`` is a readable image.

    Bytes are decoded in full (a truncated file fails); a file's header is parsed only
    (format and size), which is what a listing of 10^5 extracted files can afford.
    """
    try:
        with Image.open(BytesIO(image) if isinstance(image, bytes) else image) as opened:
            if isinstance(image, bytes):
                opened.load()
    except Exception as err:  # PIL raises many types for bad files
        raise DatasetError(f"{rel}: unreadable or truncated image ({err})") from err


def _hash_image(root: Path, rel: str) -> str:
    check_image(rel, root / rel)
    return file_sha256(root / rel)


def hash_files(root: Path, paths: Collection[str], progress: bool = True) -> dict[str, str]:
    """``{path: sha256}`` of extracted images under ``root``, hashed in parallel."""
    ordered = sorted(paths)
    out: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=workers()) as pool:
        results: Iterator[str] = pool.map(lambda rel: _hash_image(root, rel), ordered)
        for rel, digest in tqdm(
            zip(ordered, results),
            total=len(ordered),
            desc="sha256",
            unit="file",
            disable=not progress,
            mininterval=1.0,
        ):
            out[rel] = digest
    return out
