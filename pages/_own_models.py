"""Your own network on every model page: upload a Keras or ONNX file, say what it lacks, use it.

Written once for every model page (:func:`pages._ui.models.model_selector` calls it). An uploaded network
lives in its student's session only ("NAME (your own)"); a lecturer's network is a file in the
``models/`` folder beside app.py (or ``VIZCORE_MODEL_DIR``), listed for everyone as
"NAME (lecturer's)", and can travel in a link.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import streamlit as st

OWN_CHOICE = "Your own network…"
OWN_MODELS = "own_models"      # session key -> {label: (model, meta)}
MAX_OWN_MODELS = 3             # a session keeps its last three uploaded networks
OWN_SUFFIX, LECTURER_SUFFIX = " (your own)", " (lecturer's)"
NETWORK_TYPES = ["keras", "h5", "onnx", "pt"]
MAX_NETWORK_BYTES = 20 * 2**20  # the app's upload limit (.streamlit/config.toml), for the folder too
NUMBERS = "numbers 0, 1, 2 …"
TYPED = "type them (one per line)"
IMAGENET_PRESET = "ImageNet's 1000"


def lecturer_folder() -> Path:
    """Where a lecturer puts networks for the whole hall: ``VIZCORE_MODEL_DIR`` or ``models/``."""
    return Path(os.environ.get("VIZCORE_MODEL_DIR") or Path(__file__).resolve().parents[1] / "models")


def lecturer_models() -> dict[str, Path]:
    """"NAME (lecturer's)" -> file, for every network file in the lecturer's folder."""
    folder = lecturer_folder()
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower().lstrip(".") in NETWORK_TYPES and p.is_file())
    except OSError:
        return {}
    return {f"{p.stem[:40]}{LECTURER_SUFFIX}": p for p in files}


@st.cache_resource(max_entries=2, show_spinner="Opening the lecturer's network…")
def _lecturer_model(path: str, size: int, modified_ns: int):
    """The lecturer's network, shared read-only by every session (keyed on the file's size and
    time: a new file of the same name is read again)."""
    from vizcore import models, user_models

    file = Path(path)
    if size > MAX_NETWORK_BYTES:
        raise models.ModelError(f"{file.name} has {size / 2**20:.0f} MB; networks here are at most "
                                f"{MAX_NETWORK_BYTES // 2**20} MB.")
    model, meta = models.load_user_model(file.read_bytes(), file.name)
    if 4 * meta["params"] > MAX_NETWORK_BYTES:  # e.g. float16 weights: twice as many numbers per MB
        raise models.ModelError(f"{file.name} holds {meta['params']:,} numbers; networks here have at most "
                                f"{MAX_NETWORK_BYTES // 2**22:,} million.")
    sidecar = file.with_suffix(".json")
    if sidecar.is_file():
        try:
            said = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise models.ModelError(f"{sidecar.name} is not readable JSON ({err}).") from None
        meta = user_models.with_choices(meta, **_sidecar_choices(said, meta))
    return model, {**meta, "name": file.stem[:40], "lecturer": True}


def _sidecar_choices(said, meta: dict) -> dict:
    """The choices a lecturer's ``NAME.json`` makes: classes (a list, or a preset's name), scale
    ("0-1", "0-255", "-1-1", or mean and std lists), size."""
    from vizcore import models, user_models

    if not isinstance(said, dict):
        raise models.ModelError("The network's JSON file must hold an object such as {\"classes\": [...]}.")
    choices: dict = {}
    classes = said.get("classes")
    if isinstance(classes, str):
        classes = class_preset(classes, len(meta["classes"]))
    if classes is not None:
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise models.ModelError("\"classes\" must be a list of names or a preset's name.")
        choices["classes"] = classes
    scale = said.get("scale")
    if scale is not None:
        spelled = {s.replace("–", "-").replace("−", "-"): s for s in user_models.SCALES}
        choices["scale"] = spelled.get(str(scale).replace("–", "-").replace("−", "-"), scale)
    if "mean" in said or "std" in said:
        choices.update(scale=user_models.MEAN_STD, mean=said.get("mean"), std=said.get("std"))
    if isinstance(said.get("size"), int):
        choices["size"] = said["size"]
    return choices


def class_preset(name: str, count: int) -> list[str]:
    """A preset's class names (:data:`vizcore.user_models.CLASS_PRESETS`, or ImageNet's 1000)."""
    from vizcore import models, user_models

    if name == IMAGENET_PRESET:
        return models.imagenet_classes()
    if name == NUMBERS:
        return [str(i) for i in range(count)]
    if name not in user_models.CLASS_PRESETS:
        raise models.ModelError(f"Unknown class list {name!r}.")
    return list(user_models.CLASS_PRESETS[name])


def own_choices() -> dict[str, tuple[str, str]]:
    """The model choices this module adds: the lecturer's networks, then the session's own."""
    choices = {label: ("lecturer", label) for label in lecturer_models()}
    choices.update({label: ("own", label) for label in st.session_state.get(OWN_MODELS, {})})
    return choices


def load_choice(kind: str, label: str):
    """``(model, meta)`` of a lecturer's or an own network (ModelError when it cannot be opened)."""
    if kind == "own":
        return st.session_state[OWN_MODELS][label]
    path = lecturer_models()[label]
    stat = path.stat()
    return _lecturer_model(str(path), stat.st_size, stat.st_mtime_ns)


def _parse_numbers(text: str, channels: int) -> list[float] | None:
    try:
        values = [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        return None
    return values * channels if len(values) == 1 else values


def own_network_form(key: str, literal) -> str | None:
    """The upload and its questions. Returns the new choice's label once "Use this network" is
    pressed (the caller selects it), else None (the page then stops: nothing to show yet)."""
    from vizcore import models, user_models

    st.markdown("**Your own network**: a Keras file (`model.save(\"my_cnn.keras\")` or `.h5`) or ONNX "
                "(`torch.onnx.export(model, x, \"my_cnn.onnx\", dynamo=False)`). Nothing in the file is run: "
                "its layers are rebuilt from their settings and weights.")
    upload = st.file_uploader("Network file", type=NETWORK_TYPES, key=f"{key}_own_file")
    if upload is None:
        st.info("Choose a network file to see inside it.")
        return None
    if upload.size > MAX_NETWORK_BYTES:
        st.error(f"This file has {upload.size / 2**20:.1f} MB; the limit is {MAX_NETWORK_BYTES // 2**20} MB.")
        return None
    data = upload.getvalue()
    try:
        model, meta = _opened(upload.name, data)
    except models.ModelError as err:
        st.error(f"Could not open this network: {literal(err)}")
        return None
    count, (channels, height, width) = len(meta["classes"]), meta["input_shape"]
    st.caption(f"{literal(meta['source'])} · {len(list(model.children()))} stages · {meta['params']:,} parameters · "
               f"input {channels}×{height}×{width} ({'grey' if channels == 1 else 'colour'}) · {count} outputs")
    with st.expander("model.summary()"):
        show_summary(meta, literal)
    presets = [NUMBERS] + [n for n, c in user_models.CLASS_PRESETS.items() if len(c) == count]
    presets += [IMAGENET_PRESET] if count == 1000 else []
    left, right = st.columns(2)
    preset = left.selectbox("Class names", presets + [TYPED], key=f"{key}_own_classes")
    typed = left.text_area("One class per line", key=f"{key}_own_typed", height=120) if preset == TYPED else ""
    scales = list(user_models.SCALES) + [user_models.MEAN_STD]
    if st.session_state.get(f"{key}_own_scale") not in scales or st.session_state.get(f"{key}_own_for") != upload.file_id:
        st.session_state[f"{key}_own_scale"] = meta["scale"]  # the file's guess, for each new file
        st.session_state[f"{key}_own_for"] = upload.file_id
    scale = right.radio("Pixel scale it was trained on", scales, key=f"{key}_own_scale", horizontal=True,
                        help="What your notebook fed the network: x / 255 is 0–1; raw pixels 0–255 (or a "
                             "Rescaling(1/255) first layer); (x − 127.5) / 127.5 is −1–1.")
    mean = std = None
    if scale == user_models.MEAN_STD:
        imagenet = channels == 3  # ImageNet's statistics: the usual choice for a colour network
        mean = _parse_numbers(right.text_input("Mean per channel (0–1 units)", "0.485, 0.456, 0.406" if imagenet
                                               else "0.5", key=f"{key}_own_mean"), channels)
        std = _parse_numbers(right.text_input("Std per channel (0–1 units)", "0.229, 0.224, 0.225" if imagenet
                                              else "0.5", key=f"{key}_own_std"), channels)
    size = picked_channels = None
    if meta.get("open_channels"):
        picked_channels = 1 if right.radio("Pictures it reads (the file leaves it open)", ["colour", "grey"],
                                           key=f"{key}_own_channels", horizontal=True) == "grey" else 3
        channels = picked_channels
    if meta["open_size"]:
        size = int(right.number_input("Picture side (pixels): the file leaves it open", min_value=user_models.MIN_SIDE,
                                      max_value=user_models.MAX_SIDE, value=height, key=f"{key}_own_size"))
    if not st.button("Use this network", key=f"{key}_own_use", type="primary"):
        return None
    try:
        classes = typed.splitlines() if preset == TYPED else class_preset(preset, count)
        chosen = user_models.with_choices(meta, classes=classes, scale=scale, mean=mean, std=std, size=size,
                                          channels=picked_channels)
        if (size or picked_channels) and user_models.output_count(model, tuple(chosen["input_shape"])) != count:
            raise models.ModelError("With this picture size the network gives another number of outputs.")
    except models.ModelError as err:
        st.error(literal(err))
        return None
    label = f"{meta['name']}{OWN_SUFFIX}"
    own = st.session_state.setdefault(OWN_MODELS, {})
    own.pop(label, None)
    own[label] = (model, chosen)
    while len(own) > MAX_OWN_MODELS:
        own.pop(next(iter(own)))
    return label


def _opened(filename: str, data: bytes):
    """The upload opened once per session and file (reruns while answering the questions reuse it)."""
    from vizcore import models

    token = (filename, hashlib.sha256(data).hexdigest())
    kept = st.session_state.get("_own_opened")
    if kept is not None and kept[0] == token:
        return kept[1]
    opened = models.load_user_model(data, filename)
    if 4 * opened[1]["params"] > MAX_NETWORK_BYTES:  # e.g. float16 weights: twice as many numbers per MB
        raise models.ModelError(f"This network holds {opened[1]['params']:,} numbers; networks uploaded here have "
                                f"at most {MAX_NETWORK_BYTES // 2**22:,} million.")
    st.session_state["_own_opened"] = (token, opened)
    return opened


def show_summary(meta: dict, literal) -> None:
    """Keras' model.summary() of a network: layer, output shape, parameters, and the totals."""
    rows = meta.get("summary") or []
    st.dataframe([{"Layer (type)": f"{r.name} ({r.kind})", "Output shape": str(r.output_shape),
                   "Param #": r.params} for r in rows], hide_index=True, width="stretch")
    trainable = sum(r.params - r.statistics for r in rows if r.trainable)
    total = sum(r.params for r in rows)
    st.caption(f"Total params: {total:,} · Trainable params: {trainable:,} · Non-trainable params: "
               f"{total - trainable:,}" + (" · shapes as Keras prints them: (height, width, channels)"
                                            if meta.get("channels_last") else ""))


def summary_section(key: str, literal) -> None:
    """The Architectures page's view of a student's network: its ``model.summary()`` beside the
    exercise's tables — a network from this session's model list or a file dropped here."""
    from vizcore import models

    st.subheader("Your own network's model.summary()")
    listed = own_choices()
    upload = st.file_uploader("A network file (Keras .keras/.h5 or ONNX)", type=NETWORK_TYPES, key=f"{key}_file")
    meta = None
    try:
        if upload is not None:
            if upload.size > MAX_NETWORK_BYTES:
                raise models.ModelError(f"This file has {upload.size / 2**20:.1f} MB; the limit is "
                                        f"{MAX_NETWORK_BYTES // 2**20} MB.")
            meta = _opened(upload.name, upload.getvalue())[1]
        elif listed:
            label = st.selectbox("Network", list(listed), key=f"{key}_pick")
            meta = load_choice(*listed[label])[1]
    except (models.ModelError, OSError, KeyError) as err:
        st.error(f"Could not open this network: {literal(err)}")
        return
    if meta is None:
        st.caption("Drop the file of your exercise's network here (or open it on a model page with "
                   "\"Your own network…\") to see its layers, output shapes and parameters as Keras counts them.")
        return
    st.caption(f"{literal(meta['name'])} · {literal(meta.get('source', ''))}")
    show_summary(meta, literal)
