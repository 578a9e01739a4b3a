"""Issue 27 on the pages: a lecturer starts a class and asks, students join and answer, the
projector shows the count and after Reveal the histogram; students follow the lecturer's page
through the app's frame and leave follow mode when they change a widget."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

import pytest
import torch
from streamlit.testing.v1 import AppTest

from pages import _live
from pages._ui.text import literal
from vizcore import data, live_questions, models, quiz

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


# --- the question on screen right now (issue 27's "Ask the hall" from any page) ----------------------

def lecturer_on(page: str, code: str, key: str, **state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[_live.LECTURER] = (code, key)
    at.run()
    for name, value in state.items():
        at.session_state[name] = value
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def title_of(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def test_the_shape_calculators_layer_reaches_every_follower_and_is_revealed():
    projector, code, key = lecturer()
    shapes_app = lecturer_on("pages/shape_calculator.py", code, key)
    _live.reset_store()
    follower = AppTest.from_file(APP, default_timeout=120)
    follower.query_params["class"] = code
    follower.run()
    assert title_of(follower) == ["Shape calculator"]  # following the lecturer, no question yet
    assert "live_ask_layer" in [b.key for b in shapes_app.sidebar.button]
    assert "live_ask_layer" not in [b.key for b in follower.sidebar.button]  # only the lecturer is offered it

    shapes_app.sidebar.button(key="live_ask_layer").click().run()
    assert not shapes_app.exception
    assert any(c.value.startswith("Asked the hall") for c in shapes_app.sidebar.caption)
    question = _live.store()[0].state(code).question
    spec = question["spec"]
    rows, cols, cin, filters, k, s, p = (shapes_app.session_state[f"sc_{n}"] for n in (
        "rows", "cols", "in_channels", "filters", "kernel", "stride", "padding"))
    out = torch.nn.Conv2d(cin, filters, k, s, p)(torch.zeros(live_questions.LIVE_BATCH, cin, rows, cols)).shape
    assert spec["type"] == "number" and spec["answer"] == quiz.format_answer(tuple(out))

    _live.reset_store()
    follower.run()  # the watcher's rerun: the question brings the follower to the Live class page
    assert not follower.exception and title_of(follower) == ["Live class"]
    assert follower.session_state[_live.FOLLOW] is True  # brought there, still following
    assert any(f"**{rows}×{cols}** pixels" in m.value for m in follower.markdown)
    follower.run()  # AppTest loses a click in the run right after a switch_page
    assert title_of(follower) == ["Live class"]  # once per question: a rerun stays here
    wrong = next(w for w, why in spec["mistakes"].items() if "forgot the padding" in why)
    follower.text_input(key=f"live_typed_{question['id']}").input(wrong.replace(" ", ""))
    follower.button(key=f"FormSubmitter:live_answer_{question['id']}-Send").click().run()
    assert not follower.error, [e.value for e in follower.error]

    _live.reset_store()
    projector.run()
    assert [m.value for m in projector.metric if m.label == "Answered"] == ["1 of 1"]
    projector.button(key="live_reveal").click().run()
    assert any(f"Right answer: {spec['answer']}" in m.value.replace("\\", "") for m in projector.markdown)
    assert any("forgot the padding" in c.value for c in projector.caption)
    _live.reset_store()
    follower.run()
    assert follower.warning and "forgot the padding" in follower.warning[0].value

    # The lecturer opens another page: the follower follows as before.
    shapes_app.switch_page("pages/pooling.py").run()
    _live.reset_store()
    follower.run()
    assert title_of(follower) == ["Pooling"] and follower.session_state[_live.FOLLOW] is True


def test_which_class_on_feature_maps_shows_the_picture_and_reveals_the_models_answer():
    projector, code, key = lecturer()
    explorer = AppTest.from_file(APP, default_timeout=120)
    explorer.query_params["class"] = code  # joins by the link...
    explorer.run()
    explorer.session_state[_live.FOLLOW] = False  # ...and explores on their own
    explorer.switch_page("pages/pooling.py").run()
    assert title_of(explorer) == ["Pooling"]
    maps = lecturer_on("pages/feature_maps.py", code, key, fm_model="digits (pretrained)", fm_index=7)
    ask = maps.sidebar.button(key="live_ask_class")
    assert ask.label == "Ask the hall: which class will the network say?"  # a test image, not a private photo
    ask.click().run()
    assert not maps.exception and any(c.value.startswith("Asked the hall") for c in maps.sidebar.caption)
    question = _live.store()[0].state(code).question
    spec = question["spec"]
    assert isinstance(spec["picture"], int)

    _live.reset_store()
    explorer.run()  # exploring members are brought to the question too, once
    assert title_of(explorer) == ["Live class"] and explorer.session_state[_live.FOLLOW] is False
    assert explorer.get("image"), "the question's picture above the choices"
    buttons = [b for b in explorer.button if b.key and b.key.startswith(f"live_choice_{question['id']}_")]
    assert [b.label for b in buttons] == [literal(c) for c in spec["choices"]]
    # The model's own forward pass on the test image the page showed decides the right choice.
    model, meta = models.load_pretrained("digits")
    split = data.load_dataset("digits", "test")
    image = split.x[7:8]
    stored = np.asarray(Image.open(io.BytesIO(_live.store()[0].picture(code, spec["picture"]))))
    assert (stored[::9, ::9] == split.images[7, 0].numpy()).all()  # the test image the model saw, 9× enlarged
    with torch.no_grad():
        top1 = meta["classes"][int(model(image).argmax())]
    assert spec["choices"][spec["answer"]] == top1
    buttons[spec["answer"]].click().run()
    assert _live.store()[0].counts(question["id"]) == {str(spec["answer"]): 1}

    _live.reset_store()
    projector.run()
    assert len(projector.get("image")) == 2, "the projector shows the QR code and the question's picture"
    projector.button(key="live_reveal").click().run()
    assert any(f"Right answer: {top1}" in m.value.replace("\\", "") for m in projector.markdown)
    csv_text = _live.store()[0].results_csv(code, key)
    assert f"{top1},1,True" in csv_text.replace("\r", "")


def test_which_class_on_saliency_asks_about_the_picture_being_explained():
    """Saliency offers the same question: the hall guesses before the maps say why."""
    _, code, key = lecturer()
    page = lecturer_on("pages/saliency.py", code, key, sal_model="digits (pretrained)", sal_in_index=3)
    page.sidebar.button(key="live_ask_class").click().run()
    assert not page.exception
    spec = _live.store()[0].state(code).question["spec"]
    model, meta = models.load_pretrained("digits")
    image = data.load_dataset("digits", "test").x[3:4]
    with torch.no_grad():
        probabilities = torch.softmax(model(image)[0], dim=0)
    assert spec["choices"][spec["answer"]] == meta["classes"][int(probabilities.argmax())]
    assert set(spec["choices"]) >= {meta["classes"][int(i)] for i in probabilities.argsort(descending=True)[:3]}  # the near misses


def test_which_filter_is_offered_on_the_first_convolution_and_asks_with_four_filters():
    projector, code, key = lecturer()
    maps = lecturer_on("pages/feature_maps.py", code, key, fm_model="digits (pretrained)", fm_layer="conv1",
                       fm_channel=5)
    maps.sidebar.button(key="live_ask_filter").click().run()
    assert not maps.exception
    spec = _live.store()[0].state(code).question["spec"]
    assert spec["choices"] == ["Filter A", "Filter B", "Filter C", "Filter D"] and 0 <= spec["answer"] < 4
    assert Image.open(io.BytesIO(_live.store()[0].picture(code, spec["picture"]))).format == "PNG"
    assert spec["filters"][spec["answer"]] == 5 and spec["layer"] == "conv1"  # the enlarged channel's own filter
    _live.reset_store()
    projector.run()
    projector.button(key="live_reveal").click().run()  # Reveal says which filter the right letter was
    right = f"Right answer: {spec['choices'][spec['answer']]} (filter 5 of conv1)"
    assert any(right in m.value.replace("\\", "") for m in projector.markdown), [m.value for m in projector.markdown]
    maps.session_state["fm_layer"] = "pool1"  # not a convolution's own output: no such question
    maps.run()
    assert "live_ask_filter" not in [b.key for b in maps.sidebar.button]
    visitor = AppTest.from_file(APP, default_timeout=120).run()  # not the lecturer: no ask buttons
    visitor.switch_page("pages/shape_calculator.py").run()
    assert title_of(visitor) == ["Shape calculator"] and "live_ask_layer" not in [b.key for b in visitor.sidebar.button]


def test_a_lecturers_own_photo_is_shown_only_by_a_button_that_says_so():
    _, code, key = lecturer()
    maps = lecturer_on("pages/feature_maps.py", code, key, fm_model="shapes (pretrained)",
                       fm_source="Photo (sample, upload or camera)", fm_photo_source="Upload")
    photo = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (300, 500, 3), dtype=np.uint8)).save(photo, "JPEG")
    maps.file_uploader[0].set_value(("mine.jpg", photo.getvalue(), "image/jpeg")).run()
    assert not maps.exception
    ask = maps.sidebar.button(key="live_ask_class")
    assert ask.label == "Show this photo to the class and ask which class"
    assert _live.store()[0].state(code).question is None  # nothing leaves the lecturer's screen before the click
    ask.click().run()
    stored = _live.store()[0].picture(code, _live.store()[0].state(code).question["spec"]["picture"])
    picture = Image.open(io.BytesIO(stored))
    assert picture.format == "PNG" and max(picture.size) <= 256  # re-encoded, the model's view, not the file


def test_the_pooling_pages_window_is_asked_about_the_matrix_on_screen():
    _, code, key = lecturer()
    pool = lecturer_on("pages/pooling.py", code, key, pool_kernel=3, pool_stride=2, pool_padding=1, pool_ceil=True)
    pool.sidebar.button(key="live_ask_pool").click().run()
    assert not pool.exception
    spec = _live.store()[0].state(code).question["spec"]
    assert "**(1, 1, 4, 4)**" in spec["prompt"]  # the page's first matrix: Lecture 7's 4×4 example
    out = torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True)(torch.zeros(1, 1, 4, 4)).shape
    assert spec["answer"] == quiz.format_answer(tuple(out)) and "ceil_mode=True" in spec["prompt"]
