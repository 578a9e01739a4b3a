"""What a CNN computes inside: every layer's feature maps, its filters, and what excites them.

A CNN is a pipeline of layers. Feeding one image through it and keeping each layer's output
gives the *feature maps*: one 2D map per channel for convolution, ReLU and pooling layers,
one vector for flatten and linear layers, and finally the class probabilities. Each value of a
feature map looks at a window of the input, its *receptive field*; Zeiler and Fergus (2014)
showed what a channel detects by cropping those windows from the data-set images that excite
it most (the "top-activating patches").

Models are ``nn.Sequential`` with named layers (see :mod:`vizcore.models`), so the layer order
is ``model.named_children()``.
"""
from __future__ import annotations

import hashlib
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from vizcore.blocks import Block
from vizcore.efficientnet import SameConv2d, same_padding
from vizcore.models import PixelStandardise
from vizcore.user_models.layers import Affine
from vizcore.shapes import conv_output_size, receptive_field_stack

SOFTMAX = "softmax"

# Layers that act on each value on its own (or per channel): the receptive field passes through.
_POINTWISE = (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.LeakyReLU, nn.ELU, nn.GELU, nn.Sigmoid, nn.Tanh, nn.Identity,
              nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.Softmax, nn.LogSoftmax, nn.PReLU, nn.Softplus,
              nn.Softsign, nn.SELU, nn.Mish, nn.Threshold, nn.LocalResponseNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.Dropout,
              nn.Dropout2d, PixelStandardise, Affine)
_WINDOWED = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
# Layers after which every value depends on the whole input (Flatten only reorders values).
_GLOBAL = (nn.Linear, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


class FeatureError(ValueError):
    """A request the model cannot answer (unknown layer, position outside the map...)."""


# --- activations ---------------------------------------------------------------------------

def activations(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every layer's output for input ``x``, in the order the data flows, plus ``"softmax"``.

    The ``nn.Sequential`` is run child by child, exactly as its own forward pass does, keeping
    each layer's output on the way: the values are the layers' own. No hook is registered, so
    the shared model is only read and other students' forward passes are never seen. ``x`` is
    (C, H, W) or (N, C, H, W); outputs keep the batch dimension. The last entry, ``"softmax"``,
    turns the logits into class probabilities.
    """
    if x.dim() == 3:
        x = x.unsqueeze(0)
    outputs: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for name, layer in _children(model):
            x = layer(x)
            outputs[name] = x
    outputs[SOFTMAX] = torch.softmax(x.flatten(1), dim=1)
    return outputs


def _children(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers of a sequential model in order; anything else cannot be read layer by layer."""
    if not isinstance(model, nn.Sequential):
        raise FeatureError("Only a model built as a sequence of named layers (nn.Sequential) can show "
                           "its layers' outputs.")
    return list(model.named_children())


def layer_names(model: nn.Module) -> list[str]:
    """Names of the model's layers in order (the keys of :func:`activations` without softmax)."""
    return [name for name, _ in model.named_children()]


def layer_inputs(model: nn.Module, x: torch.Tensor, acts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensor each layer received: the model input for the first, else the previous output."""
    previous = x if x.dim() == 4 else x.unsqueeze(0)
    inputs = {}
    for name in layer_names(model):
        inputs[name] = previous
        previous = acts[name]
    return inputs


def top_classes(probabilities: torch.Tensor, classes: list[str], k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` most probable classes of one image as (class name, probability), best first."""
    p = probabilities.reshape(-1)
    k = min(k, p.numel())
    values, indices = torch.sort(p, descending=True, stable=True)
    return [(classes[i] if i < len(classes) else str(i), float(v))
            for v, i in zip(values[:k].tolist(), indices[:k].tolist())]


_FINGERPRINTS: "weakref.WeakKeyDictionary[nn.Module, tuple[tuple, str]]" = weakref.WeakKeyDictionary()
_FINGERPRINTS_LOCK = threading.Lock()


def model_fingerprint(model: nn.Module) -> str:
    """A hash of the model's weights: the cache key for results that depend on the model.

    Hashing every weight of the ImageNet network (18 MB) took ~27 ms on every rerun of every
    model page, so the hash is remembered per model object together with each tensor's
    storage and in-place version counter (training steps and ``load_state_dict`` bump those):
    a model whose weights changed is hashed again.
    """
    state = model.state_dict()
    versions = tuple((name, t.data_ptr(), t._version, tuple(t.shape)) for name, t in state.items())
    with _FINGERPRINTS_LOCK:
        known = _FINGERPRINTS.get(model)
    if known is not None and known[0] == versions:
        return known[1]
    fingerprint = weights_hash(model)
    with _FINGERPRINTS_LOCK:
        _FINGERPRINTS[model] = (versions, fingerprint)
    return fingerprint


def weights_hash(model: nn.Module) -> str:
    """A hash of every byte of the model's weights and buffers, computed afresh (see
    :func:`model_fingerprint` for the remembered one)."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


# --- preprocessing ---------------------------------------------------------------------------

@dataclass
class Step:
    """One stage of preparing a picture for the model: a title, the picture then, and why."""
    title: str
    image: np.ndarray  # uint8 (H, W) or (H, W, 3) for pictures; float (H, W) or (C, H, W) for the input
    note: str


def looks_dark_on_light(gray: np.ndarray) -> bool:
    """True when the picture's border (its background) is light: dark ink on paper.

    The digits data set is the other way round (white strokes on black), so such a picture must
    be inverted before the model can read it.
    """
    gray = np.asarray(gray, dtype=np.float32)
    h, w = gray.shape
    band = max(1, min(h, w) // 10)
    border = np.concatenate([gray[:band].ravel(), gray[-band:].ravel(),
                             gray[:, :band].ravel(), gray[:, -band:].ravel()])
    return float(np.median(border)) > 127.5


def _stretch_to_data_range(gray: np.ndarray) -> np.ndarray:
    """Background (the border's median) to 0, the brightest strokes (99th percentile) to 255."""
    g = gray.astype(np.float32)
    h, w = g.shape
    band = max(1, min(h, w) // 10)
    border = np.concatenate([g[:band].ravel(), g[-band:].ravel(), g[:, :band].ravel(), g[:, -band:].ravel()])
    low, high = float(np.median(border)), float(np.percentile(g, 99))
    if high - low < 1:
        return gray
    return np.clip((g - low) / (high - low) * 255, 0, 255).astype(np.uint8)


def _crop_to_ink(gray: np.ndarray, margin: float = 0.2) -> np.ndarray | None:
    """The square around the bright strokes with a margin, or None if there are none.

    A margin of 0.2 per side puts a 20-pixel digit in a 28-pixel frame, as in the digits data.
    """
    rows, cols = np.nonzero(gray > 127)
    if rows.size == 0:
        return None
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    side = max(bottom - top, right - left)
    side = int(np.ceil(side * (1 + 2 * margin)))
    out = np.zeros((side, side), dtype=np.uint8)
    r0 = (side - (bottom - top)) // 2
    c0 = (side - (right - left)) // 2
    out[r0:r0 + bottom - top, c0:c0 + right - left] = gray[top:bottom, left:right]
    return out


def preprocess_steps(img: Image.Image, meta: dict[str, Any], *, match_data: bool = False,
                     invert: bool | None = None) -> tuple[list[Step], torch.Tensor]:
    """The picture's way into the model, step by step, and the (1, C, H, W) model input.

    Always: colour to grey (1-channel models) or RGB, resize to the model's H x W (squeezed, as
    :func:`vizcore.models.preprocess` does), then normalise ``(pixels/255 - mean) / std``. A meta
    with ``resize`` (the ImageNet model) resizes the short side to it instead and shows the centre
    crop (H x W) that is cut out, dimming what the crop drops.
    With ``match_data`` (1-channel models), a photo is first made to look like the training data:
    inverted when it is dark ink on light paper (``invert=None`` decides from the border), contrast
    stretched so the background is black and the strokes white, and cropped to the strokes.
    """
    channels, height, width = meta["input_shape"]
    steps = [Step("Your picture", np.asarray(img.convert("RGB")), f"{img.width}×{img.height} pixels")]
    if channels == 1:
        picture = np.asarray(img.convert("L"))
        steps.append(Step("Grey", picture, "The model has one input channel: colour is averaged away "
                                           "(0.299 R + 0.587 G + 0.114 B)."))
        if match_data:
            if invert is None:
                invert = looks_dark_on_light(picture)
            if invert:
                picture = 255 - picture
                steps.append(Step("Inverted", picture, "The training digits are white on black; "
                                                       "dark ink on light paper is turned round."))
            picture = _stretch_to_data_range(picture)
            steps.append(Step("Contrast stretched", picture, "Background to black, strokes to white, "
                                                             "as in the training data."))
            cropped = _crop_to_ink(picture)
            if cropped is not None:
                picture = cropped
                steps.append(Step("Cropped to the strokes", picture, "The training digits fill their frame."))
        resized = Image.fromarray(picture)
    else:
        resized = img.convert("RGB")
    if meta.get("resize") and channels == 3:
        resized = _resize_and_crop(resized, meta, steps)
    elif resized.size != (width, height):
        resized = resized.resize((width, height), Image.Resampling.BILINEAR)
        steps.append(Step(f"Resized to {height}×{width}", np.asarray(resized),
                          f"The model was trained on {height}×{width} images (the picture is squeezed, "
                          "not cropped)."))
    pixels = np.asarray(resized, dtype=np.float32).reshape(height, width, channels).transpose(2, 0, 1)
    x = normalise(pixels, meta)
    mean = ", ".join(f"{m:.3g}" for m in meta["mean"])
    std = ", ".join(f"{s:.3g}" for s in meta["std"])
    steps.append(Step("Normalised (the model's input)", x[0].numpy(),
                      f"(pixels/255 − mean) / std with mean {mean}, std {std}: values around 0."))
    return steps, x


def _resize_and_crop(img: Image.Image, meta: dict[str, Any], steps: list[Step]) -> Image.Image:
    """Short side to ``meta["resize"]``, then the centre crop (the ImageNet model's way), as steps."""
    from vizcore.models import resize_for_crop

    _, height, width = meta["input_shape"]
    resized, (left, top, right, bottom) = resize_for_crop(img, meta)
    shown = np.asarray(resized).copy()
    outside = np.ones(shown.shape[:2], dtype=bool)
    outside[top:bottom, left:right] = False
    shown[outside] = shown[outside] // 3  # the part the crop drops, dimmed
    steps.append(Step(f"Short side resized to {meta['resize']}", shown,
                      f"{resized.width}×{resized.height} pixels: the proportions are kept (nothing is "
                      f"squeezed). The bright {height}×{width} square in the middle is what the model sees."))
    cropped = resized.crop((left, top, right, bottom))
    steps.append(Step(f"Centre crop {height}×{width}", np.asarray(cropped),
                      "The middle of the picture, at the scale of the ImageNet photos the model learned from; "
                      "the edges are cut off."))
    return cropped


def normalise(pixels: np.ndarray, meta: dict[str, Any]) -> torch.Tensor:
    """(C, H, W) pixels in 0..255 -> the (1, C, H, W) model input ``(pixels/255 - mean) / std``."""
    x = torch.as_tensor(np.ascontiguousarray(pixels, dtype=np.float32)) / 255.0
    c = x.shape[0]
    mean = torch.tensor(meta["mean"], dtype=torch.float32).view(c, 1, 1)
    std = torch.tensor(meta["std"], dtype=torch.float32).view(c, 1, 1)
    return ((x - mean) / std).unsqueeze(0)


def to_pixels(x: torch.Tensor, meta: dict[str, Any]) -> np.ndarray:
    """A model input (C, H, W) or (1, C, H, W) back to a picture: uint8 (H, W) or (H, W, 3)."""
    x = x.detach().reshape(x.shape[-3:])
    c = x.shape[0]
    mean = torch.tensor(meta["mean"], dtype=torch.float32).view(c, 1, 1)
    std = torch.tensor(meta["std"], dtype=torch.float32).view(c, 1, 1)
    pixels = ((x * std + mean) * 255).clamp(0, 255).round().to(torch.uint8).numpy()
    return pixels[0] if c == 1 else pixels.transpose(1, 2, 0)


def drawing_to_picture(grid: np.ndarray, height: int, width: int, *, border: int = 0, smooth: bool = True,
                       colour: tuple[int, int, int] | None = None,
                       background: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """A coarse drawing (G, G) of ink amounts 0..1 as a picture the model can read.

    The grid is resized to the frame minus ``border`` pixels on each side (bilinear when
    ``smooth``, else blocky) and padded with background: the digits data set was made the same
    way, 8x8 scans enlarged to 20x20 in a 28x28 frame. ``colour=None`` gives a grey picture
    (H, W) of white strokes on black; a colour gives (H, W, 3) strokes on ``background``.
    """
    grid = np.clip(np.asarray(grid, dtype=np.float32), 0, 1)
    inner_h, inner_w = height - 2 * border, width - 2 * border
    if grid.ndim != 2 or inner_h < 1 or inner_w < 1:
        raise FeatureError("A drawing is a 2D grid, and the border must leave room for it.")
    ink = torch.nn.functional.interpolate(torch.from_numpy(grid)[None, None], size=(inner_h, inner_w),
                                          mode="bilinear" if smooth else "nearest",
                                          **({"align_corners": False} if smooth else {}))[0, 0].numpy()
    ink = np.pad(ink, border)
    if colour is None:
        return np.round(ink * 255).astype(np.uint8)
    fg, bg = np.asarray(colour, dtype=np.float32), np.asarray(background, dtype=np.float32)
    return np.round(bg + ink[..., None] * (fg - bg)).astype(np.uint8)


# --- a freehand drawing made to look like the digits data --------------------------------------
# scikit-learn's digits are 32x32 scans of handwriting, scaled so the digit is as tall as the
# frame, counted in 4x4 blocks (8x8 cells) and enlarged here to 20x20 in a 28x28 frame
# (vizcore.data). Measured on all 1,797 of them: every digit spans all 8 rows, its ink covers
# 30.5 % of the 8x8 frame (25-36 % for 90 % of them, the same for a "1" as for an "8": thin
# digits were written thick), 98 % have a full cell, and the centre of mass lies within a pixel
# or so of the 28x28 frame's centre.
DIGITS_CELLS = 8
DIGITS_INK_SHARE = 0.305
DIGITS_FRAME, DIGITS_BORDER = 28, 4
_SCAN = 64  # the digit's frame while its strokes are weighed: 8 pixels a cell


def ink_box(ink: np.ndarray, threshold: float = 0.5) -> tuple[int, int, int, int] | None:
    """The bounding box of the strokes.

    Parameters
    ----------
    ink : (H, W) array of ink amounts in [0, 1].
    threshold : ink above it is stroke; fainter pixels (anti-aliased edges) are not.

    Returns
    -------
    (top, bottom, left, right), bottom and right exclusive, or None when nothing is drawn.
    """
    rows, cols = np.nonzero(np.asarray(ink) > threshold)
    if rows.size == 0:
        return None
    return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


def fit_to_frame(ink: np.ndarray, side: int = _SCAN) -> np.ndarray:
    """The strokes cut out and scaled so the digit is as tall as a ``side`` x ``side`` frame.

    The proportions are kept (a "1" stays narrow) and the digit is centred across; one wider
    than tall is fitted by its width instead. Shrinking averages the pixels (area resampling),
    so thin strokes turn grey rather than vanish.

    Parameters
    ----------
    ink : (H, W) ink in [0, 1], e.g. the canvas.
    side : the frame's size in pixels.

    Returns
    -------
    (side, side) float32 ink; all zeros when nothing is drawn.
    """
    ink = np.clip(np.asarray(ink, dtype=np.float32), 0, 1)
    box = ink_box(ink)
    out = np.zeros((side, side), np.float32)
    if box is None:
        return out
    top, bottom, left, right = box
    cut = ink[top:bottom, left:right]
    scale = side / max(cut.shape)
    h, w = (max(1, min(side, round(n * scale))) for n in cut.shape)
    shrink = scale < 1
    resized = Image.fromarray(cut).resize((w, h), Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR)
    r0, c0 = (side - h) // 2, (side - w) // 2
    out[r0:r0 + h, c0:c0 + w] = np.clip(np.asarray(resized, dtype=np.float32), 0, 1)
    return out


def match_stroke_weight(ink: np.ndarray, share: float = DIGITS_INK_SHARE, side: int = _SCAN) -> np.ndarray:
    """The strokes made thicker or thinner until they cover ``share`` of the digit's frame.

    Mouse strokes are thin next to the digits data's, whose ink covers about 30 % of the frame
    for every digit. Every pixel's distance to the strokes (outside) or to the background
    (inside) says how the shape grows or shrinks: keeping the pixels closer than ``t`` to the
    strokes thickens them by ``t`` on each side, a negative ``t`` thins them. The ``t`` that
    gives the share is used (thinning by at most half the stroke's width, so no stroke breaks),
    and the thickened digit is fitted to the frame again.

    Parameters
    ----------
    ink : (H, W) ink in [0, 1] of one digit, e.g. from :func:`fit_to_frame`.
    share : the part of the frame (the digit's taller side, squared) its ink should cover.
    side : the size of the returned frame.

    Returns
    -------
    (side, side) float32 ink: the reweighted digit, fitted as :func:`fit_to_frame` does.
    """
    from scipy import ndimage

    strokes = np.asarray(ink) > 0.5
    if not strokes.any():
        return np.zeros((side, side), np.float32)
    pad = max(strokes.shape)  # room to grow
    strokes = np.pad(strokes, pad)
    signed = ndimage.distance_transform_edt(~strokes) - ndimage.distance_transform_edt(strokes)
    half_width = float(np.percentile(-signed[strokes], 90)) + 0.5
    ts = np.arange(-0.5 * half_width, max(strokes.shape) / 3, 0.5)
    area = np.searchsorted(np.sort(signed, axis=None), ts, side="right")
    reach_rows, reach_cols = signed.min(axis=1), signed.min(axis=0)  # a row is inked once t reaches it
    tall = _span(reach_rows[None, :] <= ts[:, None])
    wide = _span(reach_cols[None, :] <= ts[:, None])
    frame = np.maximum(np.maximum(tall, wide), 1)
    gap = np.abs(area / frame ** 2 - share)
    order = np.argsort(np.abs(ts), kind="stable")  # the smallest change that is close enough
    close = order[gap[order] <= 0.01]
    best_t = ts[close[0]] if close.size else ts[np.argmin(gap)]
    return fit_to_frame((signed <= best_t).astype(np.float32), side)



def _span(inked: np.ndarray) -> np.ndarray:
    """For each row of a (N, L) bool array: last True index - first True index + 1 (0 if none)."""
    any_ = inked.any(axis=1)
    first = np.argmax(inked, axis=1)
    last = inked.shape[1] - 1 - np.argmax(inked[:, ::-1], axis=1)
    return np.where(any_, last - first + 1, 0)

def block_mean(ink: np.ndarray, cells: int = DIGITS_CELLS) -> np.ndarray:
    """The ink averaged over ``cells`` x ``cells`` equal blocks: the digits were scanned this way
    (the share of each 4x4 block of the 32x32 scan that was inked)."""
    arr = np.asarray(ink, dtype=np.float32)
    h, w = arr.shape
    if h % cells or w % cells:
        out = Image.fromarray(arr).resize((cells, cells), Image.Resampling.BOX)
        return np.clip(np.asarray(out, dtype=np.float32), 0, 1)
    return arr.reshape(cells, h // cells, cells, w // cells).mean(axis=(1, 3))


def stretch_ink(grid: np.ndarray) -> np.ndarray:
    """Ink scaled so the darkest cell is full ink (1) and the background stays 0, as in the
    digits data (98 % of its digits have a full cell). An empty grid stays empty."""
    arr = np.clip(np.asarray(grid, dtype=np.float32), 0, 1)
    top = float(arr.max())
    return arr / top if top > 0 else arr


def centre_of_mass(picture: np.ndarray) -> tuple[float, float]:
    """(row, column) of the ink's centre of mass: the brightness-weighted mean position.
    The frame's centre for an empty picture."""
    p = np.asarray(picture, dtype=np.float64)
    total = p.sum()
    if total <= 0:
        return (p.shape[0] - 1) / 2, (p.shape[1] - 1) / 2
    rows, cols = np.indices(p.shape)
    return float((rows * p).sum() / total), float((cols * p).sum() / total)


def centre_by_mass(picture: np.ndarray) -> np.ndarray:
    """The picture shifted by whole pixels so the ink's centre of mass is the frame's centre
    (MNIST's rule); what is shifted in is background (0), nothing is cut off that fits."""
    p = np.asarray(picture)
    h, w = p.shape[:2]
    r, c = centre_of_mass(p)
    dr, dc = round((h - 1) / 2 - r), round((w - 1) / 2 - c)
    rows, cols = np.nonzero(p)
    if rows.size:  # never push ink off the frame
        dr = int(np.clip(dr, -rows.min(), h - 1 - rows.max()))
        dc = int(np.clip(dc, -cols.min(), w - 1 - cols.max()))
    out = np.zeros_like(p)
    out[max(dr, 0):h + min(dr, 0), max(dc, 0):w + min(dc, 0)] = p[max(-dr, 0):h - max(dr, 0),
                                                                    max(-dc, 0):w - max(dc, 0)]
    return out


def digit_drawing_steps(ink: np.ndarray, *, by_mass: bool = False) -> list[Step]:
    """A freehand digit's way to a picture like the digits data, step by step.

    Cut out and scaled to the frame's height, strokes weighed like the data's, counted in 8x8
    cells like the scans and contrast stretched, then enlarged to 20x20 in the middle of the
    28x28 frame, as the data set was made. The digit's box is centred, as in the data; its
    centre of mass then lies near the frame's centre, as the data's does (within about a pixel,
    further for a "7" whose ink is at the top). ``by_mass`` shifts it so the centre of mass is
    exactly the centre (MNIST's rule), one step more.

    Parameters
    ----------
    ink : (H, W) ink in [0, 1], white strokes on black (the canvas, any size).
    by_mass : also centre the picture by its centre of mass.

    Returns
    -------
    list of :class:`Step`; each image is uint8, the last one the 28x28 picture for the model.
    Empty when nothing is drawn.
    """
    ink = np.clip(np.asarray(ink, dtype=np.float32), 0, 1)
    if ink_box(ink) is None:
        return []

    def pixels(a: np.ndarray) -> np.ndarray:
        return np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)

    steps = [Step("Your drawing", pixels(ink), f"{ink.shape[1]}×{ink.shape[0]} pixels of ink.")]
    fitted = fit_to_frame(ink)
    steps.append(Step("Cut out and scaled", pixels(fitted),
                      "The strokes' box, scaled so the digit is as tall as the frame (the proportions "
                      "kept), as every digit of the data set is."))
    weighed = match_stroke_weight(fitted)
    steps.append(Step("Stroke weight like the data", pixels(weighed),
                      f"Strokes thickened or thinned until the ink covers about {DIGITS_INK_SHARE:.0%} of "
                      f"the frame, as in the data (now {weighed.mean():.0%})."))
    grid = stretch_ink(block_mean(weighed))
    steps.append(Step(f"{DIGITS_CELLS}×{DIGITS_CELLS} cells, contrast stretched", pixels(grid),
                      "Each cell is the share of its block that is inked, the fullest cell white: the "
                      "digits were scanned this way."))
    inner = DIGITS_FRAME - 2 * DIGITS_BORDER
    picture = drawing_to_picture(grid, DIGITS_FRAME, DIGITS_FRAME, border=DIGITS_BORDER)
    r, c = centre_of_mass(picture)
    steps.append(Step(f"In the data's {DIGITS_FRAME}×{DIGITS_FRAME} frame", picture,
                      f"Enlarged to {inner}×{inner} in the middle of a black frame, exactly as the data set "
                      f"was made. Centre of mass: row {r:.1f}, column {c:.1f} (the frame's centre is "
                      f"{(DIGITS_FRAME - 1) / 2})."))
    if by_mass:
        picture = centre_by_mass(picture)
        r, c = centre_of_mass(picture)
        steps.append(Step("Centred by mass", picture, f"Shifted so the ink's centre of mass is the frame's "
                                                      f"centre (now row {r:.1f}, column {c:.1f})."))
    return steps

def selected_cells(points: list[dict], shape: tuple[int, int]) -> list[tuple[int, int]]:
    """(row, col) of the cells a chart selection picked (points with x = column, y = row).

    Points outside the grid or without whole-number coordinates are ignored.
    """
    cells = []
    for point in points:
        try:
            row, col = float(point["y"]), float(point["x"])
        except (KeyError, TypeError, ValueError):
            continue
        if row.is_integer() and col.is_integer() and 0 <= row < shape[0] and 0 <= col < shape[1]:
            cells.append((int(row), int(col)))
    return cells


# --- filters ---------------------------------------------------------------------------------

def conv_layers(model: nn.Module) -> list[str]:
    """Names of the model's convolution layers, first to last."""
    return [name for name, layer in model.named_children() if isinstance(layer, nn.Conv2d)]


def stage_convolution(model: nn.Module, stage: str) -> str | None:
    """The convolution that opens a stage, as a dotted name ("stem" -> "stem.conv"), or None.

    A real network groups a convolution with its batch norm and activation into one stage
    (EfficientNet's stem and head): the stage's feature maps come out of all three, but its
    filters are the convolution's. A plain convolution layer is its own answer.
    """
    module = dict(model.named_children()).get(stage)
    if isinstance(module, nn.Conv2d):
        return stage
    if isinstance(module, nn.Sequential) and len(module) and isinstance(module[0], nn.Conv2d):
        first = next(iter(module.named_children()))[0]
        return f"{stage}.{first}"
    return None


def filters(model: nn.Module, layer: str) -> np.ndarray:
    """The weights of convolution ``layer`` as (out channels, in channels, kh, kw).

    Filter ``o`` of the layer makes output channel ``o``; its slice ``[o, c]`` is slid over
    input channel ``c`` and the results of all input channels are summed (plus the bias).
    ``layer`` is a child's name or a dotted path into a stage (:func:`stage_convolution`).
    """
    try:
        module = model.get_submodule(layer)
    except AttributeError:
        module = None
    if not isinstance(module, nn.Conv2d):
        raise FeatureError(f"{layer!r} is not a convolution layer; filters exist only for "
                           f"{', '.join(conv_layers(model)) or 'convolutions'}.")
    return module.weight.detach().cpu().numpy().copy()


def bias(model: nn.Module, layer: str) -> np.ndarray:
    """The bias of convolution ``layer`` (zeros when it has none)."""
    module = model.get_submodule(layer)
    if module.bias is None:
        return np.zeros(module.out_channels, dtype=np.float32)
    return module.bias.detach().cpu().numpy().copy()


@dataclass
class ConvValue:
    """How one value of a convolution layer's output was made (see :func:`explain_conv_value`)."""
    per_channel: list  # vizcore.conv.CellExplanation of each input channel: its products and their sum
    bias: float
    total: float       # sum of the per-channel sums plus the bias


def explain_conv_value(model: nn.Module, layer: str, layer_input: torch.Tensor, channel: int,
                       i: int, j: int) -> ConvValue:
    """The arithmetic behind value (i, j) of output ``channel`` of convolution ``layer``.

    A convolution layer slides filter ``channel`` over each input channel separately, sums the
    products in the window (one partial sum per input channel), adds the partial sums and the
    bias. ``layer_input`` is what the layer received, (C, H, W) or (1, C, H, W).
    """
    from vizcore import conv  # the playground's arithmetic, reused

    try:
        module = model.get_submodule(layer)  # a child, or a stage's convolution ("stem.conv")
    except AttributeError:
        module = None
    if not isinstance(module, nn.Conv2d) or module.groups != 1:
        raise FeatureError(f"{layer!r} is not a (plain) convolution layer.")
    x = layer_input.detach().reshape(layer_input.shape[-3:]).numpy()
    w = filters(model, layer)[channel]
    if isinstance(module, SameConv2d):  # TensorFlow's "SAME": the extra zero row/column at the bottom/right
        padding = "same"
    else:
        padding = module.padding if isinstance(module.padding, str) else tuple(module.padding)
    parts = [conv.explain_cell(x[c], w[c], i, j, stride=tuple(module.stride), padding=padding,
                               dilation=tuple(module.dilation)) for c in range(w.shape[0])]
    b = float(bias(model, layer)[channel])
    return ConvValue(parts, b, float(sum(p.total for p in parts)) + b)


@dataclass(frozen=True)
class AfterConv:
    """One step a stage takes after its convolution (see :func:`explain_after_conv`)."""
    name: str        # "Batch norm", "ReLU6"
    arithmetic: str  # the step written out with this value's numbers
    value: float     # the value after this step


def explain_after_conv(model: nn.Module, stage: str, channel: int, value: float) -> list[AfterConv]:
    """What stage ``stage`` does to value ``value`` of its convolution's output ``channel``.

    A real network's stage is convolution → batch norm → activation (EfficientNet's stem and
    head). Batch norm, at test time, is one fixed straight line per channel: subtract the mean
    and divide by the standard deviation the training data had there, then scale by γ and
    shift by β (so the convolution needs no bias of its own). ReLU6 keeps values between 0
    and 6; ReLU drops negatives. The last step's value is the stage's output.
    """
    module = dict(model.named_children()).get(stage)
    if stage_convolution(model, stage) in (None, stage):
        raise FeatureError(f"{stage!r} is not a stage that opens with a convolution.")
    steps = []
    for name, layer in list(module.named_children())[1:]:
        if isinstance(layer, nn.BatchNorm2d) and not layer.training:
            mean, var = float(layer.running_mean[channel]), float(layer.running_var[channel])
            gamma = float(layer.weight.detach()[channel]) if layer.weight is not None else 1.0
            beta = float(layer.bias.detach()[channel]) if layer.bias is not None else 0.0
            new = (value - mean) / float(np.sqrt(var + layer.eps)) * gamma + beta
            text = (f"({value:.4g} − mean {mean:.4g}) / √(variance {var:.4g} + ε {layer.eps:g}) "
                    f"× γ {gamma:.4g} + β {beta:.4g} = {new:.4g}")
            steps.append(AfterConv("Batch norm", text, new))
        elif isinstance(layer, (nn.ReLU6, nn.ReLU)):
            six = isinstance(layer, nn.ReLU6)
            new = min(max(value, 0.0), 6.0) if six else max(value, 0.0)
            text = f"min(max({value:.4g}, 0), 6) = {new:.4g}" if six else f"max({value:.4g}, 0) = {new:.4g}"
            steps.append(AfterConv(type(layer).__name__, text, new))
        else:
            raise FeatureError(f"{stage}.{name} ({type(layer).__name__}) has no arithmetic written out here.")
        value = new
    return steps


# --- receptive fields ------------------------------------------------------------------------

@dataclass(frozen=True)
class Window:
    """Rows ``top..bottom-1`` and columns ``left..right-1`` of the input (may reach into padding)."""
    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    def clipped(self, height: int, width: int) -> "Window":
        """The part of the window inside an input of ``height`` x ``width``."""
        return Window(max(self.top, 0), max(self.left, 0), min(self.bottom, height), min(self.right, width))


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


@dataclass(frozen=True)
class _Geometry:
    """A windowed layer along both axes: kernel, stride, padding before, dilation; how it rounds."""
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    size_padding: tuple  # as the layer states it (numbers, or "same"/"valid"), for its output size
    ceil_mode: bool
    tensorflow_same: bool = False  # padding that depends on the input size (SameConv2d)
    pad_after: tuple[int, int] | None = None  # a padding (or, negative, cropping) layer: zeros after

    def output_size(self, n: int, axis: int) -> int:
        if self.pad_after is not None:
            return n + self.padding[axis] + self.pad_after[axis]
        if self.tensorflow_same:
            return -(-n // self.stride[axis])
        return conv_output_size(n, self.kernel[axis], self.stride[axis], self.size_padding[axis],
                                self.dilation[axis], self.ceil_mode)

    def padding_before(self, n: int, axis: int) -> int:
        """Zeros before the first row (axis 0) or column (axis 1) of an input of ``n`` values."""
        if self.tensorflow_same:
            return same_padding(n, self.kernel[axis], self.stride[axis], self.dilation[axis])[0]
        return self.padding[axis]


def _geometry(layer: nn.Module) -> _Geometry | None:
    """The window of a convolution or pooling layer; None for layers that act value by value."""
    if isinstance(layer, _POINTWISE):
        return None
    if isinstance(layer, (nn.ZeroPad2d, nn.ConstantPad2d, nn.ReflectionPad2d, nn.ReplicationPad2d)):
        # (left, right, top, bottom); negative values crop. A reflected or repeated border holds
        # copies of pixels already inside the window: the window's bounds are the same.
        left, right, top, bottom = layer.padding
        return _Geometry((1, 1), (1, 1), (top, left), (1, 1), (0, 0), False, pad_after=(bottom, right))
    if not isinstance(layer, _WINDOWED):
        raise FeatureError(f"The receptive field through a {type(layer).__name__} layer is not known here.")
    kernel = _pair(layer.kernel_size)
    stride = _pair(layer.stride)
    dilation = _pair(getattr(layer, "dilation", 1))
    padding = layer.padding
    if getattr(layer, "tensorflow_same", False):  # TensorFlow's "SAME": the zeros before depend on the size
        return _Geometry(kernel, stride, (0, 0), dilation, (0, 0), False, tensorflow_same=True)
    if isinstance(padding, str):  # Conv2d(padding="same"/"valid"): torch pads d(k-1)//2 before
        size_padding = (padding, padding)
        padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation)) if padding == "same" else (0, 0)
    else:
        size_padding = _pair(padding)
    return _Geometry(kernel, stride, _pair(padding), dilation, size_padding, bool(getattr(layer, "ceil_mode", False)))


def _windowed_layers(model: nn.Module, layer: str) -> tuple[list[_Geometry] | None, bool]:
    """Geometry of every windowed layer up to ``layer`` (None once a layer sees the whole input),
    and whether the maps have been flattened on the way (each value still sees one window)."""
    names = layer_names(model)
    if layer == SOFTMAX:
        return None, True
    if layer not in names:
        raise FeatureError(f"The model has no layer {layer!r}; it has {', '.join(names)}.")
    stack, flat = [], False
    for name, stage in model.named_children():
        for module in _flow(stage):
            if isinstance(module, nn.Flatten):
                flat = True
            elif isinstance(module, _GLOBAL):
                return None, True
            else:
                geometry = _geometry(module)
                if geometry is not None:
                    stack.append(geometry)
        if name == layer:
            break
    return stack, flat


def _flow(stage: nn.Module) -> list[nn.Module]:
    """The layers the data passes inside one stage, in order: a nested ``nn.Sequential``'s layers,
    or the widest path through a block (:class:`vizcore.blocks.Block`).

    A block's branches meet at the same positions, so their windows are centred alike (a skip
    adds the input at the position itself; "same" padding centres every branch's window): the
    widest path's window holds the others', and it is the block's."""
    if isinstance(stage, Block):
        return max((_flow(nn.Sequential(*path)) for path in stage.paths()), key=_reach)
    if isinstance(stage, nn.Sequential):
        return [layer for child in stage for layer in _flow(child)]
    return [stage]


def _reach(layers: list[nn.Module]) -> int:
    """How many input rows beyond one a value after ``layers`` sees (sum of d·(k−1)·jump)."""
    reach, jump = 0, 1
    for layer in layers:
        if isinstance(layer, _GLOBAL):  # e.g. a squeeze-and-excitation gate: it sees everything
            return 2**62
        geometry = _geometry(layer)
        if geometry is not None:
            reach += geometry.dilation[0] * (geometry.kernel[0] - 1) * jump
            jump *= geometry.stride[0]
    return reach


def _sizes(stack: list[_Geometry], n: int, axis: int) -> list[int]:
    """The map's size along ``axis`` before each layer of ``stack`` and after the last."""
    sizes = [n]
    for g in stack:
        sizes.append(g.output_size(sizes[-1], axis))
    return sizes


def receptive_field(model: nn.Module, layer: str, i: int, j: int, input_hw: tuple[int, int]) -> Window:
    """The input window that value (i, j) of ``layer`` depends on.

    Walking back layer by layer, output positions ``a..b`` of a layer with kernel k, stride s,
    padding p and dilation d come from its input positions ``a*s - p .. b*s - p + d(k-1)``. Inside
    the network those are cut to the positions that exist (padding adds only zeros); at the input
    the window may reach into the padding (negative, or past the edge): ``.clipped(h, w)`` gives
    the pixels that matter. Linear layers and the probabilities see the whole input.
    """
    height, width = input_hw
    stack, flat = _windowed_layers(model, layer)
    if stack is None:
        return Window(0, 0, height, width)
    if flat:
        raise FeatureError(f"The values of {layer} are a flattened list: pick the position in the layer "
                           "before Flatten.")
    bounds = []
    for axis, index, n in ((0, i, height), (1, j, width)):
        sizes = _sizes(stack, n, axis)
        if not 0 <= index < sizes[-1]:
            raise FeatureError(f"{layer} has {sizes[-1]} {'rows' if axis == 0 else 'columns'}; "
                               f"position {index} is outside it.")
        first, last = index, index
        for depth in range(len(stack) - 1, -1, -1):
            g = stack[depth]
            before = g.padding_before(sizes[depth], axis)
            first = first * g.stride[axis] - before
            last = last * g.stride[axis] - before + g.dilation[axis] * (g.kernel[axis] - 1)
            if depth > 0:  # inside the network only existing positions count
                first, last = max(first, 0), min(last, sizes[depth] - 1)
        bounds.append((first, last + 1))
    (top, bottom), (left, right) = bounds
    return Window(top, left, bottom, right)


def receptive_field_size(model: nn.Module, layer: str, input_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """(size rows, size cols, jump rows, jump cols) of ``layer`` as the lecture formula gives them
    (:func:`vizcore.shapes.receptive_field_stack`): how much one value sees, and how far apart
    neighbouring values' windows are in the input. After Flatten each value still sees the window
    of the map value it came from; linear layers see everything (jump 0)."""
    fields = _fields(model, layer, input_hw)
    if fields is None:
        return input_hw[0], input_hw[1], 0, 0
    return fields[0][0], fields[1][0], fields[0][1], fields[1][1]


def receptive_field_centre(model: nn.Module, layer: str, input_hw: tuple[int, int]) -> tuple[float, float]:
    """Input position (row, col) that the window of value (0, 0) of ``layer`` is centred on;
    value (i, j) is centred ``i * jump`` rows and ``j * jump`` columns further."""
    fields = _fields(model, layer, input_hw)
    if fields is None:
        return (input_hw[0] - 1) / 2, (input_hw[1] - 1) / 2
    return fields[0][2], fields[1][2]


def _fields(model: nn.Module, layer: str, input_hw: tuple[int, int]):
    """(size, jump, start) per axis after ``layer``, or None when it sees the whole input."""
    stack, _ = _windowed_layers(model, layer)
    if stack is None:
        return None
    if not stack:
        return (1, 1, 0.0), (1, 1, 0.0)
    return tuple(receptive_field_stack([g.kernel[axis] for g in stack], [g.stride[axis] for g in stack],
                                       [g.dilation[axis] for g in stack],
                                       [g.padding_before(n, axis) for g, n in zip(stack, _sizes(stack, size, axis))])[-1]
                 for axis, size in ((0, input_hw[0]), (1, input_hw[1])))


def crop(picture: np.ndarray, window: Window, fill: int = 0) -> np.ndarray:
    """The window cut from a picture (H, W) or (H, W, 3); parts in the padding are ``fill``."""
    h, w = picture.shape[:2]
    out = np.full((window.height, window.width) + picture.shape[2:], fill, dtype=picture.dtype)
    inside = window.clipped(h, w)
    if inside.height > 0 and inside.width > 0:
        out[inside.top - window.top:inside.bottom - window.top,
            inside.left - window.left:inside.right - window.left] = \
            picture[inside.top:inside.bottom, inside.left:inside.right]
    return out


# --- top-activating patches ------------------------------------------------------------------

@dataclass
class TopActivations:
    """For each channel of one layer, the ``k`` data-set images that excite it most.

    ``values[c, r]`` is the r-th largest activation of channel ``c`` (each image's strongest
    position), reached in image ``image_index[c, r]`` at position ``position[c, r]`` (row, col).
    """
    values: np.ndarray       # (C, k) float32
    image_index: np.ndarray  # (C, k) int64
    position: np.ndarray     # (C, k, 2) int64


def inside_positions(model: nn.Module, layer: str, map_hw: tuple[int, int],
                     input_hw: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the positions of ``layer``'s map whose receptive field lies wholly inside the
    input (no padding in it). All True when no position does (deep layers see past the edges)."""
    h, w = input_hw
    rows = np.array([(lambda f: f.top >= 0 and f.bottom <= h)(receptive_field(model, layer, i, 0, input_hw))
                     for i in range(map_hw[0])])
    cols = np.array([(lambda f: f.left >= 0 and f.right <= w)(receptive_field(model, layer, 0, j, input_hw))
                     for j in range(map_hw[1])])
    mask = rows[:, None] & cols[None, :]
    return mask if mask.any() else np.ones(map_hw, dtype=bool)


def top_activations(model: nn.Module, images: torch.Tensor, k: int = 9,
                    batch_size: int = 64, inside: bool = False) -> dict[str, TopActivations]:
    """Top-``k`` images (and where in them) for every channel of every layer, in one pass.

    For a feature map each image counts once, at its strongest position (Zeiler & Fergus 2014);
    for a vector layer (flatten, linear, softmax) the "channel" is one unit. The data set is
    run through the model once, in batches, keeping only each image's per-channel maximum.
    ``inside``: only positions whose receptive field lies inside the image count
    (:func:`inside_positions`), so the patches show picture, not the zero padding around it.
    """
    if images.dim() != 4 or images.shape[0] == 0:
        raise FeatureError("top_activations needs a non-empty batch of images (N, C, H, W).")
    best: dict[str, list[torch.Tensor]] = {}
    where: dict[str, list[torch.Tensor]] = {}
    masks: dict[str, torch.Tensor] = {}

    def keep_strongest(name: str, out: torch.Tensor) -> None:
        # Reduce each layer's output as soon as it is made: a batch of big maps never piles up.
        if out.dim() == 4:
            n, c, h, w = out.shape
            if inside and name != SOFTMAX:
                if name not in masks:
                    masks[name] = torch.from_numpy(inside_positions(model, name, (h, w), tuple(images.shape[-2:])))
                out = out.masked_fill(~masks[name], float("-inf"))
            values, flat = out.reshape(n, c, h * w).max(dim=2)
            where.setdefault(name, []).append(torch.stack([flat // w, flat % w], dim=-1))
        else:
            values = out.reshape(out.shape[0], -1)
            where.setdefault(name, []).append(torch.zeros(values.shape + (2,), dtype=torch.long))
        best.setdefault(name, []).append(values)

    layers = _children(model)
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            # channels-last images make CPU convolutions about twice as fast (same values)
            out = images[start:start + batch_size].contiguous(memory_format=torch.channels_last)
            for name, layer in layers:  # child by child: no hook on the shared model
                out = layer(out)
                keep_strongest(name, out)
            keep_strongest(SOFTMAX, torch.softmax(out.flatten(1), dim=1))
    result = {}
    for name in best:
        values = torch.cat(best[name])            # (N, C)
        positions = torch.cat(where[name])        # (N, C, 2)
        kk = min(k, values.shape[0])
        top, index = torch.sort(values, dim=0, descending=True, stable=True)
        top, index = top[:kk].T, index[:kk].T     # (C, kk)
        channel = torch.arange(values.shape[1]).unsqueeze(1).expand_as(index)
        result[name] = TopActivations(top.numpy().copy(), index.numpy().copy(),
                                      positions[index, channel].numpy().copy())
    return result


def top_patches(model: nn.Module, layer: str, channel: int, top: TopActivations,
                pictures: np.ndarray) -> list[tuple[np.ndarray, int, float, Window]]:
    """The receptive-field crops behind ``top`` for one channel: (crop, image index, value, window).

    Units of linear layers (and the probabilities) see the whole image, so their "crop" is the
    image. ``pictures`` are the data-set images as pictures (N, H, W) or (N, H, W, 3) uint8 (see
    :func:`to_pixels`); crops reaching into the padding are filled with black.
    """
    if not 0 <= channel < top.values.shape[0]:
        raise FeatureError(f"{layer} has channels 0..{top.values.shape[0] - 1}, not {channel}.")
    h, w = pictures.shape[1:3]
    patches = []
    for r in range(top.values.shape[1]):
        index = int(top.image_index[channel, r])
        i, j = (int(v) for v in top.position[channel, r])
        window = receptive_field(model, layer, i, j, (h, w))
        patches.append((crop(pictures[index], window), index, float(top.values[channel, r]), window))
    return patches
