"""A tiny procedural dataset in the artifact format, for tests and benchmarks.

Each class has a latent prototype; photos and sketches are two different random
non-linear maps of (prototype + instance noise) (+ domain noise), so raw cross-domain
cosine retrieval is weak but a model can learn the shared structure. Class semantic
vectors are a third map of the prototypes, so they carry information for unseen classes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from zsbir.io import write_table, write_vectors


@dataclass(frozen=True)
class ToyDataset:
    split: pd.DataFrame  # id, domain, class, split
    class_meta: pd.DataFrame  # class, split, semantic_source
    x_sem: np.ndarray  # (C, S)
    features: dict[str, tuple[pd.DataFrame, np.ndarray]]  # domain -> (meta with id, X)
    manifest: pd.DataFrame  # id, path, domain, class, wnid, pair_id

    def write(self, root: str | os.PathLike[str]) -> None:
        """Write ``data/{split,manifest,classes}.parquet`` and ``data/pca/*.parquet``."""
        data = Path(root) / "data"
        write_table(self.split, data / "split.parquet")
        write_table(self.manifest, data / "manifest.parquet")
        write_vectors(
            data / "classes.parquet", self.x_sem, {c: self.class_meta[c] for c in self.class_meta}
        )
        for domain, (meta, x) in self.features.items():
            write_vectors(data / "pca" / f"{domain}.parquet", x, {"id": meta["id"]})


def make_toy_dataset(
    n_seen: int = 6,
    n_unseen: int = 3,
    photos_per_class: int = 10,
    sketches_per_photo: int = 1,
    dim: int = 32,
    sem_dim: int = 16,
    val_fraction: float = 0.2,
    seed: int = 0,
) -> ToyDataset:
    """Build the dataset; the first ``n_seen`` classes are seen, the rest unseen."""
    rng = np.random.default_rng(seed)
    latent = 8
    n_classes = n_seen + n_unseen
    classes = [f"class{c:02d}" for c in range(n_classes)]
    protos = rng.normal(size=(n_classes, latent))
    maps = {d: rng.normal(size=(latent, dim)) / np.sqrt(latent) for d in ("photo", "sketch")}
    x_sem = np.tanh(protos @ rng.normal(size=(latent, sem_dim))).astype(np.float32)
    rows, man, feats = [], [], {"photo": [], "sketch": []}
    ids: dict[str, list[str]] = {"photo": [], "sketch": []}
    for c, name in enumerate(classes):
        n_val = max(1, round(val_fraction * photos_per_class)) if c < n_seen else 0
        for i in range(photos_per_class):
            part = "test" if c >= n_seen else ("val" if i < n_val else "train")
            inst = protos[c] + 0.5 * rng.normal(size=latent)
            pid = f"photo/{name}/{i}"
            feats["photo"].append(np.tanh(inst @ maps["photo"]) + 0.1 * rng.normal(size=dim))
            ids["photo"].append(pid)
            rows.append((pid, "photo", name, part))
            man.append((pid, f"{pid}.jpg", "photo", name, None, None))
            for j in range(sketches_per_photo):
                sid = f"sketch/{name}/{i}-{j}"
                s = np.tanh((inst + 0.3 * rng.normal(size=latent)) @ maps["sketch"])
                feats["sketch"].append(s + 0.1 * rng.normal(size=dim))
                ids["sketch"].append(sid)
                rows.append((sid, "sketch", name, part))
                man.append((sid, f"{sid}.png", "sketch", name, None, pid))
    split = pd.DataFrame(rows, columns=["id", "domain", "class", "split"])
    manifest = pd.DataFrame(man, columns=["id", "path", "domain", "class", "wnid", "pair_id"])
    class_meta = pd.DataFrame(
        {
            "class": classes,
            "split": ["seen"] * n_seen + ["unseen"] * n_unseen,
            "semantic_source": ["minilm"] * n_classes,
        }
    )
    features = {
        d: (pd.DataFrame({"id": ids[d]}), np.asarray(feats[d], dtype=np.float32)) for d in feats
    }
    return ToyDataset(split, class_meta, x_sem, features, manifest)
