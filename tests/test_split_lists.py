"""Published lists per dataset, the seeded random split, and class-name synsets."""

import pandas as pd
import pytest
from conftest import wordnet_installed

from zsbir.config import SplitConfig
from zsbir.data.acquire.counts import read_expected
from zsbir.data.datasets.tuberlin import TABLES
from zsbir.split.assign import random_unseen
from zsbir.split.imagenet import load_table
from zsbir.split.names import committed_names, lookup, read_overrides
from zsbir.split.published import PublishedSplitError, list_for, published_unseen
from zsbir.split.run import make_split

CLASSES = [f"c{i:02d}" for i in range(40)]


def _manifest(classes: list[str]) -> pd.DataFrame:
    rows = [
        {
            "id": f"{d}/{c}/1",
            "path": "x",
            "domain": d,
            "class": c,
            "wnid": "n02084071",
            "pair_id": None,
        }
        for c in classes
        for d in ("photo", "sketch")
    ]
    return pd.DataFrame(rows)


def test_random_unseen_is_seeded_and_order_free() -> None:
    a = random_unseen(CLASSES, 10, seed=3)
    assert len(a) == 10 and a == sorted(a) and set(a) <= set(CLASSES)
    assert random_unseen(list(reversed(CLASSES)), 10, seed=3) == a
    assert random_unseen(CLASSES, 10, seed=4) != a
    for bad in (0, 40):
        with pytest.raises(ValueError, match="split.n_unseen"):
            random_unseen(CLASSES, bad, seed=3)


def test_random_method_in_the_split() -> None:
    config = SplitConfig(method="random", n_unseen=7, semantic="none")
    result = make_split(_manifest(CLASSES), config, seed=1, dataset="synthetic")
    unseen = result.classes.query("split == 'unseen'")["class"].tolist()
    assert unseen == random_unseen(CLASSES, 7, 1) and result.metrics["n_unseen"] == 7
    assert "`random` (7 unseen classes drawn with seed 1)" in result.report
    assert set(result.items.loc[result.items["class"].isin(unseen), "split"]) == {"test"}


def test_list_selection() -> None:
    assert list_for("tuberlin") == "tuberlin-30" and list_for("sketchy") == "sketchy-21"
    assert list_for("sketchy-mini", "sketchy-25") == "sketchy-25"
    assert list_for("synthetic") is None
    with pytest.raises(PublishedSplitError, match="tuberlin-30 is a split of tuberlin"):
        list_for("quickdraw", "tuberlin-30")
    assert [
        len(published_unseen(n))
        for n in ("sketchy-21", "sketchy-25", "tuberlin-30", "quickdraw-30")
    ] == [21, 25, 30, 30]
    with pytest.raises(PublishedSplitError, match="'synthetic' has no published"):
        make_split(_manifest(CLASSES), SplitConfig(method="published"), seed=0, dataset="synthetic")


@pytest.mark.parametrize("dataset", ["tuberlin", "quickdraw"])
def test_committed_names_cover_the_classes_offline(dataset: str) -> None:
    names = committed_names()
    table = load_table()
    for cls in read_expected(TABLES / f"{dataset}.tsv").classes:
        named = names[dataset, cls]
        assert named.how in ("override", "first_sense"), cls
        assert named.wnid in table.ancestors, f"{cls}: closure of {named.wnid} not committed"
    overrides = read_overrides()
    for (scope, name), (synset, _) in overrides.items():
        if scope in ("*", dataset) and (dataset, name) in names:
            assert names[dataset, name].synset == synset and names[dataset, name].how == "override"


@pytest.mark.skipif(not wordnet_installed(), reason="WordNet 3.0 not installed")
def test_committed_names_match_live_wordnet() -> None:
    """class_names.tsv is what scripts/make_name_table.py makes now (not stale)."""
    overrides = read_overrides()
    for (dataset, name), named in committed_names().items():
        assert lookup(dataset, name, overrides) == named, (dataset, name)
