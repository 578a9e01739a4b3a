"""Blocks: stages whose data splits into branches that are combined again.

A plain CNN is a chain: each layer feeds the next. Modern CNNs also have *blocks* where the data
takes two or more paths that meet again: a residual block adds its input to what its layers
computed (``x + path(x)``), an Inception block concatenates the maps of several branches, a
squeeze-and-excitation block multiplies. To the rest of the network a block is one stage: one
tensor in, one tensor out.

Every page runs a model stage by stage. Inside a block, methods that change how a layer acts
(guided backpropagation guides each ReLU) must still reach every layer of every branch. So a
block never calls its layers itself: it hands each layer to a *step* function it is given
(:meth:`Block.run`), and combines the results. ``forward`` is ``run`` with the plain step.
The app's ImageNet network (:class:`vizcore.efficientnet.InvertedResidual`) and the networks
converted from users' files (:class:`GraphBlock`) share this protocol, so a method written
against it works on both without knowing either.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

Step = Callable[[nn.Module, torch.Tensor], torch.Tensor]


def plain_step(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run ``layer`` on ``x`` as its own forward pass does."""
    return layer(x)


class Block(nn.Module):
    """A stage with branches. Subclasses define :meth:`run` and :meth:`paths`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x, plain_step)

    def run(self, x: torch.Tensor, step: Step) -> torch.Tensor:
        """The block's output for ``x``, every layer called as ``step(layer, tensor)``."""
        raise NotImplementedError

    def paths(self) -> list[list[nn.Module]]:
        """Every way from the block's input to its output, as the layers passed in order (an
        empty list is the skip connection). The receptive field of a block is the union of its
        paths' fields."""
        raise NotImplementedError


class Merge(nn.Module):
    """Where branches meet: a function of several tensors (no weights, nothing to guide)."""

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class Add(Merge):
    """The sum of the branches (a residual connection)."""

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out


class Multiply(Merge):
    """The element-wise product of the branches (a gate, as in squeeze-and-excitation)."""

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = out * x
        return out


class Concatenate(Merge):
    """The branches' maps side by side along ``dim`` (channels, in NCHW: dim 1)."""

    def __init__(self, dim: int = 1):
        super().__init__()
        self.dim = dim

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat(list(inputs), dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


BLOCK_INPUT = "input"  # the name of the block's input in a GraphBlock's wiring


class GraphBlock(Block):
    """A block given as a small graph: layers in the order they are computed, each with the names
    of the tensors it reads (``"input"`` is the block's input, any other name a layer's output).
    A :class:`Merge` reads several tensors; every other layer reads one. The last layer's output
    is the block's output.

    >>> block = GraphBlock([("conv", nn.Conv2d(4, 4, 3, padding=1), ["input"]),
    ...                     ("add", Add(), ["input", "conv"])])  # x + conv(x)
    """

    def __init__(self, wiring: Sequence[tuple[str, nn.Module, Sequence[str]]]):
        super().__init__()
        if not wiring:
            raise ValueError("A block needs at least one layer.")
        self.layers = nn.ModuleDict()
        self.inputs: dict[str, tuple[str, ...]] = {}
        for name, layer, inputs in wiring:
            if name == BLOCK_INPUT or name in self.layers:
                raise ValueError(f"Layer name {name!r} is used twice in one block.")
            if any(i != BLOCK_INPUT and i not in self.layers for i in inputs):
                raise ValueError(f"Layer {name!r} reads a tensor computed after it.")
            if not inputs or (len(inputs) != 1 and not isinstance(layer, Merge)):
                raise ValueError(f"Layer {name!r} must read one tensor (a merge reads several).")
            self.layers[name] = layer
            self.inputs[name] = tuple(inputs)
        self.output = name

    def run(self, x: torch.Tensor, step: Step) -> torch.Tensor:
        values = {BLOCK_INPUT: x}
        for name, layer in self.layers.items():
            sources = [values[i] for i in self.inputs[name]]
            values[name] = layer(sources) if isinstance(layer, Merge) else step(layer, sources[0])
        return values[self.output]

    def paths(self) -> list[list[nn.Module]]:
        def ways(name: str) -> list[list[nn.Module]]:
            if name == BLOCK_INPUT:
                return [[]]
            layer = self.layers[name]
            own = [] if isinstance(layer, Merge) else [layer]
            return [way + own for source in self.inputs[name] for way in ways(source)]
        return ways(self.output)

    def extra_repr(self) -> str:
        return "; ".join(f"{n} <- {', '.join(i)}" for n, i in self.inputs.items())
