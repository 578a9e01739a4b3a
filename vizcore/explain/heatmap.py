"""From an attribution (N, C, H, W) to a picture: one number per pixel, and that as a PNG.

The lecture's rule (Simonyan et al. 2014): the absolute value of the gradient, maximised over
the colour channels. The sign is lost on the way: a pixel that would *lower* the score when
brightened counts as much as one that raises it. "sum" keeps the sign.
"""
from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
import torch
from PIL import Image

from ._base import ExplainError

REDUCTIONS = {
    "abs-max": "|value|, maximum over channels (the lecture's rule)",
    "abs-sum": "|value|, summed over channels",
    "sum": "value summed over channels (signed)",
    "positive": "value summed over channels, negative parts set to 0",
}
SIGNED = {"sum"}  # reductions whose maps have both signs


def heatmap(attribution: torch.Tensor | np.ndarray, reduce: str = "abs-max") -> torch.Tensor | np.ndarray:
    """One value per pixel, (N, H, W), from attributions (N, C, H, W); same type as the input.

    ``reduce``: "abs-max" (the lecture's rule), "abs-sum", "sum" (signed) or "positive"
    (the channel sum with negatives set to 0, as captum's visualisation does for
    ``sign="positive"``). A map without channels, (N, H, W) such as Grad-CAM's, is treated as
    one channel.
    """
    if reduce not in REDUCTIONS:
        raise ExplainError(f"Unknown reduction {reduce!r}; choose one of {', '.join(REDUCTIONS)}.")
    is_numpy = isinstance(attribution, np.ndarray)
    a = torch.from_numpy(attribution) if is_numpy else attribution
    if not isinstance(a, torch.Tensor) or a.ndim not in (3, 4):
        raise ExplainError("An attribution must be shaped (N, C, H, W) or (N, H, W).")
    a = a.detach()
    if a.ndim == 3:
        a = a[:, None]
    if reduce == "abs-max":
        out = a.abs().amax(dim=1)
    elif reduce == "abs-sum":
        out = a.abs().sum(dim=1)
    elif reduce == "sum":
        out = a.sum(dim=1)
    else:
        out = a.sum(dim=1).clamp(min=0)
    return out.numpy() if is_numpy else out


# --- colours ------------------------------------------------------------------------------------

@lru_cache(maxsize=16)
def _stops(colorscale: str) -> tuple[np.ndarray, np.ndarray]:
    import plotly.colors  # plotly's named scales, so the PNG has the chart's colours

    scale = plotly.colors.get_colorscale(colorscale)
    positions = np.array([p for p, _ in scale], dtype=np.float64)
    rgb = np.array([plotly.colors.unlabel_rgb(plotly.colors.convert_colors_to_same_type(c, "rgb")[0][0])
                    for _, c in scale], dtype=np.float64)
    return positions, rgb


def colourise(values: np.ndarray, *, zmin: float, zmax: float, colorscale: str) -> np.ndarray:
    """Values as RGB uint8 (…, 3) on a Plotly colour scale from ``zmin`` to ``zmax`` (clipped)."""
    v = np.asarray(values, dtype=np.float64)
    span = zmax - zmin
    t = np.clip((v - zmin) / span, 0, 1) if span > 0 else np.full(v.shape, 0.5)
    t = np.where(np.isfinite(t), t, 0.5)
    positions, rgb = _stops(colorscale)
    channels = [np.interp(t, positions, rgb[:, k]) for k in range(3)]
    return np.stack(channels, axis=-1).round().astype(np.uint8)


def map_png(values: np.ndarray, *, zmin: float, zmax: float, colorscale: str, min_side: int = 256) -> bytes:
    """A map (H, W) as PNG bytes in its chart's colours, enlarged by a whole factor with square
    pixels (a 28×28 map would otherwise be a speck in an image viewer)."""
    v = np.asarray(values)
    if v.ndim != 2:
        raise ExplainError(f"A map for a PNG must be 2D (H, W), got shape {v.shape}.")
    picture = colourise(v, zmin=zmin, zmax=zmax, colorscale=colorscale)
    factor = max(1, -(-min_side // max(v.shape)))
    picture = np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)
    buf = io.BytesIO()
    Image.fromarray(picture, "RGB").save(buf, format="PNG")
    return buf.getvalue()
