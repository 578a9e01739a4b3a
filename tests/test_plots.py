"""vizcore.figures.style: the shared figure builders show the data they are given, the way a lecture needs."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from vizcore.figures import style

finite = st.floats(-1e6, 1e6, allow_nan=False, width=32)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=finite))
def test_heatmap_keeps_values_and_centres_diverging_scale(z):
    fig = style.heatmap(z, diverging=True, colorbar_title="response")
    trace = fig.data[0]
    assert np.array_equal(np.asarray(trace.z, dtype=np.float32), z)
    if style.two_signed(z):  # both signs: centred on 0
        assert trace.zmin == -trace.zmax and trace.zmax >= np.abs(z).max()
    else:  # one sign (issue 17): a sequential scale from min to max
        assert trace.zmin <= z.min() and trace.zmax >= z.max() and trace.colorscale[0][1] != trace.colorscale[-1][1]
    assert trace.colorscale is not None and trace.colorbar.title.text == "response"
    assert fig.layout.yaxis.autorange == "reversed"  # row 0 at the top, like an image


def test_heatmap_writes_numbers_into_cells():
    z = np.array([[1.0, -2.5], [np.nan, 293.0]])
    trace = style.heatmap(z, show_values=True).data[0]
    assert list(trace.text[0]) == ["1", "-2.5"] and trace.text[1][1] == "293"
    assert trace.text[1][0] == "nan"


def test_heatmap_font_is_projector_sized():
    fig = style.heatmap(np.eye(3), title="t")
    assert fig.layout.font.size >= 16 and fig.layout.title.text == "t"


def test_image_accepts_pil_and_channel_first_arrays():
    chw = np.random.default_rng(0).uniform(0, 255, (3, 5, 7))
    fig = style.image(chw)
    assert np.asarray(fig.data[0].z).shape == (5, 7, 3)
    gray = style.image(Image.new("L", (7, 5), 100))
    assert np.asarray(gray.data[0].z).shape == (5, 7, 3)
    assert np.asarray(gray.data[0].z)[0, 0].tolist() == [100, 100, 100]


def test_lime_coefficient_bars_lie_flat_and_keep_the_strongest():
    """Horizontal bars, largest at the top, red raises and blue lowers; beyond max_bars only the
    strongest by |coefficient| are drawn and the axis says how many of how many."""
    from vizcore.figures import perturbation as pp

    coef = np.random.default_rng(3).normal(size=40)
    fig = pp.coefficient_bars(coef, top=[int(np.argmax(coef))], max_bars=24)
    bars = fig.data[0]
    assert bars.orientation == "h" and len(bars.y) == 24
    strongest = set(np.argsort(-np.abs(coef))[:24])
    assert {int(label[1:]) for label in bars.y} == strongest
    assert list(bars.x) == sorted(bars.x, reverse=True)
    assert [c == pp.POSITIVE for c in bars.marker.color] == [v > 0 for v in bars.x]
    assert "24 strongest of 40" in fig.layout.yaxis.title.text
    small = pp.coefficient_bars(coef[:5])
    assert small.layout.yaxis.title.text == "superpixel" and len(small.data[0].y) == 5
