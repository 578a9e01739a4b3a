"""Grad-CAM (Selvaraju et al. 2017): which regions of a layer's maps the class relies on.

Take a layer's feature maps A_k (one per channel k) and the gradient of the class score with
respect to them. The average gradient over a map is that channel's importance α_k; the map
is ReLU(Σ_k α_k A_k): the channels that raise the score, weighted by how much. It has the
layer's coarse resolution (26×26 at the shapes model's last convolution) and is upsampled
bilinearly to lie over the input.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._base import ExplainError, layer_names
from .gradient import Target, class_scores, fast_layout, prepare


def map_layers(model: nn.Module, input_shape: tuple[int, int, int]) -> dict[str, tuple[int, int]]:
    """The layers whose output are maps (N, C, h, w), with their (h, w) for one input shape.

    These are the layers Grad-CAM can use (convolutions, their ReLUs, pooling); an empty dict
    means the model has no such layer (e.g. a plain multilayer perceptron).
    """
    if not isinstance(model, nn.Sequential):
        return {}
    sizes = {}
    with torch.no_grad():
        out = torch.zeros((1,) + tuple(input_shape))
        for name, layer in model.named_children():
            out = layer(out)
            if out.ndim == 4:
                sizes[name] = (int(out.shape[2]), int(out.shape[3]))
    return sizes


def grad_cam(model: nn.Module, x: torch.Tensor, target: Target, layer: str, *,
             upsample: bool = True) -> torch.Tensor:
    """Grad-CAM of ``layer`` (a name from ``model.named_children()``), shape (N, H, W).

    Equal to ``LayerAttribution.interpolate(LayerGradCam(model, model.<layer>).attribute(x,
    target, relu_attributions=True), (H, W), "bilinear")[:, 0]`` in captum (whose defaults
    are no ReLU and nearest-neighbour upsampling). ``upsample=False`` returns the map at the
    layer's own resolution (N, h, w).
    """
    x, targets = prepare(model, x, target)
    if not isinstance(model, nn.Sequential):
        raise ExplainError("Grad-CAM needs a model built as a sequence of named layers.")
    names = layer_names(model)
    if layer not in names:
        raise ExplainError(f"The model has no layer named {layer!r}; it has {', '.join(names)}.")
    with torch.enable_grad():
        out = fast_layout(x).requires_grad_()
        maps = None
        for name, child in model.named_children():  # child by child: the layer's output without a hook
            out = child(out)
            if name == layer:
                maps = out
        if maps.ndim != 4:
            raise ExplainError(f"Grad-CAM needs a layer with feature maps (a convolution, its ReLU or a "
                               f"pooling layer); {layer} outputs shape {tuple(maps.shape[1:])}.")
        (grads,) = torch.autograd.grad(class_scores(out, targets).sum(), maps)
    importance = grads.mean(dim=(2, 3), keepdim=True)  # α_k: one weight per channel and image
    cam = torch.relu((importance * maps.detach()).sum(dim=1, keepdim=True))
    if upsample:
        cam = F.interpolate(cam, tuple(x.shape[2:]), mode="bilinear")
    return cam[:, 0].contiguous()
