"""Weight sources: ONNX conv layers (fingerprint, ImageNet sanity, onnxruntime reference),
torchvision cache/offline error, refusal of wrong files."""

import urllib.error
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torchvision
from onnx import numpy_helper

from zsbir.features import weights as W
from zsbir.features.vgg import CONV_INDICES

# bias[0] of the 13 conv layers of the original (Caffe) ImageNet VGG-16 of Simonyan &
# Zisserman, as published in its MatConvNet conversion (imagenet-vgg-verydeep-16).
PUBLISHED_BIAS0 = [
    0.73429835,
    -0.30912212,
    -0.04577766,
    -0.06418542,
    -0.074358866,
    0.019675018,
    0.035415243,
    0.013485669,
    0.023680462,
    0.03757768,
    0.09722325,
    0.21327873,
    0.18837857,
]
# First kernel tap of conv1_1 filter 0 in that (RGB-ordered) conversion, i.e. the R weight.
PUBLISHED_CONV1_1_R = 0.4800154


@pytest.fixture(scope="module")
def onnx_path() -> Path:
    return W.resolve_onnx_path(None)


@pytest.fixture(scope="module")
def convs(onnx_path: Path) -> W.ConvTensors:
    return W.read_onnx_convs(onnx_path)


def test_onnx_convs_are_the_published_imagenet_vgg16(convs: W.ConvTensors) -> None:
    assert [name for name, _, _ in convs] == list(W.CONV_NAMES)
    np.testing.assert_allclose([b[0] for _, _, b in convs], PUBLISHED_BIAS0, rtol=1e-6)
    w = convs[0][1]  # (64, 3, 3, 3), input channels in Caffe's BGR order
    assert w[0, 2, 0, 0] == pytest.approx(PUBLISHED_CONV1_1_R, rel=1e-6)  # R is channel 2


def test_first_layer_looks_imagenet_trained_and_random_does_not(convs: W.ConvTensors) -> None:
    stats = W.first_layer_stats(convs[0][1], convs[0][2])
    W.check_imagenet_like(stats, Path("x.onnx"))
    assert stats["spatial_corr"] > 0.4 and stats["channel_corr"] > 0.7
    conv = torch.nn.Conv2d(3, 64, 3)
    torch.nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    rand = W.first_layer_stats(conv.weight.detach().numpy(), np.zeros(64, dtype=np.float32))
    assert abs(rand["spatial_corr"]) < 0.15 and abs(rand["channel_corr"]) < 0.15
    with pytest.raises(W.WeightsError, match="conv1_1 does not look ImageNet-trained"):
        W.check_imagenet_like(rand, Path("x.onnx"))


def test_fingerprint_is_committed_and_matches(convs: W.ConvTensors, onnx_path: Path) -> None:
    expected = W.committed_fingerprint()
    assert [layer["name"] for layer in expected["layers"]] == list(W.CONV_NAMES)
    W.verify_fingerprint(convs, expected, onnx_path)
    changed = [(n, w.copy(), b) for n, w, b in convs]
    changed[5][1][0, 0, 0, 0] += 1e-3
    with pytest.raises(W.WeightsError, match="layer conv3_2 does not match"):
        W.verify_fingerprint(changed, expected, onnx_path)


def test_onnx_weights_land_in_torchvision_layers(convs: W.ConvTensors) -> None:
    model = W.build_extractor("onnx", ["gap5", "gap4", "gap3"])
    for index, (_name, weight, bias) in zip(CONV_INDICES, convs):
        np.testing.assert_array_equal(model.vgg.features[index].weight.numpy(), weight)
        np.testing.assert_array_equal(model.vgg.features[index].bias.numpy(), bias)


def test_features_match_onnxruntime_on_the_original_graph(onnx_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    outputs = [f"functional_1/block{b}_conv{c}_1/Relu:0" for b, c in ((1, 2), (3, 3))]
    graph = onnx.load(str(onnx_path)).graph
    last = max(i for i, node in enumerate(graph.node) if outputs[-1] in node.output)
    sub = onnx.helper.make_model(
        onnx.helper.make_graph(
            graph.node[: last + 1],  # the conv trunk up to block 3, in the file's own order
            "trunk",
            [onnx.helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [None] * 4)],
            [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in outputs],
            graph.initializer,
        ),
        opset_imports=onnx.load(str(onnx_path)).opset_import,
    )
    session = ort.InferenceSession(sub.SerializeToString(), providers=["CPUExecutionProvider"])
    images = torch.randint(0, 256, (2, 3, 40, 40), dtype=torch.uint8)
    # Keras/Caffe preprocessing written out independently: NHWC, BGR, 0-255, minus BGR mean.
    x = images.permute(0, 2, 3, 1).numpy().astype(np.float32)[..., ::-1]
    x = np.ascontiguousarray(x - np.array([103.939, 116.779, 123.68], dtype=np.float32))
    ref = np.concatenate([a.mean(axis=(2, 3)) for a in session.run(outputs, {"input": x})], 1)
    model = W.build_extractor("onnx", ["gap1", "gap3"])
    with torch.no_grad():
        ours = model(images).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-3)


def test_fc7_with_onnx_is_refused() -> None:
    with pytest.raises(W.WeightsError, match="fc7.*no ImageNet fc layers"):
        W.build_extractor("onnx", ["fc7", "gap5"])


def test_wrong_onnx_files_are_refused(tmp_path: Path, onnx_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00garbage")
    with pytest.raises(W.WeightsError, match="junk.onnx"):
        W.build_extractor("onnx", ["gap3"], onnx_path=str(junk))
    with pytest.raises(W.WeightsError, match="not found"):
        W.build_extractor("onnx", ["gap3"], onnx_path=str(tmp_path / "missing.onnx"))

    model = onnx.load(str(onnx_path))
    inits = {t.name: t for t in model.graph.initializer}
    conv = [n for n in model.graph.node if n.op_type == "Conv"]
    tensor = inits[conv[6].input[1]]  # conv3_3
    w = numpy_helper.to_array(tensor).copy()
    w[0, 0, 0, 0] *= 1.01
    tensor.CopyFrom(numpy_helper.from_array(w, tensor.name))
    tampered = tmp_path / "tampered.onnx"
    onnx.save(model, str(tampered))
    with pytest.raises(W.WeightsError, match="tampered.onnx: layer conv3_3 does not match"):
        W.build_extractor("onnx", ["gap3"], onnx_path=str(tampered))

    tensor = inits[conv[0].input[1]]  # conv1_1 stored HWIO instead of OIHW
    hwio = numpy_helper.to_array(tensor).transpose(2, 3, 1, 0).copy()
    tensor.CopyFrom(numpy_helper.from_array(hwio, tensor.name))
    onnx.save(model, str(tampered))
    with pytest.raises(W.WeightsError, match=r"layer conv1_1 .*expected OIHW \(64, 3, 3, 3\)"):
        W.read_onnx_convs(tampered)


def test_torchvision_offline_and_uncached_says_how_to_fix(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError(f"network blocked in tests ({url})")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(W.WeightsError) as err:
        W.build_extractor("torchvision", ["gap1"])
    message = str(err.value)
    cache = tmp_path / "hub" / "checkpoints"
    assert str(cache) in message and "vgg16-397923af.pth" in message
    assert "https://download.pytorch.org/models/vgg16-397923af.pth" in message
    assert "network blocked" in message and "features.weights=onnx" in message


def test_torchvision_weights_come_from_the_hub_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("download"))
    torch.manual_seed(0)
    state = {
        "features.0.weight": torch.randn(64, 3, 3, 3),
        "features.0.bias": torch.randn(64),
        "features.2.weight": torch.randn(64, 64, 3, 3),
        "features.2.bias": torch.randn(64),
    }
    W.torchvision_cache_file().parent.mkdir(parents=True)
    torch.save(state, W.torchvision_cache_file())
    model = W.build_extractor("torchvision", ["gap1"])
    assert torch.equal(model.vgg.features[2].weight, state["features.2.weight"])
    x = torch.randint(0, 256, (1, 3, 8, 8), dtype=torch.uint8)
    t = torchvision.models.VGG16_Weights.IMAGENET1K_V1.transforms()
    norm = (x.float() / 255 - torch.tensor(t.mean).view(1, 3, 1, 1)) / torch.tensor(t.std).view(
        1, 3, 1, 1
    )
    ref = torch.relu(
        torch.conv2d(norm, state["features.0.weight"], state["features.0.bias"], padding=1)
    )
    ref = torch.relu(
        torch.conv2d(ref, state["features.2.weight"], state["features.2.bias"], padding=1)
    )
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref.mean(dim=(2, 3)), rtol=1e-4, atol=1e-5)


def test_random_weights_are_seeded() -> None:
    a = W.build_extractor("random", ["gap1"], seed=1).vgg.features[0].weight
    b = W.build_extractor("random", ["gap1"], seed=1).vgg.features[0].weight
    c = W.build_extractor("random", ["gap1"], seed=2).vgg.features[0].weight
    assert torch.equal(a, b) and not torch.equal(a, c)
