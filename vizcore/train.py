"""Training a small CNN: a plain loop, the way the lecture writes it by hand.

One epoch = every training image once, in a new random order, in mini-batches. For each batch:
(augment the pixels,) normalise, forward pass, cross-entropy loss, backward pass, optimizer
step. After each epoch the model is scored on the validation split, which it never trains on:
when training accuracy keeps rising while validation accuracy stalls, the model overfits.

Seeded and deterministic on CPU: the same seed, data, settings and thread count give the same
weights. Run ``python -m vizcore.train --help`` for the command line that made the shipped weights.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import shlex
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vizcore.augment import NO_AUGMENTATION, PRESETS, AugmentConfig, augment_batch
from vizcore.data import DataSplit, load_dataset
from vizcore.models import ASSETS, MODELS, build_model, count_parameters

_GLOBAL_RNG_LOCK = threading.Lock()  # held while torch's global generator is seeded


@contextlib.contextmanager
def seeded_global_rng(seed: int):
    """torch's global generator seeded with ``seed`` inside the block, restored after it.

    torch's layers draw their first weights from the global generator, shared by all threads.
    Seeding it under a lock and restoring it afterwards (fork_rng) keeps a seeded model
    bit-reproducible without two sessions' models ever drawing from one stream."""
    with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@dataclass
class TrainConfig:
    """Hyperparameters of one training run.

    optimizer : "adam" or "sgd" (SGD uses ``momentum``).
    lr : learning rate; with ``schedule="cosine"`` it falls smoothly to 0 by the last batch.
    weight_decay : L2 penalty on the weights (regularisation).
    augment : random changes applied to every training batch (see ``vizcore.augment``).
    seed : seeds shuffling, augmentation and dropout.
    threads : torch CPU threads the command line trains with (recorded in the meta). ``train``
        itself never changes torch's thread count: it is one setting for the whole process, so a
        session training on the server would change it for every other student's work.
    """

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"
    augment: AugmentConfig = NO_AUGMENTATION
    seed: int = 0
    threads: int | None = None


@dataclass
class History:
    """What happened during training, for the curves.

    ``batch_loss[i]`` was measured at ``batch_epoch[i]`` (fractional epochs, e.g. 1.5 = halfway
    through the second epoch); the per-epoch lists hold one value per finished epoch.
    """

    batch_epoch: list[float] = field(default_factory=list)
    batch_loss: list[float] = field(default_factory=list)
    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    stopped: bool = False
    seconds: float = 0.0
    images_seen: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD with momentum or Adam over all model parameters."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"Unknown optimizer {cfg.optimizer!r}; choose 'sgd' or 'adam'.")


@torch.no_grad()
def predict(model: nn.Module, data: DataSplit, batch_size: int = 500) -> torch.Tensor:
    """Logits (N, classes) of the model for every image of ``data`` (model in eval mode).

    A model already in eval mode (every shared one) is only read; a model in the middle of its
    own training is switched to eval for the call and back.
    """
    was_training = model.training
    if was_training:
        model.eval()
    try:
        logits = [model(data.normalize(data.images[i:i + batch_size])) for i in range(0, len(data), batch_size)]
    finally:
        if was_training:
            model.train()
    return torch.cat(logits) if logits else torch.empty(0)


def evaluate(model: nn.Module, data: DataSplit, batch_size: int = 500) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy (0..1) of the model on ``data``."""
    logits = predict(model, data, batch_size)
    loss = F.cross_entropy(logits, data.labels).item()
    accuracy = (logits.argmax(1) == data.labels).float().mean().item()
    return loss, accuracy


def confusion_matrix(true: torch.Tensor | np.ndarray, predicted: torch.Tensor | np.ndarray,
                     num_classes: int) -> np.ndarray:
    """Counts (num_classes, num_classes): row = true class, column = predicted class."""
    true, predicted = np.asarray(true, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    return np.bincount(true * num_classes + predicted, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def _forward(model: nn.Module, x: torch.Tensor, dropout_rng: torch.Generator) -> torch.Tensor:
    """The training forward pass, child by child, with dropout drawn from ``dropout_rng``.

    ``nn.Dropout`` draws its masks from torch's global generator, which every thread (every
    student's session) shares: seeding it for one run would change it for the others. The same
    dropout is written out here with a private generator: keep each value with probability
    1 - p and scale the kept ones by 1 / (1 - p), so the expected output is unchanged.
    """
    if not isinstance(model, nn.Sequential):
        return model(x)
    for layer in model:
        if isinstance(layer, nn.Dropout) and layer.training and layer.p > 0:
            keep = torch.rand(x.shape, generator=dropout_rng) >= layer.p
            x = x * keep / (1 - layer.p) if layer.p < 1 else torch.zeros_like(x)
        else:
            x = layer(x)
    return x


def train(model: nn.Module, train_data: DataSplit, val_data: DataSplit | None, cfg: TrainConfig, *,
          callback: Callable[[dict[str, Any]], None] | None = None,
          should_stop: Callable[[], bool] | None = None) -> History:
    """Train ``model`` in place on ``train_data`` and return the :class:`History`.

    ``callback(event)`` is called after every batch (``event["kind"] == "batch"``) and every epoch
    (``"epoch"``) with ``epoch`` (1-based), ``batch``, ``batches``, ``loss`` and the ``history`` so
    far. ``should_stop()`` is asked after every batch; True ends training after that batch with
    ``history.stopped`` set. The model is left in eval mode.
    """
    if len(train_data) == 0:
        raise ValueError("No training images.")
    history = History()
    optimizer = make_optimizer(model, cfg)
    batches = math.ceil(len(train_data) / cfg.batch_size)
    total_steps = cfg.epochs * batches
    shuffle_rng = torch.Generator().manual_seed(cfg.seed)
    augment_rng = torch.Generator().manual_seed(cfg.seed + 1)
    dropout_rng = torch.Generator().manual_seed(cfg.seed + 2)
    start, step = time.perf_counter(), 0
    try:
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            order = torch.randperm(len(train_data), generator=shuffle_rng)
            loss_sum, correct, seen = 0.0, 0, 0
            for b in range(batches):
                index = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                pixels, labels = train_data.images[index], train_data.labels[index]
                if cfg.augment.enabled:
                    pixels = augment_batch(pixels, cfg.augment, augment_rng)
                if cfg.schedule == "cosine":
                    for group in optimizer.param_groups:
                        group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
                logits = _forward(model, train_data.normalize(pixels), dropout_rng)
                loss = F.cross_entropy(logits, labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1

                batch_loss = loss.item()
                loss_sum += batch_loss * len(labels)
                correct += int((logits.argmax(1) == labels).sum())
                seen += len(labels)
                history.images_seen += len(labels)
                history.batch_epoch.append(epoch - 1 + (b + 1) / batches)
                history.batch_loss.append(batch_loss)
                if callback:
                    callback({"kind": "batch", "epoch": epoch, "batch": b + 1, "batches": batches,
                              "loss": batch_loss, "history": history})
                if should_stop is not None and should_stop():
                    history.stopped = True
                    break
            history.epoch.append(epoch)
            history.train_loss.append(loss_sum / seen)
            history.train_accuracy.append(correct / seen)
            if val_data is not None and len(val_data):
                val_loss, val_accuracy = evaluate(model, val_data)
                history.val_loss.append(val_loss)
                history.val_accuracy.append(val_accuracy)
            history.seconds = time.perf_counter() - start
            if callback:
                callback({"kind": "epoch", "epoch": epoch, "batch": batches, "batches": batches,
                          "loss": history.train_loss[-1], "history": history})
            if history.stopped:
                break
    finally:
        model.eval()
    history.seconds = time.perf_counter() - start
    return history


def new_model(name: str, data: DataSplit, *, seed: int = 0, **options: Any) -> nn.Sequential:
    """A freshly initialised ``name`` model sized for ``data`` (channels, side, classes); seeded."""
    channels, size, _ = data.input_shape
    with seeded_global_rng(seed):  # the shipped weights' recorded command stays bit-reproducible
        return build_model(name, in_channels=channels, image_size=size,
                           num_classes=len(data.classes), **options)


def model_meta(name: str, model: nn.Module, data: DataSplit, cfg: TrainConfig, *,
               options: dict[str, Any] | None = None, test_accuracy: float | None = None,
               command: str | None = None, **extra: Any) -> dict[str, Any]:
    """The meta dict that travels with trained weights (see ``vizcore.models.load_pretrained``)."""
    config = asdict(cfg)
    return {"name": name, "architecture": extra.pop("architecture", name), **data.meta(),
            "test_accuracy": test_accuracy, "params": count_parameters(model),
            "options": {k: list(v) if isinstance(v, tuple) else v for k, v in (options or {}).items()},
            "train_config": config, "train_command": command, "seed": cfg.seed, **extra}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m vizcore.train",
                                     description="Train a registered model and write <name>.pt + <name>.json.")
    parser.add_argument("model", choices=list(MODELS), help="architecture from vizcore.models")
    parser.add_argument("--data", default=None, help="data set (default: the model's own; "
                        "also mnist, fashion_mnist, cifar10 from --data-root)")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--train-size", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--schedule", choices=["constant", "cosine"], default="constant")
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--batch-norm", action="store_true")
    parser.add_argument("--channels", type=int, nargs="+", default=None,
                        help="filters of the conv stages (two; three for scenes)")
    parser.add_argument("--augment", choices=["none", "preset"], default="none",
                        help="'preset': the data set's class-keeping changes (vizcore.augment.PRESETS)")
    parser.add_argument("--seed", type=int, default=0)
    # One thread: on a shared 2-core machine a second thread mostly waits and slows everything.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(ASSETS), help="folder for the weights and meta")
    parser.add_argument("--name", default=None, help="file name (default: the data set name)")
    parser.add_argument("--keep", choices=["best", "last"], default="best",
                        help="keep the weights of the epoch with the best validation accuracy, or the last")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line: train, keep the best epoch by validation accuracy, score on test, write files."""
    args = _parse_args(argv)
    # The command line owns its process: here (and only here) the thread count is set, so the
    # same seed gives the same weights. The app never calls this; train() leaves threads alone.
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _train_and_write(args, argv)
    finally:
        torch.set_num_threads(previous_threads)


def _train_and_write(args: argparse.Namespace, argv: list[str] | None) -> dict[str, Any]:
    data_name = args.data or args.model
    train_data = load_dataset(data_name, "train", root=args.data_root, size=args.train_size)
    val_data = load_dataset(data_name, "val", root=args.data_root)
    test_data = load_dataset(data_name, "test", root=args.data_root)
    options: dict[str, Any] = {"dropout": args.dropout, "batch_norm": args.batch_norm}
    if args.channels:
        options["channels"] = tuple(args.channels)
    model = new_model(args.model, train_data, seed=args.seed, **options)
    augment = PRESETS.get(data_name, NO_AUGMENTATION) if args.augment == "preset" else NO_AUGMENTATION
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
                      weight_decay=args.weight_decay, schedule=args.schedule, augment=augment,
                      seed=args.seed, threads=args.threads)
    best = {"accuracy": -1.0, "loss": math.inf, "state": None, "epoch": 0}

    def report(event: dict[str, Any]) -> None:
        if event["kind"] != "epoch":
            return
        h = event["history"]
        print(f"epoch {event['epoch']:3d}  train loss {h.train_loss[-1]:.4f} acc {h.train_accuracy[-1]:.4f}"
              f"  val loss {h.val_loss[-1]:.4f} acc {h.val_accuracy[-1]:.4f}  {h.seconds:6.1f} s", flush=True)
        # Best validation accuracy; among equals the lower validation loss (surer answers).
        if args.keep == "last" or (h.val_accuracy[-1], -h.val_loss[-1]) > (best["accuracy"], -best["loss"]):
            best.update(accuracy=h.val_accuracy[-1], loss=h.val_loss[-1], epoch=event["epoch"],
                        state={k: v.clone() for k, v in model.state_dict().items()})

    history = train(model, train_data, val_data, cfg, callback=report)
    model.load_state_dict(best["state"])
    test_loss, test_accuracy = evaluate(model, test_data)
    name = args.name or data_name
    command = "python -m vizcore.train " + shlex.join(sys.argv[1:] if argv is None else argv)
    meta = model_meta(name, model, train_data, cfg, options=options, architecture=args.model,
                      test_accuracy=round(test_accuracy, 6), command=command,
                      test_loss=round(test_loss, 6), val_accuracy=round(best["accuracy"], 6),
                      kept_epoch=best["epoch"], train_seconds=round(history.seconds, 1),
                      torch_version=torch.__version__)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / f"{name}.pt")
    (out / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"test accuracy {test_accuracy:.4f} (loss {test_loss:.4f}), kept epoch {best['epoch']}, "
          f"{meta['params']} parameters -> {out / name}.pt")
    return meta


if __name__ == "__main__":
    main()
