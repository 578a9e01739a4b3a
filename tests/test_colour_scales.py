"""Colour scales that say what they show: robust ranges checked against numpy's percentiles,
signed data centred on 0, the same value the same colour within a figure, shared or per-panel
scales as stated, and a |change| scale that never wraps."""
import numpy as np
import plotly.colors
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vizcore import pooling
from vizcore.figures import features as feature_figs, playground as pg_figs, pooling as pooling_figs, style

values = arrays(np.float64, st.tuples(st.integers(1, 20), st.integers(1, 20)),
                elements=st.floats(-1e4, 1e4, allow_nan=False))


@settings(max_examples=80, deadline=None)
@given(values, st.booleans(), st.booleans())
def test_colour_range_against_numpy(z, diverging, robust):
    r = style.colour_range(z, diverging=diverging, robust=robust)
    assert (r.data_min, r.data_max) == (z.min(), z.max())
    low, high = np.percentile(z, [1, 99]) if robust else (z.min(), z.max())
    if robust and high <= low:
        low, high = z.min(), z.max()
    if diverging:
        bound = max(abs(low), abs(high)) or max(abs(z.min()), abs(z.max())) or 1.0
        assert r.zmin == -r.zmax == pytest.approx(-bound)
    elif high > low:
        assert (r.zmin, r.zmax) == pytest.approx((low, high))
    assert r.zmin < r.zmax
    assert r.below == (z < r.zmin).sum() and r.above == (z > r.zmax).sum()
    if not robust:
        assert r.clipped == 0


def test_a_few_extreme_values_do_not_wash_out_a_raw_output():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 20, (100, 100))
    z[:3, :3] = 1000  # the strongest edges of a photo
    fig = pg_figs.response_figure(z, "raw")
    trace = fig.data[0]
    assert trace.zmin == -trace.zmax < 100  # the scale follows the bulk, centred on 0
    r = pg_figs.response_range(z, "raw")
    assert r.above >= 9 and r.data_max == 1000
    assert trace.colorbar.ticktext[-1].startswith("≥") and trace.colorbar.title.text == "value"
    assert "True range" in r.describe() and "1,000" in r.describe()
    assert pg_figs.response_figure(z, "raw", robust=False).data[0].zmax == 1000


@settings(max_examples=30, deadline=None)
@given(st.lists(arrays(np.float64, (4, 5), elements=st.floats(-1e4, 1e4, allow_nan=False)), min_size=2, max_size=4),
       st.booleans())
def test_shared_scale_is_one_range_per_figure_per_map_otherwise(maps, robust):
    shared = pg_figs.row_of_maps(maps, [str(k) for k in range(len(maps))], robust=robust)
    assert len({(t.zmin, t.zmax) for t in shared.data}) == 1  # same value, same colour
    assert sum(t.showscale is not False for t in shared.data) == 1
    assert "One colour scale" in shared.layout.title.text
    own = pg_figs.row_of_maps(maps, [str(k) for k in range(len(maps))], robust=robust, shared=False)
    assert "own colour scale" in own.layout.title.text
    for trace, m in zip(own.data, maps):
        # both signs centred on 0; one sign (issue 17) from min to max
        r = style.colour_range(m, diverging=style.two_signed(m), robust=robust)
        assert (trace.zmin, trace.zmax) == pytest.approx((r.zmin, r.zmax))
        assert trace.showscale is not False and trace.colorbar.title.text


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(2, 7), st.integers(2, 7)), elements=st.integers(-9, 9)),
       st.sampled_from(["max", "avg"]), st.integers(0, 1))
def test_pooling_input_and_output_colour_a_value_alike(x, mode, padding):
    windows = pooling.pool_windows(x, 2, 2, padding, mode)
    settings_ = pooling.check_settings(x.shape, 2, 2, padding, False)
    out = np.array([w.value for w in windows]).reshape(settings_.output_size)
    zrange = pooling_figs.value_range(x, out)
    fig_in = pooling_figs.matrix_figure(x, windows, mode, (0, 0), settings_.padding, zrange=zrange)
    fig_out = pooling_figs.output_figure(out, (0, 0), zrange=zrange)
    assert (fig_in.data[0].zmin, fig_in.data[0].zmax) == (fig_out.data[0].zmin, fig_out.data[0].zmax)
    assert fig_in.data[0].zmin <= min(x.min(), out.min()) and fig_in.data[0].zmax >= max(x.max(), out.max())
    # and without a given range the input figure already covers what the output shows
    default_in = pooling_figs.matrix_figure(x, windows, mode, (0, 0), settings_.padding).data[0]
    assert default_in.zmin <= out.min() and default_in.zmax >= out.max()


def _lightness(colour: str) -> float:
    r, g, b = plotly.colors.unlabel_rgb(plotly.colors.convert_colors_to_same_type(colour, "rgb")[0][0])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_change_scale_never_wraps_and_titles_fit():
    effects = pooling.translation_effect(np.random.default_rng(1).normal(size=(12, 12)), 2)
    fig = pooling_figs.translation_figure(effects)
    stops = fig.layout.coloraxis.colorscale
    light = [_lightness(c) for _, c in stops]
    assert all(a >= b for a, b in zip(light, light[1:])), "a sequential scale: from light to dark only"
    assert fig.layout.coloraxis.cmin == 0 and fig.layout.coloraxis.colorbar.title.text
    assert fig.layout.margin.t >= 70  # two-line subplot titles are not cut off
    assert all("<br>" in a.text for a in fig.layout.annotations)


def test_feature_map_overlay_shares_the_enlarged_maps_colours_and_shows_no_second_bar():
    m = np.random.default_rng(2).normal(size=(6, 6)).astype(np.float32)
    enlarged = feature_figs.enlarged_channel(m, position=(0, 0))
    over = feature_figs.overlay(np.zeros((12, 12)), m, first_centre=(1.0, 1.0), jump=(2, 2))
    heat = [t for t in over.data if t.type == "heatmap"][0]
    assert (heat.zmin, heat.zmax) == (enlarged.data[0].zmin, enlarged.data[0].zmax) == (m.min(), m.max())
    assert heat.showscale is False


# --- issue 17: one rule for data of one sign or of both ----------------------------------------

def _one_signed(sign):
    low, high = (0.0, 1e4) if sign > 0 else (-1e4, 0.0)
    return arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 12)),
                  elements=st.floats(low, high, allow_nan=False))


two_signed_maps = arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(2, 12)),
                         elements=st.floats(-1e4, 1e4, allow_nan=False)).filter(style.two_signed)
one_signed_maps = st.sampled_from([1, -1]).flatmap(_one_signed)


def _is_diverging(colorscale) -> bool:
    if isinstance(colorscale, str):
        return colorscale == style.DIVERGING
    stops = [(round(float(p), 6), c.replace(" ", "")) for p, c in plotly.colors.get_colorscale(style.DIVERGING)]
    return [(round(float(p), 6), c.replace(" ", "")) for p, c in colorscale] == stops


def _check(colorscale, zmin, zmax, z, crange=None):
    """Both signs: the diverging scale centred on 0; one sign: a sequential scale spanning min..max.
    A map flat in float32 (the maps' type on the page: -1e-109 and 0 are both 0 there) gets a
    small range around its value."""
    flat = np.float32(z.min()) == np.float32(z.max())
    if style.two_signed(z):
        assert _is_diverging(colorscale) and zmin == pytest.approx(-zmax) and zmax > 0
    else:
        assert not _is_diverging(colorscale)
        if crange is None:  # the full range, nothing of the bar unused
            assert zmin == pytest.approx(z.min()) or flat
            assert zmax == pytest.approx(z.max()) or flat
        tol = style.SIGN_TOLERANCE * np.abs(z).max()
        assert zmin < zmax and (zmin >= -tol or zmax <= tol or flat)


@settings(max_examples=60, deadline=None)
@given(st.one_of(two_signed_maps, one_signed_maps))
def test_colour_scale_for_one_rule(z):
    scale = style.colour_scale_for(z)
    tol = style.SIGN_TOLERANCE * np.abs(z).max()
    assert scale.diverging == style.two_signed(z) == bool(z.min() < -tol and z.max() > tol)
    _check(scale.colorscale, scale.zmin, scale.zmax, z)


@settings(max_examples=40, deadline=None)
@given(st.one_of(two_signed_maps, one_signed_maps), st.booleans())
@example(np.array([[-1.13861284e-109, 0.0]]), True)  # flat once made float32
def test_every_builder_follows_the_rule(z, robust):
    """response_figure, response_range, heatmap_figure, kernel_figure, row_of_maps (shared and
    each map on its own), style.heatmap and the feature-map grids all colour by colour_scale_for."""
    for trace in (pg_figs.heatmap_figure(z, diverging=True).data[0], pg_figs.kernel_figure(z).data[0],
                  style.heatmap(z, diverging=True).data[0]):
        _check(trace.colorscale, trace.zmin, trace.zmax, z)
    raw = pg_figs.response_figure(z, "raw", robust=robust).data[0]
    r = pg_figs.response_range(z, "raw", robust=robust)
    assert (raw.zmin, raw.zmax) == pytest.approx((r.zmin, r.zmax))
    _check(raw.colorscale, raw.zmin, raw.zmax, z, crange=r if robust else None)
    shared = pg_figs.row_of_maps([z, z], ["a", "b"], robust=robust)
    for trace in shared.data:
        _check(trace.colorscale, trace.zmin, trace.zmax, z, crange=True if robust else None)
    own = pg_figs.row_of_maps([z, -z], ["a", "b"], shared=False)
    for trace, m in zip(own.data, [z, -z]):
        _check(trace.colorscale, trace.zmin, trace.zmax, m)
    grid = feature_figs.channel_grid(z[None], diverging=True).data[0]
    _check(grid["colorscale"], grid["zmin"], grid["zmax"], z)
    weights = feature_figs.filter_grid(z[None, None]).data[0]
    _check(weights["colorscale"], weights["zmin"], weights["zmax"], z)


def test_a_blurred_photo_is_gray_not_red():
    """Issue 17: a blur's output (all ≥ 0) on the diverging scale was all red, half its bar unused."""
    from vizcore import conv, kernels

    photo = np.random.default_rng(3).uniform(0, 255, (40, 40))
    out = conv.correlate2d(photo, kernels.preset_kernel("Gaussian blur"))
    trace = pg_figs.response_figure(out, "raw").data[0]
    assert trace.zmin > 0 and trace.colorscale[0][1].replace(" ", "") == "rgb(0,0,0)"
    kernel = pg_figs.kernel_figure(kernels.preset_kernel("Gaussian blur")).data[0]
    assert kernel.zmin > 0 and not _is_diverging(kernel.colorscale)
    edges = pg_figs.response_figure(conv.correlate2d(photo, kernels.preset_kernel("Sobel x")), "raw").data[0]
    assert _is_diverging(edges.colorscale) and edges.zmin == -edges.zmax
