"""Log the workspace's pipeline run to MLflow again from ``metrics/*.json``.

    python scripts/relog.py            # make relog

For after a tracking-store failure (a stage says "MLflow tracking store ... failed"): the
stages kept their outputs and summaries; once the store works, this puts the run of the
current params.yaml (same run key, same MLflow run) back in order. Exit status 2 if the
store still fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stages"))

from common import setup  # noqa: E402

from zsbir.tracking import TrackingError, relog  # noqa: E402

if __name__ == "__main__":
    _, plain = setup("relog")
    try:
        tracker = relog(plain, Path("metrics"))
    except TrackingError as err:
        sys.exit(f"relog: {err}")
    print(f"relog: run {tracker.run_id} logged from metrics/*.json ({tracker.uri})")
