"""zsbir.data: the datasets (``datasets/``: one module each, and the registry), the synthetic
generator (``synthetic/``) and the acquisition of published ones (``acquire/``)."""

from zsbir.data.datasets import DATASETS, BuiltDataset, build_dataset
from zsbir.data.base import DatasetError

__all__ = ["DATASETS", "BuiltDataset", "DatasetError", "build_dataset"]
