"""A picture from the user: a sample, an upload or a camera photo, decoded and reduced to the
working size."""
from __future__ import annotations

import io
import re

import streamlit as st
from PIL import Image

from pages._ui.state import remember
from pages._ui.text import literal
from vizcore import images

SOURCES = ("Sample", "Upload", "Camera")
WORKING_SIZES = (128, 256, 512, 768, 1024)


@st.cache_data(max_entries=32, show_spinner=False)
def _sample(name: str, max_side: int) -> tuple[Image.Image, bool]:
    return images.reduce_to_working_size(images.sample_image(name), max_side)


@st.cache_data(max_entries=16, max_size="200MB", show_spinner=False)
def _decode(data: bytes, max_side: int) -> tuple[Image.Image, bool]:
    # Keyed on the full bytes: two uploads that differ anywhere never share an entry.
    return images.reduce_to_working_size(images.load_image(data), max_side)


def image_input(
    key: str,
    *,
    mode: str = "RGB",
    max_side: int = images.DEFAULT_MAX_SIDE,
    default_sample: str | None = None,
    first: tuple[str, ...] = (),
) -> Image.Image | None:
    """Let the user pick a sample, upload a photo or take one with the camera.

    Returns the image in `mode` ("RGB" or "L") reduced to the working size, or None when
    nothing usable is chosen yet; any problem is shown on the page as a message. The choice
    and the last upload survive switching views and pages. ``first``: samples listed first.
    """
    names = [n for n in first if n in images.SAMPLES] + [n for n in images.SAMPLES if n not in first]
    remember(f"{key}_source", SOURCES[0])
    remember(f"{key}_side", max_side)
    remember(f"{key}_sample", default_sample if default_sample in names else names[0])
    # The source and the sample side by side: on a 1280×720 projector the picture then starts
    # on the first screen.
    left, right = st.columns([2, 3], vertical_alignment="bottom")
    source = left.radio("Image source", SOURCES, horizontal=True, key=f"{key}_source")
    if source == "Sample":
        # Short names in the box (at 1280×720 "brick — Brick wall (grayscale texture, …" was cut
        # off); what each sample is, in the help.
        name = right.selectbox(
            "Sample image", names, key=f"{key}_sample", format_func=sample_name,
            help="  \n".join(f"**{sample_name(n)}**: {images.SAMPLES[n]}" for n in names),
        )
    with st.expander("Image size"):
        side = st.select_slider(
            "Working size (longest side, pixels)", sorted(set(WORKING_SIZES) | {max_side}),
            key=f"{key}_side",
        )
    if source == "Sample":
        img, reduced = _sample(name, side)
    else:
        data = _uploaded_bytes(key, source)
        if data is None:
            st.info("Choose an image to see the result.")
            return None
        try:
            img, reduced = _decode(data, side)
        except images.ImageInputError as err:
            st.error(f"Could not use this file: {err}")
            return None
    if reduced:
        st.caption(f"Reduced to {img.width}×{img.height} pixels (working size {side}) to keep it fast.")
    if source != "Sample" and _transparent(data):
        st.caption("This picture has transparent parts: they are filled with white first (as shown), so "
                   "the border between the picture and the white can become a strong edge.")
    return img.convert(mode) if img.mode != mode else img


@st.cache_data(max_entries=16, show_spinner=False)
def _transparent(data: bytes) -> bool:
    """Whether an upload (already decoded once without trouble) has any transparent pixel."""
    try:
        img = Image.open(io.BytesIO(data))
        if img.mode not in ("RGBA", "LA", "La", "RGBa", "PA") and "transparency" not in img.info:
            return False
        return img.convert("RGBA").getchannel("A").getextrema()[0] < 255
    except Exception:  # noqa: BLE001 - a note only: never fail an upload that decoded
        return False


def _uploaded_bytes(key: str, source: str) -> bytes | None:
    """The new upload or camera photo, else the last one kept from an earlier run."""
    kept = f"{key}_{source.lower()}_kept"
    if source == "Upload":
        upload = st.file_uploader(
            "Upload an image (PNG, JPEG, GIF, BMP, WebP, TIFF)",
            type=["png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff"],
            key=f"{key}_upload",
        )
    else:
        upload = st.camera_input("Take a photo", key=f"{key}_camera")
    if upload is not None:
        # The uploader's size limit is only enforced in the browser: check here too.
        if upload.size > images.MAX_UPLOAD_BYTES:
            st.error(
                f"Could not use this file: it is {upload.size / 2**20:.1f} MB; the limit is "
                f"{images.MAX_UPLOAD_BYTES // 2**20} MB."
            )
            return None
        st.session_state[kept] = (upload.name, upload.getvalue())
        return st.session_state[kept][1]
    if kept in st.session_state:
        name, data = st.session_state[kept]
        st.caption(f"Using your earlier {'upload' if source == 'Upload' else 'photo'}: {literal(name)}")
        return data
    return None


def sample_name(name: str) -> str:
    """A sample picture's short name for a select box: its description up to "(" or ":"
    ("Brick wall"); the whole description belongs in a help text."""
    from vizcore import images

    return re.split(r" \(|:", images.SAMPLES.get(name, name), maxsplit=1)[0].strip() or name
