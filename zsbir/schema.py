"""The artifact contracts: the columns every stage's tables carry, and their checks.

One place for the names the stages agree on: the manifest (``data/manifest.parquet``),
the class and item tables of the split, the feature / embedding tables, ``DOMAINS``,
``SPLITS`` and the retrieval metric names that evaluate, the CI gate, the experiment
collection and the paper tables share. One ``validate_*`` function per table; each raises
:class:`SchemaError` (or its subclass :class:`ManifestError`) naming the file, column,
item or class.

Manifest columns (``docs/ARCHITECTURE.md``):

- ``id``: stable string ``<domain>/<class>/<stem>``, e.g. ``photo/airplane/n02691156_10151``;
- ``path``: file path relative to the dataset root ``data/raw/<dataset>/``;
- ``domain``: ``photo`` or ``sketch``;
- ``class``: class name;
- ``wnid``: WordNet 3.0 noun id (``n`` + 8 digits) or null;
- ``pair_id``: for a sketch, the ``id`` of the photo it was drawn from (or null); null for photos.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
import pandas as pd

from zsbir.io import ArtifactError

Domain = Literal["photo", "sketch"]
DOMAINS: tuple[Domain, ...] = ("photo", "sketch")
# unused: a seen-class train item left out by split.train_per_class (no stage reads it)
SPLITS: tuple[str, ...] = ("train", "val", "test", "unused")

MANIFEST_COLUMNS: tuple[str, ...] = ("id", "path", "domain", "class", "wnid", "pair_id")
COLUMNS = MANIFEST_COLUMNS  # the manifest's, under its historical name
WNID_RE = re.compile(r"^n\d{8}$")
# data/split.parquet: one row per item
SPLIT_COLUMNS: tuple[str, ...] = ("id", "domain", "class", "split")
# data/classes.parquet metadata columns, besides the x_sem `vector`
CLASS_COLUMNS: tuple[str, ...] = (
    "class",
    "wnid",
    "wnid_source",
    "imagenet_relation",
    "imagenet_synset",
    "imagenet_hops",
    "split",
    "semantic_source",
)
# data/features/<domain>.parquet, data/pca/<domain>.parquet: `id` + `vector`
FEATURE_COLUMNS: tuple[str, ...] = ("id",)
# data/embeddings/<domain>.parquet: metadata besides `vector`
EMBEDDING_COLUMNS: tuple[str, ...] = ("id", "class", "seen")

# ------------------------------------------------------------------ metric names
# metrics/eval.json, computed by zsbir.retrieval.metrics.RetrievalScores.summary
MAP_ALL = "map_all"
MAP_K = 200  # mAP@K and its normalised variant (Yelamarthi et al. 2018)
PRECISION_KS: tuple[int, ...] = (100, 200)  # P@K
EVAL_METRICS: tuple[str, ...] = (
    MAP_ALL, f"map_{MAP_K}", f"map_{MAP_K}_norm", *(f"p_{k}" for k in PRECISION_KS)
)
GATED_METRICS = EVAL_METRICS  # what the CI gate compares with ci/baselines/*.json
# the columns of the paper's tables, in order, with their printed labels
TABLE_METRICS: dict[str, str] = {
    MAP_ALL: "mAP@all", "p_100": "P@100", f"map_{MAP_K}": f"mAP@{MAP_K}", "p_200": "P@200"
}
GZS = "gzs_"  # prefix of the generalized-setting metrics (eval.also_generalized)


class SchemaError(ArtifactError):
    """An artifact table breaks its contract; the message names the file, column or item."""


class ManifestError(SchemaError):
    """The manifest is malformed; the message names the column, item or class."""


def item_id(domain: str, cls: str, stem: str) -> str:
    """The stable id of an item: ``<domain>/<class>/<stem>``."""
    return f"{domain}/{cls}/{stem}"


def make_manifest(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Build a manifest DataFrame (sorted by id, nulls as ``None``) from row mappings."""
    df = pd.DataFrame(list(rows), columns=list(MANIFEST_COLUMNS))
    df = df.astype(object).where(df.notna(), None)
    return df.sort_values("id", kind="stable").reset_index(drop=True)


def _is_null(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def validate_manifest(
    df: pd.DataFrame, root: str | Path | None = None, *, source: str = "manifest"
) -> pd.DataFrame:
    """Check the manifest contract; return ``df`` unchanged, or raise :class:`ManifestError`.

    The one check of this contract: the dataset builders run it on what they write, the
    split and extract stages on what they read (``source`` names the file in messages).
    Checks: exactly the columns :data:`MANIFEST_COLUMNS`; ``id``/``path``/``domain``/``class`` are
    non-empty strings; ids unique and of the form ``<domain>/<class>/<stem>``; ``domain``
    in :data:`DOMAINS`; ``wnid`` null or ``n`` + 8 digits; photos have no ``pair_id``; a
    sketch's ``pair_id`` is the id of a photo of the same class; every class has at least
    one photo and one sketch; paths are relative, inside the root, and (if ``root`` is
    given) exist there as files.
    """
    def fail(message: str) -> ManifestError:
        return ManifestError(f"{source}: {message}")

    if list(df.columns) != list(COLUMNS):
        missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
        raise fail(
            f"manifest lacks column(s) {missing}" if missing else
            f"manifest columns {list(df.columns)} are not {list(MANIFEST_COLUMNS)}"
        )
    if df.empty:
        raise fail("manifest has no rows")
    for col in ("id", "path", "domain", "class"):
        bad = [v for v in df[col] if _is_null(v) or not isinstance(v, str) or not v]
        if bad:
            raise fail(f"manifest column '{col}' holds a null or non-string: {bad[0]!r}")
    dup = df["id"][df["id"].duplicated()]
    if len(dup):
        raise fail(f"manifest id {dup.iloc[0]!r} occurs more than once")
    photos: dict[str, str] = {}
    rows = list(zip(*(df[c].tolist() for c in MANIFEST_COLUMNS)))
    for rid, path, domain, cls, wnid, pair in rows:
        if domain not in DOMAINS:
            raise fail(f"item {rid!r}: domain {domain!r} is not one of {DOMAINS}")
        if not rid.startswith(f"{domain}/{cls}/") or rid.count("/") != 2:
            raise fail(f"item {rid!r}: id is not '{domain}/{cls}/<stem>'")
        if not _is_null(wnid) and (not isinstance(wnid, str) or not WNID_RE.match(wnid)):
            raise fail(f"item {rid!r} (class {cls!r}): wnid {wnid!r} is not n########")
        pure = PurePosixPath(path)
        if pure.is_absolute() or ".." in pure.parts or "\\" in path:
            raise fail(f"item {rid!r}: path {path!r} is not relative to the dataset root")
        if domain == "photo":
            if not _is_null(pair):
                raise fail(f"photo {rid!r} has a pair_id ({pair!r}); only sketches may")
            photos[rid] = cls
    for rid, _path, domain, cls, _wnid, pair in rows:
        if domain != "sketch" or _is_null(pair):
            continue
        if pair not in photos:
            raise fail(f"sketch {rid!r}: pair_id {pair!r} is not a photo id")
        if photos[pair] != cls:
            raise fail(
                f"sketch {rid!r} (class {cls!r}) pairs photo {pair!r} of another class"
            )
    counts = df.groupby(["class", "domain"]).size().unstack(fill_value=0)
    for domain in DOMAINS:
        col = counts[domain] if domain in counts else pd.Series(0, index=counts.index)
        empty = sorted(col[col == 0].index)
        if empty:
            raise fail(f"class {empty[0]!r} has no {domain} items")
    if root is not None:
        root = Path(root)
        for rid, path in zip(df["id"], df["path"]):
            if not (root / path).is_file():
                raise fail(f"item {rid!r}: file {root / path} does not exist")
    return df


def summarize_manifest(df: pd.DataFrame) -> dict[str, Any]:
    """Counts for ``metrics/download.json``: items, classes, items per domain, sketch pairs."""
    per_domain = df["domain"].value_counts()
    return {
        "n_items": len(df),
        "n_classes": int(df["class"].nunique()),
        "domains": {d: int(per_domain.get(d, 0)) for d in DOMAINS},
        "n_paired_sketches": int(df["pair_id"].notna().sum()),
        "n_wnids": int(df["wnid"].dropna().nunique()),
    }


def validate_split(df: pd.DataFrame, *, source: str = "split") -> pd.DataFrame:
    """Check ``data/split.parquet``: :data:`SPLIT_COLUMNS`, unique ids, known domains/splits."""
    _require(df, SPLIT_COLUMNS, source)
    _unique_ids(df, source)
    for column, allowed in (("domain", DOMAINS), ("split", SPLITS)):
        bad = sorted(set(df[column]) - set(allowed))
        if bad:
            raise SchemaError(f"{source}: column '{column}' holds {bad}; expected {list(allowed)}")
    return df


def validate_classes(df: pd.DataFrame, *, source: str = "classes") -> pd.DataFrame:
    """Check ``data/classes.parquet`` metadata: :data:`CLASS_COLUMNS`, one row per class."""
    _require(df, CLASS_COLUMNS, source)
    dup = df["class"][df["class"].duplicated()]
    if len(dup):
        raise SchemaError(f"{source}: class {dup.iloc[0]!r} occurs more than once")
    return df


def validate_embeddings(
    meta: pd.DataFrame, vectors: np.ndarray, *, source: str = "embeddings"
) -> pd.DataFrame:
    """Check an embedding table: :data:`EMBEDDING_COLUMNS`, bool ``seen``, finite vectors."""
    _require(meta, EMBEDDING_COLUMNS, source)
    if meta["seen"].dtype != bool:
        raise SchemaError(f"{source}: column 'seen' must be bool, got {meta['seen'].dtype}")
    if not np.isfinite(vectors).all():
        raise SchemaError(f"{source}: embeddings hold non-finite values (NaN/inf)")
    return meta


def _require(df: pd.DataFrame, columns: tuple[str, ...], source: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SchemaError(f"{source}: missing column(s) {missing}; need {list(columns)}")


def _unique_ids(df: pd.DataFrame, source: str) -> None:
    dup = df["id"][df["id"].duplicated()]
    if len(dup):
        raise SchemaError(f"{source}: id {dup.iloc[0]!r} occurs more than once")
