"""Figures of the Explanation scores page: score bars, time bars, deletion/insertion curves, the
shortcut lesson's bars and the pictures of the hits-and-misses gallery.

Methods are drawn in the app's blue, the reference maps (random, centre prior, Sobel edges) in
grey, so a glance shows which methods beat a map that knows nothing about the model. Figures are
plain dicts with the app's template (:func:`vizcore.figures.style.layout`), wrapped without Plotly's slow
validation; the tests validate them.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from scipy import ndimage

from vizcore.figures import style

METHOD_COLOUR = "#1f77b4"
REFERENCE_COLOUR = "#9a9a9a"
OBJECT_COLOUR = "#2ca02c"
TAG_COLOUR = "#d62728"
REFERENCE_DASHES = ("dot", "dash", "dashdot")
LOWER_IS_BETTER = {"deletion AUC", "ms / image"}
EDGES = "Edges (Sobel)"
HIT, MISS = (40, 200, 60), (230, 30, 30)       # the peak's marker in the gallery
OUTLINE = (0, 230, 255)                        # the object's outline (cyan shows on most colours)


def _figure(data: list[dict], **layout) -> go.Figure:
    return go.Figure(dict(data=data, layout=layout), _validate=False)


def _bar_height(rows: int) -> int:
    return 90 + 34 * rows


def score_bars(rows: Sequence[Mapping], column: str, *, title: str | None = None) -> go.Figure:
    """One score of every method and reference as horizontal bars, best at the top.

    A dashed line marks the edge detector's value: a method on the wrong side of it explains
    the picture's edges, not the model.
    """
    rows = [r for r in rows if np.isfinite(r.get(column, np.nan))]
    reverse = column not in LOWER_IS_BETTER
    rows = sorted(rows, key=lambda r: r[column], reverse=reverse)[::-1]  # plotly draws bottom-up
    values = [float(r[column]) for r in rows]
    names = [str(r["method"]) for r in rows]
    colours = [REFERENCE_COLOUR if r["kind"] == "reference" else METHOD_COLOUR for r in rows]
    percent = column not in ("ms / image",) and "AUC" not in column
    text = [f"{v:.0%}" if percent else style.number(v) for v in values]
    bars = dict(type="bar", orientation="h", x=values, y=names, marker=dict(color=colours), text=text,
                textposition="outside", cliponaxis=False,
                hovertemplate="%{y}: %{x:.3f}<extra></extra>")
    shapes, annotations = [], []
    edge = next((r[column] for r in rows if r["method"] == EDGES), None)
    if edge is not None and column != "ms / image":
        shapes.append(dict(type="line", x0=edge, x1=edge, yref="paper", y0=0, y1=1,
                           line=dict(color="#444444", dash="dash", width=2)))
        annotations.append(dict(x=edge, y=1, yref="paper", yanchor="bottom", text="edge detector",
                                showarrow=False))
    top = max(values + [1e-9])
    axis_max = top * 1.18 if not percent else max(1.0, top) * 1.12
    xaxis = dict(title=dict(text=column + (" (lower is better)" if column in LOWER_IS_BETTER else "")),
                 range=[0, axis_max], tickformat=".0%" if percent else None)
    layout = style.layout(title=title, height=_bar_height(len(rows)) + 30, xaxis=xaxis, yaxis=dict(automargin=True),
                          shapes=shapes, annotations=annotations, showlegend=False)
    layout["margin"] = dict(l=10, r=10, t=(60 if title else 10) + 30, b=10)  # room for the line's label
    return _figure([bars], **layout)


def time_bars(seconds: Mapping[str, float], n_images: int, *, title: str | None = None) -> go.Figure:
    """Each method's share of the run's time (ms per image written on the bar), largest on top."""
    items = sorted(((k, v) for k, v in seconds.items()), key=lambda kv: kv[1])
    total = sum(v for _, v in items) or 1.0
    names = [k for k, _ in items]
    shares = [v / total for _, v in items]
    text = [f"{s:.0%} · {style.number(1000 * v / max(n_images, 1))} ms/image" for (_, v), s in zip(items, shares)]
    bars = dict(type="bar", orientation="h", x=shares, y=names, text=text, textposition="outside",
                cliponaxis=False, marker=dict(color=METHOD_COLOUR),
                hovertemplate="%{y}: %{x:.1%} of the time<extra></extra>")
    return _figure([bars], **style.layout(title=title, height=_bar_height(len(names)),
                                          xaxis=dict(title=dict(text="share of the time"), range=[0, 1.45],
                                                     tickformat=".0%"),
                                          yaxis=dict(automargin=True), showlegend=False))


def curves(fractions: np.ndarray, deletion: Mapping[str, np.ndarray], insertion: Mapping[str, np.ndarray],
           references: Sequence[str] = (), *, title: str | None = None, height: int = 520) -> go.Figure:
    """Deletion (left) and insertion (right) curves of one image, one line per method.

    x: the share of pixels removed (or revealed) in the map's order; y: the explained class's
    probability. The legend gives each line's area under the curve.
    """
    fractions = np.asarray(fractions, dtype=np.float64)
    palette = style.TEMPLATE.layout.colorway
    data = []
    method_index = 0
    for name in deletion:
        if name in references:
            k = list(references).index(name)
            line = dict(color=REFERENCE_COLOUR, dash=REFERENCE_DASHES[k % len(REFERENCE_DASHES)], width=2)
        else:
            line = dict(color=palette[method_index % len(palette)], width=2.5)
            method_index += 1
        for side, values, axes in (("deletion", deletion[name], ("x", "y")), ("insertion", insertion[name], ("x2", "y2"))):
            values = np.asarray(values, dtype=np.float64)
            area = float(((values[1:] + values[:-1]) / 2 * np.diff(fractions)).sum())
            data.append(dict(type="scatter", mode="lines", x=fractions, y=values, name=name, legendgroup=name,
                             showlegend=side == "deletion", line=line, xaxis=axes[0], yaxis=axes[1],
                             hovertemplate=f"{name} ({side}, AUC {area:.3f})<br>%{{x:.0%}} of the pixels: "
                                           "p = %{y:.3f}<extra></extra>"))
    axis = dict(range=[0, 1], tickformat=".0%")
    layout = style.layout(
        title=title, height=height,
        xaxis=dict(axis, domain=[0, 0.46], title=dict(text="pixels removed, most important first")),
        xaxis2=dict(axis, domain=[0.54, 1], title=dict(text="pixels revealed, most important first"), anchor="y2"),
        yaxis=dict(range=[0, 1.02], title=dict(text="probability of the class")),
        yaxis2=dict(range=[0, 1.02], anchor="x2"),
        legend=dict(orientation="h", y=-0.38, yanchor="top", x=0),  # below the axis titles
        annotations=[dict(text="<b>Deletion</b>: should fall fast", x=0.23, y=1.0, xref="paper", yref="paper",
                          yanchor="bottom", showarrow=False),
                     dict(text="<b>Insertion</b>: should rise fast", x=0.77, y=1.0, xref="paper", yref="paper",
                          yanchor="bottom", showarrow=False)],
    )
    layout["margin"] = dict(l=10, r=10, t=(60 if title else 10) + 30, b=10)
    return _figure(data, **layout)


def cue_bars(rows: Sequence[Mapping], *, title: str | None = None) -> go.Figure:
    """The shortcut lesson: per method, how often the map's peak is on the object and on the tag."""
    rows = list(rows)[::-1]
    names = [str(r["method"]) for r in rows]
    data = [dict(type="bar", orientation="h", y=names, x=[r[column] for r in rows], name=label,
                 marker=dict(color=colour), textposition="outside",
                 text=[f"{r[column]:.0%}" if r[column] >= 0.005 else "" for r in rows],  # no "0%" clutter
                 cliponaxis=False, hovertemplate="%{y}: %{x:.0%} " + label + "<extra></extra>")
            for column, label, colour in (("points at the tag", "points at the tag", TAG_COLOUR),
                                          ("points at the object", "points at the object", OBJECT_COLOUR))]
    return _figure(data, **style.layout(
        title=title, height=120 + 58 * len(rows), barmode="group",
        xaxis=dict(range=[0, 1.15], tickformat=".0%", title=dict(text="share of images (pointing game)")),
        yaxis=dict(automargin=True), legend=dict(orientation="h", y=1.0, yanchor="bottom", x=0)))


def accuracy_bars(accuracies: Mapping[str, float], *, title: str | None = None) -> go.Figure:
    """Test accuracies (labels -> share correct) as vertical bars, with chance (1/8) marked."""
    names = list(accuracies)
    values = [float(accuracies[k]) for k in names]
    bars = dict(type="bar", x=names, y=values, text=[f"{v:.1%}" for v in values], textposition="outside",
                cliponaxis=False, marker=dict(color=[OBJECT_COLOUR if v > 0.9 else TAG_COLOUR for v in values]),
                hovertemplate="%{x}: %{y:.1%}<extra></extra>")
    layout = style.layout(
        title=title, height=380, yaxis=dict(range=[0, 1.15], tickformat=".0%", title=dict(text="test accuracy")),
        xaxis=dict(automargin=True), showlegend=False,
        shapes=[dict(type="line", xref="paper", x0=0, x1=1, y0=1 / 8, y1=1 / 8, line=dict(dash="dot", color="#444444"))],
        # beside the plot, where no bar can hide it
        annotations=[dict(xref="paper", x=1.005, y=1 / 8, xanchor="left", yanchor="middle", text="chance<br>(1 in 8)",
                          align="left", showarrow=False)])
    layout["margin"] = dict(l=10, r=90, t=60 if title else 10, b=10)
    return _figure([bars], **layout)


# --- the gallery's pictures -------------------------------------------------------------------------

def _rgb(picture: np.ndarray) -> np.ndarray:
    p = np.asarray(picture)
    if p.ndim == 2:
        p = np.repeat(p[..., None], 3, axis=2)
    return np.clip(np.round(p), 0, 255).astype(np.uint8)


def marked_picture(picture: np.ndarray, heat: np.ndarray, mask: np.ndarray | None, *, hit: bool,
                   scale: int = 4, opacity: float = 0.55) -> np.ndarray:
    """One gallery picture (H·scale, W·scale, 3) uint8: the map blended over the picture, the
    object's outline in cyan, and a cross on the map's peak, green for a hit, red for a miss.

    The peak is the first maximum in row-major order, as the pointing game takes it.
    """
    pic = _rgb(picture).astype(np.float64)
    heat = np.asarray(heat, dtype=np.float64)
    low, high = float(heat.min()), float(heat.max())
    strength = (heat - low) / (high - low) if high > low else np.zeros_like(heat)
    colours = style.colourise(strength, zmin=0.0, zmax=1.0, colorscale="YlOrRd").astype(np.float64)
    alpha = (opacity * strength)[..., None]  # weak relevance leaves the picture visible
    out = pic * (1 - alpha) + colours * alpha
    out = np.repeat(np.repeat(out, scale, axis=0), scale, axis=1)
    if mask is not None:
        big = np.repeat(np.repeat(np.asarray(mask, bool), scale, axis=0), scale, axis=1)
        edge = big & ~ndimage.binary_erosion(big, iterations=1, border_value=0)
        out[edge] = OUTLINE
    i, j = np.unravel_index(int(np.argmax(heat)), heat.shape)
    ci, cj = i * scale + scale // 2, j * scale + scale // 2
    h, w = out.shape[:2]

    def cross(arm: int, half: int, colour) -> None:
        rows, cols = slice(max(0, ci - arm), min(h, ci + arm + 1)), slice(max(0, cj - arm), min(w, cj + arm + 1))
        out[rows, max(0, cj - half):min(w, cj + half + 1)] = colour
        out[max(0, ci - half):min(h, ci + half + 1), cols] = colour

    arm = 3 * scale
    cross(arm + 1, 2, (0, 0, 0))  # a dark border: the cross shows on light and dark pictures alike
    cross(arm, 1, HIT if hit else MISS)
    return out.round().astype(np.uint8)
