"""Shared by the model pages' AppTest tests: open a page with a shipped model and settings.

Not a test module (the leading underscore); the page tests import it.
"""
from __future__ import annotations

from streamlit.testing.v1 import AppTest


def run_model_page(page: str, model_key: str, model: str | None, *, query: dict | None = None,
                   timeout: float = 120, **state) -> AppTest:
    """``page`` run once with ``model`` (a shipped model's name) chosen under ``model_key``,
    ``query`` in the address and ``state`` in session state; it must raise nothing."""
    at = AppTest.from_file(page, default_timeout=timeout)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    if model:
        at.session_state[model_key] = f"{model} (pretrained)"
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception[0].value if at.exception else ""
    return at
