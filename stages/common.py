"""What every stage script shares: the repository root, reading params.yaml, logging."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from zsbir.config import Params, parse_params, to_dict
from zsbir.io import read_yaml

PARAMS_FILE = Path("params.yaml")


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
