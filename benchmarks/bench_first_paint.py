"""First paint: a cold deep link on a freshly started server, in headless Chromium.

Where the cold seconds go, measured separately:

1. imports in a fresh Python (streamlit, plotly, torch, scikit-image, the playground's modules),
2. per tab, from navigation to: the page's title (the script's first output), the browser having
   fetched the Plotly chunk (PlotlyChart*.js), the first picture (the first ``<img>`` of non-zero
   size inside ``stMain``, or a Plotly SVG, whichever comes first: the playground shows its
   photo and result as still images before any chart) and the first chart drawn (a visible SVG
   inside a ``stPlotlyChart``),
3. one tab alone, then three tabs opened at the same moment (three students, three browser
   contexts, each with an empty cache), every time on a new server,
4. the server's own start (until /_stcore/health answers: app.py's st.App imports the heavy
   libraries then) and the browser's busy time before the chart (long tasks: parsing
   Streamlit's and Plotly's scripts, drawing).

Targets (issues 12 and 17, 2 cores): first picture <= 3 s for one tab, <= 6 s for three tabs at
once (PASS/MISS); the first chart is printed beside it against the same numbers. The peer, measured
in turn with ours on a new server each time: a two-page Streamlit app with one tiny Plotly chart
(what any Streamlit page with a chart costs in this browser; its first picture is its chart),
printed as ratios ours / peer for both.

    python benchmarks/bench_first_paint.py [--page kernel_playground] [--repeats 2]
"""
from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"]
TARGETS = {1: 3.0, 3: 6.0}
IMPORTS = ["streamlit", "plotly.graph_objects", "torch", "skimage.data", "scipy.fft", "vizcore.figures.style",
           "vizcore.conv", "vizcore.playground", "vizcore.figures.playground",
           "pages._ui.classes"]  # the page toolbox: its top module imports every other one


def import_times() -> dict[str, float]:
    """Seconds each module takes to import in a fresh interpreter (what it adds on its own)."""
    out = {}
    for name in IMPORTS:
        code = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); t = time.perf_counter(); "
                f"import {name}; print(time.perf_counter() - t)")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
        out[name] = float(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 else float("nan")
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The peer: the least a Streamlit page with a Plotly chart costs here. Two pages (so the sidebar
# navigation appears, like ours), a title and one 2x2 heatmap; the shipped config.
FLOOR_APP = """
import streamlit as st

def floor():
    st.title("Floor")
    st.plotly_chart({"data": [{"type": "heatmap", "z": [[0, 1], [1, 0]]}]})

st.navigation([st.Page(lambda: None, title="Home", default=True),
               st.Page(floor, title="Floor", url_path=PAGE)]).run()
"""


class Server:
    """A fresh `streamlit run app.py` in ``root`` with the shipped config; ready when
    /_stcore/health answers (our app imports its heavy libraries before that)."""

    def __init__(self, root: Path = ROOT):
        self.root = root

    def __enter__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(self.port)],
            cwd=self.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        started = time.perf_counter()
        while time.perf_counter() - started < 60:
            try:
                if urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2).status == 200:
                    self.ready_after = time.perf_counter() - started
                    return self
            except OSError:
                time.sleep(0.1)
        self.proc.kill()
        raise RuntimeError("streamlit did not start")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=15)


# The first picture: an <img> inside the main area that has loaded and has a non-zero size, or a
# Plotly chart's SVG, whichever comes first.
FIRST_PICTURE_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main) return false;
  for (const img of main.querySelectorAll('img')) {
    const r = img.getBoundingClientRect();
    if (img.complete && img.naturalWidth > 0 && r.width > 0 && r.height > 0) return true;
  }
  return main.querySelector('[data-testid="stPlotlyChart"] svg.main-svg') !== null;
}"""


def open_tab(browser, url: str, results: list, barrier: threading.Barrier | None) -> None:
    """One student: a new context (empty cache), the deep link, the times of the milestones."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    # the browser's main-thread tasks over 50 ms (parsing Streamlit's and Plotly's scripts, drawing)
    context.add_init_script("window.__long = []; new PerformanceObserver(list => list.getEntries().forEach("
                            "e => window.__long.push([e.startTime, e.duration]))).observe({type: 'longtask', buffered: true});")
    page = context.new_page()
    page.set_default_timeout(180_000)  # a busy 2-core machine can take long
    marks: dict[str, float] = {}
    page.on("requestfinished", lambda r: marks.setdefault("plotly_js", time.perf_counter())
            if "PlotlyChart" in r.url else None)
    if barrier is not None:
        barrier.wait()
    start = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.locator('[data-testid="stApp"]').first.wait_for()
    marks["frontend"] = time.perf_counter()  # Streamlit's own scripts loaded and started
    page.locator('[data-testid="stSidebarNav"]').first.wait_for()
    marks["frame"] = time.perf_counter()  # app.py's first output: the script runs
    page.locator("h1").first.wait_for()
    marks["title"] = time.perf_counter()
    page.wait_for_function(FIRST_PICTURE_JS, polling="raf")
    marks["picture"] = time.perf_counter()
    # visible only: the playground's first charts wait, collapsed, in an expander under its images
    page.locator('[data-testid="stMain"] [data-testid="stPlotlyChart"] svg.main-svg >> visible=true').first.wait_for()
    marks["chart"] = time.perf_counter()
    result = {k: v - start for k, v in marks.items()}
    long_tasks = page.evaluate("window.__long")  # ms since the navigation started
    result["browser_busy"] = sum(d for t, d in long_tasks if t < result["chart"] * 1000) / 1000
    results.append(result)
    context.close()


def measure(page_path: str, tabs: int, root: Path = ROOT) -> list[dict]:
    """On a new server: `tabs` students open the deep link at the same moment."""
    from playwright.sync_api import sync_playwright

    with Server(root) as server:
        # one browser process per student, as on their own laptops (Playwright's sync API is
        # bound to its thread, so each thread starts its own)
        results: list[dict] = []
        barrier = threading.Barrier(tabs)
        errors: list[BaseException] = []

        def student():
            try:
                with sync_playwright() as own:
                    browser = own.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                    open_tab(browser, f"{server.url}/{page_path}", results, barrier)
                    browser.close()
            except BaseException as err:  # noqa: BLE001 - reported below
                errors.append(err)
                barrier.abort()

        threads = [threading.Thread(target=student) for _ in range(tabs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        for res in results:
            res["server_start"] = server.ready_after
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", default="kernel_playground")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-imports", action="store_true")
    parser.add_argument("--tabs", type=int, nargs="+", default=[1, 3])
    args = parser.parse_args()
    if not args.skip_imports:
        print("Import times in a fresh interpreter (s):")
        for name, seconds in import_times().items():
            print(f"  {name:22s} {seconds:6.2f}")
    floor_root = Path(tempfile.mkdtemp(prefix="floor_app_"))
    (floor_root / "app.py").write_text(FLOOR_APP.replace("PAGE", repr(args.page)))
    shutil.copytree(ROOT / ".streamlit", floor_root / ".streamlit")
    summary = []
    for tabs in args.tabs:
        pictures, charts, floor_pictures, floors = [], [], [], []
        for r in range(args.repeats):
            # the peer first, then ours, in turn: a machine that slows down slows both
            floor = measure(args.page, tabs, floor_root)
            floor_pictures.append(max(res["picture"] for res in floor))
            floors.append(max(res["chart"] for res in floor))
            print(f"{tabs} tab(s), run {r + 1}: floor app (one tiny chart) slowest tab: first picture "
                  f"{floor_pictures[-1]:.2f} s, first chart {floors[-1]:.2f} s; "
                  f"browser busy {max(res['browser_busy'] for res in floor):.2f} s")
            results = measure(args.page, tabs)
            for k, res in enumerate(results):
                print(f"{tabs} tab(s), run {r + 1}, tab {k + 1}: (server started in {res['server_start']:.1f} s) "
                      f"frontend {res['frontend']:.2f} s, app frame {res['frame']:.2f} s, "
                      f"title {res['title']:.2f} s, first picture {res['picture']:.2f} s, "
                      f"Plotly chunk fetched {res.get('plotly_js', float('nan')):.2f} s, "
                      f"first chart {res['chart']:.2f} s; browser main thread busy {res['browser_busy']:.2f} s")
            pictures.append(max(res["picture"] for res in results))
            charts.append(max(res["chart"] for res in results))
        target = TARGETS.get(tabs, float("inf"))
        for what, ours, peer in (("first picture", pictures, floor_pictures), ("first chart", charts, floors)):
            worst = max(ours)
            verdict = "PASS" if worst <= target else "MISS"
            ratios = [o / f for o, f in zip(ours, peer)]
            line = (f"{tabs} tab(s) | {what:13s} | ours median {statistics.median(ours):5.2f} s, worst {worst:5.2f} s "
                    f"| peer median {statistics.median(peer):5.2f} s | ours/peer {statistics.median(ratios):.2f}x "
                    f"(runs: {', '.join(f'{x:.2f}' for x in ratios)}) | target <= {target:.0f} s: {verdict}")
            summary.append(line)
            print("== " + line)
    print("\nSummary (slowest tab of each run; first picture: an <img> in the main area or a Plotly SVG):")
    for line in summary:
        print("  " + line)

if __name__ == "__main__":
    main()
