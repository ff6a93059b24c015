"""twotower / semantic-regression: their losses by hand, training on toy data, embedding."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from zsbir.config import EvalConfig, LossConfig, ModelConfig, TrainConfig
from zsbir.embed import build_embeddings
from zsbir.retrieval.metrics import retrieval_metrics
from zsbir.models.factory import build_model, load_model
from zsbir.models import losses
from zsbir.train.data import load_training_data
from zsbir.train.loop import FitPaths, fit
from toy import make_toy_dataset


# ------------------------------------------------------------------ losses by hand
def test_cosine_softmax_cross_entropy_by_hand() -> None:
    emb = torch.tensor([[2.0, 0.0], [0.0, -3.0]])  # directions (1, 0) and (0, -1)
    w = torch.tensor([[1.0, 0.0], [0.0, 5.0]])  # directions (1, 0) and (0, 1)
    labels = torch.tensor([0, 1])
    # row 0: cos = (1, 0); row 1: cos = (0, -1); scale 2 -> logits (2, 0) and (0, -2)
    l0 = -math.log(math.exp(2) / (math.exp(2) + 1))
    l1 = -math.log(math.exp(-2) / (1 + math.exp(-2)))
    got = losses.cosine_softmax_cross_entropy(emb, w, labels, 2.0)
    assert float(got) == pytest.approx((l0 + l1) / 2, rel=1e-6)


def test_semantic_regression_mse_and_cosine_by_hand() -> None:
    pred = torch.tensor([[1.0, 1.0], [3.0, 0.0], [9.0, 9.0]])
    target = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    mask = torch.tensor([True, True, False])  # the third class has no x_sem
    # mse over the 2 kept rows x 2 dims: (0 + 1 + 4 + 0) / 4
    assert float(losses.semantic_regression(pred, target, mask, "mse")) == pytest.approx(1.25)
    # cosine: row 0 cos = 1/sqrt(2), row 1 cos = 1
    want = ((1 - 1 / math.sqrt(2)) + 0.0) / 2
    assert float(losses.semantic_regression(pred, target, mask, "cosine")) == pytest.approx(want)
    none = torch.zeros(3, dtype=torch.bool)
    assert float(losses.semantic_regression(pred, target, none, "mse")) == 0.0


def test_combined_terms_sum_to_total() -> None:
    g = torch.Generator().manual_seed(0)
    a, b, w = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g), torch.randn(5, 3)
    y = torch.tensor([0, 1, 4, 2])
    t = losses.paired_terms("ce", a, b, lambda e: losses.cosine_softmax_cross_entropy(e, w, y, 8.0))
    assert float(t["total"]) == pytest.approx(float(t["ce_photo"] + t["ce_sketch"]))
    assert float(t["ce_sketch"]) == pytest.approx(
        float(torch.nn.functional.cross_entropy(8.0 * _cos(b, w), y))
    )
    mask = torch.ones(4, dtype=torch.bool)
    r = losses.paired_terms("regress", a, b, lambda p: losses.semantic_regression(p, w[y], mask, "mse"))
    assert float(r["regress_photo"]) == pytest.approx(float(((a - w[y]) ** 2).mean()))
    assert set(r) == {"regress_photo", "regress_sketch", "total"}


def _cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every row of a with every row of b, by hand."""
    return (a @ b.T) / (a.norm(dim=1, keepdim=True) * b.norm(dim=1)[None, :])


# ------------------------------------------------------------------ toy training
@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy")
    toy = make_toy_dataset(n_seen=8, n_unseen=4, photos_per_class=12, dim=16, sem_dim=8, seed=1)
    toy.write(root)
    return root


def _data(root: Path):
    d = root / "data"
    return load_training_data(d / "pca", split_path=d / "split.parquet", classes_path=d / "classes.parquet",
                              manifest_path=d / "manifest.parquet")


def _unseen_map(root: Path, model_path: Path) -> float:
    emb = build_embeddings(model_path, pca_dir=root / "data/pca", split_path=root / "data/split.parquet",
                           eval_cfg=EvalConfig(), seed=0)
    (qm, q), (gm, g) = emb["sketch"], emb["photo"]
    return retrieval_metrics(q, qm["class"].to_numpy(), g, gm["class"].to_numpy()).summary()[
        "map_all"]


def _chance(root: Path) -> float:
    """Expected mAP of a random ranking: mean over queries of (relevant / gallery size)."""
    import pandas as pd

    split = pd.read_parquet(root / "data/split.parquet")
    test = split[split["split"] == "test"]
    photos = test[test["domain"] == "photo"]["class"].value_counts()
    sketches = test[test["domain"] == "sketch"]["class"]
    return float((photos[sketches].to_numpy() / photos.sum()).mean())


@pytest.mark.parametrize(
    ("model", "dim"),
    [
        (ModelConfig(name="twotower", hidden=32, embed_dim=8, dropout=0.0), 8),
        (ModelConfig(name="twotower", hidden=32, embed_dim=8, dropout=0.0,
                     twotower_classifier="semantic"), 8),
        (ModelConfig(name="semantic-regression", hidden=32, dropout=0.0), 8),
        (ModelConfig(name="semantic-regression", regression_head="linear"), 8),
    ],
    ids=["twotower-learned", "twotower-semantic", "regression-mlp", "regression-linear"],
)
def test_trains_and_beats_chance_on_unseen_classes(root: Path, tmp_path: Path, model, dim) -> None:
    train = TrainConfig(epochs=15, batch_size=16, lr_g=5e-3, device="cpu", patience=0)
    paths = FitPaths(tmp_path / "model.pt", tmp_path / "ckpt/last.pt", tmp_path / "h.csv")
    result = fit(_data(root), model_cfg=model, loss_cfg=LossConfig(), train_cfg=train, eval_cfg=EvalConfig(), seed=0, paths=paths)
    first, last = result.history[0], result.history[-1]
    assert last["loss.g_total"] < first["loss.g_total"]  # it learns
    net, _ = load_model(paths.model)  # rebuilt from the checkpoint alone
    assert type(net).__name__ in ("TwoTower", "SemanticRegression")
    emb = build_embeddings(paths.model, pca_dir=root / "data/pca", split_path=root / "data/split.parquet",
                           eval_cfg=EvalConfig(), seed=0)
    assert emb["sketch"][1].shape[1] == dim and emb["photo"][1].shape[1] == dim
    unseen, chance = _unseen_map(root, paths.model), _chance(root)
    assert unseen > 1.5 * chance, (unseen, chance)


def test_semantic_variant_has_no_free_class_weights() -> None:
    learned = build_model(ModelConfig(name="twotower", embed_dim=4, hidden=8), LossConfig(),
                          feat_dim=6, sem_dim=3, n_classes=5)
    semantic = build_model(ModelConfig(name="twotower", embed_dim=4, hidden=8,
                                       twotower_classifier="semantic"), LossConfig(), feat_dim=6, sem_dim=3, n_classes=5)
    assert learned.class_weight.shape == (5, 4) and semantic.class_weight is None
    x_sem = torch.randn(5, 3)
    w = semantic.class_weights(x_sem, torch.ones(5, dtype=torch.bool))
    assert torch.allclose(w, x_sem @ semantic.sem_proj.weight.T)  # w_c = A x_sem_c
    with pytest.raises(ValueError, match="semantic vector"):
        semantic.class_weights(x_sem, torch.zeros(5, dtype=torch.bool))
    with pytest.raises(ValueError, match="semantic"):
        build_model(ModelConfig(name="semantic-regression"), LossConfig(), feat_dim=6, sem_dim=0)


def test_deterministic_with_the_same_seed(root: Path, tmp_path: Path) -> None:
    train = TrainConfig(epochs=2, batch_size=16, device="cpu")
    model = ModelConfig(name="twotower", hidden=16, embed_dim=4)
    maps = []
    for run in ("a", "b"):
        d = tmp_path / run
        paths = FitPaths(d / "m.pt", d / "c/last.pt", d / "h.csv")
        maps.append(fit(_data(root), model_cfg=model, loss_cfg=LossConfig(), train_cfg=train, eval_cfg=EvalConfig(), seed=3, paths=paths).history)
    assert maps[0] == [{**h, "seconds": maps[0][i]["seconds"]} for i, h in enumerate(maps[1])]
