"""The evaluate stage's library call end to end on small random embeddings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import average_precision_score

from zsbir.config import EvalConfig
from zsbir.evaluate.run import EvalPaths, evaluate
from zsbir.io import ArtifactError, write_table, write_vectors

REPO = Path(__file__).resolve().parents[1]
UNSEEN, SEEN = ["ant", "bee", "cat"], ["dog", "eel"]
KEYS = {"map_all", "map_200", "map_200_norm", "p_100", "p_200", "n_queries", "n_gallery",
        "n_classes"}


def _domain(rng, centres, domain: str, per_class: int) -> pd.DataFrame:
    rows = []
    for c, name in enumerate(UNSEEN + SEEN):
        for i in range(per_class):
            vec = centres[c] + 1.5 * rng.standard_normal(centres.shape[1])
            rows.append({"id": f"{domain}/{name}/{i:02d}", "class": name, "seen": name in SEEN,
                         "path": f"{domain}/{name}/{i:02d}.png", "vector": vec})
    return pd.DataFrame(rows)


@pytest.fixture()
def workspace(tmp_path: Path) -> tuple[EvalPaths, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((5, 16))
    sketches, photos = _domain(rng, centres, "sketch", 4), _domain(rng, centres, "photo", 6)
    root = tmp_path / "data" / "raw" / "synthetic"
    for i, rel in enumerate(pd.concat([sketches, photos])["path"]):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (i * 7 % 255, 90, 160)).save(root / rel)
    data = tmp_path / "data"
    for name, table in (("sketch", sketches), ("photo", photos)):
        write_vectors(data / "embeddings" / f"{name}.parquet", np.stack(table["vector"]),
                      {c: table[c].to_numpy() for c in ("id", "class", "seen")})
    write_table(pd.concat([sketches, photos])[["id", "path"]], data / "manifest.parquet")
    paths = EvalPaths(  # the layout stages/evaluate.py uses
        sketch=data / "embeddings" / "sketch.parquet", photo=data / "embeddings" / "photo.parquet",
        manifest=data / "manifest.parquet", image_root=root,
        per_class=tmp_path / "plots" / "per_class_ap.csv",
        pr_curve=tmp_path / "plots" / "pr_curve.csv",
        figures=tmp_path / "reports" / "figures",
    )
    return paths, sketches, photos


def _reference(sketches: pd.DataFrame, gallery: pd.DataFrame) -> pd.DataFrame:
    """Per-query AP with scikit-learn, cosine similarity in float64."""
    queries = sketches[~sketches["seen"]]
    q, g = np.stack(queries["vector"]), np.stack(gallery["vector"])
    scores = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (
        g / np.linalg.norm(g, axis=1, keepdims=True)).T
    ap = [average_precision_score(gallery["class"].to_numpy() == c, s)
          for c, s in zip(queries["class"], scores)]
    return pd.DataFrame({"class": queries["class"].to_numpy(), "ap": ap})


def test_outputs_match_sklearn_reference(workspace) -> None:
    paths, sketches, photos = workspace
    result = evaluate(paths, EvalConfig(chunk_size=5, n_figure_queries=4, tsne=True), seed=3)
    metrics = result.metrics
    assert set(metrics) == KEYS
    ref = _reference(sketches, photos[~photos["seen"]])
    assert metrics["map_all"] == pytest.approx(ref["ap"].mean(), abs=1e-6)
    assert (metrics["n_queries"], metrics["n_gallery"], metrics["n_classes"]) == (12, 18, 3)
    assert metrics["p_100"] == pytest.approx(6 / 18)  # K clipped to the gallery: all 6 hits

    per_class = pd.read_csv(paths.per_class)
    expected = ref.groupby("class")["ap"].mean()
    assert list(per_class["class"]) == UNSEEN and list(per_class["n_queries"]) == [4, 4, 4]
    np.testing.assert_allclose(per_class["ap"], expected[UNSEEN], atol=1e-6)

    pr = pd.read_csv(paths.pr_curve)
    assert list(pr.columns) == ["recall", "precision"]
    assert pr["recall"].iloc[[0, -1]].tolist() == [0, 1]
    assert (np.diff(pr["precision"]) <= 1e-12).all()  # interpolated: non-increasing
    assert pr["precision"].iloc[-1] >= 6 / 18 - 1e-12  # full recall at worst over the gallery

    for png in paths.figure_files:
        with Image.open(png) as img:
            assert img.format == "PNG" and img.size[0] > 200
    assert set(result.artifacts) == {paths.per_class, paths.pr_curve,
                                     *paths.figure_files}


def test_generalized_gallery_adds_seen_photos_and_tsne_can_be_off(workspace) -> None:
    paths, sketches, photos = workspace
    paths.tsne_png.parent.mkdir(parents=True)
    for stale in (paths.tsne_png, paths.failures_png):
        stale.write_bytes(b"stale")
    cfg = EvalConfig(generalized=True, n_figure_queries=0, n_case_classes=0, tsne=False)
    metrics = evaluate(paths, cfg, seed=0).metrics
    assert metrics["n_gallery"] == 30 and metrics["n_classes"] == 3
    assert metrics["map_all"] == pytest.approx(_reference(sketches, photos)["ap"].mean(), abs=1e-6)
    assert not any(png.exists() for png in paths.figure_files)


def test_also_generalized_scores_both_settings_from_the_same_embeddings(workspace) -> None:
    paths, sketches, photos = workspace
    cfg = EvalConfig(also_generalized=True, n_figure_queries=0, n_case_classes=0, tsne=False)
    assert not paths.figures.exists()
    metrics = evaluate(paths, cfg, seed=0).metrics
    assert paths.figures.is_dir() and not any(paths.figures.iterdir())  # the DVC output exists
    assert set(metrics) == KEYS | {f"gzs_{k}" for k in
                                   ("map_all", "map_200", "map_200_norm", "p_100", "p_200",
                                    "n_gallery")}
    standard = _reference(sketches, photos[~photos["seen"]])
    generalized = _reference(sketches, photos)
    assert metrics["map_all"] == pytest.approx(standard["ap"].mean(), abs=1e-6)
    assert metrics["n_gallery"] == 18 and metrics["gzs_n_gallery"] == 30
    assert metrics["gzs_map_all"] == pytest.approx(generalized["ap"].mean(), abs=1e-6)
    per_class = pd.read_csv(paths.per_class)
    np.testing.assert_allclose(per_class["ap"], standard.groupby("class")["ap"].mean(),
                               atol=1e-6)
    np.testing.assert_allclose(per_class["ap_gzs"], generalized.groupby("class")["ap"].mean(),
                               atol=1e-6)


def test_missing_image_fails_before_anything_is_written(workspace) -> None:
    paths, _, _ = workspace
    (paths.image_root / "sketch" / "ant" / "00.png").unlink()
    with pytest.raises(ArtifactError, match="00.png"):
        evaluate(paths, EvalConfig(n_figure_queries=2, tsne=False), seed=0)
    assert not paths.per_class.exists()


def test_embedding_table_without_seen_column_is_named(workspace) -> None:
    paths, sketches, _ = workspace
    write_vectors(paths.sketch, np.stack(sketches["vector"]),
                  {"id": sketches["id"].to_numpy(), "class": sketches["class"].to_numpy()})
    with pytest.raises(ArtifactError, match=r"sketch\.parquet.*'seen'"):
        evaluate(paths, EvalConfig(tsne=False), seed=0)


def test_stage_script_logs_to_mlflow(workspace, tmp_path: Path) -> None:
    import mlflow

    paths, _, _ = workspace
    (tmp_path / "params.yaml").write_text(
        "seed: 1\neval:\n  n_figure_queries: 2\n  tsne: false\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    env.pop("DVC_EXP_NAME", None)
    proc = subprocess.run([sys.executable, str(REPO / "stages" / "evaluate.py")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics" / "eval.json").read_text())
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    (run,) = mlflow.search_runs(experiment_names=["zsbir"], output_format="list")
    assert run.data.metrics["eval.map_all"] == pytest.approx(metrics["map_all"])
    assert run.data.metrics["eval.n_queries"] == 12
    assert "map_all" not in run.data.metrics  # one name per quantity
    assert run.info.status == "FINISHED" and run.data.tags["stage.evaluate"] == "done"
    logged = {a.path for a in mlflow.artifacts.list_artifacts(run_id=run.info.run_id,
                                                              artifact_path="evaluate/plots")}
    assert logged == {"evaluate/plots/per_class_ap.csv", "evaluate/plots/pr_curve.csv"}
    assert paths.retrieval_png.is_file() and not paths.tsne_png.exists()
