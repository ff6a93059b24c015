"""The bundle as an MLflow model (pyfunc flavour), logged to the pipeline's run and registered.

Input: a DataFrame with columns ``image`` (base64 of an encoded image file, e.g. PNG) and
``domain`` (``sketch`` or ``photo``). Output: float32 retrieval embeddings (N, E), row i of
input row i — exactly :meth:`Retriever.embed_sketches` / :meth:`Retriever.embed_photos`.
``mlflow models serve -m models:/zsbir/<version> --env-manager local`` answers::

    POST /invocations  {"dataframe_split": {"columns": ["image", "domain"],
                                            "data": [["<base64 PNG>", "sketch"]]}}
    -> {"predictions": [[0.12, -0.03, ...]]}

The model's artifacts are the bundle folder itself (no ~60 MB ONNX backbone: it is
re-verified from the installed package at load, see :mod:`zsbir.search.bundle`).
"""

from __future__ import annotations

import base64
import io as _io
import logging
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

log = logging.getLogger(__name__)

REGISTERED_NAME = "zsbir"
ARTIFACT = "model"
DOMAINS = ("sketch", "photo")


class BundleModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper of :class:`~zsbir.search.retriever.Retriever` (embeddings only)."""

    def load_context(self, context: Any) -> None:
        from zsbir.search.retriever import Retriever

        self.retriever = Retriever.load(context.artifacts["bundle"], device="cpu")

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        """(N, 2) DataFrame of base64 images and domains → float32 (N, E)."""
        return embed_frame(self.retriever, model_input)


def embed_frame(retriever: Any, frame: pd.DataFrame) -> np.ndarray:
    """Embeddings of a DataFrame of ``image`` (base64) and ``domain`` rows, in row order."""
    missing = {"image", "domain"} - set(frame.columns)
    if missing:
        raise ValueError(f"input lacks column(s) {sorted(missing)}; need image (base64), domain")
    bad = sorted(set(frame["domain"]) - set(DOMAINS))
    if bad:
        raise ValueError(f"domain must be sketch or photo, got {bad}")
    images = [base64.b64decode(text) for text in frame["image"]]
    out: np.ndarray | None = None
    for domain in DOMAINS:
        rows = np.flatnonzero((frame["domain"] == domain).to_numpy())
        if len(rows) == 0:
            continue
        embed = retriever.embed_sketches if domain == "sketch" else retriever.embed_photos
        vectors = embed([images[i] for i in rows])  # (n, E)
        if out is None:
            out = np.zeros((len(frame), vectors.shape[1]), np.float32)
        out[rows] = vectors
    return out if out is not None else np.zeros((0, 0), np.float32)


def example_frame() -> pd.DataFrame:
    """A one-row input example: a small drawn sketch as base64 PNG."""
    image = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(image).ellipse([12, 12, 52, 52], outline=0, width=3)
    buffer = _io.BytesIO()
    image.save(buffer, format="PNG")
    return pd.DataFrame({"image": [base64.b64encode(buffer.getvalue()).decode()],
                         "domain": ["sketch"]})


def log_bundle(
    bundle: Path, run_id: str, tracking_uri: str, metrics: dict[str, Any]
) -> tuple[str, str]:
    """Log ``bundle`` as a pyfunc model to run ``run_id`` and register it; returns (uri, version).

    The registered version carries the run's eval metrics as tags (``eval.map_all``, …).
    """
    import mlflow
    from mlflow.models import infer_signature
    from mlflow.tracking import MlflowClient

    from zsbir.search.retriever import Retriever

    example = example_frame()
    output = embed_frame(Retriever.load(bundle, device="cpu"), example)
    signature = infer_signature(example, output)
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pyfunc.log_model(
                name=ARTIFACT,
                python_model=BundleModel(),
                artifacts={"bundle": str(bundle)},
                signature=signature,
                input_example=example,
                pip_requirements=[],  # served with --env-manager local (the project's env)
            )
        version = mlflow.register_model(info.model_uri, REGISTERED_NAME)
    finally:  # the fluent API's URIs are process-global: leave them as they were
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    for key, value in metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            client.set_model_version_tag(
                REGISTERED_NAME, version.version, f"eval.{key}", str(value)
            )
    log.info("registered %s version %s (%s)", REGISTERED_NAME, version.version, info.model_uri)
    return info.model_uri, str(version.version)
