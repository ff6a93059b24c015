"""Stage `train`: fit model.name on seen-class train pairs, select on seen-class val mAP."""

from pathlib import Path

from common import stage

from zsbir.train.data import load_training_data
from zsbir.train.loop import FitPaths, fit_params

PATHS = FitPaths(
    model=Path("models/model.pt"),
    checkpoint=Path("models/checkpoints/last.pt"),
    history=Path("plots/train_history.csv"),
)

if __name__ == "__main__":
    with stage("train") as st:
        data = load_training_data(
            "data/pca",
            split_path="data/split.parquet",
            classes_path="data/classes.parquet",
            manifest_path="data/manifest.parquet",
        )
        result = fit_params(
            data, st.params, PATHS,
            on_epoch=lambda epoch, metrics: st.mlflow.log_metrics(metrics, step=epoch),
        )
        st.write_summary(result.summary())
        st.mlflow.log_artifact(str(PATHS.history))
