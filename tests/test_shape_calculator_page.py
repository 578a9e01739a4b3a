"""The shape calculator page driven like a user; every shown number compared with torch."""
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from vizcore import shapes

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "shape_calculator.py")



def metrics(app) -> dict:
    return {m.label: m.value for m in app.metric}


def set_values(app, **values):
    for key, value in values.items():
        app.number_input(key=f"sc_{key}").set_value(value)
    app.run()
    assert not app.exception


def open_tab(app, name):
    app.session_state["section"] = name
    app.run()
    assert not app.exception


def test_default_layer_matches_conv2d(at):
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
    n, c, h, w = conv(torch.zeros(1, 3, 7, 7)).shape
    shown = metrics(at)
    assert shown["Output (PyTorch NCHW)"] == f"(N, {c}, {h}, {w})"
    assert shown["Output (Keras NHWC)"] == f"(None, {h}, {w}, {c})"
    assert shown["Parameters"] == f"{sum(p.numel() for p in conv.parameters()):,}"
    assert at.markdown[0].value.endswith(f"= {h}`")
    assert "nn.Conv2d(3, 4, kernel_size=3, stride=2, padding=1)" in at.code[0].value
    assert len(at.get("plotly_chart")) == 1


@pytest.mark.parametrize("rows, cols, channels, filters, kernel, stride, dilation",
                         [(10, 13, 2, 6, 5, 3, 1), (31, 8, 1, 3, 3, 2, 2), (5, 6, 4, 2, 2, 4, 1)])
def test_same_padding_matches_keras_rule_run_in_torch(at, rows, cols, channels, filters, kernel, stride, dilation):
    at.radio(key="sc_padding_mode").set_value("same")
    set_values(at, rows=rows, cols=cols, in_channels=channels, filters=filters, kernel=kernel,
               stride=stride, dilation=dilation)
    span = dilation * (kernel - 1) + 1
    pads = []
    for n in (rows, cols):  # TensorFlow's rule, written out independently of vizcore
        total = max((math.ceil(n / stride) - 1) * stride + span - n, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    x = nn.functional.pad(torch.zeros(1, channels, rows, cols), (left, right, top, bottom))
    conv = nn.Conv2d(channels, filters, kernel, stride, dilation=dilation)
    _, c, h, w = conv(x).shape
    assert metrics(at)["Output (PyTorch NCHW)"] == f"(N, {c}, {h}, {w})"
    assert metrics(at)["Parameters"] == f"{sum(p.numel() for p in conv.parameters()):,}"


def test_transposed_layer_matches_conv_transpose2d(at):
    at.toggle(key="sc_transposed").set_value(True).run()
    set_values(at, rows=5, cols=6, kernel=3, stride=2, padding=1, output_padding=1)
    layer = nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1)
    _, c, h, w = layer(torch.zeros(1, 3, 5, 6)).shape
    assert metrics(at)["Output (PyTorch NCHW)"] == f"(N, {c}, {h}, {w})"
    assert metrics(at)["Parameters"] == f"{sum(p.numel() for p in layer.parameters()):,}"
    assert "ConvTranspose2d" in at.code[0].value


def test_impossible_layer_shows_an_error_not_a_traceback(at):
    set_values(at, rows=3, cols=3, kernel=9, padding=0)
    assert not at.exception
    (error,) = at.error
    assert "bigger than the padded input (3 + 0 padding = 3)" in error.value
    assert not at.metric
    at.toggle(key="sc_transposed").set_value(True).run()
    set_values(at, rows=1, cols=1, kernel=1, padding=5)
    assert "use less padding" in at.error[0].value


def test_rows_dropped_by_the_floor_are_named(at):
    set_values(at, rows=8, cols=9, kernel=3, stride=3, padding=0)
    (warning,) = at.warning
    assert "rows 6, 7" in warning.value and "columns" not in warning.value
    assert metrics(at)["Output (PyTorch NCHW)"] == "(N, 4, 2, 3)"


def test_inverse_question(at):
    open_tab(at, "Which padding and stride?")
    table = at.dataframe[0].value
    assert list(zip(table["padding"], table["stride"])) == [(3, 1)]
    for padding, stride in zip(table["padding"], table["stride"]):
        assert nn.Conv2d(8, 16, 7, stride, padding)(torch.zeros(1, 8, 32, 32)).shape[-1] == 32
    at.number_input(key="sc_inv_wanted").set_value(10).run()
    table = at.dataframe[0].value
    x, weight = torch.zeros(1, 1, 32, 1), torch.zeros(1, 1, 7, 1)
    by_torch = {(p, s) for p in range(7) for s in range(1, 33)
                if nn.functional.conv2d(x, weight, stride=(s, 1), padding=(p, 0)).shape[2] == 10}
    assert set(zip(table["padding"], table["stride"])) == by_torch and len(by_torch) > 1
    at.number_input(key="sc_inv_wanted").set_value(40).run()
    assert "No padding" in at.warning[0].value


def test_own_stack_table_matches_torch(at):
    open_tab(at, "Layer stack")
    assert at.selectbox(key="sc_preset").value == "Own stack"
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3),
                        nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 6 * 6, 10))
    table = at.dataframe[-1].value
    x = torch.zeros(1, 1, 28, 28)
    for module, shown in zip(net, table["output shape"]):
        x = module(x)
        assert shown == "(N, " + ", ".join(map(str, x.shape[1:])) + ")"  # PyTorch's batch N, as in the metric
    assert table["params"].tolist() == [sum(p.numel() for p in m.parameters()) for m in net]
    assert metrics(at)["Learnable parameters"] == f"{sum(p.numel() for p in net.parameters()):,}"


def test_collapsing_stack_names_the_layer(at):
    open_tab(at, "Layer stack")
    # row 4 is the second Conv2d: a 20x20 kernel on the 13x13 maps after the first pooling
    at.session_state["stack_editor_0"] = {"edited_rows": {3: {"kernel": 20}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    (error,) = at.error
    assert error.value.startswith("Layer 4 (conv2, Conv2d 16 filters 20x20) on a 8x14x14 input")
    assert "bigger than the padded input" in error.value


def test_bad_table_row_is_reported(at):
    open_tab(at, "Layer stack")
    at.session_state["stack_editor_0"] = {"edited_rows": {}, "added_rows": [{"layer": "Linear"}], "deleted_rows": []}
    at.run()
    assert not at.exception
    assert at.error[0].value == "Row 9: units (size) is missing."


def test_vgg16_preset_total_is_torchs(at):
    open_tab(at, "Layer stack")
    at.selectbox(key="sc_preset").set_value("VGG-16 (D)").run()
    assert not at.exception
    net = shapes.to_torch(shapes.PRESETS["VGG-16 (D)"], (3, 224, 224), device="meta")
    total = sum(p.numel() for p in net.parameters())
    assert metrics(at)["Learnable parameters"] == f"{total:,}"
    assert at.number_input(key="sc_stack_h_5").value == 224
    at.radio(key="sc_layout").set_value("NHWC").run()
    table = at.dataframe[-1].value
    assert table["output shape"][0] == "(None, 224, 224, 64)"
    assert table["output shape"].iloc[-1] == "(None, 1000)"
    (chart,) = at.get("plotly_chart")
    assert f"{total:,}" in chart.proto.spec


def test_values_survive_switching_tabs(at):
    set_values(at, rows=19)
    open_tab(at, "Layer stack")
    open_tab(at, "One layer")
    assert at.number_input(key="sc_rows").value == 19
    assert metrics(at)["Output (PyTorch NCHW)"] == "(N, 4, 10, 4)"
