"""Saliency maps (Simonyan, Vedaldi & Zisserman 2014): how much each input value moves the class score.

The lecture's recipe: forward the image through the trained CNN, set the gradient of the
class's score to 1, backpropagate to the image; the gradient that arrives is the saliency map
(shown as its absolute value, maximised over the colour channels: :func:`heatmap`).

The score is the class's logit, before softmax (Simonyan et al. do the same, and so does
captum): the softmax output also falls when *other* classes gain, which muddles the map.

Every function here differentiates with ``torch.autograd.grad`` with respect to the input only:
no hook, no ``requires_grad`` change on the model's parameters, no ``.grad`` left behind, so
the shared model can serve other students' threads at the same time.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ._base import ExplainError, as_targets, check_input, check_targets

Target = int | Sequence[int] | torch.Tensor
Forward = Callable[[torch.Tensor], torch.Tensor]


def fast_layout(x: torch.Tensor) -> torch.Tensor:
    """``x`` detached, in channels-last memory order when it holds images.

    CPU convolutions run faster on channels-last tensors (same values up to float rounding);
    the gradient with respect to ``x`` comes back in the same order. Copied into a fresh
    channels-last tensor: with one channel, ``contiguous(memory_format=...)`` would keep the
    NCHW strides (both layouts fit them) and the convolutions would stay in NCHW.
    """
    x = x.detach()
    if x.ndim != 4:
        return x
    return torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=torch.channels_last).copy_(x)


def prepare(model: nn.Module, x: torch.Tensor, target: Target) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked input (detached, never the caller's tensor) and one target class per image."""
    check_input(model, x)
    return x.detach(), as_targets(target, x.shape[0])


def class_scores(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Each image's logit of its own target class, shape (N,)."""
    if logits.ndim != 2:
        raise ExplainError(f"The model must output one score per class (N, classes), got shape "
                           f"{tuple(logits.shape)}.")
    check_targets(targets, logits.shape[1])
    return logits.gather(1, targets[:, None].to(logits.device))[:, 0]


def input_gradient(forward: Forward, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """d score / d x for a batch, each image's gradient of its own target score.

    The scores are summed before one backward pass: images in a batch do not interact (an
    eval-mode model), so each image's slice of the gradient is its own score's gradient.
    """
    with torch.enable_grad():  # also when the caller runs under torch.no_grad()
        x = x.detach().requires_grad_()  # a new leaf: the caller's tensor is not marked
        scores = class_scores(forward(x), targets)
        (grad,) = torch.autograd.grad(scores.sum(), x)
    return grad.contiguous()


def gradient(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    """The vanilla saliency map: d logit_target / d x, signed, shape (N, C, H, W).

    Equal to captum's ``Saliency(model).attribute(x, target, abs=False)`` (captum takes the
    absolute value by default; :func:`heatmap` does that for display).
    """
    x, targets = prepare(model, x, target)
    return input_gradient(model, fast_layout(x), targets)


def input_x_gradient(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    """Gradient times input, shape (N, C, H, W): the first-order share of each value in the score.

    Equal to captum's ``InputXGradient(model).attribute(x, target)``. ``x`` is the normalised
    input, so a pixel at the data set's mean colour (0 after normalisation) gets no share.
    """
    x, targets = prepare(model, x, target)
    return input_gradient(model, fast_layout(x), targets) * x
