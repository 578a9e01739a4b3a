"""Keras networks (``.keras`` from Keras 3, legacy ``.h5`` from Keras 2 / TensorFlow 2 and Keras 3),
read as data and rebuilt with torch layers.

Nothing from the file runs: the architecture is JSON (``json``), the weights are HDF5 datasets
(``h5py``, in a separate worker process: libhdf5 can hang or crash on a crafted file, see
:class:`_Worker`), and every layer is rebuilt from a list of the layer types this module knows.
A Lambda layer (its function is Python bytecode in the file), a custom class or any other
unknown type is refused before a single weight is read, naming the layer.

The checks come before the work, in this order: zip member sizes (a ``.keras`` is a zip), the
size of the JSON, the layer types, the number of layers, the parameters the JSON implies, the
shape of every weight as the HDF5 file declares it (no data read yet), and only then the
numbers, each checked for NaN and infinity. Every refusal is a :class:`ModelError` with a
sentence for a student.

What comes back (:class:`Converted`): an ``nn.Sequential`` of stages named after the Keras
layers (branching parts are one :class:`vizcore.blocks.GraphBlock` stage, see
:func:`vizcore.user_models._graph.to_stages`). It takes NCHW pictures with the numbers the Keras
model takes as NHWC and returns logits: a last Softmax layer is left out, and so is a
``activation="softmax"`` of the last layer (the layer itself stays). A layer with a fused
activation (``Conv2D(..., activation="relu")``) is one stage ``Sequential(conv, relu)``. Layers that
are the identity at inference (Dropout, GaussianNoise, the Random* augmentation layers…) stay
as ``nn.Identity`` stages, so the stages list the model's layers as ``model.summary()`` does.
Models inside the model (a base network used as a layer) are unfolded into their layers.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import selectors
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from vizcore.blocks import Add, Concatenate, GraphBlock, Multiply
from vizcore.models import ModelError

from . import MAX_FILE_BYTES, MAX_LAYERS, MAX_PARAMETERS, UNZIPPED_FACTOR, Converted
from ._graph import INPUT, Node, to_stages
from .layers import Affine, ChannelsLastFlatten, SameAvgPool2d, SameConv2d, SameMaxPool2d

MAX_CONFIG_BYTES = 16 * 2**20     # the JSON architecture (ResNet-50's is under 1 MB)
MAX_NESTING = 8                   # models inside models inside …
MAX_MAP_VALUES = 64 * 2**20       # numbers in one feature map the file fixes (for one picture)
MAX_SPATIAL = 8192                # pixels a side of any map the file fixes
MAX_WINDOW = 1024                 # a kernel's or pooling window's reach (dilation included), a stride, a padding
MAX_UPSAMPLING = 16
BACKEND_EPSILON = 1e-7            # keras.backend.epsilon(), used by Normalization

Shape = tuple  # a Keras tensor's shape without the batch: (H, W, C) maps, (H, W) a grey picture, (F,) a vector


# --- what the file says ---------------------------------------------------------------------

@dataclass
class _Var:
    """One weight a layer needs: its names in files (Keras 2 and 3 differ) and its shape."""
    names: tuple[str, ...]
    shape: tuple[int | None, ...]


@dataclass
class _Layer:
    """A Keras layer of the (unfolded) graph and what it becomes."""
    name: str                    # the node's name (the Keras layer's name, unique)
    keras_name: str
    cls: str
    cfg: dict
    inputs: list[str]
    where: tuple                 # where its weights are in the weights file
    trainable: bool
    out: Shape | None = None
    vars: list[_Var] = field(default_factory=list)
    build: Callable[[list[np.ndarray]], nn.Module] | None = None
    drop_softmax: bool = False   # the network's last layer: leave its softmax out (logits)
    args: list | None = None     # an operation's arguments: "tensor" where it reads one, else the number


class _Context:
    def __init__(self, keras_major: int):
        self.keras_major = keras_major


def convert(data: bytes, kind: str) -> Converted:
    """A Keras file (``kind`` "keras" or "h5") as stages; see the module's docstring."""
    try:
        if kind == "keras":
            return _convert_keras(data)
        if kind == "h5":
            return _convert_h5(data)
    except ModelError:
        raise
    except (OSError, KeyError, ValueError, TypeError, IndexError, AttributeError, RecursionError, EOFError,
            RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error, OverflowError) as err:
        detail = str(err).splitlines()[0][:120] if str(err) else "no detail"
        raise ModelError(f"This Keras file is damaged or written in a way the app cannot read "
                         f"({type(err).__name__}: {detail}).") from None
    raise ModelError(f"Unknown Keras file kind {kind!r}.")


def _convert_keras(data: bytes) -> Converted:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise ModelError("This .keras file is a broken zip archive (truncated?).") from None
    limit = UNZIPPED_FACTOR * MAX_FILE_BYTES
    if sum(info.file_size for info in infos) > limit:
        raise ModelError(f"This .keras archive unpacks to more than {limit // 2**20} MB: refusing it.")
    names = {info.filename: info for info in infos}
    if "config.json" not in names:
        raise ModelError("This .keras file has no config.json: it does not hold a Keras model.")
    if "model.weights.h5" not in names:
        raise ModelError("This .keras file holds no weights (model.weights.h5 is missing); save the whole model "
                         "with model.save(\"my_cnn.keras\") after training.")
    config_bytes = _read_member(archive, names["config.json"], MAX_CONFIG_BYTES, "config.json")
    version = "3"
    if "metadata.json" in names:
        try:
            meta = json.loads(_read_member(archive, names["metadata.json"], 2**20, "metadata.json"))
            version = str(meta.get("keras_version", "3")) if isinstance(meta, dict) else "3"
        except (ValueError, RecursionError):
            pass
    config = _parse_json(config_bytes, "config.json")
    major = _major(version, 3)
    ctx = _Context(major)
    layers, output, input_shape = _plan(config, ctx, keras_format=True)
    weights_bytes = _read_member(archive, names["model.weights.h5"], MAX_FILE_BYTES * UNZIPPED_FACTOR,
                                 "model.weights.h5")
    with _hdf5(weights_bytes, ["layers"], [], "The weights inside this .keras file (model.weights.h5)") as h5:
        arrays = _read_weights(layers, lambda layer: _keras_datasets(h5, layer), h5)
    return _finish(layers, output, input_shape, arrays, f"Keras {major}")


def _convert_h5(data: bytes) -> Converted:
    with _hdf5(data, ["model_weights"], ["model_config", "keras_version"], "This .h5 file") as h5:
        raw = h5.attrs.get("model_config")
        if raw is None:
            raise ModelError("This .h5 file holds only weights, no architecture (model.save_weights); save the "
                             "whole model with model.save(\"my_cnn.h5\") or, better, model.save(\"my_cnn.keras\").")
        config = _parse_json(raw, "model_config")
        version = h5.attrs.get("keras_version") or ""
        major = _major(version, 2)
        framework = f"Keras {major} (legacy .h5)" if version else "Keras (legacy .h5)"
        ctx = _Context(major)
        layers, output, input_shape = _plan(config, ctx, keras_format=False)
        if "model_weights" not in h5.groups:
            raise ModelError("This .h5 file holds an architecture but no weights (model_weights is missing).")
        index = _H5Index(h5)
        arrays = _read_weights(layers, index.datasets, h5)
    return _finish(layers, output, input_shape, arrays, framework)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, what: str) -> bytes:
    if info.file_size > limit:
        raise ModelError(f"This .keras file's {what} unpacks to {info.file_size / 2**20:.0f} MB; at most "
                         f"{limit // 2**20} MB are read.")
    try:
        with archive.open(info) as member:
            content = member.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError, ValueError):
        raise ModelError(f"This .keras file's {what} is damaged (truncated?).") from None
    if len(content) > limit:
        raise ModelError(f"This .keras file's {what} unpacks to more than {limit // 2**20} MB.")
    return content


def _parse_json(raw: bytes | str, what: str) -> dict:
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise ModelError(f"This file's {what} is not readable JSON: the file is damaged.") from None
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict) \
            or config.get("class_name") not in _MODELS:
        raise ModelError(f"This file's {what} does not describe a Keras Sequential or Functional model.")
    return config


def _major(version: str, default: int) -> int:
    match = re.match(r"\s*(\d+)", version or "")
    return int(match.group(1)) if match else default


# --- the graph: layers, nested models, wiring ------------------------------------------------

_MODELS = ("Sequential", "Functional", "Model")


def _snake(name: str) -> str:
    """Keras' own naming of a layer's group in a .keras weights file (keras.src.utils.naming)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _entry_name(entry: dict) -> str:
    cfg = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    name = cfg.get("name", entry.get("name"))
    if not isinstance(name, str) or not name:
        raise ModelError("A layer in this file has no name: the file is damaged.")
    return name


def _class(entry: Any) -> str:
    """The layer's type; a Keras 3 operation written on tensors (``x + 3.0``, module keras.src.ops…)
    is "ops.<Class>", told apart from the layer of the same name (layers.Add)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise ModelError("A layer in this file has no type: the file is damaged.")
    module, cls = entry.get("module"), entry["class_name"]
    if isinstance(module, str) and (module.startswith("keras.src.ops") or module.startswith("keras.ops")):
        return "ops." + cls
    if module is None and cls in _OPS:  # a legacy .h5 leaves the module out: an operation reads flat arguments
        nodes = entry.get("inbound_nodes")
        if isinstance(nodes, list) and len(nodes) == 1 and isinstance(nodes[0], dict):
            args = nodes[0].get("args")
            if isinstance(args, list) and args and not isinstance(args[0], list):
                return "ops." + cls
    return cls


_OPS = ("Add", "Multiply", "Subtract", "TrueDivide", "Divide")


class _Walker:
    """Unfolds a (nested) Keras model config into one list of layers in computing order."""

    def __init__(self, keras_format: bool):
        self.keras_format = keras_format
        self.layers: list[_Layer] = []
        self.taken: set[str] = {INPUT}
        self.reserved: set[str] = set()  # the names of the network's own (not nested) layers
        self.input_shape: Shape | None = None

    def unique(self, name: str, model: str, nested: bool) -> str:
        """The node's name: the layer's own; a layer inside a model whose name a layer of the
        network itself also has gets the model's name in front ("base/conv")."""
        clash = name in self.taken or (nested and name in self.reserved)
        candidate = f"{model}/{name}" if clash else name
        n = 1
        while candidate in self.taken:
            n += 1
            candidate = f"{model}/{name}_{n}"
        self.taken.add(candidate)
        return candidate

    def check_classes(self, entry: dict, depth: int = 0) -> int:
        """Refuse Lambda, custom and unknown layers before anything else; the number of layers."""
        if depth > MAX_NESTING:
            raise ModelError(f"This network nests models more than {MAX_NESTING} deep.")
        layers = entry["config"].get("layers")
        if not isinstance(layers, list):
            raise ModelError("This file's model lists no layers: the file is damaged.")
        count = 0
        for sub in layers:
            cls = _class(sub)
            if cls in _MODELS:
                if not isinstance(sub.get("config"), dict):
                    raise ModelError("A model inside this network has no description: the file is damaged.")
                count += self.check_classes(sub, depth + 1)
                continue
            if cls not in _PLANNERS and cls != "InputLayer":
                _refuse_class(cls, sub)
            registered, module = sub.get("registered_name"), sub.get("module")
            if cls != "InputLayer" and ((isinstance(registered, str) and registered not in (sub["class_name"],
                                                                                            "Functional"))
                                        or (isinstance(module, str) and not module.startswith("keras"))):
                _refuse_class(registered if isinstance(registered, str) else cls, sub)
            count += 1
            if count > MAX_LAYERS:
                break
        return count

    def walk(self, entry: dict, inputs: list[str] | None, where: tuple, trainable: bool, depth: int,
             top: bool) -> str:
        """Add the layers of model ``entry`` reading tensor ``inputs`` (None: the network's input);
        the name of its output tensor."""
        cls = entry["class_name"]
        cfg = entry["config"]
        trainable = trainable and cfg.get("trainable", True) is not False
        model_name = str(cfg.get("name", "model"))
        if cls == "Sequential":
            return self.sequential(cfg, inputs, where, trainable, depth, top, model_name)
        return self.functional(cfg, inputs, where, trainable, depth, top, model_name)

    def child_where(self, where: tuple, cls: str, counters: dict[str, int], name: str, depth: int) -> tuple:
        if cls.startswith("ops."):
            return ("",)  # an operation: no weights, not one of the model's layers in the weights file
        if self.keras_format:
            key = _snake(cls)
            if key in counters:
                counters[key] += 1
                key = f"{key}_{counters[key]}"
            else:
                counters[key] = 0
            return (f"{where[0]}/layers/{key}" if where[0] else f"layers/{key}",)
        # legacy h5: the top-level layer's group, and the layer's own name inside a nested model's group
        return (name, None) if depth == 0 else (where[0], name)

    def sequential(self, cfg, inputs, where, trainable, depth, top, model_name) -> str:
        current = INPUT if inputs is None else inputs[0]
        counters: dict[str, int] = {}
        first = True
        for sub in cfg["layers"]:
            cls = _class(sub)
            sub_cfg = sub.get("config") if isinstance(sub.get("config"), dict) else {}
            if cls == "InputLayer":
                if top and first:
                    self.input_shape = _batch_shape(sub_cfg)
                if self.keras_format:
                    self.child_where(where, cls, counters, "", depth)
                continue
            if top and first and self.input_shape is None:
                shape = _batch_shape(sub_cfg, required=False) or _build_shape(cfg) or _model_input(sub)
                if shape is None:
                    raise ModelError("This file does not say what size of input the network takes (a Sequential "
                                     "model without an Input layer): add keras.Input((height, width, channels)) "
                                     "as its first layer and save it again.")
                self.input_shape = shape
            first = False
            name = _entry_name(sub)
            child = self.child_where(where, cls, counters, name, depth)
            if cls in _MODELS:
                current = self.walk(sub, [current], child, trainable, depth + 1, False)
                continue
            current = self.add(sub, cls, name, [current], child, trainable, model_name, depth > 0)
        if current == INPUT and inputs is None:
            raise ModelError("This network has no layers.")
        return current

    def functional(self, cfg, inputs, where, trainable, depth, top, model_name) -> str:
        entries = cfg["layers"]
        input_refs = _refs(cfg.get("input_layers"))
        output_refs = _refs(cfg.get("output_layers"))
        if len(input_refs) != 1:
            if len(input_refs) > 1:
                raise ModelError(f"This network takes {len(input_refs)} inputs; the app feeds one picture.")
            raise ModelError("This file's model names no input layer: the file is damaged.")
        if len(output_refs) != 1:
            if len(output_refs) > 1:
                raise ModelError(f"This network has {len(output_refs)} outputs; the app needs one (the class scores).")
            raise ModelError("This file's model names no output layer: the file is damaged.")
        tensors: dict[str, str] = {}  # Keras layer name (in this model) -> node name of its output
        counters: dict[str, int] = {}
        pending = []
        for sub in entries:
            cls = _class(sub)
            name = _entry_name(sub)
            child = self.child_where(where, cls, counters, name, depth)
            if cls == "InputLayer":
                if name != input_refs[0][0]:
                    continue  # an input that the model does not use
                if top:
                    self.input_shape = _batch_shape(sub.get("config") or {})
                tensors[name] = INPUT if inputs is None else inputs[0]
                continue
            pending.append((sub, cls, name, child))
        if input_refs[0][0] not in tensors:
            raise ModelError("This file's model has no Input layer for its input: the file is damaged.")
        progress = True
        while pending and progress:  # layers in computing order, whatever order the file lists them in
            progress, waiting = False, []
            for sub, cls, name, child in pending:
                nodes = sub.get("inbound_nodes") or []
                if not isinstance(nodes, list):
                    raise ModelError(f"Layer {name!r}: its wiring is damaged.")
                if len(nodes) == 0:
                    progress = True
                    continue  # a layer that is never called: not part of the network
                if len(nodes) > 1:
                    raise ModelError(f"Layer {name!r} is used {len(nodes)} times in this network (a shared layer); "
                                     "the app rebuilds networks where each layer is used once.")
                refs = _node_refs(nodes[0], name)
                if any(ref[0] not in tensors for ref in refs):
                    waiting.append((sub, cls, name, child))
                    continue
                sources = [tensors[ref[0]] for ref in refs]
                if cls in _MODELS:
                    tensors[name] = self.walk(sub, sources, child, trainable, depth + 1, False)
                else:
                    args = _op_args(nodes[0], name) if cls.startswith("ops.") else None
                    tensors[name] = self.add(sub, cls, name, sources, child, trainable, model_name, depth > 0,
                                             args)
                progress = True
            pending = waiting
        out = output_refs[0][0]
        if out not in tensors:
            raise ModelError(f"This network's output layer {out!r} cannot be computed from its input.")
        return tensors[out]

    def add(self, entry: dict, cls: str, name: str, sources: list[str], where: tuple, trainable: bool,
            model_name: str, nested: bool, args: list | None = None) -> str:
        cfg = entry.get("config")
        if not isinstance(cfg, dict):
            raise ModelError(f"Layer {name!r} has no configuration: the file is damaged.")
        node = self.unique(name, model_name, nested)
        own = trainable and cfg.get("trainable", True) is not False
        self.layers.append(_Layer(node, name, cls, cfg, sources, where, own, args=args))
        if len(self.layers) > MAX_LAYERS:
            raise ModelError(f"This network has more than {MAX_LAYERS} layers; the app opens networks up to "
                             f"{MAX_LAYERS} layers (ResNet-50 has 177).")
        return node


def _refs(value: Any) -> list[tuple]:
    """Keras' [name, node, tensor] triples, one (Keras 3) or a list of them (Keras 2)."""
    if not isinstance(value, list) or not value:
        return []
    if isinstance(value[0], str):
        value = [value]
    refs = []
    for ref in value:
        if not isinstance(ref, list) or len(ref) < 3 or not isinstance(ref[0], str):
            raise ModelError("This file's model has damaged input/output names.")
        refs.append((ref[0], ref[1], ref[2]))
    return refs


def _node_refs(node: Any, name: str) -> list[tuple]:
    """The tensors one call of a layer reads: Keras 2 lists, or Keras 3 args with __keras_tensor__."""
    refs: list[tuple] = []
    if isinstance(node, dict):  # Keras 3
        def collect(value: Any, out: list) -> None:
            if isinstance(value, dict):
                if value.get("class_name") == "__keras_tensor__":
                    history = (value.get("config") or {}).get("keras_history")
                    if not isinstance(history, list) or len(history) < 3 or not isinstance(history[0], str):
                        raise ModelError(f"Layer {name!r}: its wiring is damaged.")
                    out.append(tuple(history[:3]))
                else:
                    for v in value.values():
                        collect(v, out)
            elif isinstance(value, list):
                for v in value:
                    collect(v, out)
        collect(node.get("args", []), refs)
        extra: list = []
        collect(node.get("kwargs", {}), extra)
        if extra:
            raise ModelError(f"Layer {name!r} takes a second tensor as a keyword argument; the app rebuilds layers "
                             "that read their inputs as ordinary arguments.")
    elif isinstance(node, list):  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
        for ref in node:
            if not isinstance(ref, list) or len(ref) < 3 or not isinstance(ref[0], str):
                raise ModelError(f"Layer {name!r}: its wiring is damaged.")
            if len(ref) > 3 and isinstance(ref[3], dict) and _has_tensor_ref(ref[3]):
                raise ModelError(f"Layer {name!r} takes a second tensor as a keyword argument; the app rebuilds "
                                 "layers that read their inputs as ordinary arguments.")
            refs.append(tuple(ref[:3]))
    else:
        raise ModelError(f"Layer {name!r}: its wiring is damaged.")
    if not refs:
        raise ModelError(f"Layer {name!r} reads no tensor: the file is damaged.")
    for ref in refs:
        if ref[2] not in (0, None):
            raise ModelError(f"Layer {name!r} reads the second output of layer {ref[0]!r}; the app rebuilds "
                             "networks whose layers have one output each.")
    return refs


def _op_args(node: Any, name: str) -> list:
    """A Keras 3 operation's positional arguments: "tensor" for each tensor, the numbers as they are."""
    args = node.get("args") if isinstance(node, dict) else None
    if not isinstance(args, list) or any(isinstance(v, (list, str)) or isinstance(v, bool) for v in args) or \
            any(isinstance(v, dict) and v.get("class_name") != "__keras_tensor__" for v in args) or \
            (isinstance(node, dict) and node.get("kwargs")):
        raise ModelError(f"Layer {name!r} is a Keras operation with arguments the app cannot rebuild.")
    return ["tensor" if isinstance(v, dict) else v for v in args]


def _has_tensor_ref(kwargs: dict) -> bool:
    return any(isinstance(v, list) and len(v) >= 3 and isinstance(v[0], str) and isinstance(v[1], int)
               for v in kwargs.values())


def _batch_shape(cfg: dict, required: bool = True) -> Shape | None:
    shape = cfg.get("batch_shape", cfg.get("batch_input_shape"))
    if shape is None and isinstance(cfg.get("input_shape"), list):
        shape = [None, *cfg["input_shape"]]
    if shape is None:
        if required:
            raise ModelError("This file's Input layer does not say what size of input the network takes.")
        return None
    if not isinstance(shape, list) or not all(v is None or (isinstance(v, int) and v > 0) for v in shape[1:]):
        raise ModelError("This file's Input layer has a damaged shape.")
    return tuple(shape[1:])


def _model_input(entry: dict, depth: int = 0) -> Shape | None:
    """The input shape of a model used as a Sequential's first layer (its own Input layer)."""
    if _class(entry) not in _MODELS or depth > MAX_NESTING:
        return None
    cfg = entry["config"]
    for sub in cfg.get("layers") or []:
        sub_cfg = sub.get("config") if isinstance(sub, dict) and isinstance(sub.get("config"), dict) else {}
        shape = _batch_shape(sub_cfg, required=False) or _model_input(sub, depth + 1)
        if shape is not None:
            return shape
        if _class(sub) != "InputLayer":
            break
    return _build_shape(cfg)


def _build_shape(cfg: dict) -> Shape | None:
    shape = cfg.get("build_input_shape")
    if isinstance(shape, list) and shape and all(v is None or (isinstance(v, int) and v > 0) for v in shape[1:]):
        return tuple(shape[1:])
    return None


def _refuse_class(cls: str, entry: dict) -> None:
    try:
        name = _entry_name(entry)
    except ModelError:
        name = "?"
    supported = ", ".join(sorted(_PLANNERS))
    if cls in ("Lambda", "__lambda__"):
        raise ModelError(f"This network has a Lambda layer ({name!r}). A Lambda layer stores its function as Python "
                         "code inside the file, and the app never runs code from a file. Write the step with "
                         f"Keras' own layers instead. The app rebuilds these layer types: {supported}.")
    if cls in ("TFOpLambda", "SlicingOpLambda"):
        raise ModelError(f"This network applies a TensorFlow operation directly ({name!r}, a {cls} layer, e.g. "
                         "`x + y` or tf.… on a tensor); the app rebuilds only Keras layers. Use a Keras layer "
                         f"(layers.Add() for a sum). The app rebuilds these layer types: {supported}.")
    if cls.startswith("ops."):
        raise ModelError(f"Layer {name!r} is the Keras operation {_snake(cls[4:])} written on a tensor, which the app "
                         f"cannot rebuild. The app rebuilds these layer types: {supported}.")
    raise ModelError(f"Layer {name!r} is of type {cls!r}, which the app cannot rebuild (a custom layer or one it "
                     f"does not know). The app rebuilds these layer types: {supported}.")


def _plan(config: dict, ctx: _Context, keras_format: bool) -> tuple[list[_Layer], str, tuple]:
    """The network's layers with their shapes, weights and builders, checked; its output; its input shape."""
    walker = _Walker(keras_format)
    count = walker.check_classes(config)
    walker.reserved = {_entry_name(sub) for sub in config["config"]["layers"] if _class(sub) not in _MODELS}
    if count > MAX_LAYERS:
        raise ModelError(f"This network has more than {MAX_LAYERS} layers; the app opens networks up to "
                         f"{MAX_LAYERS} layers (ResNet-50 has 177).")
    output = walker.walk(config, None, ("",), True, 0, True)
    layers = walker.layers
    if output == INPUT or not layers:
        raise ModelError("This network has no layers.")
    shape = walker.input_shape
    if shape is None:
        raise ModelError("This file does not say what size of input the network takes.")
    if len(shape) == 1 or len(shape) > 3:
        raise ModelError(f"This network takes an input of shape {_show(shape)}, not a picture (height, width, "
                         "channels). The app feeds pictures: build the network on keras.Input((height, width, "
                         "channels)), e.g. keras.Input((28, 28, 1)).")
    if len(shape) == 3 and shape[2] is None:
        raise ModelError("This network's input leaves the number of channels open; the app needs it "
                         "(1 for grey, 3 for colour pictures).")
    by_name = {layer.name: layer for layer in layers}
    last = by_name[output]
    if _is_softmax(last, ctx):
        output = last.inputs[0]
        layers.remove(last)
        if output == INPUT:
            raise ModelError("This network is only a softmax: it has no layers to show.")
        last = by_name[output]
    if _activation_name(last.cfg.get("activation")) == "softmax" and last.cls != "Activation":
        last.drop_softmax = True
    shapes: dict[str, Shape] = {INPUT: shape}
    total = 0
    for layer in layers:
        planner = _PLANNERS[layer.cls]
        try:
            if _quantised(layer.cfg):
                raise ModelError(f"Layer {layer.keras_name!r} is quantised (its weights are stored as integers); "
                                 "the app rebuilds networks with float weights: save the network before quantising it.")
            if "activation" in layer.cfg and layer.cls != "Activation":
                _activation(layer.cfg["activation"], layer, ctx)  # an unknown activation: refused before the weights
            planner(layer, [shapes[i] for i in layer.inputs], ctx)
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as err:
            raise ModelError(f"Layer {layer.keras_name!r} ({layer.cls}) has a configuration the app cannot read "
                             f"({type(err).__name__}: {str(err)[:100]}).") from None
        total += sum(math.prod(v.shape) for v in layer.vars if None not in v.shape)
        if total > MAX_PARAMETERS:
            raise ModelError(f"This network has more than {MAX_PARAMETERS:,} parameters; the app opens networks up "
                             f"to {MAX_PARAMETERS // 1_000_000} million (ResNet-50 has 25.6 million).")
        _check_map(layer)
        shapes[layer.name] = layer.out
    channels_first = (1, shape[0], shape[1]) if len(shape) == 2 else (shape[2], shape[0], shape[1])
    return layers, output, channels_first


def _quantised(cfg: dict) -> bool:
    """Keras 3's quantised layers (model.quantize("int8")): a QuantizedDTypePolicy, a quantization_config."""
    policy = cfg.get("dtype")
    if isinstance(policy, dict):
        inner = policy.get("config") if isinstance(policy.get("config"), dict) else {}
        if "Quantized" in str(policy.get("class_name")) or "mode" in inner:
            return True
        policy = inner.get("name")
    if isinstance(policy, str) and policy.startswith(("int", "uint", "float8")):
        return True
    return cfg.get("quantization_config") is not None


def _show(shape: Shape) -> str:
    return "(" + ", ".join("None" if v is None else str(v) for v in shape) + (",)" if len(shape) == 1 else ")")


def _check_map(layer: _Layer) -> None:
    out = layer.out
    if out and len(out) >= 2 and any(v is not None and v > MAX_SPATIAL for v in out[:2]):
        raise ModelError(f"Layer {layer.keras_name!r} makes maps of {_show(out)}: larger than the app handles.")
    if out and None not in out and math.prod(out) > MAX_MAP_VALUES:
        raise ModelError(f"Layer {layer.keras_name!r} makes {math.prod(out):,} numbers for one picture: more than "
                         "the app handles.")
    if out and any(v is not None and v <= 0 for v in out):
        raise ModelError(f"Layer {layer.keras_name!r} gets a map too small for it (its output would be "
                         f"{_show(out)}).")


# --- activations ----------------------------------------------------------------------------

def _activation_name(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict):  # {"class_name": "function", "config": "relu"} in some Keras 3 files
        inner = value.get("config")
        if value.get("class_name") in ("function", "builtin_function") and isinstance(inner, str):
            return inner
        if isinstance(inner, dict) and isinstance(inner.get("name"), str) and value.get("module", "").startswith(
                "keras"):
            return inner["name"]
    return "?custom"


def _is_softmax(layer: _Layer, ctx: _Context) -> bool:
    if layer.cls == "Softmax":
        return True
    return layer.cls == "Activation" and _activation_name(layer.cfg.get("activation")) == "softmax"


def _activation(value: Any, layer: _Layer, ctx: _Context) -> tuple[str, nn.Module] | None:
    """The torch module of a Keras activation (None for linear)."""
    name = _activation_name(value)
    if name in (None, "linear"):
        return None
    if name == "softmax" and layer.drop_softmax:
        return None
    if name == "hard_sigmoid" and ctx.keras_major < 3:  # Keras 2: clip(0.2 x + 0.5, 0, 1)
        return name, nn.Sequential(OrderedDict(affine=Affine(0.2, 0.5), clip=nn.Hardtanh(0.0, 1.0)))
    factory = _ACTIVATIONS.get(name or "")
    if factory is None:
        raise ModelError(f"Layer {layer.keras_name!r} uses the activation {str(name).lstrip('?')!r}, which the app "
                         f"cannot rebuild. Supported activations: {', '.join(sorted(_ACTIVATIONS))}, linear.")
    return name, factory()


_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU, "relu6": nn.ReLU6, "elu": nn.ELU, "selu": nn.SELU, "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "swish": nn.SiLU, "silu": nn.SiLU, "hard_swish": nn.Hardswish,
    "hard_silu": nn.Hardswish, "hard_sigmoid": nn.Hardsigmoid, "softplus": nn.Softplus, "softsign": nn.Softsign,
    "mish": nn.Mish, "softmax": lambda: nn.Softmax(dim=1), "log_softmax": lambda: nn.LogSoftmax(dim=1),
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
}


def _with_activation(key: str, module: nn.Module, layer: _Layer, ctx: _Context) -> nn.Module:
    act = _activation(layer.cfg.get("activation"), layer, ctx)
    if act is None:
        return module
    return nn.Sequential(OrderedDict([(key, module), act]))


# --- the layers -------------------------------------------------------------------------------

def _one(layer: _Layer, shapes: list[Shape]) -> Shape:
    if len(shapes) != 1:
        raise ModelError(f"Layer {layer.keras_name!r} ({layer.cls}) reads {len(shapes)} tensors; it takes one.")
    return shapes[0]


def _maps(layer: _Layer, shapes: list[Shape], what: str = "") -> tuple[int | None, int | None, int]:
    shape = _one(layer, shapes)
    if len(shape) != 3:
        raise ModelError(f"Layer {layer.keras_name!r} ({layer.cls}) gets a tensor of shape {_show(shape)}; the app "
                         "rebuilds it on maps of (height, width, channels).")
    if shape[2] is None:
        raise ModelError(f"Layer {layer.keras_name!r} gets maps with an open number of channels.")
    _channels_last(layer)
    return shape


def _channels_last(layer: _Layer) -> None:
    if layer.cfg.get("data_format", "channels_last") not in (None, "channels_last"):
        raise ModelError(f"Layer {layer.keras_name!r} computes on channels-first maps; the app rebuilds Keras "
                         "networks in the default channels-last layout.")


def _pos(value: Any, what: str, layer: _Layer, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1) or value > 2**31:
        raise ModelError(f"Layer {layer.keras_name!r} has an invalid {what} ({str(value)[:30]}).")
    return value


def _pair(value: Any, what: str, layer: _Layer, allow_zero: bool = False) -> tuple[int, int]:
    if isinstance(value, int):
        value = [value, value]
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ModelError(f"Layer {layer.keras_name!r} has an invalid {what} ({str(value)[:30]}).")
    return _pos(value[0], what, layer, allow_zero), _pos(value[1], what, layer, allow_zero)


def _window(layer: _Layer, kernel: tuple[int, int], stride: tuple[int, int],
            dilation: tuple[int, int] = (1, 1)) -> None:
    """A window the app can run: "same" padding grows with the window, so a huge one (made up in a
    file) would ask for gigabytes at the first picture."""
    reach = max(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if reach > MAX_WINDOW or max(stride) > MAX_WINDOW:
        raise ModelError(f"Layer {layer.keras_name!r} has a window of {reach} pixels or a stride of {max(stride)}: "
                         f"more than the app handles (up to {MAX_WINDOW}).")


def _padding(layer: _Layer) -> str:
    padding = str(layer.cfg.get("padding", "valid")).lower()
    if padding not in ("valid", "same"):
        raise ModelError(f"Layer {layer.keras_name!r} uses padding {padding!r}; the app rebuilds 'valid' and 'same'.")
    return padding


def _out_size(n: int | None, k: int, s: int, d: int, padding: str) -> int | None:
    if n is None:
        return None
    if padding == "same":
        return math.ceil(n / s)
    return (n - d * (k - 1) - 1) // s + 1


def _bool(layer: _Layer, key: str, default: bool = True) -> bool:
    value = layer.cfg.get(key, default)
    return default if value is None else bool(value)


def _conv_module(c_in: int, c_out: int, k, s, d, groups: int, bias: bool, padding: str) -> nn.Conv2d:
    if padding == "valid":
        return nn.Conv2d(c_in, c_out, k, s, padding=0, dilation=d, groups=groups, bias=bias)
    if s == (1, 1) and all(dd * (kk - 1) % 2 == 0 for kk, dd in zip(k, d)):
        return nn.Conv2d(c_in, c_out, k, 1, padding=tuple(dd * (kk - 1) // 2 for kk, dd in zip(k, d)),
                         dilation=d, groups=groups, bias=bias)
    return SameConv2d(c_in, c_out, k, s, groups, dilation=d, bias=bias)


def _assign(module: nn.Module, state: dict[str, np.ndarray | torch.Tensor]) -> nn.Module:
    """Fill a module built on the meta device with the file's numbers."""
    tensors = {k: (torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v)
               for k, v in state.items()}
    module.load_state_dict(tensors, strict=True, assign=True)
    return module


def _plan_conv(layer: _Layer, shapes: list[Shape], ctx: _Context) -> None:
    h, w, c = _maps(layer, shapes)
    cfg = layer.cfg
    filters = _pos(cfg.get("filters"), "number of filters", layer)
    k = _pair(cfg.get("kernel_size"), "kernel size", layer)
    s = _pair(cfg.get("strides", 1), "stride", layer)
    d = _pair(cfg.get("dilation_rate", 1), "dilation rate", layer)
    groups = _pos(cfg.get("groups", 1) or 1, "number of groups", layer)
    _window(layer, k, s, d)
    padding = _padding(layer)
    if c % groups or filters % groups:
        raise ModelError(f"Layer {layer.keras_name!r} has {groups} groups for {c} input and {filters} output "
                         "channels: they do not divide.")
    bias = _bool(layer, "use_bias")
    layer.out = (_out_size(h, k[0], s[0], d[0], padding), _out_size(w, k[1], s[1], d[1], padding), filters)
    layer.vars = [_Var(("kernel",), (k[0], k[1], c // groups, filters))] + (
        [_Var(("bias",), (filters,))] if bias else [])

    def build(arrays: list[np.ndarray]) -> nn.Module:
        with torch.device("meta"):
            conv = _conv_module(c, filters, k, s, d, groups, bias, padding)
        state = {"weight": arrays[0].transpose(3, 2, 0, 1)}
        if bias:
            state["bias"] = arrays[1]
        return _with_activation("conv", _assign(conv, state), layer, ctx)
    layer.build = build


def _depthwise_window(layer: _Layer):
    """Kernel, stride, dilation (each a pair) and padding of a depthwise or separable layer, checked."""
    cfg = layer.cfg
    k = _pair(cfg.get("kernel_size"), "kernel size", layer)
    s = _pair(cfg.get("strides", 1), "stride", layer)
    d = _pair(cfg.get("dilation_rate", 1), "dilation rate", layer)
    _window(layer, k, s, d)
    return k, s, d, _padding(layer)


def _plan_depthwise(layer: _Layer, shapes: list[Shape], ctx: _Context) -> None:
    h, w, c = _maps(layer, shapes)
    cfg = layer.cfg
    mult = _pos(cfg.get("depth_multiplier", 1), "depth multiplier", layer)
    k, s, d, padding = _depthwise_window(layer)
    bias = _bool(layer, "use_bias")
    layer.out = (_out_size(h, k[0], s[0], d[0], padding), _out_size(w, k[1], s[1], d[1], padding), c * mult)
    layer.vars = [_Var(("kernel", "depthwise_kernel"), (k[0], k[1], c, mult))] + (
        [_Var(("bias",), (c * mult,))] if bias else [])

    def build(arrays: list[np.ndarray]) -> nn.Module:
        with torch.device("meta"):
            conv = _conv_module(c, c * mult, k, s, d, c, bias, padding)
        state = {"weight": _depthwise_weight(arrays[0])}
        if bias:
            state["bias"] = arrays[1]
        return _with_activation("conv", _assign(conv, state), layer, ctx)
    layer.build = build


def _depthwise_weight(kernel: np.ndarray) -> np.ndarray:
    """(kh, kw, C, mult) -> (C·mult, 1, kh, kw): output channel c·mult + m, as TensorFlow orders them."""
    kh, kw, c, mult = kernel.shape
    return kernel.reshape(kh, kw, c * mult).transpose(2, 0, 1)[:, None]


def _plan_separable(layer: _Layer, shapes: list[Shape], ctx: _Context) -> None:
    h, w, c = _maps(layer, shapes)
    cfg = layer.cfg
    filters = _pos(cfg.get("filters"), "number of filters", layer)
    mult = _pos(cfg.get("depth_multiplier", 1), "depth multiplier", layer)
    k, s, d, padding = _depthwise_window(layer)
    bias = _bool(layer, "use_bias")
    layer.out = (_out_size(h, k[0], s[0], d[0], padding), _out_size(w, k[1], s[1], d[1], padding), filters)
    layer.vars = [_Var(("depthwise_kernel",), (k[0], k[1], c, mult)),
                  _Var(("pointwise_kernel",), (1, 1, c * mult, filters))] + (
        [_Var(("bias",), (filters,))] if bias else [])

    def build(arrays: list[np.ndarray]) -> nn.Module:
        with torch.device("meta"):
            depthwise = _conv_module(c, c * mult, k, s, d, c, False, padding)
            pointwise = nn.Conv2d(c * mult, filters, 1, bias=bias)
        _assign(depthwise, {"weight": _depthwise_weight(arrays[0])})
        state = {"weight": arrays[1].transpose(3, 2, 0, 1)}
        if bias:
            state["bias"] = arrays[2]
        _assign(pointwise, state)
        stages = [("depthwise", depthwise), ("pointwise", pointwise)]
        act = _activation(layer.cfg.get("activation"), layer, ctx)
        return nn.Sequential(OrderedDict(stages + ([act] if act else [])))
    layer.build = build


def _plan_dense(layer: _Layer, shapes: list[Shape], ctx: _Context) -> None:
    shape = _one(layer, shapes)
    units = _pos(layer.cfg.get("units"), "number of units", layer)
    bias = _bool(layer, "use_bias")
    if len(shape) not in (1, 3):
        raise ModelError(f"Layer {layer.keras_name!r} (Dense) gets a tensor of shape {_show(shape)}; the app "
                         "rebuilds Dense layers on vectors and on (height, width, channels) maps.")
    features = shape[-1]
    layer.out = (*shape[:-1], units)
    layer.vars = [_Var(("kernel",), (features, units))] + ([_Var(("bias",), (units,))] if bias else [])

    def build(arrays: list[np.ndarray]) -> nn.Module:
        kernel = arrays[0]
        with torch.device("meta"):
            if len(shape) == 1:
                module = nn.Linear(kernel.shape[0], units, bias=bias)
            else:
                module = nn.Conv2d(kernel.shape[0], units, 1, bias=bias)
        weight = kernel.T if len(shape) == 1 else kernel.T[:, :, None, None]
        state = {"weight": weight}
        if bias:
            state["bias"] = arrays[1]
        return _with_activation("dense", _assign(module, state), layer, ctx)
    layer.build = build


def _plan_batchnorm(layer: _Layer, shapes: list[Shape], ctx: _Context) -> None:
    shape = _one(layer, shapes)
    axis = layer.cfg.get("axis", -1)
    if isinstance(axis, list) and len(axis) == 1:
        axis = axis[0]
    if len(shape) not in (1, 3) or axis not in (-1, len(shape)):
        raise ModelError(f"Layer {layer.keras_name!r} (BatchNormalization) normalises axis {axis} of a tensor of "
                         f"shape {_show(shape)}; the app rebuilds batch norm over the channels (axis=-1).")
    c = shape[-1]
    if c is None:
        raise ModelError(f"Layer {layer.keras_name!r} gets a tensor with an open number of channels.")
    if layer.cfg.get("renorm"):
        raise ModelError(f"Layer {layer.keras_name!r} uses batch renormalisation, which the app does not rebuild.")
    eps = float(layer.cfg.get("epsilon", 1e-3))
    if not (math.isfinite(eps) and eps >= 0):
        raise ModelError(f"Layer {layer.keras_name!r} has an invalid epsilon.")
    scale, center = _bool(layer, "scale"), _bool(layer, "center")
    layer.out = shape
    layer.vars = ([_Var(("gamma",), (c,))] if scale else []) + ([_Var(("beta",), (c,))] if center else []) + [
        _Var(("moving_mean",), (c,)), _Var(("moving_variance",), (c,))]

    def build(arrays: list[np.ndarray]) -> nn.Module:
        values = list(arrays)
        gamma = values.pop(0) if scale else np.ones(c, np.float32)
        beta = values.pop(0) if center else np.zeros(c, np.float32)
        mean, var = values
        if (var < 0).any():
            raise ModelError(f"Layer {layer.keras_name!r} has a negative moving variance: the file is damaged.")
        with torch.device("meta"):
            bn = (nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d)(c, eps=eps)
        _assign(bn, {"weight": gamma, "bias": beta, "running_mean": mean, "running_var": var,
                     "num_batches_tracked": torch.tensor(0)})
        for key, value in (("weight", gamma), ("bias", beta)):
            if not (scale if key == "weight" else center):  # not in the file: a constant, not a parameter
                delattr(bn, key)
                bn.register_buffer(key, torch.from_numpy(np.ascontiguousarray(value)))
        return bn
    layer.build = build


def _plan_activation(layer: _Layer, shapes: list[Shape], ctx: _Context) -> None:
    layer.out = _one(layer, shapes)
    cls, cfg = layer.cls, layer.cfg
    softmax = cls == "Softmax" or _activation_name(cfg.get("activation")) in ("softmax", "log_softmax")
    if len(layer.out) == 2 and softmax:
        raise ModelError(f"Layer {layer.keras_name!r} takes a softmax along the rows of a picture without a channel "
                         "axis; the app rebuilds a softmax over the channels.")
    if cls == "Activation":
        act = _activation(cfg.get("activation"), layer, ctx)
        module = act[1] if act else nn.Identity()
    elif cls == "ReLU":
        module = _relu(layer)
    elif cls == "LeakyReLU":
        slope = cfg.get("negative_slope", cfg.get("alpha", 0.3))
        module = nn.LeakyReLU(float(slope))
    elif cls == "ELU":
        module = nn.ELU(float(cfg.get("alpha", 1.0)))
    elif cls == "ThresholdedReLU":
        module = nn.Threshold(float(cfg.get("theta", 1.0)), 0.0)
    elif cls == "Softmax":
        axis = cfg.get("axis", -1)
        if isinstance(axis, list) and len(axis) == 1:
            axis = axis[0]
        if axis not in (-1, len(layer.out)):
            raise ModelError(f"Layer {layer.keras_name!r} (Softmax) works along axis {axis}; the app rebuilds a "
                             "softmax over the channels (axis=-1).")
        module = nn.Softmax(dim=1)
    else:  # pragma: no cover - the table below lists only these
        raise ModelError(f"Layer {layer.keras_name!r}: unknown activation layer {cls}.")
    layer.build = lambda arrays: module


def _relu(layer: _Layer) -> nn.Module:
    cfg = layer.cfg
    max_value = cfg.get("max_value")
    slope = float(cfg.get("negative_slope", 0.0) or 0.0)
    threshold = float(cfg.get("threshold", 0.0) or 0.0)
    if max_value is not None:
        max_value = float(max_value)
    if slope == 0 and threshold == 0:
        if max_value is None:
            return nn.ReLU()
        if max_value == 6:
            return nn.ReLU6()
        if max_value > 0:
            return nn.Hardtanh(0.0, max_value)
    if threshold == 0 and max_value is None and slope > 0:
        return nn.LeakyReLU(slope)
    if slope == 0 and max_value is None:
        return nn.Threshold(threshold, 0.0)
    raise ModelError(f"Layer {layer.keras_name!r} is a ReLU with max_value={max_value}, negative_slope={slope} and "
                     f"threshold={threshold} together; the app rebuilds one of these at a time.")


def _plan_identity(layer: _Layer, shapes: list[Shape], ctx: _Context) -> None:
    layer.out = _one(layer, shapes)
    layer.build = lambda arrays: nn.Identity()


def _plan_resize_like(layer: _Layer, shapes: list[Shape], ctx: _Context) -> None:
    """RandomCrop, CenterCrop, Resizing: the identity when the maps already have the target size."""
    shape = _one(layer, shapes)
    target = (layer.cfg.get("height"), layer.cfg.get("width"))
    if len(shape) < 2 or tuple(shape[:2]) != target:
        raise ModelError(f"Layer {layer.keras_name!r} ({layer.cls}) resizes {_show(shape)} maps to "
                         f"{target[0]}×{target[1]}; the app rebuilds it only where the maps already have that size. "
                         "Fix the network's input size to it (keras.Input((height, width, channels))).")
    _plan_identity(layer, shapes, ctx)


def _plan_pool(layer: _Layer, shapes: list[Shape], ctx: _Context) -> None:
    h, w, c = _maps(layer, shapes)
    k = _pair(layer.cfg.get("pool_size", 2), "pool size", layer)
    strides = layer.cfg.get("strides")
    s = k if strides is None else _pair(strides, "stride", layer)
    _window(layer, k, s)
    padding = _padding(layer)
    layer.out = (_out_size(h, k[0], s[0], 1, padding), _out_size(w, k[1], s[1], 1, padding), c)
    average = layer.cls.startswith(("Average", "Avg"))
    if padding == "same":
        module = (SameAvgPool2d if average else SameMaxPool2d)(k, s)
    else:
        module = (nn.AvgPool2d if average else nn.MaxPool2d)(k, s)
    layer.build = lambda arrays: module


def _plan_global_pool(layer: _Layer, shapes: list[Shape], ctx: _Context) -> None:
    h, w, c = _maps(layer, shapes)
    keepdims = bool(layer.cfg.get("keepdims", False))
    pool = nn.AdaptiveMaxPool2d(1) if "Max" in layer.cls else nn.AdaptiveAvgPool2d(1)
    layer.out = (1, 1, c) if keepdims else (c,)
    module = pool if keepdims else nn.Sequential(OrderedDict(pool=pool, flatten=nn.Flatten()))
    layer.build = lambda arrays: module


def _plan_flatten(layer: _Layer, shapes: list[Shape], ctx: _Context) -> None:
    shape = _one(layer, shapes)
    _channels_last(layer)
    layer.out = (None if None in shape else math.prod(shape),)
    layer.build = lambda arrays: ChannelsLastFlatten() if len(shape) > 1 else nn.Identity()


def _plan_reshape(layer: _Layer, shapes: list[Shape], ctx: _Context) -> None:
    shape = _one(layer, shapes)
    target = layer.cfg.get("target_shape")
    if not isinstance(target, list) or not all(isinstance(v, int) and (v > 0 or v == -1) for v in target) \
            or target.count(-1) > 1 or not target:
        raise ModelError(f"Layer {layer.keras_name!r} (Reshape) has an invalid target shape.")
    size = None if None in shape else math.prod(shape)
    if -1 in target:
        rest = math.prod(v for v in target if v != -1)
        if size is not None and size % rest:
            raise ModelError(f"Layer {layer.keras_name!r} (Reshape) cannot reshape {_show(shape)}.")
        fill = None if size is None else size // rest
        target = [fill if v == -1 else v for v in target]
    if size is not None and None not in target and math.prod(target) != size:
        raise ModelError(f"Layer {layer.keras_name!r} (Reshape) cannot reshape {_show(shape)} into {_show(target)}.")
    target = tuple(target)
    if len(target) == 1:
        layer.out = target
        layer.build = lambda arrays: ChannelsLastFlatten() if len(shape) > 1 else nn.Identity()
    elif len(shape) == 2 and target == (*shape, 1):  # a grey picture given its channel axis
        layer.out = target
        layer.build = lambda arrays: nn.Identity()
    elif len(shape) == 1 and len(target) == 3 and None not in target:
        layer.out = target
        layer.build = lambda arrays: ChannelsLastUnflatten(*target)
    elif target == tuple(shape):
        layer.out = target
        layer.build = lambda arrays: nn.Identity()
    else:
        raise ModelError(f"Layer {layer.keras_name!r} (Reshape) turns {_show(shape)} into {_show(target)}; the app "
                         "rebuilds reshapes to a vector and from a vector to maps.")


class ChannelsLastUnflatten(nn.Module):
    """Keras' Reshape from a vector to (H, W, C) maps: values listed pixel by pixel, as NCHW maps."""

    def __init__(self, height: int, width: int, channels: int):
        super().__init__()
        self.height, self.width, self.channels = height, width, channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], self.height, self.width, self.channels).permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return f"height={self.height}, width={self.width}, channels={self.channels}"


def _two_pairs(value: Any, what: str, layer: _Layer) -> tuple[int, int, int, int]:
    """Keras' ((top, bottom), (left, right)) in its three spellings, as (top, bottom, left, right)."""
    if isinstance(value, int):
        value = [[value, value], [value, value]]
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        value = [[value[0], value[0]], [value[1], value[1]]]
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ModelError(f"Layer {layer.keras_name!r} has an invalid {what}.")
    (top, bottom), (left, right) = (_pair(list(v), what, layer, True) for v in value)
    if max(top, bottom, left, right) > MAX_WINDOW:
        raise ModelError(f"Layer {layer.keras_name!r} has a {what} larger than the app handles (up to {MAX_WINDOW}).")
    return top, bottom, left, right


def _plan_padding(layer: _Layer, shapes: list[Shape], ctx: _Context) -> None:
    h, w, c = _maps(layer, shapes)
    top, bottom, left, right = _two_pairs(layer.cfg.get("padding", 1), "padding", layer)
    layer.out = (None if h is None else h + top + bottom, None if w is None else w + left + right, c)
    layer.build = lambda arrays: nn.ZeroPad2d((left, right, top, bottom))


def _plan_cropping(layer: _Layer, shapes: list[Shape], ctx: _Context) -> None:
    h, w, c = _maps(layer, shapes)
    top, bottom, left, right = _two_pairs(layer.cfg.get("cropping", 0), "cropping", layer)
    layer.out = (None if h is None else h - top - bottom, None if w is None else w - left - right, c)
    layer.build = lambda arrays: nn.ZeroPad2d((-left, -right, -top, -bottom))


def _plan_upsampling(layer: _Layer, shapes: list[Shape], ctx: _Context) -> None:
    h, w, c = _maps(layer, shapes)
    size = _pair(layer.cfg.get("size", 2), "size", layer)
    if max(size) > MAX_UPSAMPLING:
        raise ModelError(f"Layer {layer.keras_name!r} enlarges maps {max(size)} times: more than the app handles "
                         f"(up to {MAX_UPSAMPLING}).")
    mode = layer.cfg.get("interpolation", "nearest")
    if mode not in ("nearest", "bilinear"):
        raise ModelError(f"Layer {layer.keras_name!r} upsamples with {mode!r}; the app rebuilds 'nearest' and "
                         "'bilinear'.")
    layer.out = (None if h is None else h * size[0], None if w is None else w * size[1], c)
    scale = (float(size[0]), float(size[1]))
    layer.build = lambda arrays: (nn.Upsample(scale_factor=scale, mode="nearest") if mode == "nearest" else
                                  nn.Upsample(scale_factor=scale, mode="bilinear", align_corners=False))


def _channel_values(value: Any, c: int | None, what: str, layer: _Layer) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.size not in (1, c) or not np.isfinite(array).all():
        raise ModelError(f"Layer {layer.keras_name!r} has an invalid {what}.")
    return array


def _plan_rescaling(layer: _Layer, shapes: list[Shape], ctx: _Context) -> None:
    shape = layer.out = _one(layer, shapes)
    c = shape[-1] if len(shape) == 3 else 1
    scale = _channel_values(layer.cfg.get("scale", 1.0), c, "scale", layer)
    offset = _channel_values(layer.cfg.get("offset", 0.0), c, "offset", layer)
    if len(shape) != 3 and (scale.size > 1 or offset.size > 1):
        raise ModelError(f"Layer {layer.keras_name!r} rescales per channel a tensor of shape {_show(shape)}.")
    layer.build = lambda arrays: Affine(torch.from_numpy(scale), torch.from_numpy(offset))


def _plan_normalization(layer: _Layer, shapes: list[Shape], ctx: _Context) -> None:
    shape = layer.out = _one(layer, shapes)
    cfg = layer.cfg
    axis = cfg.get("axis", -1)
    if isinstance(axis, int):
        axis = [axis]
    axis = list(axis or [])
    per_channel = axis in ([-1], [len(shape)])
    if not per_channel and axis != []:
        raise ModelError(f"Layer {layer.keras_name!r} (Normalization) normalises along axis {axis}; the app rebuilds "
                         "a normalisation per channel (axis=-1) or of all values together (axis=None).")
    if per_channel and len(shape) != 3:
        raise ModelError(f"Layer {layer.keras_name!r} (Normalization) normalises per channel a tensor of shape "
                         f"{_show(shape)}; the app rebuilds it on pictures of (height, width, channels).")
    c = shape[-1] if per_channel else 1
    invert = bool(cfg.get("invert", False))

    def affine(mean: np.ndarray, var: np.ndarray) -> nn.Module:
        mean, var = mean.astype(np.float64).reshape(-1), var.astype(np.float64).reshape(-1)
        if (var < 0).any():
            raise ModelError(f"Layer {layer.keras_name!r} has a negative variance: the file is damaged.")
        std = np.maximum(np.sqrt(var), BACKEND_EPSILON)
        if invert:
            return Affine(torch.from_numpy(std), torch.from_numpy(mean))
        return Affine(torch.from_numpy(1 / std), torch.from_numpy(-mean / std))

    if cfg.get("mean") is not None:
        mean = _channel_values(cfg["mean"], c, "mean", layer)
        var = _channel_values(cfg.get("variance"), c, "variance", layer)
        layer.build = lambda arrays: affine(mean, var)
        return
    sizes = (c,) if per_channel else ()
    layer.vars = [_Var(("mean",), sizes), _Var(("variance",), sizes), _Var(("count",), ())]
    layer.build = lambda arrays: affine(arrays[0], arrays[1])


def _merge_shape(layer: _Layer, shapes: list[Shape]) -> Shape:
    if len(shapes) < 2:
        raise ModelError(f"Layer {layer.keras_name!r} ({layer.cls}) merges {len(shapes)} tensor; it needs two or more.")
    if len({len(s) for s in shapes}) != 1 or len(shapes[0]) not in (1, 3):
        raise ModelError(f"Layer {layer.keras_name!r} ({layer.cls}) merges tensors of shapes "
                         f"{', '.join(_show(s) for s in shapes)}; the app merges maps with maps, vectors with vectors.")
    return shapes[0]


def _plan_add(layer: _Layer, shapes: list[Shape], ctx: _Context) -> None:
    _merge_shape(layer, shapes)
    out = []
    for dims in zip(*shapes):
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ModelError(f"Layer {layer.keras_name!r} ({layer.cls}) merges tensors of different shapes "
                             f"{', '.join(_show(s) for s in shapes)}.")
        out.append(known.pop() if known else (1 if all(d == 1 for d in dims) else None))
    layer.out = tuple(out)
    merge = Add() if layer.cls == "Add" else Multiply()
    layer.build = lambda arrays: merge


def _plan_concatenate(layer: _Layer, shapes: list[Shape], ctx: _Context) -> None:
    first = _merge_shape(layer, shapes)
    axis = layer.cfg.get("axis", -1)
    rank = len(first)
    keras_axis = axis + rank + 1 if isinstance(axis, int) and axis < 0 else axis  # 1..rank, the batch is 0
    if not isinstance(keras_axis, int) or isinstance(keras_axis, bool) or not 1 <= keras_axis <= rank:
        raise ModelError(f"Layer {layer.keras_name!r} (Concatenate) joins along axis {axis}; the app joins along "
                         "the channels, height or width.")
    out = list(first)
    total = 0
    for s in shapes:
        total = None if total is None or s[keras_axis - 1] is None else total + s[keras_axis - 1]
    out[keras_axis - 1] = total
    layer.out = tuple(out)
    dim = 1 if rank == 1 else {1: 2, 2: 3, 3: 1}[keras_axis]
    layer.build = lambda arrays: Concatenate(dim)


def _plan_op(layer: _Layer, shapes: list[Shape], ctx: _Context) -> None:
    """Keras 3 arithmetic written on tensors: ``x + y`` (a merge) or ``x * 0.5``, ``x + 3.0``… (Affine)."""
    op = layer.cls[len("ops."):]
    args = layer.args or []
    if len(args) != 2:
        raise ModelError(f"Layer {layer.keras_name!r} is the operation {op} on {len(args)} values; the app rebuilds "
                         "it on two.")
    if args == ["tensor", "tensor"]:
        if op not in ("Add", "Multiply"):
            raise ModelError(f"Layer {layer.keras_name!r} is the operation {op} of two tensors; the app rebuilds "
                             "their sum and product (layers.Add, layers.Multiply).")
        probe = _Layer(layer.name, layer.keras_name, op, {}, layer.inputs, layer.where, layer.trainable)
        _plan_add(probe, shapes, ctx)
        layer.out, layer.build = probe.out, probe.build
        return
    if args.count("tensor") != 1 or not all(isinstance(v, (int, float)) and math.isfinite(v)
                                            for v in args if v != "tensor"):
        raise ModelError(f"Layer {layer.keras_name!r} is the operation {op} with arguments the app cannot rebuild.")
    first = args[0] == "tensor"
    c = float(args[1] if first else args[0])
    scale, offset = {("Add", True): (1.0, c), ("Add", False): (1.0, c), ("Multiply", True): (c, 0.0),
                     ("Multiply", False): (c, 0.0), ("Subtract", True): (1.0, -c), ("Subtract", False): (-1.0, c),
                     ("TrueDivide", True): (1 / c if c else math.inf, 0.0),
                     ("Divide", True): (1 / c if c else math.inf, 0.0)}.get((op, first), (None, None))
    if scale is None or not math.isfinite(scale):
        raise ModelError(f"Layer {layer.keras_name!r} is the operation {op} with arguments the app cannot rebuild "
                         "(the app rebuilds adding, subtracting, multiplying and dividing by a number).")
    layer.out = _one(layer, shapes)
    layer.build = lambda arrays: Affine(scale, offset)


_IDENTITY = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout", "GaussianNoise",
             "GaussianDropout", "ActivityRegularization", "RandomFlip", "RandomRotation", "RandomZoom",
             "RandomTranslation", "RandomContrast", "RandomBrightness")

_PLANNERS: dict[str, Callable[[_Layer, list[Shape], _Context], None]] = {
    "Conv2D": _plan_conv, "Convolution2D": _plan_conv, "DepthwiseConv2D": _plan_depthwise,
    "SeparableConv2D": _plan_separable, "SeparableConvolution2D": _plan_separable, "Dense": _plan_dense,
    "BatchNormalization": _plan_batchnorm,
    "Activation": _plan_activation, "ReLU": _plan_activation, "LeakyReLU": _plan_activation,
    "ELU": _plan_activation, "ThresholdedReLU": _plan_activation, "Softmax": _plan_activation,
    "MaxPooling2D": _plan_pool, "AveragePooling2D": _plan_pool, "MaxPool2D": _plan_pool, "AvgPool2D": _plan_pool,
    "GlobalAveragePooling2D": _plan_global_pool, "GlobalMaxPooling2D": _plan_global_pool,
    "GlobalAvgPool2D": _plan_global_pool, "GlobalMaxPool2D": _plan_global_pool,
    "Flatten": _plan_flatten, "Reshape": _plan_reshape,
    "ZeroPadding2D": _plan_padding, "Cropping2D": _plan_cropping, "UpSampling2D": _plan_upsampling,
    "Rescaling": _plan_rescaling, "Normalization": _plan_normalization,
    "Add": _plan_add, "Multiply": _plan_add, "Concatenate": _plan_concatenate,
    "RandomCrop": _plan_resize_like, "CenterCrop": _plan_resize_like, "Resizing": _plan_resize_like,
    **{name: _plan_identity for name in _IDENTITY},
    **{f"ops.{name}": _plan_op for name in _OPS},
}


# --- the weights: HDF5, read in a separate process ------------------------------------------------
#
# libhdf5 parses the file in C. A damaged or crafted file can make it loop for ever while it holds
# Python's global lock (one byte changed in a saved .h5 did: every thread of the server stops) or
# crash the process. So the server never opens an HDF5 file itself: a worker process does, started
# once and reused, and is killed when an answer takes longer than WORKER_TIMEOUT_S. It follows only
# the file's own (hard-linked) objects, never external links or external storage, and answers with
# plain JSON and float32 bytes (no pickle).

WORKER_TIMEOUT_S = 30.0
MAX_H5_OBJECTS = 100_000              # groups and datasets in the weights file (ResNet-50's: about 1,000)
_WORKER_MEMORY = 6 * 2**30            # the worker's address space
_MAX_REPLY = MAX_PARAMETERS * 4 + 2 * MAX_CONFIG_BYTES + 2**26

_WORKER_SOURCE = r"""
import io, json, sys
try:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))
except Exception:
    pass
import numpy as np
import h5py

def send(header, chunks=()):
    head = json.dumps(header).encode()
    total = 8 + len(head) + sum(len(c) for c in chunks)
    out = sys.stdout.buffer
    out.write(total.to_bytes(8, "little") + len(head).to_bytes(8, "little") + head)
    for chunk in chunks:
        out.write(chunk)
    out.flush()

def child(group, name):
    if not name or name in (".", "..") or not isinstance(group, h5py.Group):
        return None
    link = group.get(name, getlink=True)
    return group[name] if isinstance(link, h5py.HardLink) else None

def resolve(root, path):
    node = root
    for part in path.split("/"):
        if part:
            node = child(node, part)
            if node is None:
                return None
    return node

def text(value):
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None

def strings(group, name):
    attrs, values = group.attrs, []
    if name in attrs:
        values.append(attrs[name])
    else:
        i = 0
        while name + str(i) in attrs:
            values.append(attrs[name + str(i)])
            i += 1
    out = []
    for value in values:
        for item in np.atleast_1d(value):
            item = text(item)
            if item is not None:
                out.append(item)
    return out

def info(dataset):
    stored = dataset.shape is not None and dataset.external is None and not dataset.is_virtual
    return {"shape": list(dataset.shape) if dataset.shape is not None else None, "kind": dataset.dtype.kind,
            "itemsize": int(dataset.dtype.itemsize), "stored": bool(stored)}

def index(f, request):
    attrs = {}
    for name in request["attrs"]:
        value = text(f.attrs[name]) if name in f.attrs else None
        if value is not None and len(value) > request["max_attr"]:
            return {"ok": False, "error": "large", "name": name}
        attrs[name] = value
    groups, datasets, budget = {}, {}, [request["max_objects"]]

    def walk(group, path, depth):
        names = list(group.keys())
        budget[0] -= len(names) + 1
        if budget[0] < 0 or depth > 64:
            raise OverflowError("too many objects")
        groups[path] = {"children": names, "weight_names": strings(group, "weight_names"),
                        "name": text(group.attrs["name"]) if "name" in group.attrs else None}
        for name in names:
            node = child(group, name)
            if isinstance(node, h5py.Group):
                walk(node, path + "/" + name, depth + 1)
            elif isinstance(node, h5py.Dataset):
                datasets[path + "/" + name] = info(node)

    for root in request["roots"]:
        node = resolve(f, root)
        if isinstance(node, h5py.Group):
            walk(node, root, 0)
    return {"ok": True, "attrs": attrs, "groups": groups, "datasets": datasets}

def read(f, request):
    shapes, chunks = [], []
    for path, shape, integer in request["items"]:
        dataset = resolve(f, path)
        if not isinstance(dataset, h5py.Dataset) or not info(dataset)["stored"] or list(dataset.shape) != shape \
                or dataset.dtype.kind not in ("fiu" if integer else "f"):
            return {"ok": False, "error": "changed", "path": path}, []
        array = np.ascontiguousarray(np.asarray(dataset[()]).astype("<f4"))
        shapes.append(list(array.shape))
        chunks.append(memoryview(array).cast("B"))
    return {"ok": True, "shapes": shapes}, chunks

current = None
while True:
    line = sys.stdin.buffer.readline()
    if not line:
        break
    try:
        request = json.loads(line)
        if request["op"] == "open":
            data = sys.stdin.buffer.read(request["size"])
            if current is not None:
                current.close()
            current = None
            try:
                current = h5py.File(io.BytesIO(data), "r")
            except Exception:
                send({"ok": False, "error": "open"})
                continue
            send(index(current, request))
        elif request["op"] == "read":
            send(*read(current, request))
        else:
            if current is not None:
                current.close()
            current = None
            send({"ok": True})
    except Exception as err:
        send({"ok": False, "error": type(err).__name__, "detail": str(err)[:200]})
"""


class _Worker:
    """The HDF5 reading process: started when first needed, one request at a time (hold LOCK)."""

    LOCK = threading.Lock()

    def __init__(self):
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        command = [sys.executable, *(["-P"] if sys.version_info >= (3, 11) else []), "-c", _WORKER_SOURCE,
                   str(_WORKER_MEMORY)]
        try:
            self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, env=env, close_fds=True)
        except OSError:
            raise ModelError("The app could not start its reader for Keras weights files.") from None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a process that ignores SIGKILL
                pass
            for pipe in (self.proc.stdin, self.proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
        self.proc = None

    def ask(self, request: dict, data: bytes, what: str) -> tuple[dict, memoryview]:
        """Send ``request`` (and ``data``); the answer's JSON header and its bytes."""
        if self.proc is None or self.proc.poll() is not None:
            self.kill()
            self.start()
        deadline = time.monotonic() + WORKER_TIMEOUT_S
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
            reply = self.receive(deadline)
        except TimeoutError:
            self.kill()
            raise ModelError(f"Reading {what[0].lower() + what[1:]} took longer than {WORKER_TIMEOUT_S:.0f} s: the "
                             "file is damaged (or made to stall a reader), so the app refuses it.") from None
        except (OSError, ValueError, EOFError):
            self.kill()
            raise ModelError(f"{what} is damaged: reading it failed.") from None
        head = int.from_bytes(reply[:8], "little")
        try:
            header = json.loads(bytes(reply[8:8 + head]))
        except ValueError:
            self.kill()
            raise ModelError(f"{what} is damaged: reading it failed.") from None
        return header, reply[8 + head:]

    def receive(self, deadline: float) -> memoryview:
        fd = self.proc.stdout.fileno()
        buffer, total = bytearray(), None
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while total is None or len(buffer) < total:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise TimeoutError
                chunk = os.read(fd, 1 << 22)
                if not chunk:
                    raise EOFError
                buffer += chunk
                if total is None and len(buffer) >= 8:
                    total = int.from_bytes(buffer[:8], "little") + 8
                    if total > _MAX_REPLY + 8 or total < 16:
                        raise ValueError("answer too long")
        return memoryview(buffer)[8:total]


_WORKER = _Worker()


class _H5Contents:
    """What the worker found in an HDF5 file: attributes, groups, datasets (no numbers yet)."""

    def __init__(self, header: dict, what: str):
        self.what = what
        self.attrs: dict[str, str | None] = header.get("attrs") or {}
        self.groups: dict[str, dict] = header.get("groups") or {}
        self.datasets: dict[str, dict] = header.get("datasets") or {}

    def read(self, items: list[tuple[str, tuple[int, ...], bool]]) -> list[np.ndarray]:
        header, body = _WORKER.ask({"op": "read", "items": [[p, list(s), i] for p, s, i in items]}, b"", self.what)
        shapes = header.get("shapes")
        if not header.get("ok") or not isinstance(shapes, list) or len(shapes) != len(items):
            raise ModelError(f"{self.what} is damaged: its weights cannot be read.")
        arrays, offset = [], 0
        for shape in shapes:
            count = math.prod(shape)
            if offset + 4 * count > len(body):
                raise ModelError(f"{self.what} is damaged: its weights cannot be read.")
            arrays.append(np.frombuffer(body, "<f4", count, offset).reshape(shape))
            offset += 4 * count
        return arrays


@contextlib.contextmanager
def _hdf5(data: bytes, roots: list[str], attrs: list[str], what: str):
    """The HDF5 file ``data`` as the worker sees it (:class:`_H5Contents`), the worker held meanwhile."""
    with _Worker.LOCK:
        request = {"op": "open", "size": len(data), "roots": roots, "attrs": attrs, "max_attr": MAX_CONFIG_BYTES,
                   "max_objects": MAX_H5_OBJECTS}
        header, _ = _WORKER.ask(request, data, what)
        try:
            if not header.get("ok"):
                if header.get("error") == "open":
                    raise ModelError(f"{what} is damaged (truncated?) and cannot be read.")
                if header.get("error") == "large":
                    raise ModelError(f"{what} has an architecture description larger than "
                                     f"{MAX_CONFIG_BYTES // 2**20} MB.")
                if header.get("error") == "OverflowError":
                    raise ModelError(f"{what} holds more than {MAX_H5_OBJECTS:,} groups and arrays: far more than a "
                                     "network has.")
                raise ModelError(f"{what} is damaged and cannot be read.")
            yield _H5Contents(header, what)
        finally:
            if _WORKER.proc is not None:
                try:
                    _WORKER.ask({"op": "close"}, b"", what)
                except ModelError:
                    pass


def _path(*parts: str) -> str:
    return "/".join(p for part in parts for p in part.split("/") if p)


class _H5Index:
    """The weights of a legacy .h5 file, by layer: model_weights/<layer>/<weight name>, in the order
    of each group's weight_names (Keras 2: conv/kernel:0; Keras 3: model/conv/kernel)."""

    def __init__(self, h5: _H5Contents):
        self.h5 = h5
        self.groups: dict[str, dict[str, list[tuple[str, str]]]] = {}

    def group(self, top: str) -> dict[str, list[tuple[str, str]]]:
        if top not in self.groups:
            by_layer: dict[str, list[tuple[str, str]]] = {}
            group = self.h5.groups.get(_path("model_weights", top))
            for weight_name in (group or {}).get("weight_names") or []:
                parts = [p for p in str(weight_name).split("/") if p]
                if not parts:
                    continue
                owner = parts[-2] if len(parts) >= 2 else top
                short = re.sub(r"(_\d+)?:\d+$", "", parts[-1])
                path = _path("model_weights", top, *parts)
                by_layer.setdefault(owner, []).append((short, path))
                by_layer.setdefault("\0all", []).append((short, path))
            self.groups[top] = by_layer
        return self.groups[top]

    def datasets(self, layer: _Layer) -> list[str]:
        top, inner = layer.where
        by_layer = self.group(top)
        found = by_layer.get("\0all", []) if inner is None else by_layer.get(inner, [])
        if len(found) != len(layer.vars):
            raise ModelError(f"The file holds {len(found)} weight arrays for layer {layer.keras_name!r}; its "
                             f"configuration needs {len(layer.vars)}. The file is damaged or not a whole model.")
        by_short: dict[str, str] = {}
        for short, path in found:
            by_short.setdefault(short, path)
        matched = [next((by_short[n] for n in var.names if n in by_short), None) for var in layer.vars]
        if any(m is None for m in matched) or len(set(matched)) != len(matched):
            matched = [path for _, path in found]  # names differ (old files): Keras' own order
        return matched


def _keras_datasets(h5: _H5Contents, layer: _Layer) -> list[str]:
    """A layer's weights in a .keras file: layers/<snake-case class + counter>/vars/0, 1, …"""
    path = _path(layer.where[0], "vars")
    group = h5.groups.get(path)
    if group is None:
        raise ModelError(f"The weights file inside this .keras has no weights for layer {layer.keras_name!r}: the file "
                         "is damaged or was not saved by Keras.")
    named = group.get("name")
    if isinstance(named, str) and named and named != layer.keras_name:
        raise ModelError(f"The weights file inside this .keras does not match its configuration (layer "
                         f"{layer.keras_name!r} finds the weights of {named[:40]!r}).")
    if len(group.get("children") or []) != len(layer.vars):
        raise ModelError(f"The file holds {len(group.get('children') or [])} weight arrays for layer "
                         f"{layer.keras_name!r}; its configuration needs {len(layer.vars)}. The file is damaged.")
    return [_path(path, str(i)) for i in range(len(layer.vars))]


def _read_weights(layers: list[_Layer], locate: Callable[[_Layer], list[str]],
                  h5: _H5Contents) -> dict[str, list[np.ndarray]]:
    """Every layer's weights: shapes checked against the configuration before any number is read."""
    wanted: list[tuple[str, tuple[int, ...], bool]] = []
    owners: list[tuple[_Layer, _Var]] = []
    total = 0
    for layer in layers:
        if not layer.vars:
            continue
        for var, path in zip(layer.vars, locate(layer)):
            what = f"weight {var.names[0]!r} of layer {layer.keras_name!r}"
            found = h5.datasets.get(path) if path else None
            if found is None:
                raise ModelError(f"The file has no {what}: it is damaged or not a whole model.")
            if not found.get("stored") or not isinstance(found.get("shape"), list):
                raise ModelError(f"The file's {what} is not stored in the file itself: refusing it.")
            integer = var.names[0] == "count"
            if found.get("kind") not in ("fiu" if integer else "f") or not 0 < found.get("itemsize", 0) <= 8:
                raise ModelError(f"The file's {what} is not plain numbers; quantised or custom weights are not "
                                 "supported.")
            shape, expected = tuple(found["shape"]), var.shape
            if not all(isinstance(v, int) and v >= 0 for v in shape):
                raise ModelError(f"The file's {what} has a damaged shape.")
            if len(shape) != len(expected) and None not in expected:
                shape_ok = math.prod(shape) == math.prod(expected)  # the same numbers arranged as (1, 1, C) for (C,)
            else:
                shape_ok = len(shape) == len(expected) and all(e is None or e == v for e, v in zip(expected, shape))
            if not shape_ok:
                raise ModelError(f"The file's {what} has the shape {_show(shape)}; the layer's configuration needs "
                                 f"{_show(expected)}. The file is damaged.")
            total += math.prod(shape)
            if total > MAX_PARAMETERS:
                raise ModelError(f"This network has more than {MAX_PARAMETERS:,} parameters; the app opens networks "
                                 f"up to {MAX_PARAMETERS // 1_000_000} million.")
            wanted.append((path, shape, integer))
            owners.append((layer, var))
    values = h5.read(wanted) if wanted else []
    arrays: dict[str, list[np.ndarray]] = {}
    for (layer, var), value in zip(owners, values):
        if not np.isfinite(value).all():
            raise ModelError(f"The weights of layer {layer.keras_name!r} hold NaN or infinite values: this network "
                             "cannot be used.")
        if None not in var.shape and value.shape != var.shape:
            value = value.reshape(var.shape)
        arrays.setdefault(layer.name, []).append(value)
    return arrays


# --- the stages ---------------------------------------------------------------------------------

def _finish(layers: list[_Layer], output: str, input_shape: tuple, arrays: dict[str, list[np.ndarray]],
            framework: str) -> Converted:
    nodes, trainable = [], {}
    for layer in layers:
        try:
            module = layer.build(arrays.get(layer.name, []))
        except ModelError:
            raise
        except (RuntimeError, ValueError, TypeError, IndexError) as err:
            raise ModelError(f"Layer {layer.keras_name!r} ({layer.cls}) cannot be rebuilt from the file's weights "
                             f"({str(err).splitlines()[0][:120]}).") from None
        nodes.append(Node(layer.name, module, list(layer.inputs)))
        trainable[id(module)] = layer.trainable
    model = to_stages(nodes, output)
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):  # pragma: no cover - a builder's bug
        raise ModelError("The network could not be rebuilt completely.")
    frozen = set()
    for name, stage in model.named_children():
        members = list(stage.layers.values()) if isinstance(stage, GraphBlock) else [stage]
        flags = [trainable.get(id(m)) for m in members]
        if flags and all(f is False for f in flags):
            frozen.add(name)
    return Converted(model=model, framework=framework, input_shape=input_shape, frozen=frozen, channels_last=True)
