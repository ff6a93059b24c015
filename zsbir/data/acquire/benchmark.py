"""Building a full-size benchmark (Sketchy, TU-Berlin, QuickDraw) from its published archives.

A :class:`Benchmark` is a list of :class:`Package` s (the archives the authors publish)
plus a counts table (:mod:`zsbir.data.acquire.counts`) naming its classes. :func:`build`:

1. *locates* each package: in ``data.source`` (the archive under its published file name,
   or the folder it extracts to), else downloads it from ``data.url`` (a mirror holding
   the archives by file name) or from the public locations, in order (Google Drive
   confirmation pages handled, resumable). The SHA-256 of each archive is recorded in the
   cache the first time it is seen (``<cache>/<dataset>/<file>.sha256``); a later archive
   that differs is an error;
2. *lists* the files (names only) and maps each to an :class:`Item` with the package's
   parser; files that are not images of the dataset (``filelist.txt``, other sketch
   augmentations) are skipped, a class folder outside the class list is an error;
3. *checks counts* per group and class against the table, before anything is extracted;
4. *drops duplicates by name*: the same ``(domain, class, stem)`` in a later package (the
   Sketchy originals inside Sketchy-Extended) is counted once;
5. *extracts* the kept files into ``out_dir`` (atomically), hashes them in parallel and
   *drops duplicates by content* (identical bytes within a domain; the first in package,
   then path order is kept);
6. writes ``SOURCES.json`` (packages, archive hashes, counts) and ``duplicates.tsv`` next
   to the data and returns the manifest (:func:`zsbir.schema.validate_manifest`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from zsbir.config import DataConfig
from zsbir.data.acquire.counts import ExpectedCounts, count_problems, read_expected
from zsbir.data.acquire.fetch import cache_dir, download, read_record, resolve_source, write_record
from zsbir.data.base import BuiltDataset, DatasetError
from zsbir.schema import item_id, make_manifest, validate_manifest
from zsbir.data.acquire import archives
from zsbir.data.acquire.archives import Listing
from zsbir.io import atomic_dir, file_sha256, write_text

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Item:
    """One image file of a package, as its path describes it."""

    domain: str  # photo | sketch
    folder: str  # class folder name as spelled in the package
    stem: str  # file name without extension
    group: str  # column of the counts table
    wnid: str | None = None
    pair: str | None = None  # sketches: stem of the photo it was drawn from


Parser = Callable[[str], Item | None]  # path below the package root -> item, None = skip


@dataclass(frozen=True, kw_only=True)
class Package:
    """One published archive and the folder it extracts to."""

    name: str  # short id, e.g. "extended"
    filename: str  # published archive file name
    root: str  # top folder inside the archive
    parse: Parser
    groups: tuple[str, ...]  # counts-table columns its items belong to
    locations: tuple[str, ...] = ()  # URLs or gdrive://<id>, tried in order
    aliases: tuple[str, ...] = ()  # other file names the archive is known under


@dataclass(frozen=True, kw_only=True)
class Benchmark:
    """A dataset made of packages; ``rename`` maps package folder names to class names."""

    name: str
    packages: tuple[Package, ...]
    counts: Path
    rename: Mapping[str, str] = field(default_factory=dict)

    def class_of(self, folder: str) -> str:
        """Canonical class name of a folder: ``rename`` entry, else lower-case, '_' for ' '."""
        return self.rename.get(folder, folder.strip().lower().replace(" ", "_"))


# ---------------------------------------------------------------------------- locate
def _holds_root(archive: Path, root: str) -> bool:
    try:
        archives.list_package(archive, root)
        return True
    except DatasetError:
        return False


def _in_source(pkg: Package, source: Path) -> Path | None:
    """The package in ``data.source``: its archive (by name, else by content) or its folder.

    ``source`` is a folder holding archives and/or extracted folders (at most one level
    down), or one archive.
    """
    if source.is_file():
        return source if _holds_root(source, pkg.root) else None
    for name in (pkg.filename, *pkg.aliases):
        for candidate in (source / name, *sorted(source.glob(f"*/{name}"))):
            if candidate.is_file():
                return candidate
    for candidate in (source / pkg.root, *sorted(source.glob(f"*/{pkg.root}"))):
        if candidate.is_dir():
            return candidate.parent
    found = [p for p in sorted(source.iterdir()) if p.name.endswith(archives.ARCHIVE_SUFFIXES)]
    return next((p for p in found if _holds_root(p, pkg.root)), None)


def _check_record(archive: Path, record: Path) -> tuple[str, str]:
    """SHA-256 of a local archive against the one recorded at first sight (or record it)."""
    digest = file_sha256(archive)
    known = read_record(record)
    if known is None:
        write_record(record, digest, archive)
        return digest, "first"
    if known != digest:
        raise DatasetError(
            f"{archive}: SHA-256 {digest} differs from {known}, recorded in {record} when this "
            "archive was first seen; delete the record if the change is expected"
        )
    return digest, "matched"


def _fetch(pkg: Package, url: str | None, cache: Path, **kw: Any) -> tuple[Path, str, str]:
    """Download ``pkg`` from the mirror ``url`` or its public locations, first that works."""
    locations = [f"{url.rstrip('/')}/{pkg.filename}"] if url else list(pkg.locations)
    if not locations:
        raise DatasetError(f"{pkg.filename}: no public download location is known")
    errors = []
    for location in locations:
        try:
            path, digest = download(location, cache, fname=pkg.filename, **kw)
            return path, location, digest
        except DatasetError as err:
            log.warning("%s: %s", pkg.filename, err)
            errors.append(f"{location}: {err}")
    raise DatasetError(
        f"could not download {pkg.filename} from any known location ({'; '.join(errors)}). "
        f"Download it elsewhere and point params key 'data.source' at the folder holding it"
    )


def locate(
    pkg: Package, source: Path | None, url: str | None, cache: Path, **kw: Any
) -> tuple[Path, dict[str, str]]:
    """Path of the package (archive or folder) and its provenance."""
    found = _in_source(pkg, source) if source is not None else None
    record = cache / f"{pkg.filename}.sha256"
    if found is not None and found.is_dir():
        return found, {"kind": "folder", "location": str(found)}
    if found is not None:
        digest, state = _check_record(found, record)
        return found, {
            "kind": "archive",
            "location": str(found),
            "archive_sha256": digest,
            "sha256_record": state,
        }
    first = not record.is_file()
    path, location, digest = _fetch(pkg, url, cache, **kw)
    return path, {
        "kind": "url",
        "location": location,
        "archive_sha256": digest,
        "sha256_record": "first" if first else "matched",
    }


# ---------------------------------------------------------------------------- items
@dataclass
class Found:
    """Items of all packages, keyed by ``path`` below ``out_dir``."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # package -> files skipped
    duplicates: list[tuple[str, str, str]] = field(default_factory=list)  # kept, dropped, why


def collect(bench: Benchmark, listings: Mapping[str, Listing], classes: set[str]) -> Found:
    """Map every listed file to a manifest row; count; drop duplicates by name."""
    found = Found()
    by_key: dict[tuple[str, str, str], str] = {}  # (domain, class, stem) -> id
    for pkg in bench.packages:
        taken: set[str] = set()
        for rel in sorted(listings[pkg.name].members):
            item = pkg.parse(rel)
            if item is None:
                found.skipped[pkg.name] += 1
                continue
            cls = bench.class_of(item.folder)
            if cls not in classes:
                raise DatasetError(
                    f"{bench.name}: class folder {item.folder!r} ({rel}) is not a known class "
                    f"(class list: {bench.counts})"
                )
            found.counts[item.group, cls] += 1
            stem = item.stem if (item.domain, cls, item.stem) not in taken else rel
            key = (item.domain, cls, stem)
            rid = item_id(item.domain, cls, stem.replace("/", "_"))
            if key in by_key:  # e.g. a Sketchy original inside Sketchy-Extended
                found.duplicates.append((by_key[key], rid, f"same name in {pkg.name}"))
                continue
            taken.add(key)
            by_key[key] = rid
            pair = item_id("photo", cls, item.pair) if item.pair else None
            found.rows[rel] = {
                "id": rid,
                "path": rel,
                "domain": item.domain,
                "class": cls,
                "wnid": item.wnid,
                "pair_id": pair,
            }
    return found


def drop_content_duplicates(found: Found, digests: Mapping[str, str]) -> list[str]:
    """Keep the first of each set of byte-identical files per domain; return dropped paths."""
    first: dict[tuple[str, str], str] = {}
    dropped = []
    for rel, row in list(found.rows.items()):  # package, then path order
        key = (row["domain"], digests[rel])
        if key in first:
            kept = found.rows[first[key]]
            why = "identical bytes" + ("" if kept["class"] == row["class"] else ", other class")
            found.duplicates.append((kept["id"], row["id"], why))
            dropped.append(rel)
            del found.rows[rel]
        else:
            first[key] = rel
    return dropped


def _unpaired_to_null(rows: list[dict[str, Any]]) -> None:
    """A sketch whose photo was dropped or never shipped keeps no dangling pair_id."""
    photos = {r["id"] for r in rows if r["domain"] == "photo"}
    for row in rows:
        if row["pair_id"] is not None and row["pair_id"] not in photos:
            row["pair_id"] = None


def count_files(bench: Benchmark, source: str, repo_root: str | os.PathLike[str]) -> Found:
    """List the packages in a local ``source`` and count files per group and class.

    Nothing is extracted or checked against the counts table; used to record the per-class
    counts of a copy once seen (``scripts/count_dataset.py``).
    """
    src = resolve_source(source, Path(repo_root))
    assert src is not None
    listings = {}
    for pkg in bench.packages:
        found = _in_source(pkg, src)
        if found is None:
            raise DatasetError(f"{pkg.filename} (or its folder {pkg.root}/) is not in {src}")
        listings[pkg.name] = archives.list_package(found, pkg.root)
    return collect(bench, listings, set(read_expected(bench.counts).classes))


# ---------------------------------------------------------------------------- build
def build(
    bench: Benchmark,
    *,
    source: str | None,
    url: str | None,
    out_dir: str | os.PathLike[str],
    repo_root: str | os.PathLike[str],
    check_counts: bool = True,
    cache: str | os.PathLike[str] | None = None,
    progress: bool = True,
    **download_kw: Any,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Locate, verify, extract and deduplicate ``bench`` into ``out_dir``.

    Returns ``(manifest, provenance)``; provenance is flat (``<package>.kind``,
    ``<package>.location``, ``<package>.archive_sha256``, ...) for MLflow tags.
    """
    expected = read_expected(bench.counts)
    cache_path = (Path(cache) if cache is not None else cache_dir()) / bench.name
    src = resolve_source(source, Path(repo_root))
    provenance: dict[str, str] = {"kind": "benchmark"}
    listings: dict[str, Listing] = {}
    for pkg in bench.packages:
        path, prov = locate(pkg, src, url, cache_path, progress=progress, **download_kw)
        listings[pkg.name] = archives.list_package(path, pkg.root)
        provenance.update({f"{pkg.name}.{k}": v for k, v in prov.items()})
    n_listed = sum(len(listing.members) for listing in listings.values())
    with _phase("list, map and count", n_listed):
        found = collect(bench, listings, set(expected.classes))
        groups = tuple(g for pkg in bench.packages for g in pkg.groups)
        _check(found.counts, expected, groups, check_counts)
    with atomic_dir(out_dir) as tmp:
        with _phase("extract", len(found.rows)):
            for pkg in bench.packages:
                mine = [rel for rel in found.rows if listings[pkg.name].members.get(rel)]
                archives.extract(listings[pkg.name], mine, tmp, progress)
        with _phase("sha256 and image headers", len(found.rows)):
            digests = archives.hash_files(tmp, list(found.rows), progress)
        for rel in drop_content_duplicates(found, digests):
            (tmp / rel).unlink()
        rows = list(found.rows.values())
        _unpaired_to_null(rows)
        with _phase("manifest", len(rows)):
            manifest = validate_manifest(make_manifest(rows), tmp)
        _write_sidecars(tmp, bench, provenance, found, expected)
    log.info(
        "%s: %d items, %d duplicates dropped, %s skipped",
        bench.name,
        len(manifest),
        len(found.duplicates),
        dict(found.skipped),
    )
    return manifest, provenance


@contextlib.contextmanager
def _phase(name: str, n_files: int) -> Iterator[None]:
    """Log how long a phase took for ``n_files`` files."""
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    log.info(
        "%s: %d files in %.1f s (%.0f files/s)",
        name,
        n_files,
        seconds,
        n_files / max(seconds, 1e-9),
    )


def _check(
    found: Counter[tuple[str, str]],
    expected: ExpectedCounts,
    groups: tuple[str, ...],
    strict: bool,
) -> None:
    problems = count_problems(found, expected, groups)
    if not problems:
        log.info("file counts match %s", expected.path)
        return
    text = f"file counts differ from {expected.path}: " + "; ".join(problems[:10])
    if len(problems) > 10:
        text += f"; ... ({len(problems)} in all)"
    if strict:
        raise DatasetError(text + " (params key 'data.check_counts: false' only warns)")
    log.warning("%s", text)


def _write_sidecars(
    out: Path,
    bench: Benchmark,
    provenance: Mapping[str, str],
    found: Found,
    expected: ExpectedCounts,
) -> None:
    """``SOURCES.json`` (provenance, counts) and ``duplicates.tsv`` next to the data."""
    groups = {
        g: {c: n for (gg, c), n in sorted(found.counts.items()) if gg == g}
        for pkg in bench.packages
        for g in pkg.groups
    }
    sources = {
        "dataset": bench.name,
        "packages": dict(provenance),
        "files_found": groups,
        "skipped": dict(found.skipped),
        "n_duplicates": len(found.duplicates),
    }
    write_text(json.dumps(sources, indent=2, sort_keys=True) + "\n", out / "SOURCES.json")
    lines = ["kept\tdropped\treason"] + ["\t".join(d) for d in found.duplicates]
    write_text("\n".join(lines) + "\n", out / "duplicates.tsv")


def write_benchmark(
    bench: Benchmark, cfg: DataConfig, out_dir: Path, repo_root: Path
) -> BuiltDataset:
    """:func:`build` with the ``data`` params (a dataset module's ``write``)."""
    manifest, provenance = build(
        bench,
        source=cfg.source,
        url=cfg.url,
        out_dir=out_dir,
        repo_root=repo_root,
        check_counts=cfg.check_counts,
    )
    return BuiltDataset(manifest, provenance)
