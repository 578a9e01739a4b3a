"""Lighter defaults (issue 12): a large layer's filters open only on request, top patches come from
inside the image (checked against a brute-force search over such positions)."""
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from vizcore import data, features, models

ROOT = Path(__file__).resolve().parents[1]


def _charts(at):
    return {c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")}


def test_filters_of_a_large_layer_are_collapsed_and_open_on_request():
    at = AppTest.from_file(str(ROOT / "pages" / "feature_maps.py"), default_timeout=120)
    at.session_state["fm_model"] = "digits (pretrained)"
    at.run()
    assert not at.exception
    assert "fm_filters" in _charts(at)  # conv1: 16 filters of 1 channel, shown at once
    at.selectbox(key="fm_layer").set_value("conv2").run()  # 32 × 16 = 512 small grids
    assert not at.exception and "fm_filters" not in _charts(at)
    at.session_state["fm_filters_open_conv2"] = True
    at.run()
    assert not at.exception and "fm_filters" in _charts(at)


@pytest.mark.parametrize("name", ["digits", "shapes"])
def test_inside_top_activations_are_the_brute_force_maxima_over_inside_positions(name):
    model, _ = models.load_pretrained(name)
    split = data.load_dataset(name, "test")
    images = split.x[:24]
    top = features.top_activations(model, images, k=5, batch_size=10, inside=True)
    h, w = images.shape[-2:]
    with torch.no_grad():
        out = images
        for layer_name, layer in model.named_children():
            out = layer(out)
            if out.dim() != 4:
                break
            mask = features.inside_positions(model, layer_name, out.shape[-2:], (h, w))
            brute = out.masked_fill(~torch.from_numpy(mask), float("-inf")).flatten(2).max(dim=2).values  # (N, C)
            expected = torch.sort(brute, dim=0, descending=True).values[:5].T.numpy()
            got = top[layer_name]
            np.testing.assert_allclose(got.values, expected, rtol=1e-5, atol=1e-6)
            assert mask[got.position[..., 0], got.position[..., 1]].all()  # every winner lies inside


def test_inside_positions_excludes_exactly_the_windows_in_the_padding():
    model, _ = models.load_pretrained("digits")
    mask = features.inside_positions(model, "conv1", (28, 28), (28, 28))
    for i in range(28):
        for j in range(28):
            window = features.receptive_field(model, "conv1", i, j, (28, 28))
            assert mask[i, j] == (window.clipped(28, 28) == window)
    assert 0 < mask.sum() < mask.size
