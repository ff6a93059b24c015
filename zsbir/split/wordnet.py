"""Live WordNet 3.0 through NLTK: synsets by wnid, hypernym closures, name lookup.

Only needed for classes without a wnid (name lookup), for wnids outside the committed
table (:mod:`zsbir.split.imagenet`) and to generate that table. NLTK reads the Princeton
WordNet 3.0 files that ``scripts/install_wordnet.sh`` copies into ``<repo>/.nltk_data``;
that folder (and ``$NLTK_DATA``) is searched automatically. Without WordNet every call
raises :class:`WordNetUnavailable` saying how to install it.
"""

from __future__ import annotations

import functools
import logging
import re
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

WNID_RE = re.compile(r"^n\d{8}$")
INSTALL_HINT = "run scripts/install_wordnet.sh (Debian wordnet-base + wordnet-sense-index)"


class WordNetUnavailable(RuntimeError):
    """WordNet 3.0 is needed but NLTK cannot find it."""


def nltk_data_dirs() -> list[Path]:
    """Folders searched for ``corpora/wordnet`` besides NLTK's own (``$NLTK_DATA`` etc.)."""
    from zsbir.io import repo_root

    package_repo = Path(__file__).resolve().parents[2]
    dirs = [package_repo / ".nltk_data", repo_root() / ".nltk_data", Path.cwd() / ".nltk_data"]
    return list(dict.fromkeys(d for d in dirs if d.is_dir()))


@functools.lru_cache(maxsize=1)
def wordnet() -> Any:
    """NLTK's WordNet corpus reader, loaded once; :class:`WordNetUnavailable` if absent."""
    try:
        import nltk
        from nltk.corpus import wordnet as wn
    except ImportError as err:  # pragma: no cover - nltk is a pinned dependency
        raise WordNetUnavailable(f"nltk is not installed ({err}); {INSTALL_HINT}") from err
    for folder in nltk_data_dirs():
        if str(folder) not in nltk.data.path:
            nltk.data.path.insert(0, str(folder))
    try:
        wn.ensure_loaded()
    except LookupError as err:
        raise WordNetUnavailable(f"WordNet 3.0 not found by NLTK; {INSTALL_HINT}") from err
    version = wn.get_version()
    if version != "3.0":
        raise WordNetUnavailable(f"NLTK found WordNet {version}, need 3.0; {INSTALL_HINT}")
    log.info("WordNet %s loaded through NLTK", version)
    return wn


def check_wnid(wnid: str) -> str:
    """``wnid`` if it looks like a WordNet noun id (``n`` + 8 digits), else ValueError."""
    if not isinstance(wnid, str) or not WNID_RE.match(wnid):
        raise ValueError(f"not a WordNet noun id: {wnid!r} (expected 'n' + 8 digits)")
    return wnid


def wnid_of(synset: Any) -> str:
    """``Synset('dog.n.01')`` → ``'n02084071'``."""
    return f"{synset.pos()}{synset.offset():08d}"


def synset(wnid: str) -> Any:
    """The NLTK synset of a noun wnid; ValueError naming it if WordNet has none."""
    wn = wordnet()
    offset = int(check_wnid(wnid)[1:])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NLTK warns and returns None for a bad offset
            found = wn.synset_from_pos_and_offset("n", offset)
    except Exception as err:  # NLTK raises WordNetError / ValueError / KeyError here
        raise ValueError(f"wnid {wnid} is not a WordNet 3.0 noun synset") from err
    if found is None or found.offset() != offset:
        raise ValueError(f"wnid {wnid} is not a WordNet 3.0 noun synset")
    return found


def closure(wnid: str) -> dict[str, int]:
    """Every hypernym (incl. instance hypernyms) of ``wnid`` → fewest hops up to it."""
    hops: dict[str, int] = {}
    frontier = [synset(wnid)]
    depth = 0
    while frontier:
        depth += 1
        nxt = []
        for node in frontier:
            for parent in node.hypernyms() + node.instance_hypernyms():
                key = wnid_of(parent)
                if key not in hops:
                    hops[key] = depth
                    nxt.append(parent)
        frontier = nxt
    return hops


def lemmas(wnid: str) -> tuple[str, ...]:
    """Lemma names of ``wnid`` (``('dog', 'domestic_dog', 'Canis_familiaris')``)."""
    return tuple(synset(wnid).lemma_names())


def name_variants(name: str) -> list[str]:
    """Spellings of a class name to try in WordNet: ``car_(sedan)`` → ``car_(sedan)``, ``car``."""
    base = name.strip().lower().replace(" ", "_")
    variants = [base, re.sub(r"_?\(.*\)$", "", base), base.replace("-", "_")]
    return [v for v in dict.fromkeys(variants) if v]


def lookup_name(name: str) -> str:
    """The wnid of the first (most frequent) noun sense of a class name."""
    wn = wordnet()
    for variant in name_variants(name):
        found = wn.synsets(variant, pos="n")
        if found:
            return wnid_of(found[0])
    raise ValueError(f"class '{name}': no WordNet noun synset found for its name")
