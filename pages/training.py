"""Training: train a small CNN in the browser and watch it learn (and overfit)."""
from __future__ import annotations

import dataclasses
import hashlib
import time

import streamlit as st

from pages import route_through_app

# First, before the page's heavy imports (torch): a cold deep link's bare first run reruns at
# once inside app.py's frame, which starts the browser loading Plotly while torch loads.
route_through_app()

import torch  # noqa: E402
from pages._ui.figures import show_figure  # noqa: E402
from pages._ui.links import finish_link, link_state  # noqa: E402
from pages._ui.page import stop_page  # noqa: E402
from pages._ui.state import kept_value  # noqa: E402
from pages._ui.text import explain, literal, show_text  # noqa: E402
from vizcore import augment, data, images, links, models  # noqa: E402
from vizcore.figures import style, training as training_figs  # noqa: E402
from vizcore.train import TrainConfig, confusion_matrix, model_meta, new_model, predict, train  # noqa: E402

ARCHITECTURES = {"digits": "LeNet-style (digits)", "shapes": "TinyVGG-style (shapes)",
                 "scenes": "TinyVGG-style with global average pooling (scenes)"}
DATA_LABELS = {"digits": "Handwritten digits (scikit-learn, 1×28×28)",
               "shapes": "Generated shapes (3×64×64, 8 classes)",
               "scenes": "Generated scenes: shapes anywhere, with distractors (3×64×64)",
               "shortcut": "Scenes with a class-coloured corner tag (a shortcut)",
               "shortcut_shuffled": "Scenes with a wrong-coloured corner tag",
               "mnist": "MNIST (local files)", "fashion_mnist": "Fashion-MNIST (local files)",
               "cifar10": "CIFAR-10 (local files)", "zip": "My own images (zip of class folders)"}
# A first run should take seconds on a laptop: how many training images and epochs to start with.
PACES = {"lecture (3 s per epoch)": 3.0, "slow (6 s per epoch)": 6.0, "as fast as it can": 0.0}
DEFAULT_PACE = "lecture (3 s per epoch)"
START = {"digits": (1078, 10), "shapes": (2000, 5), "scenes": (2000, 5), "shortcut": (2000, 3),
         "shortcut_shuffled": (2000, 3), "mnist": (5000, 3), "fashion_mnist": (5000, 3),
         "cifar10": (5000, 3), "zip": (5000, 10)}
UPLOAD_LIMIT = images.MAX_UPLOAD_BYTES  # 20 MB, as the server's maxUploadSize
RESULT = "training_result"  # the last run: survives reruns, navigation and the Stop button
MODES = ("Train a model", "Small data: see overfitting", "Standardise the inputs: none, per channel, per pixel")
OPTIMIZERS = {"adam": "Adam", "sgd": "SGD with momentum 0.9"}
START_LR = {"adam": 1e-3, "sgd": 1e-2}
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 1e-2, 3e-2, 1e-1)
BATCH_SIZES = (8, 16, 32, 64, 128, 256)
WEIGHT_DECAYS = (0.0, 1e-5, 1e-4, 1e-3, 1e-2)
MAX_TRAIN = 1_000_000  # a link's "training images" bound; the page clamps it to the data set's size
DATA_NAMES = tuple(data.available_datasets()) + ("zip",)


def default_arch(name: str) -> str:
    return ("digits" if name in ("digits", "mnist", "fashion_mnist")
            else "scenes" if name in data.SCENE_TAGS else "shapes")


def link_spec(name: str) -> links.LinkSpec:
    """The address of the page while data set ``name`` is chosen: every setting, never the weights.

    Each data set keeps its own model settings (its own widget keys and start values), so the
    fields' keys follow ``name``; the names in the address stay the same for every data set.
    """
    start_n, start_epochs = START[name]
    d = augment.PRESETS.get(name, augment.PRESETS["shapes"])
    return links.LinkSpec([
        links.Choice("data", DATA_NAMES[0], DATA_NAMES, key="train_data"),
        links.Choice("colour", "RGB", ("RGB", "Grey"), key="train_zip_colour"),
        links.Choice("mode", MODES[0], MODES, key="train_mode"),
        links.Choice("arch", default_arch(name), ARCHITECTURES, key=f"train_arch_{name}"),
        links.Int("n", start_n, 1, MAX_TRAIN, key=f"train_n_{name}"),
        links.Int("small_n", 100, 10, MAX_TRAIN, key=f"train_small_n_{name}"),
        links.Int("epochs", start_epochs, 1, 200, key=f"train_epochs_{name}"),
        links.Choice("opt", "adam", OPTIMIZERS, key=f"train_opt_{name}"),
        # each optimizer keeps its own learning rate, from its own start value
        links.Choice("lr", START_LR["adam"], LEARNING_RATES, key=f"train_lr_{name}_adam"),
        links.Choice("sgd_lr", START_LR["sgd"], LEARNING_RATES, key=f"train_lr_{name}_sgd"),
        links.Choice("batch", 32, BATCH_SIZES, key=f"train_batch_{name}"),
        links.Choice("decay", 0.0, WEIGHT_DECAYS, key=f"train_decay_{name}"),
        links.Float("dropout", 0.0, 0.0, 0.7, key=f"train_dropout_{name}"),
        links.Bool("bn", False, key=f"train_bn_{name}"),
        links.Int("seed", 0, 0, 10_000, key=f"train_seed_{name}"),
        links.Choice("std", "per channel", data.STANDARDISATIONS, key=f"train_std_{name}"),
        links.Bool("aug", False, key=f"train_aug_on_{name}"),
        links.Bool("hflip", d.hflip, key=f"train_hflip_{name}"),
        links.Bool("vflip", d.vflip, key=f"train_vflip_{name}"),
        links.Int("rot", int(d.rotation), 0, 90, key=f"train_rot_{name}"),
        links.Float("shift", d.shift, 0.0, 0.3, key=f"train_shift_{name}"),
        links.Float("zoom", d.zoom, 0.0, 0.3, key=f"train_zoom_{name}"),
        links.Float("bright", d.brightness, 0.0, 0.5, key=f"train_bright_{name}"),
        links.Float("contrast", d.contrast, 0.0, 0.5, key=f"train_contrast_{name}"),
        links.Float("noise", d.noise, 0.0, 0.2, key=f"train_noise_{name}"),
        links.Float("blur", d.blur, 0.0, 2.0, key=f"train_blur_{name}"),
        links.Choice("pace", DEFAULT_PACE, PACES, key="train_pace"),
    ])


def shown_data() -> str:
    """The data set of this run, needed before its picker is drawn (the fields' keys follow it):
    the picker's value, else the one kept from an earlier visit, else (a first visit) the link's."""
    name = kept_value("train_data")
    if name is None:
        name = st.query_params.get("data")
    return name if name in DATA_NAMES else DATA_NAMES[0]

st.title("Training a CNN")
# Two short sentences: the curves belong on a projector's first screen (issue 25).
explain("Training nudges every weight against the gradient of the loss; the validation images, never trained "
        "on, tell learning from memorising.")
LINK = link_spec(shown_data())
link_state(LINK, "training")  # before the widgets: a shared link's settings, else the start values


# --------------------------------------------------------------------------- data

@st.cache_resource(max_entries=2, show_spinner="Preparing the data set…")
def _splits(name: str) -> dict[str, data.DataSplit]:
    """A data set's three splits, shared read-only: two data sets at a time (a 64×64 set's splits
    hold 140 MB without the object masks, which training never reads; six separate splits with
    masks could hold 470 MB, issue 21)."""
    return {s: dataclasses.replace(data.load_dataset(name, s), masks=None, cue_masks=None) for s in data.SPLITS}


# One zip (issue 21): 5000 pictures at 64² are 59 MB; a second student's zip is read again (≤ 5 s).
@st.cache_resource(max_entries=1, show_spinner=False)
def _zip_dataset(content_hash: str, _raw: bytes, channels: int, size: int) -> data.FolderDataset:
    # The bar is made in here (a cached function may only draw into what it made); each update
    # is a point where a click on "Stop reading" ends this run, and nothing half-read is cached.
    bar = st.progress(0.0, text="Reading your zip…")

    def reading(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Reading your zip: {done} of {total} pictures")

    try:
        return data.load_image_folder_zip(_raw, image_size=size, channels=channels, progress=reading)
    finally:
        bar.empty()


def choose_data() -> tuple[str, dict[str, data.DataSplit]] | None:
    """The data set picker; returns (name, splits) or None with a message on the page."""
    name = st.selectbox("Data set", DATA_NAMES, format_func=DATA_LABELS.get, key="train_data")
    if name != "zip":
        try:
            return name, _splits(name)
        except data.DataError as err:
            st.error(f"Could not load {DATA_LABELS[name]}: {err}")
            return None
    st.caption("A zip with one folder per class (cats/1.jpg, dogs/2.png …). Pictures are squeezed to "
               "64×64; each class is split 70/15/15 % into training, validation and test.")
    upload = st.file_uploader("Zip of class folders", type=["zip"], key="train_zip")
    colour = st.radio("Colour", ["RGB", "Grey"], horizontal=True, key="train_zip_colour")
    if upload is None:
        st.info("Upload a zip to train on your own pictures.")
        return None
    if upload.size > UPLOAD_LIMIT:  # the server's limit; the browser's check can be skipped
        st.error(f"The zip is {upload.size / 2**20:.0f} MB; the limit is {UPLOAD_LIMIT // 2**20} MB.")
        return None
    raw = upload.getvalue()
    digest = hashlib.sha256(raw).hexdigest()
    stopped = st.session_state.setdefault("train_zip_stopped", set())
    if st.session_state.get("train_zip_stop"):  # the click that ended the last reading
        stopped.add(digest)
    if digest in stopped:
        st.info("Reading this zip was stopped.")
        if not st.button("Read it again", key="train_zip_again"):
            return None
        stopped.discard(digest)
    stop = st.empty()
    stop.button("Stop reading", key="train_zip_stop")
    try:
        folder = _zip_dataset(digest, raw, 3 if colour == "RGB" else 1, 64)
    except data.DataError as err:
        show_text(f"Could not use this zip: {err}", "error")  # messages quote file and folder names
        return None
    finally:
        stop.empty()
    sizes = ", ".join(f"{s} {len(d)}" for s, d in folder.splits.items())
    show_text(f"{len(folder.classes)} classes ({', '.join(folder.classes)}); images: {sizes}.", "success")
    if folder.skipped:
        show_text(f"Skipped {len(folder.skipped)} files that are not readable images: "
                  f"{', '.join(folder.skipped[:5])}{' …' if len(folder.skipped) > 5 else ''}", "warning")
    return "zip", folder.splits


# --------------------------------------------------------------------------- settings

def clamp(key: str, low: int, high: int) -> None:
    """Keep a number widget's state inside a range known only at run time (a link, another data set)."""
    st.session_state[key] = max(low, min(int(st.session_state[key]), high))


def augment_settings(name: str, sample: torch.Tensor) -> augment.AugmentConfig:
    """Augmentation switches and strengths, with a preview grid of one training picture."""
    on = st.toggle("Augment the training images", key=f"train_aug_on_{name}",
                   help="Every epoch, each training picture is changed a little at random.")
    if not on:
        return augment.NO_AUGMENTATION
    # start values: the data set's preset (link_spec), through session state
    c1, c2, c3 = st.columns(3)
    cfg = augment.AugmentConfig(
        hflip=c1.checkbox("Mirror left-right", key=f"train_hflip_{name}"),
        vflip=c1.checkbox("Mirror top-bottom", key=f"train_vflip_{name}"),
        rotation=c1.slider("Rotation (± degrees)", 0, 90, key=f"train_rot_{name}"),
        shift=c2.slider("Shift (± fraction)", 0.0, 0.3, step=0.01, key=f"train_shift_{name}"),
        zoom=c2.slider("Zoom (± fraction)", 0.0, 0.3, step=0.01, key=f"train_zoom_{name}"),
        brightness=c2.slider("Brightness (±)", 0.0, 0.5, step=0.01, key=f"train_bright_{name}"),
        contrast=c3.slider("Contrast (±)", 0.0, 0.5, step=0.01, key=f"train_contrast_{name}"),
        noise=c3.slider("Noise (std, up to)", 0.0, 0.2, step=0.01, key=f"train_noise_{name}"),
        blur=c3.slider("Blur (sigma, up to, px)", 0.0, 2.0, step=0.1, key=f"train_blur_{name}"),
    )
    if name == "digits" and (cfg.hflip or cfg.vflip):
        st.warning("A mirrored 2 or 7 is no digit any more: flips change the class here.")
    grid = augment.preview_grid(sample, cfg, count=11, columns=6)
    show_figure(style.image(grid, title="The first picture and 11 random augmented versions",
                            height=330), key="train_aug_preview")
    return cfg


def hyperparameters(name: str, n_train: int) -> tuple[str, dict, TrainConfig, int, str]:
    """Model, model options, TrainConfig, the number of training images and the input
    standardisation, from the widgets."""
    # Start values come from link_spec through session state (a link may have set them).
    c1, c2, c3 = st.columns(3)
    arch = c1.selectbox("Model", list(ARCHITECTURES), format_func=ARCHITECTURES.get, key=f"train_arch_{name}")
    clamp(f"train_n_{name}", 1, n_train)  # the data set's size is known only now
    n = c1.number_input("Training images", 1, n_train, key=f"train_n_{name}",
                        help="The first N images of the training split. Fewer images: faster, more overfitting.")
    epochs = c1.number_input("Epochs", 1, 200, key=f"train_epochs_{name}")
    optimizer = c2.selectbox("Optimizer", list(OPTIMIZERS), key=f"train_opt_{name}", format_func=OPTIMIZERS.get)
    lr = c2.select_slider("Learning rate", LEARNING_RATES, key=f"train_lr_{name}_{optimizer}")
    batch = c2.select_slider("Batch size", BATCH_SIZES, key=f"train_batch_{name}")
    decay = c3.select_slider("Weight decay (L2)", WEIGHT_DECAYS, key=f"train_decay_{name}")
    dropout = c3.slider("Dropout", 0.0, 0.7, step=0.05, key=f"train_dropout_{name}",
                        help="Zeroes this fraction of the hidden units at random in every training step.")
    batch_norm = c3.checkbox("Batch normalisation", key=f"train_bn_{name}")
    seed = c3.number_input("Seed", 0, 10_000, key=f"train_seed_{name}")
    how = c2.selectbox("Standardise the inputs", data.STANDARDISATIONS, key=f"train_std_{name}",
                       help="none: pixels/255 (0…1). Per channel: minus the training images' mean, divided by "
                            "their std, per colour channel (the shipped models). Per pixel: the same for every "
                            "pixel position on its own, as in the deck's MNIST exercise.")
    cfg = TrainConfig(epochs=int(epochs), batch_size=int(batch), optimizer=optimizer, lr=float(lr),
                      weight_decay=float(decay), seed=int(seed), threads=1)
    return arch, {"dropout": float(dropout), "batch_norm": bool(batch_norm)}, cfg, int(n), how


# --------------------------------------------------------------------------- running

def run_training(label: str, arch: str, options: dict, splits: dict, cfg: TrainConfig, n: int,
                 status, chart, runs_so_far: dict, how: str = "per channel") -> dict:
    """Train one model with a progress bar and live curves; return the stored result dict.
    ``how``: the input standardisation (the splits are fed accordingly; per pixel puts the
    training images' pixel statistics in front of the model as its first stage)."""
    given = splits
    splits = {part: data.standardised(split, how) for part, split in splits.items()}
    train_data = splits["train"].subset(n)
    model = new_model(arch, train_data, seed=cfg.seed, **options)
    if how == "per pixel":
        model = models.with_pixel_standardisation(model, *data.pixel_stats(given["train"].images))
    progress = status.progress(0.0, text=f"{label}: starting…")
    result = {"label": label, "arch": arch, "options": options, "model": model, "cfg": cfg,
              "history": None, "status": "running", "n": n, "how": how, "splits": splits}
    st.session_state[RESULT]["runs"][label] = result
    last_draw = [0.0]
    started = time.perf_counter()
    per_epoch = PACES[st.session_state.get("train_pace", DEFAULT_PACE)]

    def on_event(event: dict) -> None:
        h = event["history"]
        result["history"] = h
        done = ((event["epoch"] - 1) * event["batches"] + event["batch"]) / (cfg.epochs * event["batches"])
        if per_epoch and event["kind"] == "batch":  # lecture pace: wait until the schedule catches up
            due = (event["epoch"] - 1 + event["batch"] / event["batches"]) * per_epoch
            while (wait := due - (time.perf_counter() - started)) > 0:
                time.sleep(min(0.25, wait))
                # a screen update between short sleeps: a click on Stop ends the run here
                progress.progress(min(done, 1.0), text=f"{label}: epoch {event['epoch']}/{cfg.epochs}, "
                                                       f"batch {event['batch']}/{event['batches']}")
        now = time.perf_counter()
        if event["kind"] == "epoch" or now - last_draw[0] > 0.25:  # keep the browser traffic light
            last_draw[0] = now
            text = f"{label}: epoch {event['epoch']}/{cfg.epochs}, batch {event['batch']}/{event['batches']}"
            if h.val_accuracy:
                text += f" · validation accuracy {h.val_accuracy[-1]:.1%}"
            progress.progress(min(done, 1.0), text=text)
        if event["kind"] == "epoch":
            with chart.container():
                show_figure(training_figs.learning_curves({**runs_so_far, label: h}),
                            key=f"train_live_{label}_{event['epoch']}")

    history = train(model, train_data, splits["val"], cfg, callback=on_event)
    result.update(history=history, status="done")
    progress.progress(1.0, text=f"{label}: done in {history.seconds:.1f} s, "
                                f"validation accuracy {history.val_accuracy[-1]:.1%}")
    return result


def finish(result: dict, splits: dict, name: str) -> None:
    """Score a (finished or stopped) run on the test split and offer it to every page."""
    splits = result.get("splits", splits)  # as this run fed them (its input standardisation)
    model, test = result["model"].eval(), splits["test"]
    logits = predict(model, test)
    probabilities = torch.softmax(logits, 1)
    result["predicted"] = probabilities.argmax(1)
    result["confidence"] = probabilities.max(1).values
    result["test_accuracy"] = float((result["predicted"] == test.labels).float().mean())
    train_data = splits["train"].subset(result["n"])
    meta = model_meta(f"{result['arch']} on {name}", model, train_data, result["cfg"],
                      options=result["options"], architecture=result["arch"], standardisation=result.get("how", "per channel"),
                      test_accuracy=round(result["test_accuracy"], 6), trained_in="the Training page")
    result["meta"] = meta
    number = len(st.session_state.setdefault("trained_models", {})) + 1
    model_name = f"#{number} {result['arch']} on {name} ({result['test_accuracy']:.1%})"
    st.session_state["trained_models"][model_name] = (model, meta)
    result["model_name"] = model_name


def show_results(result: dict, splits: dict) -> None:
    """Curves, confusion matrix, misclassified test pictures, download."""
    h, test = result["history"], result.get("splits", splits)["test"]
    if result["status"] == "stopped":
        st.warning(f"Stopped after {len(h.epoch)} finished epoch(s); the results show the model as it was then.")
    show_figure(training_figs.learning_curves({result["label"]: h}), key="train_curves")
    st.metric("Test accuracy", f"{result['test_accuracy']:.1%}",
              help=f"{len(test)} test images the model never saw during training.")
    matrix = confusion_matrix(test.labels, result["predicted"], len(test.classes))
    show_figure(training_figs.confusion_figure(matrix, test.classes, title="Confusion matrix (test images)"),
                key="train_confusion")
    wrong = torch.nonzero(result["predicted"] != test.labels)[:, 0][:18]
    if len(wrong):
        st.subheader(f"Misclassified test images ({int((result['predicted'] != test.labels).sum())} in all)")
        fig = training_figs.misclassified_figure(
            test.images[wrong].numpy(), [test.classes[i] for i in test.labels[wrong]],
            [test.classes[i] for i in result["predicted"][wrong]], result["confidence"][wrong].tolist())
        show_figure(fig, key="train_wrong")
    else:
        st.success("Every test image is classified correctly.")
    st.caption(f"Saved for this session as **{result['model_name']}**: choose it in the model selector "
               "of the other pages.")
    st.download_button("Download the model (.pt)", lambda: models.save_checkpoint(result["model"], result["meta"]),
                       file_name=f"{result['arch']}_{time.strftime('%Y%m%d_%H%M')}.pt",
                       mime="application/octet-stream", key="train_download", on_click="ignore")


# --------------------------------------------------------------------------- page

# The data set and what it holds on one row: the curves come up higher on the first screen.
data_side, about_side = st.columns([3, 2], gap="medium")
with data_side:
    chosen = choose_data()
if chosen is None:
    finish_link(LINK)
    stop_page()
name, splits = chosen
train_split = splits["train"]
about_side.caption(f"{len(train_split)} training, {len(splits['val'])} validation and {len(splits['test'])} test "
                   f"images of {'×'.join(map(str, train_split.input_shape))}; classes: "
                   + literal(", ".join(train_split.classes)) + ".")  # a zip's folder names are the user's text

mode = st.radio("What to do", MODES, horizontal=True, key="train_mode")
# On the page: Train and the curves first (a lecturer presses Train and the class sees the curves
# grow on the first screen), the settings under them. Made in that order, filled settings first.
run_row, settings_box = st.container(), st.container()
with settings_box:
    st.markdown("**Settings**")
    st.radio("Pace", list(PACES), key="train_pace", horizontal=True,
             help="Lecture pace waits so that every epoch takes at least that long: the class can watch "
                  "the loss fall. The numbers are the same at any pace.")
    arch, options, cfg, n, how = hyperparameters(name, len(train_split))
    if mode == MODES[0]:
        with st.expander("Data augmentation", expanded=False):
            cfg.augment = augment_settings(name, train_split.images[0])
    elif mode == MODES[2]:
        st.info("Three runs with the settings above, differing only in how the inputs are standardised: "
                "none (pixels/255), per channel, per pixel (the deck's MNIST exercise: 76 % without, 92.5 % "
                "with per-pixel standardisation for its dense net). Compare the curves.")
    else:
        st.info("Two runs on the same few training images: one plain, one with augmentation and dropout "
                "0.5. Watch the gap between training (dashed) and validation (solid) accuracy.")
        clamp(f"train_small_n_{name}", 10, len(train_split))
        n = min(int(st.number_input("Training images for both runs", 10, len(train_split),
                                    key=f"train_small_n_{name}")), len(train_split))

# Train and Stop side by side, the progress beside them (the pace is a setting below): on a
# 1280×720 projector the curves then grow on the first screen (issue 25).
train_col, stop_col, status = run_row.columns([1, 1, 4], vertical_alignment="bottom")
start = train_col.button("Train", type="primary", key="train_start", width="stretch")
stop_col.button("Stop", key="train_stop", help="Ends training now; the epochs finished so far are kept.",
                width="stretch")
chart = run_row.empty()
# Every linked widget is drawn: the address is written now, not after a run of minutes (a
# lecturer copies the link while the class watches). A link only sets widgets; Train starts a run.
finish_link(LINK)

previous = st.session_state.get(RESULT)
if previous and previous.get("status") == "running":
    # A click (Stop, or any other widget) ends the running script at its next screen update.
    # Runs are kept in session state as they go, so the finished epochs are not lost.
    for run in previous["runs"].values():
        if run["status"] == "running" and run["history"] is not None and run["history"].epoch:
            run["status"] = "stopped"
            finish(run, previous["splits"], previous["name"])
    previous["status"] = "stopped"
    if not any(run.get("meta") for run in previous["runs"].values()):
        st.info("Training was stopped before the first epoch finished: nothing to show yet.")

if start:
    st.session_state[RESULT] = {"status": "running", "runs": {}, "splits": splits, "name": name, "mode": mode}
    if mode == "Train a model":
        run = run_training("this run", arch, options, splits, cfg, n, status, chart, {}, how)
        finish(run, splits, name)
    elif mode == MODES[2]:
        done = {}
        for way in data.STANDARDISATIONS:
            done[way] = run_training(way, arch, options, splits, cfg, n, status, chart,
                                     {label: r["history"] for label, r in done.items()}, way)
            finish(done[way], splits, name)
    else:
        plain = TrainConfig(**{**cfg.__dict__, "augment": augment.NO_AUGMENTATION})
        regular = TrainConfig(**{**cfg.__dict__, "augment": augment.PRESETS.get(name, augment.PRESETS["shapes"])})
        first = run_training("plain", arch, {**options, "dropout": 0.0}, splits, plain, n, status, chart, {})
        second = run_training("augmentation + dropout", arch, {**options, "dropout": 0.5}, splits, regular, n,
                              status, chart, {"plain": first["history"]})
        for run in (first, second):
            finish(run, splits, name)
    st.session_state[RESULT]["status"] = "done"
    chart.empty()

with run_row:  # the results where the curves grew: under Train, above the settings
    result = st.session_state.get(RESULT)
    if result and result["status"] in ("done", "stopped") and result["runs"]:
        runs = {label: run for label, run in result["runs"].items() if run.get("meta")}
        if result["mode"] == "Train a model" and runs:
            show_results(next(iter(runs.values())), result["splits"])
        elif runs:
            show_figure(training_figs.learning_curves({label: r["history"] for label, r in runs.items()}),
                        key="train_small_curves")
            rows = [{"run": label, "training accuracy": f"{r['history'].train_accuracy[-1]:.1%}",
                     "validation accuracy": f"{r['history'].val_accuracy[-1]:.1%}",
                     "test accuracy": f"{r['test_accuracy']:.1%}",
                     "gap (train − validation)": f"{r['history'].train_accuracy[-1] - r['history'].val_accuracy[-1]:+.1%}"}
                    for label, r in runs.items()]
            st.table(rows)
            st.caption("The models are saved for this session and can be chosen on the other pages.")


# --------------------------------------------------------------------------- upload

with st.expander("Upload a model (.pt)"):
    st.caption("A file downloaded from this page, or any state dict of the same architecture "
               "(torch.save(model.state_dict(), path)). Only tensors are read, never code.")
    up_arch = st.selectbox("Architecture", list(ARCHITECTURES), format_func=ARCHITECTURES.get, key="train_up_arch")
    weights = st.file_uploader("Weights file", type=["pt", "pth"], key="train_up_file")
    if weights is not None:
        raw = weights.getvalue()
        digest = hashlib.sha256(raw).hexdigest()[:10]
        if len(raw) > UPLOAD_LIMIT:
            st.error(f"The file is {len(raw) / 2**20:.0f} MB; the limit is {UPLOAD_LIMIT // 2**20} MB.")
        else:
            try:
                model, meta = models.load_checkpoint(raw, up_arch)
            except models.ModelError as err:
                show_text(f"Could not use this file: {err}", "error")
            else:
                label = f"uploaded {weights.name[:60]} [{digest}]"
                st.session_state.setdefault("trained_models", {})[label] = (model, meta)
                # the file name and the class names are the uploader's text: shown literally
                show_text(f"Loaded {label}: {meta['params']:,} parameters, classes "
                          f"{', '.join(meta['classes'])}. Choose it in the model selector of the other pages.",
                          "success")
