"""Stage `download`: build data/raw/<dataset>/ and data/manifest.parquet (params: seed, data)."""

import time
from pathlib import Path

from common import setup

import zsbir.tracking
from zsbir.data import build_dataset, summarize
from zsbir.io import write_json, write_table
from zsbir.seed import seed_everything

RAW_DIR = Path("data/raw")
MANIFEST = Path("data/manifest.parquet")
METRICS = Path("metrics/download.json")

if __name__ == "__main__":
    params, plain = setup("download")
    seed_everything(params.seed)
    with zsbir.tracking.stage_run("download", plain, summary=METRICS) as mlflow:
        start = time.perf_counter()
        built = build_dataset(
            params.data, params.seed, RAW_DIR / params.data.dataset, zsbir.tracking.repo_root()
        )
        seconds = time.perf_counter() - start
        write_table(built.manifest, MANIFEST)
        summary = {"dataset": params.data.dataset, **summarize(built.manifest)}
        summary["source"] = built.provenance  # kind, location, archive_sha256 (archives)
        write_json(summary, METRICS)
        mlflow.set_tags({f"data.{k}": v for k, v in built.provenance.items()})
        mlflow.log_metric("download.seconds", seconds)
