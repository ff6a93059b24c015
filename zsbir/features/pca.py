"""PCA of the VGG-16 features F(x), fitted on seen-class TRAIN items only.

The model is the classical one: with ``X`` the (n, D) train features, ``mu`` their mean and
``X - mu = U S V^T`` (thin SVD, float64), the components are the first ``k`` rows of ``V^T``,
the explained variances ``S_i^2 / (n - 1)``, and an item ``x`` maps to
``(x - mu) V_k`` — divided by ``sqrt(explained_variance)`` when whitening. Component signs
are fixed so that each component's largest-magnitude entry is positive.

Scale: up to :data:`SVD_MAX_CELLS` train cells (rows x D) the SVD of the centred matrix is
taken; above, the same model comes from the eigendecomposition of the covariance
``C = (X - mu)^T (X - mu) / (n - 1) = V diag(S^2 / (n - 1)) V^T``, accumulated over
:data:`CHUNK_ROWS`-row chunks in float64 (memory O(chunk x D + D^2), not O(n x D) float64
copies). Transforms run in chunks of :data:`CHUNK_ROWS` rows as well.

``fit_on: joint`` fits one PCA on the train rows of both domains; ``per_domain`` fits one
per domain on that domain's train rows. ``enabled: false`` passes features through.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from zsbir import io
from zsbir.config import PCAConfig
from zsbir.schema import DOMAINS

log = logging.getLogger(__name__)

Features = dict[str, tuple[pd.DataFrame, np.ndarray]]  # domain -> (meta with id, (N, D))
SVD_MAX_CELLS = 2**24  # train rows x D up to which the thin SVD is taken (128 MiB float64)
CHUNK_ROWS = 8192  # rows per chunk of the covariance and of transforms (64 MiB float64 at D=1280)


class PCAError(ValueError):
    """PCA cannot be fitted as configured; the message names the key or file."""


@dataclass(frozen=True)
class PCAModel:
    """A fitted PCA: ``components`` (k, D), ``mean`` (D,), ``explained_variance`` (k,)."""

    components: np.ndarray
    mean: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    whiten: bool
    n_samples: int

    def transform(self, x: np.ndarray) -> np.ndarray:
        """``(x - mean) V_k`` (whitened: divided by the component std); float32 (N, k).

        Computed per :data:`CHUNK_ROWS` rows, so float64 copies stay chunk-sized.
        """
        out = np.empty((len(x), len(self.components)), dtype=np.float32)  # (N, k)
        for lo in range(0, len(x), CHUNK_ROWS):
            chunk = np.array(x[lo : lo + CHUNK_ROWS], dtype=np.float64)  # (c, D), a copy
            chunk -= self.mean
            z = chunk @ self.components.T  # (c, k)
            if self.whiten:
                z = z / np.sqrt(self.explained_variance)
            out[lo : lo + CHUNK_ROWS] = z.astype(np.float32)
        return out


def fit_pca(x: np.ndarray, dim: int, whiten: bool = False) -> PCAModel:
    """Fit a ``dim``-component PCA on the rows of ``x`` (N, D); ``x`` is not modified."""
    n, d = x.shape
    if dim < 1 or dim > min(n, d):
        raise PCAError(
            f"pca.dim={dim} must be between 1 and min(train rows, feature dim) = "
            f"min({n}, {d}); lower pca.dim or set pca.enabled: false"
        )
    if n * d <= SVD_MAX_CELLS:
        data = np.asarray(x, dtype=np.float64)
        mean = data.mean(axis=0)  # (D,)
        _, s, vt = np.linalg.svd(data - mean, full_matrices=False)  # s (r,), vt (r, D)
    else:
        mean, s, vt = _covariance_eig(x)
    total = float((s**2).sum())
    components = vt[:dim]  # (k, D)
    signs = np.sign(components[np.arange(dim), np.abs(components).argmax(axis=1)])
    components = components * signs[:, None]
    variance = s[:dim] ** 2 / max(n - 1, 1)  # (k,)
    ratio = s[:dim] ** 2 / total if total > 0 else np.zeros(dim)
    if whiten and np.any(variance <= 1e-12):
        raise PCAError(f"pca.whiten: component {int(np.argmin(variance))} has zero variance")
    return PCAModel(components, mean, variance, ratio, whiten, n)


def _covariance_eig(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mean (D,), s (D,), vt (D, D))`` as the thin SVD of ``x - mean`` would give them,
    from the chunked float64 scatter matrix ``(X - mu)^T (X - mu) = V diag(s^2) V^T``."""
    n, d = x.shape
    total = np.zeros(d)  # (D,)
    for lo in range(0, n, CHUNK_ROWS):
        total += np.asarray(x[lo : lo + CHUNK_ROWS], dtype=np.float64).sum(axis=0)
    mean = total / n  # (D,)
    scatter = np.zeros((d, d))  # (D, D)
    for lo in range(0, n, CHUNK_ROWS):
        chunk = np.array(x[lo : lo + CHUNK_ROWS], dtype=np.float64)  # (c, D), a copy
        chunk -= mean
        scatter += chunk.T @ chunk
    eigval, eigvec = np.linalg.eigh(scatter)  # ascending
    order = np.argsort(eigval)[::-1]
    s = np.sqrt(np.clip(eigval[order], 0.0, None))  # (D,)
    return mean, s, eigvec[:, order].T  # vt (D, D)


def train_mask(meta: pd.DataFrame, split: pd.DataFrame, domain: str) -> np.ndarray:
    """Boolean mask of ``meta`` rows whose id is split ``train`` (every id must be in split)."""
    lookup = split.drop_duplicates("id").set_index("id")["split"]
    ids = meta["id"]
    unknown = ~ids.isin(lookup.index)
    if unknown.any():
        raise PCAError(
            f"{unknown.sum()} {domain} feature id(s) are not in data/split.parquet, "
            f"e.g. {ids[unknown].iloc[0]!r}; re-run the split stage"
        )
    return (ids.map(lookup) == "train").to_numpy()


def run_pca(
    features: Features, split: pd.DataFrame, cfg: PCAConfig
) -> tuple[dict[str, np.ndarray], dict[str, PCAModel]]:
    """Fit per ``cfg`` on train rows and transform every item.

    Returns ``({domain: (N_d, k) float32}, {group: model})`` where the groups are
    ``joint`` or the domains. Disabled: the inputs (as float32) and no models.
    """
    if not cfg.enabled:
        return {d: np.asarray(x, dtype=np.float32) for d, (_, x) in features.items()}, {}
    masks = {d: train_mask(meta, split, d) for d, (meta, _) in features.items()}
    for domain, mask in masks.items():
        log.info("PCA: %d of %d %s items are train", mask.sum(), len(mask), domain)
    if cfg.fit_on == "joint":
        train = np.concatenate([x[masks[d]] for d, (_, x) in features.items()])  # (n, D)
        model = fit_pca(train, cfg.dim, cfg.whiten)
        models = {"joint": model}
        out = {d: model.transform(x) for d, (_, x) in features.items()}
    else:
        models = {d: fit_pca(x[masks[d]], cfg.dim, cfg.whiten) for d, (_, x) in features.items()}
        out = {d: models[d].transform(x) for d, (_, x) in features.items()}
    return out, models


def save_models(models: dict[str, PCAModel], cfg: PCAConfig, path: Path) -> None:
    """``np.savez`` of ``<group>_{components,mean,explained_variance,...}`` (no pickles)."""
    arrays: dict[str, np.ndarray] = {
        "enabled": np.array(cfg.enabled),
        "whiten": np.array(cfg.whiten),
        "fit_on": np.array(cfg.fit_on),
        "groups": np.array(sorted(models), dtype=str),
    }
    for group, m in models.items():
        arrays[f"{group}_components"] = m.components.astype(np.float32)
        arrays[f"{group}_mean"] = m.mean.astype(np.float32)
        arrays[f"{group}_explained_variance"] = m.explained_variance
        arrays[f"{group}_explained_variance_ratio"] = m.explained_variance_ratio
        arrays[f"{group}_n_samples"] = np.array(m.n_samples)
    with io.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def load_models(path: Path) -> dict[str, PCAModel]:
    """Models saved by :func:`save_models` (read with ``allow_pickle=False``)."""
    with np.load(path, allow_pickle=False) as z:
        whiten = bool(z["whiten"])
        return {
            str(g): PCAModel(
                components=z[f"{g}_components"].astype(np.float64),
                mean=z[f"{g}_mean"].astype(np.float64),
                explained_variance=z[f"{g}_explained_variance"],
                explained_variance_ratio=z[f"{g}_explained_variance_ratio"],
                whiten=whiten,
                n_samples=int(z[f"{g}_n_samples"]),
            )
            for g in z["groups"]
        }


def variance_curve(models: dict[str, PCAModel]) -> pd.DataFrame:
    """Explained-variance ratio per component (columns component, explained, cumulative).

    With one model per domain, a ``group`` column tells them apart.
    """
    frames = []
    for group, m in sorted(models.items()):
        frames.append(
            pd.DataFrame(
                {
                    "component": np.arange(1, len(m.explained_variance_ratio) + 1),
                    "explained": m.explained_variance_ratio,
                    "cumulative": np.cumsum(m.explained_variance_ratio),
                    "group": group,
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=["component", "explained", "cumulative", "group"])
    return pd.concat(frames, ignore_index=True)


def pca_stage(
    features_dir: Path, *, split_path: Path, out_dir: Path, cfg: PCAConfig
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The ``pca`` stage: read features and split, fit, write ``out_dir`` artifacts.

    Writes ``out_dir/{photo,sketch}.parquet`` and ``out_dir/pca.npz``; returns the
    variance curve and the metrics summary.
    """
    features: Features = {d: io.read_vectors(features_dir / f"{d}.parquet") for d in DOMAINS}
    split = io.read_table(split_path, columns=["id", "split"])
    out, models = run_pca(features, split, cfg)
    for domain, (meta, _) in features.items():
        io.write_vectors(out_dir / f"{domain}.parquet", out[domain], {"id": meta["id"]})
    save_models(models, cfg, out_dir / "pca.npz")
    curve = variance_curve(models)
    metrics: dict[str, Any] = {
        "enabled": cfg.enabled,
        "fit_on": cfg.fit_on,
        "whiten": cfg.whiten,
        "input_dim": int(features["photo"][1].shape[1]),
        "output_dim": int(out["photo"].shape[1]),
        "count": {d: len(out[d]) for d in DOMAINS},
    }
    for group, m in models.items():
        metrics[f"{group}_train_rows"] = m.n_samples
        metrics[f"{group}_explained_variance_ratio"] = float(m.explained_variance_ratio.sum())
    return curve, metrics
