"""Faults between stages: a corrupted or truncated Parquet artifact, a full disk.

Each fault is injected into the real artifact the next stage reads (or the real file
system it writes to: a 1 MiB tmpfs when the tests run as root) and must give an error
naming the file and the fix, leaving nothing half-written.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from zsbir import io
from zsbir.config import PCAConfig
from zsbir.evaluate.inputs import load_retrieval_set
from zsbir.features.pca import pca_stage
from zsbir.train.data import load_training_data
from toy import make_toy_dataset

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder: data/{split,manifest,classes}.parquet, data/pca/, data/features/."""
    root = tmp_path_factory.mktemp("toy")
    make_toy_dataset(n_seen=4, n_unseen=2, photos_per_class=4, dim=12, sem_dim=6).write(root)
    shutil.copytree(root / "data" / "pca", root / "data" / "features")
    for domain in ("sketch", "photo"):  # embeddings: the evaluate stage's input
        meta, x = io.read_vectors(root / "data" / "pca" / f"{domain}.parquet")
        n = len(meta)
        io.write_vectors(root / "data" / "embeddings" / f"{domain}.parquet", x,
                         {"id": meta["id"], "class": ["c"] * n, "seen": [False] * n})
    return root


@pytest.fixture()
def project(toy: Path, tmp_path: Path) -> Path:
    shutil.copytree(toy, tmp_path, dirs_exist_ok=True)
    return tmp_path


def truncate(path: Path) -> None:
    """Keep the first half of the file (a copy cut short)."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def scramble(path: Path) -> None:
    """Overwrite the middle of the file (bit rot; size and magic bytes intact)."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid - 64 : mid + 64] = bytes(range(128))
    data[-8:-4] = b"\xff\xff\xff\x7f"  # footer length points outside the file
    path.write_bytes(bytes(data))


READERS: dict[str, tuple[str, Callable[[Path], object]]] = {
    # artifact -> (file, the library entry point of the stage that reads it)
    "features->pca": (
        "data/features/photo.parquet",
        lambda r: pca_stage(r / "data/features", split_path=r / "data/split.parquet", out_dir=r / "data/pca2",
                            cfg=PCAConfig(dim=4)),
    ),
    "pca->train": (
        "data/pca/sketch.parquet",
        lambda r: load_training_data(r / "data/pca", split_path=r / "data/split.parquet",
                                     classes_path=r / "data/classes.parquet", manifest_path=r / "data/manifest.parquet"),
    ),
    "embeddings->evaluate": (
        "data/embeddings/photo.parquet",
        lambda r: load_retrieval_set(r / "data/embeddings/sketch.parquet",
                                     r / "data/embeddings/photo.parquet", False),
    ),
    "split->train": (
        "data/split.parquet",
        lambda r: load_training_data(r / "data/pca", split_path=r / "data/split.parquet",
                                     classes_path=r / "data/classes.parquet", manifest_path=r / "data/manifest.parquet"),
    ),
}


@pytest.mark.parametrize("damage", [truncate, scramble], ids=["truncated", "corrupted"])
@pytest.mark.parametrize("reader", sorted(READERS))
def test_damaged_parquet_is_named_with_the_fix(project: Path, reader: str, damage) -> None:
    rel, read = READERS[reader]
    damage(project / rel)
    with pytest.raises(io.ArtifactError) as info:
        read(project)
    message = str(info.value)
    assert str(project / rel) in message
    assert "corrupted or truncated" in message and f"dvc checkout {project / rel}" in message
    assert not (project / "data" / "pca2").exists()  # the pca stage wrote nothing


def test_pca_stage_script_reports_damaged_features_and_writes_nothing(project: Path) -> None:
    truncate(project / "data/features/sketch.parquet")
    shutil.rmtree(project / "data" / "pca")
    (project / "params.yaml").write_text("pca:\n  dim: 4\n")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
           "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, str(REPO / "stages" / "pca.py")], cwd=project, env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode != 0
    assert "ArtifactError: data/features/sketch.parquet: not a readable Parquet file" in proc.stderr
    assert "dvc checkout data/features/sketch.parquet" in proc.stderr
    assert not (project / "data" / "pca").exists() and not (project / "metrics").exists()


# ----------------------------------------------------------------------- full disk
@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (needs root and mount rights; skipped otherwise)."""
    where = tmp_path / "disk"
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def _big_vectors(path: Path) -> None:
    rng = np.random.default_rng(0)
    io.write_vectors(path, rng.standard_normal((1024, 512)), {"id": np.arange(1024)})  # 2 MiB


def _big_table(path: Path) -> None:
    io.write_table(pd.DataFrame({"x": np.random.default_rng(0).standard_normal(300_000)}), path)


def _big_checkpoint(path: Path) -> None:
    import torch

    io.save_checkpoint(path, {"w": torch.randn(600, 600)}, {"hidden": 600})  # 1.4 MiB


def _big_json(path: Path) -> None:
    io.write_json({"x": list(range(300_000))}, path)


@pytest.mark.parametrize("write", [_big_vectors, _big_table, _big_checkpoint, _big_json],
                         ids=["vectors", "table", "checkpoint", "json"])
def test_full_disk_names_the_file_and_leaves_nothing(small_disk: Path, write) -> None:
    (small_disk / "keep.json").write_text("{}")  # an older artifact survives untouched
    target = small_disk / "data" / "pca" / "photo.parquet"
    with pytest.raises(io.DiskFullError, match=r"disk full while writing .*photo\.parquet") as e:
        write(target)
    assert "Free space" in str(e.value)
    assert [p.name for p in (small_disk / "data" / "pca").iterdir()] == []
    assert (small_disk / "keep.json").read_text() == "{}"
    assert shutil.disk_usage(small_disk).free > 900_000  # the temporary file is gone


def test_enospc_from_the_writer_is_reported_without_a_real_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(table, where, **kwargs) -> None:
        Path(where).write_bytes(b"PAR1 half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", no_space)
    with pytest.raises(io.DiskFullError, match=r"disk full while writing .*manifest\.parquet"):
        io.write_table(pd.DataFrame({"a": [1]}), tmp_path / "data" / "manifest.parquet")
    assert list((tmp_path / "data").iterdir()) == []


def test_other_write_errors_are_not_called_a_full_disk(tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError):
        with io.atomic_path(tmp_path / "x.json") as tmp:
            tmp.write_text("half")
            1 / 0
    assert list(tmp_path.iterdir()) == []


def test_temporary_file_of_a_killed_writer_is_removed_by_the_next_write(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f".model.pt.{dead}.k3j2.tmp"
    stale.write_bytes(b"half a checkpoint")
    mine = tmp_path / f".model.pt.{os.getpid()}.other.tmp"  # a live writer's: kept
    mine.write_bytes(b"in progress")
    io.write_json({"a": 1}, tmp_path / "model.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model.pt", mine.name])
