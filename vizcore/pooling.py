"""Pooling: max, average and global pooling, exactly as PyTorch computes them.

A pooling layer slides a window over each channel separately and keeps one number per
window: the largest (max pooling) or the mean (average pooling). It has no weights, so it
adds 0 parameters; it shrinks the feature map and makes the result less sensitive to small
shifts of the input.

Conventions follow ``torch.nn.functional.max_pool2d`` / ``avg_pool2d``:

- ``stride`` defaults to the kernel size (non-overlapping windows).
- ``padding`` adds a ring of "nothing" around the input: ``-inf`` for max pooling (a padded
  cell never wins), zeros for average pooling. PyTorch allows at most half the kernel
  (``2 * padding <= kernel_size``) so that every window still covers a real input cell.
- Output size per axis: ``floor((n + 2p - k) / s) + 1``; with ``ceil_mode=True`` the division
  rounds up, but a last window that would start inside the right/bottom padding is dropped.
- Average pooling divides by the window size *including* padded zeros
  (``count_include_pad=True``, PyTorch's default), but windows that stick out past the padded
  input in ceil mode are cut at that edge. With ``count_include_pad=False`` it divides by the
  number of real input cells in the window.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from vizcore import shapes

MODES = ("max", "avg")


class PoolError(ValueError):
    """A pooling setting that PyTorch would reject, explained for a student."""


# --------------------------------------------------------------------------------------
# Settings and output size
# --------------------------------------------------------------------------------------

def _int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise PoolError(f"{name} must be a whole number, got {value!r}.")
    if not isinstance(value, Integral):
        if not math.isfinite(value) or not float(value).is_integer():
            raise PoolError(f"{name} must be a whole number, got {value!r}.")
    value = int(value)
    if value < minimum:
        raise PoolError(f"{name} must be at least {minimum}, got {value}.")
    return value


def _pair(value, name: str, minimum: int) -> tuple[int, int]:
    """An int or a (rows, cols) pair, checked."""
    if isinstance(value, (tuple, list, np.ndarray)):
        if len(value) != 2:
            raise PoolError(f"{name} must be one number or a (rows, columns) pair, got {value!r}.")
        return _int(value[0], name, minimum), _int(value[1], name, minimum)
    v = _int(value, name, minimum)
    return v, v


@dataclass(frozen=True)
class PoolSettings:
    """Checked pooling settings per axis (rows, columns) and the resulting output size."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    ceil_mode: bool
    input_size: tuple[int, int]
    output_size: tuple[int, int]


def _axis_output_size(n: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    span = n + 2 * p - k
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    # Ceil mode must not start a window entirely in the right/bottom padding.
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def check_settings(
    input_size: tuple[int, int],
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
) -> PoolSettings:
    """Validate pooling settings for an (H, W) input the way PyTorch does.

    Raises
    ------
    PoolError
        With a message that says what is wrong and what would work.
    """
    kernel = _pair(kernel_size, "Kernel size", 1)
    stride_pair = kernel if stride is None else _pair(stride, "Stride", 1)
    pad = _pair(padding, "Padding", 0)
    size = _pair(input_size, "Input size", 1)
    for axis, k, p in zip(("rows", "columns"), kernel, pad):
        if 2 * p > k:
            raise PoolError(
                f"Padding {p} is more than half the kernel size {k} ({axis}). PyTorch allows "
                f"padding at most {k // 2} here, so that every window covers at least one real "
                f"input value."
            )
    out = []
    for axis, n, k, s, p in zip(("rows", "columns"), size, kernel, stride_pair, pad):
        o = _axis_output_size(n, k, s, p, bool(ceil_mode))
        if o < 1:
            raise PoolError(
                f"The {k}-wide window does not fit into the {n + 2 * p} {axis} of the padded input "
                f"({n} + 2·{p}): the output would have {o} {axis}. Use a smaller kernel or more padding."
            )
        out.append(o)
    return PoolSettings(kernel, stride_pair, pad, bool(ceil_mode), size, (out[0], out[1]))


def pool_output_size(n: int, kernel_size: int, stride: int | None = None, padding: int = 0,
                     ceil_mode: bool = False) -> int:
    """Output length along one axis: ``floor((n + 2p - k)/s) + 1`` (ceil in ceil mode)."""
    settings = check_settings((n, n), kernel_size, stride, padding, ceil_mode)
    return settings.output_size[0]


def output_size_formula(settings: PoolSettings, axis: int = 0) -> str:
    """The output-size formula for one axis with the numbers put in, e.g.
    ``floor((4 + 2·0 − 2) / 2) + 1 = 2``."""
    n, k, s, p = (settings.input_size[axis], settings.kernel[axis], settings.stride[axis],
                  settings.padding[axis])
    rounding = "ceil" if settings.ceil_mode else "floor"
    text = f"{rounding}(({n} + 2·{p} − {k}) / {s}) + 1"
    plain = (n + 2 * p - k + (s - 1 if settings.ceil_mode else 0)) // s + 1
    if plain != settings.output_size[axis]:
        text += f" = {plain}, minus the last window that would start in the padding"
    return f"{text} = {settings.output_size[axis]}"


# --------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------

def _as_array(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim not in (2, 3):
        raise PoolError(f"Pooling needs an (H, W) or (C, H, W) array, got shape {x.shape}.")
    if x.size == 0:
        raise PoolError("The input is empty.")
    if not np.all(np.isfinite(x)):
        raise PoolError("The input has empty or non-numeric cells; fill every cell with a number.")
    return x


def _windows(x: np.ndarray, settings: PoolSettings, fill: float) -> np.ndarray:
    """All pooling windows: shape (..., out_h, out_w, k_h, k_w)."""
    (kh, kw), (sh, sw), (ph, pw) = settings.kernel, settings.stride, settings.padding
    (oh, ow) = settings.output_size
    h, w = x.shape[-2:]
    # Ceil mode may need cells past the padding; they count as padding too.
    extra_h = max(0, (oh - 1) * sh + kh - (h + 2 * ph))
    extra_w = max(0, (ow - 1) * sw + kw - (w + 2 * pw))
    pad = [(0, 0)] * (x.ndim - 2) + [(ph, ph + extra_h), (pw, pw + extra_w)]
    padded = np.pad(x, pad, constant_values=fill)
    win = sliding_window_view(padded, (kh, kw), axis=(-2, -1))
    return win[..., ::sh, ::sw, :, :][..., :oh, :ow, :, :]


def _avg_divisors(settings: PoolSettings, count_include_pad: bool) -> np.ndarray:
    """How many cells each average-pooling window divides by, shape (out_h, out_w)."""
    counts = []
    for n, k, s, p, o in zip(settings.input_size, settings.kernel, settings.stride,
                             settings.padding, settings.output_size):
        start = np.arange(o) * s - p
        if count_include_pad:
            stop = np.minimum(start + k, n + p)  # padded zeros count, cells beyond them don't
        else:
            stop = np.minimum(start + k, n)
            start = np.maximum(start, 0)
        counts.append(stop - start)
    return np.outer(counts[0], counts[1]).astype(np.float64)


def pool2d(
    x,
    kernel_size,
    stride=None,
    padding=0,
    mode: str = "max",
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> np.ndarray:
    """Max or average pooling of an (H, W) or (C, H, W) array, each channel on its own.

    Parameters
    ----------
    x : array (H, W) or (C, H, W)
    kernel_size, stride, padding : int or (rows, cols)
        ``stride=None`` means stride = kernel size, as in PyTorch and Keras.
    mode : "max" or "avg"
    ceil_mode : round the output size up instead of down.
    count_include_pad : average pooling divides by the full window including padded zeros
        (PyTorch's default) or, if False, by the real cells only.

    Returns
    -------
    float64 array (out_H, out_W) or (C, out_H, out_W), equal to torch's pooling.
    """
    if mode not in MODES:
        raise PoolError(f"Unknown pooling mode {mode!r}; use 'max' or 'avg'.")
    x = _as_array(x)
    settings = check_settings(x.shape[-2:], kernel_size, stride, padding, ceil_mode)
    if mode == "max":
        return _windows(x, settings, -np.inf).max(axis=(-2, -1))
    sums = _windows(x, settings, 0.0).sum(axis=(-2, -1))
    return sums / _avg_divisors(settings, count_include_pad)


def global_pool(x, mode: str = "max") -> np.ndarray:
    """Global max or average pooling: one number per channel.

    An (H, W) input gives a 0-d array, a (C, H, W) input a (C,) vector — the usual bridge from
    the last feature map to the dense classifier (no flattening, no parameters).
    """
    if mode not in MODES:
        raise PoolError(f"Unknown pooling mode {mode!r}; use 'max' or 'avg'.")
    x = _as_array(x)
    reduce = np.max if mode == "max" else np.mean
    return np.asarray(reduce(x, axis=(-2, -1)))


# --------------------------------------------------------------------------------------
# Where each output value comes from
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PoolWindow:
    """One output cell and the input cells it was computed from.

    ``rows``/``cols`` are half-open ranges of real input indices inside the window;
    ``padded_rows``/``padded_cols`` include the padding (negative or past the edge).
    ``winner`` is the (row, col) of the input cell that max pooling picked (the first
    maximum in reading order, as PyTorch does), None for average pooling.
    """

    out_row: int
    out_col: int
    rows: tuple[int, int]
    cols: tuple[int, int]
    padded_rows: tuple[int, int]
    padded_cols: tuple[int, int]
    value: float
    winner: tuple[int, int] | None
    divisor: int | None

    def describe(self, mode: str) -> str:
        """e.g. ``max(in[0:2, 2:4]) = in[0, 3] = 3``."""
        region = f"in[{self.rows[0]}:{self.rows[1]}, {self.cols[0]}:{self.cols[1]}]"
        if self.padded_rows != self.rows or self.padded_cols != self.cols:
            region += " + padding"
        if mode == "max":
            return f"max({region}) = in[{self.winner[0]}, {self.winner[1]}] = {_fmt(self.value)}"
        return f"sum({region}) / {self.divisor} = {_fmt(self.value)}"


def pool_windows(
    x,
    kernel_size,
    stride=None,
    padding=0,
    mode: str = "max",
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> list[PoolWindow]:
    """For a 2D input, every output cell (row-major) with its input window and winner."""
    x = _as_array(x)
    if x.ndim != 2:
        raise PoolError(f"pool_windows explains one channel: give an (H, W) array, got {x.shape}.")
    out = pool2d(x, kernel_size, stride, padding, mode, ceil_mode, count_include_pad)
    s = check_settings(x.shape, kernel_size, stride, padding, ceil_mode)
    (kh, kw), (sh, sw), (ph, pw) = s.kernel, s.stride, s.padding
    h, w = x.shape
    if mode == "max":
        win = _windows(x, s, -np.inf)
        flat_arg = win.reshape(*win.shape[:2], kh * kw).argmax(axis=-1)  # first maximum
    else:
        divisors = _avg_divisors(s, count_include_pad)
    cells = []
    for i in range(s.output_size[0]):
        r0 = i * sh - ph
        for j in range(s.output_size[1]):
            c0 = j * sw - pw
            winner = None
            divisor = None
            if mode == "max":
                dr, dc = divmod(int(flat_arg[i, j]), kw)
                winner = (r0 + dr, c0 + dc)
            else:
                divisor = int(divisors[i, j])
            cells.append(PoolWindow(
                out_row=i, out_col=j,
                rows=(max(r0, 0), min(r0 + kh, h)), cols=(max(c0, 0), min(c0 + kw, w)),
                padded_rows=(r0, r0 + kh), padded_cols=(c0, c0 + kw),
                value=float(out[i, j]), winner=winner, divisor=divisor,
            ))
    return cells


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.4g}"


def edge_feature_map(gray) -> np.ndarray:
    """A typical first-layer feature map: vertical-edge filter ``[[1, 0, -1]] * 3`` then ReLU.

    Most of it is zero with bright ridges along edges: the kind of map pooling is applied to.
    """
    gray = np.asarray(gray, dtype=np.float64)
    kernel = np.array([[1.0, 0.0, -1.0]] * 3)
    return np.maximum(ndimage.correlate(gray, kernel, mode="nearest"), 0.0)


# --------------------------------------------------------------------------------------
# Translation invariance
# --------------------------------------------------------------------------------------

def shift(x, rows: int = 0, cols: int = 1) -> np.ndarray:
    """Move the content of an (H, W) or (C, H, W) array by `rows` down and `cols` right.

    The strip that becomes empty repeats the old edge, so the shift adds no artificial edge.
    """
    x = np.asarray(x, dtype=np.float64)
    if abs(rows) >= x.shape[-2] or abs(cols) >= x.shape[-1]:
        raise PoolError(f"A shift by {abs(rows) or abs(cols)} pixels needs a picture larger than that; "
                        f"this one is {x.shape[-2]}×{x.shape[-1]}.")
    out = np.roll(x, (rows, cols), axis=(-2, -1))
    if rows > 0:
        out[..., :rows, :] = out[..., rows:rows + 1, :]
    elif rows < 0:
        out[..., rows:, :] = out[..., rows - 1:rows, :]
    if cols > 0:
        out[..., :, :cols] = out[..., :, cols:cols + 1]
    elif cols < 0:
        out[..., :, cols:] = out[..., :, cols - 1:cols]
    return out


@dataclass(frozen=True)
class ShiftEffect:
    """How much an array changes when the input is shifted.

    ``unchanged_fraction``: share of cells whose value did not change at all;
    ``mean_abs_change``: mean |after − before|; ``relative_change``: that mean divided by the
    mean |before|, so the input, max and average pooling are comparable.
    """

    name: str
    before: np.ndarray
    after: np.ndarray
    unchanged_fraction: float
    mean_abs_change: float
    relative_change: float

    @property
    def change(self) -> np.ndarray:
        return np.abs(self.after - self.before)


def translation_effect(
    x,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    rows: int = 0,
    cols: int = 1,
) -> dict[str, ShiftEffect]:
    """Shift the input by (rows, cols) pixels and compare max with average pooling.

    Returns ShiftEffects for "input", "max" and "avg". Max pooling keeps a value as long as
    the window's maximum stays inside the window, so more of its outputs stay exactly the
    same: the lecture's "invariance to small translations". Average pooling changes a little
    almost everywhere.
    """
    x = _as_array(x)
    moved = shift(x, rows, cols)
    tolerance = 1e-9 * (float(np.abs(x).max()) or 1.0)

    def effect(name: str, before: np.ndarray, after: np.ndarray) -> ShiftEffect:
        diff = np.abs(after - before)
        size = float(np.abs(before).mean()) or 1.0
        return ShiftEffect(name, before, after, float(np.mean(diff <= tolerance)),
                           float(diff.mean()), float(diff.mean()) / size)

    result = {"input": effect("input", x, moved)}
    for mode in MODES:
        result[mode] = effect(
            mode,
            pool2d(x, kernel_size, stride, padding, mode, ceil_mode),
            pool2d(moved, kernel_size, stride, padding, mode, ceil_mode),
        )
    return result


# --------------------------------------------------------------------------------------
# Receptive field growth of a conv -> pool stack
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldLayer:
    """One window layer of a stack (a convolution or a pooling layer), square windows."""

    name: str
    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1


def conv_pool_stack(blocks: int, conv_kernel: int = 3, conv_padding: int = 1, convs_per_block: int = 1,
                    pool_kernel: int = 2, pool_stride: int = 2) -> list[FieldLayer]:
    """``blocks`` times (``convs_per_block`` convolutions, then one pooling layer)."""
    layers = []
    for b in range(1, blocks + 1):
        for c in range(1, convs_per_block + 1):
            suffix = f"{b}" if convs_per_block == 1 else f"{b}_{c}"
            layers.append(FieldLayer(f"conv{suffix} {conv_kernel}×{conv_kernel}", conv_kernel, 1, conv_padding))
        layers.append(FieldLayer(f"pool{b} {pool_kernel}×{pool_kernel}/{pool_stride}", pool_kernel, pool_stride))
    return layers


@dataclass(frozen=True)
class FieldRow:
    """Receptive field after one layer.

    ``size``: input pixels one unit sees (per side); ``jump``: input pixels between neighbouring
    units; ``box``: (top, bottom, left, right) input coordinates, inclusive, of the field of the
    unit nearest the chosen point — it may reach into the padding (negative or past the edge).
    Near the border part of the box can be padding or rows/columns that a floor dropped; those
    pixels never influence the unit (the tests compare the box with autograd).
    """

    name: str
    output_size: tuple[int, int]
    size: int
    jump: int
    unit: tuple[int, int]
    box: tuple[float, float, float, float]


def receptive_field_growth(input_size: tuple[int, int], layers: list[FieldLayer],
                           point: tuple[float, float] | None = None) -> list[FieldRow]:
    """Follow one unit per layer, the one whose field is centred nearest ``point``.

    Sizes and fields come from :mod:`vizcore.shapes`; a stack that shrinks the map below one
    pixel raises PoolError naming the layer.
    """
    h, w = input_size
    if point is None:
        point = ((h - 1) / 2, (w - 1) / 2)
    fields = [(1, 1, 0.0), (1, 1, 0.0)]  # (size, jump, start) for rows and columns
    sizes = [h, w]
    rows = []
    for layer in layers:
        try:
            sizes = [shapes.conv_output_size(n, layer.kernel, layer.stride, layer.padding, layer.dilation)
                     for n in sizes]
            fields = [shapes.receptive_field_step(*f, layer.kernel, layer.stride, layer.padding,
                                                  layer.dilation) for f in fields]
        except shapes.ShapeError as err:
            raise PoolError(f"{layer.name}: {err}") from None
        unit, box = [], []
        for (size, jump, start), n_out, centre in zip(fields, sizes, point):
            i = int(np.clip(round((centre - start) / jump), 0, n_out - 1))
            mid = start + i * jump
            unit.append(i)
            box.extend([mid - (size - 1) / 2, mid + (size - 1) / 2])
        rows.append(FieldRow(layer.name, (sizes[0], sizes[1]), fields[0][0], fields[0][1],
                             (unit[0], unit[1]), tuple(box)))
    return rows
