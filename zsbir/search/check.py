"""The product path equals the evaluation path (issue 14, §4).

:func:`check_product` indexes the evaluate stage's gallery (the test photos of
``data/split.parquet``, files from ``data/raw/<dataset>``) with ``zsbir index``'s code, queries
every test sketch through :class:`~zsbir.search.retriever.Retriever`, computes mAP@all from
the served rankings with the project's metric code (tie-aware AP of
:mod:`zsbir.retrieval.metrics`) and compares it with ``metrics/eval.json``'s ``map_all``. A
sample of sketches also goes through the ``zsbir query`` CLI (and the HTTP API when a
server URL is given); their rankings must equal the Python API's.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from zsbir import io
from zsbir.embed import select_items
from zsbir.retrieval.metrics import threshold_precision, tied_average_precision
from zsbir.search.gallery import index_folder
from zsbir.search.photo_index import Hit
from zsbir.search.retriever import Retriever

log = logging.getLogger(__name__)

TOLERANCE = 1e-6
QUERY_BATCH = 256


class ProductMismatch(AssertionError):
    """The served rankings disagree with the evaluation (message gives the numbers)."""


@dataclass(frozen=True)
class CheckInputs:
    """The pipeline's artifacts the check reads."""

    split: Path  # data/split.parquet
    manifest: Path  # data/manifest.parquet
    image_root: Path  # data/raw/<dataset>
    metrics: Path  # metrics/eval.json
    bundle: Path  # models/bundle
    generalized: bool = False  # eval.generalized


def link_gallery(inputs: CheckInputs, photo_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Symlink the gallery photos into ``photo_dir`` (manifest layout); ``(queries, gallery)``.

    Both frames have columns ``path`` (relative to the image root) and ``class``.
    """
    split = io.read_table(inputs.split, columns=["id", "domain", "class", "split"])
    manifest = io.read_table(inputs.manifest, columns=["id", "path"]).set_index("id")["path"]
    frames = []
    for domain, generalized in (("sketch", False), ("photo", inputs.generalized)):
        items = select_items(split, domain, generalized)
        frames.append(pd.DataFrame({"path": manifest.loc[items["id"]].to_numpy(),
                                    "class": items["class"].to_numpy()}))
    for rel in frames[1]["path"]:
        link = photo_dir / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            os.symlink((inputs.image_root / rel).resolve(), link)
    return frames[0], frames[1]


def average_precisions(
    rankings: Sequence[Sequence[Hit]], query_classes: Sequence[str], photo_class: dict[str, str]
) -> np.ndarray:
    """Tie-aware AP@all of each full ranking (the metric code of the evaluate stage). (Q,)."""
    out = np.empty(len(rankings))
    for q, (hits, cls) in enumerate(zip(rankings, query_classes)):
        scores = np.array([h.score for h in hits], dtype=np.float32)  # (N,)
        relevant = np.array([photo_class[h.path] == cls for h in hits])  # (N,)
        ascending = np.sort(scores)[None]  # (1, N)
        rel_ascending = np.sort(scores[relevant])[None]  # (1, R)
        precision, _ = threshold_precision(ascending, rel_ascending)  # (1, R)
        out[q] = tied_average_precision(precision)[0]
    return out


def cli_rankings(index: Path, sketches: Sequence[Path], k: int) -> list[list[Hit]]:
    """Rankings printed by ``zsbir query --json`` (one process per sketch, as a user runs it)."""
    out = []
    for sketch in sketches:
        cmd = [sys.executable, "-m", "zsbir.search.cli", "query", str(sketch), "--index",
               str(index), "-k", str(k), "--json"]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ProductMismatch(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-2000:]}")
        results = json.loads(proc.stdout)["results"]
        out.append([Hit(r["rank"], r["score"], r["path"]) for r in results])
    return out


def http_rankings(url: str, sketches: Sequence[Path], k: int) -> list[list[Hit]]:
    """Rankings answered by ``POST {url}/api/search`` (the web page's API)."""
    out = []
    for sketch in sketches:
        request = urllib.request.Request(
            f"{url}/api/search?k={k}", data=sketch.read_bytes(),
            headers={"Content-Type": "application/octet-stream"}, method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                results = json.loads(response.read())["results"]
        except urllib.error.HTTPError as err:
            detail = err.read()[:500]
            raise ProductMismatch(f"POST {url}/api/search: {err.code} {detail!r}") from err
        out.append([Hit(r["rank"], r["score"], r["path"]) for r in results])
    return out


def check_product(
    inputs: CheckInputs,
    work: Path,
    n_sample: int = 3,
    http: Callable[[Path], str] | None = None,
) -> dict[str, Any]:
    """Index the gallery into ``work``, serve every query, compare; returns the report.

    ``http``: given the index folder, starts a server and returns its base URL (the
    caller stops it). Raises :class:`ProductMismatch` on any disagreement.
    """
    photo_dir, index_dir = work / "photos", work / "index"
    queries, gallery = link_gallery(inputs, photo_dir)
    index_folder(photo_dir, inputs.bundle, index_dir)
    retriever = Retriever.load(inputs.bundle, index=index_dir)
    n = len(gallery)
    sketches = [inputs.image_root / p for p in queries["path"]]
    rankings: list[list[Hit]] = []
    for i in tqdm(range(0, len(sketches), QUERY_BATCH), desc="served queries", unit="batch"):
        rankings += retriever.search_many(sketches[i : i + QUERY_BATCH], n)
    photo_class = dict(zip(gallery["path"], gallery["class"]))
    ap = average_precisions(rankings, queries["class"].tolist(), photo_class)
    expected = float(io.read_json(inputs.metrics)["map_all"])
    report: dict[str, Any] = {
        "n_queries": len(sketches), "n_gallery": n, "map_all_served": float(ap.mean()),
        "map_all_eval": expected, "abs_diff": abs(float(ap.mean()) - expected),
    }
    sample = list(np.linspace(0, len(sketches) - 1, min(n_sample, len(sketches))).astype(int))
    channels = {"cli": lambda s: cli_rankings(index_dir, s, n)}
    if http is not None:
        from zsbir.search.web import MAX_K

        url = http(index_dir)
        channels["http"] = lambda s: http_rankings(url, s, min(n, MAX_K))
    for name, rank in channels.items():
        got = rank([sketches[i] for i in sample])
        same = all(_same(a, rankings[i][: len(a)]) for a, i in zip(got, sample))
        report[f"{name}_equal"] = same
        report[f"{name}_queries"] = len(sample)
    log.info("product check: %s", report)
    if report["abs_diff"] > TOLERANCE or not all(report[f"{c}_equal"] for c in channels):
        raise ProductMismatch(f"served rankings disagree with the evaluation: {report}")
    return report


def _same(a: Sequence[Hit], b: Sequence[Hit]) -> bool:
    """Equal rankings: scores equal rank by rank (to 1e-6) and each rank holds the same path,
    unless the two photos swapped there are tied within 1e-6 (float rounding of a batch)."""
    if len(a) != len(b):
        return False
    sa, sb = np.array([h.score for h in a]), np.array([h.score for h in b])
    if not np.allclose(sa, sb, rtol=0, atol=TOLERANCE):
        return False
    where = {h.path: i for i, h in enumerate(b)}
    return all(
        h.path == b[i].path or (h.path in where and abs(sb[where[h.path]] - sa[i]) <= TOLERANCE)
        for i, h in enumerate(a)
    )
