"""Going deeper is easy – or not? A plain deep CNN against the same network with skip connections.

Deck 004: "The challenge is to design a network in which the gradient can reach all the layers".
Here a stack of ``depth`` weight layers (a 3×3 stem convolution, ``depth - 2`` 3×3 convolutions
of the same width, a dense classifier after global average pooling) is trained on the digits,
three ways:

- ``plain``: conv → (batch norm →) ReLU, one after the other. Each layer multiplies the gradient
  on its way back; in a deep plain stack it shrinks layer by layer (it *vanishes*) and the
  first layers hardly learn.
- ``residual`` (ResNet, He et al. 2016): every two convolutions form a block
  ``x_{i+1} = ReLU(x_i + F(x_i))``: the addition passes the gradient back unchanged, so it can
  skip the layers that diminish it.
- ``highway`` (Srivastava et al. 2015): ``y = H(x)·T(x) + x·(1 − T(x))`` with a learned gate
  ``T(x) = sigmoid(1×1 conv(x))`` whose bias starts at −2 (mostly carry the input at first).

Depths are ``6n + 2`` (8, 14, 20 … 56) as in the ResNet paper's CIFAR experiments, so the body's
``6n`` convolutions pair into ``3n`` blocks. Training is seeded (private generators; the global
one only under a lock, restored after) and never changes a process-wide setting.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vizcore.data import DataSplit
from vizcore.models import he_init
from vizcore.train import seeded_global_rng  # the one lock around torch's global generator

KINDS = ("plain", "residual", "highway")
DEPTHS = tuple(range(8, 57, 6))  # 8, 14, 20, 26, 32, 38, 44, 50, 56
MAX_STEPS = 2000
MAX_WIDTH = 32
GATE_BIAS = -2.0  # highway gates start mostly closed: the block carries its input


@dataclass(frozen=True)
class DeepConfig:
    """One network and its training: ``depth`` weight layers of ``width`` channels."""

    kind: str = "plain"
    depth: int = 20
    width: int = 8
    batch_norm: bool = True
    steps: int = 200
    batch_size: int = 32
    lr: float = 3e-3
    optimizer: str = "adam"  # or "sgd" (momentum 0.9)
    seed: int = 0
    eval_every: int = 25
    grad_every: int = 25  # gradient norms of every layer every this many steps (and at step 0)


def check_config(cfg: DeepConfig) -> None:
    """A ValueError with a student's message for settings that cannot work."""
    if cfg.kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {cfg.kind!r}.")
    if cfg.depth not in DEPTHS:
        raise ValueError(f"depth must be one of {', '.join(map(str, DEPTHS))} (6n + 2), not {cfg.depth}.")
    if not 1 <= cfg.width <= MAX_WIDTH:
        raise ValueError(f"width must be 1 to {MAX_WIDTH}.")
    if not 1 <= cfg.steps <= MAX_STEPS:
        raise ValueError(f"steps must be 1 to {MAX_STEPS}.")
    if not 1 <= cfg.batch_size <= 512:
        raise ValueError("batch size must be 1 to 512.")
    if cfg.optimizer not in ("adam", "sgd"):
        raise ValueError("the optimizer must be adam or sgd.")
    if not (math.isfinite(cfg.lr) and 0 < cfg.lr <= 10):
        raise ValueError("the learning rate must be a number above 0 and at most 10.")


def _conv(width_in: int, width_out: int, batch_norm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(width_in, width_out, 3, padding=1, bias=not batch_norm)]
    return layers + [nn.BatchNorm2d(width_out)] if batch_norm else layers


class Block(nn.Module):
    """Two 3×3 convolutions, combined with the input as ``kind`` says (plain: not at all)."""

    def __init__(self, width: int, kind: str, batch_norm: bool):
        super().__init__()
        self.kind = kind
        self.conv1 = nn.Sequential(*_conv(width, width, batch_norm))
        self.conv2 = nn.Sequential(*_conv(width, width, batch_norm))
        if kind == "highway":
            self.gate = nn.Conv2d(width, width, 1)
            nn.init.constant_(self.gate.bias, GATE_BIAS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(x)))
        if self.kind == "plain":
            return F.relu(h)
        if self.kind == "residual":
            return F.relu(x + h)
        t = torch.sigmoid(self.gate(x))
        return F.relu(h) * t + x * (1 - t)


class DeepNet(nn.Module):
    """stem (3×3, stride 2: 28² → 14²) → ``(depth - 2) / 2`` blocks → global average pool → fc."""

    def __init__(self, cfg: DeepConfig, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, cfg.width, 3, stride=2, padding=1,
                                            bias=not cfg.batch_norm),
                                  *([nn.BatchNorm2d(cfg.width)] if cfg.batch_norm else []), nn.ReLU())
        self.blocks = nn.Sequential(*[Block(cfg.width, cfg.kind, cfg.batch_norm) for _ in range((cfg.depth - 2) // 2)])
        self.fc = nn.Linear(cfg.width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.blocks(self.stem(x)).mean(dim=(2, 3)))

    def weight_layers(self) -> list[tuple[str, nn.Module]]:
        """The ``depth`` layers with weights, input to output (a highway gate is not counted)."""
        layers = [("stem", self.stem[0])]
        for i, block in enumerate(self.blocks, start=1):
            layers += [(f"conv{2 * i - 1}", block.conv1[0]), (f"conv{2 * i}", block.conv2[0])]
        return layers + [("fc", self.fc)]


def build(cfg: DeepConfig, in_channels: int = 1, num_classes: int = 10) -> DeepNet:
    """A freshly initialised network, the same for the same seed: He initialisation (variance
    2 / fan_in, made for ReLU), drawn from the global generator under a lock and restored after."""
    check_config(cfg)
    with seeded_global_rng(cfg.seed):
        model = he_init(DeepNet(cfg, in_channels, num_classes))
    with torch.no_grad():
        for block in model.blocks:
            if block.kind == "highway":
                nn.init.constant_(block.gate.bias, GATE_BIAS)
            if block.kind == "residual":  # x + F(x) adds variance at every block: scale F to keep it
                block.conv2[0].weight.mul_(1 / math.sqrt(len(model.blocks)))
    return model


def gradient_norms(model: DeepNet) -> list[float]:
    """‖∂loss/∂W‖ of every weight layer's weight tensor (after a backward pass), input to output."""
    return [float(m.weight.grad.norm()) if m.weight.grad is not None else 0.0 for _, m in model.weight_layers()]


@dataclass
class DeepHistory:
    """What one run measured: the loss of every step, validation accuracy every ``eval_every``
    steps, and the gradient norm of every layer at step 0 (initialisation) and then every
    ``grad_every`` steps."""

    layer_names: list[str] = field(default_factory=list)
    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    grad_step: list[int] = field(default_factory=list)
    grad_norms: list[list[float]] = field(default_factory=list)
    params: int = 0
    seconds: float = 0.0
    stopped: bool = False

    def grad_matrix(self) -> np.ndarray:
        """(snapshots, layers) gradient norms."""
        return np.asarray(self.grad_norms, dtype=np.float64)


@torch.no_grad()
def _evaluate(model: nn.Module, data: DataSplit) -> tuple[float, float]:
    model.eval()
    try:
        logits = model(data.x)
        return float(F.cross_entropy(logits, data.labels)), float((logits.argmax(1) == data.labels).float().mean())
    finally:
        model.train()


def train_deep(cfg: DeepConfig, train_data: DataSplit, val_data: DataSplit, *, max_seconds: float | None = None,
               callback: Callable[[dict[str, Any]], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> DeepHistory:
    """Train a fresh :class:`DeepNet` with Adam (or SGD with momentum 0.9) for ``cfg.steps`` mini-batches, or
    until ``max_seconds`` or ``should_stop()``; ``callback(event)`` after every step with
    ``step``, ``steps`` and the ``history`` so far."""
    check_config(cfg)
    if len(train_data) == 0:
        raise ValueError("No training images.")
    c, _, _ = train_data.input_shape
    model = build(cfg, c, len(train_data.classes))
    history = DeepHistory(layer_names=[n for n, _ in model.weight_layers()],
                          params=sum(p.numel() for p in model.parameters()))
    optimizer = (torch.optim.Adam(model.parameters(), lr=cfg.lr) if cfg.optimizer == "adam"
                 else torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9))
    rng = torch.Generator().manual_seed(cfg.seed + 1)
    x_all, y_all = train_data.x, train_data.labels
    order, position = torch.randperm(len(y_all), generator=rng), 0  # as first_batch
    start = time.perf_counter()
    model.train()
    for step in range(cfg.steps):
        if position + cfg.batch_size > len(order):
            order, position = torch.randperm(len(y_all), generator=rng), 0
        index = order[position:position + cfg.batch_size]
        position += cfg.batch_size
        logits = model(x_all[index])
        loss = F.cross_entropy(logits, y_all[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if step % cfg.grad_every == 0:
            history.grad_step.append(step)
            history.grad_norms.append(gradient_norms(model))
        optimizer.step()
        history.step.append(step + 1)
        history.loss.append(float(loss.detach()))
        history.train_accuracy.append(float((logits.argmax(1) == y_all[index]).float().mean()))
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            vl, va = _evaluate(model, val_data)
            history.eval_step.append(step + 1)
            history.val_loss.append(vl)
            history.val_accuracy.append(va)
        history.seconds = time.perf_counter() - start
        if callback:
            callback({"step": step + 1, "steps": cfg.steps, "history": history})
        out_of_time = max_seconds is not None and history.seconds >= max_seconds
        if out_of_time or (should_stop is not None and should_stop()):
            history.stopped = step + 1 < cfg.steps
            if not history.eval_step or history.eval_step[-1] != step + 1:
                vl, va = _evaluate(model, val_data)
                history.eval_step.append(step + 1)
                history.val_loss.append(vl)
                history.val_accuracy.append(va)
            break
    model.eval()
    history.seconds = time.perf_counter() - start
    return history


def first_batch(train_data: DataSplit, cfg: DeepConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The first mini-batch :func:`train_deep` trains on (the same seeded order)."""
    rng = torch.Generator().manual_seed(cfg.seed + 1)
    index = torch.randperm(len(train_data), generator=rng)[:cfg.batch_size]
    return train_data.normalize(train_data.images[index]), train_data.labels[index]


def initial_gradient_norms(cfg: DeepConfig, train_data: DataSplit) -> tuple[list[str], list[float]]:
    """Layer names and ‖gradient‖ of every weight layer of the fresh network on its first
    mini-batch: what step 0 of :func:`train_deep` measures, without training."""
    c, _, _ = train_data.input_shape
    model = build(cfg, c, len(train_data.classes))
    model.train()
    x, y = first_batch(train_data, cfg)
    F.cross_entropy(model(x), y).backward()
    return [n for n, _ in model.weight_layers()], gradient_norms(model)
