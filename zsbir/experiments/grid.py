"""A named grid of experiments: rows of ``-S`` overrides, each run for several seeds.

A grid file (``experiments/*.yaml``) looks like::

    name: paper                     # prefix of every DVC experiment name
    seeds: [0, 1, 2]
    base: {data.dataset: sketchy-mini, split.method: published}   # every row
    rows:                           # row label -> overrides on top of base
      raw: {model.name: raw}
      cvaegan: {}
      no-semantic: {loss.semantic_weight: 0}
      twotower: {model.name: twotower, tuned: true}   # + tuned params of twotower
      cvae: {model.name: cvae, seeds: [0, 1, 2, 3, 4]}  # this row's own seeds
    tables:                         # table name -> rows, the first is the reference
      comparison: [cvaegan, raw]
      ablation: [cvaegan, no-semantic]
    tuned_file: tuned.yaml          # optional; relative to the grid file's folder
    sweep:                          # optional: the tables are levels of one quantity
      label: class split            # (zsbir.experiments.sweeps pools them into one table)
      models: [cvaegan, raw]        # model.name of each table's rows, in row order
      levels: {comparison: published, ablation: 1}   # table -> level value

Each (row, seed) becomes one DVC experiment ``<name>-<row>-s<seed>`` with the overrides,
``seed=<seed>`` and ``ablation=<row>`` (the label that tags its MLflow run). Overrides
are checked against the params schema when the grid is loaded, so a typo fails before
anything is queued, naming the row and the key.

A row with ``tuned: true`` takes the best params of its ``model.name`` from the tuned file
(``experiments/tuned.yaml``, written by ``make tune``), and ``train.epochs`` set to the
epoch budget of the tuning (the params were chosen for it), below its own overrides:
base < tuned < row. A model not tuned yet only logs a warning (the row runs untuned).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from zsbir.config import ConfigError, parse_params
from zsbir.experiments.tuned import Tuned, read_tuned
from zsbir.io import read_yaml

log = logging.getLogger(__name__)

_LABEL = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_GRID_KEYS = {"name", "seeds", "base", "rows", "tables", "tuned_file", "sweep"}
_SWEEP_KEYS = {"label", "models", "levels"}
TUNED_KEY = "tuned"  # row key: take the tuned params of the row's model.name


@dataclass(frozen=True)
class Experiment:
    """One DVC experiment of a grid."""

    name: str  # DVC experiment name: <grid>-<row>-s<seed>
    row: str
    seed: int
    overrides: tuple[tuple[str, Any], ...]  # (dotted key, value), seed and ablation included

    def set_args(self) -> list[str]:
        """``dvc exp run`` arguments: ``-S key=value`` per override (values as YAML/JSON)."""
        args: list[str] = []
        for key, value in self.overrides:
            args += ["-S", f"{key}={json.dumps(value)}"]
        return args


@dataclass(frozen=True)
class Sweep:
    """A grid's ``sweep:`` section."""

    label: str  # the swept quantity, e.g. "class split"
    models: tuple[str, ...]  # model per table-row position; the first is the reference
    levels: Mapping[str, float | str]  # table name -> level value

    @property
    def numeric(self) -> bool:
        return all(isinstance(v, (int, float)) for v in self.levels.values())


@dataclass(frozen=True)
class Grid:
    """A validated grid file."""

    name: str
    seeds: tuple[int, ...]
    base: Mapping[str, Any]
    rows: Mapping[str, Mapping[str, Any]]
    tables: Mapping[str, tuple[str, ...]]
    tuned: Mapping[str, Tuned] = dataclasses.field(default_factory=dict)  # row -> its tuning
    row_seeds: Mapping[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)
    sweep: Sweep | None = None

    def seeds_of(self, row: str) -> tuple[int, ...]:
        """The row's own ``seeds:`` if it has them, else the grid's."""
        return self.row_seeds.get(row, self.seeds)

    def experiments(self) -> list[Experiment]:
        """Every (row, seed) experiment, rows in file order, then seeds."""
        out = []
        for row, overrides in self.rows.items():
            for seed in self.seeds_of(row):
                tuned = self.tuned[row].overrides() if row in self.tuned else {}
                merged = {**self.base, **tuned, **overrides, "seed": seed, "ablation": row}
                out.append(Experiment(f"{self.name}-{row}-s{seed}", row, seed, tuple(merged.items())))
        return out


def load_grid(path: str | Path, params: Mapping[str, Any]) -> Grid:
    """Read and validate the grid file ``path`` against the ``params`` dict (params.yaml)."""
    raw = read_yaml(path) or {}
    where = f"grid file {path}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping")
    unknown = set(raw) - _GRID_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(_GRID_KEYS)}")
    name = _label(raw.get("name"), f"{where}: name")
    seeds = _seeds(raw.get("seeds", [0]), f"{where}: seeds")
    base = _mapping(raw.get("base"), f"{where}: base")
    rows = {
        _label(row, f"{where}: row"): _mapping(ov, f"{where}: row '{row}'")
        for row, ov in _mapping(raw.get("rows"), f"{where}: rows").items()
    }
    if not rows:
        raise ConfigError(f"{where}: rows is empty")
    row_seeds = {}
    for row, overrides in rows.items():
        if "seeds" in overrides:
            row_seeds[row] = _seeds(overrides.pop("seeds"), f"{where}: row '{row}': seeds")
    tuned_path = Path(path).parent / str(raw.get("tuned_file", "tuned.yaml"))
    tuned = _tuned_rows(rows, base, params, tuned_path, where)
    for row, overrides in rows.items():
        for key in ("seed", "ablation"):
            if key in overrides or key in base:
                raise ConfigError(f"{where}: row '{row}' sets '{key}', which the grid sets itself")
        extra = tuned[row].overrides() if row in tuned else {}
        check_overrides(params, {**base, **extra, **overrides}, f"{where}, row '{row}'")
    tables = {}
    for table, names in _mapping(raw.get("tables"), f"{where}: tables").items():
        missing = [n for n in names or [] if n not in rows]
        if not names or missing:
            raise ConfigError(f"{where}: table '{table}' names unknown rows {missing or names}")
        tables[str(table)] = tuple(names)
    grid = Grid(name, seeds, base, rows, tables, tuned, row_seeds)
    if "sweep" in raw:
        grid = dataclasses.replace(grid, sweep=_sweep(raw["sweep"], grid, params, f"{where}: sweep"))
    return grid


def _sweep(raw: Any, grid: Grid, params: Mapping[str, Any], where: str) -> Sweep:
    """The ``sweep:`` section: every level a table, each table's rows the models in order."""
    section = _mapping(raw, where)
    unknown = set(section) - _SWEEP_KEYS
    if unknown or not {"label", "models", "levels"} <= set(section):
        raise ConfigError(f"{where} must have exactly the keys {sorted(_SWEEP_KEYS)}")
    models = section["models"]
    if not (isinstance(models, list) and models and all(isinstance(m, str) for m in models)):
        raise ConfigError(f"{where}: models must be a non-empty list of model names")
    levels = _mapping(section["levels"], f"{where}: levels")
    if len(levels) < 2:
        raise ConfigError(f"{where}: levels needs at least two tables")
    for table, value in levels.items():
        if table not in grid.tables:
            raise ConfigError(f"{where}: level '{table}' is not a table of the grid")
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{where}: level '{table}' must be a number or a name, got {value!r}")
        rows = grid.tables[table]
        names = [_model_of(grid, row, params) for row in rows]
        if names != models:
            raise ConfigError(f"{where}: table '{table}' has models {names}, not {models}")
    return Sweep(str(section["label"]), tuple(models), levels)


def _model_of(grid: Grid, row: str, params: Mapping[str, Any]) -> str:
    tuned = grid.tuned[row].overrides() if row in grid.tuned else {}
    merged = {**grid.base, **tuned, **grid.rows[row]}
    return parse_params(apply_overrides(params, merged)).model.name


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    if not (isinstance(value, list) and value and all(type(s) is int for s in value)):
        raise ConfigError(f"{where} must be a non-empty list of integers, got {value!r}")
    return tuple(value)


def _tuned_rows(
    rows: dict[str, dict[str, Any]],
    base: Mapping[str, Any],
    params: Mapping[str, Any],
    tuned_path: Path,
    where: str,
) -> dict[str, Tuned]:
    """Pop ``tuned`` from every row; ``{row: Tuned}`` for rows that asked and have one."""
    available = None
    out: dict[str, Tuned] = {}
    untuned: dict[str, list[str]] = {}
    for row, overrides in rows.items():
        flag = overrides.pop(TUNED_KEY, False)
        if not isinstance(flag, bool):
            raise ConfigError(f"{where}: row '{row}': 'tuned' must be true/false, got {flag!r}")
        if not flag:
            continue
        if available is None:
            available = read_tuned(tuned_path)
        try:
            model = parse_params(apply_overrides(params, {**base, **overrides})).model.name
        except ConfigError as err:
            raise ConfigError(f"{where}, row '{row}': {err}") from err
        if model in available:
            out[row] = available[model]
        else:
            untuned.setdefault(model, []).append(row)
    for model, names in untuned.items():
        log.warning("%s: rows %s ask for tuned params but %s has none for model '%s' "
                    "(run `make tune MODEL=%s`); they run untuned", where, names, tuned_path,
                    model, model)
    return out


def apply_overrides(params: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``params`` with each dotted key of ``overrides`` set."""
    out = copy.deepcopy(dict(params))
    for key, value in overrides.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override '{key}': '{part}' is not a params section")
            node = child
        node[leaf] = value
    return out


def check_overrides(params: Mapping[str, Any], overrides: Mapping[str, Any], where: str) -> None:
    """Fail naming ``where`` and the key if ``overrides`` make invalid params."""
    try:
        parse_params(apply_overrides(params, overrides))
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from err


def _label(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _LABEL.match(value):
        raise ConfigError(f"{where} must be lower-case letters, digits, '-', '_' or '.', got {value!r}")
    return value


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping, got {value!r}")
    return {str(k): v for k, v in value.items()}
