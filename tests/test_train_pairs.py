"""Sketch-photo pairing and seeded batching."""

import torch

from zsbir.train.pairs import batches, epoch_pairs, random_same_class

SKETCH_CLS = torch.tensor([0, 0, 1, 1, 2, 2, 2])
PHOTO_CLS = torch.tensor([2, 0, 1, 0, 2, 1, 0])
PAIR = torch.tensor([1, -1, 5, -1, 4, 0, -1])


def test_instance_pairing_uses_pair_id_and_falls_back_to_same_class() -> None:
    for seed in range(20):
        got = epoch_pairs(
            PAIR, SKETCH_CLS, PHOTO_CLS, "instance", torch.Generator().manual_seed(seed)
        )
        known = PAIR >= 0
        assert torch.equal(got[known], PAIR[known])
        assert torch.equal(PHOTO_CLS[got], SKETCH_CLS)


def test_class_pairing_draws_every_same_class_photo_and_is_seeded() -> None:
    drawn = set()
    for seed in range(50):
        got = epoch_pairs(PAIR, SKETCH_CLS, PHOTO_CLS, "class", torch.Generator().manual_seed(seed))
        assert torch.equal(PHOTO_CLS[got], SKETCH_CLS)
        drawn.update(zip(SKETCH_CLS.tolist(), got.tolist()))
    assert {p for c, p in drawn if c == 0} == {1, 3, 6}  # all class-0 photos get drawn
    a = random_same_class(SKETCH_CLS, PHOTO_CLS, torch.Generator().manual_seed(1))
    b = random_same_class(SKETCH_CLS, PHOTO_CLS, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


def test_class_without_photo_is_an_error() -> None:
    try:
        random_same_class(torch.tensor([3]), PHOTO_CLS, torch.Generator())
    except ValueError as err:
        assert "[3]" in str(err)
    else:
        raise AssertionError("expected ValueError")


def test_batches_cover_each_index_once_without_singletons() -> None:
    chunks = batches(9, 4, torch.Generator().manual_seed(0))
    assert sorted(torch.cat(chunks).tolist()) == list(range(9))
    assert [len(c) for c in chunks] == [4, 5]
