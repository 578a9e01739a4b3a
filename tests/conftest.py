"""Shared test set-up: the repo root on sys.path, full error details in AppTest."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit.config  # noqa: E402

# The shipped config hides error details from users; tests want to see them.
streamlit.config.set_option("client.showErrorDetails", "full")


import pytest  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402


@pytest.fixture
def at(request):
    """The test module's page (its PAGE path) after a first run, as a student first sees it."""
    app = AppTest.from_file(request.module.PAGE, default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    return app
