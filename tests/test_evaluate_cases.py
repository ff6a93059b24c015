"""Case-study selection (best/worst classes by class AP, failure queries) by hand."""

from __future__ import annotations

import numpy as np

from zsbir.evaluate.cases import best_worst_classes, failure_cases

#            rows:   0     1     2     3     4     5     6     7     8
AP = np.array([0.9, 0.7, 0.8, 0.1, 0.3, 0.2, 0.5, 0.5, 0.05])
CLASSES = np.array(["cat", "cat", "cat", "dog", "dog", "dog", "owl", "owl", "owl"])
IDS = np.array([f"q{i}" for i in range(9)])
# class AP: cat 0.8, owl 0.35, dog 0.2


def test_best_and_worst_classes_show_their_median_query() -> None:
    best, worst = best_worst_classes(AP, CLASSES, IDS, n=1)
    assert [c.row for c in best] == [2]  # cat: APs 0.7, 0.8, 0.9 -> median 0.8 (row 2)
    assert [c.row for c in worst] == [5]  # dog: 0.1, 0.2, 0.3 -> median 0.2 (row 5)
    assert best[0].label == "best: cat\nclass AP 0.80"
    assert worst[0].label == "worst: dog\nclass AP 0.20"


def test_lists_never_share_a_class() -> None:
    best, worst = best_worst_classes(AP, CLASSES, IDS, n=5)  # clipped to 3 // 2 = 1 each
    assert [c.row for c in best] == [2] and [c.row for c in worst] == [5]
    assert best_worst_classes(AP[6:], CLASSES[6:], IDS[6:], n=1) == ([], [])


def test_median_ties_are_broken_by_query_id() -> None:
    keep = [0, 1, 2, 6, 7, 8]  # cat and owl; owl APs: q6 0.5, q7 0.5, q8 0.05
    _, worst = best_worst_classes(AP[keep], CLASSES[keep], IDS[keep], n=1)
    assert worst[0].row == 3  # sorted (0.05 q8, 0.5 q6, 0.5 q7): the middle one is q6


def test_failures_are_the_lowest_ap_queries_one_per_class() -> None:
    cases = failure_cases(AP, CLASSES, IDS, n=2)
    assert [c.row for c in cases] == [8, 3]  # owl 0.05, then dog 0.1 (not dog's 0.2)
    assert cases[0].label == "owl\nAP 0.05"
