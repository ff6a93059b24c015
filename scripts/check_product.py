"""CI: the product path equals the evaluation path (issue 14 §4), after a pipeline run.

Indexes the evaluate stage's gallery with `zsbir index` code using models/bundle, queries
every test sketch through the Python API, a sample through `zsbir query` and the HTTP API
of `zsbir serve`, and asserts that mAP@all of the served rankings equals
metrics/eval.json's map_all (to 1e-6) and that CLI/HTTP rankings equal the API's.

    python scripts/check_product.py [--sample 5] [--report reports/product_check.json]
"""

import argparse
import contextlib
import json
import logging
import tempfile
from pathlib import Path

from zsbir.config import parse_params
from zsbir.io import read_yaml, write_json
from zsbir.search.check import CheckInputs, check_product
from zsbir.search.retriever import Retriever
from zsbir.search.web import create_app, running

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=int, default=5, help="sketches sent through CLI and HTTP")
    ap.add_argument("--report", type=Path, default=Path("reports/product_check.json"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s check %(name)s: %(message)s")
    params = parse_params(read_yaml("params.yaml") or {})
    inputs = CheckInputs(
        split=Path("data/split.parquet"),
        manifest=Path("data/manifest.parquet"),
        image_root=Path("data/raw") / params.data.dataset,
        metrics=Path("metrics/eval.json"),
        bundle=Path("models/bundle"),
        generalized=params.eval.generalized,
    )
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as work:
        def http(index_dir: Path) -> str:
            return stack.enter_context(running(create_app(Retriever.for_index(index_dir))))

        report = check_product(inputs, Path(work), args.sample, http)
    write_json(report, args.report)
    print(json.dumps(report, indent=2))
