"""Numbers and words that agree (issue 12): one indexing convention, padding drawn only when
there is padding, channel counts that are true, thousands separators, whole tables, friendly
example names, and the notes a student needs (a model only knows its classes, transparency)."""
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from pages import _kernel_playground_state as pg_state
from vizcore import kernels, quiz, shapes

ROOT = Path(__file__).resolve().parents[1]


def page(name, **state):
    at = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def titles(at):
    out = []
    for c in at.get("plotly_chart"):
        title = (json.loads(c.proto.spec)["layout"].get("title") or {}).get("text")
        out.append(title)
    return out


def _png(img):
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_worked_examples_have_friendly_names_and_old_links_still_work():
    for name in list(kernels.WORKED_EXAMPLES) + list(kernels.SIGNAL_EXAMPLES):
        assert "[deck" not in name and "deck " not in name and "[convolution" not in name
    old = "6×6 matrix with stride 2 [deck 002]"
    settings, ignored = pg_state.read_link({"view": "Matrix", "example": old})
    assert not ignored and settings["kp_example"] == "6×6 matrix with stride 2"
    assert (settings["kp_stride_r"], settings["kp_stride_c"]) == (2, 2)


def test_grid_cells_are_counted_from_zero_like_the_figures():
    with pytest.raises(kernels.KernelError, match="Row 0, column 1 is empty"):
        kernels.parse_grid([[1, None], [3, 4]])


def test_matrix_title_mentions_padding_only_when_there_is_padding():
    at = AppTest.from_file(str(ROOT / "pages" / "kernel_playground.py"), default_timeout=60)
    at.query_params["view"] = "Matrix"
    at.run()
    assert not at.exception
    assert "Input (blue: the window)" in titles(at)  # the first example has no padding
    at.number_input(key="kp_pad").set_value(1).run()
    assert "Input (gray: padding, blue: the window)" in titles(at)


def test_grayscale_photo_has_one_channel_in_pooling():
    at = page("pooling", pool_view="Image / feature map", pool_img_sample="camera")
    shown = [t for t in titles(at) if t and t.startswith("Input")]
    assert shown and all("×3" not in t for t in shown), shown
    at.selectbox(key="pool_img_sample").set_value("astronaut").run()
    assert any(t and t.startswith("Input") and t.endswith("×3") for t in titles(at))


def test_stack_table_is_whole_with_separators_and_no_none_in_pytorch_layout():
    at = page("shape_calculator", section="Layer stack")
    at.selectbox(key="sc_preset").set_value("VGG-16 (D)").run()
    table = at.dataframe[-1]
    assert len(table.value) == len(shapes.PRESETS["VGG-16 (D)"])
    assert not table.value["output shape"].str.contains("None").any()
    spec = json.loads(table.proto.columns)
    for name in ("params", "multiply-adds", "non-trainable"):
        assert spec[name]["type_config"]["format"] == "localized"


def test_quiz_words_fit_the_question():
    for i in range(60):
        q = quiz.make_question("ROOM-1", i, "easy", ["valid_config"])
        assert len(q.spec["layers"]) <= 8  # an easy stack is short
        if not any(getattr(layer, "groups", 1) > 1 for layer in q.spec["layers"]):
            assert "group" not in q.hint
        assert quiz.answer_placeholder(q) == "yes or no"
    q = quiz.make_question("ROOM-1", 0, "easy", ["conv_params"])
    assert "yes" not in quiz.answer_placeholder(q) and "280" in quiz.answer_placeholder(q)
    q = quiz.make_question("ROOM-1", 0, "easy", ["conv_shape"])
    assert "26, 26" in quiz.answer_placeholder(q) and "yes" not in quiz.answer_placeholder(q)


def test_quiz_page_placeholder_follows_the_answer_type():
    at = page("quiz")
    placeholder = at.text_input[-1].proto.placeholder
    assert placeholder and "16*8*7*7+16 or yes" not in placeholder


def test_photo_to_a_model_says_the_model_only_knows_its_classes():
    at = page("feature_maps", fm_model="digits (pretrained)", fm_source="Photo (sample, upload or camera)")
    notes = " ".join(i.value for i in at.info)
    assert "only knows the 10 classes" in notes
    at = page("feature_maps", fm_model="digits (pretrained)")  # a test image of its own data set
    assert "only knows" not in " ".join(i.value for i in at.info)


def test_a_drawing_says_so_only_on_a_model_whose_data_are_not_drawings():
    at = page("feature_maps", fm_model="digits (pretrained)", fm_source="Draw", fm_tool="Pixel grid")
    assert at.get("plotly_chart") and "only knows" not in " ".join(i.value for i in at.info)
    at = page("feature_maps", fm_model="shapes (pretrained)", fm_source="Draw", fm_tool="Pixel grid")
    assert "only knows the 8 classes" in " ".join(i.value for i in at.info)


def test_transparent_upload_says_it_is_flattened_on_white():
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[10:30, 10:30] = (200, 30, 30, 255)  # an opaque square on a transparent background
    at = page("kernel_playground", kp_img_source="Upload")
    at.file_uploader(key="kp_img_upload").set_value(("logo.png", _png(Image.fromarray(rgba, "RGBA")),
                                                     "image/png")).run()
    assert not at.exception
    assert any("transparent parts" in c.value for c in at.caption)
    opaque = np.full((40, 40, 3), 90, np.uint8)
    at.file_uploader(key="kp_img_upload").set_value(("photo.png", _png(Image.fromarray(opaque)), "image/png")).run()
    assert not any("transparent parts" in c.value for c in at.caption)


def test_one_input_channel_is_said_in_words():
    at = page("feature_maps", fm_model="digits (pretrained)")
    text = " ".join(m.value for m in at.markdown)
    assert "each of the 1 input channel" not in text
