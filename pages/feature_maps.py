"""Feature maps: one image through a small CNN, layer by layer — every channel, the filters that
made it, what each value sees of the input, and which data-set patches excite a channel most."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch

from pages._ui import PLOTLY_CONFIG, download_array, image_input, model_selector, show_figure
from vizcore import data, feature_plots, features, images
from pages import route_through_app

route_through_app()  # a cold deep link runs inside app.py's frame

SOURCES = ("Test image from the data set", "Photo (sample, upload or camera)", "Draw")
PRESET_DRAWINGS = {  # a first drawing, so the Draw view shows something the model can read
    8: ["........", ".#######", ".....##.", "....##..", "...##...", "...##...", "..##....", "..#....."],
}
ANY_CLASS = "any class"
BRUSHES = {"Paint": 1.0, "Half ink": 0.5, "Erase": 0.0}  # ink a selected cell gets

st.title("Feature maps: inside a CNN")
st.caption(
    "Feed one image through a small trained CNN and look at what every layer makes of it: each "
    "convolution filter gives one feature map (a channel), ReLU keeps the positive evidence, pooling "
    "shrinks the maps, and the last layers turn them into class probabilities. Each value of a feature "
    "map looks at a window of the input, its receptive field."
)


# --- cached work ------------------------------------------------------------------------------

@st.cache_resource(max_entries=4, show_spinner="Loading the test images…")
def test_split(dataset: str) -> data.DataSplit:
    return data.load_dataset(dataset, "test")


@st.cache_resource(max_entries=4, show_spinner=False)
def test_pictures(dataset: str) -> np.ndarray:
    """The test images as pictures (N, H, W) or (N, H, W, 3), for the patch crops."""
    pixels = test_split(dataset).images.numpy()
    return pixels[:, 0] if pixels.shape[1] == 1 else pixels.transpose(0, 2, 3, 1)


@st.cache_resource(max_entries=8, show_spinner="Running the whole test set through the model (once per model)…")
def top_activations(fingerprint: str, dataset: str, k: int, _model: torch.nn.Module) -> dict:
    # Keyed on the weights' hash: a retrained model never reuses another model's answer. A resource,
    # not data: read-only arrays shared by all sessions, without a copy per rerun.
    split = test_split(dataset)
    return features.top_activations(_model, split.x, k=k)


def dataset_of(meta: dict) -> str | None:
    """The model's data set if its test split can be loaded here, else None."""
    name = meta.get("dataset")
    try:
        return name if name in data.available_datasets() else None
    except data.DataError:
        return None


# --- model --------------------------------------------------------------------------------------

model, meta = model_selector("fm_model")
channels, height, width = meta["input_shape"]
classes = list(meta["classes"])
dataset = dataset_of(meta)
fingerprint = features.model_fingerprint(model)


# --- input --------------------------------------------------------------------------------------

def pick_test_image() -> tuple[torch.Tensor, np.ndarray, str] | None:
    """A test image chosen by class and number (or at random): model input, picture, caption."""
    split = test_split(dataset)
    labels = split.labels.numpy()
    c1, c2, c3 = st.columns([2, 3, 1])
    _keep_valid("fm_class", [ANY_CLASS] + list(split.classes), ANY_CLASS)
    wanted = c1.selectbox("Class", [ANY_CLASS] + list(split.classes), key="fm_class")
    candidates = np.arange(len(labels)) if wanted == ANY_CLASS else np.flatnonzero(
        labels == split.classes.index(wanted))
    if candidates.size == 0:
        st.warning(f"The test set has no image of class {wanted}.")
        return None

    def random_image():
        st.session_state["fm_index"] = int(np.random.default_rng().integers(candidates.size))

    c3.button("Random", key="fm_random", on_click=random_image, help="Pick a random image of this class.")
    if st.session_state.get("fm_index", 0) >= candidates.size:
        st.session_state["fm_index"] = 0
    number = c2.slider(f"Image ({candidates.size} in the test set)", 0, max(candidates.size - 1, 1),
                       key="fm_index", disabled=candidates.size == 1)
    index = int(candidates[min(number, candidates.size - 1)])
    x = split.normalize(split.images[index]).unsqueeze(0)
    picture = test_pictures(dataset)[index]
    return x, picture, f"Test image #{index}, labelled **{split.classes[int(labels[index])]}**"


def draw() -> np.ndarray:
    """A coarse pixel editor: select cells (click, box or lasso) to paint or erase them."""
    grid_side = 8 if meta.get("dataset") == "digits" else 14 if channels == 1 else 16
    key = f"fm_canvas_{grid_side}"
    if key not in st.session_state:
        preset = PRESET_DRAWINGS.get(grid_side)
        st.session_state[key] = (np.array([[ch == "#" for ch in row] for row in preset], dtype=np.float32)
                                 if preset else np.zeros((grid_side, grid_side), np.float32))
    st.session_state.setdefault("fm_canvas_version", 0)
    c1, c2, c3 = st.columns([2, 2, 1])
    # A new brush or a cleared grid starts a fresh chart: an old selection is not applied again.
    c1.radio("Brush", list(BRUSHES), horizontal=True, key="fm_brush", on_change=_fresh_canvas)
    if c3.button("Clear", key="fm_clear", on_click=_fresh_canvas):
        st.session_state[key] = np.zeros((grid_side, grid_side), np.float32)
    colour, background = None, (0, 0, 0)
    if channels == 3:
        colour = _hex(c2.color_picker("Ink colour", "#e6194b", key="fm_ink"))
        background = _hex(c2.color_picker("Background", "#1f3a93", key="fm_paper"))
    grid = st.session_state[key]
    chart_key = f"fm_draw_{st.session_state['fm_canvas_version']}"

    def paint():
        """Paint the newly selected cells (runs before the page reruns)."""
        selection = st.session_state.get(chart_key) or {}
        cells = features.selected_cells((selection.get("selection") or {}).get("points", []), grid.shape)
        for i, j in cells:
            grid[i, j] = BRUSHES[st.session_state.get("fm_brush", "Paint")]

    st.plotly_chart(feature_plots.drawing_canvas(grid), key=chart_key, on_select=paint,
                    selection_mode=("points", "box", "lasso"), config=PLOTLY_CONFIG)
    st.caption(f"A {grid_side}×{grid_side} grid: click a cell to paint it, or pick the box or lasso tool in "
               "the chart's toolbar and drag over several. "
               + ("The digits data set was scanned at 8×8 and enlarged the same way." if grid_side == 8 else ""))
    border = 4 if channels == 1 and height == 28 else 0
    return features.drawing_to_picture(grid, height, width, border=border, smooth=channels == 1,
                                       colour=colour, background=background)


def _keep_valid(key: str, options: list, default) -> None:
    """Reset a widget's kept value that the current model does not offer (e.g. after a model switch)."""
    if key in st.session_state and st.session_state[key] not in options:
        st.session_state[key] = default


def _fresh_canvas() -> None:
    st.session_state["fm_canvas_version"] = st.session_state.get("fm_canvas_version", 0) + 1


def _hex(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[k:k + 2], 16) for k in (1, 3, 5))


st.subheader("1 · The input")
sources = SOURCES if dataset else SOURCES[1:]
if not dataset:
    st.info(f"The data set of this model ({meta.get('dataset', 'unknown')}) is not available here: "
            "use a photo or a drawing.")
source = st.radio("Input", sources, horizontal=True, key="fm_source")
caption = ""
try:
    if source == SOURCES[0]:
        chosen = pick_test_image()
        if chosen is None:
            st.stop()
        x, input_picture, caption = chosen
        steps = [features.Step("Test image", input_picture, "As stored in the data set: already the model's size."),
                 features.Step("Normalised (the model's input)", x[0].numpy(),
                               "(pixels/255 − mean) / std with the training set's mean and std.")]
    elif source == SOURCES[1]:
        photo = image_input("fm_photo", mode="RGB", default_sample="coffee" if channels == 3 else "camera")
        if photo is None:
            st.stop()
        match, invert = False, None
        if channels == 1:
            c1, c2 = st.columns(2)
            match = c1.checkbox("Make it look like the training data", value=True, key="fm_match",
                                help="Invert dark ink on light paper, stretch the contrast, crop to the strokes.")
            choice = c2.radio("Invert", ("auto", "yes", "no"), horizontal=True, key="fm_invert",
                              disabled=not match)
            invert = {"auto": None, "yes": True, "no": False}[choice]
        steps, x = features.preprocess_steps(photo, meta, match_data=match, invert=invert)
        input_picture = features.to_pixels(x, meta)
    else:
        drawing = draw()
        steps = [features.Step("Your drawing", drawing, f"Enlarged to {height}×{width} pixels.")]
        x = features.normalise(drawing.reshape(height, width, channels).transpose(2, 0, 1), meta)
        steps.append(features.Step("Normalised (the model's input)", x[0].numpy(),
                                   "(pixels/255 − mean) / std with the training set's mean and std."))
        input_picture = drawing
except (images.ImageInputError, features.FeatureError, data.DataError, ValueError, OSError) as err:
    st.error(f"Could not prepare this input for the model: {err}")
    st.stop()

if caption:
    st.markdown(caption)
st.markdown("**On its way into the model**")
STEP_WIDTH = 150  # pixels on the page: every step drawn at the same size, pixels kept square
widths = [1] * (len(steps) - 1) + [channels]
step_columns = st.columns(widths + [max(1, 7 - sum(widths))])  # a spacer keeps small steps small
for column, step in zip(step_columns, steps):
    with column:
        if step is steps[-1]:  # the normalised input has values of both signs
            tiles = [feature_plots.pixelated(feature_plots.diverging_picture(c), STEP_WIDTH) for c in step.image]
            st.image(tiles, caption=[step.title] if channels == 1 else ["R", "G", "B"], width=STEP_WIDTH)
            if channels > 1:
                st.caption(f"**{step.title}**")
            st.caption(f"{step.note} Red above 0, blue below (from {step.image.min():.2f} to {step.image.max():.2f}).")
        else:
            st.image(feature_plots.pixelated(step.image, STEP_WIDTH), caption=step.title, width=STEP_WIDTH)
            st.caption(step.note)

acts = features.activations(model, x)
acts_one = {name: out[0].numpy() for name, out in acts.items()}
prediction = features.top_classes(acts[features.SOFTMAX], classes, k=5)

st.subheader("2 · The prediction")
left, right = st.columns([1, 3])
best, p_best = prediction[0]
left.metric("Predicted class", best, f"{100 * p_best:.1f}% sure", delta_color="off")
with right:
    show_figure(feature_plots.probabilities_bar(prediction, title="Top 5 classes", height=300), key="fm_top5")
show_figure(feature_plots.network_overview(input_picture, acts_one, classes=classes), key="fm_overview")
st.caption("The whole network, left to right, each column titled with its tensor shape (channels×rows×cols). "
           "Maps show their first 6 channels, each on its own colour range; hover for the values.")


# --- one layer ---------------------------------------------------------------------------------

st.subheader("3 · One layer up close")
spatial = [name for name, out in acts_one.items() if out.ndim == 3]
layer_modules = dict(model.named_children())
c1, c2 = st.columns([2, 3])
_keep_valid("fm_layer", spatial, spatial[0])
layer = c1.selectbox("Layer", spatial, key="fm_layer",
                     format_func=lambda n: f"{n} ({type(layer_modules[n]).__name__}, "
                                           f"{'×'.join(map(str, acts_one[n].shape))})")
shared = c2.toggle("One colour scale for all channels", value=True, key="fm_shared",
                   help="Off: each channel stretched to its own range, so weak channels show their pattern too.")
maps = acts_one[layer]
show_figure(feature_plots.channel_grid(maps, shared_scale=shared, title=f"{layer}: all {maps.shape[0]} channels"),
            key="fm_grid")

conv_names = features.conv_layers(model)
if layer in conv_names:
    weights = features.filters(model, layer)
    with st.expander(f"The {weights.shape[0]} filters of {layer} ({weights.shape[1]} input channel"
                     f"{'s' if weights.shape[1] > 1 else ''}, {weights.shape[2]}×{weights.shape[3]})", expanded=True):
        if weights.shape[1] == 3 and layer == conv_names[0]:
            show_figure(feature_plots.filters_in_colour(weights, title="As colours (grey = 0)"), key="fm_filters_rgb")
        show_figure(feature_plots.filter_grid(weights, title="Columns: filters (output channels) · rows: input channels"
                                              if weights.shape[1] > 1 else "One filter per output channel"),
                    key="fm_filters")

rows, cols = maps.shape[1:]
# Values kept from a bigger layer are moved into this one's range (set before the widgets exist).
for key, size, default in (("fm_channel", maps.shape[0], 0), ("fm_row", rows, rows // 2), ("fm_col", cols, cols // 2)):
    if not 0 <= st.session_state.get(key, default) < size:
        st.session_state[key] = default
    st.session_state.setdefault(key, default)
channel = st.slider("Channel to enlarge", 0, maps.shape[0] - 1, key="fm_channel") if maps.shape[0] > 1 else 0


def pick_position():
    """A click on the enlarged map chooses the position (runs before the page reruns)."""
    points = st.session_state.get("fm_enlarged", {}).get("selection", {}).get("points", [])
    if points:
        st.session_state["fm_row"] = int(points[0]["y"])
        st.session_state["fm_col"] = int(points[0]["x"])


c1, c2 = st.columns(2)
i = c1.number_input("Row", 0, rows - 1, key="fm_row")
j = c2.number_input("Column", 0, cols - 1, key="fm_col")
window = features.receptive_field(model, layer, i, j, (height, width))
size_r, size_c, jump_r, jump_c = features.receptive_field_size(model, layer, (height, width))
centre = features.receptive_field_centre(model, layer, (height, width))
left, right = st.columns(2)
with left:
    show_figure(feature_plots.enlarged_channel(maps[channel], position=(i, j), title=f"{layer}, channel {channel}",
                                               clickable=True),
                key="fm_enlarged", on_select=pick_position, selection_mode="points")
    st.caption("Click a value to see where it looks.")
    download_array(maps[channel], f"{layer}_channel{channel}", key="fm_download")
with right:
    show_figure(feature_plots.overlay(input_picture, maps[channel], window=window,
                                      first_centre=centre,
                                      jump=(jump_r, jump_c), title="Over the input, with its receptive field"),
                key="fm_overlay")
inside = window.clipped(height, width)
st.markdown(
    f"Value ({i}, {j}) of **{layer}**, channel {channel} = **{maps[channel, i, j]:.4g}**. It depends on input rows "
    f"{window.top}…{window.bottom - 1} and columns {window.left}…{window.right - 1}: a {size_r}×{size_c} "
    f"receptive field; neighbouring values look {jump_r} pixel{'s' if jump_r > 1 else ''} further on."
    + (" Part of it lies in the zero padding outside the image (dotted)." if inside != window else ""))

if layer in conv_names:
    layer_input = features.layer_inputs(model, x, acts)[layer]
    made = features.explain_conv_value(model, layer, layer_input, channel, i, j)
    inputs = len(made.per_channel)
    partial = [p.total for p in made.per_channel]
    st.markdown(f"**How the convolution made it.** Filter {channel} slides over each of the "
                f"{inputs} input channel{'s' if inputs > 1 else ''} of {layer}'s input; "
                "the products in the window are summed per channel, then over channels, plus the bias.")
    if inputs > 1:
        table = pd.DataFrame({"input channel": range(inputs), "partial sum": partial})
        st.dataframe(table, hide_index=True, height=min(400, 38 + 35 * inputs))
    st.markdown(f"Sum of the partial sums {sum(partial):.4g} + bias {made.bias:.4g} = **{made.total:.4g}** "
                f"(the layer's own output: {maps[channel, i, j]:.4g}).")
    if not 0 <= st.session_state.get("fm_in_channel", 0) < inputs:
        st.session_state["fm_in_channel"] = 0
    shown_c = st.slider("Show the products of input channel", 0, inputs - 1, key="fm_in_channel") \
        if inputs > 1 else 0
    st.code(made.per_channel[shown_c].text, language=None, wrap_lines=True)

    if layer == conv_names[0]:
        kernel = weights[channel]
        if kernel.shape[0] == 3:
            how = st.radio("Send which part of the filter", ("sum of R, G, B (for grey pictures)", "R", "G", "B"),
                           horizontal=True, key="fm_send_part")
            kernel2d = kernel.sum(axis=0) if how.startswith("sum") else kernel["RGB".index(how)]
        else:
            kernel2d = kernel[0]
        if st.button(f"Try filter {channel} on any photo in the Kernel Playground", key="fm_send"):
            st.session_state["playground_kernel"] = np.round(kernel2d, 4).tolist()
            st.switch_page("pages/kernel_playground.py")


# --- top-activating patches ---------------------------------------------------------------------

st.subheader("4 · What excites a channel most")
if not dataset:
    st.info("The top-activating patches need the model's data set, which is not available here.")
else:
    # units of linear layers (and the probabilities) see the whole image: their "patch" is the image
    vector = [name for name, out in acts_one.items()
              if out.ndim == 1 and features.receptive_field_size(model, name, (height, width))[2] == 0]
    c1, c2, c3, c4 = st.columns([3, 3, 3, 2])
    st.session_state.setdefault("fm_patch_layer", layer)
    _keep_valid("fm_patch_layer", spatial + vector, layer)
    patch_layer = c1.selectbox("Layer", spatial + vector, key="fm_patch_layer")
    units = acts_one[patch_layer].shape[0]
    unit_name = "Channel" if patch_layer in spatial else "Unit"
    if st.session_state.get("fm_patch_channel", 0) >= units:
        st.session_state["fm_patch_channel"] = 0
    patch_channel = c2.number_input(f"{unit_name} (0…{units - 1})", 0, units - 1, key="fm_patch_channel")
    k = c3.select_slider("How many", (4, 8, 12, 16), value=8, key="fm_patch_k")
    whole = c4.toggle("Whole images", key="fm_patch_whole", help="Show each image with its receptive field boxed.")
    top = top_activations(fingerprint, dataset, 16, model)[patch_layer]
    trimmed = features.TopActivations(top.values[:, :k], top.image_index[:, :k], top.position[:, :k])
    patches = features.top_patches(model, patch_layer, int(patch_channel), trimmed, test_pictures(dataset))
    show_figure(feature_plots.patches_grid(patches, cols=min(k, 8), context=test_pictures(dataset) if whole else None,
                                           title=f"The {k} test images that excite "
                                                 f"{patch_layer} {unit_name.lower()} {patch_channel} most"),
                key="fm_patches")
    st.caption("Each crop is the receptive field of the strongest value in that image (number: image, activation); "
               "black is zero padding outside the image. After Zeiler & Fergus (2014).")
