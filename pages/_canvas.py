"""A free-hand drawing canvas for "draw a digit" (issue 12): white ink on black, read back as ink.

Wraps ``streamlit-drawable-canvas`` (a Streamlit Components v2 package: its Fabric.js frontend
ships inside the wheel, so it needs no internet at run time). The component is imported only
when used: ``available()`` tells a page whether to show it or fall back to the pixel editor.

Not a page itself (the leading underscore keeps it out of navigation).
"""
from __future__ import annotations

import numpy as np
from PIL import Image

PACKAGE = "streamlit_drawable_canvas"
# A 20-px brush on a 280-px canvas: about the stroke of a pen on a 28-px MNIST digit.
BRUSH_FRACTION = 20 / 280


class CanvasUnavailable(ImportError):
    """The canvas component is not installed or cannot be loaded here."""


def _st_canvas():
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception as err:  # ImportError, or StreamlitAPIException outside a Streamlit run
        raise CanvasUnavailable(f"The drawing canvas ({PACKAGE}) cannot be loaded: {err}") from err
    return st_canvas


def available() -> bool:
    """Whether the canvas component can be shown in this run."""
    try:
        _st_canvas()
    except CanvasUnavailable:
        return False
    return True


def draw_canvas(key: str, height_px: int, width_px: int, *, stroke_px: int | None = None) -> np.ndarray | None:
    """Show a black canvas to draw on in white; the drawing as ink (height_px, width_px) in [0, 1].

    None until the browser has sent a first picture (nothing drawn yet in this session); an
    all-zero array once the student cleared it. The drawing is kept across reruns under ``key``;
    a new key starts an empty canvas. Raises CanvasUnavailable when the component is missing.
    """
    st_canvas = _st_canvas()
    if stroke_px is None:
        stroke_px = max(1, round(BRUSH_FRACTION * min(height_px, width_px)))
    result = st_canvas(fill_color="rgba(0, 0, 0, 0)", stroke_width=int(stroke_px), stroke_color="#FFFFFF",
                       background_color="#000000", height=int(height_px), width=int(width_px),
                       drawing_mode="freedraw", update_streamlit=True, return_image_data=True, key=key)
    rgba = result.image_data
    if rgba is None:
        return None
    picture = ink(rgba)
    if picture.shape != (height_px, width_px):  # e.g. a browser that exported at its pixel ratio
        picture = to_grid(picture, height_px, width_px)
    return picture


def ink(rgba: np.ndarray) -> np.ndarray:
    """The ink of an RGBA (or grey) picture of light strokes on black: (H, W) float32 in [0, 1]."""
    arr = np.asarray(rgba)
    if arr.ndim == 2:
        return arr.astype(np.float32) / 255
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"Expected an (H, W), (H, W, 3) or (H, W, 4) picture, got shape {arr.shape}.")
    light = arr[..., :3].max(axis=2).astype(np.float32) / 255
    if arr.shape[2] == 4:  # transparent pixels carry no ink
        light *= arr[..., 3].astype(np.float32) / 255
    return np.clip(light, 0, 1)


def to_grid(ink_hw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Area-average ink (H, W) down (or up) to (rows, cols): every canvas pixel counts once.

    For the pixel editor's path: ``features.drawing_to_picture(to_grid(ink, G, G), ...)``.
    """
    arr = np.clip(np.asarray(ink_hw, dtype=np.float32), 0, 1)
    if arr.ndim != 2 or rows < 1 or cols < 1:
        raise ValueError("to_grid needs a 2D ink array and a positive size.")
    if arr.shape == (rows, cols):
        return arr.copy()
    out = Image.fromarray(arr).resize((cols, rows), Image.Resampling.BOX)
    return np.clip(np.asarray(out, dtype=np.float32), 0, 1)
