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

import abc
import math
import numbers
from collections import OrderedDict
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

# Larger than any image a student will type in, small enough to keep the arithmetic meaningful.
MAX_SIZE = 100_000
MAX_CHANNELS = 1_000_000


class ShapeError(ValueError):
    """A layer configuration that cannot work, with a message a student understands."""


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """A count with its noun in the right number: "1 filter", "0 filters", "6 filters"
    (``plural`` where adding an s is wrong: "biases")."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def _whole(value, name: str, minimum: int = 0, maximum: int = MAX_SIZE) -> int:
    """``value`` as an int, or a ShapeError saying what is wrong with it."""
    # True is an int in Python, but "stride = True" is a mistake, not 1.
    is_whole = isinstance(value, numbers.Integral) or (
        isinstance(value, numbers.Real) and float(value).is_integer())
    if isinstance(value, bool) or not is_whole:
        raise ShapeError(f"{name} must be a whole number, got {value!r}.")
    number = int(value)
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
    if ceil_mode:
        # Rounding up lets the last window hang over the end, so it may even be larger than the
        # padded input; PyTorch only drops a last window that would start in the right padding.
        out = -(-(padded - span) // stride) + 1
        if (out - 1) * stride >= n + before:
            out -= 1
        if out < 1:
            raise ShapeError(f"the window ({span}) leaves no output even when rounding up "
                             f"({n} inputs + {before + after} padding).")
        return out
    if span > padded:
        what = f"kernel ({kernel_size})" if dilation == 1 else (
            f"dilated kernel (k={kernel_size}, d={dilation} spans {span})")
        raise ShapeError(
            f"the {what} is bigger than the padded input ({n} + {before + after} padding = "
            f"{padded}): not even one window fits."
        )
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


def explain_conv_params(in_channels: int, out_channels: int, kernel_size, bias: bool = True,
                        groups: int = 1) -> str:
    """:func:`conv_params` with the numbers in, e.g. ``6 × (3 × 5 × 5) + 6 = 456``."""
    total = conv_params(in_channels, out_channels, kernel_size, bias, groups)
    kh, kw = _pair(kernel_size, "kernel size")
    seen = in_channels // groups
    text = f"{counted(out_channels, 'filter')} × ({counted(seen, 'channel')} × {kh} × {kw} weights)"
    return text + (f" + {counted(out_channels, 'bias', 'biases')}" if bias else "") + f" = {total:,}"


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


class PaddingStride(NamedTuple):
    """One answer of :func:`padding_stride_options`."""

    padding: int
    stride: int
    exact: bool


def padding_stride_options(
    n: int, kernel_size: int, wanted: int, dilation: int = 1, max_stride: int | None = None,
) -> list[PaddingStride]:
    """Every (padding, stride) that turns ``n`` inputs into ``wanted`` outputs with kernel ``k``.

    Paddings run from 0 to ``d(k - 1)``: one more zero on each side would only add windows that
    see nothing but zeros. Strides run up to ``max_stride`` (default ``n``): once a single window
    is left, every larger stride gives the same answer. ``exact`` says whether the windows fit
    the padded input exactly (the floor drops nothing).
    """
    n = _whole(n, "input size", 1)
    kernel_size = _whole(kernel_size, "kernel size", 1)
    wanted = _whole(wanted, "wanted output size", 1)
    dilation = _whole(dilation, "dilation", 1)
    max_stride = n if max_stride is None else _whole(max_stride, "largest stride", 1)
    span = effective_kernel_size(kernel_size, dilation)
    options = []
    for padding in range(span):
        room = n + 2 * padding - span
        if room < 0:
            continue
        for stride in range(1, max_stride + 1):
            if room // stride + 1 == wanted:
                options.append(PaddingStride(padding, stride, room % stride == 0))
    return options


# ----------------------------------------------------------------------------------------------
# Layer stacks: simple layer descriptions, their summary, and the real torch module.
# Shapes are per sample: (C, H, W) for feature maps, (F,) for flat vectors.
# ----------------------------------------------------------------------------------------------

Shape = tuple[int, ...]


@dataclass(frozen=True)
class _Window:
    """What a windowed layer does along one dimension: kernel span, stride, padding before."""

    span: int
    stride: int
    pad_before: int


class Layer(abc.ABC):
    """Base of the layer descriptions. Subclasses say what they do to a shape."""

    prefix: ClassVar[str] = "layer"
    name: str | None

    @property
    def kind(self) -> str:
        return type(self).__name__

    def output_shape(self, shape: Shape) -> Shape:
        return shape

    def param_counts(self, shape: Shape) -> tuple[int, int]:
        """(trainable, non-trainable) numbers for an input of ``shape``."""
        return 0, 0

    def macs(self, shape: Shape, out: Shape) -> int:
        """Multiply-adds per sample (only convolutions and linear layers count)."""
        return 0

    def windows(self, shape: Shape) -> tuple[_Window, _Window] | None:
        """The (rows, cols) windows for receptive fields; None: element-wise, field unchanged."""
        return None

    def mixes_everything(self) -> bool:
        """True when every output depends on the whole input (Flatten + Linear, global pooling)."""
        return False

    @abc.abstractmethod
    def torch_module(self, shape: Shape):
        """The real torch layer for an input of ``shape`` (every layer kind defines it)."""

    def describe(self) -> str:
        return self.kind


def _spatial(shape: Shape, what: str) -> Shape:
    if len(shape) != 3:
        raise ShapeError(
            f"{what} needs a (channels, height, width) input but gets a flat vector of "
            f"{shape[0]} numbers: it cannot come after Flatten, Linear or global pooling."
        )
    return shape


def _flat(shape: Shape, what: str) -> Shape:
    if len(shape) != 1:
        raise ShapeError(
            f"{what} needs a flat vector but gets a {'x'.join(map(str, shape))} feature map: "
            "put a Flatten (or global average pooling) before it."
        )
    return shape


class _Windowed(Layer):
    """Shared arithmetic of convolutions and pooling layers (kernel, stride, padding, dilation)."""

    def _pairs(self):
        kernel = tuple(_whole(k, "kernel size", 1) for k in _pair(self.kernel_size, "kernel size"))
        stride = kernel if self.stride is None else tuple(
            _whole(s, "stride", 1) for s in _pair(self.stride, "stride"))
        dilation = tuple(_whole(d, "dilation", 1) for d in _pair(getattr(self, "dilation", 1), "dilation"))
        return kernel, stride, dilation

    def paddings(self, shape: Shape) -> tuple[tuple[int, int], tuple[int, int]]:
        """((top, bottom), (left, right)) zeros for an input of ``shape``."""
        kernel, stride, dilation = self._pairs()
        return tuple(
            _resolve_padding(p, n, k, s, d)
            for p, n, k, s, d in zip(_pair(self.padding, "padding"), shape[1:], kernel, stride, dilation)
        )

    def spatial_output(self, shape: Shape) -> tuple[int, int]:
        kernel, stride, dilation = self._pairs()
        paddings = _pair(self.padding, "padding")
        sizes = []
        for axis, n, k, s, d, p in zip(("rows", "columns"), shape[1:], kernel, stride, dilation, paddings):
            try:
                sizes.append(conv_output_size(n, k, s, p, d, getattr(self, "ceil_mode", False)))
            except ShapeError as exc:
                raise ShapeError(f"{axis}: {exc}") from None
        return tuple(sizes)

    def windows(self, shape: Shape):
        kernel, stride, dilation = self._pairs()
        pads = self.paddings(shape)
        return tuple(_Window(effective_kernel_size(k, d), s, before)
                     for k, s, d, (before, _) in zip(kernel, stride, dilation, pads))

    def _torch_padding(self, shape: Shape):
        """(padding argument, optional explicit pad module) reproducing these paddings in torch."""
        from torch import nn

        (top, bottom), (left, right) = self.paddings(shape)
        if top == bottom and left == right:
            return (top, left), None
        return 0, nn.ZeroPad2d((left, right, top, bottom))

    def _geometry_text(self) -> str:
        # Raw values, not _pairs(): this also describes layers whose values are wrong.
        kernel = _pair(self.kernel_size, "kernel size")
        text = f"{kernel[0]}x{kernel[1]}"
        if self.stride not in (None, 1, (1, 1)):
            text += f", stride {self.stride}"
        if self.padding not in (0, (0, 0), "valid"):
            text += f", padding {self.padding}"
        dilation = getattr(self, "dilation", 1)
        if dilation not in (1, (1, 1)):
            text += f", dilation {dilation}"
        return text


@dataclass(frozen=True)
class Conv2d(_Windowed):
    """A 2D convolution with ``out_channels`` filters (PyTorch ``nn.Conv2d``, Keras ``Conv2D``).

    ``padding`` is a number (zeros on each side), a (rows, cols) pair, "valid" or "same"
    (Keras' rule, see :func:`same_padding`; any stride).
    """

    out_channels: int
    kernel_size: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    padding: int | tuple[int, int] | str = 0
    dilation: int | tuple[int, int] = 1
    bias: bool = True
    groups: int = 1
    name: str | None = None
    prefix: ClassVar[str] = "conv"

    def output_shape(self, shape):
        _spatial(shape, "Conv2d")
        self.param_counts(shape)  # checks channels and groups
        return (self.out_channels, *self.spatial_output(shape))

    def param_counts(self, shape):
        return conv_params(shape[0], self.out_channels, self.kernel_size, self.bias, self.groups), 0

    def macs(self, shape, out):
        kernel, _, _ = self._pairs()
        return out[0] * out[1] * out[2] * (shape[0] // self.groups) * kernel[0] * kernel[1]

    def torch_module(self, shape):
        from torch import nn

        kernel, stride, dilation = self._pairs()
        padding, pad = self._torch_padding(shape)
        conv = nn.Conv2d(shape[0], self.out_channels, kernel, stride, padding, dilation,
                         self.groups, self.bias)
        return conv if pad is None else nn.Sequential(OrderedDict(pad=pad, conv=conv))

    def describe(self):
        return f"Conv2d {counted(self.out_channels, 'filter')} {self._geometry_text()}"


@dataclass(frozen=True)
class MaxPool2d(_Windowed):
    """Max pooling: the largest value of each window, per channel. Stride defaults to the kernel."""

    kernel_size: int | tuple[int, int] = 2
    stride: int | tuple[int, int] | None = None
    padding: int | tuple[int, int] | str = 0
    ceil_mode: bool = False
    name: str | None = None
    prefix: ClassVar[str] = "pool"

    def output_shape(self, shape):
        c, _, _ = _spatial(shape, self.kind)
        self._check_padding()
        return (c, *self.spatial_output(shape))

    def _check_padding(self):
        if isinstance(self.padding, str):
            if self.padding.lower() == "same" and self.kind == "AvgPool2d":
                raise ShapeError('AvgPool2d: give the padding as a number ("same" averages '
                                 "differently in Keras and PyTorch).")
            return
        kernel, _, _ = self._pairs()
        for p, k in zip(_pair(self.padding, "padding"), kernel):
            if _whole(p, "padding", 0) * 2 > k:
                raise ShapeError(f"pooling padding ({p}) can be at most half the window ({k}): "
                                 "a window must not see only padding.")

    def torch_module(self, shape):
        from torch import nn

        kernel, stride, _ = self._pairs()
        (top, bottom), (left, right) = self.paddings(shape)
        if (top, left) == (bottom, right):
            return nn.MaxPool2d(kernel, stride, (top, left), ceil_mode=self.ceil_mode)
        # Keras "same" max pooling pads with -inf so that padding never wins.
        pad = nn.ConstantPad2d((left, right, top, bottom), float("-inf"))
        return nn.Sequential(OrderedDict(pad=pad, pool=nn.MaxPool2d(kernel, stride, ceil_mode=self.ceil_mode)))

    def describe(self):
        return f"{self.kind} {self._geometry_text()}" + (", ceil_mode" if self.ceil_mode else "")


@dataclass(frozen=True)
class AvgPool2d(MaxPool2d):
    """Average pooling: the mean of each window (zeros of the padding count, as in PyTorch)."""

    prefix: ClassVar[str] = "avgpool"

    def torch_module(self, shape):
        from torch import nn

        kernel, stride, _ = self._pairs()
        (top, _), (left, _) = self.paddings(shape)
        return nn.AvgPool2d(kernel, stride, (top, left), ceil_mode=self.ceil_mode)


@dataclass(frozen=True)
class GlobalAvgPool(Layer):
    """Global average pooling: one number per channel, (C, H, W) -> (C,)."""

    name: str | None = None
    prefix: ClassVar[str] = "gap"

    def output_shape(self, shape):
        return (_spatial(shape, "Global average pooling")[0],)

    def mixes_everything(self):
        return True

    def torch_module(self, shape):
        from torch import nn

        return nn.Sequential(OrderedDict(pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten()))

    def describe(self):
        return "Global average pooling"


@dataclass(frozen=True)
class BatchNorm2d(Layer):
    """Batch normalisation per channel of a feature map: 2C learnable, 2C running statistics."""

    name: str | None = None
    prefix: ClassVar[str] = "bn"

    def output_shape(self, shape):
        return _spatial(shape, "BatchNorm2d")

    def param_counts(self, shape):
        return batchnorm_params(shape[0])

    def torch_module(self, shape):
        from torch import nn

        return nn.BatchNorm2d(shape[0])


@dataclass(frozen=True)
class BatchNorm1d(BatchNorm2d):
    """Batch normalisation of a flat vector (after Linear): 2F learnable, 2F running statistics."""

    def output_shape(self, shape):
        return _flat(shape, "BatchNorm1d")

    def torch_module(self, shape):
        from torch import nn

        return nn.BatchNorm1d(shape[0])


@dataclass(frozen=True)
class ReLU(Layer):
    """max(0, x) element-wise."""

    name: str | None = None
    prefix: ClassVar[str] = "relu"

    def torch_module(self, shape):
        from torch import nn

        return nn.ReLU()


@dataclass(frozen=True)
class Tanh(Layer):
    """tanh element-wise (LeNet-5's activation)."""

    name: str | None = None
    prefix: ClassVar[str] = "tanh"

    def torch_module(self, shape):
        from torch import nn

        return nn.Tanh()


@dataclass(frozen=True)
class Dropout(Layer):
    """Zeroes a fraction ``p`` of the values during training; nothing to learn, shape unchanged."""

    p: float = 0.5
    name: str | None = None
    prefix: ClassVar[str] = "dropout"

    def torch_module(self, shape):
        from torch import nn

        return nn.Dropout(self.p)

    def describe(self):
        return f"Dropout p={self.p:g}"


@dataclass(frozen=True)
class Flatten(Layer):
    """(C, H, W) -> (C*H*W,): the feature maps laid out as one vector for the dense layers."""

    name: str | None = None
    prefix: ClassVar[str] = "flatten"

    def output_shape(self, shape):
        return (math.prod(shape),)

    def torch_module(self, shape):
        from torch import nn

        return nn.Flatten()


@dataclass(frozen=True)
class Linear(Layer):
    """A dense (fully connected) layer: every output sees every input (``nn.Linear``, ``Dense``)."""

    out_features: int
    bias: bool = True
    name: str | None = None
    prefix: ClassVar[str] = "fc"

    def output_shape(self, shape):
        _flat(shape, "Linear")
        self.param_counts(shape)
        return (self.out_features,)

    def param_counts(self, shape):
        return linear_params(shape[0], self.out_features, self.bias), 0

    def macs(self, shape, out):
        return shape[0] * self.out_features

    def mixes_everything(self):
        return True

    def torch_module(self, shape):
        from torch import nn

        return nn.Linear(shape[0], self.out_features, self.bias)

    def describe(self):
        return f"Linear {counted(self.out_features, 'unit')}"


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (Conv2d, MaxPool2d, AvgPool2d, BatchNorm2d, BatchNorm1d, ReLU, Tanh, Dropout,
                Flatten, Linear, GlobalAvgPool)
}


@dataclass(frozen=True)
class LayerRow:
    """One layer of a :class:`Summary` (shapes per sample, without the batch)."""

    index: int
    name: str
    layer: Layer
    input_shape: Shape
    output_shape: Shape
    params: int  # learnable (PyTorch's ``sum(p.numel() for p in layer.parameters())``)
    non_trainable_params: int  # batch norm's running mean and variance
    macs: int
    receptive_field: tuple[int, int] | None  # (rows, cols) of input pixels; None: whole input
    jump: tuple[int, int] | None  # input pixels between neighbouring units
    start: tuple[float, float] | None  # centre of the first unit's field, in input coordinates

    @property
    def kind(self) -> str:
        return self.layer.kind

    @property
    def activations(self) -> int:
        return math.prod(self.output_shape)

    @property
    def nchw(self) -> tuple:
        """PyTorch layout with the batch: (None, C, H, W) or (None, F)."""
        return (None, *self.output_shape)

    @property
    def nhwc(self) -> tuple:
        """Keras layout as ``model.summary()`` prints it: (None, H, W, C) or (None, F)."""
        shape = self.output_shape
        return (None, *shape[1:], shape[0]) if len(shape) == 3 else (None, *shape)


@dataclass(frozen=True)
class Summary:
    """What :func:`summarize` finds: one row per layer, and the totals."""

    input_shape: Shape
    rows: tuple[LayerRow, ...]

    @property
    def output_shape(self) -> Shape:
        return self.rows[-1].output_shape if self.rows else self.input_shape

    @property
    def total_params(self) -> int:
        """Learnable parameters (what PyTorch counts)."""
        return sum(row.params for row in self.rows)

    @property
    def non_trainable_params(self) -> int:
        return sum(row.non_trainable_params for row in self.rows)

    @property
    def keras_total_params(self) -> int:
        """Keras' "Total params": learnable plus batch norm's running statistics."""
        return self.total_params + self.non_trainable_params

    @property
    def total_macs(self) -> int:
        return sum(row.macs for row in self.rows)

    @property
    def activation_count(self) -> int:
        """Numbers every layer outputs for one sample (kept for the backward pass in training)."""
        return sum(row.activations for row in self.rows)

    def activation_bytes(self, bytes_per_number: int = 4) -> int:
        """Memory of all layer outputs for one sample (float32: 4 bytes per number)."""
        return self.activation_count * bytes_per_number

    def param_bytes(self, bytes_per_number: int = 4) -> int:
        return self.keras_total_params * bytes_per_number

    def table(self, layout: str = "NCHW") -> list[dict]:
        """Rows as dicts for a table: layer, type, output shape (NCHW or NHWC), params, field.

        The batch is written as each library writes it: ``N`` in PyTorch's NCHW, ``None`` in
        Keras' NHWC ``model.summary()``."""
        batch = "N" if layout == "NCHW" else "None"
        rows = []
        for row in self.rows:
            shape = row.nchw if layout == "NCHW" else row.nhwc
            field = "whole input" if row.receptive_field is None else "x".join(map(str, row.receptive_field))
            rows.append({
                "layer": row.name,
                "type": row.layer.describe(),
                "output shape": "(" + ", ".join(batch if v is None else str(v) for v in shape) + ")",
                "params": row.params,
                "non-trainable": row.non_trainable_params,
                "receptive field": field,
                "jump": "" if row.jump is None else "x".join(map(str, row.jump)),
                "multiply-adds": row.macs,
            })
        return rows


def _check_input_shape(input_shape) -> Shape:
    shape = tuple(input_shape)
    if len(shape) not in (1, 3):
        raise ShapeError(f"the input shape must be (channels, height, width) or (features,), got {shape}.")
    names = ("channels", "height", "width") if len(shape) == 3 else ("features",)
    limits = (MAX_CHANNELS, MAX_SIZE, MAX_SIZE) if len(shape) == 3 else (10**9,)
    return tuple(_whole(v, f"input {name}", 1, limit) for v, name, limit in zip(shape, names, limits))


def layer_names(layers) -> list[str]:
    """Names as in the app's models: conv1, relu1, pool1, ..., flatten, fc1 (given names win)."""
    counts: dict[str, int] = {}
    names = []
    for layer in layers:
        counts[layer.prefix] = counts.get(layer.prefix, 0) + 1
        if layer.name:
            names.append(layer.name)
        elif layer.prefix == "flatten" and counts["flatten"] == 1:
            names.append("flatten")
        else:
            names.append(f"{layer.prefix}{counts[layer.prefix]}")
    if len(set(names)) != len(names):
        raise ShapeError("two layers have the same name.")
    return names


def summarize(layers, input_shape) -> Summary:
    """Follow one sample of ``input_shape`` through ``layers``: shapes, parameters, fields.

    ``input_shape`` is (C, H, W) (PyTorch order, without the batch) or (F,). Receptive fields
    are per dimension (rows, cols), counted in input pixels including padding; after a layer that
    mixes everything (Linear, global pooling) the field is the whole input.

    Raises ShapeError naming the first layer that cannot work (e.g. a size that collapses below
    1, a Linear layer on a feature map) and why.
    """
    input_shape = shape = _check_input_shape(input_shape)
    rows = []
    # (size, jump, start) per spatial dimension; None once every unit sees the whole input.
    field = [(1, 1, 0.0), (1, 1, 0.0)] if len(shape) == 3 else None
    for index, (name, layer) in enumerate(zip(layer_names(layers), layers), start=1):
        if not isinstance(layer, Layer):
            raise ShapeError(f"layer {index} is not a layer description: {layer!r}")
        try:
            out = layer.output_shape(shape)
            trainable, frozen = layer.param_counts(shape)
            windows = layer.windows(shape)
        except ShapeError as exc:
            size = "x".join(map(str, shape))
            raise ShapeError(f"Layer {index} ({name}, {layer.describe()}) on a {size} input: {exc}") from None
        if layer.mixes_everything():
            field = None
        elif field is not None and windows is not None:
            field = [receptive_field_step(*f, w.span, w.stride, w.pad_before) for f, w in zip(field, windows)]
        # (rows, cols) pairs of each quantity
        size, jump, start = (None, None, None) if field is None else zip(*field)
        rows.append(LayerRow(index, name, layer, shape, out, trainable, frozen,
                             layer.macs(shape, out), size, jump, start))
        shape = out
    return Summary(input_shape, tuple(rows))


def to_torch(layers, input_shape, device=None):
    """The real ``nn.Sequential`` of these layers, named as in :func:`summarize`.

    ``input_shape`` as in :func:`summarize` (a bare int is taken as the channels of a
    feature-map input, for stacks without Linear layers). ``device="meta"`` builds it without
    allocating weights (fast, for shape and parameter checks of VGG-sized stacks).
    """
    import torch
    from torch import nn

    if isinstance(input_shape, numbers.Integral):
        if any(isinstance(layer, (Linear, BatchNorm1d)) for layer in layers):
            raise ShapeError("Linear layers need the full input shape (C, H, W), not only channels.")
        if any(isinstance(layer, _Windowed) and isinstance(layer.padding, str)
               and layer.padding.lower() == "same" and layer._pairs()[1] != (1, 1) for layer in layers):
            raise ShapeError('"same" padding with a stride depends on the input size: give (C, H, W).')
        input_shape = (input_shape, MAX_SIZE, MAX_SIZE)
    summary = summarize(layers, input_shape)
    with torch.device(device or "cpu"):
        return nn.Sequential(OrderedDict(
            (row.name, row.layer.torch_module(row.input_shape)) for row in summary.rows))


# ----------------------------------------------------------------------------------------------
# Well-known networks. Parameter counts come from summarize (and the tests check them against
# torch), never from a slide.
# ----------------------------------------------------------------------------------------------

def _vgg(config: list) -> list[Layer]:
    """VGG (Simonyan & Zisserman 2015, Table 1): 3x3 convs (padding 1) + ReLU, 2x2 max pools,
    then FC-4096, FC-4096, FC-1000 with ReLU and dropout 0.5, on 224x224 RGB input."""
    layers: list[Layer] = []
    for item in config:
        layers += [MaxPool2d(2)] if item == "M" else [Conv2d(item, 3, padding=1), ReLU()]
    return layers + [Flatten(), Linear(4096), ReLU(), Dropout(0.5), Linear(4096), ReLU(),
                     Dropout(0.5), Linear(1000)]


VGG_CONFIGS = {
    "VGG-11 (A)": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "VGG-13 (B)": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "VGG-16 (D)": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                   512, 512, 512, "M"],
    "VGG-19 (E)": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                   512, 512, 512, 512, "M"],
}

PRESETS: dict[str, list[Layer]] = {
    # LeNet-5 as usually taught today: average pooling without trainable coefficients, C3 fully
    # connected to all 6 maps (the paper's sparse table had fewer weights), C5 a 5x5 convolution.
    "LeNet-5": [
        Conv2d(6, 5), Tanh(), AvgPool2d(2), Conv2d(16, 5), Tanh(), AvgPool2d(2),
        Conv2d(120, 5), Tanh(), Flatten(), Linear(84), Tanh(), Linear(10),
    ],
    # AlexNet (Krizhevsky et al. 2012) as one tower (the paper split it over two GPUs), on the
    # 227x227 input that makes its 11x11 stride-4 first layer give 55x55.
    "AlexNet": [
        Conv2d(96, 11, stride=4), ReLU(), MaxPool2d(3, 2),
        Conv2d(256, 5, padding=2), ReLU(), MaxPool2d(3, 2),
        Conv2d(384, 3, padding=1), ReLU(), Conv2d(384, 3, padding=1), ReLU(),
        Conv2d(256, 3, padding=1), ReLU(), MaxPool2d(3, 2),
        Flatten(), Dropout(0.5), Linear(4096), ReLU(), Dropout(0.5), Linear(4096), ReLU(),
        Linear(1000),
    ],
    **{name: _vgg(config) for name, config in VGG_CONFIGS.items()},
    # The Keras example CNN from the lecture (28x28x1 Fashion-MNIST/MNIST).
    "Fashion-MNIST CNN": [
        Conv2d(32, 3), ReLU(), Conv2d(64, 3), ReLU(), MaxPool2d(2), Dropout(0.25), Flatten(),
        Linear(128), ReLU(), Dropout(0.5), Linear(10),
    ],
    # The app's own models (vizcore.models, default options): same layers and names.
    "digits (app model)": [
        Conv2d(16, 5, padding=2), ReLU(), MaxPool2d(2), Conv2d(32, 5), ReLU(), MaxPool2d(2),
        Flatten(), Linear(120), ReLU(), Linear(84), ReLU(), Linear(10),
    ],
    "shapes (app model)": [
        Conv2d(16, 3), ReLU(), Conv2d(16, 3), ReLU(), MaxPool2d(2),
        Conv2d(32, 3), ReLU(), Conv2d(32, 3), ReLU(), MaxPool2d(2),
        Flatten(), Linear(8, name="fc"),
    ],
}

PRESET_INPUTS: dict[str, Shape] = {
    "LeNet-5": (1, 32, 32),
    "AlexNet": (3, 227, 227),
    **{name: (3, 224, 224) for name in VGG_CONFIGS},
    "Fashion-MNIST CNN": (1, 28, 28),
    "digits (app model)": (1, 28, 28),
    "shapes (app model)": (3, 64, 64),
}


# ----------------------------------------------------------------------------------------------
# Words for one layer: the formula with the numbers in, and the PyTorch / Keras calls.
# ----------------------------------------------------------------------------------------------

def explain_output_size(
    n: int, kernel_size: int, stride: int = 1, padding: int | str = 0, dilation: int = 1,
    ceil_mode: bool = False, transposed: bool = False, output_padding: int = 0,
) -> str:
    """The output-size formula with the numbers substituted, ending in the result.

    >>> explain_output_size(7, 3, 2, 1)
    'floor((7 + 2·1 − 1·(3 − 1) − 1) / 2) + 1 = floor(6 / 2) + 1 = 4'
    """
    out = conv_output_size(n, kernel_size, stride, padding, dilation, ceil_mode, transposed,
                           output_padding)
    if transposed:
        p = _resolve_padding(padding, n, kernel_size, stride, dilation)[0]
        return (f"(n − 1)·s − 2p + d·(k − 1) + output_padding + 1 = ({n} − 1)·{stride} − 2·{p} + "
                f"{dilation}·({kernel_size} − 1) + {output_padding} + 1 = {out}")
    if isinstance(padding, str) and padding.strip().lower() == "same":
        before, after = same_padding(n, kernel_size, stride, dilation)
        return (f"'same': ceil(n / s) = ceil({n} / {stride}) = {out}  (zeros: {before} before, "
                f"{after} after)")
    p = _resolve_padding(padding, n, kernel_size, stride, dilation)[0]
    rounding = "ceil" if ceil_mode else "floor"
    inside = n + 2 * p - dilation * (kernel_size - 1) - 1
    return (f"{rounding}(({n} + 2·{p} − {dilation}·({kernel_size} − 1) − 1) / {stride}) + 1 = "
            f"{rounding}({inside} / {stride}) + 1 = {out}"
            + ("  (a last window starting in the padding is dropped)"
               if ceil_mode and out != -(-inside // stride) + 1 else ""))


def _pair_text(rows: int, cols: int) -> str:
    return str(rows) if rows == cols else f"({rows}, {cols})"


def pytorch_call(in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, transposed=False, output_padding=0, bias=True,
                 input_size: tuple[int, int] | None = None) -> str:
    """The ``torch.nn`` line for this layer.

    Keras' "same" with a stride has no PyTorch argument: with ``input_size`` (rows, cols) the
    line gets the explicit ``nn.ZeroPad2d`` that reproduces it.
    """
    kh, kw = _pair(kernel_size, "kernel size")
    sh, sw = _pair(stride, "stride")
    dh, dw = _pair(dilation, "dilation")
    name = "ConvTranspose2d" if transposed else "Conv2d"
    strided = (sh, sw) != (1, 1)
    dilation_arg = [f"dilation={_pair_text(dh, dw)}"] if (dh, dw) != (1, 1) else []
    args = [str(in_channels), str(out_channels), f"kernel_size={_pair_text(kh, kw)}"]
    if strided:
        args.append(f"stride={_pair_text(sh, sw)}")
    prefix = ""
    if isinstance(padding, str):
        same = padding.lower() == "same"  # "valid" is PyTorch's default: no argument
        if same and strided and input_size is None:
            return ("# PyTorch allows padding='same' only with stride 1: pad explicitly with the\n"
                    "# Keras rule (extra zero bottom/right), e.g. nn.ZeroPad2d((left, right, top, bottom))\n"
                    f"nn.{name}(" + ", ".join(args + dilation_arg) + ")")
        if same and strided:
            (top, bottom), (left, right) = (
                same_padding(n, k, s, d) for n, k, s, d in zip(input_size, (kh, kw), (sh, sw), (dh, dw)))
            prefix = (f"nn.ZeroPad2d(({left}, {right}, {top}, {bottom}))  # Keras 'same': "
                      "(left, right, top, bottom)\n")
        elif same:
            args.append("padding='same'")
    else:
        ph, pw = _pair(padding, "padding")
        if (ph, pw) != (0, 0):
            args.append(f"padding={_pair_text(ph, pw)}")
    if transposed and output_padding:
        args.append(f"output_padding={output_padding}")
    args += dilation_arg
    if not bias:
        args.append("bias=False")
    return prefix + f"nn.{name}(" + ", ".join(args) + ")"


def keras_call(out_channels: int, kernel_size, stride=1, padding=0, dilation=1, transposed=False,
               output_padding=0, bias=True) -> str:
    """The ``keras.layers`` line(s). Keras has only "valid" and "same"; other paddings need a
    ZeroPadding2D before (or a Cropping2D after a transposed convolution)."""
    kh, kw = _pair(kernel_size, "kernel size")
    sh, sw = _pair(stride, "stride")
    dh, dw = _pair(dilation, "dilation")
    mode = padding.lower() if isinstance(padding, str) else "valid"
    explicit = (0, 0) if isinstance(padding, str) else _pair(padding, "padding")
    lines = []
    if explicit != (0, 0) and not transposed:
        lines.append(f"layers.ZeroPadding2D(padding={_pair_text(*explicit)})")
    args = [str(out_channels), f"kernel_size={_pair_text(kh, kw)}"]
    if (sh, sw) != (1, 1):
        args.append(f"strides={_pair_text(sh, sw)}")
    args.append(f"padding='{mode}'")
    if transposed:
        # Without output_padding Keras picks its own output size; this pins PyTorch's.
        args.append(f"output_padding={output_padding}")
    if (dh, dw) != (1, 1):
        args.append(f"dilation_rate={_pair_text(dh, dw)}")
    if not bias:
        args.append("use_bias=False")
    lines.append(f"layers.{'Conv2DTranspose' if transposed else 'Conv2D'}(" + ", ".join(args) + ")")
    if explicit != (0, 0) and transposed:
        lines.append(f"layers.Cropping2D(cropping={_pair_text(*explicit)})")
    if (sh, sw) != (1, 1) and (dh, dw) != (1, 1):
        lines.append("# note: Keras refuses strides > 1 together with dilation_rate > 1")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Layer stacks as table rows (the page's editable table).
# ----------------------------------------------------------------------------------------------

TABLE_COLUMNS = ("layer", "size", "kernel", "stride", "padding", "dilation")


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and not value.strip())


def _cell_number(value, what: str, default=None, minimum: int = 1):
    if _blank(value):
        if default is None:
            raise ShapeError(f"{what} is missing.")
        return default
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ShapeError(f"{what} must be a whole number, got {value!r}.") from None
    return _whole(value, what, minimum, MAX_CHANNELS)


def layer_from_row(row: dict) -> Layer:
    """One layer from a table row {layer, size, kernel, stride, padding, dilation}.

    ``size`` is the number of filters (Conv2d) or units (Linear); blanks take the usual defaults
    (kernel 3 for Conv2d and 2 for pooling, stride 1 for Conv2d and the kernel for pooling).
    """
    kind = row.get("layer")
    kind = "" if _blank(kind) else str(kind).strip()
    if kind not in LAYER_TYPES:
        raise ShapeError(f"unknown layer type {kind!r}; choose one of {', '.join(LAYER_TYPES)}.")
    cls = LAYER_TYPES[kind]
    if cls is Linear:
        return Linear(_cell_number(row.get("size"), "units (size)"))
    if not issubclass(cls, _Windowed):
        return cls()
    padding = row.get("padding")
    if _blank(padding):
        padding = 0
    elif isinstance(padding, str) and padding.strip().lower() in ("same", "valid"):
        padding = padding.strip().lower()
    else:
        padding = _cell_number(padding, "padding", minimum=0)
    if cls is Conv2d:
        return Conv2d(_cell_number(row.get("size"), "filters (size)"),
                      _cell_number(row.get("kernel"), "kernel", 3),
                      _cell_number(row.get("stride"), "stride", 1), padding,
                      _cell_number(row.get("dilation"), "dilation", 1))
    kernel = _cell_number(row.get("kernel"), "kernel", 2)
    stride = None if _blank(row.get("stride")) else _cell_number(row.get("stride"), "stride")
    return cls(kernel, stride, padding)


def layers_from_table(rows) -> list[Layer]:
    """Layers from table rows; a ShapeError names the row that is wrong. Empty rows are skipped."""
    layers = []
    for number, row in enumerate(rows, start=1):
        if all(_blank(row.get(column)) for column in TABLE_COLUMNS):
            continue
        try:
            layers.append(layer_from_row(row))
        except ShapeError as exc:
            raise ShapeError(f"Row {number}: {exc}") from None
    return layers


def table_from_layers(layers) -> list[dict]:
    """Table rows describing ``layers`` (the inverse of :func:`layers_from_table`)."""
    rows = []
    for layer in layers:
        row = dict.fromkeys(TABLE_COLUMNS)
        row["layer"] = layer.kind
        if isinstance(layer, Conv2d):
            row["size"] = layer.out_channels
        if isinstance(layer, Linear):
            row["size"] = layer.out_features
        if isinstance(layer, _Windowed):
            kernel, stride, dilation = layer._pairs()
            row["kernel"] = kernel[0]
            row["stride"] = None if layer.stride is None else stride[0]
            row["padding"] = str(_pair(layer.padding, "padding")[0])
            row["dilation"] = dilation[0] if isinstance(layer, Conv2d) else None
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------------
# Where the windows fall along one axis (drawn by vizcore.figures.shapes).
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AxisLayout:
    """One dimension of the picture: what each drawn cell is and where the windows start."""

    kinds: tuple[str, ...]  # "pad", "input" or "inserted" (zeros between inputs, transposed)
    input_index: tuple[int, ...]  # input row/col of each cell, -1 for zeros
    starts: tuple[int, ...]  # first cell of every window
    taps: tuple[int, ...]  # offsets of the kernel taps inside a window (dilation spreads them)

    @property
    def covered(self) -> tuple[bool, ...]:
        hit = [False] * len(self.kinds)
        for start in self.starts:
            for tap in self.taps:
                hit[start + tap] = True
        return tuple(hit)

    def unseen_inputs(self) -> list[int]:
        """Input rows/cols that no kernel tap ever touches."""
        return [i for i, c in zip(self.input_index, self.covered) if i >= 0 and not c]

    def dropped_by_floor(self) -> list[int]:
        """Unseen inputs after the last window: the rows/cols the floor of the formula drops."""
        end = self.starts[-1] + self.taps[-1]
        return [i for pos, i in enumerate(self.input_index) if i >= 0 and pos > end]


def axis_layout(n: int, kernel_size: int, stride: int = 1, padding: int | str = 0,
                dilation: int = 1, transposed: bool = False, output_padding: int = 0) -> AxisLayout:
    """The cells and window positions of one dimension, as in the convolution-arithmetic figures.

    A transposed convolution is drawn as the direct convolution it equals: ``s - 1`` zeros
    inserted between the inputs, ``d(k - 1) - p`` zeros on each side (plus ``output_padding``
    at the end), then a stride-1 convolution.
    """
    out = conv_output_size(n, kernel_size, stride, padding, dilation, False, transposed, output_padding)
    span = effective_kernel_size(kernel_size, dilation)
    taps = tuple(j * dilation for j in range(kernel_size))
    if transposed:
        pad = span - 1 - _resolve_padding(padding, n, kernel_size, stride, dilation)[0]
        if pad < 0:
            raise ShapeError("the padding is larger than d(k - 1): the transposed convolution "
                             "crops its output, which this picture does not show.")
        inner: list[tuple[str, int]] = []
        for i in range(n):
            if i:
                inner += [("inserted", -1)] * (stride - 1)
            inner.append(("input", i))
        cells = [("pad", -1)] * pad + inner + [("pad", -1)] * (pad + output_padding)
        starts = tuple(range(out))
    else:
        before, after = _resolve_padding(padding, n, kernel_size, stride, dilation)
        cells = [("pad", -1)] * before + [("input", i) for i in range(n)] + [("pad", -1)] * after
        starts = tuple(i * stride for i in range(out))
    return AxisLayout(tuple(k for k, _ in cells), tuple(i for _, i in cells), starts, taps)
