"""Training loop: exact resume, config-mismatch restart, NaN guard, early stopping, logging."""

import dataclasses
import logging
from pathlib import Path

import pandas as pd
import pytest
import torch

from zsbir.config import EvalConfig, LossConfig, ModelConfig, TrainConfig
from zsbir.io import load_checkpoint
from zsbir.train import loop
from zsbir.train.data import build_training_data
from zsbir.train.loop import FitPaths, NonFiniteLossError, fit
from zsbir.train.toy import make_toy_dataset

MODEL = ModelConfig(z_structure=4, z_appearance=2, hidden=16)
LOSS = LossConfig(ortho_weight=0.1)
TRAIN = TrainConfig(epochs=3, batch_size=8, device="cpu")
EVAL = EvalConfig(space="photo", n_samples=2)  # photo space: validation also samples noise


@pytest.fixture(scope="module")
def data():
    ds = make_toy_dataset(n_seen=4, n_unseen=2, photos_per_class=8, dim=8, sem_dim=4)
    return build_training_data(ds.split, ds.class_meta, ds.x_sem, ds.features, ds.manifest)


def _paths(root: Path) -> FitPaths:
    return FitPaths(root / "model.pt", root / "ckpt" / "last.pt", root / "history.csv")


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)[0]["model"]


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_interrupted_run_resumes_to_identical_weights(data, tmp_path) -> None:
    full = fit(data, MODEL, LOSS, TRAIN, EVAL, 7, _paths(tmp_path / "full"))

    def interrupt(epoch: int, metrics: dict[str, float]) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(data, MODEL, LOSS, TRAIN, EVAL, 7, _paths(tmp_path / "cut"), on_epoch=interrupt)
    resumed = fit(data, MODEL, LOSS, TRAIN, EVAL, 7, _paths(tmp_path / "cut"))
    assert resumed.resumed_from == 2 and resumed.epochs_run == 3
    assert _same(_weights(tmp_path / "full/ckpt/last.pt"), _weights(tmp_path / "cut/ckpt/last.pt"))
    assert _same(_weights(tmp_path / "full/model.pt"), _weights(tmp_path / "cut/model.pt"))
    assert [h["val_map"] for h in full.history] == [h["val_map"] for h in resumed.history]
    # Extending a finished 2-epoch run to 3 epochs also matches (epochs may change on resume).
    fit(data, MODEL, LOSS, dataclasses.replace(TRAIN, epochs=2), EVAL, 7, _paths(tmp_path / "ext"))
    fit(data, MODEL, LOSS, TRAIN, EVAL, 7, _paths(tmp_path / "ext"))
    assert _same(_weights(tmp_path / "full/ckpt/last.pt"), _weights(tmp_path / "ext/ckpt/last.pt"))
    history = pd.read_csv(tmp_path / "ext/history.csv")
    assert list(history["epoch"]) == [1, 2, 3] and "loss.adv_photo" in history
    # Resuming a finished run trains nothing but still writes the history (DVC deleted it).
    (tmp_path / "ext/history.csv").unlink()
    again = fit(data, MODEL, LOSS, TRAIN, EVAL, 7, _paths(tmp_path / "ext"))
    assert again.resumed_from == 3
    assert pd.read_csv(tmp_path / "ext/history.csv").equals(history)


def test_changed_config_starts_fresh_and_says_why(data, tmp_path, caplog) -> None:
    fit(data, MODEL, LOSS, dataclasses.replace(TRAIN, epochs=1), EVAL, 0, _paths(tmp_path))
    with caplog.at_level(logging.WARNING, logger="zsbir.train.loop"):
        result = fit(
            data,
            MODEL,
            LOSS,
            dataclasses.replace(TRAIN, epochs=1, lr_g=0.01),
            EVAL,
            0,
            _paths(tmp_path),
        )
    assert result.resumed_from == 0
    assert "train.lr_g" in caplog.text and "starting fresh" in caplog.text


def test_nan_loss_stops_with_term_and_epoch_and_keeps_last_checkpoint(
    data,
    tmp_path,
    monkeypatch,
) -> None:
    real = loop.losses.generator_losses
    snapshot: dict[str, bytes] = {}
    ckpt = tmp_path / "ckpt" / "last.pt"

    def poisoned(*args, **kwargs):
        terms = real(*args, **kwargs)
        if snapshot:  # after epoch 1 finished
            terms["align"] = terms["align"] * float("nan")
        return terms

    def after(epoch: int, metrics: dict[str, float]) -> None:
        snapshot["bytes"] = ckpt.read_bytes()

    monkeypatch.setattr(loop.losses, "generator_losses", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"'align' is nan at epoch 2"):
        fit(data, MODEL, LOSS, TRAIN, EVAL, 0, _paths(tmp_path), on_epoch=after)
    assert ckpt.read_bytes() == snapshot["bytes"]
    assert load_checkpoint(ckpt)[0]["epoch"] == 1


def test_early_stopping_on_val_map_and_epoch_callback(data, tmp_path) -> None:
    frozen = dataclasses.replace(TRAIN, epochs=5, lr_g=0.0, patience=1)  # val mAP cannot improve
    seen: list[tuple[int, dict[str, float]]] = []
    result = fit(
        data,
        MODEL,
        LOSS,
        frozen,
        dataclasses.replace(EVAL, space="structure"),
        0,
        _paths(tmp_path),
        on_epoch=lambda e, m: seen.append((e, m)),
    )
    assert result.stopped_early and result.epochs_run == 2 and result.best_epoch == 1
    assert [e for e, _ in seen] == [1, 2]
    assert {"val_map", "loss.g_total", "loss.d_total", "seconds"} <= set(seen[0][1])
