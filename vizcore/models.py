"""Small CNNs with named layers: a LeNet-style digit reader and a TinyVGG-style shape classifier.

Every model is an ``nn.Sequential`` built from an ``OrderedDict`` of named layers (``conv1``,
``relu1``, ``pool1``, ..., ``flatten``, ``fc``), so a page can hook any layer by name and
``model.named_children()`` lists the layers in the order the data flows through them. Models
output logits; callers apply softmax.

Weights travel as *state dicts* only (a dict of tensors) and are read with
``torch.load(..., weights_only=True)``, which refuses pickles that would run code.
"""
from __future__ import annotations

import io
import json
import warnings
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


def _read_state_dict(data: bytes) -> tuple[dict[str, torch.Tensor], dict | None]:
    """Unpickle ``data`` safely; return the state dict and the meta dict if the file had one."""
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
    return obj, meta


def _model_from_state_dict(state_dict: dict[str, torch.Tensor], name: str,
                           image_size: int | None = None) -> nn.Sequential:
    options = architecture_options(state_dict, name, image_size)
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
    state_dict, meta = _read_state_dict(data)
    size = None
    if meta and isinstance(meta.get("input_shape"), list) and len(meta["input_shape"]) == 3:
        size = meta["input_shape"][2]
    return _model_from_state_dict(state_dict, name, size)


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
    """Like :func:`load_weights`, plus the meta stored with it (or a default meta if none)."""
    state_dict, meta = _read_state_dict(data)
    model = load_weights(data, name)
    if meta is None or not isinstance(meta.get("classes"), list) \
            or len(meta["classes"]) != architecture_options(state_dict, name)["num_classes"]:
        return model, default_meta(model, name, dataset="uploaded weights")
    return model, {**default_meta(model, name), **meta}


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
    """
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


def preprocess(img: Image.Image, meta: dict[str, Any]) -> torch.Tensor:
    """A picture as the model's input: a (1, C, H, W) float tensor ``(pixels/255 - mean) / std``.

    The picture is converted to grey (C=1) or RGB (C=3) and resized to H x W (the whole picture is
    squeezed in, nothing is cropped).
    """
    channels, height, width = meta["input_shape"]
    img = img.convert("L" if channels == 1 else "RGB")
    if img.size != (width, height):
        img = img.resize((width, height), Image.Resampling.BILINEAR)
    pixels = np.asarray(img, dtype=np.float32).reshape(height, width, channels)
    x = torch.from_numpy(pixels.transpose(2, 0, 1).copy()) / 255.0
    mean = torch.tensor(meta["mean"], dtype=torch.float32).view(channels, 1, 1)
    std = torch.tensor(meta["std"], dtype=torch.float32).view(channels, 1, 1)
    return ((x - mean) / std).unsqueeze(0)
