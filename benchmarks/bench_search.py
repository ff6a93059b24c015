"""Benchmark of search (prints figures; not a test).

1. Every index kind of ``zsbir index --kind`` (``flat``, ``sq8``, ``ivf``, ``hnsw``;
   :mod:`zsbir.retrieval.index` with its default parameters) over ``--n`` vectors (default
   1,000,000) at the embedding dimension: build time, index memory (its serialised size),
   single-query latency p50/p99, 1,000-query batch throughput and recall@10 against the
   exact ``flat`` ranking, on two galleries:

   a. isotropic noise: random unit vectors (no neighbourhood structure, the worst case);
   b. clustered: vectors drawn around the trained model's own class embeddings with their
      real spread (``--embeddings``, the embed stage's ``data/embeddings/photo.parquet``):
      per class, a Gaussian with the class's empirical mean and covariance of the real
      photo embeddings, plus isotropic noise of 10 % of the class's mean per-dimension
      variance (the empirical covariance has rank n_c - 1 only). Queries are drawn the same
      way from ``--queries`` (the sketch embeddings) when given, else from the photos.
      Without ``--embeddings``, a synthetic clustered set (100 classes) stands in.

   ``hnsw`` is built over the first ``--hnsw-n`` vectors only (its build is the slow
   part); its recall is against ``flat`` on that same subset. A Markdown table closes.
2. End to end on sketchy-mini photos (``--data`` or ``$ZSBIR_DATA_SOURCE``): ``zsbir index``
   images/s against the bare extractor loop of ``benchmarks/bench_extract.py``
   (``extract_images``) on the same photos in the same run, and the web API's query
   latency (sketch PNG → ranked JSON) p50 over 50 requests.

Usage: python benchmarks/bench_search.py [--bundle models/bundle] [--n 1000000]
       [--hnsw-n 200000] [--embeddings data/embeddings/photo.parquet]
       [--queries data/embeddings/sketch.parquet] [--photos 256] [--data DIR]
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

from zsbir.data.acquire.fetch import SOURCE_ENV
from zsbir.features.extract import extract_images
from zsbir import io
from zsbir.config import IndexSpec
from zsbir.retrieval.index import KINDS, build_index, search
from zsbir.search.gallery import index_folder
from zsbir.search.retriever import Retriever
from zsbir.search.serve_config import ServeConfig
from zsbir.search.web import create_app, running


def latencies(fn, items) -> np.ndarray:  # noqa: ANN001
    out = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - start) * 1000)
    return np.array(out)


def class_draws(x: np.ndarray, classes: np.ndarray, n: int, rng: np.random.Generator
                ) -> np.ndarray:
    """``n`` vectors (n, D) around the classes of ``x`` (M, D), each with its real spread.

    Class c (chosen in proportion to its size n_c) gives ``mu_c + w R_c / sqrt(n_c - 1) +
    e``: ``R_c`` (n_c, D) the residuals of its members, ``w ~ N(0, I)``, so the draws have
    the class's empirical covariance; ``e`` isotropic with 10 % of its mean variance.
    """
    names, inverse = np.unique(classes, return_inverse=True)
    which = rng.choice(len(x), n)  # (n,) a real member picks the class: proportional to n_c
    out = np.empty((n, x.shape[1]), np.float32)  # (n, D)
    for c in range(len(names)):
        members = x[inverse == c].astype(np.float64)  # (n_c, D)
        rows = np.flatnonzero(inverse[which] == c)
        mu = members.mean(axis=0)  # (D,)
        resid = members - mu  # (n_c, D)
        scale = 1 / np.sqrt(max(len(members) - 1, 1))
        noise = np.sqrt(0.1 * resid.var(axis=0).mean())
        w = rng.standard_normal((len(rows), len(members)))  # (n_rows, n_c)
        e = noise * rng.standard_normal((len(rows), x.shape[1]))  # (n_rows, D)
        out[rows] = mu + scale * (w @ resid) + e
    return out


def galleries(args: argparse.Namespace, dim: int, rng: np.random.Generator
              ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{name: (gallery (N, D), queries (1000, D))}``: isotropic noise and clustered."""
    noise = (rng.standard_normal((args.n, dim), dtype=np.float32),
             rng.standard_normal((1000, dim), dtype=np.float32))
    if args.embeddings is not None and Path(args.embeddings).is_file():
        meta, x = io.read_vectors(args.embeddings)  # (M, D)
        q_meta, q = (io.read_vectors(args.queries) if args.queries is not None
                     else (meta, x))
        name = f"clustered ({len(np.unique(meta['class']))} classes of {args.embeddings})"
    else:
        centres = rng.standard_normal((100, dim))  # (100, D)
        x = centres[np.repeat(np.arange(100), 24)] + 0.8 * rng.standard_normal((2400, dim))
        meta = {"class": np.repeat(np.arange(100), 24)}
        q_meta, q = meta, x
        name = "clustered (synthetic: 100 classes, no --embeddings)"
    clustered = (class_draws(x, np.asarray(meta["class"]), args.n, rng),
                 class_draws(q, np.asarray(q_meta["class"]), 1000, rng))
    return {"noise": noise, name: clustered}


def bench_kind(kind: str, gallery: np.ndarray, queries: np.ndarray, n_single: int
               ) -> dict[str, float | np.ndarray]:
    """Build and time one index kind; ``rows`` is its batch top-10 (for recall)."""
    start = time.perf_counter()
    index = build_index(gallery, IndexSpec(kind))  # type: ignore[arg-type]
    build_s = time.perf_counter() - start
    memory_mb = len(faiss.serialize_index(index)) / 2**20
    search(index, queries[:20], 10)  # warm-up: page in the index
    single = latencies(lambda q: search(index, q[None], 10), queries[:n_single])
    start = time.perf_counter()
    _, rows = search(index, queries, 10)
    qps = len(queries) / (time.perf_counter() - start)
    extra = f"nlist {index.nlist}, nprobe {index.nprobe}" if kind == "ivf" else ""
    return {"build_s": build_s, "memory_mb": memory_mb, "p50": np.percentile(single, 50),
            "p99": np.percentile(single, 99), "qps": qps, "rows": rows, "extra": extra}


def recall_at_10(rows: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows, truth)]))


def bench_index(args: argparse.Namespace, dim: int) -> None:
    rng = np.random.default_rng(0)
    results: dict[str, dict[str, dict]] = {}
    for name, (gallery, queries) in galleries(args, dim, rng).items():
        print(f"{name}: {len(gallery):,} x {dim}-d, 1000 queries, top-10", flush=True)
        results[name] = {}
        for kind in KINDS:
            n = min(args.hnsw_n, len(gallery)) if kind == "hnsw" else len(gallery)
            r = bench_kind(kind, gallery[:n], queries, args.single)
            if kind == "flat":
                truth = r["rows"]
            if n == len(gallery):
                r["recall"] = recall_at_10(r["rows"], truth)
            else:
                r["recall"] = recall_at_10(r["rows"], search(build_index(gallery[:n]), queries,
                                                             10)[1])
            r["n"] = n
            results[name][kind] = r
            print(f"  {kind:5s} N={n:>9,}: build {r['build_s']:7.1f} s, {r['memory_mb']:6.0f} MB,"
                  f" single p50 {r['p50']:7.2f} ms p99 {r['p99']:7.2f} ms, batch of 1000: "
                  f"{r['qps']:8.0f} q/s, recall@10 {r['recall']:.3f} {r['extra']}", flush=True)
    noise, clustered = results.values()
    print("\n| kind | N | build (noise / clustered) | memory | single query p50 / p99, noise "
          "| p50 / p99, clustered | 1,000-query batch | recall@10 noise | recall@10 clustered |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind in KINDS:
        a, b = noise[kind], clustered[kind]
        label = f"`{kind}`" + (f" ({a['extra']})" if a["extra"] else "")
        print(f"| {label} | {a['n']:,} | {a['build_s']:.1f} / {b['build_s']:.1f} s | "
              f"{a['memory_mb']:.0f} MB | {a['p50']:.2f} / {a['p99']:.2f} ms | "
              f"{b['p50']:.2f} / {b['p99']:.2f} ms | {a['qps']:,.0f} q/s | {a['recall']:.3f} | "
              f"{b['recall']:.3f} |", flush=True)


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
    ap.add_argument("--n", type=int, default=1_000_000, help="gallery vectors")
    ap.add_argument("--hnsw-n", type=int, default=200_000, help="gallery vectors for hnsw")
    ap.add_argument("--embeddings", type=Path, default=Path("data/embeddings/photo.parquet"),
                    help="real photo embeddings (id, class, vector) to draw the clusters from")
    ap.add_argument("--queries", type=Path, default=None,
                    help="real sketch embeddings to draw the queries from (default: photos)")
    ap.add_argument("--single", type=int, default=200, help="single queries timed")
    ap.add_argument("--photos", type=int, default=256, help="sketchy-mini photos indexed")
    ap.add_argument("--data", type=Path, default=os.environ.get(SOURCE_ENV),
                    help=f"sketchy-mini folder (default: ${SOURCE_ENV})")
    args = ap.parse_args()
    if args.embeddings.is_file():
        dim = io.read_vectors(args.embeddings)[1].shape[1]
    else:
        dim = Retriever.load(args.bundle).dim
    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}, embedding dim {dim}", flush=True)
    bench_index(args, dim)
    if args.data is None or not Path(args.data).is_dir():
        print(f"end to end skipped: no sketchy-mini folder (--data or ${SOURCE_ENV})")
        return
    print("end to end:")
    bench_end_to_end(args.bundle, Path(args.data), args.photos)


if __name__ == "__main__":
    main()
