"""The committed best hyperparameters per model (``experiments/tuned.yaml``).

Written by ``make tune`` (:mod:`zsbir.experiments.tune`), read by the experiment grid
(:mod:`zsbir.experiments.grid`): a grid row with ``tuned: true`` takes the tuned params of
its ``model.name``. One entry per model::

    twotower:
      n_trials: 20            # Optuna trials, each trained for `epochs` epochs
      epochs: 40
      seed: 0                 # training seed and TPE sampler seed
      val_map: 0.41           # best seen-class val mAP@all (the objective)
      data: 3f2a...           # fingerprint of the seen-class train/val data tuned on
      params: {train.lr_g: 0.001, model.hidden: 256}
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zsbir.config import ConfigError
from zsbir.io import read_yaml, write_text

HEADER = (
    "# Best hyperparameters per model on seen-class val mAP (make tune; never edit by hand).\n"
    "# Grid rows with `tuned: true` take the params of their model.name from here.\n"
)


@dataclass(frozen=True)
class Tuned:
    """One model's tuning result."""

    n_trials: int
    epochs: int
    seed: int
    val_map: float
    data: str
    params: dict[str, Any] = field(default_factory=dict)

    def overrides(self) -> dict[str, Any]:
        """What a tuned grid row runs with: the best params and the epoch budget they won under."""
        return {"train.epochs": self.epochs, **self.params}


def read_tuned(path: str | os.PathLike[str]) -> dict[str, Tuned]:
    """``{model name: Tuned}`` of ``path`` ({} when the file does not exist)."""
    p = Path(path)
    if not p.exists():
        return {}
    raw = read_yaml(p) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must map model names to tuning results")
    out = {}
    for model, entry in raw.items():
        try:
            out[str(model)] = Tuned(**entry)
        except TypeError as err:
            raise ConfigError(f"{path}: entry '{model}': {err}") from err
    return out


def write_tuned(path: str | os.PathLike[str], model: str, result: Tuned) -> None:
    """Set ``model``'s entry of ``path`` (other models kept), atomically."""
    entries = {name: asdict(t) for name, t in read_tuned(path).items()}
    entries[model] = asdict(result)
    write_text(HEADER + yaml.safe_dump(entries, sort_keys=True), path)
