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
def streamlit_server(script: str | Path = "app.py", log: list | None = None, env: dict | None = None):
    """A fresh `streamlit run script` from the project root (its .streamlit/config.toml
    applies); yields the base URL once /_stcore/health answers. With ``log`` (a list), a
    :class:`ServerLog` of its output is appended to it; ``env`` adds environment variables."""
    import os

    port = free_port()
    log_file = tempfile.NamedTemporaryFile("w+b", prefix="streamlit-", suffix=".log", delete=False)
    if log is not None:
        log.append(ServerLog(Path(log_file.name)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port)],
        cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
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


class ScriptRuns:
    """The server's own account of its script runs, read off a page's websocket.

    The shipped ``client.toolbarMode = "minimal"`` draws no "Running…" widget, so a test that
    waited for it to go returned in the middle of a run. The browser asks for a run with a
    ``rerun_script`` BackMsg; the server ends each with a ``script_finished`` ForwardMsg
    (``FINISHED_EARLY_FOR_RERUN`` when another run follows at once) and then a
    ``session_status_changed`` saying no script is running. Events are numbered in order.
    """

    def __init__(self):
        self.events = 0
        self.asked = 0          # number of the last rerun_script the browser sent
        self.done = 0           # number of the last end of a run with no run following
        self.running = False
        self.another_follows = False
        self.settled_asks = 0   # how many asks the last settle() had seen
        self.asks = 0
        self.history = []       # (seconds, event) of the last events, for a failure's message

    def sent(self, payload) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        if isinstance(payload, (bytes, bytearray)):
            kind = BackMsg.FromString(bytes(payload)).WhichOneof("type")
            self._note(f"sent {kind}")
            if kind == "rerun_script":
                self.events += 1
                self.asked, self.asks = self.events, self.asks + 1

    def received(self, payload) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if not isinstance(payload, (bytes, bytearray)):
            return
        msg = ForwardMsg.FromString(bytes(payload))
        kind = msg.WhichOneof("type")
        if kind != "delta":
            self._note(f"got {kind}" + (f" {msg.script_finished}" if kind == "script_finished" else "")
                       + (f" running={msg.session_status_changed.script_is_running}"
                          if kind == "session_status_changed" else ""))
        if kind == "new_session":
            self.events += 1
            self.running, self.another_follows = True, False
        elif kind == "script_finished":
            self.events += 1
            self.another_follows = msg.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN
        elif kind == "session_status_changed":
            self.events += 1
            self.running = msg.session_status_changed.script_is_running
            if not self.running and not self.another_follows:
                self.done = self.events

    def _note(self, event: str) -> None:
        self.history = self.history[-24:] + [(time.monotonic(), event)]

    def recent(self) -> str:
        now = time.monotonic()
        return "; ".join(f"{now - t:.1f} s ago {e}" for t, e in self.history)

    def idle(self) -> bool:
        """No run is going, none is about to follow, and every run asked for has ended."""
        return not self.running and not self.another_follows and self.done > self.asked

    def watch(self, ws) -> None:
        if ws.url.endswith("/_stcore/stream"):
            ws.on("framesent", self.sent)
            ws.on("framereceived", self.received)


def script_runs(page) -> ScriptRuns:
    """The :class:`ScriptRuns` of a page made by :func:`new_page` (or :func:`watch_runs`)."""
    return page._script_runs


def watch_runs(page) -> ScriptRuns:
    """Follow a page's script runs from now on (before its first ``goto``)."""
    page._script_runs = ScriptRuns()
    page.on("websocket", page._script_runs.watch)
    return page._script_runs


def new_page(browser, width: int = 1280, height: int = 720, *, outside: list | None = None,
             timeout_ms: int = 90_000, **context_options):
    """A page in a fresh context (a new Streamlit session), offline, its script runs followed
    (:func:`settle`); returns (context, page). ``context_options``: Playwright's, e.g.
    ``is_mobile=True, has_touch=True`` for a phone."""
    context = browser.new_context(viewport={"width": width, "height": height}, **context_options)
    context.route("**/*", offline(outside))
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    watch_runs(page)
    return context, page


ASK_GRACE_MS = 800  # how long an action may take to ask for a run (measured: at most 0.2 s, a slider included)


def settle(page, timeout_ms: int = 90_000) -> None:
    """Wait until the script runs that the last actions asked for have ended on the server
    (its ``script_finished``, not a spinner) and the page drew their elements.

    When no run was asked for since the last settle, it first gives the action
    ``ASK_GRACE_MS`` to ask for one (an action that changes nothing on the server asks none).
    """
    from playwright.sync_api import TimeoutError as Timeout

    runs = script_runs(page)
    deadline = time.monotonic() + ASK_GRACE_MS / 1000
    while runs.asks == runs.settled_asks and runs.idle() and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    deadline = time.monotonic() + timeout_ms / 1000
    while not runs.idle():
        if time.monotonic() > deadline:
            raise Timeout(f"the script run did not end within {timeout_ms / 1000:.0f} s; the websocket's last "
                          f"events: {runs.recent()}")
        page.wait_for_timeout(50)
    runs.settled_asks = runs.asks
    # The run's elements arrived before its script_finished; the last run's leftovers are marked
    # stale until the browser has drawn this run's, then removed; a widget whose code the
    # browser is still loading is a grey skeleton until then.
    page.wait_for_function("""() => !document.querySelector(
        '[data-testid="stElementContainer"][data-stale="true"], [data-testid="stMain"] [data-testid="stSkeleton"]')""",
                           timeout=30_000)
    page.wait_for_timeout(100)
