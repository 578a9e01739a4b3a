"""Plotly figures for the explanation pages: maps laid over the input, side by side, and the sanity check.

Colours: the picture is shown in grey (a coloured map stands out on any photo); an absolute map
(|gradient|, Grad-CAM) runs from transparent through yellow to dark red, so low values leave
the picture visible; a signed map uses the app's diverging red–blue
scale, transparent at exactly 0 (its range is always symmetric around 0). ``opacity`` fades
the whole map further. Figures are plain dicts wrapped without Plotly's per-property
validation (slow, and pages rebuild them on every rerun); the tests validate every figure.
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from vizcore.explain.heatmap import clip_value
from vizcore.figures import style

# (position, colour) stops; alpha rises with the value, so weak evidence does not hide the picture
ABSOLUTE_SCALE = (
    (0.0, "rgba(255,255,204,0)"), (0.15, "rgba(255,237,160,0.35)"), (0.35, "rgba(254,178,76,0.7)"),
    (0.6, "rgba(252,78,42,0.9)"), (0.8, "rgba(213,0,33,1)"), (1.0, "rgba(128,0,38,1)"),
)
SIGNED_SCALE = (
    (0.0, "rgba(5,48,97,1)"), (0.2, "rgba(33,102,172,0.95)"), (0.4, "rgba(146,197,222,0.6)"),
    (0.5, "rgba(247,247,247,0)"),
    (0.6, "rgba(244,165,130,0.6)"), (0.8, "rgba(178,24,43,0.95)"), (1.0, "rgba(103,0,31,1)"),
)
# The opaque scales with the same hues, for PNG downloads of a map (map_png).
PNG_SCALES = {False: "YlOrRd", True: style.DIVERGING}
SANITY_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")


def map_png(values: np.ndarray, *, zmin: float, zmax: float, colorscale: str, min_side: int = 256) -> bytes:
    """A map (H, W) as PNG bytes in its chart's colours, enlarged by a whole factor with square
    pixels (a 28×28 map would otherwise be a speck in an image viewer)."""
    v = np.asarray(values)
    if v.ndim != 2:
        from vizcore.explain import ExplainError  # here: the explain package loads torch

        raise ExplainError(f"A map for a PNG must be 2D (H, W), got shape {v.shape}.")
    picture = style.colourise(v, zmin=zmin, zmax=zmax, colorscale=colorscale)
    factor = max(1, -(-min_side // max(v.shape)))
    picture = np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)
    buf = io.BytesIO()
    Image.fromarray(picture, "RGB").save(buf, format="PNG")
    return buf.getvalue()


def _picture(picture: np.ndarray, grey: bool = False) -> np.ndarray:
    """An (H, W, 3) uint8 picture; ``grey``: its luminance only (ITU-R 601 weights)."""
    p = np.asarray(picture)
    if p.ndim == 3 and p.shape[0] in (1, 3) and p.shape[-1] not in (1, 3):
        p = p.transpose(1, 2, 0)
    if p.ndim == 3 and p.shape[-1] == 1:
        p = p[..., 0]
    if p.ndim == 2:
        p = np.repeat(p[..., None], 3, axis=2)
    if p.ndim != 3 or p.shape[-1] != 3:
        raise ValueError(f"A picture must be (H, W) or (H, W, 3), got shape {np.asarray(picture).shape}.")
    p = np.clip(np.nan_to_num(p.astype(np.float64)), 0, 255)
    if grey:
        p = np.repeat((p @ np.array([0.299, 0.587, 0.114]))[..., None], 3, axis=2)
    return p.round().astype(np.uint8)


def value_range(heat: np.ndarray, *, signed: bool, clip: float = 100.0) -> tuple[float, float]:
    """(zmin, zmax) of one map: ±max|value| when signed (0 in the middle), else min … max.

    ``clip`` below 100: the top is :func:`vizcore.explain.clip_value`, the ``clip``-th percentile
    of |value|, so a few extreme pixels do not set the scale."""
    h = np.asarray(heat, dtype=np.float64)
    finite = h[np.isfinite(h)]
    if not finite.size:
        return (-1.0, 1.0) if signed else (0.0, 1.0)
    top = clip_value(finite, clip)  # at 100: the largest |value|
    if signed:
        bound = top or 1.0
        return -bound, bound
    low = float(min(finite.min(), 0.0))
    high = top if clip < 100 and top > low else float(finite.max())
    return (low, high) if high > low else (low, low + 1.0)


def clip_note(clip: float) -> str:
    """What a colour bar adds to its title when its scale is clipped ("" when it is not)."""
    return "" if clip >= 100 else f" (top {100 - clip:g} % clipped)"


def shared_range(maps: Sequence[np.ndarray], *, signed: bool, clip: float = 100.0) -> tuple[float, float]:
    """One (zmin, zmax) for several maps, so equal colours mean equal values in every map."""
    ranges = [value_range(m, signed=signed, clip=clip) for m in maps]
    if not ranges:
        return (-1.0, 1.0) if signed else (0.0, 1.0)
    low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
    if signed:
        bound = max(-low, high)
        return -bound, bound
    return low, high


def _heat_trace(heat: np.ndarray, shape: tuple[int, int], *, signed: bool, opacity: float, zmin: float,
                zmax: float, colorbar: dict | None, xaxis: str = "x", yaxis: str = "y") -> dict:
    """A map as a heatmap over a picture of ``shape`` (H, W); a coarser map's cells are stretched
    to cover the picture (cell k spans picture pixels k·H/h … (k+1)·H/h)."""
    h = np.asarray(heat, dtype=np.float32)
    rows, cols = h.shape
    dy, dx = shape[0] / rows, shape[1] / cols
    trace = dict(type="heatmap", z=h, x0=(dx - 1) / 2, dx=dx, y0=(dy - 1) / 2, dy=dy, zmin=zmin, zmax=zmax,
                 colorscale=[list(s) for s in (SIGNED_SCALE if signed else ABSOLUTE_SCALE)],
                 opacity=float(opacity), xaxis=xaxis, yaxis=yaxis, showscale=colorbar is not None,
                 hovertemplate="row %{y:.0f}, col %{x:.0f}<br>value %{z:.4g}<extra></extra>")
    if colorbar is not None:
        trace["colorbar"] = colorbar
    return trace


def _axes(shape: tuple[int, int], domain_x=(0.0, 1.0), domain_y=(0.0, 1.0), anchor: str = "x") -> tuple[dict, dict]:
    # sums of fractions can land a hair outside [0, 1], which Plotly refuses
    domain_x, domain_y = ([min(1.0, max(0.0, round(v, 9))) for v in d] for d in (domain_x, domain_y))
    x = dict(visible=False, range=[-0.5, shape[1] - 0.5], domain=list(domain_x), constrain="domain")
    y = dict(visible=False, range=[shape[0] - 0.5, -0.5], domain=list(domain_y), scaleanchor=anchor,
             constrain="domain")
    return x, y


def overlay(picture: np.ndarray | None, heat: np.ndarray, *, signed: bool = False, opacity: float = 0.7,
            zmin: float | None = None, zmax: float | None = None, title: str | None = None,
            colorbar_title: str = "attribution", height: int | None = None, shape: tuple[int, int] | None = None,
            colorbar_side: str = "right", grey: bool = True, clip: float = 100.0) -> go.Figure:
    """A map (h, w) laid over the input picture ((H, W) gray or (H, W, 3), 0..255), with a colour bar.

    ``signed``: a diverging scale centred at 0 (the range made symmetric); else transparent for
    low values up to dark red for the highest. ``zmin``/``zmax`` fix the colour range (e.g. one
    range shared by several maps); by default the map's own. A map coarser than the picture
    (Grad-CAM before upsampling, occlusion) is stretched over it. ``picture=None`` shows the
    map alone (then ``shape`` or the map's own size sets the frame). ``colorbar_side="bottom"``
    puts a horizontal colour bar under the picture, leaving a narrow column's width to the map.
    ``grey``: the picture in grey, so the map's colours stand out on any photo (a red map
    vanishes on a red cup); ``grey=False`` keeps its colours. ``clip`` below 100 ends the map's
    own colour range at the ``clip``-th percentile of its |values| (:func:`value_range`) and says
    so on the colour bar.
    """
    if colorbar_side not in ("right", "bottom"):
        raise ValueError(f"colorbar_side must be 'right' or 'bottom', got {colorbar_side!r}.")
    heat = np.asarray(heat)
    if heat.ndim != 2:
        raise ValueError(f"A map must be 2D (h, w), got shape {heat.shape}.")
    own = value_range(heat, signed=signed, clip=clip)
    colorbar_title += clip_note(clip)
    zmin = own[0] if zmin is None else float(zmin)
    zmax = own[1] if zmax is None else float(zmax)
    if signed:
        bound = max(abs(zmin), abs(zmax)) or 1.0
        zmin, zmax = -bound, bound
    elif zmax <= zmin:
        zmax = zmin + 1.0
    traces = []
    if picture is not None:
        pic = _picture(picture, grey)
        frame = pic.shape[:2]
        traces.append(dict(type="image", z=pic, hoverinfo="skip"))
    else:
        frame = tuple(shape) if shape is not None else heat.shape
    bar = style.colorbar(colorbar_title, thickness=16, tickangle=0, nticks=4, tickformat=".2~g")
    if colorbar_side == "bottom":  # a narrow column: title above the bar, three horizontal ticks
        bar = style.horizontal_colorbar(colorbar_title, x=0.5, xanchor="center", y=-0.02, yanchor="top", len=1.0)
    traces.append(_heat_trace(heat, frame, signed=signed, opacity=opacity, zmin=zmin, zmax=zmax, colorbar=bar))
    xaxis, yaxis = _axes(frame)
    base = style.layout(title=title, height=height or 380, xaxis=xaxis, yaxis=yaxis, plot_bgcolor="white")
    return go.Figure(dict(data=traces, layout=base), _validate=False)


def side_by_side(picture: np.ndarray | None, maps: Mapping[str, np.ndarray], *, signed: bool = False,
                 shared: bool = False, opacity: float = 0.7, cols: int | None = None, title: str | None = None,
                 colorbar_title: str = "attribution", height: int | None = None, grey: bool = True,
                 clip: float = 100.0) -> go.Figure:
    """Several maps over the same picture (in grey unless ``grey=False``), one panel each (titled
    by the dict's keys).

    ``shared``: one colour range and one colour bar for all panels, so the same colour means
    the same value everywhere (per-map scaling hides that one map is far weaker than another);
    else each panel spans its own range, with its own colour bar. ``clip``: as in :func:`overlay`.
    """
    if not maps:
        raise ValueError("side_by_side needs at least one map.")
    names = list(maps)
    n = len(names)
    cols = max(1, min(cols or n, n))
    rows = -(-n // cols)
    pic = _picture(picture, grey) if picture is not None else None
    frame = pic.shape[:2] if pic is not None else np.asarray(maps[names[0]]).shape
    common = shared_range([maps[k] for k in names], signed=signed, clip=clip) if shared else None
    colorbar_title += clip_note(clip)
    gap_x, gap_y = (0.02 if shared else 0.09), 0.12 / max(rows, 1)  # room for each panel's colour bar
    width = (1 - (0.08 if shared else 0) - gap_x * (cols - 1)) / cols
    height_cell = (1 - gap_y * (rows - 1)) / rows
    traces, annotations, layout = [], [], {}
    for k, name in enumerate(names):
        r, c = divmod(k, cols)
        dx = (c * (width + gap_x), c * (width + gap_x) + width)
        dy = (1 - r * (height_cell + gap_y) - height_cell, 1 - r * (height_cell + gap_y))
        suffix = "" if k == 0 else str(k + 1)
        ax_x, ax_y = f"x{suffix}", f"y{suffix}"
        xaxis, yaxis = _axes(frame, dx, dy, anchor=ax_x)
        layout[f"xaxis{suffix}"], layout[f"yaxis{suffix}"] = xaxis, yaxis
        if picture is not None:
            traces.append(dict(type="image", z=pic, hoverinfo="skip", xaxis=ax_x, yaxis=ax_y))
        zmin, zmax = common or value_range(maps[name], signed=signed, clip=clip)
        if shared:
            bar = style.colorbar(colorbar_title, thickness=16, tickangle=0, nticks=4,
                                 tickformat=".2~g") if k == n - 1 else None
        else:
            bar = style.colorbar(colorbar_title, thickness=10, x=dx[1] + 0.003, xanchor="left", y=(dy[0] + dy[1]) / 2,
                                 yanchor="middle", len=dy[1] - dy[0], tickfont=dict(size=style.MIN_FONT_SIZE),
                                 tickangle=0, nticks=3, tickformat=".2~g")
        traces.append(_heat_trace(maps[name], frame, signed=signed, opacity=opacity, zmin=zmin, zmax=zmax,
                                  colorbar=bar, xaxis=ax_x, yaxis=ax_y))
        annotations.append(dict(text=str(name), x=(dx[0] + dx[1]) / 2, y=dy[1], xref="paper", yref="paper",
                                xanchor="center", yanchor="bottom", showarrow=False))
    base = style.layout(title=title, height=height or (60 if title else 20) + rows * 260, annotations=annotations,
                        **layout)
    base["margin"] = dict(l=10, r=10, t=(60 if title else 10) + 30, b=10)
    return go.Figure(dict(data=traces, layout=base), _validate=False)


def sanity_chart(layers: Sequence[str], rho: Mapping[str, Sequence[float]], *, title: str | None = None,
                 height: int | None = None) -> go.Figure:
    """Spearman's ρ with the trained model's map after each step of cascading randomisation.

    ``layers[k]`` is the layer re-initialised at step k + 1 (top down, cumulative: the last
    point has every layer random); ``rho[method]`` one value per step (NaN: a constant map,
    no ranking, left as a gap).
    """
    labels = list(layers)
    labels[-1] = f"{layers[-1]}<br>(all random)"  # two lines: the last tick fits a narrow chart
    traces = []
    for k, (method, values) in enumerate(rho.items()):
        v = np.asarray(values, dtype=np.float64)
        traces.append(dict(type="scatter", mode="lines+markers", name=str(method), x=list(range(len(v))),
                           y=np.where(np.isfinite(v), v, None).tolist(),
                           line=dict(width=3, color=SANITY_COLOURS[k % len(SANITY_COLOURS)]),
                           marker=dict(size=10), customdata=[label.replace("<br>", " ") for label in labels[:len(v)]],
                           hovertemplate=f"{method}<br>random down to %{{customdata}}: ρ = %{{y:.3f}}<extra></extra>"))
    xaxis = dict(tickmode="array", tickvals=list(range(len(labels))), ticktext=labels, range=[-0.3, len(labels) - 0.7],
                 title=dict(text="layers randomised, from the top down to (cumulative)"))
    yaxis = dict(range=[-1.05, 1.05], title=dict(text="Spearman ρ with the trained map"), zeroline=True)
    return go.Figure(dict(data=traces, layout=style.layout(title=title, height=height or 420, xaxis=xaxis,
                                                           yaxis=yaxis, legend=dict(orientation="h", y=-0.3))),
                     _validate=False)
