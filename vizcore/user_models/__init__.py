"""Your own network: a CNN from a student's exercise (Keras .keras/.h5, ONNX) in the app's own form.

A converter reads the file *as data* — JSON configs, HDF5 datasets, ONNX protobufs — and rebuilds
each layer with torch's own layers (:mod:`.layers` where TensorFlow computes differently). No code
from a file ever runs: no pickle, no Keras Lambda layer, no custom object, no external data. The
result is an ``nn.Sequential`` of named stages (the file's own layer names; a block with branches
is one stage, :mod:`vizcore.blocks`) that takes NCHW input with the numbers the original takes and
returns logits (a final softmax is left out), so every page runs it as it runs the app's networks.

What a file does not say — the class names, the pixel scale, a size left open — the user says
(:func:`with_choices`); the meta returned here holds the file's best guess.
"""
from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vizcore.models import ModelError
from .layers import Affine

# Budgets, checked before the work: an ImageNet-size network (ResNet-50: 25.6 M parameters,
# 98 MB, 177 Keras layers) loads; a file that claims more is refused with its own message.
MAX_FILE_BYTES = 256 * 2**20
MAX_PARAMETERS = 40_000_000
MAX_LAYERS = 600
MAX_SIDE = 1024              # pixels of the model's input, each side
MIN_SIDE = 8
MAX_CLASSES = 1000
UNZIPPED_FACTOR = 2          # a .keras zip may inflate to at most this many times MAX_FILE_BYTES

# The pixel scale a network expects: model input = (pixels/255 − mean) / std.
SCALES: dict[str, tuple[float, float]] = {"0–1": (0.0, 1.0), "0–255": (0.0, 1 / 255), "−1–1": (0.5, 0.5)}
MEAN_STD = "mean/std per channel"

CLASS_PRESETS: dict[str, list[str]] = {
    "digits 0–9": [str(i) for i in range(10)],
    "Fashion-MNIST": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                      "Bag", "Ankle boot"],
    "CIFAR-10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
}


@dataclass
class Converted:
    """What a converter hands back: the stages, and what the file says about the input."""
    model: nn.Sequential
    framework: str                                   # "Keras 3", "Keras 2 (legacy .h5)", "ONNX (…)"
    input_shape: tuple[int | None, int | None, int | None]  # (C, H, W); None where the file leaves it open
    frozen: set[str] = field(default_factory=set)    # stages the file marks as not trainable
    channels_last: bool = False                      # the original's maps are (H, W, C) (Keras)
    meta: dict[str, Any] | None = None               # an app checkpoint's own meta (classes, scale…)


def file_kind(data: bytes, filename: str) -> str:
    """"keras", "h5", "onnx" or "checkpoint", told apart by content (the extension only breaks ties)."""
    suffix = Path(filename).suffix.lower()
    if data[:8] == b"\x89HDF\r\n\x1a\n":
        return "h5"
    if data[:4] == b"PK\x03\x04":
        try:
            names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
            raise ModelError("This file looks like a zip archive but it is broken (truncated?).") from None
        if "config.json" in names:
            return "keras"
        if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
            return "checkpoint"
        raise ModelError("This zip holds neither a Keras model (config.json) nor PyTorch weights.")
    if suffix == ".onnx" or (data[:1] == b"\x08" and suffix not in (".keras", ".h5", ".pt", ".pth")):
        return "onnx"
    raise ModelError(f"This file is not a network the app can open ({_supported_files()}).")


def _supported_files() -> str:
    return ("Keras .keras or .h5, ONNX .onnx, or this app's .pt checkpoints; in PyTorch, export with "
            "torch.onnx.export(model, x, \"my_cnn.onnx\", dynamo=False)")


def convert(data: bytes, filename: str) -> Converted:
    """The file's network as stages (:class:`Converted`), limits checked before the work."""
    if len(data) > MAX_FILE_BYTES:
        raise ModelError(f"This file has {len(data) / 2**20:.0f} MB; networks up to {MAX_FILE_BYTES // 2**20} MB "
                         f"(about {MAX_PARAMETERS // 1_000_000} million parameters) open here.")
    if not data:
        raise ModelError("This file is empty.")
    kind = file_kind(data, filename)
    if kind in ("keras", "h5"):
        from . import keras_reader as keras
        return keras.convert(data, kind)
    if kind == "onnx":
        from . import onnx_reader as onnx
        return onnx.convert(data)
    return _checkpoint(data)


def _checkpoint(data: bytes) -> Converted:
    """One of the app's own checkpoints (a state dict, optionally with its meta): its architecture
    is the meta's, else the first one the tensors fit."""
    from vizcore import models

    errors = []
    for name in models.MODELS:
        try:
            model, meta = models.load_checkpoint(data, name)
        except ModelError as err:
            errors.append(str(err))
            continue
        return Converted(model, f"this app's {name} checkpoint", tuple(meta["input_shape"]), meta=meta)
    raise ModelError(errors[0] if errors else "These weights fit none of the app's architectures.")


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, non-trainable) numbers as Keras counts them: weights and biases, plus batch
    norm's moving mean and variance (statistics, not learned by the gradient)."""
    trainable = sum(p.numel() for p in model.parameters())
    statistics = sum(b.numel() for name, b in model.named_buffers()
                     if name.endswith(("running_mean", "running_var")))
    return trainable, statistics


def guess_scale(model: nn.Sequential) -> str:
    """The pixel scale a network expects, read from its first stage: Rescaling(1/255) (and
    (1/127.5, −1)) turn 0–255 pixels into the network's range, so it takes 0–255. Else 0–1, the
    most common choice in the decks' notebooks (``x_train / 255``)."""
    first = next(iter(model.children()), None)
    if isinstance(first, Affine) and first.scale.numel() == 1:
        scale = float(first.scale)
        if math.isclose(scale, 1 / 255, rel_tol=1e-3) or math.isclose(scale, 1 / 127.5, rel_tol=1e-3):
            return "0–255"
    return "0–1"


def load_user_model(data: bytes, filename: str) -> tuple[nn.Sequential, dict[str, Any]]:
    """A user's network file as the app's form: ``(model, meta)``, the model in eval mode.

    Formats: Keras 3 ``.keras``, legacy Keras ``.h5`` (Keras 2 and 3), ONNX ``.onnx`` and the
    app's own ``.pt`` checkpoints, told apart by content. ``meta`` is the app's model meta
    (classes, input_shape [C, H, W], mean, std, params…) with the file's best guesses, plus
    ``source`` (which framework wrote it), ``scale``, ``open_size`` (the file leaves the input size
    open: ask) and ``summary`` rows. Anything else raises :class:`ModelError` with a sentence.
    """
    converted = convert(data, filename)
    model = converted.model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    own = converted.meta
    if own is not None:
        meta = dict(own, name=_stem(filename), source=converted.framework, scale=None, open_size=False)
        meta["summary"] = summary(model, tuple(meta["input_shape"]))
        return model, meta
    channels, height, width = converted.input_shape
    if channels not in (None, 1, 3):
        raise ModelError(f"This network takes pictures with {channels} channels; the app shows grey (1) "
                         "or colour (3) pictures.")
    open_channels = channels is None
    channels = channels or 3
    open_size = height is None or width is None
    side = 28 if channels == 1 else 224
    height, width = height or side, width or side
    for value in (height, width):
        if not MIN_SIDE <= value <= MAX_SIDE:
            raise ModelError(f"This network takes {height}×{width} pictures; the app works with "
                             f"{MIN_SIDE} to {MAX_SIDE} pixels a side.")
    classes = output_count(model, (channels, height, width))
    if classes > MAX_CLASSES:
        raise ModelError(f"This network has {classes} outputs; the pages show at most {MAX_CLASSES} classes.")
    scale = guess_scale(model)
    mean, std = SCALES[scale]
    trainable, statistics = count_parameters(model)
    meta = {"name": _stem(filename), "architecture": "user", "source": converted.framework,
            "classes": [str(i) for i in range(classes)],
            "input_shape": [channels, height, width], "mean": [mean] * channels, "std": [std] * channels,
            "scale": scale, "open_size": open_size, "open_channels": open_channels, "dataset": "your own network", "test_accuracy": None,
            "params": trainable + statistics, "trainable_params": trainable, "options": {},
            "train_command": None, "seed": None, "frozen": sorted(converted.frozen),
            "channels_last": converted.channels_last}
    meta["summary"] = summary(model, (channels, height, width), channels_last=converted.channels_last,
                              frozen=converted.frozen)
    return model, meta


def _stem(filename: str) -> str:
    stem = Path(filename or "network").stem
    return "".join(ch for ch in stem if ch.isprintable() and ch not in "<>")[:40] or "network"


def output_count(model: nn.Sequential, shape: tuple[int, int, int]) -> int:
    """How many numbers the network returns for one picture of ``shape`` (its classes); a
    picture it cannot take raises :class:`ModelError` saying where it failed."""
    x = torch.zeros((1, *shape))
    with torch.no_grad():
        for name, stage in model.named_children():
            try:
                x = stage(x)
            except (RuntimeError, ValueError, IndexError) as err:
                raise ModelError(f"A {shape[0]}×{shape[1]}×{shape[2]} picture does not fit the network at its "
                                 f"layer {name!r}: {str(err).splitlines()[0][:160]}") from None
    if x.dim() != 2:
        raise ModelError(f"The network's output has the shape {tuple(x.shape[1:])}: the pages need one score "
                         "per class (flatten or pool the maps before the last layer).")
    return int(x.shape[1])


@dataclass
class Row:
    """One line of a ``model.summary()``: a layer, its output shape, its parameters."""
    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int          # every number of the layer, batch norm's moving mean and variance included
    statistics: int = 0  # of which batch norm's moving statistics (never trainable)
    trainable: bool = True


def summary(model: nn.Sequential, shape: tuple[int, int, int], *, channels_last: bool = False,
            frozen: set[str] | frozenset = frozenset()) -> list[Row]:
    """Keras' ``model.summary()`` of a network: a row per layer (the layers inside a block too,
    as ``block/layer``), with its output shape for one picture — (H, W, C) when the original was
    channels-last, as Keras prints it — and its parameters, batch-norm statistics included."""
    from vizcore.blocks import GraphBlock, Merge

    rows: list[Row] = []

    def add(name: str, layer: nn.Module, out: torch.Tensor) -> None:
        dims = tuple(out.shape[1:])
        if channels_last and len(dims) == 3:
            dims = (dims[1], dims[2], dims[0])
        trainable, statistics = count_parameters(layer)
        rows.append(Row(name, type(layer).__name__, dims, trainable + statistics, statistics,
                        not ({name, name.split("/")[0], name.split("/")[-1]} & set(frozen))))

    x = torch.zeros((1, *shape))
    with torch.no_grad():
        for name, stage in model.named_children():
            if isinstance(stage, GraphBlock):
                values = {"input": x}
                for inner, layer in stage.layers.items():
                    sources = [values[i] for i in stage.inputs[inner]]
                    values[inner] = layer(sources) if isinstance(layer, Merge) else layer(sources[0])
                    add(f"{name}/{inner}", layer, values[inner])
                x = values[stage.output]
            else:
                x = stage(x)
                add(name, stage, x)
    return rows


def with_choices(meta: dict[str, Any], *, classes: list[str] | None = None, scale: str | None = None,
                 mean: list[float] | None = None, std: list[float] | None = None,
                 size: int | None = None, channels: int | None = None) -> dict[str, Any]:
    """``meta`` with what the user said: class names (one per output), the pixel scale (a key of
    :data:`SCALES`, or :data:`MEAN_STD` with ``mean`` and ``std`` per channel in 0–1 units) and,
    when the file leaves them open, the picture's side and whether it is grey (1) or colour (3).
    Checked: a wrong count or value raises :class:`ModelError` naming it."""
    out = dict(meta)
    if channels is not None and meta.get("open_channels"):
        if channels not in (1, 3):
            raise ModelError("Pictures here are grey (1 channel) or colour (3 channels).")
        out["input_shape"] = [channels, *meta["input_shape"][1:]]
        m, s = SCALES.get(meta.get("scale") or "0–1", SCALES["0–1"])
        out["mean"], out["std"] = [m] * channels, [s] * channels
    channels = out["input_shape"][0]
    if classes is not None:
        classes = [c.strip() for c in classes if c.strip()]
        count = len(meta["classes"])
        if len(classes) != count:
            raise ModelError(f"The network has {count} outputs; {len(classes)} class names were given.")
        if any(len(c) > 60 for c in classes):
            raise ModelError("Class names here are at most 60 characters.")
        if len(set(classes)) != len(classes):
            raise ModelError("A class name is given twice.")
        out["classes"] = classes
    if scale is not None:
        if scale == MEAN_STD:
            if mean is None or std is None or len(mean) != channels or len(std) != channels:
                raise ModelError(f"Give {channels} mean and {channels} std values (one per channel).")
            if not all(math.isfinite(v) for v in (*mean, *std)) or min(std) <= 0:
                raise ModelError("Mean and std must be finite numbers, std above 0.")
            out["mean"], out["std"] = [float(v) for v in mean], [float(v) for v in std]
        elif scale in SCALES:
            m, s = SCALES[scale]
            out["mean"], out["std"] = [m] * channels, [s] * channels
        else:
            raise ModelError(f"Unknown pixel scale {scale!r}.")
        out["scale"] = scale
    if size is not None and meta.get("open_size"):
        if not MIN_SIDE <= size <= MAX_SIDE:
            raise ModelError(f"Pictures here have {MIN_SIDE} to {MAX_SIDE} pixels a side.")
        out["input_shape"] = [channels, size, size]
    return out
