"""Class split on Sketchy: the published 21-class split, the ImageNet-1K overlap split,
classes.parquet/split.parquet contracts, errors naming the class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zsbir.config import SplitConfig
from zsbir.io import read_table, read_vectors
from zsbir.schema import SchemaError, validate_classes, validate_split
from zsbir.split import make_split, write_split
from zsbir.split.imagenet import CLASS_WNIDS_FILE, DATA_DIR
from zsbir.split.published import PublishedSplitError, published_unseen

SKETCHY_MINI = Path("/work/shared/datasets/sketchy-mini")
YELAMARTHI_21 = {
    "bat", "cabin", "cow", "dolphin", "door", "giraffe", "helicopter", "mouse", "pear",
    "raccoon", "rhinoceros", "saw", "scissors", "seagull", "skyscraper", "songbird", "sword",
    "tree", "wheelchair", "windmill", "window",
}  # fmt: skip
PUBLISHED = SplitConfig(method="published", semantic="none")
OVERLAP = SplitConfig(method="imagenet_overlap", semantic="none")


def sketchy_like_manifest(per_class: int = 25) -> pd.DataFrame:
    """Sketchy's 125 classes with their photo wnids (from the class list comments of
    class_wnids.txt), ``per_class`` photos each and one sketch drawn from each photo."""
    wnids: dict[str, list[str]] = {}
    cls = None
    for line in (DATA_DIR / CLASS_WNIDS_FILE).read_text().splitlines():
        if line.startswith("#"):  # "# <class>" opens a Sketchy class; other comments close it
            token = line[1:].strip()
            cls = token if token and " " not in token else None
            if cls is not None:
                wnids[cls] = []
        elif line.strip() and not line.startswith("#") and cls is not None:
            wnids[cls].append(line.strip())
    rows = []
    for cls, ws in wnids.items():
        for n in range(per_class):
            w = ws[n % len(ws)]
            pid = f"photo/{cls}/{w}_{n}"
            rows.append((pid, f"{pid}.jpg", "photo", cls, w, None))
            sid = f"sketch/{cls}/{w}_{n}-1"
            rows.append((sid, f"{sid}.png", "sketch", cls, w, pid))
    return pd.DataFrame(rows, columns=["id", "path", "domain", "class", "wnid", "pair_id"])


def folder_manifest(root: Path) -> pd.DataFrame:
    """Manifest of a Sketchy-layout folder: photo/<class>/<wnid>_<n>.jpg and
    sketch/<class>/<wnid>_<n>-<k>.png drawn from photo <wnid>_<n>."""
    rows = []
    for path in sorted(root.glob("*/*/*")):
        domain, cls, stem = path.parts[-3], path.parts[-2], path.stem
        pair = f"photo/{cls}/{stem.rsplit('-', 1)[0]}" if domain == "sketch" else None
        rows.append((f"{domain}/{cls}/{stem}", str(path.relative_to(root)), domain, cls,
                     stem.split("_")[0], pair))  # fmt: skip
    return pd.DataFrame(rows, columns=["id", "path", "domain", "class", "wnid", "pair_id"])


@pytest.fixture(scope="module")
def sketchy() -> pd.DataFrame:
    m = sketchy_like_manifest()
    assert m["class"].nunique() == 125
    return m


def _check_published_21(manifest: pd.DataFrame) -> None:
    result = make_split(manifest, PUBLISHED, seed=0, dataset="sketchy-mini")
    unseen = set(result.classes.loc[result.classes["split"] == "unseen", "class"])
    assert unseen == YELAMARTHI_21
    items = result.items
    test = items[items["split"] == "test"]
    assert (test["domain"] == "sketch").sum() == 525
    assert (test["domain"] == "photo").sum() == 525
    # leakage: no unseen-class item is train or val, every test item is unseen
    assert set(test["class"]) == YELAMARTHI_21
    assert not items[items["class"].isin(YELAMARTHI_21)]["split"].isin({"train", "val"}).any()
    assert result.metrics["counts"]["test"] == {"photo": 525, "sketch": 525}
    assert result.metrics["n_unseen"] == 21 and result.metrics["n_seen"] == 104


def test_published_split_on_sketchy_like_manifest(sketchy: pd.DataFrame) -> None:
    _check_published_21(sketchy)


@pytest.mark.skipif(not SKETCHY_MINI.is_dir(), reason="sketchy-mini not available")
def test_published_split_on_real_sketchy_mini() -> None:
    manifest = folder_manifest(SKETCHY_MINI)
    assert len(manifest) == 6250
    _check_published_21(manifest)
    result = make_split(manifest, OVERLAP, seed=0, dataset="sketchy-mini")
    ov = result.classes.set_index("class")["overlap_split"]
    assert (ov[sorted(YELAMARTHI_21 - {"dolphin"})] == "unseen").all()


def test_overlap_split_on_sketchy_vs_published(sketchy: pd.DataFrame) -> None:
    result = make_split(sketchy, OVERLAP, seed=0, dataset="sketchy-mini")
    cl = result.classes.set_index("class")
    # none of the published 21 is an ImageNet-1K class itself ...
    assert not (cl.loc[sorted(YELAMARTHI_21), "imagenet_relation"] == "exact").any()
    # ... but dolphin has ImageNet-1K hyponyms (killer whale), so the paper's rule sees it
    assert cl.loc["dolphin", "imagenet_relation"] == "hyponym"
    assert cl.loc["dolphin", "split"] == "seen"
    unseen = set(cl.index[cl["split"] == "unseen"])
    assert unseen - YELAMARTHI_21 == {
        "alarm_clock", "bell", "blimp", "chicken", "cup", "deer", "mushroom",
    }  # fmt: skip
    assert YELAMARTHI_21 - unseen == {"dolphin"}
    assert cl.loc["tiger", "imagenet_relation"] == "exact"
    assert (cl.loc["dog", ["wnid", "imagenet_relation"]] == ["n02084071", "hyponym"]).all()
    assert cl.loc["blimp", "imagenet_relation"] == "hypernym"  # seen only with hypernym
    report = result.report
    assert "| dolphin | n02068974 |" in report and "unseen only by overlap: alarm_clock" in report
    assert result.metrics["n_agree_published"] == 125 - 8
    # exact only: every class that is not itself an ImageNet-1K class is unseen
    exact = make_split(sketchy, SplitConfig(overlap_relations=("exact",), semantic="none"), seed=0, dataset="x")
    assert (exact.classes["split"] == "seen").sum() == (cl["imagenet_relation"] == "exact").sum()


def test_outputs_follow_the_contracts(sketchy: pd.DataFrame, tmp_path: Path) -> None:
    result = make_split(sketchy, PUBLISHED, seed=0, dataset="sketchy-mini")
    paths = [tmp_path / p for p in ("classes.parquet", "split.parquet", "r.md")]
    write_split(result, classes_path=paths[0], split_path=paths[1], report_path=paths[2])
    meta, vec = read_vectors(paths[0])
    validate_classes(meta, source="classes.parquet")
    validate_split(read_table(paths[1]), source="split.parquet")
    with pytest.raises(SchemaError, match="split.parquet: column 'split' holds \\['later'\\]"):
        validate_split(read_table(paths[1]).assign(split="later"), source="split.parquet")
    assert list(meta.columns) == [
        "class", "wnid", "wnid_source", "imagenet_relation", "imagenet_synset", "imagenet_hops",
        "split", "semantic_source",
    ]  # fmt: skip
    assert set(meta["wnid_source"]) == {"files"}
    assert vec.shape == (125, 384) and vec.dtype == np.float32 and not vec.any()
    assert meta["imagenet_hops"].dtype == np.int64
    assert (meta.loc[meta["imagenet_relation"] == "none", "imagenet_hops"] == -1).all()
    assert meta.loc[meta["imagenet_relation"] == "none", "imagenet_synset"].isna().all()
    assert set(meta["semantic_source"]) == {"none"}
    items = read_table(paths[1])
    assert list(items.columns) == ["id", "domain", "class", "split"] and len(items) == 6250
    assert result.metrics["counts"]["test"]["sketch"] == 525
    assert "## Computed overlap split vs. published split `sketchy-21`" in paths[2].read_text()


def test_published_list_naming_an_absent_class(sketchy: pd.DataFrame) -> None:
    without_bat = sketchy[sketchy["class"] != "bat"]
    with pytest.raises(PublishedSplitError, match="absent from the manifest: bat"):
        make_split(without_bat, PUBLISHED, seed=0, dataset="sketchy-mini")


def test_dataset_without_published_list(sketchy: pd.DataFrame) -> None:
    with pytest.raises(PublishedSplitError, match="'synthetic' has no published"):
        make_split(sketchy, PUBLISHED, seed=0, dataset="synthetic")
    # the overlap method does not need one
    result = make_split(sketchy, OVERLAP, seed=0, dataset="synthetic")
    assert result.classes["published_split"].isna().all()
    assert "No published split" in result.report
    assert len(published_unseen("sketchy-21")) == 21


def test_deterministic_for_a_seed(sketchy: pd.DataFrame) -> None:
    a = make_split(sketchy, OVERLAP, seed=5, dataset="sketchy-mini")
    b = make_split(sketchy, OVERLAP, seed=5, dataset="sketchy-mini")
    pd.testing.assert_frame_equal(a.items, b.items)
    assert a.report == b.report


def test_runs_without_wordnet_installed(sketchy: pd.DataFrame, monkeypatch) -> None:
    """The committed table covers Sketchy: no live WordNet call is needed."""
    from zsbir.split import wordnet

    def absent():
        raise wordnet.WordNetUnavailable("not installed")

    monkeypatch.setattr(wordnet, "wordnet", absent)
    result = make_split(sketchy, OVERLAP, seed=0, dataset="sketchy-mini")
    assert result.metrics["n_unseen"] == 27


def test_split_without_unseen_or_seen_classes_fails(sketchy: pd.DataFrame) -> None:
    seen_only = sketchy[sketchy["class"].isin(["tiger", "dog"])]
    with pytest.raises(ValueError, match="no unseen class"):
        make_split(seen_only, OVERLAP, seed=0, dataset="x")
    unseen_only = sketchy[sketchy["class"].isin(["bat", "tree"])]
    with pytest.raises(ValueError, match="no seen class"):
        make_split(unseen_only, OVERLAP, seed=0, dataset="x")
