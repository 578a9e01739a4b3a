"""What every explanation method shares: checking its input and running a model without hooks.

The pages share one cached model between all students' sessions (threads). A forward hook, a
swapped module or a flag set on that model would be seen by every other thread's forward pass,
so nothing here changes the model: an ``nn.Sequential`` is run child by child instead, which
hands us any layer's output without a hook.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ExplainError(ValueError):
    """An input an explanation method cannot use, with a message a student understands."""


def check_input(model: nn.Module, x: torch.Tensor) -> None:
    """Refuse anything but a finite float batch (N, C, H, W) for an ``nn.Module``."""
    if not isinstance(model, nn.Module):
        raise ExplainError("The model must be a PyTorch module.")
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ExplainError(f"The input must be a batch of images (N, C, H, W), got {shape}.")
    if not x.is_floating_point():
        raise ExplainError(f"The input must hold floating-point numbers, got {x.dtype}.")
    if x.shape[0] == 0:
        raise ExplainError("The batch holds no image.")
    if not torch.isfinite(x).all():
        raise ExplainError("The input holds NaN or infinite values.")


def as_targets(target: int | Sequence[int] | torch.Tensor, n: int) -> torch.Tensor:
    """The class to explain for each of ``n`` images, as a (n,) tensor of indices.

    An int explains the same class in every image; a sequence or tensor gives one per image.
    """
    if isinstance(target, bool):
        raise ExplainError("The target class must be a class index, not True/False.")
    if isinstance(target, int):
        return torch.full((n,), target, dtype=torch.long)
    try:
        targets = torch.as_tensor(target)
    except (TypeError, ValueError, RuntimeError):
        raise ExplainError("The target must be a class index or one index per image.") from None
    if targets.is_floating_point() or targets.dtype == torch.bool:
        raise ExplainError("Class indices must be whole numbers.")
    targets = targets.reshape(-1).long()
    if targets.numel() == 1:
        return targets.expand(n).clone()
    if targets.numel() != n:
        raise ExplainError(f"Got {targets.numel()} target classes for {n} images.")
    return targets


def check_targets(targets: torch.Tensor, num_classes: int) -> None:
    """Refuse a class index outside 0 … num_classes − 1."""
    if targets.numel() and (targets.min() < 0 or targets.max() >= num_classes):
        raise ExplainError(f"Class index {int(targets.max() if targets.max() >= num_classes else targets.min())} "
                           f"is outside 0 … {num_classes - 1}.")


def layer_names(model: nn.Module) -> list[str]:
    """The names of the model's layers in the order data flows through them."""
    return [name for name, _ in model.named_children()]


def run_layers(model: nn.Module, x: torch.Tensor, capture: str | None = None
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The model's output for ``x`` and, if asked, the output of its child layer ``capture``.

    An ``nn.Sequential`` is run child by child, so the captured output stays in the autograd
    graph (Grad-CAM differentiates with respect to it) and no hook is ever registered.
    """
    if capture is None:
        return model(x), None
    if not isinstance(model, nn.Sequential):
        raise ExplainError("Only a model built as a sequence of named layers can show one layer's output.")
    captured = None
    for name, layer in model.named_children():
        x = layer(x)
        if name == capture:
            captured = x
    if captured is None:
        raise ExplainError(f"The model has no layer named {capture!r}; it has {', '.join(layer_names(model))}.")
    return x, captured
