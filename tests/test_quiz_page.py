"""The quiz page driven like a student (AppTest): answers, feedback, hint, solution, score."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vizcore import quiz

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "quiz.py")



def start(app, code="LECTURE7", difficulty="easy"):
    app.text_input(key="quiz_code").input(code)
    app.selectbox(key="quiz_difficulty").set_value(difficulty).run()
    return quiz.make_question(code, 0, difficulty)


def answer(app, text, code="LECTURE7", difficulty="easy", index=0):
    app.text_input(key=f"quiz_answer_{code}_{difficulty}_{index}").input(text)
    app.button(key="quiz_check").click().run()
    assert not app.exception


def metrics(app) -> dict:
    return {m.label: m.value for m in app.metric}


def wrong_answer_for(q: quiz.Question) -> str:
    if isinstance(q.answer, bool):
        return "no" if q.answer else "yes"
    if isinstance(q.answer, tuple):
        return quiz.format_answer(tuple(v + 1 for v in q.answer))
    return str(q.answer + 1)


def test_question_from_the_quiz_code_is_shown(at):
    q = start(at)
    assert at.markdown[0].value == q.prompt
    assert at.subheader[0].value == f"Question 1 · {quiz.KINDS[q.kind]} · Easy"


def test_right_answer_scores(at):
    q = start(at)
    answer(at, q.answer_text)
    assert at.success[0].value == f"Correct! The answer is {q.answer_text}."
    assert metrics(at) == {"Score": "1 / 1", "Streak": "1", "Best streak": "1"}
    assert q.solution in [m.value for m in at.markdown]


def test_wrong_then_right(at):
    q = start(at)
    answer(at, wrong_answer_for(q))
    assert at.error[0].value.startswith("Not quite")
    assert at.info[0].value == f"**Hint:** {q.hint}"
    assert q.solution not in [m.value for m in at.markdown]
    assert metrics(at)["Score"] == "0 / 1"  # the miss shows at once (issue 25), not when the question ends
    answer(at, q.answer_text)
    # the wrong try still counts (issue 25: the score read "1 / 1", only the streak showed the miss)
    assert at.success and metrics(at) == {"Score": "1 / 2", "Streak": "1", "Best streak": "1"}


def test_a_wrong_try_after_a_right_answer_counts(at):
    q = start(at)
    answer(at, q.answer_text)
    assert metrics(at)["Score"] == "1 / 1"
    at.button(key="quiz_next").click().run()
    answer(at, wrong_answer_for(quiz.make_question("LECTURE7", 1, "easy")), index=1)
    assert metrics(at) == {"Score": "1 / 2", "Streak": "0", "Best streak": "1"}


def test_showing_the_solution_before_answering_is_a_missed_try(at):
    start(at)
    at.button(key="quiz_give_up").click().run()
    assert metrics(at)["Score"] == "0 / 1"


def test_two_wrong_answers_show_the_worked_solution(at):
    q = start(at)
    answer(at, wrong_answer_for(q))
    answer(at, wrong_answer_for(q))
    assert "worked solution" in at.error[0].value
    assert q.solution in [m.value for m in at.markdown]
    assert metrics(at) == {"Score": "0 / 2", "Streak": "0", "Best streak": "0"}
    at.button(key="quiz_next").click().run()
    q2 = quiz.make_question("LECTURE7", 1, "easy")
    assert at.markdown[0].value == q2.prompt and not at.error


def test_unreadable_answer_is_not_counted(at):
    start(at)
    answer(at, "twenty-six")
    assert "Could not read" in at.warning[0].value
    assert metrics(at)["Score"] == "0 / 0" and not at.error


def test_score_and_streak_over_several_questions_and_after_navigation(at):
    for index in range(3):
        q = quiz.make_question("LECTURE7", index, "easy") if index else start(at)
        answer(at, q.answer_text, index=index)
        at.button(key="quiz_next").click().run()
    assert metrics(at) == {"Score": "3 / 3", "Streak": "3", "Best streak": "3"}
    # Widget keys vanish when another page is shown; the progress lives in a plain key.
    progress = dict(at.session_state["quiz_progress"])
    assert progress["index"] == 3 and progress["code"] == "LECTURE7"
    fresh = AppTest.from_file(PAGE, default_timeout=60)
    fresh.session_state["quiz_progress"] = progress
    fresh.run()
    assert fresh.text_input(key="quiz_code").value == "LECTURE7"
    assert metrics(fresh)["Score"] == "3 / 3"
    assert fresh.markdown[0].value == quiz.make_question("LECTURE7", 3, "easy").prompt


def test_same_code_same_questions_for_two_students(at):
    other = AppTest.from_file(PAGE, default_timeout=60)
    other.run()
    start(at, "CLASS-A", "hard")
    start(other, "class-a ", "hard")
    assert at.markdown[0].value == other.markdown[0].value


def test_no_topic_gives_a_message(at):
    at.multiselect(key="quiz_kinds").set_value([]).run()
    assert "at least one topic" in at.warning[0].value


def test_own_question_lecture_example(at):
    at.radio(key="quiz_mode").set_value("Check my own question").run()
    assert metrics(at) == {"Output shape": "(5, 4, 26, 26)", "Parameters": "304"}
    at.radio(key="own_layout").set_value("NHWC").run()
    at.number_input(key="own_stride").set_value(3)
    at.text_input(key="own_padding").input("same").run()
    assert metrics(at)["Output shape"] == "(5, 10, 10, 4)"
    assert "ceil(30 / 3) = 10" in at.markdown[-1].value


@pytest.mark.parametrize("key, value, message", [
    ("own_shape_Conv2d_NCHW", "(5, 3, 30)", "batch included"),
    ("own_shape_Conv2d_NCHW", "five", "Could not read"),
    ("own_padding", "lots", "padding must be"),
])
def test_own_question_bad_input_shows_a_message(at, key, value, message):
    at.radio(key="quiz_mode").set_value("Check my own question").run()
    at.text_input(key=key).input(value).run()
    assert not at.exception
    assert any(message in e.value for e in at.error)


def test_own_question_kernel_too_big(at):
    at.radio(key="quiz_mode").set_value("Check my own question").run()
    at.number_input(key="own_kernel").set_value(40).run()
    assert any("bigger than the padded input" in e.value for e in at.error)
