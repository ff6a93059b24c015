"""Stage `download`: build data/raw/<dataset>/, data/manifest.parquet and data/raw.SHA256SUMS
(the SHA-256 of every image, which the stages that read images depend on; params: seed, data)."""

import time
from pathlib import Path

from common import stage

from zsbir.data import build_dataset
from zsbir.io import repo_root, write_checksums, write_table
from zsbir.schema import summarize_manifest

RAW_DIR = Path("data/raw")
MANIFEST = Path("data/manifest.parquet")
CHECKSUMS = Path("data/raw.SHA256SUMS")

if __name__ == "__main__":
    with stage("download") as st:
        data = st.params.data
        start = time.perf_counter()
        built = build_dataset(
            data, seed=st.params.seed, out_dir=RAW_DIR / data.dataset, repo_root=repo_root()
        )
        seconds = time.perf_counter() - start
        write_table(built.manifest, MANIFEST)
        write_checksums(built.checksums, CHECKSUMS)
        summary = {"dataset": data.dataset, **summarize_manifest(built.manifest)}
        summary["source"] = built.provenance  # kind, location, archive_sha256 (archives)
        st.write_summary(summary)
        st.mlflow.set_tags({f"data.{k}": v for k, v in built.provenance.items()})
        st.mlflow.log_metric("download.seconds", seconds)
