"""A page's address: its settings read from and written to the link, the shared parameters
(presenter, a live class), and the "Copy link" box."""
from __future__ import annotations

import streamlit as st

from pages._ui.page import _frame
from pages._ui.presenter import PRESENTER_KEY, presenting
from pages._ui.runs import log_arguments
from pages._ui.text import show_text

FULL_LINK_KEY = "_full_link"  # set by the live class before a follower's page reads the lecturer's view
START_VALUES_KEY = "_model_start_values"  # session key -> the chosen model's start value
UNLINKABLE_KEY = "_unlinkable_input"  # this run's input that no address can carry (app.py clears it)
UNLINKABLE_MODEL_KEY = "_unlinkable_model"  # this run's uploaded network (app.py clears it)


def link_state(spec, page: str, *, fill_defaults: bool = True) -> None:
    """Call at the top of a page, before its widgets: the page's state from its address.

    ``spec`` is a :class:`vizcore.links.LinkSpec`; ``page`` a short unique name. On the
    session's first run of the page, the address's values go into ``st.session_state`` under
    each field's key, and any refused entry is shown as a warning (quoted literally). Every key
    then holds a value (the one kept from an earlier visit, else the default), so the widgets
    must take their value from session state only (``key=...``, never ``value=``/``index=``).
    ``fill_defaults=False`` leaves keys the address does not set alone (the page gives them
    their start values itself). Call :func:`write_link_state` at the end of the page.
    """
    read = f"_link_read_{page}"
    if read not in st.session_state:
        st.session_state[read] = True
        values, problems = spec.decode(st.query_params.to_dict())
        if st.session_state.pop(FULL_LINK_KEY, False):  # the lecturer's whole view: what it leaves out is its default
            for key in spec.defaults():
                st.session_state.pop(key, None)
                st.session_state.pop(f"{key}__kept", None)
        st.session_state.update(values)
        if problems:
            show_text("Some settings in the link were not understood and were left as they were: "
                      + "; ".join(problems), "warning")
    for key, default in spec.defaults().items():
        if key not in st.session_state:  # a widget's key is dropped when another page is shown
            if f"{key}__kept" in st.session_state:
                st.session_state[key] = st.session_state[f"{key}__kept"]
            elif fill_defaults:
                st.session_state[key] = default


def write_link_state(spec) -> None:
    """Call at the end of a page: the address holds every linked setting that differs from its
    default (and presenter=1 when presenting), so the address bar is always a working link."""
    for f in spec.fields:
        if f.state_key in st.session_state:
            st.session_state[f"{f.state_key}__kept"] = st.session_state[f.state_key]
    start_values = st.session_state.get(START_VALUES_KEY)
    out = {**spec.encode(st.session_state, start_values), **shared_link_params()}
    # What a setting left out of the address opens with: its default, or the model's start value.
    log_arguments("link-defaults", **{f.name: (start_values or {}).get(f.state_key, f.default) for f in spec.fields})
    if st.query_params.to_dict() != out:
        st.query_params.from_dict(out)


def shared_link_params() -> dict[str, str]:
    """The query parameters that belong to the whole app (the Presenter switch), to keep in
    every page's address. A live class member's class too (``class=CODE``): a reconnect that
    lands on another replica (a new session) rejoins from the address."""
    shared = {PRESENTER_KEY: "1"} if presenting() else {}
    member = st.session_state.get("_live_member")  # pages/_live.py's MEMBER (not imported: it imports this)
    if member:
        shared["class"] = member
    return shared


def page_link(spec=None) -> str:
    """This page's full address: with ``spec`` (a LinkSpec) the current settings encoded, else
    the current query parameters."""
    from urllib.parse import urlencode

    if spec is None:
        query = st.query_params.to_dict()
    else:
        query = {**spec.encode(st.session_state, st.session_state.get(START_VALUES_KEY)), **shared_link_params()}
    base = st.context.url or ""
    return base + ("?" + urlencode(query) if query else "")


def copy_link(spec=None, label: str = "Copy link") -> None:
    """A small "Copy link" box for the lecturer: this view's address with all its settings and a
    copy button. ``spec``: the page's LinkSpec (the link then follows this run's settings even
    when the box is drawn before the widgets)."""
    with st.popover(label):
        st.caption("This address opens this page with the same settings:")
        st.code(page_link(spec), language=None, wrap_lines=True)
        unlinkable = " and ".join(filter(None, (st.session_state.get(UNLINKABLE_MODEL_KEY),
                                                st.session_state.get(UNLINKABLE_KEY))))
        if st.session_state.get(UNLINKABLE_MODEL_KEY):
            st.caption("An uploaded network lives in your session only: the link opens the page's first "
                       "model (a lecturer's network from the models folder can travel in a link).")
        if unlinkable:
            st.caption(f"An address cannot carry {unlinkable}: the link opens these settings with the "
                       "input its address names (a test image or a sample photo).")


def sidebar_link_place(place) -> None:
    """app.py: where the sidebar's "Copy link" box goes in this run (right under the Presenter
    switch, so it is on the first screen above a page's own sidebar controls)."""
    _frame.link_place = place


def finish_link(spec=None) -> None:
    """Call last on a page: write its settings into the address (``spec``; without one the page
    wrote its address itself) and put the "Copy link" box in the sidebar."""
    if spec is not None:
        write_link_state(spec)
    place = getattr(_frame, "link_place", None)  # set by app.py's frame for this run only
    with place if place is not None else st.sidebar:
        copy_link()
