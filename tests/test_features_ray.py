"""``features.engine: ray`` and ``zsbir index --engine ray``: the local engine's output, bit
for bit, on a local Ray with 2 CPU workers; a worker killed mid-run changes nothing."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from test_features_extract import CFG, _dataset
from zsbir import io
from zsbir.features import engine_ray
from zsbir.features import extract as E
from zsbir.features.weights import build_extractor

ray = pytest.importorskip("ray")
RAY = replace(CFG, engine="ray")


def _features(out: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    tables = {d: io.read_vectors(out / f"{d}.parquet") for d in ("photo", "sketch")}
    return {d: (list(meta["id"]), vectors) for d, (meta, vectors) in tables.items()}


def _assert_same(a: Path, b: Path) -> None:
    fa, fb = _features(a), _features(b)
    for domain in fa:
        assert fa[domain][0] == fb[domain][0]
        assert np.array_equal(fa[domain][1], fb[domain][1]), domain  # bit for bit


def test_unreachable_cluster_names_ray_address(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not ray.is_initialized()
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(engine_ray.RayEngineError, match="RAY_ADDRESS=127.0.0.1:9.*ray start"):
        with engine_ray.ray_cluster():
            pass


def test_without_ray_installed_the_message_says_how(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(engine_ray.RayEngineError, match=r"needs Ray: pip install"):
        with engine_ray.ray_cluster():
            pass


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray with 2 CPUs for the module (starting it is the slow part)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_engine_equals_local_engine(tmp_path: Path, local_ray, monkeypatch) -> None:
    monkeypatch.setenv("ZSBIR_FEATURE_CACHE", str(tmp_path / "cache"))
    manifest = _dataset(tmp_path, n_photos=30)  # 2 chunks of 8 batches of 3 per domain
    local = E.run_extract(manifest, tmp_path / "raw", out_dir=tmp_path / "local", cfg=CFG)
    remote = E.run_extract(manifest, tmp_path / "raw", out_dir=tmp_path / "ray", cfg=RAY)
    _assert_same(tmp_path / "local", tmp_path / "ray")
    assert remote["engine"] == "ray" and local["engine"] == "local"
    assert remote["photo"] == local["photo"] == {"count": 30, "unreadable": 0}
    assert not list((tmp_path / "cache").rglob("*.parquet"))  # chunks removed at the end


class SlowExtractor(torch.nn.Module):
    """The extractor, 0.25 s slower per batch: a run long enough to kill a worker in."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner, self.dim = inner, inner.dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(0.25)
        return self.inner(x)


def slow_extractor(cfg) -> SlowExtractor:
    return SlowExtractor(build_extractor(cfg.weights, cfg.layers, cfg.onnx_path, 0,
                                         cfg.normalize_layers))


def _workers() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "MapWorker"], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def test_worker_killed_mid_run_still_gives_complete_equal_output(tmp_path: Path, local_ray,
                                                                 monkeypatch) -> None:
    """SIGKILL one extractor actor while it works: Ray restarts it and retries its chunk."""
    monkeypatch.setenv("ZSBIR_FEATURE_CACHE", "off")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    manifest = _dataset(tmp_path, n_photos=30)
    E.run_extract(manifest, tmp_path / "raw", out_dir=tmp_path / "local", cfg=CFG)
    killed: list[int] = []

    def kill_one() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (pids := _workers()):
            time.sleep(0.2)
        time.sleep(1.5)  # inside its first chunk (8 batches x 0.25 s)
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    killer = threading.Thread(target=kill_one)
    killer.start()
    E.run_extract(manifest, tmp_path / "raw", out_dir=tmp_path / "ray", cfg=RAY,
                  make_model=functools.partial(slow_extractor, RAY))
    killer.join()
    assert killed, "no Ray worker was seen to kill"
    _assert_same(tmp_path / "local", tmp_path / "ray")


def test_zsbir_index_engine_ray_equals_local(tmp_path: Path, local_ray,
                                            search_pipeline: Path) -> None:
    from zsbir.search.gallery import index_folder

    photos = search_pipeline / "data/raw/synthetic/photo"
    bundle = search_pipeline / "models/bundle"
    index_folder(photos, bundle, tmp_path / "local")
    summary = index_folder(photos, bundle, tmp_path / "ray", engine="ray")
    (meta_l, vec_l), (meta_r, vec_r) = (io.read_vectors(tmp_path / d / "photos.parquet")
                                        for d in ("local", "ray"))
    assert summary["embedded"] == len(meta_l) > 0
    assert list(meta_l["path"]) == list(meta_r["path"])
    assert np.array_equal(vec_l, vec_r)
    assert (tmp_path / "local/faiss.index").read_bytes() == (tmp_path / "ray/faiss.index").read_bytes()
