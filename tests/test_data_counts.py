"""Expected-count tables: parsing, exact and approximate counts, the problems reported."""

from pathlib import Path

import pytest

from zsbir.data.acquire.counts import count_problems, count_table, read_expected
from zsbir.data.base import DatasetError

TABLE = """# provenance
class\tphoto\tsketch
*\t~1000\t6
cat\t-\t2
dog\t-\t4
"""


def _table(tmp_path: Path, text: str = TABLE) -> Path:
    path = tmp_path / "t.tsv"
    path.write_text(text)
    return path


def test_parse_exact_unknown_and_approximate(tmp_path: Path) -> None:
    exp = read_expected(_table(tmp_path))
    assert exp.groups == ("photo", "sketch") and exp.classes == ("cat", "dog")
    assert exp.totals["photo"].approx and exp.totals["photo"].n == 1000
    assert ("photo", "cat") not in exp.per_class and exp.per_class["sketch", "dog"].n == 4
    found = {
        ("photo", "cat"): 500,
        ("photo", "dog"): 549,
        ("sketch", "cat"): 2,
        ("sketch", "dog"): 4,
    }
    assert count_problems(found, exp, ("photo", "sketch")) == []  # 1049 is within 5 % of 1000
    found["photo", "dog"] = 551  # 1051: outside
    assert count_problems(found, exp, ("photo", "sketch")) == [
        "photo: 1051 files in all, expected ~1000 (within 5%)"
    ]


def test_problems_name_group_class_and_empty_classes(tmp_path: Path) -> None:
    exp = read_expected(_table(tmp_path))
    found = {("photo", "cat"): 1000, ("sketch", "cat"): 3, ("sketch", "dog"): 4}
    assert count_problems(found, exp, ("photo", "sketch")) == [
        "sketch of class 'cat': 3 files, expected 2",
        "sketch: 7 files in all, expected 6",
        "photo: no files for class(es) dog",
    ]
    assert count_problems(found, exp, ("photo",)) == ["photo: no files for class(es) dog"]
    with pytest.raises(DatasetError, match="no column for group"):
        count_problems(found, exp, ("extended",))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind\tphoto\n", "first row must be the header"),
        ("class\tphoto\ncat\t12a\n", r"t.tsv:2: count '12a'"),
        ("class\tphoto\ncat\t1\t2\n", r"t.tsv:2: expected 2 fields"),
        ("class\tphoto\ncat\t1\ncat\t1\n", "class 'cat' is listed twice"),
    ],
)
def test_bad_tables_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        read_expected(_table(tmp_path, text))


def test_count_table_round_trips(tmp_path: Path) -> None:
    found = {("photo", "cat"): 3, ("sketch", "cat"): 1, ("photo", "dog"): 2}
    exp = read_expected(_table(tmp_path, count_table(found, ("photo", "sketch"))))
    assert exp.totals["photo"].n == 5 and exp.per_class["sketch", "dog"].n == 0
    assert count_problems(found, exp, ("photo",)) == []
