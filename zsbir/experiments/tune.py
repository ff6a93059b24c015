"""Equal hyperparameter tuning of every model with Optuna, on seen-class val mAP only.

``tune(...)`` runs ``n_trials`` Optuna trials (TPE sampler seeded with ``seed``; Bergstra
et al., NeurIPS 2011) for one model. Each trial samples the model's declared search space
(``experiments/search/<model>.yaml``), trains in-process with :func:`zsbir.train.loop.fit`
for exactly ``epochs`` epochs (the same budget for every model) on the already built
``data/pca`` + split + classes, and returns the **seen-class val mAP@all** of its selected
epoch. Only :func:`zsbir.train.data.load_training_data` reads the data: it keeps the
train/val rows of seen classes and drops everything else (``check_no_leakage``), so no
unseen-class item can reach the objective. Each trial writes its checkpoints into its own
temporary folder, so it can never resume another trial's checkpoint.

The study is stored in SQLite (``sqlite:///optuna.db`` beside ``mlflow.db``), name
``tune-<model>``; a study of that name is replaced, so the stored study always matches
the last tuning. With ``resume=True`` it is continued instead, up to ``n_trials`` finished
trials: trials left running by an interrupted process are marked failed and not counted,
and the sampler is re-seeded with ``seed + finished`` (deterministic given the stored
history, but not trial for trial the uninterrupted search: TPE's random state is not
stored). Every trial is a nested MLflow run under one parent run ``tune-<model>``.

Search-space file: ``params.yaml`` dotted key -> distribution::

    train.lr_g: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
    model.hidden: {type: categorical, choices: [256, 512]}
    model.embed_dim: {type: int, low: 64, high: 256, step: 64}
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping

from zsbir.config import ConfigError, parse_params
from zsbir.experiments.convergence import FAILED_ATTR, counted_trials, trial_values
from zsbir.experiments.grid import apply_overrides, check_overrides
from zsbir.experiments.tuned import Tuned
from zsbir.io import read_yaml
from zsbir.train.data import TrainData
from zsbir.train.loop import FitPaths, NonFiniteLossError, fit_params

log = logging.getLogger(__name__)

# What shapes the trained model; eval.space also sets the space val mAP is selected in.
TUNABLE_SECTIONS = ("model.", "loss.", "train.", "eval.space")
FIXED_KEYS = ("model.name", "train.epochs", "train.patience", "train.device", "train.threads")
_DIST_KEYS = {"type", "low", "high", "log", "step", "choices"}


@dataclass(frozen=True)
class Distribution:
    """One searched parameter: float / int range (optionally log or stepped) or choices."""

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class TuneResult:
    best: Tuned
    seconds: float
    study_name: str
    values: tuple[float, ...]  # objective of every trial, in order (NaN = failed)


def load_search_space(
    path: str | os.PathLike[str], params: Mapping[str, Any]
) -> dict[str, Distribution]:
    """Read and check ``path`` against ``params`` (params.yaml); errors name file and key."""
    raw = read_yaml(path) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"search space {path} must map params keys to distributions")
    space = {}
    for key, spec in raw.items():
        where = f"search space {path}, key '{key}'"
        if not str(key).startswith(TUNABLE_SECTIONS) or key in FIXED_KEYS:
            raise ConfigError(f"{where}: only model/loss/train keys and eval.space other than "
                              f"{list(FIXED_KEYS)} may be tuned")
        if not isinstance(spec, dict) or set(spec) - _DIST_KEYS or "type" not in spec:
            raise ConfigError(f"{where}: expected a mapping with 'type' and {_DIST_KEYS}")
        dist = _distribution(spec, where)
        for value in _corners(dist):
            check_overrides(params, {key: value}, where)
        space[str(key)] = dist
    return space


def _distribution(spec: dict[str, Any], where: str) -> Distribution:
    kind = spec["type"]
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}: categorical needs a non-empty 'choices' list")
        return Distribution("categorical", choices=tuple(choices))
    if kind not in ("float", "int"):
        raise ConfigError(f"{where}: type must be float, int or categorical, got {kind!r}")
    low, high = spec.get("low"), spec.get("high")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
        raise ConfigError(f"{where}: {kind} needs numeric 'low' and 'high'")
    if not low < high or (spec.get("log") and low <= 0):
        raise ConfigError(f"{where}: need low < high (and low > 0 with log), got {low}, {high}")
    return Distribution(kind, low, high, bool(spec.get("log", False)), spec.get("step"))


def _corners(dist: Distribution) -> list[Any]:
    if dist.type == "categorical":
        return list(dist.choices)
    cast = int if dist.type == "int" else float
    return [cast(dist.low), cast(dist.high)]


def suggest(trial: Any, space: Mapping[str, Distribution]) -> dict[str, Any]:
    """One sampled value per searched key (``optuna.Trial`` suggest API)."""
    out: dict[str, Any] = {}
    for key, d in space.items():
        if d.type == "categorical":
            out[key] = trial.suggest_categorical(key, list(d.choices))
        elif d.type == "int":
            out[key] = trial.suggest_int(key, int(d.low), int(d.high), step=int(d.step or 1),
                                         log=d.log)
        else:
            out[key] = trial.suggest_float(key, float(d.low), float(d.high), step=d.step,
                                           log=d.log)
    return out


def tune(
    model: str,
    params: Mapping[str, Any],
    data: TrainData,
    space: Mapping[str, Distribution],
    *,
    n_trials: int,
    epochs: int,
    storage: str,
    tracking_uri: str,
    resume: bool = False,
) -> TuneResult:
    """Run (or, with ``resume``, continue) the study for ``model`` (see module docstring);
    return its best trial."""
    import mlflow
    import optuna

    from zsbir.tracking import EXPERIMENT

    if n_trials < 1 or epochs < 1:
        raise ValueError(f"need n_trials >= 1 and epochs >= 1, got {n_trials}, {epochs}")
    fixed = {"model.name": model, "train.epochs": epochs}
    seed = parse_params(apply_overrides(params, fixed)).seed
    name = f"tune-{model}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study, finished = _open_study(name, storage, resume)
    study.sampler = optuna.samplers.TPESampler(seed=seed + finished)
    remaining = max(n_trials - finished, 0)
    if resume:
        log.info("study '%s': %d trials finished, %d to run", name, finished, remaining)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(EXPERIMENT)
    t0 = time.perf_counter()
    with mlflow.start_run(run_name=name):
        mlflow.set_tags({"zsbir.kind": "tune", "model": model, "data": data.fingerprint()})
        mlflow.log_params({"n_trials": n_trials, "epochs": epochs, "seed": seed,
                           "search_space": sorted(space)})

        def objective(trial: Any) -> float:
            overrides = suggest(trial, space)
            try:
                return _trial(trial.number, params, {**overrides, **fixed}, data, mlflow)
            except NonFiniteLossError as err:  # counted: a failure of this configuration
                trial.set_user_attr(FAILED_ATTR, str(err))
                raise

        if remaining:
            study.optimize(objective, n_trials=remaining, catch=(NonFiniteLossError,),
                           show_progress_bar=True)
        values = trial_values(study.trials)
        done = [t for t in study.trials if t.value is not None]
        if not done:
            raise RuntimeError(f"every trial of {name} failed")
        best = study.best_trial
        mlflow.log_metric("best_val_map", float(best.value))
        mlflow.log_params({f"best.{k}": v for k, v in best.params.items()})
    result = Tuned(n_trials=n_trials, epochs=epochs, seed=seed, val_map=float(best.value),
                   data=data.fingerprint(), params=_plain(best.params))
    return TuneResult(result, time.perf_counter() - t0, name, values)


def _open_study(name: str, storage: str, resume: bool) -> tuple[Any, int]:
    """The study ``name`` (replaced unless ``resume``) and its number of finished trials;
    trials an interrupted process left running are marked failed and count as nothing
    (:func:`~zsbir.experiments.convergence.counted_trials`)."""
    import optuna
    from optuna.trial import TrialState

    if not resume:
        try:
            optuna.delete_study(study_name=name, storage=storage)
            log.warning("replaced the earlier study '%s' in %s", name, storage)
        except KeyError:
            pass
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize",
                                load_if_exists=resume)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)
        log.warning("study '%s': trial %d was left running; marked failed", name, trial.number)
    return study, len(counted_trials(study.get_trials(deepcopy=False)))


def _trial(number: int, params: Mapping[str, Any], overrides: dict[str, Any], data: TrainData,
           mlflow: Any) -> float:
    """Train one configuration in a fresh temporary folder; its seen-class val mAP."""
    p = parse_params(apply_overrides(params, overrides))
    with mlflow.start_run(run_name=f"trial-{number}", nested=True):
        mlflow.log_params(overrides)
        with tempfile.TemporaryDirectory(prefix="zsbir-trial-") as tmp:
            paths = FitPaths(
                model=Path(tmp) / "model.pt",
                checkpoint=Path(tmp) / "checkpoints" / "last.pt",
                history=Path(tmp) / "history.csv",
            )
            result = fit_params(
                data, p, paths, on_epoch=lambda epoch, m: mlflow.log_metrics(m, step=epoch)
            )
        mlflow.log_metrics({"val_map": result.best_val_map, "best_epoch": result.best_epoch})
    log.info("trial %d: val mAP %.4f with %s", number, result.best_val_map, overrides)
    return float(result.best_val_map)


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """YAML-friendly copies of the sampled values (numpy scalars -> Python)."""
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in sorted(values.items())}
