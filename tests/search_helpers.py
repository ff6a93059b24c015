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
from zsbir.io import write_json, write_table, write_vectors
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
    built = build_dataset(data, seed=SEED, out_dir=raw, repo_root=root)
    write_table(built.manifest, root / "data/manifest.parquet")
    split = make_split(built.manifest, SplitConfig(method="random", n_unseen=3, semantic="none"),
                       seed=SEED, dataset="synthetic")
    d = root / "data"
    write_split(split, classes_path=d / "classes.parquet", split_path=d / "split.parquet",
                report_path=root / "split.md")
    run_extract(d / "manifest.parquet", raw, out_dir=d / "features", cfg=FEATURES)
    pca_stage(d / "features", split_path=d / "split.parquet", out_dir=d / "pca",
              cfg=PCAConfig(dim=16))
    train = load_training_data(d / "pca", split_path=d / "split.parquet",
                               classes_path=d / "classes.parquet",
                               manifest_path=d / "manifest.parquet")
    model = ModelConfig(z_structure=8, z_appearance=4, hidden=32)
    paths = FitPaths(root / "models/model.pt", root / "models/ckpt/last.pt", root / "h.csv")
    fit(train, model_cfg=model, loss_cfg=LossConfig(semantic_weight=0.0),
        train_cfg=TrainConfig(epochs=2, batch_size=16, device="cpu"), eval_cfg=EVAL, seed=SEED,
        paths=paths)
    emb = build_embeddings(paths.model, pca_dir=d / "pca", split_path=d / "split.parquet",
                           eval_cfg=EVAL, seed=SEED)
    for domain, (meta, vectors) in emb.items():
        write_vectors(d / f"embeddings/{domain}.parquet", vectors,
                      {"id": meta["id"], "class": meta["class"], "seen": meta["seen"]})
    result = evaluate(EvalPaths(d / "embeddings/sketch.parquet", d / "embeddings/photo.parquet",
                                d / "manifest.parquet", raw, root / "per_class.csv",
                                root / "pr.csv", root / "figures"), EVAL, SEED)
    write_json(result.metrics, root / "metrics/eval.json")
    inputs = BundleInputs(paths.model, d / "pca/pca.npz", d / "classes.parquet",
                          root / "metrics/eval.json")
    retrieval = {"space": EVAL.space, "n_samples": EVAL.n_samples, "seed": SEED}
    write_bundle(root / "models/bundle", inputs, FEATURES, retrieval, "test")
    return root / "models/bundle"
