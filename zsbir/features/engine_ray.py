"""``features.engine: ray``: the extractor over a Ray cluster, chunk by chunk (Ray Data).

The unit of work is the local engine's own chunk (``features.batch_size`` ×
:data:`~zsbir.features.extract.CHUNK_BATCHES` images, cut at the same rows), so each
chunk goes through the network in the same batches as :func:`extract_images` runs it and
the features are the local engine's, bit for bit, on one machine. A Ray Data pipeline::

    from_items(chunks) --map(decode_chunk): Ray tasks-->  uint8 (n, 3, S, S) + errors
                       --map(ChunkExtractor): an actor pool, one extractor each--> (n, D)

Actors take ``num_gpus=1`` each where the cluster has GPUs, else one CPU each, as many as
the cluster has (``actors`` overrides). A task or actor that dies is retried by Ray (the
actors restart); the driver gets every chunk exactly once and writes it to the chunk cache
as it arrives, so an interrupted run resumes from its finished chunks.

The cluster is Ray's convention: an initialised Ray, else ``RAY_ADDRESS`` (``ray start
--head`` on the head node), else a local Ray started here and stopped at the end.
Workers of a multi-node cluster need this project installed (``make setup``) and the
images at the same paths (a shared file system).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zsbir.config import FeaturesConfig
from zsbir.features.device import forward_batches, resolve_device, resolve_precision
from zsbir.features.images import ImageDataset
from zsbir.features.vgg import VGGFeatures

log = logging.getLogger(__name__)

ADDRESS_ENV = "RAY_ADDRESS"
ModelFactory = Callable[[], VGGFeatures]  # picklable: it is built again inside each actor


class RayEngineError(RuntimeError):
    """Ray missing or its cluster unreachable; the message names ``RAY_ADDRESS`` and the fix."""


@dataclass(frozen=True)
class Chunk:
    """Chunk ``index`` of one domain's sorted list: its rows ``index*size`` on."""

    domain: str
    index: int
    paths: tuple[str, ...]


@contextlib.contextmanager
def ray_cluster() -> Iterator[Any]:
    """The ``ray`` module, connected: an existing session, ``RAY_ADDRESS``, or a local Ray."""
    try:
        import ray
    except ImportError as exc:
        raise RayEngineError(
            "features.engine=ray needs Ray: pip install -r requirements.lock (ray[data])"
        ) from exc
    if ray.is_initialized():
        yield ray
        return
    address = os.environ.get(ADDRESS_ENV)
    if address and not _reachable(address):
        raise RayEngineError(
            f"cannot reach the Ray cluster at {ADDRESS_ENV}={address}; start its head with "
            f"`ray start --head` and set {ADDRESS_ENV} to the address it prints, or unset "
            f"{ADDRESS_ENV} for a local Ray"
        )
    try:
        ray.init(address=address or None, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"{ADDRESS_ENV}={address}" if address else "a local Ray"
        raise RayEngineError(
            f"cannot reach {where} ({type(exc).__name__}: {str(exc).splitlines()[0]}); start "
            f"the head with `ray start --head` and set {ADDRESS_ENV} to its address, or unset "
            f"{ADDRESS_ENV} for a local Ray"
        ) from exc
    try:
        yield ray
    finally:
        ray.shutdown()


def _reachable(address: str, timeout_s: float = 5.0) -> bool:
    """A TCP connection to ``host:port`` of ``address`` opens (Ray itself waits minutes)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():  # "auto" and the like: let Ray resolve it
        return True
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s).close()
    except OSError:
        return False
    return True


def decode_chunk(row: dict[str, Any], *, cfg: FeaturesConfig) -> dict[str, Any]:
    """Ray task: the chunk's images as the local loader decodes them (uint8 (n, 3, S, S))."""
    dataset = ImageDataset(list(row["paths"]), row["domain"], cfg.image_size, cfg.skip_unreadable)
    items = [dataset[i] for i in range(len(dataset))]
    images = torch.stack([image for image, _, _ in items]).numpy()  # (n, 3, S, S) uint8
    return {"domain": row["domain"], "index": row["index"], "images": images,
            "errors": [e for _, _, e in items]}


class ChunkExtractor:
    """Ray actor: one extractor, applied to a decoded chunk in ``batch_size`` batches."""

    def __init__(self, make_model: ModelFactory, cfg: FeaturesConfig) -> None:
        self.cfg = cfg
        self.device = resolve_device(cfg.device)  # Ray sets CUDA_VISIBLE_DEVICES per actor
        self.precision = resolve_precision(cfg.precision, self.device)
        self.model = make_model()

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        images = torch.from_numpy(np.ascontiguousarray(row["images"]))  # (n, 3, S, S) uint8
        vectors = forward_batches(self.model, images, self.cfg.batch_size, self.device,
                                  self.precision)  # (n, D)
        return {"domain": row["domain"], "index": row["index"], "vectors": vectors,
                "errors": list(row["errors"])}


def run_chunks(
    chunks: Sequence[Chunk],
    cfg: FeaturesConfig,
    make_model: ModelFactory,
    actors: int | None = None,
) -> Iterator[tuple[str, int, np.ndarray, list[str]]]:
    """``(domain, chunk index, float32 (n, D), errors)`` of every chunk, in completion order.

    One pipeline for all the chunks (of every domain): the actors start once.
    """
    if not chunks:
        return
    with ray_cluster() as ray:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        count = actors or gpus or max(1, int(resources.get("CPU", 1)))
        per_actor = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        log.info("ray: %d %s actors over %d chunks", count, "GPU" if gpus else "CPU", len(chunks))
        items = [{"domain": c.domain, "index": c.index, "paths": list(c.paths)} for c in chunks]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        # Decoding is light next to the network: tasks take no CPU slot from the actors, and
        # at most one runs per actor (each task without a limit was a new worker process,
        # importing torch, beside the busy actors).
        ds = ds.map(decode_chunk, fn_kwargs={"cfg": cfg}, num_cpus=0, concurrency=count,
                    max_retries=-1)
        ds = ds.map(ChunkExtractor, fn_constructor_args=(make_model, cfg), concurrency=count,
                    max_restarts=-1, max_task_retries=-1, **per_actor)
        for row in ds.iter_rows():
            vectors = np.asarray(row["vectors"], dtype=np.float32)
            yield str(row["domain"]), int(row["index"]), vectors, [str(e) for e in row["errors"]]


def cut_chunks(paths: Sequence[Path], size: int, domain: str) -> list[Chunk]:
    """The local engine's chunks of one domain: rows ``[k*size, (k+1)*size)``."""
    return [Chunk(domain, k, tuple(str(p) for p in paths[s : s + size]))
            for k, s in enumerate(range(0, len(paths), size))]
