"""Transfer learning: what a pretrained CNN gives you on a few pictures per class (deck 004).

"What to do in case of limited data?" The lecture's answer: take a CNN trained on ImageNet, resize
your pictures to its input, run them through it and keep the pooled activations before its last
layer (the "CNN representation"), then train a simple classifier on those features; or fine-tune
its last blocks with a new output layer. Both are compared here with the small CNN trained from
scratch on the same k pictures per class.

Nothing here changes the shared pretrained network: it is only read (eval mode, no hooks, no
gradients), and fine-tuning trains a deep copy of the blocks it changes. Long functions take a
``progress(done, total)`` callback and a ``should_stop()`` check; a stop raises :class:`Stopped`.
"""
from __future__ import annotations

import copy
import hashlib
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vizcore import augment, data, images, train

BUILTIN = ("shapes", "scenes", "digits")
SIMILAR = ("shapes", "scenes")  # photos-like pictures of objects: the deck's "similar task"
INPUT_SIDE = 224  # the ImageNet network's input
FEATURE_STAGE = "flatten"  # the pooled activations, just before the last (fc) layer
BATCH = 16  # pictures per forward pass
CHUNK = 16  # pictures stored at a time by the FeatureStore (a Stop loses at most these)
TRAIN_POOL = {"shapes": 2000, "scenes": 2000}  # generated training pictures the draws come from
TEST_SIZE = 200  # test pictures of a built-in set on the page (the first of its test split; the benchmark uses 400)
KS = (2, 5, 10, 20, 50)  # pictures per class on the curve
MAX_K = 50
FINE_TUNE_STEPS = 50
MAX_TAIL_BLOCKS = 4
SCRATCH_EPOCHS = 60  # small CNN from scratch: epochs over the k pictures per class...
SCRATCH_MAX_STEPS = 300  # ...but never more optimiser steps than this
MAX_OWN_CLASSES = 20
MAX_OWN_PICTURES = 400  # own pictures (zip or webcam) at 224², all classes together
MIN_OWN_PER_CLASS = 3  # at least two to train on and one to test
OWN_TRAIN_FRACTION = 0.7
ProgressFn = Callable[[int, int], None]
StopFn = Callable[[], bool]


class Stopped(Exception):
    """The user pressed Stop: the work ended early and nothing half-done is returned."""


class TransferError(ValueError):
    """Pictures that cannot be used, with a message a student understands."""


@dataclass
class Pictures:
    """A labelled set of pictures: uint8 (N, C, H, W), int64 labels (N,), class names."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]

    def __len__(self) -> int:
        return int(len(self.labels))

    def subset(self, index: np.ndarray) -> "Pictures":
        return Pictures(self.images[index], self.labels[index], self.classes)


@dataclass
class Result:
    """One strategy's test result: accuracy, confusion matrix (row = true class, column =
    predicted), the predictions and their probabilities, which test pictures were wrong, and
    the seconds it took."""

    strategy: str
    accuracy: float
    confusion: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray
    misclassified: np.ndarray
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


def _check(should_stop: StopFn | None) -> None:
    if should_stop is not None and should_stop():
        raise Stopped()


def result(strategy: str, probabilities: np.ndarray, labels: np.ndarray, num_classes: int,
           seconds: float, **extra: Any) -> Result:
    """A :class:`Result` from the test pictures' class probabilities (N, classes)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    predicted = probabilities.argmax(1) if len(probabilities) else np.zeros(0, np.int64)
    wrong = np.flatnonzero(predicted != labels)
    return Result(strategy, float((predicted == labels).mean()) if len(labels) else float("nan"),
                  train.confusion_matrix(labels, predicted, num_classes), predicted, probabilities,
                  wrong, seconds, dict(extra))


# --------------------------------------------------------------------------- the pictures

def builtin_split(name: str, split: str) -> Pictures:
    """The built-in set ``name``'s training pool (``split="train"``: the draws come from it) or
    its test pictures (``"test"``: the first ``TEST_SIZE`` of its test split), as stored."""
    if name not in BUILTIN:
        raise TransferError(f"Unknown built-in set {name!r}; choose one of {', '.join(BUILTIN)}.")
    size = TRAIN_POOL.get(name) if split == "train" else None
    s = data.load_dataset(name, split, size=size)
    if split == "test":  # a copy: a view would keep the whole test split alive
        s = s.subset(min(TEST_SIZE, len(s)))
        return Pictures(s.images.numpy().copy(), s.labels.numpy().copy(), list(s.classes))
    return Pictures(s.images.numpy(), s.labels.numpy(), list(s.classes))


def scratch_split(name: str) -> data.DataSplit:
    """The built-in set's training split object for its normalisation, class names and channels:
    its first picture only (a copy; the 2000-picture pool is :func:`builtin_split`'s)."""
    first = data.load_dataset(name, "train", size=TRAIN_POOL.get(name, 10)).subset(1)
    return replace(first, images=first.images.clone(), labels=first.labels.clone(), masks=None, cue_masks=None)


def draw(labels: np.ndarray, k: int, seed: int, num_classes: int | None = None) -> np.ndarray:
    """Indices of k pictures per class, drawn at random (seeded) without repeats, sorted.

    A class with fewer than k pictures gives all it has. The same seed always gives the same
    pictures, and the k pictures of a smaller k are not necessarily among those of a larger one.
    """
    labels = np.asarray(labels)
    num_classes = int(labels.max()) + 1 if num_classes is None else num_classes
    rng = np.random.default_rng([int(seed), int(k), 19])
    chosen = []
    for c in range(num_classes):
        where = np.flatnonzero(labels == c)
        chosen.append(rng.choice(where, size=min(int(k), len(where)), replace=False))
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def model_input(pictures: np.ndarray | torch.Tensor, meta: dict) -> torch.Tensor:
    """uint8 pictures (N, C, H, W) as the network's input: grey made RGB, the whole picture
    squeezed to 224×224 (bilinear; nothing cropped: the objects of the built-in sets reach the
    edges), then ``(x/255 − mean) / std`` with the network's mean and std (0.5 and 0.5)."""
    x = torch.as_tensor(np.array(pictures)).float() / 255.0  # a copy: a picture from PIL is read-only
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    _, height, width = meta["input_shape"]
    if tuple(x.shape[-2:]) != (height, width):
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False,
                          antialias=x.shape[-1] > width)
    mean = torch.tensor(meta["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(meta["std"], dtype=torch.float32).view(1, -1, 1, 1)
    # Channels-last memory: the depthwise convolutions run about 20 % faster on CPU (same values to ~1e-5).
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def resize_pictures(pictures: np.ndarray, side: int) -> np.ndarray:
    """uint8 pictures (N, C, H, W) resized to side × side (area-averaged when shrinking)."""
    x = torch.as_tensor(np.array(pictures)).float()
    if x.shape[-1] != side or x.shape[-2] != side:
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False,
                          antialias=x.shape[-1] > side)
    return x.round().clamp(0, 255).to(torch.uint8).numpy()


# --------------------------------------------------------------------------- frozen features

def stage_names(model: nn.Sequential) -> list[str]:
    return [name for name, _ in model.named_children()]


def run_stages(model: nn.Sequential, x: torch.Tensor, names: list[str]) -> torch.Tensor:
    """``x`` through the named stages of the network, in order (no hooks: safe on a shared model)."""
    for name in names:
        x = getattr(model, name)(x)
    return x


KEEP_STAGE = "block12"  # its output (192×7×7) is kept per picture: fine-tuning up to 4 blocks starts there


def _split_at(model: nn.Sequential, stage: str, last: str = FEATURE_STAGE) -> tuple[list[str], list[str]]:
    names = stage_names(model)
    cut = names.index(stage) + 1
    return names[:cut], names[cut:names.index(last) + 1]


def extract(model: nn.Sequential, meta: dict, pictures: np.ndarray, *, batch_size: int = BATCH,
            progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """One pass of the pictures through the network up to ``flatten``: the output of
    ``KEEP_STAGE`` (N, 192, 7, 7; where fine-tuning starts) and the pooled features (N, 1280)."""
    front, rest = _split_at(model, KEEP_STAGE)
    kept, feats = [], []
    n = len(pictures)
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            _check(should_stop)
            k = run_stages(model, model_input(pictures[start:start + batch_size], meta), front)
            kept.append(k)
            feats.append(run_stages(model, k, rest))
            if progress is not None:
                progress(min(start + batch_size, n), n)
    if not kept:
        return torch.zeros(0), np.zeros((0, model.fc.in_features), np.float32)
    return torch.cat(kept), torch.cat(feats).numpy().astype(np.float32)


def extract_features(model: nn.Sequential, meta: dict, pictures: np.ndarray, *, batch_size: int = BATCH,
                     progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> np.ndarray:
    """The network's own pooled activations (N, 1280) for uint8 pictures (N, C, H, W): every stage
    up to ``flatten``, in batches, without gradients. A pure function of the pictures (and the
    network): the deck's "CNN representation", the input its last layer sees."""
    return extract(model, meta, pictures, batch_size=batch_size, progress=progress, should_stop=should_stop)[1]


def picture_key(picture: np.ndarray) -> bytes:
    """A hash of one picture's every byte and its shape (the feature store's key)."""
    picture = np.ascontiguousarray(picture)
    h = hashlib.blake2b(f"{picture.shape}{picture.dtype}".encode(), digest_size=16)
    h.update(picture.tobytes())
    return h.digest()


class FeatureStore:
    """The frozen network's outputs by picture content, computed once per picture and reused:
    changing k or the seed only runs the pictures not seen before. Per picture it keeps the
    pooled features and the output of ``KEEP_STAGE`` (where fine-tuning starts). Safe for many
    threads (one lock around the table; the network runs outside it). Holds at most
    ``max_entries`` pictures (about 43 KB each; the oldest go first).
    """

    def __init__(self, model: nn.Sequential, meta: dict, max_entries: int = 3000):
        self.model, self.meta, self.max_entries = model, meta, max_entries
        self._table: OrderedDict[bytes, tuple[torch.Tensor, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._table)

    def missing(self, pictures: np.ndarray) -> int:
        """How many of the pictures have no stored outputs yet."""
        keys = {picture_key(p) for p in pictures}
        with self._lock:
            return sum(key not in self._table for key in keys)

    def outputs(self, pictures: np.ndarray, *, progress: ProgressFn | None = None,
                should_stop: StopFn | None = None) -> tuple[torch.Tensor, np.ndarray]:
        """(kept stage outputs, features) of the pictures, computing only the ones not stored yet."""
        keys = [picture_key(p) for p in pictures]
        with self._lock:
            todo: dict[bytes, int] = {}
            for i, key in enumerate(keys):
                if key not in self._table:
                    todo.setdefault(key, i)
        index = list(todo.values())
        for start in range(0, len(index), CHUNK):  # stored chunk by chunk: a Stop keeps what is done
            part = index[start:start + CHUNK]

            def chunk_progress(done: int, total: int, start: int = start) -> None:
                if progress is not None:
                    progress(start + done, len(index))

            kept, feats = extract(self.model, self.meta, pictures[part], progress=chunk_progress,
                                  should_stop=should_stop)
            with self._lock:
                for i, k, f in zip(part, kept, feats):
                    self._table[keys[i]] = (k.clone(), f.copy())  # copies: a view keeps the whole chunk
                while len(self._table) > self.max_entries:
                    self._table.popitem(last=False)
        with self._lock:
            found = {key: self._table.get(key) for key in set(keys)}
        if not keys:
            return torch.zeros(0), np.zeros((0, self.model.fc.in_features), np.float32)
        if any(v is None for v in found.values()):  # pushed out meanwhile by other sessions: once more
            return extract(self.model, self.meta, pictures, should_stop=should_stop)
        return torch.stack([found[key][0] for key in keys]), np.stack([found[key][1] for key in keys])

    def features(self, pictures: np.ndarray, **kwargs) -> np.ndarray:
        """The pooled features (N, 1280) of the pictures (see :meth:`outputs`)."""
        return self.outputs(pictures, **kwargs)[1]


# --------------------------------------------------------------------------- strategy 1: features + LR

def fit_logistic(train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray,
                 test_labels: np.ndarray, num_classes: int, *, C: float = 1.0) -> tuple[Result, Any]:
    """Strategy 1: a linear classifier (scikit-learn's multinomial logistic regression, L2 with
    strength 1/C) on the frozen features. Returns the test :class:`Result` and the classifier."""
    start = time.perf_counter()
    clf = logistic_classifier(C)
    clf.fit(train_features, train_labels)
    probabilities = class_probabilities(clf, test_features, num_classes)
    return result("features + logistic regression", probabilities, test_labels, num_classes,
                  time.perf_counter() - start), clf


def logistic_classifier(C: float = 1.0):
    """The classifier of strategy 1, unfitted (its settings, in one place)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=2000)


def class_probabilities(clf, features: np.ndarray, num_classes: int) -> np.ndarray:
    """(N, num_classes) probabilities of a fitted classifier; a class it never saw gets 0."""
    out = np.zeros((len(features), num_classes))
    if len(features):
        out[:, clf.classes_] = clf.predict_proba(features)
    return out


UNSEEN_LOGIT = -30.0  # a class the classifier never saw (none of its pictures drawn): probability ~0


def classifier_model(network: nn.Sequential, network_meta: dict, clf, classes: list[str],
                     about: str) -> tuple[nn.Sequential, dict]:
    """Strategy 1 as one model that every page can run: the network's stages up to ``flatten``
    (a copy: the session owns it and the shared network is never touched), then a linear layer
    ``fc`` that holds the logistic regression's weights, so its softmax equals the classifier's
    probabilities. Its meta says it takes photos only, squeezed to 224×224 as its pictures were.

    For two classes scikit-learn keeps one row of weights (the second class's log-odds against
    the first): the first class's logit is then 0 and the second's that row.
    """
    front = []
    for name, stage in network.named_children():
        front.append((name, copy.deepcopy(stage)))
        if name == FEATURE_STAGE:
            break
    width = network.fc.in_features
    weight = torch.zeros(len(classes), width)
    bias = torch.full((len(classes),), UNSEEN_LOGIT)
    seen = np.asarray(clf.classes_, dtype=int)
    coef = torch.as_tensor(clf.coef_, dtype=torch.float32)
    intercept = torch.as_tensor(clf.intercept_, dtype=torch.float32)
    if len(seen) == 2 and coef.shape[0] == 1:
        bias[seen[0]] = 0.0
        weight[seen[1]], bias[seen[1]] = coef[0], intercept[0]
    else:
        weight[seen], bias[seen] = coef, intercept
    fc = nn.Linear(width, len(classes))
    with torch.no_grad():
        fc.weight.copy_(weight)
        fc.bias.copy_(bias)
    model = nn.Sequential(OrderedDict(front + [("fc", fc)])).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    meta = {"name": f"ImageNet features + logistic regression ({about})", "classes": [str(c) for c in classes],
            "input_shape": list(network_meta["input_shape"]), "mean": list(network_meta["mean"]),
            "std": list(network_meta["std"]), "dataset": about, "photos_only": True,
            "params": int(fc.weight.numel() + fc.bias.numel()), "trained_in": "the Transfer learning page"}
    return model, meta


# --------------------------------------------------------------------------- strategy 2: fine-tune

def tail_names(model: nn.Sequential, blocks: int) -> list[str]:
    """The stages fine-tuning trains: the last ``blocks`` blocks and the head (1×1 conv to 1280)."""
    names = [n for n in stage_names(model) if n.startswith("block")]
    if not 1 <= blocks <= len(names):
        raise TransferError(f"Choose 1 to {len(names)} blocks to fine-tune, not {blocks}.")
    return names[-blocks:] + ["head"]


def front_names(model: nn.Sequential, blocks: int) -> list[str]:
    """The frozen stages before the fine-tuned ones (run once per picture, then reused)."""
    names = stage_names(model)
    return names[:names.index(tail_names(model, blocks)[0])]


def middle_names(model: nn.Sequential, blocks: int) -> list[str]:
    """The frozen stages between ``KEEP_STAGE`` (whose output is stored) and the fine-tuned ones."""
    if blocks > MAX_TAIL_BLOCKS:
        raise TransferError(f"Fine-tune at most {MAX_TAIL_BLOCKS} blocks here, not {blocks}.")
    names = front_names(model, blocks)
    return names[names.index(KEEP_STAGE) + 1:]


def front_outputs(model: nn.Sequential, kept: torch.Tensor, blocks: int) -> torch.Tensor:
    """What the frozen front of the network gives the first fine-tuned block, from the stored
    output of ``KEEP_STAGE``: computed once, then every training step starts from here."""
    with torch.inference_mode():
        return torch.cat([run_stages(model, kept[i:i + 64], middle_names(model, blocks))
                          for i in range(0, len(kept), 64)]) if len(kept) else kept


def new_head(model: nn.Sequential, blocks: int, num_classes: int, seed: int) -> nn.Sequential:
    """A deep copy of the network's last ``blocks`` blocks and head, its pooling, and a new output
    layer for ``num_classes`` (small random weights from a private seeded generator). Only the
    copied stages are copied: the shared network is never touched."""
    stages = OrderedDict((n, copy.deepcopy(getattr(model, n))) for n in tail_names(model, blocks))
    fc = nn.Linear(model.fc.in_features, num_classes)
    g = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        fc.weight.copy_(torch.randn(fc.weight.shape, generator=g) * 0.01)
        fc.bias.zero_()
    stages["pool"] = nn.AdaptiveAvgPool2d(1)
    stages["flatten"] = nn.Flatten()
    stages["fc"] = fc
    tail = nn.Sequential(stages)
    for p in tail.parameters():
        p.requires_grad_(True)
    return tail


def fine_tune(model: nn.Sequential, train_kept: torch.Tensor, train_labels: np.ndarray,
              test_kept: torch.Tensor, test_labels: np.ndarray, num_classes: int, *, blocks: int = 2,
              steps: int = FINE_TUNE_STEPS, lr: float = 1e-3, block_lr: float = 1e-4, batch_size: int = 32,
              seed: int = 0, progress: ProgressFn | None = None,
              should_stop: StopFn | None = None) -> tuple[Result, nn.Sequential]:
    """Strategy 2: train a copy of the last ``blocks`` blocks + head and a new output layer
    (Adam; the new layer at ``lr``, the pretrained blocks gently at ``block_lr``) for ``steps``
    steps, starting from the stored output of ``KEEP_STAGE`` (:class:`FeatureStore`; the frozen
    stages after it run once here). Batch normalisation keeps ImageNet's statistics (eval mode):
    a batch of a few pictures is no estimate of them. Returns the test result and the new tail.
    """
    start = time.perf_counter()
    train_front = front_outputs(model, train_kept, blocks).clone()
    test_front = front_outputs(model, test_kept, blocks)
    tail = new_head(model, blocks, num_classes, seed).eval()
    optimizer = torch.optim.Adam([{"params": tail.fc.parameters(), "lr": lr},
                                  {"params": [p for n, p in tail.named_parameters() if not n.startswith("fc.")],
                                   "lr": block_lr}])
    y = torch.as_tensor(np.asarray(train_labels), dtype=torch.int64)
    g = torch.Generator().manual_seed(int(seed) + 1)
    n = len(y)
    order, position, losses = torch.randperm(n, generator=g), 0, []
    loop_start = time.perf_counter()
    with torch.enable_grad():
        for step in range(steps):
            _check(should_stop)
            if position + batch_size > n and position > 0:
                order, position = torch.randperm(n, generator=g), 0
            index = order[position:position + batch_size]
            position += batch_size
            loss = F.cross_entropy(tail(train_front[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if progress is not None:
                progress(step + 1, steps)
    loop_seconds = time.perf_counter() - loop_start
    with torch.inference_mode():
        probabilities = torch.cat([tail(test_front[i:i + 256]).softmax(1) for i in range(0, len(test_front), 256)]) \
            if len(test_front) else torch.zeros(0, num_classes)
    tail.requires_grad_(False)
    return result(f"fine-tune last {blocks} blocks", probabilities.numpy(), test_labels, num_classes,
                  time.perf_counter() - start, losses=losses, steps=steps, step_seconds=loop_seconds), tail


# --------------------------------------------------------------------------- strategy 3: from scratch

def scratch_arch(name: str, channels: int) -> str:
    """The app's matching small CNN for a data set (vizcore.models)."""
    return "digits" if name == "digits" or channels == 1 else "scenes" if name == "scenes" else "shapes"


def scratch_schedule(pictures: int, *, epochs: int = SCRATCH_EPOCHS, max_steps: int = SCRATCH_MAX_STEPS,
                     batch_size: int = 16) -> tuple[int, int]:
    """(epochs, batches per epoch) of :func:`train_scratch` on ``pictures`` training pictures:
    ``epochs`` passes, fewer where they would take more than ``max_steps`` optimiser steps."""
    batches = math.ceil(pictures / batch_size)
    return max(1, min(epochs, max_steps // max(batches, 1))), batches


def train_scratch(train_split: data.DataSplit, test_split: data.DataSplit, *, arch: str,
                  augmentation: augment.AugmentConfig = augment.NO_AUGMENTATION, seed: int = 0,
                  epochs: int = SCRATCH_EPOCHS, max_steps: int = SCRATCH_MAX_STEPS, batch_size: int = 16,
                  progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> tuple[Result, nn.Module]:
    """Strategy 3: the app's small CNN trained from random weights on the same pictures
    (vizcore.train, Adam 1e-3), with or without augmentation. Returns the result and the model."""
    start = time.perf_counter()
    epochs, batches = scratch_schedule(len(train_split), epochs=epochs, max_steps=max_steps, batch_size=batch_size)
    cfg = train.TrainConfig(epochs=epochs, batch_size=batch_size, optimizer="adam", lr=1e-3,
                            augment=augmentation, seed=seed, threads=1)
    model = train.new_model(arch, train_split, seed=seed)
    total = epochs * batches
    stop_flag = [False]

    def on_event(event: dict) -> None:
        if progress is not None and event["kind"] == "batch":
            progress((event["epoch"] - 1) * event["batches"] + event["batch"], total)

    def stop() -> bool:
        stop_flag[0] = should_stop is not None and bool(should_stop())
        return stop_flag[0]

    history = train.train(model, train_split, None, cfg, callback=on_event, should_stop=stop)
    if history.stopped:
        raise Stopped()
    probabilities = train.predict(model, test_split).softmax(1).numpy()
    name = "from scratch" + (" + augmentation" if augmentation.enabled else "")
    return result(name, probabilities, test_split.labels.numpy(), len(test_split.classes),
                  time.perf_counter() - start, epochs=epochs), model


def as_split(pictures: Pictures, like: data.DataSplit | None = None, name: str = "my pictures") -> data.DataSplit:
    """Pictures as a vizcore.data.DataSplit (the small CNN's training data); the normalisation of
    ``like`` (a built-in set's), else the pictures' own per-channel statistics."""
    x = torch.from_numpy(np.ascontiguousarray(pictures.images))
    mean, std = (like.mean, like.std) if like is not None else data.channel_stats(x)
    return data.DataSplit(x, torch.from_numpy(np.asarray(pictures.labels, dtype=np.int64)), list(pictures.classes),
                          mean, std, name=name)


# --------------------------------------------------------------------------- the curve, the map

def accuracy_curve(labels: np.ndarray, num_classes: int, ks: tuple[int, ...], seeds: tuple[int, ...],
                   strategies: dict[str, Callable[[np.ndarray, int], float]], *,
                   progress: ProgressFn | None = None, should_stop: StopFn | None = None,
                   done: dict | None = None) -> dict[str, np.ndarray]:
    """Test accuracy against pictures per class: for every k and seed, the same drawn pictures
    (:func:`draw` from ``labels``) go to every strategy ``run(indices, seed) -> accuracy``.
    Returns strategy -> (len(ks), len(seeds)) accuracies (NaN where not run). ``done`` (a dict
    kept by the caller, keyed (strategy, k, seed)) holds finished runs: a stopped curve resumes."""
    done = {} if done is None else done
    out = {s: np.full((len(ks), len(seeds)), np.nan) for s in strategies}
    total, count = len(ks) * len(seeds) * len(strategies), 0
    for i, k in enumerate(ks):
        for j, seed in enumerate(seeds):
            index = draw(labels, k, seed, num_classes)
            for s, run in strategies.items():
                key = (s, int(k), int(seed))
                if key not in done:
                    _check(should_stop)
                    done[key] = float(run(index, seed))
                out[s][i, j] = done[key]
                count += 1
                if progress is not None:
                    progress(count, total)
    return out


def embed_2d(x: np.ndarray, method: str = "tsne", seed: int = 0) -> np.ndarray:
    """A 2-D map of the rows of ``x`` (N, D): t-SNE (neighbours stay neighbours; perplexity up to
    30) or PCA (the two directions of largest variance). Deterministic for a seed."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if len(x) < 3:
        raise TransferError("A map needs at least 3 pictures.")
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(x)
    if method != "tsne":
        raise TransferError(f"Unknown map {method!r}; choose 'tsne' or 'pca'.")
    perplexity = float(min(30.0, (len(x) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed,
                max_iter=500).fit_transform(x)


def separation(points: np.ndarray, labels: np.ndarray) -> float:
    """How well the classes separate on a map: the silhouette score (−1 … 1; above 0 means a
    picture is nearer its own class than the next one on average). NaN for a single class."""
    from sklearn.metrics import silhouette_score

    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2 or len(labels) <= len(np.unique(labels)):
        return float("nan")
    return float(silhouette_score(points, labels))


# --------------------------------------------------------------------------- the student's own pictures

def _normal_name(name: str) -> str:
    return " ".join(name.split()).casefold()


def own_pictures(named: dict[str, list[bytes]] | list[tuple[str, list[bytes]]], *, side: int = INPUT_SIDE,
                 max_classes: int = MAX_OWN_CLASSES, max_pictures: int = MAX_OWN_PICTURES) -> Pictures:
    """Pictures per class (e.g. taken with the webcam) as a :class:`Pictures` at side × side RGB.

    Checked before anything is decoded: 2 to ``max_classes`` classes, plain and distinct names
    (case and spaces ignored), at least ``MIN_OWN_PER_CLASS`` pictures each, at most
    ``max_pictures`` in all; each picture then goes through :func:`vizcore.images.load_image`
    (size limits, broken files). Raises :class:`TransferError` with the reason.
    """
    items = list(named.items()) if isinstance(named, dict) else list(named)
    if len(items) < 2:
        raise TransferError("A classifier needs at least two classes: add another class.")
    if len(items) > max_classes:
        raise TransferError(f"{len(items)} classes: the limit here is {max_classes}.")
    seen: dict[str, str] = {}
    for name, pics in items:
        try:
            data.check_class_name(name.strip())
        except data.DataError as err:
            raise TransferError(str(err)) from None
        key = _normal_name(name)
        if key in seen:
            raise TransferError(f"Two classes are both called {name.strip()!r}: give each class its own name.")
        seen[key] = name
        if len(pics) < MIN_OWN_PER_CLASS:
            raise TransferError(f"Class {name.strip()!r} has {len(pics)} pictures; each class needs at least "
                                f"{MIN_OWN_PER_CLASS} (some to learn from, one to test on).")
    total = sum(len(p) for _, p in items)
    if total > max_pictures:
        raise TransferError(f"{total} pictures in all: the limit here is {max_pictures}.")
    out, labels = [], []
    for label, (name, pics) in enumerate(items):
        for i, raw in enumerate(pics):
            try:
                img = images.load_image(raw)
            except images.ImageInputError as err:
                raise TransferError(f"Picture {i + 1} of class {name.strip()!r} cannot be used: {err}") from None
            img = img.convert("RGB").resize((side, side), images.Image.Resampling.BILINEAR)
            out.append(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1))
            labels.append(label)
    return Pictures(np.stack(out), np.asarray(labels, np.int64), [n.strip() for n, _ in items])


def own_zip(raw: bytes, *, side: int = INPUT_SIDE, progress: ProgressFn | None = None,
            should_stop: StopFn | None = None) -> Pictures:
    """A zip of class folders (as on the Training page, with its checks: paths, sizes, pixel
    budgets, broken pictures, class names) as :class:`Pictures` at side × side RGB, with this
    page's smaller limits (``MAX_OWN_CLASSES`` classes, ``MAX_OWN_PICTURES`` pictures)."""
    try:
        folder = data.load_image_folder_zip(raw, image_size=side, channels=3, max_files=MAX_OWN_PICTURES,
                                            max_classes=MAX_OWN_CLASSES, progress=progress,
                                            should_stop=should_stop)
    except data.DataError as err:
        raise TransferError(str(err)) from None
    splits = [folder.splits[s] for s in data.SPLITS]
    pics = Pictures(torch.cat([s.images for s in splits]).numpy(), torch.cat([s.labels for s in splits]).numpy(),
                    list(folder.classes))
    _check_distinct(pics.classes)
    return pics


def _check_distinct(classes: list[str]) -> None:
    seen: set[str] = set()
    for name in classes:
        if _normal_name(name) in seen:
            raise TransferError(f"Two classes are both called {name!r} (ignoring case and spaces): "
                                "give each class its own name.")
        seen.add(_normal_name(name))


def split_own(pictures: Pictures, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and test pictures of one's own set: per class 70 % to learn from
    (at least 2) and the rest (at least 1) to test on, drawn with ``seed``."""
    rng = np.random.default_rng([int(seed), 7])
    train_index, test_index = [], []
    for c in range(len(pictures.classes)):
        where = rng.permutation(np.flatnonzero(pictures.labels == c))
        n_train = min(len(where) - 1, max(2, int(round(OWN_TRAIN_FRACTION * len(where)))))
        train_index += list(where[:n_train])
        test_index += list(where[n_train:])
    return np.sort(np.asarray(train_index, np.int64)), np.sort(np.asarray(test_index, np.int64))


# --------------------------------------------------------------------------- the deck's 2×2 table

DECK_ADVICE = {
    ("little", "similar"): "extract the CNN representation, train a simple classifier on it",
    ("little", "different"): "you are in trouble: try features of earlier stages",
    ("lots", "similar"): "fine-tune a few layers, some convolutional ones too",
    ("lots", "different"): "fine-tune many layers (or train from scratch)",
}


def deck_table(measured: dict[tuple[str, str, int], float], *, little: int = 10, lots: int = 50,
               strategies: tuple[str, ...] = ("features + LR", "fine-tune", "from scratch")) -> dict[str, dict[str, str]]:
    """The deck's 2×2 table (little / lots of data × similar / very different task) filled with
    measured accuracies: ``measured[(data set, strategy, k)]`` = mean test accuracy. Similar:
    the shapes and scenes sets; very different: digits (grey 8×8 strokes, nothing like photos).
    Returns row -> column -> text (the deck's advice, then what was measured here)."""
    rows = {"little": little, "lots": lots}
    words = {"little": "little data", "lots": "lots of data"}
    columns = {"similar": SIMILAR, "different": ("digits",)}
    out: dict[str, dict[str, str]] = {}
    for row, k in rows.items():
        label = f"{words[row]} (k = {k})"
        out[label] = {}
        for column, sets in columns.items():
            parts = []
            for name in sets:
                found = [f"{s} {measured[(name, s, k)]:.0%}" for s in strategies if (name, s, k) in measured]
                if found:
                    parts.append(f"{name}: " + ", ".join(found))
            out[label][column] = DECK_ADVICE[(row, column)] + " — " + ("; ".join(parts) if parts else "not measured yet")
    return out


# --------------------------------------------------------------------------- guessing, and how long a run takes

def chance_p_value(correct: int, total: int, num_classes: int) -> float:
    """How likely guessing (each of ``num_classes`` classes with the same chance) gets at least
    ``correct`` of ``total`` test pictures right: the one-sided binomial test's p-value."""
    from scipy.stats import binom

    if total <= 0 or num_classes <= 0:
        raise ValueError("a test needs pictures and classes")
    return float(binom.sf(correct - 1, total, 1.0 / num_classes))


def like_guessing(accuracy: float, total: int, num_classes: int, *, level: float = 0.05) -> bool:
    """Whether an accuracy on ``total`` test pictures is within the noise of guessing: guessing
    scores at least as well more often than ``level`` (5 %). 12 of 100 right among 8 classes
    (guessing 12.5 %) is; 25 of 100 is not."""
    return chance_p_value(round(accuracy * total), total, num_classes) > level


class Pace:
    """Seconds per unit of work (a picture through the frozen network, an optimiser step) on this
    server, as a session's finished runs measured it; an estimate is a range over the recent runs' rates.

    Until two runs have been timed the ``prior`` range (low, high) stays part of it: the old
    constants were measured on an idle server, and the shared one ran 2.2–2.55 times slower
    (issue 25: 9.8 s estimated for 22 s, 10 s for 25.5 s)."""

    def __init__(self, low: float, high: float, keep: int = 8):
        if not 0 < low <= high:
            raise ValueError("a pace needs 0 < low <= high")
        self.prior, self.keep = (low, high), keep
        self.rates: list[float] = []

    def record(self, units: float, seconds: float) -> None:
        if units > 0 and seconds > 0:
            self.rates = (self.rates + [seconds / units])[-self.keep:]

    def per_unit(self) -> tuple[float, float]:
        rates = self.rates if len(self.rates) >= 2 else [*self.rates, *self.prior]
        return min(rates), max(rates)

    def estimate(self, units: float) -> tuple[float, float]:
        low, high = self.per_unit()
        return units * low, units * high


SLOWDOWN = 2.6  # a shared server against an idle one: 22 s for 9.8 s (2.2×), 25.5 s for 10 s (2.55×)


def new_paces() -> dict[str, Pace]:
    """The page's paces before any run is timed: from the constant the page used before (measured
    on an idle server) to ``SLOWDOWN`` times it (see :class:`Pace`)."""
    idle = {"features": 0.035,  # s per picture through the frozen network at 224²
            "logistic": 0.5,  # s per fit
            "fine_tune_step": 0.2,  # s per step (10 s for 50 steps)
            "fine_tune_picture": 0.05,  # s per picture through the middle blocks and the tail
            "scratch_step": 10 / 300}  # s per step, its test predictions included (10 s for 300 steps)
    return {name: Pace(rate, rate * SLOWDOWN) for name, rate in idle.items()}


def fine_tune_estimate(paces: dict[str, Pace], pictures: int, steps: int = FINE_TUNE_STEPS) -> tuple[float, float]:
    """(low, high) seconds of :func:`fine_tune` on ``pictures`` training and test pictures."""
    step, picture = paces["fine_tune_step"].estimate(steps), paces["fine_tune_picture"].estimate(pictures)
    return step[0] + picture[0], step[1] + picture[1]


def scratch_estimate(paces: dict[str, Pace], pictures: int) -> tuple[float, float]:
    """(low, high) seconds of :func:`train_scratch` on ``pictures`` training pictures."""
    epochs, batches = scratch_schedule(pictures)
    return paces["scratch_step"].estimate(epochs * batches)


def record_run(paces: dict[str, Pace], strategy: str, run: Result, *, pictures: int) -> None:
    """A finished run's measured time into the paces: ``strategy`` "logistic", "fine_tune" (its
    ``pictures``: training and test) or "scratch" (``pictures``: training)."""
    if strategy == "logistic":
        paces["logistic"].record(1, run.seconds)
    elif strategy == "fine_tune":
        paces["fine_tune_step"].record(run.extra["steps"], run.extra["step_seconds"])
        paces["fine_tune_picture"].record(pictures, run.seconds - run.extra["step_seconds"])
    elif strategy == "scratch":
        epochs, batches = scratch_schedule(pictures)
        paces["scratch_step"].record(epochs * batches, run.seconds)
    else:
        raise ValueError(f"unknown strategy {strategy!r}")


def time_left(done: int, total: int, elapsed: float) -> float | None:
    """Seconds still to go, at the pace measured so far in this run (None before the first step)."""
    if done <= 0:
        return None
    return elapsed / done * max(total - done, 0)
