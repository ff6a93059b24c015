"""Batched extraction of F(x) for every photo and sketch of the manifest, resumable.

Each domain's manifest rows are sorted by ``id`` and extracted in chunks of
``CHUNK_BATCHES`` batches; every finished chunk is kept in a feature cache
(``$ZSBIR_FEATURE_CACHE``, else ``$ZSBIR_CACHE/features`` or ``~/.cache/zsbir/features``;
``ZSBIR_FEATURE_CACHE=off`` disables it) under ``<extractor fingerprint>/``, keyed by the
chunk's ids, paths and image contents (SHA-256). DVC deletes ``data/features`` before it
re-runs the stage, so after a crash only the chunks not yet cached are extracted. The
chunks are cut on batch boundaries, so every image sees the same batch as in an
uninterrupted run and the result is bit-identical. The chunks are removed once
``<out>/{photo,sketch}.parquet`` and ``<out>/unreadable.csv`` are written.

Two engines compute the missing chunks (``features.engine``): ``local``, a DataLoader in
this process; ``ray``, the same chunks and batches over a Ray cluster
(:mod:`zsbir.features.engine_ray`), bit-identical to ``local`` on one machine.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import time
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
from zsbir.features import engine_ray
from zsbir.features.device import (
    ExtractError,
    autocast,
    bf16_supported,  # noqa: F401  (part of this module's interface)
    resolve_device,
    resolve_precision,
)
from zsbir.features.images import ImageDataset
from zsbir.features.vgg import VGGFeatures
from zsbir.features.weights import build_extractor
from zsbir.schema import DOMAINS, Domain, validate_manifest

log = logging.getLogger(__name__)

CHUNK_BATCHES = 8  # batches per cached chunk (the unit a crashed run does not redo)
CACHE_ENV = "ZSBIR_FEATURE_CACHE"
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
    with torch.inference_mode(), autocast(device, precision):
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


def _content_hash(path: Path) -> str:
    """Content hash of one image (``"missing"`` if it cannot be read)."""
    try:
        return io.file_sha256(path)
    except OSError:
        return "missing"


def chunk_key(fingerprint: str, ids: list[str], paths: list[Path]) -> str:
    """Identity of one chunk: extractor fingerprint, ids, paths and image contents."""
    digest = hashlib.sha256(fingerprint.encode())
    for item, path in zip(ids, paths):
        digest.update(f"\0{item}\0{path.name}\0{_content_hash(path)}".encode())
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


@dataclass
class DomainExtraction:
    """One domain on its way through the extractor: its outputs so far, its chunks' cache
    files, and the chunks that are not in the cache."""

    rows: pd.DataFrame
    paths: list[Path]
    out: np.ndarray  # (N, D) float32
    errors: list[str]
    size: int  # rows per chunk
    files: list[Path | None]  # per chunk: its cache file (None: no cache)
    todo: list[engine_ray.Chunk]

    def keep(self, index: int, vectors: np.ndarray, errs: list[str]) -> None:
        """Chunk ``index``'s features and errors into place, and into its cache file."""
        block = slice(index * self.size, index * self.size + len(vectors))
        self.out[block], self.errors[block] = vectors, errs
        if (file := self.files[index]) is not None:
            ids = [str(i) for i in self.rows["id"].iloc[block]]
            io.write_vectors(file, vectors, {"id": ids, "error": errs})


def plan_domain(
    rows: pd.DataFrame, paths: list[Path], domain: Domain, dim: int, cfg: FeaturesConfig,
    cache: Path | None,
) -> DomainExtraction:
    """Cut ``paths`` into the local engine's chunks and take those in ``cache`` from it."""
    size = cfg.batch_size * CHUNK_BATCHES  # a multiple of the batch: batches do not change
    plan = DomainExtraction(rows, paths, np.zeros((len(paths), dim), dtype=np.float32),
                            [""] * len(paths), size, [], [])
    chunks = engine_ray.cut_chunks(paths, size, domain)
    for chunk in chunks:
        block = slice(chunk.index * size, chunk.index * size + len(chunk.paths))
        file = None
        if cache is not None:
            ids = [str(i) for i in rows["id"].iloc[block]]
            file = cache / f"{domain}-{chunk_key(cache.name, ids, paths[block])[:40]}.parquet"
            hit = read_chunk(file, len(ids))
            if hit is not None:
                plan.out[block], plan.errors[block] = hit
                plan.files.append(file)
                continue
        plan.files.append(file)
        plan.todo.append(chunk)
    if len(plan.todo) < len(chunks):
        log.info("%s: %d of %d chunks from the feature cache %s", domain,
                 len(chunks) - len(plan.todo), len(chunks), cache)
    return plan


def extract_domains(
    model: VGGFeatures,
    plans: dict[str, DomainExtraction],
    cfg: FeaturesConfig,
    device: torch.device,
    precision: str,
    make_model: engine_ray.ModelFactory | None = None,
) -> None:
    """Run every plan's missing chunks through ``cfg.engine``: :func:`extract_images` here,
    or one Ray pipeline for all domains whose actors build their extractor with
    ``make_model``. Each chunk is kept (and cached) as it arrives."""
    todo = [chunk for plan in plans.values() for chunk in plan.todo]
    progress = tqdm(total=len(todo), desc=f"extract (chunks of {cfg.batch_size * CHUNK_BATCHES})",
                    unit="chunk")
    with progress:
        if cfg.engine == "ray" and todo:
            if make_model is None:
                raise ExtractError("features.engine=ray: pass make_model (the actors' extractor)")
            for domain, index, vectors, errs in engine_ray.run_chunks(todo, cfg, make_model):
                plans[domain].keep(index, vectors, errs)
                progress.update()
            return
        for chunk in todo:
            paths = [Path(p) for p in chunk.paths]
            plans[chunk.domain].keep(chunk.index, *extract_images(
                model, paths, chunk.domain, cfg, device, precision))  # type: ignore[arg-type]
            progress.update()


def load_manifest(path: Path) -> pd.DataFrame:
    """The manifest, checked (``zsbir.schema.validate_manifest``), sorted by (domain, id)."""
    df = validate_manifest(io.read_table(path), source=str(path))
    return df.sort_values(["domain", "id"], kind="stable").reset_index(drop=True)




def run_extract(
    manifest_path: Path,
    raw_root: Path,
    *,
    out_dir: Path,
    cfg: FeaturesConfig,
    seed: int = 0,
    make_model: engine_ray.ModelFactory | None = None,
) -> dict[str, Any]:
    """F of every manifest row into ``out_dir/{photo,sketch}.parquet``; returns the summary.

    Rows sorted by id per domain. Also writes ``out_dir/unreadable.csv`` (id, path, domain,
    error of skipped images); the chunks cached on the way are removed at the end.
    ``make_model``: what each Ray actor builds (default: the extractor of ``cfg``).
    """
    manifest = load_manifest(manifest_path)
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    model = build_extractor(cfg.weights, cfg.layers, cfg.onnx_path, seed, cfg.normalize_layers)
    make_model = make_model or functools.partial(
        build_extractor, cfg.weights, cfg.layers, cfg.onnx_path, seed, cfg.normalize_layers
    )
    root = feature_cache_root()
    cache = root / extractor_fingerprint(model, cfg, device, precision)[:32] if root else None
    summary: dict[str, Any] = {"dim": model.dim, "weights": cfg.weights,
                               "layers": list(cfg.layers), "image_size": cfg.image_size}
    unreadable: list[dict[str, str]] = []
    chunks: list[Path] = []
    plans = {d: plan_domain(*_domain_rows(manifest, raw_root, d), d, model.dim, cfg, cache)
             for d in DOMAINS}
    with contextlib.ExitStack() as session:
        if cfg.engine == "ray":  # one Ray session and one pipeline for both domains
            session.enter_context(engine_ray.ray_cluster())
        start = time.perf_counter()  # images/s: from a running cluster on (actors included)
        extract_domains(model, plans, cfg, device, precision, make_model)
        seconds = time.perf_counter() - start
    images = 0
    for domain in DOMAINS:
        plan = plans[domain]
        rows, vectors, errors = plan.rows, plan.out, plan.errors
        images += len(rows)
        chunks += [f for f in plan.files if f is not None]
        ok = np.array([e == "" for e in errors], dtype=bool)
        bad = [{"id": i, "path": str(p), "domain": domain, "error": e}
               for i, p, e in zip(rows["id"], rows["path"], errors) if e]
        for item in bad:
            log.warning("skipping unreadable image %s", item["error"])
        io.write_vectors(out_dir / f"{domain}.parquet", vectors[ok],
                         {"id": rows["id"].to_numpy()[ok]})
        summary[domain] = {"count": int(ok.sum()), "unreadable": len(bad)}
        unreadable += bad
    report = pd.DataFrame(unreadable, columns=["id", "path", "domain", "error"])
    io.write_text(report.to_csv(index=False), out_dir / "unreadable.csv")
    summary.update(images_per_s=images / max(seconds, 1e-9), precision=precision,
                   device=str(device), engine=cfg.engine, unreadable=unreadable)
    remove_files(chunks)
    return summary


def _domain_rows(
    manifest: pd.DataFrame, raw_root: Path, domain: Domain
) -> tuple[pd.DataFrame, list[Path]]:
    """One domain's rows, sorted by id, and their image paths."""
    rows = manifest[manifest["domain"] == domain].sort_values("id", kind="stable")
    return rows, [raw_root / p for p in rows["path"]]


def remove_files(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
