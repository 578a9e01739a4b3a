"""LIME step by step: superpixels, perturbed samples, the surrogate model, and how stable it is."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from pages import route_through_app

route_through_app()  # a cold deep link runs inside app.py's frame

from pages._ui.classes import PREDICTED, class_choice, explained_input  # noqa: E402
from pages._ui.figures import download_array, show_figure  # noqa: E402
from pages._ui.links import copy_link, link_state, write_link_state  # noqa: E402
from pages._ui.model_input import input_link_fields  # noqa: E402
from pages._ui.models import model_selector, model_start_values  # noqa: E402
from pages._ui.page import stop_page  # noqa: E402
from pages._ui.runs import AUTO_SECONDS, content_hash, log_arguments, log_computation, run_controls  # noqa: E402
from pages._ui.text import explain, literal  # noqa: E402
from vizcore import features, links  # noqa: E402
from vizcore.figures import perturbation as pp  # noqa: E402
from vizcore.explain import ExplainError, _forward  # noqa: E402
from vizcore.explain.lime import (MAX_EXACT_FEATURES, SURROGATES, all_masks, superpixel_mask,  # noqa: E402
                                  fit_surrogate, kernel_weights, random_masks, sample_probabilities,
                                  segment_means, stability, top_features)
from vizcore.explain.occlusion import fill  # noqa: E402
from vizcore.explain.segment import METHODS, count, segment  # noqa: E402

SAMPLE_CHOICES = (50, 100, 250, 500, 1000, 2000, 5000, 10000)
DEFAULT_COUNTS = (100, 250, 500, 1000)
HIDES = {"black": "black", "mean": "mean colour of the superpixel (lime's default)", "blur": "blurred"}
SURROGATE_LABELS = {"ridge": "ridge (lime's)", "lasso": "lasso", "tree": "random forest"}
SIGNS = {"positive": "raise the probability", "negative": "lower it", "both": "both"}
FEWER_BECAUSE = {"positive": ("raises", "raise"), "negative": ("lowers", "lower"), "both": ("exists", "exist")}
SORTS = {"sample": "sample number", "prob_up": "probability, lowest first", "prob_down": "probability, highest first",
         "weight": "kernel weight, highest first", "kept": "superpixels kept, fewest first"}
METHOD_LABELS = {"slic": "SLIC", "quickshift": "quickshift (lime's default)", "felzenszwalb": "Felzenszwalb",
                 "grid": "square grid"}
GALLERY = 12

LINK = links.LinkSpec([
    *input_link_fields("lime_model", "lime_in"),
    links.Choice("method", "slic", METHODS, key="lime_method"),
    links.Int("segments", 25, 2, 200, key="lime_segments"),
    links.Choice("hide", "mean", tuple(HIDES), key="lime_hide"),
    links.Choice("samples", 1000, SAMPLE_CHOICES, key="lime_samples"),
    links.Int("seed", 0, 0, 9999, key="lime_seed"),
    links.Bool("exact", False, key="lime_exact"),
    links.Choice("surrogate", "ridge", SURROGATES, key="lime_surrogate"),
    links.Int("cls", PREDICTED, PREDICTED, 999, key="lime_target"),
    links.Int("k", 5, 1, 20, key="lime_k"),
    links.Choice("sign", "positive", tuple(SIGNS), key="lime_sign"),
    links.Choice("sort", "sample", tuple(SORTS), key="lime_sort"),
    links.Bool("stability", False, key="lime_stability_on"),
    links.Int("seeds", 5, 2, 8, key="lime_seeds"),
    links.Text("counts", ",".join(map(str, DEFAULT_COUNTS)), max_length=60, key="lime_counts_text"),
])


def sample_counts(text: str) -> list[int]:
    """The sample counts of a link ("100,250,1000"), keeping only those the page offers. An empty
    text is an empty choice (a student removed every count: the link keeps that); a text with no
    usable count gives the defaults."""
    if not str(text).strip():
        return []
    counts = []
    for part in str(text).split(","):
        part = part.strip()
        if part.isdigit() and int(part) in SAMPLE_CHOICES and int(part) not in counts:
            counts.append(int(part))
    return counts or list(DEFAULT_COUNTS)

def top_title(shown: int, asked: int) -> str:
    """The explanation picture's title: how many superpixels it shows (fewer than asked when
    fewer have the chosen sign)."""
    noun = "superpixel" if shown == 1 else "superpixels"
    return f"Top {shown} {noun}" if shown == asked else f"{shown} {noun} (of the top {asked} asked)"

st.title("LIME: explain one prediction with a simple model")
explain(
    "LIME (Ribeiro et al. 2016) cuts the image into superpixels, hides random sets of them, asks the "
    "model about every perturbed copy and fits a small linear model: probability ≈ intercept + Σ "
    "coefficient × (superpixel kept). Large coefficients mark the superpixels the prediction rests on — "
    "like the husky called a wolf because of the snow."
)
link_state(LINK, "lime")


# --- cached work ----------------------------------------------------------------------------------------

@st.cache_data(max_entries=128, show_spinner=False)
def hidden_look(input_hash: str, segments_hash: str, kind: str, _x, _segments, _meta):
    """What a hidden superpixel shows, in the model's input space and as a picture."""
    hide = segment_means(_x, _segments) if kind == "mean" else fill(_x, kind, _meta["mean"], _meta["std"])
    return hide, features.to_pixels(hide.expand_as(_x), _meta)


@st.cache_data(max_entries=64, show_spinner="Finding superpixels…")
def cached_segments(picture_hash: str, method: str, n: int, _picture) -> np.ndarray:
    return segment(_picture, method, n)


def _progress_bar(show: bool, what: str):
    """A throttled progress callback drawing into a bar made here (inside the cached function)."""
    bar = st.progress(0.0, text="Starting…") if show else None
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if bar is not None and (now - last[0] > 0.25 or done == total):
            last[0] = now
            bar.progress(done / total, text=f"{what}: {done:,} of {total:,} forward passes")

    return bar, progress


@st.cache_data(max_entries=32, max_size="300MB",
               show_spinner="Asking the model about every perturbed copy (students asking for the same "
                            "settings share this run)…")
def cached_samples(fingerprint: str, input_hash: str, segments_hash: str, hide: str, samples, seed: int,
                   _model, _x, _segments, _hide, show_progress: bool):
    """The masks and every class's probability for each perturbed copy (class-independent)."""
    log_computation(f"lime {input_hash[:8]} {segments_hash[:8]} {hide} {samples} {seed}")
    features_ = int(_segments.max()) + 1
    masks = all_masks(features_) if samples == "all" else random_masks(samples, features_, seed)
    bar, progress = _progress_bar(show_progress, "Sampling")
    probs = sample_probabilities(_model, _x, _segments, masks, _hide, progress=progress).double().numpy()
    if bar is not None:
        bar.empty()
    return masks, probs


@st.cache_data(max_entries=128, show_spinner="Fitting the surrogate…")
def cached_fit(samples_key: tuple, target: int, surrogate: str, _masks, _scores, _weights, seed: int):
    return fit_surrogate(_masks, _scores, _weights, surrogate, seed=seed)


@st.cache_data(max_entries=16, show_spinner="Running LIME again with other seeds…")
def cached_stability(fingerprint: str, input_hash: str, segments_hash: str, hide: str, target: int,
                     samples: tuple, seeds: int, k: int, sign: str, surrogate: str,
                     _model, _x, _segments, _hide, show_progress: bool):
    log_computation(f"lime stability {input_hash[:8]} {samples} {seeds}")
    bar, progress = _progress_bar(show_progress, "Stability")
    result = stability(_model, _x, target, _segments, samples=samples, seeds=range(seeds), k=k, hide=_hide,
                       sign=sign, surrogate=surrogate, progress=progress)
    if bar is not None:
        bar.empty()
    return result


@st.cache_data(max_entries=64, show_spinner=False)
def sample_table(samples_key: tuple, target: int, _masks, _scores, _weights) -> pd.DataFrame:
    return pd.DataFrame({"sample": np.arange(len(_masks)), "kept": _masks.sum(axis=1), "probability": _scores,
                         "kernel weight": _weights,
                         "mask (1 = kept)": ["".join(map(str, m)) for m in _masks[:, :64]]})


# --- model and input -----------------------------------------------------------------------------------------

model, meta = model_selector("lime_model")
channels, height, width = meta["input_shape"]
# A first answer within about 10 s: 250 samples of a 224² ImageNet network, 1000 of a small one.
model_start_values(LINK, "lime_model", {"lime_samples": 250 if min(height, width) >= 128 else 1000})
classes = [str(c) for c in meta["classes"]]
fingerprint = features.model_fingerprint(model)
chosen, input_hash, original = explained_input("lime_in", model, meta, fingerprint)
x = chosen.x
plan = _forward.plan_for(model, (channels, height, width))

# --- 1 · superpixels -----------------------------------------------------------------------------------------

st.subheader("1 · Superpixels")
most = int(min(200, height * width // 4))
# The slider's range follows the picture's size; set its value before drawing it so a new range
# (another model) does not restart it at its minimum.
st.session_state["lime_segments"] = min(int(st.session_state.get("lime_segments", 25)), most)
c1, c2 = st.columns([1, 2])
method = c1.selectbox("Method", METHODS, key="lime_method", format_func=METHOD_LABELS.get)
wanted_segments = c1.slider("Number of superpixels", 2, most, key="lime_segments",
                            help="Every method is tuned to give this many (within ±30 %).")
try:
    segments = cached_segments(content_hash(chosen.picture), method, wanted_segments, chosen.picture)
except ExplainError as err:
    st.error(literal(err))
    stop_page()
n_features = count(segments)
segments_hash = content_hash(segments)
with c1:
    st.markdown(f"**{n_features} superpixels** (asked for {wanted_segments})")
    explain("LIME switches whole superpixels on and off, not single pixels: a few dozen features instead of "
            f"{height * width:,}. lime's own default (quickshift, kernel 4) finds only 1–4 superpixels on pictures "
            "this small (lime issues #214, #386); here each method is tuned to the count you ask for.")
with c2:
    show_figure(pp.superpixel_figure(chosen.picture, segments, title="Superpixels and their numbers"),
                key="lime_superpixels")

# --- 2 · samples ---------------------------------------------------------------------------------------------------

st.subheader("2 · Perturbed samples")
exact_possible = n_features <= MAX_EXACT_FEATURES
c1, c2, c3 = st.columns([3, 2, 1])
hide_kind = c1.radio("A hidden superpixel shows", list(HIDES), key="lime_hide", format_func=HIDES.get,
                     horizontal=True)
if not exact_possible:
    st.session_state["lime_exact"] = False
exact = st.toggle(f"Exact: all 2^{n_features} = {2 ** n_features:,} masks" if exact_possible
                  else f"Exact mode needs ≤ {MAX_EXACT_FEATURES} superpixels", key="lime_exact",
                  disabled=not exact_possible, help="With few superpixels every on/off mask can be tried: no randomness.")
samples = c2.select_slider("Samples", SAMPLE_CHOICES, key="lime_samples", disabled=exact)
seed = c3.number_input("Seed", 0, 9999, key="lime_seed", disabled=exact)
drawn = "all" if exact else int(samples)
total = 2 ** n_features if exact else int(samples)
estimate = plan.estimate(total)
st.caption(f"{total:,} samples = {total:,} forward passes {plan.describe(total)}; "
           f"{plan.rate * 1e3:.2f} ms per image, in batches of {plan.batch_size}. Rule of thumb from "
           f"lime's maintainer: about 10 samples per superpixel, here {10 * n_features:,}.")

hide, hide_picture = hidden_look(input_hash, segments_hash, hide_kind, x, segments, meta)

samples_key = (fingerprint, input_hash, segments_hash, hide_kind, drawn, int(seed))
slot = run_controls("lime_samples", f"Sample {total:,} perturbed images", samples_key, estimate)
if slot is None:
    stop_page(LINK)
try:
    masks, probabilities = cached_samples(*samples_key, model, x, segments, hide, show_progress=estimate > AUTO_SECONDS)
except ExplainError as err:
    st.error(literal(err))
    stop_page()
slot.empty()
weights = kernel_weights(masks)
log_arguments("lime", segments=wanted_segments, method=method, hide=hide_kind, samples=drawn, seed=int(seed), exact=exact)

target = class_choice("lime_target", classes, original)
scores = probabilities[:, target]
kept = masks.sum(axis=1)

sort = st.radio("Order the samples by", list(SORTS), key="lime_sort", format_func=SORTS.get, horizontal=True)
order = {"sample": np.arange(len(masks)), "prob_up": np.argsort(scores, kind="stable"),
         "prob_down": np.argsort(-scores, kind="stable"), "weight": np.argsort(-weights, kind="stable"),
         "kept": np.argsort(kept, kind="stable")}[sort]
shown = order[:GALLERY]
pictures = pp.perturbed_pictures(chosen.picture, hide_picture, segments, masks[shown])
st.image([pp.enlarge(p, 132)[0] for p in pictures], width=132,
         caption=[f"#{i} · p={scores[i]:.4f} · w={weights[i]:.2f} · kept {kept[i]}/{n_features}" for i in shown])
explain(f"p: the model's probability of {literal(classes[target])}; w: the kernel weight sqrt(exp(−d²/0.25²)), "
        "d the cosine distance between the mask and the all-ones mask — samples that keep more of the image "
        "count more. Sample #0 keeps everything.")
with st.expander(f"All {len(masks):,} samples as a table (click a column to sort)"):
    st.dataframe(sample_table(samples_key, target, masks, scores, weights), hide_index=True, height=320)

# --- 3 · the surrogate ----------------------------------------------------------------------------------------------

st.subheader("3 · The surrogate model")
c1, c2, c3 = st.columns([2, 1, 2])
surrogate = c1.radio("Surrogate", SURROGATES, key="lime_surrogate", format_func=SURROGATE_LABELS.get,
                     horizontal=True)
k = c2.number_input("Top k", 1, 20, key="lime_k")
sign = c3.radio("Superpixels that", list(SIGNS), key="lime_sign", format_func=SIGNS.get, horizontal=True)
fit = cached_fit(samples_key, target, surrogate, masks, scores, weights, int(seed))
used_sign = "both" if surrogate == "tree" else sign  # a forest's importances have no sign
top = top_features(fit.coefficients, int(k), used_sign)
m1, m2, m3, m4 = st.columns(4)
m1.metric("R² (weighted)", f"{fit.r2:.4f}", help="How well the simple model reproduces the model's probabilities "
                                               "on the samples, weighted by the kernel.")
m2.metric("intercept", f"{fit.intercept:.4f}")
m3.metric("surrogate says", f"{fit.local_prediction:.4f}",
          help="The surrogate's prediction for the image: the linear surrogate's value with every superpixel kept. It is a weighted straight-line fit, "
               "not a probability: nothing holds it inside [0, 1], so it can be above 1 or below 0.")
# Short labels: four metrics share a row, which Presenter mode's larger letters cut short.
m4.metric("model says", f"{original[target]:.4f}", help=f"The model's probability of {literal(classes[target])}.")
if not 0.0 <= fit.local_prediction <= 1.0:
    st.caption(f"The surrogate says {fit.local_prediction:.4f}, outside [0, 1]: a linear surrogate is a straight-line "
               "fit to the probabilities, and nothing holds a straight line inside [0, 1].")
left, right = st.columns([3, 2])
with left:
    ylabel = "importance (no sign)" if surrogate == "tree" else "coefficient (probability added)"
    show_figure(pp.coefficient_bars(fit.coefficients, top=list(top), ylabel=ylabel,
                                    title=f"What each superpixel adds to p({pp.plain(classes[target])})"),
                key="lime_coefficients")
    if surrogate == "tree":
        explain("A random forest's importances say how much a superpixel matters, not in which direction.")
with right:
    # One choice of superpixels (``top``) makes the bars' outlines, this picture and its title.
    mask = superpixel_mask(segments, fit.coefficients, top)
    explained = pp.explanation_picture(chosen.picture, segments, mask)
    show_figure(pp.picture_figure(explained, title=top_title(len(top), int(k))), key="lime_explanation")
    if len(top) < int(k):
        one = len(top) == 1
        verb = FEWER_BECAUSE[used_sign][0 if one else 1] + ("" if used_sign == "both" else " the probability")
        st.caption(f"You asked for the top {int(k)}; only {len(top)} superpixel{'' if one else 's'} {verb} here, "
                   f"so the picture shows {'it' if one else 'those'}.")
    st.caption("Red: the superpixel raises the probability; blue: it lowers it (as in the bars and every "
               "map of this app); the rest is faded (lime's get_image_and_mask, which uses green and red).")
with st.expander("Downloads"):
    st.caption("Coefficients (superpixel, coefficient):")
    download_array(np.column_stack([np.arange(n_features), fit.coefficients]), "lime_coefficients", key="lime_dl_coef")
    st.download_button("Explanation image (PNG)", lambda: pp.png_bytes(explained), file_name="lime_explanation.png",
                       mime="image/png", key="lime_dl_png", on_click="ignore")
    st.caption("Superpixel labels (H × W):")
    download_array(segments, "lime_superpixels", key="lime_dl_segments")


# --- 4 · stability -----------------------------------------------------------------------------------------------------

st.subheader("4 · How stable is it?")
explain("Random masks make LIME noisy: run it with other seeds and compare the top superpixels. The lime "
        "package's own top-5 agreed only 0.67–0.87 (Jaccard) between seeds at 1000 samples. More samples help; "
        f"with ≤ {MAX_EXACT_FEATURES} superpixels the exact mode has no randomness at all.")
c1, c2 = st.columns([1, 3])
seeds = c1.slider("Seeds", 2, 8, key="lime_seeds")
if "lime_counts" not in st.session_state:  # from the link (or its default) the first time
    st.session_state["lime_counts"] = sample_counts(st.session_state["lime_counts_text"])
counts = c2.multiselect("Sample counts", SAMPLE_CHOICES, key="lime_counts")
st.session_state["lime_counts_text"] = ",".join(map(str, sorted(counts)))
counts = tuple(sorted(counts)) or (int(samples),)
stability_cost = plan.estimate(seeds * max(counts))
log_arguments("lime", k=int(k), sign=sign, surrogate=surrogate, cls=target, seeds=seeds,
              counts=st.session_state["lime_counts_text"])
stability_key = (fingerprint, input_hash, segments_hash, hide_kind, target, counts, seeds, int(k),
                 "both" if surrogate == "tree" else sign, surrogate)
st.caption(f"{seeds} seeds × {max(counts):,} samples = {seeds * max(counts):,} forward passes "
           f"{plan.describe(seeds * max(counts))}. A run with fewer samples is the first rows of the longest one.")
slot = run_controls("lime_stability", "Run the seeds", stability_key, stability_cost) \
    if st.toggle("Measure stability", key="lime_stability_on") else None
if slot is not None:
    try:
        result = cached_stability(*stability_key, model, x, segments, hide, show_progress=stability_cost > AUTO_SECONDS)
    except ExplainError as err:
        st.error(literal(err))
        stop_page()
    slot.empty()
    left, right = st.columns([3, 2])
    with left:
        show_figure(pp.stability_figure(result.samples, result.agreement, result.low, k=result.k,
                                        seeds=len(result.seeds), title=f"Top-{result.k} agreement between seeds"),
                    key="lime_stability")
    with right:
        st.dataframe(pd.DataFrame({"samples": result.samples, "mean Jaccard": result.agreement.round(3),
                                   "worst pair": result.low.round(3)}), hide_index=True)
        st.caption(f"Top {result.k} at {result.samples[-1]:,} samples, per seed: " + "; ".join(
            f"seed {s}: {', '.join(map(str, t))}" for s, t in zip(result.seeds, result.tops[-1])))

copy_link(LINK)
write_link_state(LINK)
