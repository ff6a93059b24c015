"""Published zero-shot splits: the unseen classes a paper used for a dataset.

Each list is a data file ``zsbir/split/data/unseen_<list>.txt`` with its provenance in
``#`` comments (``zsbir/split/data/README.md`` sums them up). Class names are in the
manifest's canonical spelling (``zsbir.data``: lower case, ``_`` for spaces).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from zsbir.split.imagenet import DATA_DIR

# list name (params ``split.published_list``) -> datasets whose classes it names
PUBLISHED_LISTS: dict[str, tuple[str, ...]] = {
    "sketchy-21": ("sketchy", "sketchy-mini", "sketchy-synthetic"),  # Yelamarthi et al. 2018
    "sketchy-25": ("sketchy", "sketchy-mini", "sketchy-synthetic"),  # Shen et al. 2018 (SAKE, DSN, ZSE-SBIR)
    "tuberlin-30": ("tuberlin",),  # Shen et al. 2018 (SAKE, DSN, ZSE-SBIR)
    "quickdraw-30": ("quickdraw",),  # Dey et al. 2019
}
# ``split.published_list: auto`` -> the list most work on the dataset reports
DEFAULT_LIST: dict[str, str] = {
    "sketchy": "sketchy-21",
    "sketchy-mini": "sketchy-21",
    "sketchy-synthetic": "sketchy-21",
    "tuberlin": "tuberlin-30",
    "quickdraw": "quickdraw-30",
}


class PublishedSplitError(ValueError):
    """No published list for a dataset, or a list naming a class the dataset lacks."""


def list_for(dataset: str, chosen: str = "auto") -> str | None:
    """The list that applies to ``dataset`` (``chosen``, or its default); None if none."""
    if chosen == "auto":
        return DEFAULT_LIST.get(dataset)
    if chosen not in PUBLISHED_LISTS:
        raise PublishedSplitError(
            f"params key 'split.published_list': unknown list {chosen!r}; "
            f"known: {sorted(PUBLISHED_LISTS)}"
        )
    if dataset not in PUBLISHED_LISTS[chosen]:
        raise PublishedSplitError(
            f"params key 'split.published_list': {chosen} is a split of "
            f"{', '.join(PUBLISHED_LISTS[chosen])}, not of dataset '{dataset}'"
        )
    return chosen


def published_unseen(name: str) -> tuple[str, ...]:
    """The unseen classes of published list ``name`` (file order)."""
    if name not in PUBLISHED_LISTS:
        raise PublishedSplitError(f"no published unseen-class list {name!r}")
    path = Path(DATA_DIR) / f"unseen_{name}.txt"
    names = [ln.split("#", 1)[0].strip() for ln in path.read_text().splitlines()]
    return tuple(dict.fromkeys(n for n in names if n))


def check_published(name: str, unseen: Iterable[str], classes: Iterable[str]) -> None:
    """Fail, naming them, if the published list names classes the dataset does not have."""
    missing = sorted(set(unseen) - set(classes))
    if missing:
        raise PublishedSplitError(
            f"published unseen list {name} (zsbir/split/data/unseen_{name}.txt) names "
            f"class(es) absent from the manifest: {', '.join(missing)}"
        )
