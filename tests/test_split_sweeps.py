"""Issue 20's sweeps at the split stage: a split seed apart from the run's seed, and a
train subsample (``split.train_per_class``) that never takes val or test items."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from zsbir.config import SplitConfig
from zsbir.split import make_split
from zsbir.split.assign import assign_items, subsample_train
from test_split_assign import toy_manifest
from test_split_published import sketchy_like_manifest

RANDOM = SplitConfig(method="random", n_unseen=21, semantic="none")
PUBLISHED = SplitConfig(method="published", semantic="none")


@pytest.fixture(scope="module")
def sketchy() -> pd.DataFrame:
    return sketchy_like_manifest()


def _unseen(result) -> set[str]:
    return set(result.classes.loc[result.classes["split"] == "unseen", "class"])


def test_split_seed_decides_the_split_and_the_run_seed_does_not(sketchy: pd.DataFrame) -> None:
    a = make_split(sketchy, replace(RANDOM, seed=7), seed=0, dataset="sketchy-mini")
    b = make_split(sketchy, replace(RANDOM, seed=7), seed=1, dataset="sketchy-mini")
    c = make_split(sketchy, replace(RANDOM, seed=8), seed=0, dataset="sketchy-mini")
    legacy = make_split(sketchy, RANDOM, seed=7, dataset="sketchy-mini")  # null: the run's seed
    assert len(_unseen(a)) == 21 and _unseen(a) != _unseen(c)
    pd.testing.assert_frame_equal(a.items, b.items)
    pd.testing.assert_frame_equal(a.items, legacy.items)
    assert (a.items["split"] == "test").eq(a.items["class"].isin(_unseen(a))).all()
    assert "split seed 7 (split.seed)" in a.report


def test_train_subsample_is_nested_and_never_takes_val_or_test(sketchy: pd.DataFrame) -> None:
    full = make_split(sketchy, replace(PUBLISHED, seed=3), seed=0, dataset="sketchy-mini")
    full_items = full.items.set_index("id")
    held = full_items["split"].isin(["val", "test"])
    pair = sketchy.set_index("id")["pair_id"]
    previous: set[str] = set()
    for n in (5, 10, 15, 20, 25):
        cfg = replace(PUBLISHED, seed=3, train_per_class=n)
        items = make_split(sketchy, cfg, seed=0, dataset="sketchy-mini").items.set_index("id")
        pd.testing.assert_series_equal(items["split"][held], full_items["split"][held])
        unused = items.index[items["split"] == "unused"]
        assert (full_items.loc[unused, "split"] == "train").all()
        train = items[items["split"] == "train"]
        photos = train[train["domain"] == "photo"]
        available = full_items[(full_items["split"] == "train") & (full_items["domain"] == "photo")]
        assert photos.groupby("class").size().to_dict() == (
            available.groupby("class").size().clip(upper=n).to_dict()
        )
        sketches = train[train["domain"] == "sketch"]
        assert set(pair[sketches.index]) == set(photos.index)  # sketches go with their photo
        assert previous <= set(train.index)  # 5 of the 10, 10 of the 15, ...: one curve
        previous = set(train.index)
    assert previous == set(full_items.index[full_items["split"] == "train"])  # 25 = all 21


def test_unpaired_sketches_are_subsampled_per_class_too() -> None:
    m = toy_manifest(n_classes=3, photos=10, sketches=1, unpaired=6)
    items = assign_items(m, {"c2"}, val_fraction=0.2, seed=0)
    sub = subsample_train(items, m, 3, seed=5)
    train = sub[sub["split"] == "train"].merge(m[["id", "pair_id"]], on="id")
    for cls in ("c0", "c1"):
        mine = train[train["class"] == cls]
        assert (mine["domain"] == "photo").sum() == 3
        assert (mine["pair_id"].notna()).sum() == 3 and (
            (mine["domain"] == "sketch") & mine["pair_id"].isna()
        ).sum() == 3
    assert sub.loc[sub["split"] != "unused", "split"].tolist() == (
        items.loc[sub["split"] != "unused", "split"].tolist()
    )
    assert sub[sub["class"] == "c2"]["split"].eq("test").all()
    assert not subsample_train(items, m, 3, seed=6).equals(sub)  # the seed draws
