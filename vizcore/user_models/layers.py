"""The torch layers a user's network is rebuilt from, where torch has no layer that computes the same.

Keras and TensorFlow differ from torch in three places that change the numbers:

- "same" padding with a stride puts the odd zero at the bottom/right and depends on the input's
  size (:class:`vizcore.efficientnet.SameConv2d`, :class:`SameMaxPool2d`, :class:`SameAvgPool2d`);
  TensorFlow's average pooling divides by the real cells only, never counting padded zeros;
- Keras stores maps channels-last (N, H, W, C), so Flatten lists a map's values pixel by pixel,
  all channels of a pixel together (:class:`ChannelsLastFlatten`);
- input scaling is a layer (Rescaling, Normalization: :class:`Affine`).

Everything else maps onto torch's own layers (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.ReLU…).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vizcore.efficientnet import SameConv2d, same_padding

__all__ = ["SameConv2d", "SameMaxPool2d", "SameAvgPool2d", "ChannelsLastFlatten", "Affine", "same_pads"]


def same_pads(height: int, width: int, kernel: tuple[int, int], stride: tuple[int, int],
              dilation: tuple[int, int] = (1, 1)) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) zeros of TensorFlow's "same" padding for an input of height × width."""
    top, bottom = same_padding(height, kernel[0], stride[0], dilation[0])
    left, right = same_padding(width, kernel[1], stride[1], dilation[1])
    return left, right, top, bottom


class SameMaxPool2d(nn.MaxPool2d):
    """Max pooling with TensorFlow's "same" padding: the padded cells never win (they are −∞)."""

    tensorflow_same = True

    def __init__(self, kernel_size, stride):
        super().__init__(kernel_size, stride, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = same_pads(x.shape[-2], x.shape[-1], _pair(self.kernel_size), _pair(self.stride))
        return super().forward(F.pad(x, pads, value=-math.inf))


class SameAvgPool2d(nn.AvgPool2d):
    """Average pooling with TensorFlow's "same" padding: a window at the edge averages only the
    cells that are in the map (TensorFlow never counts the padding)."""

    tensorflow_same = True

    def __init__(self, kernel_size, stride):
        super().__init__(kernel_size, stride, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = same_pads(x.shape[-2], x.shape[-1], _pair(self.kernel_size), _pair(self.stride))
        if not any(pads):
            return super().forward(x)
        ones = torch.ones_like(x[:1, :1])
        return super().forward(F.pad(x, pads)) / super().forward(F.pad(ones, pads))


class ChannelsLastFlatten(nn.Flatten):
    """Flatten as Keras does: a (C, H, W) map listed pixel by pixel, each pixel's C channels together
    (Keras keeps maps as (H, W, C)). The Dense layer after it was trained on that order."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = x.permute(0, 2, 3, 1)
        return x.flatten(1)


class Affine(nn.Module):
    """``x * scale + offset`` per channel: Keras' Rescaling (e.g. scale 1/255) and Normalization
    (scale 1/√variance, offset −mean/√variance). No weights to learn: buffers."""

    def __init__(self, scale: torch.Tensor | float, offset: torch.Tensor | float):
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32).reshape(-1))
        self.register_buffer("offset", torch.as_tensor(offset, dtype=torch.float32).reshape(-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2) if self.scale.numel() > 1 or self.offset.numel() > 1 else (1,)
        return x * self.scale.view(shape) + self.offset.view(shape)

    def extra_repr(self) -> str:
        return f"channels={max(self.scale.numel(), self.offset.numel())}"


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)
