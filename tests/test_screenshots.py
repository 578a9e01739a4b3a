"""Every registered page in Chromium at a projector's 1280×720: it renders without an error, its
title shows, and no text in any chart is smaller than the back row can read; with the Presenter
switch on (presenter=1) the chart text is larger still.

Set SCREENSHOT_DIR to keep a full-page screenshot of each page (and look at them).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pages._catalog import PAGES
from vizcore.figures import style

from _chromium import ARGS, CHROMIUM, offline, streamlit_server
TIMEOUT_MS = 90_000
SETTLE_S = 25  # a page still busy after this (a long explanation run) is judged as it is then

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        pytest.fail("Debian's chromium is missing (.ci/run installs it)", pytrace=False)
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")

# The smallest font size of any SVG text inside the page's Plotly charts, in CSS pixels.
SMALLEST_CHART_TEXT = """() => {
  let smallest = Infinity, count = 0;
  for (const t of document.querySelectorAll('[data-testid="stPlotlyChart"] svg text')) {
    if (!t.textContent.trim() || t.getBBox().width === 0) continue;
    const size = parseFloat(getComputedStyle(t).fontSize);
    if (size) { smallest = Math.min(smallest, size); count += 1; }
  }
  return [smallest, count];
}"""


@pytest.fixture(scope="module")
def server():
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        context.route("**/*", offline())
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        yield page
        browser.close()


SNAPSHOT = """() => [document.querySelector('[data-testid="stMain"]')?.innerText.length,
    document.querySelectorAll('[data-testid="stPlotlyChart"] svg.main-svg').length,
    document.querySelectorAll('[data-testid="stSkeleton"], [data-testid="stSpinner"]').length]"""


# Chart titles that run past their chart's right edge (Plotly cuts them off), as text.
CLIPPED_TITLES = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"] svg.main-svg')]
  .flatMap(svg => [...svg.querySelectorAll('text.gtitle')].filter(t => t.textContent.trim())
    .filter(t => t.getBoundingClientRect().right > svg.getBoundingClientRect().right + 1)
    .map(t => t.textContent))"""


def settle(page) -> None:
    """Wait until the page stops changing (the run finished, every chart drawn): the status
    widget is hidden by the shipped toolbar setting, so it cannot tell."""
    last, same, deadline = None, 0, time.time() + SETTLE_S
    while time.time() < deadline and same < 3:
        page.wait_for_timeout(400)
        now = page.evaluate(SNAPSHOT)
        same = same + 1 if now == last and not now[2] else 0
        last = now


FULL_HEIGHT = """() => Math.max(...[...document.querySelectorAll('[data-testid="stMain"], section, div')]
    .filter(e => e.scrollHeight > e.clientHeight + 5 && getComputedStyle(e).overflowY !== 'visible')
    .map(e => e.scrollHeight), document.documentElement.scrollHeight)"""


def shot(page, name: str) -> None:
    """What the projector shows first (name_fold.png) and the whole page (name.png): Streamlit
    scrolls inside its main block, so the window is made as tall as the page for the latter."""
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}_fold.png"))
        height = min(int(page.evaluate(FULL_HEIGHT)) + 40, 12_000)
        page.set_viewport_size({"width": 1280, "height": height})
        page.wait_for_timeout(800)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))
        page.set_viewport_size({"width": 1280, "height": 720})
        page.wait_for_timeout(300)


def url_path(page_path: str) -> str:
    return Path(page_path).stem


@pytest.mark.parametrize("info", PAGES, ids=lambda p: url_path(p.path))
def test_page_reads_at_1280x720(server, page, info):
    page.goto(f"{server}/{url_path(info.path)}")
    page.get_by_test_id("stMain").locator("h1").first.wait_for()
    settle(page)
    shot(page, url_path(info.path))
    body = page.inner_text("body")
    assert "Page not found" not in body
    assert not page.get_by_test_id("stException").count()
    assert info.title.split()[0].lower() in page.get_by_test_id("stMain").locator("h1").first.inner_text().lower()
    smallest, count = page.evaluate(SMALLEST_CHART_TEXT)
    if count:
        assert smallest >= style.MIN_FONT_SIZE, f"{info.title}: chart text of {smallest}px"
    assert page.evaluate(CLIPPED_TITLES) == [], f"{info.title}: chart titles cut off"
    # the page fits the projector's width: no sideways scrolling
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280 + 1
    # and in Presenter mode (larger fonts) the titles still fit
    page.goto(f"{server}/{url_path(info.path)}?presenter=1")
    page.get_by_test_id("stMain").locator("h1").first.wait_for()
    settle(page)
    assert page.evaluate(CLIPPED_TITLES) == [], f"{info.title}, presenter: chart titles cut off"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280 + 1


def test_home_and_presenter_mode(server, page):
    page.goto(server)
    page.get_by_role("heading", name="Seeing convolutions").wait_for()
    settle(page)
    shot(page, "home")
    page.goto(f"{server}/pooling?presenter=1")
    page.get_by_test_id("stMain").locator("h1").first.wait_for()
    settle(page)
    shot(page, "pooling_presenter")
    smallest, count = page.evaluate(SMALLEST_CHART_TEXT)
    assert count and smallest >= round(style.MIN_FONT_SIZE * style.PRESENTER_SCALE) - 1
    assert "presenter=1" in page.url
    root = page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert root >= 20  # the page's own text is larger too
