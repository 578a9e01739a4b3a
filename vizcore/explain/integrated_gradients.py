"""Integrated Gradients (Sundararajan, Taly & Yan 2017): the gradient summed along a straight path.

Walk from a baseline image (no information: black, blurred, the mean colour) to the real
image in small steps and add up the gradient at every step, times the step. The result,
times (image − baseline), splits the change of the score exactly among the input values:
the attributions sum to f(image) − f(baseline) ("completeness"). The integral is only
approximated, so the *convergence delta* — how far the sum misses f(x) − f(baseline) —
tells whether there were enough steps.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._base import ExplainError
from ._forward import images_per_backward
from .gradient import Target, class_scores, fast_layout, input_gradient, prepare

METHODS = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")

# Input values (path points × images × values per image) per forward/backward pass. One pass
# with every step (captum's default) is slow once the batch no longer fits in cache; chunks of
# about this size were fastest here (``benchmarks/bench_explain.py --batching`` measures it).
VALUES_PER_PASS = 2**20


def path_weights(steps: int, method: str = "gausslegendre") -> tuple[np.ndarray, np.ndarray]:
    """Where on the path (alphas in [0, 1]) the gradient is taken, and each point's weight.

    Exactly captum's rules: Riemann sums on the left/right ends or middles of ``steps`` equal
    intervals, the trapezoid rule on ``steps`` points including both ends, or Gauss–Legendre
    quadrature (exact for polynomials up to degree 2·steps − 1: few steps suffice).
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise ExplainError(f"The number of steps must be a whole number, got {steps!r}.")
    if method not in METHODS:
        raise ExplainError(f"Unknown integration method {method!r}; choose one of {', '.join(METHODS)}.")
    steps = int(steps)
    if steps < (1 if method == "gausslegendre" else 2):
        raise ExplainError(f"{method} needs at least {1 if method == 'gausslegendre' else 2} steps, got {steps}.")
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return 0.5 * (1 + nodes), 0.5 * weights  # from [-1, 1] to [0, 1]
    n = steps
    weights = np.full(n, 1 / n)
    rule = method.split("_")[1]
    if rule == "trapezoid":
        weights[0] /= 2
        weights[-1] /= 2
    # captum builds the alphas with float32 torch.linspace; the same numbers here
    start, end = {"left": (0, 1 - 1 / n), "right": (1 / n, 1), "middle": (1 / (2 * n), 1 - 1 / (2 * n)),
                  "trapezoid": (0, 1)}[rule]
    return torch.linspace(start, end, n).double().numpy(), weights


BASELINES = {
    "black": "a black image",
    "blurred": "the image blurred (Gaussian, σ = a tenth of its side)",
    "mean-colour": "the image's own mean colour everywhere",
    "zeros": "zeros of the normalised input: the data set's mean colour",
}


def make_baseline(x: torch.Tensor, kind: str, *, mean, std) -> torch.Tensor:
    """A baseline for :func:`integrated_gradients`, normalised like ``x`` (N, C, H, W).

    ``mean``/``std`` are the model's normalisation (per channel, pixels scaled to 0..1):
    "black" is pixel value 0, i.e. −mean/std after normalising — not 0, which is the data
    set's mean colour ("zeros"). "blurred" keeps the colours but removes the shapes;
    "mean-colour" keeps only each channel's average.
    """
    if kind not in BASELINES:
        raise ExplainError(f"Unknown baseline {kind!r}; choose one of {', '.join(BASELINES)}.")
    x = x.detach()
    if kind == "zeros":
        return torch.zeros_like(x)
    if kind == "mean-colour":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).clone()
    if kind == "black":
        m = torch.as_tensor(mean, dtype=x.dtype).reshape(1, -1, 1, 1)
        s = torch.as_tensor(std, dtype=x.dtype).reshape(1, -1, 1, 1)
        if m.shape[1] not in (1, x.shape[1]) or s.shape[1] not in (1, x.shape[1]):
            raise ExplainError(f"The normalisation has {m.shape[1]} channels, the input {x.shape[1]}.")
        return (-m / s).expand_as(x).clone()
    from scipy import ndimage  # the blur is per channel, in the plane only

    sigma = max(x.shape[2:]) / 10
    blurred = ndimage.gaussian_filter(x.cpu().numpy(), sigma=(0, 0, sigma, sigma), mode="nearest")
    return torch.from_numpy(blurred).to(x.dtype)


def _baseline(x: torch.Tensor, baseline) -> torch.Tensor:
    if baseline is None:
        return torch.zeros_like(x)
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return torch.full_like(x, float(baseline))
    if not isinstance(baseline, torch.Tensor):
        raise ExplainError("The baseline must be None, a number or a tensor shaped like the input.")
    try:
        b = torch.broadcast_to(baseline.detach().to(x.dtype), x.shape)
    except RuntimeError:
        raise ExplainError(f"The baseline's shape {tuple(baseline.shape)} does not fit the input's "
                           f"{tuple(x.shape)}.") from None
    if not torch.isfinite(b).all():
        raise ExplainError("The baseline holds NaN or infinite values.")
    return b


def integrated_gradients(model: nn.Module, x: torch.Tensor, target: Target, baseline=None,
                         steps: int = 50, method: str = "gausslegendre"
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrated gradients (N, C, H, W) and the convergence delta (N,) of each image.

    ``baseline``: None for zeros of the normalised input (the data set's mean colour, not
    black), a number, or a tensor broadcastable to ``x`` (e.g. a black or blurred image,
    normalised like ``x``). Equal to captum's ``IntegratedGradients(model).attribute(x,
    baselines=baseline, target=target, n_steps=steps, method=method,
    return_convergence_delta=True)``; delta = sum of attributions − (f(x) − f(baseline)) for
    the target logit f.
    """
    x, targets = prepare(model, x, target)
    b = _baseline(x, baseline)
    alphas, weights = path_weights(steps, method)
    n = x.shape[0]
    diff = x - b
    total = torch.zeros_like(x)
    # path points per pass, all images together (bounded by values and by saved activations)
    per_pass = max(1, images_per_backward(model, tuple(x.shape[1:]), VALUES_PER_PASS) // n)
    weights_t = torch.tensor(weights, dtype=torch.float32)
    for start in range(0, len(alphas), per_pass):
        chunk = alphas[start:start + per_pass]
        # step-major like captum: all images at alpha 0, then all at alpha 1, ...
        points = torch.cat([b + float(a) * diff for a in chunk])
        grads = input_gradient(model, fast_layout(points), targets.repeat(len(chunk)))
        w = weights_t[start:start + len(chunk)]
        total += torch.tensordot(w.to(grads.dtype), grads.view(len(chunk), n, -1), dims=1).view_as(x)
    attributions = total * diff
    with torch.no_grad():
        ends = class_scores(model(fast_layout(torch.cat([x, b]))), targets.repeat(2))
    delta = attributions.reshape(n, -1).sum(1) - (ends[:n] - ends[n:])
    return attributions, delta
