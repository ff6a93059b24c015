"""Load benchmark of ``zsbir serve`` (prints figures; not a test). Loopback only, bounded.

Starts ``zsbir serve`` as a child process on a free 127.0.0.1 port over an index of the
default bundle's photos, then, for each client count (default 1, 4, 16, 64), has that
many threads send sketch searches back to back (``--per-client`` each, stopped anyway
after ``--max-s`` seconds) while one more thread fetches the page ``GET /`` every 50 ms.
Reported per row: searches/s, search latency p50/p99 (200s), page latency p99 during the
load, 503s (a clean refusal with Retry-After, expected only past the queue limit) and
errors (anything else). Two servers run in the same invocation, so their ratio holds even
on a loaded machine: ``batched`` (the defaults: --batch-wait-ms 5 --max-batch 16) and
``serial`` (--max-batch 1: one sketch per forward pass), plus one row past the queue limit
(64 clients, --max-queue 16).

Goals on a 2-core machine: batched searches/s >= 2x serial at 16 clients; page p99 <= 50
ms under 16 clients; 0 errors below the queue limit and only clean 503s above it.

Usage: python benchmarks/bench_load.py [--bundle models/bundle]
       [--photos data/raw/synthetic/photo] [--sketches data/raw/synthetic/sketch]
       [--clients 1,4,16,64] [--per-client 8] [--max-s 60] [--index INDEX_DIR]

``--index`` reuses an index built before (``zsbir index PHOTOS --bundle B --out DIR``);
without it the photos are indexed first into a temporary folder.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from zsbir.search.gallery import index_folder
from zsbir.search.web import free_port

HOST = "127.0.0.1"  # never anything else: this benchmark only talks to loopback


def request(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, float]:
    """(status, seconds) of one request on a fresh connection."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        conn.request(method, path, body=body)
        res = conn.getresponse()
        res.read()
        return res.status, time.perf_counter() - start
    finally:
        conn.close()


class Server:
    """``zsbir serve`` in a child process, stopped on exit."""

    def __init__(self, index: Path, *options: str) -> None:
        self.port = free_port(HOST)
        cmd = [sys.executable, "-m", "zsbir.search.cli", "serve", "--index", str(index),
               "--host", HOST, "--port", str(self.port), *options]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if request(self.port, "GET", "/api/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.proc.kill()
        raise RuntimeError(f"zsbir serve did not start: {self.proc.stderr.read().decode()}")

    def health(self) -> dict:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        conn.request("GET", "/api/health")
        out = json.loads(conn.getresponse().read())
        conn.close()
        return out

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def load(server: Server, sketches: list[bytes], clients: int, per_client: int,
         max_s: float) -> dict:
    """``clients`` threads × ``per_client`` searches, and a page prober, against ``server``."""
    stop_at = time.monotonic() + max_s
    lat: list[float] = []
    codes: list[int] = []
    page: list[float] = []
    done = threading.Event()
    lock = threading.Lock()

    def client(c: int) -> None:
        for i in range(per_client):
            if time.monotonic() > stop_at:
                return
            body = sketches[(c * per_client + i) % len(sketches)]
            try:
                code, sec = request(server.port, "POST", "/api/search?k=10", body)
            except OSError:
                code, sec = -1, 0.0
            with lock:
                codes.append(code)
                if code == 200:
                    lat.append(sec)

    def prober() -> None:
        while not done.is_set():
            page.append(request(server.port, "GET", "/")[1])
            time.sleep(0.05)

    before = server.health()
    probe = threading.Thread(target=prober, daemon=True)
    probe.start()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    done.set()
    probe.join()
    after = server.health()
    batches = after["batches"] - before["batches"]
    ok = len(lat)
    return {
        "clients": clients, "searches": ok, "searches_per_s": ok / wall,
        "p50_ms": 1000 * float(np.percentile(lat, 50)) if lat else float("nan"),
        "p99_ms": 1000 * float(np.percentile(lat, 99)) if lat else float("nan"),
        "page_p99_ms": 1000 * float(np.percentile(page, 99)) if page else float("nan"),
        "n503": codes.count(503), "errors": sum(c not in (200, 503) for c in codes),
        "mean_batch": (after["searches"] - before["searches"]) / batches if batches else 0.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=Path("models/bundle"))
    ap.add_argument("--photos", type=Path, default=Path("data/raw/synthetic/photo"))
    ap.add_argument("--sketches", type=Path, default=Path("data/raw/synthetic/sketch"))
    ap.add_argument("--clients", default="1,4,16,64")
    ap.add_argument("--per-client", type=int, default=8)
    ap.add_argument("--max-s", type=float, default=60.0, help="per row, then stop")
    ap.add_argument("--index", type=Path, default=None, help="reuse this index")
    args = ap.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    sketches = [p.read_bytes() for p in sorted(args.sketches.rglob("*.png"))[:256]]
    index = args.index
    if index is None:
        index = Path(tempfile.mkdtemp(prefix="zsbir-bench-load-")) / "index"
        index_folder(args.photos, args.bundle, index)
    print(f"# zsbir serve load: {len(sketches)} distinct sketches, index of "
          f"{args.photos}, {os.cpu_count()} CPUs, loopback only")
    rows = []
    modes = [("batched", []), ("serial", ["--max-batch", "1", "--batch-wait-ms", "0"])]
    for mode, options in modes:
        with Server(index, "--max-queue", "256", *options) as server:
            request(server.port, "POST", "/api/search?k=10", sketches[0])  # warm-up
            for clients in counts:
                rows.append({"server": mode, **load(server, sketches, clients,
                                                    args.per_client, args.max_s)})
                print(rows[-1], flush=True)
    with Server(index, "--max-queue", "16") as server:
        rows.append({"server": "batched, max-queue 16",
                     **load(server, sketches, max(counts), args.per_client, args.max_s)})
    print("\n| server | clients | searches/s | p50 ms | p99 ms | page p99 ms | mean batch "
          "| 503s | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['server']} | {r['clients']} | {r['searches_per_s']:.2f} | {r['p50_ms']:.0f} "
              f"| {r['p99_ms']:.0f} | {r['page_p99_ms']:.1f} | {r['mean_batch']:.1f} "
              f"| {r['n503']} | {r['errors']} |")
    by = {(r["server"], r["clients"]): r["searches_per_s"] for r in rows}
    for clients in counts:
        if ("serial", clients) in by and by[("serial", clients)] > 0:
            print(f"batched / serial at {clients} clients: "
                  f"{by[('batched', clients)] / by[('serial', clients)]:.2f}x")


if __name__ == "__main__":
    main()
