"""vizcore.conv against independent oracles: torch's conv2d/conv1d (+ F.pad), scipy, numpy."""
import math

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F
from hypothesis import event, given, settings, strategies as st

from vizcore import conv
from vizcore.conv import ConvError

MODES = ["zeros", "reflect", "replicate", "circular"]
# torch's own warning when the oracle uses padding="same" with an even kernel
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")
SETTINGS = settings(max_examples=150, deadline=None)


def tf_same_padding(n, k, s, d):
    """TensorFlow's "same": ceil(n/s) outputs, the odd padding row/col at the end."""
    out = math.ceil(n / s)
    total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def torch_conv2d(x, kernel, stride, padding, dilation, mode):
    """The oracle: F.conv2d on float64 tensors, F.pad for every padding except zeros with ints.

    Raises whatever torch raises for impossible settings.
    """
    x = torch.as_tensor(np.array(x, dtype=np.float64))
    k = torch.as_tensor(np.array(kernel, dtype=np.float64))
    x4 = x[None, None] if x.ndim == 2 else x[None]
    channels = x4.shape[1]
    if k.ndim == 2:
        weight, groups = k.expand(channels, 1, *k.shape), channels
    else:
        weight, groups = (k[None] if k.ndim == 3 else k), 1
    sr, sc = (stride, stride) if isinstance(stride, int) else stride
    dr, dc = (dilation, dilation) if isinstance(dilation, int) else dilation
    kh, kw = weight.shape[2:]
    if padding == "same" and (sr, sc) == (1, 1) and mode == "zeros":
        out = F.conv2d(x4, weight, stride=1, padding="same", dilation=(dr, dc), groups=groups)
    else:
        if padding == "valid":
            pads = (0, 0, 0, 0)
        elif padding == "same":
            pads = (*tf_same_padding(x4.shape[3], kw, sc, dc), *tf_same_padding(x4.shape[2], kh, sr, dr))
        else:
            pr, pc = (padding, padding) if isinstance(padding, int) else padding
            pads = (pc, pc, pr, pr)
        if any(pads):
            x4 = F.pad(x4, pads, mode="constant" if mode == "zeros" else mode)
        out = F.conv2d(x4, weight, stride=(sr, sc), dilation=(dr, dc), groups=groups)
    out = out[0]
    if x.ndim == 2 and k.ndim == 2:
        out = out[0]
    if k.ndim == 3:
        out = out[0]
    return out.numpy()


def assert_close(ours, ref, x, kernel):
    scale = float(np.abs(x).max()) * float(np.abs(kernel).sum()) + 1.0
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-9 * scale if ours.dtype == np.float64 else 1e-5 * scale)


pairs = st.tuples(st.integers(1, 3), st.integers(1, 3))
ints_or_pairs = st.one_of(st.integers(1, 3), pairs)
dilations = st.one_of(st.integers(1, 2), pairs)
paddings = st.one_of(st.integers(0, 3), st.tuples(st.integers(0, 3), st.integers(0, 3)),
                     st.sampled_from(["valid", "same"]))


@st.composite
def conv2d_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    channels = draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 16)), draw(st.integers(1, 16))
    x = rng.integers(-9, 10, (channels, h, w)).astype(np.float64)
    if channels == 1 and draw(st.booleans()):
        x = x[0]
    kh, kw = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    layout = draw(st.sampled_from(["2d", "3d", "4d"]))
    shape = {"2d": (kh, kw), "3d": (channels, kh, kw), "4d": (draw(st.integers(1, 3)), channels, kh, kw)}[layout]
    kernel = rng.standard_normal(shape).round(2)
    return x, kernel


@settings(max_examples=200, deadline=None)
@given(conv2d_cases(), ints_or_pairs, paddings, dilations, st.sampled_from(MODES),
       st.sampled_from(["auto", "direct", "fft"]))
def test_correlate2d_equals_torch_conv2d(case, stride, padding, dilation, mode, method):
    x, kernel = case
    try:
        ref = torch_conv2d(x, kernel, stride, padding, dilation, mode)
    except RuntimeError:  # torch refuses: so must we, with our own message
        event("impossible settings")
        with pytest.raises(ConvError):
            conv.correlate2d(x, kernel, stride, padding, dilation, mode, method=method)
        return
    ours = conv.correlate2d(x, kernel, stride, padding, dilation, mode, method=method)
    assert ours.dtype == np.float64
    assert_close(ours, ref, x, kernel)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 7), st.sampled_from(["2d", "3d", "4d"]),
       ints_or_pairs, st.sampled_from([0, 1, "same"]), st.sampled_from(MODES))
def test_float32_stays_float32_on_every_route(seed, k, layout, stride, padding, mode):
    rng = np.random.default_rng(seed)
    x = rng.random((3, 40, 37), dtype=np.float32) * 255
    shape = {"2d": (k, k + 1), "3d": (3, k, k + 1), "4d": (2, 3, k, k + 1)}[layout]
    kernel = rng.standard_normal(shape).astype(np.float32)
    ref = torch_conv2d(x, kernel, stride, padding, 1, mode)
    for method in ("auto", "direct", "fft"):
        ours = conv.correlate2d(x, kernel, stride, padding, 1, mode, method=method)
        assert ours.dtype == np.float32
        assert_close(ours, ref, x, kernel)


@pytest.mark.parametrize("shape", [(3, 3), (9, 9), (3, 5, 5), (4, 3, 13, 13), (15, 15)])
def test_large_image_routes_agree_with_torch(shape):
    # 200x200 with >= 11x11 kernels goes through the FFT; smaller ones through the direct routes.
    rng = np.random.default_rng(1)
    x = rng.random((3, 200, 190), dtype=np.float32) * 255
    kernel = rng.standard_normal(shape).astype(np.float32)
    ours = conv.correlate2d(x, kernel, padding="same", padding_mode="reflect")
    assert ours.dtype == np.float32
    assert_close(ours, torch_conv2d(x, kernel, 1, "same", 1, "reflect"), x, kernel)


@pytest.mark.parametrize("dtype, expected", [(np.float32, np.float32), (np.float16, np.float32),
                                             (np.float64, np.float64), (np.int64, np.float64),
                                             (np.uint8, np.float64), (bool, np.float64)])
def test_output_dtype(dtype, expected):
    x = np.arange(36).reshape(6, 6).astype(dtype)
    assert conv.correlate2d(x, np.ones((2, 2))).dtype == expected


@st.composite
def conv1d_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    channels = draw(st.integers(1, 3))
    length = draw(st.integers(1, 20))
    x = rng.integers(-9, 10, (channels, length)).astype(np.float64)
    if channels == 1 and draw(st.booleans()):
        x = x[0]
    k = draw(st.integers(1, 7))
    layout = draw(st.sampled_from(["1d", "2d", "3d"]))
    shape = {"1d": (k,), "2d": (channels, k), "3d": (draw(st.integers(1, 3)), channels, k)}[layout]
    return x, rng.standard_normal(shape).round(2)


def torch_conv1d(x, kernel, stride, padding, dilation, causal, mode):
    x = torch.as_tensor(x)
    k = torch.as_tensor(kernel)
    x3 = x[None, None] if x.ndim == 1 else x[None]
    channels = x3.shape[1]
    if k.ndim == 1:
        weight, groups = k.expand(channels, 1, k.shape[0]), channels
    else:
        weight, groups = (k[None] if k.ndim == 2 else k), 1
    size = weight.shape[-1]
    if causal:
        pads = (dilation * (size - 1), 0)
    elif padding == "valid":
        pads = (0, 0)
    elif padding == "same":
        pads = tf_same_padding(x3.shape[-1], size, stride, dilation)
    else:
        pads = (padding, padding)
    if any(pads):
        x3 = F.pad(x3, pads, mode="constant" if mode == "zeros" else mode)
    out = F.conv1d(x3, weight, stride=stride, dilation=dilation, groups=groups)[0]
    if (x.ndim == 1 and k.ndim == 1) or k.ndim == 2:
        out = out[0]
    return out.numpy()


@SETTINGS
@given(conv1d_cases(), st.integers(1, 3), st.one_of(st.integers(0, 3), st.sampled_from(["valid", "same"])),
       st.integers(1, 3), st.booleans(), st.sampled_from(MODES))
def test_correlate1d_equals_torch_conv1d(case, stride, padding, dilation, causal, mode):
    x, kernel = case
    if causal:
        padding = 0
    try:
        ref = torch_conv1d(x, kernel, stride, padding, dilation, causal, mode)
    except RuntimeError:
        event("impossible settings")
        with pytest.raises(ConvError):
            conv.correlate1d(x, kernel, stride, padding, dilation, causal, mode)
        return
    ours = conv.correlate1d(x, kernel, stride, padding, dilation, causal, mode)
    assert_close(ours, ref, x, kernel)


def test_same_stride1_even_kernel_matches_torch_same():
    # PyTorch puts the extra row/column of an even kernel's "same" padding at the bottom/right.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 9, 8))
    for k in [(2, 2), (4, 3), (6, 1)]:
        kernel = rng.standard_normal(k)
        ref = F.conv2d(torch.tensor(x)[None], torch.tensor(kernel).expand(2, 1, *k), padding="same", groups=2)[0]
        np.testing.assert_allclose(conv.correlate2d(x, kernel, padding="same"), ref.numpy(), atol=1e-12)
        assert conv.correlate2d(x, kernel, padding="same").shape == x.shape


def test_causal_output_never_sees_the_future():
    x = np.zeros(12)
    x[7] = 1.0
    y = conv.correlate1d(x, [1.0, 2.0, 3.0], dilation=2, causal=True)
    assert y.shape == x.shape
    assert np.all(y[:7] == 0) and y[7] != 0


@SETTINGS
@given(conv2d_cases(), ints_or_pairs, paddings, dilations, st.sampled_from(MODES))
def test_convolve2d_is_correlation_with_rotated_kernel(case, stride, padding, dilation, mode):
    x, kernel = case
    try:
        ref = torch_conv2d(x, np.flip(kernel, axis=(-2, -1)), stride, padding, dilation, mode)
    except RuntimeError:
        return
    flipped = conv.correlate2d(x, np.flip(kernel, axis=(-2, -1)), stride, padding, dilation, mode)
    ours = conv.convolve2d(x, kernel, stride, padding, dilation, mode)
    np.testing.assert_array_equal(ours, flipped)
    assert_close(ours, ref, x, kernel)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(1, 10), st.integers(1, 10), st.integers(1, 7), st.integers(1, 7))
def test_convolve2d_valid_equals_scipy(seed, h, w, kh, kw):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((h + kh - 1, w + kw - 1))
    kernel = rng.standard_normal((kh, kw))
    ours = conv.convolve2d(x, kernel, padding="valid")
    np.testing.assert_allclose(ours, scipy.signal.convolve2d(x, kernel, mode="valid"), atol=1e-10)
    # 1D: numpy's convolve is true convolution too.
    np.testing.assert_allclose(conv.convolve1d(x[0], kernel[0]), np.convolve(x[0], kernel[0], "valid"), atol=1e-10)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(1, 3), st.booleans(), st.integers(1, 9), st.integers(1, 9),
       st.integers(1, 5), st.integers(1, 5), pairs, paddings, pairs, st.sampled_from(MODES), st.data())
def test_explain_cell_sums_to_the_output_cell(seed, channels, flat, h, w, kh, kw, stride, padding, dilation,
                                              mode, data):
    rng = np.random.default_rng(seed)
    channels = 1 if flat else channels
    x = rng.integers(0, 20, (channels, h, w)).astype(np.float64)
    kernel = rng.integers(-5, 6, (channels, kh, kw)).astype(np.float64)
    if flat:
        x, kernel = x[0], kernel[0]
    try:
        out = conv.correlate2d(x, kernel, stride, padding, dilation, mode)
    except ConvError:
        return
    i = data.draw(st.integers(0, out.shape[0] - 1))
    j = data.draw(st.integers(0, out.shape[1] - 1))
    cell = conv.explain_cell(x, kernel, i, j, stride, padding, dilation, mode)
    assert cell.total == pytest.approx(out[i, j], abs=1e-9)
    assert len(cell.terms) == kernel.size
    assert cell.text.endswith(f"= {int(round(out[i, j]))}")
    x3 = x.reshape(channels, h, w)
    top, left = cell.pads[0], cell.pads[2]
    for t in cell.terms:
        assert (t.padded_row, t.padded_col) == (i * stride[0] + t.kernel_row * dilation[0],
                                                j * stride[1] + t.kernel_col * dilation[1])
        inside = 0 <= t.padded_row - top < h and 0 <= t.padded_col - left < w
        assert (t.row is not None) == inside
        if inside:
            assert t.input_value == x3[t.channel, t.row, t.col]
        elif mode == "zeros":
            assert t.input_value == 0
        assert t.kernel_value == kernel.reshape(channels, kh, kw)[t.channel, t.kernel_row, t.kernel_col]


# The lecture's worked example (LENS ML School 2021 slides). The slide's arithmetic is not trusted:
# torch computes the expected numbers (the slide's second cell, 216, is wrong: it is 200).
SLIDE_IMAGE = np.array([
    [1, 4, 12, 11, 0, 2],
    [9, 15, 3, 0, 4, 17],
    [1, 4, 8, 6, 6, 10],
    [16, 10, 0, 11, 13, 6],
    [0, 2, 9, 3, 0, 8],
    [2, 14, 12, 5, 14, 1],
])
SLIDE_KERNEL = np.array([[3, 0, 8], [1, 5, 10], [0, 2, 9]])


def test_slide_example_against_torch():
    ref = F.conv2d(torch.tensor(SLIDE_IMAGE, dtype=torch.float64)[None, None],
                   torch.tensor(SLIDE_KERNEL, dtype=torch.float64)[None, None])[0, 0].numpy()
    ours = conv.correlate2d(SLIDE_IMAGE, SLIDE_KERNEL)
    np.testing.assert_array_equal(ours, ref)
    cell = conv.explain_cell(SLIDE_IMAGE, SLIDE_KERNEL, 0, 0)
    assert cell.text == f"1×3 + 4×0 + 12×8 + 9×1 + 15×5 + 3×10 + 1×0 + 4×2 + 8×9 = {int(ref[0, 0])}"
    second = conv.explain_cell(SLIDE_IMAGE, SLIDE_KERNEL, 0, 1)
    assert second.text.startswith("4×3 + 12×0 + 11×8 + 15×1 + 3×5 + 0×10 + 4×0 + 8×2 + 6×9 = ")
    assert second.total == ref[0, 1]


def test_explain_cell_marks_padding_and_formats_numbers():
    cell = conv.explain_cell(SLIDE_IMAGE, -SLIDE_KERNEL, 0, 0, padding=1)
    assert cell.terms[0].row is None and cell.terms[0].padded_row == 0
    assert cell.text.startswith("0×(-3) + 0×0 + 0×(-8) + 0×(-1) + 1×(-5) + 4×(-10)")
    assert conv.explain_cell([[0.5, 1.0]], [[1 / 3, 2.0]], 0, 0).text == "0.5×0.3333 + 1×2 = 2.167"


@SETTINGS
@given(st.integers(1, 40), st.integers(1, 7), st.integers(1, 4), st.integers(0, 4), st.integers(1, 3))
def test_output_size_matches_torch(n, k, s, p, d):
    x = torch.zeros(1, 1, n)
    try:
        expected = F.conv1d(x, torch.zeros(1, 1, k), stride=s, padding=p, dilation=d).shape[-1]
    except RuntimeError:
        with pytest.raises(ConvError):
            conv.output_size(n, k, s, p, d)
        return
    assert conv.output_size(n, k, s, p, d) == expected == (n + 2 * p - d * (k - 1) - 1) // s + 1
    assert conv.output_size(n, k, s, "same", d) == math.ceil(n / s)


IMG = np.arange(36.0).reshape(6, 6)
K3 = np.ones((3, 3))


@pytest.mark.parametrize("call, message", [
    (lambda: conv.correlate2d(IMG, np.ones((7, 7))), "larger than the padded input"),
    (lambda: conv.correlate2d(IMG, K3, dilation=3), "dilated to 7"),
    (lambda: conv.correlate2d(IMG, K3, stride=0), "stride must be at least 1"),
    (lambda: conv.correlate2d(IMG, K3, stride=(1, -2)), "stride must be at least 1"),
    (lambda: conv.correlate2d(IMG, K3, stride=1.5), "whole number"),
    (lambda: conv.correlate2d(IMG, K3, dilation=0), "dilation must be at least 1"),
    (lambda: conv.correlate2d(IMG, K3, padding=-1), "padding must be 0 or more"),
    (lambda: conv.correlate2d(IMG, K3, padding="full"), '"valid" or "same"'),
    (lambda: conv.correlate2d(IMG, [[1, np.nan], [0, 1]]), "NaN"),
    (lambda: conv.correlate2d(IMG, [[1, np.inf], [0, 1]]), "infinity"),
    (lambda: conv.correlate2d(IMG, np.zeros((0, 3))), "kernel is empty"),
    (lambda: conv.correlate2d(np.zeros((0, 4)), K3), "input is empty"),
    (lambda: conv.correlate2d(np.where(IMG == 7, np.nan, IMG), K3), "input contains"),
    (lambda: conv.correlate2d(IMG, K3, padding=6, padding_mode="reflect"), "Reflect padding of 6"),
    (lambda: conv.correlate2d(IMG, K3, padding=7, padding_mode="circular"), "Circular padding"),
    (lambda: conv.correlate2d(IMG, K3, padding_mode="mirror"), "padding_mode"),
    (lambda: conv.correlate2d(np.zeros((3, 6, 6)), np.ones((2, 3, 3))), "2 channel slices but the input has 3"),
    (lambda: conv.correlate2d(np.zeros((3, 6, 6)), np.ones((4, 2, 3, 3))), "2 channel slices"),
    (lambda: conv.correlate2d(IMG, np.ones((3, 3, 3))), "input has 1 channel"),
    (lambda: conv.correlate2d(np.zeros(5), K3), "(H, W) or (C, H, W)"),
    (lambda: conv.correlate2d(IMG, np.ones(3)), "kernel must be"),
    (lambda: conv.correlate2d(IMG, [["a"]]), "real numbers"),
    (lambda: conv.correlate2d(IMG, K3, method="winograd"), "method"),
    (lambda: conv.correlate1d(np.arange(5.0), [1, 1, 1], padding=1, causal=True), "Causal padding replaces"),
    (lambda: conv.correlate1d(np.arange(2.0), [1, 1, 1]), "larger than the padded input"),
    (lambda: conv.explain_cell(IMG, K3, 4, 0), "outside the 4×4 output"),
    (lambda: conv.explain_cell(np.zeros((3, 6, 6)), K3, 0, 0), "explain_cell needs"),
])
def test_impossible_settings_raise_conv_error(call, message):
    with pytest.raises(ConvError, match=None) as info:
        call()
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)
