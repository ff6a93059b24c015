"""Print the per-class file counts of a downloaded benchmark, in the counts-table format.

Run it on the archives or extracted folders of a dataset (the folder you would give as
``data.source``) to record the per-class counts that no upstream publishes, then replace
the '-' cells of zsbir/data/datasets/tables/<dataset>.tsv with them (keep the '#' provenance lines
and add one naming the archives' SHA-256, from ~/.cache/zsbir/<dataset>/*.sha256).

    python scripts/count_dataset.py tuberlin /data/tuberlin-archives > /tmp/tuberlin.tsv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zsbir.config import DataConfig
from zsbir.data.datasets import quickdraw, sketchy, tuberlin
from zsbir.data.acquire.benchmark import count_files
from zsbir.data.acquire.counts import count_table

SPECS = {m.NAME: m.benchmark for m in (sketchy, tuberlin, quickdraw)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=sorted(SPECS))
    parser.add_argument("source", help="folder holding the archives or their extracted folders")
    args = parser.parse_args()
    bench = SPECS[args.dataset](DataConfig(dataset=args.dataset))
    found = count_files(bench, str(Path(args.source).resolve()), Path.cwd())
    groups = tuple(g for pkg in bench.packages for g in pkg.groups)
    sys.stdout.write(count_table(found.counts, groups))
    print(
        f"# skipped (not images of the dataset): {dict(found.skipped)}; "
        f"duplicates by name: {len(found.duplicates)}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
