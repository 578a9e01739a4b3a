"""Live class: the hall follows the lecturer's view and answers on their phones.

The lecturer starts a class (a join code, a QR code, the address in large type), asks the hall a
question, watches "37 of 52 answered" and reveals the histogram with the most common wrong
answers and the slip behind each. Students join by the code or a ``class=CODE`` link, follow the
lecturer's page, and answer with a number pad or big buttons. Everything lives in the class
database (:mod:`vizcore.live`), so every replica of a hall sees the same class.
"""
from __future__ import annotations

import io

import streamlit as st

from pages import route_through_app

route_through_app()

from pages import _live  # noqa: E402
from pages._ui.figures import show_figure  # noqa: E402
from pages._ui.links import finish_link  # noqa: E402
from pages._ui.page import stop_page  # noqa: E402
from pages._ui.text import explain, literal, show_text  # noqa: E402
from vizcore import live, quiz  # noqa: E402
from vizcore.figures import live as live_figs  # noqa: E402

st.title("Live class")
explain("The lecturer asks, the hall answers on their phones; every student's page can follow the lecturer's.")

found, cache = _live.store()
if found is None and (_live.LECTURER in st.session_state or st.session_state.get(_live.MEMBER)):
    # In a class, a database that stopped answering is a pause: the store is tried again after
    # _live.RETRY_S and this session is still the class's lecturer or member.
    st.warning("Reconnecting to the class… (the class database does not answer; this page tries again "
               "in a few seconds)")
    stop_page()
if found is None:
    st.warning(f"The live class is off: {literal(cache)} Set VIZCORE_CLASS_DB to a reachable database "
               "(the rest of the app works as before).")
    stop_page()


PICTURE_PX = 260        # a question's picture on a wide screen (the projector)
PHONE_PICTURE_PX = 200  # on a phone (390 px wide): the picture and every answer button on the first screen
PHONE_CSS = (f"<style>@media (max-width: 500px) {{ .st-key-live_picture img {{ width: {PHONE_PICTURE_PX}px !important; "
             "height: auto !important; } } [class*='st-key-live_choice_'] button { min-height: 48px; }</style>")


@st.cache_data(max_entries=64, show_spinner=False)
def picture_of(code: str, picture_id: int) -> bytes | None:
    """A question's picture, read once per process (a stored picture never changes; the lecturer's
    panel redraws every second)."""
    return found.picture(code, picture_id)


def show_picture(code: str, spec: dict) -> None:
    if spec.get("picture") is not None:
        png = picture_of(code, int(spec["picture"]))
        if png:
            st.container(key="live_picture").image(png, width=PICTURE_PX)


def qr_png(text: str) -> bytes:
    import segno

    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=10, border=2)
    return buffer.getvalue()


# --- the lecturer ----------------------------------------------------------------------------------

def lecturer_link_login() -> None:
    """A bookmarked lecturer link (``class=CODE&key=KEY``) makes this session the lecturer again."""
    code, key = st.query_params.get("class"), st.query_params.get("key")
    if code and key and _live.LECTURER not in st.session_state:
        try:
            code = live.normalise_code(code)
        except live.LiveError:
            return
        try:
            is_lecturer = found.is_lecturer(code, key)
        except live.StoreUnavailable as err:
            st.warning(literal(err))  # the key stays in the address: tried again on the next run
            return
        if is_lecturer:
            st.session_state[_live.LECTURER] = (code, key)
            st.session_state.pop(_live.MEMBER, None)
        else:
            st.error("This lecturer link's key is not the class's key.")
    if "key" in st.query_params:  # never leave the key in the address bar (projector!)
        del st.query_params["key"]


def lecturer_view(code: str, key: str) -> None:
    join = _live.live_address(**{"class": code})
    st.query_params["class"] = code  # Copy link gives the join link
    try:
        state = cache.get(code, fresh=True)
    except live.StoreUnavailable as err:
        st.warning(literal(err))  # where the class is shown; the session stays the lecturer
        return
    if state is not None and state.ended:
        st.info("This class has ended.")
        st.session_state.pop(_live.LECTURER, None)
        _live.forget_lecturer()
        return
    _live.remember_lecturer(code, key)  # a reconnect on another replica is the lecturer again
    asked = state is not None and state.question is not None
    left, right = st.columns([3, 2] if not asked else [5, 1])
    # Large until the first question; then one line, so the question is on the projector's first screen.
    size, address = ("3.2rem", "1.6rem") if not asked else ("1.8rem", "1.1rem")
    left.markdown(f"<div style='font-size:{size};font-weight:700;line-height:1.2'>Join code: {code}</div>"
                  f"<div style='font-size:{address};word-break:break-all'>{join}</div>", unsafe_allow_html=True)
    right.image(qr_png(join), caption="Scan to join" if not asked else None, width=260 if not asked else 110)
    question_panel_lecturer(code, key)  # the question right under the code: on the projector's first screen
    # Outside the panel, which redraws itself every second: a click there could meet a redraw.
    if asked and state.question["state"] == "open" and st.button("Reveal", type="primary", key="live_reveal"):
        found.reveal(code, key)
        st.rerun()  # this page reads the class afresh at its top
    if asked and state.question["state"] == "revealed":
        revealed(state.question)

    st.subheader("Ask the hall" if not asked else "Ask the next question")
    c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
    kinds = {"any": None, **{k: [k] for k in quiz.KINDS}}
    kind = c1.selectbox("Question", list(kinds), key="live_kind",
                        format_func=lambda k: "any shape question" if k == "any" else quiz.KINDS[k])
    difficulty = c2.selectbox("Difficulty", quiz.DIFFICULTIES, key="live_difficulty")
    if c3.button("Ask the hall", type="primary", key="live_ask"):
        index = st.session_state.get("_live_next_index", 0)
        st.session_state["_live_next_index"] = index + 1
        spec = {"type": "quiz", "quiz": f"{code}-{kind}", "index": index, "difficulty": difficulty}
        if kinds[kind]:
            spec["kinds"] = kinds[kind]
        try:
            found.ask(code, key, spec)
        except live.LiveError as err:
            st.error(literal(err))
        st.rerun()  # the new question at the top
    with st.expander("Your lecturer link (bookmark it: it gives the class back to you on any device)"):
        st.code(_live.live_address(**{"class": code, "key": key}), language=None,
                wrap_lines=True)
        st.caption("Keep it private: whoever has it can run this class.")
    st.caption("Every page you open now is shown to the students who follow you.")

    st.divider()
    d1, d2 = st.columns(2)
    try:
        d1.download_button("Download the results (CSV)", found.results_csv(code, key), file_name=f"class-{code}.csv",
                           mime="text/csv", key="live_csv")
    except live.LiveError as err:
        d1.caption(literal(err))
    if d2.button("End the class", key="live_end"):
        found.end_class(code, key)
        st.session_state.pop(_live.LECTURER, None)
        st.session_state["_live_forget"] = True  # the next run tells the browser to drop the key
        st.session_state.pop("_live_published", None)
        st.rerun()


@st.fragment(run_every=1.0)
def question_panel_lecturer(code: str, key: str) -> None:
    """The question on the projector and its live count "N of M answered"."""
    try:
        state = cache.get(code)
    except live.StoreUnavailable as err:
        st.warning(literal(err))
        return
    if state is None or state.question is None:
        st.caption("No question asked yet.")
        return
    question = state.question
    shown = live.describe(question["spec"])
    st.markdown(shown["prompt"])  # generated by the app (no user text in it)
    show_picture(code, question["spec"])
    if question["spec"]["type"] == "choice":  # a choice may be a class name of the user's network: literal
        show_text(" · ".join(question["spec"]["choices"]), "markdown")
    st.metric("Answered", f"{state.answered} of {max(state.members, state.answered)}")


def revealed(question: dict) -> None:
    """After Reveal: the right answer, the histogram and the common slips. Drawn once per run of the
    lecturer's page (the answers are closed), not by the panel that refreshes every second."""
    summary = live.summary_of(question["spec"], found.counts(question["id"]))
    st.markdown(f"**Right answer: {literal(summary['answer'])}** · {summary['right']} of {summary['total']} right")
    if summary["histogram"]:
        show_figure(live_figs.answer_histogram(summary["histogram"]), key="live_histogram")
    for label, count, mistake in summary["wrong"]:
        show_text(f"{label}: {count} student{'s' if count != 1 else ''}"
                  + (f" — {mistake}" if mistake else ""), "caption")


# --- a student -------------------------------------------------------------------------------------

def start_button() -> None:
    """The lecturer's one click, in the sidebar."""
    if st.sidebar.button("Start a class", key="live_start", type="primary"):
        code, key = found.start_class()
        st.session_state[_live.LECTURER] = (code, key)
        st.session_state.pop(_live.MEMBER, None)
        st.rerun()


def join_form() -> None:
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    typed = left.text_input("Join code", key="live_code", max_chars=8, placeholder="the code on the projector")
    if right.button("Join", type="primary", key="live_join", width="stretch"):
        try:
            code = live.normalise_code(typed)
            found.join(code, _live.session_id())
        except live.LiveError as err:
            st.error(literal(err))
            return
        st.session_state[_live.MEMBER] = code
        st.session_state[_live.FOLLOW] = True
        st.rerun()
    st.caption("Lecturers: \"Start a class\" in the sidebar gives the hall a join code.")


def student_view(code: str) -> None:
    _live.follow_toggle()
    question_panel_student(code)
    if st.button("Leave the class", key="live_leave"):
        st.session_state.pop(_live.MEMBER, None)
        st.session_state.pop(_live.APPLIED, None)
        st.query_params.pop("class", None)  # a reconnect must not join again
        st.rerun()


def question_panel_student(code: str) -> None:
    """The question on a student's phone. No polling here: the page's watcher (pages/_live.py)
    reruns it when the lecturer asks, reveals or moves on."""
    try:
        state = cache.get(code)
        question = state.question if state is not None else None
        mine = found.my_answer(question["id"], _live.session_id()) if question else None
    except live.StoreUnavailable as err:
        st.warning(literal(err))  # in place of the question; the session stays a member
        return
    if state is None or state.ended:
        st.info("The class has ended. Thank you!")
        return
    if question is None:
        st.caption(f"Joined class {code}. The lecturer's question will appear here.")
        return
    shown = live.describe(question["spec"])
    st.html(PHONE_CSS)
    st.markdown(shown["prompt"])  # generated by the app (no user text in it)
    show_picture(code, question["spec"])
    # The answer is sent by the buttons' callbacks, before this run reads it (``mine`` above): a
    # run that the page restarts on its first lines (a follower's page settling) cannot lose a tap.
    if question["state"] == "open":
        if question["spec"]["type"] == "choice":
            for i, choice in enumerate(question["spec"]["choices"]):
                st.button(literal(choice), key=f"live_choice_{question['id']}_{i}", width="stretch",
                          on_click=send, args=(code, question["id"], str(i)))
        else:
            with st.form(f"live_answer_{question['id']}", clear_on_submit=False, border=False):
                st.text_input(f"Your answer ({shown['format']})", key=f"live_typed_{question['id']}")
                st.form_submit_button("Send", type="primary", width="stretch", on_click=send_typed,
                                      args=(code, question["id"]))
        refused = st.session_state.pop(SEND_ERROR, None)
        if refused:
            kind, why = refused
            show_text(why, kind)
        if mine is not None:
            show_text(f"Your answer: {shown['label'](mine)} (you can change it until the lecturer reveals)", "caption")
        return
    if question["state"] == "revealed":
        right = literal(shown["answer"])  # a choice may be a class name of the user's network
        if mine is None:
            st.markdown(f"**Right answer: {right}**")
        elif shown["correct"](mine):
            st.success(f"Right: {right}")
        else:
            slip = shown["mistake"](mine)
            show_text(f"The right answer is {shown['answer']}; you said {shown['label'](mine)}"
                      + (f" ({slip})." if slip else "."), "warning")
    else:
        st.caption("The question is closed.")


SEND_ERROR = "_live_send_error"  # (kind, why) the store refused or missed this session's last answer: shown once


def send(code: str, question: int, value: str) -> None:
    """A tap's callback: the answer goes to the store before the page's run reads it back."""
    try:
        found.answer(code, question, _live.session_id(), value)
    except live.StoreUnavailable as err:
        st.session_state[SEND_ERROR] = ("warning", f"{err} Your answer was not sent: send it again in a moment.")
    except live.LiveError as err:
        st.session_state[SEND_ERROR] = ("error", str(err))


def send_typed(code: str, question: int) -> None:
    send(code, question, st.session_state.get(f"live_typed_{question}", ""))


# --- the page ---------------------------------------------------------------------------------------

lecturer_link_login()
if st.session_state.pop("_live_forget", False):
    _live.forget_lecturer()
try:
    if _live.LECTURER in st.session_state:
        lecturer_view(*st.session_state[_live.LECTURER])
    elif st.session_state.get(_live.MEMBER):
        student_view(st.session_state[_live.MEMBER])
    else:
        start_button()
        join_form()
except live.StoreUnavailable as err:  # a button's action (Reveal, Ask, Start, End) met a database that does not answer
    st.warning(literal(err))
finish_link()
