"""Issue 27, "the question on screen right now": each question's answer checked against an
independent oracle (torch's own layers on a zero tensor, the model's own forward pass, torch's
convolution), the slips named as the quiz names them, and the class store's pictures (lecturer
key only, size-limited, gone with their class)."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings, strategies as st
from PIL import Image

from vizcore import data, features, live, live_questions, models, quiz, shapes
from vizcore.figures import live as live_figs


def shape_of(spec: dict) -> tuple[int, ...]:
    return quiz.parse_answer(spec["answer"])


@settings(max_examples=80, deadline=None)
@given(rows=st.integers(1, 40), cols=st.integers(1, 40), cin=st.integers(1, 4), filters=st.integers(1, 6),
       kernel=st.integers(1, 7), stride=st.integers(1, 4), padding=st.one_of(st.integers(0, 3), st.just("valid"),
                                                                             st.just("same")),
       dilation=st.integers(1, 3))
def test_the_layer_question_answers_what_torch_conv2d_gives(rows, cols, cin, filters, kernel, stride, padding,
                                                           dilation):
    assume(padding != "same" or stride == 1)  # torch has 'same' at stride 1 only (the rest is Keras')
    layer = torch.nn.Conv2d(cin, filters, kernel, stride, padding, dilation)
    try:
        out = tuple(layer(torch.zeros(2, cin, rows, cols)).shape)
    except RuntimeError:  # torch refuses the layer: so must the question
        with pytest.raises(shapes.ShapeError):
            live_questions.layer_shape(rows, cols, cin, filters, kernel, stride, padding, dilation, batch=2)
        return
    spec = live_questions.layer_shape(rows, cols, cin, filters, kernel, stride, padding, dilation, batch=2)
    n, c, h, w = out
    assert shape_of(spec) == (out if padding != "same" else (n, h, w, c))  # 'same' is asked in Keras' NHWC
    assert f"**{rows}×{cols}** pixels" in spec["prompt"] and f"**{filters}** filter{'s' if filters != 1 else ''} " in spec["prompt"]
    # Each slip's answer is a wrong one, and the quiz names it so.
    question = quiz.conv_shape_question(2, cin, rows, cols, filters, (kernel, kernel), stride, padding, dilation,
                                        "NHWC" if padding == "same" else "NCHW")
    for wrong, why in spec["mistakes"].items():
        assert wrong != spec["answer"] and quiz.likely_mistake(question, wrong) == why
    if isinstance(padding, int) and padding > 0:  # "forgot the padding": torch's layer without it
        try:
            unpadded = tuple(torch.nn.Conv2d(cin, filters, kernel, stride, 0, dilation)(
                torch.zeros(2, cin, rows, cols)).shape)
        except RuntimeError:
            return
        if unpadded != out:
            assert "forgot the padding" in spec["mistakes"][quiz.format_answer(unpadded)]


@settings(max_examples=80, deadline=None)
@given(rows=st.integers(1, 30), cols=st.integers(1, 30), channels=st.integers(1, 3), kernel=st.integers(1, 6),
       stride=st.integers(1, 4), padding=st.integers(0, 3), ceil_mode=st.booleans(), mode=st.sampled_from(["max", "avg"]))
def test_the_pooling_question_answers_what_torch_pooling_gives(rows, cols, channels, kernel, stride, padding,
                                                              ceil_mode, mode):
    assume(2 * padding <= kernel)  # torch's (and the Pooling page's) rule
    layer = (torch.nn.MaxPool2d if mode == "max" else torch.nn.AvgPool2d)(kernel, stride, padding, ceil_mode=ceil_mode)
    try:
        out = tuple(layer(torch.zeros(1, channels, rows, cols)).shape)
    except RuntimeError:
        with pytest.raises(shapes.ShapeError):
            live_questions.pooling_shape(rows, cols, channels, mode, kernel, stride, padding, ceil_mode)
        return
    spec = live_questions.pooling_shape(rows, cols, channels, mode, kernel, stride, padding, ceil_mode)
    assert shape_of(spec) == out
    assert spec["answer"] not in spec["mistakes"]


def test_typed_shapes_are_one_answer_and_the_slips_are_named_after_reveal():
    spec = live._checked_spec(live_questions.layer_shape(7, 7, 3, 4, 3, 2, 1))
    assert spec["answer"] == "(8, 4, 4, 4)"  # torch: Conv2d(3, 4, 3, stride 2, padding 1) on 7×7
    summary = live.summary_of(spec, {"(8,4,4,4)": 2, "8x4x4x4": 1, "(8, 4, 3, 3)": 3, "(8, 4, 7, 7)": 1, "12": 1})
    assert (summary["right"], summary["total"]) == (3, 8)
    assert [(label, n, ok) for label, n, ok in summary["histogram"]][:2] == [("(8, 4, 3, 3)", 3, False),
                                                                           ("(8, 4, 4, 4)", 3, True)]
    slips = dict((label, why) for label, _, why in summary["wrong"])
    assert "forgot the padding" in slips["(8, 4, 3, 3)"] and slips["(8, 4, 7, 7)"] == "forgot the stride"
    assert slips["12"] is None


@pytest.mark.parametrize("name", ["digits", "shapes"])
def test_which_class_answers_the_models_own_forward_pass(name):
    model, meta = models.load_pretrained(name)
    split = data.load_dataset(meta["dataset"], "test")
    for i in range(0, 40, 5):
        x = split.x[i:i + 1]
        probabilities = features.activations(model, x)[features.SOFTMAX][0].numpy()  # as the page gets them
        spec = live_questions.which_class(probabilities, meta["classes"], seed=i)
        with torch.no_grad():
            top1 = int(model(x).argmax())
        assert spec["choices"][spec["answer"]] == meta["classes"][top1]
        assert len(set(spec["choices"])) == len(spec["choices"]) == 4
        second = int(np.argsort(-probabilities, kind="stable")[1])
        assert meta["classes"][second] in spec["choices"]  # the nearest miss is a decoy
    # The seed shuffles: the right answer is not always in one place.
    places = {live_questions.which_class(probabilities, meta["classes"], seed)["answer"] for seed in range(40)}
    assert len(places) > 1


def test_which_filter_right_answer_is_the_filter_whose_convolution_is_the_map():
    model, meta = models.load_pretrained("digits")
    x = data.load_dataset("digits", "test").x[:1]
    conv = model.conv1
    feature_maps = features.activations(model, x)["conv1"][0]
    weights = features.filters(model, "conv1")
    for channel in (0, 5, 15):
        spec = live_questions.which_filter(weights, channel, seed=channel, layer="conv1")
        assert spec["choices"] == ["Filter A", "Filter B", "Filter C", "Filter D"] and spec["layer"] == "conv1"
        assert len(set(spec["filters"])) == 4
        for letter, index in enumerate(spec["filters"]):
            made = F.conv2d(x, conv.weight[index:index + 1], conv.bias[index:index + 1], conv.stride, conv.padding)[0, 0]
            same = torch.allclose(made, feature_maps[channel], atol=1e-5)
            assert same == (letter == spec["answer"]), (channel, letter, index)
    with pytest.raises(ValueError):
        live_questions.which_filter(weights[:3], 0, seed=0, layer="conv1")  # three filters cannot give four choices


def test_question_pictures_are_small_pngs():
    photo = np.random.default_rng(0).integers(0, 256, (600, 900, 3), dtype=np.uint8)
    big = Image.open(io.BytesIO(live_figs.picture_png(photo)))
    assert big.format == "PNG" and max(big.size) == live_figs.PICTURE_SIDE and big.size[0] > big.size[1]
    digit = Image.open(io.BytesIO(live_figs.picture_png(np.zeros((28, 28)))))
    assert digit.size == (252, 252)  # enlarged by a whole factor, square pixels
    filters = Image.open(io.BytesIO(live_figs.filters_png(np.zeros((24, 24)), np.ones((4, 3, 5, 5)))))
    assert filters.size[0] == live_figs.PICTURE_SIDE and filters.size[1] <= 300


# --- the store: pictures belong to the lecturer and to their class ---------------------------------

def png_of(side: int) -> bytes:
    return live_figs.picture_png(np.random.default_rng(side).integers(0, 256, (side, side, 3)), max_side=side)


def test_only_the_lecturer_adds_pictures_and_asks_with_them(tmp_path):
    now = [1000.0]
    store = live.LiveStore(f"sqlite:///{tmp_path / 'c.db'}", clock=lambda: now[0])
    code, key = store.start_class()
    other_code, other_key = store.start_class()
    png = png_of(64)
    for forged in (None, "", other_key, key[:-1]):
        with pytest.raises(live.LiveError, match="Only the lecturer"):
            store.add_picture(code, forged, png)
    pid = store.add_picture(code, key, png)
    assert store.picture(code, pid) == png and store.picture(other_code, pid) is None
    with pytest.raises(live.LiveError, match="PNG"):
        store.add_picture(code, key, b"<html>not a picture</html>")
    with pytest.raises(live.LiveError, match="too large"):
        store.add_picture(code, key, b"\x89PNG\r\n\x1a\n" + b"0" * live.MAX_PICTURE_BYTES)
    spec = {"type": "choice", "prompt": "Which?", "choices": ["a", "b"], "answer": 0}
    with pytest.raises(live.LiveError, match="not one of this class"):
        store.ask(other_code, other_key, {**spec, "picture": pid})  # another class's picture
    for bad in ("1", 1.5, True, [pid]):
        with pytest.raises(live.LiveError):
            store.ask(code, key, {**spec, "picture": bad})
    with pytest.raises(live.LiveError, match="Only the lecturer"):
        store.ask(code, other_key, {**spec, "picture": pid})
    qid = store.ask(code, key, {**spec, "picture": pid})
    assert store.state(code).question == {"id": qid, "state": "open", "spec": {**spec, "picture": pid}}
    now[0] += live.CLASS_HOURS * 3600 + 1
    assert store.expire() == 2 and store.picture(code, pid) is None
    with store.engine.connect() as db:
        assert db.execute(live.pictures_table.select()).fetchall() == []


def test_a_which_filter_question_keeps_its_filters_and_reveal_names_the_right_one(tmp_path):
    store = live.LiveStore(f"sqlite:///{tmp_path / 'c.db'}")
    code, key = store.start_class()
    spec = live_questions.which_filter(np.zeros((16, 1, 5, 5)), 5, seed=3, layer="conv*1*")
    qid = store.ask(code, key, spec)
    store.join(code, "phone")
    store.answer(code, qid, "phone", str(spec["answer"]))
    stored = store.state(code).question["spec"]
    assert stored["filters"] == spec["filters"] and stored["layer"] == "conv*1*"
    right = "ABCD"[spec["answer"]]
    summary = live.summary_of(stored, {str(spec["answer"]): 2, str((spec["answer"] + 1) % 4): 1})
    assert summary["answer"] == f"Filter {right} (filter 5 of conv*1*)" and summary["right"] == 2
    assert "(filter 5 of conv*1*)" in store.results_csv(code, key)
    # What the store keeps is bounded: one non-negative int per choice, a short layer name.
    assert store.ask(code, key, {**spec, "layer": "x" * 500}) and len(store.state(code).question["spec"]["layer"]) == 80
    for bad in ({"filters": [1, 2, 3]}, {"filters": [1, 2, 3, "4"]}, {"filters": [1, 2, 3, 4.0]},
                {"filters": [1, 2, 3, True]}, {"filters": [1, 2, 3, -1]}, {"filters": [1, 2, 3, live.MAX_FILTERS]},
                {"filters": "1234"}, {"filters": 5}, {"layer": None}, {"layer": ""}, {"layer": ["conv1"]}):
        with pytest.raises(live.LiveError, match="which-filter"):
            store.ask(code, key, {**spec, **bad})
