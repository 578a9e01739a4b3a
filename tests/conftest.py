"""Shared test set-up: the repo root on sys.path, full error details in AppTest."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import os  # noqa: E402
import tempfile  # noqa: E402

# The live class's database: one throwaway SQLite file for the test session (servers the tests
# start inherit it), never the user's data folder.
os.environ.setdefault("VIZCORE_CLASS_DB", f"sqlite:///{tempfile.mkdtemp(prefix='vizcore-class-')}/class.db")

import streamlit.config  # noqa: E402

# The shipped config hides error details from users; tests want to see them.
streamlit.config.set_option("client.showErrorDetails", "full")

# Pages run as the server runs them: torch and the maths libraries on the threads the server's
# start-up sets (pages/_warm.py).
from pages._warm import limit_threads  # noqa: E402

limit_threads()


import pytest  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402


@pytest.fixture
def at(request):
    """The test module's page (its PAGE path) after a first run, as a student first sees it."""
    app = AppTest.from_file(request.module.PAGE, default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    return app


@pytest.fixture(scope="module")
def server_and_log():
    """A fresh `streamlit run app.py` for the test module: its URL and its log (tests/_chromium.py)."""
    from _chromium import streamlit_server

    logs: list = []
    with streamlit_server(log=logs) as url:
        yield url, logs[0]


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium for the test module (skipped locally, failed under CI, when missing)."""
    from _chromium import chromium

    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def postgres_cluster():
    """A throwaway PostgreSQL cluster for the test module (tests/_postgres.py): (URL, control).
    Skipped locally, failed under CI (.ci/run installs the package), when PostgreSQL is missing."""
    import _postgres

    if not _postgres.available():
        (pytest.fail if os.environ.get("CI") else pytest.skip)("PostgreSQL is not installed (apt-get install postgresql)")
    with _postgres.cluster() as (url, control):
        yield url, control


# The longest modules first (measured with --durations; 2–4 minutes each on the 2-core machine).
# The README's command runs two workers, one module at a time each (pytest-xdist's loadfile),
# handed out in collection order: a long module collected last would run alone at the end while
# the other worker idles.
LONGEST_FIRST = ["test_screenshots.py", "test_browser_random_walk.py", "test_pages_random_walk.py",
                 "test_browser_links.py", "test_browser_settings.py", "test_hostile_pages.py"]


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: every module's own order is kept
