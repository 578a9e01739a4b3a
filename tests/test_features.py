"""vizcore.features and vizcore.figures.features against independent oracles.

- activations: the layers run one by one by hand, and torch.softmax of the model's own output;
- shapes and receptive-field sizes: vizcore.shapes.summarize of the same architecture;
- receptive fields: autograd (which input pixels change a unit at all);
- top-activating images: a brute-force search over every image and position;
- preprocessing: vizcore.models.preprocess, and the digits data set's own 8x8 -> 28x28 pipeline;
- the convolution arithmetic: the layer's own output value.
"""
from __future__ import annotations

import base64
import json
from collections import OrderedDict

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
import torch
from hypothesis import given, settings, strategies as st
from PIL import Image
from torch import nn

from vizcore import features, models, shapes
from vizcore.figures import features as feature_figs
from vizcore.features import Window

SETTINGS = settings(max_examples=60, deadline=None)
ARCHITECTURES = [("digits", (1, 28, 28), {}), ("shapes", (3, 64, 64), {}),
                 ("digits", (1, 28, 28), {"batch_norm": True, "dropout": 0.3}),
                 ("shapes", (3, 64, 64), {"batch_norm": True, "dropout": 0.2})]


def eval_model(name: str, seed: int = 0, **options) -> nn.Sequential:
    torch.manual_seed(seed)
    model = models.build_model(name, **options)
    for module in model.modules():  # batch norm with non-trivial statistics, so it is not an identity
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def by_hand(model: nn.Sequential, x: torch.Tensor) -> dict[str, torch.Tensor]:
    outputs = {}
    with torch.no_grad():
        for name, layer in model.named_children():
            x = layer(x)
            outputs[name] = x
    return outputs


# --- activations -------------------------------------------------------------------------------

@pytest.mark.parametrize("name,shape,options", ARCHITECTURES)
def test_activations_equal_layer_by_layer_forward(name, shape, options):
    model = eval_model(name, **options)
    x = torch.randn((5,) + shape, generator=torch.Generator().manual_seed(1))
    acts = features.activations(model, x)
    expected = by_hand(model, x)
    assert list(acts) == list(expected) + [features.SOFTMAX]
    for layer, out in expected.items():
        torch.testing.assert_close(acts[layer], out, rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(acts[features.SOFTMAX], torch.softmax(model(x), dim=1))
    assert torch.allclose(acts[features.SOFTMAX].sum(dim=1), torch.ones(5))
    # the hooks are gone afterwards
    assert all(not layer._forward_hooks for layer in model.children())


def test_activations_accept_one_image_and_keep_the_batch_dimension():
    model = eval_model("digits")
    x = torch.randn(1, 28, 28)
    acts = features.activations(model, x)
    assert acts["conv1"].shape == (1, model.conv1.out_channels, 28, 28)
    assert acts[features.SOFTMAX].shape == (1, 10)


def test_layer_inputs_are_the_previous_outputs():
    model = eval_model("shapes")
    x = torch.randn(1, 3, 64, 64)
    acts = features.activations(model, x)
    inputs = features.layer_inputs(model, x, acts)
    assert inputs["conv1"] is not None and torch.equal(inputs["conv1"], x)
    assert torch.equal(inputs["conv2"], acts["relu1"])
    assert torch.equal(inputs["fc"], acts["flatten"])


def _as_shapes_layers(model: nn.Sequential, acts: dict | None = None) -> list:
    """The same architecture as vizcore.shapes layer descriptions.

    Global average pooling (AdaptiveAvgPool2d(1)) is an average pool over the whole map it gets,
    so its window is the previous layer's output size, read from ``acts``.
    """
    layers, previous = [], None
    for name, m in model.named_children():
        if isinstance(m, nn.AdaptiveAvgPool2d) and acts is not None and m.output_size in (1, (1, 1)):
            side = tuple(acts[previous].shape[-2:])
            layers.append(shapes.AvgPool2d(side, side, 0, name=name))
        elif isinstance(m, nn.Conv2d):
            layers.append(shapes.Conv2d(m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                                        bias=m.bias is not None, name=name))
        elif isinstance(m, nn.MaxPool2d):
            layers.append(shapes.MaxPool2d(m.kernel_size, m.stride, m.padding, name=name))
        elif isinstance(m, nn.BatchNorm2d):
            layers.append(shapes.BatchNorm2d(name=name))
        elif isinstance(m, nn.ReLU):
            layers.append(shapes.ReLU(name=name))
        elif isinstance(m, nn.Dropout):
            layers.append(shapes.Dropout(m.p, name=name))
        elif isinstance(m, nn.Flatten):
            layers.append(shapes.Flatten(name=name))
        elif isinstance(m, nn.Linear):
            layers.append(shapes.Linear(m.out_features, bias=m.bias is not None, name=name))
        else:
            raise AssertionError(f"no shapes description for {m}")
        previous = name
    return layers


@pytest.mark.parametrize("name,shape,options", ARCHITECTURES)
def test_shapes_and_receptive_fields_equal_the_shape_calculator(name, shape, options):
    model = eval_model(name, **options)
    acts = features.activations(model, torch.zeros((1,) + shape))
    summary = shapes.summarize(_as_shapes_layers(model), shape)
    assert [row.name for row in summary.rows] == features.layer_names(model)
    for row in summary.rows:
        assert tuple(acts[row.name].shape[1:]) == tuple(row.output_shape), row.name
        size_r, size_c, jump_r, jump_c = features.receptive_field_size(model, row.name, shape[1:])
        if row.receptive_field is None:
            assert (size_r, size_c) == shape[1:]
        else:
            assert (size_r, size_c) == tuple(row.receptive_field), row.name
            assert (jump_r, jump_c) == tuple(row.jump), row.name


@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_shipped_models_shapes_equal_the_shape_calculator(name):
    model, meta = models.load_pretrained(name)
    shape = tuple(meta["input_shape"])
    acts = features.activations(model, torch.zeros((1,) + shape))
    rows = shapes.summarize(_as_shapes_layers(model, acts), shape).rows
    assert [row.name for row in rows] == features.layer_names(model)
    for row in rows:
        assert tuple(acts[row.name].shape[1:]) == tuple(row.output_shape)


def test_top_classes_sorted_and_named():
    p = torch.tensor([[0.1, 0.5, 0.05, 0.3, 0.05]])
    assert features.top_classes(p, list("abcde"), k=3) == [("b", 0.5), ("d", pytest.approx(0.3)),
                                                           ("a", pytest.approx(0.1))]
    assert len(features.top_classes(p, list("abcde"), k=9)) == 5


def test_model_fingerprint_changes_with_any_weight():
    model = eval_model("digits")
    before = features.model_fingerprint(model)
    assert features.model_fingerprint(eval_model("digits")) == before
    with torch.no_grad():
        model.fc3.bias[3] += 1e-6
    assert features.model_fingerprint(model) != before
    assert features.model_fingerprint(model) == features.weights_hash(model)


def test_the_remembered_fingerprint_follows_training_and_loading():
    """The fingerprint is remembered per model object; a training step, load_state_dict or a
    swapped tensor make it hash the weights again (it always equals a fresh hash)."""
    model = eval_model("digits")
    first = features.model_fingerprint(model)
    assert features.model_fingerprint(model) == first == features.weights_hash(model)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.rand(2, 1, 28, 28)).sum().backward()
    optimiser.step()
    trained = features.model_fingerprint(model)
    assert trained != first and trained == features.weights_hash(model)
    model.load_state_dict(eval_model("digits").state_dict())
    assert features.model_fingerprint(model) == first
    model.fc3.bias = nn.Parameter(model.fc3.bias.detach() + 1)
    assert features.model_fingerprint(model) == features.weights_hash(model) != first


# --- receptive fields vs autograd ----------------------------------------------------------------

def _gradient_support(model: nn.Sequential, layer: str, channel: int, i: int, j: int,
                      shape: tuple[int, int, int]) -> np.ndarray:
    """Input pixels whose change moves unit (layer, channel, i, j): where its gradient is not 0."""
    x = torch.rand((1,) + shape, dtype=torch.float64) + 0.5
    x.requires_grad_(True)
    out = x
    for name, module in model.named_children():
        out = module(out)
        if name == layer:
            break
    out[0, channel, i, j].backward()
    return (x.grad[0].abs().sum(dim=0) != 0).numpy()


def _positive(model: nn.Sequential) -> nn.Sequential:
    """Every weight and bias positive and max pooling replaced by average pooling of the same
    geometry: then every input pixel in the window really moves the unit (max pooling would pass
    the gradient to one winner only, ReLU could cut it off)."""
    layers = OrderedDict()
    for name, m in model.named_children():
        if isinstance(m, nn.MaxPool2d):
            m = nn.AvgPool2d(m.kernel_size, m.stride, m.padding)
        layers[name] = m
    model = nn.Sequential(layers).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.abs() + 0.01)
    return model


def _window_mask(window: Window, h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), dtype=bool)
    inside = window.clipped(h, w)
    mask[inside.top:inside.bottom, inside.left:inside.right] = True
    return mask


@st.composite
def small_cnns(draw, dense: bool = True):
    """A random stack of conv / ReLU / pooling layers and a valid input size.

    ``dense``: no dilation and stride <= kernel, so a receptive field has no holes.
    """
    layers, size, channels = OrderedDict(), draw(st.integers(12, 40)), draw(st.integers(1, 3))
    in_ch, spatial = channels, size
    for index in range(draw(st.integers(1, 4))):
        k = draw(st.integers(1, 5))
        dilation = 1 if dense else draw(st.integers(1, 3))
        stride = draw(st.integers(1, k if dense else 4))
        padding = draw(st.integers(0, (dilation * (k - 1)) // 2))
        span = dilation * (k - 1) + 1
        if spatial + 2 * padding < span:
            break
        out_ch = draw(st.integers(1, 3))
        layers[f"conv{index}"] = nn.Conv2d(in_ch, out_ch, k, stride, padding, dilation)
        spatial = (spatial + 2 * padding - span) // stride + 1
        in_ch = out_ch
        layers[f"relu{index}"] = nn.ReLU()
        if draw(st.booleans()) and spatial >= 2:
            pk = draw(st.integers(2, 3))
            ps = draw(st.integers(1, pk if dense else 3))
            pp = draw(st.integers(0, pk // 2))
            if spatial + 2 * pp >= pk:
                layers[f"pool{index}"] = nn.MaxPool2d(pk, ps, pp)
                spatial = (spatial + 2 * pp - pk) // ps + 1
    if not layers:
        layers["conv0"] = nn.Conv2d(channels, 1, 1)
    torch.manual_seed(draw(st.integers(0, 1000)))
    return nn.Sequential(layers), (channels, size, size)


@SETTINGS
@given(small_cnns(dense=True), st.data())
def test_receptive_field_is_exactly_where_the_gradient_is_nonzero(cnn, data):
    model, shape = cnn
    model = _positive(model)
    layer = data.draw(st.sampled_from(features.layer_names(model)))
    with torch.no_grad():
        out = by_hand(model, torch.zeros((1,) + shape, dtype=torch.float64))[layer]
    channel = data.draw(st.integers(0, out.shape[1] - 1))
    i, j = data.draw(st.integers(0, out.shape[2] - 1)), data.draw(st.integers(0, out.shape[3] - 1))
    window = features.receptive_field(model, layer, i, j, shape[1:])
    support = _gradient_support(model, layer, channel, i, j, shape)
    np.testing.assert_array_equal(support, _window_mask(window, *shape[1:]))


@SETTINGS
@given(small_cnns(dense=False), st.data())
def test_gradient_never_reaches_outside_the_receptive_field(cnn, data):
    """With dilation or large strides a field has holes, but nothing outside it matters."""
    model, shape = cnn
    model = _positive(model)
    layer = data.draw(st.sampled_from(features.layer_names(model)))
    with torch.no_grad():
        out = by_hand(model, torch.zeros((1,) + shape, dtype=torch.float64))[layer]
    i, j = data.draw(st.integers(0, out.shape[2] - 1)), data.draw(st.integers(0, out.shape[3] - 1))
    window = features.receptive_field(model, layer, i, j, shape[1:])
    support = _gradient_support(model, layer, 0, i, j, shape)
    assert not (support & ~_window_mask(window, *shape[1:])).any()


@pytest.mark.parametrize("name", ["digits", "shapes"])
def test_receptive_fields_of_the_real_architectures_match_autograd(name):
    model = eval_model(name)
    shape = tuple(models.DEFAULT_INPUT[name][:1]) + (models.DEFAULT_INPUT[name][1],) * 2
    positive = _positive(model)
    rng = np.random.default_rng(0)
    with torch.no_grad():
        acts = by_hand(positive, torch.zeros((1,) + shape, dtype=torch.float64))
    for layer, out in acts.items():
        if out.dim() != 4:
            continue
        for _ in range(3):
            i, j = int(rng.integers(out.shape[2])), int(rng.integers(out.shape[3]))
            window = features.receptive_field(model, layer, i, j, shape[1:])
            support = _gradient_support(positive, layer, 0, i, j, shape)
            np.testing.assert_array_equal(support, _window_mask(window, *shape[1:]), err_msg=f"{layer} ({i},{j})")
    last_linear = [n for n, m in model.named_children() if isinstance(m, nn.Linear)][-1]
    assert features.receptive_field(model, last_linear, 3, 0, shape[1:]) == Window(0, 0, shape[1], shape[2])
    with pytest.raises(features.FeatureError, match="flattened"):
        features.receptive_field(model, "flatten", 0, 0, shape[1:])
    assert features.receptive_field(model, features.SOFTMAX, 0, 0, shape[1:]) == Window(0, 0, shape[1], shape[2])


def test_digits_conv1_window_reaches_into_the_padding():
    model = eval_model("digits")  # conv1: 5x5 with padding 2
    assert features.receptive_field(model, "conv1", 0, 0, (28, 28)) == Window(-2, -2, 3, 3)
    assert features.receptive_field(model, "conv1", 0, 0, (28, 28)).clipped(28, 28) == Window(0, 0, 3, 3)
    assert features.receptive_field_size(model, "pool2", (28, 28)) == (16, 16, 4, 4)


def test_receptive_field_refuses_unknown_layers():
    model = eval_model("digits")
    with pytest.raises(features.FeatureError, match="no layer"):
        features.receptive_field(model, "conv9", 0, 0, (28, 28))


# --- the convolution arithmetic ---------------------------------------------------------------------

@SETTINGS
@given(st.sampled_from(["digits", "shapes"]), st.data())
def test_conv_arithmetic_adds_up_to_the_layer_output(name, data):
    model = eval_model(name, seed=data.draw(st.integers(0, 50)))
    shape = (1, models.DEFAULT_INPUT[name][0]) + (models.DEFAULT_INPUT[name][1],) * 2
    x = torch.randn(shape, generator=torch.Generator().manual_seed(data.draw(st.integers(0, 99))))
    acts = features.activations(model, x)
    inputs = features.layer_inputs(model, x, acts)
    layer = data.draw(st.sampled_from(features.conv_layers(model)))
    out = acts[layer][0]
    c = data.draw(st.integers(0, out.shape[0] - 1))
    i, j = data.draw(st.integers(0, out.shape[1] - 1)), data.draw(st.integers(0, out.shape[2] - 1))
    made = features.explain_conv_value(model, layer, inputs[layer], c, i, j)
    assert len(made.per_channel) == inputs[layer].shape[1]
    assert made.total == pytest.approx(float(out[c, i, j]), rel=1e-4, abs=1e-4)
    assert made.bias == pytest.approx(float(dict(model.named_children())[layer].bias[c].detach()))
    kh, kw = dict(model.named_children())[layer].kernel_size
    assert all(len(p.terms) == kh * kw for p in made.per_channel)


def test_filters_and_bias_come_from_the_layer():
    model = eval_model("shapes")
    w = features.filters(model, "conv3")
    assert w.shape == (model.conv3.out_channels, model.conv2.out_channels, 3, 3)
    np.testing.assert_array_equal(w, model.conv3.weight.detach().numpy())
    np.testing.assert_array_equal(features.bias(model, "conv3"), model.conv3.bias.detach().numpy())
    assert features.conv_layers(model) == ["conv1", "conv2", "conv3", "conv4"]
    with pytest.raises(features.FeatureError, match="not a convolution"):
        features.filters(model, "pool1")
    bn = eval_model("digits", batch_norm=True)
    np.testing.assert_array_equal(features.bias(bn, "conv1"), np.zeros(bn.conv1.out_channels, np.float32))


# --- top-activating patches ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["digits", "shapes"])
def test_top_activations_are_the_brute_force_maxima(name):
    model = eval_model(name, seed=3)
    c, side = models.DEFAULT_INPUT[name]
    images = torch.randn(37, c, side, side, generator=torch.Generator().manual_seed(4))
    k = 5
    top = features.top_activations(model, images, k=k, batch_size=8)  # several batches, a ragged last one
    full = features.activations(model, images)
    assert set(top) == set(full)
    for layer, out in full.items():
        per_image = out.reshape(out.shape[0], out.shape[1], -1).amax(dim=2) if out.dim() == 4 else out
        t = top[layer]
        assert t.values.shape == (out.shape[1], k)
        for ch in range(out.shape[1]):
            expected = torch.sort(per_image[:, ch], descending=True).values[:k].numpy()
            # batches of another size may round differently in the last bits
            np.testing.assert_allclose(t.values[ch], expected, rtol=1e-5, atol=1e-5)
            for r in range(k):
                n, (i, j) = t.image_index[ch, r], t.position[ch, r]
                value = out[n, ch, i, j] if out.dim() == 4 else out[n, ch]
                assert float(value) == pytest.approx(float(t.values[ch, r]), rel=1e-5, abs=1e-5)


def test_top_patches_are_the_receptive_field_crops():
    model = eval_model("digits", seed=5)
    images = torch.randn(20, 1, 28, 28, generator=torch.Generator().manual_seed(6))
    pictures = (np.arange(20 * 28 * 28) % 251).astype(np.uint8).reshape(20, 28, 28)
    top = features.top_activations(model, images, k=4)["conv2"]
    patches = features.top_patches(model, "conv2", 3, top, pictures)
    assert len(patches) == 4
    for crop, index, value, window in patches:
        i, j = top.position[3][list(top.image_index[3]).index(index)]
        assert window == features.receptive_field(model, "conv2", int(i), int(j), (28, 28))
        assert crop.shape == (window.height, window.width) == (14, 14)
        inside = window.clipped(28, 28)
        np.testing.assert_array_equal(
            crop[inside.top - window.top:inside.bottom - window.top, inside.left - window.left:inside.right - window.left],
            pictures[index, inside.top:inside.bottom, inside.left:inside.right])
        padding = np.ones(crop.shape, bool)
        padding[inside.top - window.top:inside.bottom - window.top, inside.left - window.left:inside.right - window.left] = False
        assert (crop[padding] == 0).all()
    with pytest.raises(features.FeatureError):
        features.top_patches(model, "conv2", model.conv2.out_channels, top, pictures)


def test_crop_fills_the_padding():
    picture = np.arange(25, dtype=np.uint8).reshape(5, 5)
    out = features.crop(picture, Window(-1, 3, 2, 7))
    np.testing.assert_array_equal(out, [[0, 0, 0, 0], [3, 4, 0, 0], [8, 9, 0, 0]])


# --- preprocessing --------------------------------------------------------------------------------

META_DIGITS = {"input_shape": [1, 28, 28], "mean": [0.13], "std": [0.3]}
META_SHAPES = {"input_shape": [3, 64, 64], "mean": [0.4, 0.5, 0.45], "std": [0.2, 0.25, 0.3]}


@SETTINGS
@given(st.integers(5, 120), st.integers(5, 120), st.sampled_from(["RGB", "L"]),
       st.sampled_from([META_DIGITS, META_SHAPES]), st.integers(0, 10_000))
def test_plain_preprocessing_equals_the_model_preprocessing(w, h, mode, meta, seed):
    rng = np.random.default_rng(seed)
    shape = (h, w, 3) if mode == "RGB" else (h, w)
    img = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)
    steps, x = features.preprocess_steps(img, meta)
    torch.testing.assert_close(x, models.preprocess(img, meta))
    assert steps[0].title == "Your picture" and steps[-1].title.startswith("Normalised")
    np.testing.assert_array_equal(features.to_pixels(x, meta),
                                  np.asarray(img.convert("L" if meta is META_DIGITS else "RGB")
                                             .resize((meta["input_shape"][2], meta["input_shape"][1]),
                                                     Image.Resampling.BILINEAR)))


def _dark_digit_on_paper(size=(90, 60)) -> Image.Image:
    """A dark '1' stroke on light grey paper, off centre, like a phone photo of a written digit."""
    paper = np.full(size[::-1], 200, dtype=np.uint8)
    paper[20:70, 30:37] = 40
    return Image.fromarray(paper, "L").convert("RGB")


def test_matching_the_data_inverts_stretches_and_crops_a_photo():
    img = _dark_digit_on_paper()
    steps, x = features.preprocess_steps(img, META_DIGITS, match_data=True)
    titles = [s.title for s in steps]
    assert titles == ["Your picture", "Grey", "Inverted", "Contrast stretched", "Cropped to the strokes",
                      "Resized to 28×28", "Normalised (the model's input)"]
    picture = features.to_pixels(x, META_DIGITS)
    assert picture[0].max() == 0 and picture[:, 0].max() == 0  # black background
    assert picture.max() >= 250  # white stroke
    rows, cols = np.nonzero(picture > 127)
    assert 3 <= rows.min() and rows.max() <= 24  # the stroke fills the 20-pixel box, as the data does
    assert abs((cols.min() + cols.max()) / 2 - 13.5) <= 1.5  # centred
    assert not any(s.title == "Inverted" for s in features.preprocess_steps(img, META_DIGITS, match_data=True,
                                                                            invert=False)[0])


def test_light_on_dark_pictures_are_not_inverted():
    assert features.looks_dark_on_light(np.asarray(_dark_digit_on_paper().convert("L")))
    assert not features.looks_dark_on_light(255 - np.asarray(_dark_digit_on_paper().convert("L")))


def test_blank_photo_is_handled():
    img = Image.new("L", (40, 40), 255)
    steps, x = features.preprocess_steps(img, META_DIGITS, match_data=True)
    assert x.shape == (1, 1, 28, 28) and torch.isfinite(x).all()
    assert "Cropped to the strokes" not in [s.title for s in steps]


def test_an_8x8_drawing_is_enlarged_like_the_digits_data_set():
    from sklearn.datasets import load_digits

    from vizcore import data

    digits = load_digits()
    stored, _ = data._digits_all()
    for k in (0, 7, 100, 1500):
        picture = features.drawing_to_picture(digits.images[k] / 16.0, 28, 28, border=4)
        assert np.abs(picture.astype(int) - stored[k, 0].numpy().astype(int)).max() <= 1


def test_selected_cells_from_a_chart_selection():
    points = [{"x": 2, "y": 3, "curve_number": 1}, {"x": 7.0, "y": 0}, {"x": 8, "y": 1}, {"x": 1.5, "y": 1},
              {"y": 2}, {"x": None, "y": 1}, {"x": -1, "y": 0}]
    assert features.selected_cells(points, (8, 8)) == [(3, 2), (0, 7)]


def test_colour_drawing():
    grid = np.zeros((16, 16))
    grid[4:12, 4:12] = 1
    picture = features.drawing_to_picture(grid, 64, 64, smooth=False, colour=(255, 0, 0), background=(0, 0, 255))
    assert picture.shape == (64, 64, 3)
    np.testing.assert_array_equal(picture[32, 32], [255, 0, 0])
    np.testing.assert_array_equal(picture[2, 2], [0, 0, 255])
    with pytest.raises(features.FeatureError):
        features.drawing_to_picture(grid, 6, 6, border=4)


# --- figures --------------------------------------------------------------------------------------

def _array(value) -> np.ndarray:
    """A figure array, decoding Plotly's typed-array form ({"dtype", "bdata", "shape"})."""
    if isinstance(value, dict) and "bdata" in value:
        shape = [int(n) for n in str(value.get("shape", "-1")).split(",")]
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(shape)
    return np.asarray(value)


def _validated(fig: go.Figure) -> dict:
    """The figure through Plotly's full validation (raises on any unknown property), as a dict.

    The figures are built without validation for speed, so also check that what goes to the
    browser is exactly what the validated figure would send (no name Plotly.js would not know).
    """
    validated = go.Figure(fig.to_dict())
    sent, expected = json.loads(pio.to_json(fig)), json.loads(pio.to_json(validated))
    sent["layout"].pop("template", None)
    expected["layout"].pop("template", None)
    assert sent == expected
    return validated.to_dict()


def test_channel_grid_shows_every_channel_with_true_values():
    maps = np.random.default_rng(0).normal(size=(6, 5, 7)).astype(np.float32)
    for shared in (True, False):
        fig = _validated(feature_figs.channel_grid(maps, shared_scale=shared, cols=4))
        trace = fig["data"][0]
        z = _array(trace["z"]).astype(float)
        true = z if shared else _array(trace["customdata"]).astype(float)
        # tile k at row k // 4, column k % 4, with a one-pixel gap
        for k in range(6):
            top, left = (k // 4) * 6, (k % 4) * 8
            np.testing.assert_allclose(true[top:top + 5, left:left + 7], maps[k], rtol=1e-6)
            if not shared:
                tile = z[top:top + 5, left:left + 7]
                assert tile.min() == 0 and tile.max() == pytest.approx(1)
        assert [a["text"] for a in fig["layout"]["annotations"]] == [str(k) for k in range(6)]


def test_network_overview_titles_every_layer_with_its_shape():
    model = eval_model("digits")
    acts = {k: v[0].numpy() for k, v in features.activations(model, torch.randn(1, 1, 28, 28)).items()}
    fig = _validated(feature_figs.network_overview(np.zeros((28, 28), np.uint8), acts, classes=list("0123456789")))
    titles = [a["text"] for a in fig["layout"]["annotations"]]
    assert titles[0] == "input<br>1×28×28"
    c1, c2 = model.conv1.out_channels, model.conv2.out_channels
    assert f"conv1<br>{c1}×28×28" in titles and f"pool2<br>{c2}×5×5" in titles and "softmax<br>10" in titles
    assert len(fig["data"]) == len(acts) + 1


def test_other_figures_are_valid():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 3, 3, 3))
    _validated(feature_figs.filter_grid(w))
    _validated(feature_figs.filter_grid(w[:, :1]))
    _validated(feature_figs.filters_in_colour(w))
    picture = rng.integers(0, 256, (20, 20, 3)).astype(np.uint8)
    _validated(feature_figs.overlay(picture, rng.normal(size=(9, 9)), first_centre=(1, 1), jump=(2, 2),
                                     window=Window(-2, -2, 3, 3)))
    _validated(feature_figs.enlarged_channel(rng.normal(size=(9, 9)), position=(2, 3), clickable=True))
    _validated(feature_figs.drawing_canvas(np.eye(8)))
    _validated(feature_figs.channel_grid(rng.normal(size=(1, 6, 6)), title="one channel"))
    bar = _validated(feature_figs.probabilities_bar([("cat", 0.7), ("dog", 0.2)]))
    assert list(bar["data"][0]["y"]) == ["cat", "dog"]
    crops = [(picture[:5, :5], 3, 1.5, Window(0, 0, 5, 5)), (picture[5:10, :5], 8, 1.2, Window(5, 0, 10, 5))]
    grid = _validated(feature_figs.patches_grid(crops))
    assert [a["text"] for a in grid["layout"]["annotations"]] == ["#3: 1.50", "#8: 1.20"]
    pictures = rng.integers(0, 256, (10, 20, 20, 3)).astype(np.uint8)
    whole = _validated(feature_figs.patches_grid(crops, context=pictures))
    assert _array(whole["data"][0]["z"]).shape[1] >= 40  # two whole 20-pixel images
    assert len(whole["layout"]["shapes"]) == 2


def test_pixelated_and_diverging_pictures():
    small = np.arange(4, dtype=np.uint8).reshape(2, 2)
    big = feature_figs.pixelated(small, 10)
    assert big.shape == (10, 10) and (big[:5, :5] == 0).all() and (big[5:, 5:] == 3).all()
    colours = feature_figs.diverging_picture(np.array([[-2.0, 0.0, 2.0]]))
    assert colours[0, 0, 2] > colours[0, 0, 0]  # negative: blue
    assert colours[0, 2, 0] > colours[0, 2, 2]  # positive: red
    np.testing.assert_array_equal(colours[0, 1], [247, 247, 247])
