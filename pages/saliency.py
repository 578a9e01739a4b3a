"""Saliency: which pixels decide the class? Six gradient methods side by side, and their sanity check."""
from __future__ import annotations


import numpy as np
import streamlit as st
import torch

from pages import route_through_app

route_through_app()  # a cold deep link runs inside app.py's frame

from pages import _live  # noqa: E402
from pages._phone import first_on_phones, last_on_phones  # noqa: E402
from pages._ui.classes import PREDICTED, class_choice  # noqa: E402
from pages._ui.figures import download_array, show_figure  # noqa: E402
from pages._ui.links import copy_link, link_state, write_link_state  # noqa: E402
from pages._ui.model_input import (ANY_CLASS, dataset_of, input_link_fields, model_input, only_knows_note,  # noqa: E402
                                   show_steps, test_split)
from pages._ui.models import model_selector  # noqa: E402
from pages._ui.page import stop_page  # noqa: E402
from pages._ui.runs import content_hash, log_arguments, log_computation  # noqa: E402
from pages._ui.text import explain, literal, show_text  # noqa: E402
from vizcore import explain as ex, features, links  # noqa: E402
from vizcore.figures import features as feature_figs, saliency as saliency_figs  # noqa: E402
from vizcore.explain.integrated_gradients import BASELINES, METHODS as IG_RULES, make_baseline  # noqa: E402

METHODS = {  # link name -> title
    "grad": "Gradient (vanilla saliency)",
    "ixg": "Gradient × input",
    "smooth": "SmoothGrad",
    "ig": "Integrated Gradients",
    "guided": "Guided backprop",
    "gradcam": "Grad-CAM",
}
SHORT = {"grad": "gradient", "ixg": "gradient × input", "smooth": "SmoothGrad", "ig": "IG",
         "guided": "guided backprop", "gradcam": "Grad-CAM"}
SAMPLES = (10, 20, 50, 100)
CLIPS = (90, 95, 98, 99, 100)  # the colour scale's top: this percentile of |value| (100: the maximum)
STEPS = (8, 16, 32, 50, 100, 200)
BASELINE_LABELS = {"black": "black", "blurred": "blurred", "mean-colour": "this image's mean colour",
                   "zeros": "zeros (data set's mean colour)"}

LINK = links.LinkSpec([
    *input_link_fields("sal_model", "sal_in"),
    links.Int("cls", PREDICTED, PREDICTED, 999, key="sal_target"),
    *(links.Bool(name, True, key=f"sal_show_{name}") for name in METHODS),
    links.Bool("signed", False, key="sal_signed"),
    links.Bool("shared", False, key="sal_shared"),
    links.Float("opacity", 0.7, 0.0, 1.0, key="sal_opacity"),
    links.Choice("clip", 99, CLIPS, key="sal_clip"),
    links.Choice("samples", 20, SAMPLES, key="sal_samples"),
    links.Float("noise", 0.15, 0.0, 0.5, key="sal_noise"),
    links.Choice("steps", 32, STEPS, key="sal_steps"),
    links.Choice("baseline", "black", tuple(BASELINES), key="sal_baseline"),
    links.Choice("rule", "gausslegendre", IG_RULES, key="sal_rule"),
    links.Text("layer", "", max_length=40, key="sal_layer"),
    links.Bool("sanity", False, key="sal_sanity"),
])

st.title("Saliency: which pixels decide the class?")
# One sentence: the maps belong on a projector's first screen (issue 25).
explain("How much would the class score change if one input value changed a little? Six gradient methods "
        "side by side, then a check that they explain the *model* at all.")
link_state(LINK, "saliency")


# --- cached work ------------------------------------------------------------------------------------

def _run(method: str, model, x: torch.Tensor, target: int, settings: tuple) -> dict:
    """One method's result as numpy: the attribution (C, H, W) or Grad-CAM map (H, W), and extras."""
    if method == "grad":
        return {"attr": ex.gradient(model, x, target)[0].numpy()}
    if method == "ixg":
        return {"attr": ex.input_x_gradient(model, x, target)[0].numpy()}
    if method == "smooth":
        samples, noise = settings
        return {"attr": ex.smoothgrad(model, x, target, samples=samples, noise=noise)[0].numpy()}
    if method == "ig":
        steps, baseline, rule, mean, std = settings
        b = make_baseline(x, baseline, mean=mean, std=std)
        attr, delta = ex.integrated_gradients(model, x, target, baseline=b, steps=steps, method=rule)
        return {"attr": attr[0].numpy(), "delta": float(delta[0]), "sum": float(attr.sum())}
    if method == "guided":
        return {"attr": ex.guided_backprop(model, x, target)[0].numpy()}
    (layer,) = settings
    return {"attr": ex.grad_cam(model, x, target, layer)[0].numpy(),
            "raw": ex.grad_cam(model, x, target, layer, upsample=False)[0].numpy()}


@st.cache_data(max_entries=512, max_size="200MB", show_spinner=False)
def attribution(fingerprint: str, input_hash: str, method: str, target: int, settings: tuple, _model, _x) -> dict:
    # Keyed on the weights' hash, every byte of the input and the settings: a display change
    # (opacity, colour scale, signed) never recomputes, and two students share one result.
    log_computation(f"saliency {method} {input_hash[:8]} {target} {settings}")
    return _run(method, _model, _x, target, settings)


@st.cache_data(max_entries=64, max_size="200MB",
               show_spinner="Randomising the layers one by one and explaining again (on a copy of the model)…")
def sanity(fingerprint: str, input_hash: str, target: int, chosen: tuple, _model, _x, _settings: dict):
    # ``chosen`` holds every method with its settings, so _settings adds nothing to the key.
    def method(key: str):
        def run(m, x, t):
            a = _run(key, m, x, int(t), _settings[key])["attr"]
            return a[None] if key == "gradcam" else np.abs(a).max(axis=0)[None]  # |map|, as Adebayo et al.
        return run

    return ex.cascading_randomization(_model, _x, target, {key: method(key) for key, _ in chosen})


def to_map(method: str, attr: np.ndarray, signed: bool) -> np.ndarray:
    """The picture of an attribution: |value| max over channels, or the signed channel sum."""
    if method == "gradcam":
        return attr
    return ex.heatmap(attr[None], "sum" if signed else "abs-max")[0]


@st.cache_data(max_entries=256, show_spinner=False)
def class_logits(fingerprint: str, input_hash: str, _model, _x) -> np.ndarray:
    """The model's logits for this input: one forward pass per input (25 ms at 224²), not per rerun."""
    with torch.inference_mode():
        return _model(_x)[0].numpy().copy()


@st.cache_data(max_entries=16, show_spinner=False)
def map_layers(fingerprint: str, input_shape: tuple, _model) -> dict:
    """Grad-CAM's layers and their map sizes: one forward pass per model (50 ms on ImageNet's), not per rerun."""
    return ex.map_layers(_model, input_shape)


# --- model and input ----------------------------------------------------------------------------------

# The model and the input side by side, the maps under them: on a 1280×720 projector the picture
# and its first maps are on the first screen (issue 25).
model_side, input_side = st.columns([1, 2], gap="medium")
with model_side:
    model, meta = model_selector("sal_model", stacked=True)
channels, height, width = meta["input_shape"]
classes = [str(c) for c in meta["classes"]]
fingerprint = features.model_fingerprint(model)
cam_layers = map_layers(fingerprint, (channels, height, width), model)


def check_link() -> None:
    """Values from the address that this model cannot show: said literally, then left at their defaults."""
    if st.session_state.get("_sal_link_checked"):
        return
    st.session_state["_sal_link_checked"] = True
    problems = []
    dataset = dataset_of(meta)
    if dataset and st.session_state.get("sal_in_class", ANY_CLASS) != ANY_CLASS:
        if st.session_state["sal_in_class"] not in test_split(dataset).classes:
            problems.append(f"imgclass={st.session_state['sal_in_class']}: not a class of this model's test set")
            st.session_state["sal_in_class"] = ANY_CLASS
    if dataset:
        split = test_split(dataset)
        wanted = st.session_state.get("sal_in_class", ANY_CLASS)
        count = len(split.labels) if wanted == ANY_CLASS else int((split.labels == split.classes.index(wanted)).sum())
        if st.session_state.get("sal_in_index", 0) >= count:
            problems.append(f"img={st.session_state['sal_in_index']}: there are only {count} such test images")
            st.session_state["sal_in_index"] = 0
    target_link = st.session_state.get("sal_target", PREDICTED)
    if isinstance(target_link, int) and target_link >= len(classes):
        problems.append(f"cls={st.session_state['sal_target']}: the model has {len(classes)} classes")
        st.session_state["sal_target"] = PREDICTED
    if st.session_state.get("sal_layer") and st.session_state["sal_layer"] not in cam_layers:
        problems.append(f"layer={st.session_state['sal_layer']}: not a layer with feature maps in this model")
        st.session_state["sal_layer"] = ""
    if problems:
        show_text("Some settings in the link do not fit this model and were left out: " + "; ".join(problems),
                  "warning")


with model_side:
    check_link()
with input_side:
    chosen = model_input("sal_in", meta)
if chosen is None:
    stop_page(LINK)
x = chosen.x.detach().float()
if tuple(x.shape[1:]) != (channels, height, width):
    st.error(f"The input has shape {tuple(x.shape[1:])}, the model expects {(channels, height, width)}.")
    stop_page()
input_hash = content_hash(x)
logits = torch.from_numpy(class_logits(fingerprint, input_hash, model, x))
probabilities = torch.softmax(logits, dim=0)
predicted = int(probabilities.argmax())
_live.offer_which_class(probabilities.numpy(), classes, chosen.picture)  # the hall guesses before the maps say why

# --- the explained class and the methods ------------------------------------------------------------------

# The settings in a column beside the maps (not a band above them): the maps start right under
# the input, on the first screen.
# A phone (columns stacked) shows this row right under the title, the maps before the settings:
# the picture with its first map on the first screen.
with first_on_phones("saliency_maps"):
    settings_side, maps_side = st.columns([1, 2], gap="medium")
with settings_side, last_on_phones("saliency_settings"):
    target = class_choice("sal_target", classes, probabilities, label="Explain the class",
                          help="Any class can be explained: which pixels speak for a 3, even if the model says 8?")
    if chosen.label is not None and chosen.label != predicted:
        st.warning(f"The model is wrong here: the test image is labelled {literal(classes[chosen.label])}, "
                   f"the model says {literal(classes[predicted])}.")
signed = settings_side.toggle("Signed maps", key="sal_signed",
                              help="Off: |value|, maximum over the colour channels (the lecture's rule). On: the value summed "
                                   "over channels, red raises the score, blue lowers it.")
shared = settings_side.toggle("One colour scale", key="sal_shared",
                              help="One colour scale for all maps. Each map stretched to its own range hides that one method's values are far smaller "
                                   "than another's. On: equal colours mean equal numbers in every map.")
opacity = settings_side.slider("Map opacity", 0.0, 1.0, step=0.05, key="sal_opacity")
clip = settings_side.select_slider("Colour scale top (percentile)", CLIPS, key="sal_clip",
                                   help="The colour scale of the gradient maps ends at this percentile of the map's |values|: "
                                        "the few brightest pixels above it show in the top colour instead of washing out the "
                                        "rest (captum's maps clip too). 100: the scale ends at the largest value. Grad-CAM's "
                                        "smooth map is never clipped.")


def clip_of(method: str) -> float:
    """The colour scale's clip for a method's own map: Grad-CAM's smooth map is never clipped."""
    return 100 if method == "gradcam" else clip


offered = [k for k in METHODS if k != "gradcam" or cam_layers]
# One pill per method (they wrap on a narrow screen); the link keeps one on/off per method.
if not isinstance(st.session_state.get("sal_methods"), list):
    st.session_state["sal_methods"] = [k for k in offered if st.session_state.get(f"sal_show_{k}", True)]
st.session_state["sal_methods"] = [k for k in st.session_state["sal_methods"] if k in offered]
picked = settings_side.pills("Methods", offered, selection_mode="multi", key="sal_methods", format_func=SHORT.get)
shown = [k for k in offered if k in picked]
for k in offered:
    st.session_state[f"sal_show_{k}"] = k in shown
if not cam_layers:
    settings_side.info("This model has no convolution or pooling layer with feature maps, so Grad-CAM (which weights a "
                       "layer's maps) does not apply; the other methods work on any model.")

settings: dict[str, tuple] = {"grad": (), "ixg": (), "guided": ()}
ig_note = cam_note = ""


def method_controls(key: str) -> None:
    """The settings of one method, above its map."""
    if key == "smooth":
        a, b = st.columns(2)
        samples = a.select_slider("Noisy copies", SAMPLES, key="sal_samples")
        noise = b.slider("Noise σ", 0.0, 0.5, step=0.05, key="sal_noise",
                         help="The noise's standard deviation as a share of the image's range (max − min): "
                              "the SmoothGrad paper's 10–20 %.")
        settings["smooth"] = (int(samples), float(noise))
    elif key == "ig":
        a, b = st.columns(2)
        steps = a.select_slider("Steps", STEPS, key="sal_steps")
        baseline = b.selectbox("Baseline", list(BASELINES), key="sal_baseline", format_func=BASELINE_LABELS.get)
        rule = st.selectbox("Integration rule", IG_RULES, key="sal_rule",
                            help="captum's rules: Gauss–Legendre (its default) needs the fewest steps.")
        settings["ig"] = (int(steps), baseline, rule, tuple(meta["mean"]), tuple(meta["std"]))
    elif key == "gradcam":
        names = list(cam_layers)
        if st.session_state.get("sal_layer") not in names:
            convs = [n for n in features.conv_layers(model) if n in names]
            maps = [n for n in names if min(cam_layers[n]) > 1]  # a 1×1 map has no "where"
            st.session_state["sal_layer"] = (convs or maps or names)[-1]
        layer = st.selectbox("Layer", names, key="sal_layer",
                             format_func=lambda n: f"{n} ({cam_layers[n][0]}×{cam_layers[n][1]})")
        settings["gradcam"] = (layer,)


def compute(key: str) -> dict | None:
    try:
        return attribution(fingerprint, input_hash, key, target, settings[key], model, x)
    except ex.ExplainError as err:
        st.error(f"{METHODS[key]} cannot explain this: {literal(err)}")
    except (RuntimeError, ValueError) as err:  # e.g. a session model this method cannot run through
        st.error(f"{METHODS[key]} failed on this model ({literal(type(err).__name__)}).")
    return None


def recipe() -> None:
    """The lecture's four steps, with this image's numbers."""
    st.markdown("**The lecture's recipe** (Simonyan et al. 2014)")
    st.markdown(
        f"1. **Forward** the image through the trained CNN: the score of *{literal(classes[target])}* is "
        f"{logits[target]:.3f} (probability {probabilities[target]:.1%}).\n"
        f"2. **Set the gradient of that score to 1**, every other output's to 0.\n"
        f"3. **Backpropagate** to the image: one number per input value, {channels}×{height}×{width}.\n"
        f"4. **|gradient|, maximum over the {channels} channel{'s' if channels > 1 else ''}**: one number per "
        f"pixel, {height}×{width} — the saliency map " + ("*gradient* above." if "grad" in shown
                                                          else "(switch on *gradient* to see it)."))
    explain("The lecture starts from the softmax neuron; Simonyan et al. (and captum) take the score before "
            "the softmax, the logit, as here: the softmax also falls when other classes gain, which blurs the map.")


# Every method's result first (settings come from the widgets), then one colour range if shared.
results: dict[str, dict] = {}
st.session_state.setdefault("sal_cam_raw", True)
# The maps first, the recipe (text) after them: the first row of maps is on the first screen.
order = shown + (["gradcam_raw"] if "gradcam" in shown and st.session_state["sal_cam_raw"] else []) + ["recipe"]
slots = {}
with maps_side:
    for start in range(0, len(order), 2):  # rows of two cards in two thirds of the page
        for key, column in zip(order[start:start + 2], st.columns(2)):
            slots[key] = column
with slots["recipe"]:
    recipe()
for key in shown:
    with slots[key]:
        st.markdown(f"**{METHODS[key]}**")
        method_controls(key)
        result = compute(key)
        if result is not None:
            results[key] = result

maps = {key: to_map(key, r["attr"], signed) for key, r in results.items()}
used = {"opacity": opacity, "clip": clip, "signed": signed, "shared": shared, "cls": target}
if "smooth" in results:
    used["samples"], used["noise"] = settings["smooth"]
if "ig" in results:
    used["steps"], used["baseline"], used["rule"] = settings["ig"][:3]
if "gradcam" in results:
    used["layer"] = settings["gradcam"][0]
log_arguments("saliency", **used)
common = saliency_figs.shared_range(list(maps.values()), signed=signed, clip=clip) if shared and maps else None
CAPTIONS = {
    "grad": "d score / d pixel: where a small change moves the score most.",
    "ixg": "Gradient times the (normalised) input: 0 where the pixel has the data set's mean colour.",
    "smooth": "The gradient averaged over noisy copies (Smilkov et al. 2017): less speckle.",
    "ig": "Gradients summed on the way from the baseline to the image (Sundararajan et al. 2017).",
    "guided": "Only positive gradients pass the ReLUs (Springenberg et al. 2015): sharp, image-like.",
    "gradcam": "A layer's maps weighted by their mean gradient, ReLU, upsampled (Selvaraju et al. 2017).",
}
for key, result in results.items():
    with slots[key]:
        m = maps[key]
        is_signed = signed and key != "gradcam"
        zmin, zmax = common if common else (None, None)
        show_figure(saliency_figs.overlay(chosen.picture, m, signed=is_signed, opacity=opacity, zmin=zmin, zmax=zmax,
                                          colorbar_title="value" if is_signed else "|value|" if key != "gradcam"
                                          else "weighted maps", height=360, colorbar_side="bottom",
                                          clip=clip if common else clip_of(key)),
                    key=f"sal_fig_{key}")
        explain(CAPTIONS[key])
        if key == "ig":
            total, delta = result["sum"], result["delta"]
            change = total - delta
            fb = float(logits[target]) - change
            st.markdown(f"Completeness: Σ attributions = **{total:.4f}**; f(x) − f(baseline) = "
                        f"{logits[target]:.4f} − {f'({fb:.4f})' if fb < 0 else f'{fb:.4f}'} = **{change:.4f}**; "
                        f"gap (convergence delta) **{delta:+.2e}**"
                        + (f" ({abs(delta) / abs(change):.1%})" if change else "") + ".")
        if key == "gradcam":
            layer = settings["gradcam"][0]
            h, w = cam_layers[layer]
            st.caption(f"{layer} has {h}×{w} maps: each cell covers about {height / h:.1f}×{width / w:.1f} input "
                       f"pixels; upsampled bilinearly to {height}×{width}." + (
                           " Grad-CAM is ≥ 0 by construction (the ReLU), so it has no signed view." if signed else ""))
            st.toggle(f"{h}×{w} map", key="sal_cam_raw",
                      help=f"Grad-CAM's {h}×{w} map before upsampling: the coarse map it really computes.")
            if "gradcam_raw" in slots:
                with slots["gradcam_raw"]:
                    st.markdown(f"**Grad-CAM before upsampling** ({layer}, {h}×{w})")
                    show_figure(saliency_figs.overlay(chosen.picture, result["raw"], opacity=opacity,
                                                      colorbar_title="weighted maps", height=360,
                                                      colorbar_side="bottom"), key="sal_fig_gradcam_raw")
                    explain("Each cell is one position of the layer's maps, stretched over the input pixels it "
                            "stands for: the coarse map Grad-CAM really computes.")
        lo, hi = (zmin, zmax) if common else saliency_figs.value_range(m, signed=is_signed, clip=clip_of(key))
        png_scale = saliency_figs.PNG_SCALES[is_signed]
        with st.popover("Download this map"):
            st.download_button("PNG (the map in its colours)", lambda m=m, lo=lo, hi=hi, s=png_scale: saliency_figs.map_png(
                m, zmin=lo, zmax=hi, colorscale=s), file_name=f"saliency_{key}.png", mime="image/png",
                key=f"sal_png_{key}", on_click="ignore")
            download_array(m, f"saliency_{key}", key=f"sal_dl_{key}")
if common:
    explain("One colour scale for all maps. Their units differ: gradients are score per unit of input, "
            "gradient × input and IG are shares of the score, Grad-CAM is in the layer's units.")

# --- the input's way in, the prediction -------------------------------------------------------------------

with st.expander("On its way into the model: the input's preprocessing steps"):
    show_steps(chosen.steps, channels)
st.subheader("The prediction")
only_knows_note(meta, chosen.source)
left, right = st.columns([2, 3])
left.metric(f"Score (logit) of {literal(classes[target])}", f"{logits[target]:.3f}",
            f"probability {probabilities[target]:.1%}", delta_color="off")
with right:
    show_figure(feature_figs.probabilities_bar(features.top_classes(probabilities, classes, k=5),
                                                title="Top 5 classes", height=320), key="sal_top5")

# --- sanity check -------------------------------------------------------------------------------------------

st.subheader("Sanity check: do the maps depend on what the model learned?")
explain("Adebayo et al. (2018): re-initialise the weights from the top layer down, one more layer at a time, and "
        "explain again. A map that explains the model must change (Spearman ρ with the trained map falls to about "
        "0); one that stays similar shows the image more than the model. The randomised models are copies: "
        "the shared model is not touched.")
layers_with_weights = ex.parameter_layers(model)
run_check = st.toggle(f"Run the sanity check ({len(layers_with_weights)} layers with weights, "
                      f"{len(layers_with_weights) + 1} rounds of every shown method)", key="sal_sanity")
if run_check and results:
    chosen_methods = tuple((key, settings[key]) for key in results)
    try:
        check = sanity(fingerprint, input_hash, target, chosen_methods, model, x, settings)
    except (ex.ExplainError, RuntimeError, ValueError) as err:
        st.error(f"The sanity check failed: {literal(err)}")
        check = None
    if check is not None:
        rho = {SHORT[key]: check.rho[key][:, 0] for key in check.rho}
        show_figure(saliency_figs.sanity_chart(check.layers, rho, title="Similarity to the trained model's map"),
                    key="sal_sanity_chart")
        last = ", ".join(f"{name} {values[-1]:.2f}" for name, values in rho.items() if np.isfinite(values[-1]))
        st.markdown(f"With every layer random, ρ = {last}." if last else "")
        explain("One image's ρ jumps around: try a few images. Adebayo et al. average over many; the maps that stay "
                "near 0.5 with every layer random show the image's edges, whatever the weights.")
        if any(not np.isfinite(v).all() for v in rho.values()):
            st.caption("A gap: the map became constant (e.g. Grad-CAM all zero), so it ranks no pixel.")
        which = st.selectbox("Show the maps of", list(check.maps), key="sal_sanity_method", format_func=SHORT.get)
        steps = {"trained": check.maps[which][0, 0]}
        for k, name in enumerate(check.layers):
            steps[f"… {name}" if k < len(check.layers) - 1 else f"{name}: all random"] = check.maps[which][k + 1, 0]
        show_figure(saliency_figs.side_by_side(chosen.picture, steps, shared=shared, opacity=opacity,
                                               clip=clip_of(which),
                                               cols=3, colorbar_title="|value|", height=640,
                                               title=f"{SHORT[which]}: randomised from the top down"),
                    key="sal_sanity_maps")
elif run_check:
    st.info("Choose at least one method above.")

copy_link(LINK)
write_link_state(LINK)
