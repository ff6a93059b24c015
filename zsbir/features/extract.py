"""Batched, sharded extraction of F(x) for every photo and sketch of the manifest.

Each domain's manifest rows are sorted by ``id`` and cut into ``N`` contiguous shards.
Shard ``i`` of each domain is written to ``<out>/parts/<domain>-<i>-of-<N>.parquet`` with a
JSON sidecar (counts, timing, unreadable files and a key of the ids, paths and feature
config). A shard whose part exists with the same key is skipped, so an interrupted run
resumes where it stopped. :func:`merge_parts` concatenates the parts into
``<out>/{photo,sketch}.parquet`` and ``<out>/unreadable.csv`` and removes ``parts/``.

Many processes / machines (each sees the same manifest and raw images)::

    # one process per shard, e.g. 4 GPUs with torchrun (rank -> shard, local rank -> GPU)
    torchrun --nproc-per-node 4 stages/extract.py --shard env
    # or by hand / a job array: python stages/extract.py --shard 0/4 ... --shard 3/4
    python stages/extract.py --merge        # once all parts exist

``--shard env`` reads ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set by torchrun. No process
group is needed: shards are independent and only the merge reads all of them. With a
single shard (the default, ``dvc repro``) the merge happens at once.

Finished work also survives outside the DVC output: each shard is extracted in chunks of
``CHUNK_BATCHES`` batches, and every finished chunk is kept in a feature cache
(``$ZSBIR_FEATURE_CACHE``, else ``$ZSBIR_CACHE/features`` or ``~/.cache/zsbir/features``;
``ZSBIR_FEATURE_CACHE=off`` disables it) under ``<extractor fingerprint>/``, keyed by the
chunk's ids, paths and image contents (SHA-256). DVC deletes ``data/features`` before it
re-runs the stage, so after a crash only the chunks not yet cached are extracted. The
chunks are cut on batch boundaries, so every image sees the same batch as in an
uninterrupted run and the result is bit-identical. A shard's chunks are removed once its
part is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from zsbir import io
from zsbir.config import FeaturesConfig
from zsbir.data.acquire.fetch import cache_dir
from zsbir.features.images import ImageDataset
from zsbir.features.vgg import VGGFeatures
from zsbir.features.weights import build_extractor
from zsbir.schema import DOMAINS, Domain, validate_manifest

log = logging.getLogger(__name__)

CHUNK_BATCHES = 8  # batches per cached chunk (the unit a crashed run does not redo)
CACHE_ENV = "ZSBIR_FEATURE_CACHE"
PART_RE = re.compile(r"^(photo|sketch)-(\d+)-of-(\d+)\.parquet$")


class ExtractError(ValueError):
    """Bad manifest, shard spec or set of parts; the message names the file or key."""


# ---------------------------------------------------------------------------- shards
@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based), e.g. parsed from ``"2/8"``."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
        if not match:
            raise ExtractError(f"--shard must look like i/N (0 <= i < N), got {text!r}")
        shard = cls(int(match.group(1)), int(match.group(2)))
        if not 0 <= shard.index < shard.count:
            raise ExtractError(f"--shard {text}: need 0 <= i < N")
        return shard

    def rows(self, n: int) -> slice:
        """The contiguous rows of this shard among ``n`` (``np.array_split`` cuts)."""
        bounds = np.linspace(0, n, self.count + 1).round().astype(int)
        return slice(int(bounds[self.index]), int(bounds[self.index + 1]))

    def part(self, domain: str) -> str:
        return f"{domain}-{self.index}-of-{self.count}"


# ----------------------------------------------------------------------- device/prec
def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` → CUDA (GPU ``local_rank``) if available, else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ExtractError("features.device=cuda but torch sees no CUDA device")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if name == "cpu":
        return torch.device("cpu")
    raise ExtractError(f"features.device must be auto, cpu or cuda, got {name!r}")


def bf16_supported(device: torch.device) -> bool:
    """Native bf16 matmul/conv: CUDA with bf16, or oneDNN with AVX512-BF16/AMX on CPU."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision that will actually run (bf16 falls back to fp32 with a warning)."""
    if precision == "bf16" and not bf16_supported(device):
        log.warning("bf16 is not supported natively on %s; extracting in fp32", device)
        return "fp32"
    return precision


@contextlib.contextmanager
def _autocast(device: torch.device, precision: str) -> Iterator[None]:
    if precision == "bf16":
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


# ------------------------------------------------------------------------ extraction
def extract_images(
    model: VGGFeatures,
    paths: list[Path],
    domain: Domain,
    cfg: FeaturesConfig,
    device: torch.device,
    precision: str,
) -> tuple[np.ndarray, list[str]]:
    """F of every image: ``(float32 (N, D), errors)``; ``errors[i]`` is ``""`` if image i read.

    Rows of unreadable images (only with ``cfg.skip_unreadable``) hold zeros.
    """
    dataset = ImageDataset(paths, domain, cfg.image_size, cfg.skip_unreadable)
    loader = DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        num_workers=cfg.num_workers,
        pin_memory=device.type == "cuda",
        shuffle=False,
    )
    out = np.zeros((len(paths), model.dim), dtype=np.float32)  # (N, D)
    errors = [""] * len(paths)
    model = model.to(device, memory_format=torch.channels_last)
    with torch.inference_mode(), _autocast(device, precision):
        batches = tqdm(loader, desc=f"extract {domain}", unit="batch", leave=False)
        for images, index, errs in batches:
            x = images.to(device, non_blocking=True).contiguous(
                memory_format=torch.channels_last
            )  # (B, 3, S, S) uint8
            out[index.numpy()] = model(x).float().cpu().numpy()  # (B, D)
            for i, err in zip(index.tolist(), errs):
                errors[i] = err
    return out, errors


# ----------------------------------------------------------------------- chunk cache
def feature_cache_root() -> Path | None:
    """``$ZSBIR_FEATURE_CACHE`` (``off``: no cache), else ``<download cache>/features``."""
    env = os.environ.get(CACHE_ENV)
    if env is not None and env.strip().lower() in ("", "off", "0", "false", "none"):
        return None
    return Path(env).expanduser() if env else cache_dir() / "features"


def extractor_fingerprint(
    model: VGGFeatures, cfg: FeaturesConfig, device: torch.device, precision: str
) -> str:
    """SHA-256 of everything that decides F(x): weights, architecture, input and batching."""
    digest = hashlib.sha256()
    setup = {
        "module": str(model),
        "layers": list(model.layers),
        "normalize_layers": model.normalize_layers,
        "image_size": cfg.image_size,
        "batch_size": cfg.batch_size,
        "skip_unreadable": cfg.skip_unreadable,
        "precision": precision,
        "device": device.type,
        "torch": torch.__version__,
    }
    digest.update(json.dumps(setup, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """Content hash of one image (``"missing"`` if it cannot be read)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "missing"


def chunk_key(fingerprint: str, ids: list[str], paths: list[Path]) -> str:
    """Identity of one chunk: extractor fingerprint, ids, paths and image contents."""
    digest = hashlib.sha256(fingerprint.encode())
    for item, path in zip(ids, paths):
        digest.update(f"\0{item}\0{path.name}\0{file_sha256(path)}".encode())
    return digest.hexdigest()


def read_chunk(path: Path, n: int) -> tuple[np.ndarray, list[str]] | None:
    """A cached chunk ``(vectors (n, D), errors)``, or None if absent or unreadable."""
    if not path.exists():
        return None
    try:
        meta, vectors = io.read_vectors(path)
    except io.ArtifactError as exc:
        log.warning("ignoring damaged feature cache file: %s", exc)
        return None
    if len(meta) != n:
        return None
    return vectors, [str(e) for e in meta["error"]]


def extract_chunked(
    model: VGGFeatures,
    rows: pd.DataFrame,
    paths: list[Path],
    domain: Domain,
    cfg: FeaturesConfig,
    device: torch.device,
    precision: str,
    cache: Path | None,
) -> tuple[np.ndarray, list[str], list[Path]]:
    """:func:`extract_images` chunk by chunk, reusing and filling the cache ``cache``.

    Returns ``(float32 (N, D), errors, cache files of this call)``.
    """
    size = cfg.batch_size * CHUNK_BATCHES  # a multiple of the batch: batches do not change
    out = np.zeros((len(paths), model.dim), dtype=np.float32)  # (N, D)
    errors = [""] * len(paths)
    files: list[Path] = []
    reused = 0
    starts = range(0, len(paths), size)
    for start in tqdm(starts, desc=f"extract {domain} (chunks of {size})", unit="chunk"):
        block = slice(start, min(start + size, len(paths)))
        ids = [str(i) for i in rows["id"].iloc[block]]
        file = None
        if cache is not None:
            file = cache / f"{domain}-{chunk_key(cache.name, ids, paths[block])[:40]}.parquet"
            files.append(file)
            hit = read_chunk(file, len(ids))
            if hit is not None:
                out[block], errors[block] = hit
                reused += 1
                continue
        vectors, errs = extract_images(model, paths[block], domain, cfg, device, precision)
        out[block], errors[block] = vectors, errs
        if file is not None:
            io.write_vectors(file, vectors, {"id": ids, "error": errs})
    if reused:
        log.info(
            "%s: %d of %d chunks from the feature cache %s", domain, reused, len(starts), cache
        )
    return out, errors, files


def load_manifest(path: Path) -> pd.DataFrame:
    """The manifest, checked (``zsbir.schema.validate_manifest``), sorted by (domain, id)."""
    df = validate_manifest(io.read_table(path), source=str(path))
    return df.sort_values(["domain", "id"], kind="stable").reset_index(drop=True)


def _config_key(cfg: FeaturesConfig, rows: pd.DataFrame) -> str:
    fields = {
        k: getattr(cfg, k)
        for k in ("weights", "onnx_path", "layers", "normalize_layers", "image_size", "precision",
                  "skip_unreadable")
    }
    blob = json.dumps({"cfg": fields, "ids": list(rows["id"]), "paths": list(rows["path"])})
    return hashlib.sha256(blob.encode()).hexdigest()


def extract_shard(
    manifest: pd.DataFrame,
    raw_root: Path,
    *,
    parts_dir: Path,
    cfg: FeaturesConfig,
    shard: Shard,
    local_rank: int = 0,
    seed: int = 0,
    chunks: list[Path] | None = None,
) -> list[str]:
    """Extract shard ``shard`` of each domain into ``parts_dir``; returns the parts written.

    Each domain's rows are sorted by id before cutting. A part whose sidecar has the same
    key (ids, paths, feature config) is kept as is. The feature cache files of a written
    part are removed, unless ``chunks`` is given: then they are appended to it, for the
    caller to remove once the part is safe (merged).
    """
    todo: list[tuple[Domain, pd.DataFrame, str]] = []
    for domain in DOMAINS:
        rows = manifest[manifest["domain"] == domain].sort_values("id", kind="stable")
        rows = rows.iloc[shard.rows(len(rows))]
        key = _config_key(cfg, rows)
        sidecar = parts_dir / f"{shard.part(domain)}.json"
        done = sidecar.exists() and (parts_dir / f"{shard.part(domain)}.parquet").exists()
        if done and (meta := io.read_json(sidecar)).get("key") == key:
            log.info("shard %s already extracted; skipping", shard.part(domain))
            done_chunks = [Path(c) for c in meta.get("chunks", [])]
            if chunks is None:
                remove_files(done_chunks)
            else:
                chunks += done_chunks
            continue
        todo.append((domain, rows, key))
    if not todo:
        return []
    device = resolve_device(cfg.device, local_rank)
    precision = resolve_precision(cfg.precision, device)
    model = build_extractor(cfg.weights, cfg.layers, cfg.onnx_path, seed, cfg.normalize_layers)
    root = feature_cache_root()
    cache = root / extractor_fingerprint(model, cfg, device, precision)[:32] if root else None
    written = []
    for domain, rows, key in todo:
        paths = [raw_root / p for p in rows["path"]]
        start = time.perf_counter()
        vectors, errors, domain_chunks = extract_chunked(
            model, rows, paths, domain, cfg, device, precision, cache
        )
        seconds = time.perf_counter() - start
        ok = np.array([e == "" for e in errors], dtype=bool)
        unreadable = [
            {"id": i, "path": str(p), "domain": domain, "error": e}
            for i, p, e in zip(rows["id"], rows["path"], errors)
            if e
        ]
        for item in unreadable:
            log.warning("skipping unreadable image %s", item["error"])
        name = shard.part(domain)
        io.write_vectors(
            parts_dir / f"{name}.parquet", vectors[ok], {"id": rows["id"].to_numpy()[ok]}
        )
        meta = {
            "key": key,
            "domain": domain,
            "shard": shard.index,
            "n_shards": shard.count,
            "count": int(ok.sum()),
            "images": len(rows),
            "seconds": seconds,
            "dim": model.dim,
            "weights": cfg.weights,
            "layers": list(cfg.layers),
            "image_size": cfg.image_size,
            "precision": precision,
            "device": str(device),
            "unreadable": unreadable,
            "chunks": [str(c) for c in domain_chunks],  # feature cache files to remove
        }
        io.write_json(meta, parts_dir / f"{name}.json")
        if chunks is None:  # the part holds them now
            remove_files(domain_chunks)
        else:
            chunks += domain_chunks
        log.info(
            "%s: %d images in %.1f s (%.1f images/s)",
            name,
            len(rows),
            seconds,
            len(rows) / max(seconds, 1e-9),
        )
        written.append(name)
    return written


def find_parts(parts_dir: Path, count: int | None = None) -> int:
    """The shard count N of the complete set of parts in ``parts_dir`` (error if incomplete).

    ``count`` given: only parts of that N are considered (stale parts of another N are
    ignored); otherwise exactly one N must be present.
    """
    found: dict[int, set[tuple[str, int]]] = {}
    for path in parts_dir.glob("*.parquet") if parts_dir.is_dir() else []:
        match = PART_RE.match(path.name)
        if match and (parts_dir / f"{path.stem}.json").exists():
            found.setdefault(int(match.group(3)), set()).add((match.group(1), int(match.group(2))))
    if count is not None:
        found = {count: found.get(count, set())}
    if len(found) != 1:
        raise ExtractError(
            f"{parts_dir}: need the parts of exactly one shard count N, found N in {sorted(found)}"
        )
    ((count, have),) = found.items()
    missing = [f"{d}-{i}-of-{count}" for d in DOMAINS for i in range(count) if (d, i) not in have]
    if missing:
        raise ExtractError(f"{parts_dir}: missing parts {missing}; run those shards first")
    return count


def merge_parts(parts_dir: Path, out_dir: Path, count: int | None = None) -> dict[str, Any]:
    """Concatenate all parts into ``out_dir/{photo,sketch}.parquet``; returns the summary.

    Also writes ``out_dir/unreadable.csv`` (id, path, domain, error of skipped images) and
    removes ``parts_dir``.
    """
    count = find_parts(parts_dir, count)
    metas = {
        d: [io.read_json(parts_dir / f"{Shard(i, count).part(d)}.json") for i in range(count)]
        for d in DOMAINS
    }
    first = metas["photo"][0]
    for m in (m for ms in metas.values() for m in ms):
        for k in ("dim", "weights", "layers", "image_size", "precision"):
            if m[k] != first[k]:
                raise ExtractError(f"{parts_dir}: parts disagree on {k} ({m[k]} vs {first[k]})")
    summary: dict[str, Any] = {k: first[k] for k in ("dim", "weights", "layers", "image_size")}
    unreadable: list[dict[str, str]] = []
    images = seconds = 0.0
    for domain in DOMAINS:
        tables = [
            io.read_vectors(parts_dir / f"{Shard(i, count).part(domain)}.parquet")
            for i in range(count)
        ]
        ids = pd.concat([t[0]["id"] for t in tables], ignore_index=True)
        matrix = np.concatenate([t[1] for t in tables]).reshape(-1, first["dim"])  # (N, D)
        io.write_vectors(out_dir / f"{domain}.parquet", matrix, {"id": ids})
        summary[domain] = {
            "count": len(ids),
            "unreadable": sum(len(m["unreadable"]) for m in metas[domain]),
        }
        unreadable += [u for m in metas[domain] for u in m["unreadable"]]
        images += sum(m["images"] for m in metas[domain])
        seconds += sum(m["seconds"] for m in metas[domain])
    columns = ["id", "path", "domain", "error"]
    report = pd.DataFrame(unreadable, columns=columns).to_csv(index=False)
    io.write_text(report, out_dir / "unreadable.csv")
    summary.update(
        images_per_s=images / max(seconds, 1e-9),
        precision=first["precision"],
        device=first["device"],
        n_shards=count,
        unreadable=unreadable,
    )
    shutil.rmtree(parts_dir)
    return summary


def run_extract(
    manifest_path: Path,
    raw_root: Path,
    *,
    out_dir: Path,
    cfg: FeaturesConfig,
    shard: Shard = Shard(),
    local_rank: int = 0,
    seed: int = 0,
) -> dict[str, Any] | None:
    """Extract ``shard``; with a single shard also merge and return the summary."""
    manifest = load_manifest(manifest_path)
    parts_dir = out_dir / "parts"
    kw = {"parts_dir": parts_dir, "cfg": cfg, "shard": shard, "local_rank": local_rank, "seed": seed}
    if shard.count > 1:
        extract_shard(manifest, raw_root, **kw)
        return None
    # One shard (`dvc repro`): DVC deletes out_dir, parts included, before a rerun, so
    # the cached chunks are the only progress that survives until the merge is done.
    chunks: list[Path] = []
    extract_shard(manifest, raw_root, **kw, chunks=chunks)
    summary = merge_parts(parts_dir, out_dir, 1)
    remove_files(chunks)
    return summary


def remove_files(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
