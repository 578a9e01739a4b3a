"""The Kernel Playground's arithmetic and figures (no Streamlit: everything here is testable).

The numbers themselves come from :mod:`vizcore.conv`; this module says how they are shown:
the output-size formula with the numbers put in, the padded input drawn like the classic
convolution-arithmetic figures (a ring of padding, the window's taps with holes between them
when dilated), the arithmetic of one output cell, and the output display options.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
from typing import Mapping

import numpy as np
import plotly.graph_objects as go

from vizcore import conv, images, kernels
from vizcore.figures import style

ACTIVATIONS = ("none", "ReLU", "sigmoid", "tanh", "abs")
DISPLAYS = ("raw", "absolute", "clipped 0..255", "min-max")
ROW_SCALES = ("shared", "per map")  # maps side by side: one colour scale for all, or one each
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
_NUMPY_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


class PlaygroundError(ValueError):
    """Settings that cannot work, with a message for the page."""


def size_formula(n: int, k: int, before: int, after: int, stride: int, dilation: int,
                 name: str = "H") -> str:
    """The output-size formula with the numbers substituted, e.g.
    ``H_out = ⌊(6 + 1 + 1 − 1·(3 − 1) − 1) / 2⌋ + 1 = 3``.
    """
    span_sum = n + before + after - dilation * (k - 1) - 1
    result = span_sum // stride + 1
    pad = f"2·{before}" if before == after else f"{before} + {after}"
    symbolic_pad = "2p" if before == after else "p_begin + p_end"
    return (f"{name}_out = ⌊({name} + {symbolic_pad} − d·(k − 1) − 1) / s⌋ + 1 = "
            f"⌊({n} + {pad} − {dilation}·({k} − 1) − 1) / {stride}⌋ + 1 = "
            f"⌊{span_sum} / {stride}⌋ + 1 = {result}")


def pad_array(x: np.ndarray, pads: tuple[int, int, int, int], mode: str = "zeros") -> np.ndarray:
    """`x` (H, W) or (C, H, W) padded as PyTorch's ``F.pad`` would, for drawing it.

    Reflect padding mirrors without repeating the edge, so it cannot be wider than the
    image minus one: that raises PlaygroundError, as PyTorch refuses it too.
    """
    if mode not in _NUMPY_PAD_MODES:
        raise PlaygroundError(f"Padding mode must be one of {', '.join(PADDING_MODES)}.")
    top, bottom, left, right = pads
    h, w = x.shape[-2:]
    if mode == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
        raise PlaygroundError(
            f"Reflect padding of {max(top, bottom)} rows / {max(left, right)} columns is too wide "
            f"for a {h}×{w} input: reflection needs padding smaller than the size (at most "
            f"{h - 1} rows, {w - 1} columns). Use less padding or another mode."
        )
    if mode == "circular" and (max(top, bottom) > h or max(left, right) > w):
        raise PlaygroundError(
            f"Circular padding can wrap around at most once: at most {h} rows and {w} columns "
            f"for a {h}×{w} input."
        )
    widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
    return np.pad(x, widths, mode=_NUMPY_PAD_MODES[mode])


def activate(y: np.ndarray, name: str) -> np.ndarray:
    """Apply the activation a Conv2D layer would apply after the bias."""
    if name == "none":
        return y
    if name == "ReLU":
        return np.maximum(y, 0)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-np.clip(y, -500, 500)))
    if name == "tanh":
        return np.tanh(y)
    if name == "abs":
        return np.abs(y)
    raise PlaygroundError(f"Unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}.")


def for_display(y: np.ndarray, how: str) -> np.ndarray:
    """Map a response to what is shown: raw values, |values|, clipped to 0..255, or stretched.

    "min-max" stretches each map's own smallest..largest value to 0..255 (a constant map is 0).
    """
    y = np.asarray(y, dtype=np.float32)
    if how == "raw":
        return y
    if how == "absolute":
        return np.abs(y)
    if how == "clipped 0..255":
        return np.clip(y, 0, 255)
    if how == "min-max":
        axes = (-2, -1)
        lo, hi = y.min(axis=axes, keepdims=True), y.max(axis=axes, keepdims=True)
        span = np.where(hi > lo, hi - lo, 1)
        return (y - lo) / span * 255
    raise PlaygroundError(f"Unknown display {how!r}; choose one of {', '.join(DISPLAYS)}.")


def conv_settings(state: Mapping[str, object]) -> dict[str, object]:
    """The page's operation settings as :func:`vizcore.conv.correlate2d` keyword arguments."""
    kind = state["kp_pad_kind"]
    if kind in ("valid", "same"):
        padding: object = kind
    elif kind == "pair":
        padding = (int(state["kp_pad_r"]), int(state["kp_pad_c"]))
    else:
        padding = int(state["kp_pad"])
    return dict(stride=(int(state["kp_stride_r"]), int(state["kp_stride_c"])), padding=padding,
                dilation=int(state["kp_dil"]), padding_mode=state["kp_pmode"])


def output_size_formulas(in_hw: tuple[int, int], kernel_hw: tuple[int, int], stride: tuple[int, int],
                         padding: int | tuple[int, int] | str,
                         dilation: int) -> tuple[list[str], tuple[int, int]]:
    """The H and W output-size formulas with the numbers put in, and the output (rows, cols).

    Raises :class:`vizcore.conv.ConvError` for settings that give no output.
    """
    pads = conv.resolve_padding(in_hw, kernel_hw, stride, padding, dilation)
    lines, out = [], []
    for axis, name in enumerate(("H", "W")):
        before, after = pads[2 * axis], pads[2 * axis + 1]
        lines.append(size_formula(in_hw[axis], kernel_hw[axis], before, after, stride[axis], dilation, name))
        out.append(conv.output_size(in_hw[axis], kernel_hw[axis], stride[axis], (before, after), dilation))
    return lines, (out[0], out[1])


def centre_in(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`kernel` zero-padded to `shape`, kept centred: one Conv2d layer has one kernel size."""
    out = np.zeros(shape)
    top, left = (shape[0] - kernel.shape[0]) // 2, (shape[1] - kernel.shape[1]) // 2
    out[top:top + kernel.shape[0], left:left + kernel.shape[1]] = kernel
    return out


def filter_bank(filters: list[np.ndarray], channel_weights: np.ndarray) -> np.ndarray:
    """N 2D kernels as the (N, C, kh, kw) weight of one Conv2d layer on a C-channel image.

    Each kernel is centred in the largest size; slice c of filter n is
    ``channel_weights[c] × filters[n]``.
    """
    size = (max(k.shape[0] for k in filters), max(k.shape[1] for k in filters))
    weights = np.asarray(channel_weights, dtype=float)
    return np.stack([weights[:, None, None] * centre_in(k, size) for k in filters])


def content_hash(arr: np.ndarray) -> str:
    """A hash of every byte of `arr` (``st.cache_data`` alone samples large arrays: stale results)."""
    return hashlib.blake2b(np.ascontiguousarray(arr).tobytes(), digest_size=16).hexdigest()


def kernel_1d(kind: str, taps: int = 3, text: str = "") -> np.ndarray:
    """The 1D kernel the page's choice names: a moving average of `taps`, the difference, or
    the typed `text` (at most 15 taps). Raises KernelError with a message for the page."""
    if kind == "moving average":
        k = kernels.moving_average(taps)
    elif kind == "difference":
        k = kernels.difference()
    else:
        k = kernels.parse_vector(text, "The kernel")
    if len(k) > kernels.MAX_KERNEL_SIZE:
        raise kernels.KernelError(f"Kernels here have at most {kernels.MAX_KERNEL_SIZE} taps.")
    return k


def signal_padding(taps: int, padding: int, dilation: int, causal: bool) -> tuple[int, int]:
    """Zeros (before, after) a 1D signal gets: causal puts d·(k−1) on the left only."""
    return (dilation * (taps - 1), 0) if causal else (padding, padding)


def output_positions(count: int, taps: int, stride: int, dilation: int, before: int,
                     causal: bool) -> np.ndarray:
    """Where each 1D output is drawn on the input's time axis.

    A causal output sits at its newest input (the present), a centred one at the middle of
    its window.
    """
    last_tap = np.arange(count) * stride + dilation * (taps - 1) - before
    return last_tap if causal else last_tap - dilation * (taps - 1) / 2


# Figures are built in one go (a dict layout, no update_* calls): plotly validates every update
# separately, and on 2 cores that was two thirds of a rerun's time.

_HOVER = "row %{y}, col %{x}<br>value %{z:.4g}<extra></extra>"
# What one figure may send to the browser. A screen shows ~1000 pixels across, so a map with a
# longer side is drawn from every 2nd (3rd, ...) row and column: the values drawn are exact
# values at their true row/column (hover says which), the downloads keep every value.
MAX_DISPLAY_SIDE = 512
MAX_FIGURE_CELLS = 2**20  # cells of all maps of one figure together (~4 MB as float32)


def screen_step(shape: tuple[int, ...], max_side: int = MAX_DISPLAY_SIDE) -> int:
    """Every how many rows and columns a map of ``shape`` (.., H, W) is drawn: 1 up to ``max_side``."""
    return max(1, -(-max(shape[-2:]) // max(1, max_side)))


def _for_screen(z: np.ndarray, max_side: int) -> tuple[np.ndarray, dict]:
    """``z`` (H, W) or (H, W, 3) thinned to at most ``max_side`` per side, and the x/y coordinates
    (true column and row numbers) of the values kept; no coordinates when nothing was dropped."""
    step = screen_step(z.shape[:2], max_side)
    if step == 1:
        return z, {}
    return z[::step, ::step], dict(x=np.arange(0, z.shape[1], step), y=np.arange(0, z.shape[0], step))


def _layout(title: str | None, height: int | None, **axes) -> dict:
    """The app's template and projector fonts (:func:`vizcore.figures.style.layout`) with these axes."""
    return style.layout(title=title, height=height, **axes)


def _image_axes(suffix: str = "", *, top: bool = False, **extra) -> dict:
    """Row 0 at the top, square pixels: the axes of every image-like figure."""
    return {
        f"yaxis{suffix}": dict(autorange="reversed", scaleanchor=f"x{suffix}", constrain="domain",
                               showgrid=False, zeroline=False),
        f"xaxis{suffix}": dict(constrain="domain", showgrid=False, zeroline=False,
                               side="top" if top else "bottom", **extra),
    }


def _bound(z: np.ndarray) -> float:
    finite = np.abs(z[np.isfinite(z)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def _heatmap_trace(z: np.ndarray, *, diverging: bool, zmin=None, zmax=None, colorbar_title: str = "",
                   show_values: bool = False, max_side: int = MAX_DISPLAY_SIDE,
                   crange: style.ColourRange | None = None, **extra) -> go.Heatmap:
    # float32 halves what large maps send to the browser (8-bit pictures stay 8-bit);
    # small matrices keep every digit.
    full = np.asarray(z)
    z, coordinates = _for_screen(full, max_side)
    extra = {**coordinates, **extra}
    if z.dtype != np.uint8:
        z = z.astype(np.float32 if z.size > 4096 else np.float64, copy=False)
    if diverging:
        bound = _bound(full)  # the colour scale of every value, also those not drawn
        zmin, zmax, colorscale = -bound, bound, style.DIVERGING
    else:
        colorscale = "gray"
    bar = style.colorbar(colorbar_title or "value")
    if crange is not None:  # a stated range (robust, shared): its ends marked when values lie beyond
        zmin, zmax, bar = crange.zmin, crange.zmax, crange.colorbar(colorbar_title or "value")
    trace = dict(z=z, colorscale=colorscale, zmin=zmin, zmax=zmax, hovertemplate=_HOVER,
                 colorbar=bar, **extra)
    if show_values:
        trace.update(text=[[format_number(v) for v in row] for row in z], texttemplate="%{text}",
                     textfont=dict(size=style.FONT_SIZE - 2))
    return go.Heatmap(**trace)


def heatmap_figure(z: np.ndarray, *, title: str | None = None, diverging: bool = False, zmin=None,
                   zmax=None, colorbar_title: str = "", show_values: bool = False,
                   height: int | None = None, shapes: list[dict] | None = None,
                   crange: style.ColourRange | None = None) -> go.Figure:
    """A 2D array as an image-like heatmap with a colour bar; hover shows row, col, value.

    ``diverging=True``: red-blue centred on 0 (blue negative, white 0, red positive).
    ``crange`` (from :func:`vizcore.figures.style.colour_range`): the colours span it, values beyond
    are drawn in the end colours and the colour bar marks its ends with ≤/≥.
    """
    trace = _heatmap_trace(z, diverging=diverging, zmin=zmin, zmax=zmax,
                           colorbar_title=colorbar_title, show_values=show_values, crange=crange)
    axes = _image_axes(top=show_values, **({"dtick": 1} if show_values else {}))
    if show_values:  # small matrices: a tick on every row and column
        axes["yaxis"]["dtick"] = 1
    layout = _layout(title, height, shapes=shapes or [], **axes)
    if show_values and title:
        layout["margin"]["t"] = 95  # room for the column numbers above the matrix
    return go.Figure(data=[trace], layout=layout)


def response_range(z, how: str, *, robust: bool = True) -> style.ColourRange | None:
    """The colour range of a response shown as ``how``: raw values on a scale centred on 0,
    |values| from 0; with ``robust`` up to the 99th percentile (a photo's few strongest edges
    would otherwise wash out the rest); None for the 0..255 displays (their range is fixed)."""
    if how == "raw":
        return style.colour_range(z, diverging=True, robust=robust)
    if how == "absolute":
        r = style.colour_range(z, robust=robust)
        return dataclasses.replace(r, zmin=0.0, below=0) if r.zmax > 0 else r
    return None


def response_figure(z: np.ndarray, how: str, *, title: str | None = None, height: int | None = None,
                    robust: bool = True) -> go.Figure:
    """One response map: raw on a red-blue scale centred on 0, the others in gray 0..255.

    Raw and absolute values use :func:`response_range` (``robust``: 1st–99th percentile).
    """
    crange = response_range(z, how, robust=robust)
    if how == "raw":
        return heatmap_figure(z, title=title, diverging=True, colorbar_title="value", height=height,
                              crange=crange)
    zmax = None if how == "absolute" else 255
    return heatmap_figure(z, title=title, zmin=0, zmax=zmax, colorbar_title=how, height=height, crange=crange)


def response_row(maps: list[np.ndarray], titles: list[str], how: str, *, height: int = 360,
                 robust: bool = True, shared: bool = True) -> go.Figure:
    """Several response maps side by side, coloured as :func:`response_figure` does: on one
    scale for all (``shared``) or each on its own."""
    return row_of_maps(maps, titles, diverging=how == "raw", zmin=0,
                       zmax=None if how == "absolute" else 255, height=height,
                       colorbar_title="value" if how == "raw" else how, shared=shared,
                       ranges=(lambda z: response_range(z, how, robust=robust)) if how in ("raw", "absolute")
                       else None)


def kernel_figure(kernel: np.ndarray, *, title: str | None = None, height: int | None = None) -> go.Figure:
    """A kernel's weights as a red-blue grid with the numbers written in (small kernels)."""
    kernel = np.asarray(kernel, dtype=float)
    return heatmap_figure(kernel, title=title, diverging=True, show_values=max(kernel.shape) <= 9,
                          colorbar_title="weight", height=height)


def picture_figure(x: np.ndarray, *, title: str | None = None, height: int | None = None) -> go.Figure:
    """An input picture, (H, W) gray or (3, H, W) RGB in 0..255; hover shows the pixel values."""
    step = screen_step(np.shape(x))
    arr = np.clip(np.asarray(x)[..., ::step, ::step], 0, 255).astype(np.uint8)  # thinned first: no big copy
    if arr.ndim == 2:
        return heatmap_figure(arr, title=title, zmin=0, zmax=255, colorbar_title="pixel", height=height)
    # dx/dy: each pixel drawn stands for `step` rows and columns; hover shows its true position
    image = go.Image(z=np.ascontiguousarray(arr.transpose(1, 2, 0)), dx=step, dy=step,
                     hovertemplate="row %{y}, col %{x}<br>RGB %{z}<extra></extra>")
    return go.Figure(data=[image], layout=_layout(title, height, xaxis=dict(visible=False),
                                                   yaxis=dict(visible=False)))


def row_of_maps(maps: list[np.ndarray], titles: list[str], *, diverging: bool = True,
                zmin: float | None = None, zmax: float | None = None, height: int = 360,
                colorbar_title: str = "value", shared: bool = True, robust: bool = False,
                ranges=None) -> go.Figure:
    """Several same-sized maps side by side, on one shared colour scale (``shared``: one colour
    bar, the same value the same colour in every panel) or each on its own scale (a colour bar
    under every panel). The figure's first line says which.

    ``robust``: the colours span the 1st–99th percentile (of all maps when shared), the ends
    marked ≤/≥; ``ranges``: a function map -> :class:`vizcore.figures.style.ColourRange` instead.
    Used for "input channels · kernel slices · channel responses".
    """
    n = len(maps)
    if ranges is None and (robust or not shared):
        def ranges(z):
            r = style.colour_range(z, diverging=diverging, robust=robust)
            return r if diverging or robust or zmin is None else dataclasses.replace(
                r, zmin=zmin, zmax=r.zmax if zmax is None else zmax)
    if ranges is None:
        crange = None
    elif shared:
        crange = ranges(np.concatenate([np.ravel(np.asarray(m, dtype=np.float32)) for m in maps]))
    per_panel = [None] * n if shared else [ranges(m) for m in maps]
    gap = min(0.03, 0.3 / n)  # many maps still get a positive width
    width = (0.93 - gap * (n - 1)) / n  # the last 7% hold the colour bar
    side = max(32, int(np.sqrt(MAX_FIGURE_CELLS / max(n, 1))))  # the figure's budget, shared
    bound = max(_bound(np.asarray(m)) for m in maps)
    if diverging:
        zmin, zmax = -bound, bound
    traces, axes, annotations = [], {}, []
    for k, (m, title) in enumerate(zip(maps, titles)):
        suffix = "" if k == 0 else str(k + 1)
        left = k * (width + gap)
        trace = _heatmap_trace(m, diverging=False, zmin=zmin, zmax=zmax, colorbar_title=colorbar_title,
                               max_side=min(side, MAX_DISPLAY_SIDE), xaxis=f"x{suffix}",
                               yaxis=f"y{suffix}", showscale=(k == n - 1) or not shared,
                               crange=crange if shared else per_panel[k])
        if diverging:
            trace.colorscale = style.DIVERGING
        if not shared:  # each panel's own bar, lying under it
            trace.colorbar.update(orientation="h", x=left + width / 2, xanchor="center", len=width,
                                  lenmode="fraction", y=-0.08, yanchor="top", thickness=14)
        traces.append(trace)
        axes.update(_image_axes(suffix))
        if k:  # same-sized maps: row numbers once, at the left (they would run into the neighbour)
            axes[f"yaxis{suffix}"]["showticklabels"] = False
        axes[f"xaxis{suffix}"]["domain"] = [left, left + width]
        axes[f"yaxis{suffix}"]["anchor"] = f"x{suffix}"
        axes[f"xaxis{suffix}"]["anchor"] = f"y{suffix}"
        annotations.append(dict(text=title, x=left + width / 2, y=1.0, xref="paper", yref="paper",
                                xanchor="center", yanchor="bottom", showarrow=False,
                                font=dict(size=style.FONT_SIZE)))
    scale = "One colour scale for all maps" if shared else "Each map on its own colour scale"
    layout = _layout(scale, height + (0 if shared else 90), **axes)
    layout["title"]["font"] = dict(size=style.TICK_SIZE)  # a note on the figure, not a headline
    layout["margin"].update(t=80, b=10 if shared else 100)
    layout["annotations"] = annotations
    return go.Figure(data=traces, layout=layout)


# --- the matrix (worked example) view ------------------------------------------------------

def format_number(v: float) -> str:
    """A matrix cell as the lecture writes it: ``3`` for whole numbers, else 4 significant digits."""
    v = float(v)
    return str(int(v)) if v.is_integer() else f"{v:.4g}"


_CELL_INPUT, _CELL_PAD, _CELL_TAP, _CELL_TAP_PAD = 0, 1, 2, 3
_CELL_COLOURS = ["#ffffff", "#d9d9d9", "#6baed6", "#9ecae1"]


def matrix_figure(padded: np.ndarray, pads: tuple[int, int, int, int],
                  taps: list[tuple[int, int]] | None = None, *, title: str | None = None,
                  weights: np.ndarray | None = None) -> go.Figure:
    """The padded input as a grid of numbers, like the convolution-arithmetic figures.

    White cells are the input, gray cells the padding ring, blue cells the taps of the
    current window; with dilation the cells between taps stay white (the holes).
    Row/column labels count the original input from 0 (padding gets negative labels).
    """
    padded = np.asarray(padded, dtype=float)
    rows, cols = padded.shape
    top, bottom, left, right = pads
    kind = np.full((rows, cols), _CELL_INPUT)
    kind[:top, :] = _CELL_PAD
    kind[rows - bottom:, :] = _CELL_PAD
    kind[:, :left] = _CELL_PAD
    kind[:, cols - right:] = _CELL_PAD
    weight_text = np.full((rows, cols), "", dtype=object)
    for n, (r, c) in enumerate(taps or []):
        kind[r, c] = _CELL_TAP_PAD if kind[r, c] == _CELL_PAD else _CELL_TAP
        if weights is not None:
            # same size as the value (a <sub> shrinks it below what a projector shows), in blue
            weight_text[r, c] = f"<br><span style='color:#08306b'>×{format_number(np.ravel(weights)[n])}</span>"
    text = [[format_number(padded[r, c]) + weight_text[r, c] for c in range(cols)] for r in range(rows)]
    colorscale = []
    for n, colour in enumerate(_CELL_COLOURS):
        colorscale += [[n / 4, colour], [(n + 1) / 4, colour]]
    y_labels = list(range(-top, rows - top))
    x_labels = list(range(-left, cols - left))
    trace = go.Heatmap(
        z=kind, x=x_labels, y=y_labels, zmin=-0.5, zmax=3.5, colorscale=colorscale,
        showscale=False, text=text, texttemplate="%{text}", customdata=padded,
        textfont=dict(size=style.FONT_SIZE - (2 if max(rows, cols) <= 10 else 4), color="black"),
        hovertemplate="row %{y}, col %{x}<br>value %{customdata:.4g}<extra></extra>",
        xgap=2, ygap=2,
    )
    shapes = []
    if taps:
        r0, c0 = min(t[0] for t in taps), min(t[1] for t in taps)
        r1, c1 = max(t[0] for t in taps), max(t[1] for t in taps)
        shapes.append(dict(type="rect", x0=c0 - left - 0.5, x1=c1 - left + 0.5, y0=r0 - top - 0.5,
                           y1=r1 - top + 0.5, line=dict(color="#08306b", width=4)))
    axes = _image_axes(top=True, dtick=1)
    axes["yaxis"]["dtick"] = 1
    layout = _layout(title, max(260, min(700, 48 * rows + 110)), shapes=shapes, plot_bgcolor="#555555", **axes)
    if title:
        layout["margin"]["t"] = 95
    return go.Figure(data=[trace], layout=layout)


def output_figure(y: np.ndarray, cell: tuple[int, int] | None = None, *, title: str | None = None) -> go.Figure:
    """The output matrix with its numbers, the current cell outlined."""
    y = np.asarray(y, dtype=float)
    shapes = []
    if cell is not None:
        i, j = cell
        shapes.append(dict(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5,
                           line=dict(color="black", width=5)))
    return heatmap_figure(y, title=title, diverging=True, show_values=max(y.shape) <= 16,
                          colorbar_title="value", height=max(260, min(700, 48 * y.shape[0] + 110)),
                          shapes=shapes)


# --- 1D ------------------------------------------------------------------------------------

def signal_figure(x: np.ndarray, y: np.ndarray, positions: np.ndarray, *, title: str | None = None) -> go.Figure:
    """Input signal and output on one time axis; output i drawn at `positions[i]`.

    For a centred window the position is the window's centre; for a causal one its last
    tap (the present), so a causal output never sits to the left of its inputs.
    """
    traces = [
        go.Scatter(x=np.arange(len(x)), y=x, mode="lines+markers", name="input",
                   marker=dict(size=10, color="#1f4e9c"), line=dict(width=3, color="#1f4e9c"),
                   hovertemplate="input[%{x}] = %{y:.4g}<extra></extra>"),
        go.Scatter(x=positions, y=y, mode="lines+markers", name="output",
                   marker=dict(size=12, symbol="diamond", color="#d62728"),
                   line=dict(width=3, dash="dot", color="#d62728"),
                   customdata=np.arange(len(y)),
                   hovertemplate="output[%{customdata}] = %{y:.4g}<extra></extra>"),
    ]
    layout = _layout(title, 380, xaxis=dict(title=dict(text="position")),
                     yaxis=dict(title=dict(text="value")), legend=dict(orientation="h", y=-0.25))
    return go.Figure(data=traces, layout=layout)


# --- the page's settings and the link a lecturer copies -------------------------------------
# The page keeps every setting under one session key ("kp_..."); the tables below say each
# one's default, allowed range or choices, and its name in the address. Reading and writing
# the address are pure functions of these tables, so a shared link is tested without a browser.

VIEWS = ("Image", "Matrix", "1D")
OPERATIONS = ("cross-correlation", "convolution")
COLOUR_MODES = ("gray", "per-channel", "3D", "filters")
KERNEL_SOURCES = ("Preset", "Random", "Grid")
PAD_KINDS = ("number", "pair", "valid", "same")
KERNELS_1D = ("moving average", "difference", "custom")
CHANNELS = ("red", "green", "blue")
MAX_MATRIX = 16
MAX_FILTERS = 7  # more filters beside the user's kernel: one figure row stays readable
MAX_TEXT = 400  # characters of a free-text setting (a signal, a 1D kernel) a link may carry
MAX_SIGNAL = 64  # values of a 1D signal: every one is drawn as a numbered cell
FIRST_EXAMPLE = next(iter(kernels.WORKED_EXAMPLES))
FIRST_SIGNAL = next(iter(kernels.SIGNAL_EXAMPLES))


def param_key(preset: str, param: str) -> str:
    """The session key of one preset's setting, e.g. ``kp_gaussian_blur_sigma``."""
    slug = "".join(c if c.isalnum() else "_" for c in preset.lower())
    return f"kp_{slug}_{param}"


DEFAULTS: dict[str, object] = {
    "kp_view": "Image", "kp_color": "gray", "kp_src": "Preset", "kp_preset": "Sobel x",
    "kp_rand_rows": 3, "kp_rand_cols": 3, "kp_seed": 0, "kp_rand_int": False,
    "kp_grid_rows": 3, "kp_grid_cols": 3, "kp_norm": False, "kp_op": "cross-correlation",
    "kp_stride_r": 1, "kp_stride_c": 1, "kp_pad_kind": "number", "kp_pad": 0, "kp_pad_r": 0,
    "kp_pad_c": 0, "kp_pmode": "zeros", "kp_dil": 1, "kp_bias": 0.0, "kp_act": "none",
    "kp_show": "raw", "kp_w_red": 1.0, "kp_w_green": 1.0, "kp_w_blue": 1.0,
    "kp_filters": ["Sobel y", "Laplacian 4"], "kp_example": FIRST_EXAMPLE, "kp_mat_rows": 6,
    "kp_mat_cols": 6, "kp_mat_seed": 0, "kp_cell": 0, "kp_ex1d": FIRST_SIGNAL,
    "kp_signal": kernels.SIGNAL_EXAMPLES[FIRST_SIGNAL].signal, "kp_k1d_kind": "custom",
    "kp_k1d_size": 3, "kp_k1d_text": kernels.SIGNAL_EXAMPLES[FIRST_SIGNAL].kernel, "kp_s1d": 1,
    "kp_p1d": 0, "kp_d1d": 1, "kp_causal": False, "kp_cell1d": 0, "kp_sample": "brick",
    "kp_robust": True, "kp_rowscale": "shared",
}
# (min, max) of every number widget: the widgets use them, and link values outside are refused
# (Streamlit raises on a session value outside a widget's range).
RANGES: dict[str, tuple[float, float]] = {
    "kp_rand_rows": (1, 15), "kp_rand_cols": (1, 15), "kp_seed": (0, 10_000),
    "kp_grid_rows": (1, 15), "kp_grid_cols": (1, 15), "kp_stride_r": (0, 16), "kp_stride_c": (0, 16),
    "kp_pad": (0, 32), "kp_pad_r": (0, 32), "kp_pad_c": (0, 32), "kp_dil": (0, 8),
    "kp_bias": (-1000.0, 1000.0), "kp_w_red": (-10.0, 10.0), "kp_w_green": (-10.0, 10.0),
    "kp_w_blue": (-10.0, 10.0), "kp_mat_rows": (1, MAX_MATRIX), "kp_mat_cols": (1, MAX_MATRIX),
    "kp_cell": (0, 10**6), "kp_cell1d": (0, 10**6), "kp_s1d": (0, 16), "kp_p1d": (0, 32),
    "kp_d1d": (0, 8), "kp_k1d_size": (1, 15),
}
for _preset in kernels.PRESETS.values():
    for _p in _preset.params:
        DEFAULTS[param_key(_preset.name, _p.name)] = int(_p.default) if _p.is_int else float(_p.default)
        RANGES[param_key(_preset.name, _p.name)] = (_p.low, _p.high)
CHOICES: dict[str, tuple[str, ...]] = {
    "kp_view": VIEWS, "kp_color": COLOUR_MODES, "kp_src": KERNEL_SOURCES,
    "kp_preset": tuple(kernels.PRESETS), "kp_op": OPERATIONS,
    "kp_pmode": PADDING_MODES, "kp_act": ACTIVATIONS, "kp_show": DISPLAYS,
    "kp_example": tuple(kernels.WORKED_EXAMPLES), "kp_ex1d": tuple(kernels.SIGNAL_EXAMPLES),
    "kp_k1d_kind": KERNELS_1D, "kp_sample": tuple(images.SAMPLES), "kp_rowscale": ROW_SCALES,
}
# query parameter -> session key, for the settings written as they are (the rest below)
LINK_KEYS = {
    "view": "kp_view", "color": "kp_color", "src": "kp_src", "preset": "kp_preset",
    "seed": "kp_seed", "krows": "kp_rand_rows", "kcols": "kp_rand_cols", "ints": "kp_rand_int",
    "norm": "kp_norm", "op": "kp_op", "pmode": "kp_pmode", "dil": "kp_dil", "bias": "kp_bias",
    "act": "kp_act", "show": "kp_show", "example": "kp_example", "cell": "kp_cell",
    "ex1d": "kp_ex1d", "signal": "kp_signal", "k1d": "kp_k1d_kind", "k1dsize": "kp_k1d_size",
    "kernel1d": "kp_k1d_text", "s1d": "kp_s1d", "p1d": "kp_p1d", "d1d": "kp_d1d",
    "robust": "kp_robust", "rowscale": "kp_rowscale",
    "causal": "kp_causal", "cell1d": "kp_cell1d", "sample": "kp_sample",
}
PRESET_PARAMS = ("size", "sigma", "angle", "wavelength", "amount")
# The grids a link can carry: query name -> (values key, rows key, cols key, largest side).
LINK_GRIDS = {
    "grid": ("kp_grid_base", "kp_grid_rows", "kp_grid_cols", kernels.MAX_KERNEL_SIZE),
    "matrix": ("kp_matrix_base", "kp_mat_rows", "kp_mat_cols", MAX_MATRIX),
}


def encode_grid(arr: np.ndarray) -> str:
    """A 2D array as link text: cells joined by ``,``, rows by ``;`` (``"1,0,-1;2,0,-2"``).

    Six significant digits, whole numbers without a decimal point.
    """
    return ";".join(",".join(kernels.format_array(v).rstrip(".") for v in row) for row in arr)


def decode_grid(text: str, max_side: int | None = None) -> np.ndarray:
    """The array of :func:`encode_grid`'s text (fractions like ``1/3`` allowed).

    Raises
    ------
    KernelError
        For a cell that is not a number, ragged rows, or a side longer than `max_side`.
    """
    # Sizes first: a link of a million cells is refused before any of them is read.
    if max_side is not None and (text.count(";") >= max_side or len(text) > 40 * max_side * max_side):
        raise kernels.KernelError(f"A grid has at most {max_side} rows and columns.")
    rows = [kernels.parse_vector(r, "A grid row") for r in text.split(";")]
    if len({len(r) for r in rows}) != 1:
        raise kernels.KernelError("Every grid row needs the same number of cells.")
    arr = np.array(rows)
    if max_side is not None and max(arr.shape) > max_side:
        raise kernels.KernelError(f"A grid has at most {max_side} rows and columns.")
    return arr


def split_pair(text: str) -> tuple[str, str]:
    """``"2,3"`` -> ``("2", "3")``; one value is used for both: ``"2"`` -> ``("2", "2")``."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (1, 2):
        raise ValueError(text)
    return (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[1])


def decode_setting(key: str, text: str) -> object:
    """A link's text as the setting's type (choice, bool, int, float or free text).

    Raises ValueError for a choice that does not exist or a number outside the setting's range.
    """
    default = DEFAULTS[key]
    if key in CHOICES:
        if text not in CHOICES[key]:
            raise ValueError(text)
        return text
    if isinstance(default, bool):
        # "yes" is not silently false, and a word that means neither is refused.
        word = text.strip().lower()
        if word not in _TRUE + _FALSE:
            raise ValueError(text)
        return word in _TRUE
    if isinstance(default, (int, float)):
        value = to_number(text, whole=isinstance(default, int))
        low, high = RANGES.get(key, (-np.inf, np.inf))
        if not low <= value <= high:
            raise ValueError(text)
        return value
    if len(text) > MAX_TEXT:
        raise ValueError(text[:20])
    return text


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def to_number(text: str, *, whole: bool = False) -> int | float:
    """A link's number as a finite float (or an int when ``whole``); ValueError otherwise.

    ``inf``, ``-inf``, ``nan``, ``1e999`` and 5,000-digit numbers are refused here, before a
    range check or an ``int()`` could overflow. ``"2.0"`` is a fine whole number (sliders send
    whole numbers as floats).
    """
    text = str(text).strip()
    if len(text) > 40:
        raise ValueError(text[:20])
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    if whole:
        if not value.is_integer():
            raise ValueError(text)
        return int(value)
    return value


def example_settings(name: str) -> dict[str, object]:
    """The settings one worked example sets: its matrix, its kernel (into the grid), stride,
    padding and dilation; the rest back to plain cross-correlation without bias."""
    ex = kernels.WORKED_EXAMPLES[name]
    matrix, kernel = np.array(ex.matrix, dtype=float), np.array(ex.kernel, dtype=float)
    out: dict[str, object] = {
        "kp_matrix_base": matrix, "kp_mat_rows": matrix.shape[0], "kp_mat_cols": matrix.shape[1],
        "kp_grid_base": kernel, "kp_grid_rows": kernel.shape[0], "kp_grid_cols": kernel.shape[1],
        "kp_src": "Grid", "kp_norm": False, "kp_op": "cross-correlation",
    }
    out["kp_stride_r"], out["kp_stride_c"] = kernels.as_pair(ex.stride)
    if isinstance(ex.padding, str):
        out["kp_pad_kind"] = ex.padding
    else:
        out["kp_pad_kind"], out["kp_pad"] = "number", int(ex.padding)
    out.update(kp_dil=ex.dilation, kp_pmode="zeros", kp_bias=0.0, kp_act="none", kp_cell=0,
               kp_example_loaded=True)
    return out


def signal_example_settings(name: str) -> dict[str, object]:
    """The settings one 1D lecture example sets (signal, kernel, stride, padding, dilation)."""
    ex = kernels.SIGNAL_EXAMPLES[name]
    return {"kp_signal": ex.signal, "kp_k1d_kind": "custom", "kp_k1d_text": ex.kernel,
            "kp_s1d": ex.stride, "kp_p1d": ex.padding, "kp_d1d": ex.dilation,
            "kp_causal": ex.causal, "kp_cell1d": 0}


def resize_grid(values: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """`values` cut or grown to rows × cols: kept from the top left, new cells 0."""
    old = np.asarray(values, dtype=float)
    new = np.zeros((rows, cols))
    r, c = min(old.shape[0], rows), min(old.shape[1], cols)
    new[:r, :c] = old[:r, :c]
    return new


def random_kernel(rows: int, cols: int, seed: int, *, integers: bool = False,
                  channels: int | None = None) -> np.ndarray:
    """The playground's random kernel: uniform in −1..1, or whole numbers −5..5."""
    bound = 5 if integers else 1
    return kernels.random_kernel((rows, cols), seed, channels=channels, integers=integers,
                                 low=-bound, high=bound)


def _decode_compound(name: str, text: str) -> dict[str, object]:
    """The settings one of the link's composite entries (stride, pad, weights, filters) sets."""
    if name == "stride":
        rows, cols = split_pair(text)
        return {"kp_stride_r": decode_setting("kp_stride_r", rows),
                "kp_stride_c": decode_setting("kp_stride_c", cols)}
    if name == "pad":
        if text in ("valid", "same"):
            return {"kp_pad_kind": text}
        if "," in text:
            rows, cols = split_pair(text)
            return {"kp_pad_r": decode_setting("kp_pad_r", rows),
                    "kp_pad_c": decode_setting("kp_pad_c", cols), "kp_pad_kind": "pair"}
        return {"kp_pad": decode_setting("kp_pad", text), "kp_pad_kind": "number"}
    if name == "weights":
        values = kernels.parse_vector(text)
        if len(values) != len(CHANNELS):
            raise ValueError(text)
        return {f"kp_w_{c}": decode_setting(f"kp_w_{c}", str(float(v))) for c, v in zip(CHANNELS, values)}
    if name == "filters":
        names = text.split("|")
        if len(names) > MAX_FILTERS:  # each filter is another full-size map in memory and figure
            raise ValueError(text)
        return {"kp_filters": [f for f in names if f in kernels.PRESETS]}
    raise KeyError(name)


def _entry(name: str, value: str) -> str:
    """``name=value`` of a refused entry for the page's message, the value cut to 30 characters
    (a hostile link may carry megabytes). The page shows it as plain text, never as markup."""
    value = str(value)
    return f"{name}={value[:30]}…" if len(value) > 30 else f"{name}={value}"


def read_link(query: Mapping[str, str]) -> tuple[dict[str, object], list[str]]:
    """The settings a shared address asks for, and the entries that were not understood.

    Every entry is checked on its own: a bad one is reported (``"pad=99"``) and the others
    still apply. A Matrix link without its matrix loads the worked example first, so the
    link's own settings win over the example's.

    Returns
    -------
    settings : dict
        Session key -> value, to put into the page's state before its widgets are drawn.
    ignored : list of str
        ``name=value`` of the entries that were left at their defaults.
    """
    out: dict[str, object] = {}
    ignored: list[str] = []
    query = {name: kernels.EXAMPLE_ALIASES.get(value, value) if name in ("example", "ex1d") else value
             for name, value in query.items()}  # links from before the names lost their "[deck ...]"
    if (query.get("view") == "Matrix" or "example" in query) and "matrix" not in query:
        example = query.get("example")
        if example in kernels.WORKED_EXAMPLES:
            out["kp_example"] = example
        out.update(example_settings(out.get("kp_example", FIRST_EXAMPLE)))
    for name, key in LINK_KEYS.items():
        if name in query:
            try:
                out[key] = decode_setting(key, query[name])
            except ValueError:
                ignored.append(_entry(name, query[name]))
    preset = out.get("kp_preset", DEFAULTS["kp_preset"])
    for name in PRESET_PARAMS:
        key = param_key(preset, name)
        if name in query and key in DEFAULTS:
            try:  # "2.0" is a fine size: sliders send whole numbers as floats
                out[key] = decode_setting(key, str(to_number(query[name], whole=isinstance(DEFAULTS[key], int))))
            except ValueError:
                ignored.append(_entry(name, query[name]))
    for name in ("stride", "pad", "weights", "filters"):
        if name in query:
            try:
                out.update(_decode_compound(name, query[name]))
            except (ValueError, TypeError):  # KernelError is a ValueError
                ignored.append(_entry(name, query[name]))
    for name, (values_key, rows_key, cols_key, max_side) in LINK_GRIDS.items():
        if name in query:
            try:
                arr = decode_grid(query[name], max_side)
            except ValueError:
                ignored.append(f"{name}=…")
                continue
            out[values_key], out[rows_key], out[cols_key] = arr, *arr.shape
            out["kp_example_loaded"] = True
    return out, ignored


def write_link(state: Mapping[str, object]) -> dict[str, str]:
    """The query parameters for `state`: every setting that differs from its default.

    Only the current preset's settings are written, the kernel grid only when it is used, the
    matrix only in the Matrix view; a grid with an empty cell is left out.
    """
    out: dict[str, str] = {}
    for name, key in LINK_KEYS.items():
        if state.get(key) != DEFAULTS[key]:
            out[name] = str(state[key])
    preset = state["kp_preset"]
    for p in kernels.PRESETS[preset].params:
        key = param_key(preset, p.name)
        if state.get(key) != DEFAULTS[key]:
            out[p.name] = str(state[key])
    if (state["kp_stride_r"], state["kp_stride_c"]) != (1, 1):
        out["stride"] = f"{state['kp_stride_r']},{state['kp_stride_c']}"
    kind = state["kp_pad_kind"]
    if kind in ("valid", "same"):
        out["pad"] = kind
    elif kind == "pair":
        out["pad"] = f"{state['kp_pad_r']},{state['kp_pad_c']}"
    elif state["kp_pad"] != 0:
        out["pad"] = str(state["kp_pad"])
    weights = [state[f"kp_w_{c}"] for c in CHANNELS]
    if weights != [1.0, 1.0, 1.0]:
        out["weights"] = ",".join(f"{w:g}" for w in weights)
    if state["kp_filters"] != DEFAULTS["kp_filters"]:
        out["filters"] = "|".join(state["kp_filters"])
    for name, used in (("grid", state["kp_src"] == "Grid"), ("matrix", state["kp_view"] == "Matrix")):
        values_key = LINK_GRIDS[name][0]
        if used and values_key in state:
            try:
                out[name] = encode_grid(kernels.parse_grid(state[values_key]))
            except kernels.KernelError:
                pass  # an empty cell: the link keeps the other settings
    return out
