"""Occlusion against captum's ``Occlusion`` and a plain loop; the batched forward passes.

Oracles: captum 0.9 (``Occlusion(f).attribute`` with a window over every channel), a loop that
pastes the patch with slicing and runs the model once per position, and the same call made
serially (for the threads).
"""
from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch
from captum.attr import Occlusion
from hypothesis import given, settings, strategies as st
from torch import nn

from vizcore import features, models
from vizcore.explain import ExplainError, _forward
from vizcore.explain.occlusion import (Occluder, occlusion, occlusion_run, occlusion_scores, per_pixel,
                                       windows)


def tiny_cnn(channels: int, classes: int = 4, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)  # only in tests: models are built before any thread starts
    return nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Linear(16, classes)).eval()


MODELS = {c: tiny_cnn(c) for c in (1, 3)}


@st.composite
def cases(draw):
    c = draw(st.sampled_from([1, 3]))
    n = draw(st.integers(1, 2))
    h, w = draw(st.integers(4, 10)), draw(st.integers(4, 10))
    wr, wc = draw(st.integers(1, h)), draw(st.integers(1, w))
    sr = draw(st.integers(1, wr)) if wr < h else draw(st.integers(1, h + 2))
    sc = draw(st.integers(1, wc)) if wc < w else draw(st.integers(1, w + 2))
    seed = draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=g)
    kind = draw(st.sampled_from(["scalar", "image", "channel", "batch"]))
    baseline = {"scalar": draw(st.floats(-2, 2)), "image": torch.randn(1, c, h, w, generator=g),
                "channel": torch.randn(c, 1, 1, generator=g), "batch": torch.randn(n, c, h, w, generator=g)}[kind]
    target = draw(st.integers(0, 3)) if n == 1 or draw(st.booleans()) else [draw(st.integers(0, 3)) for _ in range(n)]
    output = draw(st.sampled_from(["probability", "logit"]))
    return x, (wr, wc), (sr, sc), baseline, target, output


@settings(max_examples=25, deadline=None)
@given(cases())
def test_equals_captum_occlusion(case):
    x, (wr, wc), (sr, sc), baseline, target, output = case
    model = MODELS[x.shape[1]]
    f = (lambda z: torch.softmax(model(z), dim=1)) if output == "probability" else model
    c = x.shape[1]
    with torch.no_grad():
        expected = Occlusion(f).attribute(x, target=target, sliding_window_shapes=(c, wr, wc),
                                          strides=(c, sr, sc), baselines=baseline,
                                          perturbations_per_eval=32)  # same values, fewer calls
    got = occlusion(model, x, target, (wr, wc), (sr, sc), baseline, output)
    assert got.shape == (x.shape[0], x.shape[2], x.shape[3])
    assert torch.allclose(got, expected[:, 0], atol=1e-5, rtol=0)
    assert torch.allclose(expected, expected[:, :1].expand_as(expected))  # one value for all channels


def _loop_scores(model, x, window, stride, baseline, target):
    """One forward pass per position, the patch pasted with slicing: Zeiler & Fergus's map."""
    h, w = x.shape[2:]
    rows, cols = math.ceil((h - window[0]) / stride[0]) + 1, math.ceil((w - window[1]) / stride[1]) + 1
    out = torch.empty(rows, cols)
    base = torch.as_tensor(baseline, dtype=x.dtype).expand_as(x)
    for i in range(rows):
        for j in range(cols):
            r, c = i * stride[0], j * stride[1]
            y = x.clone()
            y[:, :, r:r + window[0], c:c + window[1]] = base[:, :, r:r + window[0], c:c + window[1]]
            with torch.no_grad():
                out[i, j] = torch.softmax(model(y), 1)[0, target]
    return out


@settings(max_examples=15, deadline=None)
@given(cases())
def test_scores_equal_a_loop_over_positions(case):
    x, window, stride, baseline, _, _ = case
    x = x[:1]
    if isinstance(baseline, torch.Tensor):
        baseline = baseline[:1]
    model = MODELS[x.shape[1]]
    got = occlusion_scores(model, x, 2, window, stride, baseline)
    assert torch.allclose(got[0], _loop_scores(model, x, window, stride, baseline, 2), atol=1e-6)


def test_shipped_shapes_model_matches_captum():
    model, meta = models.load_pretrained("shapes")
    x = torch.randn(1, *meta["input_shape"], generator=torch.Generator().manual_seed(1))
    f = lambda z: torch.softmax(model(z), dim=1)  # noqa: E731
    for window, stride in [(9, 4), (10, 10)]:  # the last window hangs over the edge
        with torch.no_grad():
            expected = Occlusion(f).attribute(x, target=3, sliding_window_shapes=(3, window, window),
                                              strides=(3, stride, stride), baselines=-0.5,
                                              perturbations_per_eval=64)
        got = occlusion(model, x, 3, window, stride, -0.5)
        assert (got - expected[:, 0]).abs().max() < 1e-5


@given(st.integers(1, 40), st.integers(1, 40), st.data())
@settings(max_examples=60, deadline=None)
def test_window_positions_cover_the_image_as_captum_places_them(h, w, data):
    k = data.draw(st.integers(1, h)), data.draw(st.integers(1, w))
    s = data.draw(st.integers(1, k[0])), data.draw(st.integers(1, k[1]))
    grid = windows(h, w, k, s)
    assert grid.rows == math.ceil((h - k[0]) / s[0]) + 1 and grid.cols == math.ceil((w - k[1]) / s[1]) + 1
    covered = np.zeros((h, w), int)
    for i in range(grid.rows):
        for j in range(grid.cols):
            r0, r1, c0, c1 = grid.box(i, j)
            assert (r0, c0) == (i * s[0], j * s[1]) and r1 - r0 <= k[0] and c1 - c0 <= k[1]
            covered[r0:r1, c0:c1] += 1
    assert covered.min() >= 1
    # per_pixel averages each pixel over exactly the windows drawn above
    drops = torch.rand(1, grid.rows, grid.cols, dtype=torch.float64)
    total = np.zeros((h, w))
    for i in range(grid.rows):
        for j in range(grid.cols):
            r0, r1, c0, c1 = grid.box(i, j)
            total[r0:r1, c0:c1] += drops[0, i, j].item()
    assert np.allclose(per_pixel(drops, grid)[0].numpy(), total / covered)


def test_occluder_builds_the_same_inputs_as_slicing():
    x = torch.randn(2, 3, 9, 11)
    grid = windows(9, 11, (4, 3), (2, 3))
    base = torch.randn(1, 3, 9, 11)
    occ = Occluder(x, grid, base)
    batch = occ(0, len(occ))
    for index in range(len(occ)):
        n, p = divmod(index, grid.count)
        r0, r1, c0, c1 = grid.box(*divmod(p, grid.cols))
        y = x[n].clone()
        y[:, r0:r1, c0:c1] = base[0, :, r0:r1, c0:c1]
        assert torch.equal(batch[index], y)
    assert torch.equal(occ.position(1, 2, 1)[0], batch[grid.count + 2 * grid.cols + 1])


@pytest.mark.parametrize("window, stride, baseline, message", [
    (5, 6, 0.0, "stride"),
    (20, 1, 0.0, "larger than the image"),
    (0, 1, 0.0, "at least 1"),
    (3, 1, torch.zeros(2, 3, 1, 1, 1), "does not fit"),
    (3, 1, float("nan"), "finite"),
    (3, 1, torch.full((1, 3, 1, 1), float("inf")), "NaN or infinite"),
    ("big", 1, 0.0, "whole number"),
])
def test_bad_settings_get_a_clear_message(window, stride, baseline, message):
    with pytest.raises(ExplainError, match=message):
        occlusion(MODELS[3], torch.randn(1, 3, 10, 10), 0, window, stride, baseline)


def test_bad_target_and_output_are_refused():
    with pytest.raises(ExplainError, match="outside"):
        occlusion(MODELS[3], torch.randn(1, 3, 8, 8), 7, 3, 1)
    with pytest.raises(ExplainError, match="output"):
        occlusion(MODELS[3], torch.randn(1, 3, 8, 8), 0, 3, 1, output="score")


def test_one_run_gives_every_class_and_both_outputs():
    model, x = MODELS[3], torch.randn(1, 3, 10, 10)
    run = occlusion_run(model, x, 4, 2, 0.0)
    for target in range(4):
        for output in ("probability", "logit"):
            assert torch.allclose(run.attribution(target, output), occlusion(model, x, target, 4, 2, 0.0, output))
    probs = torch.softmax(model(x), 1)
    assert torch.allclose(run.values()[0], probs, atol=1e-7)


# --- batched forward passes ------------------------------------------------------------------------

def _untouched(model: nn.Module) -> tuple:
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())
    return (features.weights_hash(model), tuple(m.training for m in model.modules()), hooks,
            tuple(p.requires_grad for p in model.parameters()),
            tuple(p.is_contiguous() for p in model.parameters()))


def test_forward_in_batches_equals_one_call_and_reports_progress():
    model = MODELS[3]
    x = torch.randn(50, 3, 8, 8)
    seen = []
    plan = _forward.Plan(batch_size=16, channels_last=True, seconds_per_image=1e-4)
    got = _forward.outputs(model, x, progress=lambda done, total: seen.append((done, total)), plan=plan)
    with torch.no_grad():
        assert torch.allclose(got, model(x), atol=1e-6)
    assert seen == [(16, 50), (32, 50), (48, 50), (50, 50)]
    assert not got.is_inference()
    probs = _forward.probabilities(model, x, [k % 4 for k in range(50)], plan=plan)
    assert torch.allclose(probs, torch.softmax(got, 1)[torch.arange(50), torch.arange(50) % 4], atol=1e-6)


def test_stop_flag_stops_between_batches():
    model, x = MODELS[3], torch.randn(40, 3, 8, 8)
    plan = _forward.Plan(batch_size=8, channels_last=False, seconds_per_image=1e-4)
    event = threading.Event()

    def progress(done, total):
        if done >= 16:
            event.set()

    with pytest.raises(_forward.Stopped) as stopped:
        _forward.outputs(model, x, progress=progress, stop=event, plan=plan)
    assert (stopped.value.done, stopped.value.total) == (16, 40)
    with pytest.raises(_forward.Stopped):
        occlusion(model, x[:1], 0, 2, 1, stop=lambda: True)


def test_plan_is_measured_once_per_architecture_and_leaves_the_model_alone():
    model = tiny_cnn(3, seed=5)
    before = _untouched(model)
    plans = []
    threads = [threading.Thread(target=lambda: plans.append(_forward.plan_for(model, (3, 8, 8)))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(p) for p in plans}) == 1
    assert plans[0].batch_size in _forward.CANDIDATE_BATCHES and plans[0].seconds_per_image > 0
    assert _forward.plan_for(tiny_cnn(3, seed=6), (3, 8, 8)) is plans[0]  # same architecture, other weights
    assert _forward.plan_for(model, (3, 9, 9)) is not plans[0]            # other input size
    assert _untouched(model) == before


def test_two_threads_two_images_equal_serial():
    model, meta = models.load_pretrained("digits")
    before = _untouched(model)
    inputs = [torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(s)) for s in (1, 2)]
    serial = [occlusion(model, x, 3, 6, 3, -0.5) for x in inputs]
    start, wrong = threading.Barrier(2), []

    def student(k):
        start.wait()
        for _ in range(5):
            if not torch.equal(occlusion(model, inputs[k], 3, 6, 3, -0.5), serial[k]):
                wrong.append(k)

    threads = [threading.Thread(target=student, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong
    assert _untouched(model) == before
