"""Kernel playground: slide a kernel over a photo, a small number matrix or a 1D signal.

Everything is computed by vizcore.conv (equal to PyTorch's conv2d/conv1d); this page only holds
the widgets, keeps the settings in the URL and lays out the figures.
"""
from __future__ import annotations

import io
import time

import streamlit as st

from pages import route_through_app

# First, before the page's heavy imports (torch): a cold deep link's bare first run reruns at
# once inside app.py's frame, which starts the browser loading Plotly while torch loads.
route_through_app()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image as PILImage  # noqa: E402
from pages._ui.figures import download_array, show_figure  # noqa: E402
from pages._ui.links import finish_link, shared_link_params  # noqa: E402
from pages._ui.picture import image_input  # noqa: E402
from pages._ui.state import drop_added_rows  # noqa: E402
from pages._ui.text import explain, show_text  # noqa: E402
from vizcore import conv, images, kernels, playground as pg  # noqa: E402
from vizcore.figures import playground as pg_figs, style  # noqa: E402
from pages import _kernel_playground_state as pg_state  # noqa: E402

OPERATION_LABELS = {
    "cross-correlation": "Cross-correlation (what deep learning calls convolution)",
    "convolution": "True convolution (kernel rotated 180°)",
}
COLOUR_MODE_LABELS = {
    "gray": "Grayscale: one channel",
    "per-channel": "Colour: the 2D kernel on each channel separately",
    "3D": "Colour: one 3×k×k kernel summed over the channels",
    "filters": "Colour: N filters → N maps",
}
MAX_STEPS_PLAYED = 64
RANGES = pg_state.RANGES
CHANNELS = pg_state.CHANNELS
ss = st.session_state


# --- the URL: a lecturer copies the address and the same view opens ------------------------

def _read_url() -> None:
    """On a session's first run, take the settings from the address."""
    settings_from_link, ignored = pg_state.read_link(st.query_params.to_dict())
    ss.update(settings_from_link)
    if ignored:
        ss["kp_url_ignored"] = ignored


def _write_url() -> None:
    """Put every setting that differs from its default into the address."""
    out = {**pg_state.write_link(ss), **shared_link_params()}  # presenter=1 stays in the address
    if dict(st.query_params) != out:
        st.query_params.from_dict(out)


# --- editable grids (kernel and matrix) ----------------------------------------------------

# grid -> (values key, data_editor key, rows key, columns key)
GRIDS = {
    "kernel": ("kp_grid_base", "kp_grid", "kp_grid_rows", "kp_grid_cols"),
    "matrix": ("kp_matrix_base", "kp_matrix", "kp_mat_rows", "kp_mat_cols"),
}


def _set_grid(grid: str, arr: np.ndarray) -> None:
    """Replace a grid's contents and forget the editor's pending edits."""
    values_key, editor_key, rows_key, cols_key = GRIDS[grid]
    arr = np.asarray(arr, dtype=float)
    ss[values_key] = arr
    ss[rows_key], ss[cols_key] = arr.shape
    ss.pop(editor_key, None)


def _resize(grid: str) -> None:
    values_key, _, rows_key, cols_key = GRIDS[grid]
    _set_grid(grid, pg_state.resize_grid(ss[values_key], ss[rows_key], ss[cols_key]))


def _grid_editor(grid: str, label: str) -> np.ndarray:
    """An st.data_editor over the stored grid; returns the values (NaN where a cell is empty)."""
    values_key, editor_key, _, _ = GRIDS[grid]
    arr = np.asarray(ss[values_key], dtype=float)
    drop_added_rows(editor_key)  # a crafted client's 30,000 added rows never reach the editor
    # Rows and columns counted from 0, as the figures, captions and "Output row i, column j" count.
    frame = pd.DataFrame(arr, columns=[str(c) for c in range(arr.shape[1])],
                         index=[str(r) for r in range(arr.shape[0])])
    edited = st.data_editor(frame, key=editor_key, num_rows="fixed", width="stretch", column_config={
        c: st.column_config.NumberColumn(c, format="%.4g") for c in frame.columns})
    st.caption(label)
    values = edited.to_numpy(dtype=float)[:arr.shape[0], :arr.shape[1]]
    # Fold the edits into the stored grid so they survive when the editor is hidden.
    ss[values_key] = values
    return values


# --- callbacks -----------------------------------------------------------------------------

def _preset_kernel() -> np.ndarray:
    preset = kernels.PRESETS[ss["kp_preset"]]
    return preset.kernel(**{p.name: ss[pg_state.param_key(preset.name, p.name)] for p in preset.params})


def _random_kernel(channels: int | None = None) -> np.ndarray:
    return pg_state.random_kernel(ss["kp_rand_rows"], ss["kp_rand_cols"], ss["kp_seed"],
                            integers=ss["kp_rand_int"], channels=channels)


def _to_grid() -> None:
    try:
        kernel = _random_kernel() if ss["kp_src"] == "Random" else _preset_kernel()
    except kernels.KernelError as err:
        ss["kp_flash"] = str(err)
        return
    _set_grid("kernel", kernel)
    ss["kp_src"] = "Grid"


def _receive_kernel(values) -> None:
    """Put a kernel sent by another page into the grid and show it on the image."""
    try:
        kernel = kernels.parse_grid(values)
    except kernels.KernelError as err:
        ss["kp_flash"] = f"The filter sent from another page could not be used: {err}"
        return
    _set_grid("kernel", kernel)
    ss["kp_src"], ss["kp_view"], ss["kp_norm"] = "Grid", "Image", False
    st.toast(f"Loaded the {kernel.shape[0]}×{kernel.shape[1]} filter into the grid.")


def _load_example() -> None:
    ss.update(pg_state.example_settings(ss.get("kp_example", pg_state.FIRST_EXAMPLE)))
    for _, editor_key, _, _ in GRIDS.values():
        ss.pop(editor_key, None)


def _random_matrix() -> None:
    rng = np.random.default_rng(ss["kp_mat_seed"])
    _set_grid("matrix", rng.integers(0, 10, size=(ss["kp_mat_rows"], ss["kp_mat_cols"])))
    ss["kp_mat_seed"] += 1


def _crop_matrix() -> None:
    crop = ss.get("kp_crop_values")
    if crop is not None:
        _set_grid("matrix", crop)


def _step(key: str, delta: int, count: int) -> None:
    ss[key] = int(min(max(ss[key] + delta, 0), count - 1))


def _load_signal_example() -> None:
    ss.update(pg_state.signal_example_settings(ss["kp_ex1d"]))


# --- the sidebar: kernel and operation -----------------------------------------------------

def kernel_controls() -> np.ndarray | None:
    """Preset / random / grid kernel; returns the 2D kernel or None after showing an error."""
    st.header("Kernel")
    st.radio("Kernel from", pg_state.KERNEL_SOURCES, horizontal=True, key="kp_src")
    try:
        if ss["kp_src"] == "Preset":
            st.selectbox("Preset", list(kernels.PRESETS), key="kp_preset")
            preset = kernels.PRESETS[ss["kp_preset"]]
            st.caption(preset.description)
            for p in preset.params:
                key = pg_state.param_key(preset.name, p.name)
                if p.is_int:
                    st.slider(p.label, int(p.low), int(p.high), step=int(p.step), key=key)
                else:
                    st.slider(p.label, float(p.low), float(p.high), step=float(p.step), key=key)
            kernel = _preset_kernel()
        elif ss["kp_src"] == "Random":
            c1, c2 = st.columns(2)
            c1.number_input("Rows", *RANGES["kp_rand_rows"], key="kp_rand_rows")
            c2.number_input("Columns", *RANGES["kp_rand_cols"], key="kp_rand_cols")
            st.number_input("Seed (same seed, same kernel)", *RANGES["kp_seed"], key="kp_seed")
            st.checkbox("Whole numbers −5..5", key="kp_rand_int")
            kernel = _random_kernel()
        else:
            if "kp_grid_base" not in ss:
                _set_grid("kernel", _preset_kernel())
            c1, c2 = st.columns(2)
            c1.number_input("Rows", *RANGES["kp_grid_rows"], key="kp_grid_rows", on_change=_resize, args=("kernel",))
            c2.number_input("Columns", *RANGES["kp_grid_cols"], key="kp_grid_cols", on_change=_resize,
                            args=("kernel",))
            values = _grid_editor("kernel", "Click a cell and type a number.")
            kernel = kernels.parse_grid(values)
        if ss["kp_src"] != "Grid":
            st.button("Edit this kernel in the grid", on_click=_to_grid, key="kp_to_grid")
        st.checkbox("Normalise (weights sum to 1)", key="kp_norm")
        if ss["kp_norm"]:
            kernel, why_not = kernels.normalise(kernel)
            if why_not:
                st.info(why_not)
        return kernel
    except kernels.KernelError as err:
        show_text(f"The kernel cannot be used: {err}", "error")  # the message may quote a typed cell
        return None


def operation_controls(view: str) -> None:
    st.header("Operation")
    st.radio("Operation", pg_state.OPERATIONS, format_func=OPERATION_LABELS.get, key="kp_op")
    c1, c2 = st.columns(2)
    c1.number_input("Stride (rows)", *RANGES["kp_stride_r"], key="kp_stride_r")
    c2.number_input("Stride (columns)", *RANGES["kp_stride_c"], key="kp_stride_c")
    st.selectbox("Padding", pg_state.PAD_KINDS, key="kp_pad_kind",
                 format_func={"number": "a number (all sides)", "pair": "a pair (rows, columns)",
                              "valid": "valid (none)", "same": "same (output ≈ input / stride)"}.get)
    if ss["kp_pad_kind"] == "number":
        st.number_input("Padding (rows/columns added on each side)", *RANGES["kp_pad"], key="kp_pad")
    elif ss["kp_pad_kind"] == "pair":
        c1, c2 = st.columns(2)
        c1.number_input("Padding rows", *RANGES["kp_pad_r"], key="kp_pad_r")
        c2.number_input("Padding columns", *RANGES["kp_pad_c"], key="kp_pad_c")
    st.selectbox("Padding mode", pg.PADDING_MODES, key="kp_pmode")
    st.number_input("Dilation (1 = no holes)", *RANGES["kp_dil"], key="kp_dil")
    st.number_input("Bias (added to every output)", *RANGES["kp_bias"], step=1.0, key="kp_bias")
    st.selectbox("Activation", pg.ACTIVATIONS, key="kp_act")
    if view == "Image":
        st.radio("Show the output", pg.DISPLAYS, key="kp_show",
                 help="raw: the values themselves (blue negative, red positive); absolute: |value|; "
                      "clipped: what an 8-bit image keeps; min-max: stretched to 0..255.")
        if ss["kp_show"] in ("raw", "absolute"):
            st.checkbox("Robust colours (1st–99th percentile)", key="kp_robust",
                        help="A few very strong values (the sharpest edges of a photo) would take the whole "
                             "colour scale and leave the rest white. The colours then span the 1st to 99th "
                             "percentile; values beyond get the end colours (≤/≥ on the colour bar). Hover "
                             "always shows the true value.")
        if ss["kp_color"] != "gray":
            st.radio("Maps side by side", pg.ROW_SCALES, key="kp_rowscale", horizontal=True,
                     format_func={"shared": "one colour scale", "per map": "a scale per map"}.get)


def operated_kernel(kernel: np.ndarray) -> np.ndarray:
    """The kernel actually slid over the input: rotated by 180° for true convolution."""
    return kernels.rotate_180(kernel) if ss["kp_op"] == "convolution" else kernel


def show_formula(area, in_hw: tuple[int, int], kernel_hw: tuple[int, int], cfg: dict,
                 channels: str = "") -> tuple[int, int]:
    """The output-size formula with the numbers put in, in ``area`` (beside the view's choice, on
    the projector's first screen); returns the output (rows, cols)."""
    lines, (rows, cols) = pg.output_size_formulas(in_hw, kernel_hw, cfg["stride"], cfg["padding"],
                                                  cfg["dilation"])
    alike = lines[1] == lines[0].replace("H", "W")  # a square input, the same settings both ways: one formula
    # The formula on one line, the numbers on the next: at 1280×720 a single line wraps and
    # leaves "= 510" alone on a line of its own.
    shown = []
    for line in lines[:1] if alike else lines:
        parts = line.split(" = ", 2)
        name = "H_out = W_out" if alike else parts[0]
        shown.append(f"`{name} = {parts[1]}`  \n`  = {parts[2]}`" if len(parts) == 3 else f"`{line}`")
    area.markdown(f"**Output size {channels}{rows}×{cols}**  \n" + "  \n".join(shown))
    return rows, cols


def show_kernel(kernel: np.ndarray):
    """The kernel as a figure, and beside it the rotated one that slides in true convolution.

    Each gets half the page's width (a 5×5 kernel's numbers need ~300 px); returns the right
    half when it is free (cross-correlation), for the PyTorch code, else None.
    """
    convolution = ss["kp_op"] == "convolution"
    cols = st.columns(2)
    with cols[0]:
        show_figure(pg_figs.kernel_figure(kernel, title=f"Kernel {kernel.shape[0]}×{kernel.shape[1]}",
                                     height=320), key="kp_fig_kernel")
    if convolution:
        with cols[1]:
            show_figure(pg_figs.kernel_figure(kernels.rotate_180(kernel), title="Rotated 180° (what slides)",
                                         height=320), key="kp_fig_rotated")
        return None
    return cols[1]


def torch_code(kernel: np.ndarray, in_channels: int, in_hw: tuple[int, int]) -> None:
    cfg = pg_state.conv_settings(ss)
    pads = conv.resolve_padding(in_hw, kernel.shape[-2:], cfg["stride"], cfg["padding"], cfg["dilation"])
    with st.expander("PyTorch code for this (copy it)", expanded=False):
        st.code(kernels.torch_call(
            kernel, in_channels=in_channels, stride=cfg["stride"], padding=cfg["padding"],
            dilation=cfg["dilation"], padding_mode=cfg["padding_mode"], bias=float(ss["kp_bias"]),
            pads=pads, convolution=ss["kp_op"] == "convolution"), language="python")


# --- Image view ----------------------------------------------------------------------------

# Bounded well below the server's memory: in a 10-minute soak of 30 students with uploads the
# server grew by ~540 MB with 400 MB here; a miss costs one convolution (5-100 ms).
@st.cache_data(max_entries=32, max_size="100MB", show_spinner=False)
def _correlate(image_hash: str, _x: np.ndarray, kernel: np.ndarray, stride, padding, dilation,
               padding_mode) -> np.ndarray:
    """vizcore.conv.correlate2d, cached on the image's full content hash (`_x` is not hashed)."""
    return conv.correlate2d(_x, kernel, stride=stride, padding=padding, dilation=dilation,
                            padding_mode=padding_mode)


def _png(pixels: np.ndarray) -> bytes:
    """uint8 (H, W) or (H, W, 3) as PNG bytes (lossless; fast compression: a rerun stays short)."""
    out = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(pixels)).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def input_pixels(x: np.ndarray) -> np.ndarray:
    """The input as the charts send it: (H, W) gray or (H, W, 3) RGB uint8, every
    :func:`pg_figs.screen_step`-th row and column (at most 512 per side)."""
    step = pg_figs.screen_step(np.shape(x))
    arr = np.clip(np.asarray(x)[..., ::step, ::step], 0, 255).astype(np.uint8)
    return arr if arr.ndim == 2 else np.ascontiguousarray(arr.transpose(1, 2, 0))


def response_pixels(z: np.ndarray, how: str, *, robust: bool) -> tuple[np.ndarray, str]:
    """A response map as RGB uint8 in the colours of :func:`pg_figs.response_figure` (same
    values thinned as the chart thins them, same scale, same ends), and a caption saying how."""
    step = pg_figs.screen_step(np.shape(z))
    drawn = np.asarray(z)[::step, ::step]
    if drawn.size > 4096:  # what the chart sends (float32): the same numbers get the same colour
        drawn = drawn.astype(np.float32, copy=False)
    crange = pg_figs.response_range(z, how, robust=robust)
    colorscale = style.colour_scale_for(z).colorscale if how == "raw" else "gray"
    zmin, zmax = (crange.zmin, crange.zmax) if crange is not None else (0.0, 255.0)
    if colorscale == style.DIVERGING:
        note = f"blue negative, white 0, red positive, {style.number(zmin)} … {style.number(zmax)}"
    else:
        note = f"gray from black at {style.number(zmin)} to white at {style.number(zmax)}"
    return style.colourise(drawn, zmin=zmin, zmax=zmax, colorscale=colorscale), note


# Every rerun of the page shows these two pictures (a slider elsewhere, a student's second tab);
# colouring and PNG-encoding them was half of an unchanged rerun's CPU (issue 28), so they are
# made once per input and output, keyed on both arrays' full content.
@st.cache_data(max_entries=32, max_size="50MB", show_spinner=False)
def _first_pngs(input_hash: str, drawn_hash: str, _x: np.ndarray, _drawn: np.ndarray, show: str, robust: bool,
                per_channel: bool) -> tuple[bytes, bytes, str]:
    """The input's PNG, the output's PNG and how the output is coloured (its caption's note)."""
    if per_channel:
        pixels, note = input_pixels(np.clip(_drawn, 0, 255)), ""
    else:
        pixels, note = response_pixels(_drawn, show, robust=robust)
    return _png(input_pixels(_x)), _png(pixels), note


def first_picture(area, x: np.ndarray, image_hash: str, shown: np.ndarray, y: np.ndarray, show: str,
                  robust: bool, color: str, what: str) -> None:
    """The input photo and its filtered result as two still images at the top of the view."""
    left, right = area.columns(2)
    steps = pg_figs.screen_step(np.shape(x))
    size = f"{x.shape[-2]}×{x.shape[-1]}" + (f", every {steps}th row and column shown" if steps > 1 else "")
    per_channel = color == "per-channel"
    if per_channel:
        drawn = shown if show != "raw" else y
    else:
        drawn = shown if color in ("gray", "3D") else shown[0]
    input_png, output_png, note = _first_pngs(image_hash, pg.content_hash(drawn), x, drawn, show, robust, per_channel)
    left.image(input_png, caption=f"Input {size}", output_format="PNG", width="stretch")
    if per_channel:
        caption = f"Output ({what}): the channels as one colour image (clipped 0..255)"
    else:
        caption = (f"Output ({what}), {show}" + (": filter 1 (your kernel)" if color == "filters" else "")
                   + f"; {note}, as on the chart's colour bar")
    right.image(output_png, caption=caption, output_format="PNG", width="stretch")


def image_view(kernel: np.ndarray | None, formula_area) -> None:
    # The pictures first, the controls below them: on a 1280×720 projector the input and its
    # filter response are what shows above the fold (the widgets' values come from session
    # state, so they may be drawn after the figures that use them).
    figure_area = st.container()
    pick, channels_col = st.columns(2)
    with pick:
        # The link carries the sample as kp_sample (`sample=`), so mirror the picker's choice there.
        img = image_input("kp_img", mode="RGB", default_sample=ss["kp_sample"])
        if ss.get("kp_img_source") == "Sample" and ss.get("kp_img_sample") in images.SAMPLES:
            ss["kp_sample"] = ss["kp_img_sample"]
    with channels_col:
        st.radio("Channels", pg_state.COLOUR_MODES, format_func=COLOUR_MODE_LABELS.get, key="kp_color")
        color = ss["kp_color"]
        weights = np.array([ss[f"kp_w_{c}"] for c in CHANNELS], dtype=float)
        if color in ("3D", "filters"):
            cols = st.columns(3)
            for col, name in zip(cols, CHANNELS):
                col.number_input(f"{name.capitalize()} slice ×", *RANGES[f"kp_w_{name}"], step=0.1,
                                 key=f"kp_w_{name}")
            st.caption("Slice c of the 3D kernel = weight c × the 2D kernel (a random kernel gets "
                       "three different random slices).")
        if color == "filters":
            st.multiselect("More filters (filter 1 is your kernel)", list(kernels.PRESETS), key="kp_filters",
                           max_selections=pg_state.MAX_FILTERS)
    if img is None or kernel is None:
        return

    x = images.to_array(img, "L" if color == "gray" else "RGB")
    image_hash = pg.content_hash(x)
    cfg = pg_state.conv_settings(ss)
    used = operated_kernel(kernel)
    bias, act, show = float(ss["kp_bias"]), ss["kp_act"], ss["kp_show"]
    robust, shared = bool(ss["kp_robust"]), ss["kp_rowscale"] == "shared"

    if color == "3D":
        if ss["kp_src"] == "Random":
            kernel3 = _random_kernel(channels=3)
            kernel3 = kernels.normalise(kernel3)[0] if ss["kp_norm"] else kernel3
        else:
            kernel3 = weights[:, None, None] * kernel
        used = operated_kernel(kernel3)
    elif color == "filters":
        filters = [kernel] + [kernels.preset_kernel(name) for name in ss["kp_filters"]]
        used = operated_kernel(pg.filter_bank(filters, weights))

    channels = {"gray": "", "per-channel": "3×", "3D": "", "filters": f"{len(ss['kp_filters']) + 1}×"}[color]
    try:
        show_formula(formula_area, x.shape[-2:], used.shape[-2:], cfg, channels)
        y = _correlate(image_hash, x, used, **cfg)
    except conv.ConvError as err:
        st.error(f"These settings do not work: {err}")
        return
    y = pg.activate(y + bias, act)
    shown = pg.for_display(y, show)
    what = ss["kp_op"]
    after = (f" + bias {bias:g}" if bias else "") + (f", {act}" if act != "none" else "")

    # The first picture is two still images (no Plotly: a cold browser needs seconds to evaluate
    # Plotly's bundle before it draws any chart); the interactive charts (hover values, colour bar)
    # follow in an expander. The images show the same pixels the charts draw.
    first_picture(figure_area, x, image_hash, shown, y, show, robust, color, f"{what}{after}")
    left, right = figure_area.expander("Interactive charts: hover for the values, colour bar",
                                       expanded=False).columns(2)
    with left:
        show_figure(pg_figs.picture_figure(x, title=f"Input {x.shape[-2]}×{x.shape[-1]}"),
                    key="kp_fig_input")
    with right:
        if color in ("gray", "3D"):
            show_figure(pg_figs.response_figure(shown, show, title=f"Output ({what}{after}), {show}", robust=robust),
                        key="kp_fig_output")
        elif color == "per-channel":
            show_figure(pg_figs.picture_figure(np.clip(shown if show != "raw" else y, 0, 255),
                                       title="Output channels as one colour image (clipped 0..255)"),
                        key="kp_fig_output")
        else:
            show_figure(pg_figs.response_figure(shown[0], show, title=f"Filter 1 (your kernel), {show}", robust=robust),
                        key="kp_fig_output")
    if color == "per-channel":
        st.markdown("**Each channel with the same 2D kernel** (a depthwise convolution, `groups=3`):")
        show_figure(pg_figs.response_row(list(shown), [f"{c} output" for c in CHANNELS], show, robust=robust,
                                    shared=shared), key="kp_fig_channels")
    elif color == "3D":
        st.markdown("**One Conv2D filter:** each input channel meets its own kernel slice, and the "
                    "three responses are **added** into one map (plus the bias).")
        show_figure(pg_figs.row_of_maps(list(x), [f"{c} input" for c in CHANNELS], diverging=False,
                                   zmin=0, zmax=255, height=300, colorbar_title="pixel"), key="kp_fig_in_channels")
        show_figure(pg_figs.row_of_maps(list(used), [f"{c} slice" for c in CHANNELS], height=260, colorbar_title="weight"),
                    key="kp_fig_slices")
        parts = [_correlate(image_hash + f"/{c}", x[c], used[c], **cfg) for c in range(3)]
        # The sum is about three times larger than each part: on one scale with it the parts would
        # fade, so it gets its own figure (and scale) beside them.
        show_figure(pg_figs.row_of_maps(parts, [f"{c} response" for c in CHANNELS], robust=robust, shared=shared,
                                   height=300), key="kp_fig_parts")
        sum_col, note_col = st.columns([1, 1], vertical_alignment="center")
        with sum_col:
            show_figure(pg_figs.response_figure(sum(parts), "raw", title="= their sum", robust=robust, height=360),
                        key="kp_fig_sum")
        note_col.caption("The sum has its own colour scale: it is about three times as large as each response, "
                         "so on one scale with it the responses would fade.")
    elif color == "filters":
        names = ["your kernel"] + list(ss["kp_filters"])
        st.markdown(f"**{len(names)} filters → {len(names)} stacked maps** (one output channel each):")
        show_figure(pg_figs.response_row(list(shown), [f"{n + 1}: {name}" for n, name in enumerate(names)], show,
                                    robust=robust, shared=shared), key="kp_fig_maps")
    crange = pg_figs.response_range(shown if color in ("gray", "3D") else shown[0], show, robust=robust)
    st.caption(f"Output shape {tuple(y.shape)}, values {float(y.min()):,.4g} … {float(y.max()):,.4g}. "
               + (crange.describe() + " " if crange is not None and color != "per-channel" else "")
               + "Open the interactive charts to hover for values; their camera button downloads a figure as PNG.")
    download_array(y, "kernel_playground_output", key="kp_dl_image")

    code_col = show_kernel(kernel) or st.container()
    with code_col:
        # The code gets the kernel before rotation: torch_call rotates it for true convolution.
        code_kernel = {"3D": used, "filters": used}.get(color, kernel)
        if ss["kp_op"] == "convolution" and color in ("3D", "filters"):
            code_kernel = kernels.rotate_180(code_kernel)
        torch_code(code_kernel, x.shape[0] if x.ndim == 3 else 1, x.shape[-2:])


# --- Matrix view ---------------------------------------------------------------------------

def matrix_view(kernel: np.ndarray | None, formula_area) -> None:
    st.selectbox("Worked example", list(kernels.WORKED_EXAMPLES), key="kp_example", on_change=_load_example)
    st.caption("Choosing an example loads its matrix, its kernel (into the grid) and its stride, "
               "padding and dilation (in the sidebar); change any of them afterwards.")
    left, right = st.columns([3, 2])
    with right:
        c1, c2 = st.columns(2)
        c1.number_input("Rows", *RANGES["kp_mat_rows"], key="kp_mat_rows", on_change=_resize, args=("matrix",))
        c2.number_input("Columns", *RANGES["kp_mat_cols"], key="kp_mat_cols", on_change=_resize, args=("matrix",))
        st.button("Random whole numbers 0..9", on_click=_random_matrix, key="kp_mat_random")
        with st.expander("A crop of an image"):
            img = image_input("kp_crop", mode="L", max_side=256, default_sample="camera")
            if img is not None:
                arr = images.to_array(img, "L")
                c1, c2 = st.columns(2)
                top = c1.number_input("Top row", 0, arr.shape[0] - 1, min(100, arr.shape[0] - 1),
                                      key="kp_crop_top")
                left_col = c2.number_input("Left column", 0, arr.shape[1] - 1, min(100, arr.shape[1] - 1),
                                           key="kp_crop_left")
                ss["kp_crop_values"] = arr[top:top + ss["kp_mat_rows"], left_col:left_col + ss["kp_mat_cols"]]
                st.button("Use this crop", on_click=_crop_matrix, key="kp_crop_use")
    with left:
        st.markdown("**Input matrix** (click a cell to type)")
        values = _grid_editor("matrix", "Empty cells are not allowed.")
    if kernel is None:
        return
    try:
        x = kernels.parse_grid(values)
    except kernels.KernelError as err:
        show_text(f"The matrix cannot be used: {err}", "error")
        return
    cfg = pg_state.conv_settings(ss)
    used = operated_kernel(kernel)
    bias, act = float(ss["kp_bias"]), ss["kp_act"]
    try:
        out_hw = show_formula(formula_area, x.shape, used.shape, cfg)
        y = conv.correlate2d(x, used, **cfg)
        pads = conv.resolve_padding(x.shape, used.shape, cfg["stride"], cfg["padding"], cfg["dilation"])
        padded = pg.pad_array(x, pads, cfg["padding_mode"])
    except (conv.ConvError, pg.PlaygroundError) as err:
        st.error(f"These settings do not work: {err}")
        return
    y = pg.activate(y + bias, act)

    count = out_hw[0] * out_hw[1]
    ss["kp_cell"] = min(int(ss["kp_cell"]), count - 1)
    c1, c2, c3, c4 = st.columns([5, 1, 1, 1])
    if count > 1:
        c1.slider("Output cell (step through the positions)", 0, count - 1, key="kp_cell")
    c2.button("Previous", on_click=_step, args=("kp_cell", -1, count), key="kp_prev")
    c3.button("Next", on_click=_step, args=("kp_cell", 1, count), key="kp_next")
    play = c4.button("Play", key="kp_play", help="Step through every position (click anything to stop).")

    arithmetic, figures = st.empty(), st.empty()

    def draw(cell: int) -> None:
        i, j = divmod(cell, out_hw[1])
        exp = conv.explain_cell(x, used, i, j, **cfg)
        taps = [(t.padded_row, t.padded_col) for t in exp.terms]
        act_txt = f"  \n{act}({exp.total + bias:.4g}) = **{pg_figs.format_number(y[i, j])}**" if act != "none" else ""
        bias_txt = f" + bias {bias:g} = {exp.total + bias:.4g}" if bias else ""
        arithmetic.markdown(f"**Output row {i}, column {j}:**  \n`{exp.text}`{bias_txt}{act_txt}")
        with figures.container():
            fl, fr = st.columns(2)
            with fl:
                show_figure(pg_figs.matrix_figure(padded, pads, taps, weights=used,
                                             title="Input (gray: padding, blue: the window)" if any(pads)
                                             else "Input (blue: the window)"),
                            key=f"kp_fig_matrix_{cell}")
            with fr:
                show_figure(pg_figs.output_figure(y, (i, j), title=f"Output {y.shape[0]}×{y.shape[1]}"),
                            key=f"kp_fig_out_{cell}")

    if play:
        for cell in range(ss["kp_cell"], min(count, ss["kp_cell"] + MAX_STEPS_PLAYED)):
            draw(cell)
            time.sleep(0.8)
    else:
        draw(ss["kp_cell"])
    st.caption("Each output cell is the sum of window value × kernel weight (small numbers under the "
               "blue cells). With dilation the window's taps have holes between them; with stride the "
               "window jumps. Rows/columns are counted from 0; padding has negative labels.")
    download_array(y, "kernel_playground_matrix_output", key="kp_dl_matrix")
    with show_kernel(kernel) or st.container():
        torch_code(kernel, 1, x.shape)


# --- 1D view -------------------------------------------------------------------------------

def signal_controls() -> None:
    st.header("1D convolution")
    st.radio("Operation", pg_state.OPERATIONS, format_func=OPERATION_LABELS.get, key="kp_op")
    st.number_input("Stride", *RANGES["kp_s1d"], key="kp_s1d")
    st.number_input("Padding (zeros on each end)", *RANGES["kp_p1d"], key="kp_p1d")
    st.number_input("Dilation (1 = no holes)", *RANGES["kp_d1d"], key="kp_d1d")
    st.checkbox("Causal (pad d·(k−1) zeros on the left only: no peeking into the future)", key="kp_causal")


def signal_view(formula_area) -> None:
    st.selectbox("Worked example", list(kernels.SIGNAL_EXAMPLES), key="kp_ex1d", on_change=_load_signal_example)
    st.text_input("Signal (numbers separated by commas)", key="kp_signal")
    c1, c2 = st.columns([1, 2])
    c1.radio("Kernel", pg_state.KERNELS_1D, key="kp_k1d_kind")
    with c2:
        if ss["kp_k1d_kind"] == "moving average":
            st.number_input("Taps", *RANGES["kp_k1d_size"], key="kp_k1d_size")
        elif ss["kp_k1d_kind"] == "custom":
            st.text_input("Kernel (fractions like 1/3 are fine)", key="kp_k1d_text")
    try:
        x = kernels.parse_vector(ss["kp_signal"], "The signal", max_len=pg_state.MAX_SIGNAL)
        k = pg.kernel_1d(ss["kp_k1d_kind"], ss["kp_k1d_size"], ss["kp_k1d_text"])
    except kernels.KernelError as err:
        show_text(err, "error")
        return
    used = k[::-1].copy() if ss["kp_op"] == "convolution" else k
    stride, dilation, causal = int(ss["kp_s1d"]), int(ss["kp_d1d"]), bool(ss["kp_causal"])
    padding = 0 if causal else int(ss["kp_p1d"])
    if causal and ss["kp_p1d"]:
        st.info("Causal padding replaces the padding setting: the zeros go on the left only.")
    before, after = pg.signal_padding(len(k), padding, dilation, causal)
    try:
        y = conv.correlate1d(x, used, stride=stride, padding=padding, dilation=dilation, causal=causal)
        formula = pg.size_formula(len(x), len(k), before, after, max(stride, 1), max(dilation, 1), "L")
    except conv.ConvError as err:
        st.error(f"These settings do not work: {err}")
        return
    formula_area.markdown(f"**Output length**  \n`{formula}`")
    padded = np.concatenate([np.zeros(before), x, np.zeros(after)])
    count = len(y)
    ss["kp_cell1d"] = min(int(ss["kp_cell1d"]), count - 1)
    c1, c2, c3 = st.columns([5, 1, 1])
    if count > 1:
        c1.slider("Output position", 0, count - 1, key="kp_cell1d")
    c2.button("Previous", on_click=_step, args=("kp_cell1d", -1, count), key="kp_prev1d")
    c3.button("Next", on_click=_step, args=("kp_cell1d", 1, count), key="kp_next1d")
    t = int(ss["kp_cell1d"])
    exp = conv.explain_cell(padded[None], used[None], 0, t, stride=(1, stride), padding=0, dilation=(1, dilation))
    st.markdown(f"**Output {t}:**  \n`{exp.text}`")
    taps = [(0, term.padded_col) for term in exp.terms]
    show_figure(pg_figs.matrix_figure(padded[None], (0, 0, before, after), taps, weights=used,
                                 title="Signal (gray: padding, blue: the window)" if before or after
                                 else "Signal (blue: the window)"), key="kp_fig_signal_cells")
    show_figure(pg_figs.output_figure(y[None], (0, t), title=f"Output, length {count}"), key="kp_fig_signal_out")
    positions = pg.output_positions(count, len(k), stride, dilation, before, causal)
    show_figure(pg_figs.signal_figure(x, y, positions, title="Input and output on one time axis"),
                key="kp_fig_signal")
    st.caption("Output " + ("t is drawn at its newest input t (causal)." if causal
                            else "i is drawn at the centre of its window."))
    download_array(y, "kernel_playground_1d_output", key="kp_dl_1d")
    rf = dilation * (len(k) - 1) + 1
    st.markdown(f"Each output sees **{rf}** consecutive inputs (receptive field d·(k−1)+1). "
                f"Stacking layers with dilations 1, 2, 4, 8 and k = {len(k)} sees "
                f"**{1 + (len(k) - 1) * 15}** inputs: that is how dilated causal networks remember far back.")


# --- the page ------------------------------------------------------------------------------

st.title("Kernel playground")
explain("Slide a small grid of weights (a kernel) over an image, a number matrix or a signal: "
           "each output is the sum of the products under the kernel. This is what one filter of a "
           "convolutional layer computes.")

if "kp_url_read" not in ss:
    ss["kp_url_read"] = True
    _read_url()
for _key, _default in pg_state.DEFAULTS.items():
    ss[_key] = ss[_key] if _key in ss else _default
if "playground_kernel" in ss:  # a learned filter sent from the Feature maps page
    _receive_kernel(ss.pop("playground_kernel"))
if "kp_url_ignored" in ss:
    # The link's own text, shown as plain characters: a shared link cannot put markup in the page.
    show_text("Some settings in the link were not understood and were left at their defaults: "
              + ", ".join(ss.pop("kp_url_ignored")), "warning")
if "kp_flash" in ss:
    show_text(ss.pop("kp_flash"), "error")

# The view's choice and, beside it, how the output's size follows from the input, the kernel, the
# padding and the stride: both on the projector's first screen, above the pictures.
view_column, formula_area = st.columns(2)
view_column.radio("View", pg_state.VIEWS, horizontal=True, key="kp_view",
                  format_func={"Image": "Image", "Matrix": "Matrix (worked example)", "1D": "1D signal"}.get)
formula_area = formula_area.container(key="kp_formula")
view = ss["kp_view"]
if view == "Matrix" and not ss.get("kp_example_loaded"):
    _load_example()  # before the sidebar draws the widgets the example sets
with st.sidebar:
    if view == "1D":
        signal_controls()
    else:
        current_kernel = kernel_controls()
        operation_controls(view)
if view == "Image":
    image_view(current_kernel, formula_area)
elif view == "Matrix":
    matrix_view(current_kernel, formula_area)
else:
    signal_view(formula_area)
_write_url()
finish_link()  # the "Copy link" box in the sidebar
