"""Stage `package`: models/bundle/, everything that turns a raw image into its embedding.

The bundle is written first; then it is logged to the pipeline's MLflow run as a pyfunc
model and registered as `zsbir` with the eval metrics (a store failure is reported and
never costs the bundle).
"""

from pathlib import Path

from common import setup

from zsbir.search.bundle import BundleInputs, write_bundle
from zsbir.search.mlflow_model import log_bundle
from zsbir.tracking import git_commit, stage_run

INPUTS = BundleInputs(
    model=Path("models/model.pt"),
    pca=Path("data/pca/pca.npz"),
    classes=Path("data/classes.parquet"),
    metrics=Path("metrics/eval.json"),
)
OUT = Path("models/bundle")

if __name__ == "__main__":
    params, plain = setup("package")
    retrieval = {"space": params.eval.space, "n_samples": params.eval.n_samples,
                 "seed": params.seed}
    with stage_run("package", plain) as mlflow:
        spec = write_bundle(OUT, INPUTS, params.features, retrieval, git_commit())
        mlflow.set_tags({"bundle.fingerprint": spec["fingerprint"]})
        mlflow.guard(log_bundle, OUT.resolve(), mlflow.run_id, mlflow.uri, spec["metrics"])
