"""Build a model from its config, and save / load ``models/model.pt``.

``models/model.pt`` is a :func:`zsbir.io.save_checkpoint` blob: state = ``{"model":
state_dict}``, config = ``{"model": ..., "loss": ..., "feat_dim": D, "sem_dim": S, ...}``,
enough to rebuild the exact network without params.yaml.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from zsbir.config import LossConfig, ModelConfig, from_dict
from zsbir.io import ArtifactError, load_checkpoint, save_checkpoint
from zsbir.models.base import RetrievalModel
from zsbir.models.cvae import SketchConditionedCVAE
from zsbir.models.cvaegan import ParallelCVAEGAN
from zsbir.models.raw import RawFeatures
from zsbir.models.regression import SemanticRegression
from zsbir.models.twotower import CLASS_WEIGHT, TwoTower


def build_model(
    model: ModelConfig, loss: LossConfig, *, feat_dim: int, sem_dim: int, n_classes: int = 0
) -> RetrievalModel:
    """The network ``model.name`` names (the only dispatch on it); parts whose loss weight
    is 0 are not built.

    ``n_classes`` (seen classes) sizes the learned class weights of ``twotower``.
    """
    if model.name == "raw":
        return RawFeatures(model, feat_dim)
    if model.name == "cvae":
        return SketchConditionedCVAE(model, feat_dim)
    if model.name == "twotower":
        return TwoTower(model, feat_dim, sem_dim, n_classes)
    if model.name == "semantic-regression":
        return SemanticRegression(model, feat_dim, sem_dim)
    return ParallelCVAEGAN(
        model,
        feat_dim,
        sem_dim,
        adversarial=loss.adv_weight > 0,
        semantic=loss.semantic_weight > 0,
    )


def save_model(
    path: str | os.PathLike[str], net: RetrievalModel, config: Mapping[str, Any]
) -> None:
    """Write ``{"model": state_dict}`` + the plain config dict (atomic)."""
    save_checkpoint(path, {"model": net.state_dict()}, config)


def load_model(path: str | os.PathLike[str]) -> tuple[RetrievalModel, dict[str, Any]]:
    """Rebuild the network stored at ``path`` (eval mode, CPU) and return it with its config."""
    state, config = load_checkpoint(path)
    try:
        model_cfg = from_dict(ModelConfig, config["model"], "model")
        loss_cfg = from_dict(LossConfig, config["loss"], "loss")
        weights = state["model"].get(CLASS_WEIGHT)  # twotower's learned (C, E) class weights
        n_classes = 0 if weights is None else int(weights.shape[0])
        net = build_model(
            model_cfg,
            loss_cfg,
            feat_dim=int(config["feat_dim"]),
            sem_dim=int(config["sem_dim"]),
            n_classes=n_classes,
        )
        net.load_state_dict(state["model"])
    except (KeyError, RuntimeError) as err:
        raise ArtifactError(f"{path}: cannot rebuild the model: {err}") from err
    return net.eval(), config
