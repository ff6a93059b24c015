"""Log the workspace's pipeline run to MLflow again from ``metrics/*.json``.

    python scripts/relog.py            # make relog

For after a tracking-store failure (a stage says "MLflow tracking store ... failed"): the
stages kept their outputs and summaries; once the store works, this puts the run of the
current params.yaml (same run key, same MLflow run) back in order. Exit status 2 if the
store still fails.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from zsbir.config import parse_params, to_dict
from zsbir.io import read_yaml
from zsbir.tracking import TrackingError, relog

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s relog %(name)s: %(message)s")
    plain = to_dict(parse_params(read_yaml("params.yaml") or {}))
    try:
        tracker = relog(plain, Path("metrics"))
    except TrackingError as err:
        sys.exit(f"relog: {err}")
    print(f"relog: run {tracker.run_id} logged from metrics/*.json ({tracker.uri})")
