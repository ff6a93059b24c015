"""The built-in synthetic dataset: procedural photos and paired sketches of 24 object classes.

Each class is a real noun with its WordNet 3.0 noun id and a parametric silhouette recipe
(:mod:`zsbir.data.synthetic.shapes`). One *instance* = structural parameters drawn from the recipe +
a pose; its photo (:func:`zsbir.data.synthetic.render.render_photo`) and its sketches
(:func:`zsbir.data.synthetic.render.render_sketch`) are drawn from the same instance, so a sketch's
``pair_id`` names a photo of exactly the object it depicts.

Relation of the classes to ImageNet-1K (checked with WordNet 3.0 and the ImageNet-1K wnid
list; ``zsbir.split`` recomputes it from the committed table):

- 15 classes are ImageNet-1K synsets themselves (umbrella, teapot, mushroom, banana,
  hourglass, wine_bottle, acoustic_guitar, starfish, jellyfish, snail, goldfish, padlock,
  hammer, candle, lighthouse = ``beacon, lighthouse``);
- airplane (n02691156) is the hypernym of ImageNet's airliner (n02690373), 1 hop;
- anchor (n02709367) is a kind of ImageNet's hook (n03532672), 1 hop;
- 7 classes have no ImageNet-1K synset above or below them in WordNet at any distance:
  giraffe, windmill, octopus, cactus, key, scissors, snowman.

So with any choice of overlap relations the default 24 classes have at least 7 unseen ones.
The table is ordered so that its first ``n`` classes always mix both kinds.

Determinism: every random draw comes from ``numpy`` generators seeded by
``(derive(seed, "synthetic"), class index, photo index, stream)``, so each file is a pure
function of the seed and its own indices (byte-identical on re-runs; a class's images do not
depend on ``n_classes``).
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from zsbir.config import SyntheticConfig
from zsbir.data.synthetic import shapes
from zsbir.data.base import DatasetError
from zsbir.schema import item_id, make_manifest, validate_manifest
from zsbir.data.synthetic.render import (
    RGB,
    Pose,
    render_photo,
    render_sketch,
    sample_pose,
    sketch_pose,
)
from zsbir.io import atomic_dir
from zsbir.seed import derive

log = logging.getLogger(__name__)

PHOTO_EXT, SKETCH_EXT = ".jpg", ".png"
JPEG_QUALITY = 92
MIN_SIZE, MAX_SIZE = 32, 1024
# Independent random streams of one instance.
_SHAPE, _POSE, _PHOTO, _SKETCH = 0, 1, 2, 3


@dataclass(frozen=True)
class SyntheticClass:
    """A class: its noun, WordNet 3.0 noun id, silhouette recipe and colour palette."""

    name: str
    wnid: str
    recipe: shapes.Recipe
    palette: tuple[RGB, ...]


CLASSES: tuple[SyntheticClass, ...] = (
    SyntheticClass(
        "airplane", "n02691156", shapes.airplane, ((225, 228, 232), (90, 95, 105), (40, 60, 110))
    ),
    SyntheticClass("giraffe", "n02439033", shapes.giraffe, ((222, 170, 80), (120, 70, 30))),
    SyntheticClass("umbrella", "n04507155", shapes.umbrella, ((200, 40, 60), (60, 55, 50))),
    SyntheticClass("teapot", "n04398044", shapes.teapot, ((70, 120, 170), (45, 80, 125))),
    SyntheticClass(
        "windmill", "n04587559", shapes.windmill, ((170, 120, 80), (90, 60, 40), (235, 230, 215))
    ),
    SyntheticClass(
        "mushroom", "n07734744", shapes.mushroom, ((190, 40, 30), (235, 225, 200), (250, 250, 245))
    ),
    SyntheticClass("banana", "n07753592", shapes.banana, ((240, 210, 60), (90, 80, 40))),
    SyntheticClass(
        "octopus",
        "n01970164",
        shapes.octopus,
        ((200, 90, 80), (240, 190, 170), (250, 250, 250), (20, 20, 20)),
    ),
    SyntheticClass(
        "hourglass",
        "n03544143",
        shapes.hourglass,
        ((140, 90, 50), (140, 90, 50), (190, 220, 235), (225, 190, 120)),
    ),
    SyntheticClass(
        "wine_bottle",
        "n04591713",
        shapes.wine_bottle,
        ((30, 80, 40), (235, 225, 200), (120, 20, 40)),
    ),
    SyntheticClass(
        "cactus", "n11842204", shapes.cactus, ((60, 130, 60), (40, 90, 40), (230, 230, 200))
    ),
    SyntheticClass(
        "acoustic_guitar",
        "n02676566",
        shapes.acoustic_guitar,
        ((210, 150, 80), (90, 50, 25), (30, 20, 15), (200, 200, 200)),
    ),
    SyntheticClass("starfish", "n02317335", shapes.starfish, ((230, 120, 60), (250, 200, 150))),
    SyntheticClass("key", "n03613294", shapes.key, ((200, 170, 70),)),
    SyntheticClass("jellyfish", "n01910747", shapes.jellyfish, ((200, 160, 230), (230, 150, 200))),
    SyntheticClass(
        "snail", "n01944390", shapes.snail, ((180, 120, 60), (150, 140, 110), (90, 50, 20))
    ),
    SyntheticClass(
        "scissors", "n04148054", shapes.scissors, ((190, 195, 200), (220, 50, 50), (60, 60, 60))
    ),
    SyntheticClass(
        "goldfish", "n01443537", shapes.goldfish, ((245, 140, 30), (250, 190, 80), (20, 20, 20))
    ),
    SyntheticClass(
        "padlock", "n03874599", shapes.padlock, ((200, 170, 60), (180, 185, 190), (20, 20, 20))
    ),
    SyntheticClass(
        "snowman",
        "n04251983",
        shapes.snowman,
        ((245, 248, 252), (20, 20, 25), (100, 70, 40), (240, 120, 30)),
    ),
    SyntheticClass(
        "hammer", "n03481172", shapes.hammer, ((120, 125, 135), (170, 120, 70), (40, 40, 40))
    ),
    SyntheticClass(
        "candle",
        "n02948072",
        shapes.candle,
        ((240, 235, 220), (255, 170, 40), (180, 150, 100), (255, 240, 150)),
    ),
    SyntheticClass("anchor", "n02709367", shapes.anchor, ((70, 75, 85),)),
    SyntheticClass(
        "lighthouse",
        "n02814860",
        shapes.lighthouse,
        ((240, 240, 235), (200, 40, 40), (255, 230, 120), (90, 90, 90)),
    ),
)


def check_config(cfg: SyntheticConfig) -> None:
    """Raise :class:`DatasetError` naming the key if ``cfg`` cannot be generated."""
    limits = {
        "n_classes": (1, len(CLASSES)),
        "photos_per_class": (1, 100_000),
        "sketches_per_photo": (1, 100),
        "image_size": (MIN_SIZE, MAX_SIZE),
    }
    for key, (low, high) in limits.items():
        value = getattr(cfg, key)
        if not low <= value <= high:
            raise DatasetError(
                f"params key 'data.synthetic.{key}' must be in [{low}, {high}], got {value}"
            )


def _rng(
    base: int, class_index: int, photo_index: int, stream: int, k: int = 0
) -> np.random.Generator:
    return np.random.default_rng([base, class_index, photo_index, stream, k])


def instance(seed: int, class_index: int, photo_index: int) -> tuple[list[shapes.Part], Pose]:
    """The parts and photo pose of one object instance (pure function of its arguments)."""
    base = derive(seed, "synthetic")
    recipe = CLASSES[class_index].recipe
    parts = recipe(_rng(base, class_index, photo_index, _SHAPE))
    return parts, sample_pose(_rng(base, class_index, photo_index, _POSE))


def sketch_rng(seed: int, class_index: int, photo_index: int, k: int) -> np.random.Generator:
    """The generator of sketch ``k`` of a photo: first its pose, then its strokes."""
    return _rng(derive(seed, "synthetic"), class_index, photo_index, _SKETCH, k)


def _make_instance(
    seed: int, ci: int, pi: int, cfg: SyntheticConfig, root: Path
) -> list[dict[str, Any]]:
    """Render one photo and its sketches under ``root``; return their manifest rows."""
    cls = CLASSES[ci]
    return render_instance(
        seed, cls, cls.name, ci, pi, cfg.sketches_per_photo, cfg.image_size, root
    )


def render_instance(
    seed: int,
    cls: SyntheticClass,
    name: str,
    ci: int,
    pi: int,
    n_sketches: int,
    size: int,
    root: Path,
) -> list[dict[str, Any]]:
    """Render photo ``pi`` of a class drawn by ``cls``'s recipe and its ``n_sketches`` sketches.

    ``name`` is the class folder and label, ``ci`` the class index that seeds the draws
    (``CLASSES[ci]`` for the synthetic dataset; any index for a dataset that reuses recipes).
    Returns the manifest rows (photo first).
    """
    base = derive(seed, "synthetic")
    parts = cls.recipe(_rng(base, ci, pi, _SHAPE))
    pose = sample_pose(_rng(base, ci, pi, _POSE))
    stem = f"{cls.wnid}_{pi + 1}"
    photo_id = item_id("photo", name, stem)
    rel = f"photo/{name}/{stem}{PHOTO_EXT}"
    photo_rng = _rng(base, ci, pi, _PHOTO)
    photo = render_photo(parts, palette=cls.palette, pose=pose, rng=photo_rng, size=size)
    photo.save(root / rel, "JPEG", quality=JPEG_QUALITY)
    rows = [{"id": photo_id, "path": rel, "domain": "photo", "wnid": cls.wnid, "pair_id": None}]
    for k in range(n_sketches):
        rng = _rng(base, ci, pi, _SKETCH, k)
        sketch = render_sketch(parts, pose=sketch_pose(pose, rng), rng=rng, size=size)
        sk_stem = f"{stem}-{k + 1}"
        sk_rel = f"sketch/{name}/{sk_stem}{SKETCH_EXT}"
        sketch.save(root / sk_rel, "PNG")
        sk_id = item_id("sketch", name, sk_stem)
        rows.append(
            {"id": sk_id, "path": sk_rel, "domain": "sketch", "wnid": cls.wnid, "pair_id": photo_id}
        )
    for row in rows:
        row["class"] = name
    return rows


@dataclass(frozen=True)
class ClassPlan:
    """What to draw of one class: its label, recipe, seeding index and files per photo.

    ``sketches[p]`` is the number of sketches of photo ``p``; ``len(sketches)`` photos.
    """

    name: str
    cls: SyntheticClass
    index: int
    sketches: tuple[int, ...]


def uniform_plan(cfg: SyntheticConfig) -> list[ClassPlan]:
    """The synthetic dataset's plan: ``n_classes`` x ``photos_per_class`` x ``sketches_per_photo``."""
    return [
        ClassPlan(CLASSES[ci].name, CLASSES[ci], ci, (cfg.sketches_per_photo,) * cfg.photos_per_class)
        for ci in range(cfg.n_classes)
    ]


def generate(
    cfg: SyntheticConfig, seed: int, out_dir: str | Path, workers: int | None = None
) -> pd.DataFrame:
    """Write the synthetic dataset to ``out_dir`` (atomically) and return its manifest.

    Layout mirrors Sketchy: ``photo/<class>/<wnid>_<n>.jpg`` and
    ``sketch/<class>/<wnid>_<n>-<k>.png`` (sketch ``k`` drawn from photo ``n``).
    """
    check_config(cfg)
    log.info(
        "generating synthetic data: %d classes x %d photos x %d sketches, %d px, seed %d",
        cfg.n_classes,
        cfg.photos_per_class,
        cfg.sketches_per_photo,
        cfg.image_size,
        seed,
    )
    return generate_plan(uniform_plan(cfg), seed, cfg.image_size, out_dir, workers)


def generate_plan(
    plan: list[ClassPlan],
    seed: int,
    size: int,
    out_dir: str | Path,
    workers: int | None = None,
) -> pd.DataFrame:
    """Draw every class of ``plan`` at ``size`` px into ``out_dir`` (atomically); its manifest."""
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise DatasetError(
            f"params key 'data.synthetic.image_size' must be in [{MIN_SIZE}, {MAX_SIZE}], got {size}"
        )
    workers = workers or min(4, os.cpu_count() or 1)
    with atomic_dir(out_dir) as tmp:
        for entry in plan:
            for domain in ("photo", "sketch"):
                (tmp / domain / entry.name).mkdir(parents=True)
        jobs = [(entry, pi) for entry in plan for pi in range(len(entry.sketches))]
        rows: list[dict[str, Any]] = []
        # Threads overlap PIL's and numpy's GIL-free work; each job owns its generators
        # and files, so the output does not depend on scheduling.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = pool.map(
                lambda job: render_instance(
                    seed, job[0].cls, job[0].name, job[0].index, job[1],
                    job[0].sketches[job[1]], size, tmp,
                ),
                jobs,
            )
            for job_rows in tqdm(
                results, total=len(jobs), desc="synthetic", unit="photo", mininterval=1.0
            ):
                rows += job_rows
        manifest = validate_manifest(make_manifest(rows), tmp)
    return manifest
