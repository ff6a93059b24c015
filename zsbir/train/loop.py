"""Training: alternating D / G Adam updates, val-mAP model selection, checkpoints, resume.

Every epoch ends with a checkpoint ``last.pt`` (model + optimizer states, config,
counters, best-so-far weights and all RNG states; written atomically), so an
interrupted run resumes from it and reaches exactly the weights of an uninterrupted run
with the same seed. Selection and early stopping use only the seen-class **val** split.
A non-finite loss stops training with :class:`NonFiniteLossError`; the checkpoint of the
last finished epoch stays as it was.
"""

from __future__ import annotations

import logging
import math
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

from zsbir.config import EvalConfig, LossConfig, ModelConfig, TrainConfig, flatten, to_dict
from zsbir.io import load_checkpoint, save_checkpoint, write_text
from zsbir.models.base import Batch, Trainable
from zsbir.models.cvae import RawFeatures, SketchConditionedCVAE
from zsbir.models.factory import build_model, save_model
from zsbir.seed import derive, seed_everything
from zsbir.train import losses
from zsbir.train.data import TrainData
from zsbir.train.pairs import batches, epoch_pairs
from zsbir.train.select import validation_map

log = logging.getLogger(__name__)

OnEpoch = Callable[[int, dict[str, float]], None]
# Keys that may change between an interrupted run and its resumption.
RESUMABLE_CHANGES = ("train.epochs", "train.patience", "train.device", "train.threads")


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
    }


def fit(
    data: TrainData,
    model_cfg: ModelConfig,
    loss_cfg: LossConfig,
    train_cfg: TrainConfig,
    eval_cfg: EvalConfig,
    seed: int,
    paths: FitPaths,
    on_epoch: OnEpoch | None = None,
) -> FitResult:
    """Train ``model_cfg.name`` on ``data`` and write ``paths.model`` (best val-mAP weights)."""
    seed_everything(seed)
    if train_cfg.threads > 0:
        torch.set_num_threads(train_cfg.threads)
    config = run_config(data, model_cfg, loss_cfg, train_cfg, eval_cfg, seed)
    device = _device(train_cfg.device)
    model = build_model(
        model_cfg, loss_cfg, data.feat_dim, data.sem_dim, len(data.classes)
    ).to(device)
    val_seed = derive(seed, "val")
    if isinstance(model, RawFeatures):  # nothing to train: record val mAP, save config
        val = validation_map(model, data.sketch_val, data.photo_val, eval_cfg.space, 1, val_seed)
        row = {"epoch": 0, "val_map": val}
        _emit(paths, [row], on_epoch)
        save_model(paths.model, model, config)
        paths.checkpoint.parent.mkdir(parents=True, exist_ok=True)  # the stage's (empty) out
        return FitResult(0, val, 0, False, 0, 0.0, 0, [row])

    g_params, d_params = model.generator_parameters(), model.discriminator_parameters()
    betas = (train_cfg.beta1, train_cfg.beta2)
    opt_g = torch.optim.Adam(g_params, lr=train_cfg.lr_g, betas=betas)
    opt_d = torch.optim.Adam(d_params, lr=train_cfg.lr_d, betas=betas) if d_params else None
    gen = torch.Generator().manual_seed(derive(seed, "train"))
    st: dict[str, Any] = {
        "epoch": 0,
        "best_map": -math.inf,
        "best_epoch": 0,
        "bad_epochs": 0,
        "history": [],
        "best_model": None,
    }
    resumed = _try_resume(paths.checkpoint, config, model, opt_g, opt_d, gen, st)
    on_device = _to_device(data, device)
    timings: list[float] = []
    stopped = False
    for epoch in range(st["epoch"] + 1, train_cfg.epochs + 1):
        if 0 < train_cfg.patience <= st["bad_epochs"]:
            stopped = True
            break
        t0 = time.perf_counter()
        metrics = _train_epoch(model, on_device, loss_cfg, train_cfg, opt_g, opt_d, gen, epoch)
        space, n = eval_cfg.space, eval_cfg.n_samples
        val = validation_map(model, data.sketch_val, data.photo_val, space, n, val_seed)
        timings.append(time.perf_counter() - t0)
        metrics.update(val_map=val, seconds=timings[-1])
        if math.isnan(val) or val > st["best_map"]:
            st.update(best_map=val, best_epoch=epoch, bad_epochs=0, best_model=_cpu_state(model))
        else:
            st["bad_epochs"] += 1
        st["epoch"] = epoch
        st["history"].append({"epoch": epoch, **metrics})
        _save(paths.checkpoint, config, model, opt_g, opt_d, gen, st)
        log.info(
            "epoch %d: g_total %.4f val mAP %.4f (best %.4f @ %d) %.1fs",
            epoch,
            metrics.get("loss.g_total", math.nan),
            val,
            st["best_map"],
            st["best_epoch"],
            timings[-1],
        )
        _emit(paths, st["history"], on_epoch)
    if st["best_model"] is None:
        raise RuntimeError(f"no epoch was trained (train.epochs = {train_cfg.epochs})")
    model.load_state_dict(st["best_model"])
    save_model(paths.model, model, config)
    # (re)written here too: a run resumed from its final checkpoint trains no epoch
    write_text(pd.DataFrame(st["history"]).to_csv(index=False), paths.history)
    return FitResult(
        best_epoch=st["best_epoch"],
        best_val_map=st["best_map"],
        epochs_run=st["epoch"],
        stopped_early=stopped,
        resumed_from=resumed,
        seconds_per_epoch=sum(timings) / len(timings) if timings else 0.0,
        n_parameters=sum(p.numel() for p in model.parameters()),
        history=st["history"],
    )


# ------------------------------------------------------------------------ one epoch
def _train_epoch(
    model: nn.Module,
    data: TrainData,
    loss_cfg: LossConfig,
    train_cfg: TrainConfig,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer | None,
    gen: torch.Generator,
    epoch: int,
) -> dict[str, float]:
    """One pass over the train sketches, each with its paired photo (alternating D / G)."""
    model.train()
    ske, pho = data.sketch_train, data.photo_train
    partner = epoch_pairs(data.sketch_pair, ske.cls.cpu(), pho.cls.cpu(), train_cfg.pairing, gen)
    device = ske.x.device
    sums: dict[str, float] = defaultdict(float)
    n_seen = 0
    bar = tqdm(batches(len(ske.ids), train_cfg.batch_size, gen), desc=f"epoch {epoch}", leave=False)
    for step, idx in enumerate(bar):
        sketch = ske.x[idx.to(device)]  # (B, D)
        photo = pho.x[partner[idx].to(device)]  # (B, D)
        cls = ske.cls[idx.to(device)]  # (B,)
        if isinstance(model, Trainable):  # owns its step: twotower, semantic-regression
            batch = Batch(photo, sketch, cls, data.x_sem, data.sem_mask)
            g_terms = model.training_step(batch, loss_cfg, gen)
            d_terms: dict[str, torch.Tensor] = {}
        elif isinstance(model, SketchConditionedCVAE):
            g_terms = losses.cvae_losses(model(photo, sketch, gen), photo, loss_cfg)
            d_terms = {}
        else:
            out = model(photo, sketch, gen, losses.needs(loss_cfg))
            d_terms, fake = {}, None
            if opt_d is not None:
                logits = model.discriminate(out, photo, sketch, for_generator=False)
                d_terms = losses.discriminator_losses(logits, loss_cfg)
                _check_finite(d_terms, epoch, step)
                opt_d.zero_grad(set_to_none=True)
                d_terms["total"].backward()
                opt_d.step()
                fake = model.discriminate(out, photo, sketch, for_generator=True)
            g_terms = losses.generator_losses(
                out, photo, sketch, data.x_sem[cls], data.sem_mask[cls], fake, loss_cfg
            )
        _check_finite(g_terms, epoch, step)
        opt_g.zero_grad(set_to_none=True)
        g_terms["total"].backward()
        opt_g.step()
        b = len(idx)
        n_seen += b
        for name, v in g_terms.items():
            sums["loss.g_total" if name == "total" else f"loss.{name}"] += float(v.detach()) * b
        for name, v in d_terms.items():
            sums["loss.d_total" if name == "total" else f"loss.{name}"] += float(v.detach()) * b
        bar.set_postfix(g=f"{float(g_terms['total'].detach()):.3f}")
    return {k: v / n_seen for k, v in sums.items()}


def _check_finite(terms: dict[str, torch.Tensor], epoch: int, step: int) -> None:
    for name, value in terms.items():
        if not bool(torch.isfinite(value).all()):
            raise NonFiniteLossError(
                f"loss term '{name}' is {float(value.detach())} at epoch {epoch} (batch {step}); "
                f"training stopped, the checkpoint of epoch {epoch - 1} is kept"
            )


# ------------------------------------------------------------ checkpoints / resume
def _save(
    path: Path,
    config: dict[str, Any],
    model: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer | None,
    gen: torch.Generator,
    st: dict[str, Any],
) -> None:
    rng = {"generator": gen.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    state = {
        "model": model.state_dict(),
        "opt_g": opt_g.state_dict(),
        "opt_d": None if opt_d is None else opt_d.state_dict(),
        "rng": rng,
        **st,
    }
    save_checkpoint(path, state, config)


def _try_resume(
    path: Path,
    config: dict[str, Any],
    model: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer | None,
    gen: torch.Generator,
    st: dict[str, Any],
) -> int:
    """Restore everything from ``path`` if its config matches; returns its epoch (0 = fresh)."""
    if not path.exists():
        return 0
    state, old = load_checkpoint(path)
    diff = config_differences(old, config)
    if diff:
        log.warning("not resuming from %s: config differs in %s; starting fresh", path, diff)
        return 0
    model.load_state_dict(state["model"])
    opt_g.load_state_dict(state["opt_g"])
    if opt_d is not None:
        opt_d.load_state_dict(state["opt_d"])
    gen.set_state(state["rng"]["generator"])
    torch.set_rng_state(state["rng"]["torch"])
    if "cuda" in state["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    for key in st:
        st[key] = state[key]
    log.info(
        "resuming from %s after epoch %d (best val mAP %.4f)", path, st["epoch"], st["best_map"]
    )
    return int(st["epoch"])


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ (ignoring :data:`RESUMABLE_CHANGES`)."""
    a, b = flatten(old), flatten(new)
    keys = sorted(set(a) | set(b))
    return [k for k in keys if k not in RESUMABLE_CHANGES and a.get(k) != b.get(k)]


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
