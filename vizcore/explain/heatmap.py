"""From an attribution (N, C, H, W) to a picture: one number per pixel.

The lecture's rule (Simonyan et al. 2014): the absolute value of the gradient, maximised over
the colour channels. The sign is lost on the way: a pixel that would *lower* the score when
brightened counts as much as one that raises it. "sum" keeps the sign.

The map in its chart's colours (a PNG download) is drawn by :mod:`vizcore.figures.style`
(``colourise``) and :mod:`vizcore.figures.saliency` (``map_png``).
"""
from __future__ import annotations

import numpy as np
import torch

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


def clip_value(values: np.ndarray, percentile: float = 99.0) -> float:
    """Where a map's colour scale should end: the ``percentile``-th percentile of its |values|.

    A gradient map of a photo is a few bright specks and a grey rest: scaled to its maximum, the
    rest is near white. Clipped at the 99th percentile, what the method highlights stays visible
    and the 1 % of pixels above show in the top colour. captum's ``visualize_image_attr`` clips
    too, at the |value| below which 98 % of the map's *total* lies; on a 224² photo that cut is
    about half the maximum and leaves the median pixel at 4 % of the top colour (measured on the
    astronaut's gradient), so a plain percentile is used here. ``percentile=100`` gives the
    maximum. Non-finite values are left out; an empty map gives 0.
    """
    if not 0.0 < percentile <= 100.0:
        raise ExplainError(f"The percentile must be above 0 and at most 100, got {percentile}.")
    v = np.abs(np.asarray(values, dtype=np.float64))
    v = v[np.isfinite(v)]
    return float(np.percentile(v, percentile)) if v.size else 0.0
