"""raw / cvae / cvaegan end to end on tiny files: train -> model.pt -> test embeddings."""

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from zsbir.config import EvalConfig, LossConfig, ModelConfig, TrainConfig
from zsbir.embed import build_embeddings
from zsbir.io import load_checkpoint
from zsbir.models.factory import build_model
from zsbir.train.data import load_training_data
from zsbir.train.loop import FitPaths, fit
from zsbir.train.select import validation_map
from toy import make_toy_dataset

TRAIN = TrainConfig(epochs=2, batch_size=16, device="cpu")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy")
    make_toy_dataset(n_seen=5, n_unseen=3, photos_per_class=8, dim=12, sem_dim=6).write(root)
    return root


def _data(root: Path):
    d = root / "data"
    return load_training_data(
        d / "pca", split_path=d / "split.parquet", classes_path=d / "classes.parquet", manifest_path=d / "manifest.parquet"
    )


@pytest.mark.parametrize(
    ("name", "space", "dim"),
    [
        ("raw", "structure", 12),
        ("cvae", "photo", 12),
        ("cvaegan", "structure", 4),
        ("cvaegan", "photo", 12),
    ],
)
def test_train_then_embed_test_items(
    root: Path, tmp_path: Path, name: str, space: str, dim: int
) -> None:
    model = ModelConfig(name=name, z_structure=4, z_appearance=2, hidden=16)
    ev = EvalConfig(space=space, n_samples=3)
    paths = FitPaths(tmp_path / "model.pt", tmp_path / "ckpt/last.pt", tmp_path / "h.csv")
    result = fit(_data(root), model_cfg=model, loss_cfg=LossConfig(), train_cfg=TRAIN, eval_cfg=ev, seed=0, paths=paths)
    assert (result.epochs_run == 0) == (name == "raw")
    state, config = load_checkpoint(paths.model)
    assert config["model"]["name"] == name and (state["model"] == {}) == (name == "raw")
    emb = build_embeddings(paths.model, pca_dir=root / "data/pca", split_path=root / "data/split.parquet", eval_cfg=ev, seed=0)
    split = __import__("pandas").read_parquet(root / "data/split.parquet")
    for domain in ("sketch", "photo"):
        meta, vectors = emb[domain]
        test = split[(split["domain"] == domain) & (split["split"] == "test")]
        assert set(meta["id"]) == set(test["id"]) and not meta["seen"].any()
        assert vectors.shape == (len(test), dim) and np.isfinite(vectors).all()
    again = build_embeddings(paths.model, pca_dir=root / "data/pca", split_path=root / "data/split.parquet", eval_cfg=ev, seed=0)
    assert np.array_equal(again["sketch"][1], emb["sketch"][1])  # seeded sampling


@pytest.mark.parametrize("ev", [EvalConfig(generalized=True), EvalConfig(also_generalized=True)])
def test_generalized_gallery_adds_seen_val_photos(root: Path, tmp_path: Path, ev) -> None:
    paths = FitPaths(tmp_path / "model.pt", tmp_path / "ckpt/last.pt", tmp_path / "h.csv")
    fit(_data(root), model_cfg=ModelConfig(name="raw"), loss_cfg=LossConfig(), train_cfg=TRAIN, eval_cfg=EvalConfig(), seed=0, paths=paths)
    meta, _ = build_embeddings(paths.model, pca_dir=root / "data/pca", split_path=root / "data/split.parquet", eval_cfg=ev, seed=0)[
        "photo"
    ]
    split = __import__("pandas").read_parquet(root / "data/split.parquet").set_index("id")
    parts = split.loc[meta["id"], "split"].to_numpy()
    assert set(parts) == {"test", "val"} and np.array_equal(meta["seen"].to_numpy(), parts == "val")


def test_validation_map_equals_sklearn_average_precision(root: Path) -> None:
    data = _data(root)
    torch.manual_seed(0)
    model = build_model(
        ModelConfig(z_structure=4, hidden=16), LossConfig(), feat_dim=data.feat_dim, sem_dim=data.sem_dim
    )
    got = validation_map(
        model, data.sketch_val, data.photo_val, space="structure", n_samples=1, seed=0
    )
    with torch.no_grad():
        q = torch.nn.functional.normalize(model.eval().enc_ske(data.sketch_val.x)[0], dim=1)
        g = torch.nn.functional.normalize(model.enc_img_s(data.photo_val.x)[0], dim=1)
    sim = (q @ g.T).double().numpy()
    aps = [
        average_precision_score(data.photo_val.cls.numpy() == c, s)
        for c, s in zip(data.sketch_val.cls.numpy(), sim)
    ]
    assert got == pytest.approx(float(np.mean(aps)), abs=1e-9)
