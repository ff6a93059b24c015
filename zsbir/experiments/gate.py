"""CI regression gate: compare retrieval metrics with a committed baseline.

A baseline is JSON of the form::

    {"description": "...",
     "metrics": {"map_all": {"value": 0.41, "tolerance": 0.02}, ...}}

Every metric is higher-is-better; it fails when it is missing from the new metrics, is not
a number, or ``new < value - tolerance`` (an absolute drop larger than its tolerance).
Improvements always pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from zsbir.schema import GATED_METRICS

DEFAULT_TOLERANCE = 0.02
_FUZZ = 1e-12


class BaselineError(ValueError):
    """The baseline file is malformed; the message names the key."""


@dataclass(frozen=True)
class Check:
    """The verdict on one metric."""

    metric: str
    baseline: float
    tolerance: float
    new: float | None  # None when missing or not a number
    passed: bool

    @property
    def delta(self) -> float | None:
        return None if self.new is None else self.new - self.baseline

    def message(self) -> str:
        """One line naming the metric, the baseline and the new value."""
        if self.new is None:
            return (
                f"{self.metric}: missing or not a number in the new metrics "
                f"(baseline {self.baseline:.4f})"
            )
        verdict = "ok" if self.passed else "REGRESSED"
        return (
            f"{self.metric}: {verdict}: baseline {self.baseline:.4f}, new {self.new:.4f} "
            f"(change {self.delta:+.4f}, tolerance {self.tolerance:.4f})"
        )


def parse_baseline(
    baseline: Mapping[str, Any], source: str = "baseline"
) -> dict[str, tuple[float, float]]:
    """``{metric: (value, tolerance)}`` from a baseline mapping; malformed -> BaselineError."""
    entries = baseline.get("metrics") if isinstance(baseline, Mapping) else None
    if not isinstance(entries, Mapping) or not entries:
        raise BaselineError(f"{source}: needs a non-empty 'metrics' mapping")
    parsed: dict[str, tuple[float, float]] = {}
    for name, entry in entries.items():
        if not isinstance(entry, Mapping) or set(entry) != {"value", "tolerance"}:
            raise BaselineError(
                f"{source}: metrics.{name} must hold exactly 'value' and 'tolerance'"
            )
        value, tol = entry["value"], entry["tolerance"]
        if not (_is_number(value) and _is_number(tol)) or tol < 0:
            raise BaselineError(
                f"{source}: metrics.{name} needs a number value and a tolerance >= 0"
            )
        parsed[str(name)] = (float(value), float(tol))
    return parsed


def compare(
    metrics: Mapping[str, Any], baseline: Mapping[str, Any], source: str = "baseline"
) -> list[Check]:
    """One :class:`Check` per metric of the baseline, in the baseline's order."""
    checks = []
    for name, (value, tol) in parse_baseline(baseline, source).items():
        raw = metrics.get(name)
        new = float(raw) if _is_number(raw) else None
        passed = new is not None and new >= value - tol - _FUZZ
        checks.append(Check(metric=name, baseline=value, tolerance=tol, new=new, passed=passed))
    return checks


def make_baseline(
    metrics: Mapping[str, Any],
    tolerance: float = DEFAULT_TOLERANCE,
    keys: Sequence[str] = GATED_METRICS,
    description: str = "",
) -> dict[str, Any]:
    """A baseline holding the current values of ``keys`` with one absolute tolerance."""
    missing = [k for k in keys if not _is_number(metrics.get(k))]
    if missing:
        raise BaselineError(f"cannot write a baseline: metrics lack number(s) {missing}")
    if tolerance < 0:
        raise BaselineError(f"tolerance must be >= 0, got {tolerance}")
    entries = {k: {"value": float(metrics[k]), "tolerance": float(tolerance)} for k in keys}
    return {"description": description, "metrics": entries}


def format_table(checks: Sequence[Check]) -> str:
    """A fixed-width table: metric, baseline, new, change, tolerance, status."""
    header = f"{'metric':<14}{'baseline':>10}{'new':>10}{'change':>10}{'tol':>8}  status"
    lines = [header, "-" * len(header)]
    for c in checks:
        new = "-" if c.new is None else f"{c.new:.4f}"
        delta = "-" if c.delta is None else f"{c.delta:+.4f}"
        status = "ok" if c.passed else ("MISSING" if c.new is None else "REGRESSED")
        lines.append(
            f"{c.metric:<14}{c.baseline:>10.4f}{new:>10}{delta:>10}{c.tolerance:>8.4f}  {status}"
        )
    return "\n".join(lines)


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )
