"""The dataset registry: one module per ``data.dataset`` name, and params that name them all."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from zsbir.config import DataConfig
from zsbir.data import DATASETS, DatasetError, build_dataset
from zsbir.data.datasets import (
    quickdraw,
    sketchy,
    sketchy_mini,
    sketchy_synthetic,
    synthetic,
    tuberlin,
)


def test_params_accept_exactly_the_registered_datasets() -> None:
    hint = typing.get_type_hints(DataConfig, include_extras=True)["dataset"]
    while typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    assert set(typing.get_args(hint)) == set(DATASETS)


def test_each_module_registers_under_its_params_name() -> None:
    modules = (synthetic, sketchy_mini, sketchy, tuberlin, quickdraw, sketchy_synthetic)
    assert {m.NAME: m.write for m in modules} == DATASETS
    assert [m.__name__.rsplit(".", 1)[1].replace("_", "-") for m in modules] == list(DATASETS)


def test_unknown_dataset_names_the_key(tmp_path: Path) -> None:
    cfg = DataConfig()
    object.__setattr__(cfg, "dataset", "imagenet")  # past the params check on purpose
    with pytest.raises(DatasetError, match="'data.dataset': unknown dataset 'imagenet'"):
        build_dataset(cfg, seed=0, out_dir=tmp_path / "raw", repo_root=tmp_path)
    assert not (tmp_path / "raw").exists()
