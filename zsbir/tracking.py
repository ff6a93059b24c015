"""MLflow tracking: one pipeline run = one MLflow run, shared by all stages.

DVC runs each stage in its own process, so stages find their common MLflow run by a
*run key*: a hash of the full params, the git commit and the DVC experiment name. The
first stage that runs creates the run; later stages (and re-runs of the same
configuration) re-open it and add their params, metrics and artifacts. Every stage also
logs all stage summaries present under ``metrics/``, so a run that re-executed only the
last stages (``dvc exp run -S loss.x=...``) still shows the data and feature summaries.

Tracking URI: ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<repo>/mlflow.db``, where
``<repo>`` is the user's checkout even when DVC runs the experiment in a temporary copy
under ``.dvc/tmp/exps``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import subprocess
from pathlib import Path
from typing import Any, Iterator, Mapping

from zsbir.config import flatten

log = logging.getLogger(__name__)

EXPERIMENT = "zsbir"
RUN_KEY_TAG = "zsbir.run_key"


def repo_root(cwd: Path | None = None) -> Path:
    """The user's checkout: ``cwd``, or the folder above ``.dvc/tmp/exps/<tmp>``."""
    here = (cwd or Path.cwd()).resolve()
    parts = here.parts
    for i in range(len(parts) - 3):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return here


def tracking_uri(cwd: Path | None = None) -> str:
    """``MLFLOW_TRACKING_URI`` or the SQLite store at the repository root."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    return env if env else f"sqlite:///{repo_root(cwd) / 'mlflow.db'}"


def git_commit(cwd: Path | None = None) -> str:
    """HEAD's commit hash, or ``"unknown"`` outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_key(params: Mapping[str, Any], commit: str, exp_name: str | None) -> str:
    """Stable identity of one pipeline configuration."""
    blob = json.dumps({"params": params, "commit": commit, "exp": exp_name}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@contextlib.contextmanager
def stage_run(
    stage: str,
    params: Mapping[str, Any],
    metrics_dir: str | os.PathLike[str] = "metrics",
) -> Iterator[Any]:
    """Open (or create) the pipeline's MLflow run for ``stage``; yields the ``mlflow`` module.

    ``params`` is the full plain-dict params tree; it is logged flattened
    (``loss.semantic_weight``) so the MLflow UI can compare runs by any key.
    """
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    _ensure_experiment(mlflow)
    exp_name = os.environ.get("DVC_EXP_NAME")
    commit = git_commit()
    key = run_key(params, commit, exp_name)
    run_id = _find_run(mlflow, key)
    tags = {
        RUN_KEY_TAG: key,
        "git_commit": commit,
        "dvc_exp_name": exp_name or "workspace",
        "ablation": str(params.get("ablation", "none")),
        f"stage.{stage}": "done",
    }
    name = exp_name or _default_name(params, key)
    with mlflow.start_run(run_id=run_id, run_name=None if run_id else name) as run:
        mlflow.set_tags(tags)
        if run_id is None:
            mlflow.log_params({k: _param(v) for k, v in flatten(params).items()})
        log.info("MLflow run %s (%s) for stage %s", run.info.run_id, name, stage)
        yield mlflow
        log_summaries(mlflow, metrics_dir)


def log_summaries(mlflow: Any, metrics_dir: str | os.PathLike[str]) -> None:
    """Log every numeric value of ``metrics/*.json`` as ``<file stem>.<key>``."""
    for path in sorted(Path(metrics_dir).glob("*.json")):
        values = flatten(json.loads(path.read_text()), path.stem)
        numeric = {
            k: float(v)
            for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        if numeric:
            mlflow.log_metrics(numeric)


def _ensure_experiment(mlflow: Any) -> None:
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        artifacts = (repo_root() / "mlartifacts").as_uri()
        mlflow.create_experiment(EXPERIMENT, artifact_location=artifacts)
    mlflow.set_experiment(EXPERIMENT)


def _find_run(mlflow: Any, key: str) -> str | None:
    runs = mlflow.search_runs(
        experiment_names=[EXPERIMENT],
        filter_string=f"tags.`{RUN_KEY_TAG}` = '{key}'",
        max_results=1,
        output_format="list",
    )
    return runs[0].info.run_id if runs else None


def _default_name(params: Mapping[str, Any], key: str) -> str:
    data = params.get("data", {}).get("dataset", "data")
    model = params.get("model", {}).get("name", "model")
    return f"{data}-{model}-{key[:6]}"


def _param(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)
