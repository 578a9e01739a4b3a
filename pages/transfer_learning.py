"""Transfer learning: a pretrained CNN's features against training from scratch on a few pictures per class."""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict

import numpy as np
import streamlit as st

from pages import route_through_app

route_through_app()  # a cold deep link runs inside app.py's frame

from pages._ui.figures import show_figure  # noqa: E402
from pages._ui.links import finish_link, link_state, write_link_state  # noqa: E402
from pages._ui.models import _shipped_model  # noqa: E402
from pages._ui.page import stop_page  # noqa: E402
from pages._ui.picture import SOURCES as PHOTO_SOURCES, WORKING_SIZES, image_input  # noqa: E402
from pages._ui.runs import content_hash, log_computation, run_controls  # noqa: E402
from pages._ui.text import explain, show_text  # noqa: E402
from vizcore import augment, data, images, links, models, transfer  # noqa: E402
from vizcore.figures import style, training as training_figs, transfer as tl_figs  # noqa: E402

DATA = {"shapes": "Shapes (8 classes)", "scenes": "Scenes (shapes, distractors)",
        "digits": "Digits (8×8 strokes, 10 classes)", "zip": "My pictures (zip of class folders)",
        "webcam": "My webcam pictures"}
VIEWS = ("Confusion matrices", "Misclassified pictures", "Accuracy vs pictures per class", "Features map",
         "Try a new photo")
MAPS = ("t-SNE", "PCA")
LR_NAME, FT_NAME, SCRATCH_NAME, AUG_NAME = "features + LR", "fine-tune", "from scratch", "from scratch + augmentation"
CAMERA = "tl_camera_pictures"  # session only: class name -> list of JPEG bytes

LINK = links.LinkSpec([
    links.Choice("data", "shapes", tuple(DATA), key="tl_data"),
    links.Int("k", 10, 2, transfer.MAX_K, key="tl_k"),
    links.Int("seed", 0, 0, 10_000, key="tl_seed"),
    links.Int("blocks", 2, 1, transfer.MAX_TAIL_BLOCKS, key="tl_blocks"),
    links.Bool("aug", False, key="tl_aug"),
    links.Choice("view", VIEWS[0], VIEWS, key="tl_view"),
    links.Choice("map", MAPS[0], MAPS, key="tl_map"),
    links.Int("draws", 2, 1, 3, key="tl_draws"),
    links.Choice("photo", PHOTO_SOURCES[0], PHOTO_SOURCES, key="tl_photo_source"),
    links.Choice("sample", "chelsea", tuple(images.SAMPLES), key="tl_photo_sample"),
    links.Choice("side", images.DEFAULT_MAX_SIDE, WORKING_SIZES, key="tl_photo_side"),
])

st.title("Transfer learning")
explain("Few pictures per class? Take a network trained on 1.28 million ImageNet photos, run your pictures "
        "through it and keep what its last layer sees (1280 numbers per picture: the *CNN representation*), "
        "then train a simple classifier on those. Or fine-tune its last blocks with a new output layer. Here "
        "both race the app's small CNN trained from scratch on the same k pictures per class.")
link_state(LINK, "transfer_learning")


# --------------------------------------------------------------------------- shared, read-only work

class _Results:
    """Finished results by content key, for every session (read-only once stored; bounded)."""

    def __init__(self, max_entries: int = 128):  # ≤ 140 KB each (20 classes): ≤ 18 MB (issue 21)
        self.table: OrderedDict = OrderedDict()
        self.lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, key):
        with self.lock:
            return self.table.get(key)

    def put(self, key, value) -> None:
        with self.lock:
            self.table[key] = value
            while len(self.table) > self.max_entries:
                self.table.popitem(last=False)


# Pictures whose frozen-network outputs are kept (≈ 43 KB each, 52 MB): a built-in set's view at
# k = 50 is 600 pictures and one run of the curve at most 500 (finished curves are kept apart, in
# _curve_runs). 3000 held 129 MB (issue 21: every cache of a process within 1 GB).
FEATURE_PICTURES = 1200


@st.cache_resource(show_spinner=False)
def _store() -> transfer.FeatureStore:
    model, meta = _shipped_model("imagenet")
    return transfer.FeatureStore(model, meta, max_entries=FEATURE_PICTURES)


@st.cache_resource(show_spinner=False)
def _results() -> _Results:
    return _Results()


@st.cache_resource(show_spinner=False)
def _curve_runs() -> dict:
    """Finished runs of the curve per data set, strategy, k and seed (shared; a stopped curve resumes)."""
    return {}


def _paces() -> dict[str, transfer.Pace]:
    """The seconds per picture and per step that this session's finished runs measured. Per
    session, not shared: one student's runs never change what another's page estimates or
    whether another's run starts by itself (shared state stays read-only)."""
    return st.session_state.setdefault("_tl_paces", transfer.new_paces())


@st.cache_resource(max_entries=6, show_spinner="Preparing the pictures…")
def _builtin(name: str, split: str) -> transfer.Pictures:
    return transfer.builtin_split(name, split)


@st.cache_resource(max_entries=3, show_spinner=False)
def _like(name: str) -> data.DataSplit:
    """The built-in set's normalisation, classes and channels (its first picture only)."""
    return transfer.scratch_split(name)


# One upload each (issue 21): a zip or a webcam set can hold 400 pictures at 224² (57 MB).
@st.cache_resource(max_entries=1, show_spinner="Reading your zip…")
def _zip_pictures(digest: str, _raw: bytes) -> transfer.Pictures:
    return transfer.own_zip(_raw)


@st.cache_resource(max_entries=1, show_spinner="Reading your pictures…")
def _camera_pictures(digest: str, _named: tuple) -> transfer.Pictures:
    return transfer.own_pictures(list(_named))


@st.cache_data(max_entries=16, show_spinner="Drawing the map…")
def _map(key: str, method: str, _x: np.ndarray, _labels: np.ndarray) -> tuple[np.ndarray, float]:
    log_computation(f"transfer map {method} {key[:8]}")
    points = transfer.embed_2d(_x, "pca" if method == "PCA" else "tsne")
    return points, transfer.separation(points, _labels)


# --------------------------------------------------------------------------- the pictures

def _model():
    try:
        return _shipped_model("imagenet")
    except models.ModelError as err:
        st.error(f"Could not load the ImageNet network: {err}")
        stop_page()


def own_zip() -> transfer.Pictures | None:
    st.caption("A zip with one folder per class (cats/1.jpg, dogs/2.png …), 2 to "
               f"{transfer.MAX_OWN_CLASSES} classes, at least {transfer.MIN_OWN_PER_CLASS} pictures each, "
               f"{transfer.MAX_OWN_PICTURES} in all. 70 % of each class is learned from, the rest tested on.")
    upload = st.file_uploader("Zip of class folders", type=["zip"], key="tl_zip")
    if upload is None:
        st.info("Upload a zip to compare the strategies on your own pictures.")
        return None
    if upload.size > images.MAX_UPLOAD_BYTES:
        st.error(f"The zip is {upload.size / 2**20:.0f} MB; the limit is {images.MAX_UPLOAD_BYTES // 2**20} MB.")
        return None
    raw = upload.getvalue()
    try:
        return _zip_pictures(hashlib.sha256(raw).hexdigest(), raw)
    except transfer.TransferError as err:
        show_text(f"Could not use this zip: {err}", "error")  # messages quote file and folder names
        return None


def own_camera() -> transfer.Pictures | None:
    named: dict = st.session_state.setdefault(CAMERA, {})
    left, right = st.columns([2, 3])
    name = left.text_input("Class name", key="tl_cam_name", max_chars=data.MAX_CLASS_NAME,
                           placeholder="e.g. mug")
    photo = right.camera_input("Take a picture of it", key="tl_cam_photo")
    if left.button("Add this picture to the class", key="tl_cam_add", disabled=photo is None or not name.strip()):
        total = sum(len(v) for v in named.values())
        if photo.size > images.MAX_UPLOAD_BYTES:
            st.error("This picture is too large.")
        elif total >= transfer.MAX_OWN_PICTURES:
            st.error(f"{total} pictures already: the limit is {transfer.MAX_OWN_PICTURES}.")
        elif name.strip() not in named and len(named) >= transfer.MAX_OWN_CLASSES:
            st.error(f"{len(named)} classes already: the limit is {transfer.MAX_OWN_CLASSES}.")
        else:
            named.setdefault(name.strip(), []).append(photo.getvalue())
    if named:
        show_text("Your classes: " + ", ".join(f"{n} ({len(p)})" for n, p in named.items()), "caption")
        if left.button("Forget my webcam pictures", key="tl_cam_clear"):
            named.clear()
            st.rerun()
    try:
        items = tuple((n, tuple(p)) for n, p in named.items())
        digest = hashlib.sha256(b"".join(n.encode() + b"\0" + b"".join(hashlib.sha256(x).digest() for x in p)
                                         for n, p in items)).hexdigest()
        return _camera_pictures(digest, items)
    except transfer.TransferError as err:
        show_text(f"Not ready yet: {err}", "info")
        return None


def choose_pictures(source: str, k: int, seed: int):
    """(training pictures, test pictures, the small CNN's normalisation or None, what they are)."""
    if source in transfer.BUILTIN:
        pool, test = _builtin(source, "train"), _builtin(source, "test")
        index = transfer.draw(pool.labels, k, seed, len(pool.classes))
        return pool.subset(index), test, _like(source), f"{k} pictures per class (seed {seed}), tested on {len(test)}"
    pictures = own_zip() if source == "zip" else own_camera()
    if pictures is None:
        return None
    train_index, test_index = transfer.split_own(pictures, seed)
    return (pictures.subset(train_index), pictures.subset(test_index), None,
            f"your {len(pictures)} pictures in {len(pictures.classes)} classes: {len(train_index)} to learn from, "
            f"{len(test_index)} to test on")


# --------------------------------------------------------------------------- the controls

controls = st.columns([3, 2, 1, 2])
source = controls[0].selectbox("Pictures", list(DATA), format_func=DATA.get, key="tl_data")
own = source not in transfer.BUILTIN
k = controls[1].slider("Pictures per class (k)", 2, transfer.MAX_K, key="tl_k", disabled=own,
                       help="How many training pictures of each class the strategies get (your own "
                            "pictures: all of them).")
seed = int(controls[2].number_input("Seed", 0, 10_000, key="tl_seed", help="Which pictures are drawn."))
blocks = controls[3].slider("Fine-tuned blocks", 1, transfer.MAX_TAIL_BLOCKS, key="tl_blocks",
                            help="How many of the network's last blocks are trained again (with its head and a "
                                 "new output layer); the rest stays frozen.")

chosen = choose_pictures(source, int(k), seed)
if chosen is None:
    finish_link(LINK)
    stop_page()
train_pics, test_pics, like, about = chosen
classes = list(train_pics.classes)
n_classes = len(classes)
model, meta = _model()
store = _store()
st.caption(f"EfficientNet-Lite0 (ImageNet) · {about} · guessing would score {1 / n_classes:.0%}")
key = content_hash(train_pics.images, train_pics.labels, test_pics.images, test_pics.labels)
write_link_state(LINK)  # now, not only at the end: the address is right while the long work runs


def still_to_go(done: int, total: int, start: float) -> str:
    """" · about 12 s left", at the pace this run has measured so far ("" before its first step)."""
    seconds = transfer.time_left(done, total, time.perf_counter() - start)
    return "" if seconds is None else f" · about {seconds:.0f} s left"


def network_outputs():
    """The frozen network's outputs for the training and test pictures, from the store (computed
    once per picture for every session and kept): more than a second of new pictures waits for a
    button, then runs with progress and Stop."""
    everything = np.concatenate([train_pics.images, test_pics.images])
    missing = store.missing(everything)
    area = st.container()  # always drawn: the elements after it keep their places between runs
    if missing:
        with area:
            outputs = _compute_outputs(everything, missing)
    else:
        outputs = store.outputs(everything)
    kept, feats = outputs
    n = len(train_pics)
    return kept[:n], feats[:n], kept[n:], feats[n:]


def _compute_outputs(everything: np.ndarray, missing: int):
    paces = _paces()
    slots = run_controls("tl_features", "Run the pictures through the network", ("features", key),
                         paces["features"].estimate(missing),
                         hint=f"{missing} pictures the frozen network has not seen yet (each is run once, "
                              "then kept for everyone)")
    if slots is None:
        finish_link(LINK)
        stop_page()
    log_computation(f"transfer features {missing}")
    what = f"Running {missing} pictures through the ImageNet network (once per picture)"
    bar = st.progress(0.0, text=f"{what}…")
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"{what}: {done} of {total}{still_to_go(done, total, start)}")

    outputs = store.outputs(everything, progress=progress)
    paces["features"].record(missing, time.perf_counter() - start)
    bar.empty()
    slots.empty()
    return outputs


train_kept, train_feats, test_kept, test_feats = network_outputs()
results = _results()


def logistic():
    found = results.get(("lr", key))
    if found is None:
        found = transfer.fit_logistic(train_feats, train_pics.labels, test_feats, test_pics.labels, n_classes)
        transfer.record_run(_paces(), "logistic", found[0], pictures=len(train_pics))
        results.put(("lr", key), found)
    return found


lr_result, classifier = logistic()


def scratch_data():
    train_images = transfer.resize_pictures(train_pics.images, 64) if own else train_pics.images
    test_images = transfer.resize_pictures(test_pics.images, 64) if own else test_pics.images
    train_split = transfer.as_split(transfer.Pictures(train_images, train_pics.labels, classes), like)
    return train_split, transfer.as_split(transfer.Pictures(test_images, test_pics.labels, classes), train_split)


def run_with_bar(label: str, fn):
    bar = st.progress(0.0, text=f"{label}: starting…")
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"{label}: {done} of {total} steps{still_to_go(done, total, start)}")

    out = fn(progress)
    bar.empty()
    return out


# Why a result is no better than guessing, per strategy: a student reads 12.0 % beside "guessing
# would score 12 %" as a bug otherwise (issue 25).
WHY_GUESSING = {
    "pretrained": "the frozen ImageNet features do not tell these classes apart, so a classifier on them has "
                  "nothing to go on.",
    "scratch": "a network trained from scratch starts from random filters, and {per_class} is far too little to "
               "learn them: it has not learned anything yet. The pretrained network's features (left) are what "
               "makes learning from a few pictures work.",
}


def strategy_card(column, title: str, result, note: str, kind: str) -> None:
    with column:
        if title:
            st.markdown(f"**{title}**")
        if result is not None:
            st.metric("test accuracy", f"{result.accuracy:.1%}", label_visibility="collapsed")
            st.caption(f"{note} · {result.seconds:.1f} s")
            tests, chance = len(test_pics), 1 / n_classes
            if not tests or not transfer.like_guessing(result.accuracy, tests, n_classes):
                return
            if result.accuracy > chance + np.sqrt(chance * (1 - chance) / tests):  # well above, yet few tests
                luck = transfer.chance_p_value(round(result.accuracy * tests), tests, n_classes)
                st.caption(f"{tests} test pictures are too few to tell this from guessing ({chance:.0%}): "
                           f"guessing scores as well {luck:.0%} of the time.")
                return
            per_class = (f"{int(k)} picture{'' if int(k) == 1 else 's'} per class" if not own
                         else f"{len(train_pics)} pictures in all")
            st.caption(f"No better than guessing ({chance:.0%}, within the noise of {tests} test pictures): "
                       + WHY_GUESSING[kind].format(per_class=per_class))


cards = st.columns(3)
strategy_card(cards[0], "Frozen features + logistic regression", lr_result,
              "the 1280 pooled features of the frozen network", "pretrained")

ft_key = ("ft", key, int(blocks), seed)
ft_result = results.get(ft_key)
with cards[1]:
    st.markdown(f"**Fine-tune the last {blocks} blocks**")
    if ft_result is None:
        slots = run_controls("tl_ft", "Train: fine-tune", ft_key,
                             transfer.fine_tune_estimate(_paces(), len(train_pics) + len(test_pics)),
                             hint=f"{transfer.FINE_TUNE_STEPS} steps on a copy of the last blocks")
        if slots is not None:
            log_computation(f"transfer fine-tune {key[:8]} {blocks}")
            ft_result = run_with_bar("Fine-tuning", lambda p: transfer.fine_tune(
                model, train_kept, train_pics.labels, test_kept, test_pics.labels, n_classes, blocks=int(blocks),
                seed=seed, progress=p)[0])
            transfer.record_run(_paces(), "fine_tune", ft_result, pictures=len(train_pics) + len(test_pics))
            results.put(ft_key, ft_result)
            slots.empty()
if ft_result is not None:
    strategy_card(cards[1], "", ft_result,
                  f"a copy of blocks {17 - blocks}–16 + head, new output layer, {transfer.FINE_TUNE_STEPS} steps",
                  "pretrained")

with cards[2]:
    scratch_title = st.empty()
    aug = st.toggle("with augmentation", key="tl_aug", help="The Training page's class-keeping changes "
                    "(flips, small turns and shifts, brightness) to each picture in every epoch.")
sc_key = ("scratch", key, bool(aug), seed)
sc_result = results.get(sc_key)
with cards[2]:
    if sc_result is None:
        scratch_title.markdown("**Small CNN from scratch**")
        slots = run_controls("tl_sc", "Train: from scratch", sc_key, transfer.scratch_estimate(_paces(), len(train_pics)),
                             hint="the app's small CNN from random weights")
        if slots is not None:
            log_computation(f"transfer scratch {key[:8]} {aug}")
            train_split, test_split = scratch_data()
            cfg = augment.PRESETS.get(source, augment.PRESETS["shapes"]) if aug else augment.NO_AUGMENTATION
            arch = transfer.scratch_arch(source, train_split.images.shape[1])
            sc_result = run_with_bar("From scratch", lambda p: transfer.train_scratch(
                train_split, test_split, arch=arch, augmentation=cfg, seed=seed, progress=p)[0])
            transfer.record_run(_paces(), "scratch", sc_result, pictures=len(train_pics))
            results.put(sc_key, sc_result)
            slots.empty()
if sc_result is not None:
    scratch_title.markdown("**Small CNN from scratch**")
    strategy_card(cards[2], "", sc_result,
                  f"the app's {transfer.scratch_arch(source, 3 if own else like.images.shape[1])} CNN, "
                  f"{sc_result.extra.get('epochs', '?')} epochs", "scratch")

if source == "digits":  # shown in presenter mode too: it is the slide's point
    st.info("Digits is the deck's *very different task*: grey 8×8 strokes enlarged to 224×224 look nothing like "
            "ImageNet's photos, so the frozen features help far less than on shapes and scenes, and the small CNN from "
            "scratch does as well or better (see the curve) — the deck's \"you are in trouble\" with little data.")


# --------------------------------------------------------------------------- the views

view = st.radio("Show", VIEWS, horizontal=True, key="tl_view", label_visibility="collapsed")
shown = {LR_NAME: lr_result, FT_NAME: ft_result,
         (AUG_NAME if aug else SCRATCH_NAME): sc_result}
shown = {name: r for name, r in shown.items() if r is not None}


def view_confusion() -> None:
    items = list(shown.items())
    for start in range(0, len(items), 2):  # two a row: a third of the page is too small for 8-10 classes
        for column, (name, r) in zip(st.columns(2), items[start:start + 2]):
            with column:
                show_figure(training_figs.confusion_figure(r.confusion, classes, title=name), key=f"tl_cm_{name}")


def view_mistakes() -> None:
    for name, r in shown.items():
        st.markdown(f"**{name}**: {len(r.misclassified)} of {len(test_pics)} test pictures wrong")
        wrong = r.misclassified[:8]
        if len(wrong):
            show_figure(training_figs.misclassified_figure(
                test_pics.images[wrong], [classes[i] for i in test_pics.labels[wrong]],
                [classes[i] for i in r.predicted[wrong]], [float(r.probabilities[j].max()) for j in wrong],
                columns=4), key=f"tl_wrong_{name}")


def view_curve() -> None:
    if own:
        st.info("The curve draws k pictures per class many times: choose one of the built-in sets for it.")
        return
    draws = st.slider("Draws per k", 1, 3, key="tl_draws", help="Seeded draws of the pictures for each k: "
                      "the bars show the lowest and highest accuracy.")
    seeds = tuple(range(int(draws)))
    pool, test = _builtin(source, "train"), _builtin(source, "test")
    done = _curve_runs().setdefault((source, int(blocks)), {})
    runs = {name: None for name in (LR_NAME, FT_NAME, SCRATCH_NAME)}

    paces = _paces()

    def lr_run(index, s):
        _, f = store.outputs(pool.images[index])
        run = transfer.fit_logistic(f, pool.labels[index], test_feats, test.labels, n_classes)[0]
        transfer.record_run(paces, "logistic", run, pictures=len(index))
        return run.accuracy

    def ft_run(index, s):
        kept, _ = store.outputs(pool.images[index])
        run = transfer.fine_tune(model, kept, pool.labels[index], test_kept, test.labels, n_classes,
                                 blocks=int(blocks), seed=s)[0]
        transfer.record_run(paces, "fine_tune", run, pictures=len(index) + len(test))
        return run.accuracy

    def sc_run(index, s):
        train_split = transfer.as_split(pool.subset(index), like)
        test_split = transfer.as_split(test, like)
        run = transfer.train_scratch(train_split, test_split, arch=transfer.scratch_arch(source, pool.images.shape[1]),
                                     seed=s)[0]
        transfer.record_run(paces, "scratch", run, pictures=len(index))
        return run.accuracy

    runs = {LR_NAME: lr_run, FT_NAME: ft_run, SCRATCH_NAME: sc_run}
    todo = [(s, kk, sd) for kk in transfer.KS for sd in seeds for s in runs if (s, kk, sd) not in done]
    if todo:
        features_needed = store.missing(np.concatenate(
            [pool.images[transfer.draw(pool.labels, kk, sd, n_classes)] for kk in transfer.KS for sd in seeds]))
        parts = [paces["features"].estimate(features_needed)]
        for s, kk, _ in todo:
            pictures = kk * n_classes  # a draw holds k pictures of every class
            parts.append(paces["logistic"].estimate(1) if s == LR_NAME
                         else transfer.fine_tune_estimate(paces, pictures + len(test)) if s == FT_NAME
                         else transfer.scratch_estimate(paces, pictures))
        estimate = (sum(low for low, _ in parts), sum(high for _, high in parts))
        slots = run_controls("tl_curve", "Train for the curve and the table", (source, int(blocks), seeds), estimate,
                             hint=f"{len(todo)} runs of the three strategies at k = "
                                  f"{', '.join(map(str, transfer.KS))}; stopped, it resumes where it was")
        if slots is not None:
            log_computation(f"transfer curve {source} {blocks} {seeds}")
            bar = st.progress(0.0, text="Curve: starting…")
            start = time.perf_counter()

            def progress(count: int, total: int) -> None:
                bar.progress(count / total, text=f"Curve: {count} of {total} runs{still_to_go(count, total, start)}")

            transfer.accuracy_curve(pool.labels, n_classes, transfer.KS, seeds, runs, progress=progress, done=done)
            bar.empty()
            slots.empty()
    curves = {s: np.array([[done.get((s, kk, sd), np.nan) for sd in seeds] for kk in transfer.KS]) for s in runs}
    show_figure(tl_figs.accuracy_curve(list(transfer.KS), curves, chance=1 / n_classes,
                                       title=f"{DATA[source]}: accuracy against pictures per class"),
                key="tl_curve_fig")
    measured = {}
    for (name, b), table in _curve_runs().items():
        if b != int(blocks):
            continue
        for s in runs:
            for kk in (10, 50):
                values = [v for (s2, k2, _), v in table.items() if s2 == s and k2 == kk]
                if values:
                    measured[(name, s, kk)] = float(np.mean(values))
    st.markdown("**The deck's table, with this app's measured accuracies** (shapes and scenes: similar to ImageNet's "
                "photos; digits: very different; compute the curve for each set to fill it)")
    table = transfer.deck_table(measured)
    st.table({"": list(table), "similar task": [r["similar"] for r in table.values()],
              "very different task": [r["different"] for r in table.values()]})


def view_map() -> None:
    method = st.radio("Map", MAPS, horizontal=True, key="tl_map",
                      help="t-SNE keeps neighbours together; PCA shows the two directions of largest spread.")
    maps, scores = {}, {}
    raw = test_pics.images.reshape(len(test_pics), -1).astype(np.float32) / 255.0
    try:
        for name, x in (("frozen features", test_feats), ("raw pixels", raw)):
            maps[name], scores[name] = _map(content_hash(x), method, x, test_pics.labels)
    except transfer.TransferError as err:  # e.g. a webcam set with 2 test pictures
        st.info(f"No map of the {len(test_pics)} test pictures: {err}")
        return
    show_figure(tl_figs.feature_maps(maps, test_pics.labels, classes, scores), key="tl_map_fig")
    explain("Each point is a test picture, coloured by its class. Where the frozen network's features keep the "
            "classes apart, a straight line (the logistic regression) can separate them too. The silhouette "
            "score is above 0 when pictures sit nearer their own class than the next.")


def view_photo() -> None:
    show_text(f"The classifier of frozen features + logistic regression ({', '.join(classes[:10])}"
              f"{' …' if n_classes > 10 else ''}) on a new picture: whatever it shows, it answers with one of these.")
    img = image_input("tl_photo", default_sample="chelsea")
    if img is None:
        return
    pixels = np.asarray(img.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)[None]
    pixels = transfer.resize_pictures(pixels, transfer.INPUT_SIDE)
    feats = transfer.extract_features(model, meta, pixels)
    p = transfer.class_probabilities(classifier, feats, n_classes)[0]
    left, right = st.columns([1, 2])
    left.image(pixels[0].transpose(1, 2, 0), caption="squeezed to 224×224, as the training pictures", width=224)
    with right:
        # the title quotes a class name the user may have typed: escaped for Plotly's HTML
        show_figure(tl_figs.predicted_bars(classes, p, title=f"Predicted: {style.plain(classes[int(p.argmax())])}"),
                    key="tl_photo_bars")
    if st.button("Explain this classifier on Feature maps, Saliency, Occlusion and LIME", key="tl_offer",
                 help="Adds it to this session's models (one at a time: a new one replaces the last)."):
        offer_classifier()
    offered = st.session_state.get(OFFERED_KEY)
    if offered:
        show_text(f"Offered to the other pages as “{offered}” (in their model list, trained in this session).",
                  "caption")


OFFERED_KEY = "_tl_offered"


def offer_classifier() -> None:
    """The frozen features + logistic regression as one session model (its own copy of the
    network's stages, about 19 MB) in every page's model list; the last one offered is replaced."""
    clf_model, clf_meta = transfer.classifier_model(model, meta, classifier, classes, DATA[source])
    trained = st.session_state.setdefault("trained_models", {})
    old = st.session_state.get(OFFERED_KEY)
    if old in trained:
        del trained[old]
    name = f"transfer: features + LR on {DATA[source]}"
    trained[name] = (clf_model, clf_meta)
    st.session_state[OFFERED_KEY] = name


{VIEWS[0]: view_confusion, VIEWS[1]: view_mistakes, VIEWS[2]: view_curve, VIEWS[3]: view_map,
 VIEWS[4]: view_photo}[view]()
finish_link(LINK)
