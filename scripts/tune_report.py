"""Did each tuning converge? Running best of every stored study (zsbir/experiments/convergence.py).

    python scripts/tune_report.py --models twotower cvaegan [--budgets 16 24 32] [--out DIR]

Reads the studies ``tune-<model>`` from optuna.db (written by scripts/tune.py) and writes
convergence.md / .csv / .png and trials.csv to reports/tables/tuning/.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from zsbir.experiments.convergence import Convergence, study_values, write_convergence
from zsbir.io import repo_root

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", required=True, help="model names tuned")
    parser.add_argument("--budgets", nargs="*", type=int, default=[16],
                        help="trial counts to compare the final best against")
    parser.add_argument("--storage", default=f"sqlite:///{repo_root() / 'optuna.db'}")
    parser.add_argument("--out", type=Path, default=Path("reports/tables/tuning"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    searches = []
    for model in args.models:
        try:
            searches.append(Convergence(model, study_values(args.storage, f"tune-{model}")))
        except KeyError:
            parser.error(f"no study 'tune-{model}' in {args.storage}: run "
                         f"`make tune MODEL={model}` first")
    paths = write_convergence(searches, args.out, args.budgets)
    print(paths["convergence.md"].read_text())
