"""The one place that sets random seeds.

:func:`seed_everything` is called once per stage (``stages/common.py:stage``) and at the
start of :func:`zsbir.train.loop.fit` (one process may train many times: tuning trials,
tests); everything else draws from generators seeded with :func:`derive`.
"""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) and make torch deterministic.

    Returns a NumPy generator derived from ``seed`` for code that takes one explicitly.
    """
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return np.random.default_rng(seed)


def derive(seed: int, *names: str) -> int:
    """A sub-seed for a named purpose, stable across runs (not Python's salted ``hash``)."""
    value = seed
    for name in names:
        for ch in name.encode():
            value = (value * 1_000_003 + ch) % 2**63
    return value
