"""Contact sheet: the query sketch beside its top-k photos, with ranks and scores."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

from zsbir import io
from zsbir.search.photo_index import Hit

TILE = 160
CAPTION = 18
PAD = 8


def _tile(image: Image.Image) -> Image.Image:
    return ImageOps.pad(image.convert("RGB"), (TILE, TILE), color=(255, 255, 255))


def contact_sheet(sketch: Image.Image, hits: Sequence[Hit], photo_root: Path) -> Image.Image:
    """One row: the sketch (framed), then each hit's photo captioned ``#rank score``."""
    n = 1 + len(hits)
    sheet = Image.new("RGB", (PAD + n * (TILE + PAD), 2 * PAD + TILE + CAPTION), "white")
    draw = ImageDraw.Draw(sheet)
    sheet.paste(_tile(sketch), (PAD, PAD))
    frame = [PAD - 2, PAD - 2, PAD + TILE + 1, PAD + TILE + 1]
    draw.rectangle(frame, outline=(40, 90, 200), width=2)
    draw.text((PAD, PAD + TILE + 3), "sketch", fill=(40, 90, 200))
    for i, hit in enumerate(hits, 1):
        x = PAD + i * (TILE + PAD)
        with Image.open(photo_root / hit.path) as photo:
            sheet.paste(_tile(photo), (x, PAD))
        draw.text((x, PAD + TILE + 3), f"#{hit.rank}  {hit.score:.3f}", fill=(30, 30, 30))
    return sheet


def write_sheet(
    sketch: Image.Image, hits: Sequence[Hit], photo_root: Path, out: str | Path
) -> None:
    """Write the contact sheet as PNG (atomic)."""
    image = contact_sheet(sketch, hits, photo_root)
    with io.atomic_path(out) as tmp:
        image.save(tmp, format="PNG")
