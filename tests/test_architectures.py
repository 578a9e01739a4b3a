"""vizcore.architectures and vizcore.deeper against torch's own modules, and the Architectures page.

The oracle for parameters is ``sum(p.numel())`` of the real torch modules; for multiply-adds a
forward hook on every ``nn.Conv2d`` / ``nn.Linear`` of the module (only here, in the test, on a
private module) that counts ``output elements × input channels per group × kh × kw`` and
``in × out`` — independent of the layer arithmetic in vizcore.shapes.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from streamlit.testing.v1 import AppTest
from torch import nn

from vizcore import architectures as arch, data, deeper, efficientnet, images, models, shapes

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "architectures.py")
FAST = settings(max_examples=15, deadline=None)


def torch_counts(model: nn.Module, input_shape, device="cpu"):
    """(parameters, multiply-adds per sample, output shape) measured on the torch module."""
    macs = [0]

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size
            macs[0] += output[0].numel() * (module.in_channels // module.groups) * k[0] * k[1]
        else:
            macs[0] += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            out = model.eval()(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
    return sum(p.numel() for p in model.parameters()), macs[0], tuple(out.shape[1:])


# --------------------------------------------------------------------------- the famous networks

@pytest.mark.parametrize("name", arch.NAMES)
def test_famous_network_counts_equal_torch(name):
    s = arch.summary(name)
    model = arch.to_torch(arch.layers_of(name), s["input_shape"], device="meta")
    assert torch_counts(model, s["input_shape"], "meta") == (s["params"], s["mult_adds"], s["output_shape"])
    assert s["output_shape"] == (1000,) or name == "lenet5"
    assert s["trick"] and s["reported_error"] and s["source"]


def test_depths_are_the_papers_and_the_app_network_is_the_real_one():
    depths = {name: arch.summary(name)["depth"] for name in arch.NAMES}
    assert depths == {"lenet5": 5, "alexnet": 8, "vgg16": 16, "googlenet": 22, "resnet18": 18, "resnet50": 50,
                      "resnet152": 152, "imagenet": 50}
    # plain stacks: depth = every conv and dense module
    for name in ("lenet5", "alexnet", "vgg16"):
        model = arch.to_torch(arch.layers_of(name), arch.FAMOUS[name].input_shape, device="meta")
        assert depths[name] == sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())
    # the app's own EfficientNet-Lite0 module (vizcore.efficientnet) has exactly these counts
    with torch.device("meta"):
        real = efficientnet.efficientnet_lite0()
    s = arch.summary("imagenet")
    assert torch_counts(real, (3, 224, 224), "meta") == (s["params"], s["mult_adds"], (1000,))


@FAST
@given(st.integers(1, 24), st.integers(1, 12), st.integers(1, 2), st.booleans(), st.integers(5, 12))
def test_resnet_blocks_equal_torch(in_channels, width, stride, bottleneck, size):
    block = arch.resnet_block(in_channels, width, stride, bottleneck, "b")
    s = shapes.summarize([block], (in_channels, size, size))
    model = arch.to_torch([block], (in_channels, size, size))
    assert torch_counts(model, (in_channels, size, size)) == (s.total_params, s.total_macs, s.output_shape)
    assert arch.weight_depth([block]) == (3 if bottleneck else 2)


# --------------------------------------------------------------------------- small filters

@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@FAST
@given(st.integers(3, 11), st.integers(1, 6), st.integers(1, 6), st.integers(1, 16))
def test_small_filters_equal_torch(k, cin, cout, size):
    one, stack = arch.small_filters(k, cin, cout, size)
    for fs in (one, stack):
        convs = []
        channels = cin
        for kk in fs.kernels:
            convs += [nn.Conv2d(channels, cout, kk, padding="same"), nn.ReLU()]
            channels = cout
        model = nn.Sequential(*convs)
        params, macs, out = torch_counts(model, (cin, size, size))
        assert (fs.params, fs.mult_adds) == (params, macs) and out == (cout, size, size)
        assert fs.weights == sum(m.weight.numel() for m in model if isinstance(m, nn.Conv2d))
        assert fs.nonlinearities == sum(isinstance(m, nn.ReLU) for m in model)
        # receptive field: the input pixels that move one output pixel (a gradient oracle)
        x = torch.zeros(1, cin, 31, 31, requires_grad=True)
        lin = nn.Sequential(*[m for m in model if isinstance(m, nn.Conv2d)])
        with torch.no_grad():
            for m in lin:
                m.weight.fill_(1.0)
        lin(x)[0, 0, 15, 15].backward()
        rows = torch.nonzero(x.grad[0].abs().sum(0).sum(1))
        assert fs.receptive_field == int(rows.max() - rows.min() + 1)
    assert stack.receptive_field >= k and stack.receptive_field - k <= 1
    assert stack.nonlinearities == (stack.receptive_field - 1) // 2


def test_the_decks_seven_by_seven():
    one, stack = arch.small_filters(7)
    assert (one.weights, stack.weights, one.receptive_field, stack.receptive_field) == (49, 27, 7, 7)
    assert (one.nonlinearities, stack.nonlinearities) == (1, 3)


# --------------------------------------------------------------------------- 1×1 convolution

@FAST
@given(st.integers(1, 12), st.integers(1, 9), st.integers(1, 9), st.integers(1, 10), st.integers(0, 99), st.data())
def test_pointwise_equals_torch_conv(c, h, w, d, seed, draw):
    volume = np.random.default_rng(seed).normal(size=(c, h, w)).astype(np.float32) * 5
    weights, bias = arch.pointwise_filters(c, d, seed)
    expected = F.conv2d(torch.from_numpy(volume)[None], torch.from_numpy(weights)[:, :, None, None],
                        torch.from_numpy(bias))[0].numpy()
    np.testing.assert_allclose(arch.pointwise(volume, weights, bias), expected, rtol=1e-5, atol=1e-5)
    row, col, out = draw.draw(st.integers(0, h - 1)), draw.draw(st.integers(0, w - 1)), draw.draw(st.integers(0, d - 1))
    one = arch.fibre_sum(volume, weights, bias, row, col, out)
    assert one["value"] == pytest.approx(float(expected[out, row, col]), rel=1e-5, abs=1e-5)
    np.testing.assert_array_equal(one["fibre"], volume[:, row, col])
    counts = arch.pointwise_counts(c, d, h, w)
    assert (counts["params"], counts["mult_adds"], counts["output_shape"]) == torch_counts(nn.Conv2d(c, d, 1), (c, h, w))


def test_stage_output_is_the_networks_own():
    torch.manual_seed(0)
    model = efficientnet.efficientnet_lite0().eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model[:4](x)[0].numpy()  # stem, block1, block2, block3
    np.testing.assert_allclose(arch.stage_output(model, x, "block3"), expected, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- inception and DepthConcat

@FAST
@given(st.integers(1, 12), st.integers(1, 8), st.lists(st.integers(1, 6), min_size=6, max_size=6), st.booleans(),
       st.lists(st.booleans(), min_size=4, max_size=4).filter(any))
def test_inception_module_equals_torch(size, channels, config, reductions, use):
    report = arch.inception_report(size, channels, config, reductions=reductions, use=tuple(use))
    torch.manual_seed(0)
    model = arch.to_torch([report["module"]], (channels, size, size))
    assert torch_counts(model, (channels, size, size)) == (report["params"], report["mult_adds"], report["output_shape"])
    # the concatenation: each branch's own output, in order, along the depth
    x = torch.randn(1, channels, size, size)
    with torch.no_grad():
        out = model(x)
        start = 0
        for row, branch in zip(report["branches"], model[0].branches):
            part = branch(x)
            assert tuple(part.shape[1:]) == row["output shape"]
            assert torch.equal(out[:, start:start + part.shape[1]], part)
            start += part.shape[1]
    assert sum(r["params"] for r in report["branches"]) == report["params"]
    assert report["output_shape"][0] == sum(r["output shape"][0] for r in report["branches"])


def test_googlenet_3a_preset():
    r = arch.inception_report(28, 192, arch.GOOGLENET_INCEPTIONS["3a"])
    assert r["output_shape"] == (256, 28, 28)
    assert r["with_reductions"]["mult_adds"] < r["without_reductions"]["mult_adds"]
    assert r["without_reductions"]["output_shape"] == (64 + 128 + 32 + 192, 28, 28)


@FAST
@given(st.lists(st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 3)), min_size=1, max_size=4),
       st.integers(0, 99))
def test_depth_concat_pads_with_zeros_around(shapes_hwc, seed):
    rng = np.random.default_rng(seed)
    parts = [rng.normal(size=s).astype(np.float32) for s in shapes_hwc]
    out = arch.depth_concat(*parts)
    h, w = max(s[0] for s in shapes_hwc), max(s[1] for s in shapes_hwc)
    assert out.shape == arch.depth_concat_shape(*shapes_hwc) == (h, w, sum(s[2] for s in shapes_hwc))
    depth = 0
    for p in parts:
        top, left = (h - p.shape[0]) // 2, (w - p.shape[1]) // 2
        block = out[:, :, depth:depth + p.shape[2]]
        np.testing.assert_array_equal(block[top:top + p.shape[0], left:left + p.shape[1]], p)
        assert np.abs(block).sum() == pytest.approx(np.abs(p).sum(), rel=1e-5)  # zeros elsewhere
        depth += p.shape[2]
    # and the torch module pads the same way
    module = arch.DepthConcat([nn.Identity()])
    t = torch.from_numpy(parts[0].transpose(2, 0, 1))[None]
    assert torch.equal(module(t), t)


def test_the_decks_depth_concat_example():
    assert arch.depth_concat(np.ones((14, 14, 2)), np.ones((16, 16, 3))).shape == (16, 16, 5)


# --------------------------------------------------------------------------- the MNIST exercise

def test_keras_summaries_equal_torch_and_the_deck():
    fcn = arch.keras_summary(*arch.MNIST_EXERCISE["fully connected network"])
    assert [r["Param #"] for r in fcn["rows"] if r["Param #"]] == [392_500, 2_000, 25_050, 200, 510]
    assert (fcn["total"], fcn["trainable"], fcn["non_trainable"]) == (420_260, 419_160, 1_100)
    cnn = arch.keras_summary(*arch.MNIST_EXERCISE["CNN with one convolution"])
    assert [r["Param #"] for r in cnn["rows"] if r["Param #"]] == [320, 250_890]
    assert cnn["total"] == 251_210 and cnn["rows"][2]["Output Shape"] == "(None, 25088)"
    for layers, shape in arch.MNIST_EXERCISE.values():
        s = arch.keras_summary(layers, shape)
        model = arch.to_torch(layers, shape)
        stats = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))
        assert s["trainable"] == sum(p.numel() for p in model.parameters()) and s["non_trainable"] == stats


# --------------------------------------------------------------------------- going deeper

@pytest.fixture(scope="module")
def digits():
    return data.load_dataset("digits", "train").subset(200), data.load_dataset("digits", "val").subset(60)


TINY = dict(depth=8, width=4, steps=6, batch_size=16, eval_every=3, grad_every=3)


def test_training_is_seeded_and_its_gradient_norms_are_torchs(digits):
    train_split, val_split = digits
    for kind in deeper.KINDS:
        cfg = deeper.DeepConfig(kind=kind, **TINY)
        a, b = deeper.train_deep(cfg, *digits), deeper.train_deep(cfg, *digits)
        assert a.loss == b.loss and a.val_accuracy == b.val_accuracy and a.grad_norms == b.grad_norms
        assert len(a.grad_norms[0]) == cfg.depth == len(a.layer_names)
        assert a.grad_step == [0, 3] and a.eval_step == [3, 6]
        # step 0's norms: torch.autograd.grad of the first batch's loss on the fresh network
        model = deeper.build(cfg)
        model.train()
        x, y = deeper.first_batch(train_split, cfg)
        weights = [m.weight for _, m in model.weight_layers()]
        grads = torch.autograd.grad(F.cross_entropy(model(x), y), weights)
        np.testing.assert_allclose(a.grad_norms[0], [float(g.norm()) for g in grads], rtol=1e-5)
        assert deeper.initial_gradient_norms(cfg, train_split)[1] == a.grad_norms[0]
    assert deeper.DeepConfig(kind="plain", **TINY) != deeper.DeepConfig(kind="residual", **TINY)


def test_the_plain_deep_stack_starves_its_first_layers(digits):
    """The slide: without batch norm, the gradient reaching the first layer of a 56-layer plain
    stack is tiny next to the residual network's."""
    norms = {kind: deeper.initial_gradient_norms(deeper.DeepConfig(kind=kind, depth=56, batch_norm=False), digits[0])[1]
             for kind in ("plain", "residual")}
    assert norms["residual"][0] > 100 * norms["plain"][0]


def test_two_threads_train_as_one(digits):
    cfgs = [deeper.DeepConfig(kind="residual", seed=s, **TINY) for s in (1, 2)]
    serial = [deeper.train_deep(c, *digits).loss for c in cfgs]
    found = [None, None]

    def student(i):
        found[i] = deeper.train_deep(cfgs[i], *digits).loss

    threads = [threading.Thread(target=student, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert found == serial


def test_bad_settings_and_stop(digits):
    for bad in (dict(depth=9), dict(kind="dense"), dict(lr=float("nan")), dict(steps=0), dict(width=999)):
        with pytest.raises(ValueError):
            deeper.train_deep(deeper.DeepConfig(**{**TINY, **bad}), *digits)
    h = deeper.train_deep(deeper.DeepConfig(**TINY), *digits, should_stop=lambda: True)
    assert h.stopped and len(h.step) == 1 and h.eval_step == [1]


# --------------------------------------------------------------------------- the page

def open_page(query: dict | None = None, **state) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def written(at: AppTest) -> dict:
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def test_page_shows_the_famous_networks_computed():
    at = open_page()
    table = at.table[0].value
    for name, (_, row) in zip(arch.NAMES, table.iterrows()):
        s = arch.summary(name)
        assert (row["depth"], row["parameters"], row["multiply-adds"]) == (s["depth"], f"{s['params']:,}",
                                                                          f"{s['mult_adds']:,}")
    assert written(at) == {}


def test_page_by_widget_small_filters_and_inception():
    at = open_page()
    at.session_state["arch_tab"] = "Small filters"
    at.run()
    at.number_input(key="arch_k").set_value(5)
    at.number_input(key="arch_cin").set_value(3)
    at.number_input(key="arch_cout").set_value(4)
    at.run()
    one, stack = arch.small_filters(5, 3, 4, 28)
    shown = at.table[0].value
    assert list(shown["weights"]) == [f"{one.weights:,}", f"{stack.weights:,}"] == ["300", "252"]
    assert written(at) == {"tab": "Small filters", "k": "5", "cin": "3", "cout": "4"}
    at.session_state["arch_tab"] = "Inception module"
    at.run()
    at.toggle(key="arch_reduce").set_value(False).run()
    report = arch.inception_report(28, 192, arch.GOOGLENET_INCEPTIONS["3a"], reductions=False)
    assert at.metric[1].value == f"{report['params']:,}" and at.metric[0].value == "416 × 28 × 28"
    assert written(at)["reduce"] == "0" and written(at)["k"] == "5"  # the closed tab's settings stay


def test_page_by_link_pointwise_and_mnist():
    query = {"tab": "1×1 convolution", "depth": "4", "row": "3", "col": "5", "out": "2", "seed": "7"}
    at = open_page(query)
    assert written(at) == query
    value = at.metric[0]
    assert value.label == "output[2, 3, 5]"
    # the value shown is torch's 1×1 convolution of the real feature volume at that pixel
    name = "imagenet" if "imagenet" in models.pretrained_models() else "digits"
    model, meta = models.load_pretrained(name)
    stage = at.session_state["arch_stage"]
    x = models.preprocess(images.sample_image("chelsea"), meta)
    volume = torch.from_numpy(arch.stage_output(model, x, stage))
    w, b = arch.pointwise_filters(volume.shape[0], 4, 7)
    expected = F.conv2d(volume[None], torch.from_numpy(w)[:, :, None, None], torch.from_numpy(b))[0, 2, 3, 5]
    assert float(value.value) == pytest.approx(float(expected), rel=1e-5)
    at = open_page({"tab": "MNIST exercise"})
    assert "392,500" in list(at.dataframe[0].value["Param #"]) and "250,890" in list(at.dataframe[1].value["Param #"])
    at = open_page({"k": "99", "tab": "Nope"})
    assert "not understood" in " ".join(w.value for w in at.warning)


def test_page_trains_plain_against_residual():
    at = open_page({"tab": "Going deeper", "steps": "10", "layers": "8", "width": "4"})
    assert len(at.get("plotly_chart")) == 1  # the gradients at initialisation, before any training
    at.button(key="arch_deep_train").click().run()
    assert not at.exception
    table = at.table[0].value
    assert list(table.index) == ["plain 8", "residual 8"] and list(table["steps"]) == [10, 10]
    expected = deeper.train_deep(deeper.DeepConfig(kind="residual", depth=8, width=4, steps=10),
                                 data.load_dataset("digits", "train"), data.load_dataset("digits", "val"))
    assert table["validation accuracy"].iloc[1] == f"{expected.val_accuracy[-1]:.1%}"


def test_page_at_the_links_extremes_shows_no_error():
    open_page({"tab": "Inception module", "isize": "512", "ichannels": "4096", "n1": "1024", "r3": "1024",
               "n3": "1024", "r5": "1024", "n5": "1024", "pp": "1024", "reduce": "0"})
    open_page({"tab": "Small filters", "k": "15", "cin": "2048", "cout": "2048", "size": "1024"})
    last = "head" if "imagenet" in models.pretrained_models() else "pool2"
    at = open_page({"tab": "1×1 convolution", "stage": last, "depth": "1024", "row": "1023", "col": "1023",
                    "out": "1023"})
    assert at.metric[0].label.startswith("output[1023, ")  # the pixel is clamped to the volume
    assert at.metric[0].label != "output[1023, 1023, 1023]"
    at = AppTest.from_file(PAGE, default_timeout=120)
    for k in ("use_1x1", "use_3x3", "use_5x5", "use_pool"):
        at.query_params[k] = "0"
    at.query_params["tab"] = "Inception module"
    at.run()
    assert not at.exception and "switch at least one branch on" in at.error[0].value


def test_a_stopped_run_shows_what_was_trained(digits):
    cfgs = [deeper.DeepConfig(kind=k, depth=8, width=4, steps=10) for k in ("plain", "residual")]
    partial = deeper.train_deep(cfgs[0], *digits, should_stop=lambda: True)
    query = {"tab": "Going deeper", "steps": "10", "layers": "8", "width": "4"}
    at = AppTest.from_file(PAGE, default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.session_state["arch_deep_result"] = {"status": "running", "configs": cfgs, "runs": {"plain 8": partial}}
    at.run()
    assert not at.exception and "Stopped" in at.warning[0].value
    assert list(at.table[0].value.index) == ["plain 8"] and len(at.get("plotly_chart")) == 3


def test_figures_draw_the_computed_numbers(digits):
    from vizcore.figures import architectures as figs

    rows = [arch.summary(n) for n in arch.NAMES]
    fig = figs.famous_figure(rows)
    assert list(fig.data[0].x) == [s["params"] for s in rows] and list(fig.data[1].x) == [s["mult_adds"] for s in rows]
    h = deeper.train_deep(deeper.DeepConfig(kind="plain", **TINY), *digits)
    fig = figs.gradient_norms_figure({"plain 8": h})
    np.testing.assert_allclose(fig.data[0].y, h.grad_norms[0]) and np.testing.assert_allclose(fig.data[1].y, h.grad_norms[-1])
    report = arch.inception_report(28, 192, arch.GOOGLENET_INCEPTIONS["3a"])
    assert [t.x[0] for t in figs.inception_figure(report).data] == [64, 128, 32, 32]
