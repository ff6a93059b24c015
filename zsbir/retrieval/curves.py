"""Precision-recall curve and per-class AP tables of the evaluate stage.

The PR curve is the interpolated precision of each query at fixed recall levels,
``P_interp(r) = max {P_t : R_t >= r}`` over the operating points ``t`` of that query (one per
distinct score, as in scikit-learn's ``precision_recall_curve`` without its artificial
``(R=0, P=1)`` end point), averaged over queries at each level.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

RECALL_LEVELS = np.linspace(0.0, 1.0, 101)  # (L,)
_EPS = 1e-9


def interpolated_precision(
    precision: np.ndarray, hits: np.ndarray, levels: np.ndarray
) -> np.ndarray:
    """Interpolated precision of each query at each recall level.

    Only the thresholds of relevant items matter: any other operating point has the
    recall of the relevant one above it and a lower precision. Args, one row per query,
    relevant items in ascending score order: ``precision`` (B, R) precision at each item's
    threshold; ``hits`` (B, R) relevant items scoring at or above it (non-increasing);
    ``levels`` (L,) in [0, 1]. Returns (B, L) float64.
    """
    n_rel = hits.shape[1]
    best = np.maximum.accumulate(precision, axis=1)  # (B, R) max P over recall >= R_i
    need = np.ceil(levels * n_rel - _EPS).astype(np.int64)  # (L,) hits to reach each level
    # Items reaching a level form a prefix (lowest scores); count it in the ascending hits.
    ascending_hits = torch.from_numpy(hits[:, ::-1].copy())  # (B, R)
    targets = torch.from_numpy(need).expand(len(hits), -1).contiguous()  # (B, L)
    below = torch.searchsorted(ascending_hits, targets)  # (B, L) items short of the level
    prefix = n_rel - below.numpy()  # (B, L) >= 1 since need <= n_rel
    return np.take_along_axis(best, prefix - 1, axis=1)


def pr_curve_table(recall_levels: np.ndarray, interpolated: np.ndarray) -> pd.DataFrame:
    """``recall, precision``: mean interpolated precision over queries. (L,), (Q, L)."""
    return pd.DataFrame({"recall": recall_levels, "precision": interpolated.mean(axis=0)})


def per_class_ap(ap: np.ndarray, query_labels: np.ndarray) -> pd.DataFrame:
    """``class, ap, n_queries``: mean AP@all of each query class, sorted by class name."""
    frame = pd.DataFrame({"class": np.asarray(query_labels).astype(str), "ap": ap})
    table = frame.groupby("class", sort=True)["ap"].agg(["mean", "size"]).reset_index()
    return table.rename(columns={"mean": "ap", "size": "n_queries"})
