"""Shape arithmetic of convolutional networks: output sizes, parameter counts, receptive fields.

Everything here is plain integer arithmetic, the way a lecture writes it on the board, and every
number is checked in the tests against the real PyTorch layers. One spatial dimension at a time:
a layer with an ``n x m`` input applies the same formula to the rows (``n``) and the columns (``m``).

The output size of a convolution (or pooling window) over ``n`` inputs is::

    out = floor((n + 2p - d(k - 1) - 1) / s) + 1

with kernel size ``k``, stride ``s``, padding ``p`` (zeros added on each side) and dilation ``d``.
``d(k - 1) + 1`` is the *effective* kernel size: a dilated kernel spreads its ``k`` taps over that
many inputs. The floor means the last few rows/columns are silently dropped when the windows do
not fit exactly.
"""
from __future__ import annotations

import math
import numbers

# Larger than any image a student will type in, small enough to keep the arithmetic meaningful.
MAX_SIZE = 100_000
MAX_CHANNELS = 1_000_000


class ShapeError(ValueError):
    """A layer configuration that cannot work, with a message a student understands."""


def _whole(value, name: str, minimum: int = 0, maximum: int = MAX_SIZE) -> int:
    """``value`` as an int, or a ShapeError saying what is wrong with it."""
    if isinstance(value, bool):
        raise ShapeError(f"{name} must be a whole number, got {value!r}.")
    if isinstance(value, numbers.Integral):
        number = int(value)
    elif isinstance(value, numbers.Real) and float(value).is_integer():
        number = int(value)
    else:
        raise ShapeError(f"{name} must be a whole number, got {value!r}.")
    if number < minimum:
        raise ShapeError(f"{name} must be at least {minimum}, got {number}.")
    if number > maximum:
        raise ShapeError(f"{name} = {number} is absurdly large (the limit here is {maximum:,}).")
    return number


def _pair(value, name: str) -> tuple:
    """(rows, cols) from one value or a pair, as PyTorch's ``kernel_size=3`` or ``(3, 5)``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ShapeError(f"{name} must be one number or a (rows, cols) pair, got {value!r}.")
        return tuple(value)
    return (value, value)


def effective_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """Inputs one dilated kernel spans: ``d(k - 1) + 1`` (a 3-tap kernel with d=2 spans 5)."""
    return dilation * (kernel_size - 1) + 1


def same_padding(n: int, kernel_size: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """Zeros (before, after) that TensorFlow/Keras ``padding="same"`` adds to ``n`` inputs.

    Keras "same" promises ``ceil(n / s)`` outputs. It pads just enough for that many windows,
    ``total = max((out - 1) s + d(k - 1) + 1 - n, 0)``, and splits it unevenly when the total is
    odd: the extra zero goes at the end (bottom row / right column). With stride 1 this is
    ``d(k - 1)`` in total, which is exactly what PyTorch's ``padding="same"`` adds (PyTorch
    refuses "same" for stride > 1 because the output size would then depend on ``n``).
    """
    n = _whole(n, "input size", 1)
    kernel_size = _whole(kernel_size, "kernel size", 1)
    stride = _whole(stride, "stride", 1)
    dilation = _whole(dilation, "dilation", 1)
    out = -(-n // stride)  # ceil(n / s)
    total = max((out - 1) * stride + effective_kernel_size(kernel_size, dilation) - n, 0)
    return total // 2, total - total // 2


def _resolve_padding(padding, n, kernel_size, stride, dilation) -> tuple[int, int]:
    """Padding (before, after) from a number, "valid" or "same"."""
    if isinstance(padding, str):
        mode = padding.strip().lower()
        if mode == "valid":
            return 0, 0
        if mode == "same":
            return same_padding(n, kernel_size, stride, dilation)
        raise ShapeError(f'padding must be a number, "valid" or "same", got {padding!r}.')
    p = _whole(padding, "padding", 0)
    return p, p


def conv_output_size(
    n: int,
    kernel_size: int,
    stride: int = 1,
    padding: int | str = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
    transposed: bool = False,
    output_padding: int = 0,
) -> int:
    """Output size along one dimension of a convolution or pooling layer.

    Parameters
    ----------
    n : input size (rows or columns).
    kernel_size, stride, dilation : k, s, d of the layer.
    padding : zeros added on *each* side (PyTorch's ``padding=p``), or
        ``"valid"`` (no padding, Keras' default) or ``"same"``. "same" follows TensorFlow/Keras:
        the output has ``ceil(n / s)`` elements and the zeros are split unevenly, the extra one
        at the bottom/right (see :func:`same_padding`). For stride 1 this is also PyTorch's
        ``padding="same"`` (PyTorch allows "same" only with stride 1).
    ceil_mode : round up instead of down, as PyTorch pooling's ``ceil_mode=True``; a last window
        that would start in the right padding is dropped, as PyTorch does.
    transposed : a transposed convolution ("deconvolution", PyTorch ``ConvTranspose2d``), which
        runs the arithmetic backwards: ``(n - 1) s - 2p + d(k - 1) + output_padding + 1``.
    output_padding : extra rows/cols on one side of a transposed convolution's output; must be
        smaller than the stride or the dilation (it picks one of the input sizes that the forward
        convolution maps to the same output size).

    Returns
    -------
    int : ``floor((n + 2p - d(k - 1) - 1) / s) + 1`` (or the variants above).

    Raises
    ------
    ShapeError : stride 0, negative or absurd sizes, non-integers, a kernel bigger than the padded
        input, or an output smaller than 1.
    """
    n = _whole(n, "input size", 1)
    kernel_size = _whole(kernel_size, "kernel size", 1)
    stride = _whole(stride, "stride", 1)
    dilation = _whole(dilation, "dilation", 1)
    output_padding = _whole(output_padding, "output padding", 0)
    span = effective_kernel_size(kernel_size, dilation)

    if transposed:
        if isinstance(padding, str) and padding.strip().lower() == "same":
            raise ShapeError(
                'padding="same" is not defined the same way for transposed convolutions in '
                "PyTorch and Keras: give the padding as a number."
            )
        if ceil_mode:
            raise ShapeError("ceil_mode only exists for pooling, not for transposed convolutions.")
        p, _ = _resolve_padding(padding, n, kernel_size, stride, dilation)
        if output_padding >= max(stride, dilation):
            raise ShapeError(
                f"output padding ({output_padding}) must be smaller than the stride ({stride}) "
                f"or the dilation ({dilation})."
            )
        out = (n - 1) * stride - 2 * p + span + output_padding
        if out < 1:
            raise ShapeError(
                f"the output would have {out} elements: (n - 1)s - 2p + d(k - 1) + "
                f"output_padding + 1 = ({n} - 1)*{stride} - 2*{p} + {span - 1} + "
                f"{output_padding} + 1 = {out}; use less padding."
            )
        return out

    if output_padding:
        raise ShapeError("output padding only exists for transposed convolutions.")
    before, after = _resolve_padding(padding, n, kernel_size, stride, dilation)
    padded = n + before + after
    if span > padded:
        what = f"kernel ({kernel_size})" if dilation == 1 else (
            f"dilated kernel (k={kernel_size}, d={dilation} spans {span})")
        raise ShapeError(
            f"the {what} is bigger than the padded input ({n} + {before + after} padding = "
            f"{padded}): not even one window fits."
        )
    if ceil_mode:
        out = -(-(padded - span) // stride) + 1
        # PyTorch drops a last window that would start in the right-hand padding.
        if (out - 1) * stride >= n + before:
            out -= 1
        return out
    return (padded - span) // stride + 1


def conv_params(
    in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], bias: bool = True,
    groups: int = 1,
) -> int:
    """Learnable parameters of a 2D convolution: ``out * (in / groups) * kh * kw + out`` (bias).

    Every filter has one ``kh x kw`` slice per input channel it sees and one bias; the same
    filter is used at every position (parameter sharing), so the image size does not matter.
    With ``groups`` the input channels are split into groups and each filter sees one group.
    """
    in_channels = _whole(in_channels, "input channels", 1, MAX_CHANNELS)
    out_channels = _whole(out_channels, "output channels (filters)", 1, MAX_CHANNELS)
    groups = _whole(groups, "groups", 1, MAX_CHANNELS)
    kh, kw = (_whole(k, "kernel size", 1) for k in _pair(kernel_size, "kernel size"))
    if in_channels % groups or out_channels % groups:
        raise ShapeError(
            f"groups ({groups}) must divide both the input channels ({in_channels}) and the "
            f"output channels ({out_channels})."
        )
    return out_channels * (in_channels // groups) * kh * kw + (out_channels if bias else 0)


def linear_params(in_features: int, out_features: int, bias: bool = True) -> int:
    """Parameters of a dense (fully connected) layer: ``in * out + out`` (bias)."""
    in_features = _whole(in_features, "input features", 1, 10**9)
    out_features = _whole(out_features, "output features", 1, MAX_CHANNELS)
    return in_features * out_features + (out_features if bias else 0)


def batchnorm_params(num_features: int) -> tuple[int, int]:
    """(trainable, non-trainable) numbers of a batch-norm layer over ``num_features`` channels.

    Trainable: a scale (gamma) and a shift (beta) per channel. Non-trainable: the running mean
    and variance used at test time (Keras counts them as "Non-trainable params"; PyTorch keeps
    them as buffers, not parameters).
    """
    c = _whole(num_features, "channels", 1, 10**9)
    return 2 * c, 2 * c


# Layers with nothing to learn: they only move, pick or average numbers.
PARAMETER_FREE = ("MaxPool2d", "AvgPool2d", "GlobalAvgPool", "ReLU", "Tanh", "Dropout", "Flatten")


def receptive_field_step(
    size: int, jump: int, start: float, kernel_size: int, stride: int = 1, padding: int = 0,
    dilation: int = 1,
) -> tuple[int, int, float]:
    """Receptive field after one more layer, along one dimension.

    ``size``: input pixels one unit sees; ``jump``: input pixels between neighbouring units;
    ``start``: input coordinate (0 = first pixel) of the centre of the first unit's field.
    A layer with effective kernel ``K = d(k - 1) + 1``, stride s and padding p (before) gives::

        size' = size + (K - 1) * jump
        jump' = jump * s
        start' = start + ((K - 1) / 2 - p) * jump

    Start from ``(1, 1, 0.0)``: one input pixel sees itself.
    """
    span = effective_kernel_size(_whole(kernel_size, "kernel size", 1), _whole(dilation, "dilation", 1))
    stride = _whole(stride, "stride", 1)
    padding = _whole(padding, "padding", 0)
    return size + (span - 1) * jump, jump * stride, start + ((span - 1) / 2 - padding) * jump


def receptive_field_stack(
    kernel_sizes, strides=None, dilations=None, paddings=None,
) -> list[tuple[int, int, float]]:
    """(size, jump, start) after each layer of a 1D stack (use it per dimension for 2D).

    ``strides``, ``dilations``, ``paddings`` default to 1, 1, 0 for every layer. Pooling layers
    are windows like any other (kernel 2, stride 2). A causal 1D convolution has the same
    receptive field size as a normal one; only its position moves (all padding is before).
    """
    count = len(kernel_sizes)
    strides = [1] * count if strides is None else list(strides)
    dilations = [1] * count if dilations is None else list(dilations)
    paddings = [0] * count if paddings is None else list(paddings)
    if not len(strides) == len(dilations) == len(paddings) == count:
        raise ShapeError("give one stride, dilation and padding per layer.")
    field = (1, 1, 0.0)
    fields = []
    for k, s, d, p in zip(kernel_sizes, strides, dilations, paddings):
        field = receptive_field_step(*field, k, s, p, d)
        fields.append(field)
    return fields


def receptive_field(kernel_sizes, strides=None, dilations=None) -> int:
    """Receptive field size of the last layer of a 1D stack, e.g. ``[3, 3, 3] -> 7``.

    Dilated causal stacks (WaveNet): kernel 2 with dilations 1, 2, 4, 8 sees 16 time steps.
    """
    if not kernel_sizes:
        return 1
    return receptive_field_stack(kernel_sizes, strides, dilations)[-1][0]
