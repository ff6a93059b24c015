"""What every dataset module shares: its error and what its ``build`` returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from zsbir.config import DataConfig


class DatasetError(ValueError):
    """A dataset or its source is bad; the message names the file, class or params key."""


@dataclass(frozen=True)
class BuiltDataset:
    """A dataset written to disk: its manifest, where its files came from, and the SHA-256
    of every file the manifest lists (by its path)."""

    manifest: pd.DataFrame
    provenance: dict[str, str] = field(default_factory=dict)
    checksums: Mapping[str, str] = field(default_factory=dict)


# build(cfg, seed, out_dir, repo_root): write the dataset to out_dir (atomically)
Builder = Callable[[DataConfig, int, Path, Path], BuiltDataset]
