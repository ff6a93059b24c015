"""The package stage's MLflow model: logged, registered with metrics, `mlflow models serve`d."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from zsbir.search.mlflow_model import REGISTERED_NAME, example_frame, log_bundle
from zsbir.search.retriever import Retriever
from zsbir.search.web import free_port

REPO = Path(__file__).resolve().parents[1]


def _wait(url: str, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"mlflow models serve exited: {proc.stderr.read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    raise AssertionError(f"mlflow models serve did not answer {url} within {timeout_s} s")


@pytest.mark.slow
def test_registered_model_is_served_and_equals_the_api(
    tmp_path: Path, search_pipeline: Path
) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    bundle = search_pipeline / "models/bundle"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("zsbir", artifact_location=(tmp_path / "art").as_uri())
    run_id = client.create_run(exp).info.run_id
    metrics = json.loads((bundle / "bundle.json").read_text())["metrics"]
    model_uri, version = log_bundle(bundle, run_id, uri, metrics)
    tags = client.get_model_version(REGISTERED_NAME, version).tags
    assert float(tags["eval.map_all"]) == metrics["map_all"]
    # the logged model does not carry the backbone weights (rebuilt and verified at load)
    (logged,) = (tmp_path / "art").rglob("artifacts/bundle/bundle.json")
    assert {f.name for f in logged.parent.iterdir()} == {"bundle.json", "model.pt", "pca.npz"}
    sketch = sorted((search_pipeline / "data/raw/synthetic/sketch").rglob("*.png"))[0]
    photo = sorted((search_pipeline / "data/raw/synthetic/photo").rglob("*.jpg"))[0]
    frame = {"columns": ["image", "domain"],
             "data": [[base64.b64encode(sketch.read_bytes()).decode(), "sketch"],
                      [base64.b64encode(photo.read_bytes()).decode(), "photo"],
                      [example_frame()["image"][0], "sketch"]]}
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri}
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m",
           f"models:/{REGISTERED_NAME}/{version}", "--env-manager", "local",
           "-h", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        _wait(f"http://127.0.0.1:{port}/ping", proc)
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", method="POST",
            data=json.dumps({"dataframe_split": frame}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as res:
            predictions = np.array(json.loads(res.read())["predictions"], dtype=np.float32)
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited (and said why)
            os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
    r = Retriever.load(bundle)
    expected = np.concatenate([r.embed_sketches([sketch]), r.embed_photos([photo]),
                               r.embed_sketches([base64.b64decode(frame["data"][2][0])])])
    np.testing.assert_allclose(predictions, expected, rtol=0, atol=1e-6)
    assert mlflow.get_tracking_uri() != uri  # the process-global URI was restored


def _workspace(root: Path, pipe: Path) -> Path:
    """A repository-like folder holding what the package stage reads."""
    (root / "models").mkdir(parents=True)
    (root / "data/pca").mkdir(parents=True)
    (root / "metrics").mkdir()
    shutil.copyfile(pipe / "models/model.pt", root / "models/model.pt")
    shutil.copyfile(pipe / "data/pca/pca.npz", root / "data/pca/pca.npz")
    shutil.copyfile(pipe / "data/classes.parquet", root / "data/classes.parquet")
    shutil.copyfile(pipe / "metrics/eval.json", root / "metrics/eval.json")
    (root / "params.yaml").write_text(
        "seed: 0\nfeatures:\n  weights: random\n  image_size: 32\n  num_workers: 0\n"
        "  precision: fp32\n  device: cpu\npca:\n  dim: 16\n"
    )
    return root


def _stage(root: Path, uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run stages/package.py as `dvc repro` does, but in this process (saves the imports)."""
    import runpy

    monkeypatch.chdir(root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("ZSBIR_TRACKING", raising=False)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.syspath_prepend(str(REPO / "stages"))
    runpy.run_path(str(REPO / "stages/package.py"), run_name="__main__")


@pytest.mark.slow
def test_package_stage_logs_registers_and_keeps_the_run_finished(
    tmp_path: Path, search_pipeline: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from mlflow.tracking import MlflowClient

    from zsbir import tracking
    from zsbir.config import parse_params, to_dict
    from zsbir.io import read_yaml

    root = _workspace(tmp_path / "ws", search_pipeline)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    plain = to_dict(parse_params(read_yaml(root / "params.yaml")))
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        cwd = os.getcwd()
        os.chdir(root)
        with tracking.stage_run("evaluate", plain) as run:  # the pipeline's finished run
            run_id = run.run_id
    finally:
        os.chdir(cwd)
        del os.environ["MLFLOW_TRACKING_URI"]
    _stage(root, uri, monkeypatch)
    assert (root / "models/bundle/bundle.json").is_file()
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    tags = client.get_run(run_id).data.tags
    assert tags["stage.package"] == "done" and tags["stage.evaluate"] == "done"
    (version,) = client.search_model_versions(f"name='{REGISTERED_NAME}'")
    assert version.run_id == run_id and "eval.map_all" in version.tags
    # a broken store costs the MLflow model, never the bundle
    shutil.rmtree(root / "models/bundle")
    (tmp_path / "bad.db").write_bytes(os.urandom(4096))
    _stage(root, f"sqlite:///{tmp_path / 'bad.db'}", monkeypatch)
    assert (root / "models/bundle/bundle.json").is_file()
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("MLflow tracking store" in e and "failed" in e for e in errors), errors
