"""Benchmark of search (prints figures; not a test).

1. FAISS over ``--n`` random unit vectors (default 1,000,000) at the bundle's embedding
   dimension and at 256-d: build time and memory (RSS growth), single-query latency
   p50/p99, 1,000-query batch throughput, for the exact index (``IndexFlatIP``) and the
   approximate one (HNSW, ``zsbir index --kind hnsw``) with its recall@10 against exact.
   Targets (2-core machine): exact p50 <= 25 ms at 64-d; approximate recall@10 >= 0.95
   with p50 <= 2 ms. Random Gaussian vectors are the hardest case for an approximate index
   (no cluster structure); real embeddings are easier.
2. End to end on sketchy-mini photos (``--data`` or ``$ZSBIR_DATA_SOURCE``): ``zsbir index``
   images/s against the bare extractor loop of ``benchmarks/bench_extract.py``
   (``extract_images``) on the same photos in the same run, and the web API's query
   latency (sketch PNG → ranked JSON) p50 over 50 requests.

Usage: python benchmarks/bench_search.py [--bundle models/bundle] [--n 1000000] [--photos 256]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

import faiss
import numpy as np

from zsbir.data.fetch import SOURCE_ENV
from zsbir.features.extract import extract_images
from zsbir.retrieval.index import build_index, search
from zsbir.search.gallery import index_folder
from zsbir.search.retriever import Retriever
from zsbir.search.serve_config import ServeConfig
from zsbir.search.web import create_app, running


def rss_mb() -> float:
    """Resident memory of this process in MB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def latencies(fn, items) -> np.ndarray:  # noqa: ANN001
    out = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - start) * 1000)
    return np.array(out)


def bench_index(n: int, dim: int, n_single: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    gallery = rng.standard_normal((n, dim), dtype=np.float32)  # (N, D)
    queries = rng.standard_normal((1000, dim), dtype=np.float32)  # (Q, D)
    truth = None
    for kind in ("flat", "hnsw"):
        before = rss_mb()
        start = time.perf_counter()
        index = build_index(gallery, kind)
        build_s = time.perf_counter() - start
        grown = rss_mb() - before
        single = latencies(lambda q: search(index, q[None], 10), queries[:n_single])
        start = time.perf_counter()
        _, rows = search(index, queries, 10)
        qps = len(queries) / (time.perf_counter() - start)
        line = (f"  {kind:5s} d={dim:4d}: build {build_s:7.1f} s, +{grown:7.0f} MB RSS, single "
                f"p50 {np.percentile(single, 50):7.2f} ms p99 {np.percentile(single, 99):7.2f} ms,"
                f" batch of 1000: {qps:8.0f} queries/s")
        if kind == "flat":
            truth = rows
        else:
            recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows, truth)])
            line += f", recall@10 {recall:.3f}"
        print(line, flush=True)
        del index


def bench_end_to_end(bundle: Path, data: Path, n_photos: int) -> None:
    photos = sorted((data / "photo").rglob("*.jpg"))[:n_photos]
    sketches = sorted((data / "sketch").rglob("*.png"))[:50]
    work = Path(tempfile.mkdtemp(prefix="bench_search_"))
    try:
        folder = work / "photos"
        for p in photos:
            (folder / p.parent.name).mkdir(parents=True, exist_ok=True)
            os.symlink(p, folder / p.parent.name / p.name)
        retriever = Retriever.load(bundle)
        cfg = retriever.cfg
        extract_images(retriever.extractor, photos[: cfg.batch_size], "photo", cfg,
                       retriever.device, retriever.precision)  # warm-up
        start = time.perf_counter()
        extract_images(retriever.extractor, photos, "photo", cfg, retriever.device,
                       retriever.precision)
        extract_ips = len(photos) / (time.perf_counter() - start)
        start = time.perf_counter()
        index_folder(folder, bundle, work / "index")
        index_ips = len(photos) / (time.perf_counter() - start)
        print(f"  {len(photos)} sketchy-mini photos ({cfg.image_size} px, {retriever.precision}): "
              f"extract_images {extract_ips:.1f} images/s, zsbir index {index_ips:.1f} images/s "
              f"({100 * index_ips / extract_ips:.0f} % of extraction; includes bundle load, "
              f"hashing, FAISS build)", flush=True)
        app = create_app(Retriever.for_index(work / "index"), ServeConfig(k=12))
        with running(app) as url:
            def post(path: Path) -> None:
                req = urllib.request.Request(f"{url}/api/search?k=12", data=path.read_bytes(),
                                             method="POST")
                with urllib.request.urlopen(req, timeout=120) as res:
                    res.read()

            post(sketches[0])  # warm-up
            ms = latencies(post, sketches)
        print(f"  web API sketch -> top-12 JSON over {len(ms)} requests: p50 "
              f"{np.percentile(ms, 50):.0f} ms, p99 {np.percentile(ms, 99):.0f} ms", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=Path("models/bundle"))
    ap.add_argument("--n", type=int, default=1_000_000, help="random gallery vectors")
    ap.add_argument("--single", type=int, default=200, help="single queries timed")
    ap.add_argument("--photos", type=int, default=256, help="sketchy-mini photos indexed")
    ap.add_argument("--data", type=Path, default=os.environ.get(SOURCE_ENV),
                    help=f"sketchy-mini folder (default: ${SOURCE_ENV})")
    args = ap.parse_args()
    dim = Retriever.load(args.bundle).dim
    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}, bundle embedding dim {dim}", flush=True)
    print(f"random gallery of {args.n:,} unit vectors, 1000 queries, top-10:")
    for d in dict.fromkeys((dim, 256)):
        bench_index(args.n, d, args.single)
    if args.data is None or not Path(args.data).is_dir():
        print(f"end to end skipped: no sketchy-mini folder (--data or ${SOURCE_ENV})")
        return
    print("end to end:")
    bench_end_to_end(args.bundle, Path(args.data), args.photos)


if __name__ == "__main__":
    main()
