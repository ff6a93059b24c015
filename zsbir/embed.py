"""Retrieval embeddings of the test items (stage ``embed``).

Queries are the test sketches (unseen classes); the gallery holds the test photos and,
with ``eval.generalized: true`` (or ``eval.also_generalized: true``), also the seen-class
**val** photos as distractors (``seen = True``). The space depends on the model: ``raw``
keeps the PCA features; ``cvae`` maps sketches to generated photo features (mean over ``eval.n_samples`` draws of
z ~ N(0, I)) against real photo features; ``cvaegan`` uses mu(z_s) of E^ske / E_s^img
(``eval.space: structure``) or G^img(mu^ske, z_a ~ N(0, I)) averaged over samples
against real photo features (``eval.space: photo``); ``twotower`` uses its shared tower
space and ``semantic-regression`` the predicted class semantic vectors (``eval.space``
unused for both).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from zsbir.config import EvalConfig
from zsbir.io import ArtifactError, read_table, read_vectors
from zsbir.models.factory import load_model
from zsbir.models.base import embed_in_chunks
from zsbir.seed import derive

log = logging.getLogger(__name__)

Embeddings = dict[str, tuple[pd.DataFrame, np.ndarray]]


def select_items(split: pd.DataFrame, domain: str, generalized: bool) -> pd.DataFrame:
    """Rows of ``split`` to embed for ``domain``, with a ``seen`` flag."""
    rows = split[(split["domain"] == domain) & (split["split"] == "test")]
    if generalized and domain == "photo":
        rows = pd.concat([rows, split[(split["domain"] == "photo") & (split["split"] == "val")]])
    out = rows[["id", "class"]].astype(str).reset_index(drop=True)
    out["seen"] = (rows["split"] != "test").to_numpy()
    return out


def build_embeddings(
    model_path: str | os.PathLike[str],
    *,
    pca_dir: str | os.PathLike[str],
    split_path: str | os.PathLike[str],
    eval_cfg: EvalConfig,
    seed: int,
) -> Embeddings:
    """``{"sketch": (meta, E), "photo": (meta, E)}`` with meta columns id, class, seen."""
    model, config = load_model(model_path)
    split = read_table(split_path, columns=["id", "domain", "class", "split"])
    space = eval_cfg.space
    log.info("embedding with %s (eval.space %s; %s)", config["model"]["name"], space,
             model.space_note(space))
    gen = torch.Generator().manual_seed(derive(seed, "embed"))
    out: Embeddings = {}
    for domain in ("sketch", "photo"):
        both = eval_cfg.generalized or eval_cfg.also_generalized
        items = select_items(split, domain, both)
        if items.empty:
            raise ArtifactError(f"{split_path}: no test {domain} items to embed")
        meta, x = read_vectors(Path(pca_dir) / f"{domain}.parquet")
        row_of = pd.Series(np.arange(len(meta)), index=meta["id"].astype(str))
        missing = ~items["id"].isin(row_of.index)
        if missing.any():
            raise ArtifactError(
                f"{pca_dir}/{domain}.parquet: no features for {int(missing.sum())} items "
                f"(e.g. {items['id'][missing].iloc[0]!r})"
            )
        scale = float(config.get("feat_scale", {}).get(domain, 1.0))
        feats = torch.from_numpy(
            np.asarray(x[row_of.loc[items["id"]].to_numpy()], np.float32) * scale
        )
        emb = embed_in_chunks(
            model, feats, domain,
            space=space, n_samples=eval_cfg.n_samples, generator=gen, chunk=eval_cfg.chunk_size,
        )
        out[domain] = (items, emb.numpy().astype(np.float32))
        log.info("embedded %d %s items -> %s", len(items), domain, tuple(emb.shape))
    return out
