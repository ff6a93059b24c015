"""Regenerate the committed per-file checksum list of sketchy-mini from a folder.

    python scripts/make_sketchy_checksums.py /work/shared/datasets/sketchy-mini

Hashes every file under ``<folder>/photo`` and ``<folder>/sketch`` and writes
``<sha256>  <relative path>`` lines sorted by path (``sha256sum`` format) to
``zsbir/data/datasets/checksums/sketchy-mini.sha256`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from zsbir.data.acquire.fetch import format_checksums, hash_tree
from zsbir.data.datasets.sketchy_mini import CHECKSUMS, DOMAIN_DIRS
from zsbir.io import write_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="dataset root holding photo/ and sketch/")
    parser.add_argument("--out", type=Path, default=CHECKSUMS, help="checksum list to write")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    missing = [d for d in DOMAIN_DIRS if not (args.folder / d).is_dir()]
    if missing:
        parser.error(f"{args.folder} has no {missing[0]}/ folder")
    checksums = hash_tree(args.folder, DOMAIN_DIRS)
    write_text(format_checksums(checksums), args.out)
    logging.getLogger("make_sketchy_checksums").info(
        "wrote %d checksums to %s", len(checksums), args.out
    )


if __name__ == "__main__":
    main()
