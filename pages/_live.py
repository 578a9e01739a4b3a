"""The live class around every page (app.py's frame): the lecturer's view is published, a
following student's page follows it, and the class's state is read at most twice a second per process.

The store is :class:`vizcore.live.LiveStore` at ``VIZCORE_CLASS_DB`` (default: a SQLite file in
the app's data folder). Without a reachable database the app runs and the Live class page says why.
"""
from __future__ import annotations

import os
import re
import secrets
import threading
import time
from pathlib import Path

import numpy as np
import streamlit as st

CLASS_DB_ENV = "VIZCORE_CLASS_DB"
LECTURER = "_live_lecturer"   # session -> (code, key): this session runs a class
MEMBER = "_live_member"       # session -> code: this session joined a class
FOLLOW = "_live_follow"       # whether this session follows the lecturer (plain state: it outlives any page)
FOLLOW_TOGGLE = "live_follow" # the "Follow the lecturer" switch, which shows and sets FOLLOW
APPLIED = "_live_applied"     # session -> (version, page, query, when) of the lecturer's view it shows
SESSION_ID = "_live_session"  # a random anonymous id per browser session
STUDENT_COOKIE = "vizcore_student"  # ...kept by the browser for a lecture (the watcher sets it)
LECTURER_COOKIE = "vizcore_lecturer"  # "CODE.KEY" in the lecturer's browser for the lecture (remember_lecturer)
LECTURE_S = 4 * 3600          # how long the browser keeps these cookies: a class's life
BROUGHT = "_live_brought"     # the id of the last question this session was brought to the Live class page for
LIVE_PAGE = "live_class"      # the Live class page's url path
STATE_TTL_S = 0.5             # a process reads a class at most twice a second, for all its students
LONG_POLL_S = 15.0            # a watcher's request waits at most this long for a change
WAKE_S = 0.25                 # how often a class's one loop per process looks at its cached state
SETTLING_S = 3.0              # after following, the page's own runs for this long are the lecturer's view
SEEN_FLUSH_S = 5.0            # the sessions a process's watchers saw are written together this often


def class_db_url() -> str:
    """``VIZCORE_CLASS_DB``, else a SQLite file in the app's data folder (``VIZCORE_DATA``)."""
    url = os.environ.get(CLASS_DB_ENV)
    if url:
        return url
    from vizcore import data

    folder = data.data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'live_class.db'}"


_STORES: dict[str, tuple] = {}  # database URL -> (store, state cache): one per process, shared read-only
_STORES_LOCK = threading.Lock()
_FAILED: dict[str, tuple[float, str]] = {}  # database URL -> (when, why) of the last failed start
RETRY_S = 5.0


def _store_for(url: str):
    """(store, state cache) for the process, or (None, why) when the database cannot be reached.
    A plain module-level singleton, not st.cache_resource: the class endpoint (no script run)
    reads it too."""
    from vizcore import live

    with _STORES_LOCK:
        if url in _STORES:
            return _STORES[url]
        failed = _FAILED.get(url)
        if failed and time.monotonic() - failed[0] < RETRY_S:  # no page run waits on a dead database again
            return None, failed[1]
    try:
        store = live.LiveStore(url)
        store.expire()
    except (live.LiveError, OSError, ValueError, ImportError) as err:
        with _STORES_LOCK:  # the database may be starting: tried again after RETRY_S
            _FAILED[url] = (time.monotonic(), str(err))
        return None, str(err)
    with _STORES_LOCK:
        return _STORES.setdefault(url, (store, live.StateCache(store, ttl=STATE_TTL_S)))


def reset_store() -> None:
    """Forget the process's store and its cached class states (tests; a changed VIZCORE_CLASS_DB)."""
    with _STORES_LOCK:
        _STORES.clear()
        _FAILED.clear()


def store():
    """The process's class store and state cache; (None, why) when there is none."""
    try:
        url = class_db_url()
    except OSError as err:
        return None, f"The class database's folder cannot be made ({err})."
    return _store_for(url)


def stamp_of(state) -> str | None:
    """What a member's page shows of the class, in one string: the lecturer's view, the current
    question and its state. The watcher reruns a page only when it changes."""
    if state is None:
        return None
    question = state.question or {}
    return f"{state.version}-{question.get('id', 0)}-{question.get('state', '')}-{int(state.ended)}"


class _ClassWatch:
    """One per class and process while students wait: a single loop reads the class's state
    (through the process's cache) every WAKE_S and wakes every waiting request when its stamp
    changes. A waiting request costs nothing in between."""

    def __init__(self, code: str):
        import asyncio

        self.code, self.stamp, self.waiting = code, None, 0
        self.changed = asyncio.Condition()
        self.task = None
        self.seen: set[str] = set()  # sessions that polled since the last write ("52 in the class")

    async def flush_seen(self, store) -> None:
        """One write for all the sessions that polled lately: the store's writes grow with the
        replicas, not with the students (300 long polls every 15 s were 20 writes a second)."""
        import asyncio

        from vizcore import live

        sessions, self.seen = self.seen, set()
        try:
            await asyncio.to_thread(store.seen_many, self.code, sessions)
        except live.LiveError:
            pass  # the database does not answer: the count of members is only a count

    async def run(self, cache) -> None:
        import asyncio

        from vizcore import live

        idle_since, flushed = None, time.monotonic()
        while True:
            if self.seen and (time.monotonic() - flushed > SEEN_FLUSH_S or self.waiting == 0):
                await self.flush_seen(cache.store)
                flushed = time.monotonic()
            try:
                stamp = stamp_of(await asyncio.to_thread(cache.get, self.code))
            except live.LiveError:
                stamp = None
            if stamp != self.stamp:
                self.stamp = stamp
                async with self.changed:
                    self.changed.notify_all()
            if self.waiting == 0:  # nobody waits: stop after a while (a class that ended)
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > LONG_POLL_S:
                    if _WATCHES.get(self.code) is self:
                        del _WATCHES[self.code]
                    return
            else:
                idle_since = None
            await asyncio.sleep(WAKE_S)


_WATCHES: dict[str, _ClassWatch] = {}


async def version_endpoint(request):
    """GET /_live/version?class=CODE&since=STAMP&session=ID: answered as soon as the class's stamp
    differs from ``since``, else after LONG_POLL_S (a long poll). One loop per class and process
    reads the class (:class:`_ClassWatch`), however many students wait."""
    import asyncio

    from starlette.responses import JSONResponse

    code = str(request.query_params.get("class", ""))[:8].upper()
    since = str(request.query_params.get("since", ""))[:40]
    session = str(request.query_params.get("session", ""))[:40]
    found, cache = store()
    if found is None or not code:
        return JSONResponse({"stamp": None}, status_code=503)
    watch = _WATCHES.get(code)
    if watch is None or watch.task is None or watch.task.done():
        # Made and started before any await: students who poll at the same moment share this one
        # loop (an await here let each of them start its own, each reading the class every WAKE_S).
        # Its first read sets the stamp (None until then: no news, the requests wait for it).
        watch = _WATCHES[code] = _ClassWatch(code)
        watch.task = asyncio.get_running_loop().create_task(watch.run(cache))
    if session:
        watch.seen.add(session)  # "52 in the class": written with the others by the class's loop
    watch.waiting += 1
    try:
        deadline = time.monotonic() + LONG_POLL_S
        async with watch.changed:
            # A class that cannot be read now (None: the database does not answer) is no news:
            # answering at once would make every watcher poll in a tight loop until it is back.
            while watch.stamp in (since, None) and time.monotonic() < deadline:
                try:
                    await asyncio.wait_for(watch.changed.wait(), timeout=min(2.0, deadline - time.monotonic()))
                except asyncio.TimeoutError:
                    if await request.is_disconnected():  # the tab closed: stop waiting for it
                        break
    finally:
        watch.waiting -= 1
    return JSONResponse({"stamp": watch.stamp})


def routes() -> list:
    """The class endpoint, mounted beside Streamlit's own by app.py's st.App."""
    from starlette.routing import Route

    return [Route("/_live/version", version_endpoint, methods=["GET"])]


def session_id() -> str:
    """This browser's anonymous id in the class. The watcher (pages/_live_watch) keeps it in a
    cookie for the lecture's length: a student whose replica died comes back in a new session on
    another replica with the same id, so an answer sent again replaces theirs, never counts twice."""
    if SESSION_ID not in st.session_state:
        kept = str(st.context.cookies.get(STUDENT_COOKIE) or "")
        st.session_state[SESSION_ID] = kept if re.fullmatch(r"[0-9a-f]{24}", kept) else secrets.token_hex(12)
    return st.session_state[SESSION_ID]


def live_address(**query: str) -> str:
    """The Live class page's address on this server, as a phone in the hall opens it, with
    ``query`` as its link's fields (``class=CODE``; the lecturer's link adds ``key``)."""
    from urllib.parse import urlencode, urlsplit

    parts = urlsplit(st.context.url or "http://localhost:8501/")
    return f"{parts.scheme}://{parts.netloc}/{LIVE_PAGE}" + (f"?{urlencode(query)}" if query else "")


def view_of(page: str) -> dict:
    """This run's page and its link state, as the lecturer's view is stored."""
    return {"page": page, "query": {k: v for k, v in st.query_params.to_dict().items() if k != "class"}}


def remember_lecturer(code: str, key: str) -> None:
    """Keep the lecturer's key in their browser for the lecture, as the bookmarked lecturer link
    keeps it: when their replica dies, the reconnect is a new session on another replica, and
    without it the lecturer would come back as a student (the address keeps only ``class=CODE``:
    the key never shows on the projector). Written once per session."""
    import json

    value = f"{code}.{key}"
    if st.session_state.get("_live_cookie") == value or st.context.cookies.get(LECTURER_COOKIE) == value:
        st.session_state["_live_cookie"] = value
        return
    cookie = f"{LECTURER_COOKIE}={value}; path=/; max-age={LECTURE_S}; SameSite=Strict"
    st.html(f"<script>document.cookie = {json.dumps(cookie)};</script>", unsafe_allow_javascript=True)
    st.session_state["_live_cookie"] = value


def forget_lecturer() -> None:
    """The class ended: the browser forgets the lecturer's key."""
    st.html(f"<script>document.cookie = '{LECTURER_COOKIE}=; path=/; max-age=0; SameSite=Strict';</script>",
            unsafe_allow_javascript=True)
    st.session_state.pop("_live_cookie", None)


def lecturer_from_cookie() -> None:
    """A new session in the lecturer's browser (their replica died, or a new tab) is the lecturer
    again when the kept key is still the class's key. Tried once per session; again on the next
    run while the database does not answer."""
    from vizcore import live

    kept = str(st.context.cookies.get(LECTURER_COOKIE) or "")
    if LECTURER in st.session_state or st.session_state.get("_live_cookie_tried") or "." not in kept:
        return
    code, key = kept.split(".", 1)
    found, cache = store()
    if found is None:
        return
    try:
        code = live.normalise_code(code)
        state = cache.get(code, fresh=True)
        if state is not None and not state.ended and found.is_lecturer(code, key):
            st.session_state[LECTURER] = (code, key)
            st.session_state["_live_cookie"] = kept
            st.session_state.pop(MEMBER, None)
    except live.StoreUnavailable:
        return
    except live.LiveError:
        pass
    st.session_state["_live_cookie_tried"] = True


def before_page(page: str) -> None:
    """app.py, before the page: the lecturer's browser is the lecturer again (its cookie); a
    ``class=CODE`` link joins; a follower is moved to the lecturer's view when it changed (its link
    state applied as a link's is)."""
    from vizcore import live

    lecturer_from_cookie()
    wanted = st.query_params.get("class")
    # Each link's code is tried once per session (not on every run while it stays in the address),
    # unless the database did not answer: a student whose replica died lands here in a new session
    # while the class may be reconnecting, and must still rejoin once it answers.
    if wanted and wanted != st.session_state.get("_live_tried") and LECTURER not in st.session_state:
        found, _ = store()
        try:
            code = live.normalise_code(wanted)
            if found is not None and code != st.session_state.get(MEMBER):
                found.join(code, session_id())
                st.session_state[MEMBER], st.session_state[FOLLOW] = code, True
            if found is not None:
                st.session_state["_live_tried"] = wanted
        except live.StoreUnavailable:
            pass  # tried again on the next run
        except live.LiveError:
            st.session_state["_live_tried"] = wanted  # the Live class page says why
    if st.session_state.get(MEMBER):
        bring_to_question(page)
    if st.session_state.get(MEMBER) and st.session_state.get(FOLLOW):
        follow_now(page)


def _member_state():
    """The class this session joined, as the process last read it; None when there is none or
    the database does not answer (the page then shows what it has)."""
    from vizcore import live

    found, cache = store()
    code = st.session_state.get(MEMBER)
    if found is None or not code:
        return None
    try:
        return cache.get(code)
    except live.StoreUnavailable:
        return None


def bring_to_question(page: str) -> None:
    """A question the lecturer just asked (from any page) reaches every member: the member's page,
    following or exploring, moves once per question to the Live class page, where it is answered.
    Follow mode stays as it was; a follower then follows the lecturer's next page as before."""
    state = _member_state()
    question = state.question if state is not None and not state.ended else None
    if question is None or question["state"] != "open" or st.session_state.get(BROUGHT) == question["id"]:
        return
    st.session_state[BROUGHT] = question["id"]  # once: a student who leaves the question is not pulled back
    if page == LIVE_PAGE:
        return
    if st.session_state.get(FOLLOW) and state.view.get("page"):
        # The lecturer's view as it is now counts as shown: only their next change moves this
        # follower on from the question (else a view changed with the question would pull them away at once).
        st.session_state[APPLIED] = (state.version, state.view["page"], state.view.get("query", {}), time.monotonic())
    st.switch_page(_page_file(LIVE_PAGE))


def follow_now(page: str) -> None:
    """Go to the lecturer's current view if this session does not show it yet."""
    code = st.session_state.get(MEMBER)
    state = _member_state()
    if state is None or state.ended or not state.view.get("page"):
        return
    applied = st.session_state.get(APPLIED)
    if applied and applied[0] == state.version:
        return
    target = state.view["page"]
    st.session_state[APPLIED] = (state.version, target, state.view.get("query", {}), time.monotonic())
    for key in [k for k in st.session_state if str(k).startswith("_link_read_")]:
        del st.session_state[key]  # the lecturer's link state applies as a fresh link's does
    from pages._ui.links import FULL_LINK_KEY

    st.session_state[FULL_LINK_KEY] = True  # ...and a setting it leaves out goes back to its default
    # The class stays in the address: a reconnect to another replica (a new session) rejoins.
    st.switch_page(_page_file(target), query_params={**state.view.get("query", {}), "class": code})


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
    """A member's class line: following or exploring, the sidebar's switch to follow again, and
    the watcher that reruns the page when the lecturer changes the view or the question."""
    if not st.session_state.get(MEMBER):
        return

    code = st.session_state.get(MEMBER)
    if st.query_params.get("class") != code:  # joined by the code box, or a page without a link of its own
        st.query_params["class"] = code       # the address rejoins after a replica is lost
    if page != LIVE_PAGE:  # the Live class page has this toggle in its own body
        with st.sidebar:
            follow_toggle()
    # In the page itself, not the sidebar: a phone's sidebar is closed, and the line says why the
    # page changes by itself.
    if st.session_state.get(FOLLOW):
        st.caption(f"Live class {code}: following the lecturer")
    else:
        st.caption(f"Live class {code}: you're exploring on your own (the sidebar's switch follows the "
                   "lecturer again)")
    watch(code)


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


_watcher = None


def watch(code: str) -> None:
    """The invisible watcher (pages/_live_watch): it long-polls ``/_live/version`` and reruns the
    page only when the class changed. An idle member costs no script runs."""
    global _watcher
    from streamlit.components import v1 as components

    if _watcher is None:
        _watcher = components.declare_component("live_watch", path=str(Path(__file__).with_name("_live_watch")))
    found, cache = store()
    shown = None
    if found is not None:
        from vizcore import live

        try:
            shown = stamp_of(cache.get(code))
        except live.LiveError:
            shown = None
    _watcher(code=code, stamp=shown, session=session_id(), key="live_watch", default=None)


def offer_question(label: str, make_spec, key: str) -> None:
    """For the lecturer only (nothing for anyone else): a sidebar button that asks the hall about
    what this page shows. ``make_spec()`` returns a question spec (:meth:`vizcore.live.LiveStore.ask`)
    made from the page's own numbers; a spec's ``"png"`` (bytes) is stored with the class as the
    question's picture. The previous question closes."""
    if LECTURER not in st.session_state:
        return
    # A callback, not `if st.button(...)`: it runs before the page, with the numbers the lecturer
    # saw when they clicked; a page that reruns itself on its first lines (a link's settings
    # applied) would otherwise lose the click.
    st.sidebar.button(label, key=key, on_click=_ask, args=(make_spec, key), width="stretch",
                      help="Every student's phone gets this question; the Live class page shows the count, "
                           "Reveal and the answers.")
    asked = st.session_state.get(ASKED)
    # A few seconds, not one run: a page may rerun itself right after the click (a toast there is lost).
    if asked and asked[0] == key and time.monotonic() - asked[3] < ASKED_SHOWN_S:
        show = st.sidebar.caption if asked[1] is None else st.sidebar.error
        show(asked[2])


def offer_which_class(probabilities, class_names: list[str], picture) -> None:
    """For the lecturer: "which class will the network say?" about the picture on screen, with
    the model's own probabilities (:func:`vizcore.live_questions.which_class`). The lecturer's
    own photo or drawing stays on their screen unless the button says it is shown."""
    if LECTURER not in st.session_state:
        return
    from pages._ui.links import UNLINKABLE_KEY
    from vizcore import live_questions
    from vizcore.figures import live as live_figs

    def spec() -> dict:
        p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
        names = [class_names[i] if i < len(class_names) else str(i) for i in range(p.size)]
        return {**live_questions.which_class(p, names, secrets.randbelow(2**31)),
                "png": live_figs.picture_png(picture)}

    private = st.session_state.get(UNLINKABLE_KEY)
    label = (f"Show {'this drawing' if private == 'your drawing' else 'this photo'} to the class and ask which class"
             if private else "Ask the hall: which class will the network say?")
    offer_question(label, spec, key="live_ask_class")


ASKED = "_live_asked"  # (button key, error or None, sentence, when) of the last "ask the hall" from a page
ASKED_SHOWN_S = 10.0


def _ask(make_spec, key: str) -> None:
    from vizcore import live

    from pages._ui.text import literal

    code, lecturer_key = st.session_state[LECTURER]
    found, _ = store()
    try:
        if found is None:
            raise live.LiveError("The live class is off: the class database cannot be reached.")
        spec = dict(make_spec())
        png = spec.pop("png", None)
        if png is not None:
            spec["picture"] = found.add_picture(code, lecturer_key, png)
        found.ask(code, lecturer_key, spec)
    except (live.LiveError, ValueError) as err:
        st.session_state[ASKED] = (key, str(err), literal(err), time.monotonic())
        return
    st.session_state[ASKED] = (key, None, "Asked the hall: the Live class page shows the answers and Reveal.",
                               time.monotonic())
    st.toast("Asked the hall. The Live class page shows the answers and Reveal.")
