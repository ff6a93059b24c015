"""The evaluate stage as one library call: embeddings in, metrics, tables and figures out.

Everything is computed (and every input, image files included, checked) before the first
output is written, so bad input leaves no half-written set of outputs; each file is
written atomically.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from zsbir.config import EvalConfig
from zsbir.evaluate.cases import Case, best_worst_classes, failure_cases
from zsbir.retrieval.curves import per_class_ap, pr_curve_table
from zsbir.evaluate.figures import (
    load_images,
    retrieval_figure,
    save_figure,
    select_figure_queries,
    tsne_figure,
)
from zsbir.evaluate.inputs import RetrievalSet, load_retrieval_set
from zsbir.retrieval.metrics import retrieval_metrics, top_k
from zsbir.io import read_table, write_text

log = logging.getLogger(__name__)

FIGURE_TOP = 10  # photos per query in the retrieval figure
TSNE_MAX_POINTS = 2000


@dataclass(frozen=True)
class EvalPaths:
    """Inputs and outputs of the evaluate stage."""

    sketch: Path  # data/embeddings/sketch.parquet
    photo: Path  # data/embeddings/photo.parquet
    manifest: Path  # data/manifest.parquet
    image_root: Path  # data/raw/<dataset>/, the root of the manifest's paths
    per_class: Path  # plots/per_class_ap.csv
    pr_curve: Path  # plots/pr_curve.csv
    figures: Path  # reports/figures/

    @property
    def retrieval_png(self) -> Path:
        return self.figures / "retrieval.png"

    @property
    def tsne_png(self) -> Path:
        return self.figures / "tsne.png"

    @property
    def best_worst_png(self) -> Path:
        return self.figures / "cases_best_worst.png"

    @property
    def failures_png(self) -> Path:
        return self.figures / "cases_failures.png"

    @property
    def figure_files(self) -> tuple[Path, ...]:
        return (self.retrieval_png, self.tsne_png, self.best_worst_png, self.failures_png)


@dataclass(frozen=True)
class EvalResult:
    """``metrics``: the content of ``metrics/eval.json`` (the stage writes it);
    ``artifacts``: every file written."""

    metrics: dict[str, float]
    artifacts: tuple[Path, ...]


def evaluate(paths: EvalPaths, cfg: EvalConfig, seed: int) -> EvalResult:
    """Score unseen-class sketch queries against the photo gallery; write all outputs.

    Returns the metrics (:data:`zsbir.schema.EVAL_METRICS`, ``n_queries``, ``n_gallery``,
    ``n_classes`` = query classes); writes the per-class AP and PR
    curve CSVs, ``retrieval.png`` (when ``cfg.n_figure_queries > 0``), the case studies
    ``cases_best_worst.png`` and ``cases_failures.png`` (when ``cfg.n_case_classes > 0``;
    :mod:`zsbir.evaluate.cases`) and ``tsne.png`` (when ``cfg.tsne``; seeded by ``seed``).
    With ``cfg.also_generalized`` (and ``generalized: false``) the same queries are also
    scored against the generalized gallery (+ seen-class photos): ``gzs_*`` metrics and
    an ``ap_gzs`` per-class column.
    Metric definitions: :mod:`zsbir.retrieval.metrics`.
    """
    data = load_retrieval_set(paths.sketch, paths.photo, cfg.generalized)
    q_classes = data.query_meta["class"].to_numpy()
    log.info("evaluating %d queries against %d gallery photos", len(q_classes), len(data.gallery))
    scores = retrieval_metrics(
        data.queries, q_classes, data.gallery, data.gallery_meta["class"].to_numpy(),
        chunk_size=cfg.chunk_size,
    )
    metrics: dict[str, float] = {
        **scores.summary(),
        "n_queries": len(q_classes),
        "n_gallery": len(data.gallery),
        "n_classes": int(len(np.unique(q_classes))),
    }
    per_class = per_class_ap(scores.ap, q_classes)
    if cfg.also_generalized and not cfg.generalized:
        gzs_metrics, per_class["ap_gzs"] = _generalized(paths, cfg, per_class)
        metrics.update(gzs_metrics)
    log.info("metrics: %s", metrics)
    figures: dict[Path, Figure] = {}
    if cfg.n_figure_queries > 0 or cfg.n_case_classes > 0:
        manifest = read_table(paths.manifest, columns=["id", "path"])
        grid = functools.partial(_retrieval_grid, data, manifest, paths.image_root)
        if cfg.n_figure_queries > 0:
            rows = select_figure_queries(data.query_meta, cfg.n_figure_queries)  # (n,)
            figures[paths.retrieval_png] = grid([Case(int(r), q_classes[r]) for r in rows])
        if cfg.n_case_classes > 0:
            q_ids = data.query_meta["id"].to_numpy()
            best, worst = best_worst_classes(scores.ap, q_classes, q_ids, cfg.n_case_classes)
            figures[paths.best_worst_png] = grid(best + worst)
            figures[paths.failures_png] = grid(
                failure_cases(scores.ap, q_classes, q_ids, cfg.n_case_classes)
            )
    if cfg.tsne:
        figures[paths.tsne_png] = _tsne(data, seed)

    _write_csv(per_class, paths.per_class)
    _write_csv(pr_curve_table(scores.recall_levels, scores.interpolated_precision), paths.pr_curve)
    paths.figures.mkdir(parents=True, exist_ok=True)  # a DVC output even with every figure off
    for path, fig in figures.items():
        save_figure(fig, path)
    for stale in paths.figure_files:
        if stale not in figures and stale.exists():
            stale.unlink()  # switched off by config: do not leave an old figure behind
    artifacts = (paths.per_class, paths.pr_curve, *figures)
    return EvalResult(metrics=metrics, artifacts=tuple(artifacts))


def _generalized(
    paths: EvalPaths, cfg: EvalConfig, per_class: pd.DataFrame
) -> tuple[dict[str, float], np.ndarray]:
    """``gzs_*`` metrics and per-class AP (aligned with ``per_class``) of the generalized task."""
    data = load_retrieval_set(paths.sketch, paths.photo, True)
    q_classes = data.query_meta["class"].to_numpy()
    scores = retrieval_metrics(
        data.queries, q_classes, data.gallery, data.gallery_meta["class"].to_numpy(),
        chunk_size=cfg.chunk_size,
    )
    table = per_class_ap(scores.ap, q_classes)
    if not table["class"].equals(per_class["class"]):  # pragma: no cover - same queries
        raise RuntimeError("generalized and standard query classes differ")
    metrics = {f"gzs_{k}": v for k, v in scores.summary().items()}
    metrics["gzs_n_gallery"] = len(data.gallery)
    return metrics, table["ap"].to_numpy()


def _retrieval_grid(
    data: RetrievalSet, manifest: pd.DataFrame, image_root: Path, cases: list[Case]
) -> Figure:
    """The top photos of each case's query, framed correct/wrong, captioned by the case."""
    rows = np.array([c.row for c in cases], dtype=np.int64)  # (n,)
    ranked = top_k(data.queries[rows], data.gallery, FIGURE_TOP)  # (n, top)
    q_classes = data.query_meta["class"].to_numpy()[rows]  # (n,)
    g_classes = data.gallery_meta["class"].to_numpy()
    g_ids = data.gallery_meta["id"].to_numpy()
    sketches = load_images(data.query_meta["id"].to_numpy()[rows], manifest, image_root)
    photos = [load_images(g_ids[r], manifest, image_root) for r in ranked]
    correct = g_classes[ranked] == q_classes[:, None]  # (n, top)
    return retrieval_figure(sketches, [c.label for c in cases], photos, correct)


def _tsne(data: RetrievalSet, seed: int) -> Figure:
    embeddings = np.concatenate([data.queries, data.gallery])  # (Q + N, D)
    labels = np.concatenate([data.query_meta["class"], data.gallery_meta["class"]])
    is_query = np.arange(len(embeddings)) < len(data.queries)
    return tsne_figure(embeddings, labels, is_query, seed, max_points=TSNE_MAX_POINTS)


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    write_text(table.to_csv(index=False), path)
    log.info("wrote %s", path)
