"""The Python API: ``Retriever.load(bundle)``, ``embed_sketches``, ``embed_photos``, ``search``.

An image goes through exactly the pipeline's path (nothing here re-implements it):

1. :func:`zsbir.features.images.decode_image` — decode, flatten alpha, sketch → grey, resize;
2. the bundle's :class:`~zsbir.features.vgg.VGGFeatures` F under the extract stage's
   precision (:func:`zsbir.features.extract.extract_images` for files);
3. ``PCAModel.transform`` (:mod:`zsbir.features.pca`), times the model's ``feat_scale``;
4. ``embed_sketch`` / ``embed_photo`` of the trained model (:func:`embed_in_chunks`), the
   photo-space sampling seeded by ``derive(seed, "embed")`` as in the embed stage.
"""

from __future__ import annotations

import dataclasses
import io as _io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from zsbir.features.device import autocast, resolve_device, resolve_precision
from zsbir.features.extract import extract_images
from zsbir.features.images import Domain, ImageReadError, decode_image
from zsbir.features.pca import PCAModel, load_models
from zsbir.features.vgg import VGGFeatures
from zsbir.models.factory import load_model
from zsbir.models.base import embed_in_chunks
from zsbir.search.bundle import MODEL, PCA, Bundle, load_extractor, read_bundle
from zsbir.search.photo_index import GalleryError, Hit, PhotoIndex, read_meta
from zsbir.seed import derive

log = logging.getLogger(__name__)

ImageInput = str | Path | bytes | Image.Image


def open_image(image: ImageInput) -> str | Path | _io.BytesIO:
    """Something :func:`decode_image` reads: a path, or the bytes of an encoded image."""
    if isinstance(image, bytes):
        return _io.BytesIO(image)
    if isinstance(image, Image.Image):
        buffer = _io.BytesIO()
        image.save(buffer, format="PNG")  # lossless: decodes to the same pixels
        buffer.seek(0)
        return buffer
    return image


class Retriever:
    """A loaded bundle (and optionally a photo index): raw images in, embeddings/rankings out."""

    def __init__(self, bundle: Bundle, device: str = "auto", index: Any = None) -> None:
        cfg = bundle.features
        self.bundle = bundle
        self.cfg = cfg
        self.device = resolve_device(device if device != "auto" else cfg.device)
        self.precision = resolve_precision(cfg.precision, self.device)
        self.extractor: VGGFeatures = load_extractor(bundle).to(
            self.device, memory_format=torch.channels_last
        )
        self.pca: dict[str, PCAModel] = load_models(bundle.root / PCA)
        self.model, self.model_config = load_model(bundle.root / MODEL)
        self.index = index

    @classmethod
    def load(
        cls, bundle: str | Path, device: str = "auto", index: str | Path | None = None
    ) -> Retriever:
        """Open ``bundle`` (verified) and, if given, the photo index folder ``index``."""
        retriever = cls(read_bundle(bundle), device)
        if index is not None:
            retriever.index = PhotoIndex.load(index, retriever.bundle.fingerprint)
        return retriever

    @classmethod
    def for_index(
        cls, index: str | Path, bundle: str | Path | None = None, device: str = "auto"
    ) -> Retriever:
        """Open the index folder ``index`` with its own bundle (or ``bundle``, if compatible)."""
        meta = read_meta(Path(index))
        if meta is None:
            raise GalleryError(f"{index}: not a zsbir index (no index.json); run `zsbir index`")
        return cls.load(bundle if bundle is not None else meta["bundle"], device, index)

    # ------------------------------------------------------------------ embedding
    @property
    def dim(self) -> int:
        """Dimension of the retrieval embedding."""
        zeros = np.zeros((1, self.extractor.dim), np.float32)  # (1, D_F)
        return int(self.embed_features(zeros, "photo").shape[1])

    def features(self, images: Sequence[ImageInput], domain: Domain) -> np.ndarray:
        """F(x) of in-memory or on-disk images: float32 (N, D_F)."""
        return self.forward([self.decode(im, domain) for im in images])

    def decode(self, image: ImageInput, domain: Domain) -> torch.Tensor:
        """One image as the extractor reads it: uint8 (3, S, S); unreadable → ImageReadError."""
        return decode_image(open_image(image), domain, self.cfg.image_size)

    def forward(self, tensors: Sequence[torch.Tensor]) -> np.ndarray:
        """F of decoded images, ``features.batch_size`` at a time: float32 (N, D_F)."""
        out = np.zeros((len(tensors), self.extractor.dim), np.float32)  # (N, D_F)
        size = self.cfg.batch_size
        with torch.inference_mode(), autocast(self.device, self.precision):
            for i in range(0, len(tensors), size):
                x = torch.stack(list(tensors[i : i + size])).to(self.device)  # (B, 3, S, S) uint8
                x = x.contiguous(memory_format=torch.channels_last)
                out[i : i + len(x)] = self.extractor(x).float().cpu().numpy()  # (B, D_F)
        return out

    def file_features(
        self, paths: Sequence[Path], domain: Domain, skip_unreadable: bool = False
    ) -> tuple[np.ndarray, list[str]]:
        """F(x) of files with the extract stage's own loop (DataLoader workers, progress bar).

        Returns ``(float32 (N, D_F), errors)``; ``errors[i]`` is ``""`` for a good image.
        """
        cfg = dataclasses.replace(self.cfg, skip_unreadable=skip_unreadable)
        return extract_images(self.extractor, list(paths), domain, cfg, self.device, self.precision)

    def embed_features(self, feats: np.ndarray, domain: Domain) -> np.ndarray:
        """F(x) (N, D_F) → retrieval embeddings (N, E): PCA, feature scale, model embed."""
        pca = self.pca.get("joint", self.pca.get(domain))
        x = pca.transform(feats) if pca is not None else np.asarray(feats, np.float32)  # (N, k)
        scale = float(self.model_config.get("feat_scale", {}).get(domain, 1.0))
        scaled = torch.from_numpy(np.asarray(x, np.float32) * scale)  # (N, k)
        gen = torch.Generator().manual_seed(derive(self.bundle.seed, "embed"))
        emb = embed_in_chunks(
            self.model, scaled, domain, space=self.bundle.space,
            n_samples=self.bundle.n_samples, generator=gen,
        )  # (N, E)
        return emb.numpy().astype(np.float32)

    def embed_sketches(self, images: Sequence[ImageInput]) -> np.ndarray:
        """Retrieval embeddings of sketches: float32 (N, E)."""
        return self.embed_features(self.features(images, "sketch"), "sketch")

    def embed_photos(self, images: Sequence[ImageInput]) -> np.ndarray:
        """Retrieval embeddings of photos: float32 (N, E)."""
        return self.embed_features(self.features(images, "photo"), "photo")

    # -------------------------------------------------------------------- search
    def search(self, sketch: ImageInput, k: int = 10) -> list[Hit]:
        """The ``k`` indexed photos most similar to ``sketch``, best first."""
        return self.search_many([sketch], k)[0]

    def search_many(self, sketches: Sequence[ImageInput], k: int = 10) -> list[list[Hit]]:
        """:meth:`search` for many sketches (one batch through the network)."""
        if self.index is None:
            raise ValueError("no photo index attached: Retriever.load(bundle, index=INDEX_DIR)")
        return self.index.rank(self.embed_sketches(sketches), k)


__all__ = ["Hit", "ImageInput", "ImageReadError", "Retriever"]
