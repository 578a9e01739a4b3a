"""Image input: decode what a user uploads, sample photos and teaching patterns.

Everything a page shows starts here, so every failure becomes an `ImageInputError` whose
message a student understands. Nothing is written to disk.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000
# Pictures are reduced to at most this side while (JPEG) or right after decoding: twice the
# largest working size, so nothing the pages show is lost, and a 40-megapixel upload never
# becomes several copies of itself in memory.
DECODE_MAX_SIDE = 2048
MAX_ASPECT_RATIO = 20.0
DEFAULT_MAX_SIDE = 512
PATTERN_SIZE = 256


class ImageInputError(ValueError):
    """An input that cannot be used as an image, with a message for the user."""


def load_image(data: bytes) -> Image.Image:
    """Decode uploaded bytes into a PIL image in mode RGB or L.

    EXIF orientation is applied (phone photos come out upright); palette, alpha, CMYK,
    16-bit and other modes are normalised: grayscale stays "L", everything else becomes "RGB"
    (transparent areas on white). A picture longer than ``DECODE_MAX_SIDE`` pixels is reduced
    by a whole factor (each output pixel the mean of a block): the pages show at most 1024.

    Raises
    ------
    ImageInputError
        For empty or too large data, non-images, truncated files, decompression bombs,
        absurd aspect ratios and float pictures with NaN or infinite pixels. No other exception
        escapes.
    """
    if not data:
        raise ImageInputError("The file is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageInputError(
            f"The file is {len(data) / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            _check_size(img.size)
            if img.format == "JPEG":  # decoded at 1/2, 1/4 or 1/8 size by the decoder itself
                img.draft(img.mode, (DECODE_MAX_SIDE, DECODE_MAX_SIDE))
            img = ImageOps.exif_transpose(img)
            img.load()
            return _normalise_mode(img)
    except ImageInputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        if isinstance(exc, UnidentifiedImageError):
            raise ImageInputError(
                "This file is not an image we can read. Use PNG, JPEG, GIF, BMP, WebP or TIFF."
            ) from None
        raise ImageInputError(
            "The image claims to be far too large to open safely; "
            f"the limit is {MAX_PIXELS / 1e6:.0f} megapixels."
        ) from None
    except Exception:  # noqa: BLE001 - any decoder failure is a broken file to the user
        raise ImageInputError(
            "The image file is damaged or incomplete (it could not be decoded)."
        ) from None


def _check_size(size: tuple[int, int]) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise ImageInputError("The image has no pixels.")
    if width * height > MAX_PIXELS:
        raise ImageInputError(
            f"The image is {width}×{height} pixels ({width * height / 1e6:.0f} megapixels); "
            f"the limit is {MAX_PIXELS / 1e6:.0f} megapixels."
        )
    if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        raise ImageInputError(
            f"The image is {width}×{height} pixels: too long and thin to show filter responses "
            f"(aspect ratio above {MAX_ASPECT_RATIO:.0f}:1)."
        )


def _factor(size: tuple[int, int]) -> int:
    """The whole factor that brings the longest side to at most ``DECODE_MAX_SIDE``."""
    return max(1, -(-max(size) // DECODE_MAX_SIDE))


def _normalise_mode(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _high_depth_to_gray(img)
    if img.mode in ("P", "1"):  # PIL cannot reduce these modes: convert first
        gray = img.mode == "1" or _palette_is_gray(img)
        img = _on_white(img).convert("L" if gray else "RGB")
    if _factor(img.size) > 1:
        img = img.reduce(_factor(img.size))
    if img.mode in ("RGB", "L"):
        return img
    gray = img.mode in ("LA", "La")
    return _on_white(img).convert("L" if gray else "RGB")


def _high_depth_to_gray(img: Image.Image) -> Image.Image:
    """16-bit, 32-bit and float grayscale stretched to 0..255 (not clipped to white).

    The picture is reduced first (block means, accumulated in float32): a float64 copy of a
    40-megapixel picture alone would be 320 MB. NaN or infinite pixels (float TIFFs) have no
    brightness: they are refused with a message instead of turning the whole picture black.
    """
    f = _factor(img.size)
    if img.mode in ("I", "F"):
        img = img.reduce(f) if f > 1 else img
        arr = np.asarray(img, dtype=np.float32)
    elif f == 1:
        arr = np.asarray(img).astype(np.float32)
    else:  # I;16*: PIL cannot reduce it, so numpy does, a band of rows at a time (no full copy)
        h, w = (img.height // f) * f, (img.width // f) * f  # the aspect limit keeps both >= f
        band = f * max(1, 256 // f)
        arr = np.concatenate([
            np.asarray(img.crop((0, top, w, min(top + band, h)))).reshape(-1, f, w // f, f)
            .mean(axis=(1, 3), dtype=np.float32) for top in range(0, h, band)])
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    if bad:
        raise ImageInputError(f"The picture has {bad:,} pixel(s) that are not numbers (NaN or infinite), "
                              "so it has no brightness there: save it without them.")
    lo, hi = float(arr.min()), float(arr.max())
    scaled = (arr - lo) * np.float32(255 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    return Image.fromarray(scaled.round().astype(np.uint8), mode="L")


def _palette_is_gray(img: Image.Image) -> bool:
    rgb = np.asarray(img.convert("RGB"))
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


def _on_white(img: Image.Image) -> Image.Image:
    """Composite onto white so transparent areas don't turn black."""
    rgba = img.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", img.size, (255, 255, 255, 255)), rgba)


def reduce_to_working_size(img: Image.Image, max_side: int = DEFAULT_MAX_SIDE) -> tuple[Image.Image, bool]:
    """Shrink `img` so its longest side is at most `max_side`; return it and whether it shrank."""
    if max(img.size) <= max_side:
        return img, False
    scale = max_side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS), True


def to_array(img: Image.Image, mode: str = "L") -> np.ndarray:
    """Pixels as float32 in 0..255: (H, W) for mode "L", (3, H, W) channels-first for "RGB"."""
    if mode not in ("L", "RGB"):
        raise ValueError(f"mode must be 'L' or 'RGB', not {mode!r}")
    arr = np.asarray(img.convert(mode), dtype=np.float32)
    return arr if mode == "L" else np.ascontiguousarray(arr.transpose(2, 0, 1))


# --- samples -------------------------------------------------------------------------------

_PHOTOS = {
    "camera": "Cameraman (grayscale photo)",
    "astronaut": "Astronaut (colour photo)",
    "brick": "Brick wall (grayscale texture, as in the edge-filter slides)",
    "chelsea": "Chelsea the cat (colour photo)",
    "coffee": "Cup of coffee (colour photo)",
    "horse": "Horse silhouette (binary)",
    "rocket": "Rocket launch (colour photo)",
    "text": "Printed text (grayscale)",
}

_PATTERNS = {
    "step edge": "Dark left half, bright right half: one vertical edge",
    "checkerboard": "Checkerboard of 32-pixel squares: edges in both directions",
    "stripes": "Stripes at 30°: a single orientation and frequency",
    "circle": "Bright disc on dark: edges at every angle",
    "noise": "Uniform random noise (seed 0)",
}

SAMPLES: dict[str, str] = {**_PHOTOS, **_PATTERNS}
PHOTO_NAMES: tuple[str, ...] = tuple(_PHOTOS)  # the real pictures among the samples


# The photos' files inside scikit-image (bundled with it: no download). PIL reads them as
# skimage.data does, without importing scikit-image (0.1-0.3 s on a cold server); the horse is
# a binary mask skimage computes from its file, so it goes through skimage.
_PHOTO_FILES = {"camera": "camera.png", "astronaut": "astronaut.png", "brick": "brick.png",
                "chelsea": "chelsea.png", "coffee": "coffee.png", "rocket": "rocket.jpg", "text": "text.png"}


def sample_image(name: str) -> Image.Image:
    """A bundled photo from scikit-image or a generated teaching pattern (mode RGB or L)."""
    if name in _PHOTO_FILES:
        import importlib.util
        from pathlib import Path

        folder = Path(importlib.util.find_spec("skimage").submodule_search_locations[0], "data")
        with Image.open(folder / _PHOTO_FILES[name]) as img:
            img.load()
            return img
    if name in _PHOTOS:
        from skimage import data as skdata

        arr = getattr(skdata, name)()
        if arr.dtype == bool:
            arr = arr.astype(np.uint8) * 255
        return Image.fromarray(arr.astype(np.uint8))
    if name in _PATTERNS:
        return Image.fromarray(_pattern(name), mode="L")
    raise KeyError(f"unknown sample {name!r}; choose one of {sorted(SAMPLES)}")


def _pattern(name: str, n: int = PATTERN_SIZE) -> np.ndarray:
    rows, cols = np.mgrid[0:n, 0:n].astype(np.float64)
    if name == "step edge":
        out = np.where(cols >= n // 2, 200.0, 50.0)
    elif name == "checkerboard":
        out = np.where((rows // 32 + cols // 32) % 2 == 0, 220.0, 35.0)
    elif name == "stripes":
        angle = np.deg2rad(30)
        phase = (cols * np.cos(angle) + rows * np.sin(angle)) * 2 * np.pi / 24
        out = 127.5 + 100 * np.sign(np.sin(phase))
    elif name == "circle":
        out = np.where((rows - n / 2) ** 2 + (cols - n / 2) ** 2 <= (n / 3) ** 2, 220.0, 35.0)
    else:
        out = np.random.default_rng(0).uniform(0, 255, size=(n, n))
    return out.round().astype(np.uint8)
