"""The real app in headless Chromium: a fresh `streamlit run app.py`, driven like a user.

Uses Debian's chromium (never a downloaded browser) through Playwright. Every request the page
makes to a non-loopback address is blocked and recorded: the app must work offline.
Set SCREENSHOT_DIR to keep screenshots of what the browser showed.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import _chromium
from _chromium import CHROMIUM, new_page, streamlit_server
TIMEOUT_MS = 60_000

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        pytest.fail("Debian's chromium is missing (.ci/run installs it)", pytrace=False)
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server():
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def outside_requests():
    return []


@pytest.fixture
def page(browser, outside_requests):
    context, page = new_page(browser, 1400, 1000, outside=outside_requests, timeout_ms=TIMEOUT_MS)
    yield page
    context.close()


def settle(page) -> None:
    """Wait until the server ended the runs the last action asked for and the page drew them."""
    _chromium.settle(page, TIMEOUT_MS)


def shot(page, name: str) -> None:
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_cold_deep_link_renders_the_page(server, page):
    """The first request on a fresh server is a deep link: it must render inside the app's navigation."""
    page.goto(f"{server}/kernel_playground")
    page.get_by_role("heading", name="Kernel playground").wait_for()
    settle(page)
    shot(page, "cold_deep_link")
    body = page.inner_text("body")
    assert "Page not found" not in body
    nav = page.get_by_test_id("stSidebarNav").inner_text()
    assert "Home" in nav and "Convolution basics" in nav
    assert "_ui" not in nav and "catalog" not in nav  # no legacy pages/ listing
    from pages._catalog import PAGES

    # every page listed at 1280×720, none folded away behind "View N more"
    assert all(p.title in nav for p in PAGES) and " more" not in nav, nav


def test_home_lists_pages_and_links_work(server, page):
    page.goto(server)
    page.get_by_role("heading", name="Seeing convolutions").wait_for()
    settle(page)
    shot(page, "home")
    page.get_by_test_id("stMain").get_by_role("link", name="Kernel playground").click()
    page.get_by_role("heading", name="Kernel playground").wait_for()


def photo_bytes() -> bytes:
    rng = np.random.default_rng(3)
    rows, cols = np.mgrid[0:300, 0:400]
    arr = np.stack([(cols * 0.6) % 256, (rows * 0.8) % 256, rng.integers(0, 256, (300, 400))], axis=2)
    arr[100:200, 150:250] = 255  # a bright square: strong edges
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def output_chart(page):
    """The filtered result: a still picture first on the page (the interactive chart sits in an
    expander under it, so the first picture does not wait for Plotly)."""
    return page.get_by_test_id("stImage").filter(has_text="Output").first


def test_upload_a_photo_and_switch_the_kernel(server, page, tmp_path):
    """A student uploads a photo, sees a filter response, picks another kernel: the output changes."""
    photo = tmp_path / "my_photo.jpg"
    photo.write_bytes(photo_bytes())
    page.goto(f"{server}/kernel_playground")
    page.get_by_role("heading", name="Kernel playground").wait_for()
    settle(page)
    main = page.get_by_test_id("stMain")
    main.get_by_text("Upload", exact=True).click()
    settle(page)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(photo))
    settle(page)
    assert "my_photo.jpg" in main.inner_text()
    chart = output_chart(page)
    chart.wait_for()
    before = chart.screenshot()
    shot(page, "playground_upload")

    preset = page.get_by_test_id("stSidebar").get_by_role("combobox", name="Preset")
    preset.click()
    page.get_by_role("option", name="Gaussian blur").click()
    page.wait_for_url("**preset=Gaussian*")  # the view is in the link a lecturer can copy
    settle(page)
    after = output_chart(page).screenshot()
    shot(page, "playground_gaussian")
    assert before != after
    assert not page.get_by_test_id("stException").count()


def test_draw_a_digit_on_the_canvas_and_the_model_reads_it(server, page):
    """Feature maps, Draw, Freehand: a stroke drawn with the mouse becomes the model's input, and
    the digits model reads the "1"."""
    page.goto(f"{server}/feature_maps?input=Draw")
    page.get_by_text("Draw on the black square").wait_for()
    settle(page)
    canvas = page.locator('[data-testid="stMain"] canvas').last  # Fabric's top canvas takes the mouse
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box and box["width"] >= 200
    page.mouse.move(box["x"] + 140, box["y"] + 40)
    page.mouse.down()
    for y in range(50, 250, 10):  # a "1": one vertical stroke down the middle
        page.mouse.move(box["x"] + 140, box["y"] + y, steps=2)
    page.mouse.up()
    page.get_by_text("Draw on the black square").wait_for(state="detached")
    settle(page)
    # The preprocessing steps are in an expander under the whole-network strip (issue 25: the
    # picture and its maps first): open it as a student would.
    page.get_by_text("On its way into the model", exact=False).first.click()
    page.get_by_text("Stroke weight like the data").first.wait_for()
    shot(page, "feature_maps_freehand")
    body = page.inner_text('[data-testid="stMain"]')
    assert "Your drawing" in body  # the drawing is on its way into the model
    assert "Stroke weight like the data" in body  # made to look like the digits data first (issue 17)
    assert "Traceback" not in body
    assert "only knows" not in body  # a hand-drawn digit is what the digits model knows
    predicted = page.locator('[data-testid="stMetric"]').filter(has_text="Predicted class")
    assert predicted.locator('[data-testid="stMetricValue"]').inner_text().strip() == "1", body


def test_no_request_leaves_the_machine(outside_requests):
    """Runs after the page tests (file order): no fonts, icons or scripts from the internet."""
    assert outside_requests == []

