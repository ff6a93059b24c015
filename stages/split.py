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
        p = st.params
        result = make_split(manifest, p.split, seed=p.seed, dataset=p.data.dataset)
        write_split(result, classes_path=CLASSES, split_path=SPLIT, report_path=REPORT)
        st.write_summary(result.metrics)
        st.mlflow.log_artifact(str(REPORT))
