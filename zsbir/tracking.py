"""MLflow tracking: one pipeline run = one MLflow run, shared by all stages.

DVC runs each stage in its own process, so stages find their common MLflow run by a
*run key*: a hash of the full params, the git commit and the DVC experiment name. The
first stage that runs creates the run; later stages (and re-runs of the same
configuration) re-open it and add their params, metrics and artifacts.

What a run holds is what its stages computed in it, nothing else:

- a stage logs only its own summary file (``metrics/<stage>.json``, as
  ``<file stem>.<key>``, e.g. ``eval.map_all``) and only if this execution wrote it, plus
  what it logs explicitly (per-epoch training curves, artifacts);
- ``stage.<name>`` is ``running`` while a stage runs and ``done`` once it finished; a
  stage that raises ends the run as ``FAILED``. A run is *finished* (:func:`is_finished`)
  when its ``evaluate`` stage completed in it and its status is ``FINISHED``; any other
  stage starting in the run withdraws ``stage.evaluate`` until evaluate runs again.
- the commit is MLflow's own ``mlflow.source.git.commit`` tag (set here where MLflow
  did not set it).

Tracking never costs a computation: if the store cannot be opened or written (an
unwritable folder, a file that is not an SQLite database, a lock held too long), the
stage logs one plain error naming the store and the fix, finishes its work and writes its
outputs. With ``ZSBIR_TRACKING=strict`` (set in CI) the stage then exits non-zero.
``python scripts/relog.py`` (``make relog``) logs the run again from ``metrics/*.json``
once the store works.

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
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from zsbir.config import flatten
from zsbir.io import repo_root

log = logging.getLogger(__name__)

EXPERIMENT = "zsbir"
RUN_KEY_TAG = "zsbir.run_key"
COMMIT_TAG = "mlflow.source.git.commit"
FINAL_STAGE = "evaluate"
# Stages after evaluate (they read its outputs): running them keeps the run finished.
POST_STAGES: tuple[str, ...] = ("package",)
STRICT_ENV = "ZSBIR_TRACKING"  # "strict": a tracking failure fails the stage (after its work)
LOCK_WAIT_S = 120.0  # how long a write waits for another process's SQLite lock
T = TypeVar("T")

__all__ = ["repo_root", "stage_run", "StageTracker", "TrackingError", "is_finished", "relog"]


class TrackingError(RuntimeError):
    """The MLflow store failed; the message names the store and how to fix it."""


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


def is_finished(run: Any) -> bool:
    """A run (``mlflow.entities.Run``) whose evaluate stage completed and that did not fail."""
    return run.info.status == "FINISHED" and run.data.tags.get(f"stage.{FINAL_STAGE}") == "done"


# ----------------------------------------------------------------------- the tracker
class StageTracker:
    """One stage execution's handle on the pipeline run.

    Its logging methods never raise: a store failure (after waiting out SQLite locks) is
    recorded in :attr:`error`, logged once, and later calls do nothing.
    """

    def __init__(self, stage: str, uri: str) -> None:
        self.stage = stage
        self.uri = uri
        self.run_id: str | None = None
        self.error: TrackingError | None = None
        self._mlflow_client: Any = None

    # -- opening / closing
    def open(self, params: Mapping[str, Any]) -> None:
        """Find or create the run of ``params`` and mark this stage running."""
        self._call(self._open, params)

    def close(self, status: str) -> None:
        """End the run with ``status``; on success mark this stage done."""
        if status == "FINISHED":
            self.set_tags({f"stage.{self.stage}": "done"})
        self._call(self._store, "set_terminated", self.run_id, status)

    # -- logging
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
        self._call(self._store, "log_batch", self.run_id, metrics=batch)

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self.log_metrics({key: value}, step)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        batch = [RunTag(k, str(v)) for k, v in tags.items()]
        self._call(self._store, "log_batch", self.run_id, tags=batch)

    def log_artifact(self, path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        self._call(self._store, "log_artifact", self.run_id, str(path), artifact_path)

    def log_summary(self, path: str | os.PathLike[str]) -> None:
        """Log the numbers of a summary JSON as ``<file stem>.<key>``."""
        self.log_metrics(summary_metrics(path))

    def guard(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """Call ``fn`` (more store writes, e.g. logging a model) with this tracker's handling:
        a failure is recorded in :attr:`error` and logged, never raised here."""
        return self._call(fn, *args, **kwargs)

    # -- internals
    def _client(self) -> Any:
        if self._mlflow_client is None:
            from mlflow.tracking import MlflowClient

            self._mlflow_client = MlflowClient(tracking_uri=self.uri)
        return self._mlflow_client

    def _store(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``MlflowClient.<method>`` (inside :meth:`_call`'s error handling)."""
        return getattr(self._client(), method)(*args, **kwargs)

    def _experiment_id(self) -> str:
        client = self._client()
        experiment = client.get_experiment_by_name(EXPERIMENT)
        if experiment is not None:
            return str(experiment.experiment_id)
        try:
            artifacts = (repo_root() / "mlartifacts").as_uri()
            return str(client.create_experiment(EXPERIMENT, artifact_location=artifacts))
        except Exception:  # noqa: BLE001 - created meanwhile by a concurrent stage
            experiment = client.get_experiment_by_name(EXPERIMENT)
            if experiment is None:
                raise
            return str(experiment.experiment_id)

    def _open(self, params: Mapping[str, Any]) -> None:
        client = self._client()
        exp_id = self._experiment_id()
        exp_name = os.environ.get("DVC_EXP_NAME")
        commit = git_commit()
        key = run_key(params, commit, exp_name)
        found = client.search_runs(
            [exp_id], filter_string=f"tags.`{RUN_KEY_TAG}` = '{key}'", max_results=1
        )
        if found:
            self.run_id = found[0].info.run_id
            client.update_run(self.run_id, status="RUNNING")
        else:
            name = exp_name or _default_name(params, key)
            tags = {
                RUN_KEY_TAG: key,
                COMMIT_TAG: commit,
                "dvc_exp_name": exp_name or "workspace",
                "ablation": str(params.get("ablation", "none")),
            }
            self.run_id = client.create_run(exp_id, run_name=name, tags=tags).info.run_id
            self.log_params(params)
        marks = {f"stage.{self.stage}": "running"}
        self.set_tags(marks)
        if self.stage not in (FINAL_STAGE, *POST_STAGES):  # incomplete until evaluate re-runs
            with contextlib.suppress(Exception):
                client.delete_tag(self.run_id, f"stage.{FINAL_STAGE}")
        log.info("MLflow run %s for stage %s (%s)", self.run_id, self.stage, self.uri)

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        flat = [Param(k, param_text(v)) for k, v in flatten(params).items()]
        for i in range(0, len(flat), 100):  # MLflow's batch limit
            self._call(self._store, "log_batch", self.run_id, params=flat[i : i + 100])

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        if self.error is not None or (self.run_id is None and fn != self._open):
            return None
        try:
            with _quiet_store_logs():
                return _wait_for_lock(fn, *args, **kwargs)
        except Exception as err:  # noqa: BLE001 - any store failure: report once, go on
            self.error = store_error(self.uri, err)
            log.error("%s", self.error)
            return None


@contextlib.contextmanager
def _quiet_store_logs() -> Iterator[None]:
    """Mute MLflow's own traceback-per-attempt logging; :func:`store_error` says it once."""
    logger = logging.getLogger("mlflow.store.db.utils")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _wait_for_lock(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn``; retry while another process holds the SQLite write lock."""
    deadline = time.monotonic() + LOCK_WAIT_S
    delay = 0.05
    while True:
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - SQLAlchemy wraps sqlite3's error
            if "database is locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def store_error(uri: str, err: BaseException) -> TrackingError:
    """A one-paragraph :class:`TrackingError` naming the store, the cause and the fix."""
    first = next((ln for ln in str(err).splitlines() if ln.strip()), type(err).__name__)
    cause = f"{type(err).__name__}: {first[:300]}"
    path = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
    if "database is locked" in str(err):
        fix = (f"another process held its lock for over {LOCK_WAIT_S:.0f} s; "
               "wait for it to finish (or stop it)")
    elif path is not None and path.exists() and not _is_sqlite(path):
        fix = f"{path} is not an SQLite database: move it aside (mv {path} {path}.bad)"
    elif path is not None and not os.access(path.parent if not path.exists() else path, os.W_OK):
        fix = f"{path} (or its folder) is not writable: fix its permissions"
    else:
        fix = "check the store, or point MLFLOW_TRACKING_URI at a working one"
    return TrackingError(
        f"MLflow tracking store {uri} failed ({cause}). Fix: {fix}. This stage's outputs are "
        "still written; once the store works, `make relog` logs this run from metrics/*.json."
    )


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(16)
    return head == b"SQLite format 3\x00" or head == b""


# ------------------------------------------------------------------ the stage context
@contextlib.contextmanager
def stage_run(
    stage: str,
    params: Mapping[str, Any],
    summary: str | os.PathLike[str] | None = None,
) -> Iterator[StageTracker]:
    """Open the pipeline's MLflow run for ``stage``; yields a :class:`StageTracker`.

    ``params`` is the full plain-dict params tree; it is logged flattened
    (``loss.semantic_weight``) when the run is created. ``summary`` is the stage's
    ``metrics/<stage>.json``: logged at the end if this execution wrote it. A raising
    body ends the run ``FAILED``; a store failure never interrupts the body.
    """
    tracker = StageTracker(stage, tracking_uri())
    tracker.open(params)
    started_ns = time.time_ns()
    try:
        yield tracker
    except BaseException:
        tracker.close("FAILED")
        raise
    if summary is not None and _written_since(Path(summary), started_ns):
        tracker.log_summary(summary)
    tracker.close("FINISHED")
    if tracker.error is not None and os.environ.get(STRICT_ENV) == "strict":
        raise tracker.error


def _written_since(path: Path, started_ns: int) -> bool:
    return path.exists() and path.stat().st_mtime_ns >= started_ns - 1_000_000_000


def summary_metrics(path: str | os.PathLike[str]) -> dict[str, float]:
    """Every number of a summary JSON, flattened as ``<file stem>.<key>``."""
    values = flatten(json.loads(Path(path).read_text()), Path(path).stem)
    return {
        k: float(v)
        for k, v in values.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def relog(params: Mapping[str, Any], metrics_dir: str | os.PathLike[str]) -> StageTracker:
    """Log the run of ``params`` again from ``metrics/<stage>.json`` (after a store failure).

    Each summary present marks its stage done; the run counts as finished only if
    ``eval.json`` is there. Raises :class:`TrackingError` if the store still fails.
    """
    stems = {"eval": FINAL_STAGE}
    tracker = StageTracker("relog", tracking_uri())
    tracker.open(params)
    for path in sorted(Path(metrics_dir).glob("*.json")):
        tracker.log_summary(path)
        tracker.set_tags({f"stage.{stems.get(path.stem, path.stem)}": "done"})
    tracker.set_tags({"zsbir.relogged": "true"})
    with contextlib.suppress(Exception):
        tracker._client().delete_tag(tracker.run_id, "stage.relog")
    tracker._call(tracker._store, "set_terminated", tracker.run_id, "FINISHED")
    if tracker.error is not None:
        raise tracker.error
    return tracker


def _default_name(params: Mapping[str, Any], key: str) -> str:
    data = params.get("data", {}).get("dataset", "data")
    model = params.get("model", {}).get("name", "model")
    return f"{data}-{model}-{key[:6]}"


def param_text(value: Any) -> str:
    """A params value as MLflow stores it (lists and dicts as JSON)."""
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)
