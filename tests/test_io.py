"""Artifact I/O: round trips, zero-copy vectors, atomic writes."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from zsbir import io


def test_vectors_round_trip_as_fixed_size_list(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(7, 5)).astype(np.float32)
    ids = [f"item{i}" for i in range(7)]
    io.write_vectors(tmp_path / "v.parquet", matrix, {"id": ids, "class": ["a"] * 7})
    schema = pq.read_schema(tmp_path / "v.parquet")
    assert str(schema.field("vector").type) == "fixed_size_list<element: float>[5]"
    meta, back = io.read_vectors(tmp_path / "v.parquet")
    assert back.dtype == np.float32 and back.shape == (7, 5)
    np.testing.assert_array_equal(back, matrix)
    assert meta["id"].tolist() == ids and list(meta.columns) == ["id", "class"]


def test_vectors_reject_mismatched_rows(tmp_path: Path) -> None:
    with pytest.raises(io.ArtifactError, match="'id' has 2 rows"):
        io.write_vectors(tmp_path / "v.parquet", np.zeros((3, 2)), {"id": ["a", "b"]})
    assert not list(tmp_path.iterdir())


def test_failed_write_leaves_nothing_and_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "t.parquet"
    io.write_table(pd.DataFrame({"a": [1]}), target)
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert io.read_table(target)["a"].tolist() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_atomic_dir_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "raw"
    with io.atomic_dir(target) as tmp:
        (tmp / "x.txt").write_text("1")
    with pytest.raises(ValueError):
        with io.atomic_dir(target) as tmp:
            (tmp / "y.txt").write_text("2")
            raise ValueError("bad input")
    assert sorted(p.name for p in target.iterdir()) == ["x.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    io.save_checkpoint(tmp_path / "c.pt", {"model": model.state_dict(), "epoch": 4}, {"hidden": 3})
    state, config = io.load_checkpoint(tmp_path / "c.pt")
    assert state["epoch"] == 4 and config == {"hidden": 3}
    torch.testing.assert_close(state["model"]["weight"], model.weight.detach())


def test_missing_artifact_names_file(tmp_path: Path) -> None:
    with pytest.raises(io.ArtifactError, match="nope.parquet"):
        io.read_table(tmp_path / "nope.parquet")


def test_checkpoint_bytes_do_not_depend_on_the_temporary_name(tmp_path: Path) -> None:
    state = {"model": torch.nn.Linear(3, 2).state_dict(), "epoch": 1}
    io.save_checkpoint(tmp_path / "a.pt", state, {"hidden": 3})
    io.save_checkpoint(tmp_path / "b.pt", state, {"hidden": 3})
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
