"""Training loop: exact resume, config-mismatch restart, NaN guard, early stopping, logging."""

import dataclasses
import logging
from pathlib import Path

import pandas as pd
import pytest
import torch

from zsbir.config import EvalConfig, LossConfig, ModelConfig, TrainConfig
from zsbir.io import load_checkpoint
from zsbir.models import losses
from zsbir.train import loop
from zsbir.train.data import build_training_data
from zsbir.train.loop import FitPaths, NonFiniteLossError, fit
from toy import make_toy_dataset

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
    full = fit(data, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=TRAIN, eval_cfg=EVAL, seed=7, paths=_paths(tmp_path / "full"))

    def interrupt(epoch: int, metrics: dict[str, float]) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(data, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=TRAIN, eval_cfg=EVAL, seed=7, paths=_paths(tmp_path / "cut"), on_epoch=interrupt)
    resumed = fit(data, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=TRAIN, eval_cfg=EVAL, seed=7, paths=_paths(tmp_path / "cut"))
    assert resumed.resumed_from == 2 and resumed.epochs_run == 3
    assert _same(_weights(tmp_path / "full/ckpt/last.pt"), _weights(tmp_path / "cut/ckpt/last.pt"))
    assert _same(_weights(tmp_path / "full/model.pt"), _weights(tmp_path / "cut/model.pt"))
    assert [h["val_map"] for h in full.history] == [h["val_map"] for h in resumed.history]
    # Extending a finished 2-epoch run to 3 epochs also matches (epochs may change on resume).
    fit(data, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=dataclasses.replace(TRAIN, epochs=2), eval_cfg=EVAL, seed=7, paths=_paths(tmp_path / "ext"))
    fit(data, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=TRAIN, eval_cfg=EVAL, seed=7, paths=_paths(tmp_path / "ext"))
    assert _same(_weights(tmp_path / "full/ckpt/last.pt"), _weights(tmp_path / "ext/ckpt/last.pt"))
    history = pd.read_csv(tmp_path / "ext/history.csv")
    assert list(history["epoch"]) == [1, 2, 3] and "loss.adv_photo" in history
    # Resuming a finished run trains nothing but still writes the history (DVC deleted it).
    (tmp_path / "ext/history.csv").unlink()
    again = fit(data, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=TRAIN, eval_cfg=EVAL, seed=7, paths=_paths(tmp_path / "ext"))
    assert again.resumed_from == 3
    assert pd.read_csv(tmp_path / "ext/history.csv").equals(history)


def test_changed_config_starts_fresh_and_says_why(data, tmp_path, caplog) -> None:
    fit(data, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=dataclasses.replace(TRAIN, epochs=1), eval_cfg=EVAL, seed=0, paths=_paths(tmp_path))
    with caplog.at_level(logging.WARNING, logger="zsbir.train.loop"):
        result = fit(
            data,
            model_cfg=MODEL,
            loss_cfg=LOSS,
            train_cfg=dataclasses.replace(TRAIN, epochs=1, lr_g=0.01),
            eval_cfg=EVAL,
            seed=0,
            paths=_paths(tmp_path),
        )
    assert result.resumed_from == 0
    assert "train.lr_g" in caplog.text and "starting fresh" in caplog.text


def test_nan_loss_stops_with_term_and_epoch_and_keeps_last_checkpoint(
    data,
    tmp_path,
    monkeypatch,
) -> None:
    real = losses.generator_losses
    snapshot: dict[str, bytes] = {}
    ckpt = tmp_path / "ckpt" / "last.pt"

    def poisoned(*args, **kwargs):
        terms = real(*args, **kwargs)
        if snapshot:  # after epoch 1 finished
            terms["align"] = terms["align"] * float("nan")
        return terms

    def after(epoch: int, metrics: dict[str, float]) -> None:
        snapshot["bytes"] = ckpt.read_bytes()

    monkeypatch.setattr(losses, "generator_losses", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"'align' is nan at epoch 2"):
        fit(data, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=TRAIN, eval_cfg=EVAL, seed=0, paths=_paths(tmp_path), on_epoch=after)
    assert ckpt.read_bytes() == snapshot["bytes"]
    assert load_checkpoint(ckpt)[0]["epoch"] == 1


def test_early_stopping_on_val_map_and_epoch_callback(data, tmp_path) -> None:
    frozen = dataclasses.replace(TRAIN, epochs=5, lr_g=0.0, patience=1)  # val mAP cannot improve
    seen: list[tuple[int, dict[str, float]]] = []
    result = fit(
        data,
        model_cfg=MODEL,
        loss_cfg=LOSS,
        train_cfg=frozen,
        eval_cfg=dataclasses.replace(EVAL, space="structure"),
        seed=0,
        paths=_paths(tmp_path),
        on_epoch=lambda e, m: seen.append((e, m)),
    )
    assert result.stopped_early and result.epochs_run == 2 and result.best_epoch == 1
    assert [e for e, _ in seen] == [1, 2]
    assert {"val_map", "loss.g_total", "loss.d_total", "seconds"} <= set(seen[0][1])


def _summary(result) -> dict:
    out = result.summary()
    out.pop("seconds_per_epoch")
    out.pop("resumed_from")
    return out


def test_shorter_run_never_resumes_a_longer_ones_checkpoint(data, tmp_path, caplog) -> None:
    """Issue: `-S train.epochs=5` after the default run silently returned the long run."""
    long_cfg, short_cfg = dataclasses.replace(TRAIN, epochs=4), dataclasses.replace(TRAIN, epochs=2)
    shared = _paths(tmp_path / "shared")
    long_run = fit(data, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=long_cfg, eval_cfg=EVAL, seed=3, paths=shared)
    long_weights = _weights(shared.model)
    with caplog.at_level(logging.WARNING, logger="zsbir.train.loop"):
        short = fit(data, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=short_cfg, eval_cfg=EVAL, seed=3, paths=shared)
    assert short.resumed_from == 0 and short.epochs_run == 2
    assert "at epoch 4, beyond this run's train.epochs = 2" in caplog.text
    fresh = fit(data, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=short_cfg, eval_cfg=EVAL, seed=3, paths=_paths(tmp_path / "fresh"))
    assert _summary(short) == _summary(fresh)
    assert _same(_weights(shared.model), _weights(tmp_path / "fresh/model.pt"))
    # Back to the long run: it extends the 2-epoch checkpoint and equals the first long run.
    again = fit(data, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=long_cfg, eval_cfg=EVAL, seed=3, paths=shared)
    assert again.resumed_from == 2
    assert _summary(again) == _summary(long_run)
    assert _same(_weights(shared.model), long_weights)


def test_smaller_patience_that_would_have_stopped_earlier_starts_fresh(data, tmp_path) -> None:
    frozen = dataclasses.replace(TRAIN, epochs=4, lr_g=0.0, patience=0)  # val mAP never improves
    ev = dataclasses.replace(EVAL, space="structure")
    fit(data, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=frozen, eval_cfg=ev, seed=0, paths=_paths(tmp_path / "a"))
    impatient = dataclasses.replace(frozen, patience=1)
    result = fit(data, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=impatient, eval_cfg=ev, seed=0, paths=_paths(tmp_path / "a"))
    fresh = fit(data, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=impatient, eval_cfg=ev, seed=0, paths=_paths(tmp_path / "b"))
    assert result.resumed_from == 0 and _summary(result) == _summary(fresh)
    assert result.epochs_run == 2 and result.stopped_early


def test_checkpoint_of_another_model_or_other_features_is_ignored(data, tmp_path, caplog) -> None:
    one = dataclasses.replace(TRAIN, epochs=1)
    fit(data, model_cfg=dataclasses.replace(MODEL, name="cvae"), loss_cfg=LOSS, train_cfg=one, eval_cfg=EVAL, seed=0, paths=_paths(tmp_path))
    with caplog.at_level(logging.WARNING, logger="zsbir.train.loop"):
        result = fit(data, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=one, eval_cfg=EVAL, seed=0, paths=_paths(tmp_path))
    assert result.resumed_from == 0 and "model.name" in caplog.text
    # Same item ids, other feature values (e.g. another PCA): a different dataset.
    shifted = dataclasses.replace(
        data, photo_train=dataclasses.replace(data.photo_train, x=data.photo_train.x + 1.0)
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="zsbir.train.loop"):
        result = fit(shifted, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=one, eval_cfg=EVAL, seed=0, paths=_paths(tmp_path))
    assert result.resumed_from == 0 and "differs in data" in caplog.text


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupted_checkpoint_is_moved_aside_with_a_message(data, tmp_path, caplog, damage) -> None:
    paths = _paths(tmp_path)
    one = dataclasses.replace(TRAIN, epochs=1)
    fit(data, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=one, eval_cfg=EVAL, seed=0, paths=paths)
    blob = paths.checkpoint.read_bytes()
    paths.checkpoint.write_bytes(
        {"garbage": b"\x80\x04not a checkpoint", "truncated": blob[: len(blob) // 2], "empty": b""}[
            damage
        ]
    )
    with caplog.at_level(logging.WARNING, logger="zsbir.train.loop"):
        result = fit(data, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=dataclasses.replace(TRAIN, epochs=2), eval_cfg=EVAL, seed=0, paths=paths)
    assert result.resumed_from == 0 and result.epochs_run == 2
    assert f"{paths.checkpoint}: unreadable checkpoint" in caplog.text
    assert paths.checkpoint.with_name("last.pt.corrupt").exists()
    assert load_checkpoint(paths.checkpoint)[0]["epoch"] == 2  # a new, valid checkpoint


def test_changed_training_code_is_a_different_run(data, tmp_path, caplog, monkeypatch) -> None:
    one = dataclasses.replace(TRAIN, epochs=1)
    fit(data, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=one, eval_cfg=EVAL, seed=0, paths=_paths(tmp_path))
    monkeypatch.setattr(loop, "code_fingerprint", lambda: "0123456789abcdef")
    with caplog.at_level(logging.WARNING, logger="zsbir.train.loop"):
        result = fit(data, model_cfg=MODEL, loss_cfg=LOSS, train_cfg=dataclasses.replace(TRAIN, epochs=2), eval_cfg=EVAL, seed=0, paths=_paths(tmp_path))
    assert result.resumed_from == 0 and "differs in code" in caplog.text
