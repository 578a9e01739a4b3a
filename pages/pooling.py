"""Pooling: max, average and global pooling on a number matrix or an image, with the
output-size formula, where every output value comes from, translation invariance and
receptive-field growth."""
from __future__ import annotations


import streamlit as st

from pages import route_through_app

# First, before the page's heavy imports (torch): a cold deep link's bare first run reruns at
# once inside app.py's frame, which starts the browser loading Plotly while torch loads.
route_through_app()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from pages._ui.figures import download_array, show_figure  # noqa: E402
from pages._ui.links import finish_link, link_state  # noqa: E402
from pages._ui.picture import image_input  # noqa: E402
from pages._ui.runs import content_hash  # noqa: E402
from pages._ui.state import drop_added_rows, keep_valid  # noqa: E402
from pages._ui.text import explain  # noqa: E402
from pages import _live  # noqa: E402
from vizcore import images, links, live_questions, pooling  # noqa: E402
from vizcore.figures import pooling as pooling_figs  # noqa: E402

MODES = {
    "Max pooling": ("max", False),
    "Average pooling": ("avg", False),
    "Global max pooling": ("max", True),
    "Global average pooling": ("avg", True),
}
# Matrices from the lecture decks; the results are always computed, never copied.
PRESETS = {
    "Lecture 7: 4×4 max-pooling example": [[0, 0, 1, 3], [0, 2, 2, 0], [1, 0, 5, 1], [0, 0, 0, 0]],
    "Convolution result 4×4 (6×6 image, 3×3 edge filter)": [
        [2, 7, 4, -7], [13, 17, -3, -6], [13, 14, -5, -5], [12, 8, -5, -1]],
    "Max vs. average pooling 4×4": [[1, 4, 2, 11], [6, 13, 8, 3], [10, 0, 17, 7], [9, 2, 3, 5]],
    "Feature map after ReLU 4×4": [
        [32.5, 0, 185.5, 54], [0, 104, 217.5, 31], [0, 224, 38.5, 0], [0, 213.5, 52.5, 37.5]],
    "Random integers": None,
}
VIEWS = ("Number matrix", "Image / feature map", "Translation invariance", "Receptive field growth")
SHIFTS = {"right": (0, 1), "down": (1, 0), "left": (0, -1), "up": (-1, 0)}
# What the address carries (a lecturer's link opens the same view); the widgets' start values.
LINK = links.LinkSpec([
    links.Choice("mode", "Max pooling", MODES, key="pool_mode"),
    links.Int("k", 2, 1, 16, key="pool_kernel"), links.Int("s", 2, 1, 16, key="pool_stride"),
    links.Int("p", 0, 0, 8, key="pool_padding"), links.Bool("ceil", False, key="pool_ceil"),
    links.Bool("countpad", True, key="pool_count_pad"),
    links.Choice("view", VIEWS[0], VIEWS, key="pool_view"),
    links.Choice("matrix", next(iter(PRESETS)), PRESETS, key="pool_preset"),
    links.Int("rows", 6, 1, 16, key="pool_rows"), links.Int("cols", 6, 1, 16, key="pool_cols"),
    links.Int("seed", 0, 0, 10_000, key="pool_seed"),
    links.Text("cell", "out[0, 0]", max_length=20, key="pool_cell"),
    links.Choice("sample", next(iter(images.SAMPLES)), images.SAMPLES, key="pool_img_sample"),
    links.Choice("shift", "right", SHIFTS, key="pool_shift_dir"), links.Int("by", 1, 1, 4, key="pool_shift_px"),
    links.Int("blocks", 3, 1, 6, key="pool_rf_blocks"), links.Int("convs", 1, 1, 3, key="pool_rf_convs"),
    links.Int("convk", 3, 1, 11, key="pool_rf_kernel"), links.Int("convp", 1, 0, 5, key="pool_rf_padding"),
])

st.title("Pooling")
explain(
    "A pooling layer slides a window over every channel and keeps one number per window: the "
    "largest (max) or the mean (average). It learns nothing, shrinks the map and makes the "
    "network less sensitive to small shifts."
)
link_state(LINK, "pooling")  # before the widgets: a shared link's settings, else the start values

# The kind of pooling and its window in one row: the result comes up on the first screen.
c0, c1, c2, c3, c4 = st.columns([3, 2, 2, 2, 2.5], vertical_alignment="bottom")
mode_name = c0.selectbox("Pooling", list(MODES), key="pool_mode")
mode, is_global = MODES[mode_name]
if is_global:
    c1.caption("Global pooling uses one window as large as the whole map: one number per channel.")
    kernel, stride, padding, ceil_mode = None, 1, 0, False
else:
    kernel = c1.number_input("Window size", 1, 16, key="pool_kernel")
    stride = c2.number_input("Stride", 1, 16, key="pool_stride",
                             help="PyTorch and Keras default: stride = window size.")
    padding = c3.number_input("Padding", 0, 8, key="pool_padding",
                              help="At most half the window size (PyTorch's rule).")
    ceil_mode = c4.checkbox("ceil_mode", key="pool_ceil", help="Round the output size up instead of down.")
count_include_pad = True
if mode == "avg" and not is_global:
    count_include_pad = st.checkbox(
        "Padded zeros count in the average (count_include_pad, PyTorch's default)",
        key="pool_count_pad")

view = st.radio("Show", VIEWS, horizontal=True, key="pool_view")


@st.cache_data(max_entries=256, show_spinner=False)
def matrix_figures(x: np.ndarray, k, s, p, mode: str, ceil_mode: bool, count_include_pad: bool,
                   selected: tuple[int, int], title: str) -> tuple[dict, dict]:
    """Input and output figures of the matrix view, as dicts (building plotly figures costs
    ~20 ms each; the same settings come back often while a student clicks through cells)."""
    windows = pooling.pool_windows(x, k, s, p, mode, ceil_mode, count_include_pad)
    settings = pooling.check_settings(x.shape, k, s, p, ceil_mode)
    out = np.array([c.value for c in windows]).reshape(settings.output_size)
    zrange = pooling_figs.value_range(x, out)  # one colour scale: a value keeps its colour from input to output
    return (pooling_figs.matrix_figure(x, windows, mode, selected, settings.padding, title="Input", zrange=zrange).to_dict(),
            pooling_figs.output_figure(out, selected, title=title, zrange=zrange).to_dict())


@st.cache_data(max_entries=64, max_size="64MB", show_spinner=False)  # pictures here are <= 256 px
def map_figure(content_hash: str, _x: np.ndarray, title: str) -> dict:
    """A picture's figure, keyed on a full hash of its bytes (st.cache_data only samples big arrays)."""
    return pooling_figs.map_figure(_x, title=title, height=430).to_dict()


@st.cache_data(max_entries=64, max_size="64MB", show_spinner=False)
def shift_results(content_hash: str, _x: np.ndarray, k, s, p, ceil_mode: bool, dy: int, dx: int):
    """(unchanged fraction, relative change) per array and the |change| figure as a dict."""
    effects = pooling.translation_effect(_x, k, s, p, ceil_mode, dy, dx)
    numbers = {name: (e.unchanged_fraction, e.relative_change) for name, e in effects.items()}
    return numbers, pooling_figs.translation_figure(effects).to_dict()


def shown_map(x: np.ndarray, title: str, key: str) -> None:
    show_figure(map_figure(content_hash(x), x, title), key=key)


def window_of(shape: tuple[int, int]):
    """(kernel, stride, padding) for an (H, W) map: global pooling takes the whole map."""
    return (tuple(shape), 1, 0) if is_global else (int(kernel), int(stride), int(padding))


def explain_size(shape: tuple[int, int], channels: int = 1) -> pooling.PoolSettings | None:
    """Output-size formula with the numbers, parameters: 0; a clear message on bad settings. A
    lecturer may ask the hall for this output shape (a ``channels``-channel map)."""
    k, s, p = window_of(shape)
    try:
        settings = pooling.check_settings(shape, k, s, p, ceil_mode)
    except pooling.PoolError as err:
        st.error(f"These settings do not work: {err}")
        return None
    if not is_global:  # the quiz's words know a k×k window, not a whole-map one
        _live.offer_question("Ask the hall: the pooled output shape", lambda: live_questions.pooling_shape(
            shape[0], shape[1], channels, mode, k, s, p, ceil_mode), key="live_ask_pool")
    st.markdown(
        f"**Output size** — rows: `{pooling.output_size_formula(settings, 0)}`, "
        f"columns: `{pooling.output_size_formula(settings, 1)}` → "
        f"**{settings.output_size[0]}×{settings.output_size[1]}** per channel  \n"
        f"**Parameters: 0** — pooling has no weights: it only "
        f"{'picks the largest value' if mode == 'max' else 'averages the values'} in each window, "
        f"channel by channel."
    )
    return settings


def matrix_view() -> None:
    # The matrix and its pooled result side by side: on a 1280×720 projector the result is on the
    # first screen (issue 25), not under the table.
    table_side, result_side = st.columns([1, 2])
    with table_side:
        x = edited_matrix()
    if x is None:
        return
    with result_side:
        traced = pooled_matrix(x)
    if traced is None:
        return
    labels, windows, out = traced
    st.subheader("Where every output value comes from")
    st.dataframe(pd.DataFrame({
        "output cell": labels,
        "computed as": [c.describe(mode) for c in windows],
    }), hide_index=True)
    download_array(out, "pooled", key="pool_matrix_download")


def edited_matrix() -> np.ndarray | None:
    """The matrix the student chose and edited, or None (with a message) when a cell is empty."""
    preset = st.selectbox("Matrix", list(PRESETS), key="pool_preset")
    values = PRESETS[preset]
    if values is None:
        c1, c2, c3 = st.columns(3)
        rows = c1.number_input("Rows", 1, 16, key="pool_rows")
        cols = c2.number_input("Columns", 1, 16, key="pool_cols")
        seed = c3.number_input("Seed", 0, 10_000, key="pool_seed")
        values = np.random.default_rng(int(seed)).integers(0, 10, (int(rows), int(cols)))
        editor_key = f"pool_matrix_random_{rows}x{cols}_{seed}"
    else:
        editor_key = f"pool_matrix_{list(PRESETS).index(preset)}"
    values = np.asarray(values, dtype=np.float64)
    drop_added_rows(editor_key)
    st.caption("Edit any number in the table; the results follow.")
    table = pd.DataFrame(values, columns=[str(c) for c in range(values.shape[1])])
    edited = st.data_editor(table, key=editor_key, width="content", num_rows="fixed")
    edited = edited.iloc[:table.shape[0], :table.shape[1]]  # never more cells than the table has
    x = edited.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(x)):
        st.error("Every cell needs a number: fill in the empty cells.")
        return None
    return x


def pooled_matrix(x: np.ndarray):
    """The pooled matrix and one output cell traced back to its window; returns the output cells'
    labels, their windows and the pooled values (None when these settings cannot pool ``x``)."""
    pictures = st.container()  # the input and the pooled output first, the arithmetic under them
    settings = explain_size(x.shape)
    if settings is None:
        return None
    k, s, p = window_of(x.shape)
    windows = pooling.pool_windows(x, k, s, p, mode, ceil_mode, count_include_pad)
    out = np.array([c.value for c in windows]).reshape(settings.output_size)
    labels = [f"out[{c.out_row}, {c.out_col}]" for c in windows]
    keep_valid("pool_cell", labels, labels[0])  # a cell of a larger output (or a link) may not exist here
    choice = st.selectbox("Output cell to trace", labels, key="pool_cell")
    cell = windows[labels.index(choice)]
    st.markdown(f"**{choice}** = `{cell.describe(mode)}`")
    input_fig, output_fig = matrix_figures(x, k, s, p, mode, ceil_mode, count_include_pad,
                                           (cell.out_row, cell.out_col), f"{mode_name} output")
    left, right = pictures.columns(2)
    with left:
        show_figure(input_fig, key="pool_input_fig")
    with right:
        show_figure(output_fig, key="pool_output_fig")
    return labels, windows, out


def picture(key: str) -> np.ndarray | None:
    """The chosen image as (3, H, W) (a grayscale photo as (H, W): one channel, not three equal
    ones), or an edge feature map (H, W)."""
    kind = st.radio("Input", ["Photo", "Feature map (vertical edges + ReLU)"], horizontal=True,
                    key=f"{key}_kind")
    img = image_input(key, mode="RGB", max_side=256)
    if img is None:
        return None
    if kind == "Photo":
        rgb = images.to_array(img, "RGB")
        return rgb[0] if (rgb[0] == rgb[1]).all() and (rgb[1] == rgb[2]).all() else rgb
    return pooling.edge_feature_map(images.to_array(img, "L"))


def image_view() -> None:
    x = picture("pool_img")
    if x is None:
        return
    settings = explain_size(x.shape[-2:], x.shape[0] if x.ndim == 3 else 1)
    if settings is None:
        return
    k, s, p = window_of(x.shape[-2:])
    out = pooling.pool2d(x, k, s, p, mode, ceil_mode, count_include_pad)
    channels = f"×{x.shape[0]}" if x.ndim == 3 else ""
    if is_global:
        names = ["red", "green", "blue"] if x.ndim == 3 else ["map"]
        values = np.atleast_1d(out.reshape(-1))
        st.markdown(f"**{mode_name}**: {x.shape[-2]}×{x.shape[-1]}{channels} → "
                    f"{len(values)} number{'s' if len(values) > 1 else ''}")
        cols = st.columns(len(values))
        for col, name, value in zip(cols, names, values):
            col.metric(f"{name} channel", f"{value:.2f}")
        shown_map(x, "Input", key="pool_image_in")
        return
    left, right = st.columns(2)
    with left:
        shown_map(x, f"Input {x.shape[-2]}×{x.shape[-1]}{channels}", key="pool_image_in")
    with right:
        shown_map(out, f"Output {out.shape[-2]}×{out.shape[-1]}{channels}", key="pool_image_out")
    download_array(out, "pooled", key="pool_image_download")


def translation_view() -> None:
    st.caption(
        "Shift the input a little and compare: max pooling keeps an output as long as the "
        "window's largest value stays inside the window; the average changes almost everywhere."
    )
    x = picture("pool_shift")
    if x is None:
        return
    c1, c2 = st.columns(2)
    direction = c1.selectbox("Shift direction", list(SHIFTS), key="pool_shift_dir")
    amount = c2.slider("Shift by (pixels)", 1, 4, key="pool_shift_px")
    settings = explain_size(x.shape[-2:], x.shape[0] if x.ndim == 3 else 1)
    if settings is None:
        return
    k, s, p = window_of(x.shape[-2:])
    dy, dx = (amount * d for d in SHIFTS[direction])
    try:
        numbers, figure = shift_results(content_hash(x), x, k, s, p, ceil_mode, dy, dx)
    except pooling.PoolError as err:
        st.error(str(err))
        return
    labels = {"input": "Input itself", "max": "Max pooling", "avg": "Average pooling"}
    cols = st.columns(3)
    for col, (name, (unchanged, relative)) in zip(cols, numbers.items()):
        col.metric(f"{labels[name]}: unchanged", f"{unchanged:.0%}")
        col.caption(f"mean |change| = {relative:.1%} of the mean |value|")
    show_figure(figure, key="pool_shift_fig")


def receptive_field_view() -> None:
    st.caption(
        "Each convolution adds (kernel − 1) × jump pixels to the field; each pooling layer "
        "multiplies the jump by its stride, so the next 3×3 convolution sees twice as far."
    )
    x = picture("pool_rf")
    if x is None:
        return
    c1, c2, c3, c4 = st.columns(4)
    blocks = c1.number_input("conv → pool blocks", 1, 6, key="pool_rf_blocks")
    convs = c2.number_input("convs per block", 1, 3, key="pool_rf_convs")
    conv_k = c3.number_input("conv kernel", 1, 11, key="pool_rf_kernel")
    conv_p = c4.number_input("conv padding", 0, 5, key="pool_rf_padding")
    if is_global:
        st.info("Global pooling sees the whole map at once; pick max or average pooling to "
                "follow the field grow window by window.")
        return
    st.caption(f"Pooling layers use the settings above: window {kernel}, stride {stride}.")
    layers = pooling.conv_pool_stack(int(blocks), int(conv_k), int(conv_p), int(convs),
                                     int(kernel), int(stride))
    try:
        rows = pooling.receptive_field_growth(x.shape[-2:], layers)
    except pooling.PoolError as err:
        st.error(f"This stack does not fit the image: {err}")
        return
    show_figure(pooling_figs.receptive_field_figure(x, rows), key="pool_rf_fig")
    st.dataframe(pd.DataFrame({
        "layer": [r.name for r in rows],
        "output size": [f"{r.output_size[0]}×{r.output_size[1]}" for r in rows],
        "receptive field (px)": [f"{r.size}×{r.size}" for r in rows],
        "jump (px)": [r.jump for r in rows],
    }), hide_index=True)


{
    "Number matrix": matrix_view,
    "Image / feature map": image_view,
    "Translation invariance": translation_view,
    "Receptive field growth": receptive_field_view,
}[view]()
finish_link(LINK)
