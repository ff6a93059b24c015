"""Stage `package`: models/bundle/, everything that turns a raw image into its embedding.

The bundle is written first; then it is logged to the pipeline's MLflow run as a pyfunc
model and registered as `zsbir` with the eval metrics (a store failure is reported and
never costs the bundle).
"""

from pathlib import Path

from common import stage

from zsbir.search.bundle import BundleInputs, write_bundle
from zsbir.search.mlflow_model import log_bundle
from zsbir.tracking import git_commit

INPUTS = BundleInputs(
    model=Path("models/model.pt"),
    pca=Path("data/pca/pca.npz"),
    classes=Path("data/classes.parquet"),
    metrics=Path("metrics/eval.json"),
)
OUT = Path("models/bundle")

if __name__ == "__main__":
    with stage("package") as st:
        p = st.params
        retrieval = {"space": p.eval.space, "n_samples": p.eval.n_samples, "seed": p.seed}
        spec = write_bundle(OUT, INPUTS, p.features, retrieval, git_commit())
        st.mlflow.set_tags({"bundle.fingerprint": spec["fingerprint"]})
        st.mlflow.guard(log_bundle, OUT.resolve(), st.mlflow.run_id, st.mlflow.uri,
                        spec["metrics"])
