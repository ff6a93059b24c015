"""WordNet relations of a class synset to ImageNet-1K, and a class's own synset.

Directions (``hops`` = hypernym links between the two synsets):

- ``exact``: the class synset is one of the 1000 ImageNet-1K synsets (hops 0).
- ``hyponym``: an ImageNet-1K synset is a hyponym (a kind) of the class — it lies *below*
  the class, e.g. class ``dog`` (n02084071) ⊃ the ImageNet dog breeds.
- ``hypernym``: an ImageNet-1K synset is a hypernym of the class — it lies *above* it.
- ``none``: no ImageNet-1K synset within ``max_hops`` in either direction.

Lookups use the committed table (:mod:`zsbir.split.imagenet`) and fall back to live
WordNet (:mod:`zsbir.split.wordnet`) for wnids outside it.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Literal, Mapping

from zsbir.split import wordnet
from zsbir.split.imagenet import WordNetTable, load_table

log = logging.getLogger(__name__)

RelationName = Literal["exact", "hyponym", "hypernym", "none"]
ORDER: tuple[RelationName, ...] = ("exact", "hyponym", "hypernym")


@dataclass(frozen=True)
class Relation:
    """One relation of a class synset to an ImageNet-1K synset."""

    relation: RelationName
    synset: str | None  # the matched ImageNet-1K wnid
    hops: int  # -1 for none

    @staticmethod
    def none() -> "Relation":
        return Relation("none", None, -1)


class Taxonomy:
    """Hypernym closures and lemma names: committed table first, live WordNet second."""

    def __init__(self, table: WordNetTable | None = None) -> None:
        self.table = table if table is not None else load_table()
        self._live: dict[str, dict[str, int]] = {}
        below: dict[str, list[tuple[int, str]]] = {}
        for img in self.table.imagenet:
            for anc, hops in self.table.ancestors.get(img, {}).items():
                below.setdefault(anc, []).append((hops, img))
        self._imagenet_below = {a: sorted(v) for a, v in below.items()}

    @property
    def imagenet(self) -> frozenset[str]:
        return self.table.imagenet

    def ancestors(self, wnid: str) -> Mapping[str, int]:
        """``{ancestor wnid: hops}`` of ``wnid`` (WordNet fallback outside the table)."""
        wordnet.check_wnid(wnid)
        if wnid in self.table.ancestors:
            return self.table.ancestors[wnid]
        if wnid not in self._live:
            log.info("wnid %s not in the committed table; asking live WordNet", wnid)
            self._live[wnid] = wordnet.closure(wnid)
        return self._live[wnid]

    def lemmas(self, wnid: str) -> tuple[str, ...]:
        if wnid in self.table.lemmas:
            return self.table.lemmas[wnid]
        return wordnet.lemmas(wnid)

    def imagenet_below(self, wnid: str) -> list[tuple[int, str]]:
        """``(hops, ImageNet wnid)`` of ImageNet-1K hyponyms of ``wnid``, nearest first."""
        return self._imagenet_below.get(wnid, [])


def relations(wnid: str, taxonomy: Taxonomy, max_hops: int) -> dict[RelationName, Relation]:
    """The nearest ImageNet-1K synset in each direction, within ``max_hops``.

    Ties in hops go to the smallest wnid, so the result is deterministic.
    """
    found: dict[RelationName, Relation] = {}
    if wnid in taxonomy.imagenet:
        found["exact"] = Relation("exact", wnid, 0)
    below = [(h, w) for h, w in taxonomy.imagenet_below(wnid) if h <= max_hops]
    if below:
        hops, img = min(below)
        found["hyponym"] = Relation("hyponym", img, hops)
    above = [(h, a) for a, h in taxonomy.ancestors(wnid).items() if a in taxonomy.imagenet]
    above = [(h, a) for h, a in above if h <= max_hops]
    if above:
        hops, img = min(above)
        found["hypernym"] = Relation("hypernym", img, hops)
    return found


def choose(found: Mapping[RelationName, Relation], allowed: Iterable[str]) -> Relation:
    """The relation that decides the split: nearest *allowed* one, else nearest other one.

    A class is seen iff the returned relation is in ``allowed`` (``exact`` before
    ``hyponym`` before ``hypernym`` at equal hops).
    """
    allowed = set(allowed)
    for pool in ([r for r in ORDER if r in allowed], [r for r in ORDER if r not in allowed]):
        rels = [found[r] for r in pool if r in found]
        if rels:
            return min(rels, key=lambda rel: (rel.hops, ORDER.index(rel.relation)))
    return Relation.none()


# ------------------------------------------------------------------ class synset
def normalise(name: str) -> str:
    """Comparable form of a class name or lemma: ``Jack-o'-Lantern`` → ``jack_o_lantern``."""
    text = re.sub(r"\s*\(.*\)$", "", name.strip().lower().replace("_", " "))
    return re.sub(r"[\s\-']+", "_", text).strip("_")


def _named(taxonomy: Taxonomy, wnid: str, name: str) -> bool:
    return any(normalise(lemma) == name for lemma in taxonomy.lemmas(wnid))


def _nearest_named(taxonomy: Taxonomy, wnid: str, name: str) -> tuple[int, str] | None:
    chain = {wnid: 0, **taxonomy.ancestors(wnid)}
    hits = [(h, a) for a, h in chain.items() if _named(taxonomy, a, name)]
    return min(hits) if hits else None


def class_synset(name: str, item_wnids: Iterable[str | None], taxonomy: Taxonomy) -> str:
    """The WordNet synset standing for class ``name``, from the wnids of its items.

    Items of one class may come from several synsets (Sketchy's ``fish`` holds tench,
    salmon, ...; its ``dog`` only working dogs). Rules, first that applies:

    1. no item has a wnid: the first noun sense of the name (needs live WordNet);
    2. the nearest synset named like the class among the common subsumers of all item
       wnids (``dog`` → dog n02084071 above working dog; ``fish`` → fish);
    3. the synset named like the class nearest above each item wnid, the one covering
       most items (``door``: door.n.05 for 24 items, door.n.04 for 1);
    4. the most frequent item wnid (ties: smallest wnid).
    """
    counts = Counter(w for w in item_wnids if w is not None and w == w)  # drop None/NaN
    if not counts:
        return wordnet.lookup_name(name)
    key = normalise(name)
    chains = [{w: 0, **taxonomy.ancestors(w)} for w in counts]
    common = set.intersection(*(set(c) for c in chains))
    named = [(max(c[a] for c in chains), a) for a in common if _named(taxonomy, a, key)]
    if named:
        return min(named)[1]
    votes: Counter[str] = Counter()
    for w, n in counts.items():
        hit = _nearest_named(taxonomy, w, key)
        if hit is not None:
            votes[hit[1]] += n
    if votes:
        return min(votes, key=lambda a: (-votes[a], a))
    return min(counts, key=lambda w: (-counts[w], w))
