"""Every page's address reopens the same view in real Chromium.

For every registered page: open it, use a few of its controls (seeded, as a student would),
then open the address the page wrote in a fresh browser context (a new session) and compare the
widgets' values and the text the page shows. AppTest round trips (tests/test_page_links.py and
the pages' own link tests) skip the browser; this one goes through it.
"""
from __future__ import annotations

import os
import random
import re
from pathlib import Path

import pytest

from _chromium import new_page, settle
from test_browser_random_walk import PAGES, act, assert_clean, candidates, open_page, sync_api

ACTIONS = 3
# Inputs no address can carry (the page says so in its "Copy link" box): left alone here.
UNLINKABLE = ("Upload", "Camera", "Draw")
KINDS = ("select", "radio", "check", "slider", "number", "pill")
# Words of text that follow the server, not the link: time estimates and how sure they are.
VOLATILE = re.compile(r"≈|real runs? of this model|first guess|ms per image|lately|seconds? ago")


def widget_values(page) -> list:
    """Every control's visible value in the page's main area, in page order."""
    return page.evaluate("""() => {
        const main = document.querySelector('[data-testid="stMain"]');
        const out = [];
        for (const el of main.querySelectorAll('input, [role="slider"], textarea')) {
            if (el.type === 'file') continue;
            if (el.getAttribute('role') === 'slider') out.push('slider=' + el.getAttribute('aria-valuenow'));
            else if (el.type === 'checkbox' || el.type === 'radio') out.push(el.type + '=' + el.checked);
            else out.push((el.getAttribute('aria-label') || el.type) + '=' + el.value);
        }
        return out;
    }""")


def steady_view(page) -> tuple[list, list[str]]:
    """Widgets and text once two reads half a second apart agree (a page may still be drawing)."""
    last = None
    for _ in range(20):
        view = (widget_values(page), shown_text(page))
        if view == last:
            return view
        last = view
        page.wait_for_timeout(500)
    return last


def shown_text(page) -> list[str]:
    text = page.get_by_test_id("stMain").inner_text()
    return [line for line in text.splitlines() if line.strip() and not VOLATILE.search(line)]


@pytest.mark.parametrize("name", [p.path.split("/")[-1][:-3] for p in PAGES])
def test_a_pages_address_reopens_the_same_view(server_and_log, browser, name):
    base, log = server_and_log
    rng = random.Random(f"links-{name}")
    first, page = new_page(browser)
    open_page(page, base, name)
    done = []
    for _ in range(ACTIONS):
        controls = [c for c in candidates(page) if c[0] in KINDS
                    and not (c[0] == "radio" and c[1].inner_text(timeout=2000).strip() in UNLINKABLE)]
        if not controls:
            break
        kind, element = rng.choice(controls)
        try:
            done.append(act(page, kind, element, rng))
        except sync_api.Error:
            page.keyboard.press("Escape")
            continue
        settle(page)
    assert_clean(page, log, f"{name}: {done}")
    values, text = steady_view(page)
    url = page.url  # written at the end of the run
    if os.environ.get("LINKS_DEBUG"):
        page.screenshot(path=str(Path(os.environ["LINKS_DEBUG"]) / f"{name}_first.png"), full_page=True)
    first.close()

    second, again = new_page(browser)
    again.goto(url)
    again.get_by_test_id("stMain").wait_for()
    settle(again)
    assert_clean(again, log, f"{name} reopened from {url}")
    if os.environ.get("LINKS_DEBUG"):
        page_shots = Path(os.environ["LINKS_DEBUG"])
        again.screenshot(path=str(page_shots / f"{name}_again.png"), full_page=True)
        (page_shots / f"{name}.txt").write_text(f"{url}\n{values}\n{widget_values(again)}\n{text}\n{shown_text(again)}")
    values_again, text_again = steady_view(again)
    try:
        assert values_again == values, f"{name} after {done}: widgets differ at {url}"
        assert text_again == text, f"{name} after {done}: text differs at {url}"
    finally:
        second.close()
