"""WordNet synsets of class *names*, for datasets whose files carry no WordNet id.

TU-Berlin and QuickDraw name their classes in plain words (``mouse_(animal)``,
``hot_air_balloon``). A name maps to a synset by, in order:

1. ``override``: the reviewed table ``data/name_overrides.tsv`` (wrong or missing first
   senses: ``table`` → table.n.02 furniture, ``cell_phone`` → cellular_telephone.n.01);
2. ``first_sense``: the first (most frequent) WordNet noun sense of the name.

``scripts/make_name_table.py`` applies both rules with live WordNet and commits the result
as ``data/class_names.tsv`` (``dataset, name, wnid, synset, how``), so the split needs no
WordNet; names missing from it fall back to live WordNet at split time (``how`` then
ends in ``(live)``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from zsbir.split import wordnet
from zsbir.split.imagenet import DATA_DIR

OVERRIDES_FILE = "name_overrides.tsv"
NAMES_FILE = "class_names.tsv"
ANY = "*"


@dataclass(frozen=True)
class NamedSynset:
    """The synset a class name stands for, and the rule that chose it."""

    wnid: str
    synset: str  # NLTK name, e.g. "table.n.02"
    how: str  # override | first_sense, with " (live)" if looked up at split time


def _tsv(path: Path, header: tuple[str, ...]) -> list[dict[str, str]]:
    rows = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    if not rows or tuple(rows[0].split("\t")) != header:
        raise ValueError(f"{path}: header must be {'<TAB>'.join(header)}")
    out = []
    for lineno, line in enumerate(rows[1:], 2):
        fields = line.split("\t")
        if len(fields) != len(header):
            raise ValueError(f"{path}: data row {lineno}: expected {len(header)} fields: {line!r}")
        out.append(dict(zip(header, fields)))
    return out


def read_overrides(data_dir: Path = DATA_DIR) -> dict[tuple[str, str], tuple[str, str]]:
    """``{(dataset or '*', name): (synset name, reason)}`` from the reviewed table."""
    rows = _tsv(Path(data_dir) / OVERRIDES_FILE, ("dataset", "name", "synset", "reason"))
    return {(r["dataset"], r["name"]): (r["synset"], r["reason"]) for r in rows}


@functools.lru_cache(maxsize=1)
def committed_names(data_dir: Path = DATA_DIR) -> dict[tuple[str, str], NamedSynset]:
    """``{(dataset, name): NamedSynset}`` from ``class_names.tsv`` (empty if absent)."""
    path = Path(data_dir) / NAMES_FILE
    if not path.is_file():
        return {}
    rows = _tsv(path, ("dataset", "name", "wnid", "synset", "how"))
    return {(r["dataset"], r["name"]): NamedSynset(r["wnid"], r["synset"], r["how"]) for r in rows}


def lookup(
    dataset: str, name: str, overrides: dict[tuple[str, str], tuple[str, str]]
) -> NamedSynset:
    """Apply the two rules with live WordNet (override, else first noun sense)."""
    wn = wordnet.wordnet()
    chosen = overrides.get((dataset, name)) or overrides.get((ANY, name))
    if chosen is not None:
        syn = wn.synset(chosen[0])
        return NamedSynset(wordnet.wnid_of(syn), syn.name(), "override")
    wnid = wordnet.lookup_name(name)
    return NamedSynset(wnid, wordnet.synset(wnid).name(), "first_sense")


def name_synset(dataset: str, name: str) -> NamedSynset:
    """The synset of class ``name`` of ``dataset``: committed table, else live WordNet."""
    found = committed_names().get((dataset, name))
    if found is not None:
        return found
    live = lookup(dataset, name, read_overrides())
    return NamedSynset(live.wnid, live.synset, f"{live.how} (live)")
