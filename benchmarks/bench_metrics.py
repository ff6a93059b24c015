"""Benchmark: vectorised retrieval metrics vs a per-query scikit-learn loop.

Sketchy-21 test scale: 12,694 sketch queries x 10,453 gallery photos, 512-d random
embeddings over 21 classes. Ours runs on every query. The reference loop takes one query
at a time: its float32 cosine scores from :func:`cosine_scores` (the metrics are defined
on those scores, and a query's scores do not depend on its batch, so both sides rank the
same numbers), scikit-learn's ``average_precision_score`` on them (cast to float64), and a
stable argsort for P@K and mAP@200; its scikit-learn part (scoring excluded) is also
reported, a floor for any per-query loop. The loop runs on a random subset of queries and its
time is extrapolated linearly to all queries. Ours and the loop alternate ``--repeats``
times (the machine is shared; the load average is printed) and the speed-up compares
medians. The subset's per-query values of both must agree to 1e-6.

    python benchmarks/bench_metrics.py [--subset 200] [--chunk-size 1024] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sklearn.metrics import average_precision_score

from zsbir.retrieval.metrics import RetrievalScores, cosine_scores, l2_normalise, retrieval_metrics

N_QUERIES, N_GALLERY, DIM, N_CLASSES = 12_694, 10_453, 512, 21
K = 200


def sklearn_loop(
    queries: np.ndarray, q_labels: np.ndarray, gallery: np.ndarray, g_labels: np.ndarray
) -> tuple[dict[str, np.ndarray], float]:
    """The straightforward reference: one query at a time.

    Returns per-query values and the seconds spent in scoring (``cosine_scores``), so the
    scikit-learn part can be reported on its own (a per-query loop cannot go below it).
    """
    gal = l2_normalise(gallery)  # (N, D) float32
    out: dict[str, list[float]] = {"ap": [], "ap_200": [], "ap_200_norm": [], "p_100": [],
                                   "p_200": []}
    t_scoring = 0.0
    for q, label in zip(queries, q_labels):
        start = time.perf_counter()
        scores = cosine_scores(l2_normalise(q[None]), gal)[0].astype(np.float64)  # (N,)
        t_scoring += time.perf_counter() - start
        relevant = g_labels == label
        out["ap"].append(average_precision_score(relevant, scores))
        ranked = relevant[np.argsort(-scores, kind="stable")][:K]
        precision = np.cumsum(ranked) / np.arange(1, K + 1)
        summed = float((ranked * precision).sum())
        out["ap_200"].append(summed / K)
        out["ap_200_norm"].append(summed / ranked.sum() if ranked.any() else 0.0)
        out["p_100"].append(ranked[:100].mean())
        out["p_200"].append(ranked.mean())
    return {k: np.asarray(v) for k, v in out.items()}, t_scoring


def _load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subset", type=int, default=200, help="queries for the sklearn loop")
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3, help="timings of each, alternated")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    queries = rng.standard_normal((N_QUERIES, DIM), dtype=np.float32)
    gallery = rng.standard_normal((N_GALLERY, DIM), dtype=np.float32)
    q_labels = rng.integers(0, N_CLASSES, N_QUERIES)
    g_labels = rng.integers(0, N_CLASSES, N_GALLERY)
    subset = np.sort(rng.choice(N_QUERIES, args.subset, replace=False))

    print(f"scale: {N_QUERIES} queries x {N_GALLERY} gallery, {DIM}-d, {N_CLASSES} classes; "
          f"{_load()}")
    t_ours, t_loop, t_sk = [], [], []
    scale = N_QUERIES / args.subset
    ours: RetrievalScores | None = None
    for i in range(args.repeats):
        start = time.perf_counter()
        ours = retrieval_metrics(queries, q_labels, gallery, g_labels,
                                 chunk_size=args.chunk_size)
        t_ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        ref, t_scoring = sklearn_loop(queries[subset], q_labels[subset], gallery, g_labels)
        t_loop.append((time.perf_counter() - start) * scale)
        t_sk.append(t_loop[-1] - t_scoring * scale)
        print(f"  run {i + 1}: ours {t_ours[-1]:6.2f} s, loop {t_loop[-1]:7.1f} s "
              f"(scikit-learn part {t_sk[-1]:6.1f} s), extrapolated; {_load()}")
    assert ours is not None
    med_ours, med_loop, med_sk = (float(np.median(t)) for t in (t_ours, t_loop, t_sk))

    diffs = {
        "ap": np.abs(ours.ap[subset] - ref["ap"]).max(),
        "ap_200": np.abs(ours.ap_at_k[subset] - ref["ap_200"]).max(),
        "ap_200_norm": np.abs(ours.ap_at_k_norm[subset] - ref["ap_200_norm"]).max(),
        "p_100": np.abs(ours.precision_at[100][subset] - ref["p_100"]).max(),
        "p_200": np.abs(ours.precision_at[200][subset] - ref["p_200"]).max(),
    }
    print(f"ours (all queries, chunk {args.chunk_size}): median {med_ours:6.2f} s "
          f"(min {min(t_ours):.2f} s)")
    print(f"sklearn loop ({args.subset} queries, extrapolated to all): median {med_loop:7.1f} s "
          f"(min {min(t_loop):.1f} s)")
    print(f"  of which scikit-learn + argsort (scoring excluded): median {med_sk:7.1f} s")
    print(f"speed-up (medians): {med_loop / med_ours:6.1f}x vs the loop, "
          f"{med_sk / med_ours:6.1f}x vs its scikit-learn part alone")
    print("metrics (ours): " + ", ".join(f"{k}={v:.6f}" for k, v in ours.summary().items()))
    print("max |ours - sklearn| on the subset: "
          + ", ".join(f"{k}={v:.1e}" for k, v in diffs.items()))
    ok = max(diffs.values()) <= 1e-6
    print(f"agreement within 1e-6: {'yes' if ok else 'NO'}")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
