"""One figure style for the whole app: every figure builder in vizcore uses the app's template,
titles every colour bar it shows and writes no text smaller than a projector can show.

`BUILDERS` lists every builder with a small typical input; a new builder gets a line here.
"""
import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from vizcore import pooling, shapes
from vizcore.figures import (features as feature_figs, perturbation as pp_figs, playground as pg_figs,
                             pooling as pooling_figs, shapes as shape_figs, style, training as training_figs)
from vizcore.features import SOFTMAX, Window
from vizcore.train import History

rng = np.random.default_rng(0)
SIGNED = rng.normal(size=(6, 7))
PHOTO = rng.integers(0, 256, (3, 12, 10)).astype(float)
HISTORY = History(batch_epoch=[0.5, 1.0, 1.5, 2.0], batch_loss=[2.0, 1.5, 1.0, 0.8], epoch=[1, 2],
                  train_loss=[1.5, 0.9], train_accuracy=[0.5, 0.7], val_loss=[1.4, 1.0], val_accuracy=[0.55, 0.65])
POOL_X = rng.integers(0, 9, (5, 5)).astype(float)
WINDOW = Window(1, 1, 4, 4)
PATCH = (rng.integers(0, 256, (3, 3)), 4, 1.5, WINDOW)


def _acts():
    return {"conv1": rng.normal(size=(4, 6, 6)), "flatten": rng.normal(size=(20,)),
            SOFTMAX: np.full(3, 1 / 3)}


BUILDERS = {
    "style.heatmap": lambda: style.heatmap(SIGNED, diverging=True, title="t"),
    "style.heatmap values": lambda: style.heatmap(SIGNED, show_values=True),
    "style.image": lambda: style.image(PHOTO, title="photo"),
    "pg_figs.heatmap_figure": lambda: pg_figs.heatmap_figure(SIGNED, title="t"),
    "pg_figs.response_figure raw": lambda: pg_figs.response_figure(SIGNED * 1000, "raw", title="t"),
    "pg_figs.response_figure min-max": lambda: pg_figs.response_figure(SIGNED, "min-max", title="t"),
    "pg_figs.response_row": lambda: pg_figs.response_row([SIGNED, 2 * SIGNED], ["a", "b"], "raw"),
    "pg_figs.kernel_figure": lambda: pg_figs.kernel_figure(SIGNED[:3, :3], title="k"),
    "pg_figs.picture_figure gray": lambda: pg_figs.picture_figure(PHOTO[0], title="in"),
    "pg_figs.picture_figure rgb": lambda: pg_figs.picture_figure(PHOTO, title="in"),
    "pg_figs.row_of_maps": lambda: pg_figs.row_of_maps([SIGNED, SIGNED], ["a", "b"]),
    "pg_figs.matrix_figure": lambda: pg_figs.matrix_figure(
        np.pad(SIGNED, 1), (1, 1, 1, 1), [(0, 0), (0, 1), (1, 0), (1, 1)], title="m",
        weights=np.ones((2, 2))),
    "pg_figs.output_figure": lambda: pg_figs.output_figure(SIGNED, (0, 0), title="o"),
    "pg_figs.signal_figure": lambda: pg_figs.signal_figure(
        np.arange(6.0), np.arange(4.0), np.arange(4) + 1.0, title="s"),
    "pooling_figs.matrix_figure": lambda: pooling_figs.matrix_figure(
        POOL_X, pooling.pool_windows(POOL_X, 2, padding=1), "max", (0, 0), padding=(1, 1)),
    "pooling_figs.output_figure": lambda: pooling_figs.output_figure(pooling.pool2d(POOL_X, 2), (0, 0)),
    "pooling_figs.map_figure photo": lambda: pooling_figs.map_figure(PHOTO, title="photo"),
    "pooling_figs.map_figure map": lambda: pooling_figs.map_figure(SIGNED, title="map"),
    "pooling_figs.translation_figure": lambda: pooling_figs.translation_figure(
        pooling.translation_effect(rng.normal(size=(8, 8)), 2)),
    "pooling_figs.receptive_field_figure": lambda: pooling_figs.receptive_field_figure(
        PHOTO, pooling.receptive_field_growth((12, 10), pooling.conv_pool_stack(2))),
    "shape_figs.kernel_positions_figure": lambda: shape_figs.kernel_positions_figure(5, 5, 3, 1, 1),
    "shape_figs.params_figure": lambda: shape_figs.params_figure(shapes.summarize(shapes.PRESETS["LeNet-5"],
                                                                              shapes.PRESET_INPUTS["LeNet-5"])),
    "feature_figs.channel_grid shared": lambda: feature_figs.channel_grid(rng.normal(size=(4, 5, 5)), title="t"),
    "feature_figs.channel_grid per channel": lambda: feature_figs.channel_grid(
        rng.normal(size=(4, 5, 5)), shared_scale=False),
    "feature_figs.filter_grid": lambda: feature_figs.filter_grid(rng.normal(size=(4, 2, 3, 3)), title="t"),
    "feature_figs.filters_in_colour": lambda: feature_figs.filters_in_colour(rng.normal(size=(4, 3, 3, 3))),
    "feature_figs.overlay": lambda: feature_figs.overlay(
        PHOTO.transpose(1, 2, 0), rng.normal(size=(5, 4)), first_centre=(1.0, 1.0), jump=(2, 2), window=WINDOW),
    "feature_figs.enlarged_channel": lambda: feature_figs.enlarged_channel(
        rng.normal(size=(5, 5)), position=(1, 1), clickable=True, title="t"),
    "feature_figs.drawing_canvas": lambda: feature_figs.drawing_canvas(np.zeros((8, 8))),
    "feature_figs.network_overview": lambda: feature_figs.network_overview(
        PHOTO[0], _acts(), classes=["a", "b", "c"]),
    "feature_figs.probabilities_bar": lambda: feature_figs.probabilities_bar([("a", 0.7), ("b", 0.3)]),
    "feature_figs.patches_grid": lambda: feature_figs.patches_grid([PATCH, PATCH], title="t"),
    "pp_figs.coefficient_bars": lambda: pp_figs.coefficient_bars(rng.normal(size=9), top=[0, 3],
                                                             title="What each superpixel adds to p(cat)"),
    "training_figs.learning_curves": lambda: training_figs.learning_curves({"run": HISTORY}),
    "training_figs.confusion_figure": lambda: training_figs.confusion_figure(
        np.array([[3, 1], [0, 4]]), ["a", "b"], title="c"),
    "training_figs.misclassified_figure": lambda: training_figs.misclassified_figure(
        rng.integers(0, 256, (2, 1, 8, 8)), ["a", "b"], ["b", "a"], [0.6, 0.7]),
}


def _font_sizes(node, path=""):
    """(path, size) of every explicit font size in a figure dict, the template left out."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "template":
                continue
            if key in ("font", "textfont", "tickfont") and isinstance(value, dict) and "size" in value:
                yield f"{path}.{key}", value["size"]
            yield from _font_sizes(value, f"{path}.{key}")
    elif isinstance(node, (list, tuple)):
        for k, item in enumerate(node):
            yield from _font_sizes(item, f"{path}[{k}]")


def _shown_colorbars(spec):
    """Title text of every colour bar the figure shows (trace bars and colour axes)."""
    layout = spec["layout"]
    axes_in_use = set()
    for trace in spec["data"]:
        if trace.get("type") not in ("heatmap", "contour", "histogram2d"):
            continue
        if trace.get("coloraxis"):
            axes_in_use.add(trace["coloraxis"])
            continue
        if trace.get("showscale", True):
            yield trace.get("name") or trace["type"], ((trace.get("colorbar") or {}).get("title") or {}).get("text")
    for name in axes_in_use:
        axis = layout.get(name, {})
        if axis.get("showscale", True):
            yield name, ((axis.get("colorbar") or {}).get("title") or {}).get("text")


@pytest.fixture(scope="module")
def built():
    return {name: build() for name, build in BUILDERS.items()}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_figure_uses_the_app_template(built, name):
    fig = built[name]
    assert isinstance(fig, go.Figure)
    spec = fig.to_dict()
    assert spec["layout"].get("template") == style.TEMPLATE.to_plotly_json(), name
    # ... and it survives Plotly's validation (figures built from dicts skip it on the page)
    assert go.Figure(spec).layout.template == pio.templates["vizcore"]


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_colour_bar_is_titled(built, name):
    for trace, title in _shown_colorbars(built[name].to_dict()):
        assert title and title.strip(), f"{name}: the colour bar of {trace} has no title"


# The toolbar's band, measured in Chromium (tests/test_lime_page.py checks it there); a title's
# text box starts about 5 px above its pad.t
TOOLBAR_BOTTOM_PX = 29.2


def title_clear_of_toolbar(spec: dict) -> bool:
    """Whether a figure's title (if any) starts below Plotly's toolbar: it keeps the template's
    place (no y, yref or pad of its own), and the template's puts it ``pad.t`` below the top edge
    (automargin pins a container-referenced title to the top; plotly.js adds pad.t there)."""
    title = spec["layout"].get("title") or {}
    if not title.get("text"):
        return True
    own = {"y", "yref", "yanchor", "pad"} & title.keys()
    template = spec["layout"]["template"]["layout"]["title"]
    return (not own and template.get("automargin") and template.get("yref", "container") == "container"
            and template["pad"]["t"] - 5 >= TOOLBAR_BOTTOM_PX)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_title_starts_below_the_toolbar(built, name):
    assert title_clear_of_toolbar(built[name].to_dict()), name
    assert title_clear_of_toolbar(style.for_presenter(built[name]).to_dict()), name


@pytest.mark.parametrize("name", list(BUILDERS))
def test_no_text_below_projector_size(built, name):
    small = [(path, size) for path, size in _font_sizes(built[name].to_dict()) if size < style.MIN_FONT_SIZE]
    assert not small, f"{name}: text smaller than {style.MIN_FONT_SIZE} px: {small}"


def test_template_sizes_for_the_back_row():
    t = style.TEMPLATE.layout
    assert t.xaxis.tickfont.size >= 14 and t.yaxis.tickfont.size >= 14 and t.legend.font.size >= 14
    assert t.title.font.size > t.font.size >= t.xaxis.tickfont.size
    assert t.title.automargin and t.xaxis.automargin and t.yaxis.automargin
    assert t.coloraxis.colorbar.tickfont.size >= 14 and t.annotationdefaults.font.size >= 14
    dark = [int(t.font.color[k:k + 2], 16) for k in (1, 3, 5)]
    assert max(dark) < 80  # near-black text, not Plotly's grey #444


@pytest.mark.parametrize("name", ["style.heatmap", "feature_figs.network_overview", "pooling_figs.translation_figure",
                                  "training_figs.learning_curves"])
def test_presenter_enlarges_every_font(built, name):
    fig = built[name]
    big = style.for_presenter(fig)
    before, after = dict(_font_sizes(fig.to_dict())), dict(_font_sizes(big.to_dict()))
    assert before.keys() == after.keys()
    assert all(after[path] > size for path, size in before.items())
    assert big.to_dict()["layout"]["template"] == style.PRESENTER_TEMPLATE.to_plotly_json()
    assert style.PRESENTER_TEMPLATE.layout.xaxis.tickfont.size > style.TEMPLATE.layout.xaxis.tickfont.size
    # the data are untouched
    assert [t.get("z") for t in big.to_dict()["data"]] == [t.get("z") for t in fig.to_dict()["data"]]


def test_colorbar_helper_refuses_an_untitled_bar():
    with pytest.raises(ValueError):
        style.colorbar("")


# --- issue 17: readable at 1280×720 ----------------------------------------------------------------

def test_confusion_matrix_title_and_axis_title_do_not_meet():
    fig = training_figs.confusion_figure(np.eye(10, dtype=int), [str(k) for k in range(10)],
                                         title="Confusion matrix (test images)")
    # the title on top, the "predicted class" axis (its title and labels) at the bottom
    assert fig.layout.xaxis.side == "bottom" and fig.layout.xaxis.title.text == "predicted class"
    assert fig.layout.title.text and fig.layout.margin.t >= 40


def test_saliency_colour_bars_have_few_horizontal_ticks_at_template_size():
    from vizcore.figures import saliency as saliency_figs
    heat = rng.uniform(0, 0.04, (10, 10))
    for side in ("bottom", "right"):
        bar = saliency_figs.overlay(PHOTO[0], heat, colorbar_title="weighted maps", colorbar_side=side).data[1].colorbar
        assert bar.tickangle == 0 and bar.nticks <= 4 and bar.tickformat
        if side == "bottom":
            assert bar.orientation == "h" and bar.title.side == "top"
            assert bar.tickfont.size >= style.TICK_SIZE and bar.len == 1
    panels = saliency_figs.side_by_side(PHOTO[0], {"a": heat, "b": -heat}, signed=True)
    for trace in panels.data:
        if trace.type == "heatmap":
            assert trace.colorbar.tickangle == 0 and trace.colorbar.nticks <= 3


def _overview_columns(fig, acts: dict) -> list[tuple[bool, list, list]]:
    """(is a picture or map, x domain, y domain) of every column of a network overview."""
    kinds = [True] + [np.ndim(a) == 3 for a in acts.values()]
    return [(kind, list(fig.layout[f"xaxis{k or ''}"].domain), list(fig.layout[f"yaxis{k or ''}"].domain))
            for k, kind in zip([0] + list(range(2, len(acts) + 2)), kinds)]


def test_network_overview_wraps_a_deep_network_so_its_maps_stay_wide():
    """Issue 25: the ImageNet network's 19 stages on one row left thumbnails of 28 px; they wrap
    onto rows on which every map column is at least MIN_MAP_PX wide, one row under the other."""
    acts = {f"block{k}": rng.normal(size=(8, 14, 14)) for k in range(19)}
    acts.update({"flatten": rng.normal(size=(64,)), "fc": rng.normal(size=(10,)), SOFTMAX: np.full(10, 0.1)})
    fig = feature_figs.network_overview(PHOTO.transpose(1, 2, 0), acts, classes=list("abcdefghij"))
    columns = _overview_columns(fig, acts)
    width = feature_figs.OVERVIEW_WIDTH_PX
    assert min((x[1] - x[0]) * width for is_map, x, _ in columns if is_map) >= feature_figs.MIN_MAP_PX - 0.5
    rows = sorted({tuple(y) for _, _, y in columns}, reverse=True)
    assert len(rows) >= 2
    assert all(upper[0] > lower[1] for upper, lower in zip(rows, rows[1:])), "two rows overlap"
    for row in rows:  # on a row the columns run left to right without overlapping
        xs = [x for _, x, y in columns if tuple(y) == row]
        assert all(a[1] <= b[0] for a, b in zip(xs, xs[1:]))
    # a title sits on its own row's top
    assert {a.y for a in fig.layout.annotations} == {row[1] for row in rows}


def test_network_overview_of_a_small_network_keeps_one_row():
    """The digits model (6 maps, 6 vectors) fits one row at MIN_MAP_PX, as tall as its six stacked
    maps are wide (not 620 px of which they filled two thirds)."""
    acts = {name: rng.normal(size=shape) for name, shape in [
        ("conv1", (16, 28, 28)), ("relu1", (16, 28, 28)), ("pool1", (16, 14, 14)), ("conv2", (32, 10, 10)),
        ("relu2", (32, 10, 10)), ("pool2", (32, 5, 5)), ("flatten", (800,)), ("fc1", (120,)), ("relu3", (120,)),
        ("fc2", (84,)), ("relu4", (84,)), ("fc3", (10,)), (SOFTMAX, (10,))]}
    fig = feature_figs.network_overview(rng.integers(0, 256, (28, 28)), acts, classes=list("0123456789"))
    columns = _overview_columns(fig, acts)
    assert {tuple(y) for _, _, y in columns} == {(0, 1)}
    map_px = (columns[1][1][1] - columns[1][1][0]) * feature_figs.OVERVIEW_WIDTH_PX
    plot_px = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    assert 6 * map_px <= plot_px <= 6 * map_px * 1.3


def test_network_overview_for_a_phone_keeps_its_titles_apart_and_a_line_per_class():
    """Issue 25: laid out for a phone's column (one row, at PHONE_OVERVIEW_WIDTH_PX), no two column
    titles overlap, "100%" fits its column and each class's percentage gets a line of its own."""
    acts = {name: rng.normal(size=shape) for name, shape in [
        ("conv1", (16, 28, 28)), ("relu1", (16, 28, 28)), ("pool1", (16, 14, 14)), ("conv2", (32, 10, 10)),
        ("relu2", (32, 10, 10)), ("pool2", (32, 5, 5)), ("flatten", (800,)), ("fc1", (120,)), ("relu3", (120,)),
        ("fc2", (84,)), ("relu4", (84,)), ("fc3", (10,))]}
    acts[SOFTMAX] = np.eye(10)[3]  # "100%": the widest percentage
    width = feature_figs.PHONE_OVERVIEW_WIDTH_PX
    fig = feature_figs.network_overview(rng.integers(0, 256, (28, 28)), acts, classes=list("0123456789"),
                                        max_channels=4, width_px=width, min_map_px=0)
    size = feature_figs.SMALL_FONT * style.PRESENTER_SCALE  # Presenter mode: the largest text
    boxes = []
    for a in fig.layout.annotations:
        w = max(style.text_width(line, size) for line in a.text.split("<br>"))
        boxes.append((a.x * width - w / 2, a.x * width + w / 2, a.yshift or 0))
    assert all(left >= -1 and right <= width + 1 for left, right, _ in boxes)
    for i, (l1, r1, y1) in enumerate(boxes):
        assert all(y1 != y2 or r1 <= l2 or r2 <= l1 for l2, r2, y2 in boxes[i + 1:]), "two titles overlap"
    softmax = fig.layout[f"xaxis{len(acts) + 1}"].domain
    assert (softmax[1] - softmax[0]) * width >= style.text_width("100%", size)
    plot_px = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    assert plot_px >= 10 * 1.25 * size - 1  # (the figure's height is a whole number of px)


def test_network_overview_titles_of_a_64x64_model_never_overlap():
    """A 64×64 model has twenty narrow columns: titles overlapped ("16×64×6416×64×64")."""
    acts = {}
    for stage, (c, side) in enumerate([(16, 64), (32, 32), (64, 16)], start=1):
        for part in ("conv", "bn", "relu"):
            acts[f"{part}{stage}"] = rng.normal(size=(c, side, side))
        acts[f"pool{stage}"] = rng.normal(size=(c, side // 2, side // 2))
    acts.update({"flatten": rng.normal(size=(4096,)), "fc1": rng.normal(size=(64,)), "fc2": rng.normal(size=(8,)),
                 SOFTMAX: np.full(8, 1 / 8)})
    classes = ["circle", "square", "triangle", "star", "cross", "ring", "heart", "crescent"]
    fig = feature_figs.network_overview(PHOTO.transpose(1, 2, 0), acts, classes=classes)
    width = feature_figs.OVERVIEW_WIDTH_PX
    size = feature_figs.SMALL_FONT * style.PRESENTER_SCALE  # Presenter mode: the largest text
    boxes = []
    for a in fig.layout.annotations:
        w = max(style.text_width(line, size) for line in a.text.split("<br>"))
        left = a.x * width - w / 2
        assert left >= -1 and left + w <= width + 1, f"{a.text} runs past the figure"
        boxes.append((left, left + w, (a.y, a.yshift or 0)))  # a row of columns, a line of its titles
    for i, (l1, r1, y1) in enumerate(boxes):
        for l2, r2, y2 in boxes[i + 1:]:
            assert y1 != y2 or r1 <= l2 or r2 <= l1, "two column titles on one row overlap"
    assert fig.layout.margin.t >= 20 + (max(b[2][1] for b in boxes if b[2][0] == 1.0) + 2 * 1.25 * size)
    softmax = fig.data[-1]
    assert softmax.texttemplate == "%{text}"  # the percentage in the cell, the class name beside it
    axis = fig.layout[f"yaxis{len(acts) + 1}"]
    assert axis.visible and axis.side == "right" and axis.automargin
    assert sum(1 for a in fig.layout.annotations if "<br>" in a.text) < len(acts)  # repeated shapes left out
