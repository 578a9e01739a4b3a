"""Issue 26 on the pages: "Your own network…" on every model page, a lecturer's folder, links.

A student uploads a network exported from PyTorch (ONNX); the Feature maps page's probabilities
are checked against onnxruntime on the same input, and Saliency's gradient map against captum on
the original torch model. Hostile files get a message and nothing else breaks.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from torch import nn

from vizcore import features, images

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

ROOT = Path(__file__).resolve().parents[1]
PAGES = {"fm_model": "feature_maps.py", "sal_model": "saliency.py", "occ_model": "occlusion.py",
         "lime_model": "lime.py"}
OWN = "Your own network…"


class Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        return x + self.relu(self.conv(x))


def student_network() -> nn.Sequential:
    """A deck-like CIFAR-10 exercise network with a skip connection, seeded."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), Residual(8),
                         nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(16, 10)).eval()


@pytest.fixture(scope="module")
def onnx_file() -> tuple[nn.Module, bytes]:
    net = student_network()
    buffer = io.BytesIO()
    torch.onnx.export(net, (torch.zeros(1, 3, 32, 32),), buffer, dynamo=False, input_names=["x"],
                      output_names=["y"])
    return net, buffer.getvalue()


def upload(page_key: str, data: bytes, name: str = "my_cnn.onnx", classes: str = "CIFAR-10",
           scale: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / PAGES[page_key]), default_timeout=180)
    at.session_state[page_key] = OWN
    at.run()
    assert not at.exception
    at.file_uploader(key=f"{page_key}_own_file").set_value((name, data, "application/octet-stream")).run()
    assert not at.exception, at.exception
    if at.error:
        return at
    at.selectbox(key=f"{page_key}_own_classes").set_value(classes)
    if scale:
        at.radio(key=f"{page_key}_own_scale").set_value(scale)
    at.button(key=f"{page_key}_own_use").click().run()
    assert not at.exception, at.exception
    return at


def shown_photo(at: AppTest, prefix: str):
    """The sample photo the page feeds, at the page's working size, in colour."""
    name, side = at.session_state[f"{prefix}_photo_sample"], at.session_state[f"{prefix}_photo_side"]
    return images.reduce_to_working_size(images.sample_image(name), side)[0].convert("RGB")


def test_feature_maps_shows_what_onnxruntime_computes(onnx_file):
    net, data = onnx_file
    at = upload("fm_model", data)
    assert at.selectbox(key="fm_model").value == "my_cnn (your own)"
    assert not at.error, [e.value for e in at.error]
    # The page's input: its default sample photo, prepared as the meta says (0–1 pixels).
    from vizcore import user_models
    model, meta = at.session_state["own_models"]["my_cnn (your own)"]
    assert meta["classes"] == user_models.CLASS_PRESETS["CIFAR-10"]
    assert (meta["mean"], meta["std"]) == ([0.0] * 3, [1.0] * 3)
    photo = shown_photo(at, "fm")
    _, x = features.preprocess_steps(photo, meta)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    logits = session.run(None, {"x": x.numpy()})[0][0]
    p = np.exp(logits - logits.max())
    p /= p.sum()
    best = int(np.argmax(p))
    metric = [m for m in at.metric if m.label == "Predicted class"][0]
    assert metric.value.replace("\\", "") == meta["classes"][best]
    assert f"{100 * p[best]:.1f}% sure" in metric.delta
    # every stage of the converted network is a layer the page lists (a block with a skip is one)
    layers = at.selectbox(key="fm_layer").options
    assert len(layers) == len([n for n, _ in model.named_children()
                               if features.activations(model, x)[n].dim() == 4])


def test_saliency_gradient_equals_captum_on_the_original(onnx_file):
    from captum.attr import Saliency

    net, data = onnx_file
    at = upload("sal_model", data, scale="0–255")
    assert not at.error, [e.value for e in at.error]
    model, meta = at.session_state["own_models"]["my_cnn (your own)"]
    assert meta["std"] == [1 / 255] * 3  # 0–255: the network reads the pixels themselves
    photo = shown_photo(at, "sal_in")
    _, x = features.preprocess_steps(photo, meta)
    target = int(net(x).argmax())
    expected = Saliency(net).attribute(x.clone().requires_grad_(True), target=target, abs=False)
    from vizcore.explain import gradient
    ours = gradient(model, x, target)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name,data", [("broken.onnx", b"\x08\x07garbage" * 10), ("half.keras", b"PK\x03\x04xx"),
                                       ("photo.h5", b"\x89HDF\r\n\x1a\n" + bytes(100))])
def test_a_broken_file_gets_a_sentence(name, data):
    at = upload("occ_model", data, name=name)
    assert at.error and "Could not open this network" in at.error[0].value
    assert at.selectbox(key="occ_model").value == OWN  # nothing else changed


def test_a_lecturers_network_is_listed_for_everyone_and_travels_in_a_link(onnx_file, tmp_path, monkeypatch):
    net, data = onnx_file
    (tmp_path / "week3_cifar.onnx").write_bytes(data)
    (tmp_path / "week3_cifar.json").write_text(json.dumps({"classes": "CIFAR-10", "scale": "0-255"}))
    monkeypatch.setenv("VIZCORE_MODEL_DIR", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "pages" / "lime.py"), default_timeout=180)
    at.query_params["model"] = "week3_cifar (lecturer's)"
    at.run()
    assert not at.exception
    assert at.selectbox(key="lime_model").value == "week3_cifar (lecturer's)"
    assert "week3_cifar (lecturer's)" in at.selectbox(key="lime_model").options
    assert not at.error, [e.value for e in at.error]
    caption = " ".join(c.value for c in at.caption)
    assert "airplane" in caption and "0–255" in caption


def test_a_grey_28_pixel_network_finds_its_top_patches_in_the_matching_built_in_set():
    """A Fashion-MNIST exercise's 1×28×28 network: its channels' favourite patches come from the
    digits test images (the built-in set of that size), through the network's own numbers."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 13 * 13, 10)).eval()
    buffer = io.BytesIO()
    torch.onnx.export(net, (torch.zeros(1, 1, 28, 28),), buffer, dynamo=False, input_names=["x"], output_names=["y"])
    at = upload("fm_model", buffer.getvalue(), name="fashion.onnx", classes="Fashion-MNIST")
    assert not at.error, [e.value for e in at.error]
    assert any("digits test images" in c.value for c in at.caption)
    from vizcore import data
    model, meta = at.session_state["own_models"]["fashion (your own)"]
    split = data.load_dataset("digits", "test")
    x = (split.images.float() / 255 - 0.0) / 1.0  # the network's own scale: 0–1
    first = at.session_state["fm_patch_layer"]
    with torch.no_grad():
        out = features.activations(model, x)[first][:, int(at.session_state["fm_patch_channel"])]
    strongest = out.flatten(1).max(1).values
    best = int(strongest.argmax())
    spec = json.loads([e for e in at.get("plotly_chart") if e.proto.id.endswith("-fm_patches")][0].proto.spec)
    labels = [a["text"] for a in spec["layout"]["annotations"] if a["text"].startswith("#")]
    assert labels[0] == f"#{best}: {float(strongest[best]):.2f}", labels[:3]  # the strongest image first
