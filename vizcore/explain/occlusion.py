"""Occlusion (Zeiler & Fergus 2013): hide one patch at a time and watch the class score fall.

Slide a grey (or black, or blurred) square over the image; at every position run the model on
the occluded copy and record the target class's probability. Where hiding the patch makes the
probability drop, the model was looking. It needs no gradients, only forward passes — one per
position, which is also its whole cost.

Two maps come out of the same passes:

- the *score map* (rows × cols): the target's probability with the patch at each position, the
  picture in Zeiler & Fergus's paper;
- the *per-pixel map* (H × W): each pixel gets the mean drop over all windows that cover it,
  exactly as captum's ``Occlusion`` computes it.

Windows are placed as captum places them: the first at the top-left corner, then every
``stride`` pixels until the image is covered, ``ceil((H − k) / s) + 1`` positions per axis; the
last one may hang over the edge and is cut off there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from . import _forward
from ._base import ExplainError, as_targets, check_input, check_targets


def _pair(value, name: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    try:
        rows, cols = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ExplainError(f"The {name} must be a whole number or (rows, cols), got {value!r}.") from None
    if rows < 1 or cols < 1:
        raise ExplainError(f"The {name} must be at least 1 pixel, got {rows}×{cols}.")
    return rows, cols


@dataclass(frozen=True)
class Windows:
    """Where the occluding patch goes: ``rows × cols`` positions over an H × W image."""
    height: int
    width: int
    size: tuple[int, int]
    stride: tuple[int, int]

    @property
    def rows(self) -> int:
        return math.ceil((self.height - self.size[0]) / self.stride[0]) + 1

    @property
    def cols(self) -> int:
        return math.ceil((self.width - self.size[1]) / self.stride[1]) + 1

    @property
    def count(self) -> int:
        """Number of positions: one forward pass each."""
        return self.rows * self.cols

    def box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """Pixel rows r0 … r1−1 and columns c0 … c1−1 hidden at position (row, col)."""
        r0, c0 = row * self.stride[0], col * self.stride[1]
        return r0, min(r0 + self.size[0], self.height), c0, min(c0 + self.size[1], self.width)

    def masks(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Which pixel rows each position row hides (rows, H), and which columns (cols, W)."""
        return _masks(self)


@lru_cache(maxsize=64)
def _masks(grid: Windows) -> tuple[torch.Tensor, torch.Tensor]:
    # Remembered per grid (a small job would otherwise spend a tenth of its time here); callers
    # only read them.
    def axis(n: int, length: int, k: int, s: int) -> torch.Tensor:
        start = torch.arange(n)[:, None] * s
        pixel = torch.arange(length)[None, :]
        return (pixel >= start) & (pixel < start + k)
    return (axis(grid.rows, grid.height, grid.size[0], grid.stride[0]),
            axis(grid.cols, grid.width, grid.size[1], grid.stride[1]))


def windows(height: int, width: int, window, stride) -> Windows:
    """The occluder positions for a ``window`` (int or (rows, cols)) moved by ``stride``.

    Like captum, a stride larger than the window is refused (pixels between windows would never
    be hidden), unless the window already spans that whole axis.
    """
    size, step = _pair(window, "window"), _pair(stride, "stride")
    for k, s, n, axis in ((size[0], step[0], height, "rows"), (size[1], step[1], width, "columns")):
        if k > n:
            raise ExplainError(f"The window ({k} {axis}) is larger than the image ({n} {axis}).")
        if s > k and k < n:
            raise ExplainError(f"A stride of {s} skips pixels between windows of {k} {axis}: "
                               f"use a stride of at most {k}.")
    return Windows(height, width, size, step)


def _as_baseline(baseline, x: torch.Tensor) -> torch.Tensor:
    """The fill value as a tensor that broadcasts to ``x`` (a number, or a tensor such as a blur)."""
    if isinstance(baseline, bool):
        raise ExplainError("The baseline must be a number or an image, not True/False.")
    if isinstance(baseline, (int, float, np.floating, np.integer)):
        value = float(baseline)
        if not math.isfinite(value):
            raise ExplainError("The baseline must be a finite number.")
        return torch.tensor(value, dtype=x.dtype)
    try:
        base = torch.as_tensor(baseline, dtype=x.dtype)
    except (TypeError, ValueError, RuntimeError):
        raise ExplainError("The baseline must be a number or a tensor shaped like the input.") from None
    try:
        shape = torch.broadcast_shapes(base.shape, x.shape)
    except RuntimeError:
        shape = None
    if shape != x.shape:
        raise ExplainError(f"A baseline of shape {tuple(base.shape)} does not fit inputs of shape {tuple(x.shape)}.")
    if not torch.isfinite(base).all():
        raise ExplainError("The baseline holds NaN or infinite values.")
    return base


class Occluder:
    """Makes occluded copies of ``x``: position p of image n is input ``n · count + p``.

    Copies are built a batch at a time from two small masks (which rows, which columns), in
    channels-last layout (the layout the forward pass prefers), without a Python loop. With
    ``originals`` every image's block starts with the image itself (no patch), so the
    unoccluded outputs come from the same batched passes: input ``n · (count + 1)``.
    """

    def __init__(self, x: torch.Tensor, grid: Windows, baseline=0.0, *, originals: bool = False):
        self.grid = grid
        self.n = x.shape[0]
        self.originals = originals
        self.block = grid.count + int(originals)
        self.x = x.permute(0, 2, 3, 1).contiguous()  # (N, H, W, C)
        base = _as_baseline(baseline, x)
        if base.ndim == 0:
            self.base = base
        else:
            self.base = base.expand_as(x).permute(0, 2, 3, 1).contiguous()
        rows, cols = grid.masks()
        # one more "row" that hides nothing: the position of the unoccluded image
        self.row_mask = torch.cat([rows, torch.zeros(1, grid.height, dtype=torch.bool)])
        self.col_mask = cols

    def __len__(self) -> int:
        return self.n * self.block

    def __call__(self, start: int, stop: int) -> torch.Tensor:
        index = torch.arange(start, stop)
        image, position = index // self.block, index % self.block
        if self.originals:
            position = position - 1
        row = torch.where(position < 0, self.grid.rows, position // self.grid.cols)
        hidden = self.row_mask[row][:, :, None] & self.col_mask[position % self.grid.cols][:, None, :]
        base = self.base if self.base.ndim == 0 else self.base[image]
        # (B, H, W, C) seen as (B, C, H, W) with channels-last strides: no copy.
        return torch.where(hidden[..., None], base, self.x[image]).permute(0, 3, 1, 2)

    def position(self, image: int, row: int, col: int) -> torch.Tensor:
        """The one occluded input (1, C, H, W) with the patch at (row, col) — for a preview."""
        p = image * self.block + int(self.originals) + row * self.grid.cols + col
        return self(p, p + 1).contiguous()


@dataclass
class OcclusionRun:
    """Every class's logit with the patch at every position, and without a patch.

    The class and the output (probability or logit) are chosen afterwards, so a page can switch
    them without running the model again.
    """
    windows: Windows
    original: torch.Tensor   # (N, K) logits of the unoccluded images
    occluded: torch.Tensor   # (N, rows, cols, K) logits with the patch at each position

    def values(self, output: str = "probability") -> tuple[torch.Tensor, torch.Tensor]:
        """(original (N, K), occluded (N, rows, cols, K)) as probabilities or logits."""
        if output == "logit":
            return self.original, self.occluded
        if output == "probability":
            return torch.softmax(self.original, dim=-1), torch.softmax(self.occluded, dim=-1)
        raise ExplainError(f"The output must be one of {', '.join(_forward.OUTPUTS)}, got {output!r}.")

    def _targets(self, target) -> torch.Tensor:
        targets = as_targets(target, self.original.shape[0])
        check_targets(targets, self.original.shape[1])
        return targets

    def scores(self, target, output: str = "probability") -> torch.Tensor:
        """(N, rows, cols): the target's probability (or logit) with the patch at each position."""
        targets = self._targets(target)
        _, occluded = self.values(output)
        return occluded[torch.arange(len(targets)), :, :, targets]

    def drops(self, target, output: str = "probability") -> torch.Tensor:
        """(N, rows, cols): how much hiding each position lowers the target's score."""
        targets = self._targets(target)
        original, _ = self.values(output)
        base = original[torch.arange(len(targets)), targets]
        return base[:, None, None] - self.scores(targets, output)

    def attribution(self, target, output: str = "probability") -> torch.Tensor:
        """(N, H, W): each pixel's mean drop over the windows that cover it (captum's map)."""
        return per_pixel(self.drops(target, output), self.windows).to(self.original.dtype)


def per_pixel(drops: torch.Tensor, grid: Windows) -> torch.Tensor:
    """Spread each position's drop over its window and average where windows overlap.

    With R (rows × H) and C (cols × W) saying which pixel rows and columns each position hides,
    the sum over the windows covering pixel (h, w) is (Rᵀ · drops · C)[h, w], and their number
    is (windows covering row h) × (windows covering column w). Computed in float64.
    """
    drops = torch.as_tensor(drops, dtype=torch.float64)
    rows, cols = (m.to(torch.float64) for m in grid.masks())
    spread = rows.T @ drops @ cols
    count = rows.sum(0)[:, None] * cols.sum(0)[None, :]
    return spread / count


def occlusion_run(model: nn.Module, x: torch.Tensor, window, stride, baseline=0.0, *,
                  progress: _forward.Progress | None = None, stop: _forward.StopFlag = None,
                  plan: _forward.Plan | None = None) -> OcclusionRun:
    """Run the model on ``x`` and on every occluded copy; see :class:`OcclusionRun`.

    ``progress(done, total)`` and ``stop`` are passed to the forward passes (see
    :func:`vizcore.explain._forward.outputs`); a stop raises :class:`~._forward.Stopped`.
    """
    check_input(model, x)
    grid = windows(x.shape[2], x.shape[3], window, stride)
    occluder = Occluder(x.detach(), grid, baseline, originals=True)
    plan = plan or _forward.plan_for(model, tuple(x.shape[1:]), x.dtype)
    # One stream of batches: each image, then its occluded copies (no separate batch-1 pass).
    out = _forward.outputs(model, occluder, len(occluder), progress=progress, stop=stop, plan=plan)
    out = out.reshape(x.shape[0], grid.count + 1, -1)
    return OcclusionRun(grid, out[:, 0].clone(), out[:, 1:].reshape(x.shape[0], grid.rows, grid.cols, -1))


def occlusion(model: nn.Module, x: torch.Tensor, target, window, stride, baseline=0.0,
              output: str = "probability", **options) -> torch.Tensor:
    """Per-pixel occlusion map (N, H, W): the mean drop of the target's score where hidden.

    Parameters
    ----------
    x : (N, C, H, W) inputs, normalised as the model expects.
    target : the class to explain (an int, or one per image).
    window, stride : the patch size and its step, an int or (rows, cols).
    baseline : what the patch holds, in the model's input space: a number (0 is the data set's
        mean colour after normalisation, not black) or a tensor broadcastable to ``x``.
    output : "probability" (softmax of the model) or "logit".
    options : ``progress``, ``stop``, ``plan`` as for :func:`occlusion_run`.

    Equals ``captum.attr.Occlusion(f).attribute(x, target=target, sliding_window_shapes=(C, wr,
    wc), strides=(C, sr, sc), baselines=baseline)[:, 0]`` with f = softmax∘model or the model.
    """
    if output not in _forward.OUTPUTS:
        raise ExplainError(f"The output must be one of {', '.join(_forward.OUTPUTS)}, got {output!r}.")
    return occlusion_run(model, x, window, stride, baseline, **options).attribution(target, output)


def occlusion_scores(model: nn.Module, x: torch.Tensor, target, window, stride, baseline=0.0,
                     output: str = "probability", **options) -> torch.Tensor:
    """Zeiler & Fergus's map (N, rows, cols): the target's probability with the patch at each position."""
    if output not in _forward.OUTPUTS:
        raise ExplainError(f"The output must be one of {', '.join(_forward.OUTPUTS)}, got {output!r}.")
    return occlusion_run(model, x, window, stride, baseline, **options).scores(target, output)


# --- what fills the patch ---------------------------------------------------------------------------

FILLS = {
    "black": "black pixels",
    "grey": "mid-grey pixels",
    "mean": "the data set's mean colour (0 after normalising: captum's default)",
    "blur": "a blurred copy of the image (hides detail, keeps colour)",
}


def fill(x: torch.Tensor, kind: str, mean, std, *, sigma: float | None = None) -> torch.Tensor:
    """What a hidden patch or superpixel holds, in the model's input space (normalised).

    kind : "black" (pixel value 0), "grey" (half brightness), "mean" (the training set's mean
        colour, 0 after normalising) or "blur" (a Gaussian blur of ``x``, ``sigma`` pixels;
        default a twelfth of the shorter side).
    mean, std : the model's normalisation per channel (pixels / 255 − mean) / std.
    Returns a tensor that broadcasts to ``x``: (1, C, 1, 1), or (N, C, H, W) for "blur".
    """
    channels = x.shape[1]
    mean = torch.as_tensor(mean, dtype=x.dtype).reshape(1, -1, 1, 1).expand(1, channels, 1, 1)
    std = torch.as_tensor(std, dtype=x.dtype).reshape(1, -1, 1, 1).expand(1, channels, 1, 1)
    if kind == "black":
        return (0.0 - mean) / std
    if kind == "grey":
        return (0.5 - mean) / std
    if kind == "mean":
        return torch.zeros(1, channels, 1, 1, dtype=x.dtype)
    if kind == "blur":
        from scipy import ndimage

        sigma = sigma or max(1.0, min(x.shape[2:]) / 12)
        blurred = ndimage.gaussian_filter(x.detach().double().numpy(), sigma=(0, 0, sigma, sigma), mode="reflect")
        return torch.from_numpy(blurred).to(x.dtype)
    raise ExplainError(f"Unknown fill {kind!r}: choose one of {', '.join(FILLS)}.")
