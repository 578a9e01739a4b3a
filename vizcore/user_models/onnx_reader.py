"""ONNX networks (``torch.onnx.export``, tf2onnx) rebuilt from torch layers.

The file is parsed as data (``onnx.load_model_from_string``: a protobuf) and read node by node;
nothing in it runs. Weights are read only from the file itself: a tensor that points at
"external data" (another file, by a path the file names) is refused, and every tensor's size is
computed from its stated dimensions before a byte of it is converted.

Each ONNX operation becomes the torch layer that computes the same (``Conv`` → ``nn.Conv2d``,
``Gemm`` or ``MatMul`` + ``Add`` → ``nn.Linear``, ``Add`` of two maps → a residual merge…);
small computations on constants (a Shape → Gather → Concat feeding a Reshape, as
``x.view(x.size(0), -1)`` exports) are folded. A TensorFlow graph (tf2onnx) takes its pictures
as (N, H, W, C) and transposes them to (N, C, H, W) first: the rebuilt network takes (N, C, H, W)
directly, and a ``Transpose(0, 2, 3, 1)`` before the flattening ``Reshape`` becomes a
:class:`~vizcore.user_models.layers.ChannelsLastFlatten`. A final ``Softmax`` is left out: the
network returns logits.

When the file states the picture's size, a zero picture runs through every layer as it is built,
so a layer that does not fit what it reads is refused with its name, and explicit asymmetric
padding that is TensorFlow's "same" (tf2onnx writes it so) becomes the app's "same" layers.
"""
from __future__ import annotations

import math
import operator
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from vizcore import blocks
from vizcore.models import ModelError

from . import MAX_LAYERS, MAX_PARAMETERS, Converted
from ._graph import INPUT, Node, module_name, to_stages
from .layers import Affine, ChannelsLastFlatten, SameAvgPool2d, SameConv2d, SameMaxPool2d, same_pads

MAX_NODES = MAX_LAYERS * 4   # ONNX spreads one layer over several nodes (constants, shapes, reshapes)
MIN_OPSET = 7
MAX_MAP_VALUES = 32 * 2**20  # numbers one layer computes for one picture (VGG-16 at 224 px: 3.2 million)

# TensorProto data types: numpy type, and the typed field that holds the numbers when raw_data is empty
_TYPES: dict[int, tuple[Any, str]] = {
    1: (np.float32, "float_data"), 2: (np.uint8, "int32_data"), 3: (np.int8, "int32_data"),
    4: (np.uint16, "int32_data"), 5: (np.int16, "int32_data"), 6: (np.int32, "int32_data"),
    7: (np.int64, "int64_data"), 9: (np.bool_, "int32_data"), 10: (np.float16, "int32_data"),
    11: (np.float64, "double_data"), 12: (np.uint32, "uint64_data"), 13: (np.uint64, "uint64_data"),
}
_TYPE_NAMES = {0: "undefined", 8: "text", 14: "complex64", 15: "complex128", 16: "bfloat16"}
_FLOAT_INPUTS = (1, 10, 11)
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL

# Operations computed here on constants (shape arithmetic, weight preparation), never as layers.
_FOLDABLE = {"Identity", "Cast", "Unsqueeze", "Squeeze", "Concat", "Gather", "Slice", "Reshape", "Transpose",
             "Add", "Sub", "Mul", "Div", "Neg", "Sqrt", "Reciprocal", "Shape", "Flatten", "ConstantOfShape"}
# Activations that are one torch layer without settings; the others have a _Reader._op_* each.
_PLAIN_ACTIVATIONS = {"Relu": nn.ReLU, "Tanh": nn.Tanh, "Softplus": nn.Softplus, "Softsign": nn.Softsign,
                      "Mish": nn.Mish, "HardSwish": nn.Hardswish}
# Operations on the picture's maps that the converter reads as layers (see _Reader._op_*).
_LAYOUT_NEUTRAL = {"Identity", "Cast", "Dropout", "Mul", "Add", "Sub", "Div"}
_NCHW_OPS = {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization",
             "LRN", "Pad"}


def _show(text: Any) -> str:
    """A name from the file, safe to print in a sentence (no markup, bounded length)."""
    clean = re.sub(r"[^0-9A-Za-z_./:\- ]", "_", str(text))
    return "'" + (clean[:50] + ("…" if len(clean) > 50 else "")) + "'"


def _first_line(err: BaseException) -> str:
    return (str(err).splitlines() or [type(err).__name__])[0][:160]


@dataclass
class _T:
    """A tensor of the picture's data flow: the node computing it (or INPUT), its rank, and
    whether ONNX holds it as (N, H, W, C) while the rebuilt network holds it as (N, C, H, W)."""
    node: str
    rank: int
    nhwc: bool = False


# --- reading the file -------------------------------------------------------------------------

def convert(data: bytes) -> Converted:
    """The ONNX network in ``data`` as the app's stages (:class:`vizcore.user_models.Converted`).

    Raises :class:`ModelError` with a sentence for a student for anything it cannot read."""
    return _Reader(_parse(data)).convert()


def _parse(data: bytes):
    import onnx

    try:
        model = onnx.load_model_from_string(bytes(data))
    except Exception:  # noqa: BLE001 - protobuf raises DecodeError, RuntimeError, ValueError…
        raise ModelError("This file is not an ONNX network, or it is broken (truncated?): it could not be "
                         "read as one.") from None
    if not model.HasField("graph"):
        raise ModelError("This file holds no ONNX graph: it is not an ONNX network, or it is broken.")
    if not model.graph.node:
        raise ModelError("This ONNX file holds no layers: its graph is empty.")
    return model


def _count(tensor, what: str) -> int:
    """The number of values a TensorProto says it holds, from its dims (nothing converted)."""
    if tensor.data_location == _EXTERNAL or len(tensor.external_data):
        raise ModelError(f"The weights {_show(what)} are stored outside the .onnx file (\"external data\"), "
                         "which the app never opens. Export the network with its weights inside the file "
                         "(a network under 2 GB: torch.onnx.export(..., dynamo=False) does so).")
    if tensor.HasField("segment"):
        raise ModelError(f"The tensor {_show(what)} is split into segments; the app reads whole tensors only.")
    if len(tensor.dims) > 8 or any(d < 0 for d in tensor.dims):
        raise ModelError(f"The tensor {_show(what)} has an impossible shape {tuple(tensor.dims)[:10]}.")
    return math.prod(tensor.dims)


def _array(tensor, what: str) -> np.ndarray:
    """A TensorProto's numbers as a numpy array: size checked against its dims first, floats finite."""
    count = _count(tensor, what)
    if count > MAX_PARAMETERS:
        raise ModelError(f"The tensor {_show(what)} holds {count:,} numbers; networks up to "
                         f"{MAX_PARAMETERS:,} parameters open here.")
    if tensor.data_type not in _TYPES:
        kind = _TYPE_NAMES.get(tensor.data_type, f"type {tensor.data_type}")
        raise ModelError(f"The tensor {_show(what)} holds {kind} values, which the app does not read.")
    dtype, field_name = _TYPES[tensor.data_type]
    dtype = np.dtype(dtype).newbyteorder("<")
    if tensor.raw_data:
        if len(tensor.raw_data) != count * dtype.itemsize:
            raise ModelError(f"The tensor {_show(what)} holds {len(tensor.raw_data)} bytes where its shape "
                             f"{tuple(tensor.dims)} needs {count * dtype.itemsize}: the file is broken.")
        array = np.frombuffer(tensor.raw_data, dtype=dtype).copy()
    else:
        values = getattr(tensor, field_name)
        if len(values) != count:
            raise ModelError(f"The tensor {_show(what)} holds {len(values)} numbers where its shape "
                             f"{tuple(tensor.dims)} needs {count}: the file is broken.")
        if tensor.data_type == 10:  # float16 stored as its bits
            array = np.array(values, dtype=np.uint16).view(np.float16)
        else:
            array = np.array(values, dtype=dtype)
    array = array.reshape(tuple(tensor.dims))
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ModelError(f"The weights {_show(what)} hold NaN or infinite values: the network is broken "
                         "(did its training diverge?).")
    return array


def _attributes(node) -> dict[str, Any]:
    from onnx import helper

    out = {}
    for attribute in node.attribute:
        try:
            out[attribute.name] = helper.get_attribute_value(attribute)
        except Exception:  # noqa: BLE001 - an attribute of an unknown kind
            raise ModelError(f"Layer {_show(node.name)} ({_show(node.op_type)}) has an attribute "
                             f"{_show(attribute.name)} the app cannot read.") from None
    return out


def _scope(name: str) -> str | None:
    """A readable layer name from an ONNX node's name: the module path for torch's export
    ("/layer1/layer1.0/conv1/Conv" → "layer1.0.conv1"), the Keras layer for tf2onnx
    ("sequential/conv2d/BiasAdd" → "conv2d"), else the name itself."""
    pieces = [p for p in name.split("/") if p]
    if name.startswith("/"):
        path = ""
        for piece in pieces[:-1]:
            path = piece if not path or piece.startswith(path + ".") else f"{path}.{piece}"
        return path or None
    pieces = [p for p in pieces if not p.startswith("StatefulPartitionedCall")]
    if len(pieces) >= 2:
        return pieces[-2]
    return pieces[0] if pieces else None


class _MinusInfPad2d(nn.ZeroPad2d):
    """Padding for max pooling: cells that never win (−∞). A ZeroPad2d to whoever reads the
    window's geometry (receptive fields); it only ever sits inside a pooling stage."""

    def __init__(self, padding):
        super().__init__(padding)
        self.value = -math.inf


# --- the converter ----------------------------------------------------------------------------

class _Reader:
    """One pass over the graph's nodes in order: constants folded, every other node a layer."""

    def __init__(self, model):
        self.model = model
        self.graph = model.graph
        self.opset = self._opset()
        self.initializers = {t.name: t for t in self.graph.initializer}
        self.consts: dict[str, np.ndarray] = {}
        self.tensors: dict[str, _T] = {}
        self.nodes: list[Node] = []
        self.probes: dict[str, torch.Tensor] = {}
        self.refs: Counter[str] = Counter()
        self.taken: set[str] = {INPUT}
        self.used_scopes: set[str] = set()
        self.skip: set[int] = set()
        self.affine_output: dict[str, str] = {}  # an Affine node → the ONNX tensor it computes
        self.folded = 0
        self.scope: str | None = None

    # -- checks before the work
    def _opset(self) -> int:
        versions = [o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx")]
        version = versions[0] if versions else 1
        if version < MIN_OPSET:
            raise ModelError(f"This network was written for ONNX opset {version}; the app reads opset {MIN_OPSET} "
                             "or newer (export it again with a recent PyTorch or tf2onnx).")
        return version

    def _check_budget(self) -> None:
        graph = self.graph
        if len(graph.node) > MAX_NODES:
            raise ModelError(f"This network has {len(graph.node)} ONNX nodes; networks up to {MAX_NODES} nodes "
                             f"(about {MAX_LAYERS} layers) open here.")
        if len(graph.sparse_initializer):
            raise ModelError("This network stores sparse weights, which the app does not read.")
        total = 0
        tensors = [(t, t.name) for t in graph.initializer]
        for node in graph.node:
            if node.op_type == "Constant":
                tensors += [(a.t, node.name or node.op_type) for a in node.attribute if a.name == "value"]
                total += sum(len(a.floats) + len(a.ints) for a in node.attribute)
        for tensor, name in tensors:
            total += _count(tensor, name)
            if total > MAX_PARAMETERS:
                raise ModelError(f"This network holds more than {MAX_PARAMETERS:,} numbers in its weights; "
                                 f"networks up to {MAX_PARAMETERS:,} parameters open here.")

    def _input(self):
        inputs = [i for i in self.graph.input if i.name not in self.initializers]
        if len(inputs) != 1:
            names = ", ".join(_show(i.name) for i in inputs[:5])
            raise ModelError(f"This network has {len(inputs)} inputs ({names}); the app feeds a network one "
                             "picture (one input).")
        if len(self.graph.output) != 1:
            raise ModelError(f"This network has {len(self.graph.output)} outputs; the app needs exactly one: "
                             "the class scores.")
        value = inputs[0]
        if not value.type.HasField("tensor_type"):
            raise ModelError(f"The network's input {_show(value.name)} is not a tensor of numbers.")
        tensor_type = value.type.tensor_type
        if tensor_type.elem_type not in _FLOAT_INPUTS:
            kind = _TYPES.get(tensor_type.elem_type, (None,))[0]
            kind = np.dtype(kind).name if kind is not None else _TYPE_NAMES.get(tensor_type.elem_type, "other")
            raise ModelError(f"The network's input takes {kind} values; the app feeds floating-point pictures.")
        if not tensor_type.HasField("shape") or len(tensor_type.shape.dim) != 4:
            rank = len(tensor_type.shape.dim) if tensor_type.HasField("shape") else "unknown"
            raise ModelError(f"The network's input has {rank} dimensions; the app feeds pictures as 4 "
                             "(batch, channels, height, width) or, from TensorFlow, (batch, height, width, channels).")
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tensor_type.shape.dim]
        return value.name, dims

    # -- the graph's structure
    def _order(self, output: str) -> list[int]:
        """Indices of the nodes the output needs, in the file's order (checked topological)."""
        producer: dict[str, int] = {}
        for index, node in enumerate(self.graph.node):
            for name in node.output:
                if name:
                    if name in producer:
                        raise ModelError(f"Two layers of this network write the same tensor {_show(name)}.")
                    producer[name] = index
        needed, todo = set(), [output]
        while todo:
            name = todo.pop()
            index = producer.get(name)
            if index is None or index in needed:
                continue
            needed.add(index)
            todo.extend(i for i in self.graph.node[index].input if i)
        self.producer = producer
        known = {self.input_name} | set(self.initializers)
        for index in sorted(needed):
            node = self.graph.node[index]
            for name in node.input:
                if name and name not in known:
                    if name in producer:
                        raise ModelError(f"Layer {_show(node.name)} reads a tensor computed after it: the file's "
                                         "layers are not in order.")
                    raise ModelError(f"Layer {_show(node.name)} reads a tensor {_show(name)} that nothing computes.")
            known.update(node.output)
        return sorted(needed)

    def _output(self) -> str:
        """The tensor the rebuilt network returns: the graph's output, a last Softmax left out."""
        output = self.graph.output[0].name
        for _ in range(len(self.graph.node)):
            index = self.producer.get(output)
            if index is None:
                break
            node = self.graph.node[index]
            if node.op_type == "Identity":
                output = node.input[0]
                continue
            if node.op_type in ("Softmax", "LogSoftmax"):
                axis = _attributes(node).get("axis", 1 if self.opset < 13 else -1)
                if axis in (1, -1):
                    output = node.input[0]
            break
        return output

    def _input_layout(self, dims: list[int | None]) -> bool:
        """Whether the picture comes as (N, H, W, C): the graph transposes it to (N, C, H, W)
        before its first convolution (tf2onnx), or, with no such layer, its last side looks
        like channels (1 or 3) and its first does not."""
        seen, todo = set(), [self.input_name]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            for index in self.readers.get(name, []):
                node = self.graph.node[index]
                if node.op_type == "Transpose":
                    perm = list(_attributes(node).get("perm", []))
                    if perm == [0, 3, 1, 2]:
                        return True
                    continue
                if node.op_type in _NCHW_OPS:
                    return False
                if node.op_type in _LAYOUT_NEUTRAL:
                    todo.extend(o for o in node.output[:1] if o)
        return dims[3] in (1, 3) and dims[1] not in (1, 3)

    # -- the pass
    def convert(self) -> Converted:
        self._check_budget()
        self.input_name, dims = self._input()
        self.order = list(range(len(self.graph.node)))
        self._order(self.graph.output[0].name)  # producers, order checks of what the output needs
        output = self._output()
        if output == self.input_name:
            raise ModelError("This network has no layers between its input and its output.")
        self.order = self._order(output)
        self.consumers: Counter[str] = Counter(i for k in self.order for i in self.graph.node[k].input if i)
        self.consumers[output] += 1
        self.readers: dict[str, list[int]] = {}
        for index in self.order:
            for name in dict.fromkeys(i for i in self.graph.node[index].input if i):
                self.readers.setdefault(name, []).append(index)
        nhwc = self._input_layout(dims)
        channels, height, width = (dims[3], dims[1], dims[2]) if nhwc else (dims[1], dims[2], dims[3])
        self.batch = dims[0]
        self.tensors[self.input_name] = _T(INPUT, 4, nhwc)
        self.refs[INPUT] += self.consumers[self.input_name]
        if None not in (channels, height, width) and channels * height * width <= 64 * 2**20:
            self.probes[INPUT] = torch.zeros(1, channels, height, width)
        parents = set()
        scopes = {k: _scope(self.graph.node[k].name) for k in self.order}
        for scope in scopes.values():
            parts = (scope or "").split(".")
            parents.update(".".join(parts[:n]) for n in range(1, len(parts)))
        self.parent_scopes = parents
        for index in self.order:
            node = self.graph.node[index]
            self.index, self.scope = index, scopes[index]
            if index not in self.skip:
                self._node(node)
            for name in node.input:  # probes no later layer reads are dropped
                t = self.tensors.get(name)
                if t is not None:
                    self.refs[t.node] -= 1
                    if self.refs[t.node] <= 0:
                        self.probes.pop(t.node, None)
        if output not in self.tensors:
            raise ModelError("The network's output does not depend on its input picture.")
        if not self.nodes:
            raise ModelError("This network has no layers between its input and its output.")
        producer = self.model.producer_name.lower()
        if "pytorch" in producer or "torch" in producer:
            framework = "ONNX (from PyTorch)"
        elif any(word in producer for word in ("tf2onnx", "tensorflow", "keras")):
            framework = "ONNX (from TensorFlow)"
        else:
            framework = "ONNX"
        model = to_stages(self.nodes, self.tensors[output].node)
        return Converted(model=model, framework=framework, input_shape=(channels, height, width),
                         frozen=set(), channels_last=nhwc)

    def _node(self, node) -> None:
        op = node.op_type
        if node.domain not in ("", "ai.onnx"):
            raise ModelError(f"Layer {_show(node.name)} is the custom operation {_show(op)} from "
                             f"{_show(node.domain)}, which the app cannot rebuild. {_supported()}")
        for extra in node.output[1:]:
            if extra and self.consumers[extra]:
                raise ModelError(f"Layer {_show(node.name)} ({_show(op)}) uses a second output of the operation, "
                                 "which the app does not rebuild.")
        inputs = [i for i in node.input if i]
        if op == "Constant":
            self._set_const(node, self._constant(node))
            return
        if op in _FOLDABLE and inputs and all(self.is_const(i) for i in inputs):
            self._set_const(node, self._fold(node))
            return
        if op == "Shape" and inputs:
            self._set_const(node, self._shape_of(node))
            return
        if op in _PLAIN_ACTIVATIONS:  # one torch layer, no settings
            self._pointwise(node, _PLAIN_ACTIVATIONS[op]())
            return
        handler = getattr(self, f"_op_{op}", None)
        if handler is None:
            raise ModelError(f"Layer {_show(node.name)} uses the ONNX operation {_show(op)}, which the app "
                             f"cannot rebuild. {_supported()}")
        handler(node, _attributes(node))

    # -- constants
    def is_const(self, name: str) -> bool:
        return name in self.consts or name in self.initializers

    def const(self, name: str) -> np.ndarray | None:
        if name in self.consts:
            return self.consts[name]
        if name in self.initializers:
            self.consts[name] = _array(self.initializers[name], name)
            return self.consts[name]
        return None

    def peek_const(self, name: str) -> np.ndarray | None:
        """A constant, also one a Constant node later in the file computes (looking ahead for a pattern)."""
        if self.is_const(name):
            return self.const(name)
        index = self.producer.get(name)
        if index is not None and self.graph.node[index].op_type == "Constant":
            self.consts[name] = self._constant(self.graph.node[index])
            return self.consts[name]
        return None

    def _set_const(self, node, value: np.ndarray) -> None:
        if node.output and node.output[0]:
            self.consts[node.output[0]] = value

    def _constant(self, node) -> np.ndarray:
        a = _attributes(node)
        if "value" in a:
            return _array(a["value"], node.name or "Constant")
        if "value_float" in a:
            return np.array(a["value_float"], dtype=np.float32)
        if "value_floats" in a:
            return np.array(a["value_floats"], dtype=np.float32)
        if "value_int" in a:
            return np.array(a["value_int"], dtype=np.int64)
        if "value_ints" in a:
            return np.array(a["value_ints"], dtype=np.int64)
        raise ModelError(f"The constant {_show(node.name)} is of a kind the app does not read (text or sparse).")

    def _shape_of(self, node) -> np.ndarray:
        """Shape(x) of the picture's maps: the batch "N", the other sides known from the probe."""
        t = self.tensor(node, 0)
        probe = self.probes.get(t.node)
        if probe is not None:
            dims = list(probe.shape[1:])
            if t.nhwc and len(dims) == 3:
                dims = [dims[1], dims[2], dims[0]]
            values = ["N"] + [int(d) for d in dims]
        else:
            values = ["N"] + [None] * (t.rank - 1)
        a = _attributes(node)
        start, end = a.get("start", 0), a.get("end", None)
        return np.array(values[start:end], dtype=object)

    def _fold(self, node) -> np.ndarray:
        """A node whose inputs are all constants, computed with numpy."""
        op = node.op_type
        a = _attributes(node)
        args = [self.const(i) if i else None for i in node.input]
        try:
            value = self._fold_op(op, a, args)
        except ModelError:
            raise
        except (ValueError, IndexError, TypeError, ZeroDivisionError, OverflowError, MemoryError) as err:
            raise ModelError(f"Layer {_show(node.name)} ({op}) computes on its constants in a way the app cannot "
                             f"follow: {_first_line(err)}") from None
        symbolic = any(v is not None and v.dtype == object for v in args)
        value = np.asarray(value, dtype=object if symbolic else None)
        self.folded += value.size
        if self.folded > MAX_PARAMETERS:
            raise ModelError(f"This network computes more than {MAX_PARAMETERS:,} constant numbers; "
                             "it is too large for the app.")
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ModelError(f"Layer {_show(node.name)} ({op}) computes NaN or infinite constants: "
                             "the network is broken.")
        return value

    def _fold_op(self, op: str, a: dict, args: list) -> np.ndarray:
        x = args[0]
        symbolic = any(v is not None and v.dtype == object for v in args)
        if op == "Identity":
            return x
        if op == "Cast":
            if symbolic:
                return x
            dtype = _TYPES.get(a.get("to", 1), (None,))[0]
            if dtype is None:
                raise ModelError(f"A Cast to type {a.get('to')} is not supported.")
            return x.astype(dtype)
        if op == "Shape":
            return np.array(x.shape, dtype=np.int64)[a.get("start", 0):a.get("end", None)]
        if op in ("Unsqueeze", "Squeeze"):
            axes = a.get("axes", None)
            if axes is None and len(args) > 1 and args[1] is not None:
                axes = [int(v) for v in np.asarray(args[1]).reshape(-1)]
            if op == "Squeeze":
                return np.squeeze(x, axis=None if axes is None else tuple(axes))
            rank = x.ndim + len(axes)
            for axis in sorted(v % rank for v in axes):
                x = np.expand_dims(x, axis)
            return x
        if op == "Concat":
            parts = [np.atleast_1d(v) for v in args if v is not None]
            if symbolic:
                parts = [p.astype(object) for p in parts]
            self._check_size(sum(p.size for p in parts))
            return np.concatenate(parts, axis=a.get("axis", 0))
        if op == "Gather":
            index = np.asarray(args[1]).astype(np.int64)
            axis = a.get("axis", 0)
            self._check_size(x.size // max(x.shape[axis], 1) * index.size)
            return np.take(x, index, axis=axis)
        if op == "Slice":
            if len(args) > 1:
                starts, ends = (np.asarray(v).reshape(-1) for v in args[1:3])
                axes = np.asarray(args[3]).reshape(-1) if len(args) > 3 and args[3] is not None else range(len(starts))
                steps = np.asarray(args[4]).reshape(-1) if len(args) > 4 and args[4] is not None else [1] * len(starts)
            else:
                starts, ends = a["starts"], a["ends"]
                axes, steps = a.get("axes", range(len(starts))), [1] * len(starts)
            index = [slice(None)] * x.ndim
            for start, end, axis, step in zip(starts, ends, axes, steps):
                index[int(axis)] = slice(int(start), int(end), int(step))
            return x[tuple(index)]
        if op == "Reshape":
            shape = [int(v) for v in np.asarray(args[1]).reshape(-1)]
            if not a.get("allowzero", 0):
                shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
            return x.reshape(shape)
        if op == "Flatten":
            axis = a.get("axis", 1) % max(x.ndim, 1)
            return x.reshape(math.prod(x.shape[:axis]), -1)
        if op == "Transpose":
            return np.transpose(x, a.get("perm", None))
        if op == "ConstantOfShape":
            if symbolic:
                raise ValueError("a shape that is not known")
            shape = [int(v) for v in x.reshape(-1)]
            if any(v < 0 for v in shape):
                raise ValueError(f"a negative size in {shape}")
            self._check_size(math.prod(shape))
            fill = _array(a["value"], "ConstantOfShape") if "value" in a else np.zeros(1, np.float32)
            return np.full(shape, fill.reshape(-1)[0], dtype=fill.dtype)
        if op in ("Add", "Sub", "Mul", "Div"):
            y = args[1]
            self._check_size(math.prod(np.broadcast_shapes(x.shape, y.shape)))
            if symbolic:
                fn = {"Add": operator.add, "Sub": operator.sub, "Mul": operator.mul, "Div": operator.floordiv}[op]
                known = np.frompyfunc(lambda p, q: fn(int(p), int(q)) if _is_int(p) and _is_int(q) else None, 2, 1)
                return known(x, y)
            if op == "Div" and x.dtype.kind in "iu" and y.dtype.kind in "iu":
                return np.trunc(x / y).astype(np.result_type(x, y))
            return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](x, y)
        if symbolic:
            raise ValueError("arithmetic on shape values")
        if op == "Neg":
            return -x
        if op == "Sqrt":
            return np.sqrt(x)
        if op == "Reciprocal":
            return 1 / x
        raise ValueError(f"{op} is not computed on constants")

    def _check_size(self, size: int) -> None:
        if size > MAX_PARAMETERS:
            raise ModelError(f"This network computes a constant of {size:,} numbers; it is too large for the app.")

    def weight(self, node, i: int, *, optional: bool = False) -> np.ndarray | None:
        """Input ``i`` of ``node``, a constant of floating-point numbers (float32)."""
        name = node.input[i] if i < len(node.input) else ""
        if not name:
            if optional:
                return None
            raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) lacks its weights.")
        value = self.const(name)
        if value is None:
            raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) computes its weights while the network "
                             "runs; the app needs them stored in the file.")
        if value.dtype == object or value.dtype.kind not in "fiub":
            raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) has weights the app cannot read.")
        if value.dtype.kind != "f" and node.op_type in ("Conv", "Gemm", "MatMul"):
            raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) has integer (quantised) weights; the app "
                             "reads networks with floating-point weights.")
        return value.astype(np.float32)

    def scalar(self, node, i: int, default: float | None) -> float | None:
        name = node.input[i] if i < len(node.input) else ""
        if not name:
            return default
        value = self.weight(node, i)
        if value.size != 1:
            raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) needs one number as its input {i + 1}.")
        return float(value.reshape(-1)[0])

    def ints(self, node, i: int, attribute: str, a: dict) -> list[int] | None:
        """An integer list given as an attribute (older opsets) or a constant input (newer)."""
        if attribute in a:
            return [int(v) for v in a[attribute]]
        name = node.input[i] if i < len(node.input) else ""
        if not name:
            return None
        value = self.const(name)
        if value is None or value.dtype == object or value.dtype.kind not in "iu":
            raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) computes its {attribute} while the network "
                             "runs; the app needs them stored in the file.")
        return [int(v) for v in value.reshape(-1)]

    # -- the picture's tensors and layers
    def tensor(self, node, i: int = 0, *, rank: int | None = None, nchw: bool = False) -> _T:
        name = node.input[i] if i < len(node.input) else ""
        t = self.tensors.get(name)
        if t is None:
            if name and self.is_const(name):
                raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) computes on constants only where the "
                                 "app expects the picture's maps.")
            raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) reads a tensor the app cannot follow.")
        if rank is not None and t.rank != rank:
            what = "maps (batch, channels, height, width)" if rank == 4 else "vectors (batch, features)"
            raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) reads a tensor with {t.rank} dimensions; "
                             f"the app rebuilds it on {what} only.")
        if nchw and t.nhwc:
            raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) works on maps laid out as (N, H, W, C); "
                             "the app rebuilds it on (N, C, H, W) maps only.")
        return t

    def name_for(self, label: str) -> str:
        scope = self.scope
        if scope is None:
            base = label
        elif scope in self.used_scopes or scope in self.parent_scopes:
            base = f"{scope}_{label}"
        else:
            base = scope
        if scope is not None:
            self.used_scopes.add(scope)
        return module_name(base, self.taken)

    def emit(self, node, label: str, layer: nn.Module, sources: list[_T], *, rank: int | None = None,
             nhwc: bool | None = None, output: str | None = None, name: str | None = None) -> _T:
        """Add ``layer`` reading ``sources``; its result is the node's output tensor (or ``output``)."""
        name = name or self.name_for(label)
        self.nodes.append(Node(name, layer, [s.node for s in sources]))
        rank = sources[0].rank if rank is None else rank
        if all(s.node in self.probes for s in sources):
            values = [self.probes[s.node] for s in sources]
            size = _estimate(layer, values)
            if size > MAX_MAP_VALUES:
                raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) would compute about {size:,} numbers for "
                                 f"one picture; networks whose maps hold up to {MAX_MAP_VALUES:,} open here.")
            try:
                with torch.no_grad():
                    out = layer(values) if isinstance(layer, blocks.Merge) else layer(values[0])
            except (RuntimeError, ValueError, IndexError, TypeError) as err:
                raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) does not fit the maps it reads: "
                                 f"{_first_line(err)}") from None
            if out.dim() != rank:
                raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) gives {out.dim()}-dimensional results "
                                 "where the app expected another shape.")
            self.probes[name] = out
        t = _T(name, rank, sources[0].nhwc if nhwc is None else nhwc)
        out_name = node.output[0] if output is None else output
        self.set_tensor(out_name, t)
        return t

    def set_tensor(self, name: str, t: _T) -> None:
        if name:
            self.tensors[name] = t
            self.refs[t.node] += self.consumers[name]

    def alias(self, node, t: _T, **changes) -> None:
        """The node's output is its input (a transpose the layout absorbs, an identity)."""
        self.set_tensor(node.output[0], _T(t.node, changes.get("rank", t.rank), changes.get("nhwc", t.nhwc)))

    def probe_shape(self, t: _T) -> tuple[int, ...] | None:
        probe = self.probes.get(t.node)
        return None if probe is None else tuple(probe.shape[1:])

    def only_consumer(self, name: str) -> int | None:
        """The index of the one node reading ``name`` (None if several, or the network's output)."""
        if self.consumers[name] != 1:
            return None
        readers = [index for index in self.readers.get(name, []) if index > self.index]
        return readers[0] if readers else None

    # -- operations: activations
    def _pointwise(self, node, layer: nn.Module, label: str | None = None) -> None:
        self.emit(node, label or node.op_type.lower(), layer, [self.tensor(node)])

    def _op_LeakyRelu(self, node, a):
        self._pointwise(node, nn.LeakyReLU(float(a.get("alpha", 0.01))))

    def _op_Elu(self, node, a):
        self._pointwise(node, nn.ELU(float(a.get("alpha", 1.0))))

    def _op_Selu(self, node, a):
        alpha, gamma = float(a.get("alpha", 1.6732632)), float(a.get("gamma", 1.0507010))
        if not (math.isclose(alpha, 1.6732632, rel_tol=1e-5) and math.isclose(gamma, 1.0507010, rel_tol=1e-5)):
            self._pointwise(node, nn.Sequential(nn.ELU(alpha), Affine(gamma, 0.0)), "selu")
        else:
            self._pointwise(node, nn.SELU())

    def _op_Gelu(self, node, a):
        approximate = a.get("approximate", b"none")
        approximate = approximate.decode() if isinstance(approximate, bytes) else str(approximate)
        if approximate not in ("none", "tanh"):
            raise ModelError(f"Layer {_show(node.name)} (Gelu) uses the approximation {_show(approximate)}.")
        self._pointwise(node, nn.GELU(approximate=approximate))

    def _op_HardSigmoid(self, node, a):
        alpha, beta = float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))
        if math.isclose(alpha, 1 / 6, rel_tol=1e-6) and math.isclose(beta, 0.5, rel_tol=1e-6):
            self._pointwise(node, nn.Hardsigmoid())
        else:  # max(0, min(1, alpha·x + beta)), as Keras 2's hard_sigmoid (alpha 0.2)
            self._pointwise(node, nn.Sequential(Affine(alpha, beta), nn.Hardtanh(0.0, 1.0)), "hardsigmoid")

    def _op_Clip(self, node, a):
        low = a["min"] if "min" in a else self.scalar(node, 1, None)
        high = a["max"] if "max" in a else self.scalar(node, 2, None)
        low = None if low is not None and low <= -3.4e38 else low
        high = None if high is not None and high >= 3.4e38 else high
        if low is not None and high is not None and low >= high:
            raise ModelError(f"Layer {_show(node.name)} (Clip) clips to an empty range [{low}, {high}].")
        if low == 0 and high == 6:
            self._pointwise(node, nn.ReLU6(), "relu6")
        elif low == 0 and high is None:
            self._pointwise(node, nn.ReLU(), "relu")
        else:
            self._pointwise(node, nn.Hardtanh(-math.inf if low is None else float(low),
                                              math.inf if high is None else float(high)), "clip")

    def _op_Sigmoid(self, node, a):
        x = self.tensor(node)
        mul = self.only_consumer(node.output[0])
        if mul is not None:  # x · sigmoid(x): SiLU (swish), as torch exports nn.SiLU
            other = self.graph.node[mul]
            if other.op_type == "Mul" and sorted(other.input) == sorted([node.input[0], node.output[0]]):
                self.skip.add(mul)
                self.emit(node, "silu", nn.SiLU(), [x], output=other.output[0])
                return
        self._pointwise(node, nn.Sigmoid())

    def _op_PRelu(self, node, a):
        x = self.tensor(node)
        slope = self.channel_vector(node, self.weight(node, 1), x)
        layer = nn.PReLU(slope.size)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(slope))
        self.emit(node, "prelu", layer, [x])

    def _softmax(self, node, a, layer_type):
        x = self.tensor(node)
        default = 1 if self.opset < 13 else -1
        axis = int(a.get("axis", default))
        axis = axis % x.rank
        if x.rank == 4 and self.opset < 13:
            raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) of opset {self.opset} on maps is not supported.")
        channel = x.rank - 1 if (x.nhwc or x.rank == 2) else 1
        if axis != channel:
            raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) works along axis {axis}; the app supports it "
                             "along the channels (or classes) only.")
        self._pointwise(node, layer_type(dim=1), node.op_type.lower())

    def _op_Softmax(self, node, a):
        self._softmax(node, a, nn.Softmax)

    def _op_LogSoftmax(self, node, a):
        self._softmax(node, a, nn.LogSoftmax)

    # -- operations: passing through
    def _op_Identity(self, node, a):
        self.alias(node, self.tensor(node))

    def _op_Dropout(self, node, a):
        self.alias(node, self.tensor(node))

    def _op_Cast(self, node, a):
        if a.get("to", 1) not in _FLOAT_INPUTS:
            raise ModelError(f"Layer {_show(node.name)} (Cast) turns the maps into non-floating-point numbers.")
        self.alias(node, self.tensor(node))

    def _op_Transpose(self, node, a):
        x = self.tensor(node)
        perm = list(a.get("perm", range(x.rank - 1, -1, -1)))
        if perm == list(range(x.rank)):
            return self.alias(node, x)
        if x.rank == 4 and not x.nhwc and perm == [0, 2, 3, 1]:
            return self.alias(node, x, nhwc=True)
        if x.rank == 4 and x.nhwc and perm == [0, 3, 1, 2]:
            return self.alias(node, x, nhwc=False)
        raise ModelError(f"Layer {_show(node.name)} transposes the maps as {tuple(perm)}; the app supports only "
                         "the (N, H, W, C) ↔ (N, C, H, W) transposes around a TensorFlow network.")

    # -- operations: convolution and dense
    def _pair(self, node, a, key: str, default: int) -> tuple[int, int]:
        value = [int(v) for v in a.get(key, [default, default])]
        if len(value) != 2 or any(v < 1 or v > 4096 for v in value):
            raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) has {key} {tuple(value)[:6]}; the app "
                             "rebuilds two-dimensional layers (pictures) with positive values.")
        return value[0], value[1]

    def _pads(self, node, a) -> tuple[str, tuple[int, int, int, int]]:
        """auto_pad and (top, left, bottom, right)."""
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else str(auto)
        if auto not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
            raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) has the padding {_show(auto)}.")
        if auto == "SAME_LOWER":
            raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) pads SAME_LOWER (extra zeros before), "
                             "which the app does not rebuild; SAME_UPPER (TensorFlow's \"same\") is supported.")
        pads = [int(v) for v in a.get("pads", [0, 0, 0, 0])] if auto == "NOTSET" else [0, 0, 0, 0]
        if len(pads) != 4 or any(p < 0 or p > 4096 for p in pads):
            raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) has pads {tuple(pads)[:8]}; the app "
                             "rebuilds two-dimensional layers with non-negative padding.")
        return auto, (pads[0], pads[1], pads[2], pads[3])

    def _tensorflow_same(self, x: _T, pads, kernel, stride, dilation=(1, 1)) -> bool:
        """Whether explicit pads are TensorFlow's "same" for the maps' known size (tf2onnx writes it so)."""
        shape = self.probe_shape(x)
        if shape is None:
            return False
        left, right, top, bottom = same_pads(shape[1], shape[2], kernel, stride, dilation)
        return tuple(pads) == (top, left, bottom, right)

    def _op_Conv(self, node, a):
        x = self.tensor(node, rank=4, nchw=True)
        w = self.weight(node, 1)
        if w.ndim != 4:
            raise ModelError(f"Layer {_show(node.name)} (Conv) is a {w.ndim - 2}-dimensional convolution; the app "
                             "rebuilds two-dimensional ones (pictures).")
        out_channels, per_group, kh, kw = w.shape
        group = int(a.get("group", 1))
        if group < 1 or out_channels % group or 0 in w.shape:
            raise ModelError(f"Layer {_show(node.name)} (Conv) has {group} groups for {out_channels} filters.")
        kernel = tuple(int(v) for v in a.get("kernel_shape", (kh, kw)))
        if kernel != (kh, kw):
            raise ModelError(f"Layer {_show(node.name)} (Conv) says its kernel is {kernel} but its weights are "
                             f"{(kh, kw)}.")
        stride = self._pair(node, a, "strides", 1)
        dilation = self._pair(node, a, "dilations", 1)
        auto, pads = self._pads(node, a)
        bias = self.weight(node, 2, optional=True)
        if bias is not None and bias.size != out_channels:
            raise ModelError(f"Layer {_show(node.name)} (Conv) has {bias.size} biases for {out_channels} filters.")
        top, left, bottom, right = pads
        in_channels = per_group * group
        options = dict(groups=group, dilation=dilation, bias=bias is not None)
        pad_layer = None
        if auto == "SAME_UPPER" or (pads != (top, left, top, left)
                                    and self._tensorflow_same(x, pads, kernel, stride, dilation)):
            conv = SameConv2d(in_channels, out_channels, kernel, stride, **options)
        elif (top, left) == (bottom, right):
            conv = nn.Conv2d(in_channels, out_channels, kernel, stride, padding=(top, left), **options)
        else:
            pad_layer = nn.ZeroPad2d((left, right, top, bottom))
            conv = nn.Conv2d(in_channels, out_channels, kernel, stride, padding=0, **options)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(w))
            if bias is not None:
                conv.bias.copy_(torch.from_numpy(bias.reshape(-1)))
        name = self.name_for("conv")
        if pad_layer is not None:
            x = self.emit(node, "pad", pad_layer, [x], output="", name=module_name(f"{name}_pad", self.taken))
        self.emit(node, "conv", conv, [x], name=name)

    def _linear(self, node, weight: np.ndarray, bias: np.ndarray | None, output: str | None = None) -> None:
        x = self.tensor(node, rank=2)
        layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)))
            if bias is not None:
                layer.bias.copy_(torch.from_numpy(bias))
        self.emit(node, "linear", layer, [x], output=output)

    def _bias(self, node, value: np.ndarray | None, size: int) -> np.ndarray | None:
        if value is None:
            return None
        if value.size == 1:
            return np.full(size, float(value.reshape(-1)[0]), dtype=np.float32)
        if value.size == size and value.ndim <= 2 and value.shape[-1] == size:
            return value.reshape(size)
        raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) adds a bias of shape {value.shape}; the app "
                         f"rebuilds one bias per output ({size}).")

    def _op_Gemm(self, node, a):
        if int(a.get("transA", 0)):
            raise ModelError(f"Layer {_show(node.name)} (Gemm) transposes its input (transA); the app rebuilds a "
                             "dense layer on (batch, features) only.")
        b = self.weight(node, 1)
        if b.ndim != 2:
            raise ModelError(f"Layer {_show(node.name)} (Gemm) has weights of shape {b.shape}.")
        weight = (b if int(a.get("transB", 0)) else b.T) * float(a.get("alpha", 1.0))
        bias = self._bias(node, self.weight(node, 2, optional=True), weight.shape[0])
        if bias is not None:
            bias = bias * float(a.get("beta", 1.0))
        self._linear(node, weight, bias)

    def _op_MatMul(self, node, a):
        b = self.weight(node, 1)
        if b.ndim != 2:
            raise ModelError(f"Layer {_show(node.name)} (MatMul) multiplies by a tensor of shape {b.shape}; the app "
                             "rebuilds a dense layer (a matrix of weights) only.")
        add = self.only_consumer(node.output[0])
        if add is not None:  # MatMul + Add (tf2onnx's Dense): one nn.Linear
            other = self.graph.node[add]
            rest = [i for i in other.input if i != node.output[0]]
            value = self.peek_const(rest[0]) if other.op_type == "Add" and len(rest) == 1 else None
            if value is not None and len(other.input) == 2:
                if value.dtype != object and value.dtype.kind == "f" and (
                        value.size == 1 or (value.size == b.shape[1] and value.shape[-1] == b.shape[1]
                                            and value.ndim <= 2)):
                    self.skip.add(add)
                    bias = self._bias(other, value.astype(np.float32), b.shape[1])
                    return self._linear(node, b.T, bias, output=other.output[0])
        self._linear(node, b.T, None)

    # -- operations: normalisation
    def _op_BatchNormalization(self, node, a):
        x = self.tensor(node, nchw=True)
        if x.rank not in (2, 4):
            raise ModelError(f"Layer {_show(node.name)} (BatchNormalization) reads {x.rank}-dimensional data.")
        if int(a.get("training_mode", 0)) or int(a.get("spatial", 1)) != 1:
            raise ModelError(f"Layer {_show(node.name)} (BatchNormalization) is saved in training mode; export "
                             "the network after model.eval().")
        scale, shift, mean, var = (self.weight(node, i).reshape(-1) for i in range(1, 5))
        channels = scale.size
        if any(v.size != channels for v in (shift, mean, var)) or (var < 0).any():
            raise ModelError(f"Layer {_show(node.name)} (BatchNormalization) has statistics that do not fit together.")
        eps = float(a.get("epsilon", 1e-5))
        momentum = float(a.get("momentum", 0.9))
        layer = (nn.BatchNorm2d if x.rank == 4 else nn.BatchNorm1d)(
            channels, eps=eps, momentum=1 - momentum if 0 < momentum < 1 else 0.1)
        with torch.no_grad():
            for target, value in ((layer.weight, scale), (layer.bias, shift), (layer.running_mean, mean),
                                  (layer.running_var, var)):
                target.copy_(torch.from_numpy(value))
        layer.eval()
        self.emit(node, "batchnorm", layer, [x])

    def _op_LRN(self, node, a):
        x = self.tensor(node, rank=4, nchw=True)
        size = int(a.get("size", 0))
        if size < 1 or size % 2 == 0:
            raise ModelError(f"Layer {_show(node.name)} (LRN) has an even window ({size}); the app rebuilds odd ones.")
        layer = nn.LocalResponseNorm(size, float(a.get("alpha", 1e-4)), float(a.get("beta", 0.75)),
                                     float(a.get("bias", 1.0)))
        self.emit(node, "lrn", layer, [x])

    # -- operations: pooling
    def _pool(self, node, a, kind: str) -> None:
        x = self.tensor(node, rank=4, nchw=True)
        if "kernel_shape" not in a:
            raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) does not state its window.")
        kernel = self._pair(node, a, "kernel_shape", 1)
        stride = self._pair(node, a, "strides", 1)
        dilation = self._pair(node, a, "dilations", 1)
        ceil = bool(int(a.get("ceil_mode", 0)))
        include_pad = bool(int(a.get("count_include_pad", 0)))
        auto, pads = self._pads(node, a)
        top, left, bottom, right = pads
        if kind == "avg" and dilation != (1, 1):
            raise ModelError(f"Layer {_show(node.name)} (AveragePool) has dilations; the app rebuilds plain windows.")
        reach = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
        simple = not ceil and dilation == (1, 1)
        if auto == "SAME_UPPER" or (pads != (top, left, top, left) and simple
                                    and self._tensorflow_same(x, pads, kernel, stride)):
            if not simple or (kind == "avg" and include_pad):
                raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) combines \"same\" padding with "
                                 "ceil_mode, dilations or counting the padding; the app does not rebuild that.")
            layer = SameMaxPool2d(kernel, stride) if kind == "max" else SameAvgPool2d(kernel, stride)
        elif (top, left) == (bottom, right) and top <= reach[0] // 2 and left <= reach[1] // 2:
            if kind == "max":
                layer = nn.MaxPool2d(kernel, stride, (top, left), dilation, ceil_mode=ceil)
            else:
                if ceil and (top or left):
                    raise ModelError(f"Layer {_show(node.name)} (AveragePool) combines ceil_mode with padding, "
                                     "which the app does not rebuild.")
                layer = nn.AvgPool2d(kernel, stride, (top, left), ceil_mode=ceil, count_include_pad=include_pad)
        elif not ceil and kind == "max":
            layer = nn.Sequential(_MinusInfPad2d((left, right, top, bottom)), nn.MaxPool2d(kernel, stride, 0, dilation))
        elif not ceil and include_pad:
            layer = nn.Sequential(nn.ZeroPad2d((left, right, top, bottom)), nn.AvgPool2d(kernel, stride))
        else:
            raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) pads unevenly {pads} in a way the app does "
                             "not rebuild.")
        self.emit(node, f"{kind}pool", layer, [x])

    def _op_MaxPool(self, node, a):
        self._pool(node, a, "max")

    def _op_AveragePool(self, node, a):
        self._pool(node, a, "avg")

    def _op_GlobalAveragePool(self, node, a):
        self.emit(node, "avgpool", nn.AdaptiveAvgPool2d(1), [self.tensor(node, rank=4, nchw=True)])

    def _op_GlobalMaxPool(self, node, a):
        self.emit(node, "maxpool", nn.AdaptiveMaxPool2d(1), [self.tensor(node, rank=4, nchw=True)])

    def _reduce(self, node, a, layer: nn.Module) -> None:
        x = self.tensor(node, rank=4)
        axes = self.ints(node, 1, "axes", a)
        spatial = {1, 2} if x.nhwc else {2, 3}
        if axes is None or {v % 4 for v in axes} != spatial or len(axes) != 2:
            raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) reduces over axes {axes}; the app rebuilds "
                             "it over the height and width (global pooling) only.")
        pooled = self.emit(node, node.op_type.lower(), layer, [x],
                           output="" if not int(a.get("keepdims", 1)) else None)
        if not int(a.get("keepdims", 1)):
            self.emit(node, "flatten", nn.Flatten(), [pooled], rank=2, nhwc=False)

    def _op_ReduceMean(self, node, a):
        self._reduce(node, a, nn.AdaptiveAvgPool2d(1))

    def _op_ReduceMax(self, node, a):
        self._reduce(node, a, nn.AdaptiveMaxPool2d(1))

    # -- operations: shapes
    def _flatten(self, node, x: _T) -> None:
        if x.rank == 2:
            return self.alias(node, x)
        if x.rank != 4:
            raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) flattens {x.rank}-dimensional data.")
        self.emit(node, "flatten", ChannelsLastFlatten() if x.nhwc else nn.Flatten(), [x], rank=2, nhwc=False)

    def _op_Flatten(self, node, a):
        x = self.tensor(node)
        if int(a.get("axis", 1)) % x.rank != 1:
            raise ModelError(f"Layer {_show(node.name)} (Flatten) flattens from axis {a.get('axis')}; the app "
                             "rebuilds flattening to (batch, features) only.")
        self._flatten(node, x)

    def _op_Reshape(self, node, a):
        x = self.tensor(node)
        shape = self.const(node.input[1]) if len(node.input) > 1 else None
        if shape is None:
            raise ModelError(f"Layer {_show(node.name)} (Reshape) computes its shape in a way the app cannot follow.")
        shape = list(shape.reshape(-1))
        probe = self.probe_shape(x)
        values = math.prod(probe) if probe is not None else None
        ok = False
        if len(shape) == 2:
            first, rest = shape
            batch = first == "N" or (_is_int(first) and (
                (int(first) == 0 and not int(a.get("allowzero", 0))) or int(first) == self.batch))
            if _is_int(rest) and int(rest) == -1:
                ok = batch
            elif _is_int(rest) and int(rest) > 0:
                ok = (batch or (_is_int(first) and int(first) == -1)) and values in (None, int(rest))
        if not ok:
            shown = tuple("batch" if v == "N" else ("?" if v is None else int(v)) for v in shape[:6])
            raise ModelError(f"Layer {_show(node.name)} (Reshape) reshapes to {shown}; the app rebuilds a Reshape "
                             "that flattens the maps to (batch, features) only.")
        self._flatten(node, x)

    def _op_Squeeze(self, node, a):
        x = self.tensor(node)
        axes = self.ints(node, 1, "axes", a)
        spatial = {1, 2} if x.nhwc else {2, 3}
        probe = self.probe_shape(x)
        squeezable = probe is None or (probe[1:] == (1, 1))
        if x.rank != 4 or not squeezable or (axes is not None and {v % 4 for v in axes} != spatial):
            raise ModelError(f"Layer {_show(node.name)} (Squeeze) removes axes {axes}; the app rebuilds it after "
                             "global pooling (height and width 1) only.")
        self.emit(node, "flatten", nn.Flatten(), [x], rank=2, nhwc=False)

    def _op_Pad(self, node, a):
        x = self.tensor(node, rank=4)
        mode = a.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else str(mode)
        pads = self.ints(node, 1, "pads", a)
        if len(node.input) > 3 and node.input[3]:
            raise ModelError(f"Layer {_show(node.name)} (Pad) pads chosen axes; the app rebuilds padding of all axes.")
        value = float(a["value"]) if "value" in a else self.scalar(node, 2, 0.0)
        if pads is None or len(pads) != 8:
            raise ModelError(f"Layer {_show(node.name)} (Pad) has pads {pads}; the app needs 8 numbers for maps.")
        begin, end = pads[:4], pads[4:]
        h, w = (1, 2) if x.nhwc else (2, 3)
        if any(begin[i] or end[i] for i in range(4) if i not in (h, w)):
            raise ModelError(f"Layer {_show(node.name)} (Pad) pads the batch or the channels; the app rebuilds "
                             "padding of the height and width only.")
        sides = (begin[w], end[w], begin[h], end[h])
        if not any(sides):
            return self.alias(node, x)
        if mode == "constant":
            layer = nn.ZeroPad2d(sides) if value == 0 else nn.ConstantPad2d(sides, value)
        elif mode in ("reflect", "edge") and min(sides) >= 0:
            layer = nn.ReflectionPad2d(sides) if mode == "reflect" else nn.ReplicationPad2d(sides)
        else:
            raise ModelError(f"Layer {_show(node.name)} (Pad) pads in mode {_show(mode)} by {sides}; the app rebuilds "
                             "constant, reflect and edge padding.")
        self.emit(node, "pad", layer, [x])

    # -- operations: merging and constants
    def channel_vector(self, node, value: np.ndarray, x: _T) -> np.ndarray:
        """A constant that is one number, or one number per channel of ``x``, as a vector."""
        value = value.astype(np.float32)
        if value.size == 1:
            return value.reshape(1)
        if value.ndim <= x.rank:
            full = (1,) * (x.rank - value.ndim) + value.shape
            channel = x.rank - 1 if (x.nhwc or x.rank == 2) else 1
            if all(d == 1 for i, d in enumerate(full) if i != channel):
                return value.reshape(-1)
        raise ModelError(f"Layer {_show(node.name)} ({node.op_type}) uses a constant of shape {value.shape}; the app "
                         "rebuilds one number, or one number per channel, only.")

    def _elementwise(self, node, a, op: str) -> None:
        if len(node.input) != 2:
            raise ModelError(f"Layer {_show(node.name)} ({op}) reads {len(node.input)} tensors.")
        first, second = node.input
        if not self.is_const(first) and not self.is_const(second):
            left, right = self.tensor(node, 0), self.tensor(node, 1)
            if op not in ("Add", "Mul"):
                raise ModelError(f"Layer {_show(node.name)} ({op}) combines two of the network's tensors; the app "
                                 "rebuilds Add, Mul and Concat there.")
            if left.nhwc != right.nhwc or left.rank != right.rank:
                raise ModelError(f"Layer {_show(node.name)} ({op}) combines tensors of different layouts.")
            merge = blocks.Add() if op == "Add" else blocks.Multiply()
            self.emit(node, op.lower(), merge, [left, right])
            return
        constant_first = self.is_const(first)
        x = self.tensor(node, 1 if constant_first else 0)
        c = self.channel_vector(node, self.weight(node, 0 if constant_first else 1), x)
        if not constant_first and self._erf_gelu(node, x, c):
            return
        one, zero = np.ones(1, np.float32), np.zeros(1, np.float32)
        if op == "Add":
            scale, offset = one, c
        elif op == "Mul":
            scale, offset = c, zero
        elif op == "Sub":
            scale, offset = (-one, c) if constant_first else (one, -c)
        else:  # Div
            if constant_first:
                raise ModelError(f"Layer {_show(node.name)} (Div) divides a constant by the maps, which the app "
                                 "does not rebuild.")
            if (c == 0).any():
                raise ModelError(f"Layer {_show(node.name)} (Div) divides by zero.")
            scale, offset = 1 / c, zero
        self._affine(node, x, scale, offset, op.lower())

    def _erf_gelu(self, node, x: _T, c: np.ndarray) -> bool:
        """x · ½(1 + erf(x/√2)) as exported before opset 20 (Div, Erf, Add 1, Mul x, Mul ½): one nn.GELU."""
        if c.size != 1 or not math.isclose(float(c[0]), math.sqrt(2) if node.op_type == "Div" else math.sqrt(0.5),
                                           rel_tol=1e-4):
            return False
        chain, current = [], node.output[0]
        for op, partner in (("Erf", None), ("Add", 1.0), ("Mul", node.input[0]), ("Mul", 0.5)):
            index = self.only_consumer(current)
            if index is None or self.graph.node[index].op_type != op:
                return False
            step = self.graph.node[index]
            others = [i for i in step.input if i != current]
            if partner is None and len(step.input) != 1:
                return False
            if isinstance(partner, float):
                constant = self.peek_const(others[0]) if len(others) == 1 else None
                if constant is None or constant.size != 1 or constant.dtype == object or not math.isclose(
                        float(constant.reshape(-1)[0]), partner, rel_tol=1e-6):
                    return False
            elif partner is not None and others != [partner]:
                return False
            chain.append(index)
            current = step.output[0]
        self.skip.update(chain)
        self.emit(node, "gelu", nn.GELU(), [x], output=current)
        return True

    def _affine(self, node, x: _T, scale: np.ndarray, offset: np.ndarray, label: str) -> None:
        """x · scale + offset; merged into the Affine just before when nothing else reads between."""
        previous = self.affine_output.get(x.node)
        layer = next((n.layer for n in reversed(self.nodes) if n.name == x.node), None)
        sizes = {scale.size, offset.size}
        if isinstance(layer, Affine):
            sizes |= {layer.scale.numel(), layer.offset.numel()}
        if (previous is not None and isinstance(layer, Affine) and self.consumers[previous] == 1
                and self.tensors.get(previous) == x and len(sizes - {1}) <= 1):
            s1, o1 = layer.scale.numpy(), layer.offset.numpy()
            new_scale, new_offset = s1 * scale, o1 * scale + offset
            layer.scale = torch.from_numpy(np.ascontiguousarray(new_scale, dtype=np.float32).reshape(-1))
            layer.offset = torch.from_numpy(np.ascontiguousarray(new_offset, dtype=np.float32).reshape(-1))
            if x.node in self.probes:
                with torch.no_grad():
                    self.probes[x.node] = Affine(scale, offset)(self.probes[x.node])
            self.affine_output[x.node] = node.output[0]
            self.alias(node, x)
            return
        t = self.emit(node, label, Affine(scale, offset), [x])
        self.affine_output[t.node] = node.output[0]

    def _op_Add(self, node, a):
        self._elementwise(node, a, "Add")

    def _op_Sub(self, node, a):
        self._elementwise(node, a, "Sub")

    def _op_Mul(self, node, a):
        self._elementwise(node, a, "Mul")

    def _op_Div(self, node, a):
        self._elementwise(node, a, "Div")

    def _op_Concat(self, node, a):
        sources = [self.tensor(node, i) for i in range(len(node.input))]
        first = sources[0]
        if any(s.rank != first.rank or s.nhwc != first.nhwc for s in sources):
            raise ModelError(f"Layer {_show(node.name)} (Concat) joins tensors of different shapes or layouts.")
        axis = int(a.get("axis", 1)) % first.rank
        channel = first.rank - 1 if (first.nhwc or first.rank == 2) else 1
        if axis != channel:
            raise ModelError(f"Layer {_show(node.name)} (Concat) joins along axis {axis}; the app rebuilds joining "
                             "along the channels only.")
        if len(sources) == 1:
            return self.alias(node, first)
        self.emit(node, "concat", blocks.Concatenate(1), sources)


def _estimate(layer: nn.Module, values: list[torch.Tensor]) -> int:
    """At most how many numbers ``layer`` computes for one picture from ``values`` (before it runs)."""
    biggest = max(v[:1].numel() for v in values)
    if isinstance(layer, blocks.Concatenate):
        return sum(v[:1].numel() for v in values)
    if isinstance(layer, nn.Sequential):
        return max([biggest] + [_estimate(child, values) for child in layer])
    if isinstance(layer, nn.Linear):
        return layer.out_features
    shape = values[0].shape
    if len(shape) != 4:
        return biggest
    height, width = shape[2], shape[3]
    if isinstance(layer, nn.Conv2d):
        (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
        ph, pw = layer.padding if isinstance(layer.padding, tuple) else (0, 0)
        return layer.out_channels * ((height + 2 * ph + kh) // sh + 1) * ((width + 2 * pw + kw) // sw + 1)
    if isinstance(layer, (nn.ZeroPad2d, nn.ConstantPad2d, nn.ReflectionPad2d, nn.ReplicationPad2d)):
        left, right, top, bottom = layer.padding
        return shape[1] * (height + max(top, 0) + max(bottom, 0)) * (width + max(left, 0) + max(right, 0))
    return biggest


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


SUPPORTED = sorted({name[4:] for name in dir(_Reader) if name.startswith("_op_")} | set(_PLAIN_ACTIVATIONS)
                   | {"Constant", "Shape"})


def _supported() -> str:
    return ("The app rebuilds these operations: " + ", ".join(SUPPORTED) +
            " (and constant computations such as Shape → Gather → Concat).")
