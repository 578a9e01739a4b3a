"""Shape Calculator figures: the kernel positions over the padded input (like the
convolution-arithmetic figures) and the learnable parameters per layer.

The cells and windows come from :func:`vizcore.shapes.axis_layout`; these builders only draw them.
"""
from __future__ import annotations

import plotly.graph_objects as go

from vizcore.figures import style
from vizcore.shapes import AxisLayout, ShapeError, Summary, _pair, axis_layout

MAX_DRAWN_SIDE = 64  # a bigger grid has cells too small to see on a projector
PADDING_COLOUR, INPUT_COLOUR, UNSEEN_COLOUR, WINDOW_COLOUR, FIRST_COLOUR = (
    "#d9d9d9", "#9ecae1", "#ef6548", "#08306b", "#e6550d")


def _rectangles(windows, inset: float) -> tuple[list, list]:
    """x, y of closed outlines (None between them) for (row, col, height, width) windows."""
    xs, ys = [], []
    for r, c, h, w in windows:
        x0, x1, y0, y1 = c - 0.5 + inset, c + w - 0.5 - inset, r - 0.5 + inset, r + h - 0.5 - inset
        xs += [x0, x1, x1, x0, x0, None]
        ys += [y0, y0, y1, y1, y0, None]
    return xs, ys


_ZERO, _INPUT, _UNSEEN = 0, 1, 2  # the values of the grid's cells, coloured by the figure


def _grid_cells(rows: AxisLayout, cols: AxisLayout) -> tuple[list, list]:
    """Value (_ZERO, _INPUT or _UNSEEN) and hover text of every drawn cell, row by row."""
    z, text = [], []
    for row_kind, row_index, row_seen in zip(rows.kinds, rows.input_index, rows.covered):
        z_row, text_row = [], []
        for col_kind, col_index, col_seen in zip(cols.kinds, cols.input_index, cols.covered):
            if row_kind == col_kind == "input":
                seen = row_seen and col_seen
                z_row.append(_INPUT if seen else _UNSEEN)
                text_row.append(f"input row {row_index}, col {col_index}" + ("" if seen else " (never seen)"))
            else:
                z_row.append(_ZERO)
                text_row.append("inserted zero" if "inserted" in (row_kind, col_kind) else "padding (zero)")
        z.append(z_row)
        text.append(text_row)
    return z, text


def kernel_positions_figure(
    n_rows: int, n_cols: int, kernel_size, stride=1, padding=0, dilation=1,
    transposed: bool = False, output_padding: int = 0, max_outlines: int = 36,
):
    """The (padded) input grid with every kernel position, like the convolution-arithmetic figures.

    Grey: padding (or zeros inserted by a transposed convolution); blue: input; red: input cells
    no kernel tap ever touches (rows/cols the floor drops, or skipped by a large stride/dilation).
    The first window is drawn with its taps. With more than ``max_outlines`` positions only the
    first row and the first column of positions are outlined (the rest repeat the pattern).
    """
    kh, kw = _pair(kernel_size, "kernel size")
    sh, sw = _pair(stride, "stride")
    dh, dw = _pair(dilation, "dilation")
    ph, pw = _pair(padding, "padding")
    rows = axis_layout(n_rows, kh, sh, ph, dh, transposed, output_padding)
    cols = axis_layout(n_cols, kw, sw, pw, dw, transposed, output_padding)
    if max(len(rows.kinds), len(cols.kinds)) > MAX_DRAWN_SIDE:
        raise ShapeError(f"the picture is drawn for grids up to {MAX_DRAWN_SIDE} cells a side "
                         f"(this one is {len(rows.kinds)}x{len(cols.kinds)}).")

    z, text = _grid_cells(rows, cols)
    scale = [[0, PADDING_COLOUR], [1 / 3, PADDING_COLOUR], [1 / 3, INPUT_COLOUR],
             [2 / 3, INPUT_COLOUR], [2 / 3, UNSEEN_COLOUR], [1, UNSEEN_COLOUR]]
    traces = [dict(type="heatmap", z=z, text=text, zmin=0, zmax=2, colorscale=scale,
                   showscale=False, xgap=1, ygap=1, hovertemplate="%{text}<extra></extra>")]

    span_h, span_w = rows.taps[-1] + 1, cols.taps[-1] + 1
    positions = [(r, c) for r in rows.starts for c in cols.starts]
    outlined = positions if len(positions) <= max_outlines else sorted(
        {(rows.starts[0], c) for c in cols.starts} | {(r, cols.starts[0]) for r in rows.starts})
    xs, ys = _rectangles([(r, c, span_h, span_w) for r, c in outlined], 0.12)
    label = "kernel positions" if len(outlined) == len(positions) else \
        "kernel positions (first row and column)"
    traces.append(dict(type="scatter", x=xs, y=ys, mode="lines", name=label, hoverinfo="skip",
                       line=dict(color=WINDOW_COLOUR, width=2)))
    xs, ys = _rectangles([(rows.starts[0], cols.starts[0], span_h, span_w)], 0.05)
    traces.append(dict(type="scatter", x=xs, y=ys, mode="lines", name="first window",
                       hoverinfo="skip", line=dict(color=FIRST_COLOUR, width=4)))
    traces.append(dict(
        type="scatter", mode="markers", name="kernel taps", hoverinfo="skip",
        x=[cols.starts[0] + t for _ in rows.taps for t in cols.taps],
        y=[rows.starts[0] + r for r in rows.taps for _ in cols.taps],
        marker=dict(color=FIRST_COLOUR, size=9)))
    legend = [(PADDING_COLOUR, "zeros inserted / padding" if transposed else "padding"),
              (INPUT_COLOUR, "input")]
    if any(_UNSEEN in row for row in z):
        legend.append((UNSEEN_COLOUR, "never seen by the kernel"))
    for colour, name in legend:
        traces.append(dict(type="scatter", x=[None], y=[None], mode="markers", name=name,
                           marker=dict(symbol="square", size=16, color=colour)))
    axis = dict(showgrid=False, zeroline=False, showticklabels=False, constrain="domain")
    # One constructor call: plotly validates every later update separately (5x slower).
    return go.Figure(data=traces, layout=style.layout(
        title=f"{len(positions)} kernel positions → {len(rows.starts)}x{len(cols.starts)} output",
        height=max(480, min(820, 40 * len(rows.kinds) + 160)),  # projector-sized cells
        legend=dict(orientation="h", yanchor="top", y=-0.02, x=0), plot_bgcolor="white",
        xaxis=axis, yaxis=dict(axis, autorange="reversed", scaleanchor="x"),
    ))


def params_figure(summary: Summary, log_scale: bool = False):
    """Bar chart of the learnable parameters per layer (layers without parameters left out)."""
    rows = [row for row in summary.rows if row.params]
    colours = {"Conv2d": "#3182bd", "Linear": "#e6550d"}
    traces = []
    for kind in dict.fromkeys(row.kind for row in rows):
        chosen = [row for row in rows if row.kind == kind]
        traces.append(dict(
            type="bar", x=[row.name for row in chosen], y=[row.params for row in chosen], name=kind,
            marker_color=colours.get(kind, "#31a354"), textposition="outside",
            text=[f"{row.params:,}" for row in chosen], cliponaxis=False,
            hovertemplate="%{x}: %{y:,} parameters<extra></extra>",
        ))
    return go.Figure(data=traces, layout=style.layout(
        title=f"Learnable parameters per layer (total {summary.total_params:,})", height=420,
        yaxis=dict(title=dict(text="parameters"), type="log" if log_scale else "linear"),
        xaxis=dict(categoryorder="array", categoryarray=[row.name for row in rows]),
        legend=dict(title=dict(text="layer type")), uniformtext=dict(minsize=style.MIN_FONT_SIZE, mode="hide"),
    ))
