"""The package stage's MLflow model: logged, registered with metrics, served by `mlflow models serve`."""

from __future__ import annotations

import base64
import json
import os
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
def test_registered_model_is_served_and_equals_the_api(tmp_path: Path, search_pipeline: Path) -> None:
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
    files = [a.path for a in client.list_artifacts(run_id, "model/artifacts/bundle")]
    assert {Path(f).name for f in files} == {"bundle.json", "model.pt", "pca.npz"}
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
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
    r = Retriever.load(bundle)
    expected = np.concatenate([r.embed_sketches([sketch]), r.embed_photos([photo]),
                               r.embed_sketches([base64.b64decode(frame["data"][2][0])])])
    np.testing.assert_allclose(predictions, expected, rtol=0, atol=1e-6)
    assert mlflow.get_tracking_uri() != uri  # the process-global URI was restored
