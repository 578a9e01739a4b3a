"""Many forward passes, fast: what occlusion, LIME and the deletion/insertion scores cost.

Perturbation methods only *call* the model, on hundreds or thousands of changed copies of one
image, so their whole cost is forward passes. Three things make those cheap on a CPU:

- no autograd (``torch.inference_mode``): no graph is recorded, no buffers are kept;
- the right batch size: too small and the per-call overhead dominates, too large and the
  activations fall out of the cache (the shipped shapes model is fastest at 8–16 images per call,
  the digits model barely cares) — so it is *measured* once per architecture and input size;
- the right memory format: convolutions on channels-last (NHWC) inputs were 2× faster here.

The model is never changed: the input batch gets the memory format, not the weights, and the
measurement runs on the shared model under ``inference_mode`` (no hooks, no flags, no mode switch).
Work is cut into batches made on demand by a ``make(start, stop)`` function, so a million-image
job never holds a million images, and a page can show ``progress(done, total)`` and stop it.
"""
from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

import torch
from torch import nn

from ._base import ExplainError, as_targets, check_targets

OUTPUTS = ("probability", "logit")
# Batch sizes tried by the measurement (the benchmark's floor looks at 16–256; 8 won here too).
CANDIDATE_BATCHES = (8, 16, 32, 64, 128, 256)
CHUNK_BYTES = 4 << 20  # perturbed inputs made at a time: fits in the cache beside the model

Progress = Callable[[int, int], None]
StopFlag = Union[threading.Event, Callable[[], bool], None]
MakeBatch = Callable[[int, int], torch.Tensor]


class Stopped(Exception):
    """The caller asked to stop (its stop flag was set): ``done`` of ``total`` inputs had run.

    Not an ``ExplainError``: nothing was wrong with the input, someone pressed Stop.
    """

    def __init__(self, done: int, total: int):
        super().__init__(f"Stopped after {done} of {total} forward passes.")
        self.done, self.total = done, total


@dataclass
class Plan:
    """How to run a model fast: images per call, memory format, and the measured cost per image.

    ``seconds_per_image`` is the measurement that chose the batch size; real runs then keep a
    running average (:meth:`observe`), so estimates follow the server's actual load.
    """
    batch_size: int
    channels_last: bool
    seconds_per_image: float
    observed: float | None = None
    runs: int = 0

    def __post_init__(self):
        self._lock = threading.Lock()

    def observe(self, seconds: float, images: int) -> None:
        """Fold one real run into the running average (later runs weigh more)."""
        if images < 16 or seconds <= 0:
            return
        rate = seconds / images
        with self._lock:
            self.observed = rate if self.observed is None else 0.7 * self.observed + 0.3 * rate
            self.runs += 1

    @property
    def rate(self) -> float:
        """Seconds per image: the recent real runs' average, else the measurement."""
        return self.observed if self.observed is not None else self.seconds_per_image

    def estimate(self, images: int) -> float:
        """Seconds that ``images`` forward passes should take (for "225 passes ≈ 0.03 s")."""
        return images * self.rate

    def how_sure(self) -> str:
        """Where the rate comes from, for a person: a first timing, or real runs on this server."""
        if self.runs == 0:
            return ("a first guess from a one-second timing of this model on this server; the real runs "
                    "here will make it better")
        return f"from {self.runs} real run{'s' if self.runs > 1 else ''} of this model on this server"

    def describe(self, images: int) -> str:
        """The estimate for ``images`` forward passes with how sure it is: "≈ 2.1 s (…)"."""
        return f"≈ {format_seconds(self.estimate(images))} ({self.how_sure()})"


# The measured plan per (architecture, input shape): speed depends on the layers and sizes, not on
# the weights' values, so a retrained model of the same kind reuses it. Keyed on content (the
# modules' description and every parameter's shape), never on id(), which Python reuses.
_plans: dict[tuple, Plan] = {}
_plans_lock = threading.Lock()
_measuring: dict[tuple, threading.Lock] = {}


# The description of each live model object, remembered so a small job does not pay for repr()
# every call (weak: forgotten with the model). A stale entry (layers swapped in place) could only
# pick a slower batch size, never change a result.
_architectures: "weakref.WeakKeyDictionary[nn.Module, tuple]" = weakref.WeakKeyDictionary()


def _architecture(model: nn.Module) -> tuple:
    with _plans_lock:
        known = _architectures.get(model)
    if known is None:
        params = tuple((name, tuple(t.shape), t.dtype) for name, t in model.state_dict().items())
        known = (repr(model), params)
        with _plans_lock:
            _architectures[model] = known
    return known


def laid_out(batch: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """``batch`` (N, C, H, W) with exactly the strides of the memory format (copied only if needed).

    ``contiguous(memory_format=...)`` is not enough: with one channel (the digits model) a tensor
    counts as both formats whatever its strides, and the convolution then picks its layout from
    the strides — the difference was 2–5× here.
    """
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    n, c, h, w = batch.shape
    wanted = (h * w * c, 1, w * c, c) if channels_last else (c * h * w, h * w, w, 1)
    if batch.stride() == wanted:
        return batch
    return torch.empty(batch.shape, dtype=batch.dtype, memory_format=fmt).copy_(batch)


def measure_plan(model: nn.Module, shape: tuple[int, int, int], dtype: torch.dtype = torch.float32,
                 batches: tuple[int, ...] = CANDIDATE_BATCHES, budget: float = 1.0, rounds: int = 6) -> Plan:
    """Time the model at each batch size in NCHW and channels-last; the fastest per image wins.

    The candidates are timed in turns (round after round, each once), so a moment of load from
    other work slows all of them alike; each keeps its best round. The inputs are random (speed
    does not depend on the values) from a private generator. Large batches are left out when one
    call of them would take more than a tenth of the time ``budget`` (seconds).
    """
    generator = torch.Generator().manual_seed(0)
    configs = []
    with torch.inference_mode():
        for batch in batches:
            # Made per batch size: the largest candidates are often skipped (a 256×3×224×224
            # tensor made up front cost 154 MB for a network that stops at batch 8).
            x = torch.randn((batch, *shape), generator=generator, dtype=dtype)
            for channels_last in (True, False):
                inp = laid_out(x, channels_last)
                start = time.perf_counter()
                model(inp)  # warm-up: the first call of a shape also picks its kernels
                configs.append([inp, batch, channels_last, float("inf")])
            if time.perf_counter() - start > budget / 10:
                break
        deadline = time.perf_counter() + budget
        for _ in range(rounds):
            for config in configs:
                start = time.perf_counter()
                model(config[0])
                config[3] = min(config[3], (time.perf_counter() - start) / config[1])
            if time.perf_counter() > deadline:
                break
    _, batch, channels_last, seconds = min(configs, key=lambda c: c[3])
    return Plan(batch, channels_last, seconds)


def plan_for(model: nn.Module, shape: tuple[int, int, int], dtype: torch.dtype = torch.float32) -> Plan:
    """The cached plan for this architecture and input shape, measured the first time.

    Thread-safe: when many sessions ask at once, one measures and the others wait for its answer
    (measuring in parallel on a shared CPU would also give wrong numbers).
    """
    key = (_architecture(model), tuple(shape), dtype)
    with _plans_lock:
        if key in _plans:
            return _plans[key]
        lock = _measuring.setdefault(key, threading.Lock())
    with lock:
        with _plans_lock:
            if key in _plans:
                return _plans[key]
        plan = measure_plan(model, tuple(shape), dtype)
        with _plans_lock:
            _plans[key] = plan
            _measuring.pop(key, None)
    return plan


# What autograd keeps for one backward pass, per image, at most about this much: a 224² ImageNet
# network keeps ~81 MB per image (six images a pass grew a server by 535 MB), a small model ~1 MB.
BACKWARD_BUDGET_BYTES = 192 * 2**20
_saved_bytes: dict[tuple, int] = {}


def saved_bytes_per_image(model: nn.Module, shape: tuple[int, int, int]) -> int:
    """Bytes autograd saves for the backward pass of one image (activations, not weights),
    counted once per architecture and input shape in a forward pass with gradients.

    Counted with ``saved_tensors_hooks``, which apply to this thread's graph only: nothing is
    hooked on the shared model, and no backward pass runs.
    """
    key = (_architecture(model), tuple(shape))
    with _plans_lock:
        if key in _saved_bytes:
            return _saved_bytes[key]
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        if not (t.is_leaf and t.requires_grad):  # weights are kept anyway; activations grow per image
            total += t.numel() * t.element_size()
        return t

    x = torch.zeros((1, *shape), requires_grad=True)
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    with _plans_lock:
        _saved_bytes[key] = max(1, total)
    return _saved_bytes[key]


def images_per_backward(model: nn.Module, shape: tuple[int, ...], values_per_pass: int) -> int:
    """How many images one forward + backward pass takes: about ``values_per_pass`` input values
    (fast for small models), but never more than BACKWARD_BUDGET_BYTES of saved activations."""
    by_values = values_per_pass // math.prod(shape)
    by_memory = BACKWARD_BUDGET_BYTES // saved_bytes_per_image(model, tuple(shape))
    return max(1, min(by_values, by_memory))


def format_seconds(t: float) -> str:
    """An estimate as a person reads it: "40 ms", "1.3 s"."""
    return f"{t * 1e3:.0f} ms" if t < 0.1 else f"{t:.1f} s"


def format_span(low: float, high: float) -> str:
    """An estimate's range as a person reads it: "10.0 s" when both ends read alike, else
    "9.8 s to 22.4 s"."""
    a, b = format_seconds(low), format_seconds(high)
    return a if a == b else f"{a} to {b}"


def _should_stop(stop: StopFlag) -> bool:
    if stop is None:
        return False
    if isinstance(stop, threading.Event):
        return stop.is_set()
    return bool(stop())


def outputs(model: nn.Module, inputs: torch.Tensor | MakeBatch, total: int | None = None, *,
            output: str = "logit", progress: Progress | None = None, stop: StopFlag = None,
            plan: Plan | None = None) -> torch.Tensor:
    """The model's outputs (total, K) for many inputs, in batches, without autograd.

    Parameters
    ----------
    inputs : a tensor (total, C, H, W), or ``make(start, stop)`` returning inputs start … stop−1
        (built on demand, so only one batch of perturbed images exists at a time).
    total : how many inputs ``make`` can give (taken from the tensor otherwise).
    output : "logit" (the model's raw scores) or "probability" (softmax over the classes).
    progress : called as ``progress(done, total)`` after every batch.
    stop : a ``threading.Event`` or a function returning True to stop; checked before every
        batch, it makes this raise :class:`Stopped`.
    plan : batch size and memory format; measured for the model (once) if not given.
    """
    if output not in OUTPUTS:
        raise ExplainError(f"The output must be one of {', '.join(OUTPUTS)}, got {output!r}.")
    if isinstance(inputs, torch.Tensor):
        tensor = inputs
        total = tensor.shape[0]
        inputs = lambda start, end: tensor[start:end]  # noqa: E731
    elif total is None:
        raise ExplainError("Say how many inputs the batch function gives (total).")
    if total == 0:
        raise ExplainError("There is nothing to run the model on.")
    first = inputs(0, 1)  # tells the image size (and shape, for the plan)
    if plan is None:
        plan = plan_for(model, tuple(first.shape[1:]), first.dtype)
    # Inputs are made a few batches at a time (about CHUNK_BYTES): one call of the batch
    # function per batch would cost more than a tiny model's forward pass.
    per_image = max(1, first[0].numel() * first.element_size())
    count = max(plan.batch_size, CHUNK_BYTES // per_image // plan.batch_size * plan.batch_size)
    results: list[torch.Tensor] = []
    done = 0
    chunk, chunk_start = None, 0
    model_seconds = 0.0  # the model's calls only: making inputs and drawing progress are the caller's cost
    with torch.inference_mode():
        while done < total:
            if _should_stop(stop):
                raise Stopped(done, total)
            if chunk is None or done >= chunk_start + chunk.shape[0]:
                chunk, chunk_start = inputs(done, min(done + count, total)), done
                if chunk.shape[0] == 0:
                    raise ExplainError(f"The batch function gave no input at {done} of {total}.")
            batch = chunk[done - chunk_start:done - chunk_start + plan.batch_size]
            if batch.ndim == 4:  # no copy when the batch is already laid out so
                batch = laid_out(batch, plan.channels_last)
            started = time.perf_counter()
            out = model(batch)
            model_seconds += time.perf_counter() - started
            if out.ndim != 2:
                out = out.reshape(out.shape[0], -1)
            results.append(torch.softmax(out, dim=1) if output == "probability" else out)
            done += batch.shape[0]
            if progress is not None:
                progress(done, total)
    plan.observe(model_seconds, total)
    return torch.cat(results).clone()  # clone: a normal tensor, not an inference-mode one


def probabilities(model: nn.Module, inputs: torch.Tensor | MakeBatch, target=None,
                  total: int | None = None, **options) -> torch.Tensor:
    """Class probabilities (total, K), or with ``target`` only the target's (total,).

    ``target`` is one class for all inputs or one per input; ``options`` go to :func:`outputs`.
    """
    probs = outputs(model, inputs, total, output="probability", **options)
    if target is None:
        return probs
    targets = as_targets(target, probs.shape[0])
    check_targets(targets, probs.shape[1])
    return probs.gather(1, targets[:, None])[:, 0]
