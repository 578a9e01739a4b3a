"""Why modern CNNs look the way they do: small filters, 1×1 convolutions, inception modules,
skip connections, and the famous networks that introduced them (deck 004).

Every network here is written as :mod:`vizcore.shapes` layer descriptions, the same ones the
shape calculator uses, plus two composite layers the plain stacks lack:

- :class:`Branches`: several operations on the same input side by side, their outputs
  concatenated along the depth (GoogLeNet's inception module, the deck's "DepthConcat").
- :class:`Residual`: ``x + F(x)`` (ResNet's skip connection), with an optional 1×1 projection on
  the shortcut when ``F`` changes the size or the depth.

Parameters, multiply-adds and depth are counted from these descriptions (never typed in), and
:func:`to_torch` builds the real torch modules from the same descriptions; the tests check every
count against torch's own layers.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vizcore import efficientnet, shapes
from vizcore.shapes import (AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, GlobalAvgPool,
                            Layer, Linear, MaxPool2d, ReLU, ShapeError, Shape, _Window, _whole)

# ----------------------------------------------------------------------------------------------
# Composite layers: parallel branches concatenated in depth, and skip connections.
# ----------------------------------------------------------------------------------------------


def _run(layers, shape: Shape) -> shapes.Summary:
    """The summary of a branch; an empty branch is the identity."""
    return shapes.summarize(list(layers), shape) if layers else shapes.Summary(tuple(shape), ())


def _sequential(layers, shape: Shape) -> nn.Module:
    """The torch modules of a branch (on the current default device), named as in the summary."""
    if not layers:
        return nn.Identity()
    summary = shapes.summarize(list(layers), shape)
    return nn.Sequential(OrderedDict((row.name, row.layer.torch_module(row.input_shape)) for row in summary.rows))


def _composed_windows(layers, shape: Shape):
    """One (rows, cols) window equal to a whole branch: its receptive field, jump and padding."""
    summary = _run(layers, shape)
    if not summary.rows:
        return (_Window(1, 1, 0), _Window(1, 1, 0))
    last = summary.rows[-1]
    if last.receptive_field is None:
        return None
    return tuple(_Window(size, jump, (size - 1) / 2 - start)
                 for size, jump, start in zip(last.receptive_field, last.jump, last.start))


def pad_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Zeros around the maps of ``x`` (N, C, h, w) to make them ``height`` × ``width``: half the
    missing rows above and half below (the odd one below), the same for the columns."""
    dh, dw = height - x.shape[-2], width - x.shape[-1]
    if dh < 0 or dw < 0:
        raise ShapeError("pad_to only adds rows and columns.")
    return F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))


class DepthConcat(nn.Module):
    """Run every branch on the same input and stack their outputs along the channels; maps
    smaller than the largest get zeros around them first (the deck's DepthConcat)."""

    def __init__(self, branches: list[nn.Module]):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [branch(x) for branch in self.branches]
        height, width = max(o.shape[-2] for o in outs), max(o.shape[-1] for o in outs)
        return torch.cat([pad_to(o, height, width) for o in outs], dim=1)


class ResidualBlock(nn.Module):
    """``post(F(x) + shortcut(x))``: the block learns only the change F(x) to its input."""

    def __init__(self, path: nn.Module, shortcut: nn.Module, post: nn.Module):
        super().__init__()
        self.path, self.shortcut, self.post = path, shortcut, post

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(self.path(x) + self.shortcut(x))


def weight_depth(layers) -> int:
    """Layers with weights (convolutions, dense) on the longest path: how papers count depth
    (VGG-16: 13 conv + 3 dense; ResNet-18: 17 conv + 1 dense; a shortcut's projection and batch
    norm are not counted)."""
    depth = 0
    for layer in layers:
        if isinstance(layer, (Conv2d, Linear)):
            depth += 1
        elif isinstance(layer, Branches):
            depth += max(weight_depth(b) for b in layer.branches)
        elif isinstance(layer, Residual):
            depth += max(weight_depth(layer.path), weight_depth(layer.shortcut)) + weight_depth(layer.post)
    return depth


@dataclass(frozen=True)
class Branches(Layer):
    """Several branches on the same input, concatenated in depth (an inception module).

    ``branches`` is a tuple of layer tuples; an empty tuple passes the input through. Outputs
    with different spatial sizes are padded with zeros around them to the largest (DepthConcat).
    """

    branches: tuple
    name: str | None = None
    prefix: ClassVar[str] = "inception"

    def branch_summaries(self, shape: Shape) -> list[shapes.Summary]:
        if not self.branches:
            raise ShapeError("an inception module needs at least one branch.")
        out = []
        for number, branch in enumerate(self.branches, start=1):
            try:
                out.append(_run(branch, shape))
            except ShapeError as exc:
                raise ShapeError(f"branch {number}: {exc}") from None
        return out

    def output_shape(self, shape):
        outs = [s.output_shape for s in self.branch_summaries(shape)]
        if any(len(o) != 3 for o in outs):
            raise ShapeError("every branch must end in feature maps (C, H, W) to be concatenated in depth.")
        return (sum(o[0] for o in outs), max(o[1] for o in outs), max(o[2] for o in outs))

    def param_counts(self, shape):
        sums = self.branch_summaries(shape)
        return sum(s.total_params for s in sums), sum(s.non_trainable_params for s in sums)

    def macs(self, shape, out):
        return sum(s.total_macs for s in self.branch_summaries(shape))

    def windows(self, shape):
        fields = [_composed_windows(b, shape) for b in self.branches]
        return max((f for f in fields if f is not None), key=lambda f: f[0].span, default=None)

    def torch_module(self, shape):
        return DepthConcat([_sequential(b, shape) for b in self.branches])

    def describe(self):
        return f"Inception: {len(self.branches)} branches, concatenated in depth"


@dataclass(frozen=True)
class Residual(Layer):
    """A skip connection: ``post(path(x) + shortcut(x))``; an empty shortcut is the identity."""

    path: tuple
    shortcut: tuple = ()
    post: tuple = ()
    name: str | None = None
    prefix: ClassVar[str] = "block"

    def _parts(self, shape):
        path, short = _run(self.path, shape), _run(self.shortcut, shape)
        if path.output_shape != short.output_shape:
            raise ShapeError(f"the path gives {path.output_shape} but the shortcut {short.output_shape}: "
                             "they cannot be added (project the shortcut with a 1×1 convolution).")
        return path, short, _run(self.post, path.output_shape)

    def output_shape(self, shape):
        return self._parts(shape)[2].output_shape

    def param_counts(self, shape):
        parts = self._parts(shape)
        return sum(p.total_params for p in parts), sum(p.non_trainable_params for p in parts)

    def macs(self, shape, out):
        return sum(p.total_macs for p in self._parts(shape))

    def windows(self, shape):
        return _composed_windows(self.path, shape)

    def torch_module(self, shape):
        mid = _run(self.path, shape).output_shape
        return ResidualBlock(_sequential(self.path, shape), _sequential(self.shortcut, shape),
                             _sequential(self.post, mid))

    def describe(self):
        return f"Residual block ({weight_depth(self.path)} weight layers + skip)"


@dataclass(frozen=True)
class ReLU6(Layer):
    """min(max(0, x), 6): EfficientNet-Lite's activation."""

    name: str | None = None
    prefix: ClassVar[str] = "relu"

    def torch_module(self, shape):
        return nn.ReLU6()


def to_torch(layers, input_shape, device=None) -> nn.Sequential:
    """The real torch network of these layer descriptions (``device="meta"``: no weights)."""
    return shapes.to_torch(list(layers), input_shape, device)


# ----------------------------------------------------------------------------------------------
# The famous networks, from their papers' tables.
# ----------------------------------------------------------------------------------------------

# GoogLeNet (Szegedy et al. 2015, Table 1): #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj.
GOOGLENET_INCEPTIONS = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64), "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}
INCEPTION_BRANCHES = ("1×1", "3×3", "5×5", "pool")


def inception(n1x1: int, n3x3red: int, n3x3: int, n5x5red: int, n5x5: int, pool_proj: int, *,
              reductions: bool = True, use: tuple[bool, bool, bool, bool] = (True, True, True, True),
              name: str | None = None) -> Branches:
    """An inception module: 1×1, 3×3, 5×5 "same" convolutions and 3×3 max pooling side by side.

    With ``reductions`` (GoogLeNet), a 1×1 convolution first shrinks the depth before the 3×3
    and 5×5 convolutions, and one follows the pooling; without them (the "naive" module) the
    3×3 and 5×5 filters see every input channel and the pooling passes all channels through.
    ``use`` switches the four branches (1×1, 3×3, 5×5, pool) on or off. Every convolution is
    followed by a ReLU.
    """
    def conv(filters, k):
        return [Conv2d(filters, k, padding=k // 2), ReLU()]

    branches = []
    if use[0]:
        branches.append(tuple(conv(n1x1, 1)))
    if use[1]:
        branches.append(tuple((conv(n3x3red, 1) if reductions else []) + conv(n3x3, 3)))
    if use[2]:
        branches.append(tuple((conv(n5x5red, 1) if reductions else []) + conv(n5x5, 5)))
    if use[3]:
        branches.append(tuple([MaxPool2d(3, 1, 1)] + (conv(pool_proj, 1) if reductions else [])))
    if not branches:
        raise ShapeError("switch at least one branch on.")
    return Branches(tuple(branches), name=name)


def googlenet() -> list[Layer]:
    """GoogLeNet (Szegedy et al. 2015, Table 1) as used for prediction: no auxiliary classifiers,
    local response normalisation left out (it has no parameters), max pools rounding up."""
    def block(key):
        return inception(*GOOGLENET_INCEPTIONS[key], name=f"inception{key}")

    def pool():
        return MaxPool2d(3, 2, ceil_mode=True)

    return [Conv2d(64, 7, 2, 3), ReLU(), pool(), Conv2d(64, 1), ReLU(), Conv2d(192, 3, padding=1), ReLU(), pool(),
            block("3a"), block("3b"), pool(), *[block(k) for k in ("4a", "4b", "4c", "4d", "4e")], pool(),
            block("5a"), block("5b"), AvgPool2d(7, 1), Flatten(), Dropout(0.4), Linear(1000)]


def _bn_conv(filters: int, k: int, stride: int = 1, relu: bool = True) -> list[Layer]:
    layers = [Conv2d(filters, k, stride, k // 2, bias=False), BatchNorm2d()]
    return layers + [ReLU()] if relu else layers


def resnet_block(in_channels: int, width: int, stride: int, bottleneck: bool, name: str) -> Residual:
    """One ResNet block (He et al. 2016): two 3×3 convolutions (basic), or 1×1 → 3×3 → 1×1 with
    4× wider output (bottleneck; the stride on the first 1×1 as in the paper), each with batch
    norm; the shortcut is the identity, or a strided 1×1 projection (option B) when the size or
    the depth changes; ReLU after the addition."""
    out = width * 4 if bottleneck else width
    if bottleneck:
        path = _bn_conv(width, 1, stride) + _bn_conv(width, 3) + _bn_conv(out, 1, relu=False)
    else:
        path = _bn_conv(width, 3, stride) + _bn_conv(out, 3, relu=False)
    shortcut = () if stride == 1 and in_channels == out else tuple(_bn_conv(out, 1, stride, relu=False))
    return Residual(tuple(path), shortcut, (ReLU(),), name=name)


RESNET_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def resnet(depth: int) -> list[Layer]:
    """ResNet-18/34/50/101/152 (He et al. 2016, Table 1) for 224×224 ImageNet photos."""
    if depth not in RESNET_BLOCKS:
        raise ShapeError(f"ResNet depth must be one of {sorted(RESNET_BLOCKS)}.")
    bottleneck = depth >= 50
    layers: list[Layer] = [*_bn_conv(64, 7, 2), MaxPool2d(3, 2, 1)]
    channels = 64
    for stage, (repeats, width) in enumerate(zip(RESNET_BLOCKS[depth], (64, 128, 256, 512)), start=2):
        for i in range(repeats):
            stride = 2 if stage > 2 and i == 0 else 1
            layers.append(resnet_block(channels, width, stride, bottleneck, f"conv{stage}_{i + 1}"))
            channels = width * 4 if bottleneck else width
    return layers + [GlobalAvgPool(), Linear(1000)]


def efficientnet_lite0() -> list[Layer]:
    """The app's ImageNet network (:mod:`vizcore.efficientnet`) from its own stage table: the stem,
    the inverted-residual blocks (1×1 expand, depthwise k×k, 1×1 project, skip when the size and
    depth stay), the 1×1 head, global pooling and the classifier."""
    def conv(filters, k, stride=1, groups=1, relu=True):
        padding = k // 2 if stride == 1 else "same"  # TensorFlow's SAME, as efficientnet.SameConv2d
        layers = [Conv2d(filters, k, stride, padding, bias=False, groups=groups), BatchNorm2d()]
        return layers + [ReLU6()] if relu else layers

    layers: list[Layer] = conv(efficientnet.STEM_CHANNELS, 3, 2)
    channels, index = efficientnet.STEM_CHANNELS, 0
    for kernel, stride, expansion, out, repeats in efficientnet.STAGES:
        for repeat in range(repeats):
            index += 1
            s, hidden = (stride if repeat == 0 else 1), channels * expansion
            path = (conv(hidden, 1) if expansion != 1 else []) + conv(hidden, kernel, s, groups=hidden) \
                + conv(out, 1, relu=False)
            if s == 1 and channels == out:
                layers.append(Residual(tuple(path), name=f"block{index}"))
            else:
                layers.append(Branches((tuple(path),), name=f"block{index}"))  # one branch: no skip
            channels = out
    return layers + conv(efficientnet.HEAD_CHANNELS, 1) + [GlobalAvgPool(), Linear(1000)]


@dataclass(frozen=True)
class Famous:
    """One famous network: how to build it, its input, what it introduced, what its paper reported."""

    title: str
    year: int
    build: object  # () -> list[Layer]
    input_shape: Shape
    trick: str
    reported: str
    source: str


FAMOUS: dict[str, Famous] = {
    "lenet5": Famous(
        "LeNet-5", 1998, lambda: list(shapes.PRESETS["LeNet-5"]), shapes.PRESET_INPUTS["LeNet-5"],
        "convolutions with shared weights and subsampling, trained end to end by backpropagation",
        "no ImageNet entry (1998); 0.95 % test error on MNIST",
        "LeCun, Bottou, Bengio, Haffner: Gradient-based learning applied to document recognition. "
        "Proc. IEEE 86(11), 1998"),
    "alexnet": Famous(
        "AlexNet", 2012, lambda: list(shapes.PRESETS["AlexNet"]), shapes.PRESET_INPUTS["AlexNet"],
        "ReLU instead of tanh/sigmoid, dropout, data augmentation, training on GPUs",
        "15.3 % top-5 error (ILSVRC-2012 test, 7 networks, two of them pre-trained on a larger ImageNet); "
        "16.4 % for 5 networks; 18.2 % for one network (validation)",
        "Krizhevsky, Sutskever, Hinton: ImageNet classification with deep convolutional neural "
        "networks. NIPS 2012, Table 2"),
    "vgg16": Famous(
        "VGG-16", 2014, lambda: list(shapes.PRESETS["VGG-16 (D)"]), shapes.PRESET_INPUTS["VGG-16 (D)"],
        "only small 3×3 filters, stacked: a large receptive field with fewer weights and more non-linearities",
        "7.3 % top-5 error (ILSVRC-2014 test, the submitted ensemble of 7 networks; 2nd place); 6.8 % "
        "with 2 networks after the challenge",
        "Simonyan, Zisserman: Very deep convolutional networks for large-scale image recognition. "
        "ICLR 2015"),
    "googlenet": Famous(
        "GoogLeNet", 2014, googlenet, (3, 224, 224),
        "inception modules: 1×1, 3×3, 5×5 and pooling in parallel, 1×1 convolutions reducing the depth",
        "6.67 % top-5 error (ILSVRC-2014 test, 7 networks, 144 crops; 1st place); 10.07 % for one "
        "network, one crop (validation)",
        "Szegedy et al.: Going deeper with convolutions. CVPR 2015, Tables 2 and 3"),
    "resnet18": Famous(
        "ResNet-18", 2015, lambda: resnet(18), (3, 224, 224),
        "skip connections (x + F(x)) with batch norm: the gradient reaches every layer",
        "27.88 % top-1 error (ImageNet validation, 10 crops)",
        "He, Zhang, Ren, Sun: Deep residual learning for image recognition. CVPR 2016, Table 2"),
    "resnet50": Famous(
        "ResNet-50", 2015, lambda: resnet(50), (3, 224, 224),
        "bottleneck blocks: 1×1 reduce, 3×3, 1×1 expand, with a skip connection",
        "6.71 % top-5 error (ImageNet validation, 10 crops)",
        "He, Zhang, Ren, Sun: Deep residual learning for image recognition. CVPR 2016, Table 3"),
    "resnet152": Famous(
        "ResNet-152", 2015, lambda: resnet(152), (3, 224, 224),
        "152 layers that still train, thanks to the skip connections",
        "5.71 % top-5 error (validation, 10 crops); 3.57 % for the ensemble (ILSVRC-2015 test, 1st place)",
        "He, Zhang, Ren, Sun: Deep residual learning for image recognition. CVPR 2016, Tables 3 and 5"),
    "imagenet": Famous(
        "EfficientNet-Lite0 (this app's ImageNet network)", 2019, efficientnet_lite0, (3, 224, 224),
        "depthwise separable convolutions in inverted-residual blocks (MobileNetV2), scaled by "
        "EfficientNet's compound rule",
        "24.9 % top-1 error (75.1 % top-1 accuracy, ImageNet validation, float model)",
        "Tan, Le: EfficientNet, ICML 2019; EfficientNet-Lite: tensorflow/tpu repository, "
        "models/official/efficientnet/lite/README.md (2020)"),
}
NAMES = tuple(FAMOUS)


def layers_of(name: str) -> list[Layer]:
    """The layer descriptions of one of :data:`NAMES`."""
    if name not in FAMOUS:
        raise ShapeError(f"unknown network {name!r}; choose one of {', '.join(NAMES)}.")
    return FAMOUS[name].build()


def summary(name: str) -> dict:
    """Depth, learnable parameters and multiply-adds (per image at the paper's input size) of
    one of :data:`NAMES`, counted from the layer descriptions; with what the network introduced
    and the error its paper reported (cited)."""
    info = FAMOUS.get(name)
    layers = layers_of(name)
    s = shapes.summarize(layers, info.input_shape)
    return {"name": name, "title": info.title, "short": info.title.split(" (")[0], "year": info.year, "input_shape": info.input_shape,
            "depth": weight_depth(layers), "params": s.total_params, "mult_adds": s.total_macs,
            "output_shape": s.output_shape, "trick": info.trick, "reported_error": info.reported,
            "source": info.source}


# ----------------------------------------------------------------------------------------------
# Small filters: one k×k layer against a stack of 3×3 layers with the same receptive field.
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FilterStack:
    """A stack of convolutions ("same" padding, stride 1), each followed by a ReLU."""

    kernels: tuple[int, ...]
    receptive_field: int
    weights: int  # without biases: the deck's count
    params: int  # with one bias per filter
    mult_adds: int
    nonlinearities: int
    layers: tuple


def filter_stack(kernels, in_channels: int, out_channels: int, size: int, mid_channels: int | None = None) -> FilterStack:
    """The numbers of a stack of ``kernels`` (e.g. (3, 3, 3)) on a ``size`` × ``size`` map with
    ``in_channels``; every layer but the last has ``mid_channels`` (default ``out_channels``)."""
    kernels = tuple(_whole(k, "kernel size", 1, 99) for k in kernels)
    if not kernels:
        raise ShapeError("a stack needs at least one layer.")
    mid = out_channels if mid_channels is None else mid_channels
    layers: list[Layer] = []
    for i, k in enumerate(kernels):
        layers += [Conv2d(out_channels if i == len(kernels) - 1 else mid, k, padding="same"), ReLU()]
    s = shapes.summarize(layers, (in_channels, size, size))
    biases = sum(row.output_shape[0] for row in s.rows if isinstance(row.layer, Conv2d))
    return FilterStack(kernels, shapes.receptive_field(list(kernels)), s.total_params - biases, s.total_params,
                       s.total_macs, len(kernels), tuple(layers))


def small_filters(k: int, in_channels: int = 1, out_channels: int = 1, size: int = 28,
                  mid_channels: int | None = None) -> tuple[FilterStack, FilterStack]:
    """(one k×k layer, the shortest stack of 3×3 layers that sees at least k×k).

    n stacked 3×3 layers (stride 1) see 2n + 1 pixels: three of them see 7×7 like one 7×7 layer,
    with 3·9 = 27 instead of 49 weights per channel pair and three non-linearities instead of one.
    """
    k = _whole(k, "kernel size", 3, 99)
    n = math.ceil((k - 1) / 2)
    return (filter_stack((k,), in_channels, out_channels, size, mid_channels),
            filter_stack((3,) * n, in_channels, out_channels, size, mid_channels))


# ----------------------------------------------------------------------------------------------
# The 1×1 convolution: a weighted sum along a pixel's fibre.
# ----------------------------------------------------------------------------------------------

def pointwise_filters(in_channels: int, depth: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded 1×1 filters (``depth`` × ``in_channels``) and biases, drawn as torch initialises a
    fresh ``nn.Conv2d(in_channels, depth, 1)`` (uniform ±1/√C), from a private generator."""
    in_channels = _whole(in_channels, "input channels", 1, 100_000)
    depth = _whole(depth, "output depth", 1, 100_000)
    g = torch.Generator().manual_seed(int(seed))
    bound = 1 / math.sqrt(in_channels)
    w = (torch.rand(depth, in_channels, generator=g, dtype=torch.float64) * 2 - 1) * bound
    b = (torch.rand(depth, generator=g, dtype=torch.float64) * 2 - 1) * bound
    return w.float().numpy(), b.float().numpy()


def pointwise(volume: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A 1×1 convolution of ``volume`` (C, H, W): every output map is a weighted sum of the input
    channels, pixel by pixel (``weights`` D × C, ``bias`` D) -> (D, H, W)."""
    volume = np.asarray(volume, dtype=np.float32)
    return (np.tensordot(np.asarray(weights, np.float32), volume, axes=(1, 0))
            + np.asarray(bias, np.float32)[:, None, None]).astype(np.float32)


def fibre_sum(volume: np.ndarray, weights: np.ndarray, bias: np.ndarray, row: int, col: int, out: int) -> dict:
    """One output value of a 1×1 convolution: the fibre ``volume[:, row, col]`` (all channels of
    one pixel), filter ``out``'s weights, their products, and their sum plus the bias."""
    fibre = np.asarray(volume, np.float32)[:, row, col]
    w = np.asarray(weights, np.float32)[out]
    products = fibre * w
    return {"fibre": fibre, "weights": w, "products": products, "bias": float(bias[out]),
            "value": float(products.astype(np.float64).sum() + float(bias[out]))}


def pointwise_counts(in_channels: int, depth: int, height: int, width: int) -> dict:
    """Parameters (C·D + D) and multiply-adds (H·W·C·D) of a 1×1 convolution from C to D channels."""
    s = shapes.summarize([Conv2d(depth, 1)], (in_channels, height, width))
    return {"params": s.total_params, "mult_adds": s.total_macs, "output_shape": s.output_shape}


# ----------------------------------------------------------------------------------------------
# The inception module builder and DepthConcat.
# ----------------------------------------------------------------------------------------------

def inception_report(size: int, channels: int, config, *, reductions: bool = True,
                     use=(True, True, True, True)) -> dict:
    """Each branch's output shape, parameters and multiply-adds, the concatenated output, and the
    totals with and without the 1×1 reductions, for an inception module on ``channels`` ×
    ``size`` × ``size`` (``config``: #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj)."""
    shape = (channels, size, size)
    module = inception(*config, reductions=reductions, use=tuple(use))
    labels = [label for label, on in zip(INCEPTION_BRANCHES, use) if on]
    rows = []
    for label, branch, s in zip(labels, module.branches, module.branch_summaries(shape)):
        rows.append({"branch": label, "layers": " → ".join(layer.describe() for layer in branch
                                                          if not isinstance(layer, ReLU)),
                     "output shape": s.output_shape, "params": s.total_params, "mult_adds": s.total_macs})
    whole = shapes.summarize([module], shape)
    other = shapes.summarize([inception(*config, reductions=not reductions, use=tuple(use))], shape)
    with_r, without_r = (whole, other) if reductions else (other, whole)
    return {"branches": rows, "output_shape": whole.output_shape, "params": whole.total_params,
            "mult_adds": whole.total_macs, "module": module,
            "with_reductions": {"params": with_r.total_params, "mult_adds": with_r.total_macs,
                                "output_shape": with_r.output_shape},
            "without_reductions": {"params": without_r.total_params, "mult_adds": without_r.total_macs,
                                   "output_shape": without_r.output_shape}}


def depth_concat_shape(*shapes_hwc) -> tuple[int, int, int]:
    """The deck's DepthConcat on (height, width, depth) shapes: the largest height and width,
    the depths added. (14, 14, 2) and (16, 16, 3) give (16, 16, 5)."""
    if not shapes_hwc:
        raise ShapeError("give at least one tensor.")
    return (max(s[0] for s in shapes_hwc), max(s[1] for s in shapes_hwc), sum(s[2] for s in shapes_hwc))


def depth_concat(*tensors_hwc: np.ndarray) -> np.ndarray:
    """DepthConcat of (height, width, depth) arrays: zeros around the smaller maps (half on each
    side, the odd one below/right), then stacked along the depth."""
    h, w, _ = depth_concat_shape(*(t.shape for t in tensors_hwc))
    padded = []
    for t in tensors_hwc:
        dh, dw = h - t.shape[0], w - t.shape[1]
        padded.append(np.pad(t, ((dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2), (0, 0))))
    return np.concatenate(padded, axis=2)


# ----------------------------------------------------------------------------------------------
# The deck's MNIST exercise as Keras model.summary() tables.
# ----------------------------------------------------------------------------------------------

MNIST_EXERCISE = {
    # exercises/07_CNN_MNIST a): the fully connected network (dense, batch norm, dropout, ReLU)
    # on the 28·28 = 784 pixels as one vector
    "fully connected network": ([Linear(500), BatchNorm1d(), Dropout(0.3), ReLU(), Linear(50),
                                 BatchNorm1d(), Dropout(0.3), ReLU(), Linear(10)], (784,)),
    # b): the first CNN: one 3×3 "same" convolution with 32 filters, one dense layer
    "CNN with one convolution": ([Conv2d(32, 3, padding="same"), ReLU(), Flatten(), Linear(10)], (1, 28, 28)),
}
_KERAS_TYPE = {"Conv2d": "Conv2D", "Linear": "Dense", "BatchNorm1d": "BatchNormalization",
               "BatchNorm2d": "BatchNormalization", "ReLU": "Activation", "Dropout": "Dropout",
               "Flatten": "Flatten", "MaxPool2d": "MaxPooling2D"}


def _formula(row: shapes.LayerRow) -> str:
    layer, shape = row.layer, row.input_shape
    if isinstance(layer, Conv2d):
        k = shapes._pair(layer.kernel_size, "kernel")
        return f"{layer.out_channels} × ({shape[0]} × {k[0]} × {k[1]}) + {layer.out_channels} = {row.params:,}"
    if isinstance(layer, Linear):
        return f"{shape[0]:,} × {layer.out_features} + {layer.out_features} = {row.params:,}"
    if isinstance(layer, (BatchNorm1d, BatchNorm2d)):
        c = shape[0]
        return (f"4 × {c} = {row.params + row.non_trainable_params:,} ({row.params:,} trainable γ, β; "
                f"{row.non_trainable_params:,} non-trainable running mean, variance)")
    return "0 (nothing to learn)"


def keras_summary(layers, input_shape=(1, 28, 28)) -> dict:
    """Keras ``model.summary()`` of ``layers``: rows (layer name, output shape with None for the
    batch in NHWC, Param # with Keras' batch-norm statistics, the formula), and the totals."""
    s = shapes.summarize(list(layers), input_shape)
    counts: dict[str, int] = {}
    rows = []
    for row in s.rows:
        kind = _KERAS_TYPE.get(row.kind, row.kind)
        base = {"Conv2D": "conv2d", "Dense": "dense", "BatchNormalization": "batch_normalization",
                "Activation": "activation", "Dropout": "dropout", "Flatten": "flatten",
                "MaxPooling2D": "max_pooling2d"}.get(kind, kind.lower())
        counts[base] = counts.get(base, 0) + 1
        shape = "(" + ", ".join("None" if v is None else str(v) for v in row.nhwc) + ")"
        rows.append({"Layer (type)": f"{base}_{counts[base]} ({kind})", "Output Shape": shape,
                     "Param #": row.params + row.non_trainable_params, "formula": _formula(row)})
    return {"rows": rows, "total": s.keras_total_params, "trainable": s.total_params,
            "non_trainable": s.non_trainable_params}


@torch.no_grad()
def stage_output(model: nn.Sequential, x: torch.Tensor, stage: str) -> np.ndarray:
    """The feature volume (C, H, W) after ``stage`` of a sequence of named stages for one input
    (1, C, H, W), run child by child: the shared model is only read, never hooked."""
    names = [name for name, _ in model.named_children()]
    if stage not in names:
        raise ShapeError(f"no stage {stage!r}; the stages are {', '.join(names)}.")
    for name, child in model.named_children():
        x = child(x)
        if name == stage:
            break
    if x.dim() != 4:
        raise ShapeError(f"{stage} gives a flat vector, not feature maps.")
    return x[0].numpy().astype(np.float32)
