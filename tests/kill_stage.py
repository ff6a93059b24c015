"""Run a stage script and SIGKILL it at a chosen write: the crash, at a reproducible point.

    python tests/kill_stage.py MATCH N [--mid-write] -- stages/train.py [stage args]

The stage runs unchanged (``runpy``, as ``__main__``, with ``stages/`` on ``sys.path``).
Every ``os.replace`` onto a path containing MATCH is counted (all artifact writes of
``zsbir.io`` end with one); at the N-th the process kills itself with SIGKILL, either
right after the file is complete (default) or, with ``--mid-write``, just before it is
renamed into place (the temporary file is fully written, the target not yet).
"""

from __future__ import annotations

import argparse
import os
import runpy
import signal
import sys
from pathlib import Path


def main() -> None:
    argv = sys.argv[1:]
    cut = argv.index("--")
    ap = argparse.ArgumentParser()
    ap.add_argument("match")
    ap.add_argument("n", type=int)
    ap.add_argument("--mid-write", action="store_true")
    args = ap.parse_args(argv[:cut])
    stage = argv[cut + 1 :]
    replace, seen = os.replace, [0]

    def killing_replace(src, dst, *a, **k):  # type: ignore[no-untyped-def]
        hit = args.match in str(dst)
        if hit:
            seen[0] += 1
        if hit and seen[0] == args.n and args.mid_write:
            os.kill(os.getpid(), signal.SIGKILL)
        replace(src, dst, *a, **k)
        if hit and seen[0] == args.n:
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = killing_replace
    sys.argv = stage
    sys.path.insert(0, str(Path(stage[0]).resolve().parent))
    runpy.run_path(stage[0], run_name="__main__")
    sys.exit(f"kill_stage: the stage finished before write {args.n} to a path with {args.match!r}")


if __name__ == "__main__":
    main()
