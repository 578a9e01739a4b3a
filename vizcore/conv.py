"""Convolution as the lecture defines it, equal to PyTorch's, fast enough for a lecture hall.

Cross-correlation slides a kernel over the input and sums the products under it at each position:
that is what deep learning calls "convolution" (``torch.nn.Conv2d``, Keras ``Conv2D``). True
convolution (signal processing, ``scipy.signal.convolve2d``) first rotates the kernel by 180°.
Along each axis the output has ``floor((n + 2p - d(k - 1) - 1) / s) + 1`` elements for input size
``n``, kernel size ``k``, padding ``p``, dilation ``d`` and stride ``s``.

All functions take and return numpy arrays. float32 inputs give float32 results (images);
everything else (integers, float64) is computed in float64, so small integer examples come out
exact. Internally the work is done by one of three routes, picked by measured speed:
shifted sums for tiny kernels (one multiply-add over the whole image per kernel tap), PyTorch's
``conv2d`` in channels-last memory format for medium kernels, and the FFT for large ones.
PyTorch is imported only when a route needs it (1.5 s on a cold server): a playground view of
a photo at working size never does, so the first chart of a lecture does not wait for it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

# Route choice, measured on a 1024x1024 RGB float32 image on 2 cores (benchmarks/bench_conv.py).
# Shifted sums beat conv2d up to 3x3 (channels-last conv2d pays two layout copies). The FFT's cost
# barely grows with the kernel: it wins from about 200 multiply-adds per output value (15x15 on
# each channel, 3x9x9 summed); with several filters only from about 1200 (8x3x21x21), as it then
# needs one inverse transform per filter.
_MAX_SHIFTED_TAPS = 9
_MIN_FFT_WORK = 200
_MIN_FFT_WORK_FILTERS = 1200
_MIN_FFT_PIXELS = 128 * 128  # below this the FFT's rounding noise is not worth it
# Shifted sums run in numpy up to this many input values (a 512x512 RGB photo, ~4 ms for 3x3) and
# in PyTorch beyond: its fused multiply-add on two threads is 2.3x faster on a 1024x1024 RGB
# image, but below this size the gain is a few ms and the import costs 1.5 s.
_NUMPY_MAX_VALUES = 2**20


class ConvError(ValueError):
    """Settings that make no convolution, with a message a student can act on."""


# --------------------------------------------------------------------------------------------
# Sizes and padding


def _int_pair(value, name: str, minimum: int) -> tuple[int, int]:
    """An int or (rows, cols) pair of whole numbers >= minimum."""
    pair = tuple(value) if isinstance(value, (tuple, list, np.ndarray)) else (value, value)
    if len(pair) != 2:
        raise ConvError(f"{name} must be one number or a (rows, cols) pair, got {value!r}.")
    out = []
    for v in pair:
        whole = isinstance(v, (int, np.integer)) or (isinstance(v, (float, np.floating)) and float(v).is_integer())
        if isinstance(v, bool) or not whole:
            raise ConvError(f"{name} must be a whole number, got {v!r}.")
        if v < minimum:
            rule = {0: "0 or more", 1: "at least 1"}[minimum]
            raise ConvError(f"{name} must be {rule}, got {int(v)}.")
        out.append(int(v))
    return out[0], out[1]


def _same_padding(n: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """(before, after) for "same": ``ceil(n / s)`` outputs, as TensorFlow/Keras define it.

    The total ``max((ceil(n/s) - 1) s + d(k - 1) + 1 - n, 0)`` is split with the odd one at the
    end (bottom/right). With stride 1 that is ``d(k - 1)`` in total, exactly PyTorch's "same".
    """
    out = -(-n // stride)
    total = max((out - 1) * stride + dilation * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def resolve_padding(
    in_hw: tuple[int, int], kernel_hw: tuple[int, int], stride=1, padding=0, dilation=1
) -> tuple[int, int, int, int]:
    """Rows/columns added on each side: ``(top, bottom, left, right)``.

    Parameters
    ----------
    in_hw, kernel_hw : (rows, cols) of the input and of the (undilated) kernel.
    stride, dilation : int or (rows, cols).
    padding : int or (rows, cols) added on both sides, ``"valid"`` (none) or ``"same"``
        (output ``ceil(n / s)``, TensorFlow-style; equals PyTorch's "same" for stride 1, where
        an even kernel gets the extra row/column at the bottom/right).
    """
    sr, sc = _int_pair(stride, "stride", 1)
    dr, dc = _int_pair(dilation, "dilation", 1)
    if isinstance(padding, str):
        mode = padding.strip().lower()
        if mode == "valid":
            return 0, 0, 0, 0
        if mode == "same":
            return (*_same_padding(in_hw[0], kernel_hw[0], sr, dr),
                    *_same_padding(in_hw[1], kernel_hw[1], sc, dc))
        raise ConvError(f'padding must be a number, a (rows, cols) pair, "valid" or "same", got {padding!r}.')
    pr, pc = _int_pair(padding, "padding", 0)
    return pr, pr, pc, pc


def output_size(n: int, k: int, stride: int = 1, padding=0, dilation: int = 1) -> int:
    """Output length along one axis: ``floor((n + 2p - d(k - 1) - 1) / s) + 1``.

    ``padding`` may be an int (both sides), a ``(before, after)`` pair, ``"valid"`` or ``"same"``
    (then the result is ``ceil(n / s)``). Raises :class:`ConvError` if the dilated kernel does not
    fit in the padded input.
    """
    if isinstance(padding, (tuple, list)):
        before, after = _int_pair(padding, "padding", 0)
    else:
        before, after, _, _ = resolve_padding((n, n), (k, k), stride, padding, dilation)
    return _output_sizes((n, 1), (k, 1), _int_pair(stride, "stride", 1),
                         (before, after, 0, 0), _int_pair(dilation, "dilation", 1))[0]


def _output_sizes(in_hw, kernel_hw, stride, pads, dilation) -> tuple[int, int]:
    sizes = []
    for axis, (n, k, s, d, p) in enumerate(zip(in_hw, kernel_hw, stride, dilation,
                                                (pads[0] + pads[1], pads[2] + pads[3]))):
        span = d * (k - 1) + 1
        if span > n + p:
            what = ("rows", "columns")[axis]
            dilated = f" (dilated to {span})" if d > 1 else ""
            raise ConvError(
                f"The kernel is larger than the padded input: {k} kernel {what}{dilated} do not fit "
                f"in {n} input {what} + {p} padding = {n + p}. Use a smaller kernel or dilation, "
                f"or more padding.")
        sizes.append((n + p - span) // s + 1)
    return sizes[0], sizes[1]


# --------------------------------------------------------------------------------------------
# Checking inputs


def _as_array(a, what: str) -> np.ndarray:
    try:
        arr = np.asarray(a)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError
        if np.iscomplexobj(arr):
            raise TypeError
    except (TypeError, ValueError):
        raise ConvError(f"The {what} must be an array of real numbers.") from None
    if arr.size == 0:
        raise ConvError(f"The {what} is empty: it needs at least one number.")
    return arr


def _compute_dtype(x: np.ndarray) -> np.dtype:
    return np.dtype(np.float32) if x.dtype in (np.float16, np.float32) else np.dtype(np.float64)


@dataclass(frozen=True)
class _Job:
    """Normalised arguments: what the routes need, whatever layout the caller used."""

    x: np.ndarray              # (C, H, W), compute dtype, contiguous and writable
    weight: np.ndarray         # (O, C / groups, kh, kw)
    groups: int                # C for "same 2D kernel on every channel", else 1
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, bottom, left, right
    padding_mode: str
    out_hw: tuple[int, int]
    squeeze: bool              # drop the leading axis of the (O, H', W') result


def _prepare(x, kernel, stride, padding, dilation, padding_mode, pads=None) -> _Job:
    x = _as_array(x, "input")
    kernel = _as_array(kernel, "kernel")
    if x.ndim not in (2, 3):
        raise ConvError(f"The input must be (H, W) or (C, H, W), got {x.ndim} dimensions {x.shape}.")
    if kernel.ndim not in (2, 3, 4):
        raise ConvError("The kernel must be (kh, kw), (C, kh, kw) or (N, C, kh, kw), "
                        f"got {kernel.ndim} dimensions {kernel.shape}.")
    if not np.isfinite(kernel).all():
        raise ConvError("The kernel contains an empty cell, NaN or infinity: every weight must be a number.")
    if padding_mode not in PADDING_MODES:
        raise ConvError(f"padding_mode must be one of {', '.join(PADDING_MODES)}, got {padding_mode!r}.")
    stride = _int_pair(stride, "stride", 1)
    dilation = _int_pair(dilation, "dilation", 1)

    dtype = _compute_dtype(x)
    x3 = x[None] if x.ndim == 2 else x
    channels, h, w = x3.shape
    if kernel.ndim == 2:  # the same kernel on every channel separately
        groups, squeeze = channels, x.ndim == 2
        weight = np.broadcast_to(kernel, (channels, 1, *kernel.shape))
    else:
        k4 = kernel[None] if kernel.ndim == 3 else kernel
        if k4.shape[1] != channels:
            raise ConvError(
                f"The kernel has {k4.shape[1]} channel slices but the input has {channels} "
                f"channel{'s' if channels != 1 else ''}: a {kernel.ndim}D kernel needs one slice per "
                "input channel.")
        groups, squeeze, weight = 1, kernel.ndim == 3, k4
    kernel_hw = weight.shape[2:]
    if pads is None:
        pads = resolve_padding((h, w), kernel_hw, stride, padding, dilation)
    out_hw = _output_sizes((h, w), kernel_hw, stride, pads, dilation)
    _check_padding_mode(padding_mode, pads, (h, w))

    x3 = np.ascontiguousarray(x3, dtype=dtype)
    if not x3.flags.writeable or min(x3.strides) < 0:  # torch refuses both (size-1 axes keep odd strides)
        x3 = x3.copy()
    # One numpy sum (cheap, and steady on a busy machine) settles it unless it overflowed.
    if not np.isfinite(x3.sum()) and not np.isfinite(x3).all():
        raise ConvError("The input contains an empty cell, NaN or infinity: every value must be a number.")
    weight = np.array(weight, dtype=dtype)  # a copy: tiny, writable, contiguous
    return _Job(x3, weight, groups, stride, dilation, pads, padding_mode, out_hw, squeeze)


def _check_padding_mode(mode: str, pads, in_hw) -> None:
    for axis, (before, after) in enumerate(((pads[0], pads[1]), (pads[2], pads[3]))):
        n, what = in_hw[axis], ("rows", "columns")[axis]
        p = max(before, after)
        if mode == "reflect" and p >= n:
            raise ConvError(
                f"Reflect padding of {p} needs more than {p} input {what} (it mirrors the input "
                f"without repeating the edge), but there are {n}. Use less padding or replicate.")
        if mode == "circular" and p > n:
            raise ConvError(
                f"Circular padding of {p} wraps around at most once, so it needs at least {p} input "
                f"{what}, but there are {n}.")


# --------------------------------------------------------------------------------------------
# The three routes. Each takes a _Job and returns (O, H', W') as a numpy array.

_NUMPY_PAD = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _padded(job: _Job) -> np.ndarray:
    """The input with its padding written out (only when a route needs it)."""
    top, bottom, left, right = job.pads
    if not any(job.pads):
        return job.x
    return np.pad(job.x, ((0, 0), (top, bottom), (left, right)), mode=_NUMPY_PAD[job.padding_mode])


def _valid_outputs(n_in: int, n_out: int, first: int, step: int) -> tuple[int, int]:
    """Output positions [lo, hi) whose input index ``first + i * step`` lies inside 0..n_in-1."""
    lo = max(0, -(first // step)) if first < 0 else 0
    hi = min(n_out, (n_in - 1 - first) // step + 1) if first < n_in else 0
    return lo, hi


BAND_BYTES = 3 * 2**20  # output rows per band: the band and its inputs stay in the CPU cache


def _shifted_sums(job: _Job) -> np.ndarray:
    """Each kernel tap multiplies a shifted (strided) view of the input and adds it in.

    This is the definition read the other way round: instead of one window per output pixel, one
    pass over the image per kernel weight. The passes run band by band (a few MB of output rows)
    so each band stays in the cache across the taps. Zero padding is never written out: a tap
    only adds to the outputs whose input lies inside the image.
    """
    x = job.x if job.padding_mode == "zeros" else _padded(job)
    top, left = (job.pads[0], job.pads[2]) if job.padding_mode == "zeros" else (0, 0)
    (sr, sc), (dr, dc), (oh, ow) = job.stride, job.dilation, job.out_hw
    kernel = job.weight[0, 0].tolist()
    taps = []  # (rows a tap reaches, columns it reaches, input row/col for output 0, weight)
    for a, row in enumerate(kernel):
        r0 = a * dr - top  # input row under kernel row a for output row 0
        rows = _valid_outputs(x.shape[1], oh, r0, sr)
        for b, weight in enumerate(row):
            c0 = b * dc - left
            cols = _valid_outputs(x.shape[2], ow, c0, sc)
            if rows[0] < rows[1] and cols[0] < cols[1]:
                taps.append((rows, cols, r0, c0, weight))
    full = [t for t in taps if t[0] == (0, oh) and t[1] == (0, ow)]
    if full:  # start from a tap that covers every output: saves a pass writing zeros
        taps.remove(full[0])
        taps.insert(0, full[0])
    out = (np.empty if full else np.zeros)((x.shape[0], oh, ow), x.dtype)
    band = max(1, BAND_BYTES // max(1, x.shape[0] * ow * x.itemsize))
    multiply_add = _numpy_multiply_add(out, band) if x.size <= _NUMPY_MAX_VALUES else _torch_multiply_add()
    for b0 in range(0, oh, band):
        b1 = min(oh, b0 + band)
        for n, ((i0, i1), (j0, j1), r0, c0, weight) in enumerate(taps):
            i0, i1 = max(i0, b0), min(i1, b1)
            if i0 >= i1:
                continue
            view = x[:, r0 + i0 * sr: r0 + (i1 - 1) * sr + 1: sr, c0 + j0 * sc: c0 + (j1 - 1) * sc + 1: sc]
            multiply_add(out[:, i0:i1, j0:j1], view, weight, first=n == 0 and full)
    return out


def _numpy_multiply_add(out: np.ndarray, band: int):
    """``out (+)= weight * view`` in numpy, through one band-sized scratch buffer."""
    scratch = np.empty((out.shape[0], min(band, out.shape[1]), out.shape[2]), out.dtype)

    def multiply_add(target, view, weight, first):
        if first:
            np.multiply(view, weight, out=target)
        else:
            product = scratch[:, :target.shape[1], :target.shape[2]]
            np.multiply(view, weight, out=product)
            target += product
    return multiply_add


def _torch_multiply_add():
    """``out (+)= weight * view`` in PyTorch, on the same memory (one fused pass per tap)."""
    import torch

    def multiply_add(target, view, weight, first):
        target, view = torch.from_numpy(target), torch.from_numpy(view)
        if first:
            torch.mul(view, weight, out=target)
        else:
            target.add_(view, alpha=weight)
    return multiply_add


def _torch_conv(job: _Job) -> np.ndarray:
    """``F.conv2d`` in channels-last format: its depthwise kernels are fast, NCHW's are not."""
    import torch
    import torch.nn.functional as F

    top, bottom, left, right = job.pads
    if job.padding_mode == "zeros" and top == bottom and left == right:
        x, padding = job.x, (top, left)
    else:
        x, padding = _padded(job), 0
    x = torch.from_numpy(x)[None].contiguous(memory_format=torch.channels_last)
    weight = torch.from_numpy(job.weight).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        out = F.conv2d(x, weight, stride=job.stride, padding=padding, dilation=job.dilation, groups=job.groups)
    return out[0].contiguous().numpy()


def _fft_conv(job: _Job) -> np.ndarray:
    """Correlation theorem: multiply spectra, then keep the positions where the kernel fits.

    numpy/scipy throughout, single-threaded like ``scipy.signal.fftconvolve``: one long call
    instead of many short parallel ones keeps it steady when other work shares the cores.
    """
    import scipy.fft  # here, not at the top: 0.3-0.7 s to import, and only large kernels need it

    x = job.x
    (dr, dc), (sr, sc), (oh, ow) = job.dilation, job.stride, job.out_hw
    top, bottom, left, right = job.pads
    weight = job.weight
    kh, kw = weight.shape[2:]
    eh, ew = dr * (kh - 1) + 1, dc * (kw - 1) + 1
    dilated = np.zeros((*weight.shape[:2], eh, ew), weight.dtype)
    dilated[:, :, ::dr, ::dc] = weight
    flipped = dilated[:, :, ::-1, ::-1]  # correlation = convolution with the rotated kernel
    if job.padding_mode == "zeros" and max(top, bottom) < eh and max(left, right) < ew:
        # The transform's own zero fill is the zero padding. Output (i, j) sits at index
        # (e - 1 - top + i*s) of the linear convolution; a length of n + max(top, bottom) keeps
        # every index we read free of wrap-around.
        first = (eh - 1 - top, ew - 1 - left)
        shape = [scipy.fft.next_fast_len(x.shape[1] + max(top, bottom), real=True),
                 scipy.fft.next_fast_len(x.shape[2] + max(left, right), real=True)]
    else:
        x = np.pad(x, ((0, 0), (top, bottom), (left, right)), mode=_NUMPY_PAD[job.padding_mode])
        first = (eh - 1, ew - 1)  # where the kernel first fits inside the padded input
        shape = [scipy.fft.next_fast_len(n, real=True) for n in x.shape[1:]]
    spectrum_x = scipy.fft.rfft2(x, shape)
    # The kernel has only eh nonzero rows: transform those along the rows first.
    spectrum_k = scipy.fft.fft(scipy.fft.rfft(flipped, shape[1], axis=-1), shape[0], axis=-2)
    if job.groups == 1:
        spectrum = np.einsum("chw,ochw->ohw", spectrum_x, spectrum_k)
    else:
        spectrum = spectrum_x * spectrum_k[:, 0]
    full = scipy.fft.irfft2(spectrum, shape)
    out = full[:, first[0]: first[0] + (oh - 1) * sr + 1: sr, first[1]: first[1] + (ow - 1) * sc + 1: sc]
    return np.ascontiguousarray(out, dtype=weight.dtype)


def _route(job: _Job, method: str) -> str:
    if method not in ("auto", "direct", "fft"):
        raise ConvError(f'method must be "auto", "direct" or "fft", got {method!r}.')
    filters, per_group, kh, kw = job.weight.shape
    if method == "auto":
        work = kh * kw * per_group / (job.stride[0] * job.stride[1])  # multiply-adds per output
        several_filters = job.groups == 1 and filters > 1
        big = job.out_hw[0] * job.out_hw[1] >= _MIN_FFT_PIXELS
        method = "fft" if big and work >= (_MIN_FFT_WORK_FILTERS if several_filters else _MIN_FFT_WORK) else "direct"
    if method == "fft":
        return "fft"
    same_kernel_each_channel = job.groups > 1 or filters == per_group == 1
    if same_kernel_each_channel and (kh * kw <= _MAX_SHIFTED_TAPS or job.x.dtype != np.float32):
        return "shifted"  # also float64: PyTorch's depthwise conv has no fast float64 kernel
    return "conv"


def _run(job: _Job, method: str) -> np.ndarray:
    route = _route(job, method)
    out = {"shifted": _shifted_sums, "conv": _torch_conv, "fft": _fft_conv}[route](job)
    return out[0] if job.squeeze else out


# --------------------------------------------------------------------------------------------
# Public functions


def correlate2d(x, kernel, stride=1, padding=0, dilation=1, padding_mode="zeros", *, method="auto") -> np.ndarray:
    """Cross-correlate: slide the kernel over the input, sum the products (deep learning's "conv").

    Equal to ``torch.nn.functional.conv2d`` (after ``F.pad`` for the non-zero padding modes).

    Parameters
    ----------
    x : (H, W) or (C, H, W) array.
    kernel : (kh, kw): applied to every channel separately, output (H', W') or (C, H', W');
        (C, kh, kw): one filter of a Conv2D layer, summed over the channels, output (H', W');
        (N, C, kh, kw): N filters, output (N, H', W').
    stride, dilation : int or (rows, cols), at least 1.
    padding : int or (rows, cols) added on both sides, ``"valid"`` (none) or ``"same"``
        (``ceil(n / s)`` outputs, TensorFlow-style; for stride 1 equal to PyTorch's "same", an even
        kernel getting the extra row/column at the bottom/right).
    padding_mode : ``"zeros"``, ``"reflect"`` (mirror without the edge), ``"replicate"`` (repeat
        the edge) or ``"circular"`` (wrap around), as ``nn.Conv2d(padding_mode=...)``.
    method : ``"auto"`` (fastest), ``"direct"`` or ``"fft"`` (rounding differs at ~1e-6 relative).

    Returns
    -------
    np.ndarray : output with ``floor((n + 2p - d(k - 1) - 1) / s) + 1`` rows/cols; float32 for a
        float32 input, else float64.

    Raises
    ------
    ConvError : kernel larger than the padded input, stride or dilation below 1, NaN/inf or empty
        cells, reflect padding not smaller than the input, mismatched channel counts.
    """
    return _run(_prepare(x, kernel, stride, padding, dilation, padding_mode), method)


def convolve2d(x, kernel, stride=1, padding=0, dilation=1, padding_mode="zeros", *, method="auto") -> np.ndarray:
    """True convolution: the kernel rotated by 180° (flipped up-down and left-right), then
    cross-correlated. Same arguments as :func:`correlate2d`; for padding "valid" it equals
    ``scipy.signal.convolve2d(x, kernel, mode="valid")``. For symmetric kernels (box blur,
    Gaussian, Laplacian) both operations give the same result.
    """
    kernel = _as_array(kernel, "kernel")
    return correlate2d(x, np.flip(kernel, axis=(-2, -1)), stride, padding, dilation, padding_mode, method=method)


def correlate1d(x, kernel, stride=1, padding=0, dilation=1, causal=False, padding_mode="zeros") -> np.ndarray:
    """Cross-correlate signals, as ``torch.nn.functional.conv1d``.

    Parameters
    ----------
    x : (L,) signal or (C, L) channels.
    kernel : (k,) applied to every channel separately; (C, k) summed over channels; (N, C, k).
    stride, padding, dilation : ints; padding also ``"valid"`` or ``"same"``.
    causal : pad ``d(k - 1)`` zeros on the left only (Keras ``padding="causal"``, WaveNet), so
        output t sees inputs up to t and never the future; replaces ``padding``.
    padding_mode : as in :func:`correlate2d`.
    """
    x = _as_array(x, "input")
    kernel = _as_array(kernel, "kernel")
    if x.ndim not in (1, 2):
        raise ConvError(f"A 1D input must be (L,) or (C, L), got {x.ndim} dimensions {x.shape}.")
    if kernel.ndim not in (1, 2, 3):
        raise ConvError(f"A 1D kernel must be (k,), (C, k) or (N, C, k), got {kernel.ndim} dimensions {kernel.shape}.")
    stride = _int_pair(stride, "stride", 1)[0]
    dilation = _int_pair(dilation, "dilation", 1)[0]
    k = kernel.shape[-1]
    if causal:
        if not (isinstance(padding, str) and padding.strip().lower() == "valid") and padding != 0:
            raise ConvError('Causal padding replaces the padding setting: leave padding at 0 (or "valid").')
        pads = (0, 0, dilation * (k - 1), 0)
    else:
        pads = resolve_padding((1, x.shape[-1]), (1, k), stride, padding, dilation)
        pads = (0, 0, pads[2], pads[3])
    x2 = x[..., None, :]
    k2 = kernel[..., None, :]
    job = _prepare(x2, k2, (1, stride), 0, (1, dilation), padding_mode, pads=pads)
    return _run(job, "auto")[..., 0, :]


def convolve1d(x, kernel, stride=1, padding=0, dilation=1, causal=False, padding_mode="zeros") -> np.ndarray:
    """True 1D convolution (kernel reversed), e.g. ``np.convolve(x, kernel, "valid")`` for padding 0."""
    kernel = _as_array(kernel, "kernel")
    return correlate1d(x, np.flip(kernel, axis=-1), stride, padding, dilation, causal, padding_mode)


# --------------------------------------------------------------------------------------------
# One output cell, explained


@dataclass(frozen=True)
class Term:
    """One product in an output cell's sum. ``row``/``col`` are None for a padding cell."""

    channel: int
    padded_row: int
    padded_col: int
    row: int | None
    col: int | None
    kernel_row: int
    kernel_col: int
    input_value: float
    kernel_value: float


@dataclass(frozen=True)
class CellExplanation:
    """Output cell (i, j) = sum of ``terms``; ``text`` is the arithmetic as on the slides."""

    i: int
    j: int
    terms: list[Term]
    total: float
    text: str
    pads: tuple[int, int, int, int]  # top, bottom, left, right
    output_shape: tuple[int, int]


def format_number(v: float, parentheses: bool = False) -> str:
    """``3`` not ``3.0``, 4 significant digits otherwise (``0.1111``); ``(-1)`` inside a product."""
    v = float(v) + 0.0  # + 0.0 turns -0.0 into 0.0
    s = str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.4g}"
    return f"({s})" if parentheses and v < 0 else s


def _exact_sum(products: list[float]) -> float:
    """``math.fsum`` (the correctly rounded sum), also where it gives up: with values near 1e308
    its partial sums overflow, so the products are summed divided by the largest one and
    scaled back; infinite products of both signs have no sum (NaN), as in floating point."""
    try:
        return math.fsum(products)
    except OverflowError:
        largest = max(abs(p) for p in products)
        return math.fsum(p / largest for p in products) * largest
    except ValueError:  # inf + (-inf)
        return math.nan


def explain_cell(x, kernel, i: int, j: int, stride=1, padding=0, dilation=1, padding_mode="zeros") -> CellExplanation:
    """The products that make output cell (i, j) of :func:`correlate2d`.

    ``x`` (H, W) with kernel (kh, kw), or (C, H, W) with a (C, kh, kw) kernel (summed over the
    channels). Padded coordinates count the padding ring from 0; original coordinates are None
    inside the padding. For true convolution pass the kernel rotated 180° (``np.flip(kernel)``).
    """
    x = _as_array(x, "input")
    kernel = _as_array(kernel, "kernel")
    if not ((x.ndim == 2 and kernel.ndim == 2) or (x.ndim == 3 and kernel.ndim == 3)):
        raise ConvError("explain_cell needs an (H, W) input with a (kh, kw) kernel or a (C, H, W) "
                        "input with a (C, kh, kw) kernel.")
    job = _prepare(x, kernel, stride, padding, dilation, padding_mode)
    oh, ow = job.out_hw
    if not (0 <= i < oh and 0 <= j < ow):
        raise ConvError(f"Output cell ({i}, {j}) is outside the {oh}×{ow} output.")
    padded = _padded(job).astype(np.float64)
    x3 = job.x
    k3 = kernel[None] if kernel.ndim == 2 else kernel
    (sr, sc), (dr, dc) = job.stride, job.dilation
    top, left = job.pads[0], job.pads[2]
    terms = []
    for c in range(k3.shape[0]):
        for a in range(k3.shape[1]):
            for b in range(k3.shape[2]):
                pr, pc = i * sr + a * dr, j * sc + b * dc
                r, col = pr - top, pc - left
                inside = 0 <= r < x3.shape[1] and 0 <= col < x3.shape[2]
                terms.append(Term(c, pr, pc, r if inside else None, col if inside else None, a, b,
                                  float(padded[c, pr, pc]), float(k3[c, a, b])))
    total = _exact_sum([t.input_value * t.kernel_value for t in terms])
    text = " + ".join(f"{format_number(t.input_value, True)}×{format_number(t.kernel_value, True)}"
                      for t in terms)
    text += f" = {format_number(total)}"
    return CellExplanation(i, j, terms, total, text, job.pads, (oh, ow))
