"""vizcore.images: every upload becomes an RGB/L image or an ImageInputError, nothing else."""
import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from vizcore import images
from vizcore.images import ImageInputError, load_image


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def gradient_rgb(w=40, h=30) -> Image.Image:
    rows, cols = np.mgrid[0:h, 0:w]
    arr = np.stack([cols * 255 // w, rows * 255 // h, (rows + cols) % 256], axis=2).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def png_claiming(width: int, height: int) -> bytes:
    """A tiny valid-looking PNG whose header claims width×height pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"])
def test_every_supported_format_decodes_to_rgb(fmt):
    img = load_image(encode(gradient_rgb(), fmt))
    assert img.size == (40, 30)
    assert img.mode in ("RGB", "L")  # GIF may come back as a gray-looking palette -> still valid


def test_png_round_trip_keeps_pixels():
    src = gradient_rgb()
    assert np.array_equal(np.asarray(load_image(encode(src, "PNG"))), np.asarray(src))


def test_grayscale_stays_grayscale():
    gray = Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16), "L")
    out = load_image(encode(gray, "PNG"))
    assert out.mode == "L" and np.array_equal(np.asarray(out), np.asarray(gray))


def test_sixteen_bit_png_is_stretched_to_8_bit():
    arr = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    out = load_image(encode(Image.fromarray(arr), "PNG"))
    got = np.asarray(out)
    assert out.mode == "L" and got.min() == 0 and got.max() == 255
    assert np.all(np.diff(got.ravel().astype(int)) >= 0)  # order preserved


def test_transparent_pixels_become_white_not_black():
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    out = load_image(encode(rgba, "PNG"))
    assert out.mode == "RGB" and np.asarray(out)[0, 0].tolist() == [255, 255, 255]


def test_palette_and_cmyk_become_rgb():
    pal = gradient_rgb().convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    assert load_image(encode(pal, "PNG")).mode == "RGB"
    cmyk = gradient_rgb().convert("CMYK")
    out = load_image(encode(cmyk, "JPEG"))
    assert out.mode == "RGB" and out.size == (40, 30)


def test_exif_orientation_is_applied():
    src = gradient_rgb(40, 30)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    out = load_image(encode(src, "JPEG", exif=exif))
    assert out.size == (30, 40)


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        (b"<html><body>not a picture</body></html>", "not an image"),
        (b"%PDF-1.4 fake", "not an image"),
        (png_claiming(60_000, 60_000), "megapixels"),
        (png_claiming(200_000, 200_000), "large"),
        (encode(Image.new("L", (1000, 10)), "PNG"), "aspect ratio"),
    ],
)
def test_bad_inputs_say_what_is_wrong(data, words):
    with pytest.raises(ImageInputError, match=words):
        load_image(data)


def test_truncated_files_are_reported_as_damaged():
    for fmt in ("PNG", "JPEG"):
        data = encode(gradient_rgb(200, 150), fmt)
        with pytest.raises(ImageInputError, match="damaged|not an image"):
            load_image(data[: len(data) // 2])


def test_oversized_upload_is_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(images, "MAX_UPLOAD_BYTES", 100)
    with pytest.raises(ImageInputError, match="limit"):
        load_image(encode(gradient_rgb(), "BMP"))


VALID = [encode(gradient_rgb(), fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=512),
        st.tuples(st.sampled_from(VALID), st.floats(0, 1)).map(lambda t: t[0][: int(len(t[0]) * t[1])]),
        st.tuples(st.sampled_from(VALID), st.integers(0, 10**6), st.integers(0, 255)).map(
            lambda t: t[0][: t[1] % len(t[0])] + bytes([t[2]]) + t[0][t[1] % len(t[0]) + 1:]
        ),
    )
)
def test_no_other_exception_escapes(data):
    """Random bytes, truncations and single-byte corruptions: an image or ImageInputError."""
    try:
        img = load_image(data)
    except ImageInputError as err:
        assert str(err)
    else:
        assert img.mode in ("RGB", "L") and img.width >= 1 and img.height >= 1


def test_reduce_to_working_size_keeps_aspect_and_reports():
    img = Image.new("RGB", (2000, 1000))
    out, reduced = images.reduce_to_working_size(img, 512)
    assert reduced and out.size == (512, 256)
    same, reduced = images.reduce_to_working_size(out, 512)
    assert not reduced and same is out


@pytest.mark.parametrize("name", list(images.SAMPLES))
def test_samples_load_offline(name):
    img = images.sample_image(name)
    assert img.mode in ("RGB", "L") and min(img.size) >= 64


@pytest.mark.parametrize("name", list(images._PHOTOS))
def test_sample_photos_are_scikit_images_own(name):
    """Read with PIL straight from scikit-image's folder, the pixels are skimage.data's."""
    from skimage import data

    expected = getattr(data, name)()
    if expected.dtype == bool:
        expected = expected.astype(np.uint8) * 255
    assert np.array_equal(np.asarray(images.sample_image(name)), expected)


def test_to_array_layouts():
    img = gradient_rgb()
    rgb = images.to_array(img, "RGB")
    assert rgb.shape == (3, 30, 40) and rgb.dtype == np.float32
    assert np.array_equal(rgb[1], np.asarray(img)[..., 1])
    assert images.to_array(img, "L").shape == (30, 40)
