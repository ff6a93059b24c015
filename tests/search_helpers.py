"""A tiny synthetic pipeline (download → … → evaluate → package), in-process, for tests."""

from __future__ import annotations

from pathlib import Path

from zsbir.config import (
    DataConfig, EvalConfig, FeaturesConfig, LossConfig, ModelConfig, PCAConfig, SplitConfig,
    SyntheticConfig, TrainConfig,
)
from zsbir.data import build_dataset
from zsbir.embed import build_embeddings
from zsbir.evaluate.run import EvalPaths, evaluate
from zsbir.features.extract import run_extract
from zsbir.features.pca import pca_stage
from zsbir.io import write_table, write_vectors
from zsbir.search.bundle import BundleInputs, write_bundle
from zsbir.split import make_split, write_split
from zsbir.train.data import load_training_data
from zsbir.train.loop import FitPaths, fit

SEED = 0
FEATURES = FeaturesConfig(weights="random", image_size=32, batch_size=16, num_workers=0,
                          precision="fp32", device="cpu")
EVAL = EvalConfig(n_figure_queries=0, n_case_classes=0, tsne=False)


def build_pipeline(root: Path) -> Path:
    """Run every stage on a small synthetic dataset under ``root``; returns the bundle."""
    data = DataConfig(synthetic=SyntheticConfig(n_classes=10, photos_per_class=6, image_size=48))
    raw = root / "data/raw/synthetic"
    built = build_dataset(data, SEED, raw, root)
    write_table(built.manifest, root / "data/manifest.parquet")
    split = make_split(built.manifest, SplitConfig(method="random", n_unseen=3, semantic="none"),
                       SEED, "synthetic")
    d = root / "data"
    write_split(split, d / "classes.parquet", d / "split.parquet", root / "split.md",
                root / "split.json")
    run_extract(d / "manifest.parquet", raw, d / "features", FEATURES)
    pca_stage(d / "features", d / "split.parquet", d / "pca", PCAConfig(dim=16))
    train = load_training_data(d / "pca", d / "split.parquet", d / "classes.parquet",
                               d / "manifest.parquet")
    model = ModelConfig(z_structure=8, z_appearance=4, hidden=32)
    paths = FitPaths(root / "models/model.pt", root / "models/ckpt/last.pt", root / "h.csv")
    fit(train, model, LossConfig(semantic_weight=0.0), TrainConfig(epochs=2, batch_size=16,
        device="cpu"), EVAL, SEED, paths)
    emb = build_embeddings(paths.model, d / "pca", d / "split.parquet", EVAL, SEED)
    for domain, (meta, vectors) in emb.items():
        write_vectors(d / f"embeddings/{domain}.parquet", vectors,
                      {"id": meta["id"], "class": meta["class"], "seen": meta["seen"]})
    evaluate(EvalPaths(d / "embeddings/sketch.parquet", d / "embeddings/photo.parquet",
                       d / "manifest.parquet", raw, root / "metrics/eval.json",
                       root / "per_class.csv", root / "pr.csv", root / "figures"), EVAL, SEED)
    inputs = BundleInputs(paths.model, d / "pca/pca.npz", d / "classes.parquet",
                          root / "metrics/eval.json")
    retrieval = {"space": EVAL.space, "n_samples": EVAL.n_samples, "seed": SEED}
    write_bundle(root / "models/bundle", inputs, FEATURES, retrieval, "test")
    return root / "models/bundle"
