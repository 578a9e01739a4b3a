"""Is an explanation right? Scores that check a saliency map against where the evidence really is.

A saliency map always *looks* convincing. When the data set knows where the object is (a mask),
the map can be scored:

- **pointing game** (Zhang et al. 2018): does the map's single strongest pixel land on the object?
- **relevance mass** and **relevance rank** (Arras et al. 2022): how much of the map's positive
  relevance lies on the object, and how many of its top-K pixels do (K = the object's size)?
- **deletion** and **insertion** (Petsiuk et al. 2018, RISE): remove the pixels the map ranks
  highest first (or reveal them first from a blurred picture) and watch the class probability;
  a faithful map makes it fall fast (low deletion AUC) or rise fast (high insertion AUC). These
  need no mask: they ask the model itself.

Every score is compared with maps that know nothing about the model: a random map, a blob in
the centre and the image's edges (Sobel). A method that does no better than the edge detector
explains the picture, not the model (Adebayo et al. 2018).

Maps are (N, H, W) arrays or tensors, masks (N, H, W) bool. Ties between equal map values are
broken in row-major order (the first pixel wins), so every score is deterministic.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from . import _forward
from ._base import ExplainError, as_targets, check_input, check_targets

# Zhang et al. allowed 15 pixels at 224×224; the page scales it to the image's side.
POINTING_TOLERANCE_224 = 15.0


# --- checking and converting the inputs ---------------------------------------------------------

def _as_maps(maps, name: str = "maps") -> np.ndarray:
    """(N, H, W) float64 numpy copy of an array or tensor, or a clear error."""
    if isinstance(maps, torch.Tensor):
        maps = maps.detach().cpu().double().numpy()
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ExplainError(f"The {name} must be a stack of 2D maps (N, H, W), got shape {maps.shape}.")
    if maps.shape[0] == 0:
        raise ExplainError(f"The {name} hold no map.")
    if not np.issubdtype(maps.dtype, np.number) or np.issubdtype(maps.dtype, np.complexfloating):
        raise ExplainError(f"The {name} must hold real numbers, got {maps.dtype}.")
    maps = maps.astype(np.float64)
    if not np.isfinite(maps).all():
        raise ExplainError(f"The {name} hold NaN or infinite values.")
    return maps


def _as_masks(masks, shape: tuple[int, ...]) -> np.ndarray:
    """(N, H, W) bool numpy masks matching ``shape``; every mask must mark at least one pixel."""
    if isinstance(masks, torch.Tensor):
        masks = masks.detach().cpu().numpy()
    masks = np.asarray(masks)
    if masks.dtype != np.bool_:
        raise ExplainError(f"Masks must be True/False arrays (bool), got {masks.dtype}.")
    if masks.shape != tuple(shape):
        raise ExplainError(f"The masks have shape {masks.shape} but the maps have {tuple(shape)}.")
    empty = np.flatnonzero(~masks.reshape(len(masks), -1).any(axis=1))
    if empty.size:
        raise ExplainError(f"The mask of image {int(empty[0])} is empty ({empty.size} empty in all): "
                           "with nothing marked there is nothing to point at.")
    return masks


def _ranking(maps: np.ndarray) -> np.ndarray:
    """Pixel indices (N, H·W) from the highest map value down; equal values in row-major order."""
    flat = maps.reshape(len(maps), -1)
    return np.argsort(-flat, axis=1, kind="stable")


# --- scores against a mask ----------------------------------------------------------------------

def scaled_tolerance(side: int) -> float:
    """The pointing game's tolerance for an image of ``side`` pixels: 15 px at 224, scaled."""
    return POINTING_TOLERANCE_224 * side / 224.0


def pointing_game(maps, masks, tolerance: float = 0.0) -> np.ndarray:
    """Whether each map's maximum lies on the object: bool (N,).

    A hit when the strongest pixel (the first one in row-major order if several are equally
    strong) is within ``tolerance`` pixels (Euclidean distance between pixel centres) of a mask
    pixel. ``tolerance=0`` asks for the maximum on the object itself.
    """
    maps = _as_maps(maps)
    masks = _as_masks(masks, maps.shape)
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ExplainError(f"The tolerance must be a distance of 0 pixels or more, got {tolerance}.")
    n, h, w = maps.shape
    peak = np.argmax(maps.reshape(n, -1), axis=1)  # argmax returns the first maximum
    # Distance from every pixel to the nearest mask pixel (0 on the mask itself).
    distance = np.stack([ndimage.distance_transform_edt(~m) for m in masks])
    return distance.reshape(n, -1)[np.arange(n), peak] <= tolerance


def relevance_mass(maps, masks) -> np.ndarray:
    """The share of each map's positive relevance that lies inside the mask: (N,) in [0, 1].

    Negative values count as no relevance. A map with no positive value puts none of it on the
    object and scores 0.
    """
    maps = _as_maps(maps)
    masks = _as_masks(masks, maps.shape)
    positive = np.clip(maps, 0, None).reshape(len(maps), -1)
    total = positive.sum(axis=1)
    inside = (positive * masks.reshape(len(masks), -1)).sum(axis=1)
    return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)


def relevance_rank(maps, masks) -> np.ndarray:
    """The share of each map's top-K pixels that lie inside the mask, K = the mask's size: (N,)."""
    maps = _as_maps(maps)
    masks = _as_masks(masks, maps.shape)
    flat = masks.reshape(len(masks), -1)
    order = _ranking(maps)
    sizes = flat.sum(axis=1)
    # The k-th ranked pixel counts when k < K: one comparison for the whole batch.
    in_top = np.arange(flat.shape[1])[None, :] < sizes[:, None]
    on_object = np.take_along_axis(flat, order, axis=1)
    return (on_object & in_top).sum(axis=1) / sizes


# --- deletion and insertion (ask the model) -----------------------------------------------------

def auc(fractions: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Area under each curve by the trapezoid rule: ``values`` (..., S) over ``fractions`` (S,)."""
    fractions = np.asarray(fractions, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    widths = np.diff(fractions)
    return ((values[..., 1:] + values[..., :-1]) / 2 * widths).sum(axis=-1)


def blur(x: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
    """Each channel blurred by a Gaussian of ``sigma`` pixels (default: the side / 8).

    RISE starts insertion from a blurred picture (an 11-px kernel of σ 5 at 224²) so that what
    is revealed sits on roughly the right colours; our pictures are small and their objects big,
    so the blur is stronger relative to the side, enough to hide the shape.
    """
    if sigma is None:
        sigma = max(x.shape[-2:]) / 8
    blurred = ndimage.gaussian_filter(x.detach().cpu().double().numpy(), sigma=(0, 0, sigma, sigma),
                                      mode="nearest", truncate=3.0)
    return torch.from_numpy(blurred).to(x.dtype)


def _step_counts(pixels: int, steps: int) -> np.ndarray:
    """How many pixels are changed at each of the ``steps + 1`` points: 0, …, all, evenly."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= pixels:
        raise ExplainError(f"The number of steps must be a whole number from 1 to {pixels} (the pixels), got {steps}.")
    return np.round(np.linspace(0, pixels, steps + 1)).astype(np.int64)


def _perturbation_curve(model: nn.Module, x: torch.Tensor, target, maps, steps: int,
                        start: torch.Tensor, end: torch.Tensor, progress, stop,
                        plan, ends) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move pixels from ``start`` to ``end`` in the maps' order: (fractions, probabilities, auc)."""
    check_input(model, x)
    n, c, h, w = x.shape
    maps = _as_maps(maps)
    if maps.shape != (n, h, w):
        raise ExplainError(f"Got maps of shape {maps.shape} for images of shape {tuple(x.shape)}: "
                           f"need one {h}×{w} map per image.")
    targets = as_targets(target, n)
    counts = _step_counts(h * w, steps)
    # rank[i, p] = the place of pixel p in image i's ranking (0 = the most important).
    rank = np.empty((n, h * w), dtype=np.int64)
    np.put_along_axis(rank, _ranking(maps), np.arange(h * w)[None, :], axis=1)
    rank_t = torch.from_numpy(rank).view(n, h, w, 1)
    # The first and last points do not depend on the map: known ones are not run again.
    first, last = (1, len(counts) - 1) if ends is not None else (0, len(counts))
    inner = torch.from_numpy(counts[first:last])
    s = len(inner)
    # Pixels last (N, H, W, C): a batch seen as (B, C, H, W) is then channels-last without a copy.
    start_hwc = start.permute(0, 2, 3, 1).contiguous()
    end_hwc = end.permute(0, 2, 3, 1).contiguous()

    def make(a: int, b: int) -> torch.Tensor:
        # Row r is image r // s with the first inner[r % s] pixels of its ranking moved.
        rows = torch.arange(a, b)
        image, step = rows // s, rows % s
        moved = rank_t[image] < inner[step].view(-1, 1, 1, 1)
        return torch.where(moved, end_hwc[image], start_hwc[image]).permute(0, 3, 1, 2)

    with torch.inference_mode():
        check_targets(targets, model(x[:1]).shape[1])
    probs = np.empty((n, len(counts)))
    if s:
        inner_probs = _forward.probabilities(model, make, targets.repeat_interleave(s), total=n * s,
                                             progress=progress, stop=stop, plan=plan)
        probs[:, first:last] = inner_probs.double().numpy().reshape(n, s)
    if ends is not None:
        probs[:, 0], probs[:, -1] = (np.asarray(e, dtype=np.float64).reshape(n) for e in ends)
    fractions = counts / (h * w)
    return fractions, probs, auc(fractions, probs)


def _as_image_like(value, x: torch.Tensor, what: str) -> torch.Tensor:
    """A number, (C, H, W) or (N, C, H, W) value broadcast to the shape of ``x``."""
    try:
        value = torch.as_tensor(value, dtype=x.dtype)
        return torch.broadcast_to(value, x.shape)
    except (TypeError, ValueError, RuntimeError):
        raise ExplainError(f"The {what} must be a number or an image of shape {tuple(x.shape[1:])}.") from None


def deletion_curve(model: nn.Module, x: torch.Tensor, target, maps, steps: int = 32,
                   baseline: float | torch.Tensor = 0.0, *,
                   progress: _forward.Progress | None = None, stop: _forward.StopFlag = None,
                   plan: _forward.Plan | None = None, ends=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The target's probability as the map's most important pixels are removed first.

    Pixels are ranked by the map (highest first), then replaced by ``baseline`` (in the model's
    input space: 0 is the training set's mean colour) in ``steps`` equal portions, all channels
    of a pixel at once. Returns ``fractions`` (steps + 1,) from 0 to 1, ``probabilities``
    (N, steps + 1) and the area under each curve (N,): lower is better, the map found what the
    model needs. ``progress(done, total)``, ``stop`` and ``plan`` go to the forward passes
    (:func:`vizcore.explain._forward.outputs`); a stop raises ``_forward.Stopped``. ``ends``:
    the probabilities (N,) with nothing and with everything moved, when already known (they do
    not depend on the map, so several maps of the same images can share them).
    """
    check_input(model, x)
    baseline = _as_image_like(baseline, x, "baseline")
    return _perturbation_curve(model, x, target, maps, steps, x, baseline, progress, stop, plan, ends)


def insertion_curve(model: nn.Module, x: torch.Tensor, target, maps, steps: int = 32,
                    start: str | float | torch.Tensor = "blur", *,
                    progress: _forward.Progress | None = None, stop: _forward.StopFlag = None,
                    plan: _forward.Plan | None = None, ends=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The target's probability as the map's most important pixels are revealed first.

    Starts from ``start`` ("blur": the picture blurred, see :func:`blur`; or a number / image in
    the model's input space) and puts back the original pixels in the map's order, in ``steps``
    equal portions. Returns ``(fractions, probabilities, auc)`` as :func:`deletion_curve`;
    higher is better. ``progress``, ``stop``, ``plan`` and ``ends`` as there.
    """
    check_input(model, x)
    if isinstance(start, str):
        if start != "blur":
            raise ExplainError(f"Insertion starts from 'blur', a number or an image, not {start!r}.")
        start = blur(x)
    else:
        start = _as_image_like(start, x, "start")
    return _perturbation_curve(model, x, target, maps, steps, start, x, progress, stop, plan, ends)


# --- reference maps that know nothing about the model ------------------------------------------

def random_maps(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """(n, height, width) uniform random maps from a local generator: chance level."""
    return np.random.default_rng(seed).random((n, height, width))


def centre_prior(n: int, height: int, width: int, sigma: float | None = None) -> np.ndarray:
    """(n, height, width) Gaussian blobs on the image centre (σ = a quarter of the side).

    Photographers (and data set makers) put the object in the middle; a score that this blob
    wins says more about the data set than about the method.
    """
    sigma = sigma if sigma is not None else max(height, width) / 4
    yy = np.arange(height) - (height - 1) / 2
    xx = np.arange(width) - (width - 1) / 2
    blob = np.exp(-(yy[:, None] ** 2 + xx[None, :] ** 2) / (2 * sigma ** 2))
    return np.broadcast_to(blob, (n, height, width)).copy()


def edge_maps(images) -> np.ndarray:
    """(N, H, W) Sobel edge magnitude of images (N, C, H, W) or (N, H, W), channels combined.

    The magnitude is sqrt(Σ_c (∂x² + ∂y²)) with edge values repeated at the border. It sees the
    picture only: a method that scores like it explains the image, not the model.
    """
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().double().numpy()
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4:
        raise ExplainError(f"Edges need images (N, C, H, W) or (N, H, W), got shape {images.shape}.")
    # Derivative across one axis, smoothing [1, 2, 1] along the other; never across images or
    # channels (ndimage.sobel on a 4D stack would smooth along those too).
    def sobel(derivative_axis: int, smooth_axis: int) -> np.ndarray:
        d = ndimage.correlate1d(images, [-1.0, 0.0, 1.0], axis=derivative_axis, mode="nearest")
        return ndimage.correlate1d(d, [1.0, 2.0, 1.0], axis=smooth_axis, mode="nearest")

    gy, gx = sobel(2, 3), sobel(3, 2)
    return np.sqrt((gx ** 2 + gy ** 2).sum(axis=1))


REFERENCES = ("Random", "Centre prior", "Edges (Sobel)")


def reference_maps(images, seed: int = 0) -> dict[str, np.ndarray]:
    """The three reference maps for images (N, C, H, W): random, centre prior, Sobel edges."""
    n, h, w = images.shape[0], images.shape[-2], images.shape[-1]
    return {"Random": random_maps(n, h, w, seed), "Centre prior": centre_prior(n, h, w),
            "Edges (Sobel)": edge_maps(images)}
