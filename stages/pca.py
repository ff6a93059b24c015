"""Stage `pca`: PCA fitted on seen-class train items only; every item transformed."""

from pathlib import Path

from common import stage

from zsbir import io
from zsbir.features.pca import pca_stage

CURVE = Path("plots/pca_variance.csv")

if __name__ == "__main__":
    with stage("pca") as st:
        curve, metrics = pca_stage(
            Path("data/features"),
            split_path=Path("data/split.parquet"),
            out_dir=Path("data/pca"),
            cfg=st.params.pca,
        )
        io.write_text(curve.to_csv(index=False), CURVE)
        st.write_summary(metrics)
        st.mlflow.log_artifact(str(CURVE))
