"""SmoothGrad (Smilkov et al. 2017): the gradient averaged over noisy copies of the image.

A plain gradient map is speckled: the score's slope jumps from pixel to pixel because ReLU
networks are piecewise linear. Averaging the gradient over copies with Gaussian noise added
keeps what is stable near the image and washes out the speckle.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ._base import ExplainError
from ._forward import images_per_backward
from .gradient import Target, class_scores, fast_layout, prepare

# Input values (noisy copies × values per image) per forward/backward pass: enough to keep the
# CPU busy, few enough to stay in cache. Measured with ``benchmarks/bench_explain.py --batching``.
VALUES_PER_PASS = 2**20


def noise_std(x: torch.Tensor, noise: float) -> torch.Tensor:
    """The noise's standard deviation per image: ``noise`` × (max − min) of that image, (N,)."""
    flat = x.reshape(x.shape[0], -1)
    return noise * (flat.amax(dim=1) - flat.amin(dim=1))


def smoothgrad(model: nn.Module, x: torch.Tensor, target: Target, samples: int = 50,
               noise: float = 0.15, seed: int = 0) -> torch.Tensor:
    """Mean gradient of the target logit over ``samples`` noisy copies of each image, (N, C, H, W).

    The noise is Gaussian with standard deviation ``noise`` × (max − min) of each image, the
    SmoothGrad paper's 10–20 % of the input's range. captum's ``NoiseTunnel`` takes an
    *absolute* standard deviation instead (``stdevs``, default 1.0): for one image this equals
    ``NoiseTunnel(Saliency(model)).attribute(x, nt_type="smoothgrad", nt_samples=samples,
    stdevs=noise * float(x.max() - x.min()), target=target, abs=False)`` when captum's global
    generator holds the same seed (the noise is drawn in the same order, copies of one image
    next to each other). Here the noise comes from a private generator seeded with ``seed``:
    the same call always gives the same map, and no other thread's random numbers move.
    ``samples=1, noise=0`` is the plain :func:`gradient`.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ExplainError(f"SmoothGrad needs at least 1 noisy sample, got {samples!r}.")
    if not (isinstance(noise, (int, float)) and math.isfinite(noise) and noise >= 0):
        raise ExplainError(f"The noise level must be a number ≥ 0, got {noise!r}.")
    x, targets = prepare(model, x, target)
    n, shape = x.shape[0], x.shape[1:]
    per_row = math.prod(shape)
    std = noise_std(x, float(noise)).float()
    # captum draws all the noise at once, as float32. torch fills a normal tensor in blocks of
    # 16 numbers, so drawing it pass by pass gives the same numbers only when every pass draws
    # a multiple of 16 of them: round the rows per pass to that.
    rows_multiple = 16 // math.gcd(per_row, 16)
    rows = max(rows_multiple, images_per_backward(model, tuple(shape), VALUES_PER_PASS)
               // rows_multiple * rows_multiple)
    generator = torch.Generator().manual_seed(int(seed))
    total = torch.zeros((n,) + tuple(shape), dtype=x.dtype)
    # Row r of the noisy batch is copy r % samples of image r // samples (captum's order).
    image_of_row = torch.arange(n * samples) // samples
    with torch.enable_grad():
        for start in range(0, n * samples, rows):
            which = image_of_row[start:start + rows]
            eps = torch.randn((len(which),) + tuple(shape), generator=generator)
            noisy = (x[which] + eps * std[which].view(-1, *([1] * len(shape)))).to(x.dtype)
            noisy = fast_layout(noisy).requires_grad_()
            scores = class_scores(model(noisy), targets[which])
            (grad,) = torch.autograd.grad(scores.sum(), noisy)
            total.index_add_(0, which, grad.contiguous())
    return total / samples
