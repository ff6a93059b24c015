"""Stage `split`: zero-shot class split, class semantic vectors, train/val/test items."""

from pathlib import Path

from common import setup

from zsbir.io import read_table
from zsbir.seed import seed_everything
from zsbir.split import make_split, write_split
from zsbir.tracking import stage_run

MANIFEST = Path("data/manifest.parquet")
CLASSES = Path("data/classes.parquet")
SPLIT = Path("data/split.parquet")
REPORT = Path("reports/split_report.md")
METRICS = Path("metrics/split.json")

if __name__ == "__main__":
    params, plain = setup("split")
    with stage_run("split", plain, summary=METRICS) as mlflow:
        seed_everything(params.seed)
        manifest = read_table(MANIFEST)
        result = make_split(manifest, params.split, params.seed, params.data.dataset)
        write_split(result, CLASSES, SPLIT, REPORT, METRICS)
        mlflow.log_artifact(str(REPORT))
