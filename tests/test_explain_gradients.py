"""Gradient methods and Grad-CAM of vizcore.explain against captum 0.9 (the oracle), on random small
CNNs and inputs (hypothesis) and on both shipped models; heatmaps, PNGs, the sanity check and
the explanation figures; and the concurrency property: two threads, one shared model."""
from __future__ import annotations

import importlib
import io
import math
import threading
import warnings
from collections import OrderedDict

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import stats
from torch import nn

from vizcore import explain, features, models
from vizcore.figures import saliency as saliency_figs

captum_attr = pytest.importorskip("captum.attr")
from captum.attr import (  # noqa: E402
    GuidedBackprop, InputXGradient, IntegratedGradients, LayerAttribution, LayerGradCam, NoiseTunnel,
    Saliency,
)

warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOL = 1e-5
IG_METHODS = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")
smoothgrad_module = importlib.import_module("vizcore.explain.smoothgrad")
ig_module = importlib.import_module("vizcore.explain.integrated_gradients")


# --- random small CNNs ----------------------------------------------------------------------------

@st.composite
def cnns(draw):
    """A random nn.Sequential CNN of named layers, its input (N, C, H, W) and targets."""
    seed = draw(st.integers(0, 2**31 - 1))
    c = draw(st.sampled_from([1, 3]))
    side = draw(st.integers(6, 14))
    n = draw(st.integers(1, 3))
    classes = draw(st.integers(2, 5))
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels, size = c, side
    for i in range(1, draw(st.integers(1, 3)) + 1):
        k = draw(st.sampled_from([1, 3])) if size >= 3 else 1
        pad = draw(st.integers(0, k // 2))
        out = draw(st.integers(2, 6))
        layers[f"conv{i}"] = nn.Conv2d(channels, out, k, padding=pad)
        layers[f"relu{i}"] = nn.ReLU()
        channels, size = out, size - k + 1 + 2 * pad
        if size >= 4 and draw(st.booleans()):
            layers[f"pool{i}"] = nn.MaxPool2d(2)
            size //= 2
    layers["flatten"] = nn.Flatten()
    if draw(st.booleans()):
        layers["fc1"] = nn.Linear(channels * size * size, 8)
        layers["relu_fc"] = nn.ReLU()
        layers["fc"] = nn.Linear(8, classes)
    else:
        layers["fc"] = nn.Linear(channels * size * size, classes)
    with torch.random.fork_rng():  # the weights from the seed, the global generator restored after
        torch.manual_seed(seed)
        model = nn.Sequential(layers).eval()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, side, side, generator=g) * draw(st.sampled_from([0.5, 1.0, 2.0]))
    target = torch.randint(0, classes, (n,), generator=g)
    return model, x, target


def shipped_batch(name: str, n: int = 3, seed: int = 0):
    """A shipped model, a batch of normalised image-like inputs and targets."""
    model, meta = models.load_pretrained(name)
    c, h, w = meta["input_shape"]
    g = torch.Generator().manual_seed(seed)
    pixels = torch.rand(n, c, h, w, generator=g) * 255
    pixels[:, :, h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 255 * (torch.rand(n, c, 1, 1, generator=g) > 0.5)
    mean = torch.tensor(meta["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(meta["std"]).view(1, -1, 1, 1)
    x = (pixels / 255 - mean) / std
    target = torch.randint(0, len(meta["classes"]), (n,), generator=g)
    return model, x, target


def close(a: torch.Tensor, b: torch.Tensor, tol: float = TOL) -> float:
    diff = float((a - b).abs().max())
    assert a.shape == b.shape
    assert diff <= tol, diff
    return diff


def rel_close(a: torch.Tensor, b: torch.Tensor, tol: float = TOL) -> float:
    scale = max(float(b.abs().max()), 1e-12)
    diff = float((a - b).abs().max()) / scale
    assert a.shape == b.shape
    assert diff <= tol, diff
    return diff


def captum_smoothgrad(model, x, target, samples, noise, seed):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        std = noise * float(x.max() - x.min())
        return NoiseTunnel(Saliency(model)).attribute(x, nt_type="smoothgrad", nt_samples=samples, stdevs=std,
                                                      target=target, abs=False)


def cam_layers(model) -> list[str]:
    return [name for name, layer in model.named_children() if isinstance(layer, (nn.Conv2d, nn.ReLU, nn.MaxPool2d))
            and name != "relu_fc"]


def captum_grad_cam(model, x, target, layer):
    cam = LayerGradCam(model, getattr(model, layer)).attribute(x, target, relu_attributions=True)
    return LayerAttribution.interpolate(cam, tuple(x.shape[2:]), "bilinear")[:, 0]


# --- parity with captum on random CNNs ------------------------------------------------------------

@SETTINGS
@given(cnns())
def test_gradient_and_input_x_gradient_equal_captum(case):
    model, x, target = case
    close(explain.gradient(model, x, target), Saliency(model).attribute(x, target=target, abs=False))
    close(explain.input_x_gradient(model, x, target), InputXGradient(model).attribute(x, target=target))


@SETTINGS
@given(cnns(), st.integers(1, 12), st.sampled_from([0.0, 0.1, 0.2]), st.integers(0, 1000))
def test_smoothgrad_equals_captum_noise_tunnel_for_one_image(case, samples, noise, seed):
    model, x, target = case
    x, target = x[:1], target[:1]
    ours = explain.smoothgrad(model, x, target, samples=samples, noise=noise, seed=seed)
    close(ours, captum_smoothgrad(model, x, target, samples, noise, seed))


@SETTINGS
@given(cnns(), st.integers(1, 6), st.integers(1, 40), st.integers(0, 100))
def test_smoothgrad_draws_the_same_noise_in_any_number_of_passes(case, samples, rows, seed):
    """A batch whose images share one range equals captum's one-pass noise tunnel, whatever the
    rows per pass (the noise is drawn pass by pass)."""
    model, x, target = case
    x = (x - x.amin(dim=(1, 2, 3), keepdim=True)) / (x.amax(dim=(1, 2, 3), keepdim=True)
                                                     - x.amin(dim=(1, 2, 3), keepdim=True)) * 3 - 1
    expected = captum_smoothgrad(model, x, target, samples, 0.15, seed)
    old = smoothgrad_module.VALUES_PER_PASS
    try:
        smoothgrad_module.VALUES_PER_PASS = rows * x[0].numel()
        close(explain.smoothgrad(model, x, target, samples=samples, noise=0.15, seed=seed), expected)
    finally:
        smoothgrad_module.VALUES_PER_PASS = old


@SETTINGS
@given(cnns())
def test_smoothgrad_without_noise_is_the_gradient(case):
    model, x, target = case
    assert torch.equal(explain.smoothgrad(model, x, target, samples=1, noise=0.0),
                       explain.gradient(model, x, target))


@SETTINGS
@given(cnns(), st.sampled_from(IG_METHODS), st.integers(2, 24), st.sampled_from(["zeros", "number", "tensor"]),
       st.integers(1, 70))
def test_integrated_gradients_equal_captum_with_delta(case, method, steps, baseline_kind, rows):
    model, x, target = case
    baseline = {"zeros": None, "number": -0.5,
                "tensor": torch.linspace(-1, 1, x[0].numel()).view(1, *x.shape[1:])}[baseline_kind]
    old = ig_module.VALUES_PER_PASS
    try:
        ig_module.VALUES_PER_PASS = rows * x[0].numel()  # any chunking of the path gives captum's numbers
        attr, delta = explain.integrated_gradients(model, x, target, baseline=baseline, steps=steps, method=method)
    finally:
        ig_module.VALUES_PER_PASS = old
    c_base = baseline.expand_as(x) if isinstance(baseline, torch.Tensor) else baseline
    c_attr, c_delta = IntegratedGradients(model).attribute(x, baselines=c_base, target=target, n_steps=steps,
                                                           method=method, return_convergence_delta=True)
    rel_close(attr, c_attr)
    scale = float(c_attr.abs().reshape(len(x), -1).sum(1).max()) + 1.0
    assert float((delta - c_delta).abs().max()) <= TOL * scale


def test_integrated_gradients_completeness_with_many_steps():
    """Gauss–Legendre with enough steps: the attributions sum to f(x) − f(baseline)."""
    model, x, target = shipped_batch("digits", 2)
    attr, delta = explain.integrated_gradients(model, x, target, steps=128)
    with torch.no_grad():
        fx = model(x).gather(1, target[:, None])[:, 0]
        fb = model(torch.zeros_like(x)).gather(1, target[:, None])[:, 0]
    sums = attr.reshape(2, -1).sum(1)
    assert torch.allclose(sums - (fx - fb), delta, atol=1e-4)
    assert float(delta.abs().max()) < 0.05 * float((fx - fb).abs().max())


@pytest.mark.parametrize("method", IG_METHODS)
def test_path_weights_are_captums(method):
    from captum.attr._utils.approximation_methods import approximation_parameters

    sizes, alphas = approximation_parameters(method)
    ours_alphas, ours_weights = explain.path_weights(17, method)
    np.testing.assert_allclose(ours_alphas, alphas(17), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours_weights, sizes(17), rtol=0, atol=1e-12)


@SETTINGS
@given(cnns())
def test_guided_backprop_equals_captum(case):
    model, x, target = case
    close(explain.guided_backprop(model, x, target), GuidedBackprop(model).attribute(x, target=target))


@SETTINGS
@given(cnns(), st.data())
def test_grad_cam_equals_captum_bilinear_relu(case, data):
    model, x, target = case
    layer = data.draw(st.sampled_from(cam_layers(model)))
    close(explain.grad_cam(model, x, target, layer), captum_grad_cam(model, x, target, layer))
    raw = explain.grad_cam(model, x, target, layer, upsample=False)
    plain = LayerGradCam(model, getattr(model, layer)).attribute(x, target, relu_attributions=True)[:, 0]
    close(raw, plain)
    assert tuple(raw.shape[1:]) == explain.map_layers(model, tuple(x.shape[1:]))[layer]


# --- parity on the shipped models -----------------------------------------------------------------

@pytest.mark.parametrize("name", ["shapes", "digits"])
def test_every_method_equals_captum_on_the_shipped_models(name):
    model, x, target = shipped_batch(name, 2)
    close(explain.gradient(model, x, target), Saliency(model).attribute(x, target=target, abs=False))
    close(explain.input_x_gradient(model, x, target), InputXGradient(model).attribute(x, target=target))
    close(explain.guided_backprop(model, x, target), GuidedBackprop(model).attribute(x, target=target))
    for layer in ("conv2", "relu2", "pool2") + (("conv4",) if name == "shapes" else ()):
        close(explain.grad_cam(model, x, target, layer), captum_grad_cam(model, x, target, layer))
    close(explain.smoothgrad(model, x[:1], target[:1], samples=20, noise=0.15, seed=3),
          captum_smoothgrad(model, x[:1], target[:1], 20, 0.15, 3))
    for method in IG_METHODS:
        attr, delta = explain.integrated_gradients(model, x, target, steps=16, method=method)
        c_attr, c_delta = IntegratedGradients(model).attribute(x, target=target, n_steps=16, method=method,
                                                               return_convergence_delta=True)
        rel_close(attr, c_attr)
        assert float((delta - c_delta).abs().max()) <= TOL * (float(c_attr.abs().sum()) + 1)


# --- heatmaps and PNGs ----------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 9), st.integers(1, 9), st.integers(0, 999))
def test_heatmap_reductions_follow_their_definitions(n, c, h, w, seed):
    a = np.random.default_rng(seed).normal(size=(n, c, h, w)).astype(np.float32)
    np.testing.assert_array_equal(explain.heatmap(a), np.abs(a).max(axis=1))
    np.testing.assert_allclose(explain.heatmap(a, "abs-sum"), np.abs(a).sum(axis=1), rtol=1e-6)
    np.testing.assert_allclose(explain.heatmap(a, "sum"), a.sum(axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(explain.heatmap(a, "positive"), np.maximum(a.sum(axis=1), 0), rtol=1e-5, atol=1e-6)
    t = explain.heatmap(torch.from_numpy(a), "sum")
    assert isinstance(t, torch.Tensor) and t.shape == (n, h, w)
    np.testing.assert_array_equal(explain.heatmap(a[:, 0], "abs-max"), np.abs(a[:, 0]))


def test_map_png_has_the_charts_colours_and_square_pixels():
    values = np.array([[0.0, 0.5], [1.0, 0.25]])
    png = saliency_figs.map_png(values, zmin=0, zmax=1, colorscale="Viridis", min_side=64)
    picture = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert picture.shape == (64, 64, 3)
    assert (picture[:32, :32] == [68, 1, 84]).all()  # Viridis' first stop, #440154
    assert (picture[32:, :32] == [253, 231, 37]).all()  # its last, #fde725
    assert (picture[:32, 32:] == picture[0, 32]).all()


@pytest.mark.parametrize("bad", [lambda: explain.heatmap(np.zeros((2, 2))),
                                 lambda: explain.heatmap(np.zeros((1, 1, 2, 2)), "median"),
                                 lambda: saliency_figs.map_png(np.zeros((1, 2, 2)), zmin=0, zmax=1, colorscale="gray")])
def test_heatmap_refuses_bad_input(bad):
    with pytest.raises(explain.ExplainError):
        bad()


# --- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, words", [
    (lambda m, x: explain.gradient(m, x[0], 0), "batch"),
    (lambda m, x: explain.gradient(m, x.long(), 0), "floating"),
    (lambda m, x: explain.gradient(m, x * float("nan"), 0), "NaN"),
    (lambda m, x: explain.gradient(m, x, 8), "outside"),
    (lambda m, x: explain.gradient(m, x, [0, 1, 2]), "target"),
    (lambda m, x: explain.smoothgrad(m, x, 0, samples=0), "sample"),
    (lambda m, x: explain.smoothgrad(m, x, 0, noise=-1), "noise"),
    (lambda m, x: explain.integrated_gradients(m, x, 0, method="simpson"), "method"),
    (lambda m, x: explain.integrated_gradients(m, x, 0, steps=1, method="riemann_left"), "steps"),
    (lambda m, x: explain.integrated_gradients(m, x, 0, baseline=torch.zeros(1, 3, 5, 5)), "shape"),
    (lambda m, x: explain.grad_cam(m, x, 0, "fc"), "feature maps"),
    (lambda m, x: explain.grad_cam(m, x, 0, "conv9"), "no layer"),
])
def test_bad_input_gets_a_readable_message(call, words):
    model, x, _ = shipped_batch("shapes", 2)
    with pytest.raises(explain.ExplainError, match=words):
        call(model, x)


def test_a_model_without_conv_layers_has_no_grad_cam_layer():
    mlp = nn.Sequential(OrderedDict(flatten=nn.Flatten(), fc1=nn.Linear(12, 4), relu=nn.ReLU(), fc=nn.Linear(4, 2)))
    assert explain.map_layers(mlp, (3, 2, 2)) == {}
    assert explain.gradient(mlp, torch.randn(1, 3, 2, 2), 1).shape == (1, 3, 2, 2)


# --- the sanity check -----------------------------------------------------------------------------

def _untouched(model: nn.Module) -> tuple:
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
                + len(m._backward_pre_hooks) for m in model.modules())
    return (features.weights_hash(model), tuple(m.training for m in model.modules()), hooks,
            tuple(p.requires_grad for p in model.parameters()), tuple(p.grad is None for p in model.parameters()))


def test_cascading_randomisation_randomises_top_down_on_a_copy():
    model, x, target = shipped_batch("shapes", 1)
    before = _untouched(model)
    originals = {k: v.clone() for k, v in model.state_dict().items()}
    seen = []  # which layers differ from the trained ones at each call

    def recording(m, inp, t):
        seen.append([name for name, layer in m.named_children()
                     if any(not torch.equal(p, originals[f"{name}.{k}"]) for k, p in layer.named_parameters())])
        return explain.heatmap(explain.gradient(m, inp, t))

    rng_state = torch.random.get_rng_state()
    check = explain.cascading_randomization(model, x, target, {"gradient": recording,
                                                               "Grad-CAM": lambda m, i, t: explain.grad_cam(m, i, t, "conv4")})
    assert torch.equal(torch.random.get_rng_state(), rng_state)  # the global generator untouched
    assert _untouched(model) == before
    assert check.layers == ["fc", "conv4", "conv3", "conv2", "conv1"]
    assert seen == [[]] + [sorted(check.layers[:k], key=lambda n: list(dict(model.named_children())).index(n))
                           for k in range(1, 6)]
    assert check.maps["gradient"].shape == (6, 1, 64, 64)
    assert check.rho["gradient"].shape == (5, 1)
    np.testing.assert_allclose(check.maps["gradient"][0], explain.heatmap(explain.gradient(model, x, target)).numpy())
    for k in range(5):
        m0, mk = check.maps["gradient"][0, 0].ravel(), check.maps["gradient"][k + 1, 0].ravel()
        assert check.rho["gradient"][k, 0] == pytest.approx(stats.spearmanr(m0, mk).statistic, abs=1e-12)
    again = explain.cascading_randomization(model, x, target, {"gradient": recording}, seed=0)
    np.testing.assert_array_equal(again.maps["gradient"], check.maps["gradient"])


def test_reinitialise_uses_only_its_generator():
    layer = nn.Conv2d(3, 4, 3)
    a, b = (nn.Conv2d(3, 4, 3) for _ in range(2))
    sanity = importlib.import_module("vizcore.explain.sanity")
    sanity.reinitialise(a, torch.Generator().manual_seed(1))
    sanity.reinitialise(b, torch.Generator().manual_seed(1))
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    bound = 1 / math.sqrt(27)  # torch's default init: weights and biases within ±1/√fan_in
    assert float(a.weight.abs().max()) <= bound and float(a.bias.abs().max()) <= bound
    assert layer.weight.shape == a.weight.shape


def test_spearman_is_nan_for_a_constant_map():
    assert math.isnan(explain.spearman(np.zeros(9), np.arange(9)))
    assert explain.spearman(np.arange(9), np.arange(9) ** 3) == pytest.approx(1.0)


# --- two students, one model ----------------------------------------------------------------------

def _methods():
    return {
        "gradient": lambda m, x, t: explain.gradient(m, x, t),
        "input_x_gradient": lambda m, x, t: explain.input_x_gradient(m, x, t),
        "smoothgrad": lambda m, x, t: explain.smoothgrad(m, x, t, samples=8),
        "integrated_gradients": lambda m, x, t: explain.integrated_gradients(m, x, t, steps=8),
        "guided_backprop": lambda m, x, t: explain.guided_backprop(m, x, t),
        "grad_cam": lambda m, x, t: explain.grad_cam(m, x, t, "conv4"),
    }


def _same(a, b) -> bool:
    if isinstance(a, tuple):
        return all(_same(p, q) for p, q in zip(a, b))
    return torch.equal(a, b)


def test_two_threads_on_one_model_get_their_serial_results():
    model, x, target = shipped_batch("shapes", 2)
    before = _untouched(model)
    inputs = [(x[:1], target[:1]), (x[1:], target[1:])]
    methods = _methods()
    serial = {name: [f(model, xi, ti) for xi, ti in inputs] for name, f in methods.items()}
    wrong: list[str] = []
    barrier = threading.Barrier(2)

    def work(k: int) -> None:
        barrier.wait()
        for _ in range(4):
            for name, f in methods.items():
                if not _same(f(model, *inputs[k]), serial[name][k]):
                    wrong.append(f"{name} thread {k}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong, wrong
    assert _untouched(model) == before


# --- figures ---------------------------------------------------------------------------------------

def decode_array(value) -> np.ndarray:
    """An array from a figure dict (Plotly 6+ writes numpy arrays as base64 typed arrays)."""
    if isinstance(value, dict) and "bdata" in value:
        import base64

        shape = [int(n) for n in str(value.get("shape", "-1")).split(",")]
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(shape)
    return np.asarray(value)


def _valid(fig: go.Figure) -> dict:
    go.Figure(fig.to_dict())  # full Plotly validation (the builders skip it for speed)
    return fig.to_dict()


@settings(max_examples=15, deadline=None)
@given(st.booleans(), st.integers(0, 99), st.sampled_from([(28, 28, None), (64, 64, 3), (13, 13, 3)]))
def test_overlay_lays_the_map_over_the_picture(signed, seed, shape):
    rng = np.random.default_rng(seed)
    h, w, c = shape
    picture = rng.integers(0, 256, (64, 64, 3) if c else (28, 28)).astype(np.float32)
    heat = rng.normal(size=(h, w)).astype(np.float32)
    spec = _valid(saliency_figs.overlay(picture, heat if signed else np.abs(heat), signed=signed, opacity=0.4,
                                        title="t", colorbar_title="gradient"))
    image, trace = spec["data"]
    assert image["type"] == "image" and trace["type"] == "heatmap"
    rgb = decode_array(image["z"])
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()  # grey under the map
    grey = picture if picture.ndim == 2 else picture @ np.array([0.299, 0.587, 0.114])
    assert np.abs(rgb[..., 0] - grey).max() <= 0.5 + 1e-9
    colour = _valid(saliency_figs.overlay(picture, heat, grey=False))["data"][0]
    assert (decode_array(colour["z"]) == np.repeat(picture[..., None], 3, 2) if picture.ndim == 2
            else decode_array(colour["z"]) == picture.round()).all()
    assert trace["opacity"] == 0.4 and trace["colorbar"]["title"]["text"] == "gradient"
    big = picture.shape[0]
    assert trace["dx"] * w == big and trace["x0"] == (big / w - 1) / 2
    if signed:
        assert trace["zmin"] == -trace["zmax"] == pytest.approx(-np.abs(heat).max())
        assert trace["colorscale"][len(trace["colorscale"]) // 2][0] == 0.5  # transparent white at 0
    else:
        assert trace["zmin"] == 0 and trace["zmax"] == pytest.approx(np.abs(heat).max())


def test_side_by_side_shares_one_colour_range_when_asked():
    picture = np.zeros((8, 8, 3))
    maps = {"a": np.ones((8, 8)), "b": 4 * np.ones((8, 8)), "c": -2 * np.ones((8, 8))}
    shared = _valid(saliency_figs.side_by_side(picture, maps, signed=True, shared=True, cols=2))
    heat = [t for t in shared["data"] if t["type"] == "heatmap"]
    assert {(t["zmin"], t["zmax"]) for t in heat} == {(-4.0, 4.0)}
    assert sum(t["showscale"] for t in heat) == 1
    own = _valid(saliency_figs.side_by_side(picture, maps, signed=True, shared=False))
    assert [t["zmax"] for t in own["data"] if t["type"] == "heatmap"] == [1.0, 4.0, 2.0]
    assert [a["text"] for a in own["layout"]["annotations"]] == ["a", "b", "c"]


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 12), st.integers(1, 7), st.booleans(), st.booleans())
def test_side_by_side_is_a_valid_figure_for_any_grid(n, cols, shared, with_picture):
    maps = {f"m{k}": np.full((4, 4), float(k)) for k in range(n)}
    spec = _valid(saliency_figs.side_by_side(np.zeros((4, 4)) if with_picture else None, maps, shared=shared,
                                             cols=cols, title="t"))
    domains = [v["domain"] for k, v in spec["layout"].items() if k.startswith(("xaxis", "yaxis"))]
    assert len(domains) == 2 * n and all(0 <= a < b <= 1 for a, b in domains)


def test_sanity_chart_has_one_point_per_layer_and_gaps_for_constant_maps():
    spec = _valid(saliency_figs.sanity_chart(["fc", "conv2", "conv1"],
                                             {"gradient": [0.9, 0.6, 0.5], "Grad-CAM": [0.3, math.nan, 0.0]}))
    assert [len(t["y"]) for t in spec["data"]] == [3, 3]
    assert spec["data"][1]["y"][1] is None
    assert spec["layout"]["xaxis"]["ticktext"][-1] == "conv1<br>(all random)"


# --- the colour scale's top (issue 25 part 3) ---------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([90, 95, 98, 99, 100]), st.booleans(), st.integers(1, 40))
def test_the_colour_scale_ends_at_a_percentile_of_the_absolute_values(seed, clip, signed, side):
    """A few extreme pixels no longer set the scale: its top is numpy's percentile of |value|
    (heavy-tailed maps, with NaN and inf left out), at most (100 − clip) % of the pixels lie
    above it, and 100 gives the old scale (the maximum)."""
    rng = np.random.default_rng(seed)
    heat = rng.standard_cauchy((side, side + 3))
    heat.flat[rng.integers(0, heat.size, 2)] = [np.nan, np.inf]
    finite = np.abs(heat[np.isfinite(heat)])
    values = heat if signed else np.abs(heat)
    low, high = saliency_figs.value_range(values, signed=signed, clip=clip)
    top = np.percentile(finite, clip)
    if signed:
        assert (low, high) == (pytest.approx(-top), pytest.approx(top))
    else:
        assert low == 0.0 and high == pytest.approx(top)
    # numpy's percentile sits at position clip % of (n − 1) in the sorted values: the rest lie above
    assert (finite > top).sum() <= np.ceil((100 - clip) / 100 * (finite.size - 1) - 1e-9)
    if clip == 100:
        assert high == pytest.approx(finite.max())
    assert explain.clip_value(values, clip) == pytest.approx(top)


def test_a_clipped_map_says_so_on_its_colour_bar():
    heat = np.abs(np.random.default_rng(1).standard_cauchy((20, 20)))
    clipped = saliency_figs.overlay(None, heat, clip=99, colorbar_title="|value|").data[0]
    full = saliency_figs.overlay(None, heat, clip=100, colorbar_title="|value|").data[0]
    assert clipped.colorbar.title.text == "|value| (top 1 % clipped)"
    assert full.colorbar.title.text == "|value|" and full.zmax == pytest.approx(heat.max())
    assert clipped.zmax == pytest.approx(np.percentile(heat, 99)) and clipped.zmax < heat.max()
    shared = saliency_figs.side_by_side(None, {"a": heat, "b": heat / 2}, shared=True, clip=95)
    assert all(t.zmax == pytest.approx(np.percentile(heat, 95)) for t in shared.data)
    with pytest.raises(explain.ExplainError):
        explain.clip_value(heat, 0)
