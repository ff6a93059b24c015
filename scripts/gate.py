"""CI regression gate: fail when a retrieval metric dropped below its committed baseline.

    python scripts/gate.py [--metrics metrics/eval.json] [--baseline ci/baselines/X.json]
    python scripts/gate.py --write-baseline [--tolerance 0.02]   # (re)create the baseline

Exit status: 0 all metrics within tolerance (a table is printed), 1 a metric regressed or
is missing (each named with its baseline and new value), 2 an input file is unusable.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from zsbir.experiments.gate import (
    DEFAULT_TOLERANCE,
    BaselineError,
    compare,
    format_table,
    make_baseline,
)
from zsbir.io import write_json

DEFAULT_METRICS = Path("metrics/eval.json")
DEFAULT_BASELINE = Path("ci/baselines/synthetic.json")
_HINT = " (create it from a trusted run with --write-baseline)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--metrics", type=Path, default=DEFAULT_METRICS)
    parser.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE)
    parser.add_argument("--write-baseline", action="store_true",
                        help="write the baseline from the current metrics instead of checking")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help="absolute tolerance per metric for --write-baseline")
    args = parser.parse_args(argv)
    try:
        metrics = _load(args.metrics)
        if args.write_baseline:
            baseline = make_baseline(metrics, args.tolerance, description=f"from {args.metrics}")
            write_json(baseline, args.baseline)
            print(f"wrote baseline {args.baseline}")
            return 0
        checks = compare(metrics, _load(args.baseline, _HINT), source=str(args.baseline))
    except (OSError, ValueError) as err:  # json.JSONDecodeError and BaselineError included
        print(f"gate: {err}", file=sys.stderr)
        return 2
    print(format_table(checks))
    failed = [c for c in checks if not c.passed]
    for check in failed:
        print(f"gate: FAIL {check.message()}", file=sys.stderr)
    if not failed:
        print(f"gate: all {len(checks)} metrics within tolerance of {args.baseline}")
    return 1 if failed else 0


def _load(path: Path, hint: str = "") -> dict:
    if not path.is_file():
        raise OSError(f"missing file: {path}{hint}")
    obj = json.loads(path.read_text())
    if not isinstance(obj, dict):
        raise BaselineError(f"{path}: expected a JSON object")
    return obj


if __name__ == "__main__":
    sys.exit(main())
