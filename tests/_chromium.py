"""Shared by the Chromium tests: Debian's chromium, a fresh `streamlit run` and an offline guard.

Not a test module (the leading underscore); the browser tests import it.
"""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's, never a downloaded browser
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"]
START_S = 90  # app.py's start-up imports torch and the rest before it answers: generous on 2 busy cores


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerLog:
    """What a test server printed, read from its log file (never a pipe nobody drains: a full pipe
    would block the server)."""

    def __init__(self, path: Path):
        self.path = path

    def text(self) -> str:
        return self.path.read_text(errors="replace")

    def failures(self) -> list[str]:
        """Lines that mark a page's failure: Streamlit's own and the app's error boundary."""
        return [line for line in self.text().splitlines() if "Uncaught app execution" in line or "Traceback" in line]


@contextlib.contextmanager
def streamlit_server(script: str | Path = "app.py", log: list | None = None):
    """A fresh `streamlit run script` from the project root (its .streamlit/config.toml
    applies); yields the base URL once /_stcore/health answers. With ``log`` (a list), a
    :class:`ServerLog` of its output is appended to it."""
    port = free_port()
    log_file = tempfile.NamedTemporaryFile("w+b", prefix="streamlit-", suffix=".log", delete=False)
    if log is not None:
        log.append(ServerLog(Path(log_file.name)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port)],
        cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + START_S
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"streamlit did not start: {Path(log_file.name).read_text(errors='replace')[-2000:]}")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log_file.close()


def offline(outside: list | None = None):
    """A Playwright route handler: loopback, data: and blob: go through; anything else is
    aborted (and its URL appended to ``outside``)."""
    def guard(route):
        host = urlparse(route.request.url).hostname or ""
        if host in ("127.0.0.1", "localhost", "::1") or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            if outside is not None:
                outside.append(route.request.url)
            route.abort()
    return guard


# --- one browser, pages like a user's ----------------------------------------------------------

@contextlib.contextmanager
def chromium():
    """Debian's chromium through Playwright (skipped locally, failed under CI, when missing)."""
    import os

    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing (.ci/run installs it)", pytrace=False)
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, width: int = 1280, height: int = 720, *, outside: list | None = None,
             timeout_ms: int = 90_000):
    """A page in a fresh context (a new Streamlit session), offline; returns (context, page)."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.route("**/*", offline(outside))
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    return context, page


def settle(page, timeout_ms: int = 90_000) -> None:
    """Wait until the script run finished (the status widget is gone) and the page drew."""
    from playwright.sync_api import TimeoutError as Timeout

    status = page.locator('[data-testid="stStatusWidget"]')
    try:  # a rerun may take a moment to start after a click
        status.wait_for(state="attached", timeout=1200)
    except Timeout:
        pass
    status.wait_for(state="detached", timeout=timeout_ms)
    # Elements of the last run stay on the page, marked stale, until this run replaces them.
    try:
        page.wait_for_function("""() => !document.querySelector('[data-testid="stElementContainer"][data-stale="true"]')""",
                               timeout=20_000)
    except Timeout:  # an element the last run left stale: judged as it is
        pass
    page.wait_for_timeout(200)
