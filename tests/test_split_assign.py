"""Item split: no unseen-class leakage, sketches follow their photos, determinism, errors."""

from __future__ import annotations

import pandas as pd
import pytest

from zsbir.schema import MANIFEST_COLUMNS, ManifestError, validate_manifest
from zsbir.split.assign import assign_items


def toy_manifest(n_classes: int = 4, photos: int = 20, sketches: int = 2, unpaired: int = 5):
    """``n_classes`` classes c0.., each with photos, paired sketches and unpaired sketches."""
    rows = []
    for c in range(n_classes):
        cls = f"c{c}"
        for p in range(photos):
            pid = f"photo/{cls}/{p}"
            rows.append((pid, "photo", cls, None))
            rows += [(f"sketch/{cls}/{p}-{k}", "sketch", cls, pid) for k in range(sketches)]
        rows += [(f"sketch/{cls}/u{u}", "sketch", cls, None) for u in range(unpaired)]
    df = pd.DataFrame(rows, columns=["id", "domain", "class", "pair_id"])
    df["path"] = df["id"] + ".png"
    df["wnid"] = None
    return df[list(MANIFEST_COLUMNS)]


def test_unseen_classes_are_only_test_and_seen_never_test() -> None:
    m = toy_manifest()
    out = assign_items(m, {"c1", "c3"}, val_fraction=0.25, seed=0)
    assert list(out.columns) == ["id", "domain", "class", "split"]
    assert out["id"].tolist() == m["id"].tolist()
    unseen = out["class"].isin({"c1", "c3"})
    assert (out.loc[unseen, "split"] == "test").all()
    assert out.loc[~unseen, "split"].isin({"train", "val"}).all()


def test_sketches_follow_photos_and_val_fraction_per_class() -> None:
    m = toy_manifest()
    out = assign_items(m, set(), val_fraction=0.25, seed=3).set_index("id")
    paired = m[m["pair_id"].notna()]
    sketch_split = out.loc[paired["id"], "split"].to_numpy()
    assert (sketch_split == out.loc[paired["pair_id"], "split"].to_numpy()).all()
    photos = out[out["domain"] == "photo"]
    per_class = photos.groupby("class")["split"].apply(lambda s: int((s == "val").sum()))
    assert per_class.tolist() == [5, 5, 5, 5]  # round(0.25 * 20)
    # train and val share no photo instance: every instance key maps to one split
    inst = m["pair_id"].fillna(m["id"])
    by_instance = out.loc[m["id"]].assign(inst=inst.to_numpy()).groupby("inst")["split"]
    assert by_instance.nunique().max() == 1


def test_deterministic_for_a_seed_and_varies_with_it() -> None:
    m = toy_manifest()
    a = assign_items(m, {"c0"}, 0.3, seed=7)
    b = assign_items(m.sample(frac=1.0, random_state=1), {"c0"}, 0.3, seed=7)
    c = assign_items(m, {"c0"}, 0.3, seed=8)
    key = ["id", "split"]
    pd.testing.assert_frame_equal(
        a[key].sort_values("id").reset_index(drop=True),
        b[key].sort_values("id").reset_index(drop=True),
    )
    assert not a["split"].equals(c["split"])


def test_unpaired_sketches_split_by_own_id() -> None:
    m = toy_manifest(n_classes=1, photos=4, sketches=0, unpaired=400)
    out = assign_items(m, set(), 0.25, seed=0)
    sk = out[out["domain"] == "sketch"]
    frac = (sk["split"] == "val").mean()
    assert 0.17 < frac < 0.33  # Binomial(400, 0.25): 4 standard deviations
    again = assign_items(m.iloc[::-1], set(), 0.25, seed=0).set_index("id").loc[out["id"]]
    assert (again["split"].to_numpy() == out["split"].to_numpy()).all()


def test_zero_val_fraction_and_single_photo_class() -> None:
    m = toy_manifest(n_classes=2, photos=1, sketches=1, unpaired=0)
    out = assign_items(m, set(), 0.9, seed=0)
    assert (out["split"] == "train").all()  # one photo per class always stays train
    assert (assign_items(toy_manifest(), set(), 0.0, 0)["split"] == "train").all()
    with pytest.raises(ValueError, match="val_fraction"):
        assign_items(m, set(), 1.0, 0)


def test_bad_manifests_name_the_item() -> None:
    m = toy_manifest(n_classes=2, photos=2, sketches=1, unpaired=0)
    dangling = m.copy()
    dangling.loc[dangling["id"] == "sketch/c0/0-0", "pair_id"] = "photo/c0/missing"
    with pytest.raises(ManifestError, match="sketch/c0/0-0.*photo/c0/missing"):
        validate_manifest(dangling)
    crossed = m.copy()
    crossed.loc[crossed["id"] == "sketch/c0/0-0", "pair_id"] = "photo/c1/0"
    with pytest.raises(ManifestError, match="sketch/c0/0-0"):
        validate_manifest(crossed)
    dup = pd.concat([m, m.iloc[:1]])
    with pytest.raises(ManifestError, match="photo/c0/0"):
        validate_manifest(dup)
    with pytest.raises(ManifestError, match="pair_id"):
        validate_manifest(m.drop(columns=["pair_id"]))
    odd = m.copy()
    odd.loc[0, "domain"] = "painting"
    with pytest.raises(ManifestError, match="painting"):
        validate_manifest(odd)
