"""Benchmark of the benchmark-dataset path at scale: listing, counts, extraction, hashing, split.

Builds a QuickDraw-Extended-shaped zip pair (110 real classes, ``--files`` images in all,
``--kb`` KiB each, stored like JPEG/PNG in the real archives) in a temporary folder, runs
:func:`zsbir.data.acquire.benchmark.build` on it as a ``data.source`` (the code path of every
benchmark: list members, map classes, check counts, extract, parallel SHA-256, dedupe,
manifest), then :func:`zsbir.split.run.make_split` on a manifest of the full QuickDraw size
(534,000 rows: 330k sketches + 204k photos). Prints files/s per phase and the time the
full-size datasets would take at that rate.

Usage: python benchmarks/bench_dataset_scale.py [--files 60000] [--kb 16] [--tmp DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import logging
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from PIL import Image

from zsbir.config import DataConfig, SplitConfig
from zsbir.data.acquire import benchmark
from zsbir.data.datasets import quickdraw
from zsbir.data.acquire.counts import count_table, read_expected
from zsbir.split.run import make_split

T = TypeVar("T")
FULL = {
    "sketchy": 12_500 + 75_481 + 73_002,
    "tuberlin": 20_000 + 204_070,
    "quickdraw": 330_000 + 204_000,
}


def make_archives(root: Path, n_files: int, kb: int) -> tuple[Path, dict[tuple[str, str], int]]:
    """Two zips in QuickDraw's layout; each file a tiny PNG + a unique random tail."""
    classes = read_expected(quickdraw.TABLES / "quickdraw.tsv").classes
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, "PNG")
    payload = np.random.default_rng(0).bytes(kb * 1024)
    counts: dict[tuple[str, str], int] = {}
    per_domain = n_files // 2
    for kind, group in (("sketches", "sketch"), ("images", "photo")):
        with zipfile.ZipFile(root / f"QuickDraw_{kind}_final.zip", "w", zipfile.ZIP_STORED) as zf:
            for i in range(per_domain):
                cls = classes[i % len(classes)]
                ext = "png" if group == "sketch" else "jpg"
                body = buf.getvalue() + i.to_bytes(8, "little") + payload  # unique bytes
                zf.writestr(f"QuickDraw_{kind}_final/{cls}/{i:08d}.{ext}", body)
                counts[group, cls] = counts.get((group, cls), 0) + 1
    return root, counts


def timed(label: str, fn: Callable[[], T], n: int) -> tuple[T, float]:
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    print(f"{label:<42} {seconds:8.1f} s  {n / seconds:10,.0f} files/s")
    return out, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=60_000)
    parser.add_argument("--kb", type=int, default=16)
    parser.add_argument("--tmp", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="  %(message)s")
    logging.getLogger("zsbir.data.acquire.benchmark").setLevel(logging.INFO)  # per-phase times
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        root = Path(tmp)
        (root / "src").mkdir()
        (_, counts), _ = timed(
            "write the test archives",
            lambda: make_archives(root / "src", args.files, args.kb),
            args.files,
        )
        (root / "counts.tsv").write_text(count_table(counts, ("sketch", "photo")))
        bench = dataclasses.replace(quickdraw.benchmark(DataConfig()), counts=root / "counts.tsv")
        (manifest, _), build_s = timed(
            "build: list+count+extract+sha256+manifest",
            lambda: benchmark.build(
                bench, source=str(root / "src"), url=None, out_dir=root / "raw", repo_root=root,
                cache=root / "c", progress=False,
            ),
            args.files,
        )
        print(f"  -> {len(manifest):,} items; size {args.files * args.kb / 1024:,.0f} MiB")
        rate = args.files / build_s
        for name, n in FULL.items():
            print(f"  at this rate, {name} ({n:,} files): {n / rate / 60:.1f} min")
    classes = read_expected(quickdraw.TABLES / "quickdraw.tsv").classes
    n_rows = FULL["quickdraw"]
    ids = np.arange(n_rows)
    domain = np.where(ids < 330_000, "sketch", "photo")
    cls = np.asarray(classes)[ids % len(classes)]
    big = pd.DataFrame(
        {
            "id": [f"{d}/{c}/{i}" for d, c, i in zip(domain, cls, ids)],
            "path": "x",
            "domain": domain,
            "class": cls,
            "wnid": None,
            "pair_id": None,
        }
    )
    cfg = SplitConfig(method="published", semantic="none")
    timed(
        "split of a QuickDraw-size manifest",
        lambda: make_split(big, cfg, seed=0, dataset="quickdraw"),
        n_rows,
    )


if __name__ == "__main__":
    main()
