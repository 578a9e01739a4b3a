"""Explanation scores: every explanation method scored against where the object really is, beside
maps that know nothing about the model, and the shortcut lesson (wolf or husky?) on a model that cheats."""
from __future__ import annotations

import io
import threading
import time
from collections import OrderedDict

import numpy as np
import pandas as pd
import streamlit as st
import torch

from pages import route_through_app

route_through_app()  # a cold deep link runs inside app.py's frame

from pages._ui.figures import show_figure  # noqa: E402
from pages._ui.links import finish_link, link_state  # noqa: E402
from pages._ui.model_input import test_split  # noqa: E402
from pages._ui.models import model_selector  # noqa: E402
from pages._ui.page import stop_page  # noqa: E402
from pages._ui.state import keep_valid, kept_value, remember  # noqa: E402
from pages._ui.text import explain, literal, show_text  # noqa: E402
from vizcore import data, features, links  # noqa: E402
from vizcore.figures import saliency as saliency_figs, scores as score_figs  # noqa: E402
from vizcore import models as vmodels  # noqa: E402
from vizcore.explain import ExplainError, scores  # noqa: E402
from vizcore.explain import evaluate as ev  # noqa: E402
from vizcore.memory import deep_size  # noqa: E402

SCENE_SETS = ("scenes", "shortcut", "shortcut_shuffled", "shapes")  # 64×64 RGB, the eight shapes, with masks
DATASET_LABELS = {
    "scenes": "scenes (the object anywhere, distractors)",
    "shortcut": "shortcut (scenes + a class-coloured corner tag)",
    "shortcut_shuffled": "shortcut_shuffled (the tag of a wrong class)",
    "shapes": "shapes (the object near the centre)",
}
TARGET_LABELS = {"predicted": "the predicted class", "label": "the true class"}
MAX_IMAGES = 500
STORE_ENTRIES = 8      # finished evaluations kept for all sessions (each ≈ 21 MB at 100 images)...
STORE_BYTES = 96 * 2**20  # ...within 96 MB together (issue 21: ≈ 90 MB at MAX_IMAGES, 8 of those were 720 MB)
STORY_IMAGES = 50
SHORT = {"pointing game": "pointing", "relevance mass": "mass", "relevance rank": "rank",
         "deletion AUC": "deletion ↓", "insertion AUC": "insertion ↑", "ms / image": "ms/image",
         "points at the object": "→ object", "points at the tag": "→ tag", "mass on the object": "mass object",
         "mass on the tag": "mass tag"}
COLUMNS = ["pointing game", "relevance mass", "relevance rank", "deletion AUC", "insertion AUC", "ms / image"]
VIEWS = ("Score every method", "The shortcut lesson: wolf or husky?")
STEPS = (8, 16, 32, 64)
SHIPPED = vmodels.shipped_models()
MODEL_CHOICES = tuple(f"{name} (pretrained)" for name in SHIPPED) or ("none",)
# objects anywhere: the honest test of a method
START_MODEL = next((f"{name} (pretrained)" for name in ("scenes", "shapes") if name in SHIPPED), MODEL_CHOICES[0])
DATA_CHOICES = tuple(dict.fromkeys(SCENE_SETS + tuple(data.available_datasets())))


def link_spec(view: str | None = None, *, dataset: str = "scenes", n: int = 100,
              tolerance: float = round(scores.scaled_tolerance(64), 1)) -> links.LinkSpec:
    """The page's address: ``view``'s settings (None: both views'), never a result.

    The start values of the data set, the number of images and the tolerance follow the model
    (its own data set, that set's size, its picture side): the page passes the current ones when
    it writes the address, so a link leaves out exactly what the page would choose by itself.
    """
    shared = [
        links.Choice("view", VIEWS[0], VIEWS, key="es_view"),
        links.Int("sg_samples", 50, 1, 200, key="es_sg"),
        links.Int("ig_steps", 50, 2, 200, key="es_ig"),
        links.Int("lime_samples", 500, 10, 5000, key="es_lime"),
        links.Choice("steps", 16, STEPS, key="es_steps"),
    ]
    scores_view = [
        links.Choice("model", START_MODEL, MODEL_CHOICES, key="es_model"),
        links.Choice("data", dataset, DATA_CHOICES, key="es_dataset"),
        links.Int("n", n, 1, MAX_IMAGES, key="es_n"),
        links.Choice("explain", "predicted", TARGET_LABELS, key="es_target"),
        links.Float("tol", min(tolerance, 10.0), 0.0, 10.0, key="es_tolerance"),
        links.Choice("score", COLUMNS[0], COLUMNS, key="es_chart_score"),
        links.Text("method", "Gradient", max_length=40, key="es_gallery_method"),  # checked against the result
        links.Int("image", 0, 0, MAX_IMAGES - 1, key="es_image"),
    ]
    story_view = [
        links.Int("story_n", STORY_IMAGES, 5, 200, key="story_n"),
        links.Int("story_image", 0, 0, 199, key="story_image"),
    ]
    if view is None:
        return links.LinkSpec(shared + scores_view + story_view)
    return links.LinkSpec(shared + (scores_view if view == VIEWS[0] else story_view))


st.title("Explanation scores: which explanation is right?")
explain(
    "A saliency map always *looks* convincing. Here the data set knows where the object is, so every "
    "method can be scored on many test images: does the map's strongest pixel land on the object "
    "(**pointing game**), how much of its relevance lies there (**relevance mass**, **rank**), and does "
    "removing the pixels it ranks highest really make the class probability fall (**deletion**) or "
    "revealing them make it rise (**insertion**)? Three maps that know nothing about the model are scored "
    "beside the methods: random pixels, a blob in the centre and the picture's edges (Sobel). A method "
    "that does no better than the edge detector explains the picture, not the model."
)
# A shared link's settings, before any widget; the page gives the other keys their start values.
link_state(link_spec(), "explanation_scores", fill_defaults=False)


# --- results shared by all sessions ---------------------------------------------------------------

class ResultStore:
    """Finished evaluations keyed by (weights, data set, images, settings), the newest few kept.

    Shared by every session (a lecturer's run is there for the whole class); a key being
    computed has a lock, so thirty students pressing Run at once compute it once.
    """

    def __init__(self, entries: int, max_bytes: float = float("inf")):
        self.entries, self.max_bytes = entries, max_bytes
        self.results: OrderedDict = OrderedDict()
        self.sizes: dict = {}
        self.locks: dict = {}
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.results:
                self.results.move_to_end(key)
                return self.results[key]
        return None

    def put(self, key, result) -> None:
        """Keep ``result``; the oldest go while more than ``entries`` or ``max_bytes`` are held
        (the newest always stays)."""
        size = deep_size(result)
        with self.lock:
            self.results[key], self.sizes[key] = result, size
            self.results.move_to_end(key)
            while len(self.results) > 1 and (len(self.results) > self.entries or
                                             sum(self.sizes.values()) > self.max_bytes):
                old, _ = self.results.popitem(last=False)
                del self.sizes[old]

    def computing(self, key) -> threading.Lock:
        with self.lock:
            return self.locks.setdefault(key, threading.Lock())


@st.cache_resource
def store() -> ResultStore:
    return ResultStore(STORE_ENTRIES, STORE_BYTES)


@st.cache_resource(max_entries=12, show_spinner="Classifying the test set…")
def accuracy_on(fingerprint: str, dataset: str, _model, mean: tuple, std: tuple) -> dict:
    """Accuracy of a model on a whole test split (its own normalisation), and its predictions."""
    from vizcore.explain import _forward

    split = test_split(dataset)
    x = (split.images.float() / 255 - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    predictions = _forward.outputs(_model, x).argmax(1).numpy()
    labels = split.labels.numpy()
    return {"accuracy": float((predictions == labels).mean()), "predictions": predictions, "labels": labels}


def tag_classes(dataset: str) -> np.ndarray:
    """The class whose colour each picture's corner tag carries (read off the pixels)."""
    split = test_split(dataset)
    at = data.TAG_AT
    colours = split.images[:, :, at + 1, at + 1].numpy().astype(np.int64)  # inside the 4×4 tag
    distance = ((colours[:, None, :] - data.TAG_COLOURS[None].astype(np.int64)) ** 2).sum(-1)
    return distance.argmin(1)


# --- one evaluation: run, progress, stop, continue --------------------------------------------------

def evaluation_block(prefix: str, model, meta: dict, dataset: str, n: int, *, settings: dict,
                     target: str = "predicted", steps: int = 16, curves: bool = True,
                     run_label: str = "Run") -> ev.Evaluation | None:
    """Buttons to run (or continue) an evaluation, its progress bar and stop; the result when there is one.

    The finished result is shared by all sessions; a stopped one stays in this session and can
    be continued where it stopped.
    """
    split = test_split(dataset)
    key = (features.model_fingerprint(model), dataset, int(n), target, steps, curves,
           tuple(sorted(settings.items())), tuple(meta["mean"]), tuple(meta["std"]))
    shared = store()
    result = shared.get(key)
    partial_key, running_key = f"{prefix}_partial", f"{prefix}_running"
    partial = st.session_state.get(partial_key)
    partial = partial[1] if partial is not None and partial[0] == key else None
    if result is not None:
        return result
    slot = st.empty()  # the buttons go once the result is there
    row = slot.container(horizontal=True, vertical_alignment="center")
    label = f"Continue ({partial.n} of {partial.asked} done)" if partial is not None else run_label
    if row.button(label, key=f"{prefix}_run", type="primary"):
        st.session_state[running_key] = key
    if row.button("Stop", key=f"{prefix}_stop"):
        st.session_state[running_key] = None
    methods = ev.default_methods(model, meta["input_shape"], meta["mean"], meta["std"], **settings)
    estimate = row.empty()
    if st.session_state.get(running_key) != key:
        if partial is not None:
            show_text(f"Stopped after {partial.n} of {partial.asked} images: the scores below are for those.",
                      "info")
            return partial
        from vizcore.explain import _forward

        plan = _forward.plan_for(model, tuple(meta["input_shape"]))
        passes = ev.forward_passes(methods, n, steps if curves else None)
        estimate.caption(f"{len(methods)} methods and 3 reference maps on {n} test images of {literal(dataset)}: "
                         f"about {passes:,.0f} forward passes {plan.describe(int(passes))}. Press the button to start.")
        return None
    bar = st.progress(0.0, text="Starting…")
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 0.3 or done == total:  # a few updates a second, each a chance to stop
            last[0] = now
            bar.progress(done / total, text=f"Step {done} of {total} (every method on {ev.CHUNK} images at a time)")

    def keep(partial_result: ev.Evaluation) -> None:
        st.session_state[partial_key] = (key, partial_result)

    lock = shared.computing(key)
    with lock:  # another session computing the same key: wait for it, then take its result
        result = shared.get(key)
        if result is None:
            result = ev.evaluate(model, split, n, methods=methods, target=target, steps=steps, curves=curves,
                                 normalise_as=meta, resume=partial, progress=progress, on_chunk=keep)
            shared.put(key, result)
    bar.empty()
    slot.empty()
    st.session_state[running_key] = None
    st.session_state.pop(partial_key, None)
    return result


def frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    keep = ["method", "kind"] + [c for c in columns if c in table.columns] + \
        (["settings"] if "settings" in table.columns else [])
    return table[keep]


def csv_bytes(table: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, float_format="%.6g")
    return buffer.getvalue().encode()


def show_table(table: pd.DataFrame, *, key: str, file_name: str) -> None:
    # Short headers (the full meaning on hover), so the whole table fits a 1280-px projector.
    config = {c: st.column_config.NumberColumn(SHORT.get(c, c), format="%.1f" if c == "ms / image" else "%.3f",
                                               help=ev.SCORES.get(c) or ev.CUE_SCORES.get(c))
              for c in table.columns if c not in ("method", "kind", "settings")}
    config["kind"] = st.column_config.TextColumn("kind", width="small")
    # The settings go into the CSV, not on screen (they are above): the table fits 1280 px.
    shown = [c for c in table.columns if c != "settings"]
    st.dataframe(table, hide_index=True, column_config=config, key=key, column_order=shown,
                 height=37 * (len(table) + 1) + 8)  # every row at once: no scrolling inside the table
    st.download_button("Download the table (CSV)", csv_bytes(table), file_name=file_name, mime="text/csv",
                       key=f"{key}_csv", on_click="ignore")


def story_sentence(rows: list[dict], column: str, what: str) -> str:
    """ "6 of 8 methods point at the corner tag in most images: …", from the cue table."""
    methods = [r for r in rows if r["kind"] == "method"]
    most = [r["method"] for r in methods if r[column] > 0.5]
    names = ", ".join(f"{literal(m)}" for m in most) if most else "none"
    return f"**{len(most)} of {len(methods)} methods** point at {what} in most images ({names})."


def compatible_sets(meta: dict) -> list[str]:
    """The data sets a model can be scored on: the 64×64 shape sets for any 8-shape model, else its own."""
    if list(meta.get("input_shape", [])) == [3, 64, 64] and list(meta.get("classes", [])) == list(data.SHAPE_CLASSES):
        return list(SCENE_SETS)
    own = meta.get("dataset")
    return [own] if own in data.available_datasets() + list(SCENE_SETS) else []


# --- page --------------------------------------------------------------------------------------------

for key, default in (("es_view", VIEWS[0]), ("es_sg", 50), ("es_ig", 50), ("es_lime", 500), ("es_steps", 16)):
    remember(key, default)
# A choice, not tabs: only the chosen view runs (tabs would compute both on every rerun).
view = st.radio("View", VIEWS, key="es_view", horizontal=True, label_visibility="collapsed")
with st.expander("Method settings"):
    s1, s2, s3, s4 = st.columns(4)
    smooth_samples = s1.number_input("SmoothGrad samples", 1, 200, key="es_sg")
    ig_steps = s2.number_input("Integrated Gradients steps", 2, 200, key="es_ig")
    lime_samples = s3.number_input("LIME samples", 10, 5000, step=50, key="es_lime")
    steps = s4.select_slider("Deletion/insertion steps", STEPS, key="es_steps",
                             help="Points on each curve; every point is one forward pass per map and image.")
    st.caption("Everything else as each method's page starts: SmoothGrad noise 15 % of the range, Integrated "
               "Gradients from the mean colour, Grad-CAM on the last convolution, occlusion 8×8 patches moved by "
               "4 px and filled grey, LIME with 25 SLIC superpixels hidden by their mean colour.")
settings = dict(smoothgrad_samples=int(smooth_samples), ig_steps=int(ig_steps), lime_samples=int(lime_samples))

if view == VIEWS[0]:
    if kept_value("es_model") is None:
        st.session_state["es_model"] = START_MODEL
    model, meta = model_selector("es_model", imagenet=False, own=False)  # photos have no object masks to score against
    sets = compatible_sets(meta)
    if not sets:
        show_text(f"The data set of this model ({meta.get('dataset', 'unknown')}) is not available here.", "warning")
        finish_link(link_spec(view))
        stop_page()
    own = meta.get("dataset") if meta.get("dataset") in sets else sets[0]
    if st.session_state.get("es_dataset") not in sets:
        st.session_state["es_dataset"] = own
    c1, c2, c3, c4 = st.columns([3, 2, 2, 2])
    dataset = c1.selectbox("Test images from", sets, key="es_dataset", format_func=lambda s: DATASET_LABELS.get(s, s))
    split = test_split(dataset)
    remember("es_n", min(100, len(split)))
    st.session_state["es_n"] = min(st.session_state["es_n"], MAX_IMAGES, len(split))
    remember("es_target", "predicted")
    n = c2.number_input("Number of test images", 1, min(MAX_IMAGES, len(split)), step=10, key="es_n",
                        help="The first N pictures of the test split (the same ones for every method).")
    target = c3.radio("Explain", list(TARGET_LABELS), key="es_target", format_func=TARGET_LABELS.get,
                      horizontal=True, help="The predicted class is what the model decided; the true class "
                                            "asks why it should have said so.")
    side = int(meta["input_shape"][-1])
    remember("es_tolerance", round(scores.scaled_tolerance(side), 1))
    tolerance = c4.slider("Tolerance (px)", 0.0, 10.0, step=0.1, key="es_tolerance",
                          help=f"How far the map's peak may lie from the object and still count in the pointing "
                               f"game. Zhang et al. (2018) allowed 15 px at 224×224, which is "
                               f"{scores.scaled_tolerance(side):.1f} px at {side}×{side}.")
    # The address now, not after a run of minutes; the result's widgets below were set at the
    # start of this run. A link only sets widgets: the Run button starts the work.
    finish_link(link_spec(view, dataset=own, n=min(100, len(split), MAX_IMAGES),
                          tolerance=round(scores.scaled_tolerance(side), 1)))
    if split.masks is None:
        st.info("This data set has no object masks: only the deletion and insertion scores can be computed.")

    try:
        result = evaluation_block("es", model, meta, dataset, int(n), settings=settings, target=target,
                                  steps=int(steps))
    except ExplainError as err:
        show_text(f"Could not score the methods: {err}", "error")
        result = None

    if result is not None and result.n > 0:
        rows = ev.score_table(result, tolerance)
        table = frame(rows, COLUMNS)
        method_rows = [r for r in rows if r["kind"] == "method"]
        slowest = result.slowest()
        total = sum(result.seconds[m["method"]] for m in method_rows)
        st.markdown(
            f"**{result.n} test images** of {dataset}, model accuracy on them **{result.accuracy:.1%}**. "
            f"The methods took {total:.1f} s in all, the curves {result.curve_seconds:.1f} s; "
            f"**{slowest}** took the most time ({result.seconds[slowest] / max(total, 1e-9):.0%} of the methods').")
        st.subheader("The table")
        explain("Click a column header to sort. Grey rows in the charts are the reference maps: a method has "
                "to beat them to count. Deletion AUC: lower is better; everything else: higher is better.")
        show_table(table, key="es_table", file_name=f"explanation_scores_{dataset}_{result.n}.csv")
        per_image = pd.concat(
            [pd.DataFrame({"method": name, "image": result.indices, "label": result.labels,
                           "prediction": result.predictions, **ev.per_image_scores(result, name, tolerance)})
             for name in result.names], ignore_index=True)
        st.download_button("Download every image's scores (CSV)", csv_bytes(per_image),
                           file_name=f"explanation_scores_{dataset}_{result.n}_per_image.csv", mime="text/csv",
                           key="es_per_image_csv", on_click="ignore")

        st.subheader("As a chart")
        present = [c for c in COLUMNS if c in table.columns]
        keep_valid("es_chart_score", present, present[0])  # a link may name a score this data set lacks
        column = st.radio("Score", present, horizontal=True, key="es_chart_score")
        show_figure(score_figs.score_bars(rows, column), key="es_bars")
        with st.expander("Where the time goes"):
            show_figure(score_figs.time_bars({r["method"]: result.seconds[r["method"]] for r in method_rows},
                                              result.n), key="es_time")
            st.caption(f"Deletion and insertion curves for all {len(result.names)} maps took "
                       f"{result.curve_seconds:.1f} s ({len(result.fractions)} forward passes per curve and image).")

        if result.masks is not None:
            st.subheader("Hits and misses")
            explain("Each picture shows a map over its test image, the object's outline in cyan, and a cross on "
                    "the map's strongest pixel: green when it is on the object (within the tolerance), red when not.")
            g1, g2 = st.columns([2, 3])
            keep_valid("es_gallery_method", result.names, result.names[0])
            gallery_method = g1.selectbox("Method", result.names, key="es_gallery_method")
            hits = scores.pointing_game(result.maps[gallery_method], result.masks, tolerance)
            g2.markdown(f"**{gallery_method}**: {int(hits.sum())} hits, {int((~hits).sum())} misses "
                        f"of {result.n} images.")
            pictures = split.images[:result.n].numpy().transpose(0, 2, 3, 1)
            if pictures.shape[-1] == 1:
                pictures = pictures[..., 0]
            for title, chosen in (("Hits", np.flatnonzero(hits)[:8]), ("Misses", np.flatnonzero(~hits)[:8])):
                st.markdown(f"**{title}**" + ("" if chosen.size else ": none"))
                if chosen.size:
                    tiles = [score_figs.marked_picture(pictures[i], result.maps[gallery_method][i], result.masks[i],
                                                        hit=bool(hits[i])) for i in chosen]
                    classes = meta["classes"]
                    st.image(tiles, width=176, caption=[f"#{i} {classes[result.labels[i]]} → "
                                                        f"{classes[result.predictions[i]]}" for i in chosen])

        st.subheader("One image, every method")
        o1, o2 = st.columns([3, 2])
        if st.session_state.get("es_image", 0) >= result.n:
            st.session_state["es_image"] = 0
        image = o1.slider("Test image", 0, max(result.n - 1, 1), key="es_image", disabled=result.n == 1)
        image = min(image, result.n - 1)
        classes = meta["classes"]
        o2.markdown(f"Test image #{image}: **{literal(classes[result.labels[image]])}**, the model says "
                    f"**{literal(classes[result.predictions[image]])}**; the maps explain "
                    f"**{literal(classes[result.targets[image]])}**.")
        picture = split.images[image].numpy().transpose(1, 2, 0)
        show_figure(saliency_figs.side_by_side(picture, {name: result.maps[name][image] for name in result.names},
                                               cols=4), key="es_side")
        if result.deletion:
            show_figure(score_figs.curves(result.fractions, {k: v[image] for k, v in result.deletion.items()},
                                           {k: v[image] for k, v in result.insertion.items()}, result.references),
                        key="es_curves")
            explain("Left: the pixels the map ranks highest are replaced by the mean colour first; a faithful map "
                    "makes the probability fall at once. Right: they are revealed first on a blurred copy; a "
                    "faithful map makes it rise at once. Grey dashed lines: the reference maps.")


else:
    finish_link(link_spec(view))  # the story's widgets were set at the start of this run
    st.markdown(
        "The lecture's LIME slide: a classifier told wolves from huskies almost perfectly — and LIME showed "
        "it was looking at the **snow** behind the animal, not at the animal. *Presence of snow was used to "
        "distinguish wolf and husky* (deck 004). Here is the same lesson on a model that really learned a "
        "shortcut.")
    shipped = vmodels.shipped_models()
    if not {"shortcut", "scenes"} <= set(shipped):
        st.info("The shortcut lesson needs the shipped models `shortcut` and `scenes` (assets/), which are "
                "missing here.")
        stop_page()

    @st.cache_resource(show_spinner="Loading the pretrained model…")
    def shipped_model(name: str):
        return vmodels.load_pretrained(name)

    cheat, cheat_meta = shipped_model("shortcut")
    honest, honest_meta = shipped_model("scenes")
    cheat_fp, honest_fp = features.model_fingerprint(cheat), features.model_fingerprint(honest)

    st.subheader("1 · A model that looks excellent")
    explain("The `shortcut` pictures are the `scenes` pictures with one addition: a 4×4-pixel tag in the top-left "
            "corner whose colour gives the class away (red for circle, green for square, …). The `shortcut` model "
            "was trained on them the ordinary way; nobody told it to cheat. `shortcut_shuffled` shows the same "
            "test pictures with each tag in the colour of a *wrong* class.")
    acc = {f"{label} on {dataset}": accuracy_on(fp, dataset, mdl, tuple(m["mean"]), tuple(m["std"]))
           for label, mdl, m, fp in (("shortcut model", cheat, cheat_meta, cheat_fp),
                                     ("scenes model", honest, honest_meta, honest_fp))
           for dataset in ("shortcut", "shortcut_shuffled")}
    follows = float((acc["shortcut model on shortcut_shuffled"]["predictions"] == tag_classes("shortcut_shuffled")).mean())
    m1, m2, m3 = st.columns(3)
    m1.metric("shortcut model on shortcut", f"{acc['shortcut model on shortcut']['accuracy']:.1%}")
    m2.metric("… on shortcut_shuffled", f"{acc['shortcut model on shortcut_shuffled']['accuracy']:.1%}",
              delta=f"{acc['shortcut model on shortcut_shuffled']['accuracy'] - acc['shortcut model on shortcut']['accuracy']:+.1%}")
    m3.metric("… answers the tag's class", f"{follows:.1%}",
              help="Share of shortcut_shuffled test images where the model names the class of the tag's colour.")
    show_figure(score_figs.accuracy_bars({k.replace(" on ", "<br>on "): v["accuracy"] for k, v in acc.items()},
                                          title="Test accuracy (1,000 images each)"), key="story_acc")
    st.markdown("On its own test set the `shortcut` model is nearly perfect. Give the tag a wrong colour and it "
                "follows the tag. The `scenes` model never saw a tag: it does not care.")

    st.subheader("2 · Where do the explanations point?")
    remember("story_n", STORY_IMAGES)
    story_n = st.number_input("Test images to explain", 5, 200, step=5, key="story_n")
    story_settings = settings
    story_tolerance = round(scores.scaled_tolerance(64), 1)
    explain("Every method with the settings above (LIME at 500 samples unless changed); the pointing game "
            f"allows {story_tolerance} px. Tip for the lecture: run both steps once before class — finished "
            "results are kept on the server for every student.")
    cheat_result = evaluation_block("story_cheat", cheat, cheat_meta, "shortcut", int(story_n),
                                    settings=story_settings, curves=False,
                                    run_label="Explain the shortcut model on its own test images")
    if cheat_result is not None and cheat_result.n:
        cue = pd.DataFrame(ev.cue_table(cheat_result, story_tolerance))
        show_figure(score_figs.cue_bars(ev.cue_table(cheat_result, story_tolerance),
                                         title="The shortcut model, right on its own test images"), key="story_cue")
        show_table(cue, key="story_cue_table", file_name="shortcut_model_tag_or_object.csv")
        st.markdown(story_sentence(ev.cue_table(cheat_result, story_tolerance), "points at the tag", "the corner tag")
                    + " Right answers, wrong reason — like LIME pointing at the snow. The accuracy alone would "
                      "never have told you.")
        if st.session_state.get("story_image", 0) >= cheat_result.n:
            st.session_state["story_image"] = 0
        i = st.slider("Test image", 0, max(cheat_result.n - 1, 1), key="story_image")
        i = min(i, cheat_result.n - 1)
        picture = test_split("shortcut").images[i].numpy().transpose(1, 2, 0)
        show_figure(saliency_figs.side_by_side(picture, {k: cheat_result.maps[k][i] for k in cheat_result.names},
                                               cols=4), key="story_side")

        st.subheader("3 · The honest model for contrast")
        explain("The `scenes` model was trained on the same pictures without tags. Scored on the tagged test "
                "pictures, its maps should point at the shape.")
        honest_result = evaluation_block("story_honest", honest, honest_meta, "shortcut", int(story_n),
                                         settings=story_settings, curves=False,
                                         run_label="Explain the scenes model on the same pictures")
        if honest_result is not None and honest_result.n:
            rows = ev.cue_table(honest_result, story_tolerance)
            show_figure(score_figs.cue_bars(rows, title="The scenes model on the same pictures"), key="story_cue2")
            show_table(pd.DataFrame(rows), key="story_cue_table2", file_name="scenes_model_tag_or_object.csv")
            st.markdown(story_sentence(rows, "points at the object", "the shape") + " The lesson of the husky slide: check *why* a model is right before trusting it. An "
                        "explanation method earns that trust only when it finds the object on an honest model "
                        "and the tag on a cheating one — and does better than the edge detector.")
