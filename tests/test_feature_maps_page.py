"""The Feature maps page, driven like a user in AppTest; what it shows is checked against the model
run directly in the test (torch forward, softmax, the data set's own images)."""
from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from _pages import run_model_page
from vizcore import data, features, models

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "feature_maps.py")


def shipped(name: str):
    """The model and meta the page shows for ``name``."""
    return models.load_pretrained(name)


def run_page(model: str = "digits", **state) -> AppTest:
    return run_model_page(PAGE, "fm_model", model, **state)


def chart(at: AppTest, key: str) -> dict:
    """The plotly figure of the chart with widget/element key ``key``, as a dict."""
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        if element.proto.id.endswith(f"-{key}"):
            return spec
    raise AssertionError(f"no chart {key!r}")


def decode(value) -> np.ndarray:
    if isinstance(value, dict) and "bdata" in value:
        shape = [int(n) for n in str(value.get("shape", "-1")).split(",")]
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(shape)
    return np.asarray(value)


def shown_probabilities(at: AppTest) -> dict[str, float]:
    bar = chart(at, "fm_top5")["data"][0]
    return dict(zip(decode(bar["y"]).tolist(), decode(bar["x"]).astype(float).tolist()))


def expected_probabilities(model, x: torch.Tensor, classes: list[str]) -> dict[str, float]:
    with torch.no_grad():
        p = torch.softmax(model(x), dim=1)[0]
    top = torch.argsort(p, descending=True)[:5]
    return {classes[int(k)]: float(p[k]) for k in top}


def grid_tiles(at: AppTest, channels: int, h: int, w: int, cols: int) -> np.ndarray:
    """The channel grid's tiles back from the mosaic heatmap (true values)."""
    trace = chart(at, "fm_grid")["data"][0]
    true = decode(trace.get("customdata", trace["z"])).astype(np.float64)
    gap = max(1, round(max(h, w) / 8))
    return np.stack([true[(k // cols) * (h + gap):(k // cols) * (h + gap) + h,
                          (k % cols) * (w + gap):(k % cols) * (w + gap) + w] for k in range(channels)])


def test_test_image_shows_every_channel_and_the_true_probabilities():
    at = run_page("digits", fm_class="7", fm_index=3)
    model, meta = shipped("digits")
    split = data.load_dataset("digits", "test")
    index = int(np.flatnonzero(split.labels.numpy() == 7)[3])
    x = split.normalize(split.images[index]).unsqueeze(0)
    assert f"Test image #{index}, labelled **7**" in [m.value for m in at.markdown]

    probabilities = shown_probabilities(at)
    expected = expected_probabilities(model, x, meta["classes"])
    assert list(probabilities) == list(expected)
    for name, p in expected.items():
        assert probabilities[name] == pytest.approx(p, abs=1e-5)

    # first layer (conv1), all channels on one scale: the values of a direct forward pass
    with torch.no_grad():
        conv1 = model.conv1(x)[0].numpy()
    c = conv1.shape[0]
    np.testing.assert_allclose(grid_tiles(at, c, 28, 28, min(c, 8)), conv1, rtol=1e-5, atol=1e-5)
    assert f"all {c} channels" in chart(at, "fm_grid")["layout"]["title"]["text"]


def test_choosing_another_layer_and_position_shows_its_window_and_arithmetic():
    at = run_page("digits", fm_index=5)
    at.selectbox(key="fm_layer").set_value("conv2").run()
    at.slider(key="fm_channel").set_value(11).run()
    at.number_input(key="fm_row").set_value(0).run()
    at.number_input(key="fm_col").set_value(9).run()
    assert not at.exception
    model, _ = shipped("digits")
    split = data.load_dataset("digits", "test")
    x = split.normalize(split.images[5]).unsqueeze(0)
    with torch.no_grad():
        conv2 = model.conv2(model.pool1(model.relu1(model.conv1(x))))[0].numpy()
    np.testing.assert_allclose(grid_tiles(at, conv2.shape[0], 10, 10, 8), conv2, rtol=1e-5, atol=1e-5)
    text = " ".join(m.value for m in at.markdown)
    # conv2 value (0, 9): 5x5 over pool1 (stride 2) over conv1 (5x5, padding 2) -> 14x14 at rows -2..11
    assert "depends on input rows -2…11 and columns 16…29" in text
    assert "zero padding" in text
    match = re.search(r"bias (-?[\d.e-]+) = \*\*(-?[\d.e-]+)\*\* \(the layer's own output: (-?[\d.e-]+)\)", text)
    assert match and float(match.group(2)) == pytest.approx(float(conv2[11, 0, 9]), abs=1e-3)
    assert float(match.group(3)) == pytest.approx(float(conv2[11, 0, 9]), abs=1e-3)
    assert len(at.dataframe) == 1  # one partial sum per input channel
    assert len(at.dataframe[0].value) == model.conv2.in_channels
    assert any("×" in c.value and "=" in c.value for c in at.code)


def test_colour_model_shows_colour_filters_and_top_patches():
    at = run_page("shapes", fm_index=2)
    model, meta = shipped("shapes")
    split = data.load_dataset("shapes", "test")
    x = split.normalize(split.images[2]).unsqueeze(0)
    probabilities = shown_probabilities(at)
    for name, p in expected_probabilities(model, x, meta["classes"]).items():
        assert probabilities[name] == pytest.approx(p, abs=1e-5)
    chart(at, "fm_filters_rgb")
    # top patches of conv1 channel 0: each label "#image: activation" is that image's strongest value
    patches = chart(at, "fm_patches")
    labels = [a["text"] for a in patches["layout"]["annotations"]]
    assert len(labels) == 8
    values = []
    for label in labels:
        index, value = re.fullmatch(r"#(\d+): (-?[\d.]+)", label).groups()
        with torch.no_grad():
            strongest = model.conv1(split.normalize(split.images[int(index)]).unsqueeze(0))[0, 0].max()
        assert float(value) == pytest.approx(float(strongest), abs=0.006)
        values.append(float(value))
    assert values == sorted(values, reverse=True)


def _png(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def test_uploaded_photo_goes_through_the_shown_steps():
    at = run_page("digits", fm_source="Photo (sample, upload or camera)", fm_photo_source="Upload")
    paper = np.full((60, 50), 220, np.uint8)
    paper[10:50, 22:28] = 30  # a dark "1" on light paper
    at.file_uploader(key="fm_photo_upload").set_value(("one.png", _png(Image.fromarray(paper)), "image/png")).run()
    at.checkbox(key="fm_match").uncheck().run()
    assert not at.exception and not at.error
    model, meta = shipped("digits")
    x = models.preprocess(Image.fromarray(paper), meta)  # the plain pipeline: grey, squeeze, normalise
    probabilities = shown_probabilities(at)
    for name, p in expected_probabilities(model, x, meta["classes"]).items():
        assert probabilities[name] == pytest.approx(p, abs=1e-5)

    at.checkbox(key="fm_match").check().run()
    assert not at.exception and not at.error
    page_text = " ".join(c.value for c in at.caption)
    assert "white on black" in page_text  # the inversion step is shown and explains itself
    _, x = features.preprocess_steps(Image.fromarray(paper).convert("RGB"), meta, match_data=True)
    probabilities = shown_probabilities(at)
    for name, p in expected_probabilities(model, x, meta["classes"]).items():
        assert probabilities[name] == pytest.approx(p, abs=1e-5)


def test_bad_upload_gives_a_clear_message():
    at = run_page("digits", fm_source="Photo (sample, upload or camera)", fm_photo_source="Upload")
    at.file_uploader(key="fm_photo_upload").set_value(("cat.png", b"<html>not a picture</html>", "image/png"))
    at.run()
    assert not at.exception
    assert at.error and "Could not use this file" in at.error[0].value
    assert not at.get("plotly_chart") or all("fm_top5" not in c.proto.id for c in at.get("plotly_chart"))


def test_drawing_is_read_by_the_model():
    grid = np.zeros((8, 8), np.float32)
    grid[1:7, 3:5] = 1.0  # a "1"
    at = run_page("digits", fm_source="Draw", fm_tool="Pixel grid", fm_canvas_8=grid)
    model, meta = shipped("digits")
    picture = features.drawing_to_picture(grid, 28, 28, border=4)
    x = ((torch.from_numpy(picture).float() / 255 - meta["mean"][0]) / meta["std"][0]).reshape(1, 1, 28, 28)
    probabilities = shown_probabilities(at)
    for name, p in expected_probabilities(model, x, meta["classes"]).items():
        assert probabilities[name] == pytest.approx(p, abs=1e-5)
    at.button(key="fm_clear").click().run()
    assert not at.exception
    assert not at.session_state["fm_canvas_8"].any()


def test_freehand_canvas_waits_for_a_drawing():
    at = run_page("digits", fm_source="Draw")
    assert not at.exception
    assert at.radio(key="fm_tool").value == "Freehand"  # the canvas is installed: it is the default
    assert any("Draw on the black square" in i.value for i in at.info)


@pytest.mark.parametrize("model_name", ["digits", "shapes"])
def test_freehand_drawing_is_read_by_the_model(monkeypatch, model_name):
    """The canvas's ink, made to look like the digits data (digits) or averaged to the model's
    grid and framed (shapes), is what the model sees."""
    from pages import _canvas

    ink = np.zeros((280, 280), np.float32)
    ink[40:240, 120:160] = 1.0  # a thick vertical stroke
    ink[40:80, 60:160] = 0.6
    monkeypatch.setattr(_canvas, "draw_canvas", lambda key, h, w, **kw: ink)
    at = run_page(model_name, fm_source="Draw")
    assert not at.exception
    model, meta = shipped(model_name)
    channels, height, width = meta["input_shape"]
    if model_name == "digits":
        steps = features.digit_drawing_steps(ink)
        picture = steps[-1].image
        captions = " ".join(c.value for c in at.caption)
        assert all(step.note in captions for step in steps)  # the way into the model is shown
    else:
        picture = features.drawing_to_picture(_canvas.to_grid(ink, height, width), height, width, smooth=False,
                                              colour=(0xe6, 0x19, 0x4b), background=(0x1f, 0x3a, 0x93))
    pixels = torch.from_numpy(picture.reshape(height, width, channels).transpose(2, 0, 1).copy()).float() / 255
    x = ((pixels - torch.tensor(meta["mean"])[:, None, None]) / torch.tensor(meta["std"])[:, None, None])[None]
    probabilities = shown_probabilities(at)
    for name, p in expected_probabilities(model, x, meta["classes"]).items():
        assert probabilities[name] == pytest.approx(p, abs=1e-5)


def test_first_layer_filter_goes_to_the_playground():
    at = run_page("digits")
    at.slider(key="fm_channel").set_value(4).run()
    at.button(key="fm_send").click().run()
    model, _ = shipped("digits")
    kernel = at.session_state["playground_kernel"]
    np.testing.assert_allclose(np.array(kernel), model.conv1.weight[4, 0].detach().numpy(), atol=1e-4)
    assert all(isinstance(row, list) and all(isinstance(v, float) for v in row) for row in kernel)


def test_a_model_trained_in_this_session_on_own_data():
    torch.manual_seed(0)
    model = models.build_model("digits", channels=(4, 8)).eval()
    meta = models.default_meta(model, "digits", dataset="my-photos.zip")
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["trained_models"] = {"tiny": (model, meta)}
    at.session_state["fm_model"] = "tiny (trained in this session)"
    at.run()
    assert not at.exception and not at.error
    assert any("not available here" in i.value for i in at.info)
    assert at.radio(key="fm_source").options == ["Photo (sample, upload or camera)", "Draw"]
    assert "all 4 channels" in chart(at, "fm_grid")["layout"]["title"]["text"]
    # the default sample photo through the plain steps (the "match the data" option off)
    at.checkbox(key="fm_match").uncheck().run()
    from vizcore import images

    photo = images.sample_image(at.selectbox(key="fm_photo_sample").value).convert("RGB")
    photo, _ = images.reduce_to_working_size(photo, images.DEFAULT_MAX_SIDE)
    probabilities = shown_probabilities(at)
    for name, p in expected_probabilities(model, models.preprocess(photo, meta), meta["classes"]).items():
        assert probabilities[name] == pytest.approx(p, abs=1e-5)


def test_switching_models_keeps_the_page_working():
    """Choices that the next model does not have (class "7", layer relu2 at 10x10, channel 30,
    position (9, 9)) are reset instead of breaking the page."""
    torch.manual_seed(1)
    other = models.build_model("shapes", channels=(4, 8)).eval()
    meta = models.default_meta(other, "shapes", dataset="shapes", classes=data.SHAPE_CLASSES)
    at = run_page("digits", fm_class="7", trained_models={"small shapes": (other, meta)})
    at.selectbox(key="fm_layer").set_value("relu2").run()
    at.slider(key="fm_channel").set_value(30).run()
    at.number_input(key="fm_row").set_value(9).run()
    at.selectbox(key="fm_patch_layer").set_value("fc2").run()
    at.selectbox(key="fm_model").set_value("small shapes (trained in this session)").run()
    assert not at.exception and not at.error
    assert at.selectbox(key="fm_class").value == "any class"
    assert at.slider(key="fm_channel").value == 0
    assert "all 4 channels" in chart(at, "fm_grid")["layout"]["title"]["text"]
    at.selectbox(key="fm_layer").set_value("pool2").run()  # 8 x 13 x 13
    assert not at.exception and at.number_input(key="fm_row").value < 13
