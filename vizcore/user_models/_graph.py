"""A converted network's graph as the app's form: a sequence of named stages.

A converter (Keras, ONNX) produces the layers in the order they are computed, each with the
names of the tensors it reads. Where one tensor alone carries everything the rest of the network
needs (a *cut*), one stage ends and the next begins. A stretch that is a single layer becomes a
stage of its own, named after the layer; a stretch where the data branches and meets again (a
residual or Inception block) becomes one :class:`vizcore.blocks.GraphBlock` stage, named after
the layer where its branches meet.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field

from torch import nn

from vizcore.blocks import BLOCK_INPUT, GraphBlock, Merge
from vizcore.models import ModelError

INPUT = "__input__"  # the network's input in a converter's wiring


@dataclass
class Node:
    """One layer of a converted network: its name, the torch layer, the tensors it reads."""
    name: str
    layer: nn.Module
    inputs: list[str] = field(default_factory=list)


def module_name(name: str, taken: set[str]) -> str:
    """``name`` as a torch child name (no dots; not empty), unique among ``taken``."""
    base = re.sub(r"[^0-9A-Za-z_\-]", "_", name)[:60] or "layer"
    candidate, n = base, 1
    while candidate in taken or candidate == BLOCK_INPUT:
        n += 1
        candidate = f"{base}_{n}"
    taken.add(candidate)
    return candidate


def to_stages(nodes: list[Node], output: str) -> nn.Sequential:
    """The network as an ``nn.Sequential`` of named stages (see the module's docstring).

    ``nodes`` are in the order they are computed; the network's input is :data:`INPUT`,
    ``output`` names the node whose tensor the network returns. Nodes the output does not need
    are left out.
    """
    by_name = {n.name: n for n in nodes}
    if output not in by_name:
        raise ModelError("The network's output is not computed by any of its layers.")
    needed, todo = set(), [output]
    while todo:  # only what the output depends on
        name = todo.pop()
        if name == INPUT or name in needed:
            continue
        if name not in by_name:
            raise ModelError(f"A layer reads a tensor {name[:40]!r} that no layer computes.")
        needed.add(name)
        todo.extend(by_name[name].inputs)
    order = [n for n in nodes if n.name in needed]
    last_use = {}
    for index, node in enumerate(order):
        for source in node.inputs:
            last_use[source] = index
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    taken: set[str] = set()
    start, current = 0, INPUT  # the stretch begins at order[start], reading the cut tensor `current`
    produced = {INPUT}
    for index, node in enumerate(order):
        produced.add(node.name)
        if any(last_use.get(s, -1) > index for s in produced - {node.name}):
            continue  # another tensor computed so far is still needed later: not a cut
            continue
        stretch = order[start:index + 1]
        if len(stretch) == 1 and node.inputs == [current] and not isinstance(node.layer, Merge):
            stages[module_name(node.name, taken)] = node.layer
        else:
            inner: set[str] = set()
            names = {n.name: module_name(n.name, inner) for n in stretch}
            names[current] = BLOCK_INPUT
            wiring = []
            for n in stretch:
                if any(s not in names for s in n.inputs):
                    raise ModelError(f"Layer {n.name[:40]!r} reads a tensor from before the block it sits in; "
                                     "such a network cannot be cut into stages.")
                wiring.append((names[n.name], n.layer, [names[s] for s in n.inputs]))
            stages[module_name(node.name, taken)] = GraphBlock(wiring)
        start, current = index + 1, node.name
    if current != output:
        raise ModelError("The network's output could not be reached stage by stage.")
    return nn.Sequential(stages)
