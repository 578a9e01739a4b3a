"""Shape quiz: generated questions on output shapes, parameters, padding, receptive fields;
typed answers, a hint after a wrong answer, then the worked solution; and "check my own
question" for any single layer."""
from __future__ import annotations

import random

import streamlit as st

from pages import route_through_app

# First, before the page's heavy imports (torch): a cold deep link's bare first run reruns at
# once inside app.py's frame, which starts the browser loading Plotly while torch loads.
route_through_app()

from pages._phone import first_on_phones  # noqa: E402
from pages._ui.links import copy_link, shared_link_params  # noqa: E402
from pages._ui.text import show_text  # noqa: E402
from vizcore import links, quiz, shapes  # noqa: E402

STATE = "quiz_progress"  # not a widget key: survives navigating to other pages
LEVELS = {"easy": "Easy", "medium": "Medium", "hard": "Hard"}
MODES = ["Quiz", "Check my own question"]
# The address carries the quiz a lecturer hands out: its code, difficulty, question and topics.
LINK = links.LinkSpec([
    links.Choice("mode", MODES[0], MODES, key="quiz_mode"), links.Text("code", "", max_length=40),
    links.Choice("level", "easy", list(LEVELS)), links.Int("q", 1, 1, 10_000),
    links.Text("topics", "", max_length=400),
])


def progress() -> dict:
    if STATE not in st.session_state:
        st.session_state[STATE] = dict(
            code=f"CLASS-{random.randint(100, 999)}", difficulty="easy", kinds=list(quiz.KINDS), index=0,
            attempts=0, done=False, solved=0, tries=0, streak=0, best_streak=0, messages=[],
        )
    state = st.session_state[STATE]
    if "tries" not in state:  # progress kept from before tries were counted (it counted questions)
        state["tries"] = state.pop("answered", 0)
    return state


def remember(widget_key: str, field: str) -> None:
    """Copy a widget's value into the persistent progress (on_change callback)."""
    state = progress()
    if state[field] != st.session_state[widget_key]:
        state[field] = st.session_state[widget_key]
        state.update(index=0, attempts=0, done=False, messages=[])


def next_question() -> None:
    state = progress()
    state.update(index=state["index"] + 1, attempts=0, done=False, messages=[])


def finish(solved: bool) -> None:
    """The question is over: a solved one scores, a miss ends the streak."""
    state = progress()
    state["done"] = True
    if state["attempts"] == 0:  # the solution shown before any answer: one try, missed
        state["tries"] += 1
    if solved:
        state["solved"] += 1
    else:
        state["streak"] = 0


def check(question: quiz.Question, answer_key: str) -> None:
    """Button callback: grade the typed answer and decide what to show next."""
    state = progress()
    if state["done"]:
        return
    feedback = quiz.check_answer(question, st.session_state.get(answer_key, ""))
    if feedback.correct is None:
        state["messages"] = [("warning", feedback.message)]
        return
    state["attempts"] += 1
    state["tries"] += 1  # every graded answer is a try: a wrong one shows in the score at once (issue 25)
    if feedback.correct:
        state["streak"] += 1
        state["best_streak"] = max(state["best_streak"], state["streak"])
        state["messages"] = [("success", f"{feedback.message} The answer is {question.answer_text}.")]
        finish(True)
    elif state["attempts"] == 1:
        state["streak"] = 0
        state["messages"] = [("error", f"{feedback.message} Try once more."), ("hint", question.hint)]
    else:
        state["messages"] = [("error", f"{feedback.message} Here is the worked solution.")]
        finish(False)


def give_up(question: quiz.Question) -> None:
    state = progress()
    if not state["done"]:
        state["messages"] = [("info", "Here is the worked solution.")]
        finish(False)


def scoreboard(state: dict) -> None:
    c1, c2, c3 = st.columns(3)
    c1.metric("Score", f"{state['solved']} / {state['tries']}",
              help="Right answers out of tries: every checked answer is a try, right or wrong, and so is "
                   "showing the solution before answering.")
    c2.metric("Streak", state["streak"])
    c3.metric("Best streak", state["best_streak"])


def quiz_mode() -> None:
    state = progress()
    c1, c2 = st.columns([2, 1])
    # Widgets start from the persistent progress, so leaving the page loses nothing.
    c1.text_input("Quiz code (the same code gives everybody the same questions)", value=state["code"],
                  key="quiz_code", max_chars=40, on_change=remember, args=("quiz_code", "code"))
    c2.selectbox("Difficulty", list(LEVELS), index=list(LEVELS).index(state["difficulty"]),
                 format_func=LEVELS.get, key="quiz_difficulty", on_change=remember,
                 args=("quiz_difficulty", "difficulty"))
    st.multiselect("Topics", list(quiz.KINDS), default=state["kinds"], format_func=quiz.KINDS.get,
                   key="quiz_kinds", on_change=remember, args=("quiz_kinds", "kinds"))
    scoreboard(state)
    if not state["kinds"]:
        st.warning("Pick at least one topic.")
        return
    try:
        question = quiz.make_question(state["code"], state["index"], state["difficulty"], state["kinds"])
    except ValueError as err:
        st.error(str(err))
        return

    # A phone shows the question under the title; the quiz code, difficulty, topics and score,
    # a screenful of controls stacked, come after it.
    with first_on_phones("quiz_question"):
        st.subheader(f"Question {state['index'] + 1} · {quiz.KINDS[question.kind]} · {LEVELS[question.difficulty]}")
        st.markdown(question.prompt)
        answer_key = f"quiz_answer_{state['code']}_{state['difficulty']}_{state['index']}"
        st.text_input(f"Your answer ({question.answer_format})", key=answer_key, disabled=state["done"],
                      placeholder=quiz.answer_placeholder(question))
        b1, b2, b3 = st.columns(3)
        b1.button("Check", key="quiz_check", type="primary", disabled=state["done"], on_click=check,
                  args=(question, answer_key))
        b2.button("Show solution", key="quiz_give_up", disabled=state["done"], on_click=give_up, args=(question,))
        b3.button("Next question", key="quiz_next", on_click=next_question)

        for kind, text in state["messages"]:
            if kind == "hint":
                st.info(f"**Hint:** {text}")
            elif kind == "success":
                st.success(text)
            else:  # feedback quotes the typed answer: shown as plain characters, never markup
                show_text(text, kind)
        if state["done"]:
            st.markdown("**Worked solution**")
            st.markdown(question.solution)


def padding_value(text: str):
    text = text.strip().lower()
    if text in ("same", "valid"):
        return text
    try:
        return int(text)
    except ValueError:
        raise shapes.ShapeError(f'padding must be a whole number, "same" or "valid", got {text!r}.') from None


def own_question_mode() -> None:
    st.caption("Describe one layer and its input; get the output shape, the parameters and the "
               "worked solution, e.g. to check a slide or an exercise.")
    c1, c2, c3 = st.columns(3)
    layer = c1.selectbox("Layer", quiz.OWN_LAYERS, key="own_layer")
    layout = c2.radio("Layout", list(quiz.LAYOUTS), horizontal=True, key="own_layout",
                      help="NCHW: PyTorch. NHWC: TensorFlow/Keras.")
    default_shape = "(1, 784)" if layer == "Linear" else (
        "(5, 3, 30, 30)" if layout == "NCHW" else "(5, 30, 30, 3)")
    shape_text = c3.text_input("Input shape with the batch", value=default_shape, key=f"own_shape_{layer}_{layout}")
    options: dict = {}
    if layer == "Conv2d":
        c = st.columns(6)
        options["filters"] = c[0].number_input("Filters", 1, 4096, 4, key="own_filters")
        options["kernel_size"] = c[1].number_input("Kernel", 1, 64, 5, key="own_kernel")
        options["stride"] = c[2].number_input("Stride", 1, 64, 1, key="own_stride")
        pad_text = c[3].text_input("Padding", "0", key="own_padding", help='A number, "same" or "valid".')
        options["dilation"] = c[4].number_input("Dilation", 1, 16, 1, key="own_dilation")
        options["groups"] = c[5].number_input("Groups", 1, 4096, 1, key="own_groups")
        options["bias"] = st.checkbox("Bias", True, key="own_bias")
    elif layer in ("MaxPool2d", "AvgPool2d"):
        c = st.columns(4)
        options["kernel_size"] = c[0].number_input("Window", 1, 64, 2, key="own_pool_kernel")
        stride = c[1].number_input("Stride (0 = window size)", 0, 64, 0, key="own_pool_stride")
        options["stride"] = None if stride == 0 else stride
        pad_text = c[2].text_input("Padding", "0", key="own_pool_padding", help='A number or "valid".')
        options["ceil_mode"] = c[3].checkbox("ceil_mode", key="own_ceil")
    elif layer == "Linear":
        c = st.columns(2)
        options["units"] = c[0].number_input("Units", 1, 100_000, 10, key="own_units")
        options["bias"] = c[1].checkbox("Bias", True, key="own_linear_bias")
    try:
        input_shape = quiz.parse_shape(shape_text)
        if layer in ("Conv2d", "MaxPool2d", "AvgPool2d"):
            options["padding"] = padding_value(pad_text)
        answer = quiz.check_own_question(layer, input_shape, layout, **options)
    except (quiz.AnswerFormatError, shapes.ShapeError) as err:
        show_text(f"This does not work: {err}", "error")  # the message quotes the typed shape
        return
    c1, c2 = st.columns(2)
    c1.metric("Output shape", quiz.format_answer(answer.output_shape))
    c2.metric("Parameters", f"{answer.params:,}")
    st.markdown(answer.solution)


def read_link() -> None:
    """On the session's first run: the quiz of a shared link (question q counts from 1, as shown)."""
    if "_quiz_link_read" in st.session_state:
        return
    st.session_state["_quiz_link_read"] = True
    values, problems = LINK.decode(st.query_params.to_dict())
    state = progress()
    if values.get("code", "").strip():
        state["code"] = values["code"].strip()
    if "level" in values:
        state["difficulty"] = values["level"]
    if "q" in values:
        state["index"] = values["q"] - 1
    if values.get("topics"):
        asked = [k.strip() for k in values["topics"].split(",") if k.strip()]
        known = [k for k in asked if k in quiz.KINDS]
        if known:
            state["kinds"] = known
        if len(known) < len(asked):
            problems.append("topics: " + ", ".join(k for k in asked if k not in quiz.KINDS)[:60]
                            + " are not topics of this quiz")
    if "quiz_mode" in values:
        st.session_state["quiz_mode"] = values["quiz_mode"]
    if problems:
        show_text("Some settings in the link were not understood and were left as they were: "
                  + "; ".join(problems), "warning")


def write_link() -> None:
    """The address always holds this quiz (code, difficulty, question, topics), for the lecturer."""
    state = progress()
    kinds = state["kinds"]
    values = {"quiz_mode": st.session_state.get("quiz_mode", MODES[0]), "code": state["code"],
              "level": state["difficulty"], "q": state["index"] + 1,
              "topics": "" if set(kinds) == set(quiz.KINDS) else ",".join(kinds)}
    out = {**LINK.encode(values), **shared_link_params()}
    if st.query_params.to_dict() != out:
        st.query_params.from_dict(out)
    with st.sidebar:
        copy_link()


st.title("Shape quiz")
read_link()
mode = st.radio("Mode", MODES, horizontal=True, key="quiz_mode")
if mode == "Quiz":
    quiz_mode()
else:
    own_question_mode()
write_link()
