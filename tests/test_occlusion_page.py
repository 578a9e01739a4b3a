"""The Occlusion page in AppTest: what it shows against captum's ``Occlusion`` and a plain loop.

The page's default input is test image #0 of the model's data set; the oracles run the shipped
model on that image directly.
"""
from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from captum.attr import Occlusion
from streamlit.testing.v1 import AppTest

from _pages import run_model_page
from vizcore import data, models
from vizcore.figures import style
from vizcore.explain import _forward
from vizcore.explain.occlusion import fill

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "occlusion.py")


def run_page(model: str = "digits", **state) -> AppTest:
    return run_model_page(PAGE, "occ_model", model, **state)


@pytest.fixture(autouse=True)
def fast_server(monkeypatch):
    """Estimates as on an idle server, so the default runs start by themselves whatever the load."""
    monkeypatch.setattr(_forward.Plan, "estimate", lambda self, images: images * 1e-4)


def chart(at: AppTest, key: str) -> dict:
    for element in at.get("plotly_chart"):
        if element.proto.id.endswith(f"-{key}"):
            return json.loads(element.proto.spec)
    raise AssertionError(f"no chart {key!r}")


def decode(value) -> np.ndarray:
    if isinstance(value, dict) and "bdata" in value:
        shape = [int(n) for n in str(value.get("shape", "-1")).split(",")]
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(shape)
    return np.asarray(value, dtype=float)


def the_input(name: str):
    model, meta = models.load_pretrained(name)
    split = data.load_dataset(name, "test")
    return model, meta, split.normalize(split.images[0]).unsqueeze(0)


def loop_scores(model, x, window, stride, baseline, logit=False):
    """(rows, cols, K): the model on every occluded copy, one call each, the patch pasted by slicing."""
    h, w = x.shape[2:]
    rows, cols = math.ceil((h - window) / stride) + 1, math.ceil((w - window) / stride) + 1
    base = baseline.expand_as(x)
    out = []
    for i in range(rows):
        for j in range(cols):
            y = x.clone()
            r, c = i * stride, j * stride
            y[:, :, r:r + window, c:c + window] = base[:, :, r:r + window, c:c + window]
            with torch.no_grad():
                z = model(y)[0]
            out.append(z if logit else torch.softmax(z, 0))
    return torch.stack(out).reshape(rows, cols, -1)


def test_digits_maps_equal_captum_and_a_loop():
    model, meta, x = the_input("digits")
    at = run_page("digits", occ_window=6, occ_stride=4, occ_fill="black")
    base = fill(x, "black", meta["mean"], meta["std"])
    with torch.no_grad():
        probs = torch.softmax(model(x), 1)[0]
    target = int(probs.argmax())
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["without a patch"] == f"{probs[target]:.4f}"
    assert any(m.value.startswith(f"The probability of **{meta['classes'][target]}**") for m in at.markdown)
    expected = loop_scores(model, x, 6, 4, base)
    shown = decode(chart(at, "occ_scores")["data"][0]["z"])
    assert shown.shape == (7, 7) and np.abs(shown - expected[..., target].numpy()).max() < 1e-5
    assert metrics["lowest with the patch"] == f"{expected[..., target].min():.4f}"
    f = lambda z: torch.softmax(model(z), 1)  # noqa: E731
    with torch.no_grad():
        captum_map = Occlusion(f).attribute(x, target=target, sliding_window_shapes=(1, 6, 6), strides=(1, 4, 4),
                                            baselines=base, perturbations_per_eval=64)[0, 0]
    overlay = chart(at, "occ_overlay")["data"]
    assert overlay[0]["type"] == "image" and overlay[1]["type"] == "heatmap"
    assert np.abs(decode(overlay[1]["z"]) - captum_map.numpy()).max() < 1e-5
    assert overlay[1]["colorbar"]["title"]["text"] == "drop in probability"
    # the player: one frame per position, the bars are every class's probability there
    player = chart(at, "occ_player")
    assert len(player["frames"]) == 49
    frame = player["frames"][10]
    bars = [d for d in frame["data"] if d["type"] == "bar"][0]
    assert np.abs(np.asarray(bars["x"]) - expected.reshape(49, -1)[10].numpy()).max() < 1e-4


def test_switching_class_and_score_only_redraws():
    model, meta, x = the_input("digits")
    at = run_page("digits", occ_window=8, occ_stride=4, occ_fill="grey")
    expected = loop_scores(model, x, 8, 4, fill(x, "grey", meta["mean"], meta["std"]), logit=True)
    at.selectbox(key="occ_target").set_value(3).run()
    assert not at.exception
    shown = decode(chart(at, "occ_scores")["data"][0]["z"])
    assert np.abs(shown - torch.softmax(expected, -1)[..., 3].numpy()).max() < 1e-5
    at.radio(key="occ_output").set_value("logit").run()
    assert not at.exception
    shown = decode(chart(at, "occ_scores")["data"][0]["z"])
    assert np.abs(shown - expected[..., 3].numpy()).max() < 1e-4
    assert any(m.value.startswith(f"The logit of **{meta['classes'][3]}**") for m in at.markdown)


def test_cost_is_shown_and_a_large_setting_waits_for_run(monkeypatch):
    at = run_page("digits", occ_window=2, occ_stride=1)
    assert any("27 × 27 = 729 positions = 729 forward passes" in m.value for m in at.markdown)
    monkeypatch.setattr(_forward.Plan, "estimate", lambda self, images: images * 0.01)  # a slow server
    at.run()
    assert not at.exception and not at.get("plotly_chart")[2:]  # only the input and the preview
    assert any("press Run" in i.value for i in at.info)
    run = [b for b in at.button if b.key == "occ_run"][0]
    run.click().run()
    assert not at.exception and chart(at, "occ_scores")
    assert not [b for b in at.button if b.key == "occ_stop"]  # the Stop button goes once the run is done


def test_shapes_blur_and_figures_in_the_app_style():
    from test_figure_style import _font_sizes, _shown_colorbars

    at = run_page("shapes", occ_window=10, occ_stride=6, occ_fill="blur")
    for key in ("occ_scores", "occ_overlay", "occ_player", "occ_preview"):
        spec = chart(at, key)
        assert spec["layout"]["template"]["layout"]["font"]["size"] == style.FONT_SIZE
        assert all(title for _, title in _shown_colorbars(spec)), key
        assert all(size >= style.MIN_FONT_SIZE for _, size in _font_sizes(spec)), key
    model, meta, x = the_input("shapes")
    blur = fill(x, "blur", meta["mean"], meta["std"])
    target = int(model(x).argmax())
    with torch.no_grad():
        expected = Occlusion(lambda z: torch.softmax(model(z), 1)).attribute(
            x, target=target, sliding_window_shapes=(3, 10, 10), strides=(3, 6, 6), baselines=blur,
            perturbations_per_eval=64)[0, 0]
    assert decode(chart(at, "occ_scores")["data"][0]["z"]).shape == (10, 10)  # ceil((64 − 10) / 6) + 1
    assert np.abs(decode(chart(at, "occ_overlay")["data"][1]["z"]) - expected.numpy()).max() < 1e-5


def test_patch_settings_survive_another_model_and_patch_size():
    """A slider whose range changes is a new widget to Streamlit (it would restart at 1)."""
    at = run_page("digits", occ_window=8, occ_stride=4)
    at.selectbox(key="occ_model").set_value("shapes (pretrained)").run()
    assert (at.slider(key="occ_window").value, at.slider(key="occ_stride").value) == (8, 4)
    at.slider(key="occ_window").set_value(12).run()
    assert (at.slider(key="occ_window").value, at.slider(key="occ_stride").value) == (12, 4)
    at.slider(key="occ_window").set_value(3).run()
    assert (at.slider(key="occ_window").value, at.slider(key="occ_stride").value) == (3, 3)
    assert not at.exception


def test_the_link_sets_the_patch_and_refuses_nonsense():
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["occ_model"] = "digits (pretrained)"
    at.query_params.update({"window": "6", "stride": "3", "fill": "blur", "output": "logit",
                            "opacity": "inf", "cls": "<b>x</b>"})
    at.run()
    assert not at.exception
    assert (at.slider(key="occ_window").value, at.slider(key="occ_stride").value) == (6, 3)
    assert at.radio(key="occ_fill").value == "blur" and at.radio(key="occ_output").value == "logit"
    warning = " ".join(w.value for w in at.warning)
    assert "opacity" in warning and "cls" in warning and "<b>" not in warning
    assert at.query_params["window"] in ("6", ["6"]) and at.query_params["fill"] in ("blur", ["blur"])
