"""Decoding and resizing of photos and sketches for the feature extractor.

Both domains go through one code path; the domain only decides the colour conversion:
a sketch is read as grayscale and replicated to 3 channels, a photo as RGB. Transparent
pixels are composited onto white first (sketch PNGs often draw black on transparent).
Images leave the workers as ``uint8`` tensors (3, S, S); scaling and normalisation are
part of the network (``zsbir.features.vgg.Normalize``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from zsbir.schema import DOMAINS, Domain



class ImageReadError(ValueError):
    """An image file cannot be decoded; the message names the file."""


def decode_image(path: str | Path, domain: Domain, image_size: int) -> torch.Tensor:
    """Read ``path`` as a ``uint8`` tensor (3, image_size, image_size).

    Sketches: grayscale → 3 identical channels. Photos: RGB. Bilinear resize to a square.
    """
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; expected one of {DOMAINS}")
    try:
        with Image.open(path) as img:
            img.load()
            rgb = _flatten_alpha(img)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageReadError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from exc
    if domain == "sketch":
        rgb = rgb.convert("L").convert("RGB")
    rgb = rgb.resize((image_size, image_size), Image.Resampling.BILINEAR)
    array = np.asarray(rgb, dtype=np.uint8)  # (S, S, 3)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()  # (3, S, S)


def _flatten_alpha(img: Image.Image) -> Image.Image:
    """RGB image; transparent areas become white."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return img.convert("RGB")


class ImageDataset(Dataset):
    """Images of one domain, for a DataLoader whose workers decode while the model runs.

    Item ``i`` is ``(image uint8 (3, S, S), i, error)`` where ``error`` is ``""`` for a good
    image. With ``skip_unreadable`` an unreadable file yields a zero image and its error
    message (the caller drops it); otherwise it raises :class:`ImageReadError`.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        domain: Domain,
        image_size: int,
        skip_unreadable: bool = False,
    ) -> None:
        if domain not in DOMAINS:
            raise ValueError(f"unknown domain {domain!r}; expected one of {DOMAINS}")
        self.paths = [Path(p) for p in paths]
        self.domain = domain
        self.image_size = image_size
        self.skip_unreadable = skip_unreadable

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, str]:
        try:
            image = decode_image(self.paths[index], self.domain, self.image_size)
        except ImageReadError as exc:
            if not self.skip_unreadable:
                raise
            blank = torch.zeros(3, self.image_size, self.image_size, dtype=torch.uint8)
            return blank, index, str(exc)
        return image, index, ""
