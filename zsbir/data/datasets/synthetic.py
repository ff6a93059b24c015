"""The ``synthetic`` dataset: procedurally drawn photos and sketches (``zsbir.data.synthetic``)."""

from __future__ import annotations

import logging
from pathlib import Path

from zsbir.config import DataConfig
from zsbir.data.base import BuiltDataset
from zsbir.data.synthetic.generate import generate

log = logging.getLogger(__name__)

NAME = "synthetic"


def write(cfg: DataConfig, seed: int, out_dir: Path, repo_root: Path) -> BuiltDataset:
    """Generate ``data/raw/synthetic/`` from ``data.synthetic`` and ``seed`` (registry entry)."""
    if cfg.source or cfg.url:
        log.warning("data.source / data.url are ignored for the synthetic dataset")
    return BuiltDataset(generate(cfg.synthetic, seed, out_dir), {"kind": "generated"})
