"""vizcore.pooling against torch's own pooling on many random cases."""
import numpy as np
import pytest
import skimage.data
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch.nn import functional as F

from vizcore import pooling, shapes
from vizcore.figures import pooling as pooling_figs


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny tensors: extra threads only cost synchronisation on a loaded 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@st.composite
def cases(draw):
    channels = draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    # Small integers make ties common: the argmax rule matters then.
    x = draw(hnp.arrays(np.float64, (channels, h, w), elements=st.integers(-4, 4).map(float)))
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 4), st.integers(1, 4))))
    padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    return x, kernel, stride, padding, draw(st.booleans()), draw(st.booleans())


def torch_pool(x, kernel, stride, padding, mode, ceil_mode, count_include_pad):
    t = torch.from_numpy(x)[None]
    if mode == "max":
        return F.max_pool2d(t, kernel, stride, padding, ceil_mode=ceil_mode)[0].numpy()
    return F.avg_pool2d(t, kernel, stride, padding, ceil_mode=ceil_mode,
                        count_include_pad=count_include_pad)[0].numpy()


@settings(max_examples=200, deadline=None)
@given(case=cases(), mode=st.sampled_from(pooling.MODES))
def test_pool2d_equals_torch(case, mode):
    x, kernel, stride, padding, ceil_mode, count_include_pad = case
    try:
        expected = torch_pool(x, kernel, stride, padding, mode, ceil_mode, count_include_pad)
    except RuntimeError:
        expected = None
    try:
        got = pooling.pool2d(x, kernel, stride, padding, mode, ceil_mode, count_include_pad)
    except pooling.PoolError as err:
        assert expected is None, f"torch gives {expected.shape}, pool2d refuses: {err}"
        return
    assert expected is not None, f"torch refuses, pool2d gives {got.shape}"
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # 2D input gives the same as one channel; the output size agrees with vizcore.shapes.
    np.testing.assert_allclose(pooling.pool2d(x[0], kernel, stride, padding, mode, ceil_mode,
                                              count_include_pad), expected[0])
    s = kernel if stride is None else stride
    assert got.shape[-2:] == tuple(
        shapes.conv_output_size(n, k, si, p, ceil_mode=ceil_mode)
        for n, k, si, p in zip(x.shape[-2:], kernel, s, padding))


@settings(max_examples=150, deadline=None)
@given(case=cases())
def test_windows_and_winners_equal_torch_indices(case):
    x, kernel, stride, padding, ceil_mode, _ = case
    try:
        _, indices = F.max_pool2d(torch.from_numpy(x[:1])[None], kernel, stride, padding,
                                  ceil_mode=ceil_mode, return_indices=True)
    except RuntimeError:
        return
    cells = pooling.pool_windows(x[0], kernel, stride, padding, "max", ceil_mode)
    h, w = x.shape[-2:]
    winners = np.array([c.winner[0] * w + c.winner[1] for c in cells]).reshape(indices.shape[-2:])
    np.testing.assert_array_equal(winners, indices[0, 0].numpy())
    for c in cells:
        window = x[0, c.rows[0]:c.rows[1], c.cols[0]:c.cols[1]]
        assert window.size > 0 and c.value == window.max() == x[0][c.winner]
        assert c.rows[0] <= c.winner[0] < c.rows[1] and c.cols[0] <= c.winner[1] < c.cols[1]
    averages = pooling.pool_windows(x[0], kernel, stride, padding, "avg", ceil_mode)
    for c in averages:
        window = x[0, c.rows[0]:c.rows[1], c.cols[0]:c.cols[1]]
        assert c.value == pytest.approx(window.sum() / c.divisor)


def test_lecture_examples():
    slide = [[0, 0, 1, 3], [0, 2, 2, 0], [1, 0, 5, 1], [0, 0, 0, 0]]
    np.testing.assert_array_equal(pooling.pool2d(slide, 2), [[2, 3], [1, 5]])
    mixed = [[1, 4, 2, 11], [6, 13, 8, 3], [10, 0, 17, 7], [9, 2, 3, 5]]
    np.testing.assert_array_equal(pooling.pool2d(mixed, 2), [[13, 11], [10, 17]])
    # The slide shows 5 for the lower-left average; the true mean is 21 / 4.
    np.testing.assert_array_equal(pooling.pool2d(mixed, 2, mode="avg"), [[6, 6], [5.25, 8]])
    cell = pooling.pool_windows(slide, 2)[1]
    assert cell.describe("max") == "max(in[0:2, 2:4]) = in[0, 3] = 3"


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9)),
                    elements=st.floats(-100, 100)),
       mode=st.sampled_from(pooling.MODES))
def test_global_pooling_equals_torch(x, mode):
    t = torch.from_numpy(x)[None]
    expected = (F.adaptive_max_pool2d(t, 1) if mode == "max" else F.adaptive_avg_pool2d(t, 1)).flatten().numpy()
    np.testing.assert_allclose(pooling.global_pool(x, mode), expected, rtol=1e-12, atol=1e-12)
    # Global pooling is a window as large as the map.
    np.testing.assert_allclose(pooling.pool2d(x, x.shape[-2:], mode=mode).reshape(-1), expected, atol=1e-12)


@pytest.mark.parametrize("kwargs, message", [
    (dict(kernel_size=3, padding=2), "at most 1"),
    (dict(kernel_size=0), "at least 1"),
    (dict(kernel_size=2, stride=0), "Stride must be at least 1"),
    (dict(kernel_size=2.5), "whole number"),
    (dict(kernel_size=9), "does not fit"),
    (dict(kernel_size=2, padding=-1), "at least 0"),
    (dict(kernel_size=2, mode="median"), "Unknown pooling mode"),
])
def test_bad_settings_are_explained(kwargs, message):
    with pytest.raises(pooling.PoolError, match=message):
        pooling.pool2d(np.ones((4, 4)), **kwargs)


def test_bad_inputs_are_explained():
    with pytest.raises(pooling.PoolError, match="empty or non-numeric"):
        pooling.pool2d([[1.0, np.nan], [2.0, 3.0]], 2)
    with pytest.raises(pooling.PoolError, match=r"\(H, W\) or \(C, H, W\)"):
        pooling.pool2d(np.ones(5), 2)
    assert isinstance(pooling.PoolError("x"), ValueError)


def test_output_size_formula_text():
    s = pooling.check_settings((4, 5), 2, None, 0, False)
    assert pooling.output_size_formula(s, 0) == "floor((4 + 2·0 − 2) / 2) + 1 = 2"
    s = pooling.check_settings((5, 5), 3, 2, 1, True)
    assert pooling.output_size_formula(s, 1).endswith("= 3")
    # ceil would start a window in the padding: torch drops it, the text says so.
    s = pooling.check_settings((5, 5), 3, 3, 1, True)
    assert s.output_size == (2, 2) and "padding" in pooling.output_size_formula(s, 0)
    assert F.max_pool2d(torch.zeros(1, 1, 5, 5), 3, 3, 1, ceil_mode=True).shape[-1] == 2


def test_translation_effect():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 32))
    effects = pooling.translation_effect(x, 2, cols=1)
    np.testing.assert_allclose(effects["input"].after[:, 1:], x[:, :-1])
    np.testing.assert_array_equal(effects["input"].after[:, 0], x[:, 0])
    for mode in pooling.MODES:
        np.testing.assert_allclose(effects[mode].before, pooling.pool2d(x, 2, mode=mode))
        np.testing.assert_allclose(effects[mode].after, pooling.pool2d(effects["input"].after, 2, mode=mode))
        change = np.abs(effects[mode].after - effects[mode].before)
        assert effects[mode].unchanged_fraction == pytest.approx(np.mean(change <= 1e-9 * np.abs(x).max()))
    # The lecture's point, on a photo and on its edge feature map: after a one-pixel shift max
    # pooling keeps many more outputs exactly (measured: 48% vs 13% on the photo with 2x2).
    photo = skimage.data.camera()[::4, ::4].astype(np.float64)
    for picture in (photo, pooling.edge_feature_map(photo)):
        effects = pooling.translation_effect(picture, 2, cols=1)
        assert effects["max"].unchanged_fraction > 1.5 * effects["avg"].unchanged_fraction
    assert pooling.shift(x, 2, -1)[2:, :-1] == pytest.approx(x[:-2, 1:])


@settings(max_examples=40, deadline=None)
@given(blocks=st.integers(1, 3), conv_k=st.sampled_from([1, 3, 5]), convs=st.integers(1, 2),
       pool_k=st.integers(2, 3), pool_s=st.integers(1, 3), size=st.integers(24, 48))
def test_receptive_field_growth_equals_autograd(blocks, conv_k, convs, pool_k, pool_s, size):
    """The drawn box is exactly the set of input pixels the unit's gradient reaches."""
    layers = pooling.conv_pool_stack(blocks, conv_k, conv_k // 2, convs, pool_k, pool_s)
    try:
        rows = pooling.receptive_field_growth((size, size + 3), layers)
    except pooling.PoolError:
        return
    x = torch.ones(1, 1, size, size + 3, requires_grad=True)
    y = x
    checked = []
    for layer, row in zip(layers, rows):
        if layer.name.startswith("conv"):
            y = F.conv2d(y, torch.ones(1, 1, layer.kernel, layer.kernel), padding=layer.padding)
        else:
            y = F.avg_pool2d(y, layer.kernel, layer.stride)
        assert tuple(y.shape[-2:]) == row.output_size
        (grad,) = torch.autograd.grad(y[0, 0][row.unit], x, retain_graph=True)
        r, c = np.nonzero(grad[0, 0].numpy())
        top, bottom, left, right = row.box
        assert bottom - top + 1 == right - left + 1 == row.size
        # Never outside the drawn box; all of it away from the border, where part of the box
        # is padding or rows the floor dropped (no gradient reaches those).
        assert max(top, 0) <= r.min() and r.max() <= min(bottom, size - 1)
        assert max(left, 0) <= c.min() and c.max() <= min(right, size + 2)
        margin = row.jump
        if top >= margin and bottom <= size - 1 - margin:
            assert (r.min(), r.max()) == (top, bottom)
            checked.append(row.size)
        if left >= margin and right <= size + 2 - margin:
            assert (c.min(), c.max()) == (left, right)
    assert checked, "the first layers' fields lie inside the input and are compared exactly"


def test_stack_that_collapses_names_the_layer():
    layers = pooling.conv_pool_stack(5, 3, 0)
    with pytest.raises(pooling.PoolError, match=r"^conv\d"):
        pooling.receptive_field_growth((16, 16), layers)


def test_figures_show_the_window_and_winner():
    x = np.array([[0, 0, 1, 3], [0, 2, 2, 0], [1, 0, 5, 1], [0, 0, 0, 0]], float)
    cells = pooling.pool_windows(x, 3, 2, 1, "max", True)
    fig = pooling_figs.matrix_figure(x, cells, "max", (0, 1), (1, 1))
    rects = [s for s in fig.layout.shapes if s.line.color == pooling_figs.WINDOW_COLOUR]
    assert len(rects) == 1 and (rects[0].x0, rects[0].x1, rects[0].y0, rects[0].y1) == (0.5, 3.5, -1.5, 1.5)
    gold = [s for s in fig.layout.shapes if s.fillcolor and "255,191,0" in s.fillcolor]
    assert (gold[0].x0 + 0.5, gold[0].y0 + 0.5) == (cells[1].winner[1], cells[1].winner[0])
    winners = next(t for t in fig.data if t.name == "max winners")
    assert sorted(zip(winners.y, winners.x)) == sorted({c.winner for c in cells})
    assert pooling_figs.output_figure(pooling.pool2d(x, 2), (1, 1)).layout.shapes
    effects = pooling.translation_effect(x, 2)
    fig = pooling_figs.translation_figure(effects)
    assert len(fig.data) == 2 and "unchanged" in fig.layout.annotations[0].text
    rows = pooling.receptive_field_growth((32, 32), pooling.conv_pool_stack(2))
    fig = pooling_figs.receptive_field_figure(np.zeros((3, 32, 32)), rows)
    assert [t.name for t in fig.data[1:]] == [f"{r.name}: {r.size}×{r.size}" for r in rows]
