"""The LIME page in AppTest: shown probabilities, coefficients and R² against a brute-force oracle.

The oracle builds every perturbed image pixel by pixel in numpy from the page's masks (drawn by
``random_masks(samples, F, seed)``, row 0 all ones) and superpixels, runs the shipped model on
each, and fits scikit-learn's ``Ridge`` with lime's kernel (scikit-learn's cosine distance).
The page's default input is test image #0 of the model's data set.
"""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge
from sklearn.metrics import pairwise_distances
from streamlit.testing.v1 import AppTest

from _pages import run_model_page
from vizcore import data, models
from vizcore.figures import style
from vizcore.explain import _forward
from vizcore.explain.lime import all_masks, random_masks, stability
from vizcore.explain.occlusion import fill
from vizcore.explain.segment import segment

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "lime.py")


def run_page(model: str = "digits", **state) -> AppTest:
    return run_model_page(PAGE, "lime_model", model, **state)


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
    return np.asarray(value)


def oracle(name: str, method: str, n_segments: int, hide_kind: str, masks_for):
    """Brute force: (segments, masks, probabilities (S, K), weights) for test image #0."""
    model, meta = models.load_pretrained(name)
    split = data.load_dataset(name, "test")
    picture = split.images[0].numpy()
    picture = picture[0] if picture.shape[0] == 1 else picture.transpose(1, 2, 0)
    x = split.normalize(split.images[0]).unsqueeze(0)
    segments = segment(picture, method, n_segments)
    masks = masks_for(segments.max() + 1)
    hide = np.broadcast_to(fill(x, hide_kind, meta["mean"], meta["std"]).numpy(), x.shape)[0]
    image = x[0].numpy()
    batch = []
    for mask in masks:
        img = image.copy()
        hidden = mask[segments] == 0
        img[:, hidden] = hide[:, hidden]
        batch.append(img)
    with torch.no_grad():
        probs = torch.softmax(model(torch.from_numpy(np.stack(batch))), 1).double().numpy()
    d = pairwise_distances(masks, np.ones((1, masks.shape[1])), metric="cosine").ravel()
    return model, x, segments, masks, probs, np.sqrt(np.exp(-d ** 2 / 0.25 ** 2))


def shown_metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_digits_samples_coefficients_and_r2_equal_brute_force():
    at = run_page("digits", lime_method="slic", lime_segments=20, lime_samples=250, lime_seed=3, lime_hide="black")
    model, x, segments, masks, probs, w = oracle("digits", "slic", 20, "black", lambda f: random_masks(250, f, 3))
    target = int(probs[0].argmax())
    ridge = Ridge(alpha=1.0).fit(masks, probs[:, target], sample_weight=w)
    metrics = shown_metrics(at)
    assert metrics["R² (weighted)"] == f"{ridge.score(masks, probs[:, target], sample_weight=w):.4f}"
    assert metrics["intercept"] == f"{ridge.intercept_:.4f}"
    bars = chart(at, "lime_coefficients")["data"][0]
    assert bars["orientation"] == "h"  # the superpixels' numbers on the vertical axis, level
    shown = dict(zip(decode(bars["y"]).tolist(), decode(bars["x"]).astype(float)))
    assert len(shown) == segments.max() + 1
    assert max(abs(shown[f"#{f}"] - c) for f, c in enumerate(ridge.coef_)) < 1e-6
    # the gallery: sample #0 keeps everything, every caption's probability and weight are the model's
    captions = at.get("image")[0].proto.imgs
    for caption in [c.caption for c in captions]:
        i, p, wt = re.match(r"#(\d+) · p=([\d.]+) · w=([\d.]+)", caption).groups()
        assert abs(float(p) - probs[int(i), target]) < 6e-5 and abs(float(wt) - w[int(i)]) < 6e-3
    assert captions[0].caption.startswith("#0 ") and f"kept {masks.shape[1]}/" in captions[0].caption
    # the superpixels figure numbers every superpixel
    numbers = [d for d in chart(at, "lime_superpixels")["data"] if d.get("mode") == "text"][0]
    assert list(numbers["text"]) == [str(f) for f in range(segments.max() + 1)]


def test_another_class_and_sorting_only_refit_and_reorder():
    at = run_page("digits", lime_method="grid", lime_segments=16, lime_samples=100, lime_seed=0, lime_hide="black")
    _, _, _, masks, probs, w = oracle("digits", "grid", 16, "black", lambda f: random_masks(100, f, 0))
    at.selectbox(key="lime_target").set_value(4).run()
    at.radio(key="lime_sort").set_value("prob_down").run()
    assert not at.exception
    ridge = Ridge(alpha=1.0).fit(masks, probs[:, 4], sample_weight=w)
    assert shown_metrics(at)["R² (weighted)"] == f"{ridge.score(masks, probs[:, 4], sample_weight=w):.4f}"
    shown_p = [float(re.search(r"p=([\d.]+)", c.caption).group(1)) for c in at.get("image")[0].proto.imgs]
    assert shown_p == sorted(shown_p, reverse=True) and abs(shown_p[0] - probs[:, 4].max()) < 6e-5


def test_exact_mode_uses_every_mask():
    at = run_page("shapes", lime_method="grid", lime_segments=9, lime_exact=True, lime_hide="blur")
    _, _, segments, masks, probs, w = oracle("shapes", "grid", 9, "blur", all_masks)
    assert masks.shape == (512, 9)
    target = int(probs[0].argmax())
    ridge = Ridge(alpha=1.0).fit(masks, probs[:, target], sample_weight=w)
    assert shown_metrics(at)["R² (weighted)"] == f"{ridge.score(masks, probs[:, target], sample_weight=w):.4f}"
    bars = chart(at, "lime_coefficients")["data"][0]
    assert bars["orientation"] == "h"  # the superpixels' numbers on the vertical axis, level
    shown = dict(zip(decode(bars["y"]).tolist(), decode(bars["x"]).astype(float)))
    assert max(abs(shown[f"#{f}"] - c) for f, c in enumerate(ridge.coef_)) < 1e-6


def test_stability_figure_equals_a_direct_run():
    at = run_page("digits", lime_method="grid", lime_segments=12, lime_samples=100, lime_hide="black",
                  lime_seeds=3, lime_counts=[50, 100], lime_stability_on=True)
    model, x, segments, *_ = oracle("digits", "grid", 12, "black", lambda f: random_masks(2, f, 0))
    meta = models.load_pretrained("digits")[1]
    target = int(torch.softmax(model(x), 1).argmax())
    expected = stability(model, x, target, segments, samples=(50, 100), seeds=range(3), k=5,
                         hide=fill(x, "black", meta["mean"], meta["std"]))
    line = chart(at, "lime_stability")["data"][0]
    assert np.allclose(decode(line["y"]).astype(float), expected.agreement)


def test_a_long_run_waits_for_its_button_and_the_page_stays_usable(monkeypatch):
    monkeypatch.setattr(_forward.Plan, "estimate", lambda self, images: images * 0.01)  # a slow server
    at = run_page("digits", lime_method="grid", lime_segments=10, lime_samples=500)
    assert any("press the button" in i.value for i in at.info)
    assert [b for b in at.button if b.key == "lime_samples_run"]
    at.slider(key="lime_segments").set_value(14).run()  # the first step still works
    assert not at.exception and chart(at, "lime_superpixels")
    [b for b in at.button if b.key == "lime_samples_run"][0].click().run()
    assert not at.exception and shown_metrics(at)["R² (weighted)"]
    assert not [b for b in at.button if b.key == "lime_samples_stop"]


def test_top_k_title_and_picture_show_what_was_computed():
    """One k for the box, the outlined bars, the picture and its title (issue 25: the box read 1
    beside "Top 5 superpixels")."""
    at = run_page("digits", lime_method="grid", lime_segments=16, lime_samples=100, lime_k=1, lime_sign="both")
    assert at.number_input(key="lime_k").value == 1
    assert chart(at, "lime_explanation")["layout"]["title"]["text"] == "Top 1 superpixel"
    bars = chart(at, "lime_coefficients")["data"][0]
    outlined = [c for c in bars["marker"]["line"]["color"] if c != "rgba(0,0,0,0)"]
    assert len(outlined) == 1
    at.number_input(key="lime_k").set_value(4).run()
    assert chart(at, "lime_explanation")["layout"]["title"]["text"] == "Top 4 superpixels"


def test_fewer_superpixels_than_asked_say_so():
    from pages.lime import top_title

    assert top_title(5, 5) == "Top 5 superpixels" and top_title(1, 1) == "Top 1 superpixel"
    assert top_title(3, 5) == "3 superpixels (of the top 5 asked)"


def test_figures_follow_the_app_style():
    from test_figure_style import _font_sizes, _shown_colorbars, title_clear_of_toolbar

    at = run_page("shapes", lime_samples=100, lime_stability_on=True, lime_seeds=2, lime_counts=[50])
    for key in ("lime_superpixels", "lime_coefficients", "lime_explanation", "lime_stability"):
        spec = chart(at, key)
        assert spec["layout"]["template"]["layout"]["font"]["size"] == style.FONT_SIZE
        assert all(title for _, title in _shown_colorbars(spec)), key
        assert all(size >= style.MIN_FONT_SIZE for _, size in _font_sizes(spec)), key
        assert title_clear_of_toolbar(spec), key


# --- in a real browser: Stop during a long run ----------------------------------------------------

def test_stop_during_a_long_run_leaves_the_page_usable():
    """Start a long stability run (8 seeds × 10,000 samples), press Stop while its
    progress bar moves: the run ends, no error shows, and the page still answers its widgets."""
    import os
    import shutil
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    from _chromium import settle as settle_runs, watch_runs
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.address", "127.0.0.1", "--server.port", str(port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, VIZCORE_LOG_COMPUTATIONS=""))
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.3)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            watch_runs(page)

            def settle():
                settle_runs(page, 120_000)

            # 8 seeds × 10,000 samples: seconds even on an idle server, so it waits for its button
            page.goto(f"{url}/lime?samples=100&stability=1&seeds=8&counts=10000")
            page.get_by_text("R² (weighted)").first.wait_for()
            settle()
            page.get_by_role("button", name="Run the seeds").click()
            page.locator('[data-testid="stProgress"]').first.wait_for()
            page.get_by_role("button", name="Stop").click()
            settle()
            assert not page.locator('[data-testid="stException"]').count()
            page.get_by_text("press the button to start it").first.wait_for()
            page.get_by_role("button", name="Run the seeds").wait_for()
            # the page still answers: another k redraws the surrogate's image
            page.get_by_label("Top k").fill("3")
            page.get_by_label("Top k").press("Enter")
            settle()
            page.get_by_text("Top 3 superpixels").first.wait_for()
            assert not page.locator('[data-testid="stException"]').count()
            # Plotly's toolbar sits clear of the chart's title (issue 25: its icons sat on
            # "What each superpixel adds to p(…)"); the hover shows the toolbar.
            plot = page.locator(".js-plotly-plot", has_text="What each superpixel adds").first
            plot.hover()
            toolbar, title = plot.locator(".modebar").bounding_box(), plot.locator(".gtitle").bounding_box()
            assert toolbar and title and toolbar["width"] > 0 and title["width"] > 0
            assert title["y"] >= toolbar["y"] + toolbar["height"], (toolbar, title)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_superpixel_count_survives_another_model():
    at = run_page("digits", lime_segments=30, lime_samples=50)
    at.selectbox(key="lime_model").set_value("shapes (pretrained)").run()
    assert at.slider(key="lime_segments").value == 30 and not at.exception
