"""Kernels to play with: the classic image filters, random kernels, user-typed grids.

A kernel here is a small 2D float array used the deep-learning way, by *cross-correlation*:
the output at a position is the sum of the window times the kernel, without flipping it
(what PyTorch's ``conv2d`` and Keras' ``Conv2D`` compute). "Sobel x" therefore answers
"how much brighter is the right than the left?": positive on a dark-to-bright edge.

Every filter with a reference implementation is tested against it (scipy.ndimage,
scikit-image); the rest against their closed forms.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Sequence

import numpy as np

MAX_KERNEL_SIZE = 15


class KernelError(ValueError):
    """A kernel that cannot be used, with a message a student understands."""


# --- fixed 3x3 kernels ---------------------------------------------------------------------

def identity(size: int = 3) -> np.ndarray:
    """A single 1 in the centre: the output is the input (shifted for even sizes)."""
    k = np.zeros((size, size))
    k[(size - 1) // 2, (size - 1) // 2] = 1.0
    return k


def box_blur(size: int = 3) -> np.ndarray:
    """Every weight 1/size²: each output pixel is the mean of its window."""
    return np.full((size, size), 1.0 / size**2)


def sharpen() -> np.ndarray:
    """Centre minus its 4 neighbours, plus itself: boosts what differs from the surroundings."""
    return np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=float)


def _derivative(smoothing: Sequence[float], axis: int) -> np.ndarray:
    """A smoothed central difference: difference along `axis`, smoothing across it."""
    diff = np.array([-1.0, 0.0, 1.0])
    smooth = np.asarray(smoothing, dtype=float)
    return np.outer(smooth, diff) if axis == 1 else np.outer(diff, smooth)


def sobel_x() -> np.ndarray:
    """Horizontal brightness change (finds vertical edges): right column minus left, rows 1-2-1."""
    return _derivative([1, 2, 1], axis=1)


def sobel_y() -> np.ndarray:
    """Vertical brightness change (finds horizontal edges): bottom row minus top."""
    return _derivative([1, 2, 1], axis=0)


def prewitt_x() -> np.ndarray:
    """Like Sobel x but the three rows count equally (1-1-1)."""
    return _derivative([1, 1, 1], axis=1)


def prewitt_y() -> np.ndarray:
    """Like Sobel y but the three columns count equally."""
    return _derivative([1, 1, 1], axis=0)


def scharr_x() -> np.ndarray:
    """Sobel x with 3-10-3 weights: closer to the same response for every edge angle."""
    return _derivative([3, 10, 3], axis=1)


def scharr_y() -> np.ndarray:
    """Sobel y with 3-10-3 weights."""
    return _derivative([3, 10, 3], axis=0)


def laplacian_4() -> np.ndarray:
    """Sum of the 4 neighbours minus 4× the centre: a second derivative, 0 on flat and ramps."""
    return np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float)


def laplacian_8() -> np.ndarray:
    """Sum of all 8 neighbours minus 8× the centre (diagonals count too)."""
    k = np.ones((3, 3))
    k[1, 1] = -8.0
    return k


def emboss() -> np.ndarray:
    """Bottom-right minus top-left plus the pixel: a relief lit from the top left."""
    return np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=float)


def outline() -> np.ndarray:
    """8× the centre minus the 8 neighbours: bright outlines, black flat areas."""
    return -laplacian_8()


def vertical_edge() -> np.ndarray:
    """The lecture's 'vertical' filter: left column minus right column."""
    return np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=float)


def horizontal_edge() -> np.ndarray:
    """The lecture's 'horizontal' filter: top row minus bottom row."""
    return np.array([[1, 1, 1], [0, 0, 0], [-1, -1, -1]], dtype=float)


# --- kernels with parameters ---------------------------------------------------------------

def _centred(size: int) -> np.ndarray:
    """Positions -r..r of `size` taps around the centre (half-integers for even sizes)."""
    return np.arange(size) - (size - 1) / 2


def _gaussian_1d(size: int, sigma: float) -> np.ndarray:
    x = _centred(size)
    g = np.exp(-0.5 * x**2 / sigma**2)
    return g / g.sum()


def gaussian(size: int = 5, sigma: float = 1.0) -> np.ndarray:
    """Gaussian blur: weights exp(-(x² + y²) / 2σ²), normalised to sum 1.

    Separable (an outer product of two 1D Gaussians), the same weights as
    ``scipy.ndimage.gaussian_filter(..., sigma, radius=size // 2)``. Wider σ blurs more;
    the size only cuts the tails off (3σ on each side keeps almost all of it).
    """
    _check_positive(sigma, "sigma")
    g = _gaussian_1d(size, sigma)
    return np.outer(g, g)


def unsharp_mask(size: int = 5, sigma: float = 1.0, amount: float = 1.0) -> np.ndarray:
    """Sharpening by adding back what a blur removes: ``image + amount · (image - blurred)``.

    As one kernel: ``(1 + amount) · identity - amount · gaussian``. It sums to 1, so flat
    areas keep their brightness. Needs an odd size (the identity must sit in the centre).
    """
    if size % 2 == 0:
        raise KernelError("The unsharp mask needs an odd size so the image pixel sits in the centre.")
    return (1 + amount) * identity(size) - amount * gaussian(size, sigma)


def laplacian_of_gaussian(size: int = 7, sigma: float = 1.0) -> np.ndarray:
    """Laplacian of Gaussian ("Mexican hat", negative centre): blur, then second derivative.

    ``d²/dx² G + d²/dy² G`` sampled on the grid, the same weights as
    ``scipy.ndimage.gaussian_laplace(..., sigma, radius=size // 2)``. Responds to blobs
    about σ·√2 in radius and to edges (zero crossings); sums to almost 0.
    """
    _check_positive(sigma, "sigma")
    x = _centred(size)
    g = _gaussian_1d(size, sigma)
    d2 = g * (x**2 / sigma**4 - 1 / sigma**2)
    return np.outer(d2, g) + np.outer(g, d2)


def motion_blur(size: int = 7, angle: float = 0.0) -> np.ndarray:
    """Average along a line through the centre: the smear of a camera moving while exposing.

    ``angle`` in degrees, counter-clockwise as seen on screen: 0 = horizontal smear,
    90 = vertical. The cells the line passes through share the weight equally.
    """
    theta = np.deg2rad(angle)
    ys, xs = np.meshgrid(_centred(size), _centred(size), indexing="ij")
    # Rows grow downwards on screen, so "up" is -y.
    along = xs * np.cos(theta) - ys * np.sin(theta)
    across = xs * np.sin(theta) + ys * np.cos(theta)
    # The line runs corner to corner of the square: half-length r(|cos| + |sin|) at most.
    half_length = (size - 1) / 2 * min(abs(np.cos(theta)) + abs(np.sin(theta)), np.sqrt(2))
    k = ((np.abs(across) <= 0.5 + 1e-9) & (np.abs(along) <= half_length + 1e-9)).astype(float)
    if k.sum() == 0:  # a 1-cell or even-sized kernel whose line misses every cell centre
        k[np.unravel_index(np.argmin(np.abs(across)), k.shape)] = 1.0
    return k / k.sum()


def gabor(size: int = 11, angle: float = 0.0, wavelength: float = 6.0, sigma: float = 3.0,
          phase: float = 0.0) -> np.ndarray:
    """Gabor filter: a cosine wave under a Gaussian window, a detector of stripes.

    ``exp(-(x'² + y'²) / 2σ²) / (2πσ²) · cos(2π x' / wavelength + phase)`` with
    ``x' = x cos θ + y sin θ`` (θ = ``angle`` in degrees, rows growing downwards), the real
    part of ``skimage.filters.gabor_kernel(1 / wavelength, θ, sigma_x=σ, sigma_y=σ)``.
    Angle 0 gives vertical stripes: it responds to vertical edges and bars
    ``wavelength`` pixels apart, like the first-layer filters CNNs learn.
    """
    _check_positive(sigma, "sigma")
    _check_positive(wavelength, "wavelength")
    theta = np.deg2rad(angle)
    ys, xs = np.meshgrid(_centred(size), _centred(size), indexing="ij")
    x_rot = xs * np.cos(theta) + ys * np.sin(theta)
    y_rot = -xs * np.sin(theta) + ys * np.cos(theta)
    envelope = np.exp(-0.5 * (x_rot**2 + y_rot**2) / sigma**2) / (2 * np.pi * sigma**2)
    return envelope * np.cos(2 * np.pi * x_rot / wavelength + phase)


def random_kernel(size: int | tuple[int, int] = 3, seed: int = 0, *, channels: int | None = None,
                  integers: bool = False, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """A random kernel, the way a CNN layer starts before training; the same seed, the same kernel.

    Uniform in [low, high), or whole numbers in low..high with ``integers=True``. With
    ``channels`` a 3D (channels, kh, kw) kernel, one different slice per input channel.
    """
    rows, cols = (size, size) if isinstance(size, int) else size
    shape = (rows, cols) if channels is None else (channels, rows, cols)
    rng = np.random.default_rng(seed)
    if integers:
        return rng.integers(int(low), int(high), endpoint=True, size=shape).astype(float)
    return rng.uniform(low, high, size=shape)


def _check_positive(value: float, name: str) -> None:
    if not value > 0:
        raise KernelError(f"{name} must be greater than 0, got {value}.")


# --- the preset library --------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    """A preset's setting with its slider range."""

    name: str
    label: str
    default: float
    low: float
    high: float
    step: float

    @property
    def is_int(self) -> bool:
        return all(float(v).is_integer() for v in (self.default, self.low, self.step))


@dataclass(frozen=True)
class Preset:
    """A named kernel family: what it does, how to build it, which settings it has."""

    name: str
    description: str
    build: Callable[..., np.ndarray]
    params: tuple[Param, ...] = ()

    def kernel(self, **values: float) -> np.ndarray:
        """The kernel for these settings (missing ones take their defaults)."""
        args = {}
        for p in self.params:
            value = values.get(p.name, p.default)
            args[p.name] = int(value) if p.is_int else float(value)
        return np.asarray(self.build(**args), dtype=float)


def _size(default: int, low: int = 3, step: int = 2) -> Param:
    return Param("size", "Kernel size", default, low, MAX_KERNEL_SIZE, step)


_SIGMA = Param("sigma", "Sigma σ (pixels)", 1.0, 0.3, 5.0, 0.1)
_ANGLE = Param("angle", "Angle (degrees)", 0, 0, 180, 5)

_PRESET_LIST = [
    Preset("Identity", "Copies the input: the 'do nothing' kernel.", identity),
    Preset("Box blur", "Mean of the window: blurs, every neighbour counts the same.", box_blur,
           (_size(3, low=1, step=1),)),
    Preset("Gaussian blur", "Weighted mean, near pixels count more: a smooth blur.", gaussian,
           (_size(5), _SIGMA)),
    Preset("Sharpen", "Centre minus neighbours: edges and detail get stronger.", sharpen),
    Preset("Unsharp mask", "Image + amount × (image − blur): the photographer's sharpening.",
           unsharp_mask, (_size(5), _SIGMA, Param("amount", "Amount", 1.0, 0.0, 5.0, 0.1))),
    Preset("Sobel x", "Right minus left (rows weighted 1-2-1): vertical edges.", sobel_x),
    Preset("Sobel y", "Bottom minus top: horizontal edges.", sobel_y),
    Preset("Prewitt x", "Right minus left, rows weighted equally: vertical edges.", prewitt_x),
    Preset("Prewitt y", "Bottom minus top, columns weighted equally: horizontal edges.", prewitt_y),
    Preset("Scharr x", "Right minus left with 3-10-3 weights: vertical edges.", scharr_x),
    Preset("Scharr y", "Bottom minus top with 3-10-3 weights: horizontal edges.", scharr_y),
    Preset("Vertical edge (lecture)", "Left column minus right column, as on the brick slides.",
           vertical_edge),
    Preset("Horizontal edge (lecture)", "Top row minus bottom row, as on the brick slides.",
           horizontal_edge),
    Preset("Laplacian 4", "4 neighbours minus 4× centre: second derivative, outlines.",
           laplacian_4),
    Preset("Laplacian 8", "8 neighbours minus 8× centre: second derivative incl. diagonals.",
           laplacian_8),
    Preset("Laplacian of Gaussian", "Blur, then Laplacian: blobs and edges of one scale.",
           laplacian_of_gaussian, (_size(7), _SIGMA)),
    Preset("Emboss", "Bottom-right minus top-left: a relief lit from the top left.", emboss),
    Preset("Outline", "8× centre minus neighbours: bright outlines on black.", outline),
    Preset("Motion blur", "Mean along a line: the smear of a moving camera.", motion_blur,
           (_size(7), _ANGLE)),
    Preset("Gabor", "A striped wave under a Gaussian: stripes of one angle and spacing.", gabor,
           (_size(11), _ANGLE, Param("wavelength", "Wavelength (pixels)", 6.0, 2.0, 20.0, 0.5),
            Param("sigma", "Sigma σ (pixels)", 3.0, 0.5, 8.0, 0.1))),
]

PRESETS: dict[str, Preset] = {p.name: p for p in _PRESET_LIST}


def preset_kernel(name: str, **values: float) -> np.ndarray:
    """The kernel of preset `name` with the given settings (defaults for the rest)."""
    if name not in PRESETS:
        raise KernelError(f"Unknown preset {name!r}; choose one of: {', '.join(PRESETS)}.")
    return PRESETS[name].kernel(**values)


# --- normalising, rotating, checking -------------------------------------------------------

def normalise(kernel: np.ndarray) -> tuple[np.ndarray, str | None]:
    """Scale `kernel` so its weights sum to 1 (a flat image keeps its brightness).

    Returns the kernel and None, or the kernel unchanged and the reason why not: a kernel
    whose weights sum to 0 (an edge detector) cannot be divided by its sum; it answers 0 on
    flat areas by design.
    """
    kernel = np.asarray(kernel, dtype=float)
    if not np.isfinite(kernel).all():
        return kernel, "The kernel holds an infinite or missing value: it cannot be normalised."
    largest = float(np.abs(kernel).max()) if kernel.size else 0.0
    if largest == 0.0:
        return kernel, "The kernel is all zeros: there is nothing to normalise."
    # Sums of weights near 1e308 overflow to inf (and inf - inf "sums to 0"): add the weights
    # divided by the largest one, which changes neither the ratio nor the verdict.
    unit = kernel / largest
    total, scale = float(unit.sum()), float(np.abs(unit).sum())
    if abs(total) <= 1e-9 * scale:
        return kernel, (
            "The weights sum to 0, so they cannot be scaled to sum to 1: this kernel measures "
            "differences (edges) and answers 0 on flat areas. Left as it is."
        )
    return unit / total, None


def rotate_180(kernel: np.ndarray) -> np.ndarray:
    """The kernel turned by 180° (flipped up-down and left-right) in its last two axes.

    True convolution = cross-correlation with this rotated kernel.
    """
    return np.ascontiguousarray(np.asarray(kernel)[..., ::-1, ::-1])


def parse_grid(table) -> np.ndarray:
    """A user-edited grid (list of rows, numpy array or pandas DataFrame) as a float array.

    Raises
    ------
    KernelError
        Naming the first empty or non-numeric cell (rows and columns counted from 1), for an
        empty grid, ragged rows, or a size above 15×15.
    """
    rows = table.to_numpy(dtype=object).tolist() if hasattr(table, "to_numpy") else table
    rows = np.asarray(rows, dtype=object).tolist() if isinstance(rows, np.ndarray) else rows
    if not rows or not rows[0]:
        raise KernelError("The grid is empty: it needs at least one row and one column.")
    width = len(rows[0])
    if any(len(r) != width for r in rows):
        raise KernelError("Every row of the grid needs the same number of cells.")
    out = np.empty((len(rows), width))
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            out[i, j] = _cell_value(cell, i, j)
    return out


def check_kernel_size(kernel: np.ndarray, limit: int = MAX_KERNEL_SIZE) -> None:
    """Raise KernelError for kernels outside 1..`limit` in either direction."""
    kh, kw = np.shape(kernel)[-2:]
    if not (1 <= kh <= limit and 1 <= kw <= limit):
        raise KernelError(f"Kernels here are 1×1 up to {limit}×{limit}; this one is {kh}×{kw}.")


def _cell_value(cell, i: int, j: int) -> float:
    where = f"Row {i}, column {j}"  # counted from 0, as every figure and caption of the app counts
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        raise KernelError(f"{where} is empty: type a number there.")
    try:
        value = parse_number(cell) if isinstance(cell, str) else float(cell)
    except (TypeError, ValueError):
        raise KernelError(f"{where} is {cell!r}, which is not a number.") from None
    if math.isnan(value):
        raise KernelError(f"{where} is empty (NaN): type a number there.")
    if math.isinf(value):
        raise KernelError(f"{where} is infinite: use a finite number.")
    return value


def parse_number(text: str) -> float:
    """A number as people type it: ``3``, ``-0.5``, ``1e-3`` or a fraction like ``1/3``."""
    text = text.strip().replace("−", "-")
    if len(text) > 40:  # no number typed by a person is longer; Fraction of 5,000 digits is slow
        raise ValueError(f"{text[:20]!r}… is too long to be a number")
    try:
        return float(Fraction(text)) if "/" in text else float(text)
    except (ValueError, ZeroDivisionError, OverflowError):  # 1e308/1e-308 overflows a float
        raise ValueError(f"{text!r} is not a number") from None


MAX_VECTOR = 1024  # numbers in one typed list: far more than a slide's signal, far below harm


def parse_vector(text: str, name: str = "The list", max_len: int = MAX_VECTOR) -> np.ndarray:
    """Numbers separated by commas or spaces (fractions allowed): ``"1/3, 1/3, 1/3"``.

    Raises KernelError naming the first entry that is not a number, for an empty list, or for
    more than ``max_len`` numbers (counted before any is read).
    """
    if len(text) > 41 * max_len:
        raise KernelError(f"{name} is too long: at most {max_len} numbers.")
    parts = [p for p in text.replace(",", " ").replace(";", " ").split()]
    if not parts:
        raise KernelError(f"{name} is empty: type numbers separated by commas, e.g. 1, 2, 3.")
    if len(parts) > max_len:
        raise KernelError(f"{name} has {len(parts)} numbers; at most {max_len} are allowed here.")
    values = []
    for n, part in enumerate(parts, start=1):
        try:
            value = parse_number(part)
        except ValueError:
            raise KernelError(f"{name}: entry {n} ({part!r}) is not a number.") from None
        if not math.isfinite(value):
            raise KernelError(f"{name}: entry {n} ({part!r}) is not a finite number.")
        values.append(value)
    return np.array(values)


# --- 1D kernels ----------------------------------------------------------------------------

def moving_average(size: int = 3) -> np.ndarray:
    """``size`` weights of 1/size: each output is the mean of ``size`` neighbours."""
    if size < 1:
        raise KernelError("A moving average needs at least 1 tap.")
    return np.full(size, 1.0 / size)


def difference() -> np.ndarray:
    """``[-1, 1]``: each output is the next value minus the current one (a discrete slope)."""
    return np.array([-1.0, 1.0])


# --- code to copy --------------------------------------------------------------------------

def format_array(arr: np.ndarray, digits: int = 6) -> str:
    """A nested Python list literal with `digits` significant digits (whole numbers as ``2.``)."""
    arr = np.asarray(arr, dtype=float)
    if arr.ndim == 0:
        return _format_number(float(arr), digits)
    return "[" + ", ".join(format_array(a, digits) for a in arr) + "]"


def _format_number(v: float, digits: int) -> str:
    if float(v).is_integer():
        return f"{int(v)}."
    return format(v, f".{digits}g")


def torch_call(
    kernel: np.ndarray,
    *,
    in_channels: int = 1,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    padding_mode: str = "zeros",
    bias: float = 0.0,
    pads: tuple[int, int, int, int] | None = None,
    convolution: bool = False,
) -> str:
    """PyTorch code computing the same as the playground, to copy into a notebook.

    Parameters
    ----------
    kernel : (kh, kw) applied to each of `in_channels` channels separately (a depthwise
        convolution, ``groups=in_channels``), (C, kh, kw) summed over C channels into one map,
        or (N, C, kh, kw) giving N maps.
    stride, padding, dilation, padding_mode, bias : as in ``nn.Conv2d``; `bias` is added to
        every output map.
    pads : the padding actually applied as (top, bottom, left, right). Needed when
        ``nn.Conv2d`` cannot say it (uneven "same" padding with stride > 1): the code then pads
        explicitly with ``F.pad`` and convolves without padding.
    convolution : true convolution: the weights in the code are the kernel rotated by 180°,
        because PyTorch itself only cross-correlates.

    Returns
    -------
    str : runnable code defining ``weight``, ``conv`` (an ``nn.Conv2d``) and the functional
        call, both mapping ``x`` (batch, channels, H, W) to ``y``.
    """
    kernel = np.asarray(kernel, dtype=float)
    if convolution:
        kernel = rotate_180(kernel)
    if kernel.ndim == 2:
        weight = np.broadcast_to(kernel, (in_channels, 1, *kernel.shape))
        groups, c_in, c_out = in_channels, in_channels, in_channels
    elif kernel.ndim == 3:
        weight, groups = kernel[None], 1
        c_in, c_out = kernel.shape[0], 1
    elif kernel.ndim == 4:
        weight, groups = kernel, 1
        c_out, c_in = kernel.shape[:2]
    else:
        raise KernelError(f"A kernel has 2, 3 or 4 axes, not {kernel.ndim}.")
    kh, kw = kernel.shape[-2:]
    mode_names = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate",
                  "circular": "circular"}
    if padding_mode not in mode_names:
        raise KernelError(f"padding_mode must be one of {', '.join(mode_names)}.")

    stride_txt, dilation_txt = _torch_int_or_pair(stride), _torch_int_or_pair(dilation)
    expressible = not (isinstance(padding, str) and padding == "same" and as_pair(stride) != (1, 1))
    if expressible and not isinstance(padding, str) and pads is not None:
        p = as_pair(padding)
        expressible = pads == (p[0], p[0], p[1], p[1])
    has_bias = bias != 0
    lines = [
        "import torch",
        "import torch.nn as nn",
        "import torch.nn.functional as F",
        "",
    ]
    if convolution:
        lines.append("# True convolution: PyTorch cross-correlates, so the weights are the kernel rotated 180°.")
    lines += [
        f"# weight shape (out_channels, in_channels / groups, kh, kw) = {tuple(weight.shape)}",
        f"weight = torch.tensor({format_array(weight)})",
    ]
    if has_bias:
        lines.append(f"bias = torch.full(({c_out},), {_format_number(float(bias), 6)})")
    lines.append("# x: a float tensor of shape (batch, %d, H, W)" % c_in)
    if expressible:
        pad_txt = f'"{padding}"' if isinstance(padding, str) else _torch_int_or_pair(padding)
        lines += [
            f"conv = nn.Conv2d({c_in}, {c_out}, kernel_size={_torch_int_or_pair((kh, kw))}, "
            f"stride={stride_txt}, padding={pad_txt}, dilation={dilation_txt}, groups={groups}, "
            f'bias={has_bias}, padding_mode="{padding_mode}")',
            "with torch.no_grad():",
            "    conv.weight.copy_(weight)",
        ]
        if has_bias:
            lines.append("    conv.bias.copy_(bias)")
        lines.append("y = conv(x)")
    else:
        lines.append("# nn.Conv2d refuses padding=\"same\" with stride > 1; pad explicitly instead:")
    top, bottom, left, right = pads if pads is not None else _even_pads(padding)
    bias_arg = "bias" if has_bias else "None"
    lines.append("# The same with the functional API:")
    if padding_mode == "zeros" and expressible:
        pad_txt = f'"{padding}"' if isinstance(padding, str) else _torch_int_or_pair(padding)
        lines.append(f"y = F.conv2d(x, weight, {bias_arg}, stride={stride_txt}, padding={pad_txt}, "
                     f"dilation={dilation_txt}, groups={groups})")
    else:
        lines.append(f'x_padded = F.pad(x, ({left}, {right}, {top}, {bottom}), mode="{mode_names[padding_mode]}")')
        lines.append(f"y = F.conv2d(x_padded, weight, {bias_arg}, stride={stride_txt}, "
                     f"dilation={dilation_txt}, groups={groups})")
    return "\n".join(lines)


def as_pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``2`` -> ``(2, 2)``, ``(2, 1)`` -> ``(2, 1)``: PyTorch's int-or-pair arguments as a pair."""
    return (int(value[0]), int(value[1])) if isinstance(value, (tuple, list)) else (int(value), int(value))


def _torch_int_or_pair(value) -> str:
    a, b = as_pair(value)
    return str(int(a)) if a == b else f"({int(a)}, {int(b)})"


def _even_pads(padding) -> tuple[int, int, int, int]:
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        raise KernelError('Give `pads` for padding="same": the amounts depend on the input.')
    rows, cols = as_pair(padding)
    return int(rows), int(rows), int(cols), int(cols)


# --- the lectures' worked examples ---------------------------------------------------------
# Inputs and kernels as printed on the slides. The outputs are never copied from the slides
# (some of their arithmetic is wrong): the playground computes them.

@dataclass(frozen=True)
class WorkedExample:
    """A small matrix, a kernel and the settings of one lecture example."""

    name: str
    source: str
    matrix: tuple[tuple[float, ...], ...]
    kernel: tuple[tuple[float, ...], ...]
    stride: int | tuple[int, int] = 1
    padding: int | tuple[int, int] | str = 0
    dilation: int = 1


_SIX = ((1, 4, 12, 11, 0, 2), (9, 15, 3, 0, 4, 17), (1, 4, 8, 6, 6, 10),
        (16, 10, 0, 11, 13, 6), (0, 2, 9, 3, 0, 8), (2, 14, 12, 5, 14, 1))
_SIX_KERNEL = ((3, 0, 8), (1, 5, 10), (0, 2, 9))
_SOBEL_X = ((-1, 0, 1), (-2, 0, 2), (-1, 0, 1))
_VERTICAL = ((1, 0, -1), (1, 0, -1), (1, 0, -1))

_EXAMPLES = [
    WorkedExample("6×6 matrix, 3×3 kernel (first cell 1×3 + 4×0 + ...)", "deck 002", _SIX, _SIX_KERNEL),
    WorkedExample("6×6 matrix with zero padding 1", "deck 002", _SIX, _SIX_KERNEL, padding=1),
    WorkedExample("6×6 matrix with stride 2", "deck 002", _SIX, _SIX_KERNEL, stride=2),
    WorkedExample("8×8 step edge, Sobel x", "deck 000", ((0,) * 4 + (1,) * 4,) * 8, _SOBEL_X),
    WorkedExample("6×6 image, vertical-edge filter", "deck 001",
                  ((0, 0, 5, 2, 1, 4), (3, 4, 1, 1, 1, 3), (6, 7, 1, 1, 1, 4),
                   (8, 9, 2, 1, 5, 2), (2, 0, 0, 0, 2, 1), (6, 2, 2, 2, 2, 1)), _VERTICAL),
    WorkedExample("8×8 bright-left edge, vertical-edge filter", "deck 001",
                  ((9,) * 4 + (0,) * 4,) * 8, _VERTICAL),
    WorkedExample("4×4 image with padding 1", "deck 001",
                  ((2, 4, 2, 4), (1, 1, 2, 1), (1, 4, 3, 3), (3, 2, 1, 2)), _VERTICAL, padding=1),
    WorkedExample("5×5 image, Sobel (cross-correlation)", "deck 003",
                  ((9, 1, 2, 2, 7), (10, 3, 10, 5, 1), (2, 6, 10, 10, 9), (10, 10, 5, 8, 10),
                   (7, 10, 9, 10, 7)), ((1, 0, -1), (2, 0, -2), (1, 0, -1))),
    WorkedExample("5×5 image with stride 2 (kernel: vertical edge)", "deck 000",
                  ((0, 2, 0, 0, 1), (2, 3, 3, 4, 1), (5, 0, 4, 0, 1), (0, 1, 3, 0, 1),
                   (0, 0, 2, 0, 1)), _VERTICAL, stride=2),
    WorkedExample("3×3 image with zero padding 1 (kernel: vertical edge)", "deck 000",
                  ((1, 2, 2), (5, 3, 1), (6, 2, 0)), _VERTICAL, padding=1),
    WorkedExample("7×7 matrix, 3×3 kernel with dilation 2 (holes)", "convolution arithmetic",
                  tuple(tuple(int(v) for v in row) for row in np.arange(49).reshape(7, 7) % 10),
                  ((1, 1, 1), (1, 1, 1), (1, 1, 1)), dilation=2),
]

# Shown by name only: the source (which deck) is for the code, not for the projector.
WORKED_EXAMPLES: dict[str, WorkedExample] = {e.name: e for e in _EXAMPLES}


@dataclass(frozen=True)
class SignalExample:
    """A 1D signal, a 1D kernel and the settings of one lecture example."""

    name: str
    source: str
    signal: str
    kernel: str
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    causal: bool = False


_SIGNAL_EXAMPLES = [
    SignalExample("Moving average of a = [1, 5, 3, 7, 5, 9, 7, 14]", "deck 000",
                  "1, 5, 3, 7, 5, 9, 7, 14", "1/3, 1/3, 1/3"),
    SignalExample("Causal convolution of 10, 20, 30 with kernel 1, 2", "deck 004",
                  "10, 20, 30", "1, 2", causal=True),
    SignalExample("Dilated causal convolution (dilation 2)", "deck 004",
                  "10, 20, 30, 40, 50, 60, 70, 80", "1, 2", dilation=2, causal=True),
    SignalExample("Difference (slope) of a", "deck 000", "1, 5, 3, 7, 5, 9, 7, 14", "-1, 1"),
    SignalExample("Moving average with stride 2 and padding 1", "deck 000",
                  "1, 5, 3, 7, 5, 9, 7, 14", "1/3, 1/3, 1/3", stride=2, padding=1),
]

SIGNAL_EXAMPLES: dict[str, SignalExample] = {e.name: e for e in _SIGNAL_EXAMPLES}
# Names with the source tag, as older links carry them ("... [deck 002]") -> today's name.
EXAMPLE_ALIASES: dict[str, str] = {f"{e.name} [{e.source}]": e.name for e in _EXAMPLES + _SIGNAL_EXAMPLES}
