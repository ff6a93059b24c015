"""Stage `evaluate`: retrieval metrics, per-class AP, PR curve and figures of the embeddings."""

from pathlib import Path

from common import setup

import zsbir.tracking
from zsbir.evaluate.run import EvalPaths, evaluate
from zsbir.seed import derive, seed_everything

if __name__ == "__main__":
    params, plain = setup("evaluate")
    seed_everything(params.seed)
    paths = EvalPaths(
        sketch=Path("data/embeddings/sketch.parquet"),
        photo=Path("data/embeddings/photo.parquet"),
        manifest=Path("data/manifest.parquet"),
        image_root=Path("data/raw") / params.data.dataset,
        metrics=Path("metrics/eval.json"),
        per_class=Path("plots/per_class_ap.csv"),
        pr_curve=Path("plots/pr_curve.csv"),
        figures=Path("reports/figures"),
    )
    with zsbir.tracking.stage_run("evaluate", plain, summary=paths.metrics) as mlflow:
        result = evaluate(paths, params.eval, seed=derive(params.seed, "evaluate"))
        for artifact in result.artifacts:
            mlflow.log_artifact(str(artifact), artifact_path=f"evaluate/{artifact.parent}")
