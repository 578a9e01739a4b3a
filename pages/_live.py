"""The live class around every page (app.py's frame): the lecturer's view is published, a
following student's page follows it, and the class's state is read once a second per process.

The store is :class:`vizcore.live.LiveStore` at ``VIZCORE_CLASS_DB`` (default: a SQLite file in
the app's data folder). Without a reachable database the app runs and the Live class page says why.
"""
from __future__ import annotations

import os
import secrets
import time

import streamlit as st

CLASS_DB_ENV = "VIZCORE_CLASS_DB"
LECTURER = "_live_lecturer"   # session -> (code, key): this session runs a class
MEMBER = "_live_member"       # session -> code: this session joined a class
FOLLOW = "_live_follow"       # whether this session follows the lecturer (plain state: it outlives any page)
FOLLOW_TOGGLE = "live_follow" # the "Follow the lecturer" switch, which shows and sets FOLLOW
APPLIED = "_live_applied"     # session -> (version, page, query) of the lecturer's view it shows
SESSION_ID = "_live_session"  # a random anonymous id per browser session
LIVE_PAGE = "live_class"      # the Live class page's url path
SETTLING_S = 3.0              # after following, the page's own runs for this long are the lecturer's view


def class_db_url() -> str:
    """``VIZCORE_CLASS_DB``, else a SQLite file in the app's data folder (``VIZCORE_DATA``)."""
    url = os.environ.get(CLASS_DB_ENV)
    if url:
        return url
    from vizcore import data

    folder = data.data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'live_class.db'}"


@st.cache_resource(max_entries=1, show_spinner=False)
def _store_for(url: str):
    """(store, state cache) for the process, or (None, why) when the database cannot be reached."""
    from vizcore import live

    try:
        store = live.LiveStore(url)
    except (live.LiveError, OSError, ValueError, ImportError) as err:
        return None, str(err)
    store.expire()
    return store, live.StateCache(store, ttl=1.0)


def store():
    """The process's class store and state cache; (None, why) when there is none."""
    try:
        url = class_db_url()
    except OSError as err:
        return None, f"The class database's folder cannot be made ({err})."
    found = _store_for(url)
    if found[0] is None:
        _store_for.clear()  # try again on the next run: the database may be starting
    return found


def session_id() -> str:
    if SESSION_ID not in st.session_state:
        st.session_state[SESSION_ID] = secrets.token_hex(12)
    return st.session_state[SESSION_ID]


def view_of(page: str) -> dict:
    """This run's page and its link state, as the lecturer's view is stored."""
    return {"page": page, "query": {k: v for k, v in st.query_params.to_dict().items() if k != "class"}}


def before_page(page: str) -> None:
    """app.py, before the page: a ``class=CODE`` link joins; a follower is moved to the lecturer's
    view when it changed (its link state applied as a link's is)."""
    from vizcore import live

    wanted = st.query_params.get("class")
    if wanted and st.session_state.get(MEMBER) != wanted and LECTURER not in st.session_state:
        found, _ = store()
        if found is not None:
            try:
                found.join(live.normalise_code(wanted), session_id())
                st.session_state[MEMBER] = live.normalise_code(wanted)
                st.session_state[FOLLOW] = True
            except live.LiveError:
                pass  # the Live class page says why
    if st.session_state.get(MEMBER) and st.session_state.get(FOLLOW):
        follow_now(page)


def follow_now(page: str) -> None:
    """Go to the lecturer's current view if this session does not show it yet."""
    from vizcore import live

    found, cache = store()
    code = st.session_state.get(MEMBER)
    if found is None or not code:
        return
    try:
        state = cache.get(code)
    except live.StoreUnavailable:
        return
    if state is None or state.ended or not state.view.get("page"):
        return
    applied = st.session_state.get(APPLIED)
    if applied and applied[0] == state.version:
        return
    target = state.view["page"]
    st.session_state[APPLIED] = (state.version, target, state.view.get("query", {}), time.monotonic())
    for key in [k for k in st.session_state if str(k).startswith("_link_read_")]:
        del st.session_state[key]  # the lecturer's link state applies as a fresh link's does
    from pages._ui import FULL_LINK_KEY

    st.session_state[FULL_LINK_KEY] = True  # ...and a setting it leaves out goes back to its default
    st.switch_page(_page_file(target), query_params=state.view.get("query", {}))


def _page_file(url_path: str) -> str:
    from pages._catalog import PAGES

    for info in PAGES:
        if info.path.rsplit("/", 1)[-1].removesuffix(".py") == url_path:
            return info.path
    return "pages/home.py"


def after_page(page: str) -> None:
    """app.py, after the page: the lecturer's view is published (one write per change); a follower
    who moved on their own leaves follow mode."""
    from vizcore import live

    if LECTURER in st.session_state and page != LIVE_PAGE:
        code, key = st.session_state[LECTURER]
        view = view_of(page)
        if st.session_state.get("_live_published") != view:
            found, _ = store()
            if found is not None:
                try:
                    found.set_view(code, key, view["page"], view["query"])
                    st.session_state["_live_published"] = view
                except live.LiveError:
                    pass
    applied = st.session_state.get(APPLIED)
    if st.session_state.get(MEMBER) and st.session_state.get(FOLLOW) and applied and page != LIVE_PAGE:
        shown = view_of(page)["query"]
        if time.monotonic() - applied[3] < SETTLING_S and page == applied[1]:
            # The browser's first runs of a followed page may settle its address (a widget's
            # value coming back from the browser): that is the lecturer's view, not the student.
            st.session_state[APPLIED] = (applied[0], page, shown, applied[3])
        elif (page, shown) != (applied[1], applied[2]):
            st.session_state[FOLLOW] = False  # a widget changed: exploring on their own


def follow_panel(page: str) -> None:
    """The sidebar's class line for a member: following or exploring, and one tap back. A
    fragment rerun each second reads the shared state cache (one store read a second per process)."""
    if not st.session_state.get(MEMBER):
        return

    code = st.session_state.get(MEMBER)
    if page != LIVE_PAGE:  # the Live class page has this toggle in its own body
        with st.sidebar:
            follow_toggle()
    # In the page itself, not the sidebar: a phone's sidebar is closed, and the line says why the
    # page changes by itself.
    if st.session_state.get(FOLLOW):
        _follow_poll(code)
    else:
        st.caption(f"Live class {code}: you're exploring on your own (the sidebar's switch follows the "
                   "lecturer again)")


def follow_toggle() -> None:
    """"Follow the lecturer": off as soon as the student changes a widget; one tap brings the
    lecturer's current view back. (A switch's own state is dropped in a run that does not draw
    it, such as the run that moves to the lecturer's page: FOLLOW keeps the choice.)"""
    st.session_state[FOLLOW_TOGGLE] = bool(st.session_state.get(FOLLOW))
    st.toggle("Follow the lecturer", key=FOLLOW_TOGGLE, on_change=_follow_again,
              help="Your page shows what the lecturer shows. Change anything and you explore on your own.")


def _follow_again() -> None:
    st.session_state[FOLLOW] = bool(st.session_state.get(FOLLOW_TOGGLE))
    if st.session_state[FOLLOW]:
        st.session_state.pop(APPLIED, None)  # the next run goes to the lecturer's view


@st.fragment(run_every=1.0)
def _follow_poll(code: str) -> None:
    """Each second: the shared state (one store read a second per process); a new view of the
    lecturer's reruns the whole page, which then follows it (:func:`follow_now`)."""
    st.caption(f"Live class {code}: following the lecturer")
    found, cache = store()
    if found is None:
        return
    from vizcore import live

    try:
        state = cache.get(code)
    except live.StoreUnavailable:
        st.caption("Reconnecting to the class…")
        return
    applied = st.session_state.get(APPLIED)
    if state is not None and not state.ended and state.view.get("page") and (not applied or applied[0] != state.version):
        st.rerun(scope="app")
