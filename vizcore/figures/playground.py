"""The Kernel Playground's figures: maps and responses as heatmaps (on one colour scale or each
on its own), the padded input drawn like the convolution-arithmetic figures (a ring of padding,
the window's taps with holes between them when dilated), the output matrix and the 1D signal.

The numbers come from :mod:`vizcore.conv` and :mod:`vizcore.playground`; these builders only draw them.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import plotly.graph_objects as go

from vizcore.figures import style

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
        # ticklabelstandoff: the last row number and the first column number met at the corner
        f"yaxis{suffix}": dict(autorange="reversed", scaleanchor=f"x{suffix}", constrain="domain",
                               showgrid=False, zeroline=False, ticklabelstandoff=6),
        f"xaxis{suffix}": dict(constrain="domain", showgrid=False, zeroline=False,
                               side="top" if top else "bottom", **extra),
    }


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
    if diverging:  # values of both signs centred on 0, one sign from min to max (style.colour_scale_for)
        scale = style.colour_scale_for(full)  # the colours of every value, also those not drawn
        zmin, zmax, colorscale = scale.zmin, scale.zmax, scale.colorscale
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

    ``diverging=True``: values of both signs red-blue centred on 0 (blue negative, white 0, red
    positive), values of one sign on a gray scale from min to max (:func:`style.colour_scale_for`).
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
    """The colour range of a response shown as ``how``: raw values of both signs on a scale
    centred on 0 (of one sign: min to max, :func:`style.colour_scale_for`), |values| from 0; with ``robust`` up to the 99th percentile (a photo's few strongest edges
    would otherwise wash out the rest); None for the 0..255 displays (their range is fixed)."""
    if how == "raw":
        return style.colour_range(z, diverging=style.two_signed(z), robust=robust)
    if how == "absolute":
        r = style.colour_range(z, robust=robust)
        return dataclasses.replace(r, zmin=0.0, below=0) if r.zmax > 0 else r
    return None


def response_figure(z: np.ndarray, how: str, *, title: str | None = None, height: int | None = None,
                    robust: bool = True) -> go.Figure:
    """One response map: raw on a red-blue scale centred on 0 (gray min..max when it has one
    sign), the others in gray 0..255.

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


# The kernel's grid at most this many pixels across: it shares the page's width with the rotated
# kernel (true convolution), half of ~790 px at 1280×720, less its row numbers.
KERNEL_PLOT_PX = 330
KERNEL_MIN_CELL_PX = 44


def kernel_cells(kernel: np.ndarray) -> tuple[list[list[str]] | None, int | None, float]:
    """How :func:`kernel_figure` writes a kernel's numbers: (cell texts, font size, cell side in px).

    The numbers are shortened (:func:`style.short_numbers`: 4 characters up to 5×5, else 3) and
    the cells made large enough for them at the template's size, also in Presenter mode
    (:func:`style.for_presenter` makes text 1.3× larger), but no larger than ``KERNEL_PLOT_PX``
    allows; a font that would have to shrink below the projector's minimum means no numbers
    (texts and size None: hover shows them)."""
    rows, cols = np.shape(kernel)
    texts = style.short_numbers(kernel, 4 if max(rows, cols) <= 5 else 3)
    flat = [t for row in texts for t in row]
    widest = max(style.text_width(t, 1.0) for t in flat)
    wanted = widest * (style.FONT_SIZE - 2) * style.PRESENTER_SCALE / 0.85
    cell = float(min(max(KERNEL_MIN_CELL_PX, wanted), KERNEL_PLOT_PX / max(rows, cols)))
    size = style.cell_font_size(flat, cell)
    # numbers that mostly read as zero (".0" for 0.01) say nothing: then none at all
    blank = sum(v != 0 and not any(ch in "123456789" for ch in t) for v, t in zip(np.ravel(kernel), flat))
    if blank > len(flat) / 2:
        size = None
    return (texts if size else None), size, cell


def kernel_figure(kernel: np.ndarray, *, title: str | None = None, height: int | None = None) -> go.Figure:
    """A kernel's weights as a grid with the numbers written in, each fitting its cell
    (:func:`kernel_cells`); weights of both signs red-blue centred on 0, of one sign (a blur)
    gray from min to max. With the numbers written in they are the key (no colour bar); a
    kernel too large for numbers gets a colour bar. ``height``: at least this tall."""
    kernel = np.asarray(kernel, dtype=float)
    rows, cols = kernel.shape
    texts, size, cell = kernel_cells(kernel)
    top = 95 if title else 45  # the column numbers above the grid (and the title)
    fig_height = max(height or 0, round(top + 10 + rows * cell))
    trace = _heatmap_trace(kernel, diverging=True, colorbar_title="weight", showscale=texts is None)
    if texts is not None:
        trace.update(text=texts, texttemplate="%{text}", textfont=dict(size=size))
    axes = _image_axes(top=True, dtick=1)
    axes["yaxis"]["dtick"] = 1
    layout = _layout(title, fig_height, **axes)
    layout["margin"]["t"] = top
    return go.Figure(data=[trace], layout=layout)


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
    """Several same-sized maps side by side (``diverging``: by :func:`style.colour_scale_for`'s
    rule, red-blue centred on 0 for both signs, gray min..max for one), on one shared colour scale (``shared``: one colour
    bar, the same value the same colour in every panel) or each on its own scale (a colour bar
    under every panel). The figure's first line says which.

    ``robust``: the colours span the 1st–99th percentile (of all maps when shared), the ends
    marked ≤/≥; ``ranges``: a function map -> :class:`vizcore.figures.style.ColourRange` instead.
    Used for "input channels · kernel slices · channel responses".
    """
    n = len(maps)
    if ranges is None and (robust or not shared):
        def ranges(z):
            r = style.colour_range(z, diverging=diverging and style.two_signed(z), robust=robust)
            return r if diverging or robust or zmin is None else dataclasses.replace(
                r, zmin=zmin, zmax=r.zmax if zmax is None else zmax)
    everything = np.concatenate([np.ravel(np.asarray(m, dtype=np.float32)) for m in maps]) if shared else None
    if ranges is None:
        crange = None
    elif shared:
        crange = ranges(everything)
    per_panel = [None] * n if shared else [ranges(m) for m in maps]
    gap = min(0.03, 0.3 / n)  # many maps still get a positive width
    width = (0.93 - gap * (n - 1)) / n  # the last 7% hold the colour bar
    side = max(32, int(np.sqrt(MAX_FIGURE_CELLS / max(n, 1))))  # the figure's budget, shared
    if diverging and shared:  # one scale for all: both signs centred on 0, one sign min..max
        common = style.colour_scale_for(everything)
        zmin, zmax = common.zmin, common.zmax
    traces, axes, annotations = [], {}, []
    for k, (m, title) in enumerate(zip(maps, titles)):
        suffix = "" if k == 0 else str(k + 1)
        left = k * (width + gap)
        trace = _heatmap_trace(m, diverging=False, zmin=zmin, zmax=zmax, colorbar_title=colorbar_title,
                               max_side=min(side, MAX_DISPLAY_SIDE), xaxis=f"x{suffix}",
                               yaxis=f"y{suffix}", showscale=(k == n - 1) or not shared,
                               crange=crange if shared else per_panel[k])
        if diverging:  # style.colour_scale_for's rule, for all maps together or each on its own
            trace.colorscale = (common if shared else style.colour_scale_for(m)).colorscale
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
