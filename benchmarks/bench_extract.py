"""Benchmark of the feature extractor F: images/s in fp32 and bf16, and bf16 agreement.

Runs the real pipeline (DataLoader workers decoding, channels_last, inference_mode) with
the ONNX ImageNet weights on ~128 sketchy-mini images (16 classes x 4 photos + 4
sketches) at 224 px, then prints

* images/s for fp32 and for bf16 autocast (target >= 25 images/s in bf16 on 2 CPU cores),
* the mean cosine between bf16 and fp32 features of the same image (target >= 0.999),
* the sketch->photo retrieval mAP of raw features (cosine NN) for both, and the difference.

Usage: python benchmarks/bench_extract.py [--data DIR] [--classes 16] [--per-class 4]

``--data`` is a sketchy-mini folder; it defaults to ``$ZSBIR_DATA_SOURCE`` (the variable
the download stage reads), so no machine's path is written here.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import average_precision_score

from zsbir.config import FeaturesConfig
from zsbir.data.acquire.fetch import SOURCE_ENV
from zsbir.features.extract import extract_images, resolve_device, resolve_precision
from zsbir.features.weights import build_extractor



def pick_images(root: Path, n_classes: int, per_class: int) -> dict[str, tuple[list, list]]:
    """``{domain: (paths, classes)}``: the first photos of each class and one sketch of each."""
    photos, sketches, p_cls, s_cls = [], [], [], []
    for cls_dir in sorted((root / "photo").iterdir())[:n_classes]:
        for photo in sorted(cls_dir.glob("*.jpg"))[:per_class]:
            sketch = min((root / "sketch" / cls_dir.name).glob(f"{photo.stem}-*.png"))
            photos.append(photo), sketches.append(sketch)
            p_cls.append(cls_dir.name), s_cls.append(cls_dir.name)
    return {"photo": (photos, p_cls), "sketch": (sketches, s_cls)}


def retrieval_map(sketch: np.ndarray, s_cls: list, photo: np.ndarray, p_cls: list) -> float:
    """Mean over sketch queries of sklearn's average precision of cosine similarity."""
    q = sketch / np.linalg.norm(sketch, axis=1, keepdims=True)
    g = photo / np.linalg.norm(photo, axis=1, keepdims=True)
    scores = q @ g.T  # (Q, G)
    labels = np.asarray(s_cls)[:, None] == np.asarray(p_cls)[None, :]
    return float(np.mean([average_precision_score(y, s) for y, s in zip(labels, scores)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=os.environ.get(SOURCE_ENV),
                    help=f"sketchy-mini folder (default: ${SOURCE_ENV})")
    ap.add_argument("--classes", type=int, default=16)
    ap.add_argument("--per-class", type=int, default=4)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    if args.data is None or not Path(args.data).is_dir():
        ap.error(f"need a sketchy-mini folder: --data DIR or ${SOURCE_ENV} (got {args.data})")
    args.data = Path(args.data)

    cfg = FeaturesConfig(
        weights="onnx", image_size=224, batch_size=32, num_workers=2, device=args.device
    )
    device = resolve_device(cfg.device)
    images = pick_images(args.data, args.classes, args.per_class)
    n_images = sum(len(p) for p, _ in images.values())
    model = build_extractor(cfg.weights, cfg.layers, cfg.onnx_path, 0, cfg.normalize_layers)
    print(
        f"device {device}, threads {torch.get_num_threads()}, {n_images} images, "
        f"layers {list(cfg.layers)}, bf16 native: {resolve_precision('bf16', device)}"
    )

    feats: dict[str, dict[str, np.ndarray]] = {}
    for precision in ("fp32", "bf16"):
        run_cfg = replace(cfg, precision=precision)
        warm = images["photo"][0][: cfg.batch_size]
        extract_images(model, warm, "photo", run_cfg, device, precision)  # warm-up
        start = time.perf_counter()
        feats[precision] = {
            d: extract_images(model, paths, d, run_cfg, device, precision)[0]
            for d, (paths, _) in images.items()
        }
        seconds = time.perf_counter() - start
        print(f"{precision}: {n_images / seconds:7.1f} images/s ({seconds:.1f} s)")

    a = np.concatenate([feats["fp32"][d] for d in images])
    b = np.concatenate([feats["bf16"][d] for d in images])
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    print(f"bf16 vs fp32 cosine: mean {cos.mean():.6f}, min {cos.min():.6f}")
    maps = {
        p: retrieval_map(f["sketch"], images["sketch"][1], f["photo"], images["photo"][1])
        for p, f in feats.items()
    }
    chance = 1.0 / args.classes
    print(
        f"sketch->photo mAP: fp32 {maps['fp32']:.4f}, bf16 {maps['bf16']:.4f}, "
        f"diff {maps['bf16'] - maps['fp32']:+.4f} (chance ~{chance:.3f})"
    )


if __name__ == "__main__":
    main()
