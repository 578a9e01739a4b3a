"""The Explanation scores page's address: model, data set, images, target, tolerance, the method
settings and the result's view go into the link and come back; a bad link is refused with a
message; a link never starts an evaluation (the Run button does)."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_page_links import open_link, warnings, written
from test_training_link import as_text, shown
from vizcore import models

PAGE = "explanation_scores"
STORY = "The shortcut lesson: wolf or husky?"
SCENE_MODELS = [f"{m} (pretrained)" for m in ("scenes", "shapes", "shortcut") if m in models.shipped_models()]
SCORE_KEYS = {"es_view", "es_sg", "es_ig", "es_lime", "es_steps", "es_model", "es_dataset", "es_n", "es_target",
              "es_tolerance"}


def reopened(at, keys):
    """The page opened from ``at``'s own address shows the same values and writes the same address."""
    again = open_link(PAGE, written(at))
    assert "not understood" not in warnings(again)
    assert shown(again, keys) == shown(at, keys)
    assert written(again) == written(at)
    return again


def test_defaults_give_an_empty_address_and_nothing_runs():
    at = open_link(PAGE, {})
    assert written(at) == {}
    assert at.button(key="es_run").label == "Run" and not at.dataframe
    assert at.sidebar.code, "no Copy link box"


def test_settings_set_by_hand_come_back_from_the_link_without_a_run():
    at = open_link(PAGE, {})
    values = {"es_sg": 7, "es_ig": 9, "es_lime": 110, "es_steps": 32, "es_model": SCENE_MODELS[-1],
              "es_dataset": "shortcut_shuffled", "es_n": 7, "es_target": "label", "es_tolerance": 2.5}
    for key, value in values.items():
        next(w for kind in ("number_input", "select_slider", "selectbox", "radio", "slider")
             for w in at.get(kind) if w.key == key).set_value(value)
    at.run()
    assert not at.exception, at.exception
    assert shown(at, set(values)) == values
    assert written(at) == {"sg_samples": "7", "ig_steps": "9", "lime_samples": "110", "steps": "32",
                           "model": SCENE_MODELS[-1], "data": "shortcut_shuffled", "n": "7", "explain": "label",
                           "tol": "2.5"}
    again = reopened(at, SCORE_KEYS)
    assert any(b.key == "es_run" for b in again.button) and not again.dataframe  # the link ran nothing


def test_the_result_view_comes_back_after_run():
    query = {"n": "4", "sg_samples": "3", "ig_steps": "4", "lime_samples": "20", "steps": "8",
             "score": "deletion AUC", "method": "Edges (Sobel)", "image": "2"}
    at = open_link(PAGE, query)
    if any(b.key == "es_run" for b in at.button):  # else another session's result is shared
        assert not at.dataframe
        at.button(key="es_run").click().run()
    assert not at.exception, at.exception
    assert shown(at, {"es_chart_score", "es_gallery_method", "es_image"}) == {
        "es_chart_score": "deletion AUC", "es_gallery_method": "Edges (Sobel)", "es_image": 2}
    assert written(at) == query


def test_a_method_the_result_lacks_falls_back_to_the_first():
    at = open_link(PAGE, {"n": "4", "sg_samples": "3", "ig_steps": "4", "lime_samples": "20", "steps": "8",
                          "method": "Astrology", "image": "400"})
    if any(b.key == "es_run" for b in at.button):
        at.button(key="es_run").click().run()
    assert not at.exception, at.exception
    assert shown(at, {"es_gallery_method", "es_image"}) == {"es_gallery_method": "Gradient", "es_image": 0}


@pytest.mark.skipif("digits" not in models.shipped_models(), reason="no digits model in assets/")
def test_the_start_values_follow_the_model():
    at = open_link(PAGE, {"model": "digits (pretrained)"})
    # the digits model's own data set and its tolerance for 28×28 pictures: nothing else in the link
    assert shown(at, {"es_dataset", "es_tolerance"}) == {"es_dataset": "digits", "es_tolerance": 1.9}
    assert written(at) == {"model": "digits (pretrained)"}
    at = open_link(PAGE, {"model": "digits (pretrained)", "tol": "4.3"})
    assert at.slider(key="es_tolerance").value == 4.3 and written(at)["tol"] == "4.3"


@pytest.mark.skipif(not {"shortcut", "scenes"} <= set(models.shipped_models()),
                    reason="the shipped shortcut and scenes models are not in assets/")
def test_the_story_view_comes_back_from_its_link():
    query = {"view": STORY, "story_n": "10", "sg_samples": "5", "lime_samples": "60"}
    at = open_link(PAGE, query)
    assert shown(at, {"es_view", "story_n", "es_sg", "es_lime"}) == {
        "es_view": STORY, "story_n": 10, "es_sg": 5, "es_lime": 60}
    assert written(at) == query
    assert any(b.key == "story_cheat_run" for b in at.button)  # nothing explained yet


def test_a_hostile_link_is_refused_literally_and_the_page_keeps_its_defaults():
    query = {"n": "nan", "tol": "11", "steps": "9", "data": "<b>x</b>", "model": "[a](javascript:x)",
             "method": "y" * 5000, "view": "x\nb", "zzz": "1"}
    at = open_link(PAGE, query)
    text = warnings(at)
    assert "not understood" in text
    for words in ("n=nan", "tol=11", "steps=9", "data=<b>x</b>", "model=[a](javascript:x)", "method=yyy", "zzz"):
        assert words in text, (words, text)
    assert len(text) < 1500  # the 5,000 characters are quoted short
    assert shown(at, {"es_n", "es_tolerance", "es_steps", "es_view"}) == {
        "es_n": 100, "es_tolerance": 4.3, "es_steps": 16, "es_view": "Score every method"}
    assert written(at) == {}


@st.composite
def score_links(draw):
    """A random valid address of the scoring view."""
    values = {"sg_samples": st.integers(1, 200), "ig_steps": st.integers(2, 200), "lime_samples": st.integers(10, 5000),
              "steps": st.sampled_from([8, 16, 32, 64]), "model": st.sampled_from(SCENE_MODELS),
              "data": st.sampled_from(["scenes", "shortcut", "shortcut_shuffled", "shapes"]),
              "n": st.integers(1, 500), "explain": st.sampled_from(["predicted", "label"]),
              "tol": st.floats(0.0, 10.0)}
    names = draw(st.lists(st.sampled_from(sorted(values)), unique=True, min_size=1, max_size=5))
    return {name: as_text(draw(values[name])) for name in names}


KEYS = {"sg_samples": "es_sg", "ig_steps": "es_ig", "lime_samples": "es_lime", "steps": "es_steps",
        "model": "es_model", "data": "es_dataset", "n": "es_n", "explain": "es_target", "tol": "es_tolerance"}


@settings(max_examples=4, deadline=None)
@given(score_links())
def test_random_links_open_the_same_settings(query):
    at = open_link(PAGE, query)
    assert "not understood" not in warnings(at)
    values = shown(at, SCORE_KEYS)
    for name, text in query.items():
        assert as_text(values[KEYS[name]]) == text, name
    assert written(at).items() <= query.items()  # the linked values that are not start values
    reopened(at, SCORE_KEYS)
