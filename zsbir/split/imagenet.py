"""The committed WordNet table: ImageNet-1K synsets, lemma names, hypernym closures.

Two tab-separated files under ``zsbir/split/data/`` (written by
``scripts/make_imagenet_table.py`` from WordNet 3.0; ``#`` lines are provenance comments):

- ``wordnet_synsets.tsv``: ``wnid``, ``imagenet1k`` (1 for the 1000 ImageNet-1K
  classes), ``lemmas`` (space-separated lemma names) — every synset the table mentions.
- ``wordnet_hypernyms.tsv``: ``wnid``, ``ancestor``, ``hops`` (fewest hypernym links from
  ``wnid`` up to ``ancestor``) — the full closures of the ImageNet-1K synsets, of the
  known dataset classes (``class_wnids.txt``) and of all their ancestors.

With it the split runs without WordNet installed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from zsbir.io import ArtifactError, write_text

DATA_DIR = Path(__file__).resolve().parent / "data"
SYNSETS_FILE = "wordnet_synsets.tsv"
HYPERNYMS_FILE = "wordnet_hypernyms.tsv"
CLASS_WNIDS_FILE = "class_wnids.txt"


@dataclass(frozen=True)
class WordNetTable:
    """ImageNet-1K membership, lemma names and hypernym closures of a set of synsets."""

    imagenet: frozenset[str]
    lemmas: Mapping[str, tuple[str, ...]]
    ancestors: Mapping[str, Mapping[str, int]]  # wnid -> {ancestor wnid: hops}


def _rows(path: Path, header: tuple[str, ...]) -> Iterable[list[str]]:
    if not path.is_file():
        raise ArtifactError(f"missing WordNet table file: {path}")
    seen_header = False
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t")
        if not seen_header:
            if tuple(fields) != header:
                raise ArtifactError(f"{path}: header {fields} is not {list(header)}")
            seen_header = True
            continue
        if len(fields) != len(header):
            raise ArtifactError(f"{path}:{lineno}: expected {len(header)} fields, got {fields}")
        yield fields


def read_wordnet_table(data_dir: str | Path = DATA_DIR) -> WordNetTable:
    """Parse the two TSV files of ``data_dir``."""
    data_dir = Path(data_dir)
    imagenet: set[str] = set()
    lemmas: dict[str, tuple[str, ...]] = {}
    for wnid, flag, names in _rows(data_dir / SYNSETS_FILE, ("wnid", "imagenet1k", "lemmas")):
        lemmas[wnid] = tuple(names.split(" ")) if names else ()
        if flag == "1":
            imagenet.add(wnid)
    ancestors: dict[str, dict[str, int]] = {}
    for wnid, anc, hops in _rows(data_dir / HYPERNYMS_FILE, ("wnid", "ancestor", "hops")):
        ancestors.setdefault(wnid, {})[anc] = int(hops)
    for wnid in imagenet:  # roots (entity) have an empty closure but are still known
        ancestors.setdefault(wnid, {})
    return WordNetTable(frozenset(imagenet), lemmas, ancestors)


@functools.lru_cache(maxsize=1)
def load_table() -> WordNetTable:
    """The committed table (parsed once per process)."""
    return read_wordnet_table(DATA_DIR)


def write_wordnet_table(
    table: WordNetTable, data_dir: str | Path, provenance: list[str]
) -> tuple[Path, Path]:
    """Write ``table`` as the two TSV files (sorted, atomically), headed by ``provenance``."""
    data_dir = Path(data_dir)
    head = "".join(f"# {line}\n" for line in provenance)
    syn = ["wnid\timagenet1k\tlemmas"] + [
        f"{w}\t{int(w in table.imagenet)}\t{' '.join(table.lemmas[w])}"
        for w in sorted(table.lemmas)
    ]
    hyp = ["wnid\tancestor\thops"] + [
        f"{w}\t{a}\t{h}"
        for w in sorted(table.ancestors)
        for a, h in sorted(table.ancestors[w].items(), key=lambda kv: (kv[1], kv[0]))
    ]
    paths = (data_dir / SYNSETS_FILE, data_dir / HYPERNYMS_FILE)
    write_text(head + "\n".join(syn) + "\n", paths[0])
    write_text(head + "\n".join(hyp) + "\n", paths[1])
    return paths


def read_wnid_list(path: str | Path) -> list[str]:
    """Wnids of a one-a-line list (``#`` comments and blank lines skipped), order kept."""
    out: list[str] = []
    for line in Path(path).read_text().splitlines():
        token = line.split("#", 1)[0].strip()
        if token:
            out.append(token)
    return list(dict.fromkeys(out))
