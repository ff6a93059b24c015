"""Training tensors: only seen-class train/val items, pairs, scaling, errors (leakage guard)."""

import numpy as np
import pandas as pd
import pytest
import torch

from zsbir.io import ArtifactError
from zsbir.train.data import LeakageError, build_training_data, check_no_leakage, load_training_data
from toy import make_toy_dataset


@pytest.fixture(scope="module")
def toy():
    return make_toy_dataset(n_seen=4, n_unseen=2, photos_per_class=5, dim=8, sem_dim=4)


def _build(ds, split=None, manifest=None):
    return build_training_data(
        ds.split if split is None else split,
        ds.class_meta,
        ds.x_sem,
        ds.features,
        ds.manifest if manifest is None else manifest,
    )


def test_no_test_or_unseen_item_is_loaded(toy) -> None:
    data = _build(toy)
    test_ids = set(toy.split.loc[toy.split["split"] == "test", "id"])
    loaded = [
        i
        for s in (data.photo_train, data.sketch_train, data.photo_val, data.sketch_val)
        for i in s.ids
    ]
    assert test_ids and not test_ids & set(loaded)
    assert set(data.classes) == {f"class{c:02d}" for c in range(4)}
    assert len(loaded) == (toy.split["split"] != "test").sum()
    assert data.x_sem.shape == (4, 4) and bool(data.sem_mask.all())


def test_unseen_class_marked_train_is_refused(toy) -> None:
    split = toy.split.copy()
    split.loc[split["class"] == "class05", "split"] = "train"
    with pytest.raises(LeakageError, match="class05"):
        _build(toy, split=split)


def test_leakage_check_catches_an_injected_test_item(toy) -> None:
    data = _build(toy)
    split = toy.split.copy()
    split.loc[split["id"] == data.photo_val.ids[0], "split"] = "test"
    with pytest.raises(LeakageError, match="photo_val"):
        check_no_leakage(data, split, toy.class_meta)


def test_instance_pairs_and_per_domain_scale(toy) -> None:
    data = _build(toy)
    photo_of = dict(zip(toy.manifest["id"], toy.manifest["pair_id"]))
    for i, sid in enumerate(data.sketch_train.ids):
        assert data.photo_train.ids[int(data.sketch_pair[i])] == photo_of[sid]
    for s in (data.photo_train, data.sketch_train):
        assert float(s.x.pow(2).mean()) == pytest.approx(1.0, rel=1e-4)
    no_pairs = toy.manifest.assign(pair_id=None)
    assert bool((_build(toy, manifest=no_pairs).sketch_pair == -1).all())


def test_missing_features_and_nan_are_named(toy, tmp_path) -> None:
    meta, x = toy.features["photo"]
    feats = dict(toy.features, photo=(meta.iloc[1:], x[1:]))
    with pytest.raises(ArtifactError, match="photo.parquet: no features"):
        build_training_data(toy.split, toy.class_meta, toy.x_sem, feats, toy.manifest)
    bad = x.copy()
    bad[:] = np.nan
    with pytest.raises(ArtifactError, match="non-finite"):
        build_training_data(
            toy.split, toy.class_meta, toy.x_sem, dict(toy.features, photo=(meta, bad))
        )


def test_load_from_files_equals_in_memory(toy, tmp_path) -> None:
    toy.write(tmp_path)
    d = tmp_path / "data"
    data = load_training_data(
        d / "pca", split_path=d / "split.parquet", classes_path=d / "classes.parquet", manifest_path=d / "manifest.parquet"
    )
    ref = _build(toy)
    assert torch.equal(data.sketch_train.x, ref.sketch_train.x) and torch.equal(
        data.sketch_pair, ref.sketch_pair
    )
    assert data.fingerprint() == ref.fingerprint()
    assert isinstance(toy.split, pd.DataFrame)
