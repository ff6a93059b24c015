"""The multi-layer VGG-16 feature extractor F of the paper (Sec. 3.1).

F(x) is the concatenation of the activations named in ``features.layers``:

* ``gapK`` (K = 1..5): global average pooling of the last ReLU output of convolution
  block K, ``gapK(x) = mean_{h,w} relu(conv_K_last(x))[:, :, h, w]``, dims 64, 128, 256,
  512, 512;
* ``fc7``: the 4096-d output of the second fully connected layer after its ReLU.

The network is torchvision's own ``vgg16`` module; :class:`VGGFeatures` runs a sliced
forward over ``vgg.features`` (and ``vgg.classifier[:5]`` for fc7), stopping after the
deepest requested layer. Input preprocessing (channel order, scale, mean/std) belongs to
the weight source and is the first module of the extractor, so images travel from the
decoding workers as ``uint8`` tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torchvision
from torch import nn

# Index, inside torchvision's ``vgg16().features``, of the last ReLU of each conv block.
BLOCK_LAST_RELU: dict[str, int] = {"gap1": 3, "gap2": 8, "gap3": 15, "gap4": 22, "gap5": 29}
# Index of the ReLU after the second FC layer inside ``vgg16().classifier``.
FC7_RELU = 4
LAYER_DIMS: dict[str, int] = {
    "gap1": 64,
    "gap2": 128,
    "gap3": 256,
    "gap4": 512,
    "gap5": 512,
    "fc7": 4096,
}
# Indices of the 13 conv layers inside ``vgg16().features``, in graph order.
CONV_INDICES: tuple[int, ...] = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


class FeatureError(ValueError):
    """A feature-extractor configuration cannot be honoured; the message says why."""


@dataclass(frozen=True)
class Preprocessing:
    """How a weight source expects its input: ``((x * scale)[channels] - mean) / std``.

    ``x`` is RGB in [0, 1]; ``channels`` reorders RGB (e.g. ``(2, 1, 0)`` for Caffe BGR);
    ``mean`` and ``std`` are given in the *reordered* channel order.
    """

    channels: tuple[int, int, int]
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


IMAGENET_RGB = Preprocessing(
    channels=(0, 1, 2), scale=1.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)
)
CAFFE_BGR = Preprocessing(
    channels=(2, 1, 0), scale=255.0, mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0)
)


def feature_dim(layers: Sequence[str]) -> int:
    """Dimension of F(x) for ``layers`` (e.g. 1280 for gap5, gap4, gap3)."""
    check_layers(layers)
    return sum(LAYER_DIMS[name] for name in layers)


def check_layers(layers: Sequence[str]) -> None:
    """Fail on an empty, unknown or repeated layer name."""
    if not layers:
        raise FeatureError("features.layers is empty; name at least one of fc7, gap1..gap5")
    unknown = [name for name in layers if name not in LAYER_DIMS]
    if unknown:
        raise FeatureError(f"features.layers: unknown layer(s) {unknown}; known {list(LAYER_DIMS)}")
    if len(set(layers)) != len(layers):
        raise FeatureError(f"features.layers lists a layer twice: {list(layers)}")


class Normalize(nn.Module):
    """``uint8`` RGB images (B, 3, H, W) → the float input a weight source expects."""

    def __init__(self, prep: Preprocessing) -> None:
        super().__init__()
        self.channels = list(prep.channels)
        self.scale = prep.scale / 255.0
        self.register_buffer("mean", torch.tensor(prep.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(prep.std).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images[:, self.channels].float() * self.scale  # (B, 3, H, W)
        return (x - self.mean) / self.std


def build_vgg16(layers: Sequence[str]) -> torchvision.models.VGG:
    """torchvision's VGG-16 (``weights=None``), truncated after the deepest needed layer.

    Built on the meta device (no memory, no random init); the weight source then
    materialises and fills every remaining parameter (see ``zsbir.features.weights``).
    """
    check_layers(layers)
    with torch.device("meta"):
        vgg = torchvision.models.vgg16(weights=None)
    if "fc7" in layers:
        vgg.classifier = vgg.classifier[: FC7_RELU + 1]  # Linear, ReLU, Dropout, Linear, ReLU
    else:
        last = max(BLOCK_LAST_RELU[name] for name in layers)
        vgg.features = vgg.features[: last + 1]
        vgg.avgpool = nn.Identity()
        vgg.classifier = nn.Identity()
    return vgg.to_empty(device="cpu").eval()


class VGGFeatures(nn.Module):
    """F(x): concatenated multi-layer VGG-16 activations (paper Sec. 3.1, Eq. for F).

    ``forward`` takes ``uint8`` RGB images (B, 3, H, W) and returns float32 (B, D) with
    the layers in the order of ``layers``. Global average pooling is computed in float32
    even under bf16 autocast.
    """

    def __init__(
        self,
        vgg: torchvision.models.VGG,
        layers: Sequence[str],
        prep: Preprocessing,
        normalize_layers: bool = False,
    ):
        super().__init__()
        check_layers(layers)
        self.layers = tuple(layers)
        # L2-normalise each layer's vector before concatenation: raw activations differ in
        # scale by ~60x between gap3 and gap5, so without it the cosine sees mostly gap3.
        self.normalize_layers = normalize_layers
        self.normalize = Normalize(prep)
        self.vgg = vgg
        self._taps = {BLOCK_LAST_RELU[n]: n for n in self.layers if n in BLOCK_LAST_RELU}
        self._want_fc7 = "fc7" in self.layers
        if self._want_fc7 and not isinstance(vgg.classifier, nn.Sequential):
            raise FeatureError("fc7 requested but the network has no classifier layers")

    @property
    def dim(self) -> int:
        return feature_dim(self.layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.normalize(images)  # (B, 3, H, W)
        pooled: dict[str, torch.Tensor] = {}
        last_tap = max(self._taps) if self._taps and not self._want_fc7 else None
        for index, module in enumerate(self.vgg.features):
            x = module(x)  # (B, C_i, H_i, W_i)
            name = self._taps.get(index)
            if name is not None:
                pooled[name] = x.float().mean(dim=(2, 3))  # (B, C_i)
            if index == last_tap:
                break
        if self._want_fc7:
            x = torch.flatten(self.vgg.avgpool(x), 1)  # (B, 512 * 7 * 7)
            pooled["fc7"] = self.vgg.classifier(x).float()  # (B, 4096)
        parts = [pooled[name] for name in self.layers]  # each (B, D_layer)
        if self.normalize_layers:
            parts = [nn.functional.normalize(part, dim=1) for part in parts]
        return torch.cat(parts, dim=1)  # (B, D)
