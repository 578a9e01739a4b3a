"""A student clicking around at random never sees a traceback.

For every registered page, a seeded random walk sets widgets (sliders, number inputs, select
boxes, radios, checkboxes, toggles) to random allowed values and reruns; the page may show an
error message for an impossible combination, but it must never raise.
"""
import os
import random
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pages._catalog import PAGES

ROOT = Path(__file__).resolve().parents[1]
STEPS = int(os.environ.get("RANDOM_WALK_STEPS", 25))  # more for a deeper local hunt
KINDS = ("slider", "number_input", "selectbox", "radio", "checkbox", "toggle", "select_slider")


def random_value(widget, rng: random.Random):
    kind = widget.type
    if kind in ("checkbox", "toggle"):
        return not widget.value
    if kind in ("selectbox", "radio", "select_slider"):
        # AppTest sees the formatted labels; only labels that are their own value can be set.
        options = [o for o in widget.options if _formats_to_itself(widget, o)]
        return rng.choice(options) if options else None
    lo, hi = widget.min, widget.max
    value = widget.value
    if isinstance(value, (tuple, list)):  # range slider: leave it alone
        return None
    if isinstance(value, float) or isinstance(lo, float):
        lo = -10.0 if lo is None else float(lo)
        hi = 10.0 if hi is None else float(hi)
        return rng.uniform(lo, min(hi, lo + 100))
    lo = -5 if lo is None else int(lo)
    hi = lo + 50 if hi is None else int(hi)
    return rng.randint(lo, min(hi, lo + 100))


def _formats_to_itself(widget, option) -> bool:
    try:
        return str(widget.format_func(option)) == option
    except Exception:  # noqa: BLE001 - a label the page's format_func can't take
        return False


def set_random_widget(at: AppTest, rng: random.Random) -> str:
    widgets = [w for kind in KINDS for w in getattr(at, kind) if not getattr(w, "disabled", False)]
    if not widgets:
        return "nothing to set"
    widget = rng.choice(widgets)
    value = random_value(widget, rng)
    if value is None:
        return "skipped"
    widget.set_value(value)
    return f"{widget.type} {widget.label!r} = {value!r}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.path)
def test_random_clicks_never_raise(page):
    rng = random.Random(f"walk-{page.path}")
    at = AppTest.from_file(str(ROOT / page.path), default_timeout=120).run()
    steps = []
    for _ in range(STEPS):
        steps.append(set_random_widget(at, rng))
        at.run()
        assert not at.exception, f"after {steps}: {at.exception}"
