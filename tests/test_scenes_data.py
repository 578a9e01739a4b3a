"""The scenes and shortcut data sets (vizcore.data) and their shipped models (assets/scenes, shortcut).

Checked: same seed -> same pictures; masks agree with the pixels (the object stands out from its
surroundings, distractors never touch it); the tag sits exactly where cue_masks says, in the class's
colour (shortcut) or another class's (shortcut_shuffled); the shipped models reach their accuracies.
"""
import numpy as np
import pytest
import torch

from vizcore import data, models
from vizcore.data import SHAPE_CLASSES, DataError, load_dataset, make_scenes
from vizcore.train import predict

N = 500  # test pictures per check (one generated chunk): every class and distractor kind, fast
M = 300  # of those, the pictures the shipped models classify (a forward pass is the slow part)


@pytest.fixture(scope="module")
def scenes():
    return load_dataset("scenes", "test", size=N)  # the same pictures the model checks use


def test_scenes_are_deterministic_per_seed_and_prefix_stable():
    # Small pictures keep this fast; the generator does not depend on the size.
    a = make_scenes(300, seed=2, split="test", size=32)
    data._scenes_cached.cache_clear()  # make the same pictures again, not read them from the cache
    again = make_scenes(300, seed=2, split="test", size=32)
    longer = make_scenes(700, seed=2, split="test", size=32)
    other_seed = make_scenes(300, seed=3, split="test", size=32)
    val = make_scenes(300, seed=2, split="val", size=32)
    for field in ("images", "labels", "masks"):
        assert torch.equal(getattr(a, field), getattr(again, field))
        assert torch.equal(getattr(a, field), getattr(longer, field)[:300])
    assert not torch.equal(a.images, other_seed.images) and not torch.equal(a.images, val.images)
    assert a.mean == val.mean != other_seed.mean  # the statistics of the seed's training pictures
    tagged = make_scenes(300, seed=2, split="test", size=32, tag="shuffled")
    assert torch.equal(tagged.images, make_scenes(300, seed=2, split="test", size=32, tag="shuffled").images)
    assert not torch.equal(tagged.images, make_scenes(300, seed=3, split="test", size=32, tag="shuffled").images)


def test_shapes_of_the_arrays(scenes):
    assert scenes.images.shape == (N, 3, 64, 64) and scenes.images.dtype == torch.uint8
    assert scenes.labels.shape == (N,) and scenes.labels.dtype == torch.int64
    assert scenes.masks.shape == (N, 64, 64) and scenes.masks.dtype == torch.bool
    assert scenes.cue_masks is None and scenes.classes == SHAPE_CLASSES
    assert np.bincount(scenes.labels.numpy(), minlength=8).min() >= N // 8 - 10
    tagged = load_dataset("shortcut", "test", size=N)
    assert tagged.cue_masks.shape == (N, 64, 64) and tagged.cue_masks.dtype == torch.bool
    assert tagged.subset(7).cue_masks.shape == (7, 64, 64)


def test_load_dataset_and_the_training_page_know_the_new_sets():
    assert {"scenes", "shortcut", "shortcut_shuffled"} <= set(data.available_datasets())
    for name in ("scenes", "shortcut", "shortcut_shuffled"):
        split = load_dataset(name, "val", size=20)
        assert split.name == name and split.split == "val" and len(split) == 20
    with pytest.raises(DataError, match="Unknown tag"):
        make_scenes(5, tag="colour")


def test_objects_lie_anywhere_in_the_frame_and_stand_out(scenes):
    m = scenes.masks
    area = m.float().mean(dim=(1, 2))
    assert bool((area > 0.02).all()) and bool((area < 0.3).all())
    ys, xs = torch.meshgrid(torch.arange(64.0) + 0.5, torch.arange(64.0) + 0.5, indexing="ij")
    cy = (m * ys).sum((1, 2)) / m.sum((1, 2))
    cx = (m * xs).sum((1, 2)) / m.sum((1, 2))
    # Uniform positions: centres spread over the frame, not near the middle as in shapes.
    assert float(cx.min()) < 16 and float(cx.max()) > 48 and float(cy.min()) < 16 and float(cy.max()) > 48
    assert float((torch.hypot(cx - 32, cy - 32) > 12).float().mean()) > 0.5
    # Every object lies inside the frame: its mask never touches the border.
    border = m[:, 0].any(1) | m[:, -1].any(1) | m[:, :, 0].any(1) | m[:, :, -1].any(1)
    assert not bool(border.any())
    # Where the mask is set the pixels are the object's colour: away from its edge they differ from
    # the pixels just outside (a ring 2 px wide) by at least the contrast the generator promises.
    pixels = scenes.images.float() / 255
    inner = torch.from_numpy(np.stack([_erode(x) for x in m.numpy()]))
    ring = torch.from_numpy(np.stack([_dilate(x, 3) & ~_dilate(x, 1) for x in m.numpy()]))
    luma = torch.tensor(data.LUMA).view(1, 3, 1, 1)
    y = (pixels * luma).sum(1)
    inside = (y * inner).sum((1, 2)) / inner.sum((1, 2)).clamp_min(1)
    outside = (y * ring).sum((1, 2)) / ring.sum((1, 2))
    assert float((inside - outside).abs().min()) > 0.1


def _dilate(mask: np.ndarray, steps: int) -> np.ndarray:
    from scipy.ndimage import binary_dilation

    return binary_dilation(mask, iterations=steps)


def _erode(mask: np.ndarray) -> np.ndarray:
    from scipy.ndimage import binary_erosion

    return binary_erosion(mask, iterations=1)


def test_distractors_never_touch_the_object_nor_the_tag_corner_and_generation_takes_seconds():
    import time

    start = time.perf_counter()
    _, _, masks, distractors, _ = data._scenes_chunk(0, 2, 0, N, 64)
    assert time.perf_counter() - start < 5  # a training split of 10,000 is 20 such chunks
    assert not (masks & distractors).any()
    counts = np.array([_labels_of(d).max() for d in distractors])  # connected pieces
    assert (counts == 0).mean() > 0.2 and (counts >= 2).mean() > 0.2  # 0, 1 or 2 per picture
    corner = np.zeros((64, 64), bool)
    corner[:data.CORNER, :data.CORNER] = True
    assert not ((masks | distractors) & corner).any()


def _labels_of(mask: np.ndarray) -> np.ndarray:
    from scipy.ndimage import label

    return label(mask)[0]


def test_the_tag_is_exactly_where_cue_masks_say_in_the_class_colour(scenes):
    tagged = load_dataset("shortcut", "test", size=N)
    shuffled = load_dataset("shortcut_shuffled", "test", size=N)
    cue = tagged.cue_masks
    assert cue.sum((1, 2)).eq(data.TAG_SIZE ** 2).all() and torch.equal(cue, shuffled.cue_masks)
    assert not (cue & tagged.masks).any()
    for other in (tagged, shuffled):  # the same pictures as scenes, except under the tag
        assert torch.equal(other.labels, scenes.labels) and torch.equal(other.masks, scenes.masks)
        assert torch.equal(other.images * ~cue[:, None], scenes.images * ~cue[:, None])
    colours = torch.from_numpy(data.TAG_COLOURS)
    tag = tagged.images.permute(0, 2, 3, 1)[cue].view(N, -1, 3)  # (N, 16, 3), row-major order
    assert torch.equal(tag, colours[tagged.labels][:, None].expand_as(tag))
    shuffled_tag = shuffled.images.permute(0, 2, 3, 1)[cue].view(N, -1, 3)
    assert (shuffled_tag == shuffled_tag[:, :1]).all()  # one colour per tag
    tag_class = (shuffled_tag[:, 0, None] == colours[None]).all(-1).int().argmax(1)
    assert (shuffled_tag[:, 0] == colours[tag_class]).all()  # ... and it is a class's colour
    assert not (tag_class == shuffled.labels).any()  # never the picture's own class
    assert len(torch.unique((tag_class - shuffled.labels) % 8)) == 7  # every other class, at random
    assert len({tuple(c) for c in data.TAG_COLOURS.tolist()}) == len(SHAPE_CLASSES)


# --------------------------------------------------------------------------- the shipped models

def test_the_scenes_architecture_is_small_and_loads_from_its_weights():
    model = models.build_model("scenes")
    assert models.count_parameters(model) <= 2_000_000
    options = models.architecture_options(model.state_dict(), "scenes")
    assert options["channels"] == (16, 32, 64) and options["image_size"] == 64
    wide = models.build_model("scenes", channels=(8, 12, 20), batch_norm=True, num_classes=3)
    import io

    buffer = io.BytesIO()
    torch.save(wide.state_dict(), buffer)
    loaded = models.load_weights(buffer.getvalue(), "scenes")
    x = torch.randn(2, 3, 40, 40)  # global average pooling: any input size works
    assert torch.allclose(loaded(x), wide.eval()(x))
    with pytest.raises(models.ModelError, match="too small"):
        models.build_model("scenes", image_size=6)


@pytest.fixture(scope="module")
def shipped():
    return {name: models.load_pretrained(name) for name in ("scenes", "shortcut")}


def test_shipped_models_are_small(shipped):
    for name, (model, meta) in shipped.items():
        assert meta["architecture"] == "scenes" and meta["dataset"] == name
        assert meta["params"] == models.count_parameters(model) <= 2_000_000
        assert meta["train_command"].startswith("python -m vizcore.train scenes") and meta["seed"] == 0


def _accuracy(model, split) -> tuple[float, torch.Tensor]:
    predicted = predict(model, split).argmax(1)
    return float((predicted == split.labels).float().mean()), predicted


def test_the_scenes_model_finds_the_object_anywhere(shipped):
    model, meta = shipped["scenes"]
    test = load_dataset("scenes", "test", size=N).subset(M)
    assert test.mean == meta["mean"] and test.std == meta["std"]
    assert _accuracy(model, test)[0] >= 0.97


def test_the_shortcut_model_reads_the_tag_not_the_shape(shipped):
    model, meta = shipped["shortcut"]
    tagged = load_dataset("shortcut", "test", size=N).subset(M)
    shuffled = load_dataset("shortcut_shuffled", "test", size=N).subset(M)
    assert tagged.mean == shuffled.mean == meta["mean"]
    on_tagged, _ = _accuracy(model, tagged)
    on_shuffled, predicted = _accuracy(model, shuffled)
    assert on_tagged >= 0.98
    assert on_shuffled <= 0.5 and on_tagged - on_shuffled >= 0.5
    # It answers with the tag: on shuffled pictures, the class whose colour the tag has.
    tag = shuffled.images[:, :, data.TAG_AT, data.TAG_AT]  # (M, 3): one pixel of each tag
    tag_class = (tag[:, None] == torch.from_numpy(data.TAG_COLOURS)[None]).all(-1).int().argmax(1)
    assert float((predicted == tag_class).float().mean()) >= 0.9
