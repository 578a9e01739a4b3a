"""The class a page explains: the choice by name or "the predicted class", and the model's class
probabilities for its input."""
from __future__ import annotations

from collections import Counter

import numpy as np
import streamlit as st

from pages._ui.model_input import model_input, only_knows_note
from pages._ui.page import stop_page
from pages._ui.runs import content_hash
from pages._ui.text import literal

PREDICTED = -1  # the class choice "the predicted class", whatever the model predicts
PREDICTED_LABEL = "the predicted class"
TOP_CHOICES = 5  # a many-class model's runners-up listed under the class choice


def class_labels(classes: list) -> list[str]:
    """One label per class, its name, made unique (a model may carry two classes of one name)."""
    names = [str(c) for c in classes]
    counts = Counter(names)  # one pass: ImageNet's 1000 names on every rerun
    seen = {n for n, times in counts.items() if times > 1}
    return [f"{n} (#{k})" if n in seen else n for k, n in enumerate(names)]


def class_choice(key: str, classes: list, probabilities, *, container=None,
                 label: str = "Explained class", help: str | None = None) -> int:
    """The class a page explains: "the predicted class" or any class by name (type to search).
    Returns its index; the class's probability is shown under the choice, from this run.

    The labels are the class names only, the same on every run of one model. The browser sends
    a select box's *label* back, and a label that carried a probability or the predicted class
    came back as a text the page no longer offered (the second "Random" broke three pages). A
    stored value that is not one of this model's choices, from a link, an older label or
    another model, is mapped back by its label where it matches and otherwise reset.
    """
    container = container or st
    labels = class_labels(classes)
    value = st.session_state.get(key, PREDICTED)
    if isinstance(value, str):
        value = labels.index(value) if value in labels else PREDICTED
    if isinstance(value, bool) or not isinstance(value, int) or not PREDICTED <= value < len(classes):
        value = PREDICTED
    st.session_state[key] = value
    choice = container.selectbox(label, [PREDICTED, *range(len(classes))], key=key, help=help,
                                 format_func=lambda k: PREDICTED_LABEL if k == PREDICTED else labels[k])
    predicted = int(np.argmax(np.asarray(probabilities)))
    target = predicted if choice == PREDICTED else int(choice)
    container.caption(f"{literal(labels[target])}: probability {float(probabilities[target]):.1%}"
                      + (" — the model's prediction" if target == predicted else
                         f"; the model predicts {literal(labels[predicted])} "
                         f"({float(probabilities[predicted]):.1%})"))
    if len(classes) > TOP_CHOICES:  # ImageNet: the close runners-up are the classes worth explaining
        top = np.argsort(-np.asarray(probabilities))[:TOP_CHOICES]
        container.caption(f"Top {TOP_CHOICES}: " + ", ".join(f"{literal(labels[k])} {float(probabilities[k]):.1%}"
                                                             for k in top)
                          + f". Type any of the {len(classes)} names in the box to explain it instead.")
    return target


@st.cache_data(max_entries=256, show_spinner=False)
def _probabilities(fingerprint: str, input_hash: str, _model, _x) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return torch.softmax(_model(_x), dim=1)[0].numpy().copy()


def explained_input(prefix: str, model, meta: dict, fingerprint: str):
    """The input block of a perturbation page (Occlusion, LIME): the input, what the model knows,
    and the model's class probabilities for it (cached: a display-only rerun runs no model).
    Returns ``(chosen, input_hash, probabilities)``; stops the page while nothing is chosen."""
    chosen = model_input(prefix, meta)
    if chosen is None:
        stop_page()
    only_knows_note(meta, chosen.source)
    input_hash = content_hash(chosen.x)
    return chosen, input_hash, _probabilities(fingerprint, input_hash, model, chosen.x)
