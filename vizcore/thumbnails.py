"""Small pictures of what each page shows, for the home page's cards (issue 25: the app's first
screen shows what it does in pictures).

Each picture is computed by the same functions as the page it stands for (a kernel slid by
vizcore.conv, pooling by vizcore.pooling, maps and explanations of the shipped models), only
smaller, and returned as an RGB uint8 array: mostly two square panels side by side, what goes in
and what comes out (:data:`HEIGHT` × :data:`WIDTH`). Plain numpy and PIL, no Streamlit and no
Plotly: the colour scales are the charts' own, written out as numbers (tests/test_home_page.py
checks them against the charts').
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vizcore import architectures, conv, features, images, kernels, pooling, shapes, train
from vizcore.data import DataSplit
from vizcore.explain import Plan, explanation_mask, gradient, heatmap, lime, occlusion, segment
from vizcore.explain.lime import segment_means
from vizcore.explain.occlusion import fill

TILE = 112            # px: one square panel
GAP = 8               # px of white between panels
HEIGHT, WIDTH = TILE, 2 * TILE + GAP
WHITE = 255

Stops = tuple[tuple[float, tuple[float, float, float, float]], ...]


def _evenly(*colours: tuple[int, int, int]) -> Stops:
    """Opaque colours at evenly spaced positions 0 … 1, as Plotly spaces a named scale's colours."""
    return tuple((k / (len(colours) - 1), (*c, 1.0)) for k, c in enumerate(colours))


# The charts' colour scales: Plotly's RdBu_r (the playground's signed responses), Viridis (feature
# maps), Blues (the confusion matrix), and the explanation pages' map scales over a picture
# (vizcore.figures.saliency: ABSOLUTE_SCALE for |gradient|, SIGNED_SCALE for occlusion), whose
# alpha leaves weak values see-through.
DIVERGING = _evenly((5, 48, 97), (33, 102, 172), (67, 147, 195), (146, 197, 222), (209, 229, 240), (247, 247, 247),
                    (253, 219, 199), (244, 165, 130), (214, 96, 77), (178, 24, 43), (103, 0, 31))
VIRIDIS = _evenly((68, 1, 84), (72, 40, 120), (62, 73, 137), (49, 104, 142), (38, 130, 142), (31, 158, 137),
                  (53, 183, 121), (110, 206, 88), (181, 222, 43), (253, 231, 37))
BLUES = _evenly((247, 251, 255), (222, 235, 247), (198, 219, 239), (158, 202, 225), (107, 174, 214),
                (66, 146, 198), (33, 113, 181), (8, 81, 156), (8, 48, 107))
ABSOLUTE = ((0.0, (255, 255, 204, 0.0)), (0.15, (255, 237, 160, 0.35)), (0.35, (254, 178, 76, 0.7)),
            (0.6, (252, 78, 42, 0.9)), (0.8, (213, 0, 33, 1.0)), (1.0, (128, 0, 38, 1.0)))
SIGNED = ((0.0, (5, 48, 97, 1.0)), (0.2, (33, 102, 172, 0.95)), (0.4, (146, 197, 222, 0.6)),
          (0.5, (247, 247, 247, 0.0)), (0.6, (244, 165, 130, 0.6)), (0.8, (178, 24, 43, 0.95)),
          (1.0, (103, 0, 31, 1.0)))
SALIENCY_OPACITY, OCCLUSION_OPACITY = 0.7, 0.6  # the pages' default opacities


# --- drawing ------------------------------------------------------------------------------------

def to_uint8(values) -> np.ndarray:
    """Values 0 … 255 rounded to whole pixel values (clipped)."""
    return np.clip(np.asarray(values, dtype=np.float64), 0, 255).round().astype(np.uint8)


def rgb(picture) -> np.ndarray:
    """(H, W) gray or (H, W, 3) colour, 0 … 255, as (H, W, 3) uint8."""
    p = to_uint8(picture)
    return np.repeat(p[..., None], 3, axis=2) if p.ndim == 2 else p


def grey(picture) -> np.ndarray:
    """A picture's luminance (ITU-R 601, as the explanation pages grey a picture under a map), (H, W, 3) uint8."""
    p = rgb(picture).astype(np.float64)
    return rgb(p @ np.array([0.299, 0.587, 0.114]))


def enlarge(picture: np.ndarray, side: int = TILE) -> np.ndarray:
    """A square picture resized to ``side`` × ``side`` by repeating pixels (a 28-px digit stays crisp)."""
    p = np.asarray(picture)
    rows = np.arange(side) * p.shape[0] // side
    cols = np.arange(side) * p.shape[1] // side
    return p[rows][:, cols]


def mosaic(tiles: list[np.ndarray], cols: int, gap: int = GAP) -> np.ndarray:
    """Equal RGB tiles in rows of ``cols``, ``gap`` white pixels between them."""
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, 3), WHITE, np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tile
    return out


def side_by_side(left, right) -> np.ndarray:
    """Two pictures as two square panels, ``HEIGHT`` × ``WIDTH``: what goes in, what comes out."""
    return mosaic([enlarge(rgb(left)), enlarge(rgb(right))], cols=2)


def colours(values, low: float, high: float, stops: Stops) -> np.ndarray:
    """Values as RGBA (…, 4), float, on a colour scale from ``low`` to ``high`` (clipped), each
    channel interpolated linearly between the stops as Plotly does; alpha 0 … 1."""
    v = np.asarray(values, dtype=np.float64)
    t = np.clip((v - low) / (high - low), 0, 1) if high > low else np.full(v.shape, 0.5)
    positions = np.array([p for p, _ in stops])
    table = np.array([c for _, c in stops], dtype=np.float64)
    return np.stack([np.interp(t, positions, table[:, k]) for k in range(4)], axis=-1)


def paint(values, low: float, high: float, stops: Stops) -> np.ndarray:
    """Values in the colours of an opaque scale, (…, 3) uint8."""
    return to_uint8(colours(values, low, high, stops)[..., :3])


def over(picture, values, low: float, high: float, stops: Stops, opacity: float) -> np.ndarray:
    """A map laid over a picture of the same size as a chart lays a heatmap trace with
    ``opacity`` over an image: each pixel mixes in the map's colour by its alpha × ``opacity``."""
    c = colours(values, low, high, stops)
    alpha = c[..., 3:] * opacity
    return to_uint8(np.asarray(picture, dtype=np.float64) * (1 - alpha) + c[..., :3] * alpha)


def own_range(values) -> np.ndarray:
    """Each map of (N, H, W) stretched to 0 … 1 over its own range (a flat map is 0)."""
    v = np.asarray(values, dtype=np.float64)
    low = v.min(axis=(-2, -1), keepdims=True)
    span = v.max(axis=(-2, -1), keepdims=True) - low
    return np.where(span > 0, (v - low) / np.where(span > 0, span, 1), 0.0)


def boxes_on_white(boxes: list[tuple[int, int, int, int, tuple[int, int, int]]], height: int = HEIGHT,
                   width: int = WIDTH) -> np.ndarray:
    """A white picture with filled boxes (top, left, height, width, colour), drawn in order."""
    out = np.full((height, width, 3), WHITE, np.uint8)
    for top, left, h, w, colour in boxes:
        out[top:top + h, left:left + w] = colour
    return out


# --- Convolution basics --------------------------------------------------------------------------

def sample(name: str, side: int = TILE, zoom: int = 1) -> np.ndarray:
    """A sample photo (vizcore.images) in gray, float 0 … 255: reduced to ``zoom`` × ``side``
    pixels a side, and its middle ``side`` × ``side`` (a brick wall whole at 112 px has
    bricks too thin to see their edges)."""
    photo, _ = images.reduce_to_working_size(images.sample_image(name), zoom * side)
    x = images.to_array(photo, "L")
    top, left = (x.shape[0] - side) // 2, (x.shape[1] - side) // 2
    return x[top:top + side, left:left + side]


def kernel_response(photo: np.ndarray, kernel: np.ndarray | None = None) -> np.ndarray:
    """The playground's first picture: a gray photo and its response to a kernel (by default its
    default, Sobel x: vertical edges), slid by vizcore.conv with k // 2 zeros of padding, so the
    response is as large as the photo. Blue negative, white 0, red positive; the scale ends at
    the 99th percentile of |response|, so a few strong edges do not wash the rest out."""
    kernel = kernels.sobel_x() if kernel is None else kernel
    response = conv.correlate2d(photo, kernel, padding=kernel.shape[0] // 2)
    bound = float(np.percentile(np.abs(response), 99)) or 1.0
    return side_by_side(photo, paint(response, -bound, bound, DIVERGING))


def max_pooled(photo: np.ndarray, size: int = 4) -> np.ndarray:
    """A gray photo and its ``size`` × ``size`` max pooling (stride ``size``), each output
    value drawn as the block it came from."""
    return side_by_side(photo, pooling.pool2d(photo, size, mode="max"))


CONV, POOL, DENSE, INPUT = (33, 113, 181), (230, 120, 30), (49, 163, 84), (115, 115, 115)
BLOCK_GAP = 6       # px between the blocks of a stack
BLOCK_MAX = TILE - 12  # px: the tallest block


def stack_shapes(layers, input_shape) -> list[tuple[str, tuple[int, ...]]]:
    """The input and every layer that changes the shape (an activation keeps it): (kind, shape)."""
    found = [("input", tuple(input_shape))]
    for row in shapes.summarize(layers, input_shape).rows:
        if row.output_shape != row.input_shape:
            found.append((row.kind, tuple(row.output_shape)))
    return found


def layer_blocks(layers, input_shape) -> np.ndarray:
    """A stack's tensors as shrinking blocks, left to right: a feature map's height in proportion
    to its rows, its width growing with its channels (log), a vector a bar as tall as its length
    in proportion to the longest vector. Blue convolution, orange pooling, green flatten/linear."""
    found = stack_shapes(layers, input_shape)
    tallest = max(s[1] for _, s in found if len(s) == 3)
    longest = max(s[0] for _, s in found if len(s) == 1)
    blocks = []
    for kind, shape in found:
        if len(shape) == 3:
            h, w = max(2, round(shape[1] / tallest * BLOCK_MAX)), 4 + round(3 * np.log2(shape[0]))
        else:
            h, w = max(2, round(shape[0] / longest * BLOCK_MAX)), 5
        colour = {"input": INPUT, "Conv2d": CONV, "MaxPool2d": POOL, "AvgPool2d": POOL}.get(kind, DENSE)
        blocks.append((h, w, colour))
    left = (WIDTH - sum(w for _, w, _ in blocks) - BLOCK_GAP * (len(blocks) - 1)) // 2
    boxes = []
    for h, w, colour in blocks:
        boxes.append(((HEIGHT - h) // 2, left, h, w, colour))
        left += w + BLOCK_GAP
    return boxes_on_white(boxes)


PAD_CELL, INPUT_CELL, WINDOW_CELL = (217, 217, 217), (198, 219, 239), (33, 113, 181)


def conv_arithmetic(n: int = 5, k: int = 3, stride: int = 2, padding: int = 1) -> np.ndarray:
    """The convolution-arithmetic picture a shape question is about: an n × n input in its padding
    (gray), the first k × k window (dark blue) and, right, the output grid with the cell that window
    makes. The cells and windows are vizcore.shapes.axis_layout's, as the shape calculator draws them."""
    axis = shapes.axis_layout(n, k, stride, padding)
    cells, out = len(axis.kinds), len(axis.starts)
    cell = (TILE - 2 * (cells - 1)) // cells
    first = {axis.starts[0] + tap for tap in axis.taps}

    def grid(count: int, colour_of) -> np.ndarray:
        side = count * cell + 2 * (count - 1)
        top = (TILE - side) // 2
        return boxes_on_white([(top + i * (cell + 2), top + j * (cell + 2), cell, cell, colour_of(i, j))
                               for i in range(count) for j in range(count)], TILE, TILE)

    source = grid(cells, lambda i, j: WINDOW_CELL if i in first and j in first else
                  PAD_CELL if "pad" in (axis.kinds[i], axis.kinds[j]) else INPUT_CELL)
    result = grid(out, lambda i, j: WINDOW_CELL if i == j == 0 else INPUT_CELL)
    return mosaic([source, result], cols=2)


# --- Inside a CNN ----------------------------------------------------------------------------------

def model_input(pixels: np.ndarray, meta: dict) -> torch.Tensor:
    """A picture (H, W) or (H, W, 3), 0 … 255, as the model's (1, C, H, W) input."""
    p = np.asarray(pixels, dtype=np.float32)
    return features.normalise(p[None] if p.ndim == 2 else p.transpose(2, 0, 1), meta)


def first_picture(split: DataSplit, class_name: str) -> np.ndarray:
    """The split's first picture of a class, (H, W) gray or (H, W, 3), uint8."""
    picture = split.images[int(np.flatnonzero(split.labels.numpy() == split.classes.index(class_name))[0])].numpy()
    return picture[0] if picture.shape[0] == 1 else picture.transpose(1, 2, 0)


def small_plan() -> Plan:
    """How to run a thumbnail's few hundred passes of a small model: batches of 64 in the usual
    layout. Measuring the fastest plan (what the pages do, once per model) takes a second, more
    than these passes."""
    return Plan(64, False, 0.0)


def predicted(model: nn.Module, x: torch.Tensor) -> int:
    """The class the model gives ``x`` (1, C, H, W)."""
    with torch.no_grad():
        return int(model(x).argmax(1)[0])


def digits_and_confusion(model: nn.Module, split: DataSplit, count: int = 9) -> np.ndarray:
    """Training's results: the first ``count`` test pictures, and the confusion matrix of the
    model on the whole test split (row: true class, column: predicted; Blues, 0 … the largest count)."""
    side = int(np.sqrt(count))
    tiles = [enlarge(rgb(p), (TILE - GAP * (side - 1)) // side) for p in split.images[:count, 0].numpy()]
    matrix = train.confusion_matrix(split.labels, train.predict(model, split).argmax(1), len(split.classes))
    return side_by_side(mosaic(tiles, side), paint(matrix, 0, matrix.max(), BLUES))


def channel_maps(model: nn.Module, meta: dict, pixels: np.ndarray, count: int = 4) -> np.ndarray:
    """A picture and the first ``count`` maps of the model's first convolution (as Feature maps'
    strip shows them: Viridis, each map over its own range), in a square mosaic."""
    layer = features.conv_layers(model)[0]
    maps = features.activations(model, model_input(pixels, meta))[layer][0, :count].numpy()
    side = int(np.ceil(np.sqrt(count)))
    tile = (TILE - GAP // 2 * (side - 1)) // side
    tiles = [enlarge(paint(m, 0, 1, VIRIDIS), tile) for m in own_range(maps)]
    return side_by_side(pixels, mosaic(tiles, side, GAP // 2))


def one_per_class(pictures: torch.Tensor, labels: torch.Tensor, cols: int = 4) -> np.ndarray:
    """The first picture of each class, in class order, two rows as wide as two panels."""
    classes = sorted(set(labels.tolist()))
    side = (HEIGHT - GAP) // 2
    tiles = [enlarge(pictures[int(np.flatnonzero(labels.numpy() == c)[0])].numpy().transpose(1, 2, 0), side)
             for c in classes]
    return mosaic(tiles, cols)


ARCHITECTURES = ("lenet5", "alexnet", "vgg16", "googlenet", "resnet18", "resnet50", "resnet152", "imagenet")
FEWEST_PARAMS = 1e4  # a bar's foot on the log scale: a network with 10 000 parameters has no bar


def parameter_bars(names=ARCHITECTURES) -> np.ndarray:
    """The networks' learnable parameters (counted by vizcore.architectures) as bars in their order,
    on a log scale from 10⁴ (no bar) to the largest count (the full height)."""
    counts = [architectures.summary(name)["params"] for name in names]
    top = np.log10(max(counts))
    bar = (WIDTH - BLOCK_GAP * (len(names) - 1)) // len(names)
    boxes = []
    for k, count in enumerate(counts):
        h = round((np.log10(count) - np.log10(FEWEST_PARAMS)) / (top - np.log10(FEWEST_PARAMS)) * BLOCK_MAX)
        boxes.append((HEIGHT - 4 - h, k * (bar + BLOCK_GAP), h, bar, CONV))
    return boxes_on_white(boxes)


# --- Explaining predictions ---------------------------------------------------------------------------

def gradient_map(model: nn.Module, meta: dict, pixels: np.ndarray) -> np.ndarray:
    """Saliency's first map: a picture and, over it in gray, |d score / d pixel| of the predicted
    class (the largest over the colour channels), from 0 up to the largest value."""
    x = model_input(pixels, meta)
    g = heatmap(gradient(model, x, predicted(model, x)))[0].numpy()
    return side_by_side(pixels, over(grey(pixels), g, 0.0, float(g.max()), ABSOLUTE, SALIENCY_OPACITY))


def occlusion_map(model: nn.Module, meta: dict, pixels: np.ndarray, window: int = 8, stride: int = 4) -> np.ndarray:
    """Occlusion's map with the page's defaults: how much the predicted class's probability falls
    where a mid-grey ``window`` patch (moved by ``stride``) hides the picture, red where hiding
    hurts, blue where it helps, symmetric around 0."""
    x = model_input(pixels, meta)
    drop = occlusion(model, x, predicted(model, x), window, stride, fill(x, "grey", meta["mean"], meta["std"]),
                     plan=small_plan())
    m = drop[0].numpy()
    bound = float(np.abs(m).max()) or 1.0
    return side_by_side(pixels, over(grey(pixels), m, -bound, bound, SIGNED, OCCLUSION_OPACITY))


def boundaries(segments: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose right or lower neighbour is in another superpixel."""
    edge = np.zeros(segments.shape, bool)
    edge[:, :-1] |= segments[:, 1:] != segments[:, :-1]
    edge[:-1] |= segments[1:] != segments[:-1]
    return edge


BOUNDARY, KEPT = (255, 215, 0), (26, 152, 80)


def lime_superpixels(model: nn.Module, meta: dict, pixels: np.ndarray, segments: int = 25, samples: int = 1000,
                     top: int = 5) -> np.ndarray:
    """LIME with the page's defaults: the picture cut into SLIC superpixels (yellow borders), and
    the ``top`` superpixels whose presence raises the predicted class most, in green, the rest faded."""
    x = model_input(pixels, meta)
    labels = segment(pixels, "slic", segments)
    result = lime(model, x, predicted(model, x), labels, samples, seed=0, hide=segment_means(x, labels),
                  plan=small_plan())
    chosen = explanation_mask(labels, result.coefficients, top, "positive") > 0
    picture = grey(pixels)
    outlined = picture.copy()
    outlined[boundaries(labels)] = BOUNDARY
    faded = rgb(np.where(chosen[..., None], 0.5 * picture + 0.5 * np.array(KEPT), 0.35 * picture + 0.65 * WHITE))
    return side_by_side(enlarge(outlined), enlarge(faded))


def qr_code(text: str, side: int = 120, border: int = 2) -> np.ndarray:
    """``text`` as a QR code (error correction M, as the live class's join code): black modules on
    white with a ``border`` of white modules, each module as many whole pixels as keep the code
    within ``side`` px (at least one: a scanner needs square, sharp modules)."""
    import segno  # only the live class's picture needs it

    modules = np.pad(np.array(segno.make(text, error="m").matrix, dtype=bool), border)
    scale = max(1, side // modules.shape[0])
    dark = np.repeat(np.repeat(modules, scale, axis=0), scale, axis=1)
    return rgb(np.where(dark, 0, WHITE))
