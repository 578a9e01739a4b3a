"""The Pooling page driven like a user (AppTest): settings, edits, messages, shown numbers."""
import base64
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "pooling.py")



def figures(app) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


def z_of(trace) -> np.ndarray:
    z = trace["z"]
    if isinstance(z, dict):  # plotly 6+ binary encoding
        shape = z["shape"]
        if isinstance(shape, str):
            shape = [int(v) for v in shape.split(",")]
        return np.frombuffer(base64.b64decode(z["bdata"]), z["dtype"]).reshape(shape)
    return np.asarray(z, dtype=float)


def output_matrix(app) -> np.ndarray:
    (out,) = [f for f in figures(app) if "output" in f["layout"]["title"]["text"]]
    return z_of(out["data"][0])


def text(app) -> str:
    return "\n".join(m.value for m in app.markdown)


def test_lecture_example_is_the_default(at):
    np.testing.assert_array_equal(output_matrix(at), [[2, 3], [1, 5]])
    shown = text(at)
    assert "floor((4 + 2·0 − 2) / 2) + 1 = 2" in shown
    assert "**Parameters: 0**" in shown
    assert "**out[0, 0]** = `max(in[0:2, 0:2]) = in[1, 1] = 2`" in shown
    table = at.dataframe[-1].value
    assert list(table["computed as"]) == [
        "max(in[0:2, 0:2]) = in[1, 1] = 2", "max(in[0:2, 2:4]) = in[0, 3] = 3",
        "max(in[2:4, 0:2]) = in[2, 0] = 1", "max(in[2:4, 2:4]) = in[2, 2] = 5"]


def test_tracing_a_cell_highlights_its_window_and_winner(at):
    at.selectbox(key="pool_cell").set_value("out[1, 1]").run()
    assert "**out[1, 1]** = `max(in[2:4, 2:4]) = in[2, 2] = 5`" in text(at)
    (inp,) = [f for f in figures(at) if f["layout"]["title"]["text"] == "Input"]
    red = [s for s in inp["layout"]["shapes"] if s["line"]["color"] == "#d62728"]
    assert [(s["x0"], s["x1"], s["y0"], s["y1"]) for s in red] == [(1.5, 3.5, 1.5, 3.5)]
    gold = [s for s in inp["layout"]["shapes"] if "255,191,0" in str(s.get("fillcolor"))]
    assert [(s["x0"] + 0.5, s["y0"] + 0.5) for s in gold] == [(2, 2)]


def test_edited_cell_changes_the_result(at):
    at.session_state["pool_matrix_0"] = {"edited_rows": {0: {"0": 9}}, "added_rows": [], "deleted_rows": []}
    at.run()
    np.testing.assert_array_equal(output_matrix(at), [[9, 3], [1, 5]])


def test_empty_cell_gets_a_message(at):
    at.session_state["pool_matrix_0"] = {"edited_rows": {1: {"2": None}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    assert any("Every cell needs a number" in e.value for e in at.error)


def test_average_pooling_shows_the_true_mean(at):
    at.selectbox(key="pool_preset").set_value("Max vs. average pooling 4×4")
    at.selectbox(key="pool_mode").set_value("Average pooling").run()
    np.testing.assert_array_equal(output_matrix(at), [[6, 6], [5.25, 8]])  # the slide rounds to 5
    assert "sum(in[2:4, 0:2]) / 4 = 5.25" in list(at.dataframe[-1].value["computed as"])


def test_stride_padding_ceil_mode(at):
    at.number_input(key="pool_kernel").set_value(3)
    at.number_input(key="pool_padding").set_value(1)
    at.checkbox(key="pool_ceil").check().run()
    assert "ceil((4 + 2·1 − 3) / 2) + 1 = 3" in text(at)
    slide = torch.tensor([[[[0, 0, 1, 3], [0, 2, 2, 0], [1, 0, 5, 1], [0, 0, 0, 0]]]], dtype=torch.float64)
    expected = F.max_pool2d(slide, 3, 2, 1, ceil_mode=True)[0, 0].numpy()
    np.testing.assert_array_equal(output_matrix(at), expected)


@pytest.mark.parametrize("setting, message", [
    ({"pool_kernel": 2, "pool_padding": 2}, "more than half the kernel size"),
    ({"pool_kernel": 6}, "does not fit"),
])
def test_bad_settings_show_a_clear_message(at, setting, message):
    for key, value in setting.items():
        at.number_input(key=key).set_value(value)
    at.run()
    assert not at.exception
    assert any(message in e.value for e in at.error)
    assert not at.get("plotly_chart")


def test_global_pooling_on_the_matrix(at):
    at.selectbox(key="pool_mode").set_value("Global max pooling").run()
    np.testing.assert_array_equal(output_matrix(at), [[5]])
    assert "**1×1** per channel" in text(at)


def test_random_matrix_sizes(at):
    at.selectbox(key="pool_preset").set_value("Random integers").run()
    at.number_input(key="pool_rows").set_value(7)
    at.number_input(key="pool_cols").set_value(5).run()
    assert output_matrix(at).shape == (3, 2)
    assert "rows: `floor((7 + 2·0 − 2) / 2) + 1 = 3`" in text(at)


def test_image_view(at):
    at.radio(key="pool_view").set_value("Image / feature map").run()
    assert not at.exception and not at.error
    titles = [f["layout"]["title"]["text"] for f in figures(at)]
    (inp,) = [t for t in titles if t.startswith("Input")]
    (out,) = [t for t in titles if t.startswith("Output")]
    h, w = (int(v) for v in inp.split()[1].split("×")[:2])
    assert out.split()[1].startswith(f"{h // 2}×{w // 2}")
    at.radio(key="pool_img_kind").set_value("Feature map (vertical edges + ReLU)").run()
    assert not at.exception and not at.error
    at.selectbox(key="pool_mode").set_value("Global average pooling").run()
    assert len(at.metric) == 1 and float(at.metric[0].value) >= 0


def test_translation_view_shows_max_vs_average(at):
    at.radio(key="pool_view").set_value("Translation invariance").run()
    assert not at.exception and not at.error
    labels = [m.label for m in at.metric]
    assert labels == ["Input itself: unchanged", "Max pooling: unchanged", "Average pooling: unchanged"]
    values = [float(m.value.rstrip("%")) for m in at.metric]
    assert values[1] > values[2]


def test_receptive_field_view(at):
    at.radio(key="pool_view").set_value("Receptive field growth").run()
    assert not at.exception and not at.error
    table = at.dataframe[-1].value
    assert list(table["receptive field (px)"]) == ["3×3", "4×4", "8×8", "10×10", "18×18", "22×22"]
    at.number_input(key="pool_rf_blocks").set_value(6)
    at.number_input(key="pool_rf_padding").set_value(0)
    at.number_input(key="pool_rf_kernel").set_value(11).run()
    assert any("does not fit the image" in e.value for e in at.error)
