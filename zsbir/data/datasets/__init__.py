"""The dataset registry: ``data.dataset`` name -> its module's ``write``, and :func:`build_dataset`.

One module per dataset, named as params name it; each has ``NAME`` and
``write(cfg, seed, out_dir, repo_root) -> BuiltDataset``. A new dataset is a new module
here plus its line in :data:`DATASETS`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from zsbir.config import DataConfig
from zsbir.data.acquire.archives import hash_files
from zsbir.data.base import Builder, BuiltDataset, DatasetError
from zsbir.data.datasets import (
    quickdraw,
    sketchy,
    sketchy_mini,
    sketchy_synthetic,
    synthetic,
    tuberlin,
)

DATASETS: dict[str, Builder] = {
    synthetic.NAME: synthetic.write,
    sketchy_mini.NAME: sketchy_mini.write,
    sketchy.NAME: sketchy.write,
    tuberlin.NAME: tuberlin.write,
    quickdraw.NAME: quickdraw.write,
    sketchy_synthetic.NAME: sketchy_synthetic.write,
}


def build_dataset(
    cfg: DataConfig,
    *,
    seed: int,
    out_dir: str | Path,
    repo_root: str | Path,
    progress: bool = True,
) -> BuiltDataset:
    """Write dataset ``cfg.dataset`` to ``out_dir`` (atomically); return its manifest,
    provenance and the SHA-256 of every listed file.

    ``manifest`` follows :func:`zsbir.schema.validate_manifest`, paths relative to ``out_dir``.
    The checksums let the stages that read the images depend on one small file instead of
    a folder of 10^5 files (whose hashing dominated a no-op ``dvc status``).
    """
    if cfg.dataset not in DATASETS:
        raise DatasetError(
            f"params key 'data.dataset': unknown dataset {cfg.dataset!r}; known: {sorted(DATASETS)}"
        )
    built = DATASETS[cfg.dataset](cfg, seed, Path(out_dir), Path(repo_root))
    paths = built.manifest["path"].tolist()
    return replace(built, checksums=hash_files(Path(out_dir), paths, progress=progress))
