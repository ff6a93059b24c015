"""What every stage script shares, written once: find the repository root, read and
validate params.yaml, then :func:`stage`: open the pipeline's MLflow run, seed, let the
script call its one library function, write its own ``metrics/<stage>.json`` and log
only what this execution wrote."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zsbir.config import Params, parse_params, to_dict
from zsbir.io import read_yaml, write_json
from zsbir.seed import seed_everything
from zsbir.tracking import StageTracker, stage_run

PARAMS_FILE = Path("params.yaml")
METRICS_DIR = Path("metrics")


def find_root(*starts: Path) -> Path:
    """The nearest folder holding params.yaml at or above the first start that has one.

    Stages run from the repository root (DVC, or a test's workspace holding its own
    params.yaml); from ``stages/`` or another sub-folder the root is found above it.
    """
    for start in starts:
        for folder in (start, *start.parents):
            if (folder / PARAMS_FILE).is_file():
                return folder
    raise FileNotFoundError(f"no {PARAMS_FILE} in or above {', '.join(map(str, starts))}")


def setup(name: str) -> tuple[Params, dict[str, Any]]:
    """Move to the repository root, configure logging, return ``(typed, plain)`` params.

    Stage paths are relative to the root, so a stage also runs from ``stages/``. Fails at
    once, naming the key, on an unknown, ill-typed, out-of-range or duplicated key.
    """
    os.chdir(find_root(Path.cwd(), Path(__file__).resolve().parent))
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s {name} %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    params = parse_params(read_yaml(PARAMS_FILE) or {})
    return params, to_dict(params)


@dataclass(frozen=True)
class Stage:
    """One stage execution: its params, its MLflow handle and its summary file."""

    name: str
    params: Params
    mlflow: StageTracker
    summary_path: Path  # metrics/<name>.json

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        """Write ``metrics/<name>.json`` (logged to MLflow when the stage finishes)."""
        write_json(dict(summary), self.summary_path)


@contextlib.contextmanager
def stage(name: str, summary: str | None = None) -> Iterator[Stage]:
    """Set up, open the pipeline run, seed Python/NumPy/torch with ``params.seed``, yield.

    The summary file is ``metrics/<summary or name>.json`` (``evaluate`` writes ``eval``).
    The body calls one library function and :meth:`Stage.write_summary`; the run logs that
    summary only if this execution wrote it. A raising body ends the run ``FAILED``.
    """
    params, plain = setup(name)
    summary_path = METRICS_DIR / f"{summary or name}.json"
    with stage_run(name, plain, summary=summary_path) as mlflow:
        seed_everything(params.seed)
        yield Stage(name, params, mlflow, summary_path)
