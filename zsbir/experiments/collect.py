"""Read a grid's finished experiments back from MLflow: one row per (grid row, seed).

Each DVC experiment ``<grid>-<row>-s<seed>`` logs to its own MLflow run, tagged with
``dvc_exp_name``, ``ablation`` (= the row) and MLflow's ``mlflow.source.git.commit``.
Only *finished* runs count (:func:`zsbir.tracking.is_finished`: the evaluate stage
completed in the run and it did not fail); when an experiment finished more than once
(e.g. re-run after a fix), the most recent finished run counts. A run counts only if its
logged params agree with every override of its experiment, so a run of an older version
of the grid (other tuned params, another epoch budget) never fills a cell. Experiments
without a run that counts are reported with the reason (:func:`skipped`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import yaml

from zsbir.experiments.grid import Experiment, Grid
from zsbir.schema import GZS, TABLE_METRICS
from zsbir.tracking import COMMIT_TAG, EXPERIMENT, FINAL_STAGE, is_finished, param_text

log = logging.getLogger(__name__)

METRICS = tuple(TABLE_METRICS)  # the metrics of a result row (zsbir.schema)
RESULT_COLUMNS = ("row", "seed", "dvc_exp_name", "run_id", "git_commit", "start_time", *METRICS,
                  *(GZS + m for m in METRICS))
PER_CLASS_ARTIFACT = "evaluate/plots/per_class_ap.csv"  # logged by stages/evaluate.py
PER_CLASS_COLUMNS = ("row", "seed", "class", "ap", "ap_gzs")


def runs_frame(runs: list[Any], grid: Grid) -> pd.DataFrame:
    """The grid's runs among MLflow ``runs`` (``mlflow.entities.Run``) as a table."""
    wanted = {e.name: e for e in grid.experiments()}
    records = []
    for run in runs:
        tags, metrics = run.data.tags, run.data.metrics
        exp = wanted.get(tags.get("dvc_exp_name", ""))
        if exp is None or tags.get("ablation") != exp.row:
            continue
        if not is_finished(run) or _other_params(run, exp):
            continue  # failed, evaluate not completed in it, or made with other params
        records.append({
            "row": exp.row, "seed": exp.seed, "dvc_exp_name": exp.name,
            "run_id": run.info.run_id, "git_commit": tags.get(COMMIT_TAG, "unknown"),
            "start_time": run.info.start_time,
            **{m: float(metrics[f"eval.{m}"]) for m in METRICS},
            **{GZS + m: float(metrics.get(f"eval.{GZS}{m}", float("nan"))) for m in METRICS},
        })
    frame = pd.DataFrame.from_records(records, columns=list(RESULT_COLUMNS))
    frame = frame.sort_values("start_time").drop_duplicates(["row", "seed"], keep="last")
    order = {row: i for i, row in enumerate(grid.rows)}
    frame = frame.sort_values(["row", "seed"], key=lambda c: c.map(order) if c.name == "row" else c)
    return frame.reset_index(drop=True)


def _other_params(run: Any, exp: Experiment) -> list[str]:
    """The overrides of ``exp`` that ``run`` was not made with: ``key: logged != wanted``."""
    params = run.data.params
    return [f"{key}: {params.get(key)} != {param_text(value)}" for key, value in exp.overrides
            if not _same(params.get(key), value)]


def _same(logged: str | None, wanted: Any) -> bool:
    """Whether an MLflow param string holds ``wanted`` (numbers by value: 0 == 0.0)."""
    if logged is None:
        return False
    if logged == param_text(wanted):
        return True
    try:
        value = yaml.safe_load(logged)
    except yaml.YAMLError:
        return False
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (value, wanted))
    return bool(numbers and float(value) == float(wanted))


def skipped(runs: list[Any], grid: Grid) -> dict[str, str]:
    """Experiment name → why it has no finished run (for the experiments that have none)."""
    latest: dict[str, Any] = {}
    for run in sorted(runs, key=lambda r: r.info.start_time):
        latest[run.data.tags.get("dvc_exp_name", "")] = run
    reasons = {}
    for exp in grid.experiments():
        mine = [r for r in runs if r.data.tags.get("dvc_exp_name") == exp.name]
        if any(is_finished(r) and not _other_params(r, exp) for r in mine):
            continue
        run = latest.get(exp.name)
        if run is None:
            reasons[exp.name] = "no MLflow run"
        elif is_finished(run):
            reasons[exp.name] = (f"run {run.info.run_id} was made with other params ("
                                 f"{'; '.join(_other_params(run, exp)[:3])})")
        elif run.info.status == "FAILED":
            running = [k.split(".", 1)[1] for k, v in run.data.tags.items()
                       if k.startswith("stage.") and v == "running"]
            where = f" in stage {', '.join(sorted(running))}" if running else ""
            reasons[exp.name] = f"run {run.info.run_id} FAILED{where}"
        else:
            reasons[exp.name] = (f"run {run.info.run_id} is {run.info.status}: its "
                                 f"{FINAL_STAGE} stage has not completed")
    return reasons


def grid_results(grid: Grid, tracking_uri: str) -> pd.DataFrame:
    """Per-seed metrics of every finished experiment of ``grid`` (:data:`RESULT_COLUMNS`)."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    runs = mlflow.search_runs(
        experiment_names=[EXPERIMENT],
        filter_string=f"tags.dvc_exp_name LIKE '{grid.name}-%'",
        output_format="list",
    )
    frame = runs_frame(runs, grid)
    for name, reason in skipped(runs, grid).items():
        log.warning("skipping experiment %s: %s", name, reason)
    log.info("%d finished runs of grid '%s' (of %d experiments)", len(frame), grid.name,
             len(grid.experiments()))
    return frame


def per_class_frame(results: pd.DataFrame, read: Callable[[str], pd.DataFrame | None]
                    ) -> pd.DataFrame:
    """Per (row, seed, class) AP of every run of ``results`` (:data:`PER_CLASS_COLUMNS`).

    ``read(run_id)`` returns that run's ``per_class_ap.csv`` (class, ap[, ap_gzs]) or None;
    runs without it are left out (their rows get no p-value).
    """
    parts = []
    for rec in results.itertuples():
        table = read(str(rec.run_id))
        if table is None:
            log.warning("run %s (%s) has no per-class AP", rec.run_id, rec.dvc_exp_name)
            continue
        part = pd.DataFrame({"row": rec.row, "seed": rec.seed, "class": table["class"].astype(str),
                             "ap": table["ap"].astype(float)})
        part["ap_gzs"] = table["ap_gzs"].astype(float) if "ap_gzs" in table else float("nan")
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=list(PER_CLASS_COLUMNS))
    return pd.concat(parts, ignore_index=True)


def read_per_class_artifact(run_id: str) -> pd.DataFrame | None:
    """The ``per_class_ap.csv`` the evaluate stage logged to MLflow run ``run_id``."""
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=PER_CLASS_ARTIFACT, dst_path=tmp
            )
        except Exception:  # noqa: BLE001 - MLflow raises several types for "absent"
            return None
        return pd.read_csv(local)


def download_figures(run_id: str, names: tuple[str, ...], dest: Path, prefix: str) -> list[Path]:
    """Copy the evaluate figures ``names`` of MLflow run ``run_id`` to ``dest/<prefix>-<name>``."""
    import shutil
    import tempfile

    import mlflow

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            try:
                local = mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=f"evaluate/reports/figures/{name}", dst_path=tmp
                )
            except Exception as err:  # noqa: BLE001 - MLflow raises several types for "absent"
                log.warning("run %s has no figure %s (%s)", run_id, name, err)
                continue
            target = dest / f"{prefix}-{name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local, target)
            out.append(target)
    return out
