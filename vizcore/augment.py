"""Data augmentation: new training pictures made on the fly by changes that keep the class.

A flipped, slightly rotated, shifted, zoomed, brighter, noisier or blurrier shape is still the
same shape, so the network sees a fresh variant of every picture in every epoch and memorises
less (it overfits later). Whether a change keeps the class depends on the data: a flipped "2" is
no digit, so digits get no flips.

Everything works on a whole batch at once: one ``grid_sample`` for all geometric changes, one
grouped convolution for the blur. Pixels are floats on the 0..255 scale.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    """Strengths of each random change (0 / False = off).

    hflip, vflip : mirror left-right / top-bottom with probability 1/2.
    rotation : maximum angle in degrees (uniform in [-rotation, rotation]).
    shift : maximum shift as a fraction of the image side.
    zoom : maximum zoom in or out as a fraction (0.1: 90 %..110 %).
    brightness : maximum brightness change as a fraction of the 0..255 range.
    contrast : maximum contrast change as a fraction (0.2: 80 %..120 %).
    noise : maximum standard deviation of added Gaussian noise, fraction of the range.
    blur : maximum Gaussian blur sigma in pixels.
    """

    hflip: bool = False
    vflip: bool = False
    rotation: float = 0.0
    shift: float = 0.0
    zoom: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    noise: float = 0.0
    blur: float = 0.0

    @property
    def enabled(self) -> bool:
        """True if any change is switched on."""
        return any(bool(v) for v in asdict(self).values())

    @property
    def geometric(self) -> bool:
        return bool(self.hflip or self.vflip or self.rotation or self.shift or self.zoom)


NO_AUGMENTATION = AugmentConfig()
# Changes that keep the class of each built-in data set.
PRESETS = {
    "digits": AugmentConfig(rotation=10, shift=0.1, zoom=0.1),
    # No vertical flips: an upside-down heart is not in the data set.
    "shapes": AugmentConfig(hflip=True, rotation=15, shift=0.05, zoom=0.1,
                            brightness=0.1, contrast=0.2, noise=0.03),
}


def _uniform(n: int, low: float, high: float, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=generator) * (high - low) + low


def _geometric(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None) -> torch.Tensor:
    """Rotate, zoom, shift and flip each picture by its own random amount (one grid_sample)."""
    n = x.shape[0]
    angle = _uniform(n, -cfg.rotation, cfg.rotation, generator) * (math.pi / 180)
    scale = _uniform(n, 1 - cfg.zoom, 1 + cfg.zoom, generator)
    # affine_grid works in coordinates from -1 to 1, so a shift of the full side is 2.
    tx = _uniform(n, -cfg.shift, cfg.shift, generator) * 2
    ty = _uniform(n, -cfg.shift, cfg.shift, generator) * 2
    fx = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if cfg.hflip else torch.ones(n)
    fy = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if cfg.vflip else torch.ones(n)
    # The matrix maps output coordinates to where they are read in the input: dividing by the
    # zoom makes a zoom > 1 read a smaller area, i.e. magnify.
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * fx, -sin * fy, tx], 1),
                         torch.stack([sin * fx, cos * fy, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # Pixels pulled in from outside mirror the picture: the background continues (a dark frame
    # for digits, the texture for shapes) instead of smearing the border into streaks.
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Gaussian blur with one sigma per picture: separable, as a grouped convolution."""
    n, c, h, w = x.shape
    radius = max(1, int(math.ceil(3 * float(sigma.max()))))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets[None] / sigma.clamp_min(1e-3)[:, None]) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (n*c, 2r+1)
    flat = F.pad(x.reshape(1, n * c, h, w), (radius, radius, radius, radius), mode="replicate")
    flat = F.conv2d(flat, kernel[:, None, None, :], groups=n * c)
    flat = F.conv2d(flat, kernel[:, None, :, None], groups=n * c)
    return flat.reshape(n, c, h, w)


def augment_batch(pixels: torch.Tensor, cfg: AugmentConfig,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """A randomly changed copy of a batch (N, C, H, W) of 0..255 pixels, as float32 0..255.

    Each picture gets its own random amounts, drawn from ``generator`` (reproducible with a seed).
    """
    x = pixels.float()
    if not cfg.enabled:
        return x
    n = x.shape[0]
    if cfg.geometric:
        x = _geometric(x, cfg, generator)
    if cfg.contrast:
        factor = _uniform(n, 1 - cfg.contrast, 1 + cfg.contrast, generator).view(n, 1, 1, 1)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * factor + mean
    if cfg.brightness:
        x = x + _uniform(n, -cfg.brightness, cfg.brightness, generator).view(n, 1, 1, 1) * 255
    if cfg.blur:
        x = _blur(x, _uniform(n, 0.0, cfg.blur, generator))
    if cfg.noise:
        level = _uniform(n, 0.0, cfg.noise, generator).view(n, 1, 1, 1) * 255
        x = x + torch.randn(x.shape, generator=generator) * level
    return x.clamp_(0, 255)


def preview_grid(image: torch.Tensor | np.ndarray, cfg: AugmentConfig, *, count: int = 15,
                 columns: int = 4, seed: int = 0, gap: int = 2) -> np.ndarray:
    """The original picture followed by ``count`` augmented versions, tiled into one uint8 image.

    ``image`` is (C, H, W) with 0..255 pixels; the result is (rows*(H+gap)-gap, columns*(W+gap)-gap, C)
    with white gaps, ready for ``style.image``.
    """
    img = torch.as_tensor(np.asarray(image)).float()
    c, h, w = img.shape
    generator = torch.Generator().manual_seed(seed)
    variants = augment_batch(img.expand(count, c, h, w), cfg, generator)
    tiles = torch.cat([img[None], variants]).round().clamp(0, 255).to(torch.uint8).numpy()
    rows = math.ceil(len(tiles) / columns)
    grid = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, c), 255, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, col = divmod(i, columns)
        grid[r * (h + gap):r * (h + gap) + h, col * (w + gap):col * (w + gap) + w] = tile.transpose(1, 2, 0)
    return grid
