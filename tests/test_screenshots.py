"""Every registered page in Chromium at a projector's 1280×720: it renders without an error, its
title shows, and no text in any chart is smaller than the back row can read; with the Presenter
switch on (presenter=1) the chart text is larger still. In both modes no two texts of a chart
overlap, none runs past its chart and no label is cut short with "…" (issue 17), also in a few
states the default pages do not show (STATES). Issue 25: a page's result is on the first screen
(FIRST_SCREEN), every text has a contrast of at least 4.5 : 1 with its background, and in
Presenter mode no text is smaller than 16 px.

Set SCREENSHOT_DIR to keep a full-page screenshot of each page (and look at them).
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from pages._catalog import PAGES
from vizcore.figures import style

import _chromium
from _chromium import ARGS, CHROMIUM, new_page, streamlit_server
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
def browser_and_page(server):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context, page = new_page(browser, 1280, 720, timeout_ms=TIMEOUT_MS)
        yield browser, page
        browser.close()


@pytest.fixture(scope="module")
def page(browser_and_page):
    return browser_and_page[1]


@pytest.fixture(scope="module")
def browser_for_phone(browser_and_page):
    """A phone's screen, 390×844, touch (its own session). Playwright's own user agent, a desktop
    browser's: Streamlit's own closing of the sidebar after a pick, which goes by a phone's user
    agent, does not apply, as in any narrow window that is not a phone's browser."""
    context, page = new_page(browser_and_page[0], 390, 844, timeout_ms=TIMEOUT_MS, is_mobile=True, has_touch=True)
    yield page
    context.close()


# Also where every chart title ends: under load Plotly lays a chart out again after a font change
# (Presenter mode), and a title measured before that looked cut off.
SNAPSHOT = """() => [document.querySelector('[data-testid="stMain"]')?.innerText.length,
    document.querySelectorAll('[data-testid="stPlotlyChart"] svg.main-svg').length,
    document.querySelectorAll('[data-testid="stSkeleton"], [data-testid="stSpinner"]').length,
    [...document.querySelectorAll('[data-testid="stPlotlyChart"] text.gtitle')]
      .map(t => Math.round(t.getBoundingClientRect().right)).join(',')]"""


# Chart titles that run past their chart's right edge (Plotly cuts them off), as text. A chart in
# a closed expander is not on screen: Plotly lays it out at a width it guessed and again when the
# expander opens (measured there, the playground's output title ran past 1 run in 7).
CLIPPED_TITLES = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"] svg.main-svg')]
  .filter(svg => !svg.closest('details:not([open])'))
  .flatMap(svg => [...svg.querySelectorAll('text.gtitle')].filter(t => t.textContent.trim())
    .filter(t => t.getBoundingClientRect().right > svg.getBoundingClientRect().right + 1)
    .map(t => t.textContent))"""


# Text in a chart that another text of the same chart covers, or that runs past the chart's box
# (cut off or spilling onto the page), as "chart k: what" lines. Hover labels are left out; two
# texts overlap when their boxes share more than 1 px across and 3 px down (neighbouring lines
# of a label may touch). A selector picks the charts (all by default).
CHART_TEXT_PROBLEMS = r"""(selector) => {
  const problems = [];
  const charts = [...document.querySelectorAll(selector || '[data-testid="stPlotlyChart"]')];
  charts.forEach((chart, k) => {  // text drawn fully transparent (the player's step labels) is not seen
    const box = chart.getBoundingClientRect();
    if (!box.width || !box.height) return;
    const texts = [...chart.querySelectorAll('svg text')]
      .filter(t => t.textContent.trim() && !t.closest('.hoverlayer') && getComputedStyle(t).visibility !== 'hidden'
                   && getComputedStyle(t).opacity !== '0' && getComputedStyle(t).fillOpacity !== '0' && !/rgba\(.*,\s*0\)$/.test(getComputedStyle(t).fill))
      .map(t => [t.textContent.trim(), t.getBoundingClientRect()])
      .filter(([_, r]) => r.width > 0 && r.height > 0);
    for (const [text, r] of texts) {
      const slack = 0.3 * r.height;  // a text's box holds room above and below its letters
      if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - slack || r.bottom > box.bottom + slack)
        problems.push(`chart ${k}: "${text}" runs past the chart`);
    }
    for (let i = 0; i < texts.length; i++) {
      for (let j = i + 1; j < texts.length; j++) {
        const [a, ra] = texts[i], [b, rb] = texts[j];
        const across = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
        const down = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
        if (across > 1 && down > 3) problems.push(`chart ${k}: "${a}" overlaps "${b}"`);
      }
    }
  });
  return problems.slice(0, 20);
}"""

# Chart text that Plotly clips to its subplot (a heatmap cell's number) wider than that subplot, so
# drawn cut short, as [text, its left and right, the subplot's], of the charts a selector finds:
# the feature maps' strip showed "100%" as "00%" on a phone.
CUT_BY_ITS_PLOT = r"""(selector) => [...document.querySelectorAll(selector)].flatMap(chart =>
  [...chart.querySelectorAll('svg text')].filter(t => t.textContent.trim() && t.closest('[clip-path]')).flatMap(t => {
    const holder = t.closest('[clip-path]');
    const id = (holder.getAttribute('clip-path').match(/#([^)'"]+)/) || [])[1];
    const clip = id && document.getElementById(id)?.firstElementChild;
    if (!clip || !clip.width) return [];
    const m = holder.getScreenCTM(), r = t.getBoundingClientRect();  // the clip's rectangle, on the screen
    const left = m.e + m.a * clip.x.baseVal.value, right = left + m.a * clip.width.baseVal.value;
    return r.width && (r.left < left - 1 || r.right > right + 1)
      ? [[t.textContent.trim(), Math.round(r.left), Math.round(r.right), Math.round(left), Math.round(right)]] : [];
  }))"""

# Page text that the browser cuts short with an ellipsis (a widget's label, a select box's value).
TRUNCATED_TEXT = """() => [...document.querySelectorAll('[data-testid="stMain"] *')]
  .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1 && e.textContent.trim()
               && getComputedStyle(e).textOverflow === 'ellipsis')
  .map(e => e.textContent.trim().slice(0, 80))"""


def settle(page) -> None:
    """Wait until the server ended the runs the last action asked for (its script_finished on
    the websocket), then until the page stops changing (every chart drawn)."""
    _chromium.settle(page, int(SETTLE_S * 1000))
    # A chart laid out before the page's font arrived is laid out again when it does (on a busy
    # machine the first page's chart titles were measured in the fallback font): wait for it.
    page.evaluate("() => document.fonts.ready.then(() => true)")
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


class Result(NamedTuple):
    """What a page shows as its result, to be seen on the projector's first screen (issue 25)."""
    what: str
    selector: str     # the element (a chart by its key, a metric)
    query: str = ""   # the page's address for the check (its normal-mode load)
    press: str = ""   # a button that makes the result, pressed after the page loaded


FIRST_SCREEN = {
    "kernel_playground": Result("the output size formula", ".st-key-kp_formula"),
    "shape_calculator": Result("the output shape", "[data-testid='stMetric']"),
    "pooling": Result("the pooled picture", ".st-key-pool_output_fig"),
    # The smallest run the page offers (200 digits, one epoch, no lecture pace): a few seconds.
    "training": Result("the learning curves", ".st-key-train_curves", "n=200&epochs=1&pace=as+fast+as+it+can", "Train"),
    "feature_maps": Result("the picture and its feature maps", ".st-key-fm_overview"),
    "saliency": Result("the picture and its first map", ".st-key-sal_fig_grad"),
}

# The top and bottom of every element a selector finds, in CSS pixels from the window's top.
BOXES = """(selector) => [...document.querySelectorAll(selector)].map(e => e.getBoundingClientRect())
    .filter(r => r.height > 0).map(r => [Math.round(r.top), Math.round(r.bottom)])"""


def result_below_the_fold(page, name: str) -> list[str]:
    """The page's result (FIRST_SCREEN) with at least half of its height on the first screen."""
    result = FIRST_SCREEN.get(name)
    if result is None:
        return []
    boxes = page.evaluate(BOXES, result.selector)
    if not boxes:
        return [f"{result.what} ({result.selector}) is not on the page"]
    (top, bottom), height = boxes[0], page.viewport_size["height"]
    if min(bottom, height) - top < (bottom - top) / 2:
        return [f"{result.what} spans {top}–{bottom} px: less than half of it on the first {height} px"]
    return []


@pytest.mark.parametrize("info", PAGES, ids=lambda p: url_path(p.path))
def test_page_reads_at_1280x720(server, page, info):
    result = FIRST_SCREEN.get(url_path(info.path))
    page.goto(f"{server}/{url_path(info.path)}" + (f"?{result.query}" if result and result.query else ""))
    page.get_by_test_id("stMain").locator("h1").first.wait_for()
    settle(page)
    if result and result.press:
        page.get_by_test_id("stMain").get_by_role("button", name=result.press, exact=True).click()
        settle(page)
    shot(page, url_path(info.path))
    body = page.inner_text("body")
    assert "Page not found" not in body
    assert not page.get_by_test_id("stException").count()
    assert info.title.split()[0].lower() in page.get_by_test_id("stMain").locator("h1").first.inner_text().lower()
    smallest, count = page.evaluate(SMALLEST_CHART_TEXT)
    if count:
        assert smallest >= style.MIN_FONT_SIZE, f"{info.title}: chart text of {smallest}px"
    clipped = page.evaluate(CLIPPED_TITLES)
    assert clipped == [], f"{info.title}: chart titles cut off: {clipped}"
    # the page fits the projector's width: no sideways scrolling
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280 + 1
    problems = (readability_problems(page, url_path(info.path)) + sidebar_below_the_fold(page)
                + result_below_the_fold(page, url_path(info.path)) + low_contrast(page))
    # and in Presenter mode (larger fonts) the titles still fit
    page.goto(f"{server}/{url_path(info.path)}?presenter=1")
    page.get_by_test_id("stMain").locator("h1").first.wait_for()
    settle(page)
    shot(page, url_path(info.path) + "_presenter")
    assert page.evaluate(CLIPPED_TITLES) == [], f"{info.title}, presenter: chart titles cut off"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280 + 1
    problems += [f"presenter: {p}" for p in readability_problems(page, url_path(info.path)) + sidebar_below_the_fold(page)
                 + low_contrast(page) + small_text(page)]
    assert not problems, f"{info.title}: " + "; ".join(problems)


# Every element in the page or the sidebar that shows text (each once), as visibleTexts() returns
# them: on screen or below it, not hidden, not fully transparent, not a disabled control (WCAG
# leaves inactive controls out) and not an icon drawn from a font's ligature.
VISIBLE_TEXTS = """
const effectiveOpacity = e => { let o = 1; for (let n = e; n; n = n.parentElement) o *= parseFloat(getComputedStyle(n).opacity); return o; };
const visibleTexts = () => {
  const found = new Set();
  for (const root of document.querySelectorAll('[data-testid="stMain"], [data-testid="stSidebar"]')) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const e = walker.currentNode.parentElement;
      if (!walker.currentNode.textContent.trim() || found.has(e)) continue;
      if (e.closest('[disabled], [aria-disabled="true"], [data-testid="stIconMaterial"], .hoverlayer')
          || e.closest('label')?.control?.disabled) continue;  // a disabled switch's own label
      const r = e.getBoundingClientRect(), style = getComputedStyle(e);
      if (!r.width || !r.height || style.visibility === 'hidden' || !effectiveOpacity(e)) continue;
      if (e.closest('svg') && (style.fillOpacity === '0' || /rgba\\(.*,\\s*0\\)$/.test(style.fill))) continue;
      found.add(e);
    }
  }
  return [...found];
};
"""

# HTML text whose contrast with the background it is drawn on is below 4.5 : 1 (WCAG 2's ratio
# of relative luminances), as 'ratio "text" (colour on background)'. The background: the
# element's and its ancestors' background colours laid over one another down to the first opaque
# one (white where none is); an ancestor smaller than the text is not behind it (a slider's
# value sits above its red thumb). Chart text (SVG) is left out: its colours are the figures' own.
LOW_CONTRAST = "() => {" + VISIBLE_TEXTS + """
  const canvas = document.createElement('canvas').getContext('2d');
  const rgba = colour => {  // any CSS colour as [r, g, b, alpha] through the canvas's own parser
    canvas.fillStyle = '#000'; canvas.fillStyle = colour;
    const c = canvas.fillStyle;
    if (c[0] === '#') return [parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16), 1];
    const [r, g, b, a] = c.match(/[\\d.]+/g).map(Number);
    return [r, g, b, a ?? 1];
  };
  const over = ([r, g, b, a], under) => [r, g, b].map((v, i) => a * v + (1 - a) * under[i]);
  const luminance = rgb => { const [r, g, b] = rgb.map(v => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const found = [];
  for (const e of visibleTexts()) {
    if (e.closest('svg')) continue;
    const layers = [], box = e.getBoundingClientRect();
    for (let n = e; n; n = n.parentElement) {
      const c = rgba(getComputedStyle(n).backgroundColor), r = n.getBoundingClientRect();
      const behind = n === e || (r.left <= box.left + 1 && r.right >= box.right - 1 && r.top <= box.top + 1 && r.bottom >= box.bottom - 1);
      if (c[3] > 0 && behind) layers.push(c);
      if (c[3] === 1 && behind) break;
    }
    const background = layers.reverse().reduce((under, layer) => over(layer, under), [255, 255, 255]);
    const colour = rgba(getComputedStyle(e).color);
    colour[3] *= effectiveOpacity(e);
    const [a, b] = [luminance(over(colour, background)), luminance(background)];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) found.push(`${ratio.toFixed(2)} "${e.textContent.trim().slice(0, 50)}" (${getComputedStyle(e).color} on rgb(${background.map(Math.round)}))`);
  }
  return [...new Set(found)];
}"""

# Text smaller than 16 px, the page's and the charts', as 'size "text"'.
SMALL_TEXT = "() => {" + VISIBLE_TEXTS + """
  return [...new Set(visibleTexts().filter(e => parseFloat(getComputedStyle(e).fontSize) < 16)
    .map(e => `${getComputedStyle(e).fontSize} "${e.textContent.trim().slice(0, 50)}"`))];
}"""


def low_contrast(page) -> list[str]:
    """Issue 25, the back row: every text at least 4.5 : 1 against its background."""
    return [f"contrast {t}" for t in page.evaluate(LOW_CONTRAST)[:15]]


def small_text(page) -> list[str]:
    """Issue 25: in Presenter mode no text smaller than 16 px."""
    return [f"text of {t}" for t in page.evaluate(SMALL_TEXT)[:15]]


def sidebar_below_the_fold(page) -> list[str]:
    """Issue 25: the Presenter switch and a sidebar "Copy link" box are on the first screen (a
    newcomer never scrolled the sidebar to find them)."""
    height = page.viewport_size["height"]
    side = page.get_by_test_id("stSidebar")
    found = []
    for label in ("Presenter", "Copy link"):
        element = side.get_by_text(label, exact=True)
        if element.count():
            box = element.first.bounding_box()
            if box is None or box["y"] + box["height"] > height:
                found.append(f"the sidebar's {label} is below the first screen ({box and round(box['y'] + box['height'])} px)")
    return found


def title_hidden_or_sideways_scroll(page, url: str) -> list[str]:
    """Open a page: its title must start below Streamlit's top bar (opaque wherever the sidebar is
    folded away) and the page must not scroll sideways."""
    page.goto(url)
    title = page.get_by_test_id("stMain").locator("h1").first
    title.wait_for()
    settle(page)
    bar, box = page.get_by_test_id("stHeader").bounding_box(), title.bounding_box()
    width, scroll = page.viewport_size["width"], page.evaluate("document.documentElement.scrollWidth")
    return ([f"the title starts under the top bar ({box['y']:.0f} < {bar['y'] + bar['height']:.0f} px)"]
            if box["y"] < bar["y"] + bar["height"] - 1 else []) + \
        ([f"the page scrolls sideways ({scroll} px wide in a {width}-px window)"] if scroll > width + 1 else [])


@pytest.mark.parametrize("info", PAGES, ids=lambda p: url_path(p.path))
def test_a_phones_first_screen_shows_the_title(server, browser_for_phone, info):
    """Issue 25: at 390×844 every page's title starts below Streamlit's top bar (it was hidden
    under it), and the page never scrolls sideways."""
    problems = title_hidden_or_sideways_scroll(browser_for_phone, f"{server}/{url_path(info.path)}")
    assert not problems, f"{info.title}: {problems}"


@pytest.fixture(scope="module")
def narrow_page(browser_and_page):
    """Half a laptop's screen or a tablet (a window of its own, its size set by each test)."""
    context, page = new_page(browser_and_page[0], 640, 800, timeout_ms=TIMEOUT_MS)
    yield page
    context.close()


# The pages that put the most side by side at these widths (Streamlit keeps columns from 640 px
# up): the home page's rows of four cards, the playground's view and formula over two pictures,
# Feature maps' strip (laid out anew below 700 px) and Explanation scores' four controls in a row.
# The others stack less. All 14 pages at both sizes passed when this was written (2.3 s a page);
# the phone test opens them all, and the top bar's rule is one rule for every page.
NARROW_PAGES = ["", "kernel_playground", "feature_maps", "explanation_scores"]


@pytest.mark.parametrize("size", [(640, 800), (768, 1024)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("path", NARROW_PAGES, ids=lambda p: p or "home")
def test_half_a_screen_or_a_tablet_shows_the_title_and_never_scrolls_sideways(server, narrow_page, size, path):
    """Issue 25: from 640 to 768 px wide Streamlit folds the sidebar away and its top bar covered
    the title (up to 768 px; the phone's rule stopped at 640), while columns stay side by side."""
    narrow_page.set_viewport_size({"width": size[0], "height": size[1]})
    problems = title_hidden_or_sideways_scroll(narrow_page, f"{server}/{path}")
    assert not problems, f"{path or 'home'}: {problems}"


# The tops and bottoms of the pictures a selector finds: any image or chart of the page, or
# Saliency's maps (each drawn over the picture).
PICTURES = """selector => [...document.querySelectorAll(selector)]
    .map(e => e.getBoundingClientRect()).filter(r => r.width > 20 && r.height > 20).map(r => [r.top, r.bottom])"""
ANY_PICTURE = '[data-testid="stMain"] img, [data-testid="stMain"] [data-testid="stPlotlyChart"]'
SALIENCY_MAP = '[data-testid="stMain"] [class*="st-key-sal_fig_"] [data-testid="stPlotlyChart"]'


def first_screen(page) -> tuple[float, float]:
    """The part of the page a phone shows before any scroll: below the top bar, above the screen's end."""
    bar = page.get_by_test_id("stHeader").bounding_box()
    return bar["y"] + bar["height"] - 1, page.viewport_size["height"]


def pictures_on_first_screen(page, selector: str = ANY_PICTURE) -> list:
    top, bottom = first_screen(page)
    return [box for box in page.evaluate(PICTURES, selector) if box[0] >= top and box[1] <= bottom]


def test_a_phone_closes_the_sidebar_after_a_pick(server, browser_for_phone):
    """Issue 25: a page picked in the sidebar's list on a phone closes the sidebar (it stayed open
    over 80 % of the screen), and Feature maps then shows a picture on the first screen."""
    page = browser_for_phone
    page.goto(server)
    page.get_by_role("heading", name="Seeing convolutions").wait_for()
    settle(page)
    sidebar = page.get_by_test_id("stSidebar")
    page.get_by_test_id("stExpandSidebarButton").tap()
    sidebar.get_by_role("link", name="Feature maps").tap()
    page.get_by_test_id("stMain").get_by_role("heading", name="Feature maps: inside a CNN").wait_for()
    settle(page)
    assert sidebar.get_attribute("data-collapsed") == "true"
    # the middle of the screen is the page's, not the sidebar's (its closing slide has ended)
    page.wait_for_function("""() => document.elementFromPoint(innerWidth / 2, innerHeight / 2)
        .closest('[data-testid="stMain"]') !== null""", timeout=5_000)
    assert pictures_on_first_screen(page), \
        f"Feature maps: no picture on the first screen: {page.evaluate(PICTURES, ANY_PICTURE)}"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1


FEATURE_STRIP = '.st-key-fm_strips [data-testid="stPlotlyChart"]'  # the whole network, left to right


def test_a_phones_feature_map_strip_reads(server, browser_for_phone):
    """Issue 25: at 390×844, in both modes, the whole-network strip of Feature maps shows its
    column titles and class percentages apart, none past the strip and none cut short (laid out
    for a projector's 700 px, titles ran into each other and "100%" lost its "1")."""
    page = browser_for_phone
    problems = []
    for mode in ("", "?presenter=1"):
        page.goto(f"{server}/feature_maps{mode}")
        page.get_by_test_id("stMain").locator("h1").first.wait_for()
        settle(page)
        assert page.evaluate(PICTURES, FEATURE_STRIP), f"feature_maps{mode}: no strip on the phone"
        found = page.evaluate(CHART_TEXT_PROBLEMS, FEATURE_STRIP) + page.evaluate(CUT_BY_ITS_PLOT, FEATURE_STRIP)
        problems += [f"{mode or 'normal'}: {p}" for p in found]
        assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    assert not problems, "; ".join(map(str, problems))


@pytest.mark.parametrize("name", ["saliency", "quiz"])
def test_a_phones_first_screen_shows_the_result(server, browser_for_phone, name):
    """Issue 25: on a phone Saliency opens on its picture with the first map, the quiz on its
    question, not on a screenful of text and controls."""
    page = browser_for_phone
    page.goto(f"{server}/{name}")
    page.get_by_test_id("stMain").locator("h1").first.wait_for()
    settle(page)
    top, bottom = first_screen(page)
    if name == "quiz":
        main = page.get_by_test_id("stMain")
        heading = main.get_by_role("heading", name=re.compile(r"^Question \d+")).bounding_box()
        answer = main.get_by_role("textbox", name=re.compile("^Your answer")).bounding_box()
        assert heading["y"] >= top and answer["y"] + answer["height"] <= bottom, \
            f"the question runs from {heading['y']:.0f} to {answer['y'] + answer['height']:.0f} px"
    else:  # a map, drawn over the picture: the first map and the picture together
        assert pictures_on_first_screen(page, SALIENCY_MAP), \
            f"Saliency: no map on the first screen: {page.evaluate(PICTURES, SALIENCY_MAP)}"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1


# Problems this check finds that issue 17 did not take on, by page and text: each one a known,
# separate fix (see the report of branch readable-figures); the list only ever shrinks.
# Most are a vertical colour bar whose top tick label touches the bar's title ("5" / "value").
KNOWN = {}

# States the default pages do not show, where issue 17 found text running together.
STATES = {
    "kernel 5x5": "kernel_playground?preset=Gaussian+blur&op=convolution",
    "64x64 model, photo": "feature_maps?model=scenes+(pretrained)&input=Photo+(sample,+upload+or+camera)",
    "digits, photo": "feature_maps?model=digits+(pretrained)&input=Photo+(sample,+upload+or+camera)",
    "architectures, going deeper": "architectures?tab=Going+deeper&highway=1",
}


def readability_problems(page, name: str) -> list[str]:
    """Overlapping or clipped chart text and labels cut short, less the known ones."""
    found = page.evaluate(CHART_TEXT_PROBLEMS) + [f"cut short: {t}" for t in page.evaluate(TRUNCATED_TEXT)]
    known = KNOWN.get(name, ())
    return [p for p in found if not any(k in p for k in known)]


@pytest.mark.parametrize("state", list(STATES))
def test_text_never_runs_together(server, page, state):
    """Issue 17: at 1280×720, in both modes, no two texts of a chart overlap, none runs past its
    chart and no label is cut short, also in these states."""
    problems = []
    for mode in ("", "&presenter=1"):
        page.goto(f"{server}/{STATES[state]}{mode}")
        page.get_by_test_id("stMain").locator("h1").first.wait_for()
        settle(page)
        shot(page, state.replace(" ", "_").replace(",", "") + ("_presenter" if mode else ""))
        problems += [f"{mode or 'normal'}: {p}" for p in readability_problems(page, state)]
    assert not problems, "; ".join(problems)


def pictures_mostly_on_first_screen(page) -> list:
    """The page's pictures (images and charts) with at least half of their height on the first screen."""
    height = page.viewport_size["height"]
    return [(top, bottom) for top, bottom in page.evaluate(PICTURES, ANY_PICTURE)
            if min(bottom, height) - max(top, 0) >= (bottom - top) / 2]


def test_home_and_presenter_mode(server, page):
    """Issue 25: the home page's first screen shows what the app does in pictures (a card's
    picture per page: at least four on the projector's first 720 px, in both modes), readable
    from the back row; and Presenter mode makes every text larger."""
    problems = []
    for mode in ("", "?presenter=1"):
        page.goto(f"{server}/{mode}")
        page.get_by_role("heading", name="Seeing convolutions").wait_for()
        settle(page)
        shot(page, "home" + ("_presenter" if mode else ""))
        shown = pictures_mostly_on_first_screen(page)
        assert len(shown) >= 4, f"home{mode}: {len(shown)} pictures on the first screen: {page.evaluate(PICTURES, ANY_PICTURE)}"
        found = readability_problems(page, "home") + low_contrast(page) + sidebar_below_the_fold(page)
        problems += [f"home{mode}: {p}" for p in found + (small_text(page) if mode else [])]
    assert not problems, "; ".join(problems)
    page.goto(f"{server}/pooling?presenter=1")
    page.get_by_test_id("stMain").locator("h1").first.wait_for()
    settle(page)
    shot(page, "pooling_presenter")
    smallest, count = page.evaluate(SMALLEST_CHART_TEXT)
    assert count and smallest >= round(style.MIN_FONT_SIZE * style.PRESENTER_SCALE) - 1
    assert "presenter=1" in page.url
    root = page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert root >= 20  # the page's own text is larger too
