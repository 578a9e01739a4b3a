"""Plotly figures for looking inside a CNN: network overview, channel grids, filters, patches.

Two choices keep the page quick when a student picks a new image (every figure is rebuilt):

- Grids of many small maps are *one* heatmap (a mosaic with blank gaps between the tiles)
  instead of one subplot per map: the same picture, far fewer objects to build and draw.
- Figures are written as plain dicts and wrapped without Plotly's property-by-property
  validation (``_validate=False``), which costs more than the rest of the page together. The
  tests validate every figure in full, so a typo in a property name still fails there.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import plotly.colors
import plotly.graph_objects as go

from vizcore.features import SOFTMAX, Window
from vizcore.figures import style

SMALL_FONT = style.MIN_FONT_SIZE  # tile numbers, column titles: the smallest text a projector shows
HIGHLIGHT = "orange"


def _figure(data: list[dict], *, title: str | None = None, height: int | None = None, **layout) -> go.Figure:
    """A figure from trace dicts, with the app's template, fonts and margins (:func:`vizcore.figures.style.layout`)."""
    base = style.layout(title=title, height=height)
    base.update((key, value) for key, value in layout.items() if not (isinstance(value, list) and not value))
    return go.Figure(dict(data=data, layout=base), _validate=False)


@lru_cache(maxsize=32)
def _scale(name: str) -> tuple:
    """A colour scale as explicit (position, colour) stops.

    Without validation Plotly would pass a name straight to the browser, which knows fewer
    names than Python does ("gray", "RdBu_r" are Python's): spelling the stops out is safe.
    """
    return tuple(tuple(stop) for stop in plotly.colors.get_colorscale(name))


def _image_axes(scaleanchor: str = "x", **extra) -> tuple[dict, dict]:
    """(x axis, y axis) for a picture-like trace: row 0 at the top, square pixels, no ticks."""
    x = dict(constrain="domain", visible=False, showgrid=False)
    y = dict(autorange="reversed", scaleanchor=scaleanchor, constrain="domain", visible=False, showgrid=False)
    x.update(extra)
    y.update(extra)
    return x, y


def mosaic(tiles: np.ndarray, cols: int, gap: int | None = None) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Tiles (N, h, w) laid out in rows of ``cols``, NaN between them; and each tile's (top, left)."""
    n, h, w = tiles.shape
    gap = max(1, round(max(h, w) / 8)) if gap is None else gap
    rows = math.ceil(n / cols)
    out = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap), np.nan, dtype=np.float32)
    corners = []
    for k in range(n):
        top, left = (k // cols) * (h + gap), (k % cols) * (w + gap)
        out[top:top + h, left:left + w] = tiles[k]
        corners.append((top, left))
    return out, corners


def _scaled(maps: np.ndarray) -> np.ndarray:
    """Each map stretched to 0..1 on its own range (a flat map becomes 0)."""
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.where(span > 0, (maps - low) / np.where(span > 0, span, 1), 0.0).astype(np.float32)


def _tile_labels(corners, size: int = SMALL_FONT, color: str = "white") -> list[dict]:
    """Tile numbers in the tiles' top-left corners."""
    box = dict(bgcolor="rgba(0,0,0,0.55)") if color == "white" else {}  # dark box behind white digits
    return [dict(x=left - 0.5, y=top - 0.5, text=str(k), showarrow=False, xanchor="left", yanchor="top",
                 font=dict(size=size, color=color), **box) for k, (top, left) in enumerate(corners)]


def _colorbar(text: str) -> dict:
    return style.colorbar(text, thickness=18)


def channel_grid(maps: np.ndarray, *, shared_scale: bool = True, cols: int | None = None,
                 title: str | None = None, colorscale: str = "Viridis", diverging: bool = False,
                 height: int | None = None) -> go.Figure:
    """All channels (C, H, W) of one layer as a grid, channel numbers written on the tiles.

    ``shared_scale=True``: one colour scale for the whole layer, so strong and weak channels can
    be compared. ``False``: every channel stretched to its own min..max (shapes in weak channels
    become visible; the colour bar then reads 0 = that channel's minimum, 1 = its maximum).
    ``diverging`` (with a shared scale): red-blue centred on 0 for values of both signs, gray
    min..max for values of one sign (:func:`vizcore.figures.style.colour_scale_for`).
    Hover shows the true value either way.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"channel_grid needs maps of shape (C, H, W), got {maps.shape}")
    c, h, w = maps.shape
    cols = cols or min(c, 8)
    trace = dict(type="heatmap", hoverongaps=False, colorscale=_scale(colorscale),
                 colorbar=_colorbar("value" if shared_scale else "scaled<br>per channel"))
    if shared_scale:
        z, corners = mosaic(maps, cols)
        trace.update(z=z, hovertemplate="value %{z:.4g}<extra></extra>")
        if diverging:  # both signs centred on 0, one sign min..max (style.colour_scale_for)
            scale = style.colour_scale_for(maps)
            trace.update(zmin=scale.zmin, zmax=scale.zmax, colorscale=_scale(scale.colorscale))
    else:
        z, corners = mosaic(_scaled(maps), cols)
        true, _ = mosaic(maps, cols)
        trace.update(z=z, customdata=true, hovertemplate="value %{customdata:.4g}<extra></extra>")
    xaxis, yaxis = _image_axes()
    rows = math.ceil(c / cols)
    return _figure([trace], title=title, height=height or min(900, 140 + rows * 130), xaxis=xaxis, yaxis=yaxis,
                   annotations=_tile_labels(corners) if c > 1 else [])


def filter_grid(weights: np.ndarray, *, title: str | None = None, height: int | None = None,
                width_px: int = 1100) -> go.Figure:
    """Convolution weights (O, I, kh, kw): one column per filter (output channel), one row per
    input channel, on one red-blue scale centred on 0 (red adds, blue subtracts).

    A layer with one input channel is laid out in rows of up to 8 filters instead. The height
    follows the grid's shape (``width_px``: about the width the figure gets on the page).
    """
    w = np.asarray(weights, dtype=np.float32)
    o, i, kh, kw = w.shape
    if i == 1:
        tiles, cols = w[:, 0], min(o, 8)
    else:
        tiles, cols = w.transpose(1, 0, 2, 3).reshape(i * o, kh, kw), o
    z, corners = mosaic(tiles, cols, gap=1)
    scale = style.colour_scale_for(w)  # red adds, blue subtracts; weights of one sign: gray min..max
    if i == 1:
        labels = _tile_labels(corners)
        hover = "weight %{z:.4g}<extra></extra>"
    else:  # columns are filters, rows input channels: label the margins, not every tile
        hover = "weight %{z:.4g}<br>(column: filter, row: input channel)<extra></extra>"
        labels = [dict(x=f * (kw + 1) + (kw - 1) / 2, y=-0.5, text=str(f), showarrow=False, yanchor="bottom",
                       font=dict(size=SMALL_FONT)) for f in range(o)]
        labels += [dict(x=-0.7, y=c * (kh + 1) + (kh - 1) / 2, text=str(c), showarrow=False, xanchor="right",
                        font=dict(size=SMALL_FONT)) for c in range(i)]
    trace = dict(type="heatmap", z=z, colorscale=_scale(scale.colorscale), zmin=scale.zmin, zmax=scale.zmax, hoverongaps=False,
                 hovertemplate=hover, colorbar=_colorbar("weight"))
    xaxis, yaxis = _image_axes()
    natural = width_px * z.shape[0] / z.shape[1]
    return _figure([trace], title=title, xaxis=xaxis, yaxis=yaxis, annotations=labels,
                   height=height or int(min(900, max(200, 110 + natural))))


def filters_in_colour(weights: np.ndarray, *, title: str | None = None, height: int | None = None) -> go.Figure:
    """First-layer RGB filters (O, 3, kh, kw) as small colour pictures: grey is 0, a filter
    looks like the colour pattern it responds to most (all filters share one scale)."""
    w = np.asarray(weights, dtype=np.float32)
    o, i, kh, kw = w.shape
    if i != 3:
        raise ValueError("filters_in_colour needs filters with 3 input channels (R, G, B)")
    bound = float(np.abs(w).max()) or 1.0
    pictures = np.clip(127.5 + 127.5 * w / bound, 0, 255).transpose(0, 2, 3, 1)  # (O, kh, kw, 3)
    cols = min(o, 8)
    rows = math.ceil(o / cols)
    canvas = np.full((rows * (kh + 1) - 1, cols * (kw + 1) - 1, 3), 255, dtype=np.uint8)
    corners = []
    for k in range(o):
        top, left = (k // cols) * (kh + 1), (k % cols) * (kw + 1)
        canvas[top:top + kh, left:left + kw] = pictures[k].round().astype(np.uint8)
        corners.append((top, left))
    trace = dict(type="image", z=canvas, hovertemplate="R %{z[0]} G %{z[1]} B %{z[2]}<extra></extra>")
    return _figure([trace], title=title, height=height or min(700, 140 + rows * 90),
                   xaxis=dict(visible=False), yaxis=dict(visible=False),
                   annotations=_tile_labels(corners, color="black"))


def pixelated(picture: np.ndarray, side: int = 168) -> np.ndarray:
    """A small picture enlarged by a whole factor with square pixels, so a browser shows the
    28x28 pixels the model sees instead of blurring them."""
    picture = np.asarray(picture)
    factor = max(1, side // max(picture.shape[:2]))
    return np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)


def diverging_picture(values: np.ndarray) -> np.ndarray:
    """Values of both signs as an RGB picture: blue negative, white 0, red positive (symmetric).

    Used for the normalised model input, which is shown as a small picture rather than a chart.
    """
    v = np.asarray(values, dtype=np.float32)
    bound = float(np.abs(v).max()) or 1.0
    t = np.clip(v / bound, -1, 1)[..., None]
    white = np.array([247, 247, 247], np.float32)
    red, blue = np.array([178, 24, 43], np.float32), np.array([33, 102, 172], np.float32)
    rgb = np.where(t >= 0, white + t * (red - white), white - t * (blue - white))
    return rgb.round().astype(np.uint8)


def _rgb(picture: np.ndarray) -> np.ndarray:
    picture = np.asarray(picture)
    if picture.ndim == 2:
        picture = np.repeat(picture[..., None], 3, axis=2)
    return np.clip(picture, 0, 255).astype(np.uint8)


def _rectangle(window: Window, *, color: str = HIGHLIGHT, dash: str = "solid", **where) -> dict:
    return dict(type="rect", x0=window.left - 0.5, x1=window.right - 0.5, y0=window.top - 0.5,
                y1=window.bottom - 0.5, line=dict(color=color, width=3, dash=dash), **where)


def overlay(picture: np.ndarray, channel_map: np.ndarray, *, first_centre: tuple[float, float],
            jump: tuple[int, int], window: Window | None = None, opacity: float = 0.55,
            title: str | None = None, colorscale: str = "Viridis", height: int | None = None,
            zrange: tuple[float, float] | None = None) -> go.Figure:
    """One channel laid over the input picture, each value at the centre of its receptive field.

    Meant beside :func:`enlarged_channel` of the same map: both use the map's min..max (or
    ``zrange``), so a value has the same colour in both, and only the enlarged map carries the
    colour bar (one "value" bar on the page, not two).

    ``first_centre`` is the input position (row, col) that value (0, 0) is centred on and
    ``jump`` the input pixels between neighbouring values, so the map lines up with what it saw.
    ``window`` (the receptive field of a chosen value) is drawn as a box, dashed where it
    reaches into the padding.
    """
    picture = _rgb(picture)
    h, w = picture.shape[:2]
    m = np.asarray(channel_map, dtype=np.float32)
    traces = [dict(type="image", z=picture, hoverinfo="skip"),
              dict(type="heatmap", z=m, x0=first_centre[1], dx=jump[1], y0=first_centre[0], dy=jump[0],
                   opacity=opacity, colorscale=_scale(colorscale), showscale=False,
                   zmin=_range(m, zrange)[0], zmax=_range(m, zrange)[1],
                   hovertemplate="value %{z:.4g}<extra></extra>")]
    shapes = []
    top = left = 0.0
    bottom, right = float(h), float(w)
    if window is not None:
        inside = window.clipped(h, w)
        if inside != window:
            shapes.append(_rectangle(window, dash="dot"))
        shapes.append(_rectangle(inside))
        top, left = min(0, window.top), min(0, window.left)
        bottom, right = max(h, window.bottom), max(w, window.right)
    return _figure(traces, title=title, height=height or 480, shapes=shapes,
                   xaxis=dict(visible=False, range=[left - 0.5, right - 0.5]),
                   yaxis=dict(visible=False, range=[bottom - 0.5, top - 0.5], scaleanchor="x"))


def _cell_markers(rows: int, cols: int) -> dict:
    """An invisible marker at the centre of every cell (x = column, y = row), for selecting cells
    (Plotly selects points, not heatmap cells)."""
    rr, cc = np.mgrid[0:rows, 0:cols]
    # hoverinfo "none" (not "skip"): no label, but clicks still reach the points
    return dict(type="scatter", x=cc.ravel(), y=rr.ravel(), mode="markers", hoverinfo="none",
                marker=dict(size=max(4, 360 // max(rows, cols)), symbol="square", opacity=0.01),
                selected=dict(marker=dict(opacity=0.01)), unselected=dict(marker=dict(opacity=0.01)))


def _range(m: np.ndarray, zrange: tuple[float, float] | None) -> tuple[float, float]:
    """The colour range of one channel: ``zrange``, else its finite min..max."""
    if zrange is not None:
        return float(zrange[0]), float(zrange[1])
    finite = m[np.isfinite(m)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)


def enlarged_channel(channel_map: np.ndarray, *, position: tuple[int, int] | None = None,
                     title: str | None = None, colorscale: str = "Viridis", clickable: bool = False,
                     height: int | None = None, zrange: tuple[float, float] | None = None) -> go.Figure:
    """One channel big, with the chosen value boxed; hover shows row, column and value.

    ``clickable`` puts an invisible marker on every value, so a click selects a position; the
    selected point's x and y are its column and row.
    """
    m = np.asarray(channel_map, dtype=np.float32)
    low, high = _range(m, zrange)
    traces = [dict(type="heatmap", z=m, colorscale=_scale(colorscale), colorbar=_colorbar("value"),
                   zmin=low, zmax=high, hovertemplate="row %{y}, col %{x}<br>value %{z:.4g}<extra></extra>")]
    if clickable:
        traces.append(_cell_markers(*m.shape))
    shapes = [] if position is None else [_rectangle(Window(position[0], position[1], position[0] + 1,
                                                            position[1] + 1))]
    rows, cols = m.shape  # fixed ranges: the invisible markers would otherwise pad the axes
    return _figure(traces, title=title, height=height or 480, shapes=shapes, showlegend=False,
                   clickmode="event+select" if clickable else "event",
                   xaxis=dict(constrain="domain", showgrid=False, range=[-0.5, cols - 0.5]),
                   yaxis=dict(range=[rows - 0.5, -0.5], scaleanchor="x", constrain="domain", showgrid=False))


def drawing_canvas(grid: np.ndarray, *, height: int = 460) -> go.Figure:
    """A coarse drawing (G, G) of ink 0..1 as big cells, white ink on black; every cell can be
    selected (click, box or lasso), which the page turns into painting.

    The default drag mode is "pan" on fixed axes, so dragging moves nothing and a click selects
    one cell (in Streamlit a click selects only outside the box and lasso modes).
    """
    g = np.asarray(grid, dtype=np.float32)
    traces = [dict(type="heatmap", z=g, zmin=0, zmax=1, colorscale=_scale("gray"), showscale=False, xgap=1, ygap=1,
                   hoverinfo="skip"), _cell_markers(*g.shape)]
    # fixed ranges: the markers would otherwise pad the axes and shrink the cells
    xaxis, yaxis = _image_axes()
    xaxis.update(range=[-0.5, g.shape[1] - 0.5], fixedrange=True)
    yaxis.update(range=[g.shape[0] - 0.5, -0.5], autorange=False, fixedrange=True)
    return _figure(traces, height=height, xaxis=xaxis, yaxis=yaxis, showlegend=False, dragmode="pan",
                   clickmode="event+select")


def _shape_text(shape) -> str:
    return "×".join(str(s) for s in shape)


# The width the overview is laid out for: the page's main column at 1280×720 with the Presenter
# switch on (larger sidebar and page text leave ~700 px); wider screens only get more room.
OVERVIEW_WIDTH_PX = 700
# A feature map's column in the overview at least this wide (at OVERVIEW_WIDTH_PX): the ImageNet
# network's 19 stages in one row left 28-px thumbnails of its 224² photo, specks from the back row
# (issue 25). A network with more stages wraps onto further rows (the digits model keeps one).
MIN_MAP_PX = 50
_TITLE_LINE_PX = 1.25 * SMALL_FONT * style.PRESENTER_SCALE  # one line of a column title (or a class), presenter size
# The width a phone variant of the overview is laid out for: the page's column on a 360-px phone.
PHONE_OVERVIEW_WIDTH_PX = 330


def title_levels(centres_px, widths_px, gap_px: float = 8.0) -> list[int]:
    """The row (0 = lowest) each column title goes on so that no two titles on one row overlap:
    each title takes the lowest row whose last title ends ``gap_px`` before it starts."""
    ends: list[float] = []
    levels = []
    for centre, width in zip(centres_px, widths_px):
        left = centre - width / 2
        for level, end in enumerate(ends):
            if left >= end + gap_px:
                ends[level] = centre + width / 2
                levels.append(level)
                break
        else:
            ends.append(centre + width / 2)
            levels.append(len(ends) - 1)
    return levels


MAX_CLASS_ROWS = 20  # a softmax column with more classes (ImageNet's 1000) shows only the most probable
TOP_CLASSES = 10


def _shown_classes(probabilities: np.ndarray) -> np.ndarray:
    """The classes a softmax column shows: all of them, or the TOP_CLASSES most probable (best first)."""
    p = np.asarray(probabilities).reshape(-1)
    if p.size <= MAX_CLASS_ROWS:
        return np.arange(p.size)
    return np.argsort(-p, kind="stable")[:TOP_CLASSES]


def network_overview(picture: np.ndarray, acts: dict[str, np.ndarray], *, classes: list[str],
                     max_channels: int = 6, height: int = 620, width_px: int = OVERVIEW_WIDTH_PX,
                     min_map_px: float = MIN_MAP_PX) -> go.Figure:
    """The whole network as columns, input -> ... -> probabilities, each titled with its shape.

    Feature maps show their first ``max_channels`` channels stacked, each stretched to its own
    range so its pattern is visible; vectors (flatten, linear) are a thin strip; the last
    column is the class probabilities (percentages in the cells, class names to its right; with
    more than MAX_CLASS_ROWS classes only the TOP_CLASSES most probable, best first).
    ``acts`` maps layer names to one image's outputs (without the batch dimension), as
    :func:`vizcore.features.activations` gives them.

    Readable with many narrow columns (a 64×64 model has twenty): a title gives its shape only
    where the shape changes (a ReLU keeps its input's), and titles that would overlap at
    ``width_px`` (Presenter font sizes) go on rows above one another.
    """
    picture = np.asarray(picture)
    names = list(acts)
    count = len(names) + 1
    spacing = 0.012
    # maps get twice the width of vector strips; the probabilities room for "100%" (presenter size)
    percent_px = style.text_width("100%", SMALL_FONT * style.PRESENTER_SCALE) + 12
    weights = [2.0] + [2.0 if np.ndim(acts[n]) == 3 else 1.0 for n in names]
    rows = _overview_rows(weights, names and names[-1] == SOFTMAX, spacing, percent_px / width_px,
                          min_map_px / 2 / width_px)
    lefts, units, row_of = np.zeros(count), np.zeros(count), np.zeros(count, dtype=int)
    for r, (columns, unit, row_weights) in enumerate(rows):
        weights[columns[0]:columns[-1] + 1] = row_weights
        lefts[columns] = np.concatenate([[0.0], np.cumsum([w * unit + spacing for w in row_weights[:-1]])])
        units[columns], row_of[columns] = unit, r
    picture_shape = (1,) + picture.shape if picture.ndim == 2 else (picture.shape[2],) + picture.shape[:2]
    shapes_ = [tuple(picture_shape)] + [tuple(np.shape(acts[n])) for n in names]
    titles = ["input<br>" + _shape_text(shapes_[0])]
    for k, n in enumerate(names, start=1):  # the shape where it changes: fewer labels to read
        changed = shapes_[k] != shapes_[k - 1] or k == len(names)  # the probabilities: always
        if n == SOFTMAX and np.size(acts[n]) > MAX_CLASS_ROWS:
            titles.append(f"{n}<br>top {TOP_CLASSES} of {np.size(acts[n])}")
        else:
            titles.append(f"{n}<br>{_shape_text(shapes_[k])}" if changed else n)
    traces = [dict(type="image", z=_rgb(picture), hoverinfo="skip", xaxis="x", yaxis="y")]
    layout, annotations = {}, []
    for col, name in enumerate(names, start=2):
        a = np.asarray(acts[name], dtype=np.float32)
        axes = dict(xaxis=f"x{col}", yaxis=f"y{col}")
        if a.ndim == 3:
            shown = a[:max_channels]
            z, _ = mosaic(_scaled(shown), 1)
            true, _ = mosaic(shown, 1)
            traces.append(dict(type="heatmap", z=z, customdata=true, colorscale=_scale("Viridis"), showscale=False,
                               hoverongaps=False, hovertemplate=f"{name}<br>value %{{customdata:.4g}}<extra></extra>",
                               **axes))
        elif name == SOFTMAX:
            shown_classes = _shown_classes(a)
            p = a.reshape(-1)[shown_classes].reshape(-1, 1)
            labels = [style.plain(classes[k]) if k < len(classes) else str(k) for k in shown_classes]
            traces.append(dict(type="heatmap", z=p, y=labels, x=[0], zmin=0, zmax=1, colorscale=_scale("Blues"),
                               showscale=False, text=np.char.mod("%.0f%%", 100 * p), texttemplate="%{text}",
                               textfont=dict(size=SMALL_FONT), hovertemplate="%{y}: %{z:.3f}<extra></extra>", **axes))
        else:
            traces.append(dict(type="heatmap", z=a.reshape(-1, 1), colorscale=_scale("Viridis"), showscale=False,
                               hovertemplate=f"{name}[%{{y}}] = %{{z:.4g}}<extra></extra>", **axes))
    spans = [(float(lefts[c]), weights[c] * units[c]) for c in range(count)]
    widths = [max(style.text_width(line, SMALL_FONT * style.PRESENTER_SCALE) for line in t.split("<br>"))
              for t in titles]
    # the centre of each title, kept inside the figure (the first and last would run past its edges)
    centres = [min(max(left + width / 2, w_px / 2 / width_px), 1 - w_px / 2 / width_px)
               for (left, width), w_px in zip(spans, widths)]
    levels = [0] * count
    for columns, _, _ in rows:  # each row's titles on its own lines
        for c, level in zip(columns, title_levels([centres[c] * width_px for c in columns], [widths[c] for c in columns])):
            levels[c] = level
    # Rows from the top, in px of the plot area: a row under another has its titles' lines above it.
    # A row is at most as tall as its stacked maps are wide (a quarter more for a wider page): at
    # 620 px the digits model's maps filled two thirds of it, and the strip pushed itself below
    # a projector's first screen (issue 25).
    # (the top line's shift as its annotation rounds it, then that line's two text lines)
    titles_px = [round(max(levels[c] for c in columns) * 2 * _TITLE_LINE_PX) + 2 * _TITLE_LINE_PX
                 for columns, _, _ in rows]
    stacked = min(max_channels, max([np.shape(a)[0] for a in acts.values() if np.ndim(a) == 3], default=1))
    row_px = [min(height, stacked * 2 * unit * width_px * 1.25) for _, unit, _ in rows]
    if names and names[-1] == SOFTMAX:  # a line of text for each class's percentage: at a phone's
        # width the row came out so low that the percentages ran into each other
        classes_px = len(_shown_classes(acts[SOFTMAX])) * _TITLE_LINE_PX
        row_px[-1] = max(row_px[-1], classes_px)
    tops = [0.0]
    for r in range(1, len(rows)):
        tops.append(tops[-1] + row_px[r - 1] + titles_px[r] + 12)
    plot_px = tops[-1] + row_px[-1]
    domains = [(1 - (top + px) / plot_px, 1 - top / plot_px) for top, px in zip(tops, row_px)]
    for col in range(1, count + 1):
        suffix = "" if col == 1 else str(col)
        left, width = spans[col - 1]
        is_map = col == 1 or np.ndim(acts[names[col - 2]]) == 3
        layout[f"xaxis{suffix}"] = dict(domain=[left, min(1.0, left + width)], visible=False, constrain="domain",
                                        anchor=f"y{suffix}")
        # a picture or map at the top of its row, right under its title (not centred in the row)
        layout[f"yaxis{suffix}"] = dict(domain=list(domains[row_of[col - 1]]), visible=False, autorange="reversed", anchor=f"x{suffix}",
                                        **(dict(scaleanchor=f"x{suffix}", constrain="domain", constraintoward="top")
                                           if is_map else {}))
        if col > 1 and names[col - 2] == SOFTMAX:  # class names right of the column, in the margin
            layout[f"yaxis{suffix}"].update(visible=True, side="right", showgrid=False, showline=False,
                                            zeroline=False, ticks="", automargin=True,
                                            tickfont=dict(size=SMALL_FONT))
        # Titles that would overlap go one row higher: 2 lines a row (name, shape)
        annotations.append(dict(text=titles[col - 1], x=centres[col - 1], y=domains[row_of[col - 1]][1], xref="paper", yref="paper",
                                yshift=round(levels[col - 1] * 2 * _TITLE_LINE_PX),
                                xanchor="center", yanchor="bottom", showarrow=False, font=dict(size=SMALL_FONT)))
    # the plot area holds the rows exactly (the margins: the first row's titles above, 10 px below)
    fig = _figure(traces, height=round(plot_px + 20 + titles_px[0] + 10), annotations=annotations, **layout)
    fig.layout.margin.t = int(np.ceil(20 + titles_px[0]))
    return fig


def _overview_rows(weights: list[float], probabilities: bool, spacing: float, percent_share: float,
                   min_unit: float) -> list[tuple[list[int], float, list[float]]]:
    """The overview's columns on as few rows as give a unit of weight ``min_unit`` of the width
    (a map column has weight 2): [(column indices, unit, the row's weights)], consecutive
    columns on each row. ``probabilities``: the last column is the class probabilities, given
    ``percent_share`` of its row's width (at most 0.3)."""
    count = len(weights)
    for n_rows in range(1, count + 1):
        size = -(-count // n_rows)  # columns per row, the last row may have fewer
        rows = []
        for start in range(0, count, size):
            columns = list(range(start, min(start + size, count)))
            row_weights = [weights[c] for c in columns]
            if probabilities and columns[-1] == count - 1 and len(columns) > 1:
                share = min(0.3, percent_share)
                row_weights[-1] = sum(row_weights[:-1]) * share / (1 - share)
            rows.append((columns, (1 - spacing * (len(columns) - 1)) / sum(row_weights), row_weights))
        if min(unit for _, unit, _ in rows) >= min_unit:
            break
    return rows


def probabilities_bar(top: list[tuple[str, float]], *, title: str | None = "Top classes",
                      height: int | None = None) -> go.Figure:
    """Horizontal bars of the most probable classes, best at the top, with percentages."""
    names = [style.plain(name) for name, _ in top]  # class names may be a user's: literal, never markup
    values = [p for _, p in top]
    trace = dict(type="bar", x=values, y=names, orientation="h", text=[f"{100 * p:.1f}%" for p in values],
                 textposition="auto", marker=dict(color="#1f77b4"), hovertemplate="%{y}: %{x:.4f}<extra></extra>")
    return _figure([trace], title=title, height=height or 120 + 50 * len(top),
                   xaxis=dict(range=[0, 1], title=dict(text="probability"), tickformat=".0%"),
                   yaxis=dict(autorange="reversed", type="category"))


def patches_grid(patches: list[tuple[np.ndarray, int, float, Window]], *, cols: int | None = None,
                 title: str | None = None, height: int | None = None, width_px: int = 900,
                 context: np.ndarray | None = None) -> go.Figure:
    """Receptive-field crops side by side, each labelled with its image number and activation.

    With ``context`` (all the data-set pictures, indexed by image number) each whole image is
    shown instead, its receptive field boxed: small fields are easier to place that way. The
    height follows the crops' shape, so small crops are drawn large rather than lost in white
    space (``width_px``: the width the figure will roughly have on the page).
    """
    if context is not None:
        crops = [_rgb(context[p[1]]) for p in patches]
    else:
        crops = [_rgb(p[0]) for p in patches]
    if not crops:
        raise ValueError("patches_grid needs at least one patch")
    h, w = crops[0].shape[:2]
    cols = cols or min(len(crops), 9)
    rows = math.ceil(len(crops) / cols)
    gap = max(2, round(max(h, w) / 3))  # room for the label under each crop
    side_gap = max(1, gap // 4)
    canvas = np.full((rows * (h + gap), cols * (w + side_gap), 3), 255, dtype=np.uint8)
    labels, boxes = [], []
    for k, (crop, (_, index, value, window)) in enumerate(zip(crops, patches)):
        top, left = (k // cols) * (h + gap), (k % cols) * (w + side_gap)
        canvas[top:top + crop.shape[0], left:left + crop.shape[1]] = crop
        labels.append(dict(x=left + w / 2 - 0.5, y=top + h - 0.5, text=f"#{index}: {value:.2f}", showarrow=False,
                           yanchor="top", font=dict(size=SMALL_FONT)))
        if context is not None:
            inside = window.clipped(h, w)
            boxes.append(_rectangle(Window(inside.top + top, inside.left + left, inside.bottom + top,
                                           inside.right + left)))
    natural = width_px * canvas.shape[0] / canvas.shape[1]
    return _figure([dict(type="image", z=canvas, hoverinfo="skip")], title=title, annotations=labels, shapes=boxes,
                   height=height or int(min(900, max(180, 70 + natural))),
                   xaxis=dict(visible=False), yaxis=dict(visible=False))
