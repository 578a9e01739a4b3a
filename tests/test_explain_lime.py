"""LIME and superpixels against the ``lime`` package, scikit-learn and brute force.

Oracles: lime 0.2.0.1's ``LimeImageExplainer`` given the same segments and its own masks (drawn
by ``RandomState(s).randint(0, 2, N·F)`` with row 0 all ones, see the team's notes), scikit-learn's
``Ridge``/``Lasso``/``RandomForestRegressor`` with ``sample_weight`` and its cosine distance, a
brute-force enumeration of all masks with perturbed images built pixel by pixel in numpy.
"""
from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from lime.lime_image import ImageExplanation, LimeImageExplainer
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Lasso, Ridge
from sklearn.metrics import pairwise_distances
from torch import nn

from vizcore import data, features, models
from vizcore.explain import ExplainError, Stopped
from vizcore.explain.lime import (all_masks, explanation_mask, fit_surrogate, jaccard, kernel_weights, lime,
                                  mean_pairwise_jaccard, random_masks, segment_means, stability, top_features,
                                  weighted_ridge)
from vizcore.explain.segment import METHODS, count, segment


def tiny_cnn(channels: int, classes: int = 4, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)  # only in tests: models are built before any thread starts
    return nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Linear(16, classes)).eval()


MODELS = {c: tiny_cnn(c) for c in (1, 3)}


def _classifier(model, channels):
    """lime's classifier_fn: (B, H, W, 3) float64 images -> probabilities (gray models read channel 0)."""
    def predict(batch):
        t = torch.from_numpy(np.ascontiguousarray(batch[..., :channels])).float().permute(0, 3, 1, 2)
        with torch.no_grad():
            return torch.softmax(model(t), 1).double().numpy()
    return predict


def _lime_package(model, x, segments, target, samples, random_state, hide_color):
    c = x.shape[1]
    image = x[0].permute(1, 2, 0).double().numpy()
    explainer = LimeImageExplainer(kernel_width=0.25, random_state=random_state)
    explanation = explainer.explain_instance(image if c == 3 else image[..., 0], _classifier(model, c),
                                             labels=(target,), top_labels=None, hide_color=hide_color,
                                             num_samples=samples, segmentation_fn=lambda _img: segments,
                                             random_seed=0)
    coef = np.zeros(segments.max() + 1)
    for feature, value in explanation.local_exp[target]:
        coef[feature] = value
    return explanation, coef


def _lime_masks(samples, features, random_state):
    masks = np.random.RandomState(random_state).randint(0, 2, samples * features).reshape(samples, features)
    masks[0] = 1
    return masks


@settings(max_examples=8, deadline=None)
@given(st.sampled_from([1, 3]), st.integers(6, 14), st.integers(2, 12), st.integers(20, 120),
       st.integers(0, 1000), st.sampled_from(["zero", "number", "mean"]), st.integers(0, 3))
def test_equals_the_lime_package_given_its_masks(c, side, n_segments, samples, random_state, hide, target):
    g = torch.Generator().manual_seed(random_state)
    x = torch.randn(1, c, side, side, generator=g)
    segments = segment(np.random.default_rng(random_state).random((side, side)), "grid", n_segments)
    hide_color, ours = {"zero": (0, 0.0), "number": (0.7, 0.7), "mean": (None, segment_means(x, segments))}[hide]
    model = MODELS[c]
    explanation, coef = _lime_package(model, x, segments, target, samples, random_state, hide_color)
    got = lime(model, x, target, segments, masks=_lime_masks(samples, segments.max() + 1, random_state), hide=ours)
    assert np.abs(got.coefficients - coef).max() < 1e-6
    assert abs(got.intercept - explanation.intercept[target]) < 1e-6
    assert abs(got.r2 - explanation.score) < 1e-6
    assert abs(got.local_prediction - explanation.local_pred[0]) < 1e-6


def test_shipped_digits_model_equals_lime_with_slic_superpixels():
    model, meta = models.load_pretrained("digits")
    split = data.load_dataset("digits", "test")
    picture = split.images[3, 0].numpy()
    x = features.normalise(picture[None], meta)
    segments = segment(picture, "slic", 30)
    target = int(split.labels[3])
    black = float(((0 - np.array(meta["mean"])) / np.array(meta["std"]))[0])
    explanation, coef = _lime_package(model, x, segments, target, 300, 7, black)
    got = lime(model, x, target, segments, masks=_lime_masks(300, segments.max() + 1, 7), hide=black)
    assert np.abs(got.coefficients - coef).max() < 1e-6 and abs(got.r2 - explanation.score) < 1e-6


def _brute_force(model, x, segments, target, hide, kernel_width=0.25):
    """Every mask, every image pasted pixel by pixel, sklearn's Ridge with lime's kernel."""
    features_ = segments.max() + 1
    image = x[0].numpy()
    fill = np.broadcast_to(np.asarray(hide, dtype=np.float32), x.shape)[0]
    rows, probs = [], []
    for mask in itertools.product((0, 1), repeat=features_):
        img = image.copy()
        for i in range(segments.shape[0]):
            for j in range(segments.shape[1]):
                if mask[segments[i, j]] == 0:
                    img[:, i, j] = fill[:, i, j]
        with torch.no_grad():
            probs.append(torch.softmax(model(torch.from_numpy(img)[None]), 1)[0, target].item())
        rows.append(mask)
    rows = np.array(rows, dtype=float)
    d = pairwise_distances(rows, np.ones((1, features_)), metric="cosine").ravel()
    w = np.sqrt(np.exp(-d ** 2 / kernel_width ** 2))
    ridge = Ridge(alpha=1.0).fit(rows, probs, sample_weight=w)
    return ridge.coef_, ridge.intercept_, ridge.score(rows, probs, sample_weight=w)


@pytest.mark.parametrize("c, n_segments, hide", [(1, 4, 0.0), (3, 6, -1.0), (3, 3, "blur")])
def test_exact_mode_equals_brute_force(c, n_segments, hide):
    x = torch.randn(1, c, 7, 9, generator=torch.Generator().manual_seed(n_segments))
    if hide == "blur":
        hide = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    segments = segment(np.random.default_rng(0).random((7, 9, 3)), "slic", n_segments)
    got = lime(MODELS[c], x, 1, segments, samples="all", hide=hide)
    assert got.masks.shape == (2 ** (segments.max() + 1), segments.max() + 1) and got.masks[0].all()
    coef, intercept, r2 = _brute_force(MODELS[c], x, segments, 1, hide)
    assert np.abs(got.coefficients - coef).max() < 1e-6
    assert abs(got.intercept - intercept) < 1e-6 and abs(got.r2 - r2) < 1e-6


def test_all_masks_lists_every_mask_once_and_refuses_too_many():
    masks = all_masks(5)
    assert masks.shape == (32, 5) and masks[0].all() and len({tuple(m) for m in masks}) == 32
    with pytest.raises(ExplainError, match="12"):
        all_masks(13)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 400), st.integers(1, 60), st.integers(0, 10**6))
def test_kernel_weights_equal_sklearn_cosine_kernel(samples, features_, seed):
    masks = random_masks(samples, features_, seed)
    assert masks[0].all() and set(np.unique(masks)) <= {0, 1}
    d = pairwise_distances(masks, np.ones((1, features_)), metric="cosine").ravel()
    assert np.allclose(kernel_weights(masks), np.sqrt(np.exp(-d ** 2 / 0.25 ** 2)), atol=1e-12)
    assert np.array_equal(masks, random_masks(samples, features_, seed))


def test_random_masks_leave_the_global_generators_alone():
    x = torch.randn(1, 3, 8, 8)
    np_state, torch_state = np.random.get_state()[1].copy(), torch.get_rng_state().clone()
    random_masks(100, 10, 3)
    lime(MODELS[3], x, 0, segment(np.random.default_rng(0).random((8, 8)), "slic", 4), samples=50)
    assert np.array_equal(np.random.get_state()[1], np_state) and torch.equal(torch.get_rng_state(), torch_state)


@settings(max_examples=30, deadline=None)
@given(st.integers(5, 200), st.integers(1, 15), st.floats(0.01, 10), st.integers(0, 10**6))
def test_weighted_ridge_equals_sklearn(n, f, alpha, seed):
    rng = np.random.default_rng(seed)
    X, y, w = rng.integers(0, 2, (n, f)).astype(float), rng.random(n), rng.random(n) + 0.01
    coef, intercept = weighted_ridge(X, y, w, alpha)
    ridge = Ridge(alpha=alpha).fit(X, y, sample_weight=w)
    assert np.allclose(coef, ridge.coef_, atol=1e-8) and abs(intercept - ridge.intercept_) < 1e-8
    fit = fit_surrogate(X, y, w, "ridge", alpha=alpha)
    assert abs(fit.r2 - ridge.score(X, y, sample_weight=w)) < 1e-8
    assert abs(fit.local_prediction - ridge.predict(np.ones((1, f)))[0]) < 1e-8


def test_lasso_and_tree_surrogates_are_sklearns():
    rng = np.random.default_rng(0)
    X, y, w = rng.integers(0, 2, (300, 8)).astype(float), rng.random(300), rng.random(300)
    y += 0.5 * X[:, 2]
    lasso = Lasso(alpha=0.01, max_iter=10_000).fit(X, y, sample_weight=w)
    fit = fit_surrogate(X, y, w, "lasso")
    assert np.allclose(fit.coefficients, lasso.coef_) and np.isclose(fit.r2, lasso.score(X, y, sample_weight=w))
    forest = RandomForestRegressor(n_estimators=50, min_samples_leaf=5, random_state=3).fit(X, y, sample_weight=w)
    fit = fit_surrogate(X, y, w, "tree", seed=3)
    assert np.allclose(fit.coefficients, forest.feature_importances_) and fit.coefficients.argmax() == 2
    with pytest.raises(ExplainError, match="surrogate"):
        fit_surrogate(X, y, w, "svm")


def test_refit_for_another_class_equals_a_new_run():
    x, segments = torch.randn(1, 3, 10, 10), segment(np.zeros((10, 10)), "grid", 6)
    first = lime(MODELS[3], x, 0, segments, samples=200, seed=4)
    again = lime(MODELS[3], x, 2, segments, samples=200, seed=4)
    refit = first.refit(target=2)
    assert np.allclose(refit.coefficients, again.coefficients) and np.isclose(refit.r2, again.r2)
    assert np.allclose(refit.scores, again.scores)


def test_explanation_mask_equals_lime_get_image_and_mask():
    rng = np.random.default_rng(1)
    segments = segment(rng.random((12, 12, 3)), "slic", 10)
    coef = rng.normal(size=segments.max() + 1)
    explanation = ImageExplanation(rng.random((12, 12, 3)), segments)
    explanation.local_exp[0] = sorted(enumerate(coef), key=lambda t: abs(t[1]), reverse=True)
    for k in (1, 3, 5):
        _, positive = explanation.get_image_and_mask(0, positive_only=True, num_features=k)
        _, negative = explanation.get_image_and_mask(0, positive_only=False, negative_only=True, num_features=k)
        _, both = explanation.get_image_and_mask(0, positive_only=False, num_features=k)
        assert np.array_equal(explanation_mask(segments, coef, k, "positive"), positive)
        assert np.array_equal(explanation_mask(segments, coef, k, "negative"), -negative)
        assert np.array_equal(explanation_mask(segments, coef, k, "both"), both)
    assert list(top_features([0.1, -3, 2, 0.0], 2, "both")) == [1, 2]


def test_jaccard_and_stability_reuse_prefixes_of_the_longest_run():
    assert jaccard([1, 2, 3], [2, 3, 4]) == 0.5 and jaccard([], []) == 1.0
    assert mean_pairwise_jaccard([[1, 2], [1, 2], [1, 3]]) == pytest.approx((1 + 1 / 3 + 1 / 3) / 3)
    x, segments = torch.randn(1, 3, 10, 10), segment(np.zeros((10, 10)), "grid", 9)
    result = stability(MODELS[3], x, 1, segments, samples=(40, 120), seeds=(0, 1, 2), k=3)
    for i, n in enumerate(result.samples):
        for j, seed in enumerate(result.seeds):
            alone = lime(MODELS[3], x, 1, segments, masks=random_masks(120, 9, seed)[:n])
            assert np.array_equal(result.tops[i][j], top_features(alone.coefficients, 3))
    assert ((0 <= result.low) & (result.low <= result.agreement) & (result.agreement <= 1)).all()


def test_lime_progress_stop_and_bad_input():
    x, segments = torch.randn(1, 3, 10, 10), segment(np.zeros((10, 10)), "grid", 4)
    seen = []
    lime(MODELS[3], x, 0, segments, samples=100, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (100, 100) and all(a[0] < b[0] for a, b in zip(seen, seen[1:]))
    with pytest.raises(Stopped):
        lime(MODELS[3], x, 0, segments, samples=100, stop=lambda: True)
    with pytest.raises(ExplainError, match="one image"):
        lime(MODELS[3], torch.randn(2, 3, 10, 10), 0, segments)
    with pytest.raises(ExplainError, match="cover"):
        lime(MODELS[3], x, 0, segments[:5])
    with pytest.raises(ExplainError, match="none missing"):
        lime(MODELS[3], x, 0, segments * 2)
    with pytest.raises(ExplainError, match="samples"):
        lime(MODELS[3], x, 0, segments, samples=1)
    with pytest.raises(ExplainError, match="12"):
        lime(MODELS[3], x, 0, segment(np.zeros((10, 10)), "grid", 16), samples="all")


def test_two_threads_two_images_equal_serial():
    model, meta = models.load_pretrained("shapes")
    before = features.weights_hash(model), tuple(m.training for m in model.modules())
    segments = segment(np.zeros((64, 64)), "grid", 16)
    inputs = [torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(s)) for s in (1, 2)]
    serial = [lime(model, x, 2, segments, samples=120).coefficients for x in inputs]
    start, wrong = threading.Barrier(2), []

    def student(k):
        start.wait()
        for _ in range(3):
            if not np.array_equal(lime(model, inputs[k], 2, segments, samples=120).coefficients, serial[k]):
                wrong.append(k)

    threads = [threading.Thread(target=student, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong
    assert (features.weights_hash(model), tuple(m.training for m in model.modules())) == before


# --- superpixels --------------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(st.sampled_from(METHODS), st.integers(8, 40), st.integers(8, 40), st.booleans(), st.data())
def test_segments_hit_the_asked_count_within_30_percent(method, h, w, colour, data_):
    n = data_.draw(st.integers(1, min(60, h * w // 6)))
    seed = data_.draw(st.integers(0, 10**6))
    rng = np.random.default_rng(seed)
    kind = data_.draw(st.sampled_from(["noise", "blobs", "flat"]))
    shape = (h, w, 3) if colour else (h, w)
    picture = {"noise": rng.random(shape) * 255,
               "blobs": np.kron(rng.random((4, 4) + shape[2:]), np.ones((h // 4 + 1, w // 4 + 1) + (1,) * (len(shape) - 2)))[:h, :w],
               "flat": np.full(shape, 0.3)}[kind]
    labels = segment(picture, method, n)
    assert labels.shape == (h, w) and labels.dtype == np.int64
    assert set(np.unique(labels)) == set(range(count(labels)))
    assert abs(count(labels) - n) <= 0.3 * n


def test_a_small_digit_gets_the_asked_count_where_lime_default_gives_one():
    from lime.wrappers.scikit_image import SegmentationAlgorithm
    from skimage.color import gray2rgb

    digit = data.load_dataset("digits", "test").images[0, 0].numpy()
    lime_default = SegmentationAlgorithm("quickshift", kernel_size=4, max_dist=200, ratio=0.2, random_seed=0)
    assert count(lime_default(gray2rgb(digit / 255.0))) <= 3  # lime issue #214
    for method in METHODS:
        assert abs(count(segment(digit, method, 25)) - 25) <= 0.3 * 25


def test_bad_segment_requests_get_a_clear_message():
    with pytest.raises(ExplainError, match="method"):
        segment(np.zeros((8, 8)), "watershed", 4)
    with pytest.raises(ExplainError, match="pixels"):
        segment(np.zeros((4, 4)), "slic", 17)
    with pytest.raises(ExplainError, match="picture"):
        segment(np.zeros((4, 4, 2)), "slic", 3)
