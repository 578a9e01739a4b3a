"""The ImageNet network (EfficientNet-Lite0) on the explanation methods and pages.

Guided backprop must guide its ReLU6s inside the residual blocks too (else it equals the plain
gradient); the oracle is a deep copy of the model whose ReLU6 layers are replaced by a guided
autograd function, differentiated by torch itself. The pages take the model like the small
ones: a photo, its top classes, and settings sized for 224×224.
"""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from vizcore import models
from vizcore.explain import gradient
from vizcore.explain.guided_backprop import guided_backprop

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def imagenet():
    return models.load_pretrained("imagenet")


class _GuidedReLU6(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(0, 6)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * ((x > 0) & (x < 6)).to(grad.dtype)


class _Guided(nn.Module):
    def forward(self, x):
        return _GuidedReLU6.apply(x)


def _guided_copy(model: nn.Module) -> nn.Module:
    twin = copy.deepcopy(model)
    for name, module in list(twin.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.ReLU6):
                setattr(module, child_name, _Guided())
    return twin


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([32, 48, 64]), st.integers(0, 999))
def test_guided_backprop_guides_every_relu6_inside_the_blocks(imagenet, seed, side, target):
    model, _ = imagenet
    x = torch.randn((1, 3, side, side), generator=torch.Generator().manual_seed(seed))
    ours = guided_backprop(model, x, target)
    twin = _guided_copy(model)
    inp = x.clone().requires_grad_(True)
    twin(inp)[0, target].backward()
    torch.testing.assert_close(ours, inp.grad, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(ours, gradient(model, x, target), atol=1e-6)  # guided, not plain
    assert not any(p.grad is not None for p in model.parameters())  # the shared model untouched


def _run(page: str, key: str, **state):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=300)
    at.session_state[key] = "imagenet (pretrained)"
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def test_occlusion_and_lime_start_with_settings_for_224(imagenet):
    at = _run("occlusion", "occ_model")
    assert (at.slider(key="occ_window").value, at.slider(key="occ_stride").value) == (32, 16)
    assert any("ImageNet" in i.value for i in at.info)  # what a 1000-class network knows
    at = _run("lime", "lime_model")
    assert at.select_slider(key="lime_samples").value == 250


@pytest.mark.parametrize("page,prefix", [("occlusion", "occ"), ("lime", "lime")])
def test_the_cat_comes_first_and_its_top_five_are_the_models_softmax(imagenet, page, prefix):
    """A photo network lists the cat and the coffee first; under the class choice, the five most
    probable of the 1000 classes with the probabilities of the model's own softmax."""
    at = _run(page, f"{prefix}_model", **{f"{prefix}_in_photo_sample": "chelsea"})
    for button in [b for b in at.button if b.label.startswith(("Run ", "Sample "))]:
        button.click().run()  # a run estimated as long waits for its button; the choice comes after it
    assert at.selectbox(key=f"{prefix}_in_photo_sample").options[:2] == ["Chelsea the cat", "Cup of coffee"]
    model, meta = imagenet
    from vizcore import features, images
    photo, _ = images.reduce_to_working_size(images.sample_image("chelsea"), images.DEFAULT_MAX_SIDE)
    _, x = features.preprocess_steps(photo.convert("RGB"), meta)
    with torch.inference_mode():
        p = torch.softmax(model(x), dim=1)[0]
    top = torch.argsort(p, descending=True)[:5].tolist()
    expected = "Top 5: " + ", ".join(f"{meta['classes'][k]} {p[k].item():.1%}" for k in top)
    (shown,) = [c.value for c in at.caption if c.value.startswith("Top 5: ")]
    assert shown.startswith(expected)
    assert {meta["classes"][k] for k in top[:2]} == {"tiger cat", "Egyptian cat"}  # a near tie


def test_saliency_explains_the_coffee_as_espresso_on_the_last_stages():
    at = _run("saliency", "sal_model")
    (score,) = [m for m in at.metric if m.label.startswith("Score (logit) of")]
    assert "espresso" in score.label
    model, meta = models.load_pretrained("imagenet")
    from vizcore import features, images
    photo, _ = images.reduce_to_working_size(images.sample_image("coffee"), images.DEFAULT_MAX_SIDE)  # as the page
    _, x = features.preprocess_steps(photo.convert("RGB"), meta)
    with torch.inference_mode():
        logit = model(x)[0].max().item()
    assert float(score.value) == pytest.approx(logit, abs=1e-3)
    assert at.selectbox(key="sal_layer").value in ("head", "block16")  # Grad-CAM's classic 7×7


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([10, 20, 21, 1000]))
def test_the_overviews_softmax_column_shows_the_most_probable_classes(seed, n):
    """1000 classes do not fit a column: the overview shows the ten most probable, best first, with
    their names and percentages; a small model's column keeps every class in its order."""
    import numpy as np

    from vizcore.figures import features as feature_figs

    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(n))
    classes = [f"class {k}" for k in range(n)]
    acts = {"conv": rng.random((4, 6, 6)).astype(np.float32), "softmax": p.astype(np.float32)}
    fig = feature_figs.network_overview(np.zeros((12, 12)), acts, classes=classes)
    column = fig.data[-1]
    expected = np.argsort(-p, kind="stable")[:10] if n > 20 else np.arange(n)
    assert list(column.y) == [classes[k] for k in expected]
    np.testing.assert_allclose(np.asarray(column.z).reshape(-1), p[expected], rtol=1e-6)
    titles = [a.text for a in fig.layout.annotations]
    assert ("top 10 of 1000" in titles[-1]) == (n == 1000)


def test_the_stems_filters_are_its_convolutions_weights(imagenet):
    from vizcore import features

    model, _ = imagenet
    assert features.stage_convolution(model, "stem") == "stem.conv"
    assert features.stage_convolution(model, "block3") is None  # a block: expand, depthwise, project
    weights = features.filters(model, "stem.conv")
    assert weights.shape == (32, 3, 3, 3)
    assert (weights == model.stem.conv.weight.detach().numpy()).all()
    digits, _ = models.load_pretrained("digits")
    first = features.conv_layers(digits)[0]
    assert features.stage_convolution(digits, first) == first


def test_feature_maps_show_the_32_stem_filters_in_colour():
    at = _run("feature_maps", "fm_model")
    assert at.selectbox(key="fm_layer").value == "stem"
    charts = {c.proto.id: c for c in at.get("plotly_chart")}
    assert any("fm_filters_rgb" in key for key in charts), list(charts)
    assert any("The 32 filters of stem" in e.label for e in at.expander)
    # One value of the stem written out: its convolution, batch norm and ReLU6, to the stage's own output.
    (steps,) = [c.value for c in at.code if c.value.startswith("Batch norm: ")]
    assert "\nReLU6: min(max(" in steps
    (result,) = [m.value for m in at.markdown if "the stage's own output" in m.value]
    shown, own = result.split("**")[1], result.rsplit(": ", 1)[1].rstrip(").")
    assert shown == own


def test_smoothgrad_and_ig_passes_keep_the_saved_activations_in_budget(imagenet, monkeypatch):
    """A 224² network keeps ~81 MB per image for its backward pass: the batched methods take as
    many images a pass as fit BACKWARD_BUDGET_BYTES, and give the same maps as one big pass."""
    import importlib

    from vizcore.explain import _forward

    # the modules, not the functions vizcore.explain re-exports under the same names
    sg_module = importlib.import_module("vizcore.explain.smoothgrad")
    ig_module = importlib.import_module("vizcore.explain.integrated_gradients")

    model, _ = imagenet
    shape = (3, 96, 96)
    per_image = _forward.saved_bytes_per_image(model, shape)
    count = {"tensors": 0}

    def pack(t):
        count["tensors"] += 1
        return t

    x = torch.zeros((1, *shape), requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    assert count["tensors"] > 100 and per_image > 10 * 2**20  # every stage's activations, counted
    small = _forward.images_per_backward(model, shape, 2**30)
    assert small * per_image <= _forward.BACKWARD_BUDGET_BYTES < (small + 1) * per_image
    seen = []
    real = sg_module.class_scores

    def spy(out, targets):
        seen.append(out.shape[0])
        return real(out, targets)

    monkeypatch.setattr(sg_module, "class_scores", spy)
    img = torch.randn((1, *shape), generator=torch.Generator().manual_seed(0))
    budgeted = sg_module.smoothgrad(model, img, 3, samples=5, noise=0.1, seed=1)
    assert max(seen) <= small
    monkeypatch.setattr(_forward, "BACKWARD_BUDGET_BYTES", 2**40)
    torch.testing.assert_close(budgeted, sg_module.smoothgrad(model, img, 3, samples=5, noise=0.1, seed=1),
                               rtol=1e-4, atol=1e-6)
    whole, delta = ig_module.integrated_gradients(model, img, 3, steps=8)
    monkeypatch.setattr(_forward, "BACKWARD_BUDGET_BYTES", per_image)  # one image a pass
    torch.testing.assert_close(ig_module.integrated_gradients(model, img, 3, steps=8)[0], whole,
                               rtol=1e-4, atol=1e-6)


def test_without_a_data_set_the_sample_photos_and_yours_show_what_excites_a_channel():
    """The ImageNet network's training photos are not here: the search for the patches a channel
    likes runs over the sample photos and the student's picture, says so, and its values are the
    channels' strongest responses (inside the picture) in those images."""
    import json

    import numpy as np

    from vizcore import features, images

    at = _run("feature_maps", "fm_model", fm_patch_layer="head", fm_patch_channel=5)
    assert any("sample photos and your picture" in c.value for c in at.caption)
    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith("fm_patches")]
    labels = [a["text"] for a in json.loads(chart.proto.spec)["layout"]["annotations"]]
    assert len(labels) == 8
    model, meta = models.load_pretrained("imagenet")
    pool = [features.preprocess_steps(images.sample_image(n).convert("RGB"), meta)[1] for n in images.PHOTO_NAMES]
    photo, _ = images.reduce_to_working_size(images.sample_image("coffee"), images.DEFAULT_MAX_SIDE)  # the page's input
    pool.append(features.preprocess_steps(photo.convert("RGB"), meta)[1])
    mask = None
    strongest = []
    for x in pool:
        out = features.activations(model, x)["head"][0, 5]
        if mask is None:
            mask = torch.from_numpy(features.inside_positions(model, "head", tuple(out.shape), (224, 224)))
        strongest.append(float(out.masked_fill(~mask, float("-inf")).max()))
    order = np.argsort(strongest)[::-1][:8]
    shown = [(int(t.split(":")[0].lstrip("#")), float(t.split(":")[1])) for t in labels]
    # the eight strongest responses, best first (ties at ReLU6's 0 in any order), each its image's own
    np.testing.assert_allclose([v for _, v in shown], np.asarray(strongest)[order], atol=0.006)
    for index, value in shown:
        assert abs(strongest[index] - value) < 0.006
