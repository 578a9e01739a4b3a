"""Superpixels: cutting an image into a few dozen regions that LIME can switch on and off.

LIME does not hide single pixels (far too many features) but *superpixels*: connected regions of
similar colour. scikit-image offers several algorithms, each with its own knob:

- SLIC (Achanta et al. 2012): k-means on colour and position, the knob is the number of segments;
- quickshift (Vedaldi & Soatto 2008, lime's default): mode seeking, the knob is a kernel size;
- Felzenszwalb & Huttenlocher (2004): graph merging, the knob is a scale;
- a plain grid of square cells, which ignores the picture (a useful control).

Only SLIC takes a count, and only approximately; on small pictures lime's default quickshift
gives one segment for a 28×28 digit (lime issue #214). Here every method is asked for a count and
its knob is searched until the count is within ±30 % (usually much closer) of the request.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import ndimage
from skimage import segmentation as skseg

from ._base import ExplainError

METHODS = ("slic", "quickshift", "felzenszwalb", "grid")
TOLERANCE = 0.3   # the promise: within ±30 % of the asked count
_GOOD = 0.1       # stop searching once this close
_TRIES = 12


def _as_picture(picture) -> np.ndarray:
    """(H, W) or (H, W, C) picture as float64 in 0 … 1 (0 … 255 pictures are scaled)."""
    arr = np.asarray(picture)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] != 3):
        raise ExplainError(f"Superpixels need a gray (H, W) or colour (H, W, 3) picture, got shape {arr.shape}.")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ExplainError(f"The picture must hold numbers, got {arr.dtype}.")
    arr = arr.astype(np.float64)
    if arr.size == 0 or not np.isfinite(arr).all():
        raise ExplainError("The picture is empty or holds NaN or infinite values.")
    if arr.max() > 1.0 or arr.min() < 0.0:
        low, high = min(arr.min(), 0.0), max(arr.max(), 255.0)
        arr = (arr - low) / (high - low)
    return arr


def count(labels: np.ndarray) -> int:
    """Number of superpixels in a label image."""
    return int(np.unique(labels).size)


def relabel(labels: np.ndarray) -> np.ndarray:
    """Labels 0 … F−1 in order of first appearance (row by row), as int64."""
    _, first, inverse = np.unique(labels.ravel(), return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))  # rank of each label's first pixel
    return order[inverse].reshape(labels.shape).astype(np.int64)


def grid(height: int, width: int, n_segments: int) -> np.ndarray:
    """About ``n_segments`` near-square cells: rows × cols chosen so rows·cols ≈ n."""
    rows = min(height, n_segments, max(1, round(math.sqrt(n_segments * height / width))))
    cols = min(width, max(1, round(n_segments / rows)))
    r = np.minimum(np.arange(height) * rows // height, rows - 1)
    c = np.minimum(np.arange(width) * cols // width, cols - 1)
    return r[:, None] * cols + c[None, :]


def _search(run: Callable[[float], np.ndarray], low: float, high: float, wanted: int,
            more_when_larger: bool) -> tuple[np.ndarray, float]:
    """Bisect a knob on a log scale until ``run(knob)`` gives about ``wanted`` segments.

    Returns the closest labels seen and their relative error.
    """
    best, best_error = None, math.inf
    for _ in range(_TRIES):
        knob = math.sqrt(low * high)
        labels = run(knob)
        n = count(labels)
        error = abs(n - wanted) / wanted
        if error < best_error:
            best, best_error = labels, error
        if error <= _GOOD or high / low < 1.02:
            break
        if (n < wanted) == more_when_larger:
            low = knob
        else:
            high = knob
    return best, best_error


def _split_by_grid(labels: np.ndarray, wanted: int) -> np.ndarray:
    """Cut segments along a grid until there are enough (for pictures with too little structure)."""
    height, width = labels.shape
    best = labels
    for cells in np.unique(np.geomspace(1, height * width, 40).astype(int)):
        pieces = labels * (height * width) + grid(height, width, int(cells))
        split = relabel(pieces)
        if count(split) >= wanted * (1 - _GOOD):
            return split if abs(count(split) - wanted) <= abs(count(best) - wanted) else best
        best = split
    return best


def segment(picture, method: str = "slic", n_segments: int = 50, **options) -> np.ndarray:
    """Superpixels of ``picture``: an (H, W) int64 label image with labels 0 … F−1.

    Parameters
    ----------
    picture : (H, W) gray or (H, W, 3) colour, in 0 … 1 or 0 … 255.
    method : "slic", "quickshift", "felzenszwalb" or "grid".
    n_segments : the wanted number F; the result has F within ±30 % (searched for).
    options : passed to the scikit-image function (e.g. ``compactness`` for SLIC, ``ratio``
        for quickshift, ``sigma``/``min_size`` for felzenszwalb).
    """
    if method not in METHODS:
        raise ExplainError(f"Unknown superpixel method {method!r}: choose one of {', '.join(METHODS)}.")
    img = _as_picture(picture)
    height, width = img.shape[:2]
    if isinstance(n_segments, bool) or not isinstance(n_segments, (int, np.integer)) or n_segments < 1:
        raise ExplainError(f"The number of superpixels must be a whole number ≥ 1, got {n_segments!r}.")
    if n_segments > height * width:
        raise ExplainError(f"A {height}×{width} picture has only {height * width} pixels, "
                           f"fewer than {n_segments} superpixels.")
    wanted = int(n_segments)
    gray = img.ndim == 2
    channel_axis = None if gray else -1
    if method == "grid":
        return relabel(grid(height, width, wanted))
    if wanted == 1:
        return np.zeros((height, width), np.int64)
    side = max(height, width)
    if method == "slic":
        # compactness trades colour for position; the scale of colour differs: Lab 0–100, gray 0–1.
        opts = dict(compactness=0.1 if gray else 10.0, start_label=0, channel_axis=channel_axis)
        opts.update(options)
        labels, error = _search(lambda k: skseg.slic(img, n_segments=max(1, round(k)), **opts),
                                1.0, 4.0 * wanted, wanted, more_when_larger=True)
    elif method == "quickshift":
        rgb = np.repeat(img[..., None], 3, axis=2) if gray else img
        opts = dict(ratio=0.5, convert2lab=not gray, rng=42)
        opts.update(options)
        big = 10.0 * side
        labels, error = _search(lambda k: skseg.quickshift(rgb, kernel_size=max(1.0, k), max_dist=big, **opts),
                                1.0, side / 2, wanted, more_when_larger=False)
        if count(labels) < wanted * (1 - _GOOD):
            # Even the smallest kernel merges too much: cut links shorter than max_dist instead.
            labels, error = _search(lambda d: skseg.quickshift(rgb, kernel_size=1.0, max_dist=d, **opts),
                                    1e-3, big, wanted, more_when_larger=False)
    else:
        opts = dict(sigma=0.5, min_size=max(1, height * width // (4 * wanted)), channel_axis=channel_axis)
        opts.update(options)
        labels, error = _search(lambda s: skseg.felzenszwalb(img, scale=s, **opts),
                                1e-3, 1e4, wanted, more_when_larger=False)
    if count(labels) < wanted * (1 - TOLERANCE):
        labels = _split_by_grid(labels, wanted)
    labels = relabel(labels)
    if count(labels) > wanted * (1 + TOLERANCE):
        labels = _merge_smallest(labels, wanted)
    return labels


def _merge_smallest(labels: np.ndarray, wanted: int) -> np.ndarray:
    """Merge the smallest segments into a neighbour until ``wanted`` remain (rarely needed)."""
    labels = labels.copy()
    while count(labels) > wanted:
        ids, sizes = np.unique(labels, return_counts=True)
        small = ids[np.argmin(sizes)]
        region = labels == small
        ring = ndimage.binary_dilation(region) & ~region
        neighbours = labels[ring]
        labels[region] = np.bincount(neighbours).argmax() if neighbours.size else ids[ids != small][0]
    return relabel(labels)
