"""Case studies for the paper: which queries the retrieval figures show.

- *Best / worst classes*: the ``n`` unseen classes with the highest and the lowest
  class AP (mean AP of the class's queries); each is shown by its *median* query (the
  query of the class whose AP is the lower median), so the row is typical of the class
  rather than its luckiest sketch.
- *Failure cases*: the ``n`` queries with the lowest AP overall, at most one per class.

Ties are broken by class name, then by query id, so the choice is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Case:
    """One row of a case-study figure: a query row index and its caption."""

    row: int
    label: str


def _frame(ap: np.ndarray, classes: np.ndarray, ids: np.ndarray) -> pd.DataFrame:
    if not len(ap) == len(classes) == len(ids):
        raise ValueError(f"ap {len(ap)}, classes {len(classes)}, ids {len(ids)}: lengths differ")
    return pd.DataFrame(
        {"row": np.arange(len(ap)), "ap": ap, "class": classes.astype(str), "id": ids.astype(str)}
    )


def median_query(frame: pd.DataFrame) -> int:
    """Row of the query whose AP is the lower median of ``frame`` (one class's queries)."""
    ordered = frame.sort_values(["ap", "id"], kind="stable")
    return int(ordered["row"].iloc[(len(ordered) - 1) // 2])


def best_worst_classes(
    ap: np.ndarray, classes: np.ndarray, ids: np.ndarray, n: int
) -> tuple[list[Case], list[Case]]:
    """The median queries of the ``n`` best and the ``n`` worst classes by class AP.

    ``ap``, ``classes``, ``ids``: (Q,) per query. Returns ``(best, worst)``, best first
    in descending and worst in ascending class AP; a class is never in both lists.
    """
    frame = _frame(ap, classes, ids)
    class_ap = frame.groupby("class")["ap"].mean().reset_index()
    ranked = class_ap.sort_values(["ap", "class"], ascending=[False, True], kind="stable")
    n = max(0, min(n, len(ranked) // 2))
    best = ranked.head(n)
    worst = ranked.tail(n).iloc[::-1]
    groups = dict(tuple(frame.groupby("class")))

    def cases(rows: pd.DataFrame, kind: str) -> list[Case]:
        return [
            Case(median_query(groups[c]), f"{kind}: {c}\nclass AP {a:.2f}")
            for c, a in zip(rows["class"], rows["ap"])
        ]

    return cases(best, "best"), cases(worst, "worst")


def failure_cases(ap: np.ndarray, classes: np.ndarray, ids: np.ndarray, n: int) -> list[Case]:
    """The ``n`` lowest-AP queries, one per class, lowest first."""
    frame = _frame(ap, classes, ids).sort_values(["ap", "class", "id"], kind="stable")
    worst = frame.drop_duplicates("class").head(max(n, 0))
    return [Case(int(r), f"{c}\nAP {a:.2f}") for r, c, a in zip(worst["row"], worst["class"], worst["ap"])]
