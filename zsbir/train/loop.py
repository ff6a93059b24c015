"""Training: alternating D / G Adam updates, val-mAP model selection, checkpoints, resume.

Every epoch ends with a checkpoint ``last.pt`` (a :class:`TrainState`: model + optimizer
states, counters, best-so-far weights and all RNG states, with the run's identity;
written atomically), so an interrupted run resumes from it and reaches exactly the
weights of an uninterrupted run with the same seed.

A checkpoint resumes only a run that would have passed through it: the same identity
(:func:`run_config`: model, loss and train params, selection, seed, a hash of the
training data's features and classes, the training code and the torch version), at an
epoch the new run reaches (``train.epochs`` may grow, never shrink below it) and that the
new ``train.patience`` would not have stopped before. Any other checkpoint is ignored with
a log line saying why; an unreadable one is moved aside as ``last.pt.corrupt``.
Selection and early stopping use only the seen-class **val** split.
A non-finite loss stops training with :class:`NonFiniteLossError`; the checkpoint of the
last finished epoch stays as it was.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from zsbir.config import (
    EvalConfig,
    LossConfig,
    ModelConfig,
    Params,
    TrainConfig,
    flatten,
    to_dict,
)
from zsbir.io import ArtifactError, load_checkpoint, save_checkpoint, write_text
from zsbir.models.base import Batch, TrainableModel
from zsbir.models.factory import build_model, save_model
from zsbir.seed import derive, seed_everything
from zsbir.train.data import TrainData
from zsbir.train.pairs import batches, epoch_pairs
from zsbir.train.select import validation_map

log = logging.getLogger(__name__)

OnEpoch = Callable[[int, dict[str, float]], None]
# Keys that do not shape the training trajectory: they may differ on resume. Epochs and
# patience may too, but only where the new run would reach the checkpoint (resume_blocker).
RUN_INDEPENDENT = ("train.device", "train.threads", "train.epochs", "train.patience")
# The code whose source shapes training (part of a checkpoint's identity).
TRAINING_CODE = ("zsbir/models", "zsbir/retrieval", "zsbir/train")


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN/Inf; the message names the term and the epoch."""


@dataclass(frozen=True)
class FitPaths:
    model: Path  # models/model.pt (best weights + config)
    checkpoint: Path  # models/checkpoints/last.pt
    history: Path  # plots/train_history.csv


@dataclass
class FitResult:
    best_epoch: int
    best_val_map: float
    epochs_run: int
    stopped_early: bool
    resumed_from: int
    seconds_per_epoch: float
    n_parameters: int
    history: list[dict[str, float]] = field(default_factory=list)

    def summary(self) -> dict[str, float | int | bool]:
        out = {k: v for k, v in self.__dict__.items() if k != "history"}
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


def run_config(
    data: TrainData,
    *,
    model: ModelConfig,
    loss: LossConfig,
    train: TrainConfig,
    ev: EvalConfig,
    seed: int,
) -> dict[str, Any]:
    """The plain config stored with checkpoints and ``model.pt``."""
    return {
        "model": to_dict(model),
        "loss": to_dict(loss),
        "train": to_dict(train),
        "select": {"space": ev.space, "n_samples": ev.n_samples},
        "seed": seed,
        "feat_dim": data.feat_dim,
        "sem_dim": data.sem_dim,
        "feat_scale": dict(data.feat_scale),
        "data": data.fingerprint(),
        "code": code_fingerprint(),
        "torch": str(torch.__version__),
    }


def code_fingerprint() -> str:
    """SHA-256 (16 hex) of the training code's source (:data:`TRAINING_CODE`)."""
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for folder in TRAINING_CODE:
        for path in sorted((root / folder).rglob("*.py")):
            h.update(path.relative_to(root).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def fit(
    data: TrainData,
    *,
    model_cfg: ModelConfig,
    loss_cfg: LossConfig,
    train_cfg: TrainConfig,
    eval_cfg: EvalConfig,
    seed: int,
    paths: FitPaths,
    on_epoch: OnEpoch | None = None,
) -> FitResult:
    """Train ``model_cfg.name`` on ``data`` and write ``paths.model`` (best val-mAP weights).

    Seeds Python/NumPy/torch with ``seed`` first (:func:`zsbir.seed.seed_everything`): model
    initialisation and dropout draw from torch's global RNG, and one process may train many
    times (tuning trials, a resumed run), each of which must start from the same state.
    """
    seed_everything(seed)
    if train_cfg.threads > 0:
        torch.set_num_threads(train_cfg.threads)
    config = run_config(
        data, model=model_cfg, loss=loss_cfg, train=train_cfg, ev=eval_cfg, seed=seed
    )
    device = _device(train_cfg.device)
    model = build_model(
        model_cfg,
        loss_cfg,
        feat_dim=data.feat_dim,
        sem_dim=data.sem_dim,
        n_classes=len(data.classes),
    ).to(device)
    val_seed = derive(seed, "val")
    if not isinstance(model, TrainableModel):  # nothing to train: record val mAP, save config
        val = validation_map(
            model, data.sketch_val, data.photo_val, space=eval_cfg.space, n_samples=1,
            seed=val_seed,
        )
        row = {"epoch": 0, "val_map": val}
        _emit(paths, [row], on_epoch)
        save_model(paths.model, model, config)
        paths.checkpoint.parent.mkdir(parents=True, exist_ok=True)  # the stage's (empty) out
        return FitResult(0, val, 0, False, 0, 0.0, 0, [row])

    g_params, d_params = model.generator_parameters(), model.discriminator_parameters()
    betas = (train_cfg.beta1, train_cfg.beta2)
    st = TrainState(
        model=model,
        opt_g=torch.optim.Adam(g_params, lr=train_cfg.lr_g, betas=betas),
        opt_d=torch.optim.Adam(d_params, lr=train_cfg.lr_d, betas=betas) if d_params else None,
        gen=torch.Generator().manual_seed(derive(seed, "train")),
    )
    resumed = try_resume(st, paths.checkpoint, config)
    on_device = _to_device(data, device)
    timings: list[float] = []
    stopped = False
    for epoch in range(st.epoch + 1, train_cfg.epochs + 1):
        if 0 < train_cfg.patience <= st.bad_epochs:
            stopped = True
            break
        t0 = time.perf_counter()
        metrics = _train_epoch(st, on_device, loss_cfg, train_cfg, epoch)
        val = validation_map(
            model, data.sketch_val, data.photo_val, space=eval_cfg.space,
            n_samples=eval_cfg.n_samples, seed=val_seed,
        )
        timings.append(time.perf_counter() - t0)
        metrics.update(val_map=val, seconds=timings[-1])
        st.record(epoch, val, metrics)
        save_checkpoint(paths.checkpoint, st.to_checkpoint(), config)
        log.info(
            "epoch %d: g_total %.4f val mAP %.4f (best %.4f @ %d) %.1fs",
            epoch,
            metrics.get("loss.g_total", math.nan),
            val,
            st.best_map,
            st.best_epoch,
            timings[-1],
        )
        _emit(paths, st.history, on_epoch)
    if st.best_model is None:
        raise RuntimeError(f"no epoch was trained (train.epochs = {train_cfg.epochs})")
    model.load_state_dict(st.best_model)
    save_model(paths.model, model, config)
    # (re)written here too: a run resumed from its final checkpoint trains no epoch
    write_text(pd.DataFrame(st.history).to_csv(index=False), paths.history)
    return FitResult(
        best_epoch=st.best_epoch,
        best_val_map=st.best_map,
        epochs_run=st.epoch,
        stopped_early=stopped,
        resumed_from=resumed,
        seconds_per_epoch=sum(timings) / len(timings) if timings else 0.0,
        n_parameters=sum(p.numel() for p in model.parameters()),
        history=st.history,
    )


def fit_params(
    data: TrainData, params: Params, paths: FitPaths, on_epoch: OnEpoch | None = None
) -> FitResult:
    """:func:`fit` with the ``model``, ``loss``, ``train``, ``eval`` and ``seed`` of ``params``."""
    return fit(
        data,
        model_cfg=params.model,
        loss_cfg=params.loss,
        train_cfg=params.train,
        eval_cfg=params.eval,
        seed=params.seed,
        paths=paths,
        on_epoch=on_epoch,
    )


# ------------------------------------------------------------------------ one epoch
def _train_epoch(
    st: TrainState,
    data: TrainData,
    loss_cfg: LossConfig,
    train_cfg: TrainConfig,
    epoch: int,
) -> dict[str, float]:
    """One pass over the train sketches, each with its paired photo.

    Per batch the model gives its discriminator terms (minimised first, with ``opt_d``)
    and then its generator terms (``opt_g``); see :mod:`zsbir.models.base`.
    """
    model, gen = st.model, st.gen
    model.train()
    ske, pho = data.sketch_train, data.photo_train
    partner = epoch_pairs(data.sketch_pair, ske.cls.cpu(), pho.cls.cpu(), train_cfg.pairing, gen)
    device = ske.x.device
    sums: dict[str, float] = defaultdict(float)
    n_seen = 0
    bar = tqdm(batches(len(ske.ids), train_cfg.batch_size, gen), desc=f"epoch {epoch}", leave=False)
    for step, idx in enumerate(bar):
        batch = Batch(
            photo=pho.x[partner[idx].to(device)],  # (B, D)
            sketch=ske.x[idx.to(device)],  # (B, D)
            cls=ske.cls[idx.to(device)],  # (B,)
            class_sem=data.x_sem,  # (C, S)
            sem_mask=data.sem_mask,  # (C,)
        )
        d_terms, context = model.discriminator_step(batch, loss_cfg, gen)
        if st.opt_d is not None:
            _minimise(st.opt_d, d_terms, epoch, step)
        g_terms = model.generator_step(batch, loss_cfg, gen, context)
        _minimise(st.opt_g, g_terms, epoch, step)
        b = len(idx)
        n_seen += b
        for side, terms in (("g", g_terms), ("d", d_terms)):
            for name, v in terms.items():
                sums[f"loss.{side}_total" if name == "total" else f"loss.{name}"] += (
                    float(v.detach()) * b
                )
        bar.set_postfix(g=f"{float(g_terms['total'].detach()):.3f}")
    return {k: v / n_seen for k, v in sums.items()}


def _minimise(
    opt: torch.optim.Optimizer, terms: dict[str, torch.Tensor], epoch: int, step: int
) -> None:
    """One optimizer step on ``terms["total"]`` after checking every term is finite."""
    _check_finite(terms, epoch, step)
    opt.zero_grad(set_to_none=True)
    terms["total"].backward()
    opt.step()


def _check_finite(terms: dict[str, torch.Tensor], epoch: int, step: int) -> None:
    for name, value in terms.items():
        if not bool(torch.isfinite(value).all()):
            raise NonFiniteLossError(
                f"loss term '{name}' is {float(value.detach())} at epoch {epoch} (batch {step}); "
                f"training stopped, the checkpoint of epoch {epoch - 1} is kept"
            )


# ------------------------------------------------------------ checkpoints / resume
@dataclass
class TrainState:
    """Everything a checkpoint saves and a resumed run restores, as one object.

    The stateful objects (model, optimizers, the batch-order generator) plus the counters
    of model selection and early stopping, the per-epoch history and the best weights.
    """

    model: TrainableModel
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None
    gen: torch.Generator
    epoch: int = 0
    best_map: float = -math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_model: dict[str, torch.Tensor] | None = None

    COUNTERS = ("epoch", "best_map", "best_epoch", "bad_epochs", "history", "best_model")

    def record(self, epoch: int, val: float, metrics: dict[str, float]) -> None:
        """Book one finished epoch: selection on val mAP, early-stopping counter, history."""
        if math.isnan(val) or val > self.best_map:
            self.best_map, self.best_epoch, self.bad_epochs = val, epoch, 0
            self.best_model = _cpu_state(self.model)
        else:
            self.bad_epochs += 1
        self.epoch = epoch
        self.history.append({"epoch": epoch, **metrics})

    def to_checkpoint(self) -> dict[str, Any]:
        """Plain dict of state_dicts, RNG states and counters (``torch.save``-able)."""
        rng = {"generator": self.gen.get_state(), "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "model": self.model.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": None if self.opt_d is None else self.opt_d.state_dict(),
            "rng": rng,
            **{key: getattr(self, key) for key in self.COUNTERS},
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Load what :meth:`to_checkpoint` wrote (raises if it does not fit the model)."""
        self.model.load_state_dict(state["model"])
        self.opt_g.load_state_dict(state["opt_g"])
        if self.opt_d is not None:
            self.opt_d.load_state_dict(state["opt_d"])
        self.gen.set_state(state["rng"]["generator"])
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        for key in self.COUNTERS:
            setattr(self, key, state[key])


def try_resume(st: TrainState, path: Path, config: dict[str, Any]) -> int:
    """Restore ``st`` from ``path`` if it belongs to this run; its epoch, or 0 (fresh start).

    A checkpoint of another run is ignored (logged with the reason); an unreadable one is
    moved aside to ``<path>.corrupt`` (logged) so it never blocks a new run.
    """
    if not path.exists():
        return 0
    try:
        state, old = load_checkpoint(path)
    except ArtifactError as err:
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        log.warning("%s; moved it to %s and starting fresh (delete it when done)", err, aside)
        return 0
    reason = resume_blocker(old, config, state)
    if reason is not None:
        log.warning("not resuming from %s: %s; starting fresh", path, reason)
        return 0
    fresh = st.to_checkpoint()
    try:
        st.restore(state)
    except (KeyError, RuntimeError, ValueError) as err:
        st.restore(fresh)
        log.warning("not resuming from %s: it does not fit the model (%s); starting fresh",
                    path, err)
        return 0
    log.info("resuming from %s after epoch %d (best val mAP %.4f)", path, st.epoch, st.best_map)
    return st.epoch


def resume_blocker(old: dict[str, Any], new: dict[str, Any], state: dict[str, Any]) -> str | None:
    """Why a checkpoint (``old`` config, saved ``state``) may not continue run ``new``.

    ``None`` when a fresh run of ``new`` would have passed through exactly this state: the
    same identity up to :data:`RUN_INDEPENDENT`, ``train.epochs`` not below the checkpoint's
    epoch, and no earlier early stop under the new ``train.patience`` (replayed from the
    checkpoint's val-mAP history).
    """
    diff = config_differences(old, new)
    if diff:
        return f"it belongs to another run (differs in {', '.join(diff)})"
    epoch, epochs = int(state.get("epoch", 0)), int(new["train"]["epochs"])
    if epoch > epochs:
        return f"it is at epoch {epoch}, beyond this run's train.epochs = {epochs}"
    val_maps = [float(h["val_map"]) for h in state.get("history", [])]
    stop = _early_stop_epoch(val_maps, int(new["train"]["patience"]))
    if stop is not None and stop < epoch:
        return f"train.patience = {new['train']['patience']} would have stopped at epoch {stop}"
    return None


def _early_stop_epoch(val_maps: list[float], patience: int) -> int | None:
    """The last epoch a run with ``patience`` trains, given its per-epoch val mAPs."""
    best, bad = -math.inf, 0
    for epoch, val in enumerate(val_maps, start=1):
        if 0 < patience <= bad:
            return epoch - 1
        if math.isnan(val) or val > best:
            best, bad = val, 0
        else:
            bad += 1
    return None


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ (ignoring :data:`RUN_INDEPENDENT`)."""
    a, b = flatten(old), flatten(new)
    keys = sorted(set(a) | set(b))
    return [k for k in keys if k not in RUN_INDEPENDENT and a.get(k) != b.get(k)]


# -------------------------------------------------------------------------- helpers
def _emit(paths: FitPaths, history: list[dict[str, float]], on_epoch: OnEpoch | None) -> None:
    write_text(pd.DataFrame(history).to_csv(index=False), paths.history)
    if on_epoch is not None:
        row = history[-1]
        on_epoch(int(row["epoch"]), {k: float(v) for k, v in row.items() if k != "epoch"})


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _to_device(data: TrainData, device: torch.device) -> TrainData:
    if device.type == "cpu":
        return data
    from dataclasses import replace

    moved = {
        name: replace(s, x=s.x.to(device), cls=s.cls.to(device))
        for name in ("photo_train", "sketch_train")
        for s in [getattr(data, name)]
    }
    return replace(data, x_sem=data.x_sem.to(device), sem_mask=data.sem_mask.to(device), **moved)
