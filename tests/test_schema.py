"""The manifest contract: validate_manifest accepts good tables and names what is wrong."""

from pathlib import Path

import pandas as pd
import pytest

from zsbir import io
from zsbir.schema import ManifestError
from zsbir.schema import COLUMNS, make_manifest, summarize_manifest, validate_manifest


def _rows() -> list[dict]:
    rows = []
    for cls, wnid in (("cat", "n02121808"), ("giraffe", "n02439033")):
        for n in (1, 2):
            pid = f"photo/{cls}/{wnid}_{n}"
            rows.append(
                {
                    "id": pid,
                    "path": f"photo/{cls}/{wnid}_{n}.jpg",
                    "domain": "photo",
                    "class": cls,
                    "wnid": wnid,
                    "pair_id": None,
                }
            )
            rows.append(
                {
                    "id": f"sketch/{cls}/{wnid}_{n}-1",
                    "path": f"sketch/{cls}/{wnid}_{n}-1.png",
                    "domain": "sketch",
                    "class": cls,
                    "wnid": wnid,
                    "pair_id": pid,
                }
            )
    return rows


def _with(change: dict, index: int = 0) -> pd.DataFrame:
    rows = _rows()
    rows[index] = {**rows[index], **change}
    return make_manifest(rows)


def test_valid_manifest_passes_and_survives_parquet(tmp_path: Path) -> None:
    df = make_manifest(_rows())
    assert list(df.columns) == list(COLUMNS)
    assert df["id"].tolist() == sorted(df["id"])
    validate_manifest(df)
    io.write_table(df, tmp_path / "m.parquet")
    back = io.read_table(tmp_path / "m.parquet")
    validate_manifest(back)  # nulls read back from Parquet still count as null
    assert back["pair_id"].isna().sum() == 4


def test_summary_counts() -> None:
    rows = _rows() + [
        {
            "id": "sketch/cat/n02121808_1-2",
            "path": "sketch/cat/x.png",
            "domain": "sketch",
            "class": "cat",
            "wnid": None,
            "pair_id": None,
        }
    ]
    summary = summarize_manifest(validate_manifest(make_manifest(rows)))
    assert summary == {
        "n_items": 9,
        "n_classes": 2,
        "domains": {"photo": 4, "sketch": 5},
        "n_paired_sketches": 4,
        "n_wnids": 2,
    }


@pytest.mark.parametrize(
    ("change", "index", "message"),
    [
        ({"domain": "drawing", "id": "drawing/cat/n02121808_1"}, 0, "domain 'drawing'"),
        ({"wnid": "02121808"}, 0, "wnid '02121808'"),
        ({"pair_id": "photo/cat/n02121808_2"}, 0, "photo 'photo/cat/n02121808_1' has a pair_id"),
        ({"pair_id": "photo/cat/n02121808_9"}, 1, "pair_id 'photo/cat/n02121808_9' is not a photo"),
        ({"pair_id": "photo/giraffe/n02439033_1"}, 1, "of another class"),
        ({"path": "/abs/x.jpg"}, 0, "not relative"),
        ({"path": "../x.jpg"}, 0, "not relative"),
        ({"id": "photo/dog/n02121808_1"}, 0, "is not 'photo/cat/<stem>'"),
        ({"class": None}, 0, "column 'class' holds a null"),
    ],
)
def test_bad_rows_are_named(change: dict, index: int, message: str) -> None:
    with pytest.raises(ManifestError, match=message.replace("(", r"\(")):
        validate_manifest(_with(change, index))


def test_duplicate_id_and_wrong_columns() -> None:
    rows = _rows()
    with pytest.raises(ManifestError, match="occurs more than once"):
        validate_manifest(make_manifest(rows + [rows[0]]))
    with pytest.raises(ManifestError, match=r"lacks column\(s\) \[.wnid.\]"):
        validate_manifest(make_manifest(rows).drop(columns=["wnid"]))


def test_class_without_sketches_is_named() -> None:
    rows = [r for r in _rows() if not (r["class"] == "giraffe" and r["domain"] == "sketch")]
    with pytest.raises(ManifestError, match="class 'giraffe' has no sketch items"):
        validate_manifest(make_manifest(rows))


def test_missing_file_under_root_is_named(tmp_path: Path) -> None:
    df = make_manifest(_rows())
    for path in df["path"][1:]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"x")
    with pytest.raises(ManifestError, match=f"file {tmp_path / df['path'][0]} does not exist"):
        validate_manifest(df, tmp_path)
    (tmp_path / df["path"][0]).write_bytes(b"x")
    validate_manifest(df, tmp_path)
