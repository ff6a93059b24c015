"""Did each tuning search converge? The running best of its trials, per model.

A study (:mod:`zsbir.experiments.tune`) tries ``n`` configurations in order; trial ``t``
scores v_t (seen-class val mAP@all; NaN when it failed). Its running best is

    b_t = max_{s <= t} v_s        (failed trials skipped; NaN until the first success)

and the search is read by: the best value b_n, the (1-based) trial that first reached it,
and b_k at budgets k below n (e.g. k = 16, the budget of the committed tuning), so the
gain b_n - b_k says what the extra k+1..n trials bought. TPE's first
``n_startup_trials`` (10) are random, so a best found at trial t <= 10 is a random draw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from zsbir.evaluate.figures import new_figure, save_figure
from zsbir.io import write_text


@dataclass(frozen=True)
class Convergence:
    """One model's search: its trials' objective in order and what they reached."""

    model: str
    values: tuple[float, ...]  # v_t, t = 1..n (NaN = failed)

    @property
    def running_best(self) -> np.ndarray:  # (n,) b_t
        v = np.asarray(self.values, dtype=float)
        return np.fmax.accumulate(v) if v.size else v

    @property
    def best(self) -> float:
        b = self.running_best
        return float(b[-1]) if b.size else math.nan

    @property
    def best_trial(self) -> int:
        """The 1-based trial that first reached the best value (0 when none succeeded)."""
        v = np.asarray(self.values, dtype=float)
        if not np.isfinite(v).any():
            return 0
        return int(np.nanargmax(v)) + 1

    def best_at(self, k: int) -> float:
        """b_k: the best of the first ``k`` trials (NaN past the study's length)."""
        if k < 1 or k > len(self.values):
            return math.nan
        return float(self.running_best[k - 1])


FAILED_ATTR = "zsbir.failed"  # user attr of a trial whose own objective failed (its reason)


def counted_trials(trials: Sequence[Any]) -> list[Any]:
    """The trials that count against a study's budget, in trial order: every completed or
    pruned one, and a failed one only when its objective failed (it carries ``FAILED_ATTR``).
    A trial still running, or failed because its process was killed, counts as nothing."""
    from optuna.trial import TrialState

    kept = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
            or (t.state == TrialState.FAIL and FAILED_ATTR in t.user_attrs)]
    return sorted(kept, key=lambda t: t.number)


def trial_values(trials: Sequence[Any]) -> tuple[float, ...]:
    """Objective of every counted trial (:func:`counted_trials`), NaN where it failed."""
    return tuple(math.nan if t.value is None else float(t.value) for t in counted_trials(trials))


def study_values(storage: str, study_name: str) -> tuple[float, ...]:
    """:func:`trial_values` of the stored study ``study_name``."""
    import optuna

    return trial_values(optuna.load_study(study_name=study_name, storage=storage).trials)


def convergence_frame(searches: Sequence[Convergence], budgets: Sequence[int]) -> pd.DataFrame:
    """One row per model: trials, best, best trial, b_k per budget and the gain b_n - b_k."""
    rows = []
    for s in searches:
        row: dict[str, float | int | str] = {"model": s.model, "trials": len(s.values),
                                             "best": s.best, "best_trial": s.best_trial}
        for k in budgets:
            row[f"best_at_{k}"] = s.best_at(k)
            row[f"gain_after_{k}"] = s.best - s.best_at(k)
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_convergence(frame: pd.DataFrame, budgets: Sequence[int]) -> str:
    """The frame as a Markdown table (val mAP to 4 decimals)."""
    head = ["model", "trials", "best val mAP", "best trial",
            *(f"best of first {k}" for k in budgets), *(f"gain after {k}" for k in budgets)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in frame.iterrows():
        cells = [f"`{r['model']}`", str(r["trials"]), _num(r["best"]), str(r["best_trial"]),
                 *(_num(r[f"best_at_{k}"]) for k in budgets),
                 *(_num(r[f"gain_after_{k}"], signed=True) for k in budgets)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_convergence(searches: Sequence[Convergence], path: Path,
                     budgets: Sequence[int] = ()) -> None:
    """Each trial's val mAP (dots) and the running best (line) against the trial number."""
    fig = new_figure((6.5, 3.8))
    ax = fig.subplots()
    for i, s in enumerate(searches):
        t = np.arange(1, len(s.values) + 1)
        ax.plot(t, np.asarray(s.values, float), "o", color=f"C{i}", markersize=3, alpha=0.4)
        ax.step(t, s.running_best, where="post", color=f"C{i}", label=s.model)
    for k in budgets:
        ax.axvline(k, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel("trial")
    ax.set_ylabel("seen-class val mAP@all")
    ax.set_title("Tuning: each trial (dots) and the running best", fontsize=10)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def write_convergence(searches: Sequence[Convergence], out_dir: Path,
                      budgets: Sequence[int]) -> Mapping[str, Path]:
    """``convergence.{md,csv,png}`` and ``trials.csv`` (every trial) in ``out_dir``."""
    frame = convergence_frame(searches, budgets)
    trials = pd.DataFrame([{"model": s.model, "trial": t + 1, "val_map": v,
                            "running_best": b}
                           for s in searches
                           for t, (v, b) in enumerate(zip(s.values, s.running_best))])
    paths = {name: out_dir / name for name in
             ("convergence.md", "convergence.csv", "trials.csv", "convergence.png")}
    write_text(markdown_convergence(frame, budgets), paths["convergence.md"])
    write_text(frame.to_csv(index=False), paths["convergence.csv"])
    write_text(trials.to_csv(index=False), paths["trials.csv"])
    plot_convergence(searches, paths["convergence.png"], budgets)
    return paths


def _num(x: float, signed: bool = False) -> str:
    if not math.isfinite(x):
        return "–"
    return f"{x:+.4f}" if signed else f"{x:.4f}"
