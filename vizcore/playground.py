"""The Kernel Playground's arithmetic (no Streamlit, no Plotly: everything here is testable).

The numbers themselves come from :mod:`vizcore.conv`; this module adds what the page shows
beside them: the output-size formula with the numbers put in, the padded input as PyTorch pads
it, activations and the output display options, filter banks and 1D kernels and positions.
The figures are in :mod:`vizcore.figures.playground`.
"""
from __future__ import annotations

import hashlib

import numpy as np

from vizcore import conv, kernels

ACTIVATIONS = ("none", "ReLU", "sigmoid", "tanh", "abs")
DISPLAYS = ("raw", "absolute", "clipped 0..255", "min-max")
ROW_SCALES = ("shared", "per map")  # maps side by side: one colour scale for all, or one each
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
_NUMPY_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


class PlaygroundError(ValueError):
    """Settings that cannot work, with a message for the page."""


def size_formula(n: int, k: int, before: int, after: int, stride: int, dilation: int,
                 name: str = "H") -> str:
    """The output-size formula with the numbers substituted, e.g.
    ``H_out = ⌊(6 + 1 + 1 − 1·(3 − 1) − 1) / 2⌋ + 1 = 3``.
    """
    span_sum = n + before + after - dilation * (k - 1) - 1
    result = span_sum // stride + 1
    pad = f"2·{before}" if before == after else f"{before} + {after}"
    symbolic_pad = "2p" if before == after else "p_begin + p_end"
    return (f"{name}_out = ⌊({name} + {symbolic_pad} − d·(k − 1) − 1) / s⌋ + 1 = "
            f"⌊({n} + {pad} − {dilation}·({k} − 1) − 1) / {stride}⌋ + 1 = "
            f"⌊{span_sum} / {stride}⌋ + 1 = {result}")


def pad_array(x: np.ndarray, pads: tuple[int, int, int, int], mode: str = "zeros") -> np.ndarray:
    """`x` (H, W) or (C, H, W) padded as PyTorch's ``F.pad`` would, for drawing it.

    Reflect padding mirrors without repeating the edge, so it cannot be wider than the
    image minus one: that raises PlaygroundError, as PyTorch refuses it too.
    """
    if mode not in _NUMPY_PAD_MODES:
        raise PlaygroundError(f"Padding mode must be one of {', '.join(PADDING_MODES)}.")
    top, bottom, left, right = pads
    h, w = x.shape[-2:]
    if mode == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
        raise PlaygroundError(
            f"Reflect padding of {max(top, bottom)} rows / {max(left, right)} columns is too wide "
            f"for a {h}×{w} input: reflection needs padding smaller than the size (at most "
            f"{h - 1} rows, {w - 1} columns). Use less padding or another mode."
        )
    if mode == "circular" and (max(top, bottom) > h or max(left, right) > w):
        raise PlaygroundError(
            f"Circular padding can wrap around at most once: at most {h} rows and {w} columns "
            f"for a {h}×{w} input."
        )
    widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
    return np.pad(x, widths, mode=_NUMPY_PAD_MODES[mode])


def activate(y: np.ndarray, name: str) -> np.ndarray:
    """Apply the activation a Conv2D layer would apply after the bias."""
    if name == "none":
        return y
    if name == "ReLU":
        return np.maximum(y, 0)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-np.clip(y, -500, 500)))
    if name == "tanh":
        return np.tanh(y)
    if name == "abs":
        return np.abs(y)
    raise PlaygroundError(f"Unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}.")


def for_display(y: np.ndarray, how: str) -> np.ndarray:
    """Map a response to what is shown: raw values, |values|, clipped to 0..255, or stretched.

    "min-max" stretches each map's own smallest..largest value to 0..255 (a constant map is 0).
    """
    y = np.asarray(y, dtype=np.float32)
    if how == "raw":
        return y
    if how == "absolute":
        return np.abs(y)
    if how == "clipped 0..255":
        return np.clip(y, 0, 255)
    if how == "min-max":
        axes = (-2, -1)
        lo, hi = y.min(axis=axes, keepdims=True), y.max(axis=axes, keepdims=True)
        span = np.where(hi > lo, hi - lo, 1)
        return (y - lo) / span * 255
    raise PlaygroundError(f"Unknown display {how!r}; choose one of {', '.join(DISPLAYS)}.")


def output_size_formulas(in_hw: tuple[int, int], kernel_hw: tuple[int, int], stride: tuple[int, int],
                         padding: int | tuple[int, int] | str,
                         dilation: int) -> tuple[list[str], tuple[int, int]]:
    """The H and W output-size formulas with the numbers put in, and the output (rows, cols).

    Raises :class:`vizcore.conv.ConvError` for settings that give no output.
    """
    pads = conv.resolve_padding(in_hw, kernel_hw, stride, padding, dilation)
    lines, out = [], []
    for axis, name in enumerate(("H", "W")):
        before, after = pads[2 * axis], pads[2 * axis + 1]
        lines.append(size_formula(in_hw[axis], kernel_hw[axis], before, after, stride[axis], dilation, name))
        out.append(conv.output_size(in_hw[axis], kernel_hw[axis], stride[axis], (before, after), dilation))
    return lines, (out[0], out[1])


def centre_in(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`kernel` zero-padded to `shape`, kept centred: one Conv2d layer has one kernel size."""
    out = np.zeros(shape)
    top, left = (shape[0] - kernel.shape[0]) // 2, (shape[1] - kernel.shape[1]) // 2
    out[top:top + kernel.shape[0], left:left + kernel.shape[1]] = kernel
    return out


def filter_bank(filters: list[np.ndarray], channel_weights: np.ndarray) -> np.ndarray:
    """N 2D kernels as the (N, C, kh, kw) weight of one Conv2d layer on a C-channel image.

    Each kernel is centred in the largest size; slice c of filter n is
    ``channel_weights[c] × filters[n]``.
    """
    size = (max(k.shape[0] for k in filters), max(k.shape[1] for k in filters))
    weights = np.asarray(channel_weights, dtype=float)
    return np.stack([weights[:, None, None] * centre_in(k, size) for k in filters])


def content_hash(arr: np.ndarray) -> str:
    """A hash of every byte of `arr` (``st.cache_data`` alone samples large arrays: stale results)."""
    return hashlib.blake2b(np.ascontiguousarray(arr).tobytes(), digest_size=16).hexdigest()


def kernel_1d(kind: str, taps: int = 3, text: str = "") -> np.ndarray:
    """The 1D kernel the page's choice names: a moving average of `taps`, the difference, or
    the typed `text` (at most 15 taps). Raises KernelError with a message for the page."""
    if kind == "moving average":
        k = kernels.moving_average(taps)
    elif kind == "difference":
        k = kernels.difference()
    else:
        k = kernels.parse_vector(text, "The kernel")
    if len(k) > kernels.MAX_KERNEL_SIZE:
        raise kernels.KernelError(f"Kernels here have at most {kernels.MAX_KERNEL_SIZE} taps.")
    return k


def signal_padding(taps: int, padding: int, dilation: int, causal: bool) -> tuple[int, int]:
    """Zeros (before, after) a 1D signal gets: causal puts d·(k−1) on the left only."""
    return (dilation * (taps - 1), 0) if causal else (padding, padding)


def output_positions(count: int, taps: int, stride: int, dilation: int, before: int,
                     causal: bool) -> np.ndarray:
    """Where each 1D output is drawn on the input's time axis.

    A causal output sits at its newest input (the present), a centred one at the middle of
    its window.
    """
    last_tap = np.arange(count) * stride + dilation * (taps - 1) - before
    return last_tap if causal else last_tap - dilation * (taps - 1) / 2
