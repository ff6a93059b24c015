"""The dataset registry: one module per ``data.dataset`` name, and params that name them all."""

from __future__ import annotations

import subprocess
import typing
from pathlib import Path

import pytest

from zsbir import io
from zsbir.config import DataConfig, SyntheticConfig
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


def test_checksums_cover_every_listed_file_and_follow_its_content(tmp_path: Path) -> None:
    """data/raw.SHA256SUMS (what extract and evaluate depend on instead of data/raw):
    coreutils' ``sha256sum -c`` verifies it, and a changed image changes its line."""
    cfg = DataConfig(synthetic=SyntheticConfig(n_classes=2, photos_per_class=2, image_size=32))
    built = build_dataset(cfg, seed=0, out_dir=tmp_path / "raw", repo_root=tmp_path, progress=False)
    assert set(built.checksums) == set(built.manifest["path"])
    io.write_checksums(built.checksums, tmp_path / "raw.SHA256SUMS")
    check = subprocess.run(["sha256sum", "--check", "--strict", "../raw.SHA256SUMS"],
                           cwd=tmp_path / "raw", capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == len(built.manifest)

    other = build_dataset(cfg, seed=1, out_dir=tmp_path / "raw1", repo_root=tmp_path,
                          progress=False)
    changed = {p for p in built.checksums if built.checksums[p] != other.checksums[p]}
    assert changed == {p for p in built.checksums
                       if (tmp_path / "raw" / p).read_bytes() != (tmp_path / "raw1" / p).read_bytes()}
    assert changed  # another seed draws other images
