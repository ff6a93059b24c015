"""Tune one model's hyperparameters on seen-class val mAP (Optuna; see zsbir/experiments/tune.py).

    python scripts/tune.py --model twotower --trials 20 --epochs 40

Reads params.yaml, experiments/search/<model>.yaml and the built data/pca, data/split.parquet,
data/classes.parquet (run `dvc repro pca` first); writes the best params to experiments/tuned.yaml.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from zsbir.experiments.tune import load_search_space, tune
from zsbir.experiments.tuned import write_tuned
from zsbir.io import read_yaml, repo_root
from zsbir.tracking import tracking_uri
from zsbir.train.data import load_training_data

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="model.name to tune")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=40, help="epoch budget of every trial")
    parser.add_argument("--space", type=Path, help="default experiments/search/<model>.yaml")
    parser.add_argument("--out", type=Path, default=Path("experiments/tuned.yaml"))
    parser.add_argument("--resume", action="store_true",
                        help="continue the stored study up to --trials finished trials")
    parser.add_argument("--storage", default=f"sqlite:///{repo_root() / 'optuna.db'}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    params = read_yaml("params.yaml") or {}
    space = load_search_space(args.space or Path(f"experiments/search/{args.model}.yaml"), params)
    data = load_training_data(
        "data/pca",
        split_path="data/split.parquet",
        classes_path="data/classes.parquet",
        manifest_path="data/manifest.parquet",
    )
    result = tune(args.model, params, data, space, n_trials=args.trials, epochs=args.epochs,
                  storage=args.storage, tracking_uri=tracking_uri(), resume=args.resume)
    write_tuned(args.out, args.model, result.best)
    print(f"{args.model}: best seen-class val mAP {result.best.val_map:.4f} with "
          f"{result.best.params} ({args.trials} trials x {args.epochs} epochs, "
          f"{result.seconds:.0f} s); written to {args.out}")
