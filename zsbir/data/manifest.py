"""The image manifest: one row per photo or sketch, its schema, and its validation.

Columns (``docs/ARCHITECTURE.md``):

- ``id``: stable string ``<domain>/<class>/<stem>``, e.g. ``photo/airplane/n02691156_10151``;
- ``path``: file path relative to the dataset root ``data/raw/<dataset>/``;
- ``domain``: ``photo`` or ``sketch``;
- ``class``: class name;
- ``wnid``: WordNet 3.0 noun id (``n`` + 8 digits) or null;
- ``pair_id``: for a sketch, the ``id`` of the photo it was drawn from (or null); null for photos.

:func:`validate_manifest` is the one place that checks this contract; later stages call it
on the table they read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

COLUMNS: tuple[str, ...] = ("id", "path", "domain", "class", "wnid", "pair_id")
DOMAINS: tuple[str, ...] = ("photo", "sketch")
WNID_RE = re.compile(r"^n\d{8}$")


class DatasetError(ValueError):
    """A dataset, its source or its manifest is bad; the message names the file or class."""


def item_id(domain: str, cls: str, stem: str) -> str:
    """The stable id of an item: ``<domain>/<class>/<stem>``."""
    return f"{domain}/{cls}/{stem}"


def make_manifest(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Build a manifest DataFrame (sorted by id, nulls as ``None``) from row mappings."""
    df = pd.DataFrame(list(rows), columns=list(COLUMNS))
    df = df.astype(object).where(df.notna(), None)
    return df.sort_values("id", kind="stable").reset_index(drop=True)


def _is_null(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def validate_manifest(df: pd.DataFrame, root: str | Path | None = None) -> pd.DataFrame:
    """Check the manifest contract; return ``df`` unchanged, or raise :class:`DatasetError`.

    Checks: exactly the columns :data:`COLUMNS`; ``id``/``path``/``domain``/``class`` are
    non-empty strings; ids unique and of the form ``<domain>/<class>/<stem>``; ``domain``
    in :data:`DOMAINS`; ``wnid`` null or ``n`` + 8 digits; photos have no ``pair_id``; a
    sketch's ``pair_id`` is the id of a photo of the same class; every class has at least
    one photo and one sketch; paths are relative, inside the root, and (if ``root`` is
    given) exist there as files.
    """
    if list(df.columns) != list(COLUMNS):
        raise DatasetError(f"manifest columns {list(df.columns)} are not {list(COLUMNS)}")
    if df.empty:
        raise DatasetError("manifest has no rows")
    for col in ("id", "path", "domain", "class"):
        bad = [v for v in df[col] if _is_null(v) or not isinstance(v, str) or not v]
        if bad:
            raise DatasetError(f"manifest column '{col}' holds a null or non-string: {bad[0]!r}")
    dup = df["id"][df["id"].duplicated()]
    if len(dup):
        raise DatasetError(f"manifest id {dup.iloc[0]!r} occurs more than once")
    photos: dict[str, str] = {}
    rows = list(zip(*(df[c].tolist() for c in COLUMNS)))
    for rid, path, domain, cls, wnid, pair in rows:
        if domain not in DOMAINS:
            raise DatasetError(f"item {rid!r}: domain {domain!r} is not one of {DOMAINS}")
        if not rid.startswith(f"{domain}/{cls}/") or rid.count("/") != 2:
            raise DatasetError(f"item {rid!r}: id is not '{domain}/{cls}/<stem>'")
        if not _is_null(wnid) and (not isinstance(wnid, str) or not WNID_RE.match(wnid)):
            raise DatasetError(f"item {rid!r} (class {cls!r}): wnid {wnid!r} is not n########")
        pure = PurePosixPath(path)
        if pure.is_absolute() or ".." in pure.parts or "\\" in path:
            raise DatasetError(f"item {rid!r}: path {path!r} is not relative to the dataset root")
        if domain == "photo":
            if not _is_null(pair):
                raise DatasetError(f"photo {rid!r} has a pair_id ({pair!r}); only sketches may")
            photos[rid] = cls
    for rid, _path, domain, cls, _wnid, pair in rows:
        if domain != "sketch" or _is_null(pair):
            continue
        if pair not in photos:
            raise DatasetError(f"sketch {rid!r}: pair_id {pair!r} is not a photo id")
        if photos[pair] != cls:
            raise DatasetError(
                f"sketch {rid!r} (class {cls!r}) pairs photo {pair!r} of another class"
            )
    counts = df.groupby(["class", "domain"]).size().unstack(fill_value=0)
    for domain in DOMAINS:
        col = counts[domain] if domain in counts else pd.Series(0, index=counts.index)
        empty = sorted(col[col == 0].index)
        if empty:
            raise DatasetError(f"class {empty[0]!r} has no {domain} items")
    if root is not None:
        root = Path(root)
        for rid, path in zip(df["id"], df["path"]):
            if not (root / path).is_file():
                raise DatasetError(f"item {rid!r}: file {root / path} does not exist")
    return df


def summarize(df: pd.DataFrame) -> dict[str, Any]:
    """Counts for ``metrics/download.json``: items, classes, items per domain, sketch pairs."""
    per_domain = df["domain"].value_counts()
    return {
        "n_items": len(df),
        "n_classes": int(df["class"].nunique()),
        "domains": {d: int(per_domain.get(d, 0)) for d in DOMAINS},
        "n_paired_sketches": int(df["pair_id"].notna().sum()),
        "n_wnids": int(df["wnid"].dropna().nunique()),
    }
