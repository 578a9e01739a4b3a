"""Pooling figures: the input with its windows and max winners, the pooled output, the
translation experiment and receptive fields drawn on the input.

The numbers come from :mod:`vizcore.pooling`; these builders only draw them.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from vizcore.figures import style
from vizcore.pooling import MODES, FieldRow, PoolWindow, ShiftEffect

_MODE_NAMES = {"max": "max", "avg": "average"}  # the figure titles' words
WINDOW_COLOUR = "#d62728"
CHANGE_SCALE = "Reds"  # sequential: white = unchanged, darker = changed more
WINNER_COLOUR = "#ffbf00"
SMALL = 16  # matrices up to this size get their numbers written in


def _box(fig: go.Figure, top: float, bottom: float, left: float, right: float, **line) -> None:
    """Outline cells top..bottom, left..right (inclusive indices)."""
    fig.add_shape(type="rect", x0=left - 0.5, x1=right + 0.5, y0=top - 0.5, y1=bottom + 0.5,
                  line=line, fillcolor="rgba(0,0,0,0)")


def value_range(*arrays) -> tuple[float, float]:
    """One (min, max) over the finite values of all ``arrays``: the input and output figures
    share it, so the same value has the same colour in both."""
    finite = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def matrix_figure(x, windows: list[PoolWindow], mode: str, selected: tuple[int, int] | None = None,
                  padding=(0, 0), title: str | None = "Input",
                  zrange: tuple[float, float] | None = None) -> go.Figure:
    """The input matrix with its padding ring, the selected output cell's window (red) and,
    for max pooling, every winning cell (circles; the selected window's winner filled gold).

    ``zrange``: the colour range, shared with the output figure (default: the input's range and
    the values the windows give, see :func:`value_range`)."""
    x = np.asarray(x, dtype=np.float64)
    h, w = x.shape
    ph, pw = padding
    small = max(h, w) <= SMALL
    zmin, zmax = zrange or value_range(x, [c.value for c in windows])
    fig = style.heatmap(x, title=title, colorscale="Viridis", show_values=small, colorbar_title="value",
                        x=list(range(w)), y=list(range(h)), zmin=zmin, zmax=zmax)
    bottom = max([h - 1 + ph] + [c.padded_rows[1] - 1 for c in windows])
    right = max([w - 1 + pw] + [c.padded_cols[1] - 1 for c in windows])
    if ph or pw or bottom >= h or right >= w:
        _box(fig, -ph, bottom, -pw, right, color="gray", width=2, dash="dot")
        if small:
            pad_cells = [(r, c) for r in range(-ph, bottom + 1) for c in range(-pw, right + 1)
                         if not (0 <= r < h and 0 <= c < w)]
            fig.add_trace(go.Scatter(
                x=[c for _, c in pad_cells], y=[r for r, _ in pad_cells], mode="text",
                text=["−∞" if mode == "max" else "0"] * len(pad_cells),
                textfont=dict(color="gray", size=style.FONT_SIZE - 4),
                name="padding", hoverinfo="skip", showlegend=False,
            ))
    fig.update_xaxes(range=[-pw - 0.5, right + 0.5], autorange=False)
    fig.update_yaxes(range=[bottom + 0.5, -ph - 0.5], autorange=False)
    if mode == "max":
        winners = sorted({c.winner for c in windows})
        fig.add_trace(go.Scatter(
            x=[c for _, c in winners], y=[r for r, _ in winners], mode="markers", name="max winners",
            marker=dict(symbol="circle-open", size=26 if small else 8, color=WINNER_COLOUR,
                        line=dict(width=3)),
            hovertemplate="winner at row %{y}, col %{x}<extra></extra>",
        ))
    chosen = [c for c in windows if (c.out_row, c.out_col) == selected]
    if chosen:
        cell = chosen[0]
        _box(fig, cell.padded_rows[0], cell.padded_rows[1] - 1, cell.padded_cols[0],
             cell.padded_cols[1] - 1, color=WINDOW_COLOUR, width=5)
        if cell.winner is not None:
            r, c = cell.winner
            fig.add_shape(type="rect", x0=c - 0.5, x1=c + 0.5, y0=r - 0.5, y1=r + 0.5,
                          line=dict(color=WINNER_COLOUR, width=5), fillcolor="rgba(255,191,0,0.35)")
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.02))
    return fig


def output_figure(out, selected: tuple[int, int] | None = None, title: str | None = "Output",
                  zrange: tuple[float, float] | None = None) -> go.Figure:
    """The pooled matrix with the selected cell outlined in red; ``zrange``: the colour range,
    the input's (:func:`value_range`), so a value keeps its colour from input to output."""
    out = np.asarray(out, dtype=np.float64)
    small = max(out.shape) <= SMALL
    zmin, zmax = zrange or value_range(out)
    fig = style.heatmap(out, title=title, colorscale="Viridis", show_values=small, colorbar_title="value",
                        x=list(range(out.shape[1])), y=list(range(out.shape[0])), zmin=zmin, zmax=zmax)
    if selected is not None:
        _box(fig, selected[0], selected[0], selected[1], selected[1], color=WINDOW_COLOUR, width=5)
    return fig


def map_figure(x, title: str | None = None, height: int | None = None) -> go.Figure:
    """An image ((3, H, W), 0..255) as a photo, or a single-channel map as a gray heatmap."""
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[0] == 3:
        return style.image(x, title=title, height=height)
    if x.ndim == 3:
        x = x[0]
    return style.heatmap(x, title=title, colorbar_title="value", height=height)


def translation_figure(effects: dict[str, ShiftEffect], height: int | None = 420) -> go.Figure:
    """|change| of the max-pooled and the average-pooled map side by side, one colour scale.

    The scale is sequential, white for "no change" to dark red for the largest change, so it
    never wraps around to a colour it started with."""
    from plotly.subplots import make_subplots

    names = [m for m in MODES if m in effects]
    titles = [f"{_MODE_NAMES[m]} pooling<br>{effects[m].unchanged_fraction:.0%} unchanged" for m in names]
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=titles, horizontal_spacing=0.08)
    changes = [_first_channel(effects[m].change) for m in names]
    top = max(float(c.max()) for c in changes) or 1.0
    for col, change in enumerate(changes, start=1):
        fig.add_trace(go.Heatmap(
            z=change, coloraxis="coloraxis",
            hovertemplate="row %{y}, col %{x}<br>|change| %{z:.4g}<extra></extra>",
        ), row=1, col=col)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{col if col > 1 else ''}",
                         constrain="domain", row=1, col=col)
        fig.update_xaxes(constrain="domain", row=1, col=col)
    fig.update_layout(coloraxis=dict(colorscale=CHANGE_SCALE, cmin=0, cmax=top,
                                     colorbar=style.colorbar("|change|<br>(one scale)")))
    fig.update_annotations(font_size=style.FONT_SIZE)
    return style.style(fig, height=height, margin=dict(l=10, r=10, t=80, b=10))  # two-line subplot titles


def receptive_field_figure(x, rows: list[FieldRow], title: str | None = "Receptive field on the input") -> go.Figure:
    """Each layer's receptive field (one unit) drawn as a square on the input."""
    fig = map_figure(x, title=title)
    palette = ["#e41a1c", "#ff7f00", "#ffff33", "#4daf4a", "#00ffff", "#377eb8", "#f781bf", "#ffffff"]
    for k, row in enumerate(rows):
        top, bottom, left, right = row.box
        xs = [left - 0.5, right + 0.5, right + 0.5, left - 0.5, left - 0.5]
        ys = [top - 0.5, top - 0.5, bottom + 0.5, bottom + 0.5, top - 0.5]
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines", name=f"{row.name}: {row.size}×{row.size}",
            line=dict(color=palette[k % len(palette)], width=3),
            hovertemplate=f"{row.name}<br>field {row.size}×{row.size} px<extra></extra>",
        ))
    h, w = np.asarray(x).shape[-2:] if np.asarray(x).ndim == 3 and np.asarray(x).shape[0] == 3 \
        else np.asarray(x).shape[:2]
    lo_r = min([0] + [r.box[0] for r in rows]) - 0.5
    hi_r = max([h - 1] + [r.box[1] for r in rows]) + 0.5
    lo_c = min([0] + [r.box[2] for r in rows]) - 0.5
    hi_c = max([w - 1] + [r.box[3] for r in rows]) + 0.5
    fig.update_xaxes(range=[lo_c, hi_c], autorange=False)
    fig.update_yaxes(range=[hi_r, lo_r], autorange=False)
    # below the x tick labels of a gray map (a photo has none), never on top of them
    fig.update_layout(showlegend=True, legend=dict(orientation="h", yanchor="top", y=-0.1))
    return fig


def _first_channel(x: np.ndarray) -> np.ndarray:
    return x if x.ndim == 2 else x.mean(axis=0)
