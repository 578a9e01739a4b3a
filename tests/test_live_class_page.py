"""Issue 27 on the pages: a lecturer starts a class and asks, students join and answer, the
projector shows the count and after Reveal the histogram; students follow the lecturer's page
through the app's frame and leave follow mode when they change a widget."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pages import _live
from vizcore import live, quiz

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "live_class.py")
APP = str(ROOT / "app.py")


@pytest.fixture(autouse=True)
def class_db(tmp_path, monkeypatch):
    monkeypatch.setenv(_live.CLASS_DB_ENV, f"sqlite:///{tmp_path / 'class.db'}")
    _live.reset_store()
    yield
    _live.reset_store()


def lecturer() -> tuple[AppTest, str, str]:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.sidebar.button(key="live_start").click().run()
    assert not at.exception
    code, key = at.session_state[_live.LECTURER]
    assert any(f"Join code: {code}" in m.value for m in at.markdown)
    assert at.get("image"), "the QR code of the join address"
    return at, code, key


def student(code: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.text_input(key="live_code").input(code.lower()).run()
    at.button(key="live_join").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state[_live.MEMBER] == code
    return at


def test_ask_answer_count_and_reveal():
    projector, code, key = lecturer()
    students = [student(code) for _ in range(3)]
    projector.selectbox(key="live_kind").set_value("conv_params")
    projector.button(key="live_ask").click().run()
    spec = _live.store()[0].state(code).question["spec"]
    question = quiz.make_question(spec["quiz"], spec["index"], spec["difficulty"], spec["kinds"])
    c, f, (kh, kw) = (question.spec[k] for k in ("in_channels", "out_channels", "kernel"))
    answers = [str(question.answer), str(question.answer), str(c * kh * kw * f + (f if question.spec["bias"] else 0) + 1)]
    for at, answer in zip(students, answers):
        _live.reset_store()  # a fresh read: the process's state cache keeps a state for a second
        at.run()
        assert any(question.prompt[:30] in m.value for m in at.markdown)
        qid = _live.store()[0].state(code).question["id"]
        at.text_input(key=f"live_typed_{qid}").input(answer)
        at.button(key=f"FormSubmitter:live_answer_{qid}-Send").click().run()
        assert not at.error, [e.value for e in at.error]
        assert any(f"Your answer: {answer}" in c.value.replace("\\", "") for c in at.caption)
    _live.reset_store()  # the projector's next read is fresh (the cache keeps a state for 1 s)
    projector.run()
    assert [m.value for m in projector.metric if m.label == "Answered"] == ["3 of 3"]
    projector.button(key="live_reveal").click().run()
    assert any(f"Right answer: {question.answer_text}" in m.value for m in projector.markdown)
    bars = json.loads(projector.get("plotly_chart")[0].proto.spec)["data"][0]
    assert sorted(zip(bars["x"], bars["y"])) == sorted([(str(question.answer), 2), (answers[2], 1)])
    _live.reset_store()
    students[2].run()
    assert students[2].warning and question.answer_text in students[2].warning[0].value
    students[0].run()
    assert students[0].success and question.answer_text in students[0].success[0].value


def test_a_student_cannot_change_the_class_and_their_text_stays_literal():
    projector, code, key = lecturer()
    at = student(code)
    assert not at.button(key="live_reveal") if "live_reveal" in [b.key for b in at.button] else True
    projector.button(key="live_ask").click().run()
    _live.reset_store()
    at.run()
    qid = _live.store()[0].state(code).question["id"]
    at.text_input(key=f"live_typed_{qid}").input("**[5](http://x)**")
    at.button(key=f"FormSubmitter:live_answer_{qid}-Send").click().run()
    assert at.error and "Answer with a number" in at.error[0].value
    assert _live.store()[0].counts(qid) == {}
    other = AppTest.from_file(PAGE, default_timeout=60).run()
    other.text_input(key="live_code").input("<b>HI</b>").run()
    other.button(key="live_join").click().run()
    assert other.error and "<b>" not in other.error[0].value  # a refused code is not echoed as markup


def test_a_lecturer_link_gives_the_class_back_and_leaves_no_key_in_the_address():
    _, code, key = lecturer()
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params.update({"class": code, "key": key})
    at.run()
    assert at.session_state[_live.LECTURER] == (code, key)
    assert "key" not in at.query_params
    forged = AppTest.from_file(PAGE, default_timeout=60)
    forged.query_params.update({"class": code, "key": "not-the-key"})
    forged.run()
    assert _live.LECTURER not in forged.session_state and forged.error


def test_students_follow_the_lecturer_and_leave_when_they_explore():
    _, code, key = lecturer()
    lecturer_app = AppTest.from_file(APP, default_timeout=120)
    lecturer_app.session_state[_live.LECTURER] = (code, key)
    lecturer_app.run()
    lecturer_app.switch_page("pages/pooling.py").run()
    lecturer_app.session_state["pool_kernel"] = 3  # the lecturer's window: 3×3
    lecturer_app.run()
    assert _live.store()[0].state(code).view == {"page": "pooling", "query": {"k": "3"}}
    _live.reset_store()  # a fresh read (each process reads a class at most once a second)
    follower = AppTest.from_file(APP, default_timeout=120)
    follower.query_params["class"] = code  # the join link
    follower.run()
    assert not follower.exception
    assert [t.value for t in follower.title] == ["Pooling"]
    assert follower.session_state["pool_kernel"] == 3 and follower.query_params["k"] in ("3", ["3"])
    assert any("following the lecturer" in c.value for c in follower.caption)
    follower.session_state[_live.APPLIED] = (*follower.session_state[_live.APPLIED][:3], 0.0)  # settled long ago
    # The student changes a setting: exploring on their own, until one tap brings them back.
    widget = (follower.selectbox or follower.radio)[0]
    lecturers = widget.value
    options = [o for o in widget.options if o != widget.value]
    widget.set_value(options[0]).run()
    assert follower.session_state[_live.FOLLOW] is False
    assert any("exploring on your own" in c.value for c in follower.caption)
    follower.sidebar.toggle(key=_live.FOLLOW_TOGGLE).set_value(True).run()  # one tap
    assert follower.session_state[_live.FOLLOW] is True and [t.value for t in follower.title] == ["Pooling"]
    assert follower.session_state["pool_mode"] == lecturers  # the lecturer's whole view, not the student's change
