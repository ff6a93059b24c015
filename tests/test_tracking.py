"""MLflow: all stages of one configuration land in one run; another config, another run."""

import json
from pathlib import Path

import mlflow
import pytest

from zsbir import tracking


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    return tmp_path


def _runs() -> list:
    return mlflow.search_runs(experiment_names=[tracking.EXPERIMENT], output_format="list")


def test_stages_share_one_run_and_summaries_are_logged(store: Path) -> None:
    params = {"seed": 0, "loss": {"semantic_weight": 1.0}, "model": {"name": "cvaegan"}}
    (store / "metrics").mkdir()
    (store / "metrics" / "download.json").write_text(json.dumps({"n_items": 10, "note": "x"}))
    with tracking.stage_run("download", params) as ml:
        ml.log_metric("a", 1.0)
    with tracking.stage_run("evaluate", params) as ml:
        ml.log_metric("map_all", 0.5)
    (run,) = _runs()
    assert run.data.metrics["a"] == 1.0 and run.data.metrics["map_all"] == 0.5
    assert run.data.metrics["download.n_items"] == 10.0
    assert run.data.params["loss.semantic_weight"] == "1.0"
    assert run.data.tags["stage.download"] == "done" and run.data.tags["stage.evaluate"] == "done"

    changed = {**params, "loss": {"semantic_weight": 0.0}}
    with tracking.stage_run("evaluate", changed):
        pass
    assert len(_runs()) == 2


def test_dvc_exp_name_names_the_run(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVC_EXP_NAME", "abl-nosem")
    with tracking.stage_run("train", {"seed": 1, "ablation": "no-semantic"}):
        pass
    (run,) = _runs()
    assert run.info.run_name == "abl-nosem" and run.data.tags["dvc_exp_name"] == "abl-nosem"
    assert run.data.tags["ablation"] == "no-semantic" and run.data.tags["git_commit"]


def test_repo_root_escapes_dvc_temp_workspace(tmp_path: Path) -> None:
    inner = tmp_path / "proj" / ".dvc" / "tmp" / "exps" / "tmpab12"
    inner.mkdir(parents=True)
    assert tracking.repo_root(inner) == (tmp_path / "proj").resolve()
    assert tracking.repo_root(tmp_path) == tmp_path.resolve()
