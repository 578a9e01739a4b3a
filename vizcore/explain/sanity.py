"""The sanity check of Adebayo et al. (2018): does a map change when the model forgets what it learned?

Cascading randomisation: re-initialise the layers' weights from the top (the logits) down,
one more layer each step, and compare each method's map with the trained model's map. A map
that explains the *model* must change once the weights are random; one that stays similar
shows the image (its edges) more than what the network learned. The comparison is the
Spearman rank correlation of the two maps' values (1: same ranking of pixels, 0: unrelated).

Everything happens on a deep copy: the shared model is only read.
"""
from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from torch import nn

from ._base import ExplainError, check_input

MapMethod = Callable[[nn.Module, torch.Tensor, torch.Tensor], "torch.Tensor | np.ndarray"]


@dataclass
class SanityCheck:
    """Maps and correlations along the cascade.

    ``layers[k]`` is the layer randomised at step k + 1 (top down; step k + 1 has all of
    ``layers[:k + 1]`` random, the last step every layer). ``maps[method]`` is (steps + 1, N,
    H, W) with the trained model's map first; ``rho[method]`` is (steps, N): Spearman's ρ of
    each step's map with the trained one (NaN where a map is constant: no ranking).
    """
    layers: list[str]
    maps: dict[str, np.ndarray]
    rho: dict[str, np.ndarray]


def parameter_layers(model: nn.Module) -> list[str]:
    """The children that hold weights, in the order data flows (the ones the cascade randomises)."""
    return [name for name, layer in model.named_children() if any(True for _ in layer.parameters())]


def reinitialise(layer: nn.Module, generator: torch.Generator) -> None:
    """Draw ``layer``'s weights anew as PyTorch initialises that layer type, from ``generator``.

    Convolutions and linear layers: Kaiming-uniform weights and uniform biases in ±1/√fan_in
    (their ``reset_parameters``, which would use the global generator). Batch norm: weight 1,
    bias 0, fresh running statistics. Anything else: N(0, 0.02²).
    """
    with torch.no_grad():
        for module in layer.modules():
            if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
                if module.bias is not None:
                    bound = 1 / math.sqrt(module.weight[0].numel())
                    module.bias.uniform_(-bound, bound, generator=generator)
            elif isinstance(module, nn.modules.batchnorm._NormBase):
                module.reset_parameters()  # no random numbers involved
            else:
                for p in module.parameters(recurse=False):
                    p.normal_(0.0, 0.02, generator=generator)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps' values (NaN if either map is constant)."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.spearmanr(a, b).statistic)


def _as_numpy(m) -> np.ndarray:
    return (m.detach().cpu().numpy() if isinstance(m, torch.Tensor) else np.asarray(m)).astype(np.float32)


def cascading_randomization(model: nn.Module, x: torch.Tensor, target: torch.Tensor | int,
                            methods: Mapping[str, MapMethod], *, seed: int = 0) -> SanityCheck:
    """Each method's map (N, H, W) after randomising the layers from the top down, one by one.

    ``methods`` maps a name to ``f(model, x, target) -> (N, H, W)`` (e.g. the saliency map
    through :func:`heatmap`). The layers are re-initialised on a deep copy of ``model`` with a
    private generator seeded by ``seed``; the model passed in is never changed.
    """
    check_input(model, x)
    if not methods:
        raise ExplainError("Choose at least one method for the sanity check.")
    layers = parameter_layers(model)
    if not layers:
        raise ExplainError("The model has no layer with weights to randomise.")
    copy_ = copy.deepcopy(model)
    children = dict(copy_.named_children())
    generator = torch.Generator().manual_seed(int(seed))
    maps: dict[str, list[np.ndarray]] = {name: [_as_numpy(f(copy_, x, target))] for name, f in methods.items()}
    for name in reversed(layers):
        reinitialise(children[name], generator)
        for method, f in methods.items():
            maps[method].append(_as_numpy(f(copy_, x, target)))
    stacked = {method: np.stack(m) for method, m in maps.items()}
    rho = {method: np.array([[spearman(m[0, i], m[k, i]) for i in range(m.shape[1])]
                             for k in range(1, m.shape[0])])
           for method, m in stacked.items()}
    return SanityCheck(layers=list(reversed(layers)), maps=stacked, rho=rho)
