"""zsbir.data: datasets (synthetic, sketchy-mini, sketchy, tuberlin, quickdraw), their manifest, verified download."""

from zsbir.data.manifest import COLUMNS, DatasetError, summarize, validate_manifest
from zsbir.data.registry import DATASETS, BuiltDataset, build_dataset

__all__ = [
    "COLUMNS",
    "DATASETS",
    "BuiltDataset",
    "DatasetError",
    "build_dataset",
    "summarize",
    "validate_manifest",
]
