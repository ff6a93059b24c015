"""Sharing the pipeline's outputs through a DVC remote: the real round trip.

A copy of the project (its tracked files, committed in a fresh git repo "A") runs the
synthetic pipeline at a tiny size, pushes to a local-directory DVC remote; a fresh clone
"B" pulls and finds nothing to recompute. Then one experiment goes the same way with
`dvc exp push/pull` (a bare git repo as the git remote).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DVC = shutil.which("dvc")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(DVC is None or not (REPO / ".git").exists(), reason="needs dvc and git"),
]

SMALL = {  # the default pipeline, a few seconds per stage
    "data": {"synthetic": {"n_classes": 6, "photos_per_class": 4, "image_size": 32}},
    "split": {"semantic": "none"},
    "features": {"weights": "random", "image_size": 32, "batch_size": 8, "num_workers": 0,
                 "precision": "fp32"},
    "pca": {"dim": 8},
    "model": {"z_structure": 4, "z_appearance": 2, "hidden": 16},
    "train": {"epochs": 2, "batch_size": 8},
    "eval": {"n_samples": 2, "n_figure_queries": 2, "n_case_classes": 0, "tsne": False},
}
TIMINGS: dict[str, float] = {}


def merge(base: dict, over: dict) -> dict:
    return {k: merge(base[k], v) if isinstance(v, dict) else v for k, v in over.items()} | {
        k: v for k, v in base.items() if k not in over}


class Project:
    """A checkout where commands run with the test's environment."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, {**env, "PYTHONPATH": str(root)}  # its own zsbir

    def run(self, *cmd: str, timed: str | None = None) -> str:
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=self.root, env=self.env, capture_output=True, text=True,
                              timeout=600)
        if timed:
            TIMINGS[timed] = time.perf_counter() - start
        assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        return proc.stdout + proc.stderr

    def dvc(self, *args: str, timed: str | None = None) -> str:
        return self.run(DVC, *args, timed=timed)  # type: ignore[arg-type]

    def git(self, *args: str) -> str:
        return self.run("git", *args)

    def file(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()


def assert_nothing_to_do(project: Project) -> None:
    assert "Data and pipelines are up to date." in project.dvc("status")
    out = project.dvc("repro")
    assert "Running stage" not in out and "Stage 'train' didn't change" in out, out


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Project | Path]]:
    """Clone A (pipeline run, pushed), the bare git remote and the DVC remote."""
    tmp = tmp_path_factory.mktemp("dvc-remote")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_TERMINAL_PROMPT": "0",
           # MLflow's file store opens in a fraction of SQLite's time (migrations) per stage.
           "MLFLOW_TRACKING_URI": (tmp / "mlruns").as_uri(), "MLFLOW_ALLOW_FILE_STORE": "true",
           "ZSBIR_FEATURE_CACHE": str(tmp / "feature-cache")}
    env.pop("DVC_EXP_NAME", None)
    a = Project(tmp / "A", env)
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split("\0")
    for rel in filter(None, files):
        if (REPO / rel).is_file():
            (a.root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, a.root / rel)
    params = merge(yaml.safe_load((a.root / "params.yaml").read_text()), SMALL)
    (a.root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    a.git("init", "-q", "-b", "main")
    a.git("add", "-A")
    a.git("commit", "-qm", "project, small params")
    a.dvc("repro", timed="dvc repro (A, whole pipeline)")
    a.git("add", "-A")
    a.git("commit", "-qm", "pipeline outputs")
    store, origin = tmp / "dvc-store", tmp / "origin.git"
    # The project ships no remote: each user adds theirs to .dvc/config.local (untracked).
    a.dvc("remote", "add", "-d", "--local", "store", str(store))
    a.dvc("push", timed="dvc push (A)")
    a.git("init", "-q", "--bare", "-b", "main", str(origin))
    a.git("remote", "add", "origin", str(origin))
    a.git("push", "-q", "origin", "main")
    yield {"A": a, "store": store, "origin": origin, "tmp": tmp}
    if TIMINGS:
        rounded = {k: round(v, 2) for k, v in TIMINGS.items()}
        print("\nDVC round-trip timings: " + json.dumps(rounded))


def fresh_clone(shared: dict, name: str) -> Project:
    tmp, a = shared["tmp"], shared["A"]
    subprocess.run(["git", "clone", "-q", str(shared["origin"]), str(tmp / name)], check=True,
                   env=a.env)
    b = Project(tmp / name, a.env)
    b.dvc("remote", "add", "-d", "--local", "store", str(shared["store"]))
    return b


def test_push_then_pull_into_a_fresh_clone_recomputes_nothing(shared: dict) -> None:
    a = shared["A"]
    b = fresh_clone(shared, "B")
    assert not (b.root / "data").exists()
    b.dvc("pull", timed="dvc pull (B)")
    for rel in ("data/features/photo.parquet", "data/pca/sketch.parquet", "models/model.pt",
                "data/embeddings/photo.parquet", "metrics/eval.json"):
        assert b.file(rel) == a.file(rel), rel
    assert_nothing_to_do(b)


def test_experiment_push_and_pull(shared: dict) -> None:
    a = shared["A"]
    # Only `evaluate` depends on `ablation`: the experiment re-runs one stage.
    out = a.dvc("exp", "run", "-n", "shared-exp", "-S", "ablation=shared",
                timed="dvc exp run (A, evaluate only)")
    assert "Running stage 'evaluate'" in out and "Running stage 'train'" not in out
    a.dvc("exp", "push", "origin", "shared-exp", timed="dvc exp push (A)")
    a.dvc("exp", "apply", "shared-exp")
    c = fresh_clone(shared, "C")
    assert "shared-exp" in c.dvc("exp", "list", "origin")
    c.dvc("exp", "pull", "origin", "shared-exp", timed="dvc exp pull (C)")
    c.dvc("exp", "apply", "shared-exp")
    assert yaml.safe_load(c.file("params.yaml"))["ablation"] == "shared"
    # exp pull brought the experiment's DVC-tracked outputs too: apply checked them out.
    assert c.file("models/model.pt") == a.file("models/model.pt")
    assert c.file("metrics/eval.json") == a.file("metrics/eval.json")  # A applied it too
    assert_nothing_to_do(c)


