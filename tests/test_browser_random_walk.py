"""Students clicking at random in real Chromium never meet an error box.

AppTest skips the browser's round trip of widget values (a select box sends its *label* back,
for example), and a page that passed AppTest broke on the second click in Chromium. Here a real
`streamlit run app.py` is driven by Debian's chromium: first the three reproductions of issue 16
as fixed cases, then a seeded random walk over every page (buttons, select boxes, radios,
sliders, number inputs, toggles, pills, tabs, and moves between pages). Any error box on the
page (Streamlit's, or the app's error boundary) or "Uncaught app execution" / a traceback in the
server's log fails the test, with the steps that led there.

WALK_STEPS (default 132, 12 a page) and WALK_SECONDS (default 240) bound the walk; WALK_SEED picks it.
"""
from __future__ import annotations

import os
import random
import re
import time
from pathlib import Path

import pytest

from _chromium import CHROMIUM, new_page, settle
from pages._catalog import PAGES
from pages._ui.page import ERROR_MESSAGE

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        pytest.fail("Debian's chromium is missing (.ci/run installs it)", pytrace=False)
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")

TIMEOUT_MS = 90_000
STEPS = int(os.environ.get("WALK_STEPS", 132))
SECONDS = float(os.environ.get("WALK_SECONDS", 240))
SEED = int(os.environ.get("WALK_SEED", 16))
# Buttons the walk leaves alone: training (a minute of work: tests/test_training_page.py covers
# it) and the sidebar's "Copy link" popover (covers the page; its box is tested elsewhere).
SKIPPED_BUTTONS = ("Train", "Copy link")
URLS = [Path(p.path).stem for p in PAGES]


@pytest.fixture
def page(browser):  # browser and server_and_log: tests/conftest.py
    context, page = new_page(browser)
    yield page
    context.close()


def problems(page, log) -> list[str]:
    """Error boxes on the page and failure lines in the server's log."""
    found = []
    if page.get_by_test_id("stException").count():
        found.append("Streamlit's exception box: " + page.get_by_test_id("stException").first.inner_text()[:300])
    if page.get_by_text(ERROR_MESSAGE[:40]).count():
        found.append("the app's error boundary message")
    if page.get_by_text("Page not found").count():
        found.append("'Page not found'")
    found += log.failures()
    return found


def open_page(page, base: str, name: str, query: str = "") -> None:
    page.goto(f"{base}/{name}{query}")
    page.get_by_test_id("stMain").wait_for()
    settle(page)


def click_button(page, name: str, nth: int = 0) -> None:
    page.get_by_test_id("stMain").get_by_role("button", name=name, exact=True).nth(nth).click()
    settle(page)


def open_select(page, combobox) -> list:
    """Open a select box's list as a user does: a click, and the arrow key when the click only
    focused it (a box just used keeps its focus, and a click then closes the list)."""
    combobox.click(timeout=5000)
    options = page.get_by_role("option")
    try:
        options.first.wait_for(timeout=1500)
    except sync_api.TimeoutError:
        page.keyboard.press("ArrowDown")
        try:
            options.first.wait_for(timeout=3000)
        except sync_api.TimeoutError:
            return []
    return options.all()


def choose(page, label: str, option: str, tries: int = 3) -> None:
    """Pick ``option`` in the select box labelled ``label``, as a user does (open, click), and
    again as a user would when the list closed under the pointer (on two busy cores the list's
    opening animation and a late focus change can close it before the click lands)."""
    combobox = page.get_by_test_id("stMain").get_by_role("combobox", name=label)
    for attempt in range(tries):
        open_select(page, combobox)
        try:
            page.get_by_role("option", name=option, exact=True).first.click(timeout=15_000)
            break
        except sync_api.TimeoutError:
            if attempt == tries - 1:
                raise
            page.keyboard.press("Escape")
            settle(page)
    settle(page)


def run_costly_steps(page) -> None:
    """Press the Run/Sample button of a run that waits for one (LIME's samples on a slow server)."""
    button = page.get_by_test_id("stMain").get_by_role("button", name=re.compile(r"^(Sample \d|Run \d)"))
    if button.count():
        button.first.click()
        settle(page)


def assert_clean(page, log, what: str) -> None:
    found = problems(page, log)
    assert not found, f"{what}: {found}"


# --- the three reproductions of issue 16 ------------------------------------------------------------

@pytest.mark.parametrize("name", ["saliency", "occlusion", "lime"])
def test_random_twice_with_the_predicted_class(server_and_log, page, name):
    """The explained class left on "the predicted class", "Random" twice: the second press broke
    the page (the select box's label, which carried the prediction, came back as text)."""
    base, log = server_and_log
    open_page(page, base, name)
    run_costly_steps(page)
    for press in range(3):
        click_button(page, "Random")
        run_costly_steps(page)
        assert_clean(page, log, f"{name}: Random pressed {press + 1} times")
    assert "the model's prediction" in page.get_by_test_id("stMain").inner_text()  # the caption under the choice


def test_lime_change_the_model_then_choose_a_photo(server_and_log, page):
    base, log = server_and_log
    open_page(page, base, "lime")
    run_costly_steps(page)
    choose(page, "Explained class", "7")  # a class the next model does not have
    combobox = page.get_by_test_id("stMain").get_by_role("combobox", name="Model")
    options = [o.inner_text() for o in open_select(page, combobox)]
    other = next(o for o in options if not o.startswith("digits"))
    page.get_by_role("option", name=other, exact=True).click()
    settle(page)
    assert_clean(page, log, f"lime: model changed to {other}")
    page.get_by_test_id("stMain").get_by_text("Photo (sample, upload or camera)").click()
    settle(page)
    run_costly_steps(page)
    assert_clean(page, log, "lime: Photo chosen")
    assert "Superpixels" in page.get_by_test_id("stMain").inner_text()


def test_a_chosen_class_survives_random(server_and_log, page):
    """A class chosen by name stays chosen when another test image is picked, and the probability
    shown under the choice is this image's."""
    base, log = server_and_log
    open_page(page, base, "occlusion")
    choose(page, "Explained class", "3")
    for _ in range(2):
        click_button(page, "Random")
        run_costly_steps(page)
        assert_clean(page, log, "occlusion: Random after choosing 3")
        assert "3: probability" in page.get_by_test_id("stMain").inner_text()


# --- the random walk ----------------------------------------------------------------------------------

CONTROLS = (("select", '[data-testid="stSelectbox"]'),
            ("radio", '[data-testid="stRadio"] label'),
            ("check", '[data-testid="stCheckbox"] label'),
            ("slider", 'input[type="range"]'),  # Streamlit's sliders (their role is implicit)
            ("number", '[data-testid="stNumberInput"] button'),
            ("pill", '[data-testid="stButtonGroup"] button'),
            ("tab", '[role="tab"]'))
BUTTONS = '[data-testid="stButton"] button'

# Which of the main area's controls a student could use now, in one round trip to the page (a
# Playwright call per element and property took about half a second a step): for each selector,
# the indices of its visible (and, for buttons, enabled and not skipped) matches.
USABLE = """([buttons, controls, skipped]) => {
  const main = document.querySelector('[data-testid="stMain"]');
  const visible = el => {
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== 'hidden';
  };
  // A disabled control (a number input's + at its maximum, a checkbox a run switched off) would
  // only make the click wait out its timeout.
  const enabled = el => !el.disabled && !el.querySelector('input:disabled')
    && !el.closest('[disabled], [aria-disabled="true"]');
  const usable = {};
  usable[buttons] = [...main.querySelectorAll(buttons)].flatMap((b, i) =>
    visible(b) && enabled(b) && !skipped.some(s => b.innerText.trim().startsWith(s)) ? [i] : []);
  for (const selector of controls) {
    usable[selector] = [...main.querySelectorAll(selector)].flatMap((el, i) => visible(el) && enabled(el) ? [i] : []);
  }
  return usable;
}"""


def candidates(page) -> list[tuple[str, object]]:
    """Every control a student could use now: (kind, locator)."""
    main = page.get_by_test_id("stMain")
    usable = page.evaluate(USABLE, [BUTTONS, [selector for _, selector in CONTROLS], list(SKIPPED_BUTTONS)])
    found = [("button", main.locator(BUTTONS).nth(i)) for i in usable[BUTTONS]]
    for kind, selector in CONTROLS:
        found += [(kind, main.locator(selector).nth(i)) for i in usable[selector]]
    links = page.get_by_test_id("stSidebarNav").locator("a")
    found += [("page", links.nth(i)) for i in range(links.count())]
    return found


def act(page, kind: str, element, rng: random.Random) -> str:
    """Use one control; returns what was done (for the failure message). A control that went
    away or was disabled since it was listed (a run in between) raises at once, instead of
    waiting out the click's timeout."""
    if not (element.is_visible() and element.is_enabled()):
        raise sync_api.Error(f"{kind} no longer visible and enabled")
    if kind == "select":
        label = element.inner_text(timeout=5000).split("\n")[0]
        options = open_select(page, element.locator('[role="combobox"]'))
        if not options:
            page.keyboard.press("Escape")
            return f"select {label!r}: no options"
        option = rng.choice(options[:60])
        text = option.inner_text()
        option.click(timeout=5000)
        return f"select {label!r} = {text!r}"
    if kind == "slider":
        key = rng.choice(["ArrowRight", "ArrowLeft", "PageUp", "PageDown", "Home", "End"])
        element.focus()
        element.press(key)
        return f"slider {element.get_attribute('aria-label') or ''!r} {key}"
    text = element.inner_text(timeout=5000).strip()[:40]
    element.click(timeout=5000)
    return f"{kind} {text!r}"


STOP_AFTER_MS = 4_000  # a student waits this long for a run that has a Stop button, then presses it


def wait_or_stop(page, trail: list[str]) -> None:
    """Wait for the runs the last step asked for, as a student would: a long run (scoring every
    test image, say) is stopped with its Stop button after STOP_AFTER_MS; a run with no Stop
    button that does not end within TIMEOUT_MS fails the walk, with the steps that led there."""
    try:
        settle(page, STOP_AFTER_MS)
        return
    except sync_api.TimeoutError:
        pass
    stop = page.get_by_test_id("stMain").get_by_role("button", name="Stop", exact=True)
    if stop.count():
        stop.first.click()
        trail.append("Stop pressed")
    try:
        settle(page, TIMEOUT_MS)
    except sync_api.TimeoutError as err:
        pytest.fail(f"{err}\nsteps: " + " → ".join(trail[-12:]))


def test_random_walk_over_every_page(server_and_log, page):
    base, log = server_and_log
    rng = random.Random(SEED)
    trail: list[str] = []
    started = time.perf_counter()
    steps = 0
    per_page = max(6, STEPS // len(URLS))
    for name in URLS:
        open_page(page, base, name)
        trail.append(f"open {name}")
        assert_clean(page, log, " → ".join(trail[-12:]))
        for _ in range(per_page):
            if steps >= STEPS or time.perf_counter() - started > SECONDS:
                break
            controls = candidates(page)
            # Leaving the page is rarer than using it: a fifth of the steps at most.
            local = [c for c in controls if c[0] != "page"]
            pool = controls if (not local or rng.random() < 0.15) else local
            kind, element = rng.choice(pool)
            try:
                trail.append(f"{page.url.split('/')[-1].split('?')[0] or 'home'}: " + act(page, kind, element, rng))
            except sync_api.Error as err:  # the control went away or stayed disabled: not a failure
                trail.append(f"({kind} skipped: {str(err).splitlines()[0][:80]})")
                page.keyboard.press("Escape")
                continue
            wait_or_stop(page, trail)
            steps += 1
            assert_clean(page, log, "steps: " + " → ".join(trail[-12:]))
    print(f"random walk: {steps} steps in {time.perf_counter() - started:.0f} s (seed {SEED})")
    assert steps >= min(STEPS, 60), f"only {steps} steps ran in {SECONDS:.0f} s"
