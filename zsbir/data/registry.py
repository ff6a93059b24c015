"""The dataset registry: ``data.dataset`` name -> builder, and :func:`build_dataset`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from zsbir.config import DataConfig
from zsbir.data import benchmark, quickdraw, sketchy, sketchy_extended, synthetic, tuberlin
from zsbir.data.manifest import DatasetError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuiltDataset:
    """A dataset written to disk: its manifest and where its files came from."""

    manifest: pd.DataFrame
    provenance: dict[str, str] = field(default_factory=dict)


Builder = Callable[[DataConfig, int, Path, Path], BuiltDataset]


def _synthetic(cfg: DataConfig, seed: int, out_dir: Path, repo_root: Path) -> BuiltDataset:
    if cfg.source or cfg.url:
        log.warning("data.source / data.url are ignored for the synthetic dataset")
    manifest = synthetic.generate(cfg.synthetic, seed, out_dir)
    return BuiltDataset(manifest, {"kind": "generated"})


def _sketchy(cfg: DataConfig, seed: int, out_dir: Path, repo_root: Path) -> BuiltDataset:
    manifest, provenance = sketchy.build(cfg, out_dir, repo_root)
    return BuiltDataset(manifest, provenance)


def _from_archives(spec: Callable[[DataConfig], benchmark.Benchmark]) -> Builder:
    """A builder for a benchmark made of published archives (:mod:`zsbir.data.benchmark`)."""

    def build(cfg: DataConfig, seed: int, out_dir: Path, repo_root: Path) -> BuiltDataset:
        manifest, provenance = benchmark.build(
            spec(cfg), cfg.source, cfg.url, out_dir, repo_root, check_counts=cfg.check_counts
        )
        return BuiltDataset(manifest, provenance)

    return build


DATASETS: dict[str, Builder] = {
    "synthetic": _synthetic,
    sketchy.NAME: _sketchy,
    sketchy_extended.NAME: _from_archives(sketchy_extended.benchmark),
    tuberlin.NAME: _from_archives(tuberlin.benchmark),
    quickdraw.NAME: _from_archives(quickdraw.benchmark),
}


def build_dataset(
    cfg: DataConfig, seed: int, out_dir: str | Path, repo_root: str | Path
) -> BuiltDataset:
    """Write dataset ``cfg.dataset`` to ``out_dir`` (atomically); return manifest + provenance.

    ``manifest`` follows :mod:`zsbir.data.manifest` with paths relative to ``out_dir``.
    """
    if cfg.dataset not in DATASETS:
        raise DatasetError(
            f"params key 'data.dataset': unknown dataset {cfg.dataset!r}; known: {sorted(DATASETS)}"
        )
    return DATASETS[cfg.dataset](cfg, seed, Path(out_dir), Path(repo_root))
