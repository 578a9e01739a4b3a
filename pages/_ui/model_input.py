"""The input of a model: a test image, a photo or a drawing, its way into the model (the
preprocessing steps), its link fields, and what the model knows about such a picture."""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import streamlit as st
from PIL import Image

from pages._ui.figures import PLOTLY_CONFIG
from pages._ui.links import UNLINKABLE_KEY
from pages._ui.models import carry_input
from pages._ui.picture import SOURCES, image_input
from pages._ui.runs import content_hash
from pages._ui.state import keep_valid, remember
from pages._ui.text import literal
from vizcore import images

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


def model_input(prefix: str, meta: dict) -> ModelInput | None:
    """The input block of every page that feeds a model: a test image, a photo or a drawing.

    Shows the choice and any problem as a message; returns None when nothing usable is chosen.
    The picture's way into the model comes back as ``steps`` (a page draws them where they fit:
    :func:`show_steps`). Widget keys are ``f"{prefix}_..."``.
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
    return ModelInput(x=x, picture=np.asarray(picture), caption=caption, label=label, source=source, steps=steps)


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


def _note_unlinkable(prefix: str, source: str) -> None:
    """Remember for :func:`copy_link` when the input is an upload, a camera photo or a drawing."""
    photo_source = st.session_state.get(f"{prefix}_photo_source", SOURCES[0])
    if source == INPUT_SOURCES[2]:
        st.session_state[UNLINKABLE_KEY] = "your drawing"
    elif source == INPUT_SOURCES[1] and photo_source != SOURCES[0]:
        st.session_state[UNLINKABLE_KEY] = "your photo" if photo_source == "Camera" else "your upload"


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
