"""Stage `train`: fit model.name on seen-class train pairs, select on seen-class val mAP."""

from pathlib import Path

from common import setup

from zsbir.io import write_json
from zsbir.tracking import stage_run
from zsbir.train.data import load_training_data
from zsbir.train.loop import FitPaths, fit

PATHS = FitPaths(
    model=Path("models/model.pt"),
    checkpoint=Path("models/checkpoints/last.pt"),
    history=Path("plots/train_history.csv"),
)
METRICS = Path("metrics/train.json")

if __name__ == "__main__":
    params, plain = setup("train")
    data = load_training_data(
        "data/pca", "data/split.parquet", "data/classes.parquet", "data/manifest.parquet"
    )
    with stage_run("train", plain, summary=METRICS) as mlflow:
        result = fit(
            data,
            params.model,
            params.loss,
            params.train,
            params.eval,
            params.seed,
            PATHS,
            on_epoch=lambda epoch, metrics: mlflow.log_metrics(metrics, step=epoch),
        )
        write_json(result.summary(), METRICS)
        mlflow.log_artifact(str(PATHS.history))
