"""The paper's tables and case-study figures from a grid's finished experiments.

Writes into ``out_dir`` (``reports/tables/<grid>/``):

- ``results.csv``: one line per finished (row, seed) run, with its MLflow run id,
  DVC experiment name and git commit;
- per table ``<table>.md``, ``<table>.tex`` (booktabs) and ``<table>.csv`` (the summary
  numbers, a DVC plot), and ``tables.md`` with every table;
- ``per_class.csv``: per (row, seed, class) AP, read from each run's MLflow artifact
  ``evaluate/plots/per_class_ap.csv`` (the input of the p-values);
- with a ``sweep:`` (:mod:`zsbir.experiments.sweeps`): ``sweep.md``, ``sweep.tex``,
  ``sweep.csv`` (every level and the pooled lines) and ``sweep.png`` (mAP@all and the
  reference's gap per level);
- ``figures/<row>-s<seed>-cases_*.png``: the case studies (best/worst classes, failure
  queries) and the retrieval grid of the reference run: the first row of the first table
  (the full model), first seed.

Every table's first row is its reference: ``Δ`` and the paired p-values compare each row
with it. Rows that took tuned hyperparameters (grid ``tuned:``) are named in the caption
with their trial count.

Everything is also logged as artifacts of one MLflow run named ``tables-<grid>``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from zsbir.experiments.collect import (
    download_figures,
    grid_results,
    per_class_frame,
    read_per_class_artifact,
)
from zsbir.experiments.grid import Grid
from zsbir.experiments.sweeps import (
    latex_sweep,
    level_classes,
    markdown_sweep,
    plot_sweep,
    sweep_summary,
)
from zsbir.experiments.tables import latex_table, markdown_table, summarise
from zsbir.io import write_text
from zsbir.tracking import EXPERIMENT

log = logging.getLogger(__name__)

CASE_FIGURES = ("cases_best_worst.png", "cases_failures.png", "retrieval.png")


@dataclass(frozen=True)
class Report:
    """What :func:`write_report` produced."""

    results: pd.DataFrame  # per (row, seed)
    per_class: pd.DataFrame  # per (row, seed, class)
    summaries: dict[str, pd.DataFrame]  # table name -> summary
    files: tuple[Path, ...]


def caption(grid: Grid, table: str) -> str:
    dataset = grid.base.get("data.dataset", "the default dataset")
    text = f"{table.capitalize()} on {dataset} (grid '{grid.name}', unseen classes)."
    tuned = [(row, grid.tuned[row]) for row in grid.tables.get(table, ()) if row in grid.tuned]
    if tuned:
        parts = ", ".join(f"{row} ({t.n_trials} trials x {t.epochs} epochs)" for row, t in tuned)
        text += (f" Tuned with Optuna TPE on seen-class val mAP only: {parts};"
                 " other rows use params.yaml.")
    return text


def write_tables(grid: Grid, results: pd.DataFrame, out_dir: Path,
                 per_class: pd.DataFrame | None = None
                 ) -> tuple[dict[str, pd.DataFrame], list[Path]]:
    """Summaries of every table of ``grid`` written as Markdown, LaTeX and CSV."""
    summaries, files, combined = {}, [], []
    for name, rows in grid.tables.items():
        summary = summarise(results, rows, per_class)
        md = markdown_table(summary, caption(grid, name))
        outputs = {
            out_dir / f"{name}.md": md,
            out_dir / f"{name}.tex": latex_table(summary, caption(grid, name), f"tab:{grid.name}-{name}"),
            out_dir / f"{name}.csv": summary.to_csv(index=False),
        }
        for path, text in outputs.items():
            write_text(text, path)
        summaries[name] = summary
        files += list(outputs)
        combined.append(f"## {name}\n\n{md}")
    write_text("\n".join(combined), out_dir / "tables.md")
    return summaries, [*files, out_dir / "tables.md"]


def write_sweep(grid: Grid, results: pd.DataFrame, per_class: pd.DataFrame, out_dir: Path
                ) -> tuple[pd.DataFrame, list[Path]]:
    """The grid's sweep pooled over its tables: Markdown, LaTeX, CSV and the figure."""
    assert grid.sweep is not None
    sweep = grid.sweep
    summary = sweep_summary(sweep, grid.tables, results, per_class)
    classes = level_classes(sweep, grid.tables, per_class)
    text = (f"{sweep.label.capitalize()} sweep on {grid.base.get('data.dataset', 'the default dataset')}"
            f" (grid '{grid.name}', unseen classes): {', '.join(sweep.models)} at each level.")
    outputs = {
        out_dir / "sweep.md": markdown_sweep(sweep, summary, text, classes),
        out_dir / "sweep.tex": latex_sweep(sweep, summary, text, f"tab:{grid.name}-sweep", classes),
        out_dir / "sweep.csv": summary.to_csv(index=False),
    }
    for path, content in outputs.items():
        write_text(content, path)
    plot_sweep(sweep, summary, out_dir / "sweep.png")
    return summary, [*outputs, out_dir / "sweep.png"]


def write_report(grid: Grid, tracking_uri: str, out_dir: Path) -> Report:
    """Collect ``grid``'s runs from MLflow, write tables and figures, log them to MLflow."""
    import mlflow

    results = grid_results(grid, tracking_uri)
    missing = [e.name for e in grid.experiments()
               if not ((results["row"] == e.row) & (results["seed"] == e.seed)).any()]
    if missing:  # grid_results logged each one with its reason
        log.warning("%d experiments have no finished run yet: %s", len(missing), ", ".join(missing))
    write_text(results.to_csv(index=False), out_dir / "results.csv")
    per_class = per_class_frame(results, read_per_class_artifact)
    write_text(per_class.to_csv(index=False), out_dir / "per_class.csv")
    summaries, files = write_tables(grid, results, out_dir, per_class)
    if grid.sweep is not None:
        summaries["sweep"], sweep_files = write_sweep(grid, results, per_class, out_dir)
        files += sweep_files
    files += [out_dir / "results.csv", out_dir / "per_class.csv"]
    reference = next(iter(grid.tables.values()))[0] if grid.tables else next(iter(grid.rows))
    ref_runs = results[results["row"] == reference]
    if len(ref_runs):
        first = ref_runs.iloc[0]
        files += download_figures(str(first["run_id"]), CASE_FIGURES, out_dir / "figures",
                                  f"{reference}-s{first['seed']}")
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run(run_name=f"tables-{grid.name}"):
        mlflow.set_tags({"zsbir.kind": "tables", "grid": grid.name})
        for path in files:
            mlflow.log_artifact(str(path), artifact_path=f"tables/{path.parent.name}")
    log.info("wrote %d files to %s", len(files), out_dir)
    return Report(results, per_class, summaries, tuple(files))
