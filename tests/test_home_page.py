"""Issue 25: the home page shows what the app does in pictures. Every registered page has a card
with its picture, its link and a short line; every picture (vizcore.thumbnails) is checked
against an independent oracle: scipy, scikit-image, scikit-learn, torch's own layers and
autograd, segno, Plotly's colour scales.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from PIL import Image
from scipy import ndimage
from skimage.measure import block_reduce
from sklearn.linear_model import Ridge
from sklearn.metrics import confusion_matrix, pairwise_distances
from torch import nn
from torch.nn import functional as F

from pages._catalog import PAGES
from vizcore import architectures, data, models, shapes, thumbnails as th
from vizcore.figures import saliency as saliency_figs, style

PAGE = str(Path(__file__).resolve().parents[1] / "app.py")  # Home is app.py's first page: its links need the navigation
TILE, GAP = th.TILE, th.GAP
SETTINGS = settings(max_examples=25, deadline=None)


# --- helpers --------------------------------------------------------------------------------------

def left(picture: np.ndarray) -> np.ndarray:
    return picture[:, :TILE]


def right(picture: np.ndarray) -> np.ndarray:
    return picture[:, TILE + GAP:]


def repeated(picture: np.ndarray, factor: int) -> np.ndarray:
    return np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)


def centres(cells: int, side: int) -> np.ndarray:
    """A pixel inside each of ``cells`` equal cells along ``side`` pixels (any nearest-neighbour enlargement)."""
    return np.array([int((i + 0.5) * side / cells) for i in range(cells)])


def sampled(panel: np.ndarray, cells: int, offset: tuple[int, int] = (0, 0), side: int | None = None) -> np.ndarray:
    """The colour of each cell of a ``cells`` × ``cells`` picture drawn at ``offset`` over ``side`` px."""
    at = centres(cells, side or panel.shape[0])
    return panel[np.ix_(offset[0] + at, offset[1] + at)]


def region(panel: np.ndarray, offset: tuple[int, int], side: int) -> np.ndarray:
    return panel[offset[0]:offset[0] + side, offset[1]:offset[1] + side]


def nearest(picture: np.ndarray, side: int) -> np.ndarray:
    """``picture`` (n × n) shown over ``side`` × ``side`` px, each shown pixel the source pixel it falls on."""
    index = np.arange(side) * picture.shape[0] // side
    return picture[np.ix_(index, index)]


def runs(line: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], line.astype(np.int8), [0]])))
    return list(zip(edges[::2], edges[1::2]))


def inked(picture: np.ndarray) -> np.ndarray:
    return (picture != th.WHITE).any(axis=-1)


def plotly_colours(values, low, high, scale: str) -> np.ndarray:
    """The colours Plotly gives values on a named scale (vizcore.figures.style reads Plotly's own)."""
    return style.colourise(np.asarray(values, dtype=np.float64), zmin=low, zmax=high, colorscale=scale)


def rgba_stops(scale) -> tuple[np.ndarray, np.ndarray]:
    """An explanation chart's scale, ((position, "rgba(r,g,b,a)"), …), as positions and an (n, 4) table."""
    positions = np.array([p for p, _ in scale])
    table = np.array([[float(v) for v in re.findall(r"[\d.]+", c)] for _, c in scale])
    return positions, table


def chart_overlay(picture_grey: np.ndarray, values: np.ndarray, low: float, high: float, scale, opacity: float):
    """A heatmap trace with a see-through scale and ``opacity`` over an image, as a browser blends it."""
    positions, table = rgba_stops(scale)
    t = np.clip((values - low) / (high - low), 0, 1)
    colour = np.stack([np.interp(t, positions, table[:, k]) for k in range(4)], axis=-1)
    alpha = colour[..., 3:] * opacity
    return (picture_grey.astype(np.float64) * (1 - alpha) + colour[..., :3] * alpha).round()


def luminance(picture: np.ndarray) -> np.ndarray:
    return np.repeat((np.asarray(picture, np.float64) @ [0.299, 0.587, 0.114]).round()[..., None], 3, axis=2)


def model_input(picture: np.ndarray, meta: dict) -> torch.Tensor:
    """The model's input, made here: (pixels / 255 − mean) / std per channel."""
    p = torch.as_tensor(np.asarray(picture, np.float32))
    p = p[None] if p.ndim == 2 else p.permute(2, 0, 1)
    mean, std = (torch.tensor(meta[k], dtype=torch.float32).view(-1, 1, 1) for k in ("mean", "std"))
    return ((p / 255 - mean) / std)[None]


@pytest.fixture(scope="module")
def digits():
    model, meta = models.load_pretrained("digits")
    return model, meta, data.load_digits_split("test")


def digit(split, index: int) -> np.ndarray:
    return split.images[index, 0].numpy()


# --- the page ------------------------------------------------------------------------------------

def cards(block) -> dict[str, object]:
    """The page's cards by the page they link: the smallest blocks with one link and one picture."""
    found = {}
    for child in getattr(block, "children", {}).values():
        found.update(cards(child))
        if type(child).__name__ in ("Block", "Column") and len(child.get("page_link")) == 1 \
                and len(child.get("image")) == 1:
            found.setdefault(child.get("page_link")[0].proto.page, child)
    return found


def test_every_registered_page_has_a_card_with_its_picture_link_and_line(at):
    assert at.title[0].value == "Seeing convolutions"
    found = cards(at.main)
    assert set(found) == {Path(p.path).stem for p in PAGES}
    for page in PAGES:
        card = found[Path(page.path).stem]
        link = card.get("page_link")[0]
        assert page.title in link.proto.label and link.proto.help == page.teaches
        (picture,) = card.get("image")
        assert picture.proto.imgs[0].alt and picture.proto.imgs[0].url.endswith(".png")
        assert page.short in [m.value for m in card.get("markdown")]


# --- colours ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("stops, scale", [(th.DIVERGING, style.DIVERGING), (th.VIRIDIS, "Viridis"), (th.BLUES, "Blues")])
def test_opaque_scales_are_plotlys(stops, scale):
    values = np.random.default_rng(0).uniform(-3, 5, 500)
    np.testing.assert_array_equal(th.paint(values, -2.0, 4.0, stops), plotly_colours(values, -2.0, 4.0, scale))


@pytest.mark.parametrize("stops, scale", [(th.ABSOLUTE, saliency_figs.ABSOLUTE_SCALE), (th.SIGNED, saliency_figs.SIGNED_SCALE)])
def test_map_scales_are_the_explanation_charts(stops, scale):
    positions, table = rgba_stops(scale)
    assert [p for p, _ in stops] == list(positions)
    np.testing.assert_array_equal([c for _, c in stops], table)


# --- Convolution basics ---------------------------------------------------------------------------

@SETTINGS
@given(side=st.sampled_from([14, 16, 28, 56, 112]), k=st.sampled_from([1, 3, 5]), seed=st.integers(0, 2**31))
def test_kernel_picture_is_scipys_correlation(side, k, seed):
    rng = np.random.default_rng(seed)
    photo, kernel = rng.uniform(0, 255, (side, side)), rng.normal(size=(k, k))
    picture = th.kernel_response(photo, kernel)
    response = ndimage.correlate(photo, kernel, mode="constant", cval=0.0)
    bound = np.percentile(np.abs(response), 99) or 1.0
    expected = plotly_colours(response, -bound, bound, "RdBu_r")
    assert np.abs(right(picture).astype(int) - repeated(expected, TILE // side)).max() <= 1
    np.testing.assert_array_equal(left(picture), repeated(np.repeat(photo.round()[..., None], 3, axis=2), TILE // side))


def test_the_playgrounds_picture_is_sobel_x_on_the_brick_wall():
    brick = th.sample("brick", zoom=2)
    assert brick.shape == (TILE, TILE)
    response = ndimage.correlate(brick, [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], mode="constant", cval=0.0)
    bound = np.percentile(np.abs(response), 99)
    assert np.abs(right(th.kernel_response(brick)).astype(int) - plotly_colours(response, -bound, bound, "RdBu_r")).max() <= 1


@SETTINGS
@given(size=st.sampled_from([2, 4, 7, 8, 14, 16, 28]), seed=st.integers(0, 2**31))
def test_pooled_picture_is_skimages_block_max(size, seed):
    photo = np.random.default_rng(seed).integers(0, 256, (TILE, TILE)).astype(np.float64)
    pooled = block_reduce(photo, (size, size), np.max)
    np.testing.assert_array_equal(right(th.max_pooled(photo, size))[..., 0], repeated(pooled, size))


def torch_shapes(layers, input_shape) -> list[tuple[type, tuple[int, ...]]]:
    """Each module of the real torch stack (on the meta device: shapes only) that changes the
    shape, with the shape it gives, after the input's."""
    model = shapes.to_torch(layers, input_shape, device="meta")
    x = torch.empty((1, *input_shape), device="meta")
    found = [(None, tuple(input_shape))]
    for module in model:
        y = module(x)
        if y.shape != x.shape:
            found.append((type(module), tuple(y.shape[1:])))
        x = y
    return found


@pytest.mark.parametrize("name", ["LeNet-5", "digits (app model)", "shapes (app model)", "Fashion-MNIST CNN"])
def test_blocks_are_torchs_shapes(name):
    layers, input_shape = shapes.PRESETS[name], shapes.PRESET_INPUTS[name]
    expected = torch_shapes(layers, input_shape)
    picture = th.layer_blocks(layers, input_shape)
    blocks = runs(inked(picture)[th.HEIGHT // 2])
    assert len(blocks) == len(expected)
    tallest = max(s[1] for _, s in expected if len(s) == 3)
    longest = max(s[0] for _, s in expected if len(s) == 1)
    colours = {None: th.INPUT, nn.Conv2d: th.CONV, nn.MaxPool2d: th.POOL, nn.AvgPool2d: th.POOL,
               nn.Flatten: th.DENSE, nn.Linear: th.DENSE}
    for (start, stop), (kind, shape) in zip(blocks, expected):
        column = picture[:, (start + stop) // 2]
        height = int(inked(column[:, None])[:, 0].sum())
        share = shape[1] / tallest if len(shape) == 3 else shape[0] / longest
        assert abs(height - share * th.BLOCK_MAX) <= 1 or (height == 2 and share * th.BLOCK_MAX < 2), (kind, shape)
        assert tuple(column[th.HEIGHT // 2]) == colours[kind]
        if len(shape) == 3:  # wider with more channels
            assert stop - start == 4 + round(3 * np.log2(shape[0]))


@SETTINGS
@given(n=st.integers(3, 8), k=st.integers(1, 5), stride=st.integers(1, 3), padding=st.integers(0, 2))
def test_conv_arithmetic_has_torchs_output_size_and_first_window(n, k, stride, padding):
    if k > n + 2 * padding:
        return
    out = F.conv2d(torch.ones(1, 1, n, n), torch.ones(1, 1, k, k), stride=stride, padding=padding).shape[-1]
    picture = th.conv_arithmetic(n, k, stride, padding)
    source, result = left(picture), right(picture)
    top = int(np.flatnonzero(inked(source).any(axis=1))[0])
    row = runs(inked(source)[top + 2])
    assert len(row) == n + 2 * padding
    out_top = int(np.flatnonzero(inked(result).any(axis=1))[0])
    assert len(runs(inked(result)[out_top + 2])) == out
    colours = [tuple(source[top + 2, (a + b) // 2]) for a, b in row]  # the first row of the padded input
    assert colours[:k] == [th.WINDOW_CELL] * k  # the first window covers the first k cells
    last = [tuple(source[(a + b) // 2, row[-1][0] + 1]) for a, b in runs(inked(source)[:, row[-1][0] + 1])]
    assert last[k:] == ([th.PAD_CELL] if padding else [th.INPUT_CELL]) * (len(row) - k)  # the right column, below the window


# --- Inside a CNN ------------------------------------------------------------------------------------

def test_training_picture_is_sklearns_confusion_matrix(digits):
    model, meta, split = digits
    with torch.no_grad():
        predicted = model((split.images.float() / 255 - meta["mean"][0]) / meta["std"][0]).argmax(1)
    matrix = confusion_matrix(split.labels.numpy(), predicted.numpy(), labels=range(10))
    picture = th.digits_and_confusion(model, split)
    np.testing.assert_array_equal(sampled(right(picture), 10), plotly_colours(matrix, 0, matrix.max(), "Blues"))
    tile = (TILE - 2 * GAP) // 3
    for k in range(9):  # the first nine test digits, three a row
        r, c = divmod(k, 3)
        shown = region(left(picture), (r * (tile + GAP), c * (tile + GAP)), tile)[..., 0]
        np.testing.assert_array_equal(shown, nearest(digit(split, k), tile))


@settings(max_examples=8, deadline=None)
@given(index=st.integers(0, 359))
def test_feature_maps_are_the_first_convolutions_own_outputs(digits, index):
    model, meta, split = digits
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    with torch.no_grad():
        maps = conv(model_input(digit(split, index), meta))[0, :4].double().numpy()
    low, high = maps.min(axis=(1, 2), keepdims=True), maps.max(axis=(1, 2), keepdims=True)
    scaled = (maps - low) / np.where(high > low, high - low, 1)
    picture = th.channel_maps(model, meta, digit(split, index))
    tile = (TILE - GAP // 2) // 2
    for k in range(4):
        r, c = divmod(k, 2)
        shown = region(right(picture), (r * (tile + GAP // 2), c * (tile + GAP // 2)), tile)
        assert np.abs(shown.astype(int) - nearest(plotly_colours(scaled[k], 0, 1, "Viridis"), tile)).max() <= 1
    np.testing.assert_array_equal(left(picture)[..., 0], repeated(digit(split, index), 4))


def test_transfer_picture_is_one_picture_of_each_class():
    pictures, labels = data.preview_pictures("shapes", 8)
    picture = th.one_per_class(pictures, labels)
    assert picture.shape == (th.HEIGHT, th.WIDTH, 3)
    side = (th.HEIGHT - GAP) // 2
    for c in range(8):  # class by class, four a row
        r, col = divmod(c, 4)
        first = pictures[int(np.flatnonzero(labels.numpy() == c)[0])].numpy().transpose(1, 2, 0)
        np.testing.assert_array_equal(region(picture, (r * (side + GAP), col * (side + GAP)), side), nearest(first, side))


def test_preview_pictures_are_the_scenes_with_the_class_tag():
    scenes, scene_labels = data.preview_pictures("scenes", 8)
    tagged, labels = data.preview_pictures("shortcut", 8)
    assert torch.equal(scene_labels, labels) and sorted(labels.tolist()) == list(range(8))  # each class once
    tag = data.tag_mask(64)
    assert torch.equal(tagged[:, :, ~tag], scenes[:, :, ~tag])
    colours = tagged[:, :, tag].amin(dim=2), tagged[:, :, tag].amax(dim=2)
    expected = torch.from_numpy(data.TAG_COLOURS)[labels]
    assert torch.equal(colours[0], expected) and torch.equal(colours[1], expected)
    shapes_, shape_labels = data.preview_pictures("shapes", 16)
    assert shapes_.dtype == torch.uint8 and shapes_.shape == (16, 3, 64, 64) and np.bincount(shape_labels).tolist() == [2] * 8


def test_parameter_bars_follow_torchs_counts():
    counts = [sum(p.numel() for p in architectures.to_torch(architectures.layers_of(name), architectures.FAMOUS[name].input_shape,
                                                            device="meta").parameters()) for name in th.ARCHITECTURES]
    picture = th.parameter_bars()
    bars = runs(inked(picture)[th.HEIGHT - 5])
    assert len(bars) == len(counts)
    top = np.log10(max(counts))
    for (start, stop), count in zip(bars, counts):
        height = int(inked(picture[:, (start + stop) // 2][:, None])[:, 0].sum())
        assert abs(height - (np.log10(count) - 4) / (top - 4) * th.BLOCK_MAX) <= 0.5 + 1e-9


# --- Explaining predictions ---------------------------------------------------------------------------

def autograd_map(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    x = x.clone().requires_grad_()
    logits = model(x)
    logits[0, logits[0].argmax()].backward()
    return x.grad.abs().amax(dim=1)[0].numpy()


@pytest.mark.parametrize("name, index", [("digits", 0), ("digits", 17), ("digits", 200), ("shortcut", 0), ("shortcut", 5)])
def test_gradient_maps_are_autograds(name, index):
    model, meta = models.load_pretrained(name)
    if name == "digits":
        picture = digit(data.load_digits_split("test"), index)
    else:
        picture = data.preview_pictures("shortcut", 8)[0][index].numpy().transpose(1, 2, 0)
    g = autograd_map(model, model_input(picture, meta))
    expected = chart_overlay(luminance(np.atleast_3d(picture) * np.ones(3)), g, 0.0, g.max(),
                             saliency_figs.ABSOLUTE_SCALE, th.SALIENCY_OPACITY)
    side = picture.shape[0]
    shown = sampled(right(th.gradient_map(model, meta, picture)), side)
    assert np.abs(shown.astype(int) - expected).max() <= 1


def test_the_cheating_model_looks_at_the_tag():
    """Explanation scores' picture tells the page's story: the shortcut model's gradient is
    strongest on the 4×4 tag (16 of 4096 pixels)."""
    model, meta = models.load_pretrained("shortcut")
    pictures, _ = data.preview_pictures("shortcut", 8)
    tag = data.tag_mask(64).numpy()
    for p in pictures:
        g = autograd_map(model, model_input(p.numpy().transpose(1, 2, 0), meta))
        assert g[tag].mean() > 5 * g[~tag].mean()


@pytest.mark.parametrize("index", [0, 42, 300])
def test_occlusion_map_is_a_loop_over_grey_patches(digits, index):
    model, meta, split = digits
    picture = digit(split, index)
    x = model_input(picture, meta)
    grey = (0.5 - meta["mean"][0]) / meta["std"][0]
    with torch.no_grad():
        p = torch.softmax(model(x), 1)[0]
        target = int(p.argmax())
        total, count = np.zeros((28, 28)), np.zeros((28, 28))
        for r in range(0, 28 - 8 + 1, 4):
            for c in range(0, 28 - 8 + 1, 4):
                hidden = x.clone()
                hidden[..., r:r + 8, c:c + 8] = grey
                total[r:r + 8, c:c + 8] += float(p[target] - torch.softmax(model(hidden), 1)[0, target])
                count[r:r + 8, c:c + 8] += 1
    drop = total / count
    bound = np.abs(drop).max()
    expected = chart_overlay(luminance(np.repeat(picture[..., None], 3, 2)), drop, -bound, bound,
                             saliency_figs.SIGNED_SCALE, th.OCCLUSION_OPACITY)
    assert np.abs(sampled(right(th.occlusion_map(model, meta, picture)), 28).astype(int) - expected).max() <= 1


def test_lime_shows_the_superpixels_sklearns_ridge_ranks_first(digits):
    model, meta, split = digits
    picture = digit(split, 1)
    labels = th.segment(picture, "slic", 25)
    x = model_input(picture, meta)
    features = labels.max() + 1
    masks = np.random.default_rng(0).integers(0, 2, size=(1000, features))  # LIME's draws (seed 0), first all kept
    masks[0] = 1
    flat = x[0, 0].numpy()
    means = np.array([flat[labels == f].mean() for f in range(features)])
    with torch.no_grad():
        target = int(model(x).argmax())
        hidden = torch.from_numpy(np.where(masks[:, labels], flat, means[labels])[:, None].astype(np.float32))
        probabilities = torch.softmax(model(hidden), 1)[:, target].double().numpy()
    distance = pairwise_distances(masks, np.ones((1, features)), metric="cosine").ravel()
    weights = np.sqrt(np.exp(-distance ** 2 / 0.25 ** 2))
    coefficients = Ridge(alpha=1.0).fit(masks, probabilities, sample_weight=weights).coef_
    order = np.argsort(-coefficients)
    chosen = [f for f in order[:5] if coefficients[f] > 0]
    kept = np.isin(labels, chosen)
    shown = sampled(right(th.lime_superpixels(model, meta, picture)), 28).astype(int)
    green = shown[..., 1] > shown[..., 0] + 20  # kept superpixels are tinted green, the rest faded to grey
    np.testing.assert_array_equal(green, kept)
    outlined = sampled(left(th.lime_superpixels(model, meta, picture)), 28)
    assert (np.all(outlined == th.BOUNDARY, axis=-1) == th.boundaries(labels)).all()


# --- the live class -----------------------------------------------------------------------------------

@SETTINGS
@given(text=st.from_regex(r"https?://[a-z0-9.-]{1,40}(:[0-9]{2,5})?/live_class", fullmatch=True))
def test_qr_code_is_segnos(text):
    """The live class's address (what the card shows) as the page's join code is drawn."""
    import segno

    png = io.BytesIO()
    segno.make(text, error="m").save(png, kind="png", scale=1, border=2)  # as the live class page makes it
    modules = np.array(Image.open(io.BytesIO(png.getvalue())).convert("L")) < 128
    picture = th.qr_code(text)
    scale = picture.shape[0] // modules.shape[0]
    assert picture.shape[0] <= 120 and scale >= 1 and picture.shape[0] == scale * modules.shape[0]
    np.testing.assert_array_equal(picture[::scale, ::scale, 0] == 0, modules)
    finder = np.ones((7, 7), bool)
    finder[1:6, 1:6] = False
    finder[2:5, 2:5] = True
    for r, c in [(2, 2), (2, modules.shape[1] - 9), (modules.shape[0] - 9, 2)]:  # three corners, inside the border
        np.testing.assert_array_equal(modules[r:r + 7, c:c + 7], finder)
