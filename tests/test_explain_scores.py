"""Explanation scores against hand-worked cases, a plain-Python oracle and a model whose answer is known."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from vizcore.explain import ExplainError, _forward, scores

SETTINGS = settings(max_examples=60, deadline=None)
PLAN = _forward.Plan(16, False, 1e-4)  # a fixed batch plan: no speed measurement per random model


# --- plain-Python oracles (no numpy tricks, no scipy) -------------------------------------------

def oracle_pointing(m, mask, tolerance):
    h, w = len(m), len(m[0])
    best, at = -math.inf, None
    for i in range(h):
        for j in range(w):
            if m[i][j] > best:  # strictly greater: the first maximum in row-major order stays
                best, at = m[i][j], (i, j)
    near = min(math.hypot(at[0] - i, at[1] - j) for i in range(h) for j in range(w) if mask[i][j])
    return near <= tolerance


def oracle_mass(m, mask):
    total = sum(max(v, 0.0) for row in m for v in row)
    inside = sum(max(v, 0.0) for row, mrow in zip(m, mask) for v, on in zip(row, mrow) if on)
    return inside / total if total > 0 else 0.0


def oracle_rank(m, mask):
    cells = [(-v, i * len(row) + j, bool(mask[i][j])) for i, row in enumerate(m) for j, v in enumerate(row)]
    cells.sort()  # by value (highest first), then row-major position
    k = sum(c[2] for c in cells)
    return sum(c[2] for c in cells[:k]) / k


@st.composite
def maps_and_masks(draw, max_side=7):
    n = draw(st.integers(1, 3))
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    # Few distinct values, so ties between pixels are common.
    values = draw(st.lists(st.integers(-3, 3), min_size=n * h * w, max_size=n * h * w))
    maps = np.array(values, dtype=np.float64).reshape(n, h, w) / 2
    bits = draw(st.lists(st.booleans(), min_size=n * h * w, max_size=n * h * w))
    masks = np.array(bits).reshape(n, h, w)
    for k in range(n):  # every mask marks at least one pixel
        if not masks[k].any():
            masks[k, draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))] = True
    return maps, masks


# --- hand-worked cases --------------------------------------------------------------------------

def test_pointing_game_by_hand():
    m = np.array([[[0, 1, 0], [0, 0, 0], [0, 0, 5]]], float)
    mask = np.zeros((1, 3, 3), bool)
    mask[0, 0, 0] = True
    assert not scores.pointing_game(m, mask)[0]
    assert not scores.pointing_game(m, mask, tolerance=2.8)[0]  # the peak (2, 2) is √8 ≈ 2.83 away
    assert scores.pointing_game(m, mask, tolerance=2.83)[0]
    mask[0, 2, 1] = True
    assert scores.pointing_game(m, mask, tolerance=1)[0]


def test_pointing_game_ties_take_the_first_maximum_row_major():
    m = np.array([[[0, 2, 0], [2, 0, 0], [0, 0, 2]]], float)
    first = np.zeros((1, 3, 3), bool)
    first[0, 0, 1] = True
    last = np.zeros((1, 3, 3), bool)
    last[0, 2, 2] = True
    assert scores.pointing_game(m, first)[0] and not scores.pointing_game(m, last)[0]
    # A constant map points at the top-left pixel.
    corner = np.zeros((1, 3, 3), bool)
    corner[0, 0, 0] = True
    assert scores.pointing_game(np.ones((1, 3, 3)), corner)[0]


def test_relevance_mass_and_rank_by_hand():
    m = torch.tensor([[[4.0, -2.0], [1.0, 3.0]]])
    mask = torch.tensor([[[True, True], [False, False]]])
    assert scores.relevance_mass(m, mask)[0] == pytest.approx(4 / 8)  # the −2 counts as nothing
    # K = 2: the top two pixels are 4 (inside) and 3 (outside).
    assert scores.relevance_rank(m, mask)[0] == pytest.approx(0.5)
    assert scores.relevance_mass(-m.abs(), mask)[0] == 0.0  # no positive relevance at all


@pytest.mark.parametrize("score", [scores.pointing_game, scores.relevance_mass, scores.relevance_rank])
def test_bad_masks_give_clear_errors(score):
    maps = np.ones((2, 4, 4))
    masks = np.ones((2, 4, 4), bool)
    masks[1] = False
    with pytest.raises(ExplainError, match="mask of image 1 is empty"):
        score(maps, masks)
    with pytest.raises(ExplainError, match="bool"):
        score(maps, masks.astype(np.uint8))
    with pytest.raises(ExplainError, match="shape"):
        score(maps, np.ones((2, 4, 5), bool))
    with pytest.raises(ExplainError, match="NaN"):
        score(np.full((2, 4, 4), np.nan), np.ones((2, 4, 4), bool))
    with pytest.raises(ExplainError, match=r"\(N, H, W\)"):
        score(np.ones((4, 4)), np.ones((4, 4), bool))


def test_pointing_game_refuses_a_negative_tolerance():
    with pytest.raises(ExplainError, match="tolerance"):
        scores.pointing_game(np.ones((1, 2, 2)), np.ones((1, 2, 2), bool), tolerance=-1)


def test_scaled_tolerance():
    assert scores.scaled_tolerance(224) == 15
    assert scores.scaled_tolerance(64) == pytest.approx(15 * 64 / 224)


# --- against the oracle -------------------------------------------------------------------------

@SETTINGS
@given(maps_and_masks(), st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.2, 10.0]), st.booleans())
def test_scores_match_the_oracle(case, tolerance, as_tensor):
    maps, masks = case
    given_maps = torch.from_numpy(maps).float() if as_tensor else maps
    given_masks = torch.from_numpy(masks) if as_tensor else masks
    hits = scores.pointing_game(given_maps, given_masks, tolerance)
    mass = scores.relevance_mass(given_maps, given_masks)
    rank = scores.relevance_rank(given_maps, given_masks)
    assert hits.dtype == np.bool_ and hits.shape == mass.shape == rank.shape == (len(maps),)
    for k in range(len(maps)):
        m, mask = maps[k].tolist(), masks[k].tolist()
        assert hits[k] == oracle_pointing(m, mask, tolerance)
        assert mass[k] == pytest.approx(oracle_mass(m, mask), abs=1e-12)
        assert rank[k] == pytest.approx(oracle_rank(m, mask), abs=1e-12)


@SETTINGS
@given(maps_and_masks())
def test_the_whole_mask_and_the_whole_image_score_one(case):
    maps, _ = case
    full = np.ones(maps.shape, bool)
    assert scores.pointing_game(maps, full).all()
    assert (scores.relevance_rank(maps, full) == 1).all()
    has_positive = (maps > 0).any(axis=(1, 2))
    np.testing.assert_allclose(scores.relevance_mass(maps, full), has_positive.astype(float))


@SETTINGS
@given(st.lists(st.floats(0, 1), min_size=2, max_size=40), st.integers(0, 2**31 - 1))
def test_auc_matches_numpy_trapezoid(values, seed):
    fractions = np.sort(np.random.default_rng(seed).random(len(values)))
    assert scores.auc(fractions, np.array(values)) == pytest.approx(np.trapezoid(values, fractions), abs=1e-12)


# --- deletion and insertion on a model whose answer is known ------------------------------------

class LinearModel(nn.Module):
    """Two classes: logit 0 = Σ w·x + b, logit 1 = 0, so p(class 0) = sigmoid(w·x + b)."""

    def __init__(self, w: torch.Tensor, b: float):
        super().__init__()
        self.w, self.b = w, b

    def forward(self, x):
        z = (x * self.w).flatten(1).sum(1) + self.b
        return torch.stack([z, torch.zeros_like(z)], dim=1)


def oracle_curve(w, x, b, order, counts, start, end):
    """p(class 0) after the first counts[k] pixels in ``order`` moved from ``start`` to ``end``."""
    c, h, wd = x.shape
    out = []
    for k in counts:
        picture = start.clone()
        for p in order[:k]:
            i, j = divmod(int(p), wd)
            picture[:, i, j] = end[:, i, j]
        out.append(1 / (1 + math.exp(-(float((picture * w).sum()) + b))))
    return np.array(out)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 3), st.integers(2, 6), st.integers(1, 9))
def test_curves_on_a_linear_model_match_the_oracle(seed, channels, side, steps):
    steps = min(steps, side * side)
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(channels, side, side, generator=g, dtype=torch.float64)
    x = torch.randn(2, channels, side, side, generator=g, dtype=torch.float64)
    b = float(torch.randn(1, generator=g))
    model = LinearModel(w, b)
    maps = torch.randint(0, 3, (2, side, side), generator=g).double()  # ties are common
    fractions, deletion, auc_d = scores.deletion_curve(model, x, 0, maps, steps=steps, baseline=0.5, plan=PLAN)
    _, insertion, auc_i = scores.insertion_curve(model, x, 0, maps, steps=steps, start=-1.0, plan=PLAN)
    counts = np.round(np.linspace(0, side * side, steps + 1)).astype(int)
    np.testing.assert_allclose(fractions, counts / side ** 2)
    assert fractions[0] == 0 and fractions[-1] == 1
    for n in range(2):
        order = sorted(range(side * side), key=lambda p: (-float(maps[n].flatten()[p]), p))
        full = torch.full_like(x[n], 0.5)
        np.testing.assert_allclose(deletion[n], oracle_curve(w, x[n], b, order, counts, x[n], full), rtol=1e-10)
        np.testing.assert_allclose(insertion[n], oracle_curve(w, x[n], b, order, counts, full - 1.5, x[n]),
                                   rtol=1e-10)
    np.testing.assert_allclose(auc_d, np.trapezoid(deletion, fractions, axis=1), rtol=1e-12)
    np.testing.assert_allclose(auc_i, np.trapezoid(insertion, fractions, axis=1), rtol=1e-12)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_deletion_in_attribution_order_beats_random(seed):
    """On a linear model with a zero baseline, removing pixels by their contribution w·x first
    leaves the smallest possible logit at every step: no ranking can delete faster."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(3, 8, 8, generator=g, dtype=torch.float64)
    x = torch.randn(4, 3, 8, 8, generator=g, dtype=torch.float64)
    model = LinearModel(w, 0.5)
    attribution = (w * x).sum(1)  # each pixel's share of the logit
    _, p_attr, auc_attr = scores.deletion_curve(model, x, 0, attribution, steps=16, plan=PLAN)
    _, _, ins_attr = scores.insertion_curve(model, x, 0, attribution, steps=16, start=0.0, plan=PLAN)
    for k in range(3):
        random = scores.random_maps(4, 8, 8, seed=seed + k)
        _, p_rand, auc_rand = scores.deletion_curve(model, x, 0, random, steps=16, plan=PLAN)
        _, _, ins_rand = scores.insertion_curve(model, x, 0, random, steps=16, start=0.0, plan=PLAN)
        assert (p_attr <= p_rand + 1e-12).all()
        assert (auc_attr <= auc_rand + 1e-12).all() and (ins_attr >= ins_rand - 1e-12).all()
    # Removing in the opposite order is the worst ranking of all.
    _, _, auc_worst = scores.deletion_curve(model, x, 0, -attribution, steps=16, plan=PLAN)
    assert (auc_worst >= auc_rand - 1e-12).all() and (auc_attr < auc_worst).all()


def test_curves_do_not_depend_on_the_batch_size(monkeypatch):
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5)).eval()
    x = torch.randn(5, 3, 10, 10, generator=g)
    maps = torch.rand(5, 10, 10, generator=g)
    targets = torch.tensor([0, 1, 2, 3, 4])
    whole = scores.insertion_curve(model, x, targets, maps, steps=10)
    monkeypatch.setattr(_forward, "plan_for", lambda *args: _forward.Plan(7, False, 1e-3))
    parts = scores.insertion_curve(model, x, targets, maps, steps=10)
    for a, b in zip(whole, parts):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with torch.inference_mode():
        probs = torch.softmax(model(x), 1)[torch.arange(5), targets].numpy()
        start = torch.softmax(model(scores.blur(x)), 1)[torch.arange(5), targets].numpy()
    np.testing.assert_allclose(whole[1][:, -1], probs, rtol=1e-5)  # all revealed: the picture itself
    np.testing.assert_allclose(whole[1][:, 0], start, rtol=1e-5)  # nothing revealed: the blur


def test_known_end_points_give_the_same_curves():
    g = torch.Generator().manual_seed(3)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5)).eval()
    x = torch.randn(4, 3, 9, 9, generator=g)
    maps = torch.rand(4, 9, 9, generator=g)
    targets = torch.tensor([0, 1, 2, 3])
    full_d = scores.deletion_curve(model, x, targets, maps, steps=6, plan=PLAN)
    full_i = scores.insertion_curve(model, x, targets, maps, steps=6, plan=PLAN)
    ends_d = (full_d[1][:, 0], full_d[1][:, -1])
    ends_i = (full_i[1][:, 0], full_i[1][:, -1])
    for full, part in ((full_d, scores.deletion_curve(model, x, targets, maps, steps=6, plan=PLAN, ends=ends_d)),
                       (full_i, scores.insertion_curve(model, x, targets, maps, steps=6, plan=PLAN, ends=ends_i))):
        for a, b in zip(full, part):
            np.testing.assert_allclose(a, b, rtol=1e-6)
    seen = []
    scores.deletion_curve(model, x, targets, maps, steps=6, plan=PLAN, ends=ends_d,
                          progress=lambda d, t: seen.append(t))
    assert seen[-1] == 4 * 5  # only the 5 inner points were run


def test_curves_report_progress_and_stop():
    model = LinearModel(torch.ones(1, 4, 4), 0.0)
    x = torch.randn(3, 1, 4, 4)
    seen = []
    scores.deletion_curve(model, x, 0, torch.rand(3, 4, 4), steps=4, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (15, 15) and all(t == 15 for _, t in seen)
    with pytest.raises(_forward.Stopped):
        scores.deletion_curve(model, x, 0, torch.rand(3, 4, 4), stop=lambda: True, steps=4)


def test_curves_refuse_bad_input():
    model = LinearModel(torch.ones(1, 4, 4), 0.0)
    x = torch.randn(2, 1, 4, 4)
    with pytest.raises(ExplainError, match="4×4 map per image"):
        scores.deletion_curve(model, x, 0, torch.rand(2, 5, 4))
    with pytest.raises(ExplainError, match="steps"):
        scores.deletion_curve(model, x, 0, torch.rand(2, 4, 4), steps=17)
    with pytest.raises(ExplainError, match="steps"):
        scores.deletion_curve(model, x, 0, torch.rand(2, 4, 4), steps=0)
    with pytest.raises(ExplainError, match="outside"):
        scores.deletion_curve(model, x, 5, torch.rand(2, 4, 4), steps=4)
    with pytest.raises(ExplainError, match="blur"):
        scores.insertion_curve(model, x, 0, torch.rand(2, 4, 4), steps=4, start="grey")
    with pytest.raises(ExplainError, match="baseline"):
        scores.deletion_curve(model, x, 0, torch.rand(2, 4, 4), steps=4, baseline=torch.zeros(3, 3))


# --- reference maps -----------------------------------------------------------------------------

def oracle_sobel(picture):
    """Sobel magnitude of one (C, H, W) picture, edge pixels repeated, written out in loops."""
    c, h, w = picture.shape
    kx = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    out = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            total = 0.0
            for ch in range(c):
                gx = gy = 0.0
                for di in range(3):
                    for dj in range(3):
                        v = picture[ch, min(max(i + di - 1, 0), h - 1), min(max(j + dj - 1, 0), w - 1)]
                        gx += kx[di][dj] * v
                        gy += kx[dj][di] * v
                total += gx * gx + gy * gy
            out[i, j] = math.sqrt(total)
    return out


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 3), st.integers(1, 6), st.integers(1, 6))
def test_edge_maps_match_sobel_by_hand(seed, channels, h, w):
    images = np.random.default_rng(seed).random((2, channels, h, w))
    edges = scores.edge_maps(torch.from_numpy(images))
    for n in range(2):
        np.testing.assert_allclose(edges[n], oracle_sobel(images[n]), atol=1e-12)


def test_blur_matches_a_gaussian_written_out():
    x = torch.from_numpy(np.random.default_rng(1).random((1, 2, 9, 9)))
    sigma = 1.5
    radius = int(3.0 * sigma + 0.5)
    taps = np.exp(-np.arange(-radius, radius + 1) ** 2 / (2 * sigma ** 2))
    taps /= taps.sum()
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (radius, radius), (radius, radius)), mode="edge")
    expected = np.zeros_like(x.numpy())
    for di, a in enumerate(taps):
        for dj, b in enumerate(taps):
            expected += a * b * padded[:, :, di:di + 9, dj:dj + 9]
    np.testing.assert_allclose(scores.blur(x, sigma).numpy(), expected, atol=1e-12)


def test_reference_maps():
    images = torch.rand(3, 3, 8, 10)
    refs = scores.reference_maps(images, seed=4)
    assert list(refs) == list(scores.REFERENCES)
    assert all(m.shape == (3, 8, 10) for m in refs.values())
    np.testing.assert_array_equal(refs["Random"], scores.random_maps(3, 8, 10, seed=4))
    assert not np.array_equal(refs["Random"], scores.random_maps(3, 8, 10, seed=5))
    centre = refs["Centre prior"][0]
    assert np.unravel_index(np.argmax(centre), centre.shape) == (3, 4)  # the first of the 4 middle pixels
    np.testing.assert_allclose(centre, centre[::-1, ::-1])


# --- evaluate: every method over many images, scored ------------------------------------------------

@pytest.fixture(scope="module")
def small_run():
    from vizcore import data, models
    from vizcore.explain import evaluate as ev

    model, meta = models.load_pretrained("shapes")
    split = data.load_dataset("shortcut", "test", size=12)  # object masks and the corner tag's masks
    methods = ev.default_methods(model, meta["input_shape"], meta["mean"], meta["std"], smoothgrad_samples=3,
                                 ig_steps=4, lime_samples=30, lime_segments=12)
    result = ev.evaluate(model, split, 12, methods=methods, steps=8, normalise_as=meta)
    return model, meta, split, result


def test_evaluate_uses_the_methods_own_maps(small_run):
    from vizcore.explain import gradient, grad_cam, heatmap, integrated_gradients, lime, occlusion, segment, smoothgrad
    from vizcore.explain import evaluate as ev
    from vizcore.explain.lime import segment_means
    from vizcore.explain.occlusion import fill

    model, meta, split, result = small_run
    x = ((split.images[:12].float() / 255 - torch.tensor(meta["mean"])[:, None, None])
         / torch.tensor(meta["std"])[:, None, None])
    with torch.no_grad():
        predicted = model(x).argmax(1)
    np.testing.assert_array_equal(result.predictions, predicted.numpy())
    np.testing.assert_array_equal(result.targets, predicted.numpy())
    expected = {
        "Gradient": heatmap(gradient(model, x, predicted)),
        # The noise is drawn per call, and evaluate calls once per chunk of images.
        "SmoothGrad": torch.cat([heatmap(smoothgrad(model, x[i:i + ev.CHUNK], predicted[i:i + ev.CHUNK], samples=3,
                                                    noise=0.15)) for i in range(0, 12, ev.CHUNK)]),
        "Integrated Gradients": heatmap(integrated_gradients(model, x, predicted, steps=4)[0]),
        "Grad-CAM": grad_cam(model, x, predicted, "conv4"),
        "Occlusion": occlusion(model, x, predicted, 8, 4, fill(x, "grey", meta["mean"], meta["std"])),
    }
    for name, maps in expected.items():
        np.testing.assert_allclose(result.maps[name], maps.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
    k = 5
    picture = split.images[k].numpy().transpose(1, 2, 0)
    segments = segment(picture, "slic", 12)
    own = lime(model, x[k:k + 1], int(predicted[k]), segments, 30, seed=0,
               hide=segment_means(x[k:k + 1], segments))
    np.testing.assert_allclose(result.maps["LIME"][k], own.coefficients[segments], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(result.maps["Edges (Sobel)"], scores.edge_maps(split.images[:12].float() / 255),
                               rtol=1e-5, atol=1e-6)


def test_evaluate_tables_equal_the_scores_computed_directly(small_run):
    from vizcore.explain import evaluate as ev

    model, meta, split, result = small_run
    masks, cue = split.masks[:12].numpy(), split.cue_masks[:12].numpy()
    x = ((split.images[:12].float() / 255 - torch.tensor(meta["mean"])[:, None, None])
         / torch.tensor(meta["std"])[:, None, None])
    table = {row["method"]: row for row in ev.score_table(result, tolerance=2.0)}
    assert list(table) == result.names and result.names[-3:] == list(scores.REFERENCES)
    for name in ("Gradient", "LIME", "Random"):
        maps = result.maps[name]
        row = table[name]
        assert row["pointing game"] == pytest.approx(scores.pointing_game(maps, masks, 2.0).mean())
        assert row["relevance mass"] == pytest.approx(scores.relevance_mass(maps, masks).mean())
        assert row["relevance rank"] == pytest.approx(scores.relevance_rank(maps, masks).mean())
        targets = torch.as_tensor(result.targets)
        _, _, deletion = scores.deletion_curve(model, x, targets, maps, steps=8)
        _, _, insertion = scores.insertion_curve(model, x, targets, maps, steps=8)
        assert row["deletion AUC"] == pytest.approx(deletion.mean(), rel=1e-4)
        assert row["insertion AUC"] == pytest.approx(insertion.mean(), rel=1e-4)
        assert row["ms / image"] == pytest.approx(1000 * result.seconds[name] / 12)
    cue_rows = {row["method"]: row for row in ev.cue_table(result, tolerance=0.0)}
    maps = result.maps["Occlusion"]
    assert cue_rows["Occlusion"]["points at the tag"] == pytest.approx(scores.pointing_game(maps, cue).mean())
    assert cue_rows["Occlusion"]["points at the object"] == pytest.approx(scores.pointing_game(maps, masks).mean())
    assert cue_rows["Occlusion"]["mass on the tag"] == pytest.approx(scores.relevance_mass(maps, cue).mean())


def test_evaluate_stops_and_continues_to_the_same_result(small_run):
    import threading

    from vizcore.explain import evaluate as ev

    model, meta, split, whole = small_run
    methods = ev.default_methods(model, meta["input_shape"], meta["mean"], meta["std"])[:2]  # two fast ones
    flag, kept, seen = threading.Event(), [], []
    first = ev.evaluate(model, split, 12, methods=methods, steps=8, normalise_as=meta, stop=flag,
                        on_chunk=lambda part: (kept.append(part), flag.set()),
                        progress=lambda done, total: seen.append((done, total)))
    assert first.stopped and first.n == ev.CHUNK and len(kept) == 1 and seen[-1] == (3, 6)
    rest = ev.evaluate(model, split, 12, methods=methods, steps=8, normalise_as=meta, resume=first)
    assert not rest.stopped and rest.n == 12
    for name in ("Gradient", "Random", "Edges (Sobel)"):
        np.testing.assert_allclose(rest.maps[name], whole.maps[name], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(rest.deletion[name], whole.deletion[name], rtol=1e-4, atol=1e-7)
    labelled = ev.evaluate(model, split, 3, methods=methods[:1], steps=8, target="label", normalise_as=meta)
    np.testing.assert_array_equal(labelled.targets, split.labels[:3].numpy())  # the true class explained
    with pytest.raises(ExplainError, match="other settings"):
        ev.evaluate(model, split, 11, methods=methods, steps=8, normalise_as=meta, resume=first)
    with pytest.raises(ExplainError, match="at least one image"):
        ev.evaluate(model, split, 0, methods=methods)


def test_forward_pass_count_of_an_evaluation():
    from vizcore import models
    from vizcore.explain import evaluate as ev

    model, meta = models.load_pretrained("shapes")
    methods = ev.default_methods(model, meta["input_shape"], smoothgrad_samples=10, ig_steps=20, lime_samples=300)
    # gradient, ×input, guided backprop, Grad-CAM: 3 each; SmoothGrad 3·10; IG 3·20; occlusion
    # 15·15 positions + the original; LIME 300 samples; curves 2·(16−1) inner points per map (8 methods
    # + 3 references) and 3 end points shared by all maps.
    per_image = 4 * 3 + 30 + 60 + 226 + 300
    assert ev.forward_passes(methods, 10, 16) == 10 * (per_image + 2 * 15 * 11 + 3)
    assert ev.forward_passes(methods, 10, None) == 10 * per_image
