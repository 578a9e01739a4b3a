"""Occlusion: slide a patch over the image and watch the class probability (Zeiler & Fergus 2013)."""
from __future__ import annotations

import time

import numpy as np
import streamlit as st
import torch

from pages import route_through_app

route_through_app()  # a cold deep link runs inside app.py's frame

from pages._ui.classes import PREDICTED, class_choice, explained_input  # noqa: E402
from pages._ui.figures import download_array, show_figure  # noqa: E402
from pages._ui.links import copy_link, link_state, write_link_state  # noqa: E402
from pages._ui.model_input import input_link_fields  # noqa: E402
from pages._ui.models import model_selector, model_start_values  # noqa: E402
from pages._ui.page import stop_page  # noqa: E402
from pages._ui.runs import AUTO_SECONDS, log_arguments, log_computation, run_controls  # noqa: E402
from pages._ui.text import explain, literal  # noqa: E402
from vizcore import features, links  # noqa: E402
from vizcore.figures import perturbation as pp  # noqa: E402
from vizcore.explain import ExplainError, _forward  # noqa: E402
from vizcore.explain.occlusion import FILLS, Occluder, fill, occlusion_run, windows  # noqa: E402

MAX_POSITIONS = 20_000    # beyond this the page refuses (minutes of work)
BASELINE_LABELS = {"black": "black", "grey": "grey", "mean": "mean colour (data set)", "blur": "blur"}
OUTPUTS = {"probability": "probability (softmax)", "logit": "logit (before softmax)"}

LINK = links.LinkSpec([
    *input_link_fields("occ_model", "occ_in"),
    links.Int("window", 8, 1, 512, key="occ_window"),
    links.Int("stride", 4, 1, 512, key="occ_stride"),
    links.Choice("fill", "grey", tuple(FILLS), key="occ_fill"),
    links.Choice("output", "probability", tuple(OUTPUTS), key="occ_output"),
    links.Int("cls", PREDICTED, PREDICTED, 999, key="occ_target"),
    links.Float("opacity", 0.6, 0.0, 1.0, key="occ_opacity"),
])

st.title("Occlusion: hide a patch, watch the probability")
explain(
    "Cover one part of the image with a patch and ask the model again. If the probability of the "
    "class drops, the model was looking there. Slide the patch over every position (Zeiler & Fergus "
    "2013): that is one forward pass per position, no gradients — it works for any model."
)
link_state(LINK, "occlusion")


# --- cached work ------------------------------------------------------------------------------------

@st.cache_data(max_entries=64, max_size="300MB",
               show_spinner="Running the model on every occluded copy (a student asking for the same "
                            "settings shares this run)…")
def cached_run(fingerprint: str, input_hash: str, window: int, stride: int, fill_kind: str,
               _model, _x, _fill, show_progress: bool):
    """Every class's logit at every patch position: one run per (weights, image, settings)."""
    log_computation(f"occlusion {input_hash[:8]} {window}/{stride}/{fill_kind}")
    bar = st.progress(0.0, text="Starting…") if show_progress else None
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if bar is not None and (now - last[0] > 0.25 or done == total):  # a few updates, not one per batch
            last[0] = now
            bar.progress(done / total, text=f"{done:,} of {total:,} forward passes")

    run = occlusion_run(_model, _x, window, stride, _fill, progress=progress)
    if bar is not None:
        bar.empty()
    return run


@st.cache_resource(max_entries=12, show_spinner=False)  # ≤ 4 MB each (400 frames at 224²): 12 × 4 MB
def player_figure(key: tuple, target: int, output: str, _picture, _fill_picture, _run, _original, _classes):
    """The step-through figure, built once per run, class and score (a few hundred frames): shared
    read-only, Streamlit copies it when drawing."""
    scores = _run.scores(target, output)[0].numpy()
    return pp.occlusion_player(_picture, _fill_picture, _run.windows, torch.softmax(_run.occluded[0], -1).numpy(),
                               _original, _classes, target, output=output,
                               values=None if output == "probability" else scores)


@st.cache_data(max_entries=256, show_spinner=False)
def preview(input_hash: str, window: int, stride: int, fill_kind: str, _x, _meta):
    """What fills the patch (in the model's input space), one occluded copy and the fill as pictures."""
    grid = windows(_x.shape[2], _x.shape[3], window, stride)
    fill_tensor = fill(_x, fill_kind, _meta["mean"], _meta["std"])
    middle = (grid.rows // 2, grid.cols // 2)
    occluded = features.to_pixels(Occluder(_x, grid, fill_tensor).position(0, *middle), _meta)
    return fill_tensor, occluded, features.to_pixels(fill_tensor.expand_as(_x), _meta), grid.box(*middle)


@st.cache_data(max_entries=512, show_spinner=False)
def shown_maps(key: tuple, target: int, output: str, _run):
    """The score map, the per-pixel map and the unoccluded score for one class and score."""
    original, _ = _run.values(output)
    return (_run.scores(target, output)[0].numpy(), _run.attribution(target, output)[0].numpy(),
            float(original[0, target]))


# --- model and input ----------------------------------------------------------------------------------

model, meta = model_selector("occ_model")
channels, height, width = meta["input_shape"]
# About 13 × 13 positions on a 224² photo, 6 × 6 on a 28² digit: a first map in seconds.
model_start_values(LINK, "occ_model", {"occ_window": 32, "occ_stride": 16} if min(height, width) >= 128
                   else {"occ_window": 8, "occ_stride": 4})
classes = [str(c) for c in meta["classes"]]
fingerprint = features.model_fingerprint(model)

# The settings on the left, what the model sees on the right: the first picture on the first screen.
settings, pictures = st.columns([3, 2], gap="medium")
with settings:
    st.subheader("1 · The input")
    chosen, input_hash, original = explained_input("occ_in", model, meta, fingerprint)
    x = chosen.x

    # --- settings -------------------------------------------------------------------------------------------

    st.subheader("2 · The patch")
    side = min(height, width)
    # The sliders' ranges follow the model and the patch size; a slider whose range changes is a new
    # widget to Streamlit, which would start it at its minimum. Setting the kept value before drawing
    # it (clamped to the new range) keeps the patch and stride when the model or patch size changes.
    st.session_state["occ_window"] = min(int(st.session_state.get("occ_window", 8)), side)
    c1, c2 = st.columns(2)
    window = c1.slider("Patch size (pixels)", 1, side, key="occ_window",
                       help="The square patch that hides part of the image.")
    st.session_state["occ_stride"] = min(int(st.session_state.get("occ_stride", 4)), window)
    if window == 1:  # a slider needs two values to choose from
        st.session_state["occ_stride"] = stride = 1
        c2.caption("Stride 1: a one-pixel patch moves one pixel at a time.")
    else:
        stride = c2.slider("Stride (pixels)", 1, window, key="occ_stride",
                           help="How far the patch moves each step; at most the patch size, so every pixel is hidden.")
    fill_kind = st.radio("The patch holds", list(FILLS), key="occ_fill", horizontal=True,
                         format_func=BASELINE_LABELS.get, help="; ".join(f"{k}: {v}" for k, v in FILLS.items()))
    c4, c5 = st.columns([2, 3])
    output = c4.radio("Score", list(OUTPUTS), key="occ_output", format_func=OUTPUTS.get, horizontal=True)
    target = class_choice("occ_target", classes, original, container=c5)

try:
    grid = windows(height, width, window, stride)
    # One occluded input, the patch in the middle: what the model sees at one position.
    fill_tensor, occluded_picture, fill_picture, middle_box = preview(input_hash, window, stride, fill_kind, x, meta)
except ExplainError as err:
    st.error(literal(err))
    stop_page()
p1, p2 = pictures.columns(2)
with p1:
    show_figure(pp.occluded_preview(chosen.picture, None, title="Input"), key="occ_input_fig")
with p2:
    show_figure(pp.occluded_preview(occluded_picture, middle_box, title="Occluded"), key="occ_preview")
plan = _forward.plan_for(model, (channels, height, width))
estimate = plan.estimate(grid.count + 1)
with pictures:
    st.markdown(f"**{grid.rows} × {grid.cols} = {grid.count:,} positions = {grid.count:,} forward passes "
                f"≈ {_forward.format_seconds(estimate)}**")
    st.caption(f"The estimate: {plan.how_sure()}; {plan.rate * 1e3:.2f} ms per image, in batches of "
               f"{plan.batch_size}{', channels-last' if plan.channels_last else ''}, without autograd. "
               f"Without the patch the model gives {literal(classes[target])} a probability of {original[target]:.4f}.")
    if grid.count > MAX_POSITIONS:
        st.warning(f"{grid.count:,} positions are too many for this page (at most {MAX_POSITIONS:,}): "
                   "use a larger stride.")
        stop_page()

# --- the run ----------------------------------------------------------------------------------------------

key = (fingerprint, input_hash, window, stride, fill_kind)
big = estimate > AUTO_SECONDS
slots = run_controls("occ", f"Run {grid.count:,} forward passes", key, estimate,
                     hint="press Run (or choose a larger stride)")
if slots is None:
    stop_page(LINK)
try:
    run = cached_run(*key, model, x, fill_tensor, show_progress=big)
except ExplainError as err:
    st.error(literal(err))
    stop_page()
slots.empty()

# --- the maps ------------------------------------------------------------------------------------------------

scores, drops, base_value = shown_maps(key, target, output, run)
label = "probability" if output == "probability" else "logit"
worst = np.unravel_index(np.argmin(scores), scores.shape)
r0, r1, c0, c1 = grid.box(*worst)

st.subheader("3 · Where the model looked")
# Short metric labels, the class and the place in words: Presenter mode's letters cut long labels short.
st.markdown(f"The {label} of **{literal(classes[target])}**, lowest with the patch over pixel rows "
            f"{r0}–{r1 - 1} and columns {c0}–{c1 - 1}:")
m1, m2, _ = st.columns(3)
m1.metric("without a patch", f"{base_value:.4f}")
m2.metric("lowest with the patch", f"{scores.min():.4f}", f"{scores.min() - base_value:+.4f}", delta_color="off")
left, right = st.columns(2)
with left:
    show_figure(pp.score_map(scores, grid, base_value, output=output, class_name=classes[target],
                             title=f"{label.capitalize()} per patch position"),
                key="occ_scores")
    explain("Zeiler & Fergus's map: each cell is one position of the patch. Dark cells: hiding that part "
            "of the image made the model less sure. Hover for the pixels the patch covered.")
with right:
    opacity = st.slider("Map opacity", 0.0, 1.0, step=0.05, key="occ_opacity")
    log_arguments("occlusion", window=window, stride=stride, fill=fill_kind, output=output, cls=target, opacity=opacity)
    show_figure(pp.pixel_overlay(chosen.picture, drops, opacity=opacity, colorbar_title=f"drop in {label}",
                                 title="Per pixel: the mean drop"),
                key="occ_overlay")
    explain("Each pixel gets the mean drop over all patch positions that hid it (captum's Occlusion map). "
            "Red: hiding it lowers the score; blue: hiding it raises the score.")

st.subheader("4 · Step through the positions")
explain("Press Play (or drag the slider): the patch moves, the class probabilities change, and the map "
        "fills in one position at a time — the animation of the lecture.")
frame_count = pp.frame_positions(grid.count).size
if frame_count < grid.count:
    st.caption(f"{frame_count} of the {grid.count:,} positions are shown, evenly spaced.")
show_figure(player_figure(key, target, output, chosen.picture, fill_picture, run, original, classes),
            key="occ_player")

with st.expander("Download the maps"):
    st.caption(f"The {grid.rows}×{grid.cols} map of {label}s per patch position:")
    download_array(scores, "occlusion_scores", key="occ_dl_scores")
    st.caption(f"The {height}×{width} per-pixel map (mean drop in {label}):")
    download_array(drops, "occlusion_per_pixel", key="occ_dl_pixels")
copy_link(LINK)
write_link_state(LINK)
