"""Expected file counts of a benchmark: the check for upstreams that publish no checksums.

One tab-separated table per dataset under ``zsbir/data/datasets/tables/`` (``#`` lines hold the
provenance of every number)::

    class      photo   sketch
    *          12500   75471      <- totals of each group
    airplane   100     -          <- per-class count, or '-' where no source gives it

A count written ``~N`` is a rounded published figure (QuickDraw's "330,000 sketches"):
it is met by anything within :data:`APPROX` (5 %) of ``N``, which still catches a
truncated or wrong archive.
The rows name the dataset's complete class list (in canonical spelling); a column is a
*group* of files (``photo``, ``sketch``, ``extended_photo``, ...). Counts are of the files
found in the archives, before duplicates are dropped. ``scripts/count_dataset.py`` prints
such a table from an extracted copy, so per-class counts can be recorded once seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from zsbir.data.base import DatasetError

TOTAL = "*"
UNKNOWN = "-"
APPROX = 0.05


@dataclass(frozen=True)
class Count:
    """An expected number of files, exact or approximate (``~N``)."""

    n: int
    approx: bool = False

    def matches(self, found: int) -> bool:
        return abs(found - self.n) <= APPROX * self.n if self.approx else found == self.n

    def __str__(self) -> str:
        return f"~{self.n} (within {APPROX:.0%})" if self.approx else str(self.n)


@dataclass(frozen=True)
class ExpectedCounts:
    """Expected files per (group, class) and per group, from a counts table."""

    path: Path
    groups: tuple[str, ...]
    classes: tuple[str, ...]
    per_class: Mapping[tuple[str, str], Count]  # (group, class) -> files
    totals: Mapping[str, Count]  # group -> files


def _count(path: Path, lineno: int, text: str) -> Count | None:
    if text == UNKNOWN:
        return None
    digits = text.removeprefix("~")
    if not digits.isdigit():
        raise DatasetError(f"{path}:{lineno}: count {text!r} is not a number, ~number or '-'")
    return Count(int(digits), text.startswith("~"))


def read_expected(path: str | Path) -> ExpectedCounts:
    """Parse a counts table; errors name the file and line."""
    path = Path(path)
    rows = [
        (n, line.split("\t"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if line.strip() and not line.startswith("#")
    ]
    if not rows or rows[0][1][0] != "class":
        raise DatasetError(f"{path}: the first row must be the header 'class<TAB><group>...'")
    groups = tuple(rows[0][1][1:])
    per_class: dict[tuple[str, str], Count] = {}
    totals: dict[str, Count] = {}
    classes: list[str] = []
    for lineno, fields in rows[1:]:
        if len(fields) != len(groups) + 1:
            raise DatasetError(f"{path}:{lineno}: expected {len(groups) + 1} fields, got {fields}")
        name, values = fields[0], fields[1:]
        if name != TOTAL:
            if name in classes:
                raise DatasetError(f"{path}:{lineno}: class {name!r} is listed twice")
            classes.append(name)
        for group, text in zip(groups, values):
            value = _count(path, lineno, text)
            if value is not None and name == TOTAL:
                totals[group] = value
            elif value is not None:
                per_class[group, name] = value
    return ExpectedCounts(path, groups, tuple(classes), per_class, totals)


def count_problems(
    found: Mapping[tuple[str, str], int], expected: ExpectedCounts, groups: tuple[str, ...]
) -> list[str]:
    """Every way the ``(group, class) -> files`` counts of ``groups`` differ from ``expected``."""
    unknown = [g for g in groups if g not in expected.groups]
    if unknown:
        raise DatasetError(f"{expected.path}: no column for group(s) {unknown}")
    problems = []
    for (group, cls), n in sorted(expected.per_class.items()):
        if group in groups and not n.matches(found.get((group, cls), 0)):
            problems.append(
                f"{group} of class {cls!r}: {found.get((group, cls), 0)} files, expected {n}"
            )
    for group, n in expected.totals.items():
        total = sum(v for (g, _), v in found.items() if g == group)
        if group in groups and not n.matches(total):
            problems.append(f"{group}: {total} files in all, expected {n}")
    for group in groups:
        empty = [
            c
            for c in expected.classes
            if found.get((group, c), 0) == 0 and (group, c) not in expected.per_class
        ]
        if empty:
            problems.append(f"{group}: no files for class(es) {', '.join(empty[:5])}")
    return problems


def count_table(found: Mapping[tuple[str, str], int], groups: tuple[str, ...]) -> str:
    """A counts table (the format above) of ``found``, with per-class counts and totals."""
    classes = sorted({c for _, c in found})
    lines = ["class\t" + "\t".join(groups)]
    lines.append(
        TOTAL
        + "\t"
        + "\t".join(str(sum(v for (g, _), v in found.items() if g == group)) for group in groups)
    )
    lines += [c + "\t" + "\t".join(str(found.get((g, c), 0)) for g in groups) for c in classes]
    return "\n".join(lines) + "\n"
