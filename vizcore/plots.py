"""Plotly figure builders shared by the pages, sized for a projector.

Pages only call these and hand the figure to Streamlit, so every figure is testable
without a browser.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from PIL import Image

FONT_SIZE = 18
DIVERGING = "RdBu_r"  # negative blue, zero white, positive red


def layout(*, title: str | None = None, height: int | None = None, **extra) -> dict:
    """Projector-friendly fonts and tight margins, as a layout dict for ``go.Figure(data, layout)``.

    Building a figure in one constructor call is several times faster than ``update_layout``
    calls one after another, and pages rebuild figures on every rerun.
    """
    base = dict(
        title=dict(text=title, font=dict(size=FONT_SIZE + 2)) if title else None,
        font=dict(size=FONT_SIZE),
        margin=dict(l=10, r=10, t=50 if title else 10, b=10),
        height=height,
    )
    base.update(extra)  # e.g. a larger top margin for subplot titles
    return base


def style(fig: go.Figure, *, height: int | None = None) -> go.Figure:
    """Apply the projector fonts and margins to a figure built elsewhere."""
    fig.update_layout(layout(title=fig.layout.title.text, height=height))
    return fig


def heatmap(
    z: np.ndarray,
    *,
    title: str | None = None,
    colorscale: str = "gray",
    diverging: bool = False,
    zmin: float | None = None,
    zmax: float | None = None,
    show_values: bool = False,
    colorbar_title: str | None = None,
    x: list | None = None,
    y: list | None = None,
    height: int | None = None,
) -> go.Figure:
    """A 2D array as an image-like heatmap: row 0 at the top, square pixels, a colour bar.

    ``diverging=True`` uses a red-blue scale centred on 0, so the sign of a filter response
    is visible at a glance. ``show_values`` writes each number into its cell (small matrices).
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"heatmap needs a 2D array, got shape {z.shape}")
    finite = z[np.isfinite(z)]
    if diverging:
        bound = float(np.abs(finite).max()) if finite.size else 1.0
        bound = bound or 1.0
        zmin, zmax, colorscale = -bound, bound, DIVERGING
    trace = dict(
        type="heatmap",
        z=z,
        x=x,
        y=y,
        colorscale=colorscale,
        zmin=zmin,
        zmax=zmax,
        colorbar=dict(title=dict(text=colorbar_title or ""), thickness=18),
        hovertemplate="row %{y}, col %{x}<br>value %{z:.4g}<extra></extra>",
    )
    if show_values:
        trace.update(text=[[_fmt(v) for v in row] for row in z], texttemplate="%{text}",
                     textfont=dict(size=FONT_SIZE - 2))
    axes = dict(showgrid=False, constrain="domain")
    if show_values:
        axes["dtick"] = 1  # cell indices only: no 0.5 ticks when boxes are drawn over cells
    return go.Figure(
        [trace],
        layout(
            title=title,
            height=height,
            xaxis=dict(axes, side="top" if show_values else "bottom"),
            yaxis=dict(axes, autorange="reversed", scaleanchor="x"),
        ),
    )


def image(img: Image.Image | np.ndarray, *, title: str | None = None, height: int | None = None) -> go.Figure:
    """A photo (PIL image, (H,W) gray or (H,W,3)/(3,H,W) RGB array in 0..255) without axes."""
    arr = np.asarray(img)
    if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(1, 2, 0)
    arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    trace = dict(type="image", z=arr, hovertemplate="row %{y}, col %{x}<br>%{z}<extra></extra>")
    return go.Figure([trace], layout(title=title, height=height,
                                     xaxis=dict(visible=False), yaxis=dict(visible=False)))


def _fmt(v: float) -> str:
    if not np.isfinite(v):
        return str(v)
    return str(int(v)) if float(v).is_integer() else f"{v:.3g}"
