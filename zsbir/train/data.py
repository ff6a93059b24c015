"""Seen-class training/validation tensors from the PCA features, split and classes.

Only ``train`` and ``val`` items of **seen** classes are ever put into tensors: the rows
of test (unseen-class) items are dropped right after reading and
:func:`check_no_leakage` asserts it. Features are scaled per domain by one scalar (their
train RMS) so the reconstruction terms start near 1; cosine retrieval is unaffected and
the scales are stored with the model (``feat_scale``).

Memory: everything is float32 in RAM. Sketchy-Extended (~75k sketches, ~73k photos) at
D = 1024 is (75k + 73k) * 1024 * 4 B = 0.6 GB; at D = 256, 0.15 GB.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from zsbir.io import ArtifactError, read_table, read_vectors
from zsbir.schema import DOMAINS

log = logging.getLogger(__name__)



class LeakageError(RuntimeError):
    """A test / unseen-class item reached training or model selection."""


@dataclass(frozen=True)
class ItemSet:
    """Items of one domain and one split: ids, features (N, D), class indices (N,)."""

    ids: np.ndarray  # (N,) str
    x: torch.Tensor  # (N, D) float32, scaled
    cls: torch.Tensor  # (N,) int64 index into TrainData.classes


@dataclass(frozen=True)
class TrainData:
    """Everything training and validation may see (seen classes only)."""

    classes: tuple[str, ...]  # seen classes, index = class id
    x_sem: torch.Tensor  # (C, S) class semantic vectors
    sem_mask: torch.Tensor  # (C,) bool: class has a semantic vector
    photo_train: ItemSet
    sketch_train: ItemSet
    photo_val: ItemSet
    sketch_val: ItemSet
    sketch_pair: torch.Tensor  # (N_sketch_train,) index into photo_train, -1 = unknown
    feat_scale: dict[str, float]  # per-domain scalar applied to the PCA features

    @property
    def feat_dim(self) -> int:
        return int(self.photo_train.x.shape[1])

    @property
    def sem_dim(self) -> int:
        return int(self.x_sem.shape[1])

    def fingerprint(self) -> str:
        """Identity of everything training reads: item ids, features, classes, x_sem, pairs.

        The features' bytes are hashed (not only their ids), so a changed feature extractor
        or PCA with the same items is a different dataset to a checkpoint.
        """
        h = hashlib.sha256()
        h.update("\n".join(self.classes).encode())
        for s in (self.photo_train, self.sketch_train, self.photo_val, self.sketch_val):
            h.update("\n".join(map(str, s.ids)).encode())
            h.update(s.x.contiguous().numpy().tobytes())  # (N, D) float32
            h.update(s.cls.numpy().tobytes())
        for t in (self.x_sem, self.sem_mask, self.sketch_pair):
            h.update(t.contiguous().numpy().tobytes())
        h.update(f"{self.feat_dim}/{self.sem_dim}/{sorted(self.feat_scale.items())}".encode())
        return h.hexdigest()[:16]


def load_training_data(
    pca_dir: str | os.PathLike[str],
    *,
    split_path: str | os.PathLike[str],
    classes_path: str | os.PathLike[str],
    manifest_path: str | os.PathLike[str] | None = None,
) -> TrainData:
    """Read ``data/pca/{photo,sketch}.parquet``, split, classes (+ manifest pair ids)."""
    class_meta, x_sem = read_vectors(classes_path)
    split = read_table(split_path, columns=["id", "domain", "class", "split"])
    features = {d: read_vectors(Path(pca_dir) / f"{d}.parquet") for d in DOMAINS}
    manifest = None
    if manifest_path is not None and Path(manifest_path).exists():
        manifest = read_table(manifest_path, columns=["id", "pair_id"])
    return build_training_data(split, class_meta, x_sem, features, manifest, str(pca_dir))


def build_training_data(
    split: pd.DataFrame,
    class_meta: pd.DataFrame,
    x_sem: np.ndarray,
    features: dict[str, tuple[pd.DataFrame, np.ndarray]],
    manifest: pd.DataFrame | None = None,
    source: str = "features",
) -> TrainData:
    """In-memory core of :func:`load_training_data` (``features[domain] = (meta, X)``)."""
    for col in ("class", "split"):
        if col not in class_meta:
            raise ArtifactError(f"classes table: missing column '{col}'")
    seen_mask = (class_meta["split"] == "seen").to_numpy()
    classes = tuple(class_meta.loc[seen_mask, "class"].astype(str))
    if not classes:
        raise ArtifactError("classes table: no seen class")
    index = {c: i for i, c in enumerate(classes)}
    sem = torch.from_numpy(np.ascontiguousarray(x_sem[seen_mask], dtype=np.float32))  # (C, S)
    bad = split[split["split"].isin(["train", "val"]) & ~split["class"].isin(index)]
    if len(bad):
        raise LeakageError(
            f"split marks {len(bad)} items of non-seen classes as train/val "
            f"(e.g. {bad['id'].iloc[0]!r}, class {bad['class'].iloc[0]!r})"
        )
    keep = split[split["split"].isin(["train", "val"])]  # test rows dropped here
    sets: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for domain in DOMAINS:
        meta, x = features[domain]
        row_of = pd.Series(np.arange(len(meta)), index=meta["id"].astype(str))
        for part in ("train", "val"):
            rows = keep[(keep["domain"] == domain) & (keep["split"] == part)]
            missing = ~rows["id"].isin(row_of.index)
            if missing.any():
                raise ArtifactError(
                    f"{source}/{domain}.parquet: no features for {int(missing.sum())} "
                    f"{part} items (e.g. {rows['id'][missing].iloc[0]!r})"
                )
            ids = rows["id"].astype(str).to_numpy()
            feats = np.asarray(x[row_of.loc[ids].to_numpy()], dtype=np.float32)  # (N, D)
            if not np.isfinite(feats).all():
                raise ArtifactError(f"{source}/{domain}.parquet: non-finite {part} features")
            cls = np.array(rows["class"].map(index), dtype=np.int64)
            sets[(domain, part)] = (ids, feats, cls)
        if len(sets[(domain, "train")][0]) == 0:
            raise ArtifactError(f"{source}/{domain}.parquet: no train items of seen classes")
    scale = {d: _rms_scale(sets[(d, "train")][1]) for d in DOMAINS}
    items = {
        k: ItemSet(ids, torch.from_numpy(feats * scale[k[0]]), torch.from_numpy(cls))
        for k, (ids, feats, cls) in sets.items()
    }
    pair = _pair_index(items[("sketch", "train")], items[("photo", "train")], manifest)
    data = TrainData(
        classes=classes,
        x_sem=sem,
        sem_mask=sem.norm(dim=1) > 0,
        photo_train=items[("photo", "train")],
        sketch_train=items[("sketch", "train")],
        photo_val=items[("photo", "val")],
        sketch_val=items[("sketch", "val")],
        sketch_pair=pair,
        feat_scale=scale,
    )
    check_no_leakage(data, split, class_meta)
    log.info(
        "training data: %d seen classes, train %d photos / %d sketches (%d instance pairs), "
        "val %d / %d, D=%d, x_sem %s",
        len(classes),
        len(data.photo_train.ids),
        len(data.sketch_train.ids),
        int((pair >= 0).sum()),
        len(data.photo_val.ids),
        len(data.sketch_val.ids),
        data.feat_dim,
        tuple(sem.shape),
    )
    return data


def check_no_leakage(data: TrainData, split: pd.DataFrame, class_meta: pd.DataFrame) -> None:
    """Raise :class:`LeakageError` if any loaded item is ``test`` or of an unseen class."""
    unseen = set(class_meta.loc[class_meta["split"] != "seen", "class"].astype(str))
    leaked = unseen & set(data.classes)
    if leaked:
        raise LeakageError(f"unseen classes among training classes: {sorted(leaked)[:5]}")
    test_ids = set(split.loc[split["split"] == "test", "id"].astype(str))
    for name in ("photo_train", "sketch_train", "photo_val", "sketch_val"):
        hit = test_ids.intersection(getattr(data, name).ids)
        if hit:
            raise LeakageError(f"{name} holds {len(hit)} test items, e.g. {min(hit)!r}")


def _rms_scale(x: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return 1.0 / rms if rms > 0 else 1.0


def _pair_index(sketches: ItemSet, photos: ItemSet, manifest: pd.DataFrame | None) -> torch.Tensor:
    """For each train sketch, the train-photo row it was drawn from (-1 if unknown)."""
    out = np.full(len(sketches.ids), -1, dtype=np.int64)
    if manifest is not None and "pair_id" in manifest:
        pair_of = manifest.set_index(manifest["id"].astype(str))["pair_id"]
        photo_row = pd.Series(np.arange(len(photos.ids)), index=photos.ids)
        pid = pair_of.reindex(sketches.ids)
        rows = photo_row.reindex(pid.astype(object).where(pid.notna(), "")).to_numpy()
        ok = ~np.isnan(rows)
        out[ok] = rows[ok].astype(np.int64)
        same = photos.cls.numpy()[out[ok]] == sketches.cls.numpy()[ok]
        if not same.all():
            raise ArtifactError("manifest: a sketch's pair_id names a photo of another class")
    return torch.from_numpy(out)
