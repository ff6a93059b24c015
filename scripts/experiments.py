"""The paper's experiments as DVC experiments, and their tables, one command each.

    python scripts/experiments.py run    experiments/paper.yaml [--jobs 2]  # queue + run
    python scripts/experiments.py queue  experiments/paper.yaml              # queue only
    python scripts/experiments.py tables experiments/paper.yaml [--out DIR]  # tables, figures
    python scripts/experiments.py list   experiments/paper.yaml              # print the grid

`run` skips experiments already finished on this commit or queued; `tables` reads the
finished runs from MLflow (see zsbir/experiments/). Exit status 1 if an experiment failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from zsbir.experiments.grid import load_grid
from zsbir.experiments.queue import queue, run_queue
from zsbir.experiments.report import write_report
from zsbir.io import read_yaml
from zsbir.tracking import tracking_uri


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("run", "queue", "tables", "list"))
    parser.add_argument("grid", type=Path, help="grid file, e.g. experiments/paper.yaml")
    parser.add_argument("--jobs", type=int, default=1, help="parallel queue workers (run)")
    parser.add_argument("--out", type=Path, help="tables folder (default reports/tables/<grid>)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    grid = load_grid(args.grid, read_yaml("params.yaml") or {})
    if args.command == "list":
        for exp in grid.experiments():
            print(exp.name, " ".join(exp.set_args()))
        return 0
    if args.command == "tables":
        out = args.out or Path("reports/tables") / grid.name
        write_report(grid, tracking_uri(), out)
        print((out / "tables.md").read_text())
        return 0
    pending = queue(grid.experiments())
    if args.command == "queue":
        return 0
    failed = run_queue(pending, args.jobs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
