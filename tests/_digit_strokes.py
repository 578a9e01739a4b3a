"""Hand-drawn digits for tests: strokes of every digit 0-9 as a mouse draws them on the canvas.

Each digit is one or two polylines in a unit box (x to the right, y down, 0..1). A variant
places it on a square canvas at a size, position, slant, width and stroke weight drawn from a
seeded generator, with a little hand tremor, and draws it with PIL in white on black with
round joints and caps, as Fabric's free-drawing brush does. Not a test module itself.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, stop: float, n: int = 24):
    """Points on an ellipse from angle ``start`` to ``stop`` (degrees; y down, so 90 is the bottom)."""
    a = np.radians(np.linspace(start, stop, n))
    return list(zip(cx + rx * np.cos(a), cy + ry * np.sin(a)))


def _strokes(digit: int, style: int) -> list[list[tuple[float, float]]]:
    """The polylines of one digit in the unit box; ``style`` picks between common ways to write it."""
    if digit == 0:
        return [_arc(0.5, 0.5, 0.5, 0.5, -90, 275, 40)]
    if digit == 1:
        return [[(0.5, 0.0), (0.5, 1.0)]] if style % 2 == 0 else [[(0.15, 0.3), (0.55, 0.0), (0.55, 1.0)]]
    if digit == 2:
        return [_arc(0.5, 0.28, 0.48, 0.28, 195, 400) + [(0.0, 1.0), (1.0, 1.0)]]
    if digit == 3:
        return [_arc(0.5, 0.25, 0.45, 0.25, 200, 450) + _arc(0.5, 0.75, 0.5, 0.25, 270, 520)[1:]]
    if digit == 4:
        if style % 2 == 0:
            return [[(0.7, 1.0), (0.7, 0.0), (0.0, 0.68), (1.0, 0.68)]]
        return [[(0.1, 0.0), (0.0, 0.6), (1.0, 0.6)], [(0.72, 0.15), (0.72, 1.0)]]
    if digit == 5:
        return [[(0.95, 0.0), (0.15, 0.0), (0.1, 0.45)] + _arc(0.5, 0.68, 0.47, 0.32, 220, 520)]
    if digit == 6:
        return [[(0.8, 0.0), (0.4, 0.18)] + _arc(0.5, 0.72, 0.45, 0.28, 200, 540)]
    if digit == 7:
        return [[(0.0, 0.0), (1.0, 0.0), (0.35, 1.0)]]
    if digit == 8:
        return [_arc(0.5, 0.24, 0.4, 0.24, 90, 450), _arc(0.5, 0.74, 0.5, 0.26, 270, 630)]
    if digit == 9:
        return [_arc(0.5, 0.3, 0.47, 0.3, 0, 360) + [(0.9, 1.0)]]
    raise ValueError(f"no strokes for {digit!r}")


def draw_digit(digit: int, rng: np.random.Generator, side: int = 280, style: int | None = None) -> np.ndarray:
    """One hand-drawn ``digit`` as canvas ink (side, side) float32 in [0, 1], white on black.

    Height 45-85 % of the canvas, width 50-80 % of the height (a "1" has no width of its own),
    slant -15..+15 degrees, anywhere that keeps it on the canvas, a brush of 14-26 pixels on a
    280-pixel canvas (the page's brush is 20) and a tremor of about 1 % of the height.
    """
    style = int(rng.integers(2)) if style is None else style
    height = rng.uniform(0.45, 0.85) * side
    width = height * rng.uniform(0.5, 0.8)
    slant = np.tan(np.radians(rng.uniform(-15, 15)))
    brush = int(round(rng.uniform(14, 26) * side / 280))
    reach_x = max(0.0, side - width - abs(slant) * height - brush) / 2
    reach_y = max(0.0, side - height - brush) / 2
    cx = side / 2 + rng.uniform(-reach_x, reach_x)
    cy = side / 2 + rng.uniform(-reach_y, reach_y)
    img = Image.new("L", (side, side), 0)
    pen = ImageDraw.Draw(img)
    for line in _strokes(digit, style):
        u = np.asarray(line, dtype=np.float64)
        u = u + rng.normal(0, 0.01, u.shape)
        x = cx + (u[:, 0] - 0.5) * width + (0.5 - u[:, 1]) * height * slant
        y = cy + (u[:, 1] - 0.5) * height
        points = list(zip(x.tolist(), y.tolist()))
        pen.line(points, fill=255, width=brush, joint="curve")
        for px, py in (points[0], points[-1]):  # round caps
            pen.ellipse((px - brush / 2, py - brush / 2, px + brush / 2, py + brush / 2), fill=255)
    return np.asarray(img, dtype=np.float32) / 255


def drawn_digits(variants: int = 6, seed: int = 0, side: int = 280):
    """``variants`` drawings of every digit 0-9: a list of (digit, ink), styles alternating."""
    rng = np.random.default_rng(seed)
    return [(d, draw_digit(d, rng, side, style=v % 2)) for d in range(10) for v in range(variants)]
