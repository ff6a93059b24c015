"""F(x): layer taps against forward hooks on a full torchvision VGG-16, preprocessing, decoding."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from zsbir.features.images import ImageDataset, ImageReadError, decode_image
from zsbir.features.vgg import (
    CAFFE_BGR,
    IMAGENET_RGB,
    FeatureError,
    Normalize,
    build_vgg16,
    feature_dim,
)
from zsbir.features.weights import build_extractor


def _hooked_reference(extractor: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run a *full* torchvision VGG-16 with forward hooks (independent of the sliced forward)."""
    with torch.device("meta"):  # no random init: every used tensor is assigned below
        full = torchvision.models.vgg16(weights=None).eval()
    full.classifier[6] = torch.nn.Identity()  # fc8 is not part of F
    full.load_state_dict(extractor.vgg.state_dict(), assign=True)
    acts: dict[str, torch.Tensor] = {}
    taps = {"gap1": 3, "gap2": 8, "gap3": 15, "gap4": 22, "gap5": 29}
    for name, idx in taps.items():
        full.features[idx].register_forward_hook(
            lambda _m, _i, out, name=name: acts.__setitem__(name, out.mean(dim=(2, 3)))
        )
    full.classifier[4].register_forward_hook(lambda _m, _i, out: acts.__setitem__("fc7", out))
    with torch.no_grad():
        full(extractor.normalize(x))
    return acts


def test_taps_match_hooks_on_full_vgg16() -> None:
    layers = ["fc7", "gap5", "gap4", "gap3", "gap1", "gap2"]
    model = build_extractor("random", layers, seed=3)
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, feature_dim(layers)) == (2, 4096 + 512 + 512 + 256 + 64 + 128)
    ref = torch.cat([_hooked_reference(model, x)[n] for n in layers], dim=1)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    assert (out >= 0).all()  # every tap is after a ReLU


def test_default_dim_and_truncation() -> None:
    assert feature_dim(["gap5", "gap4", "gap3"]) == 1280
    vgg = build_vgg16(["gap3"])
    assert len(vgg.features) == 16 and isinstance(vgg.classifier, torch.nn.Identity)
    assert len(build_vgg16(["fc7"]).classifier) == 5  # fc6, relu, dropout, fc7, relu


def test_order_of_layers_is_respected() -> None:
    a = build_extractor("random", ["gap3", "gap1"], seed=0)
    b = build_extractor("random", ["gap1", "gap3"], seed=0)
    x = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(a(x), torch.cat([b(x)[:, 64:], b(x)[:, :64]], dim=1))


def test_normalize_layers_makes_each_layer_unit_norm_and_keeps_direction() -> None:
    plain = build_extractor("random", ["gap1", "gap3"], seed=0)
    unit = build_extractor("random", ["gap1", "gap3"], seed=0, normalize_layers=True)
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        raw, out = plain(x), unit(x)  # (2, 64 + 256)
    for part, ref in ((out[:, :64], raw[:, :64]), (out[:, 64:], raw[:, 64:])):
        torch.testing.assert_close(part.norm(dim=1), torch.ones(2))
        torch.testing.assert_close(part, ref / ref.norm(dim=1, keepdim=True))


@pytest.mark.parametrize("layers", [[], ["gap6"], ["gap3", "gap3"]])
def test_bad_layers_fail(layers: list[str]) -> None:
    with pytest.raises(FeatureError, match="features.layers"):
        feature_dim(layers)


def test_caffe_and_imagenet_normalisation_by_hand() -> None:
    img = torch.tensor([10, 20, 30], dtype=torch.uint8).view(1, 3, 1, 1)  # R, G, B
    bgr = Normalize(CAFFE_BGR)(img).flatten().tolist()
    assert bgr == pytest.approx([30 - 103.939, 20 - 116.779, 10 - 123.68], abs=1e-4)
    rgb = Normalize(IMAGENET_RGB)(img).flatten().tolist()
    want = [(10 / 255 - 0.485) / 0.229, (20 / 255 - 0.456) / 0.224, (30 / 255 - 0.406) / 0.225]
    assert rgb == pytest.approx(want, abs=1e-5)


def test_domain_decides_colour_conversion(tmp_path: Path) -> None:
    arr = np.zeros((8, 8, 4), dtype=np.uint8)
    arr[..., 0], arr[..., 3] = 200, 255  # opaque red
    arr[:4, :, 3] = 0  # top half transparent -> white
    Image.fromarray(arr, "RGBA").save(tmp_path / "a.png")
    photo = decode_image(tmp_path / "a.png", "photo", 16)
    sketch = decode_image(tmp_path / "a.png", "sketch", 16)
    assert photo.shape == sketch.shape == (3, 16, 16) and photo.dtype == torch.uint8
    assert photo[:, 0, 0].tolist() == [255, 255, 255] and photo[:, -1, -1].tolist() == [200, 0, 0]
    assert torch.equal(sketch[0], sketch[1]) and torch.equal(sketch[1], sketch[2])
    gray = round(0.299 * 200)  # PIL's ITU-R 601 luma of (200, 0, 0)
    assert abs(int(sketch[0, -1, -1]) - gray) <= 1


def test_unreadable_image_names_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ImageReadError, match="broken.jpg"):
        ImageDataset([bad], "photo", 16)[0]
    image, index, error = ImageDataset([bad], "photo", 16, skip_unreadable=True)[0]
    assert index == 0 and "broken.jpg" in error and image.shape == (3, 16, 16)
