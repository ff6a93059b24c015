"""The split stage's library entry point: manifest in, class and item splits out."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from zsbir.config import SplitConfig
from zsbir.io import write_table, write_text, write_vectors
from zsbir.schema import CLASS_COLUMNS, validate_manifest
from zsbir.split.assign import assign_items, class_relations, random_unseen, subsample_train
from zsbir.split.published import (
    PUBLISHED_LISTS,
    PublishedSplitError,
    check_published,
    list_for,
    published_unseen,
)
from zsbir.split.relations import Taxonomy
from zsbir.split.report import split_metrics, split_report
from zsbir.split.semantics import class_vectors

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class SplitResult:
    """Everything the split stage writes."""

    classes: pd.DataFrame  # one row per class, report columns included
    vectors: np.ndarray  # (C, S) x_sem, rows in `classes` order
    items: pd.DataFrame  # id, domain, class, split
    report: str
    metrics: dict[str, Any]


def make_split(
    manifest: pd.DataFrame,
    config: SplitConfig,
    *,
    seed: int,
    dataset: str,
    taxonomy: Taxonomy | None = None,
) -> SplitResult:
    """Class split by ``config.method``, x_sem per class, items to train/val/test (and
    ``unused``: train items past ``config.train_per_class``).

    The ImageNet-1K overlap split is always computed (for the report); ``published``
    takes the unseen classes from the paper's list for ``dataset`` instead. Every draw
    uses ``config.seed``, or the run's ``seed`` when that is null.
    """
    validate_manifest(manifest)
    seed = seed if config.seed is None else config.seed
    taxonomy = taxonomy or Taxonomy()
    classes = class_relations(manifest, config, taxonomy, dataset)
    classes["published_split"] = None
    listed = list_for(dataset, config.published_list)
    if listed is not None:
        unseen = published_unseen(listed)
        check_published(listed, unseen, classes["class"])
        classes["published_split"] = np.where(classes["class"].isin(unseen), "unseen", "seen")
    elif config.method == "published":
        raise PublishedSplitError(
            f"split.method 'published': dataset '{dataset}' has no published unseen-class "
            f"list (lists: {sorted(PUBLISHED_LISTS)}); use imagenet_overlap or random"
        )
    if config.method == "random":
        unseen = random_unseen(classes["class"], config.n_unseen, seed)
        classes["split"] = np.where(classes["class"].isin(unseen), "unseen", "seen")
    else:
        source = "published_split" if config.method == "published" else "overlap_split"
        classes["split"] = classes[source]
    for side in ("seen", "unseen"):
        if not (classes["split"] == side).any():
            raise ValueError(
                f"split.method '{config.method}' leaves no {side} class among "
                f"{len(classes)} (split.overlap_relations {list(config.overlap_relations)}, "
                f"split.max_hops {config.max_hops})"
            )
    classes["semantic_source"] = config.semantic
    ancestry = None
    if config.semantic == "wordnet":
        ancestry = [{w: 0, **taxonomy.ancestors(w)} for w in classes["wnid"]]
    vectors = class_vectors(classes["class"].tolist(), config.semantic, ancestry)  # (C, S)
    unseen_classes = classes.loc[classes["split"] == "unseen", "class"]
    items = assign_items(manifest, unseen_classes, config.val_fraction, seed)
    if config.train_per_class is not None:
        items = subsample_train(items, manifest, config.train_per_class, seed)
    metrics = split_metrics(classes, items)
    report = split_report(classes, metrics, config, dataset, seed, listed)
    log.info(
        "%d classes: %d seen, %d unseen (%s)",
        metrics["n_classes"], metrics["n_seen"], metrics["n_unseen"], config.method,
    )
    return SplitResult(classes, vectors, items, report, metrics)


def write_split(
    result: SplitResult,
    *,
    classes_path: str | os.PathLike[str],
    split_path: str | os.PathLike[str],
    report_path: str | os.PathLike[str],
) -> None:
    """Write classes.parquet (with x_sem), split.parquet and the report (the stage writes
    ``result.metrics``)."""
    meta = result.classes[list(CLASS_COLUMNS)]
    columns: dict[str, Any] = {
        c: pa.array([None if pd.isna(v) else str(v) for v in meta[c]], type=pa.string())
        for c in meta
    }
    columns["imagenet_hops"] = pa.array(meta["imagenet_hops"].to_numpy(), type=pa.int64())
    write_vectors(classes_path, result.vectors, columns)
    write_table(result.items, split_path)
    write_text(result.report, report_path)
