"""Stage `pca`: PCA fitted on seen-class train items only; every item transformed."""

from pathlib import Path

from common import setup

from zsbir import io
from zsbir.features.pca import pca_stage
from zsbir.tracking import stage_run

CURVE = Path("plots/pca_variance.csv")
METRICS = Path("metrics/pca.json")

if __name__ == "__main__":
    params, plain = setup("pca")
    with stage_run("pca", plain, summary=METRICS) as mlflow:
        curve, metrics = pca_stage(
            Path("data/features"), Path("data/split.parquet"), Path("data/pca"), params.pca
        )
        io.write_text(curve.to_csv(index=False), CURVE)
        io.write_json(metrics, METRICS)
        mlflow.log_artifact(str(CURVE))
