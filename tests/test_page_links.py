"""Every page's main state in its address: a link opens the same view (state -> URL -> same
state), the page writes back the same address, and a bad entry is refused with a message."""
import random
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vizcore import quiz, shapes

ROOT = Path(__file__).resolve().parents[1]


def open_link(page: str, query: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=120)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    return at


# Addresses list only what differs from a setting's default, so the test links do too.


def written(at: AppTest) -> dict:
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def warnings(at: AppTest) -> str:
    return " ".join(w.value.replace("\\", "") for w in at.warning)


rng = random.Random(12)
POOLING = [
    ({}, {}),
    ({"mode": "Average pooling", "k": "3", "s": "1", "p": "1", "countpad": "0"},
     {"pool_mode": "Average pooling", "pool_kernel": 3, "pool_stride": 1, "pool_padding": 1, "pool_count_pad": False}),
    ({"k": "3", "s": "3", "ceil": "1", "matrix": "Max vs. average pooling 4×4", "cell": "out[1, 1]"},
     {"pool_kernel": 3, "pool_stride": 3, "pool_ceil": True, "pool_preset": "Max vs. average pooling 4×4",
      "pool_cell": "out[1, 1]"}),
    ({"view": "Image / feature map", "sample": "astronaut", "mode": "Global max pooling"},
     {"pool_view": "Image / feature map", "pool_img_sample": "astronaut", "pool_mode": "Global max pooling"}),
    ({"view": "Translation invariance", "shift": "down", "by": "3"},
     {"pool_view": "Translation invariance", "pool_shift_dir": "down", "pool_shift_px": 3}),
    ({"view": "Receptive field growth", "blocks": "2", "convs": "2", "convk": "5", "convp": "2"},
     {"pool_view": "Receptive field growth", "pool_rf_blocks": 2, "pool_rf_convs": 2, "pool_rf_kernel": 5,
      "pool_rf_padding": 2}),
    ({"matrix": "Random integers", "rows": "5", "cols": "7", "seed": "42"},
     {"pool_preset": "Random integers", "pool_rows": 5, "pool_cols": 7, "pool_seed": 42}),
]
SHAPES = [
    ({}, {}),
    ({"rows": "32", "cols": "20", "cin": "8", "filters": "16", "kernel": "5", "stride": "1", "padding": "2"},
     {"sc_rows": 32, "sc_cols": 20, "sc_in_channels": 8, "sc_filters": 16, "sc_kernel": 5, "sc_stride": 1,
      "sc_padding": 2}),
    ({"padmode": "same", "dilation": "2", "transposed": "1", "output_padding": "1", "stride": "3"},
     {"sc_padding_mode": "same", "sc_dilation": 2, "sc_transposed": True, "sc_output_padding": 1, "sc_stride": 3}),
    ({"tab": "Which padding and stride?", "inv_n": "64", "inv_kernel": "3", "inv_wanted": "16"},
     {"section": "Which padding and stride?", "sc_inv_n": 64, "sc_inv_kernel": 3, "sc_inv_wanted": 16}),
    ({"tab": "Layer stack", "preset": "VGG-16 (D)", "layout": "NHWC"},
     {"section": "Layer stack", "sc_preset": "VGG-16 (D)", "sc_layout": "NHWC"}),
    ({"tab": "Layer stack", "preset": rng.choice(list(shapes.PRESETS))},
     {"section": "Layer stack"}),
]
FEATURES = [
    ({"image": "7", "layer": "conv2", "channel": "5", "row": "3", "col": "8",
      "shared": "0"},
     {"fm_model": "digits (pretrained)", "fm_index": 7, "fm_layer": "conv2", "fm_channel": 5, "fm_row": 3, "fm_col": 8,
      "fm_shared": False}),
    ({"cls": "3", "image": "2", "layer": "pool1", "channel": "2"},
     {"fm_class": "3", "fm_index": 2, "fm_layer": "pool1", "fm_channel": 2}),
    ({"model": "shapes (pretrained)", "input": "Photo (sample, upload or camera)", "sample": "chelsea",
      "layer": "conv3"},
     {"fm_model": "shapes (pretrained)", "fm_source": "Photo (sample, upload or camera)",
      "fm_photo_sample": "chelsea", "fm_layer": "conv3"}),
]


@pytest.mark.parametrize("query, state", POOLING, ids=lambda v: ",".join(v) if isinstance(v, dict) else None)
def test_pooling_link_round_trip(query, state):
    at = open_link("pooling", query)
    for key, value in state.items():
        assert at.session_state[key] == value, key
    assert not at.warning or "not understood" not in warnings(at)
    assert written(at) == query  # the page writes the same address back


@pytest.mark.parametrize("query, state", SHAPES, ids=lambda v: ",".join(v) if isinstance(v, dict) else None)
def test_shape_calculator_link_round_trip(query, state):
    at = open_link("shape_calculator", query)
    for key, value in state.items():
        assert at.session_state[key] == value, key
    assert written(at).items() >= query.items()


@pytest.mark.parametrize("query, state", FEATURES, ids=lambda v: ",".join(v) if isinstance(v, dict) else None)
def test_feature_maps_link_round_trip(query, state):
    at = open_link("feature_maps", query)
    for key, value in state.items():
        assert at.session_state[key] == value, key
    back = written(at)
    assert {k: back.get(k) for k in query} == query  # every linked setting comes back as it was
    again = open_link("feature_maps", back)  # and the page's own full address reopens the same view
    assert written(again) == back


def test_quiz_link_opens_the_same_question_for_everybody():
    query = {"code": "ROOM-42", "level": "medium", "q": "3", "topics": "conv_shape,pool_shape"}
    first, second = open_link("quiz", query), open_link("quiz", query)
    state = first.session_state["quiz_progress"]
    assert (state["code"], state["difficulty"], state["index"], state["kinds"]) == (
        "ROOM-42", "medium", 2, ["conv_shape", "pool_shape"])
    assert first.subheader[0].value.startswith("Question 3")
    assert first.markdown[0].value == second.markdown[0].value  # the same question
    expected = quiz.make_question("ROOM-42", 2, "medium", ["conv_shape", "pool_shape"])
    assert any(m.value == expected.prompt for m in first.markdown)
    assert written(first) == query
    at = open_link("quiz", {})
    assert set(written(at)) == {"code"}  # a fresh quiz's address carries its code
    assert open_link("quiz", written(at)).session_state["quiz_progress"]["code"] == written(at)["code"]


@pytest.mark.parametrize("page, query, words", [
    ("pooling", {"k": "99", "mode": "Median pooling", "zzz": "1"}, ["k=99", "Median pooling", "zzz"]),
    ("shape_calculator", {"kernel": "inf", "preset": "<b>x</b>"}, ["kernel=inf", "preset="]),
    ("feature_maps", {"channel": "-1", "row": "1e9"}, ["channel=-1", "row=1e9"]),
    ("quiz", {"level": "impossible", "topics": "conv_shape,astrology"}, ["level=impossible", "astrology"]),
])
def test_bad_link_entries_are_refused_with_a_message(page, query, words):
    at = open_link(page, query)
    text = warnings(at)
    assert "not understood" in text
    for word in words:
        assert word in text, (word, text)


def test_the_sidebar_offers_a_copy_link_box():
    at = open_link("pooling", {"k": "3"})
    assert any("k=3" in c.value for c in at.sidebar.code)


MODEL_PAGES = {  # page -> (model key, input prefix, explained-class key)
    "saliency": ("sal_model", "sal_in", "sal_target"),
    "occlusion": ("occ_model", "occ_in", "occ_target"),
    "lime": ("lime_model", "lime_in", "lime_target"),
}


def finish_runs(at: AppTest) -> AppTest:
    """Press the Run/Sample button that a run estimated as long waits for (the estimate follows
    the server's load, so whether it waits differs between runs)."""
    for _ in range(3):
        waiting = [b for b in at.button if b.label.startswith(("Run ", "Sample "))]
        if not waiting:
            break
        waiting[0].click().run()
        assert not at.exception, at.exception
    return at


def shown(at: AppTest) -> tuple:
    """What the page shows that a link must reproduce: its text and its numbers (time estimates
    follow the server's load, not the link)."""
    return ([m.value for m in at.markdown if "≈" not in m.value], [(m.label, m.value) for m in at.metric])


@pytest.mark.parametrize("page", list(MODEL_PAGES))
@pytest.mark.parametrize("model,index,target", [("shapes", 7, 2), ("digits", 123, -1)])
def test_model_pages_link_reopens_the_same_view(page, model, index, target):
    """A view reached by clicking (model, test image, explained class) is in the address, and that
    address opened in a fresh session shows the same widgets and the same result."""
    model_key, prefix, target_key = MODEL_PAGES[page]
    first = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=120)
    first.session_state[model_key] = f"{model} (pretrained)"
    first.session_state[f"{prefix}_index"] = index
    first.session_state[target_key] = target
    first.run()
    assert not first.exception, first.exception
    link = written(first)
    assert link.get("model", "digits (pretrained)") == f"{model} (pretrained)"
    assert link.get("img") == str(index)
    again = open_link(page, link)
    assert written(again) == link
    for key in (model_key, f"{prefix}_source", f"{prefix}_class", f"{prefix}_index", target_key):
        assert again.session_state[key] == first.session_state[key], key
    assert shown(finish_runs(again)) == shown(finish_runs(first))


@pytest.mark.parametrize("page", list(MODEL_PAGES))
@pytest.mark.parametrize("model", ["shapes", "imagenet"])
def test_model_pages_link_keeps_a_sample_photo(page, model):
    model_key, prefix, _ = MODEL_PAGES[page]
    query = {"model": f"{model} (pretrained)", "input": "Photo (sample, upload or camera)", "sample": "chelsea"}
    at = open_link(page, query)
    assert at.session_state[f"{prefix}_photo_sample"] == "chelsea"
    assert at.selectbox(key=f"{prefix}_photo_sample").value == "chelsea"
    assert written(at).items() >= query.items()


@pytest.mark.parametrize("window,stride", [(None, None), (8, 4), (32, 8)])
def test_occlusion_link_to_the_imagenet_model_opens_its_patch_size(window, stride):
    """A link naming the ImageNet network but no patch opens the patch that suits a 224² photo
    (32, stride 16), not the small models' 8/4; a patch the link names is kept, and the address
    the page writes names exactly the settings that differ from this model's start values."""
    query = {"model": "imagenet (pretrained)", "input": "Photo (sample, upload or camera)", "sample": "chelsea"}
    if window:
        query |= {"window": str(window), "stride": str(stride)}
    at = open_link("occlusion", query)
    assert (at.session_state["occ_window"], at.session_state["occ_stride"]) == (window or 32, stride or 16)
    start = {"window": "32", "stride": "16"}  # this model's start values: the address leaves them out
    assert written(at) == {k: v for k, v in query.items() if start.get(k) != v}
    again = open_link("occlusion", written(at))
    assert (again.session_state["occ_window"], again.session_state["occ_stride"]) == (window or 32, stride or 16)


def test_lime_link_to_the_imagenet_model_opens_its_sample_count():
    query = {"model": "imagenet (pretrained)", "input": "Photo (sample, upload or camera)"}
    at = open_link("lime", query)
    assert at.session_state["lime_samples"] == 250
    assert written(at) == query
