"""The model a page explains: the model selector, one model and one picture carried from page to
page (issue 25 part 2), and a model's start values for the page's settings."""
from __future__ import annotations

import streamlit as st

from pages._ui.links import START_VALUES_KEY, UNLINKABLE_MODEL_KEY
from pages._ui.page import stop_page
from pages._ui.state import remember
from pages._ui.text import literal


@st.cache_resource(show_spinner="Loading the pretrained model…")
def _shipped_model(name: str):
    from vizcore import models  # torch loads only on pages that use a model

    return models.load_pretrained(name)


PAGE_NOW, PAGE_ENTERED = "_page_now", "_page_entered"
CARRIED_MODEL = "_carried_model"  # the model last chosen on any model page (its label)
CARRIED_INPUT = "_carried_input"  # the widget-key prefix of the input last used on a model page
# What a page's input is made of (model_input's keys after its prefix): the kind of input, the
# test image, the sample photo, the kept upload or camera photo, the photo's way into a grey model.
CARRIED_INPUT_KEYS = ("_source", "_class", "_index", "_photo_source", "_photo_side", "_photo_sample",
                      "_photo_upload_kept", "_photo_camera_kept", "_match", "_invert")


def note_page(page: str) -> None:
    """app.py, before the page runs: whether this run opened another page than the last run."""
    previous = st.session_state.get(PAGE_NOW)
    st.session_state[PAGE_NOW] = page
    st.session_state[PAGE_ENTERED] = previous is not None and previous != page


def _entered_without_link(*names: str) -> bool:
    """This run moved here from another page of the session, and the address names none of ``names``
    (a link's own model or input wins)."""
    return bool(st.session_state.get(PAGE_ENTERED)) and not any(n in st.query_params for n in names)


def carry_input(prefix: str) -> None:
    """Before a model page draws its input: on arriving from another model page, take that page's
    input (test image, sample photo, upload or camera photo), so one picture walks through every
    method. Then this page's input is the one carried on."""
    source = st.session_state.get(CARRIED_INPUT)
    if source and source != prefix and _entered_without_link("input", "img", "imgclass", "sample"):
        for suffix in CARRIED_INPUT_KEYS:  # a widget's value, else the value kept for it (remember)
            theirs, mine = f"{source}{suffix}", f"{prefix}{suffix}"
            value = st.session_state.get(theirs, st.session_state.get(f"{theirs}__kept"))
            if value is None:
                continue
            st.session_state[mine] = value
            if f"{theirs}__kept" in st.session_state:  # a kept widget value (never an upload's bytes twice)
                st.session_state[f"{mine}__kept"] = value
    st.session_state[CARRIED_INPUT] = prefix


def model_selector(key: str, *, imagenet: bool = True, own: bool = True, stacked: bool = False):
    """Choose a CNN: the shipped pretrained ones, the lecturer's networks (``models/``), those
    trained or uploaded in this session, and "Your own network…" (``own``) to upload one.

    Session models live in ``st.session_state["trained_models"]`` (name -> (model, meta)), put
    there by the Training page; uploaded ones in :data:`pages._own_models.OWN_MODELS`. Returns
    ``(model, meta)``; the model is shared between users and in eval mode: read it (run it
    stage by stage for a layer's output), never hook, train or change it. ``stacked``: the
    model's description under the choice, not beside it (for a narrow column).
    """
    from vizcore import models

    from pages import _own_models

    names = models.pretrained_models() if imagenet else models.shipped_models()
    choices = {f"{name} (pretrained)": ("shipped", name) for name in names}
    for name in st.session_state.get("trained_models", {}):
        choices[f"{name} (trained in this session)"] = ("session", name)
    if own:
        choices.update(_own_models.own_choices())
        choices[_own_models.OWN_CHOICE] = ("upload", "")
    if not choices:
        st.error("No model is available: the shipped weights are missing from assets/.")
        stop_page()
    remember(key, next(iter(choices)))
    pending = st.session_state.pop(f"{key}_pending", None)  # a network just uploaded: select it
    carried = st.session_state.get(CARRIED_MODEL)
    if pending in choices:
        st.session_state[key] = pending
    elif carried in choices and _entered_without_link("model"):  # the model chosen on the last model page
        st.session_state[key] = carried
    if st.session_state[key] not in choices:  # e.g. a session model that was removed
        st.session_state[key] = next(iter(choices))
    # one row: the first picture comes up sooner; in a narrow column a row would cut the name short
    pick, about = (st.container(), st.container()) if stacked else st.columns([2, 3], vertical_alignment="bottom")
    label = pick.selectbox("Model", list(choices), key=key)
    kind, name = choices[label]
    if kind == "upload":
        ready = _own_models.own_network_form(key, literal)
        if ready is not None:
            st.session_state[f"{key}_pending"] = ready
            st.rerun()
        stop_page()
    st.session_state[CARRIED_MODEL] = label
    if kind == "own":
        st.session_state[UNLINKABLE_MODEL_KEY] = "your own network"
    if kind == "shipped":
        try:
            model, meta = _shipped_model(name)
        except models.ModelError as err:
            st.error(f"Could not load the model: {err}")
            stop_page()
    elif kind in ("own", "lecturer"):
        try:
            model, meta = _own_models.load_choice(kind, name)
        except (models.ModelError, OSError, KeyError) as err:
            st.error(f"Could not open this network: {literal(err)}")
            stop_page()
    else:
        model, meta = st.session_state["trained_models"][name]
    if meta.get("architecture") == "user":
        c, h, w = meta["input_shape"]
        names = ", ".join(meta["classes"][:6]) + (" …" if len(meta["classes"]) > 6 else "")
        about.caption(f"{literal(meta['source'])} · {len(meta['classes'])} classes ({literal(names)}) · input "
                      f"{c}×{h}×{w}, pixels {literal(meta.get('scale') or 'as given')} · {meta['params']:,} parameters")
        return model, meta
    c, h, w = meta["input_shape"]
    accuracy = meta.get("test_accuracy")
    weights = meta.get("weights")
    if weights:  # the ImageNet network: where its weights come from, and that they were checked
        about.caption(f"EfficientNet-Lite0 trained on ImageNet (1.28 million photos) · {len(meta['classes'])} classes · "
                   f"input {c}×{h}×{w} · {meta['params']:,} parameters · Google's weights from the "
                   f"{weights['package']} {weights['version']} package, SHA-256 checked")
    else:
        about.caption(f"Trained on {literal(meta['dataset'])} · {len(meta['classes'])} classes · input {c}×{h}×{w} · "
                   f"{meta['params']:,} parameters"
                   + (f" · test accuracy {accuracy:.1%}" if isinstance(accuracy, (int, float)) else ""))
    return model, meta


def model_start_values(spec, model_key: str, values: dict) -> None:
    """When the chosen model changes, put this model's start values into the widgets' state
    (call after :func:`model_selector`, before the widgets): a 32-pixel patch suits a 224×224
    photo, an 8-pixel one a 28×28 digit. A session's first run that opened a link keeps the
    link's settings: the address already says the whole view."""
    st.session_state.setdefault(START_VALUES_KEY, {}).update(values)  # the link leaves these out
    marker = f"_{model_key}_start_values_for"
    model = st.session_state.get(model_key)
    if st.session_state.get(marker) == model:
        return
    first = marker not in st.session_state
    st.session_state[marker] = model
    in_link = {f.state_key for f in spec.fields if f.name in st.query_params} if first else set()
    defaults = spec.defaults()
    for key, value in values.items():
        # On the first run a value already changed from the page's default (kept from an
        # earlier visit, set by a test, or named by the address) stays; a model switch later
        # brings its start values.
        if key in in_link:
            continue
        if not first or st.session_state.get(key, defaults.get(key)) == defaults.get(key):
            st.session_state[key] = value
