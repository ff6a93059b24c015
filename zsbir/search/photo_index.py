"""An index folder as written by ``zsbir index`` (:mod:`zsbir.search.gallery`), opened for search.

``INDEX_DIR/index.json`` names the format, the bundle fingerprint, the photo folder and
the FAISS index spec (``index_params``, a :class:`zsbir.config.IndexSpec` with its
defaults resolved); :class:`PhotoIndex` checks them and ranks photos for query embeddings.
Both :mod:`zsbir.search.retriever` and :mod:`zsbir.search.gallery` import this module; it
imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from zsbir import io
from zsbir.config import IndexSpec
from zsbir.retrieval.index import load_index, search

FORMAT = "zsbir-index-v1"
META, TABLE, FAISS, PARTS = "index.json", "photos.parquet", "faiss.index", "parts"


class GalleryError(ValueError):
    """Bad photo folder or index folder; the message names it and says the fix."""


@dataclass(frozen=True)
class Hit:
    """A search result: ``path`` relative to the indexed folder, cosine ``score``, ``rank`` >= 1."""

    rank: int
    score: float
    path: str

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "score": self.score, "path": self.path}


def read_meta(root: Path) -> dict[str, Any] | None:
    """``index.json`` of ``root`` (None when absent); a foreign format is an error."""
    path = root / META
    if not path.is_file():
        return None
    meta = io.read_json(path)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise GalleryError(f"{path}: not a {FORMAT} index file")
    return meta


def check_fingerprint(root: Path, found: str, expected: str | None) -> None:
    """Refuse an index (or its parts) made by a bundle other than ``expected``."""
    if expected is not None and found != expected:
        raise GalleryError(
            f"{root}: this index was built by bundle {found[:12]}…, not by the bundle given "
            f"({expected[:12]}…); query it with its own bundle or index into a new --out folder"
        )


def index_spec(meta: dict[str, Any]) -> IndexSpec:
    """The spec recorded in ``index.json`` (indexes written before ``index_params``: kind only)."""
    return IndexSpec(**meta.get("index_params", {"kind": meta.get("kind", "flat")}))


@dataclass(frozen=True)
class PhotoIndex:
    """A loaded index folder: table rows (path, sha256), vectors and the FAISS index."""

    root: Path
    meta: dict[str, Any]
    table: pd.DataFrame
    vectors: np.ndarray  # (N, E) float32
    faiss_index: Any

    @property
    def photo_root(self) -> Path:
        return Path(self.meta["photo_root"])

    @classmethod
    def load(cls, root: str | Path, fingerprint: str | None = None) -> PhotoIndex:
        """Open ``root``; with ``fingerprint``, refuse an index built by another bundle."""
        root = Path(root)
        meta = read_meta(root)
        if meta is None:
            raise GalleryError(f"{root}: not a zsbir index (no {META}); run `zsbir index`")
        check_fingerprint(root, meta["bundle_fingerprint"], fingerprint)
        if io.file_sha256(root / TABLE) != meta["table_sha256"]:
            raise GalleryError(f"{root / TABLE}: content differs from {META}; re-run `zsbir index`")
        table, vectors = io.read_vectors(root / TABLE)
        index = load_index(root / FAISS, index_spec(meta))
        if index.ntotal != len(table):
            raise GalleryError(f"{root}: {FAISS} holds {index.ntotal} rows, {TABLE} {len(table)}")
        return cls(root, meta, table, vectors, index)

    def rank(self, queries: np.ndarray, k: int) -> list[list[Hit]]:
        """Top ``k`` photos of each query embedding (Q, E), best first."""
        scores, rows = search(self.faiss_index, queries, k)  # (Q, k), (Q, k)
        paths = self.table["path"].to_numpy()
        return [
            [Hit(r + 1, float(s), str(paths[i])) for r, (s, i) in enumerate(zip(srow, irow))
             if i >= 0]  # FAISS pads with -1 when fewer than k
            for srow, irow in zip(scores, rows)
        ]

    def file(self, path: str) -> Path:
        """The file of an indexed ``path``; anything not in the table is refused."""
        hits = self.table.index[self.table["path"] == path]
        if len(hits) == 0:
            raise KeyError(path)
        return self.photo_root / str(self.table["path"].iloc[hits[0]])
