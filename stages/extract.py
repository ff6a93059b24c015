"""Stage `extract`: VGG-16 multi-layer features F(x) of every photo and sketch.

    python stages/extract.py       # what dvc repro runs
    features.engine: ray           # the same chunks over a Ray cluster (RAY_ADDRESS, else a
                                   # local Ray started and stopped here): same features

An interrupted run resumes from its cached chunks (see zsbir.features.extract).
"""

from pathlib import Path

from common import stage

from zsbir.features.extract import run_extract

OUT = Path("data/features")
RAW_DIR = Path("data/raw")
MANIFEST = Path("data/manifest.parquet")


if __name__ == "__main__":
    with stage("extract") as st:
        raw_root = RAW_DIR / st.params.data.dataset
        summary = run_extract(MANIFEST, raw_root, out_dir=OUT, cfg=st.params.features)
        st.write_summary(summary)
        if summary["unreadable"]:
            st.mlflow.log_artifact(str(OUT / "unreadable.csv"))
