"""Stage `split`: zero-shot class split, class semantic vectors, train/val/test items."""

from pathlib import Path

from common import stage

from zsbir.io import read_table
from zsbir.split import make_split, write_split

MANIFEST = Path("data/manifest.parquet")
CLASSES = Path("data/classes.parquet")
SPLIT = Path("data/split.parquet")
REPORT = Path("reports/split_report.md")

if __name__ == "__main__":
    with stage("split") as st:
        manifest = read_table(MANIFEST)
        result = make_split(manifest, st.params.split, st.params.seed, st.params.data.dataset)
        write_split(result, CLASSES, SPLIT, REPORT)
        st.write_summary(result.metrics)
        st.mlflow.log_artifact(str(REPORT))
