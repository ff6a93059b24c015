"""Published zero-shot splits: the unseen classes a paper used for a dataset.

Each list is a data file under ``zsbir/split/data/`` with its provenance in ``#`` comments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from zsbir.split.imagenet import DATA_DIR

# dataset name (params ``data.dataset``) -> list file
PUBLISHED_LISTS: dict[str, str] = {
    "sketchy": "published_unseen_sketchy.txt",
    "sketchy-mini": "published_unseen_sketchy.txt",
}


class PublishedSplitError(ValueError):
    """No published list for a dataset, or a list naming a class the dataset lacks."""


def has_published(dataset: str) -> bool:
    return dataset in PUBLISHED_LISTS


def published_unseen(dataset: str) -> tuple[str, ...]:
    """The published unseen classes of ``dataset`` (file order)."""
    if dataset not in PUBLISHED_LISTS:
        raise PublishedSplitError(
            f"dataset '{dataset}' has no published unseen-class list (lists exist for "
            f"{sorted(PUBLISHED_LISTS)}); use split.method: imagenet_overlap"
        )
    path = Path(DATA_DIR) / PUBLISHED_LISTS[dataset]
    names = [ln.split("#", 1)[0].strip() for ln in path.read_text().splitlines()]
    return tuple(dict.fromkeys(n for n in names if n))


def check_published(dataset: str, unseen: Iterable[str], classes: Iterable[str]) -> None:
    """Fail, naming them, if the published list names classes the dataset does not have."""
    missing = sorted(set(unseen) - set(classes))
    if missing:
        raise PublishedSplitError(
            f"published unseen list of '{dataset}' ({PUBLISHED_LISTS.get(dataset)}) names "
            f"class(es) absent from the manifest: {', '.join(missing)}"
        )
