"""``zsbir index``: a photo folder → a searchable index folder (read by :mod:`.photo_index`).

``INDEX_DIR/`` holds::

    index.json      format, bundle fingerprint and path, photo folder, kind and
                    index_params (IndexSpec: kind, nlist, nprobe), count, dim,
                    skipped (unreadable) files, sha256 of photos.parquet
    photos.parquet  path (relative to the photo folder, POSIX), sha256 of the file, vector
    faiss.index     FAISS index over the vectors (zsbir.retrieval.index), row i = table row i
    parts/          work in progress: embedded chunks, removed once the index is written

Incremental and resumable: every file is identified by the SHA-256 of its bytes. Vectors
already in ``photos.parquet`` or in a part are reused; only new content is embedded, in
chunks, each chunk written to ``parts/`` atomically as soon as it is done, so an
interrupted run loses at most one chunk. A path is listed once; identical files share one
embedding. Scale-out: ``engine="ray"`` (``zsbir index --engine ray``) computes the same
chunks' features on a Ray cluster (:mod:`zsbir.features.engine_ray`): the same index.
An index remembers its bundle's fingerprint and refuses any other bundle.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from zsbir import io
from zsbir.config import IndexSpec, to_dict
from zsbir.features import engine_ray
from zsbir.retrieval.index import build_index, resolve_spec, save_index
from zsbir.search.bundle import bundle_extractor
from zsbir.search.photo_index import (
    FAISS,
    FORMAT,
    META,
    PARTS,
    TABLE,
    GalleryError,
    check_fingerprint,
    read_meta,
)
from zsbir.search.retriever import Retriever

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
CHUNK = 256  # images embedded (and checkpointed to parts/) at a time


# ------------------------------------------------------------------------ scanning
def find_images(photo_dir: Path, exclude: Path | None = None) -> list[str]:
    """Image files under ``photo_dir`` (recursive, extension in any case), sorted POSIX paths."""
    if not photo_dir.is_dir():
        raise GalleryError(f"{photo_dir}: photo folder not found")
    skip = exclude.resolve() if exclude is not None else None
    found = []
    for path in photo_dir.rglob("*"):
        if path.suffix.lower() not in IMAGE_EXTENSIONS or not path.is_file():
            continue
        if skip is not None and path.resolve().is_relative_to(skip):
            continue
        found.append(path.relative_to(photo_dir).as_posix())
    if not found:
        raise GalleryError(
            f"{photo_dir}: no images (extensions {sorted(IMAGE_EXTENSIONS)}, any case) found"
        )
    return sorted(found)


def hash_files(photo_dir: Path, paths: list[str]) -> list[str]:
    """SHA-256 of each file's content."""
    return [io.file_sha256(photo_dir / p) for p in tqdm(paths, desc="hash photos", unit="file")]


# ------------------------------------------------------------------------- parts
def _parts_fingerprint(parts: Path, fingerprint: str) -> None:
    stamp = parts / "bundle_fingerprint"
    if stamp.is_file():
        check_fingerprint(parts, stamp.read_text().strip(), fingerprint)
    else:
        io.write_text(fingerprint, stamp)


def known_vectors(out: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``({sha256: vector}, {sha256: error})`` from the current table and every part."""
    vectors: dict[str, np.ndarray] = {}
    errors: dict[str, str] = {}
    if (out / TABLE).is_file():
        meta, x = io.read_vectors(out / TABLE)
        vectors.update(zip(meta["sha256"], x))
    parts = out / PARTS
    for part in sorted(parts.glob("*.parquet")) if parts.is_dir() else []:
        meta, x = io.read_vectors(part)
        vectors.update(zip(meta["sha256"], x))
    for sidecar in sorted(parts.glob("*.json")) if parts.is_dir() else []:
        errors.update(io.read_json(sidecar)["errors"])
    return vectors, errors


def chunk_features(
    retriever: Retriever,
    paths: list[list[Path]],
    skip_unreadable: bool,
    engine: str,
) -> Iterator[tuple[int, np.ndarray, list[str]]]:
    """``(k, F (n, D_F), errors)`` of each chunk ``paths[k]``, here or on Ray actors."""
    if engine == "local":
        for k, chunk in enumerate(tqdm(paths, desc="index chunks", unit="chunk")):
            yield k, *retriever.file_features(chunk, "photo", skip_unreadable)
        return
    cfg = dataclasses.replace(retriever.cfg, skip_unreadable=skip_unreadable, engine="ray")
    make_model = functools.partial(bundle_extractor, retriever.bundle.root)
    chunks = [engine_ray.Chunk("photo", k, tuple(map(str, c))) for k, c in enumerate(paths)]
    results = engine_ray.run_chunks(chunks, cfg, make_model)
    for _, k, vectors, errors in tqdm(results, total=len(chunks), desc="index chunks (ray)",
                                      unit="chunk"):
        yield k, vectors, errors


def embed_missing(
    retriever: Retriever,
    photo_dir: Path,
    todo: list[tuple[str, str]],
    parts: Path,
    tag: str,
    skip_unreadable: bool,
    engine: str = "local",
) -> int:
    """Embed ``todo`` (sha256, path) chunk by chunk into ``parts/<tag>-<k>.parquet``."""
    done = 0
    chunks = [todo[start : start + CHUNK] for start in range(0, len(todo), CHUNK)]
    paths = [[photo_dir / p for _, p in chunk] for chunk in chunks]
    for k, feats, errors in chunk_features(retriever, paths, skip_unreadable, engine):
        chunk = chunks[k]
        ok = np.array([e == "" for e in errors], dtype=bool)
        vectors = retriever.embed_features(feats[ok], "photo") if ok.any() else None
        name = parts / f"{tag}-{k:06d}.parquet"
        bad = {h: e for (h, _), e in zip(chunk, errors) if e}
        for message in bad.values():
            log.warning("skipping unreadable photo %s", message)
        if vectors is not None:
            hashes = [h for (h, _), good in zip(chunk, ok) if good]
            io.write_vectors(name, vectors, {"sha256": pa_strings(hashes)})
        io.write_json({"errors": bad}, name.with_suffix(".json"))
        done += int(ok.sum())
    return done


def pa_strings(values: list[str]) -> Any:
    import pyarrow as pa

    return pa.array(values, type=pa.string())


# ------------------------------------------------------------------------- driver
def index_folder(
    photo_dir: str | Path,
    bundle: str | Path,
    out: str | Path,
    skip_unreadable: bool = False,
    spec: IndexSpec = IndexSpec(),
    device: str = "auto",
    engine: str = "local",
) -> dict[str, Any]:
    """Index (or update the index of) ``photo_dir`` into ``out``; returns a summary.

    ``spec`` picks the FAISS index kind (:mod:`zsbir.retrieval.index`); its resolved
    ``nlist``/``nprobe`` go to ``index.json`` (``index_params``). An ``ivf`` index trains on
    a sample seeded by the bundle's seed.
    ``engine``: ``local``, or ``ray`` (the same chunks on a Ray cluster; the same index).
    """
    photo_dir, out = Path(photo_dir), Path(out)
    start = time.perf_counter()
    retriever = Retriever.load(bundle, device)
    fingerprint = retriever.bundle.fingerprint
    meta = read_meta(out)
    if meta is not None:
        check_fingerprint(out, meta["bundle_fingerprint"], fingerprint)
    paths = find_images(photo_dir, exclude=out)
    hashes = hash_files(photo_dir, paths)
    parts = out / PARTS
    parts.mkdir(parents=True, exist_ok=True)
    _parts_fingerprint(parts, fingerprint)
    known, _ = known_vectors(out)
    first_path: dict[str, str] = {}
    for h, p in zip(hashes, paths):
        first_path.setdefault(h, p)
    missing = [h for h in first_path if h not in known]
    todo = [(h, first_path[h]) for h in sorted(missing)]
    embedded = embed_missing(retriever, photo_dir, todo, parts, f"run-{time.time_ns()}",
                             skip_unreadable, engine)
    summary: dict[str, Any] = {"images": len(paths), "embedded": embedded,
                               "reused": len(first_path) - len(missing)}
    vectors, errors = known_vectors(out)
    keep = [i for i, h in enumerate(hashes) if h in vectors]
    skipped = [{"path": paths[i], "error": errors.get(h, "not embedded")}
               for i, h in enumerate(hashes) if h not in vectors]
    if not keep:
        raise GalleryError(f"{photo_dir}: none of the {len(paths)} images could be read")
    spec = resolve_spec(spec, len(keep))  # before any write: a too-small gallery changes nothing
    matrix = np.stack([vectors[hashes[i]] for i in keep]).astype(np.float32)  # (N, E)
    table = {"path": pa_strings([paths[i] for i in keep]),
             "sha256": pa_strings([hashes[i] for i in keep])}
    io.write_vectors(out / TABLE, matrix, table)
    save_index(build_index(matrix, spec, retriever.bundle.seed), out / FAISS)
    meta = {
        "format": FORMAT,
        "bundle_fingerprint": fingerprint,
        "bundle": str(Path(bundle).resolve()),
        "photo_root": str(photo_dir.resolve()),
        "kind": spec.kind,
        "index_params": to_dict(spec),
        "count": len(keep),
        "dim": int(matrix.shape[1]),
        "skipped": skipped,
        "table_sha256": io.file_sha256(out / TABLE),
    }
    io.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", out / META)
    shutil.rmtree(parts)
    seconds = time.perf_counter() - start
    log.info("indexed %d photos (%d embedded, %d skipped) in %.1f s", len(keep), embedded,
             len(skipped), seconds)
    return summary | {"count": len(keep), "skipped": skipped, "seconds": seconds}
