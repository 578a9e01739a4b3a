"""vizcore.shapes against the real thing: torch layers, torch's FLOP counter, gradients."""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from vizcore import shapes as S
from vizcore.shapes import ShapeError
from vizcore.figures import shapes as shape_figs

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

sizes = st.integers(1, 40)
kernels = st.integers(1, 7)
strides = st.integers(1, 5)
paddings = st.integers(0, 4)
dilations = st.integers(1, 3)


def torch_size(fn, n):
    """Rows of fn's output on a 1 x 1 x n x 1 input, or None if torch refuses."""
    try:
        return fn(torch.zeros(1, 1, n, 1)).shape[2]
    except RuntimeError:
        return None


def ours(*args, **kwargs):
    try:
        return S.conv_output_size(*args, **kwargs)
    except ShapeError:
        return None


# --- one layer -------------------------------------------------------------------------------

@SETTINGS
@given(sizes, kernels, strides, paddings, dilations)
def test_conv_output_size_matches_conv2d(n, k, s, p, d):
    weight = torch.ones(1, 1, k, 1)
    expected = torch_size(lambda x: F.conv2d(x, weight, stride=(s, 1), padding=(p, 0), dilation=(d, 1)), n)
    assert ours(n, k, s, p, d) == expected


@SETTINGS
@given(sizes, kernels, strides, paddings, dilations, st.integers(0, 4))
def test_transposed_output_size_matches_conv_transpose2d(n, k, s, p, d, op):
    weight = torch.ones(1, 1, k, 1)
    expected = torch_size(lambda x: F.conv_transpose2d(
        x, weight, stride=(s, 1), padding=(p, 0), output_padding=(op, 0), dilation=(d, 1)), n)
    assert ours(n, k, s, p, d, transposed=True, output_padding=op) == expected


@SETTINGS
@given(sizes, kernels, strides, st.integers(0, 3), st.booleans())
def test_pooling_output_size_matches_max_pool2d(n, k, s, p, ceil_mode):
    assume(2 * p <= k)  # torch's pooling rule; the layer descriptions enforce it
    expected = torch_size(lambda x: F.max_pool2d(x, (k, 1), (s, 1), (p, 0), ceil_mode=ceil_mode), n)
    assert ours(n, k, s, p, ceil_mode=ceil_mode) == expected
    assert torch_size(lambda x: F.avg_pool2d(x, (k, 1), (s, 1), (p, 0), ceil_mode=ceil_mode), n) == expected


@SETTINGS
@given(sizes, kernels, strides, dilations)
def test_keras_same_is_ceil_n_over_s_with_the_extra_zero_at_the_end(n, k, s, d):
    before, after = S.same_padding(n, k, s, d)
    assert after - before in (0, 1)
    x = torch.rand(1, 1, n, 1, dtype=torch.float64)
    w = torch.rand(1, 1, k, 1, dtype=torch.float64)
    padded = F.conv2d(F.pad(x, (0, 0, before, after)), w, stride=(s, 1), dilation=(d, 1))
    assert padded.shape[2] == math.ceil(n / s) == S.conv_output_size(n, k, s, "same", d)
    if s == 1:  # PyTorch's padding="same" is the same numbers, not only the same shape
        torch.testing.assert_close(F.conv2d(x, w, padding="same", dilation=(d, 1)), padded)


def test_valid_is_no_padding():
    assert S.conv_output_size(28, 5, padding="valid") == 24 == S.conv_output_size(28, 5)


@pytest.mark.parametrize("args, kwargs, words", [
    ((10, 3), {"stride": 0}, "stride must be at least 1"),
    ((-4, 3), {}, "input size must be at least 1"),
    ((10**7, 3), {}, "absurdly large"),
    ((10, 2.5), {}, "whole number"),
    ((10, "3"), {}, "whole number"),
    ((10, 3), {"stride": True}, "whole number"),
    ((10, float("nan")), {}, "whole number"),
    ((4, 7), {}, "bigger than the padded input"),
    ((4, 3), {"dilation": 2}, "dilated kernel"),
    ((4, 3), {"padding": "full"}, "valid"),
    ((1, 1), {"padding": 2, "transposed": True}, "use less padding"),
    ((4, 3), {"stride": 2, "transposed": True, "output_padding": 2}, "smaller than the stride"),
    ((4, 3), {"transposed": True, "padding": "same"}, "transposed"),
    ((4, 3), {"output_padding": 1}, "only exists for transposed"),
])
def test_impossible_layers_raise_clear_shape_errors(args, kwargs, words):
    with pytest.raises(ShapeError, match=words):
        S.conv_output_size(*args, **kwargs)
    assert issubclass(ShapeError, ValueError)


def test_integral_floats_are_accepted():
    assert S.conv_output_size(32.0, 3.0, padding=1) == 32


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 8), st.integers(1, 8),
       st.integers(1, 5), st.integers(1, 5), st.booleans())
def test_conv_params_match_torch(g, ci, co, kh, kw, _, bias):
    layer = nn.Conv2d(g * ci, g * co, (kh, kw), groups=g, bias=bias, device="meta")
    assert S.conv_params(g * ci, g * co, (kh, kw), bias, g) == sum(p.numel() for p in layer.parameters())


def test_conv_params_refuses_groups_that_do_not_divide():
    with pytest.raises(ShapeError, match="groups"):
        S.conv_params(6, 4, 3, groups=4)


@SETTINGS
@given(st.integers(1, 3000), st.integers(1, 500), st.booleans())
def test_linear_and_batchnorm_params_match_torch(i, o, bias):
    assert S.linear_params(i, o, bias) == sum(p.numel() for p in nn.Linear(i, o, bias, device="meta").parameters())
    bn = nn.BatchNorm2d(o, device="meta")
    trainable, running = S.batchnorm_params(o)
    assert trainable == sum(p.numel() for p in bn.parameters())
    assert running == bn.running_mean.numel() + bn.running_var.numel()


def test_lecture_questions():
    # 000: a batch of 5 RGB 30x30 images, four 5x5 kernels -> (5, 4, 26, 26) in NCHW.
    x = torch.zeros(5, 3, 30, 30)
    conv = nn.Conv2d(3, 4, 5)
    side = S.conv_output_size(30, 5)
    assert conv(x).shape == (5, 4, side, side)
    # 000: ten 3x3 filters on RGB 100x100: the image size does not matter.
    assert S.conv_params(3, 10, 3) == sum(p.numel() for p in nn.Conv2d(3, 10, 3).parameters())
    # 003: 8 -> 16 channels, 7x7, 32x32 stays 32x32: stride 1, padding 3.
    assert S.PaddingStride(3, 1, True) in S.padding_stride_options(32, 7, 32)
    assert S.conv_params(8, 16, 7) == sum(p.numel() for p in nn.Conv2d(8, 16, 7).parameters())


# --- inverse questions and words -----------------------------------------------------------------

@SETTINGS
@given(sizes, kernels, st.integers(1, 40), dilations)
def test_padding_stride_options_are_right_and_complete(n, k, wanted, d):
    options = S.padding_stride_options(n, k, wanted, d)
    span = d * (k - 1) + 1
    brute = {(p, s) for p in range(span) for s in range(1, n + 1) if ours(n, k, s, p, d) == wanted}
    assert {(o.padding, o.stride) for o in options} == brute
    weight = torch.ones(1, 1, k, 1)
    for o in options[:5]:
        out = F.conv2d(torch.zeros(1, 1, n, 1), weight, stride=(o.stride, 1), padding=(o.padding, 0), dilation=(d, 1))
        assert out.shape[2] == wanted
        assert o.exact == ((n + 2 * o.padding - span) % o.stride == 0)


@SETTINGS
@given(sizes, kernels, strides, st.one_of(paddings, st.sampled_from(["same", "valid"])), dilations,
       st.booleans())
def test_explained_formula_ends_in_the_true_size(n, k, s, p, d, transposed):
    assume(not (transposed and p == "same"))
    size = ours(n, k, s, p, d, transposed=transposed)
    assume(size is not None)
    text = S.explain_output_size(n, k, s, p, d, transposed=transposed)
    assert text.split("=")[-1].split()[0] == str(size)


def _module_from_call(text):
    lines = [line.split("  #")[0] for line in text.splitlines() if not line.startswith("#")]
    return nn.Sequential(*(eval(line, {"nn": nn}) for line in lines))


@SETTINGS
@given(st.integers(3, 30), st.integers(3, 30), kernels, strides,
       st.one_of(paddings, st.sampled_from(["same", "valid"])), dilations, st.booleans())
def test_pytorch_call_builds_the_layer_the_page_describes(h, w, k, s, p, d, transposed):
    assume(not (transposed and p == "same"))
    expected = (ours(h, k, s, p, d, transposed=transposed), ours(w, k, s, p, d, transposed=transposed))
    assume(None not in expected)
    module = _module_from_call(S.pytorch_call(2, 3, k, s, p, d, transposed, input_size=(h, w)))
    assert module(torch.zeros(1, 2, h, w)).shape == (1, 3, *expected)


def test_keras_calls():
    assert S.keras_call(16, 3, 2, "same") == "layers.Conv2D(16, kernel_size=3, strides=2, padding='same')"
    assert S.keras_call(16, 5, padding=2).splitlines()[0] == "layers.ZeroPadding2D(padding=2)"


# --- receptive fields against gradients ---------------------------------------------------------

window_layers = st.one_of(
    st.builds(S.Conv2d, st.just(1), st.integers(1, 5), st.integers(1, 3), st.integers(0, 2), st.integers(1, 3)),
    st.builds(S.AvgPool2d, st.integers(1, 3), st.integers(1, 3)),
    st.builds(S.ReLU),
)


def ones_network(layers, input_shape):
    net = S.to_torch(layers, input_shape).double()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.fill_(1.0)
                if module.bias is not None:
                    module.bias.zero_()
    return net


@SETTINGS
@given(st.lists(window_layers, min_size=1, max_size=5))
def test_receptive_field_is_what_the_gradient_touches(layers):
    side = 60
    try:
        summary = S.summarize(layers, (1, side, side))
    except ShapeError:
        assume(False)
    last = summary.rows[-1]
    size, jump, start = last.receptive_field[0], last.jump[0], last.start[0]
    unit = last.output_shape[1] // 2
    centre = start + unit * jump
    low, high = centre - (size - 1) / 2, centre + (size - 1) / 2
    assume(low >= 0 and high <= side - 1)  # the field lies inside the image, not in the padding
    x = torch.ones(1, 1, side, side, dtype=torch.float64, requires_grad=True)
    ones_network(layers, (1, side, side))(x)[0, 0, unit, unit].backward()
    touched = x.grad[0, 0].abs().sum(dim=1).nonzero().flatten()
    assert (touched.min().item(), touched.max().item()) == (low, high)
    # the 1D helper agrees with the stack
    windows = [row.layer for row in summary.rows if isinstance(row.layer, S._Windowed)]
    stack = S.receptive_field_stack(
        [w._pairs()[0][0] for w in windows], [w._pairs()[1][0] for w in windows],
        [w._pairs()[2][0] for w in windows], [w.paddings((1, side, side))[0][0] for w in windows])
    assert (not stack and size == 1) or stack[-1][:2] == (size, jump)


def test_receptive_field_examples():
    assert S.receptive_field([3, 3, 3]) == 7
    assert S.receptive_field([2, 2, 2, 2], dilations=[1, 2, 4, 8]) == 16  # WaveNet-style causal stack
    assert S.receptive_field([3, 2], strides=[1, 2]) == 4  # 000: conv 3 then max pool 2


# --- the picture of kernel positions -------------------------------------------------------------

@SETTINGS
@given(st.integers(1, 20), kernels, strides, paddings, dilations, st.booleans())
def test_unseen_inputs_are_the_inputs_without_gradient(n, k, s, p, d, transposed):
    op = 0
    assume(ours(n, k, s, p, d, transposed=transposed) is not None)
    try:
        layout = S.axis_layout(n, k, s, p, d, transposed, op)
    except ShapeError:
        assume(False)
    x = torch.ones(1, 1, n, 1, dtype=torch.float64, requires_grad=True)
    weight = torch.ones(1, 1, k, 1, dtype=torch.float64)
    op_fn = F.conv_transpose2d if transposed else F.conv2d
    op_fn(x, weight, stride=(s, 1), padding=(p, 0), dilation=(d, 1)).sum().backward()
    assert layout.unseen_inputs() == (x.grad[0, 0, :, 0] == 0).nonzero().flatten().tolist()
    assert len(layout.starts) == ours(n, k, s, p, d, transposed=transposed)
    assert set(layout.dropped_by_floor()) <= set(layout.unseen_inputs())


def test_floor_drops_the_last_rows_in_the_picture():
    layout = S.axis_layout(8, 3, 3)  # windows at 0..2 and 3..5; rows 6 and 7 never seen
    assert layout.dropped_by_floor() == [6, 7]
    fig = shape_figs.kernel_positions_figure(8, 8, 3, 3)
    assert "2x2 output" in fig.layout.title.text
    assert "never seen by the kernel" in [t.name for t in fig.data]
    with pytest.raises(ShapeError, match="up to"):
        shape_figs.kernel_positions_figure(100, 10, 3)


# --- stacks against torch modules ----------------------------------------------------------------

stack_layers = st.one_of(
    st.builds(S.Conv2d, st.integers(1, 6), st.integers(1, 5), st.integers(1, 3),
              st.one_of(st.integers(0, 2), st.sampled_from(["same", "valid"])), st.integers(1, 2),
              st.booleans()),
    st.builds(S.MaxPool2d, st.integers(1, 3), st.one_of(st.none(), st.integers(1, 3)),
              st.one_of(st.just(0), st.just(1), st.just("same")), st.booleans()),
    st.builds(S.AvgPool2d, st.integers(1, 3), st.one_of(st.none(), st.integers(1, 3)), st.integers(0, 1),
              st.booleans()),
    st.builds(S.BatchNorm2d), st.builds(S.ReLU), st.builds(S.Dropout), st.builds(S.GlobalAvgPool),
    st.builds(S.Flatten), st.builds(S.Linear, st.integers(1, 20)), st.builds(S.BatchNorm1d),
)


def check_against_torch(layers, input_shape, device="cpu"):
    """Every row's output shape, parameters and running statistics equal the torch module's."""
    summary = S.summarize(layers, input_shape)
    net = S.to_torch(layers, input_shape, device=device).eval()
    assert [name for name, _ in net.named_children()] == [row.name for row in summary.rows]
    x = torch.rand(2, *input_shape, device=device)
    for (name, module), row in zip(net.named_children(), summary.rows):
        x = module(x)
        assert tuple(x.shape) == (2, *row.output_shape), name
        assert sum(p.numel() for p in module.parameters()) == row.params, name
        running = sum(b.numel() for n, b in module.named_buffers() if n.endswith(("running_mean", "running_var")))
        assert running == row.non_trainable_params, name
    assert summary.total_params == sum(p.numel() for p in net.parameters())
    return summary, net


@SETTINGS
@given(st.lists(stack_layers, min_size=1, max_size=7), st.integers(1, 4), st.integers(1, 24), st.integers(1, 24))
def test_random_stacks_match_torch(layers, c, h, w):
    try:
        summary = S.summarize(layers, (c, h, w))
    except ShapeError as exc:
        index = int(str(exc).split()[1])  # "Layer <i> (<name>, ...)"
        assert str(exc).startswith(f"Layer {index} (")
        bad = layers[index - 1]
        if isinstance(bad, (S.Conv2d, S.MaxPool2d)) and index > 1:
            # the layers before were fine; torch refuses the named layer too
            good = S.summarize(layers[:index - 1], (c, h, w))
            shape = good.output_shape
            if len(shape) == 3 and not (isinstance(bad, S.MaxPool2d) and bad.padding == "same"):
                with pytest.raises((RuntimeError, ValueError)):
                    bad.torch_module(shape)(torch.zeros(1, *shape))
        return
    check_against_torch(layers, (c, h, w))
    net = S.to_torch(layers, (c, h, w))
    with FlopCounterMode(display=False) as counter:
        net.eval()(torch.zeros(1, c, h, w))
    assert counter.get_total_flops() == 2 * summary.total_macs


def test_collapse_names_the_layer_and_why():
    layers = [S.Conv2d(8, 5), S.MaxPool2d(2), S.Conv2d(8, 5), S.Flatten(), S.Linear(10)]
    with pytest.raises(ShapeError, match=r"Layer 3 \(conv2, .*4x4 input: rows: the kernel \(5\) is bigger"):
        S.summarize(layers, (1, 12, 12))
    with pytest.raises(ShapeError, match="Layer 1 .*put a Flatten"):
        S.summarize([S.Linear(10)], (1, 4, 4))
    with pytest.raises(ShapeError, match="Layer 2 .*cannot come after Flatten"):
        S.summarize([S.Flatten(), S.Conv2d(4, 3)], (1, 8, 8))
    with pytest.raises(ShapeError, match="at most half"):
        S.summarize([S.MaxPool2d(2, padding=2)], (1, 8, 8))


@pytest.mark.parametrize("name", list(S.PRESETS))
def test_presets_match_torch(name):
    shape = S.PRESET_INPUTS[name]
    summary, net = check_against_torch(S.PRESETS[name], shape, device="meta")
    assert len(summary.output_shape) == 1
    with FlopCounterMode(display=False) as counter:
        net(torch.empty(1, *shape, device="meta"))
    assert counter.get_total_flops() == 2 * summary.total_macs


@pytest.mark.parametrize("model", ["digits", "shapes"])
def test_app_model_presets_are_the_app_models(model):
    models = pytest.importorskip("vizcore.models")
    net = models.build_model(model)
    summary = S.summarize(S.PRESETS[f"{model} (app model)"], S.PRESET_INPUTS[f"{model} (app model)"])
    assert [name for name, _ in net.named_children()] == [row.name for row in summary.rows]
    assert summary.total_params == sum(p.numel() for p in net.parameters())
    assert net(torch.zeros(1, *S.PRESET_INPUTS[f"{model} (app model)"])).shape[1:] == summary.output_shape


def test_summary_layouts_memory_and_keras_totals():
    layers = [S.Conv2d(8, 3, padding="same"), S.BatchNorm2d(), S.ReLU(), S.MaxPool2d(2), S.Flatten(), S.Linear(10)]
    summary = S.summarize(layers, (1, 28, 28))
    conv = summary.rows[0]
    assert conv.nchw == (None, 8, 28, 28) and conv.nhwc == (None, 28, 28, 8)
    assert summary.rows[-1].nhwc == (None, 10)
    assert summary.keras_total_params == summary.total_params + 16
    assert summary.activation_count == sum(math.prod(r.output_shape) for r in summary.rows)
    assert summary.activation_bytes() == 4 * summary.activation_count
    table = summary.table("NHWC")
    assert table[0]["output shape"] == "(None, 28, 28, 8)" and table[-1]["receptive field"] == "whole input"


def test_table_rows_round_trip_and_errors():
    for name, layers in S.PRESETS.items():
        rebuilt = S.layers_from_table(S.table_from_layers(layers))
        assert S.summarize(rebuilt, S.PRESET_INPUTS[name]).total_params == \
            S.summarize(layers, S.PRESET_INPUTS[name]).total_params
    rows = [{"layer": "Conv2d", "size": 8, "kernel": 3, "padding": "same"}, {"layer": None},
            {"layer": "MaxPool2d"}, {"layer": "Flatten"}, {"layer": "Linear", "size": "10"}]
    layers = S.layers_from_table(rows)
    assert layers == [S.Conv2d(8, 3, 1, "same"), S.MaxPool2d(2), S.Flatten(), S.Linear(10)]
    with pytest.raises(ShapeError, match="Row 1: filters"):
        S.layers_from_table([{"layer": "Conv2d", "kernel": 3}])
    with pytest.raises(ShapeError, match="Row 2: unknown layer type 'Conv3d'"):
        S.layers_from_table([{"layer": "ReLU"}, {"layer": "Conv3d"}])
    with pytest.raises(ShapeError, match="Row 1: stride must be at least 1"):
        S.layers_from_table([{"layer": "Conv2d", "size": 4, "stride": 0}])
    with pytest.raises(ShapeError, match="Row 1: padding must be a whole number"):
        S.layers_from_table([{"layer": "Conv2d", "size": 4, "padding": "full"}])
    with pytest.raises(ShapeError, match=r"Layer 1 \(conv1, Conv2d 4 filters 3x3, stride 0\).*stride must be"):
        S.summarize([S.Conv2d(4, 3, stride=0)], (1, 8, 8))


def test_to_torch_with_channels_only():
    net = S.to_torch([S.Conv2d(4, 3, padding=1), S.ReLU()], 3)
    assert net(torch.zeros(1, 3, 9, 9)).shape == (1, 4, 9, 9)
    with pytest.raises(ShapeError, match="full input shape"):
        S.to_torch([S.Flatten(), S.Linear(3)], 3)


def test_params_figure_lists_layers_with_parameters():
    summary = S.summarize(S.PRESETS["digits (app model)"], (1, 28, 28))
    fig = shape_figs.params_figure(summary, log_scale=True)
    bars = {x: y for trace in fig.data for x, y in zip(trace.x, trace.y)}
    assert bars == {row.name: row.params for row in summary.rows if row.params}
    assert fig.layout.yaxis.type == "log"
