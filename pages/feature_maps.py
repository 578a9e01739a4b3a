"""Feature maps: one image through a small CNN, layer by layer — every channel, the filters that
made it, what each value sees of the input, and which data-set patches excite a channel most."""
from __future__ import annotations

import streamlit as st

from pages import route_through_app

# First, before the page's heavy imports (torch): a cold deep link's bare first run reruns at
# once inside app.py's frame, which starts the browser loading Plotly while torch loads.
route_through_app()

import dataclasses  # noqa: E402
import secrets  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from pages import _live  # noqa: E402
from pages._phone import first_on_phones  # noqa: E402
from pages._ui.figures import download_array, show_figure  # noqa: E402
from pages._ui.links import finish_link, link_state  # noqa: E402
from pages._ui.model_input import (dataset_of, input_link_fields, model_input, only_knows_note,  # noqa: E402
                                   show_steps, test_pictures, test_split)
from pages._ui.models import model_selector  # noqa: E402
from pages._ui.page import stop_page  # noqa: E402
from pages._ui.runs import content_hash, log_arguments  # noqa: E402
from pages._ui.state import keep_valid  # noqa: E402
from pages._ui.text import explain, literal  # noqa: E402
from vizcore import features, images, links, live_questions  # noqa: E402
from vizcore.figures import features as feature_figs  # noqa: E402
from vizcore.figures import live as live_figs  # noqa: E402

st.title("Feature maps: inside a CNN")
# One sentence: the result belongs on a projector's first screen (issue 25); the layers explain themselves below.
explain("One image through a trained CNN: every filter of every layer gives one feature map, and the last "
        "layers turn them into class probabilities.")


MAX_OPEN_FILTERS = 64  # kernels (filters × input channels) shown without a click
# The address carries the model, the input, the layer, the channel and the position. Only the
# shipped models can be linked (a model trained in a session exists only there); layer names and
# classes depend on the model, so the page checks them against the model it opens.
LINK = links.LinkSpec([
    *input_link_fields("fm_model", "fm", class_name="cls", index_name="image",
                        sample=next(iter(images.SAMPLES))),
    links.Text("layer", "", max_length=40, key="fm_layer"),
    links.Int("channel", 0, 0, 4096, key="fm_channel"),
    links.Int("row", 0, 0, 4096, key="fm_row"), links.Int("col", 0, 0, 4096, key="fm_col"),
    links.Bool("shared", True, key="fm_shared"),
    # what excites a channel: its layer, channel, how many pictures, whole pictures or crops
    links.Text("player", "", max_length=40, key="fm_patch_layer"),
    links.Int("pchannel", 0, 0, 4096, key="fm_patch_channel"),
    links.Choice("many", 8, (4, 8, 12, 16), key="fm_patch_k"),
    links.Bool("whole", False, key="fm_patch_whole"),
])
link_state(LINK, "feature_maps", fill_defaults=False)  # widgets give themselves their start values

# --- cached work ------------------------------------------------------------------------------

@st.cache_resource(max_entries=8, show_spinner="Running the whole test set through the model (once per model)…")
def top_activations(fingerprint: str, dataset: str, k: int, _model: torch.nn.Module, mean: tuple, std: tuple) -> dict:
    # Keyed on the weights' hash: a retrained model never reuses another model's answer. A resource,
    # not data: read-only arrays shared by all sessions, without a copy per rerun. The images are
    # fed as the model's meta says (a model trained without standardisation takes pixels/255).
    split = dataclasses.replace(test_split(dataset), mean=list(mean), std=list(std))
    # Only positions whose receptive field lies inside the image: patches show picture, not padding.
    return features.top_activations(_model, split.x, k=k, inside=True)


@st.cache_resource(max_entries=8, show_spinner=False)
def stage_outputs(fingerprint: str, input_hash: str, _model: torch.nn.Module, _x: torch.Tensor) -> dict:
    """Every stage's output for this input, shared read-only (about 6 MB for the ImageNet network):
    a rerun that changes only what is shown runs no forward pass (25 ms at 224²)."""
    return features.activations(_model, _x)


# Only models without a data set here use it (the ImageNet network, an uploaded one): 5.7 MB each.
@st.cache_resource(max_entries=2, show_spinner="Running the sample photos through the model (once per model)…")
def photo_pool(fingerprint: str, _model: torch.nn.Module, _meta: dict) -> tuple[torch.Tensor, np.ndarray]:
    """The app's sample photos as the model sees them, inputs and pictures: where a model has no
    data set here (the ImageNet network), they stand in for one when looking for what excites a
    channel. Shared read-only by every session."""
    inputs = [features.preprocess_steps(images.sample_image(name).convert("RGB"), _meta)[1]
              for name in images.PHOTO_NAMES]
    return torch.cat(inputs), np.stack([features.to_pixels(t, _meta) for t in inputs])


@st.cache_data(max_entries=16, show_spinner="Looking for what excites each channel in the sample photos and yours…")
def photo_top_activations(fingerprint: str, input_hash: str, k: int, _model, _meta, _x) -> tuple[dict, np.ndarray]:
    """Top activations over the sample photos and the user's own picture (the last one)."""
    pool, pictures = photo_pool(fingerprint, _model, _meta)
    everything = torch.cat([pool, _x])
    return (features.top_activations(_model, everything, k=min(k, everything.shape[0]), batch_size=4, inside=True),
            np.concatenate([pictures, features.to_pixels(_x, _meta)[None]]))


def matching_set(meta: dict) -> str | None:
    """For a user's network without a data set here: the first built-in set whose test pictures have
    the network's input shape (a Fashion-MNIST exercise's 1×28×28 reads the digits), else None."""
    from vizcore import data

    if meta.get("architecture") != "user":
        return None
    for name in data.available_datasets():
        try:
            if tuple(test_split(name).images.shape[1:]) == tuple(meta["input_shape"]):
                return name
        except data.DataError:
            continue
    return None


# --- model and input ----------------------------------------------------------------------------

# The model and the input side by side, the whole network under them: on a 1280×720 projector
# the picture and its feature maps are on the first screen (issue 25), the input's way into the
# model (its preprocessing steps) just below.
model_side, input_side = st.columns([1, 2], gap="medium")
with model_side:
    model, meta = model_selector("fm_model", stacked=True)
channels, height, width = meta["input_shape"]
classes = list(meta["classes"])
dataset = dataset_of(meta)
fingerprint = features.model_fingerprint(model)

with input_side:
    chosen = model_input("fm", meta)
if chosen is None:
    stop_page()
x, input_picture = chosen.x, chosen.picture

input_hash = content_hash(x)  # the cache key of every result for this input
acts = stage_outputs(fingerprint, input_hash, model, x)
acts_one = {name: out[0].numpy() for name, out in acts.items()}
prediction = features.top_classes(acts[features.SOFTMAX], classes, k=5)

# Four channels a layer, not six: the strip then fits a projector's first screen under the input.
# On a phone (columns stacked) it comes right under the title: the picture and its maps first.
# Its column titles are laid out for a width: a strip laid out for a projector's 700 px ran its
# titles into each other on a phone and cut its "100%" short. So the page holds two, and the
# browser shows the one made for the width the page's column has (a CSS container query).
st.html(f"<style>.st-key-fm_strips {{ container-type: inline-size; }} "
        f"@container (max-width: {feature_figs.OVERVIEW_WIDTH_PX - 1}px) {{ .st-key-fm_strip_wide {{ display: none; }} }} "
        f"@container (min-width: {feature_figs.OVERVIEW_WIDTH_PX}px) {{ .st-key-fm_strip_narrow {{ display: none; }} }}</style>")
with first_on_phones("fm_overview"), st.container(key="fm_strips"):
    with st.container(key="fm_strip_wide"):
        show_figure(feature_figs.network_overview(input_picture, acts_one, classes=classes, max_channels=4),
                    key="fm_overview")
    with st.container(key="fm_strip_narrow"):  # every column on one row: rows of 50-px maps were 1700 px tall
        show_figure(feature_figs.network_overview(input_picture, acts_one, classes=classes, max_channels=4,
                                                  width_px=feature_figs.PHONE_OVERVIEW_WIDTH_PX, min_map_px=0),
                    key="fm_overview_narrow")
st.caption("The whole network, left to right (a deep one row by row), each column titled with its tensor shape (channels×rows×cols; written where it changes). "
           "Maps show their first 4 channels, each on its own colour range; hover for the values.")
with st.expander("On its way into the model: the input's preprocessing steps"):
    show_steps(chosen.steps, channels)

st.subheader("1 · The prediction")
only_knows_note(meta, chosen.source)
left, right = st.columns([1, 3])
best, p_best = prediction[0]
left.metric("Predicted class", literal(best), f"{100 * p_best:.1f}% sure", delta_color="off")  # a class name is user text (a checkpoint's meta): the value renders markdown
with right:
    show_figure(feature_figs.probabilities_bar(prediction, title="Top 5 classes", height=300), key="fm_top5")


_live.offer_which_class(acts[features.SOFTMAX][0].numpy(), classes, input_picture)  # the picture the model sees


# --- one layer ---------------------------------------------------------------------------------

st.subheader("2 · One layer up close")
spatial = [name for name, out in acts_one.items() if out.ndim == 3]
layer_modules = dict(model.named_children())
c1, c2 = st.columns([2, 3])
keep_valid("fm_layer", spatial, spatial[0])
layer = c1.selectbox("Layer", spatial, key="fm_layer",
                     format_func=lambda n: f"{n} ({type(layer_modules[n]).__name__}, "
                                           f"{'×'.join(map(str, acts_one[n].shape))})")
st.session_state.setdefault("fm_shared", True)
shared = c2.toggle("One colour scale for all channels", key="fm_shared",
                   help="Off: each channel stretched to its own range, so weak channels show their pattern too.")
maps = acts_one[layer]
show_figure(feature_figs.channel_grid(maps, shared_scale=shared, title=f"{layer}: all {maps.shape[0]} channels"),
            key="fm_grid")

# The filters of a convolution layer, or of the convolution that opens a stage (EfficientNet's stem).
filter_layer = features.stage_convolution(model, layer)
if filter_layer is not None:
    weights = features.filters(model, filter_layer)
    # A large layer's hundreds of tiny filters open only when asked: they are drawn only then.
    # The first layer's (3 input channels) are opened anyway: their colours are the lesson.
    small = weights.shape[0] * weights.shape[1] <= MAX_OPEN_FILTERS or weights.shape[1] == 3
    with st.expander(f"The {weights.shape[0]} filters of {layer} ({weights.shape[1]} input channel"
                     f"{'s' if weights.shape[1] > 1 else ''}, {weights.shape[2]}×{weights.shape[3]})"
                     + ("" if small else f": {weights.shape[0] * weights.shape[1]:,} small grids"),
                     expanded=small, key=f"fm_filters_open_{layer}", on_change="rerun") as filter_panel:
        if filter_panel.open:
            if weights.shape[1] == 3:  # the first convolution reads the colour picture: its filters are colours
                show_figure(feature_figs.filters_in_colour(weights, title="As colours (grey = 0)"),
                            key="fm_filters_rgb")
            show_figure(feature_figs.filter_grid(weights, title="Columns: filters (output channels) · rows: input "
                                                  "channels" if weights.shape[1] > 1 else "One filter per output channel"),
                        key="fm_filters")



def which_filter_question() -> dict:
    """"Which filter made this feature map?": the enlarged channel's map and four of the layer's
    filters, the one that made it among three others."""
    spec = live_questions.which_filter(weights, channel, secrets.randbelow(2**31), layer)
    return {**spec, "png": live_figs.filters_png(maps[channel], weights[spec["filters"]])}


rows, cols = maps.shape[1:]
# Values kept from a bigger layer are moved into this one's range (set before the widgets exist).
for key, size, default in (("fm_channel", maps.shape[0], 0), ("fm_row", rows, rows // 2), ("fm_col", cols, cols // 2)):
    if not 0 <= st.session_state.get(key, default) < size:
        st.session_state[key] = default
    st.session_state.setdefault(key, default)
channel = st.slider("Channel to enlarge", 0, maps.shape[0] - 1, key="fm_channel") if maps.shape[0] > 1 else 0
# A plain convolution's own output (not a stage's, after its batch norm): its map is the filter's work.
if filter_layer == layer and layer == spatial[0] and maps.shape[0] >= len(live_questions.LETTERS):
    _live.offer_question("Ask the hall: which filter made this feature map?", which_filter_question,
                         key="live_ask_filter")


def pick_position():
    """A click on the enlarged map chooses the position (runs before the page reruns)."""
    points = st.session_state.get("fm_enlarged", {}).get("selection", {}).get("points", [])
    if points:
        st.session_state["fm_row"] = int(points[0]["y"])
        st.session_state["fm_col"] = int(points[0]["x"])


c1, c2 = st.columns(2)
i = c1.number_input("Row", 0, rows - 1, key="fm_row")
j = c2.number_input("Column", 0, cols - 1, key="fm_col")
log_arguments("feature_maps", layer=layer, channel=int(channel), row=int(i), col=int(j))
window = features.receptive_field(model, layer, i, j, (height, width))
size_r, size_c, jump_r, jump_c = features.receptive_field_size(model, layer, (height, width))
centre = features.receptive_field_centre(model, layer, (height, width))
left, right = st.columns(2)
with left:
    show_figure(feature_figs.enlarged_channel(maps[channel], position=(i, j), title=f"{layer}, channel {channel}",
                                               clickable=True),
                key="fm_enlarged", on_select=pick_position, selection_mode="points")
    st.caption("Click a value to see where it looks.")
    download_array(maps[channel], f"{layer}_channel{channel}", key="fm_download")
with right:
    show_figure(feature_figs.overlay(input_picture, maps[channel], window=window,
                                      first_centre=centre,
                                      jump=(jump_r, jump_c), title="Over the input"),
                key="fm_overlay")
    st.caption("The same map laid over the input, in the colours on the left.")
inside = window.clipped(height, width)
st.markdown(
    f"Value ({i}, {j}) of **{layer}**, channel {channel} = **{maps[channel, i, j]:.4g}**. It depends on input rows "
    f"{window.top}…{window.bottom - 1} and columns {window.left}…{window.right - 1}: a {size_r}×{size_c} "
    f"receptive field; neighbouring values look {jump_r} pixel{'s' if jump_r > 1 else ''} further on."
    + (" Part of it lies in the zero padding outside the image (dotted)." if inside != window else ""))

if filter_layer is not None:  # a convolution layer, or a stage that opens with one (EfficientNet's stem, head)
    layer_input = features.layer_inputs(model, x, acts)[layer]
    made = features.explain_conv_value(model, filter_layer, layer_input, channel, i, j)
    after = features.explain_after_conv(model, layer, channel, made.total) if filter_layer != layer else []
    inputs = len(made.per_channel)
    partial = [p.total for p in made.per_channel]
    over = f"each of the {inputs} input channels" if inputs > 1 else "the single input channel"
    how = ("the products in the window are summed per channel, then over channels, plus the bias."
           if inputs > 1 else "the products in the window are summed, plus the bias.")
    st.markdown(f"**How the convolution made it.** Filter {channel} slides over {over} of {layer}'s input; {how}")
    if inputs > 1:
        table = pd.DataFrame({"input channel": range(inputs), "partial sum": partial})
        st.dataframe(table, hide_index=True, height=min(400, 38 + 35 * inputs))
    if after:  # convolution → batch norm → activation, written out to the stage's own output
        st.markdown(f"Sum of the partial sums = **{made.total:.4g}** (no bias: the batch norm after it shifts), "
                    "then " + " and ".join(step.name for step in after) + ":")
        st.code("\n".join(f"{step.name}: {step.arithmetic}" for step in after), language=None, wrap_lines=True)
        st.markdown(f"= **{after[-1].value:.4g}** (the stage's own output: {maps[channel, i, j]:.4g}).")
    else:
        st.markdown(f"Sum of the partial sums {sum(partial):.4g} + bias {made.bias:.4g} = **{made.total:.4g}** "
                    f"(the layer's own output: {maps[channel, i, j]:.4g}).")
    if not 0 <= st.session_state.get("fm_in_channel", 0) < inputs:
        st.session_state["fm_in_channel"] = 0
    shown_c = st.slider("Show the products of input channel", 0, inputs - 1, key="fm_in_channel") \
        if inputs > 1 else 0
    st.code(made.per_channel[shown_c].text, language=None, wrap_lines=True)

    if layer == spatial[0]:  # the first layer's filters work on any photo
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

st.subheader("3 · What excites a channel most")
patch_set = dataset or matching_set(meta)
if patch_set:
    pool_size, source_words = len(test_split(patch_set).labels), "test images"
    if patch_set != dataset:
        st.caption(f"Your network's data set is not here: the search runs over the {patch_set} test images, the "
                   "built-in set whose pictures have your network's input size.")
else:  # no data set here: the sample photos and the student's own picture stand in for one
    pool_size, source_words = len(images.PHOTO_NAMES) + 1, "pictures"
    st.caption(f"This model's data set is not here: the search runs over the app's {len(images.PHOTO_NAMES)} sample "
               f"photos and your picture (number {len(images.PHOTO_NAMES)}), not over millions of training photos.")
# units of linear layers (and the probabilities) see the whole image: their "patch" is the image
vector = [name for name, out in acts_one.items()
          if out.ndim == 1 and features.receptive_field_size(model, name, (height, width))[2] == 0]
c1, c2, c3, c4 = st.columns([3, 3, 3, 3])
st.session_state.setdefault("fm_patch_layer", layer)
keep_valid("fm_patch_layer", spatial + vector, layer)
patch_layer = c1.selectbox("Layer", spatial + vector, key="fm_patch_layer")
units = acts_one[patch_layer].shape[0]
unit_name = "Channel" if patch_layer in spatial else "Unit"
if st.session_state.get("fm_patch_channel", 0) >= units:
    st.session_state["fm_patch_channel"] = 0
patch_channel = c2.number_input(f"{unit_name} (0…{units - 1})", 0, units - 1, key="fm_patch_channel")
counts = tuple(n for n in (4, 8, 12, 16) if n <= pool_size) or (pool_size,)
keep_valid("fm_patch_k", list(counts), counts[min(1, len(counts) - 1)])
st.session_state.setdefault("fm_patch_k", counts[min(1, len(counts) - 1)])
k = c3.select_slider("How many", counts, key="fm_patch_k")
whole = c4.toggle("Whole", key="fm_patch_whole",
              help="Whole images: show each image with its receptive field boxed (off: the crops).")
if patch_set:
    top = top_activations(fingerprint, patch_set, 16, model, tuple(meta["mean"]), tuple(meta["std"]))[patch_layer]
    pictures = test_pictures(patch_set)
else:
    tops, pictures = photo_top_activations(fingerprint, input_hash, 16, model, meta, x)
    top = tops[patch_layer]
trimmed = features.TopActivations(top.values[:, :k], top.image_index[:, :k], top.position[:, :k])
patches = features.top_patches(model, patch_layer, int(patch_channel), trimmed, pictures)
show_figure(feature_figs.patches_grid(patches, cols=min(k, 8), context=pictures if whole else None,
                                       title=f"The {k} {source_words} that excite "
                                             f"{patch_layer} {unit_name.lower()} {patch_channel} most"),
            key="fm_patches")
st.caption("Each crop is the receptive field of the strongest value in that image (number: image, activation), "
           "among the positions whose field lies inside the image (not in the zero padding). "
           "After Zeiler & Fergus (2014).")

finish_link(LINK)
