"""The sketchy-synthetic plan: Sketchy-Extended's classes and exact counts, Sketchy's pairing."""

from __future__ import annotations

from pathlib import Path

from zsbir.data.acquire.counts import read_expected
from zsbir.data.datasets import sketchy_synthetic as S
from zsbir.data.synthetic.generate import generate_plan
from zsbir.schema import item_id
from zsbir.split.published import published_unseen


def test_plan_has_sketchy_extended_counts_and_classes() -> None:
    plan = S.plan()
    table = read_expected(S.COUNTS)
    assert [p.name for p in plan] == list(table.classes) and len(plan) == 125
    assert sum(len(p.sketches) for p in plan) == 73_002  # photos, incl. the extended ones
    assert sum(sum(p.sketches) for p in plan) == 75_481
    assert set(published_unseen("sketchy-21")) <= {p.name for p in plan}
    for p in plan:  # only the first 100 photos (Sketchy's originals) have sketches
        assert all(k > 0 for k in p.sketches[: S.ORIGINALS])
        assert all(k == 0 for k in p.sketches[S.ORIGINALS :])
        assert max(p.sketches) - min(p.sketches[: S.ORIGINALS]) <= 1


def test_spread_is_exact_and_even() -> None:
    assert S.spread(7, 3) == [3, 2, 2]
    assert sum(S.spread(75_481, 125)) == 75_481


def test_generated_files_follow_the_plan(tmp_path: Path) -> None:
    entry = S.plan()[30]  # a class past the 24 recipes: recipe 30 mod 24, own streams
    small = S.ClassPlan(entry.name, entry.cls, entry.index, (2, 0, 1))
    manifest = generate_plan([small], 0, 32, tmp_path / "raw")
    assert (manifest["domain"] == "photo").sum() == 3
    sketches = manifest[manifest["domain"] == "sketch"]
    assert len(sketches) == 3 and set(manifest["class"]) == {entry.name}
    stem = entry.cls.wnid
    assert sketches["pair_id"].value_counts().to_dict() == {
        item_id("photo", entry.name, f"{stem}_1"): 2,
        item_id("photo", entry.name, f"{stem}_3"): 1,
    }
