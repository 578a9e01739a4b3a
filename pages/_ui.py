"""Page building blocks written once: image input, figures with downloads, array downloads.

Not a page itself (the leading underscore keeps it out of navigation).
"""
from __future__ import annotations

import io

import numpy as np
import streamlit as st
from PIL import Image

from vizcore import images

SOURCES = ("Sample", "Upload", "Camera")
WORKING_SIZES = (128, 256, 512, 768, 1024)
PLOTLY_CONFIG = {
    "displaylogo": False,
    "toImageButtonOptions": {"format": "png", "scale": 2},
}


@st.cache_data(max_entries=32, show_spinner=False)
def _sample(name: str, max_side: int) -> tuple[Image.Image, bool]:
    return images.reduce_to_working_size(images.sample_image(name), max_side)


@st.cache_data(max_entries=16, max_size="200MB", show_spinner=False)
def _decode(data: bytes, max_side: int) -> tuple[Image.Image, bool]:
    # Keyed on the full bytes: two uploads that differ anywhere never share an entry.
    return images.reduce_to_working_size(images.load_image(data), max_side)


def _remember(key: str, default) -> None:
    """Keep a widget's value while the widget is not drawn (another view or page is shown).

    Streamlit drops a widget's state after a run that doesn't draw it, so the value is also
    kept under a plain key and restored from there. Defaults go through session state, never
    through `index=`/`value=`, which would conflict with the restored value.
    """
    kept = f"{key}__kept"
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(kept, default)
    st.session_state[kept] = st.session_state[key]


def image_input(
    key: str,
    *,
    mode: str = "RGB",
    max_side: int = images.DEFAULT_MAX_SIDE,
    default_sample: str | None = None,
) -> Image.Image | None:
    """Let the user pick a sample, upload a photo or take one with the camera.

    Returns the image in `mode` ("RGB" or "L") reduced to the working size, or None when
    nothing usable is chosen yet; any problem is shown on the page as a message. The choice
    and the last upload survive switching views and pages.
    """
    names = list(images.SAMPLES)
    _remember(f"{key}_source", SOURCES[0])
    _remember(f"{key}_side", max_side)
    _remember(f"{key}_sample", default_sample if default_sample in names else names[0])
    source = st.radio("Image source", SOURCES, horizontal=True, key=f"{key}_source")
    with st.expander("Image size"):
        side = st.select_slider(
            "Working size (longest side, pixels)", sorted(set(WORKING_SIZES) | {max_side}),
            key=f"{key}_side",
        )
    if source == "Sample":
        name = st.selectbox(
            "Sample image", names, key=f"{key}_sample",
            format_func=lambda n: f"{n} — {images.SAMPLES[n]}",
        )
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
    return img.convert(mode) if img.mode != mode else img


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
        st.caption(f"Using your earlier {'upload' if source == 'Upload' else 'photo'}: {name}")
        return data
    return None


def show_figure(fig, *, key: str | None = None, **kwargs):
    """Show a plotly figure; its camera button downloads a PNG (made in the browser, offline).

    Returns what ``st.plotly_chart`` returns (the selection, when ``on_select`` is given).
    """
    return st.plotly_chart(fig, key=key, config=PLOTLY_CONFIG, **kwargs)


def download_array(arr: np.ndarray, name: str, *, key: str) -> None:
    """Buttons that download `arr` as CSV (2D only, as a table) and as NPY.

    The files are made only when a button is clicked, so reruns stay fast.
    """
    arr = np.asarray(arr)
    left, right = st.columns(2)
    if arr.ndim <= 2:
        left.download_button(
            "Download CSV", lambda: _csv(arr), file_name=f"{name}.csv", mime="text/csv",
            key=f"{key}_csv", on_click="ignore",
        )
    right.download_button(
        "Download NPY", lambda: _npy(arr), file_name=f"{name}.npy",
        mime="application/octet-stream", key=f"{key}_npy", on_click="ignore",
    )


def _csv(arr: np.ndarray) -> str:
    buf = io.StringIO()
    np.savetxt(buf, np.atleast_2d(arr), delimiter=",", fmt="%.6g")
    return buf.getvalue()


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


@st.cache_resource(show_spinner="Loading the pretrained model…")
def _shipped_model(name: str):
    from vizcore import models  # torch loads only on pages that use a model

    return models.load_pretrained(name)


def model_selector(key: str):
    """Choose a CNN: the shipped pretrained ones, plus those trained or uploaded in this session.

    Session models live in ``st.session_state["trained_models"]`` (name -> (model, meta)), put
    there by the Training page. Returns ``(model, meta)``; the model is shared between users and
    in eval mode: read it, hook it (and remove the hooks), never train or change it in place.
    """
    from vizcore import models

    choices = {f"{name} (pretrained)": ("shipped", name) for name in models.shipped_models()}
    for name in st.session_state.get("trained_models", {}):
        choices[f"{name} (trained in this session)"] = ("session", name)
    if not choices:
        st.error("No model is available: the shipped weights are missing from assets/.")
        st.stop()
    _remember(key, next(iter(choices)))
    if st.session_state[key] not in choices:  # e.g. a session model that was removed
        st.session_state[key] = next(iter(choices))
    label = st.selectbox("Model", list(choices), key=key)
    kind, name = choices[label]
    if kind == "shipped":
        try:
            model, meta = _shipped_model(name)
        except models.ModelError as err:
            st.error(f"Could not load the model: {err}")
            st.stop()
    else:
        model, meta = st.session_state["trained_models"][name]
    c, h, w = meta["input_shape"]
    accuracy = meta.get("test_accuracy")
    st.caption(f"Trained on {meta['dataset']} · {len(meta['classes'])} classes · input {c}×{h}×{w} · "
               f"{meta['params']:,} parameters"
               + (f" · test accuracy {accuracy:.1%}" if isinstance(accuracy, (int, float)) else ""))
    return model, meta
