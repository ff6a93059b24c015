"""What every stage script shares: reading params.yaml, logging, the MLflow run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from zsbir.config import Params, parse_params, to_dict

PARAMS_FILE = Path("params.yaml")


def setup(name: str) -> tuple[Params, dict[str, Any]]:
    """Configure logging and return ``(typed params, plain params dict)``.

    Fails at once, naming the key, if params.yaml holds an unknown or ill-typed key.
    """
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s {name} %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    raw = yaml.safe_load(PARAMS_FILE.read_text()) or {}
    params = parse_params(raw)
    return params, to_dict(params)
