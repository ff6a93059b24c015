"""MLflow: one run per configuration holding only what its stages computed in it."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from zsbir import tracking
from zsbir.experiments.collect import runs_frame, skipped
from zsbir.experiments.grid import Grid
from zsbir.io import repo_root

REPO = Path(__file__).resolve().parents[1]
PARAMS = {"seed": 0, "loss": {"semantic_weight": 1.0}, "model": {"name": "cvaegan"}}


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite store with its schema (creating one takes seconds): copied per test."""
    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    mlflow.tracking.MlflowClient(f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_store: Path) -> Path:
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.delenv(tracking.STRICT_ENV, raising=False)
    (tmp_path / "metrics").mkdir()
    return tmp_path


def _runs() -> list:
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    return mlflow.search_runs(experiment_names=[tracking.EXPERIMENT], output_format="list")


def _write(path: Path, obj: dict) -> Path:
    path.write_text(json.dumps(obj))
    return path


def test_stages_share_one_run_and_log_only_what_they_wrote(store: Path) -> None:
    stale = _write(store / "metrics" / "eval.json", {"map_all": 0.431})  # committed, not ours
    time.sleep(1.1)  # older than the stages below by more than the mtime slack
    download = store / "metrics" / "download.json"
    with tracking.stage_run("download", PARAMS, summary=download) as run:
        _write(download, {"n_items": 10, "note": "x"})
        run.log_metric("download.seconds", 1.0)
    (logged,) = _runs()
    assert logged.data.metrics == {"download.n_items": 10.0, "download.seconds": 1.0}
    assert logged.data.tags["stage.download"] == "done" and logged.info.status == "FINISHED"
    assert not tracking.is_finished(logged)
    assert logged.data.params["loss.semantic_weight"] == "1.0"
    assert logged.data.tags[tracking.COMMIT_TAG] and "git_commit" not in logged.data.tags

    with tracking.stage_run("evaluate", PARAMS, summary=stale) as run:
        _write(stale, {"map_all": 0.5})
    (logged,) = _runs()
    assert logged.data.metrics["eval.map_all"] == 0.5 and "map_all" not in logged.data.metrics
    assert tracking.is_finished(logged)
    # A stage that did not (re)write its summary logs nothing from it.
    with tracking.stage_run("split", PARAMS, summary=store / "metrics" / "split.json"):
        pass
    (logged,) = _runs()
    assert "split.n_classes" not in str(logged.data.metrics)
    assert not tracking.is_finished(logged)  # a later stage re-ran: evaluate must run again

    with tracking.stage_run("evaluate", {**PARAMS, "seed": 1}):
        pass
    assert len(_runs()) == 2


def test_a_raising_stage_fails_the_run_and_leaves_no_eval_metric(store: Path) -> None:
    monkey = store / "metrics" / "train.json"
    with pytest.raises(RuntimeError, match="boom"):
        with tracking.stage_run("train", PARAMS, summary=monkey):
            _write(monkey, {"best_val_map": 0.3})
            raise RuntimeError("boom")
    (run,) = _runs()
    assert run.info.status == "FAILED" and run.data.tags["stage.train"] == "running"
    assert not any(k.startswith("eval.") for k in run.data.metrics)
    assert "train.best_val_map" not in run.data.metrics  # written, but the stage failed


def test_dvc_exp_name_names_the_run(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVC_EXP_NAME", "abl-nosem")
    with tracking.stage_run("train", {"seed": 1, "ablation": "no-semantic"}):
        pass
    (run,) = _runs()
    assert run.info.run_name == "abl-nosem" and run.data.tags["dvc_exp_name"] == "abl-nosem"
    assert run.data.tags["ablation"] == "no-semantic"


def _experiment(exp: str, row: str, fail_train: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVC_EXP_NAME", exp)
    params = {**PARAMS, "ablation": row, "attempt": time.time_ns()}  # a new commit/fix: new key
    for stage in ("split", "train", "evaluate"):
        with tracking.stage_run(stage, params) as run:
            if stage == "train" and fail_train:
                raise RuntimeError("train failed")
            if stage == "evaluate":
                run.log_metrics({f"eval.{m}": 0.5 for m in ("map_all", "p_100", "map_200",
                                                             "p_200")})
                run.set_tags({"ablation": row})


def test_failed_experiment_is_absent_from_tables_until_rerun(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid = Grid("g", (0,), {}, {"ok": {}, "broken": {}, "fixed": {}},
                {"t": ("ok", "broken", "fixed")})
    _experiment("g-ok-s0", "ok", False, monkeypatch)
    for exp, row in (("g-broken-s0", "broken"), ("g-fixed-s0", "fixed")):
        with pytest.raises(RuntimeError):
            _experiment(exp, row, True, monkeypatch)
    runs = _runs()
    assert list(runs_frame(runs, grid)["row"]) == ["ok"]
    reasons = skipped(runs, grid)
    assert reasons["g-broken-s0"].endswith("FAILED in stage train")
    _experiment("g-fixed-s0", "fixed", False, monkeypatch)  # re-run after the fix
    runs = _runs()
    assert list(runs_frame(runs, grid)["row"]) == ["ok", "fixed"]
    assert set(skipped(runs, grid)) == {"g-broken-s0"}
    # the grid changed (ok now sets a param its run was not made with): ok no longer counts
    changed = Grid("g", (0,), {}, {"ok": {"train.epochs": 1}, "fixed": {}}, {"t": ("ok", "fixed")})
    assert list(runs_frame(runs, changed)["row"]) == ["fixed"]
    assert "was made with other params (train.epochs: " in skipped(runs, changed)["g-ok-s0"]
    logged = runs[0].data.params  # a grid value equal to the logged one in another spelling
    key = next(k for k, v in logged.items() if k.startswith("loss.") and "." in v)
    same = Grid("g", (0,), {}, {"fixed": {key: int(float(logged[key]))}}, {"t": ("fixed",)})
    assert float(logged[key]).is_integer() and list(runs_frame(runs, same)["row"]) == ["fixed"]


@pytest.mark.parametrize("fault", ["random-bytes", "unwritable"])
def test_bad_store_is_named_and_the_work_is_kept(
    store: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    if fault == "random-bytes":
        db = store / "mlflow.db"
        db.write_bytes(os.urandom(4096))
    else:
        if os.geteuid() == 0:  # root ignores permissions: a path under a regular file instead
            (store / "file").write_text("")
            db = store / "file" / "mlflow.db"
        else:
            (store / "ro").mkdir(mode=0o500)
            db = store / "ro" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    out = store / "metrics" / "train.json"
    with tracking.stage_run("train", PARAMS, summary=out) as run:
        run.log_metrics({"val_map": 0.1}, step=1)
        _write(out, {"best_val_map": 0.3})  # the stage's work goes on
    assert json.loads(out.read_text()) == {"best_val_map": 0.3}
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1, errors  # one plain message, not a traceback per call
    assert f"MLflow tracking store sqlite:///{db} failed" in errors[0]
    assert "make relog" in errors[0]
    if fault == "random-bytes":
        assert f"{db} is not an SQLite database" in errors[0]
    # Strict mode (CI): the stage fails after its work is done.
    monkeypatch.setenv(tracking.STRICT_ENV, "strict")
    with pytest.raises(tracking.TrackingError, match="failed"):
        with tracking.stage_run("train", PARAMS, summary=out):
            _write(out, {"best_val_map": 0.4})
    assert json.loads(out.read_text()) == {"best_val_map": 0.4}


def test_relog_restores_the_run_from_the_summaries(store: Path) -> None:
    _write(store / "metrics" / "train.json", {"best_val_map": 0.3})
    _write(store / "metrics" / "eval.json", {"map_all": 0.5, "per_class": {"cat": 0.25}})
    tracking.relog(PARAMS, store / "metrics")
    (run,) = _runs()
    assert run.data.metrics == {"train.best_val_map": 0.3, "eval.map_all": 0.5,
                                "eval.per_class.cat": 0.25}
    assert tracking.is_finished(run) and run.data.tags["zsbir.relogged"] == "true"
    # the stages of the same params later land in the same run
    with tracking.stage_run("evaluate", PARAMS):
        pass
    assert len(_runs()) == 1


WRITER = """
import sys, time
from zsbir import tracking
params = {"seed": int(sys.argv[1])}
with tracking.stage_run("evaluate", params) as run:
    for step in range(40):
        run.log_metrics({"eval.x": float(step), "eval.y": float(step)}, step=step)
    run.set_tags({"writer": sys.argv[1]})
    if run.error is not None:
        sys.exit(3)
"""


def test_two_writers_on_one_sqlite_store_are_both_recorded_whole(store: Path) -> None:
    with tracking.stage_run("split", {"seed": 99}):  # create the schema first
        pass
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(seed)], cwd=store, env=env,
                              stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    client = mlflow.tracking.MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    runs = {r.data.tags.get("writer"): r for r in _runs()}
    for seed in ("1", "2"):
        run = runs[seed]
        assert tracking.is_finished(run)
        history = client.get_metric_history(run.info.run_id, "eval.x")
        assert sorted(m.step for m in history) == list(range(40))


def test_repo_root_escapes_dvc_temp_workspace(tmp_path: Path) -> None:
    inner = tmp_path / "proj" / ".dvc" / "tmp" / "exps" / "tmpab12"
    inner.mkdir(parents=True)
    assert repo_root(inner) == (tmp_path / "proj").resolve()
    assert repo_root(tmp_path) == tmp_path.resolve()


def test_store_locked_too_long_is_named_and_the_work_is_kept(
    store: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import sqlite3

    with tracking.stage_run("split", PARAMS):  # the run exists; now another writer locks
        pass
    monkeypatch.setattr(tracking, "LOCK_WAIT_S", 1.0)
    holder = sqlite3.connect(store / "mlflow.db", timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    out = store / "metrics" / "train.json"
    try:
        with tracking.stage_run("train", PARAMS, summary=out):
            _write(out, {"best_val_map": 0.3})
    finally:
        holder.rollback()
        holder.close()
    assert json.loads(out.read_text()) == {"best_val_map": 0.3}
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "another process held its lock" in errors[0]
    tracking.relog(PARAMS, store / "metrics")  # once the lock is gone, one command re-logs
    (run,) = _runs()
    assert run.data.metrics["train.best_val_map"] == 0.3
