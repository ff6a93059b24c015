"""Stage `evaluate`: retrieval metrics, per-class AP, PR curve and figures of the embeddings."""

from pathlib import Path

from common import stage

from zsbir.evaluate.run import EvalPaths, evaluate
from zsbir.seed import derive

if __name__ == "__main__":
    with stage("evaluate", summary="eval") as st:
        paths = EvalPaths(
            sketch=Path("data/embeddings/sketch.parquet"),
            photo=Path("data/embeddings/photo.parquet"),
            manifest=Path("data/manifest.parquet"),
            image_root=Path("data/raw") / st.params.data.dataset,
            per_class=Path("plots/per_class_ap.csv"),
            pr_curve=Path("plots/pr_curve.csv"),
            figures=Path("reports/figures"),
        )
        result = evaluate(paths, st.params.eval, seed=derive(st.params.seed, "evaluate"))
        st.write_summary(result.metrics)
        for artifact in (st.summary_path, *result.artifacts):
            st.mlflow.log_artifact(str(artifact), artifact_path=f"evaluate/{artifact.parent}")
