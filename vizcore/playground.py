"""The Kernel Playground's arithmetic and figures (no Streamlit: everything here is testable).

The numbers themselves come from :mod:`vizcore.conv`; this module says how they are shown:
the output-size formula with the numbers put in, the padded input drawn like the classic
convolution-arithmetic figures (a ring of padding, the window's taps with holes between them
when dilated), the arithmetic of one output cell, and the output display options.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from vizcore import plots

ACTIVATIONS = ("none", "ReLU", "sigmoid", "tanh", "abs")
DISPLAYS = ("raw", "absolute", "clipped 0..255", "min-max")
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


# Figures are built in one go (a dict layout, no update_* calls): plotly validates every update
# separately, and on 2 cores that was two thirds of a rerun's time.

_HOVER = "row %{y}, col %{x}<br>value %{z:.4g}<extra></extra>"


def _layout(title: str | None, height: int | None, **axes) -> dict:
    return dict(
        title=dict(text=title), font=dict(size=plots.FONT_SIZE), title_font=dict(size=plots.FONT_SIZE + 2),
        margin=dict(l=10, r=10, t=60 if title else 10, b=10), height=height, **axes,
    )


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
                   show_values: bool = False, **extra) -> go.Heatmap:
    # float32 halves what large maps send to the browser (8-bit pictures stay 8-bit);
    # small matrices keep every digit.
    z = np.asarray(z)
    if z.dtype != np.uint8:
        z = z.astype(np.float32 if z.size > 4096 else np.float64, copy=False)
    if diverging:
        bound = _bound(z)
        zmin, zmax, colorscale = -bound, bound, plots.DIVERGING
    else:
        colorscale = "gray"
    trace = dict(z=z, colorscale=colorscale, zmin=zmin, zmax=zmax, hovertemplate=_HOVER,
                 colorbar=dict(title=dict(text=colorbar_title), thickness=18), **extra)
    if show_values:
        trace.update(text=[[_num(v) for v in row] for row in z], texttemplate="%{text}",
                     textfont=dict(size=plots.FONT_SIZE - 2))
    return go.Heatmap(**trace)


def heatmap_figure(z: np.ndarray, *, title: str | None = None, diverging: bool = False, zmin=None,
                   zmax=None, colorbar_title: str = "", show_values: bool = False,
                   height: int | None = None, shapes: list[dict] | None = None) -> go.Figure:
    """A 2D array as an image-like heatmap with a colour bar; hover shows row, col, value.

    ``diverging=True``: red-blue centred on 0 (blue negative, white 0, red positive).
    """
    trace = _heatmap_trace(z, diverging=diverging, zmin=zmin, zmax=zmax,
                           colorbar_title=colorbar_title, show_values=show_values)
    axes = _image_axes(top=show_values, **({"dtick": 1} if show_values else {}))
    if show_values:  # small matrices: a tick on every row and column
        axes["yaxis"]["dtick"] = 1
    layout = _layout(title, height, shapes=shapes or [], **axes)
    if show_values and title:
        layout["margin"]["t"] = 95  # room for the column numbers above the matrix
    return go.Figure(data=[trace], layout=layout)


def response_figure(z: np.ndarray, how: str, *, title: str | None = None, height: int | None = None) -> go.Figure:
    """One response map: raw on a red-blue scale centred on 0, the others in gray 0..255."""
    if how == "raw":
        return heatmap_figure(z, title=title, diverging=True, colorbar_title="value", height=height)
    zmax = None if how == "absolute" else 255
    return heatmap_figure(z, title=title, zmin=0, zmax=zmax, colorbar_title=how, height=height)


def kernel_figure(kernel: np.ndarray, *, title: str | None = None, height: int | None = None) -> go.Figure:
    """A kernel's weights as a red-blue grid with the numbers written in (small kernels)."""
    kernel = np.asarray(kernel, dtype=float)
    return heatmap_figure(kernel, title=title, diverging=True, show_values=max(kernel.shape) <= 9,
                          colorbar_title="weight", height=height)


def picture_figure(x: np.ndarray, *, title: str | None = None, height: int | None = None) -> go.Figure:
    """An input picture, (H, W) gray or (3, H, W) RGB in 0..255; hover shows the pixel values."""
    arr = np.clip(np.asarray(x), 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        return heatmap_figure(arr, title=title, zmin=0, zmax=255, colorbar_title="pixel", height=height)
    image = go.Image(z=np.ascontiguousarray(arr.transpose(1, 2, 0)),
                     hovertemplate="row %{y}, col %{x}<br>RGB %{z}<extra></extra>")
    return go.Figure(data=[image], layout=_layout(title, height, xaxis=dict(visible=False),
                                                   yaxis=dict(visible=False)))


def row_of_maps(maps: list[np.ndarray], titles: list[str], *, diverging: bool = True,
                zmin: float | None = None, zmax: float | None = None, height: int = 360) -> go.Figure:
    """Several same-sized maps side by side on one shared colour scale (one colour bar).

    Used for "input channels · kernel slices · channel responses → sum".
    """
    n = len(maps)
    gap = 0.03
    width = (0.93 - gap * (n - 1)) / n  # the last 7% hold the colour bar
    bound = max(_bound(np.asarray(m, dtype=np.float32)) for m in maps)
    if diverging:
        zmin, zmax = -bound, bound
    traces, axes, annotations = [], {}, []
    for k, (m, title) in enumerate(zip(maps, titles)):
        suffix = "" if k == 0 else str(k + 1)
        trace = _heatmap_trace(m, diverging=False, zmin=zmin, zmax=zmax, xaxis=f"x{suffix}",
                               yaxis=f"y{suffix}", showscale=k == n - 1)
        if diverging:
            trace.colorscale = plots.DIVERGING
        traces.append(trace)
        left = k * (width + gap)
        axes.update(_image_axes(suffix))
        axes[f"xaxis{suffix}"]["domain"] = [left, left + width]
        axes[f"yaxis{suffix}"]["anchor"] = f"x{suffix}"
        axes[f"xaxis{suffix}"]["anchor"] = f"y{suffix}"
        annotations.append(dict(text=title, x=left + width / 2, y=1.0, xref="paper", yref="paper",
                                xanchor="center", yanchor="bottom", showarrow=False,
                                font=dict(size=plots.FONT_SIZE)))
    layout = _layout(None, height, **axes)
    layout["margin"]["t"] = 40
    layout["annotations"] = annotations
    return go.Figure(data=traces, layout=layout)


# --- the matrix (worked example) view ------------------------------------------------------

def _num(v: float) -> str:
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
            weight_text[r, c] = f"<br><sub>×{_num(np.ravel(weights)[n])}</sub>"
    text = [[_num(padded[r, c]) + weight_text[r, c] for c in range(cols)] for r in range(rows)]
    colorscale = []
    for n, colour in enumerate(_CELL_COLOURS):
        colorscale += [[n / 4, colour], [(n + 1) / 4, colour]]
    y_labels = list(range(-top, rows - top))
    x_labels = list(range(-left, cols - left))
    trace = go.Heatmap(
        z=kind, x=x_labels, y=y_labels, zmin=-0.5, zmax=3.5, colorscale=colorscale,
        showscale=False, text=text, texttemplate="%{text}", customdata=padded,
        textfont=dict(size=plots.FONT_SIZE - (2 if max(rows, cols) <= 10 else 6), color="black"),
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
