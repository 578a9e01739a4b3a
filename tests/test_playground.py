"""vizcore.playground and vizcore.figures.playground: the formula, padding, activations, display
mappings and figure builders of the Kernel Playground, checked against vizcore.conv and PyTorch."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from vizcore import conv, playground as pg
from vizcore.figures import playground as pg_figs

FAST = settings(max_examples=80, deadline=None)


@FAST
@given(n=st.integers(1, 40), k=st.integers(1, 7), before=st.integers(0, 4), after=st.integers(0, 4),
       stride=st.integers(1, 4), dilation=st.integers(1, 3))
def test_size_formula_ends_in_the_true_output_size(n, k, before, after, stride, dilation):
    if dilation * (k - 1) + 1 > n + before + after:
        return
    text = pg.size_formula(n, k, before, after, stride, dilation, "H")
    x = pg.pad_array(np.zeros((n, 1)), (before, after, 0, 0))
    out = conv.correlate2d(x, np.ones((k, 1)), stride=(stride, 1), dilation=(dilation, 1))
    assert text.endswith(f"= {out.shape[0]}")
    assert f"({n} + " in text and f"/ {stride}⌋" in text


@FAST
@given(h=st.integers(1, 6), w=st.integers(1, 6), pads=st.tuples(*[st.integers(0, 6)] * 4),
       mode=st.sampled_from(pg.PADDING_MODES))
def test_pad_array_is_torch_pad_or_a_clear_error(h, w, pads, mode):
    x = np.random.default_rng(0).integers(0, 9, size=(h, w)).astype(float)
    top, bottom, left, right = pads
    torch_mode = {"zeros": "constant"}.get(mode, mode)
    try:
        expected = F.pad(torch.tensor(x)[None, None], (left, right, top, bottom), mode=torch_mode)[0, 0].numpy()
    except (RuntimeError, ValueError, NotImplementedError):
        with pytest.raises(pg.PlaygroundError, match="(padding|wrap)"):
            pg.pad_array(x, pads, mode)
        return
    np.testing.assert_array_equal(pg.pad_array(x, pads, mode), expected)


@pytest.mark.parametrize("name, reference", [
    ("none", lambda t: t), ("ReLU", torch.relu), ("sigmoid", torch.sigmoid), ("tanh", torch.tanh),
    ("abs", torch.abs),
])
def test_activations_match_torch(name, reference):
    y = np.linspace(-800, 800, 101)
    np.testing.assert_allclose(pg.activate(y, name), reference(torch.tensor(y)).numpy(), atol=1e-12)


def test_display_mappings():
    y = np.array([[-50.0, 0.0], [100.0, 300.0]])
    np.testing.assert_array_equal(pg.for_display(y, "raw"), y)
    np.testing.assert_array_equal(pg.for_display(y, "absolute"), np.abs(y))
    np.testing.assert_array_equal(pg.for_display(y, "clipped 0..255"), [[0, 0], [100, 255]])
    stretched = pg.for_display(y, "min-max")
    assert stretched.min() == 0 and stretched.max() == pytest.approx(255)
    assert (pg.for_display(np.full((2, 3, 3), 7.0), "min-max") == 0).all()  # a flat map stays flat
    per_map = pg.for_display(np.stack([y, 2 * y]), "min-max")  # each map stretched on its own
    np.testing.assert_allclose(per_map[0], per_map[1], atol=1e-4)
    with pytest.raises(pg.PlaygroundError):
        pg.for_display(y, "sepia")


def test_heatmap_figure_carries_the_values_and_a_centred_colour_bar():
    z = np.arange(-6.0, 6.0).reshape(3, 4)
    fig = pg_figs.heatmap_figure(z, diverging=True, colorbar_title="value", show_values=True, title="t")
    trace = fig.data[0]
    np.testing.assert_array_equal(trace.z, z)
    assert trace.zmin == -6 and trace.zmax == 6 and trace.colorbar.title.text == "value"
    assert trace.text[0][0] == "-6" and fig.layout.yaxis.autorange == "reversed"
    big = pg_figs.heatmap_figure(np.zeros((100, 100)))
    assert big.data[0].z.dtype == np.float32 and big.data[0].zmin is None


def test_response_figure_scales():
    z = np.array([[-10.0, 5.0]])
    assert pg_figs.response_figure(z, "raw", robust=False).data[0].zmin == -10
    robust = pg_figs.response_figure(z, "raw").data[0]  # default: 1st-99th percentile, centred on 0
    assert robust.zmin == -robust.zmax and robust.zmax == pytest.approx(-np.percentile(z, 1))
    clipped = pg_figs.response_figure(z, "clipped 0..255").data[0]
    assert (clipped.zmin, clipped.zmax) == (0, 255)
    assert clipped.colorscale[0][1].replace(" ", "") == "rgb(0,0,0)"  # gray: black at 0


def test_matrix_figure_draws_padding_ring_window_and_holes():
    x = np.arange(16.0).reshape(4, 4)
    pads = (1, 1, 1, 1)
    padded = pg.pad_array(x, pads)
    exp = conv.explain_cell(x, np.ones((2, 2)), 0, 1, stride=1, padding=1, dilation=2)
    taps = [(t.padded_row, t.padded_col) for t in exp.terms]
    fig = pg_figs.matrix_figure(padded, pads, taps, weights=np.ones((2, 2)), title="m")
    kind = np.asarray(fig.data[0].z)
    assert kind.shape == (6, 6)
    assert kind[0, 0] == 1 and kind[5, 3] == 1  # the padding ring
    assert kind[0, 1] == 3 and kind[2, 3] == 2  # taps on padding and on the input
    assert kind[1, 2] == 0  # the hole between dilated taps stays plain input
    assert list(fig.data[0].y)[0] == -1 and list(fig.data[0].x)[-1] == 4
    assert fig.layout.shapes[0].x0 == -0.5 and fig.layout.shapes[0].x1 == 2.5


def test_output_figure_outlines_the_cell():
    fig = pg_figs.output_figure(np.arange(6.0).reshape(2, 3), (1, 2))
    shape = fig.layout.shapes[0]
    assert (shape.x0, shape.x1, shape.y0, shape.y1) == (1.5, 2.5, 0.5, 1.5)


def test_row_of_maps_shares_one_colour_bar():
    maps = [np.full((4, 4), v) for v in (-1.0, 2.0, 3.0)]
    fig = pg_figs.row_of_maps(maps, ["a", "b", "c"])
    assert len(fig.data) == 3 and [t.showscale for t in fig.data] == [False, False, True]
    assert {t.zmin for t in fig.data} == {-3.0} and {t.zmax for t in fig.data} == {3.0}
    domains = [fig.layout[f"xaxis{'' if n == 0 else n + 1}"].domain for n in range(3)]
    assert all(a[1] < b[0] for a, b in zip(domains, domains[1:]))
    assert [a.text for a in fig.layout.annotations] == ["a", "b", "c"]


def test_signal_figure_and_picture_figure():
    fig = pg_figs.signal_figure(np.arange(5.0), np.array([1.0, 2.0]), np.array([1.0, 3.0]))
    assert [t.name for t in fig.data] == ["input", "output"] and list(fig.data[1].x) == [1, 3]
    rgb = pg_figs.picture_figure(np.zeros((3, 4, 5)))
    assert rgb.data[0].type == "image" and np.asarray(rgb.data[0].z).shape == (4, 5, 3)
    gray = pg_figs.picture_figure(np.full((4, 5), 300.0))
    assert gray.data[0].type == "heatmap" and gray.data[0].z.max() == 255


# --- issue 17: a kernel's numbers fit their cells at 1280×720, in Presenter mode too -------------

def _kernel_cases():
    from vizcore import kernels
    cases = [(name, kernels.preset_kernel(name)) for name in kernels.PRESETS]
    rng = np.random.default_rng(17)
    for side in (3, 5, 7, 9):
        cases.append((f"random {side}", rng.normal(size=(side, side))))
        cases.append((f"integers {side}", rng.integers(-9, 10, (side, side)).astype(float)))
    return cases


@pytest.mark.parametrize("name, kernel", _kernel_cases(), ids=[c[0] for c in _kernel_cases()])
def test_kernel_numbers_fit_their_cells(name, kernel):
    from vizcore.figures import style
    fig = pg_figs.kernel_figure(kernel, title="Kernel", height=320)
    trace, layout = fig.data[0], fig.layout
    rows, cols = kernel.shape
    # the grid's square cells: the figure's height or the width the page gives it, whichever is less
    cell = min((layout.height - layout.margin.t - layout.margin.b) / rows, pg_figs.KERNEL_PLOT_PX / cols)
    if trace.text is None:  # no numbers: then the colour bar says what the colours mean
        assert trace.showscale is not False and trace.colorbar.title.text
        assert max(rows, cols) > 5 or name.startswith("random"), f"{name}: a small kernel without numbers"
        return
    size = trace.textfont.size
    assert size >= style.MIN_FONT_SIZE
    for presenter, cell_now, size_now in ((False, cell, size), (True, cell, size * style.PRESENTER_SCALE)):
        widest = max(style.text_width(t, size_now) for row in trace.text for t in row)
        assert widest <= 0.9 * cell_now, f"{name}, presenter={presenter}: {widest:.0f} px in a {cell_now:.0f} px cell"
        assert 1.2 * size_now <= cell_now
    assert all(len(t) <= 4 for row in trace.text for t in row)


def test_a_5x5_gaussian_writes_short_numbers():
    from vizcore import kernels
    trace = pg_figs.kernel_figure(kernels.preset_kernel("Gaussian blur"), title="Kernel 5×5").data[0]
    assert trace.text is not None and trace.text[2][2] == ".162" and trace.text[0][0] == ".003"
