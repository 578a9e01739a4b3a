"""Page building blocks written once: image input, figures with downloads, array downloads.

Not a page itself (the leading underscore keeps it out of navigation).
"""
from __future__ import annotations

import contextlib
import io
from collections import Counter
import re
import threading
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np
import streamlit as st
from PIL import Image
from streamlit.logger import get_logger

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


def remember(key: str, default) -> None:
    """Keep a widget's value while the widget is not drawn (another view or page is shown).

    Streamlit drops a widget's state after a run that doesn't draw it, so the value is also
    kept under a plain key and restored from there. Defaults go through session state, never
    through `index=`/`value=`, which would conflict with the restored value.
    """
    kept = f"{key}__kept"
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(kept, default)
    st.session_state[kept] = st.session_state[key]


def kept_value(key: str, default=None):
    """A widget's value before the widget is drawn in this run: its state, else the value kept
    for it by :func:`remember` or :func:`write_link_state`, else ``default``."""
    return st.session_state.get(key, st.session_state.get(f"{key}__kept", default))


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


def show_figure(fig, *, key: str | None = None, **kwargs):
    """Show a plotly figure; its camera button downloads a PNG (made in the browser, offline).

    Returns what ``st.plotly_chart`` returns (the selection, when ``on_select`` is given).
    The figure keeps the app's own template (``theme=None``: Streamlit's chart theme would
    shrink its tick labels); with the Presenter switch on, every font is larger.
    """
    if presenting():
        from vizcore.figures import style

        fig = style.for_presenter(fig)
    kwargs.setdefault("theme", None)
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


# --- one model and one picture for the whole explanation (issue 25 part 2) -------------------------

PAGE_NOW, PAGE_ENTERED = "_page_now", "_page_entered"
CARRIED_MODEL = "_carried_model"  # the model last chosen on any model page (its label)
CARRIED_INPUT = "_carried_input"  # the widget-key prefix of the input last used on a model page
# What a page's input is made of (model_input's keys after its prefix): the kind of input, the
# test image, the sample photo, the kept upload or camera photo, the photo's way into a grey model.
CARRIED_INPUT_KEYS = ("_source", "_class", "_index", "_photo_source", "_photo_side", "_photo_sample",
                      "_photo_upload_kept", "_photo_camera_kept", "_match", "_invert")


def note_page(page: str) -> None:
    """app.py, before the page runs: whether this run opened another page than the last run."""
    previous = st.session_state.get(PAGE_NOW)
    st.session_state[PAGE_NOW] = page
    st.session_state[PAGE_ENTERED] = previous is not None and previous != page


def _entered_without_link(*names: str) -> bool:
    """This run moved here from another page of the session, and the address names none of ``names``
    (a link's own model or input wins)."""
    return bool(st.session_state.get(PAGE_ENTERED)) and not any(n in st.query_params for n in names)


def carry_input(prefix: str) -> None:
    """Before a model page draws its input: on arriving from another model page, take that page's
    input (test image, sample photo, upload or camera photo), so one picture walks through every
    method. Then this page's input is the one carried on."""
    source = st.session_state.get(CARRIED_INPUT)
    if source and source != prefix and _entered_without_link("input", "img", "imgclass", "sample"):
        for suffix in CARRIED_INPUT_KEYS:  # a widget's value, else the value kept for it (remember)
            theirs, mine = f"{source}{suffix}", f"{prefix}{suffix}"
            value = st.session_state.get(theirs, st.session_state.get(f"{theirs}__kept"))
            if value is None:
                continue
            st.session_state[mine] = value
            if f"{theirs}__kept" in st.session_state:  # a kept widget value (never an upload's bytes twice)
                st.session_state[f"{mine}__kept"] = value
    st.session_state[CARRIED_INPUT] = prefix


def model_selector(key: str, *, imagenet: bool = True, own: bool = True, stacked: bool = False):
    """Choose a CNN: the shipped pretrained ones, the lecturer's networks (``models/``), those
    trained or uploaded in this session, and "Your own network…" (``own``) to upload one.

    Session models live in ``st.session_state["trained_models"]`` (name -> (model, meta)), put
    there by the Training page; uploaded ones in :data:`pages._own_models.OWN_MODELS`. Returns
    ``(model, meta)``; the model is shared between users and in eval mode: read it (run it
    stage by stage for a layer's output), never hook, train or change it. ``stacked``: the
    model's description under the choice, not beside it (for a narrow column).
    """
    from vizcore import models

    from pages import _own_models

    names = models.pretrained_models() if imagenet else models.shipped_models()
    choices = {f"{name} (pretrained)": ("shipped", name) for name in names}
    for name in st.session_state.get("trained_models", {}):
        choices[f"{name} (trained in this session)"] = ("session", name)
    if own:
        choices.update(_own_models.own_choices())
        choices[_own_models.OWN_CHOICE] = ("upload", "")
    if not choices:
        st.error("No model is available: the shipped weights are missing from assets/.")
        stop_page()
    remember(key, next(iter(choices)))
    pending = st.session_state.pop(f"{key}_pending", None)  # a network just uploaded: select it
    carried = st.session_state.get(CARRIED_MODEL)
    if pending in choices:
        st.session_state[key] = pending
    elif carried in choices and _entered_without_link("model"):  # the model chosen on the last model page
        st.session_state[key] = carried
    if st.session_state[key] not in choices:  # e.g. a session model that was removed
        st.session_state[key] = next(iter(choices))
    # one row: the first picture comes up sooner; in a narrow column a row would cut the name short
    pick, about = (st.container(), st.container()) if stacked else st.columns([2, 3], vertical_alignment="bottom")
    label = pick.selectbox("Model", list(choices), key=key)
    kind, name = choices[label]
    if kind == "upload":
        ready = _own_models.own_network_form(key, literal)
        if ready is not None:
            st.session_state[f"{key}_pending"] = ready
            st.rerun()
        stop_page()
    st.session_state[CARRIED_MODEL] = label
    if kind == "own":
        st.session_state[UNLINKABLE_MODEL_KEY] = "your own network"
    if kind == "shipped":
        try:
            model, meta = _shipped_model(name)
        except models.ModelError as err:
            st.error(f"Could not load the model: {err}")
            stop_page()
    elif kind in ("own", "lecturer"):
        try:
            model, meta = _own_models.load_choice(kind, name)
        except (models.ModelError, OSError, KeyError) as err:
            st.error(f"Could not open this network: {literal(err)}")
            stop_page()
    else:
        model, meta = st.session_state["trained_models"][name]
    if meta.get("architecture") == "user":
        c, h, w = meta["input_shape"]
        names = ", ".join(meta["classes"][:6]) + (" …" if len(meta["classes"]) > 6 else "")
        about.caption(f"{literal(meta['source'])} · {len(meta['classes'])} classes ({literal(names)}) · input "
                      f"{c}×{h}×{w}, pixels {literal(meta.get('scale') or 'as given')} · {meta['params']:,} parameters")
        return model, meta
    c, h, w = meta["input_shape"]
    accuracy = meta.get("test_accuracy")
    weights = meta.get("weights")
    if weights:  # the ImageNet network: where its weights come from, and that they were checked
        about.caption(f"EfficientNet-Lite0 trained on ImageNet (1.28 million photos) · {len(meta['classes'])} classes · "
                   f"input {c}×{h}×{w} · {meta['params']:,} parameters · Google's weights from the "
                   f"{weights['package']} {weights['version']} package, SHA-256 checked")
    else:
        about.caption(f"Trained on {literal(meta['dataset'])} · {len(meta['classes'])} classes · input {c}×{h}×{w} · "
                   f"{meta['params']:,} parameters"
                   + (f" · test accuracy {accuracy:.1%}" if isinstance(accuracy, (int, float)) else ""))
    return model, meta


# --- user text ---------------------------------------------------------------------------------

# Every character Streamlit's markdown gives a meaning to: emphasis, links, images, headings,
# lists, tables, code, maths ($), HTML-like tags, and the `:red[...]`/`:material/...:` directives.
_MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$:=&\"'")


def literal(text: object) -> str:
    """``text`` escaped so that Streamlit's markdown shows it character for character.

    Use it for everything a user supplied (file and class names, link values, answers) that is
    embedded in a markdown string: a name such as ``[Click here](https://...)`` then shows as
    those characters, never as a working link, image, heading or colour.
    """
    escaped = "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in str(text))
    # Line breaks would start new markdown blocks (a list, a heading): keep it on one line.
    return " ".join(escaped.splitlines())


def show_text(text: object, kind: str = "caption") -> None:
    """Show user-supplied text literally in an element of ``kind``: caption, markdown, info,
    warning or error (all render markdown, so the text is escaped first)."""
    show = {"caption": st.caption, "markdown": st.markdown, "info": st.info,
            "warning": st.warning, "error": st.error, "success": st.success}[kind]
    show(literal(text))


def drop_added_rows(editor_key: str, *, max_added: int = 0, max_rows: int = 64) -> bool:
    """Before an ``st.data_editor`` is drawn: forget its state when it claims more than
    ``max_added`` added rows (0: a fixed-size grid, which also deletes none) or edits more than
    ``max_rows`` rows. Only a crafted client sends such a state, and Streamlit would apply
    30,000 added rows one by one (over 20 s per rerun) before the page could refuse them.
    Returns True (with a message) when the state was dropped."""
    state = st.session_state.get(editor_key)
    if isinstance(state, dict) and (len(state.get("added_rows") or []) > max_added
                                    or (max_added == 0 and state.get("deleted_rows"))
                                    or len(state.get("edited_rows") or {}) > max_rows):
        del st.session_state[editor_key]
        st.warning("This table keeps its size: added or deleted rows were dropped.")
        return True
    return False


# --- the input of a model: test image, photo or drawing -----------------------------------------

INPUT_SOURCES = ("Test image from the data set", "Photo (sample, upload or camera)", "Draw")
INVERT_CHOICES = ("auto", "yes", "no")
DRAWN_DATASETS = ("digits", "mnist")  # hand-drawn digits: a drawing is what their models know
ANY_CLASS = "any class"
BRUSHES = {"Paint": 1.0, "Half ink": 0.5, "Erase": 0.0}  # ink a selected cell gets
PRESET_DRAWINGS = {  # a first drawing, so the Draw view shows something the model can read
    8: ["........", ".#######", ".....##.", "....##..", "...##...", "...##...", "..##....", "..#....."],
}
STEP_WIDTH = 150  # pixels on the page: every preprocessing step drawn at the same size


@dataclass
class ModelInput:
    """What a page feeds to a model, and how to show it."""
    x: Any                  # torch.Tensor (1, C, H, W): normalised as the model expects
    picture: np.ndarray     # the input at model size for display: (H, W) or (H, W, 3), 0..255
    caption: str            # plain text (may contain user-supplied class names: show literally)
    label: int | None       # the true class of a test image, else None
    source: str             # one of INPUT_SOURCES
    steps: list = field(default_factory=list)  # its way into the model (features.Step), for show_steps


@st.cache_resource(max_entries=6, show_spinner="Loading the test images…")
def test_split(dataset: str):
    """The test split of a data set, shared read-only by every session."""
    from vizcore import data

    return data.load_dataset(dataset, "test")


@st.cache_resource(max_entries=6, show_spinner=False)
def test_pictures(dataset: str) -> np.ndarray:
    """The test images as uint8 pictures (N, H, W) or (N, H, W, 3), as stored."""
    pixels = test_split(dataset).images.numpy()
    return pixels[:, 0] if pixels.shape[1] == 1 else pixels.transpose(0, 2, 3, 1)


def dataset_of(meta: dict) -> str | None:
    """The model's data set if its test split can be loaded here, else None."""
    from vizcore import data

    name = meta.get("dataset")
    try:
        return name if name in data.available_datasets() else None
    except data.DataError:
        return None


def keep_valid(key: str, options: list, default) -> None:
    """Reset a kept widget value the current model does not offer (e.g. after a model switch)."""
    if key in st.session_state and st.session_state[key] not in options:
        st.session_state[key] = default


def model_input(prefix: str, meta: dict, *, show_steps: bool = True) -> ModelInput | None:
    """The input block of every page that feeds a model: a test image, a photo or a drawing.

    Shows the choice, the picture's way into the model (``show_steps``) and any problem as a
    message; returns None when nothing usable is chosen. Widget keys are ``f"{prefix}_..."``.
    """
    from vizcore import data, features, images

    carry_input(prefix)
    dataset = dataset_of(meta)
    # A photo network (ImageNet's, or a classifier on its features): drawings are for the small models.
    photos_only = meta.get("dataset") == "imagenet" or bool(meta.get("photos_only"))
    sources = INPUT_SOURCES if dataset else INPUT_SOURCES[1:2] if photos_only else INPUT_SOURCES[1:]
    if not dataset and not photos_only and meta.get("architecture") != "user":  # a user's network: photos, drawings
        st.info(f"The data set of this model ({literal(meta.get('dataset', 'unknown'))}) is not "
                "available here: use a photo or a drawing.")
    keep_valid(f"{prefix}_source", list(sources), sources[0])
    if len(sources) > 1:
        source = st.radio("Input", sources, horizontal=True, key=f"{prefix}_source")
    else:  # a photo network takes photos only: no choice to show, the link still says which
        source = st.session_state[f"{prefix}_source"] = sources[0]
    label = None
    try:
        if source == INPUT_SOURCES[0]:
            chosen = _pick_test_image(prefix, dataset, meta)
            if chosen is None:
                return None
            x, picture, caption, label = chosen
            steps = [features.Step("Test image", picture, "As stored in the data set: already the model's size."),
                     features.Step("Normalised (the model's input)", x[0].numpy(),
                                   "(pixels/255 − mean) / std with the training set's mean and std.")]
        elif source == INPUT_SOURCES[1]:
            channels = meta["input_shape"][0]
            # A photo network's list starts with the photos it knows best (a cat, an espresso),
            # then the other photos; the patterns it has no class for come last.
            photo = image_input(f"{prefix}_photo", mode="RGB",
                                default_sample="coffee" if channels == 3 else "camera",
                                first=("chelsea", "coffee", *images.PHOTO_NAMES) if photos_only else ())
            if photo is None:
                return None
            match, invert = False, None
            if channels == 1:
                remember(f"{prefix}_match", True)  # on unless a link or the student turned it off
                keep_valid(f"{prefix}_invert", list(INVERT_CHOICES), INVERT_CHOICES[0])
                # One under the other: beside the model's column (Feature maps, Saliency), half of the
                # input's column cut the checkbox's label short in Presenter mode.
                match = st.checkbox("Make it look like the training data", key=f"{prefix}_match",
                                    help="Invert dark ink on light paper, stretch the contrast, crop to the strokes.")
                choice = st.radio("Invert", INVERT_CHOICES, horizontal=True, key=f"{prefix}_invert",
                                  disabled=not match)
                invert = {"auto": None, "yes": True, "no": False}[choice]
            steps, x = features.preprocess_steps(photo, meta, match_data=match, invert=invert)
            picture, caption = features.to_pixels(x, meta), "Your photo"
        else:
            channels, height, width = meta["input_shape"]
            drawn = _draw(prefix, meta)
            if drawn is None:
                return None
            picture, steps = drawn
            x = features.normalise(picture.reshape(height, width, channels).transpose(2, 0, 1), meta)
            steps.append(features.Step("Normalised (the model's input)", x[0].numpy(),
                                       "(pixels/255 − mean) / std with the training set's mean and std."))
            caption = "Your drawing"
    except (images.ImageInputError, features.FeatureError, data.DataError, ValueError, OSError) as err:
        st.error(f"Could not prepare this input for the model: {literal(err)}")
        return None
    _note_unlinkable(prefix, source)
    if show_steps:
        show_steps(steps, meta["input_shape"][0])
    return ModelInput(x=x, picture=np.asarray(picture), caption=caption, label=label, source=source, steps=steps)


START_VALUES_KEY = "_model_start_values"  # session key -> the chosen model's start value


def model_start_values(spec, model_key: str, values: dict) -> None:
    """When the chosen model changes, put this model's start values into the widgets' state
    (call after :func:`model_selector`, before the widgets): a 32-pixel patch suits a 224×224
    photo, an 8-pixel one a 28×28 digit. A session's first run that opened a link keeps the
    link's settings: the address already says the whole view."""
    st.session_state.setdefault(START_VALUES_KEY, {}).update(values)  # the link leaves these out
    marker = f"_{model_key}_start_values_for"
    model = st.session_state.get(model_key)
    if st.session_state.get(marker) == model:
        return
    first = marker not in st.session_state
    st.session_state[marker] = model
    in_link = {f.state_key for f in spec.fields if f.name in st.query_params} if first else set()
    defaults = spec.defaults()
    for key, value in values.items():
        # On the first run a value already changed from the page's default (kept from an
        # earlier visit, set by a test, or named by the address) stays; a model switch later
        # brings its start values.
        if key in in_link:
            continue
        if not first or st.session_state.get(key, defaults.get(key)) == defaults.get(key):
            st.session_state[key] = value


def input_link_fields(model_key: str, prefix: str, *, class_name: str = "imgclass", index_name: str = "img",
                      sample: str = "coffee") -> list:
    """The link fields of a page's model and input (:func:`model_selector` under ``model_key``,
    :func:`model_input` under ``prefix``): the model, the kind of input, the test image's class
    and number, and the sample photo. An upload or a drawing cannot travel in an address: the
    "Copy link" box says so (:func:`copy_link`)."""
    from vizcore import links, models

    from pages import _own_models

    shipped = [f"{name} (pretrained)" for name in models.pretrained_models()] or ["none"]
    # A lecturer's network travels in a link (every server of the hall has the folder), and so
    # does the upload form itself; a student's uploaded network does not.
    linkable = shipped + list(_own_models.lecturer_models()) + [_own_models.OWN_CHOICE]
    return [links.Choice("model", shipped[0], linkable, key=model_key),
            links.Choice("input", INPUT_SOURCES[0], INPUT_SOURCES, key=f"{prefix}_source"),
            links.Text(class_name, ANY_CLASS, max_length=60, key=f"{prefix}_class"),
            links.Int(index_name, 0, 0, 1_000_000, key=f"{prefix}_index"),
            links.Choice("sample", sample, tuple(images.SAMPLES), key=f"{prefix}_photo_sample"),
            # a photo for a one-channel model: made to look like the training data, inverted or not
            links.Bool("match", True, key=f"{prefix}_match"),
            links.Choice("invert", "auto", INVERT_CHOICES, key=f"{prefix}_invert")]


UNLINKABLE_KEY = "_unlinkable_input"  # this run's input that no address can carry (app.py clears it)
UNLINKABLE_MODEL_KEY = "_unlinkable_model"  # this run's uploaded network (app.py clears it)


def _note_unlinkable(prefix: str, source: str) -> None:
    """Remember for :func:`copy_link` when the input is an upload, a camera photo or a drawing."""
    photo_source = st.session_state.get(f"{prefix}_photo_source", SOURCES[0])
    if source == INPUT_SOURCES[2]:
        st.session_state[UNLINKABLE_KEY] = "your drawing"
    elif source == INPUT_SOURCES[1] and photo_source != SOURCES[0]:
        st.session_state[UNLINKABLE_KEY] = "your photo" if photo_source == "Camera" else "your upload"


PREDICTED = -1  # the class choice "the predicted class", whatever the model predicts
PREDICTED_LABEL = "the predicted class"
TOP_CHOICES = 5  # a many-class model's runners-up listed under the class choice


def class_labels(classes: list) -> list[str]:
    """One label per class, its name, made unique (a model may carry two classes of one name)."""
    names = [str(c) for c in classes]
    counts = Counter(names)  # one pass: ImageNet's 1000 names on every rerun
    seen = {n for n, times in counts.items() if times > 1}
    return [f"{n} (#{k})" if n in seen else n for k, n in enumerate(names)]


def class_choice(key: str, classes: list, probabilities, *, container=None,
                 label: str = "Explained class", help: str | None = None) -> int:
    """The class a page explains: "the predicted class" or any class by name (type to search).
    Returns its index; the class's probability is shown under the choice, from this run.

    The labels are the class names only, the same on every run of one model. The browser sends
    a select box's *label* back, and a label that carried a probability or the predicted class
    came back as a text the page no longer offered (the second "Random" broke three pages). A
    stored value that is not one of this model's choices, from a link, an older label or
    another model, is mapped back by its label where it matches and otherwise reset.
    """
    container = container or st
    labels = class_labels(classes)
    value = st.session_state.get(key, PREDICTED)
    if isinstance(value, str):
        value = labels.index(value) if value in labels else PREDICTED
    if isinstance(value, bool) or not isinstance(value, int) or not PREDICTED <= value < len(classes):
        value = PREDICTED
    st.session_state[key] = value
    choice = container.selectbox(label, [PREDICTED, *range(len(classes))], key=key, help=help,
                                 format_func=lambda k: PREDICTED_LABEL if k == PREDICTED else labels[k])
    predicted = int(np.argmax(np.asarray(probabilities)))
    target = predicted if choice == PREDICTED else int(choice)
    container.caption(f"{literal(labels[target])}: probability {float(probabilities[target]):.1%}"
                      + (" — the model's prediction" if target == predicted else
                         f"; the model predicts {literal(labels[predicted])} "
                         f"({float(probabilities[predicted]):.1%})"))
    if len(classes) > TOP_CHOICES:  # ImageNet: the close runners-up are the classes worth explaining
        top = np.argsort(-np.asarray(probabilities))[:TOP_CHOICES]
        container.caption(f"Top {TOP_CHOICES}: " + ", ".join(f"{literal(labels[k])} {float(probabilities[k]):.1%}"
                                                             for k in top)
                          + f". Type any of the {len(classes)} names in the box to explain it instead.")
    return target


@st.cache_data(max_entries=256, show_spinner=False)
def _probabilities(fingerprint: str, input_hash: str, _model, _x) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return torch.softmax(_model(_x), dim=1)[0].numpy().copy()


def explained_input(prefix: str, model, meta: dict, fingerprint: str):
    """The input block of a perturbation page (Occlusion, LIME): the input, what the model knows,
    and the model's class probabilities for it (cached: a display-only rerun runs no model).
    Returns ``(chosen, input_hash, probabilities)``; stops the page while nothing is chosen."""
    chosen = model_input(prefix, meta, show_steps=False)
    if chosen is None:
        stop_page()
    only_knows_note(meta, chosen.source)
    input_hash = content_hash(chosen.x)
    return chosen, input_hash, _probabilities(fingerprint, input_hash, model, chosen.x)


def _pick_test_image(prefix: str, dataset: str, meta: dict):
    """A test image chosen by class and number (or at random): input (normalised as ``meta``, the
    model's, says), picture, caption, label."""
    from vizcore import features

    split = test_split(dataset)
    labels = split.labels.numpy()
    c1, c2, c3 = st.columns([3, 4, 3], vertical_alignment="bottom")  # room for "Random" in a narrow column, Presenter too
    options = [ANY_CLASS] + list(split.classes)
    keep_valid(f"{prefix}_class", options, ANY_CLASS)
    wanted = c1.selectbox("Class", options, key=f"{prefix}_class")
    candidates = np.arange(len(labels)) if wanted == ANY_CLASS else np.flatnonzero(
        labels == split.classes.index(wanted))
    if candidates.size == 0:
        st.warning(f"The test set has no image of class {literal(wanted)}.")
        return None

    def random_image():
        st.session_state[f"{prefix}_index"] = int(np.random.default_rng().integers(candidates.size))

    c3.button("Random", key=f"{prefix}_random", on_click=random_image, help="Pick a random image of this class.")
    if not 0 <= st.session_state.get(f"{prefix}_index", 0) < candidates.size:
        st.session_state[f"{prefix}_index"] = 0
    # a short label: one line in Presenter mode, so the picture comes up sooner (issue 25)
    number = c2.slider(f"Image (of {candidates.size})", 0, max(candidates.size - 1, 1),
                       key=f"{prefix}_index", disabled=candidates.size == 1)
    index = int(candidates[min(number, candidates.size - 1)])
    x = features.normalise(split.images[index].numpy(), meta)
    label = int(labels[index])
    st.markdown(f"Test image #{index}, labelled **{literal(split.classes[label])}**")
    return x, test_pictures(dataset)[index], f"Test image #{index}, labelled {split.classes[label]}", label


DRAWING_TOOLS = ("Freehand", "Pixel grid")
CANVAS_PX = 280  # the freehand canvas on the page: big enough for a mouse or a finger


def _draw(prefix: str, meta: dict) -> tuple[np.ndarray, list] | None:
    """A drawing for the model: freehand on a canvas, or painted cell by cell on a coarse grid.

    Returns the picture at the model's size and its way there (``features.Step``s, the picture
    last), or None while the canvas is still empty. A freehand digit for the digits model is
    made to look like that data first (:func:`vizcore.features.digit_drawing_steps`).
    """
    from pages import _canvas
    from vizcore import features

    channels, height, width = meta["input_shape"]
    border = 4 if channels == 1 and height == 28 else 0
    tools = DRAWING_TOOLS if _canvas.available() else DRAWING_TOOLS[1:]
    keep_valid(f"{prefix}_tool", list(tools), tools[0])
    tool = st.radio("Drawing tool", tools, horizontal=True, key=f"{prefix}_tool",
                    help="Freehand: draw with the mouse or a finger. Pixel grid: paint exact cells.")
    colour, background = None, (0, 0, 0)
    if channels == 3:
        c1, c2, _ = st.columns([1, 1, 3])
        colour = _hex(c1.color_picker("Ink colour", "#e6194b", key=f"{prefix}_ink"))
        background = _hex(c2.color_picker("Background", "#1f3a93", key=f"{prefix}_paper"))
    if tool == "Pixel grid":
        grid = _pixel_grid(prefix, meta)
    else:
        st.caption("Draw white on black with the mouse or a finger; the toolbar that appears over the "
                   "square undoes, clears or resets.")
        st.space(36)  # room for that toolbar: it floats above the square
        ink = _canvas.draw_canvas(f"{prefix}_freehand", CANVAS_PX, CANVAS_PX)
        if ink is None or not ink.any():
            st.info("Draw on the black square; the model reads your drawing when you let go.")
            return None
        if meta.get("dataset") == "digits" and (channels, height, width) == (1, 28, 28):
            steps = features.digit_drawing_steps(ink)
            return steps[-1].image, steps
        grid = _canvas.to_grid(ink, height - 2 * border, width - 2 * border)
    picture = features.drawing_to_picture(grid, height, width, border=border, smooth=channels == 1,
                                          colour=colour, background=background)
    return picture, [features.Step("Your drawing", picture, f"Enlarged to {height}×{width} pixels.")]


def _pixel_grid(prefix: str, meta: dict) -> np.ndarray:
    """A coarse pixel editor: select cells (click, box or lasso) to paint or erase them."""
    from vizcore import features
    from vizcore.figures import features as feature_figs

    channels = meta["input_shape"][0]
    grid_side = 8 if meta.get("dataset") == "digits" else 14 if channels == 1 else 16
    key = f"{prefix}_canvas_{grid_side}"
    version_key = f"{prefix}_canvas_version"
    if key not in st.session_state:
        preset = PRESET_DRAWINGS.get(grid_side)
        st.session_state[key] = (np.array([[ch == "#" for ch in row] for row in preset], dtype=np.float32)
                                 if preset else np.zeros((grid_side, grid_side), np.float32))
    st.session_state.setdefault(version_key, 0)

    def fresh_canvas():  # a new brush or a cleared grid starts a fresh chart: no old selection again
        st.session_state[version_key] = st.session_state.get(version_key, 0) + 1

    c1, c2 = st.columns([3, 1])
    c1.radio("Brush", list(BRUSHES), horizontal=True, key=f"{prefix}_brush", on_change=fresh_canvas)
    if c2.button("Clear", key=f"{prefix}_clear", on_click=fresh_canvas):
        st.session_state[key] = np.zeros((grid_side, grid_side), np.float32)
    grid = st.session_state[key]
    chart_key = f"{prefix}_draw_{st.session_state[version_key]}"

    def paint():
        """Paint the newly selected cells (runs before the page reruns)."""
        selection = st.session_state.get(chart_key) or {}
        cells = features.selected_cells((selection.get("selection") or {}).get("points", []), grid.shape)
        for i, j in cells:
            grid[i, j] = BRUSHES[st.session_state.get(f"{prefix}_brush", "Paint")]

    st.plotly_chart(feature_figs.drawing_canvas(grid), key=chart_key, on_select=paint,
                    selection_mode=("points", "box", "lasso"), config=PLOTLY_CONFIG)
    st.caption(f"A {grid_side}×{grid_side} grid: click a cell to paint it, or pick the box or lasso tool in "
               "the chart's toolbar and drag over several. "
               + ("The digits data set was scanned at 8×8 and enlarged the same way." if grid_side == 8 else ""))
    return grid


def _hex(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[k:k + 2], 16) for k in (1, 3, 5))


STEPS_PER_ROW = 4  # a quarter of the page is wider than STEP_WIDTH at 1280×720, Presenter mode too


@st.cache_data(max_entries=64, show_spinner=False)
def _step_tile(image_hash: str, channel: int, _image: np.ndarray) -> bytes | np.ndarray:
    """One step's picture as PNG bytes at the steps' size: ``channel`` -1 for a picture, else
    that channel of the normalised input (red above 0, blue below). Cached: every rerun of a
    model page showed the same steps, and drawing and encoding them took ~20 ms."""
    from vizcore.figures import features as feature_figs

    picture = feature_figs.pixelated(_image if channel < 0 else feature_figs.diverging_picture(_image[channel]),
                                     STEP_WIDTH)
    if picture.dtype != np.uint8:
        return picture  # st.image reads a float picture as 0…1 itself
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(picture)).save(buffer, format="PNG")
    return buffer.getvalue()


def show_steps(steps: list, channels: int) -> None:
    """The picture's way into the model, each step at the same size, pixels kept square.

    Rows of ``STEPS_PER_ROW`` equal columns, each wider than a picture, so neither pictures nor
    captions run into their neighbours (issue 17); a three-channel model's normalised input
    gets a row of its own (R, G, B and the note).
    """
    st.markdown("**On its way into the model**")
    last = steps[-1]

    def plain(step):
        st.image(_step_tile(content_hash(step.image), -1, step.image), caption=step.title, width=STEP_WIDTH)
        st.caption(step.note)

    def note(step):  # the normalised input has values of both signs
        return (f"{step.note} Red above 0, blue below (from {step.image.min():.2f} "
                f"to {step.image.max():.2f}).")

    def channel(step, c: int, caption: str):
        st.image(_step_tile(content_hash(step.image), c, step.image), caption=caption, width=STEP_WIDTH)

    cells = [lambda step=step: plain(step) for step in steps[:-1]]
    if channels == 1:
        cells.append(lambda: (channel(last, 0, last.title), st.caption(note(last))))
    for start in range(0, len(cells), STEPS_PER_ROW):
        for column, cell in zip(st.columns(STEPS_PER_ROW), cells[start:start + STEPS_PER_ROW]):
            with column:
                cell()
    if channels > 1:
        columns = st.columns(STEPS_PER_ROW)
        for c, column in enumerate(columns[:3]):
            with column:
                channel(last, c, "RGB"[c] if c < 3 else str(c))
        with columns[3]:
            st.caption(f"**{last.title}**")
            st.caption(note(last))


# --- long runs: a Run button, and Stop while it runs ----------------------------------------------

AUTO_SECONDS = 1.5  # runs estimated shorter than this start by themselves


class _RunSlots:
    """The Run and Stop buttons' places, emptied together once the run is done."""

    def __init__(self, *slots):
        self.slots = slots

    def empty(self) -> None:
        for slot in self.slots:
            slot.empty()


def _forget(key: str) -> None:
    st.session_state[key] = None


def run_controls(prefix: str, label: str, key: tuple, estimate: float | tuple[float, float], *,
                 hint: str = "press the button to start it"):
    """For a run estimated longer than AUTO_SECONDS: a Run button (``label``), then a Stop button
    while it runs. Shared by Occlusion and LIME; buttons ``{prefix}_run`` and ``{prefix}_stop``.

    Returns None while the run waits for its button (the page stops there), else the buttons'
    places to empty once the run is done. The request is kept per ``key`` (the run's settings),
    so a rerun of the same settings runs on; Stop forgets it, and the rerun Stop triggers (which
    interrupts the run) leaves the page usable without starting again.
    """
    from vizcore.explain import _forward

    # A range (low, high): the time this server's recent runs measured; it waits for its button
    # unless even the slow end is short.
    low, high = estimate if isinstance(estimate, tuple) else (estimate, estimate)
    if high <= AUTO_SECONDS:
        return _RunSlots()
    wanted = f"{prefix}_requested"
    run = st.empty()
    if st.session_state.get(wanted) != key:
        if not run.button(label, key=f"{prefix}_run", type="primary"):
            st.info(f"This takes about {_forward.format_span(low, high)}: {hint}.")
            return None
        st.session_state[wanted] = key
    # The Stop button comes after the Run button's place, never in it: a button drawn where the
    # clicked one was did not receive its own click in the browser (tested).
    stop = st.empty()
    stop.button("Stop", key=f"{prefix}_stop", on_click=_forget, args=(wanted,),
                help="Stop this run; the page stays usable.")
    return _RunSlots(run, stop)


# --- presenter mode and links (classroom, issue 12) ----------------------------------------------

PRESENTER_KEY = "presenter"
# Every page at 1280×720: Streamlit's 6rem empty band above the title goes, and a page title stays
# on one line (2.75rem titles broke "LIME: explain one prediction…" in two), so the first picture
# and the controls that make it come up on the first screen.
APP_CSS = ("<style>[data-testid='stMainBlockContainer'] { padding: 1.5rem 2.5rem 4rem 2.5rem !important; } "
           "[data-testid='stMain'] h1 { font-size: 2.1rem !important; padding-top: 0.25rem !important; } "
           # A metric's value or label too long for its column wraps at its spaces instead of ending in
           # "…" (Presenter mode's letters cut "(None, 4, 4, 4)" short).
           "[data-testid='stMetricValue'], [data-testid='stMetricValue'] *, [data-testid='stMetricLabel'] * "
           "{ white-space: normal !important; overflow: visible !important; text-overflow: clip !important; } "
           # At 1280×720 the 13 pages' list filled the sidebar: Presenter, Copy link and the playground's
           # own controls needed a scroll nobody found (issue 25). A tighter list (in px, so Presenter
           # mode's larger root font does not undo it) leaves them on the first screen.
           "[data-testid='stSidebarHeader'] { height: 40px !important; margin-bottom: 2px !important; } "
           "[data-testid='stSidebarNavLink'] { height: 24px !important; min-height: 0 !important; margin: 1px 0 !important; } "
           "[data-testid='stSidebarNavLink'] span { font-size: 16px !important; line-height: 24px !important; } "
           "[data-testid='stNavSectionHeader'] { font-size: 14px !important; line-height: 18px !important; "
           "margin: 6px 0 2px 0 !important; } "
           "[data-testid='stSidebarNavSeparator'] { padding-top: 6px !important; } "
           "[data-testid='stSidebarUserContent'] { padding-top: 8px !important; } "
           # On a phone Streamlit's top bar covers the page's first 4rem: the title started under it.
           "@media (max-width: 640px) { [data-testid='stMainBlockContainer'] { padding: 4.25rem 1rem 4rem 1rem !important; } }"
           "</style>")

# --- Back-row readability (issue 25), kept apart from the layout rules above ---------------------
# WCAG's 4.5 : 1 for text, read from the back row. Streamlit fades captions (the pages' intros)
# with opacity 0.6, 3.9 : 1 on white: here opaque, in a grey that keeps 8 : 1; a table's header
# cells (5.3 : 1, but the "light grey" network names) take the text colour. Its code
# highlighting is lighter still (numbers 2.6 : 1, operators 3.0, punctuation 3.6): here the same
# hues, darker, each at least 6 : 1 on the code's background. Inline code (the size formulas) is
# 0.75em by default: here nearly the size of the text round it; its colour is the theme's
# codeTextColor (.streamlit/config.toml).
_CODE = "[data-testid='stCode'] .token"
_READABLE_CSS = ("<style>"
                 "[data-testid='stCaptionContainer'] { color: #55514b !important; opacity: 1 !important; } "
                 # a table's headers and index (the Architectures table's network names): 70 % text colour
                 "[data-testid='stMain'] table th, [data-testid='stMain'] table th * { color: inherit !important; } "
                 "[data-testid='stMarkdownContainer'] code { font-size: 0.95em !important; } "
                 f"{_CODE}:is(.comment, .prolog, .doctype, .cdata, .punctuation) {{ color: #5c5955 !important; }} "
                 f"{_CODE}:is(.number, .boolean, .constant, .symbol, .property, .tag, .deleted) {{ color: #0d6b60 !important; }} "
                 f"{_CODE}:is(.operator, .entity, .url, .variable, .regex, .important) {{ color: #a04a00 !important; }} "
                 f"{_CODE}:is(.keyword, .builtin, .atrule, .attr-value, .selector, .attr-name) {{ color: #0b5394 !important; }} "
                 f"{_CODE}:is(.string, .char, .inserted) {{ color: #1d6b35 !important; }} "
                 "</style>")
APP_CSS += _READABLE_CSS

# Streamlit sizes its text in rem: a larger root font enlarges every heading, label and caption.
# The sidebar's section headings are set in px (APP_CSS): at least 16 px here, as all text.
_PRESENTER_CSS = ("<style>html { font-size: 22px; } [data-testid='stSidebar'] { min-width: 340px; } "
                  "[data-testid='stNavSectionHeader'] { font-size: 16px !important; }</style>")


def presenting() -> bool:
    """Whether the sidebar's Presenter switch is on (larger text, long explanations hidden)."""
    return bool(st.session_state.get(PRESENTER_KEY, False))


def presenter_switch() -> bool:
    """The Presenter switch in the sidebar; app.py draws it on every page.

    A link with ``presenter=1`` opens with it on. With it on, every figure's fonts are larger
    (:func:`show_figure`), so is the page's text, and :func:`explain` texts are hidden.
    """
    if "_presenter_link_read" not in st.session_state:
        st.session_state["_presenter_link_read"] = True
        if st.query_params.get(PRESENTER_KEY, "").lower() in ("1", "true", "yes", "on"):
            st.session_state[PRESENTER_KEY] = True
    on = st.sidebar.toggle("Presenter", key=PRESENTER_KEY,
                           help="For a projector: larger text in every figure and on the page, long "
                                "explanations hidden. A link with presenter=1 opens this way.")
    if on:
        st.html(_PRESENTER_CSS)
    return on


def shared_link_params() -> dict[str, str]:
    """The query parameters that belong to the whole app (the Presenter switch), to keep in
    every page's address. A live class member's class too (``class=CODE``): a reconnect that
    lands on another replica (a new session) rejoins from the address."""
    shared = {PRESENTER_KEY: "1"} if presenting() else {}
    member = st.session_state.get("_live_member")  # pages/_live.py's MEMBER (not imported: it imports this)
    if member:
        shared["class"] = member
    return shared


def keep_presenter_in_link() -> None:
    """After a page ran (app.py): the address says presenter=1 exactly when presenting."""
    if presenting():
        if st.query_params.get(PRESENTER_KEY) != "1":
            st.query_params[PRESENTER_KEY] = "1"
    elif PRESENTER_KEY in st.query_params:
        del st.query_params[PRESENTER_KEY]


def explain(text: str, *, kind: str = "caption") -> None:
    """A long explanation (app text, markdown allowed): shown, except in presenter mode, where
    the lecturer says it. ``kind``: "markdown", "caption" or "info"."""
    if not presenting():
        {"markdown": st.markdown, "caption": st.caption, "info": st.info}[kind](text)


IMAGENET_NOTE = ("This network knows the 1000 classes of ImageNet: everyday objects, animals (118 of them dog "
                 "breeds), food, vehicles, instruments. It has no class for people, faces or astronauts: "
                 "whatever the photo shows, it answers with one of its 1000 (a person often gets the name of "
                 "something worn or held).")


def only_knows_note(meta: dict, source: str) -> None:
    """For a photo or a drawing fed to a model: say that it only knows its own classes (it
    answers with one of them, however far the picture is from its training data). Nothing for
    a test image of the model's own data set (``source`` is one of ``INPUT_SOURCES``), nor for
    a drawing fed to a model of hand-drawn digits (``DRAWN_DATASETS``)."""
    if source == INPUT_SOURCES[0] or (source == INPUT_SOURCES[2] and meta.get("dataset") in DRAWN_DATASETS):
        return
    if meta.get("dataset") == "imagenet":
        st.info(IMAGENET_NOTE)
        return
    classes = [str(c) for c in meta.get("classes", [])]
    names = ", ".join(classes[:12]) + (f" … ({len(classes)} in all)" if len(classes) > 12 else "")
    st.info(f"This model only knows the {len(classes)} classes of its training data "
            f"({literal(meta.get('dataset', 'its data set'))}): {literal(names)}. Whatever the picture shows, it "
            "answers with one of them; a confident answer for a picture unlike its data means little.")


FULL_LINK_KEY = "_full_link"  # set by the live class before a follower's page reads the lecturer's view


def link_state(spec, page: str, *, fill_defaults: bool = True) -> None:
    """Call at the top of a page, before its widgets: the page's state from its address.

    ``spec`` is a :class:`vizcore.links.LinkSpec`; ``page`` a short unique name. On the
    session's first run of the page, the address's values go into ``st.session_state`` under
    each field's key, and any refused entry is shown as a warning (quoted literally). Every key
    then holds a value (the one kept from an earlier visit, else the default), so the widgets
    must take their value from session state only (``key=...``, never ``value=``/``index=``).
    ``fill_defaults=False`` leaves keys the address does not set alone (the page gives them
    their start values itself). Call :func:`write_link_state` at the end of the page.
    """
    read = f"_link_read_{page}"
    if read not in st.session_state:
        st.session_state[read] = True
        values, problems = spec.decode(st.query_params.to_dict())
        if st.session_state.pop(FULL_LINK_KEY, False):  # the lecturer's whole view: what it leaves out is its default
            for key in spec.defaults():
                st.session_state.pop(key, None)
                st.session_state.pop(f"{key}__kept", None)
        st.session_state.update(values)
        if problems:
            show_text("Some settings in the link were not understood and were left as they were: "
                      + "; ".join(problems), "warning")
    for key, default in spec.defaults().items():
        if key not in st.session_state:  # a widget's key is dropped when another page is shown
            if f"{key}__kept" in st.session_state:
                st.session_state[key] = st.session_state[f"{key}__kept"]
            elif fill_defaults:
                st.session_state[key] = default


def write_link_state(spec) -> None:
    """Call at the end of a page: the address holds every linked setting that differs from its
    default (and presenter=1 when presenting), so the address bar is always a working link."""
    for f in spec.fields:
        if f.state_key in st.session_state:
            st.session_state[f"{f.state_key}__kept"] = st.session_state[f.state_key]
    start_values = st.session_state.get(START_VALUES_KEY)
    out = {**spec.encode(st.session_state, start_values), **shared_link_params()}
    # What a setting left out of the address opens with: its default, or the model's start value.
    log_arguments("link-defaults", **{f.name: (start_values or {}).get(f.state_key, f.default) for f in spec.fields})
    if st.query_params.to_dict() != out:
        st.query_params.from_dict(out)


def page_link(spec=None) -> str:
    """This page's full address: with ``spec`` (a LinkSpec) the current settings encoded, else
    the current query parameters."""
    from urllib.parse import urlencode

    if spec is None:
        query = st.query_params.to_dict()
    else:
        query = {**spec.encode(st.session_state, st.session_state.get(START_VALUES_KEY)), **shared_link_params()}
    base = st.context.url or ""
    return base + ("?" + urlencode(query) if query else "")


def copy_link(spec=None, label: str = "Copy link") -> None:
    """A small "Copy link" box for the lecturer: this view's address with all its settings and a
    copy button. ``spec``: the page's LinkSpec (the link then follows this run's settings even
    when the box is drawn before the widgets)."""
    with st.popover(label):
        st.caption("This address opens this page with the same settings:")
        st.code(page_link(spec), language=None, wrap_lines=True)
        unlinkable = " and ".join(filter(None, (st.session_state.get(UNLINKABLE_MODEL_KEY),
                                                st.session_state.get(UNLINKABLE_KEY))))
        if st.session_state.get(UNLINKABLE_MODEL_KEY):
            st.caption("An uploaded network lives in your session only: the link opens the page's first "
                       "model (a lecturer's network from the models folder can travel in a link).")
        if unlinkable:
            st.caption(f"An address cannot carry {unlinkable}: the link opens these settings with the "
                       "input its address names (a test image or a sample photo).")


def sidebar_link_place(place) -> None:
    """app.py: where the sidebar's "Copy link" box goes in this run (right under the Presenter
    switch, so it is on the first screen above a page's own sidebar controls)."""
    _frame.link_place = place


def finish_link(spec=None) -> None:
    """Call last on a page: write its settings into the address (``spec``; without one the page
    wrote its address itself) and put the "Copy link" box in the sidebar."""
    if spec is not None:
        write_link_state(spec)
    place = getattr(_frame, "link_place", None)  # set by app.py's frame for this run only
    with place if place is not None else st.sidebar:
        copy_link()


def warm_up_plotly():
    """On a session's first run, before the page itself: a tiny chart in the sidebar, so the
    browser fetches and starts Plotly (its largest script) while the page's script runs.
    Returns the placeholder; app.py empties it after the page ran."""
    if "_plotly_warm" in st.session_state:
        return None
    st.session_state["_plotly_warm"] = True
    slot = st.sidebar.empty()
    slot.plotly_chart({"data": [{"type": "scatter", "x": [0], "y": [0], "hoverinfo": "skip",
                                 "marker": {"opacity": 0}}],  # nothing to see: transparent, 10 px high
                       "layout": {"height": 10, "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
                                  "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
                                  "xaxis": {"visible": False}, "yaxis": {"visible": False}}},
                      config={"displayModeBar": False, "staticPlot": True}, theme=None, key="_plotly_warm_chart")
    return slot


# --- the error boundary (app.py) -----------------------------------------------------------------

ERROR_MESSAGE = ("Something went wrong on this page, and it has been noted on the server. Reload the page "
                 "(the link keeps your settings), or change a setting and try again.")
log = get_logger("seeing_convolutions")


class PageStopped(BaseException):
    """Raised by :func:`stop_page`; ends the page, never the script run (a BaseException, like
    st.stop's, so a page's ``except Exception`` lets it pass)."""


_frame = threading.local()  # per script thread: whether this run's page runs inside app.py's frame


def stop_page(spec=None) -> NoReturn:
    """End the page's run here: use it instead of ``st.stop()``. With ``spec`` (the page's
    LinkSpec) the address is written first.

    ``st.stop()`` ends the whole script run as "stopped early", and Streamlit then skips its
    end-of-run bookkeeping: the state of every widget this run did not draw is kept, while the
    browser removes those widgets. Drawn again later (after an upload, say), such a widget
    took its lowest value in the browser while the server computed with the kept one, and the
    next click sent the lowest values back (issue 25). Inside app.py's frame this ends only the
    page, so the run finishes normally; a page run on its own (AppTest) uses st.stop().
    """
    if spec is not None:
        write_link_state(spec)
    if getattr(_frame, "active", False):
        raise PageStopped
    st.stop()


@contextlib.contextmanager
def error_boundary():
    """The frame around a page (app.py). :func:`stop_page` ends the page here. An unexpected
    exception becomes a short message a lecturer can act on; the traceback goes to the
    server's log under Streamlit's own words "Uncaught app execution", so a test that reads the
    log still fails. st.rerun passes through (a BaseException, not an error)."""
    _frame.active = True
    try:
        yield
    except PageStopped:
        pass
    except Exception:  # noqa: BLE001 - the boundary: everything a page did not expect
        log.exception("Uncaught app execution (shown to the user as a short message)")
        st.error(ERROR_MESSAGE)
    finally:
        _frame.active = False
        _frame.link_place = None


# --- cache keys --------------------------------------------------------------------------------

def content_hash(*arrays) -> str:
    """A hash of every byte, shape and dtype of arrays or tensors, for cache keys.

    Streamlit samples large arrays when it hashes them, so two inputs that differ in one pixel
    could share a cached result; this reads them whole.
    """
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def log_arguments(page: str, **values) -> None:
    """When asked (``VIZCORE_LOG_ARGUMENTS``), one line with the settings a page's computation
    has just used, by their link names: the browser tests hold them against what the page shows
    and what its address says."""
    import json
    import os
    import sys

    if os.environ.get("VIZCORE_LOG_ARGUMENTS"):
        print(f"[vizcore] arguments {page} {json.dumps(values, default=str)}", file=sys.stderr, flush=True)


def log_computation(what: str) -> None:
    """One line per real computation when asked (the lecture-hall benchmark counts them)."""
    import os
    import sys

    if os.environ.get("VIZCORE_LOG_COMPUTATIONS"):
        print(f"[vizcore] computed {what}", file=sys.stderr, flush=True)
