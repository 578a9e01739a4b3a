"""The live class's figures: how the hall answered (projector), and a question's picture as a
small PNG that the class store keeps and every phone shows."""
from __future__ import annotations

import html
import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw, ImageFont

from .style import DIVERGING, colourise, layout

PICTURE_SIDE = 256  # a question's picture: at most this many pixels a side (a phone shows ≤ 300 px)

RIGHT, WRONG = "#1e8449", "#9e9e9e"  # the right answer in green, every other answer grey


def answer_histogram(histogram: list[tuple[str, int, bool]], *, height: int = 380) -> go.Figure:
    """One bar per distinct answer (most common first), the right one green, with its count."""
    labels = [html.escape(str(label), quote=False) for label, _, _ in histogram]  # a class name is user text
    counts = [count for _, count, _ in histogram]
    colours = [RIGHT if ok else WRONG for _, _, ok in histogram]
    fig = go.Figure(go.Bar(x=labels, y=counts, marker_color=colours, text=counts, textposition="outside",
                           hovertemplate="%{x}: %{y} answers<extra></extra>", cliponaxis=False))
    fig.update_layout(**layout(title="How the hall answered (green: right)", height=height))
    fig.update_xaxes(type="category", title="answer")
    fig.update_yaxes(title="students", rangemode="tozero")
    return fig


def picture_png(picture: np.ndarray, max_side: int = PICTURE_SIDE) -> bytes:
    """A picture ((H, W) or (H, W, 3), 0…255) re-encoded as a PNG of at most ``max_side`` pixels a
    side: a large photo downscaled, a small model input enlarged by a whole factor with square
    pixels (28×28 would otherwise blur on a phone). Only these pixels leave the lecturer's
    screen, never the uploaded file."""
    img = Image.fromarray(np.clip(np.asarray(picture), 0, 255).astype(np.uint8))
    side = max(img.size)
    if side > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    elif side * 2 <= max_side:
        factor = max_side // side
        img = img.resize((img.width * factor, img.height * factor), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def filters_png(feature_map: np.ndarray, filters: np.ndarray, letters: str = "ABCD",
                width: int = PICTURE_SIDE) -> bytes:
    """"Which filter made this feature map?": the map on top (grey, its own range), the filters
    below in the order of ``letters`` (in × kh × kw each: colours for an RGB layer with grey = 0,
    else blue–white–red), each under its letter."""
    cell = width // len(letters)
    fmap = np.asarray(feature_map, dtype=np.float64)
    top = colourise(fmap, zmin=float(fmap.min()), zmax=float(fmap.max()), colorscale="gray")
    factor = max(1, (width * 9 // 16) // max(fmap.shape))  # the map about 144 px: the buttons stay on a phone screen
    top = np.repeat(np.repeat(top, factor, axis=0), factor, axis=1)
    label_h = 22
    canvas = Image.new("RGB", (width, top.shape[0] + 8 + label_h + cell), "white")
    canvas.paste(Image.fromarray(top), ((width - top.shape[1]) // 2, 0))
    w = np.asarray(filters, dtype=np.float64)
    bound = float(np.abs(w).max()) or 1.0  # one scale for all four: their strengths compare
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=18)
    y = top.shape[0] + 8
    for k, (letter, kernel) in enumerate(zip(letters, w)):
        if kernel.shape[0] == 3:
            tile = np.clip(127.5 + 127.5 * kernel / bound, 0, 255).transpose(1, 2, 0).astype(np.uint8)
        else:
            tile = colourise(kernel.sum(axis=0), zmin=-bound, zmax=bound, colorscale=DIVERGING)
        size = cell - 8
        image = Image.fromarray(tile).resize((size, size), Image.Resampling.NEAREST)
        x = k * cell + 4
        draw.text((x + size // 2, y), letter, fill="black", font=font, anchor="mt")
        canvas.paste(image, (x, y + label_h))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
