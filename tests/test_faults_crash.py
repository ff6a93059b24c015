"""SIGKILL during the real `extract` and `train` stages, then the stage runs again.

The crash is injected by tests/kill_stage.py at a reproducible write. What DVC does
before re-running a stage is done by hand: it deletes the stage's outputs except those
marked ``persist`` (``data/features``; ``models/checkpoints`` is kept). The rerun must
redo only what was lost and give byte-identical outputs to an uninterrupted run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from zsbir import io
from zsbir.config import DataConfig, SyntheticConfig
from zsbir.data import build_dataset
from toy import make_toy_dataset

REPO = Path(__file__).resolve().parents[1]
KILL = REPO / "tests" / "kill_stage.py"


def run_stage(cwd: Path, stage: str, *args: str, kill: tuple[str, int, bool] | None = None,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python stages/<stage>.py args`` in ``cwd``; ``kill=(match, n, mid_write)`` crashes it."""
    cmd = [sys.executable, str(REPO / "stages" / f"{stage}.py"), *args]
    if kill is not None:
        match, n, mid = kill
        cmd = [sys.executable, str(KILL), match, str(n), *(["--mid-write"] if mid else []),
               "--", *cmd[1:]]
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "0",
                "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}", **(env or {})}
    full_env.pop("DVC_EXP_NAME", None)
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)


def killed(proc: subprocess.CompletedProcess[str]) -> bool:
    return proc.returncode == -signal.SIGKILL


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones too) by relative path -> bytes."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


# --------------------------------------------------------------------------- extract
FEATURES = {"weights": "random", "layers": ["gap2", "gap1"], "image_size": 32, "batch_size": 2,
            "num_workers": 0, "precision": "fp32", "device": "cpu"}


@pytest.fixture(scope="module")
def raw_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/raw/synthetic + data/manifest.parquet: 24 photos, 24 sketches; params.yaml."""
    root = tmp_path_factory.mktemp("extract")
    data = DataConfig(synthetic=SyntheticConfig(n_classes=6, photos_per_class=4, image_size=32))
    built = build_dataset(data, seed=0, out_dir=root / "data" / "raw" / "synthetic", repo_root=root)
    io.write_table(built.manifest, root / "data" / "manifest.parquet")
    (root / "params.yaml").write_text(yaml.safe_dump({"features": FEATURES}))
    return root


def test_extract_killed_then_rerun_redoes_only_missing_chunks(raw_project: Path,
                                                              tmp_path: Path) -> None:
    # Chunks of 8 batches of 2 = 16 images: photo 16 + 8, sketch 16 + 8 -> 4 chunk files.
    reference, work = tmp_path / "reference", tmp_path / "work"
    for where in (reference, work):
        shutil.copytree(raw_project, where)
    proc = run_stage(reference, "extract", env={"ZSBIR_FEATURE_CACHE": "off"})
    assert proc.returncode == 0, proc.stderr[-3000:]

    # SIGKILL while the 3rd chunk (sketch's first) is being written: complete in its
    # temporary file, not yet renamed into the cache.
    cache = tmp_path / "cache"
    env = {"ZSBIR_FEATURE_CACHE": str(cache)}
    proc = run_stage(work, "extract", kill=(str(cache), 3, True), env=env)
    assert killed(proc), proc.stderr[-3000:]
    names = sorted(p.name for p in cache.rglob("*") if p.is_file())
    assert [n.split("-")[0] for n in names] == [".sketch", "photo", "photo"], names
    assert names[0].endswith(".tmp")
    assert not (work / "data" / "features" / "photo.parquet").exists()

    shutil.rmtree(work / "data" / "features", ignore_errors=True)  # as `dvc repro` does
    proc = run_stage(work, "extract", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reused = [line for line in proc.stderr.splitlines() if "from the feature cache" in line]
    assert len(reused) == 1 and "photo: 2 of 2 chunks" in reused[0]  # no sketch chunk
    assert tree(work / "data" / "features") == tree(reference / "data" / "features")
    assert [p for p in cache.rglob("*") if p.is_file()] == []  # merged; stale .tmp gone too


# ----------------------------------------------------------------------------- train
TRAIN_PARAMS = {
    "seed": 3,
    "model": {"name": "cvaegan", "z_structure": 4, "z_appearance": 2, "hidden": 16},
    "train": {"epochs": 5, "batch_size": 8, "patience": 50, "device": "cpu"},
    "eval": {"n_samples": 2},
}


@pytest.fixture(scope="module")
def train_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train")
    make_toy_dataset(n_seen=4, n_unseen=2, photos_per_class=6, dim=12, sem_dim=6).write(root)
    (root / "params.yaml").write_text(yaml.safe_dump(TRAIN_PARAMS))
    return root


def _history(path: Path) -> pd.DataFrame:
    return pd.read_csv(path).drop(columns=["seconds"])  # wall time: the only difference


def test_train_killed_mid_checkpoint_then_rerun_resumes_to_identical_model(
    train_project: Path, tmp_path: Path
) -> None:
    reference, work = tmp_path / "reference", tmp_path / "work"
    for where in (reference, work):
        shutil.copytree(train_project, where)
    proc = run_stage(reference, "train")
    assert proc.returncode == 0, proc.stderr[-3000:]
    # SIGKILL while epoch 3's checkpoint is written (complete in its temporary file, not
    # yet renamed): last.pt still holds epoch 2, a stale temporary file lies beside it.
    proc = run_stage(work, "train", kill=("checkpoints", 3, True))
    assert killed(proc), proc.stderr[-3000:]
    assert not (work / "models" / "model.pt").exists()
    assert len(list((work / "models" / "checkpoints").glob(".last.pt.*.tmp"))) == 1
    # DVC keeps the persist output models/checkpoints and deletes models/model.pt.
    proc = run_stage(work, "train")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = io.read_json(work / "metrics/train.json")
    expected = io.read_json(reference / "metrics/train.json")
    assert summary["resumed_from"] == 2 and expected["resumed_from"] == 0
    for key in ("resumed_from", "seconds_per_epoch"):
        del summary[key], expected[key]
    assert summary == expected
    assert (work / "models/model.pt").read_bytes() == (reference / "models/model.pt").read_bytes()
    pd.testing.assert_frame_equal(_history(work / "plots/train_history.csv"),
                                  _history(reference / "plots/train_history.csv"), check_exact=True)
    assert [p.name for p in (work / "models" / "checkpoints").iterdir()] == ["last.pt"]
