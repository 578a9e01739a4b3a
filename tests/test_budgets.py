"""Every budget of issue 11 at its edge: at the limit is accepted, one over is refused with a message.

Sizes are checked before the work, so the files here claim big sizes without holding them:
stride-0 tensor views, images whose header alone is read, zips of tiny pictures.
"""
from __future__ import annotations

import io
import math
import zipfile
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from PIL import Image

from pages import _kernel_playground_state as pg_state
from vizcore import conv, data, images, kernels, models, pooling, quiz
from vizcore.figures import playground as pg_figs, training as training_figs

FAST = settings(max_examples=25, deadline=None)


def _saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


# --- weight files ------------------------------------------------------------------------------

def test_tensor_elements_are_counted_from_the_shape_at_the_limit_and_one_over():
    limit = models.MAX_WEIGHT_ELEMENTS
    # One stored number, viewed as millions: what a copy into a model would make real.
    at_limit = {"a": torch.zeros(1).expand(limit - 10), "b": torch.zeros(10)}
    models.check_tensors(at_limit)
    with pytest.raises(models.ModelError, match="10,000,000 numbers"):
        models.check_tensors({"a": torch.zeros(1).expand(limit - 10), "b": torch.zeros(11)})
    # Through a real file of 1.6 KB that claims 10M + 1 numbers.
    data_ = _saved({"w": torch.zeros(1).expand(limit + 1)})
    assert len(data_) < 4096
    with pytest.raises(models.ModelError, match="numbers together"):
        models.load_weights(data_, "digits")


def test_tensor_count_limit_and_plain_tensors_only():
    models.check_tensors({f"t{i}": torch.zeros(1) for i in range(models.MAX_TENSORS)})
    with pytest.raises(models.ModelError, match="tensors"):
        models.check_tensors({f"t{i}": torch.zeros(1) for i in range(models.MAX_TENSORS + 1)})
    for odd in (torch.zeros(2, dtype=torch.complex64), torch.zeros(2, dtype=torch.bool),
                torch.zeros(2, 2).to_sparse()):
        with pytest.raises(models.ModelError, match="plain numbers"):
            models.check_tensors({"w": odd})


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_or_infinite_weights_are_refused(bad):
    model = models.build_model("digits")
    state = model.state_dict()
    state["fc3.bias"][3] = bad
    with pytest.raises(models.ModelError, match="NaN or infinite"):
        models.load_weights(_saved(state), "digits")


def test_the_unpacked_size_of_the_archive_at_the_limit_and_one_over():
    data_ = _saved(models.build_model("digits").state_dict())
    unpacked = sum(r.file_size for r in zipfile.ZipFile(io.BytesIO(data_)).infolist())
    models._check_archive(data_, max_bytes=unpacked)
    with pytest.raises(models.ModelError, match="unpacks to more than"):
        models._check_archive(data_, max_bytes=unpacked - 1)


def test_compressed_records_and_the_pre_zip_format_are_refused_before_torch_reads_them():
    data_ = _saved(models.build_model("digits").state_dict())
    repacked = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data_)) as src, zipfile.ZipFile(repacked, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    with pytest.raises(models.ModelError, match="compressed"):
        models.load_weights(repacked.getvalue(), "digits")
    legacy = io.BytesIO()
    torch.save(models.build_model("digits").state_dict(), legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(models.ModelError, match="loaded safely"):
        models.load_weights(legacy.getvalue(), "digits")


def test_a_layer_shape_that_would_build_a_huge_model_is_refused_before_allocation():
    state = models.build_model("digits").state_dict()
    # 400,000 filters in conv2 (stored as one number): the model built from it would be 10^11
    # weights. The shapes are compared on the meta device first.
    state["conv2.weight"] = torch.zeros(1).expand(400_000, 16, 1, 1)
    with pytest.raises(models.ModelError):
        models.load_weights(_saved(state), "digits")


def _checkpoint(num_classes: int = 3, **meta) -> bytes:
    model = models.build_model("digits", num_classes=num_classes)
    base = {"classes": [f"c{i}" for i in range(num_classes)], "input_shape": [1, 28, 28],
            "mean": [0.1], "std": [0.3], "dataset": "my digits"}
    return models.save_checkpoint(model, {**base, **meta})


def test_class_count_at_the_limit_and_one_over():
    _, meta = models.load_checkpoint(_checkpoint(models.MAX_CLASSES), "digits")
    assert len(meta["classes"]) == models.MAX_CLASSES
    with pytest.raises(models.ModelError, match="at most 100"):
        models.load_checkpoint(_checkpoint(models.MAX_CLASSES + 1), "digits")


def test_class_name_length_at_the_limit_and_one_over():
    ok = "a" * models.MAX_NAME
    _, meta = models.load_checkpoint(_checkpoint(classes=[ok, "b", "c"]), "digits")
    assert meta["classes"][0] == ok
    with pytest.raises(models.ModelError, match="class name"):
        models.load_checkpoint(_checkpoint(classes=[ok + "a", "b", "c"]), "digits")


@pytest.mark.parametrize("meta, message", [
    ({"params": "lots"}, "params"),
    ({"input_shape": [1, 28]}, "input is"),
    ({"input_shape": [1, 60000, 60000]}, "input is"),
    ({"input_shape": [3, 28, 28]}, "input is"),
    ({"input_shape": [1.0, 28, 28]}, "input is"),
    ({"mean": []}, "mean"),
    ({"mean": [0.1, 0.2, 0.3]}, "mean"),
    ({"std": [0.0]}, "std"),
    ({"std": [math.nan]}, "std"),
    ({"classes": "abc"}, "classes"),
    ({"classes": ["a", "b"]}, "classes"),
    ({"classes": ["a", "a", "b"]}, "twice"),
    ({"classes": ["[Click](https://x.example)", "<b>", "c"]}, "class name"),
    ({"classes": ["a\nb", "b", "c"]}, "class name"),
    ({"test_accuracy": 7}, "test_accuracy"),
    ({"test_accuracy": "high"}, "test_accuracy"),
    ({"seed": -1}, "seed"),
    ({"dataset": "x" * 41}, "dataset"),
    ({"architecture": "shapes"}, "not 'digits'"),
    ({"dataset": "shapes"}, "trained on 'shapes'"),  # a data set of the app with other inputs
    ({"train_command": ["rm"]}, "train_command"),
])
def test_a_meta_that_does_not_fit_the_weights_is_refused_with_a_message(meta, message):
    with pytest.raises(models.ModelError, match=message):
        models.load_checkpoint(_checkpoint(**meta), "digits")


def test_a_good_meta_keeps_its_fields_and_loses_unknown_ones():
    model, meta = models.load_checkpoint(_checkpoint(dataset="digits", test_accuracy=0.5, seed=3,
                                                     params=1, junk=list(range(1000))), "digits")
    assert meta["dataset"] == "digits" and meta["test_accuracy"] == 0.5 and meta["seed"] == 3
    assert "junk" not in meta and meta["params"] == models.count_parameters(model)  # never the file's
    assert meta["input_shape"] == [1, 28, 28]


# --- images ------------------------------------------------------------------------------------

def test_pixel_budget_at_the_limit_and_one_over():
    images._check_size((8000, images.MAX_PIXELS // 8000))
    with pytest.raises(images.ImageInputError, match="megapixels"):
        images._check_size((8000, images.MAX_PIXELS // 8000 + 1))


def _png(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["L", "RGB", "I;16", "I", "F", "P"])
def test_decoding_reduces_a_picture_longer_than_the_decode_side(mode):
    side = images.DECODE_MAX_SIDE

    def decoded(width: int) -> Image.Image:
        buffer = io.BytesIO()
        Image.new(mode, (width, 120)).save(buffer, format="TIFF")  # TIFF keeps every mode
        return images.load_image(buffer.getvalue())

    assert decoded(side).size == (side, 120)
    over = decoded(side + 1)  # factor 2: one block of 2×2 pixels per output pixel
    assert side // 2 <= over.size[0] <= side // 2 + 1 and over.size[1] == 60
    assert over.mode in ("L", "RGB")


def test_sixteen_bit_block_means_equal_a_float64_oracle():
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 65536, size=(240, 4099), dtype=np.uint16)  # factor 3; one column left over
    out = np.asarray(images.load_image(_png(Image.fromarray(arr))), dtype=np.float64)
    blocks = arr[:, :4098].astype(np.float64).reshape(80, 3, 1366, 3).mean(axis=(1, 3))
    expected = np.round((blocks - blocks.min()) / (blocks.max() - blocks.min()) * 255)
    assert out.shape == expected.shape and np.abs(out - expected).max() <= 1


def test_nan_or_infinite_pixels_of_a_float_tiff_get_a_message():
    values = np.ones((40, 40), dtype=np.float32)
    values[3, 4] = np.nan
    buffer = io.BytesIO()
    Image.fromarray(values, mode="F").save(buffer, format="TIFF")
    with pytest.raises(images.ImageInputError, match="1 pixel"):
        images.load_image(buffer.getvalue())
    values[3, 4] = 2.0
    buffer = io.BytesIO()
    Image.fromarray(values, mode="F").save(buffer, format="TIFF")
    assert np.asarray(images.load_image(buffer.getvalue())).max() == 255


# --- dataset zips ------------------------------------------------------------------------------

def _zip(files: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _picture(w: int = 8, h: int = 8) -> bytes:
    return _png(Image.new("RGB", (w, h), (w % 256, h % 256, 0)))


def _classes(n_classes: int = 2, per_class: int = 3, w: int = 8, h: int = 8) -> dict[str, bytes]:
    return {f"c{c}/{i}.png": _picture(w, h) for c in range(n_classes) for i in range(per_class)}


def test_zip_file_count_and_unpacked_bytes_at_the_limit_and_one_over():
    files = _classes()
    data.load_image_folder_zip(_zip(files), max_files=len(files))
    with pytest.raises(data.DataError, match="files"):
        data.load_image_folder_zip(_zip(files), max_files=len(files) - 1)
    size = sum(len(v) for v in files.values())
    data.load_image_folder_zip(_zip(files), max_bytes=size)
    with pytest.raises(data.DataError, match="unpacks to more"):
        data.load_image_folder_zip(_zip(files), max_bytes=size - 1)


def test_zip_pixels_per_image_and_in_total_at_the_limit_and_one_over():
    files = _classes(w=10, h=10)  # 6 pictures of 100 pixels
    data.load_image_folder_zip(_zip(files), max_pixels=100, max_total_pixels=600)
    with pytest.raises(data.DataError, match="at most"):
        data.load_image_folder_zip(_zip(files), max_pixels=99)
    with pytest.raises(data.DataError, match="together"):
        data.load_image_folder_zip(_zip(files), max_total_pixels=599)


def test_zip_pixel_budget_is_checked_before_any_picture_is_decoded():
    decoded = []
    files = _classes(w=10, h=10)
    with pytest.raises(data.DataError, match="together"):
        data.load_image_folder_zip(_zip(files), max_total_pixels=599, progress=lambda d, t: decoded.append(d))
    assert decoded == []  # progress runs while decoding: it never started


def test_zip_class_count_and_names_at_the_limit_and_one_over():
    data.load_image_folder_zip(_zip(_classes(4)), max_classes=4)
    with pytest.raises(data.DataError, match="class folders; the limit is 3"):
        data.load_image_folder_zip(_zip(_classes(4)), max_classes=3)
    ok = "n" * data.MAX_CLASS_NAME
    files = {f"{ok}/{i}.png": _picture() for i in range(3)} | {f"b/{i}.png": _picture() for i in range(3)}
    assert ok in data.load_image_folder_zip(_zip(files)).classes
    files = {f"{ok}n/{i}.png": _picture() for i in range(3)} | {f"b/{i}.png": _picture() for i in range(3)}
    with pytest.raises(data.DataError, match="Class names"):
        data.load_image_folder_zip(_zip(files))


def _patch_headers(raw: bytes, central_offset: int, local_offset: int, value_of) -> bytes:
    out = bytearray(raw)
    for signature, offset in ((b"PK\x01\x02", central_offset), (b"PK\x03\x04", local_offset)):
        at = out.find(signature)
        while at >= 0:
            out[at + offset:at + offset + 2] = value_of(bytes(out[at + offset:at + offset + 2]))
            at = out.find(signature, at + 4)
    return bytes(out)


def test_damaged_encrypted_and_unknown_compression_zips_give_messages():
    good = _zip(_classes(), zipfile.ZIP_STORED)
    crc = bytearray(good)
    at = crc.find(b"IDAT")
    crc[at + 8] ^= 0xFF
    with pytest.raises(data.DataError, match="CRC"):
        data.load_image_folder_zip(bytes(crc))
    encrypted = _patch_headers(good, 8, 6, lambda v: bytes([v[0] | 1, v[1]]))
    with pytest.raises(data.DataError, match="encrypted"):
        data.load_image_folder_zip(encrypted)
    method_99 = _patch_headers(good, 10, 8, lambda v: (99).to_bytes(2, "little"))
    with pytest.raises(data.DataError, match="compression method"):
        data.load_image_folder_zip(method_99)
    deflated = bytearray(_zip(_classes()))
    middle = deflated.find(b"PK\x03\x04") + 60
    deflated[middle:middle + 8] = b"\xff" * 8
    with pytest.raises(data.DataError):
        data.load_image_folder_zip(bytes(deflated))


def test_zip_reading_reports_progress_and_stops_on_request():
    seen = []
    data.load_image_folder_zip(_zip(_classes()), progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 6) and seen[-1] == (6, 6)
    with pytest.raises(data.DataError, match="stopped"):
        data.load_image_folder_zip(_zip(_classes()), should_stop=lambda: True)


# --- links and typed values --------------------------------------------------------------------

@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "1e999", "9" * 5000, "", "1e", "0x10"])
def test_link_numbers_that_are_not_finite_are_refused(text):
    for key in ("kp_bias", "kp_pad", "kp_dil"):
        with pytest.raises(ValueError):
            pg_state.decode_setting(key, text)
    found, ignored = pg_state.read_link({"preset": "Gabor", "size": text, "angle": text})
    assert not any(k.endswith(("_size", "_angle")) for k in found) and len(ignored) == 2
    assert all(len(entry) <= 40 for entry in ignored)


def test_link_ranges_at_the_limit_and_one_over():
    low, high = pg_state.RANGES["kp_pad"]
    assert pg_state.decode_setting("kp_pad", str(int(high))) == high
    with pytest.raises(ValueError):
        pg_state.decode_setting("kp_pad", str(int(high) + 1))
    assert pg_state.decode_setting("kp_bias", "1000") == 1000.0
    with pytest.raises(ValueError):
        pg_state.decode_setting("kp_bias", "1000.0001")


def test_link_booleans_are_words_that_mean_yes_or_no():
    assert pg_state.decode_setting("kp_norm", "yes") is True and pg_state.decode_setting("kp_norm", "0") is False
    with pytest.raises(ValueError):
        pg_state.decode_setting("kp_norm", "maybe")


def test_link_filters_at_the_limit_and_one_over():
    names = list(kernels.PRESETS)
    found, ignored = pg_state.read_link({"filters": "|".join([names[0]] * pg_state.MAX_FILTERS)})
    assert len(found["kp_filters"]) == pg_state.MAX_FILTERS and not ignored
    found, ignored = pg_state.read_link({"filters": "|".join([names[0]] * (pg_state.MAX_FILTERS + 1))})
    assert "kp_filters" not in found and ignored[0].startswith("filters=")
    found, ignored = pg_state.read_link({"filters": "|".join([names[0]] * 1000)})
    assert "kp_filters" not in found and len(ignored[0]) <= 40


def test_link_text_and_grids_at_the_limit_and_one_over():
    assert pg_state.decode_setting("kp_signal", "1" * pg_state.MAX_TEXT) == "1" * pg_state.MAX_TEXT
    with pytest.raises(ValueError):
        pg_state.decode_setting("kp_signal", "1" * (pg_state.MAX_TEXT + 1))
    side = kernels.MAX_KERNEL_SIZE
    assert pg_state.decode_grid(";".join([",".join(["1"] * side)] * side), side).shape == (side, side)
    with pytest.raises(kernels.KernelError):
        pg_state.decode_grid(";".join([",".join(["1"] * side)] * (side + 1)), side)
    with pytest.raises(kernels.KernelError):
        pg_state.decode_grid(";" * 1_000_000, side)  # refused before a million rows are read


def test_typed_lists_and_numbers_at_the_limit_and_one_over():
    assert len(kernels.parse_vector(" ".join(["1"] * kernels.MAX_VECTOR))) == kernels.MAX_VECTOR
    with pytest.raises(kernels.KernelError, match="at most"):
        kernels.parse_vector(" ".join(["1"] * (kernels.MAX_VECTOR + 1)))
    assert len(kernels.parse_vector("1 2 3 4", max_len=4)) == 4
    with pytest.raises(kernels.KernelError):
        kernels.parse_vector("1 2 3 4 5", max_len=4)
    assert kernels.parse_number("1" * 40) == float("1" * 40)
    with pytest.raises(ValueError):
        kernels.parse_number("1" * 41)
    with pytest.raises(ValueError):
        kernels.parse_number("1e308/1e-308")  # a fraction that overflows a float


def test_quiz_answer_budgets_at_the_limit_and_one_over():
    shape = "(" + ", ".join(["1"] * 60) + ")"
    exact = shape[:-1] + " " * (quiz.MAX_ANSWER - len(shape)) + ")"
    assert len(exact) == quiz.MAX_ANSWER and len(quiz.parse_answer(exact)) == 60
    assert len(quiz.parse_answer(exact + " " * 50)) == 60  # stripped first
    with pytest.raises(quiz.AnswerFormatError, match="characters"):
        quiz.parse_answer(exact[:-1] + " )")
    assert quiz.parse_answer("9" * 15) == int("9" * 15)
    with pytest.raises(quiz.AnswerFormatError, match="too large"):
        quiz.parse_answer("9" * 16)
    assert quiz.parse_answer("+".join(["1"] * (quiz.MAX_OPERATORS + 1))) == quiz.MAX_OPERATORS + 1
    with pytest.raises(quiz.AnswerFormatError, match="too long"):
        quiz.parse_answer("+".join(["1"] * (quiz.MAX_OPERATORS + 2)))
    for hostile in ("+".join(["1"] * 1000), "9" * 5000, "(" * 150 + "1" + ")" * 49):
        with pytest.raises(quiz.AnswerFormatError):
            quiz.parse_answer(hostile)


# --- arithmetic near the largest float ---------------------------------------------------------

@FAST
@given(st.lists(st.sampled_from([1e308, -1e308, 1.7e308, 0.5e308, 1.0, -3.0]), min_size=4, max_size=9))
def test_explain_cell_sums_huge_products_as_the_exact_rational_sum(values):
    x = np.array(values, dtype=float)[None]
    cell = conv.explain_cell(x, np.ones((1, len(values))), 0, 0)
    exact = sum(Fraction(v) for v in values)  # oracle: exact rational arithmetic
    expected = float(exact) if abs(exact) <= Fraction(np.finfo(float).max) else (math.inf if exact > 0 else -math.inf)
    assert cell.total == pytest.approx(expected, rel=1e-12) or cell.total == expected


def test_a_kernel_of_huge_weights_is_not_said_to_sum_to_zero():
    kernel = np.full((3, 3), 1e308)
    normalised, why_not = kernels.normalise(kernel)
    assert why_not is None
    np.testing.assert_allclose(normalised, np.full((3, 3), 1 / 9))
    _, why_not = kernels.normalise(np.array([[1e308, -1e308], [0.0, 0.0]]))
    assert "sum to 0" in why_not


def test_pooling_shift_up_to_the_picture_size_minus_one():
    x = np.arange(16.0).reshape(4, 4)
    pooling.translation_effect(x, 2, 2, 0, False, 0, 3)
    with pytest.raises(pooling.PoolError, match="larger"):
        pooling.translation_effect(x, 2, 2, 0, False, 0, 4)
    with pytest.raises(pooling.PoolError):
        pooling.translation_effect(x, 2, 2, 0, False, -4, 0)


# --- figure payloads ---------------------------------------------------------------------------

def _trace_z(fig) -> np.ndarray:
    return np.asarray(fig.data[0].z)


def test_display_maps_are_thinned_beyond_the_screen_side_with_true_coordinates():
    side = pg_figs.MAX_DISPLAY_SIDE
    fig = pg_figs.heatmap_figure(np.zeros((side, side)))
    assert _trace_z(fig).shape == (side, side) and fig.data[0].x is None
    big = np.random.default_rng(0).normal(size=(side + 1, 2 * side + 1))
    fig = pg_figs.heatmap_figure(big, diverging=True)
    shown = _trace_z(fig)
    assert shown.shape == (math.ceil((side + 1) / 3), math.ceil((2 * side + 1) / 3))
    rows, cols = np.asarray(fig.data[0].y), np.asarray(fig.data[0].x)
    np.testing.assert_array_equal(shown, big[rows][:, cols].astype(np.float32))  # exact values
    assert fig.data[0].zmax == pytest.approx(np.abs(big).max())  # the scale of every value


def test_a_row_of_many_maps_stays_within_the_figure_budget():
    maps = [np.zeros((1024, 1024))] * (pg_state.MAX_FILTERS + 1)
    fig = pg_figs.row_of_maps(maps, [str(i) for i in range(len(maps))])
    cells = sum(np.asarray(t.z).size for t in fig.data)
    assert cells <= pg_figs.MAX_FIGURE_CELLS
    assert all(fig.layout[f"xaxis{'' if k == 0 else k + 1}"].domain[1] > fig.layout[f"xaxis{'' if k == 0 else k + 1}"].domain[0]
               for k in range(len(maps)))
    wide = pg_figs.row_of_maps([np.zeros((8, 8))] * 40, [str(i) for i in range(40)])  # no negative widths
    assert len(wide.data) == 40


def test_the_rgb_picture_is_thinned_with_its_step():
    x = np.zeros((3, 1100, 700), dtype=np.float32)
    fig = pg_figs.picture_figure(x)
    assert np.asarray(fig.data[0].z).shape == (367, 234, 3) and fig.data[0].dx == 3  # every 3rd pixel


def test_a_confusion_matrix_of_many_classes_stays_on_one_screen():
    fig = training_figs.confusion_figure(np.eye(100, dtype=int), [f"class {i}" for i in range(100)])
    assert fig.layout.height <= 900 and fig.layout.xaxis.nticks == 30
    assert training_figs.confusion_figure(np.eye(3, dtype=int), list("abc")).layout.height < 900
