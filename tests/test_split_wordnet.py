"""WordNet relations to ImageNet-1K through the committed table (hand-checked pairs)."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import wordnet_installed

from zsbir.config import SplitConfig
from zsbir.split import wordnet
from zsbir.schema import ManifestError
from zsbir.split.assign import class_relations
from zsbir.split.imagenet import DATA_DIR, HYPERNYMS_FILE, SYNSETS_FILE, WordNetTable, load_table
from zsbir.split.relations import Relation, Taxonomy, choose, class_synset, relations


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return Taxonomy()


def test_table_is_small_and_holds_imagenet_1k() -> None:
    table = load_table()
    assert len(table.imagenet) == 1000
    size = sum((DATA_DIR / f).stat().st_size for f in (SYNSETS_FILE, HYPERNYMS_FILE))
    assert size < 1_000_000
    # hand-checked ImageNet-1K members and non-members
    assert {"n02129604", "n02782093", "n02110341", "n02690373"} <= table.imagenet  # tiger ...
    assert not {"n02691156", "n02084071", "n02139199"} & table.imagenet  # airplane, dog, bat


@pytest.mark.parametrize(
    ("wnid", "expected"),
    [
        ("n02129604", Relation("exact", "n02129604", 0)),  # tiger
        ("n02782093", Relation("exact", "n02782093", 0)),  # balloon
        ("n02084071", Relation("hyponym", "n02110341", 1)),  # dog > dalmatian
        ("n02691156", Relation("hyponym", "n02690373", 1)),  # airplane > airliner
        ("n02470325", Relation("hyponym", "n02480495", 3)),  # ape > great ape > orangutan
        ("n02850950", Relation("hypernym", "n02692877", 1)),  # blimp < airship: not allowed
        ("n02139199", Relation("none", None, -1)),  # bat
        ("n04233124", Relation("none", None, -1)),  # skyscraper
    ],
)
def test_overlap_relation_default_rule(tax: Taxonomy, wnid: str, expected: Relation) -> None:
    assert choose(relations(wnid, tax, max_hops=3), ["exact", "hyponym"]) == expected


def test_hypernym_direction(tax: Taxonomy) -> None:
    # blimp (n02850950) is a kind of airship (n02692877, ImageNet-1K): airship is ABOVE it
    found = relations("n02850950", tax, max_hops=3)
    assert found == {"hypernym": Relation("hypernym", "n02692877", 1)}
    assert choose(found, ["exact", "hyponym", "hypernym"]).relation == "hypernym"
    # and seen from the airship the blimp is not an ImageNet synset, so no hyponym there
    assert "hyponym" not in relations("n02692877", tax, max_hops=3)


def test_max_hops_limits_hyponyms(tax: Taxonomy) -> None:
    assert "hyponym" in relations("n02470325", tax, max_hops=3)
    assert relations("n02470325", tax, max_hops=2) == {}


def test_choose_prefers_allowed_then_nearest() -> None:
    found = {
        "hyponym": Relation("hyponym", "n1", 2),
        "hypernym": Relation("hypernym", "n2", 1),
    }
    assert choose(found, ["exact", "hyponym"]) == found["hyponym"]
    assert choose(found, ["exact", "hyponym", "hypernym"]) == found["hypernym"]
    assert choose(found, ["exact"]) == found["hypernym"]  # reported, but not allowed
    assert choose({}, ["exact"]) == Relation.none()


@pytest.mark.parametrize(
    ("name", "items", "expected"),
    [
        ("dog", ["n02108089"], "n02084071"),  # working dogs only -> dog (named ancestor)
        ("fish", ["n01440764", "n02512053", "n02514041"], "n02512053"),  # tench, fish, ...
        ("door", ["n03222176"] * 24 + ["n03222318"], "n03222176"),  # two 'door' senses
        ("hedgehog", ["n01872401"] * 24 + ["n01894207"], "n01872401"),  # no name: majority
        ("airplane", ["n02691156", None], "n02691156"),
    ],
)
def test_class_synset_from_item_wnids(tax: Taxonomy, name: str, items: list, expected: str) -> None:
    assert class_synset(name, items, tax) == expected


def test_outside_table_falls_back_to_wordnet_or_clear_error(monkeypatch) -> None:
    tiny = Taxonomy(WordNetTable(frozenset(), {}, {}))

    def absent():
        raise wordnet.WordNetUnavailable("WordNet 3.0 not found; " + wordnet.INSTALL_HINT)

    monkeypatch.setattr(wordnet, "wordnet", absent)
    with pytest.raises(wordnet.WordNetUnavailable, match="install_wordnet.sh"):
        tiny.ancestors("n02084071")
    with pytest.raises(wordnet.WordNetUnavailable):
        class_synset("dog", [None], tiny)  # name lookup needs WordNet
    manifest = pd.DataFrame(
        {"id": ["photo/kite/1"], "domain": ["photo"], "class": ["kite"], "wnid": [None],
         "pair_id": [None]}
    )  # fmt: skip
    with pytest.raises(wordnet.WordNetUnavailable, match="class 'kite'"):
        class_relations(manifest, SplitConfig(), tiny)


def test_unknown_wnid_error_names_the_class(tax: Taxonomy) -> None:
    manifest = pd.DataFrame(
        {"id": ["photo/x/1"], "domain": ["photo"], "class": ["x"], "wnid": ["n99999999"],
         "pair_id": [None]}
    )  # fmt: skip
    if wordnet_installed():
        with pytest.raises(ManifestError, match="class 'x'.*n99999999"):
            class_relations(manifest, SplitConfig(), tax)
    else:
        with pytest.raises(wordnet.WordNetUnavailable, match="class 'x'"):
            class_relations(manifest, SplitConfig(), tax)


@pytest.mark.skipif(not wordnet_installed(), reason="WordNet 3.0 not installed")
def test_committed_table_matches_live_wordnet() -> None:
    table = load_table()
    for wnid in ["n02084071", "n02129604", "n02850950", "n13104059", "n01440764"]:
        assert dict(table.ancestors[wnid]) == wordnet.closure(wnid)
        assert table.lemmas[wnid] == wordnet.lemmas(wnid)
    tiny = Taxonomy(WordNetTable(frozenset(), {}, {}))
    assert dict(tiny.ancestors("n02084071")) == dict(table.ancestors["n02084071"])
    assert wordnet.lookup_name("car_(sedan)") == "n02958343"


def test_bad_wnid_named() -> None:
    with pytest.raises(ValueError, match="n123"):
        wordnet.check_wnid("n123")
