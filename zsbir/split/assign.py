"""Zero-shot class split (seen/unseen) and per-item train/val/test assignment."""

from __future__ import annotations

import logging
from typing import Iterable

import numpy as np
import pandas as pd
from tqdm import tqdm

from zsbir.config import SplitConfig
from zsbir.schema import ManifestError
from zsbir.seed import derive
from zsbir.split.names import name_synset
from zsbir.split.relations import Taxonomy, choose, class_synset, relations
from zsbir.split.wordnet import WordNetUnavailable

log = logging.getLogger(__name__)

def _synset_of(
    cls: str, wnids: list[str | None], taxonomy: Taxonomy, dataset: str
) -> tuple[str, str]:
    """A class's synset and where it came from: its files' wnids, or its name."""
    if any(isinstance(w, str) for w in wnids):
        return class_synset(cls, wnids, taxonomy), "files"
    named = name_synset(dataset, cls)
    return named.wnid, named.how


def class_relations(
    manifest: pd.DataFrame, config: SplitConfig, taxonomy: Taxonomy, dataset: str = ""
) -> pd.DataFrame:
    """Per class: its synset, the deciding ImageNet-1K relation and the overlap split.

    The paper's rule: a class is seen iff it relates to ImageNet-1K by one of
    ``config.overlap_relations`` (``hypernym``/``hyponym`` within ``config.max_hops``).
    A class whose items carry no wnid is mapped by name (:mod:`zsbir.split.names`).
    Columns: class, wnid, wnid_source (files | override | first_sense), imagenet_relation,
    imagenet_synset, imagenet_hops, overlap_split, n_items, n_items_imagenet (items whose
    own wnid is an ImageNet-1K class), wnid_lemma, imagenet_lemma (for the report).
    """
    rows = []
    groups = manifest.groupby("class", sort=True)["wnid"]
    for cls, wnids in tqdm(groups, desc="class relations", unit="class", leave=False):
        try:
            wnid, source = _synset_of(str(cls), wnids.tolist(), taxonomy, dataset)
            rel = choose(relations(wnid, taxonomy, config.max_hops), config.overlap_relations)
        except ValueError as err:
            raise ManifestError(f"class '{cls}': {err}") from err
        except WordNetUnavailable as err:
            raise WordNetUnavailable(
                f"class '{cls}' needs live WordNet (no wnid, or wnids outside the committed "
                f"table; add them with scripts/make_imagenet_table.py --manifest): {err}"
            ) from err
        rows.append(
            {
                "class": str(cls),
                "wnid": wnid,
                "wnid_source": source,
                "imagenet_relation": rel.relation,
                "imagenet_synset": rel.synset,
                "imagenet_hops": rel.hops,
                "overlap_split": "seen" if rel.relation in config.overlap_relations else "unseen",
                "n_items": int(len(wnids)),
                "n_items_imagenet": sum(w in taxonomy.imagenet for w in wnids),
                "wnid_lemma": taxonomy.lemmas(wnid)[0],
                "imagenet_lemma": taxonomy.lemmas(rel.synset)[0] if rel.synset else None,
            }
        )
    out = pd.DataFrame(rows)
    out["imagenet_hops"] = out["imagenet_hops"].astype("int64")
    return out


def random_unseen(classes: Iterable[str], n_unseen: int, seed: int) -> list[str]:
    """``split.method: random``: ``n_unseen`` classes drawn with ``seed`` (sorted).

    The draw depends only on the seed and the sorted class names, not on their order.
    """
    names = sorted(set(classes))
    if not 0 < n_unseen < len(names):
        raise ValueError(
            f"params key 'split.n_unseen': {n_unseen} must leave at least one seen and one "
            f"unseen class among {len(names)}"
        )
    rng = np.random.default_rng(derive(seed, "split.random"))
    return sorted(names[i] for i in rng.choice(len(names), n_unseen, replace=False))


def _val_photos(photo_ids: list[str], val_fraction: float, seed: int, cls: str) -> set[str]:
    """A seeded ``val_fraction`` of one class's photos (at least one photo stays train)."""
    n = len(photo_ids)
    n_val = min(int(round(val_fraction * n)), max(n - 1, 0))
    rng = np.random.default_rng(derive(seed, "split.val", cls))
    order = rng.permutation(n)  # (n,)
    ids = sorted(photo_ids)
    return {ids[i] for i in order[:n_val]}


def _hashed_val(item_id: str, val_fraction: float, seed: int) -> bool:
    """Deterministic val draw for an unpaired sketch, from its own id."""
    rng = np.random.default_rng(derive(seed, "split.val.unpaired", item_id))  # mixes the bits
    return bool(rng.random() < val_fraction)


def subsample_train(
    items: pd.DataFrame, manifest: pd.DataFrame, per_class: int, seed: int
) -> pd.DataFrame:
    """``split.train_per_class``: keep ``per_class`` train photos of each seen class
    (a seeded draw, per class), their paired sketches with them, and as many unpaired
    train sketches; every other train item becomes ``unused``. val and test rows are
    returned as they were, so a learning curve's test set and model selection never move.
    """
    out = items.copy()
    train = out["split"] == "train"
    pair = dict(zip(manifest["id"], manifest["pair_id"]))
    keep: set[str] = set()
    for (cls, domain), group in out[train].groupby(["class", "domain"], sort=True):
        ids = sorted(group["id"])
        if domain == "sketch":
            ids = [i for i in ids if not isinstance(pair.get(i), str)]  # paired: by photo
        rng = np.random.default_rng(derive(seed, "split.train_per_class", str(cls), str(domain)))
        keep.update(ids[i] for i in rng.permutation(len(ids))[:per_class])
    kept = out["id"].isin(keep) | out["id"].map(pair).isin(keep)
    out.loc[train & ~kept, "split"] = "unused"
    return out


def assign_items(
    manifest: pd.DataFrame, unseen: Iterable[str], val_fraction: float, seed: int
) -> pd.DataFrame:
    """``id, domain, class, split``: unseen classes → test; seen → train/val by photo.

    A paired sketch takes its photo's split; an unpaired one is drawn from its own id.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"split.val_fraction must be in [0, 1), got {val_fraction}")
    unseen = set(unseen)
    photos = manifest[manifest["domain"] == "photo"]
    val_ids: set[str] = set()
    for cls, group in photos.groupby("class", sort=True):
        if cls not in unseen:
            val_ids |= _val_photos(group["id"].tolist(), val_fraction, seed, str(cls))
    is_photo = manifest["domain"] == "photo"
    paired = ~is_photo & manifest["pair_id"].notna()
    unpaired = ~is_photo & ~paired
    own_draw = manifest["id"].where(unpaired).map(
        lambda i: isinstance(i, str) and _hashed_val(i, val_fraction, seed)
    )
    is_val = (
        (is_photo & manifest["id"].isin(val_ids))
        | (paired & manifest["pair_id"].isin(val_ids))
        | (unpaired & own_draw.astype(bool))
    )
    test = manifest["class"].isin(unseen)
    split = np.where(test, "test", np.where(is_val, "val", "train"))
    out = manifest[["id", "domain", "class"]].copy()
    out["split"] = split
    return out.reset_index(drop=True)
