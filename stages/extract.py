"""Stage `extract`: VGG-16 multi-layer features F(x) of every photo and sketch.

    python stages/extract.py                  # all images, one process (what dvc repro runs)
    python stages/extract.py --shard 2/8      # shard 2 of 8 -> data/features/parts/
    torchrun --nproc-per-node 4 stages/extract.py --shard env   # RANK/WORLD_SIZE -> shard
    python stages/extract.py --merge          # once every shard is done

A resumed run skips the shards already written (see zsbir.features.extract).
"""

import argparse
import os
from pathlib import Path

from common import setup, stage

from zsbir.features.extract import Shard, merge_parts, run_extract

OUT = Path("data/features")
RAW_DIR = Path("data/raw")
MANIFEST = Path("data/manifest.parquet")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shard", default="0/1", help="i/N (0-based), or 'env' under torchrun")
    ap.add_argument("--merge", action="store_true", help="merge data/features/parts/")
    return ap.parse_args()


if __name__ == "__main__":
    args = parse_args()
    if args.shard == "env":
        shard = Shard(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]))
    else:
        shard = Shard.parse(args.shard)
    if not args.merge and shard.count > 1:  # one of many processes: no MLflow, no merge
        params, _ = setup("extract")
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        raw_root = RAW_DIR / params.data.dataset
        run_extract(
            MANIFEST, raw_root, out_dir=OUT, cfg=params.features, shard=shard, local_rank=local_rank
        )
    else:
        with stage("extract") as st:
            if args.merge:
                summary = merge_parts(OUT / "parts", OUT)
            else:
                raw_root = RAW_DIR / st.params.data.dataset
                summary = run_extract(
                    MANIFEST, raw_root, out_dir=OUT, cfg=st.params.features, shard=shard
                )
            st.write_summary(summary)
            if summary["unreadable"]:
                st.mlflow.log_artifact(str(OUT / "unreadable.csv"))
