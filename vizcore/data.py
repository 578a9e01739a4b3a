"""Data sets for the small CNNs: real digits, generated shapes and scenes (with a shortcut variant),
MNIST/Fashion-MNIST/CIFAR-10, a user's zip.

Every loader returns a :class:`DataSplit`: ``images`` as uint8 tensors (N, C, H, W) with 0..255
pixels, integer ``labels``, class names, and the per-channel mean/std of the *training* split.
The model input is ``(pixels/255 - mean) / std`` (see :meth:`DataSplit.normalize`); keeping the
pixels as bytes makes a data set four times smaller than float tensors, and augmentation works
on the pixels before normalising.

Splits are fixed: the same name, split and seed give the same images, so a test accuracy means
the same thing on every machine. Nothing here downloads unless :func:`download_dataset` is called.
"""
from __future__ import annotations

import gzip
import io
import lzma
import os
import pickle
import struct
import tarfile
import urllib.request
import warnings
import zipfile
import zlib
import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError


class DataError(ValueError):
    """A data set that cannot be loaded, with a message a student understands."""


SPLITS = ("train", "val", "test")


@dataclass
class DataSplit:
    """One split of a data set: uint8 pixels (N, C, H, W), int64 labels, class names, normalisation.

    ``mean`` and ``std`` are per-channel statistics of the training split on the 0..1 scale;
    ``masks`` (N, H, W) bool marks the object's pixels where the data set knows them (shapes,
    scenes); ``cue_masks`` (N, H, W) bool marks a cue that is not the object but gives the class
    away (the tag of ``shortcut``), else None.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    mean: list[float]
    std: list[float]
    masks: torch.Tensor | None = None
    name: str = ""
    split: str = ""
    cue_masks: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def input_shape(self) -> list[int]:
        """[C, H, W] of one image."""
        return [int(s) for s in self.images.shape[1:]]

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """Model input from pixels: ``(pixels/255 - mean) / std`` as float32 (uint8 or float input)."""
        c = pixels.shape[-3]
        mean = torch.tensor(self.mean, dtype=torch.float32).view(c, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(c, 1, 1)
        return (pixels.float() / 255.0 - mean) / std

    @property
    def x(self) -> torch.Tensor:
        """All images as normalised float32 model input (N, C, H, W)."""
        return self.normalize(self.images)

    @property
    def y(self) -> torch.Tensor:
        """All labels (N,) int64."""
        return self.labels

    def subset(self, index: torch.Tensor | np.ndarray | slice | int) -> "DataSplit":
        """The images at ``index`` (an int n means the first n), same classes and normalisation."""
        if isinstance(index, int):
            index = slice(0, index)
        masks = self.masks[index] if self.masks is not None else None
        cue_masks = self.cue_masks[index] if self.cue_masks is not None else None
        return DataSplit(self.images[index], self.labels[index], self.classes, self.mean, self.std,
                         masks, self.name, self.split, cue_masks)

    def meta(self) -> dict:
        """The data set fields of a model's meta: classes, input shape, mean, std, data set name."""
        return {"classes": list(self.classes), "input_shape": self.input_shape,
                "mean": list(self.mean), "std": list(self.std), "dataset": self.name}


STANDARDISATIONS = ("none", "per channel", "per pixel")


def pixel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of every channel *and pixel position* (C, H, W) over uint8
    images (N, C, H, W), on the 0..1 scale: the deck's per-pixel standardisation of MNIST."""
    x = images.float() / 255.0
    return x.mean(dim=0), x.std(dim=0).clamp_min(1e-3)  # an always-black corner must not divide by zero


def standardised(split: DataSplit, how: str) -> DataSplit:
    """The same images with input standardisation ``how`` (one of :data:`STANDARDISATIONS`).

    - "per channel": as stored, ``(pixels/255 - mean) / std`` with the training split's channel
      statistics (what every shipped model uses).
    - "none": ``pixels/255``, values in 0..1.
    - "per pixel": also ``pixels/255`` here: each pixel's own mean and std are the model's first
      stage (:func:`vizcore.models.with_pixel_standardisation`), so every page feeds it as it
      feeds any model, from its meta.
    """
    if how not in STANDARDISATIONS:
        raise ValueError(f"standardisation must be one of {', '.join(STANDARDISATIONS)}, got {how!r}")
    if how == "per channel":
        return split
    channels = split.input_shape[0]
    return dataclasses.replace(split, mean=[0.0] * channels, std=[1.0] * channels)


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of uint8 images, on the 0..1 scale."""
    x = images.float().div_(255.0).transpose(0, 1).reshape(images.shape[1], -1)
    mean = x.mean(dim=1)
    std = x.std(dim=1).clamp_min(1e-3)  # a constant channel must not divide by zero
    return [round(float(v), 6) for v in mean], [round(float(v), 6) for v in std]


def _split_indices(n: int, seed: int, fractions: tuple[float, float] = (0.6, 0.2)) -> dict[str, np.ndarray]:
    """A fixed random partition of range(n) into train/val/test (default 60/20/20 %)."""
    order = np.random.default_rng(seed).permutation(n)
    n_train, n_val = int(round(n * fractions[0])), int(round(n * fractions[1]))
    return {"train": np.sort(order[:n_train]), "val": np.sort(order[n_train:n_train + n_val]),
            "test": np.sort(order[n_train + n_val:])}


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"Unknown split {split!r}; choose one of {', '.join(SPLITS)}.")


# --------------------------------------------------------------------------- digits (scikit-learn)

@lru_cache(maxsize=2)
def _digits_all() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits  # bundled with scikit-learn: nothing is downloaded

    digits = load_digits()
    small = torch.from_numpy(digits.images.astype(np.float32) * (255.0 / 16.0)).unsqueeze(1)
    # Like MNIST: the digit fills a 20x20 box centred in a 28x28 frame with a dark border.
    big = F.interpolate(small, size=(20, 20), mode="bilinear", align_corners=False)
    big = F.pad(big, (4, 4, 4, 4))
    images = big.round().clamp(0, 255).to(torch.uint8)
    return images, torch.from_numpy(digits.target.astype(np.int64))


def load_digits_split(split: str, seed: int = 0) -> DataSplit:
    """scikit-learn's 1,797 handwritten digits (8x8, 0..16) as 1x28x28 images, split 60/20/20 %."""
    _check_split(split)
    images, labels = _digits_all()
    parts = _split_indices(len(labels), seed)
    mean, std = channel_stats(images[parts["train"]])
    idx = torch.from_numpy(parts[split])
    return DataSplit(images[idx], labels[idx], [str(i) for i in range(10)], mean, std,
                     name="digits", split=split)


# --------------------------------------------------------------------------- generated shapes

SHAPE_CLASSES = ["circle", "square", "triangle", "star", "cross", "ring", "heart", "crescent"]
SHAPES_SIZES = {"train": 10000, "val": 1000, "test": 1000}
_CHUNK = 500  # images are made in chunks seeded by (seed, split, chunk): prefixes are stable
RADIUS = (0.15, 0.3)  # object radius as a fraction of the side
MAX_ROTATION = 45.0  # degrees either way: hearts and crescents stay roughly upright
SHIFT = 0.15  # largest offset of the object's centre from the image centre, fraction of the side
TEXTURE_CONTRAST = 0.2  # how far the background's second colour strays from its first (per channel)
MIN_CONTRAST = 0.4  # least RGB distance (0..1 scale) between object and background colours
MIN_LUMA_CONTRAST = 0.3  # least brightness difference: the object is visibly lighter or darker
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _shape_distance(kind: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance (negative inside) from points (u, v) to shape ``kind`` of radius about 1.

    Polygons and the star are folded into one symmetric wedge, so a single edge decides.
    """
    rho = np.hypot(u, v)
    phi = np.arctan2(v, u)

    def polygon(sides: int, circumradius: float) -> np.ndarray:
        sector = 2 * np.pi / sides
        folded = np.mod(phi, sector) - sector / 2  # angle from the nearest edge's normal
        return rho * np.cos(folded) - circumradius * np.cos(np.pi / sides)

    def box(half_w: float, half_h: float, du: float = 0.0, dv: float = 0.0) -> np.ndarray:
        return np.maximum(np.abs(u - du) - half_w, np.abs(v - dv) - half_h)

    name = SHAPE_CLASSES[kind]
    if name == "circle":
        return rho - 0.9
    if name == "square":
        return box(0.75, 0.75)
    if name == "triangle":
        return polygon(3, 1.15)
    if name == "star":
        outer, inner, half = 1.1, 0.45, np.pi / 5
        folded = half - np.abs(np.mod(phi, 2 * half) - half)  # 0: towards a tip, half: a notch
        qx, qy = rho * np.cos(folded), rho * np.sin(folded)
        ax, ay = outer, 0.0
        bx, by = inner * np.cos(half), inner * np.sin(half)
        nx, ny = by - ay, ax - bx  # outward normal of the edge tip -> notch
        length = np.hypot(nx, ny)
        return ((qx - ax) * nx + (qy - ay) * ny) / length
    if name == "cross":
        return np.minimum(box(0.95, 0.3), box(0.3, 0.95))
    if name == "ring":
        return np.abs(rho - 0.72) - 0.22
    if name == "heart":
        # A square standing on a corner with a half-disc on each of its two upper sides.
        k, y0 = 0.8, -0.083
        diamond = (np.abs(u) + np.abs(v - y0) - k) / np.sqrt(2)
        r = k / np.sqrt(2)
        lobes = np.minimum(np.hypot(u + k / 2, v - y0 - k / 2), np.hypot(u - k / 2, v - y0 - k / 2)) - r
        return np.minimum(diamond, lobes)
    if name == "crescent":
        return np.maximum(rho - 0.95, 0.75 - np.hypot(u - 0.5, v))
    raise DataError(f"Unknown shape kind {kind}.")


def _random_colours(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.uniform(0.0, 1.0, size=(n, 3)).astype(np.float32)


def _backgrounds(rng: np.random.Generator, n: int, size: int, bg1: np.ndarray, bg2: np.ndarray) -> np.ndarray:
    """(n, 3, size, size) backgrounds: plain, gradient, stripes or blotchy texture, equally often."""
    kind = rng.integers(0, 4, n)
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    angle = rng.uniform(0, 2 * np.pi, n).astype(np.float32)[:, None, None]
    along = xx[None] * np.cos(angle) + yy[None] * np.sin(angle)  # (n, size, size)
    gradient = (along - along.min(axis=(1, 2), keepdims=True)) / np.ptp(along, axis=(1, 2), keepdims=True)
    cycles = rng.uniform(3, 9, n).astype(np.float32)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, n).astype(np.float32)[:, None, None]
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * cycles * along + phase)
    coarse = torch.from_numpy(rng.uniform(0, 1, (n, 1, 6, 6)).astype(np.float32))
    blotches = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[:, 0].numpy()
    blotches = np.clip(blotches, 0, 1)
    mix = np.select([kind[:, None, None] == 0, kind[:, None, None] == 1, kind[:, None, None] == 2],
                    [np.zeros_like(gradient), gradient, stripes], blotches).astype(np.float32)
    return bg1[:, :, None, None] * (1 - mix[:, None]) + bg2[:, :, None, None] * mix[:, None]


def _local_coordinates(cx: np.ndarray, cy: np.ndarray, theta: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (n, size, size) relative to each centre, rotated by ``theta`` (radians)."""
    grid = np.arange(size, dtype=np.float32) + 0.5
    dx = grid[None, None, :] - cx[:, None, None]
    dy = grid[None, :, None] - cy[:, None, None]
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    return cos * dx + sin * dy, -sin * dx + cos * dy


def _object_distance(labels: np.ndarray, cx: np.ndarray, cy: np.ndarray, radius: np.ndarray,
                     theta: np.ndarray, size: int) -> tuple[np.ndarray, ...]:
    """Signed distance (n, size, size) to each picture's shape, in units of its radius, and the
    shape's own coordinates (u, v): the drawing code shared by ``shapes`` and ``scenes``."""
    a, b = _local_coordinates(cx, cy, theta, size)
    u, v = a / radius[:, None, None], b / radius[:, None, None]
    distance = np.empty(u.shape, dtype=np.float32)
    for kind in range(len(SHAPE_CLASSES)):
        rows = labels == kind
        distance[rows] = _shape_distance(kind, u[rows], v[rows])
    return distance, u, v


def _shapes_chunk(seed: int, split_index: int, chunk: int, n: int, size: int) -> tuple[np.ndarray, ...]:
    """One chunk of shape images: (images uint8 (n,3,s,s), labels (n,), masks bool (n,s,s))."""
    rng = np.random.default_rng([seed, split_index, chunk])
    k = len(SHAPE_CLASSES)
    labels = rng.permutation(np.arange(n) % k)
    radius = rng.uniform(*RADIUS, n).astype(np.float32) * size
    # Objects sit near the middle, as in photo data sets (a TinyVGG's flatten + linear read-out
    # learns each position separately, so anywhere-in-the-frame objects need far more data).
    cx = (size / 2 + rng.uniform(-SHIFT, SHIFT, n) * size).astype(np.float32)
    cy = (size / 2 + rng.uniform(-SHIFT, SHIFT, n) * size).astype(np.float32)
    theta = np.deg2rad(rng.uniform(-MAX_ROTATION, MAX_ROTATION, n)).astype(np.float32)

    # Colours: the object must differ from both background colours by a visible amount.
    # The texture's second colour is a variation of the first, so the object stays the boldest edge.
    def colours(m: int) -> tuple[np.ndarray, ...]:
        fg, bg1 = _random_colours(rng, m), _random_colours(rng, m)
        bg2 = np.clip(bg1 + rng.uniform(-TEXTURE_CONTRAST, TEXTURE_CONTRAST, (m, 3)), 0, 1).astype(np.float32)
        return fg, bg1, bg2

    def too_close(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (np.linalg.norm(a - b, axis=1) < MIN_CONTRAST) | (np.abs((a - b) @ LUMA) < MIN_LUMA_CONTRAST)

    fg, bg1, bg2 = colours(n)
    for _ in range(100):
        bad = too_close(fg, bg1) | too_close(fg, bg2)
        if not bad.any():
            break
        fg[bad], bg1[bad], bg2[bad] = colours(int(bad.sum()))
    background = _backgrounds(rng, n, size, bg1, bg2)

    distance, u, v = _object_distance(labels, cx, cy, radius, theta, size)
    # Anti-aliased edge: coverage falls from 1 to 0 across one pixel around the boundary.
    coverage = np.clip(0.5 - distance * radius[:, None, None], 0.0, 1.0)[:, None]
    shading = 1.0 + 0.12 * (u * 0.6 + v * 0.8)[:, None]  # a little light from one side
    picture = background * (1 - coverage) + np.clip(fg[:, :, None, None] * shading, 0, 1) * coverage
    noise_level = rng.uniform(0.0, 0.05, n).astype(np.float32)[:, None, None, None]
    picture = picture + rng.standard_normal(picture.shape, dtype=np.float32) * noise_level
    images = np.clip(picture * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64), distance < 0


@lru_cache(maxsize=8)
def _shapes_cached(seed: int, split_index: int, n: int, size: int) -> tuple[torch.Tensor, ...]:
    # Whole chunks only, cut at the end: the first k pictures never depend on n.
    parts = [_shapes_chunk(seed, split_index, c, _CHUNK, size) for c in range(-(-n // _CHUNK))]
    images, labels, masks = (np.concatenate(p)[:n] for p in zip(*parts))
    return torch.from_numpy(images), torch.from_numpy(labels), torch.from_numpy(masks)


def make_shapes(n: int, seed: int = 0, split: str = "train", size: int = 64) -> DataSplit:
    """``n`` generated pictures of coloured shapes with their object masks.

    Eight classes (circle, square, triangle, star, cross, ring, heart, crescent), balanced; random
    size (radius 15-30 % of the side), position (centre within 15 % of the middle), rotation
    (within 45 degrees of upright) and colour; backgrounds plain, gradient, striped or blotchy in
    two related colours; pixel noise. The object is always at least 0.3 lighter or darker than
    its background (on a 0..1 scale), as an object you can see. The same (seed, split) always gives the
    same pictures, and the first k of n pictures do not depend on n.
    """
    _check_split(split)
    if n < 1:
        raise DataError("A data set needs at least one image.")
    images, labels, masks = _shapes_cached(seed, SPLITS.index(split), n, size)
    first_train = _shapes_cached(seed, 0, _CHUNK, size)[0]
    mean, std = channel_stats(first_train)  # statistics of the first training chunk
    return DataSplit(images, labels, list(SHAPE_CLASSES), mean, std, masks, name="shapes", split=split)


# --------------------------------------------------------------------------- scenes and the shortcut

# ``scenes``: the eight shapes anywhere in the frame, among things that belong to no class.
# On ``shapes`` the object sits near the middle, so a map that simply peaks at the centre "points
# at" it; here the position is uniform, and a map has to find the object to score.
SCENES_SIZES = {"train": 10000, "val": 1000, "test": 1000}
SCENE_RADIUS = (0.12, 0.22)  # object radius as a fraction of the side: smaller than in shapes, room to move
EXTENT = 1.2  # every shape of radius r lies within 1.2 r of its centre (the triangle's tips reach 1.15 r)
DISTRACTOR_KINDS = ("blob", "stroke", "patch")
DISTRACTOR_RADIUS = (0.05, 0.1)  # each distractor fits in a circle this big (fraction of the side)
MAX_DISTRACTORS = 2
GAP = 2.0  # least pixels between the object's circle and a distractor's: they never touch
# ``shortcut``: the scenes plus a tag, a small square in the top-left corner whose colour *is* the
# class (the wolf/husky snow of the lecture). It is deliberately easier than the shape: a few
# pixels, always in the same place, one saturated colour per class, never noisy. Easy enough as it
# is: the shipped ``shortcut`` model, trained exactly like ``scenes``, scores 100 % on shortcut's
# test split, 0 % on shortcut_shuffled (it names the tag's class every time) and 26 % on scenes.
TAG_AT, TAG_SIZE = 2, 4  # the tag covers rows and columns TAG_AT .. TAG_AT + TAG_SIZE - 1
CORNER = TAG_AT + TAG_SIZE + 3  # nothing of a scene enters the top-left CORNER x CORNER box
TAG_COLOURS = np.array([[230, 25, 25], [30, 200, 30], [30, 70, 240], [245, 225, 20],
                        [225, 30, 225], [20, 215, 225], [255, 255, 255], [0, 0, 0]], dtype=np.uint8)


def _too_close(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """True where colours a and b (n, 3) are too alike to see one on the other (rule of shapes)."""
    return (np.linalg.norm(a - b, axis=1) < MIN_CONTRAST) | (np.abs((a - b) @ LUMA) < MIN_LUMA_CONTRAST)


def _visible_colours(rng: np.random.Generator, bg1: np.ndarray, bg2: np.ndarray) -> np.ndarray:
    """One random colour per picture that differs visibly from both background colours."""
    colour = _random_colours(rng, len(bg1))
    for _ in range(100):
        bad = _too_close(colour, bg1) | _too_close(colour, bg2)
        if not bad.any():
            break
        colour[bad] = _random_colours(rng, int(bad.sum()))
    return colour


def _corner_distance(cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """Distance from each centre to the top-left CORNER box kept free for the tag."""
    return np.hypot(np.maximum(cx - CORNER, 0), np.maximum(cy - CORNER, 0))


def _distractor_coverage(rng: np.random.Generator, kind: np.ndarray, cx: np.ndarray, cy: np.ndarray,
                         reach: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Coverage (n, s, s) in 0..1 of one distractor per picture, each inside a circle of ``reach`` px,
    and (n, s, s) in {0, 1}: which of its two colours a pixel takes (a patch's checkerboard).

    blob: an elongated, wobbly ellipse (never round, so never a circle); stroke: a straight line
    1.5-3 px wide (thinner than a cross's bars); patch: a checkered rectangle (never square).
    """
    n = len(kind)
    a, b = _local_coordinates(cx, cy, rng.uniform(0, np.pi, n).astype(np.float32), size)
    r = reach[:, None, None]
    aspect = rng.uniform(1.6, 2.4, n).astype(np.float32)[:, None, None]
    p1, p2 = (rng.uniform(0, 2 * np.pi, n).astype(np.float32)[:, None, None] for _ in range(2))
    width = rng.uniform(1.5, 3.0, n).astype(np.float32)[:, None, None]
    # blob: radius 0.85 +- 0.15 along its long axis, 1/aspect of that across, in reach units
    q, angle = np.hypot(a, b * aspect) / r, np.arctan2(b * aspect, a)
    boundary = 0.85 + 0.1 * np.sin(3 * angle + p1) + 0.05 * np.sin(5 * angle + p2)
    blob = (q - boundary) * r / aspect  # roughly pixels (exact across the short axis)
    # stroke: ends and half width stay 1 px inside the reach, for the anti-aliased edge
    half = r - width / 2 - 1
    stroke = np.hypot(np.maximum(np.abs(a) - half, 0), b) - width / 2
    # patch: a rectangle whose corners lie 1 px inside the reach
    half_w = (r - 1) / np.hypot(1, 1 / aspect)
    patch = np.maximum(np.abs(a) - half_w, np.abs(b) - half_w / aspect)
    distance = np.select([kind[:, None, None] == 0, kind[:, None, None] == 1], [blob, stroke], patch)
    checker = ((np.floor(a / 2) + np.floor(b / 2)) % 2).astype(np.float32) * (kind[:, None, None] == 2)
    return np.clip(0.5 - distance, 0.0, 1.0), checker


def _scenes_chunk(seed: int, split_index: int, chunk: int, n: int, size: int) -> tuple[np.ndarray, ...]:
    """One chunk of scenes: images uint8 (n,3,s,s), labels (n,), object masks (n,s,s), distractor
    masks (n,s,s) and, for ``shortcut_shuffled``, the other class whose tag each picture gets (n,)."""
    rng = np.random.default_rng([seed, split_index, chunk, 101])  # 101: not the shapes' pictures
    k = len(SHAPE_CLASSES)
    labels = rng.permutation(np.arange(n) % k)
    radius = rng.uniform(*SCENE_RADIUS, n).astype(np.float32) * size
    theta = np.deg2rad(rng.uniform(-MAX_ROTATION, MAX_ROTATION, n)).astype(np.float32)
    bg1 = _random_colours(rng, n)
    bg2 = np.clip(bg1 + rng.uniform(-TEXTURE_CONTRAST, TEXTURE_CONTRAST, (n, 3)), 0, 1).astype(np.float32)
    fg = _visible_colours(rng, bg1, bg2)
    picture = _backgrounds(rng, n, size, bg1, bg2)

    # Uniform position with the whole object inside the frame and outside the tag's corner.
    reach = EXTENT * radius + 1  # + 1 px: the anti-aliased edge
    cx, cy = np.empty(n, np.float32), np.empty(n, np.float32)
    bad = np.ones(n, bool)
    for _ in range(100):
        m = int(bad.sum())
        cx[bad] = rng.uniform(reach[bad], size - reach[bad], m)
        cy[bad] = rng.uniform(reach[bad], size - reach[bad], m)
        bad = _corner_distance(cx, cy) < reach
        if not bad.any():
            break

    # 0, 1 or 2 distractors, each placed where it cannot touch the object (else dropped).
    count = rng.integers(0, MAX_DISTRACTORS + 1, n)
    distractor_mask = np.zeros((n, size, size), bool)
    for slot in range(MAX_DISTRACTORS):
        kind = rng.integers(0, len(DISTRACTOR_KINDS), n)
        d_reach = rng.uniform(*DISTRACTOR_RADIUS, n).astype(np.float32) * size
        dx, dy = np.empty(n, np.float32), np.empty(n, np.float32)
        bad = np.ones(n, bool)
        for _ in range(30):
            m = int(bad.sum())
            dx[bad] = rng.uniform(d_reach[bad], size - d_reach[bad], m)
            dy[bad] = rng.uniform(d_reach[bad], size - d_reach[bad], m)
            bad = (np.hypot(dx - cx, dy - cy) < reach + d_reach + GAP) | (_corner_distance(dx, dy) < d_reach)
            if not bad.any():
                break
        active = (slot < count) & ~bad
        coverage, checker = _distractor_coverage(rng, kind, dx, dy, d_reach, size)
        coverage *= active[:, None, None]
        colour1 = _visible_colours(rng, bg1, bg2)
        colour2 = _random_colours(rng, n)
        colour = (colour1[:, :, None, None] * (1 - checker[:, None]) + colour2[:, :, None, None] * checker[:, None])
        picture = picture * (1 - coverage[:, None]) + colour * coverage[:, None]
        distractor_mask |= coverage > 0

    distance, u, v = _object_distance(labels, cx, cy, radius, theta, size)
    coverage = np.clip(0.5 - distance * radius[:, None, None], 0.0, 1.0)[:, None]
    shading = 1.0 + 0.12 * (u * 0.6 + v * 0.8)[:, None]
    picture = picture * (1 - coverage) + np.clip(fg[:, :, None, None] * shading, 0, 1) * coverage
    noise_level = rng.uniform(0.0, 0.05, n).astype(np.float32)[:, None, None, None]
    picture = picture + rng.standard_normal(picture.shape, dtype=np.float32) * noise_level
    images = np.clip(picture * 255.0 + 0.5, 0, 255).astype(np.uint8)
    other = (labels + rng.integers(1, k, n)) % k  # a random class other than the true one
    return images, labels.astype(np.int64), distance < 0, distractor_mask, other.astype(np.int64)


@lru_cache(maxsize=8)
def _scenes_cached(seed: int, split_index: int, n: int, size: int) -> tuple[torch.Tensor, ...]:
    # Whole chunks only, cut at the end: the first k pictures never depend on n.
    parts = [_scenes_chunk(seed, split_index, c, _CHUNK, size) for c in range(-(-n // _CHUNK))]
    images, labels, masks, _, other = (np.concatenate(p)[:n] for p in zip(*parts))
    return torch.from_numpy(images), torch.from_numpy(labels), torch.from_numpy(masks), torch.from_numpy(other)


# The scene sets load_dataset knows, each with the tag make_scenes gives it.
SCENE_TAGS = {"scenes": None, "shortcut": "class", "shortcut_shuffled": "shuffled"}
GENERATED = ("shapes", *SCENE_TAGS)  # data sets made here, never read from files


def tag_mask(size: int = 64) -> torch.Tensor:
    """(size, size) bool: where the shortcut's tag sits (top-left corner)."""
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[TAG_AT:TAG_AT + TAG_SIZE, TAG_AT:TAG_AT + TAG_SIZE] = True
    return mask


def add_tags(images: torch.Tensor, tag_classes: torch.Tensor) -> torch.Tensor:
    """A copy of uint8 ``images`` (N, 3, H, W) with each picture's tag painted in its class's colour."""
    tagged = images.clone()
    colours = torch.from_numpy(TAG_COLOURS)[tag_classes]  # (N, 3)
    tagged[:, :, TAG_AT:TAG_AT + TAG_SIZE, TAG_AT:TAG_AT + TAG_SIZE] = colours[:, :, None, None]
    return tagged


def make_scenes(n: int, seed: int = 0, split: str = "train", size: int = 64, *,
                tag: str | None = None) -> DataSplit:
    """``n`` generated scenes: one of the eight shapes anywhere in the frame, plus 0-2 distractors.

    The object (radius 12-22 % of the side, rotation within 45 degrees of upright, a colour that
    stands out from the background) sits at a uniform position, wholly inside the frame; the
    backgrounds are those of :func:`make_shapes`. Distractors belong to no class (an elongated
    wobbly blob, a thin stroke, a checkered rectangle) and never touch the object. ``masks``
    marks the object's pixels. No object or distractor enters the top-left 9 x 9 pixels (the tag's place).

    tag : None for ``scenes``; "class" for ``shortcut``: a 4 x 4 px square at (2, 2) in the colour
        :data:`TAG_COLOURS` of the picture's class; "shuffled" for ``shortcut_shuffled``: the same
        pictures, each tag in the colour of a random other class. ``cue_masks`` marks the tag.
        The tagged sets share the pictures of ``scenes`` (only the tag differs) and one
        normalisation (that of ``shortcut``), so a model trained on one can be scored on the others.
    """
    _check_split(split)
    if n < 1:
        raise DataError("A data set needs at least one image.")
    if tag not in (None, "class", "shuffled"):
        raise DataError(f"Unknown tag {tag!r}; choose None, 'class' or 'shuffled'.")
    images, labels, masks, other = _scenes_cached(seed, SPLITS.index(split), n, size)
    first_images, first_labels, _, _ = _scenes_cached(seed, 0, _CHUNK, size)
    if tag is None:
        mean, std = channel_stats(first_images)  # statistics of the first training chunk
        return DataSplit(images, labels, list(SHAPE_CLASSES), mean, std, masks, name="scenes", split=split)
    mean, std = channel_stats(add_tags(first_images, first_labels))
    images = add_tags(images, labels if tag == "class" else other)
    cue = tag_mask(size).expand(len(labels), size, size).clone()
    return DataSplit(images, labels, list(SHAPE_CLASSES), mean, std, masks,
                     name="shortcut" if tag == "class" else "shortcut_shuffled", split=split, cue_masks=cue)


def preview_pictures(name: str, n: int = 8, seed: int = 0, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` pictures (uint8 (n, 3, size, size)) and labels made as the generated set ``name``
    ("shapes", "scenes", "shortcut") makes its own, as one small chunk of the test split: the
    same generator and classes (each class equally often), at a fraction of the cost (a set's own
    pictures come 500 at a time, half a second). For a preview: they are not the set's own pictures."""
    if name not in ("shapes", "scenes", "shortcut"):
        raise DataError(f"No preview of {name!r}; choose shapes, scenes or shortcut.")
    if n < 1:
        raise DataError("A preview needs at least one picture.")
    split = SPLITS.index("test")
    if name == "shapes":
        images, labels, _ = _shapes_chunk(seed, split, 0, n, size)
        return torch.from_numpy(images), torch.from_numpy(labels)
    images, labels = (torch.from_numpy(a) for a in _scenes_chunk(seed, split, 0, n, size)[:2])
    return (add_tags(images, labels) if name == "shortcut" else images), labels


# --------------------------------------------------------------------------- MNIST, Fashion-MNIST, CIFAR-10

_IDX_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
# Official addresses first; for MNIST the mirror PyTorch uses, as the original site often refuses.
DOWNLOADS = {
    "mnist": (["https://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"],
              _IDX_FILES),
    "fashion_mnist": (["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"], _IDX_FILES),
    "cifar10": (["https://www.cs.toronto.edu/~kriz/"], ["cifar-10-python.tar.gz"]),
}
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]
FOLDER_DATASETS = ("mnist", "fashion_mnist", "cifar10")
VAL_SIZE = 5000  # images held out of each official training set for validation


def data_dir() -> Path:
    """Where downloaded data sets live: $VIZCORE_DATA, else ~/vizcore-data."""
    return Path(os.environ.get("VIZCORE_DATA", Path.home() / "vizcore-data"))


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format, gzipped or not) as a uint8 array.

    Layout: two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions, one
    big-endian uint32 size per dimension, then the values in C order.
    """
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{Path(path).name}: broken gzip file ({exc}).") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise DataError(f"{Path(path).name}: not an IDX file of unsigned bytes.")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim < 1 or len(raw) < header:
        raise DataError(f"{Path(path).name}: IDX header is cut off.")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    if len(raw) - header != int(np.prod(shape)):
        raise DataError(f"{Path(path).name}: holds {len(raw) - header} values, its header "
                        f"promises {int(np.prod(shape))} ({' x '.join(map(str, shape))}).")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find_file(folder: Path, stem: str) -> Path:
    variants = [stem, stem.replace("-idx", ".idx")]
    for name in variants:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.exists():
                return candidate
    raise DataError(f"Missing file {stem}[.gz] in {folder}.")


def _dataset_folder(name: str, root: Path | str | None) -> Path:
    root = Path(root) if root is not None else data_dir()
    for folder in (root / name, root / name / "cifar-10-batches-py", root / "cifar-10-batches-py", root):
        if folder.is_dir() and (name != "cifar10" or (folder / "data_batch_1").exists()
                                or (folder / "test_batch").exists()):
            if name == "cifar10" or any(folder.glob("t10k-*")) or any(folder.glob("train-*")):
                return folder
    raise DataError(f"No {name} files found under {root}.")


def _mnist_like(name: str, split: str, root: Path | str | None, seed: int) -> DataSplit:
    folder = _dataset_folder(name, root)
    prefix = "t10k" if split == "test" else "train"
    images = read_idx(_find_file(folder, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find_file(folder, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{name}: images {images.shape} and labels {labels.shape} do not match.")
    train_images = images if prefix == "train" else read_idx(_find_file(folder, "train-images-idx3-ubyte"))
    held_out = _holdout(len(train_images), seed)
    train_keep = np.setdiff1d(np.arange(len(train_images)), held_out)
    mean, std = channel_stats(torch.from_numpy(train_images[train_keep][:, None]))
    if split != "test":
        keep = held_out if split == "val" else train_keep
        images, labels = images[keep], labels[keep]
    classes = [str(i) for i in range(10)] if name == "mnist" else list(FASHION_CLASSES)
    return DataSplit(torch.from_numpy(images[:, None].copy()), torch.from_numpy(labels.astype(np.int64)),
                     classes, mean, std, name=name, split=split)


def _holdout(n: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).permutation(n)[:min(VAL_SIZE, n // 5)])


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches: numpy arrays and plain Python values only, never other code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name}")


def _read_cifar_batch(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            batch = _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise DataError(f"{path.name}: not a CIFAR python batch ({exc}).") from None
    if not isinstance(batch, dict):
        raise DataError(f"{path.name}: not a CIFAR python batch (no dictionary inside).")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}


def _cifar_arrays(folder: Path, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for name in names:
        path = folder / name
        if not path.exists():
            raise DataError(f"Missing CIFAR-10 file {name} in {folder}.")
        batch = _read_cifar_batch(path)
        try:
            data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            lab = np.asarray(batch["labels"], dtype=np.int64)
        except (KeyError, ValueError) as exc:
            raise DataError(f"{name}: not a CIFAR-10 batch ({exc}).") from None
        if len(data) != len(lab):
            raise DataError(f"{name}: {len(data)} images but {len(lab)} labels.")
        images.append(data)
        labels.append(lab)
    return np.concatenate(images), np.concatenate(labels)


def _cifar10(split: str, root: Path | str | None, seed: int) -> DataSplit:
    folder = _dataset_folder("cifar10", root)
    train_names = sorted(p.name for p in folder.glob("data_batch_*"))
    if not train_names:
        raise DataError(f"No CIFAR-10 training batches (data_batch_1..5) in {folder}.")
    train_images, train_labels = _cifar_arrays(folder, train_names)
    held_out = _holdout(len(train_images), seed)
    train_keep = np.setdiff1d(np.arange(len(train_images)), held_out)
    mean, std = channel_stats(torch.from_numpy(train_images[train_keep]))
    if split == "test":
        images, labels = _cifar_arrays(folder, ["test_batch"])
    else:
        keep = held_out if split == "val" else train_keep
        images, labels = train_images[keep], train_labels[keep]
    classes = [f"class {i}" for i in range(10)]
    if (folder / "batches.meta").exists():
        names = _read_cifar_batch(folder / "batches.meta").get("label_names", [])
        classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names] or classes
    return DataSplit(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels),
                     classes, mean, std, name="cifar10", split=split)


def available_datasets(root: Path | str | None = None) -> list[str]:
    """Names :func:`load_dataset` can load here: the built-in sets always, others if their files exist."""
    found = ["digits", *GENERATED]
    for name in FOLDER_DATASETS:
        try:
            _dataset_folder(name, root)
            found.append(name)
        except DataError:
            pass
    return found


def load_dataset(name: str, split: str, *, seed: int = 0, root: Path | str | None = None,
                 size: int | None = None) -> DataSplit:
    """Split ``split`` ("train", "val", "test") of data set ``name``.

    Parameters
    ----------
    name : "digits", "shapes", "scenes", "shortcut", "shortcut_shuffled", "mnist",
        "fashion_mnist" or "cifar10" (the last three read files from ``root`` or
        :func:`data_dir`; see :func:`download_dataset`).
    seed : which fixed split (and, for generated sets, which pictures); 0 made the shipped models.
    size : number of generated pictures (default 10000/1000/1000); for the other sets, the first
        ``size`` images of the split.
    """
    _check_split(split)
    if name == "digits":
        data = load_digits_split(split, seed)
    elif name == "shapes":
        return make_shapes(size or SHAPES_SIZES[split], seed, split)
    elif name in SCENE_TAGS:
        return make_scenes(size or SCENES_SIZES[split], seed, split, tag=SCENE_TAGS[name])
    elif name in ("mnist", "fashion_mnist"):
        data = _mnist_like(name, split, root, seed)
    elif name == "cifar10":
        data = _cifar10(split, root, seed)
    else:
        raise DataError(f"Unknown data set {name!r}; choose one of "
                        f"{', '.join(['digits', *GENERATED, *FOLDER_DATASETS])}.")
    return data.subset(size) if size else data


def download_dataset(name: str, root: Path | str | None = None, *, progress=print) -> Path:
    """Download ``name`` from its official address into ``root`` (only ever called on request).

    CIFAR-10's archive is unpacked with tarfile's "data" filter (no links, nothing outside the folder).
    """
    if name not in DOWNLOADS:
        raise DataError(f"Nothing to download for {name!r}; choose one of {', '.join(DOWNLOADS)}.")
    bases, files = DOWNLOADS[name]
    target = (Path(root) if root is not None else data_dir()) / name
    target.mkdir(parents=True, exist_ok=True)
    for file in files:
        path = target / file
        for base in bases:
            if path.exists():
                break
            progress(f"downloading {base}{file}")
            try:
                partial = path.with_suffix(path.suffix + ".part")
                urllib.request.urlretrieve(base + file, partial)  # noqa: S310 - fixed official URLs
                partial.rename(path)
            except OSError as exc:
                progress(f"  failed: {exc}")
        if not path.exists():
            raise DataError(f"Could not download {file} from {' or '.join(bases)}.")
    if name == "cifar10":
        with tarfile.open(target / files[0]) as archive:
            archive.extractall(target, filter="data")
    return target


# --------------------------------------------------------------------------- a user's zip of class folders

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@dataclass
class FolderDataset:
    """A user's ImageFolder zip: the three splits, class names and what was skipped."""

    splits: dict[str, DataSplit]
    classes: list[str]
    skipped: list[str] = field(default_factory=list)


def _safe_parts(name: str) -> tuple[str, ...]:
    """The path parts of a zip member, or DataError if the path could leave the folder."""
    if "\\" in name:
        name = name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise DataError(f"The zip contains an absolute path ({name!r}); refusing to use it.")
    parts = PurePosixPath(name).parts
    if ".." in parts:
        raise DataError(f"The zip contains a path that leaves its folder ({name!r}); refusing to use it.")
    return tuple(p for p in parts if p not in ("", "."))


# Budgets of a user's zip, checked from the archive's directory and the images' headers before
# anything is decoded: far above a class exercise (5,000 photos), far below what stalls a server.
ZIP_MAX_FILES = 5000
ZIP_MAX_BYTES = 200 * 2**20          # unpacked
ZIP_MAX_IMAGE_PIXELS = 25_000_000    # one picture (a 25-megapixel photo)
ZIP_MAX_TOTAL_PIXELS = 300_000_000   # all pictures together, as decoded (about 5 s of decoding)
ZIP_MAX_CLASSES = 100
MAX_CLASS_NAME = 40
# Compression methods Python's zipfile reads; anything else (e.g. AES, method 99) is refused.
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
# Every way reading a damaged member fails: bad CRC, truncated or corrupt streams, encryption.
_ZIP_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, NotImplementedError,
                    EOFError, OSError, ValueError, zlib.error, lzma.LZMAError)


def check_class_name(name: str) -> None:
    """Refuse a class name that is not a short plain name (it is shown on pages and in figures)."""
    if not name or len(name) > MAX_CLASS_NAME or not name.isprintable() or any(c in name for c in "<>"):
        shown = name[:MAX_CLASS_NAME].encode("unicode_escape").decode()
        raise DataError(f"Class names must be plain names of 1 to {MAX_CLASS_NAME} characters without < or >; "
                        f"{shown!r} is not.")


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, budget: int) -> bytes:
    """The member's bytes, at most ``budget + 1`` (the header's size can lie), or DataError."""
    try:
        with archive.open(member) as f:
            return f.read(budget + 1)
    except _ZIP_READ_ERRORS as err:
        reason = "a bad checksum (CRC)" if "CRC" in str(err) else "damaged data"
        raise DataError(f"The zip is damaged: {member.filename!r} has {reason}.") from None


def _open_image(raw: bytes, mode: str, image_size: int) -> Image.Image:
    """The image's header only (nothing decoded yet), reduced while decoding where PIL can:
    a JPEG is decoded at 1/2, 1/4 or 1/8 of its size when that still gives ``image_size``."""
    img = Image.open(io.BytesIO(raw))
    if img.format == "JPEG":
        img.draft(mode, (image_size, image_size))
    return img


def load_image_folder_zip(data: bytes, *, image_size: int = 64, channels: int = 3, seed: int = 0,
                          max_files: int = ZIP_MAX_FILES, max_bytes: int = ZIP_MAX_BYTES,
                          max_pixels: int = ZIP_MAX_IMAGE_PIXELS, max_total_pixels: int = ZIP_MAX_TOTAL_PIXELS,
                          max_classes: int = ZIP_MAX_CLASSES, progress=None, should_stop=None) -> FolderDataset:
    """A zip of class folders (``cats/1.png``, ``dogs/7.jpg``, optionally inside one top folder).

    Images are squeezed to ``image_size`` x ``image_size`` in grey (channels=1) or RGB and split per
    class 70/15/15 % (at least one test and one validation image per class).

    Everything is checked before any picture is decoded: the archive's directory (files, unpacked
    bytes, encryption, compression methods, paths), then every image's header (pixels per image,
    pixels of all images together as they will be decoded, class count and names). ``progress(done,
    total)`` is called while decoding; ``should_stop()`` returning True ends reading with DataError.

    Raises DataError for: not a zip, a damaged or encrypted member, paths escaping the folder, a
    budget exceeded, no images, fewer than two or more than ``max_classes`` classes, a class name
    that is not a short plain name, a class with under 3 images. Non-image files and images that
    cannot be decoded are skipped and listed in ``skipped``.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir()]
    except _ZIP_READ_ERRORS:
        raise DataError("This file is not a zip archive.") from None
    paths = [(m, _safe_parts(m.filename)) for m in members]  # check every path before reading any
    paths = [(m, p) for m, p in paths if p and p[0] != "__MACOSX" and not p[-1].startswith(".")]
    if len(paths) > max_files:
        raise DataError(f"The zip holds {len(paths)} files; the limit is {max_files}.")
    if sum(m.file_size for m, _ in paths) > max_bytes:
        raise DataError(f"The zip unpacks to more than {max_bytes // 2**20} MB; the limit is "
                        f"{max_bytes // 2**20} MB.")
    for m, _ in paths:
        if m.flag_bits & 0x1:
            raise DataError(f"The zip is encrypted ({m.filename!r} needs a password); zip it without one.")
        if m.compress_type not in _ZIP_METHODS:
            raise DataError(f"{m.filename!r} uses a compression method this app cannot read "
                            f"(method {m.compress_type}); zip it with the usual 'deflate'.")
    # One top folder around the class folders is common (zipping the folder itself): drop it.
    while paths and len({p[0] for _, p in paths}) == 1 and any(len(p) > 2 for _, p in paths):
        paths = [(m, p[1:]) for m, p in paths]

    skipped: list[str] = []
    mode = "L" if channels == 1 else "RGB"
    # Pass 1, headers only: which members are images, of which class, how many pixels.
    images: list[tuple[zipfile.ZipInfo, str]] = []
    budget, total_pixels = max_bytes, 0
    for member, parts in paths:
        if len(parts) < 2 or PurePosixPath(parts[-1]).suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append(member.filename)
            continue
        raw = _read_member(archive, member, budget)
        budget -= len(raw)
        if budget < 0:
            raise DataError(f"The zip unpacks to more than {max_bytes // 2**20} MB; the limit is "
                            f"{max_bytes // 2**20} MB.")
        try:
            width, height = _open_image(raw, mode, image_size).size
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            skipped.append(member.filename)
            continue
        if width * height > max_pixels:
            raise DataError(f"{member.filename!r} has {width}×{height} pixels; pictures here have at most "
                            f"{max_pixels / 1e6:.0f} megapixels: make them smaller first.")
        total_pixels += width * height
        if total_pixels > max_total_pixels:
            raise DataError(f"The pictures in the zip have more than {max_total_pixels / 1e6:.0f} megapixels "
                            "together; make them smaller (a 64×64 model needs no more than 256×256) or use fewer.")
        images.append((member, "/".join(parts[:-1])))
    names = sorted({name for _, name in images})
    if len(names) > max_classes:
        raise DataError(f"The zip has {len(names)} class folders; the limit is {max_classes}.")
    for name in names:
        check_class_name(name)

    # Pass 2: decode, within the budgets just checked.
    by_class: dict[str, list[np.ndarray]] = {}
    for done, (member, name) in enumerate(images):
        if should_stop is not None and should_stop():
            raise DataError("Reading the zip was stopped.")
        if progress is not None and done % 50 == 0:
            progress(done, len(images))
        raw = _read_member(archive, member, max_bytes)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = _open_image(raw, mode, image_size)
                img = img.convert(mode).resize((image_size, image_size), Image.Resampling.BILINEAR)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
                Image.DecompressionBombWarning):
            skipped.append(member.filename)
            continue
        pixels = np.asarray(img, dtype=np.uint8).reshape(image_size, image_size, channels)
        by_class.setdefault(name, []).append(pixels.transpose(2, 0, 1))
    if progress is not None:
        progress(len(images), len(images))

    if not by_class:
        raise DataError("The zip holds no images in class folders (expected e.g. cats/1.png, dogs/2.png).")
    if len(by_class) < 2:
        raise DataError(f"The zip holds only one class ({next(iter(by_class))!r}); a classifier "
                        "needs at least two class folders.")
    small = [c for c, imgs in by_class.items() if len(imgs) < 3]
    if small:
        raise DataError(f"Each class needs at least 3 images (train, validation, test); too few in: "
                        f"{', '.join(sorted(small))}.")
    classes = sorted(by_class)
    rng = np.random.default_rng(seed)
    chosen: dict[str, list[tuple[np.ndarray, int]]] = {s: [] for s in SPLITS}
    for label, name in enumerate(classes):
        imgs = by_class[name]
        order = rng.permutation(len(imgs))
        n_test = n_val = max(1, int(round(0.15 * len(imgs))))
        for rank, i in enumerate(order):
            split = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
            chosen[split].append((imgs[i], label))
    tensors = {s: (torch.from_numpy(np.stack([im for im, _ in items])),
                   torch.tensor([lab for _, lab in items], dtype=torch.int64))
               for s, items in chosen.items()}
    mean, std = channel_stats(tensors["train"][0])
    splits = {s: DataSplit(x, y, classes, mean, std, name="my images", split=s) for s, (x, y) in tensors.items()}
    return FolderDataset(splits, classes, skipped)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Download MNIST, Fashion-MNIST or CIFAR-10 "
                                     "from their official addresses.")
    parser.add_argument("command", choices=["download"])
    parser.add_argument("name", choices=sorted(DOWNLOADS))
    parser.add_argument("--root", default=None, help=f"target folder (default {data_dir()})")
    args = parser.parse_args()
    print(download_dataset(args.name, args.root))
