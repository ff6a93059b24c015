"""Getting dataset files: checksum lists, resumable download, archive/folder sources, ingest.

- :func:`read_checksums` / :func:`hash_tree` / :func:`format_checksums`: ``sha256sum``-style
  lists (``<hex>  <relative path>``), the per-file ground truth of a dataset.
- :func:`download`: fetch a URL into the cache through :func:`pooch.retrieve` (caching,
  SHA-256 hashing, atomic move), with a downloader that resumes with HTTP ``Range``.
- :func:`open_source`: a local folder, ``.zip`` or tar archive, read by relative path (an
  archive's single top folder such as ``DCGAN-MNIST-<sha>/`` is found and stripped).
- :func:`ingest`: copy exactly the listed files from a source into a folder, verifying
  each one's SHA-256 and that it decodes as an image, on a thread pool.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import pooch
import requests
from filelock import FileLock
from tqdm import tqdm

from zsbir.data.acquire import gdrive
from zsbir.data.acquire.archives import check_image, workers
from zsbir.data.base import DatasetError
from zsbir.io import write_text

log = logging.getLogger(__name__)

CACHE_ENV = "ZSBIR_CACHE"
SOURCE_ENV = "ZSBIR_DATA_SOURCE"
_HEX = re.compile(r"^[0-9a-f]{64}$")


# ------------------------------------------------------------------------ checksums
def read_checksums(path: str | os.PathLike[str]) -> dict[str, str]:
    """``{relative path: sha256 hex}`` from a ``sha256sum``-style list; errors name the line."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"checksum list {path} does not exist")
    out: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        digest, _, rel = line.partition(" ")
        rel = rel.strip().lstrip("*")  # '*' marks binary mode in sha256sum output
        pure = PurePosixPath(rel)
        if not _HEX.match(digest.lower()) or not rel:
            raise DatasetError(f"{path}:{lineno}: not '<sha256>  <path>': {line!r}")
        if pure.is_absolute() or ".." in pure.parts:
            raise DatasetError(
                f"{path}:{lineno}: path {rel!r} must be relative and inside the root"
            )
        if rel in out:
            raise DatasetError(f"{path}:{lineno}: {rel} is listed twice")
        out[rel] = digest.lower()
    if not out:
        raise DatasetError(f"checksum list {path} lists no files")
    return out


def hash_tree(root: str | os.PathLike[str], subdirs: tuple[str, ...]) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root/<subdir>`` (sorted paths)."""
    root = Path(root)
    files = sorted(
        p.relative_to(root).as_posix()
        for sub in subdirs
        for p in (root / sub).rglob("*")
        if p.is_file()
    )
    with ThreadPoolExecutor(max_workers=workers()) as pool:
        digests = pool.map(lambda rel: hashlib.sha256((root / rel).read_bytes()).hexdigest(), files)
        return dict(zip(files, digests))


def format_checksums(checksums: Mapping[str, str]) -> str:
    """The ``sha256sum`` text of ``checksums``, sorted by path."""
    return "".join(f"{checksums[rel]}  {rel}\n" for rel in sorted(checksums))


# ------------------------------------------------------------------------- download
def cache_dir() -> Path:
    """Download cache: ``$ZSBIR_CACHE`` or ``~/.cache/zsbir``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "zsbir"


class ResumableDownloader:
    """A pooch downloader that resumes an interrupted transfer with HTTP ``Range``.

    Hand-written because pooch's ``HTTPDownloader`` always starts at byte 0 and pooch
    deletes its temporary file when a transfer fails, so a dropped connection would
    restart a large archive from scratch. This one keeps ``<cache>/<name>.part`` across
    attempts *and* across runs, asks for ``bytes=<have>-``, appends on ``206 Partial
    Content`` (restarts on a plain ``200``), and only hands pooch a complete file.
    """

    def __init__(
        self,
        part: Path,
        retries: int = 3,
        retry_wait: float = 1.0,
        timeout: float = 60.0,
        chunk_size: int = 1 << 16,
        progress: bool = True,
    ) -> None:
        self.part, self.retries, self.retry_wait = part, retries, retry_wait
        self.timeout, self.chunk_size, self.progress = timeout, chunk_size, progress
        self.session = requests.Session()  # keeps Google Drive's download_warning cookie
        self.resolved: dict[str, str] = {}  # URL -> where its confirmation page led

    def __call__(self, url: str, output_file: Any, pooch_: Any, check_only: bool = False) -> None:
        for attempt in range(self.retries + 1):
            try:
                self._transfer(url)
                break
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as err:
                have = self.part.stat().st_size if self.part.exists() else 0
                if attempt == self.retries and have:
                    raise DatasetError(
                        f"download of {url} interrupted after {have} bytes ({err}); the partial "
                        f"file {self.part} is kept: run again to resume"
                    ) from err
                if attempt == self.retries:
                    raise DatasetError(
                        f"download of {url} failed after {attempt + 1} attempt(s): {err}"
                    ) from err
                log.warning("download of %s interrupted at %d bytes (%s); resuming", url, have, err)
                time.sleep(self.retry_wait * (attempt + 1))
        os.replace(self.part, output_file)

    def _open(self, url: str, headers: dict[str, str]) -> requests.Response:
        """GET ``url``, following up to three confirmation pages (:mod:`.gdrive`)."""
        target = self.resolved.get(url, url)
        for _ in range(4):
            resp = self.session.get(target, headers=headers, stream=True, timeout=self.timeout)
            if resp.status_code >= 400 or not _is_page(resp):
                self.resolved[url] = target
                return resp
            with resp:
                page = resp.text[: 1 << 20]
                target = gdrive.next_url(page, resp.url, self.session.cookies.get_dict())
            log.info("%s answered a confirmation page; following it to %s", url, target)
        raise DatasetError(f"download of {url}: too many confirmation pages in a row")

    def _transfer(self, url: str) -> None:
        offset = self.part.stat().st_size if self.part.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with self._open(url, headers) as resp:
            if resp.status_code == 416:  # asked past the end: the part is stale, restart
                self.part.unlink()
                raise requests.ConnectionError(f"range {offset}- not satisfiable; restarting")
            if resp.status_code >= 400:
                raise DatasetError(
                    f"download of {url} failed: HTTP {resp.status_code} {resp.reason}"
                )
            if offset and resp.status_code != 206:
                log.info("server ignored the Range request; downloading %s from the start", url)
                offset = 0
            total = _total_size(resp, offset)
            with (
                open(self.part, "ab" if offset else "wb") as fh,
                tqdm(
                    total=total,
                    initial=offset,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=self.part.name.removesuffix(".part"),
                    disable=not self.progress,
                ) as bar,
            ):
                for chunk in resp.iter_content(chunk_size=self.chunk_size):
                    fh.write(chunk)
                    bar.update(len(chunk))
        size = self.part.stat().st_size
        if total is not None and size != total:
            raise requests.ConnectionError(f"got {size} of {total} bytes")


def _is_page(resp: requests.Response) -> bool:
    """An HTML answer where an archive was expected (e.g. a Google Drive confirmation)."""
    return resp.headers.get("Content-Type", "").lower().startswith("text/html")


def _total_size(resp: requests.Response, offset: int) -> int | None:
    if resp.status_code == 206:
        total = resp.headers.get("Content-Range", "").rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = resp.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def download(
    url: str,
    cache: str | os.PathLike[str] | None = None,
    *,
    retries: int = 3,
    retry_wait: float = 1.0,
    progress: bool = True,
    fname: str | None = None,
) -> tuple[Path, str]:
    """Fetch ``url`` into the cache (resuming a partial file); return ``(path, sha256)``.

    ``url`` may be ``gdrive://<file id>`` (:mod:`.gdrive`). The file is cached as
    ``fname`` (default: a name unique to the URL). The archive has no published checksum,
    so its SHA-256 is recorded next to it (``<fname>.sha256``) the first time and logged;
    later runs pass it to pooch as the known hash, so a cached copy that changed is fetched
    again and a remote file that changed is an error.
    """
    cache = Path(cache) if cache is not None else cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    fname = fname or pooch.utils.unique_file_name(url)
    # Parallel experiments (``dvc queue start -j N``) share the cache: one downloads, the
    # others wait for it and then find the verified copy.
    with FileLock(str(cache / f"{fname}.lock")):
        return _download_locked(gdrive.drive_url(url), cache, fname, retries, retry_wait, progress)


def _download_locked(
    url: str, cache: Path, fname: str, retries: int, retry_wait: float, progress: bool
) -> tuple[Path, str]:
    """:func:`download`'s body, run while holding the cache entry's lock."""
    record = cache / f"{fname}.sha256"
    known = read_record(record)
    downloader = ResumableDownloader(
        cache / f"{fname}.part", retries, retry_wait, progress=progress
    )
    try:
        path = Path(
            pooch.retrieve(url, known_hash=known, fname=fname, path=cache, downloader=downloader)
        )
    except DatasetError:
        raise
    except ValueError as err:  # pooch: hash of a fresh download differs from the record
        raise DatasetError(
            f"{url} no longer matches the SHA-256 recorded in {record} ({err}); "
            "delete both files if the change is expected"
        ) from err
    except requests.RequestException as err:
        raise DatasetError(f"download of {url} failed: {err}") from err
    digest = pooch.file_hash(str(path))
    if known is None:
        write_record(record, digest, url)
    return path, digest


def read_record(record: Path) -> str | None:
    """The SHA-256 recorded when an unpublished-checksum archive was first seen, if any."""
    return record.read_text().strip() if record.is_file() else None


def write_record(record: Path, digest: str, what: str | os.PathLike[str]) -> None:
    """Record (and log) the SHA-256 of ``what`` at first sight; later sights must match it."""
    write_text(digest + "\n", record)
    log.info("first sight of %s: SHA-256 %s (recorded in %s)", what, digest, record)


# -------------------------------------------------------------------------- sources
def resolve_source(source: str | None, repo_root: Path) -> Path | None:
    """``$ZSBIR_DATA_SOURCE`` or ``data.source`` as an existing path (relative to the repo)."""
    env = os.environ.get(SOURCE_ENV)
    chosen, origin = (env, f"${SOURCE_ENV}") if env else (source, "params key 'data.source'")
    if not chosen:
        return None
    path = Path(chosen).expanduser()
    path = path if path.is_absolute() else repo_root / path
    if not path.exists():
        raise DatasetError(f"data source {path} (from {origin}) does not exist")
    return path


class Source(Protocol):
    """Files of a dataset, addressed by their path relative to the dataset root."""

    location: Path

    def names(self) -> set[str]: ...

    def folders(self) -> set[str]: ...

    def read(self, rel: str) -> bytes: ...


class FolderSource:
    """A local folder."""

    def __init__(self, location: Path) -> None:
        self.location = location

    def names(self) -> set[str]:
        return {
            p.relative_to(self.location).as_posix() for p in self.location.rglob("*") if p.is_file()
        }

    def folders(self) -> set[str]:
        return {
            p.relative_to(self.location).as_posix() for p in self.location.rglob("*") if p.is_dir()
        }

    def read(self, rel: str) -> bytes:
        return (self.location / rel).read_bytes()


class ArchiveSource:
    """A zip or tar archive; ``strip`` leading folders (e.g. ``DCGAN-MNIST-<sha>/``) dropped."""

    def __init__(
        self, location: Path, members: Mapping[str, str], dirs: set[str], reader: Any
    ) -> None:
        self.location, self._members, self._dirs, self._reader = location, members, dirs, reader

    def names(self) -> set[str]:
        return set(self._members)

    def folders(self) -> set[str]:
        return self._dirs

    def read(self, rel: str) -> bytes:
        try:
            return self._reader(self._members[rel])
        except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as err:
            raise DatasetError(
                f"{rel} in archive {self.location} is corrupt or unreadable: {err}"
            ) from err


def _strip_depth(names: list[str], listed: set[str]) -> int:
    """How many leading folders to drop from archive names so they match the listed paths."""
    for name in names:
        parts = name.split("/")
        for depth in range(min(len(parts), 3)):
            if "/".join(parts[depth:]) in listed:
                return depth
    example = next(iter(sorted(listed)))
    raise DatasetError(
        f"no listed file found in the archive (expected e.g. '{example}' under at most two folders)"
    )


def _archive_source(
    path: Path, files: list[str], dirs: list[str], listed: set[str], reader: Any
) -> ArchiveSource:
    try:
        depth = _strip_depth(files, listed)
    except DatasetError as err:
        raise DatasetError(f"archive {path}: {err}") from None
    members = {"/".join(n.split("/")[depth:]): n for n in files if len(n.split("/")) > depth}
    folders = {"/".join(d.rstrip("/").split("/")[depth:]) for d in dirs}
    folders |= {str(PurePosixPath(rel).parent) for rel in members}
    return ArchiveSource(path, members, {f for f in folders if f and f != "."}, reader)


@contextlib.contextmanager
def open_source(path: str | os.PathLike[str], listed: set[str]) -> Iterator[Source]:
    """Open a folder, ``.zip`` or tar archive as a :class:`Source`."""
    path = Path(path)
    if path.is_dir():
        yield FolderSource(path)
    elif not path.exists():
        raise DatasetError(f"data source {path} does not exist")
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            files = [i.filename for i in infos if not i.is_dir()]
            dirs = [i.filename for i in infos if i.is_dir()]
            yield _archive_source(path, files, dirs, listed, zf.read)
    elif tarfile.is_tarfile(path):
        with tarfile.open(path) as tf:
            infos = tf.getmembers()
            files = [i.name for i in infos if i.isfile()]
            dirs = [i.name for i in infos if i.isdir()]

            def read(name: str) -> bytes:
                handle = tf.extractfile(name)
                if handle is None:
                    raise DatasetError(f"{name} in {path} is not a regular file")
                return handle.read()

            # tarfile is not thread-safe: reads take turns (hashing still runs in parallel).
            yield _archive_source(path, files, dirs, listed, _locked(read))
    else:
        raise DatasetError(f"data source {path} is neither a folder, a .zip nor a tar archive")


def _locked(fn: Any) -> Any:
    lock = threading.Lock()

    def call(*args: Any) -> Any:
        with lock:
            return fn(*args)

    return call


# --------------------------------------------------------------------------- ingest
def ingest(
    source: Source,
    checksums: Mapping[str, str],
    out_dir: str | os.PathLike[str],
    progress: bool = True,
) -> None:
    """Copy every listed file from ``source`` to ``out_dir``, verified; nothing else.

    Each file must exist, match its listed SHA-256 and decode as an image; the first
    failure raises :class:`DatasetError` naming the file. ``out_dir`` should be a
    temporary folder (``zsbir.io.atomic_dir``) so a failure leaves nothing behind.
    """
    out_dir = Path(out_dir)
    missing = sorted(set(checksums) - source.names())
    if missing:
        raise DatasetError(
            f"{len(missing)} listed file(s) missing from {source.location}, first: {missing[0]}"
        )

    def one(rel: str) -> None:
        data = source.read(rel)
        digest = hashlib.sha256(data).hexdigest()
        if digest != checksums[rel]:
            raise DatasetError(
                f"checksum mismatch for {rel} in {source.location}: expected "
                f"sha256 {checksums[rel]}, got {digest}"
            )
        check_image(rel, data)
        dest = out_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)

    pool = ThreadPoolExecutor(max_workers=workers())
    try:
        for _ in tqdm(
            pool.map(one, sorted(checksums)),
            total=len(checksums),
            desc="verify",
            unit="file",
            disable=not progress,
            mininterval=1.0,
        ):
            pass
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
