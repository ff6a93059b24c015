"""Benchmark: the extract stage's ``local`` engine against ``ray`` (2 CPU actors) on the
same sketchy-mini images, in one run, repetitions interleaved so both see the same load.

Calls the stage's library function (:func:`zsbir.features.extract.run_extract`) with
``features.engine`` local and ray and the default features params (224 px, ONNX weights),
the feature chunk cache off. A local Ray (``num_cpus`` = the cores) is started once before
the ray repetitions and its start-up timed apart: the ray images/s is the steady state of
an already running cluster (as on a head node), and the figure with start-up is printed
too. Checks that both engines give bit-identical features.

    python benchmarks/bench_engines.py [--data DIR] [--classes 20] [--per-class 8] [--reps 2]
                                       [--batch-size 32]

With few chunks the two actors' shares are uneven (a 256-image chunk against a 119-image
one), so a short run overstates Ray's cost; a run of many chunks (or ``--batch-size 8``)
shows the steady state of a long extraction.

``--data`` defaults to ``$ZSBIR_DATA_SOURCE``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ["ZSBIR_FEATURE_CACHE"] = "off"  # every repetition extracts every image

import numpy as np  # noqa: E402

from zsbir.config import FeaturesConfig  # noqa: E402
from zsbir.data.acquire.fetch import SOURCE_ENV  # noqa: E402
from zsbir.features.extract import run_extract  # noqa: E402
from zsbir.io import read_vectors, write_table  # noqa: E402
from zsbir.schema import item_id, make_manifest  # noqa: E402


def manifest_of(root: Path, n_classes: int, per_class: int):
    """The first ``per_class`` photos (that have a sketch) of the first classes, each with
    its first sketch."""
    rows = []
    for cls_dir in sorted((root / "photo").iterdir())[:n_classes]:
        cls = cls_dir.name
        pairs = ((p, sorted((root / "sketch" / cls).glob(f"{p.stem}-*.png")))
                 for p in sorted(cls_dir.glob("*.jpg")))
        for photo, sketches in [(p, s) for p, s in pairs if s][:per_class]:
            sketch = sketches[0]
            pid = item_id("photo", cls, photo.stem)
            rows.append({"id": pid, "path": f"photo/{cls}/{photo.name}", "domain": "photo",
                         "class": cls, "wnid": None, "pair_id": None})
            rows.append({"id": item_id("sketch", cls, sketch.stem), "domain": "sketch",
                         "path": f"sketch/{cls}/{sketch.name}", "class": cls, "wnid": None,
                         "pair_id": pid})
    return make_manifest(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=os.environ.get(SOURCE_ENV),
                    help=f"sketchy-mini folder (default: ${SOURCE_ENV})")
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--per-class", type=int, default=8)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=FeaturesConfig().batch_size,
                    help="features.batch_size; a chunk is 8 batches, Ray's unit of work")
    args = ap.parse_args()
    if args.data is None or not Path(args.data).is_dir():
        ap.error(f"need a sketchy-mini folder: --data DIR or ${SOURCE_ENV} (got {args.data})")
    import ray

    manifest = manifest_of(Path(args.data), args.classes, args.per_class)
    n = len(manifest)
    cfg = FeaturesConfig(batch_size=args.batch_size)
    seconds: dict[str, list[float]] = {"local": [], "ray": []}
    outputs: dict[str, Path] = {}
    start_up = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        write_table(manifest, Path(tmp) / "manifest.parquet")
        for rep in range(args.reps):
            for engine in ("local", "ray"):
                if engine == "ray" and not ray.is_initialized():
                    t0 = time.perf_counter()
                    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
                    start_up = time.perf_counter() - t0
                out = Path(tmp) / f"{engine}-{rep}"
                t0 = time.perf_counter()
                summary = run_extract(Path(tmp) / "manifest.parquet", Path(args.data), out_dir=out,
                                      cfg=replace(cfg, engine=engine))
                seconds[engine].append(time.perf_counter() - t0)
                outputs[engine] = out
                print(f"rep {rep} {engine}: {n / seconds[engine][-1]:.2f} images/s "
                      f"({seconds[engine][-1]:.1f} s, {summary['precision']})", flush=True)
        ray.shutdown()
        same = all(
            np.array_equal(read_vectors(outputs["local"] / f"{d}.parquet")[1],
                           read_vectors(outputs["ray"] / f"{d}.parquet")[1])
            for d in ("photo", "sketch")
        )
    local, remote = (statistics.median(seconds[e]) for e in ("local", "ray"))
    print()
    photos = int((manifest["domain"] == "photo").sum())
    print(f"{n} images ({photos} photos of {args.classes} classes, up to {args.per_class} "
          f"each, and one sketch of each), "
          f"{cfg.image_size} px, batch {cfg.batch_size}, {os.cpu_count()} cores, median of {args.reps} interleaved reps")
    print("| engine | images/s | seconds | overhead vs local |")
    print("|---|---:|---:|---:|")
    print(f"| local | {n / local:.2f} | {local:.1f} | |")
    print(f"| ray, 2 actors, cluster running | {n / remote:.2f} | {remote:.1f} | "
          f"{100 * (remote / local - 1):+.1f} % |")
    print(f"| ray, with its start-up ({start_up:.1f} s) | {n / (remote + start_up):.2f} | "
          f"{remote + start_up:.1f} | {100 * ((remote + start_up) / local - 1):+.1f} % |")
    print(f"features bit-identical: {same}")


if __name__ == "__main__":
    main()
