"""What you see is what was computed (issue 25, part 1), in real Chromium.

After every kind of input change a student makes (a test image, a sample photo, an upload, a
drawing, another model) and after moving a slider, every checked control of the page must show
the value the page's computation used, and the page's address must hold that value too (or leave
it out when it is the value the address implies). All three are read back: the control in the
page, the address bar, and the server's log line of the computation's arguments
(``VIZCORE_LOG_ARGUMENTS``, written by ``pages._ui.runs.log_arguments``).

The bug this guards: a run that ended with ``st.stop()`` skipped Streamlit's end-of-run
bookkeeping, so a slider it did not draw came back at its lowest value in the browser (opacity
0.00, 10 noisy copies, σ 0) while the server computed with the kept value; the next click sent
the lowest values back. The camera is not driven here (headless Chromium has no camera); it goes
through the same code as an upload.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from PIL import Image

from _chromium import new_page, settle, streamlit_server
from test_browser_random_walk import assert_clean, choose, run_costly_steps  # (skips the module without chromium)

PHOTO_INPUT = "Photo (sample, upload or camera)"
TEST_IMAGE = "Test image from the data set"
CHECKED = {  # page -> {label of a slider or number box: its link name}
    "saliency": {"Map opacity": "opacity", "Colour scale top (percentile)": "clip", "Noisy copies": "samples",
                 "Noise σ": "noise", "Steps": "steps"},
    "occlusion": {"Patch size (pixels)": "window", "Stride (pixels)": "stride", "Map opacity": "opacity"},
    "lime": {"Number of superpixels": "segments", "Samples": "samples", "Seed": "seed", "Top k": "k",
             "Seeds": "seeds"},
    "feature_maps": {"Channel to enlarge": "channel", "Row": "row", "Column": "col"},
}
ARGUMENTS = re.compile(r"\[vizcore\] arguments (\S+) (\{.*\})$")


@pytest.fixture(scope="module")
def server():
    logs: list = []
    with streamlit_server(log=logs, env={"VIZCORE_LOG_ARGUMENTS": "1"}) as url:
        yield url, logs[0]


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """A photo that is none of the app's samples: smooth colour ramps with a bright disc."""
    y, x = np.mgrid[0:240, 0:320]
    rgb = np.stack([x * 0.7, y, 255 - x * 0.5], axis=-1)
    rgb[(y - 120) ** 2 + (x - 200) ** 2 < 50 ** 2] = (250, 240, 60)
    path = tmp_path_factory.mktemp("upload") / "my photo.png"
    Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).save(path)
    return path


def controls(page, labels) -> dict[str, str]:
    """The value each labelled slider or number box shows, as the student reads it."""
    shown = {}
    for label in labels:
        found = control(page, label)
        if found is not None:
            kind, element = found
            shown[label] = element.get_attribute("aria-valuetext") if kind == "slider" else element.input_value()
    return shown


def control(page, label: str):
    """The slider or number box labelled ``label``, or None (Streamlit's labels may hold a
    no-break space where the code has a space)."""
    main = page.get_by_test_id("stMain")
    for kind, elements in (("slider", main.get_by_role("slider")), ("number", main.locator('input[type="number"]'))):
        for element in elements.all():
            if " ".join((element.get_attribute("aria-label") or "").split()) == label:
                return kind, element
    return None


def logged(log, since: int, page_name: str) -> dict:
    """The arguments ``page_name`` logged after line ``since`` of the server's log, later lines winning."""
    values: dict = {}
    for line in log.text().splitlines()[since:]:
        match = ARGUMENTS.search(line)
        if match and match.group(1) == page_name:
            values.update(json.loads(match.group(2)))
    return values


def same(*values) -> bool:
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        return len({str(v) for v in values}) == 1
    return all(abs(n - numbers[0]) < 1e-9 for n in numbers)


class Student:
    """One browser session on one page; every action is followed by the three-way check."""

    def __init__(self, page, log, name: str):
        self.page, self.log, self.name = page, log, name
        self.checked = 0

    def lines(self) -> int:
        return len(self.log.text().splitlines())

    def act(self, what: str, action) -> None:
        since = self.lines()
        action()
        settle(self.page)
        # On a busy server LIME's measured pace makes its sampling wait for a "Sample N perturbed
        # images" button (pages/_ui/runs.py): a student presses it, and only then is anything computed.
        run_costly_steps(self.page)
        assert_clean(self.page, self.log, f"{self.name} after {what}")
        shown = controls(self.page, CHECKED[self.name])
        assert shown, f"{self.name} after {what}: none of {list(CHECKED[self.name])} is on the page"
        used = logged(self.log, since, self.name)
        implied = logged(self.log, since, "link-defaults")
        address = {k: v[0] for k, v in parse_qs(urlparse(self.page.url).query).items()}
        for label, value in shown.items():
            name = CHECKED[self.name][label]
            assert name in used, f"{self.name} after {what}: {label} shows {value}, but no computation logged {name}"
            in_address = address.get(name, implied.get(name))
            assert same(value, used[name], in_address), (
                f"{self.name} after {what}: {label} shows {value}, the computation used {used[name]!r}, "
                f"the address says {in_address!r} ({self.page.url})")
            self.checked += 1

    def click_text(self, text: str) -> None:
        self.page.get_by_test_id("stMain").get_by_text(text, exact=True).first.click()

    def nudge(self, label: str) -> None:
        """Move a control one step up, as with the arrow key."""
        kind, target = control(self.page, label)
        if kind == "slider":
            target.press("ArrowRight")
        else:
            target.press("ArrowUp")
            target.press("Enter")


@pytest.mark.parametrize("name", list(CHECKED))
def test_every_control_shows_what_was_computed(name, server, browser, photo):
    url, log = server
    context, page = new_page(browser, 1280, 900)
    try:
        student = Student(page, log, name)
        student.act("opening the page", lambda: page.goto(f"{url}/{name}"))
        first = next(iter(CHECKED[name]))
        student.act(f"moving {first}", lambda: student.nudge(first))
        student.act("choosing a sample photo", lambda: student.click_text(PHOTO_INPUT))
        student.act("another sample photo", lambda: choose(page, "Sample image", "Astronaut"))
        page.get_by_test_id("stMain").get_by_text("Upload", exact=True).first.click()
        settle(page)
        student.act("an upload", lambda: page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(photo))
        student.act("moving the last slider", lambda: student.nudge(list(controls(page, CHECKED[name]))[-1]))
        student.click_text("Draw")  # an empty canvas: the page stops above the checked controls
        settle(page)
        student.act("drawing on the pixel grid", lambda: student.click_text("Pixel grid"))
        student.act("a test image", lambda: student.click_text(TEST_IMAGE))
        student.act("another model", lambda: choose(page, "Model", "shapes (pretrained)"))
        student.act("a photo on that model", lambda: student.click_text(PHOTO_INPUT))
        assert student.checked >= 10
    finally:
        context.close()


def selected_model(page) -> str:
    """What the Model box shows (its value lives in the box's input or its text)."""
    box = page.get_by_test_id("stMain").get_by_role("combobox", name="Model").first
    return box.evaluate("e => e.value || e.getAttribute('aria-valuetext') || '' ") or \
        box.evaluate("e => e.closest('[data-testid=\"stSelectbox\"]').textContent")


def go_to(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    settle(page)


def test_one_model_and_one_picture_walk_through_every_method(server, browser, photo):
    """Issue 25 part 2: the model and the upload chosen on Saliency are there on Occlusion, LIME and
    Feature maps; a model changed on one of them carries on from there."""
    url, log = server
    context, page = new_page(browser, 1280, 900)
    try:
        student = Student(page, log, "saliency")
        student.act("opening the page", lambda: page.goto(f"{url}/saliency"))
        student.act("another model", lambda: choose(page, "Model", "shapes (pretrained)"))
        student.click_text(PHOTO_INPUT)
        settle(page)
        page.get_by_test_id("stMain").get_by_text("Upload", exact=True).first.click()
        settle(page)
        student.act("an upload", lambda: page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(photo))
        for title, name in (("Occlusion", "occlusion"), ("LIME", "lime"), ("Feature maps", "feature_maps")):
            student.name = name
            student.act(f"going to {title}", lambda: go_to(page, title))
            main = page.get_by_test_id("stMain")
            assert "shapes (pretrained)" in selected_model(page), title
            assert main.get_by_text(f"Using your earlier upload: {photo.name}").count(), f"{title} lost the upload"
        student.act("another model on Feature maps", lambda: choose(page, "Model", "scenes (pretrained)"))
        student.name = "saliency"
        student.act("going back to Saliency", lambda: go_to(page, "Saliency"))
        main = page.get_by_test_id("stMain")
        assert "scenes (pretrained)" in selected_model(page)
        assert main.get_by_text(f"Using your earlier upload: {photo.name}").count()
    finally:
        context.close()
