"""vizcore.kernels: every filter against scipy/scikit-image or its closed form; the PyTorch code it
prints is executed and must give what vizcore.conv gives."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.ndimage as ndi
import skimage.filters
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from vizcore import conv, kernels as K

FAST = settings(max_examples=60, deadline=None)


def impulse_response(filter_fn, size: int) -> np.ndarray:
    """What a scipy filter does to a single 1 in the middle of zeros: its kernel (mirrored)."""
    n = 2 * size + 1
    x = np.zeros((n, n))
    x[n // 2, n // 2] = 1.0
    out = filter_fn(x)
    c, r = n // 2, size // 2
    # correlate(impulse, k) puts k rotated by 180° around the impulse: rotate back.
    return out[c - r:c + r + 1, c - r:c + r + 1][::-1, ::-1]


@FAST
@given(size=st.sampled_from([1, 3, 5, 7, 9, 11, 13, 15]), sigma=st.floats(0.3, 5.0))
def test_gaussian_is_scipy_gaussian_filter(size, sigma):
    ref = impulse_response(lambda x: ndi.gaussian_filter(x, sigma, mode="constant", radius=size // 2), size)
    np.testing.assert_allclose(K.gaussian(size, sigma), ref, atol=1e-12)
    assert K.gaussian(size, sigma).sum() == pytest.approx(1.0)


@FAST
@given(size=st.sampled_from([3, 5, 7, 9, 11, 13, 15]), sigma=st.floats(0.3, 5.0))
def test_laplacian_of_gaussian_is_scipy_gaussian_laplace(size, sigma):
    ref = impulse_response(lambda x: ndi.gaussian_laplace(x, sigma, mode="constant", radius=size // 2), size)
    np.testing.assert_allclose(K.laplacian_of_gaussian(size, sigma), ref, atol=1e-12)


@pytest.mark.parametrize("kernel, reference", [
    (K.sobel_x, lambda x: ndi.sobel(x, axis=1)),
    (K.sobel_y, lambda x: ndi.sobel(x, axis=0)),
    (K.prewitt_x, lambda x: ndi.prewitt(x, axis=1)),
    (K.prewitt_y, lambda x: ndi.prewitt(x, axis=0)),
    (K.scharr_x, lambda x: 16 * skimage.filters.scharr(x, axis=1, mode="reflect")),  # skimage: weights/16
    (K.scharr_y, lambda x: 16 * skimage.filters.scharr(x, axis=0, mode="reflect")),
    (K.laplacian_4, ndi.laplace),
])
def test_derivative_kernels_match_scipy_and_skimage(kernel, reference):
    x = np.random.default_rng(1).uniform(0, 255, size=(24, 31))
    np.testing.assert_allclose(ndi.correlate(x, kernel(), mode="reflect"), reference(x), atol=1e-9)


def test_sobel_x_is_positive_on_a_dark_to_bright_edge():
    x = np.zeros((5, 6))
    x[:, 3:] = 1
    assert (conv.correlate2d(x, K.sobel_x())[:, 1:3] == 4).all()


@FAST
@given(size=st.integers(3, 15), angle=st.floats(0, 180), wavelength=st.floats(2, 20), sigma=st.floats(0.5, 8))
def test_gabor_is_skimage_gabor_kernel(size, angle, wavelength, sigma):
    if size % 2 == 0:
        size += 1
    ref = skimage.filters.gabor_kernel(1 / wavelength, theta=np.deg2rad(angle), sigma_x=sigma,
                                       sigma_y=sigma, n_stds=2 * size / sigma + 1).real  # big enough to crop
    c, r = ref.shape[0] // 2, size // 2
    np.testing.assert_allclose(K.gabor(size, angle, wavelength, sigma), ref[c - r:c + r + 1, c - r:c + r + 1],
                               atol=1e-12)


def test_closed_forms_of_the_fixed_kernels():
    delta = K.identity(3)
    assert delta.sum() == 1 and delta[1, 1] == 1
    np.testing.assert_array_equal(K.sharpen(), delta - K.laplacian_4())
    np.testing.assert_array_equal(K.outline(), -K.laplacian_8())
    np.testing.assert_array_equal(K.box_blur(4), np.full((4, 4), 1 / 16))
    assert K.laplacian_8().sum() == 0 and K.emboss().sum() == 1
    np.testing.assert_array_equal(K.vertical_edge(), K.horizontal_edge().T)


@FAST
@given(size=st.sampled_from([3, 5, 7, 9]), sigma=st.floats(0.3, 5), amount=st.floats(0, 5))
def test_unsharp_mask_adds_back_what_the_blur_removes(size, sigma, amount):
    x = np.random.default_rng(2).uniform(0, 255, size=(12, 12))
    blurred = conv.correlate2d(x, K.gaussian(size, sigma), padding="same")
    expected = x + amount * (x - blurred)
    got = conv.correlate2d(x, K.unsharp_mask(size, sigma, amount), padding="same")
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_unsharp_mask_refuses_even_sizes():
    with pytest.raises(K.KernelError, match="odd"):
        K.unsharp_mask(4)


@FAST
@given(size=st.integers(1, 15), angle=st.floats(0, 180))
def test_motion_blur_is_a_normalised_line_through_the_centre(size, angle):
    k = K.motion_blur(size, angle)
    assert k.sum() == pytest.approx(1.0)
    # A line through the centre looks the same after a half turn.
    np.testing.assert_allclose(k, K.rotate_180(k), atol=1e-12)


def test_motion_blur_directions():
    np.testing.assert_allclose(K.motion_blur(5, 0)[2], np.full(5, 0.2))
    np.testing.assert_allclose(K.motion_blur(5, 90)[:, 2], np.full(5, 0.2))
    np.testing.assert_allclose(K.motion_blur(5, 45), np.fliplr(np.eye(5)) / 5)  # up and to the right


def test_every_preset_builds_with_defaults_and_extremes():
    for preset in K.PRESETS.values():
        for pick in ("default", "low", "high"):
            values = {p.name: getattr(p, pick) for p in preset.params}
            if preset.name == "Unsharp mask" and values.get("size", 3) % 2 == 0:
                continue
            k = preset.kernel(**values)
            assert k.ndim == 2 and 1 <= min(k.shape) and max(k.shape) <= K.MAX_KERNEL_SIZE
            assert np.isfinite(k).all(), preset.name


def test_random_kernel_is_reproducible():
    a, b = K.random_kernel(3, seed=7), K.random_kernel(3, seed=7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, K.random_kernel(3, seed=8))
    ints = K.random_kernel((2, 4), seed=1, integers=True, low=-5, high=5)
    assert ints.shape == (2, 4) and (ints == ints.round()).all() and np.abs(ints).max() <= 5
    assert K.random_kernel(3, seed=0, channels=3).shape == (3, 3, 3)


@FAST
@given(st.lists(st.floats(-10, 10), min_size=1, max_size=25))
def test_normalise_sums_to_one_or_says_why_not(values):
    k = np.array(values)
    out, why_not = K.normalise(k)
    if why_not is None:
        assert out.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(out * k.sum(), k, atol=1e-9)
    else:
        np.testing.assert_array_equal(out, k)
        assert abs(k.sum()) <= 1e-9 * max(np.abs(k).sum(), 1e-300)


def test_normalise_explains_edge_detectors_and_zeros():
    out, why = K.normalise(K.sobel_x())
    assert "sum to 0" in why and np.array_equal(out, K.sobel_x())
    assert "all zeros" in K.normalise(np.zeros((3, 3)))[1]
    np.testing.assert_allclose(K.normalise(np.ones((3, 3)))[0], K.box_blur(3))


@pytest.mark.parametrize("cell, message", [
    (None, "Row 1, column 2 is empty"),
    (np.nan, "Row 1, column 2 is empty"),
    ("", "Row 1, column 2 is empty"),
    ("abc", "Row 1, column 2 is 'abc', which is not a number"),
    (np.inf, "Row 1, column 2 is infinite"),
])
def test_parse_grid_names_the_bad_cell(cell, message):
    rows = [[1, 2, 3], [4, 5, cell]]
    with pytest.raises(K.KernelError, match=message):
        K.parse_grid(rows)


def test_parse_grid_accepts_frames_strings_and_fractions():
    frame = pd.DataFrame([[1.0, "1/3"], ["−2", " 4 "]], columns=["1", "2"])
    np.testing.assert_allclose(K.parse_grid(frame), [[1, 1 / 3], [-2, 4]])
    with pytest.raises(K.KernelError, match="empty"):
        K.parse_grid([])
    with pytest.raises(K.KernelError, match="same number"):
        K.parse_grid([[1, 2], [3]])


def test_parse_vector():
    np.testing.assert_allclose(K.parse_vector("1/3, 1/3 1/3"), [1 / 3] * 3)
    with pytest.raises(K.KernelError, match="entry 2"):
        K.parse_vector("1, x, 3")
    with pytest.raises(K.KernelError, match="empty"):
        K.parse_vector("  ")
    with pytest.raises(K.KernelError, match="entry 1"):
        K.parse_vector("1/0")


def _run_code(code: str, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
    """Run the printed code: y from nn.Conv2d (when printed) and from the functional call."""
    module_part, functional_part = code.split("# The same with the functional API:")
    scope = {"x": x}
    exec(module_part, scope)  # noqa: S102 - our own generated code
    y_module = scope["y"].detach().numpy() if "y" in scope else None
    exec(functional_part, scope)  # noqa: S102
    return y_module, scope["y"].detach().numpy()


@settings(max_examples=50, deadline=None)
@given(
    data=st.data(),
    kind=st.sampled_from(["2d", "3d", "4d"]),
    kh=st.integers(1, 4), kw=st.integers(1, 4),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.integers(1, 2),
    padding_mode=st.sampled_from(["zeros", "reflect", "replicate", "circular"]),
    bias=st.sampled_from([0.0, 1.5, -2.0]),
    convolution=st.booleans(),
)
def test_torch_call_code_computes_what_the_playground_computes(data, kind, kh, kw, stride, dilation,
                                                                padding_mode, bias, convolution):
    padding = data.draw(st.sampled_from([0, 1, (1, 2), "valid", "same"]))
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    channels = 3
    x = rng.uniform(-5, 5, size=(channels, 9, 10))
    shape = {"2d": (kh, kw), "3d": (channels, kh, kw), "4d": (2, channels, kh, kw)}[kind]
    kernel = rng.integers(-3, 4, size=shape).astype(float)
    pads = conv.resolve_padding(x.shape[-2:], (kh, kw), stride, padding, dilation)
    operation = conv.convolve2d if convolution else conv.correlate2d
    expected = operation(x, kernel, stride, padding, dilation, padding_mode) + bias
    code = K.torch_call(kernel, in_channels=channels, stride=stride, padding=padding, dilation=dilation,
                        padding_mode=padding_mode, bias=bias, pads=pads, convolution=convolution)
    y_module, y_functional = _run_code(code, torch.from_numpy(x[None]).float())
    expected = expected.reshape(y_functional.shape)
    np.testing.assert_allclose(y_functional, expected, atol=1e-4)
    if y_module is not None:
        np.testing.assert_allclose(y_module, expected, atol=1e-4)
    else:
        assert padding == "same" and stride != (1, 1)


def test_torch_call_reads_like_the_lecture():
    code = K.torch_call(K.sobel_x(), stride=2, padding=1)
    assert 'nn.Conv2d(1, 1, kernel_size=3, stride=2, padding=1, dilation=1, groups=1, bias=False' in code
    assert "weight = torch.tensor([[[[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]]]])" in code
    assert "F.conv2d(x, weight, None, stride=2, padding=1" in code


def test_worked_examples_are_well_formed_and_compute():
    for name, ex in K.WORKED_EXAMPLES.items():
        x, k = np.array(ex.matrix, dtype=float), np.array(ex.kernel, dtype=float)
        assert x.ndim == 2 and k.ndim == 2, name
        got = conv.correlate2d(x, k, ex.stride, ex.padding, ex.dilation)
        ref = F.conv2d(torch.tensor(x)[None, None], torch.tensor(k)[None, None], stride=ex.stride,
                       padding=ex.padding, dilation=ex.dilation)[0, 0].numpy()
        np.testing.assert_allclose(got, ref, err_msg=name)
    first = K.WORKED_EXAMPLES[next(iter(K.WORKED_EXAMPLES))]
    assert conv.correlate2d(np.array(first.matrix), np.array(first.kernel))[0, 0] == 293  # deck 002


def test_signal_examples_compute():
    for name, ex in K.SIGNAL_EXAMPLES.items():
        x, k = K.parse_vector(ex.signal), K.parse_vector(ex.kernel)
        left = ex.dilation * (len(k) - 1) if ex.causal else ex.padding
        right = 0 if ex.causal else ex.padding
        ref = F.conv1d(F.pad(torch.tensor(x)[None, None], (left, right)), torch.tensor(k)[None, None],
                       stride=ex.stride, dilation=ex.dilation)[0, 0].numpy()
        got = conv.correlate1d(x, k, ex.stride, 0 if ex.causal else ex.padding, ex.dilation, causal=ex.causal)
        np.testing.assert_allclose(got, ref, err_msg=name)
