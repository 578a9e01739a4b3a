"""The drawing canvas (pages/_canvas.py, issue 12) in headless Chromium, offline.

A tiny Streamlit script shows ``draw_canvas`` and writes what it returned; Playwright draws a
stroke with the mouse and reads the numbers back from the page. Uses Debian's chromium (never
a downloaded browser); every request to a non-loopback address is blocked and recorded.
Skips cleanly when streamlit-drawable-canvas, Playwright or chromium is missing (in CI too,
unless requirements.txt names the component: then a missing one fails).
Set SCREENSHOT_DIR to keep screenshots.
"""
from __future__ import annotations

import importlib.util
import os
import re
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from pages import _canvas

from _chromium import ROOT, offline, settle, streamlit_server, watch_runs
TIMEOUT_MS = 60_000
SIDE = 280  # the canvas, in CSS pixels


def _component_listed() -> bool:
    return "streamlit-drawable-canvas" in (ROOT / "requirements.txt").read_text().lower()


def _need_component() -> None:
    if importlib.util.find_spec(_canvas.PACKAGE) is None:
        if os.environ.get("CI") and _component_listed():
            pytest.fail("requirements.txt names streamlit-drawable-canvas but it is not installed", pytrace=False)
        pytest.skip("streamlit-drawable-canvas is not installed")


# --- the wrapper's arithmetic (no browser) ------------------------------------------------------

def test_ink_reads_white_strokes_on_black_and_ignores_transparent_pixels():
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[1, 2] = (255, 255, 255, 255)
    rgba[0, 0] = (255, 255, 255, 0)  # transparent: no ink
    rgba[2, 1] = (128, 128, 128, 255)
    out = _canvas.ink(rgba)
    assert out.shape == (3, 4) and out.dtype == np.float32
    assert out[1, 2] == 1 and out[0, 0] == 0 and out[2, 1] == pytest.approx(128 / 255)
    assert out.sum() == pytest.approx(1 + 128 / 255)
    with pytest.raises(ValueError):
        _canvas.ink(np.zeros((2, 2, 5)))


def test_to_grid_averages_every_canvas_pixel_once():
    ink = np.zeros((280, 280), np.float32)
    ink[:, 130:150] = 1  # a vertical bar two grid cells wide
    grid = _canvas.to_grid(ink, 28, 28)
    assert grid.shape == (28, 28)
    assert np.allclose(grid[:, 13:15], 1) and np.allclose(np.delete(grid, [13, 14], axis=1), 0)
    assert grid.sum() * 100 == pytest.approx(ink.sum())  # mass kept: each cell is a 10x10 mean
    eight = _canvas.to_grid(ink, 8, 8)  # not a whole multiple: still a mean, still in [0, 1]
    assert eight.shape == (8, 8) and 0 <= eight.min() and eight.max() <= 1
    assert eight.sum() * (280 / 8) ** 2 == pytest.approx(ink.sum(), rel=1e-3)


def test_missing_component_is_reported_not_crashed(monkeypatch):
    monkeypatch.setitem(sys.modules, _canvas.PACKAGE, None)  # makes the import fail
    assert _canvas.available() is False
    with pytest.raises(_canvas.CanvasUnavailable):
        _canvas.draw_canvas("k", 100, 100)


# --- in the browser ----------------------------------------------------------------------------

SCRIPT = textwrap.dedent(f"""
    import sys
    sys.path.insert(0, {str(ROOT)!r})
    import numpy as np
    import streamlit as st
    from pages import _canvas

    st.button("Rerun")
    ink = _canvas.draw_canvas("digit", {SIDE}, {SIDE})
    if ink is None:
        st.write("INK none")
    else:
        grid = _canvas.to_grid(ink, 28, 28)
        rows, cols = np.nonzero(grid > 0.25)
        where = f"rows={{rows.min()}}-{{rows.max()}} cols={{cols.min()}}-{{cols.max()}}" if rows.size else "empty"
        st.write(f"INK shape={{ink.shape}} dtype={{ink.dtype}} max={{ink.max():.2f}} "
                 f"sum={{ink.sum():.1f}} {{where}}")
""")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _need_component()
    script = tmp_path_factory.mktemp("canvas") / "canvas_app.py"
    script.write_text(SCRIPT)
    with streamlit_server(script) as url:  # run from the project root: its config applies
        yield url


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    outside, problems = [], []

    context.route("**/*", offline(outside))
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    watch_runs(page)
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    yield page
    context.close()
    assert outside == [], f"requests left the machine: {outside}"
    assert problems == [], f"browser console errors: {problems}"


def shot(page, name: str) -> None:
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def ink_text(page) -> str:
    return page.get_by_text("INK").first.inner_text()


def wait_for_ink(page, predicate, what: str) -> str:
    deadline = time.time() + 30
    text = ink_text(page)
    while time.time() < deadline:
        text = ink_text(page)
        if predicate(text):
            return text
        page.wait_for_timeout(200)
    pytest.fail(f"the page never showed {what}; it shows {text!r}")


def ink_sum(text: str) -> float:
    match = re.search(r"sum=([\d.]+)", text)
    return float(match.group(1)) if match else -1.0


def stroke(page, box, points) -> None:
    page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=3)
    page.mouse.up()


def test_a_drawn_stroke_reaches_the_page_where_it_was_drawn(server, page):
    started = time.time()
    page.goto(server)
    page.get_by_text("INK none").wait_for()  # nothing drawn yet: draw_canvas returned None
    canvas = page.locator("canvas").last  # Fabric's top canvas takes the mouse
    canvas.wait_for(state="visible")
    appeared = time.time() - started
    box = canvas.bounding_box()
    assert box["width"] == pytest.approx(SIDE, abs=1) and box["height"] == pytest.approx(SIDE, abs=1)
    assert appeared < 30, f"the canvas took {appeared:.1f} s to appear"

    # A vertical stroke in the upper left (x = 60 of 280), from y = 40 to y = 160: off-centre,
    # so a flipped, transposed or shifted picture fails.
    stroke(page, box, [(60, 40 + 20 * k) for k in range(7)])
    text = wait_for_ink(page, lambda t: ink_sum(t) > 0, "ink after a stroke")
    shot(page, "canvas_stroke")
    assert f"shape=({SIDE}, {SIDE})" in text and "float32" in text and "max=1.00" in text
    # On the 28x28 grid the stroke (20 px brush, round caps: y 30..170, x 50..70) covers
    # rows 3..16, columns 5..6.
    match = re.search(r"rows=(\d+)-(\d+) cols=(\d+)-(\d+)", text)
    assert match, text
    r0, r1, c0, c1 = map(int, match.groups())
    assert 2 <= r0 <= 4 and 15 <= r1 <= 17 and 4 <= c0 <= 5 and 6 <= c1 <= 7, text
    # About a 20 x 120 px bar of full ink (plus round caps and anti-aliased edges).
    assert 2000 < ink_sum(text) < 3500, text
    first = ink_sum(text)

    # Another widget's rerun keeps the drawing; a second stroke adds ink.
    page.get_by_role("button", name="Rerun").click()
    settle(page)  # the server ended that rerun
    assert ink_sum(ink_text(page)) == first
    stroke(page, box, [(40 + 20 * k, 220) for k in range(11)])  # along the bottom, y = 220
    text = wait_for_ink(page, lambda t: ink_sum(t) > first + 3000, "more ink after a second stroke")
    r0, r1, c0, c1 = map(int, re.search(r"rows=(\d+)-(\d+) cols=(\d+)-(\d+)", text).groups())
    assert 2 <= r0 <= 4 and 22 <= r1 <= 24 and 2 <= c0 <= 4 and 23 <= c1 <= 25, text

    # The toolbar's reset clears the canvas: the page gets an empty drawing, not None.
    canvas.hover()
    page.get_by_role("button", name=re.compile("Reset canvas")).click()
    text = wait_for_ink(page, lambda t: ink_sum(t) == 0, "an empty drawing after the reset")
    assert "empty" in text
    shot(page, "canvas_reset")
