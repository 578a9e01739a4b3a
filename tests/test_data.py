"""vizcore.data and vizcore.augment: fixed splits, generated shapes, file loaders on real formats, zips."""
import gzip
import io
import pickle
import struct
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from PIL import Image

from vizcore import augment, data
from vizcore.augment import AugmentConfig, augment_batch, preview_grid
from vizcore.data import DataError, load_dataset


# --------------------------------------------------------------------------- digits and shapes

def test_digits_splits_partition_all_images_the_same_way_every_time():
    splits = {s: load_dataset("digits", s) for s in data.SPLITS}
    assert sum(len(d) for d in splits.values()) == 1797
    assert [len(splits[s]) for s in data.SPLITS] == [1078, 359, 360]
    assert splits["train"].images.shape[1:] == (1, 28, 28) and splits["train"].images.dtype == torch.uint8
    again = load_dataset("digits", "test")
    assert torch.equal(again.images, splits["test"].images) and torch.equal(again.labels, splits["test"].labels)
    # No picture is in two splits.
    flat = {s: {bytes(im.numpy()) for im in d.images} for s, d in splits.items()}
    assert not (flat["train"] & flat["test"]) or len(flat["train"] & flat["test"]) < 3  # identical scans exist
    assert splits["test"].mean == splits["train"].mean
    x = splits["train"].x
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 1e-2


def test_digits_border_is_dark_like_mnist():
    images = load_dataset("digits", "val").images
    assert int(images[:, :, :4].max()) == 0 and int(images[:, :, :, -4:].max()) == 0


def test_shapes_are_deterministic_balanced_and_prefix_stable():
    a = data.make_shapes(600, seed=3, split="val")
    b = data.make_shapes(600, seed=3, split="val")
    c = data.make_shapes(1000, seed=3, split="val")
    d = data.make_shapes(600, seed=4, split="val")
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    assert torch.equal(a.images, c.images[:600]) and torch.equal(a.labels, c.labels[:600])
    assert not torch.equal(a.images, d.images)
    assert a.images.shape == (600, 3, 64, 64) and a.masks.shape == (600, 64, 64)
    counts = torch.bincount(c.labels, minlength=len(data.SHAPE_CLASSES))
    assert int(counts.max()) - int(counts.min()) <= 2
    assert not torch.equal(load_dataset("shapes", "test", size=50).images,
                           load_dataset("shapes", "val", size=50).images)


def test_shape_masks_cover_the_object_whose_colour_differs_from_the_background():
    shapes = data.make_shapes(400, seed=1, split="test")
    area = shapes.masks.float().mean(dim=(1, 2))
    assert float(area.min()) > 0.01 and float(area.max()) < 0.6
    for label in range(len(data.SHAPE_CLASSES)):
        assert shapes.masks[shapes.labels == label].any(dim=0).sum() > 100
    # Inside the mask the mean colour differs clearly from outside it (the contrast rule).
    pixels = shapes.images.float()
    m = shapes.masks[:, None].float()
    inside = (pixels * m).sum((2, 3)) / m.sum((2, 3))
    outside = (pixels * (1 - m)).sum((2, 3)) / (1 - m).sum((2, 3))
    assert float(torch.linalg.norm(inside - outside, dim=1).median()) > 60


def test_ring_has_a_hole_and_circle_has_none():
    shapes = data.make_shapes(200, seed=0, split="train")
    for name, centre_filled in (("ring", False), ("circle", True)):
        index = torch.nonzero(shapes.labels == data.SHAPE_CLASSES.index(name))[:, 0]
        # The object centre is the mean position of its mask; for a ring it is not covered.
        for i in index[:10]:
            ys, xs = torch.nonzero(shapes.masks[i], as_tuple=True)
            cy, cx = int(ys.float().mean().round()), int(xs.float().mean().round())
            assert bool(shapes.masks[i, cy, cx]) is centre_filled


def test_unknown_names_are_clear_errors():
    with pytest.raises(DataError, match="Unknown data set"):
        load_dataset("imagenet", "train")
    with pytest.raises(DataError, match="Unknown split"):
        load_dataset("digits", "training")


# --------------------------------------------------------------------------- IDX and CIFAR files

def _idx(array: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _write_mnist(folder, n_train=60, n_test=20, gz=True, seed=0, dotted=False):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8)}
    for name, array in arrays.items():
        raw = _idx(array)
        name = name.replace("-idx", ".idx") if dotted else name
        (folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(raw) if gz else raw)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_mnist_style_folders_load_with_a_fixed_validation_hold_out(tmp_path, gz, name):
    arrays = _write_mnist(tmp_path / name, gz=gz, dotted=not gz)
    train = load_dataset(name, "train", root=tmp_path)
    val = load_dataset(name, "val", root=tmp_path)
    test = load_dataset(name, "test", root=tmp_path)
    assert (len(train), len(val), len(test)) == (48, 12, 20)
    assert torch.equal(test.images[:, 0], torch.from_numpy(arrays["t10k-images-idx3-ubyte"]))
    assert torch.equal(test.labels, torch.from_numpy(arrays["t10k-labels-idx1-ubyte"].astype(np.int64)))
    # Train and validation together are exactly the official training file.
    together = torch.cat([train.images, val.images])[:, 0].reshape(60, -1)
    original = torch.from_numpy(arrays["train-images-idx3-ubyte"]).reshape(60, -1)
    assert sorted(map(bytes, together.numpy())) == sorted(map(bytes, original.numpy()))
    expected_mean = train.images.float().mean().item() / 255
    assert train.mean[0] == pytest.approx(expected_mean, abs=1e-5) and test.mean == train.mean
    assert len(train.classes) == 10 and (train.classes[9] == "Ankle boot") == (name == "fashion_mnist")
    assert name in data.available_datasets(tmp_path)


def test_idx_reader_refuses_broken_files(tmp_path):
    good = _idx(np.zeros((2, 3, 3), dtype=np.uint8))
    cases = {"magic": b"\x01\x02" + good[2:], "type": good[:2] + b"\x0d" + good[3:],
             "short": good[:-1], "header": good[:6], "gzip": b"\x1f\x8b" + b"garbage"}
    for name, raw in cases.items():
        path = tmp_path / name
        path.write_bytes(raw)
        with pytest.raises(DataError):
            data.read_idx(path)
    (tmp_path / "ok").write_bytes(good)
    assert data.read_idx(tmp_path / "ok").shape == (2, 3, 3)


def _write_cifar(folder, batches=2, per_batch=30, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, batches + 1)] + ["test_batch"]:
        batch = {b"batch_label": name.encode(), b"labels": rng.integers(0, 10, per_batch).tolist(),
                 b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"filenames": [f"{i}.png".encode() for i in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        written[name] = batch
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [n.encode() for n in names]}))
    return written


def test_cifar10_python_batches_load(tmp_path):
    written = _write_cifar(tmp_path / "cifar10" / "cifar-10-batches-py")
    test = load_dataset("cifar10", "test", root=tmp_path)
    train = load_dataset("cifar10", "train", root=tmp_path)
    val = load_dataset("cifar10", "val", root=tmp_path)
    assert (len(train), len(val), len(test)) == (48, 12, 30)
    expected = written["test_batch"][b"data"].reshape(-1, 3, 32, 32)
    assert torch.equal(test.images, torch.from_numpy(expected))
    assert test.labels.tolist() == written["test_batch"][b"labels"]
    assert test.classes[3] == "cat" and test.input_shape == [3, 32, 32]
    # The channel order is red, green, blue planes of 1024 values each, as the format defines.
    assert test.images[0, 1, 0, 0] == written["test_batch"][b"data"][0, 1024]


def test_cifar_batch_with_code_is_refused(tmp_path):
    import builtins

    class Payload:
        def __reduce__(self):
            return (exec, ("import builtins; builtins.CIFAR_PAYLOAD = True",))

    folder = tmp_path / "cifar10"
    _write_cifar(folder, batches=1)
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": Payload(), b"labels": []}))
    with pytest.raises(DataError, match="not a CIFAR"):
        load_dataset("cifar10", "train", root=tmp_path)
    assert not hasattr(builtins, "CIFAR_PAYLOAD")


def test_missing_folders_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="No mnist files"):
        load_dataset("mnist", "train", root=tmp_path)
    assert data.available_datasets(tmp_path) == ["digits", "shapes", "scenes", "shortcut", "shortcut_shuffled"]


# --------------------------------------------------------------------------- user zips

def _png(colour, size=(20, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_image_folder_zip_loads_splits_and_skips_non_images():
    files = {f"pets/cats/{i}.png": _png((200, 10 + i, 10)) for i in range(10)}
    files.update({f"pets/dogs/{i}.png": _png((10, 10 + i, 200)) for i in range(7)})
    files.update({"pets/readme.txt": b"hello", "pets/cats/notes.txt": b"x", "pets/dogs/broken.png": b"not a png",
                  "__MACOSX/pets/._1.png": b"junk"})
    result = data.load_image_folder_zip(_zip(files), image_size=24, channels=3)
    assert result.classes == ["cats", "dogs"]
    assert sorted(result.skipped) == ["pets/cats/notes.txt", "pets/dogs/broken.png", "pets/readme.txt"]
    sizes = {s: len(d) for s, d in result.splits.items()}
    assert sum(sizes.values()) == 17 and sizes["test"] == 2 + 1 and sizes["val"] == 2 + 1
    for split in result.splits.values():
        assert split.images.shape[1:] == (3, 24, 24) and set(split.labels.tolist()) == {0, 1}
    cats = result.splits["train"].images[result.splits["train"].labels == 0]
    assert int(cats[:, 0].min()) == 200 and int(cats[:, 2].max()) == 10
    grey = data.load_image_folder_zip(_zip(files), image_size=28, channels=1)
    assert grey.splits["train"].images.shape[1:] == (1, 28, 28)


@pytest.mark.parametrize("files, message", [
    ({"cats/1.png": _png("red"), "../evil.png": _png("red")}, "leaves its folder"),
    ({"cats/1.png": _png("red"), "cats/../../evil.png": _png("red")}, "leaves its folder"),
    ({"/etc/evil.png": _png("red")}, "absolute path"),
    ({"C:\\evil.png": _png("red")}, "absolute path"),
    ({"readme.txt": b"no pictures", "cats/notes.md": b"x"}, "no images"),
    ({f"cats/{i}.png": _png("red") for i in range(5)}, "only one class"),
    ({**{f"cats/{i}.png": _png("red") for i in range(5)}, "dogs/1.png": _png("blue")}, "at least 3 images"),
])
def test_bad_zips_are_refused_with_a_clear_message(files, message):
    with pytest.raises(DataError, match=message):
        data.load_image_folder_zip(_zip(files))


def test_zip_limits_on_files_and_bytes():
    files = {f"c{i % 2}/{i}.png": _png("red") for i in range(30)}
    with pytest.raises(DataError, match="30 files; the limit is 20"):
        data.load_image_folder_zip(_zip(files), max_files=20)
    big = {"a/1.png": b"\0" * 300_000, "b/1.png": b"\0" * 300_000}
    with pytest.raises(DataError, match="more than 0 MB"):
        data.load_image_folder_zip(_zip(big), max_bytes=500_000)
    with pytest.raises(DataError, match="not a zip"):
        data.load_image_folder_zip(b"PK but not really")


# --------------------------------------------------------------------------- augmentation

def _batch(n=6, c=3, size=16, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, c, size, size), dtype=np.uint8))


def test_no_augmentation_is_identity_and_values_stay_in_range():
    x = _batch()
    assert torch.equal(augment_batch(x, AugmentConfig()), x.float())
    strong = AugmentConfig(hflip=True, vflip=True, rotation=45, shift=0.2, zoom=0.3, brightness=0.5,
                           contrast=0.5, noise=0.3, blur=2.0)
    out = augment_batch(x, strong, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 255
    again = augment_batch(x, strong, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000), vertical=st.booleans())
def test_flips_give_the_picture_or_its_exact_mirror(seed, vertical):
    x = _batch(n=16, seed=seed)
    cfg = AugmentConfig(vflip=True) if vertical else AugmentConfig(hflip=True)
    out = augment_batch(x, cfg, torch.Generator().manual_seed(seed))
    mirrored = x.flip(2 if vertical else 3).float()
    same = [(torch.allclose(o, xi.float(), atol=1e-3), torch.allclose(o, m, atol=1e-3))
            for o, xi, m in zip(out, x, mirrored)]
    assert all(a or b for a, b in same)


def test_brightness_and_rotation_do_what_they_say():
    flat = torch.full((8, 1, 9, 9), 100, dtype=torch.uint8)
    out = augment_batch(flat, AugmentConfig(brightness=0.2), torch.Generator().manual_seed(1))
    change = out.mean(dim=(1, 2, 3)) - 100
    assert float(change.abs().max()) <= 0.2 * 255 + 1e-3 and float(change.std()) > 1
    # Rotation and zoom turn about the image centre: the centre pixel stays where it is, while
    # a shift moves it away.
    dot = torch.zeros((16, 1, 9, 9), dtype=torch.uint8)
    dot[:, :, 4, 4] = 255
    turned = augment_batch(dot, AugmentConfig(rotation=180, zoom=0.3), torch.Generator().manual_seed(2))
    assert torch.allclose(turned[:, 0, 4, 4], torch.full((16,), 255.0), atol=1e-3)
    shifted = augment_batch(dot, AugmentConfig(shift=0.3), torch.Generator().manual_seed(2))
    assert float(shifted[:, 0, 4, 4].min()) < 128


def test_preview_grid_starts_with_the_original():
    img = _batch(n=1, c=3, size=12)[0]
    grid = preview_grid(img, augment.PRESETS["shapes"], count=7, columns=4, gap=2)
    assert grid.shape == (2 * 14 - 2, 4 * 14 - 2, 3) and grid.dtype == np.uint8
    assert np.array_equal(grid[:12, :12], img.numpy().transpose(1, 2, 0))
    assert not np.array_equal(grid[:12, 14:26], img.numpy().transpose(1, 2, 0))
    grey = preview_grid(_batch(n=1, c=1, size=10)[0], augment.PRESETS["digits"], count=3, columns=2)
    assert grey.shape == (22, 22, 1)


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 9), st.integers(1, 3), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_standardisations_equal_numpy(n, channels, side, seed):
    """none: pixels/255; per channel: the split's channel statistics; per pixel: every position's
    own mean and (ddof=1) std over the images, through the model's first stage."""
    from vizcore import models

    images = torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, channels, side, side), dtype=np.uint8))
    split = data.DataSplit(images, torch.zeros(n, dtype=torch.int64), ["a"], *data.channel_stats(images))
    pixels = images.numpy().astype(np.float64) / 255
    assert np.allclose(data.standardised(split, "none").x.numpy(), pixels, atol=1e-6)
    assert data.standardised(split, "per channel") is split
    mean, std = data.pixel_stats(images)
    assert np.allclose(mean.numpy(), pixels.mean(0), atol=1e-6)
    assert np.allclose(std.numpy(), np.maximum(pixels.std(0, ddof=1), 1e-3), atol=1e-6)
    front = models.with_pixel_standardisation(torch.nn.Sequential(torch.nn.Identity()), mean, std)
    out = front(data.standardised(split, "per pixel").x).numpy()
    assert np.allclose(out, (pixels - pixels.mean(0)) / np.maximum(pixels.std(0, ddof=1), 1e-3), atol=1e-4)
    with pytest.raises(ValueError, match="standardisation must be one of"):
        data.standardised(split, "per image")
