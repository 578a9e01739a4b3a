"""A lecture hall on one server: N students changing the Kernel playground's kernel at once.

Starts a real `streamlit run app.py` on a free port of 127.0.0.1 and connects N simulated
students through Streamlit's own websocket protocol (what the browser does, without a browser):
each opens the playground with `?preset=Gaussian+blur`, then K times, back to back, moves the
size and σ sliders to a kernel no one has asked for yet (a real computation, no cache hit).
A rerun's latency is the time from sending the BackMsg to the `script_finished` that ends the
run. Side by side in one run:

  shipped   .streamlit/config.toml as it is (file watcher off, no GC after each run)
  defaults  Streamlit's defaults for those two settings (--server.fileWatcherType auto
            --runner.postScriptGC true), everything else the same

Prints per config the median and p95 rerun latency, throughput (reruns/s), the server's RSS and
the ratio defaults / shipped. The students share the machine's cores with the server, and other
work on the machine shows in the numbers: the load average is printed too. Compare ratios.

    python benchmarks/bench_lecture_hall.py [--students 30] [--reruns 10] [--quick]

--quick is 5 students × 3 reruns (well under a minute). The run stops by itself (--time-limit,
default 180 s, after which no new reruns start) and always stops its servers.

A lecture exercise (``--hall``) is the other scenario, against the target p95 ≤ 1 s with 0 errors:
the students are spread over the Kernel playground, Feature maps and (when registered) Saliency,
and each acts every 2–5 s at random (a new kernel, another test image) for ``--duration``
seconds, on the shipped config. It prints p50/p95 and errors per page and overall, reruns/s,
and the server's RSS and thread count over time (a soak: memory must stay flat after warm-up):

    python benchmarks/bench_lecture_hall.py --hall [--students 30] [--duration 600] [--replicas N]

``--against REV`` (issue 28: the CPU per rerun against the old figure, in one run) runs the same hall
on git revision REV's app (a throwaway worktree) and on this tree's, ``--rounds`` times each in
turn, and prints CPU per rerun, p50, p95 and reruns/s for both and the ratios this tree / REV.

With ``--replicas N`` (issue 21) the same hall goes through HAProxy in front of N replicas started
by ``deploy/hall.py``: each student first fetches a page (Streamlit's XSRF cookie and HAProxy's
SRV cookie, as a browser does), then opens its websocket and uploads with those cookies. It
prints the students per replica, every process's RSS over time (the growth over the second half
of the run: a soak must stay flat), and the CPU each process and the simulator used.
``--matrix`` is the capacity table: 30, 60 and 90 students (--loads) on 1 and 2 replicas
(--replica-counts), each for --duration seconds, with p95 ratios 2 replicas / 1 replica:

    python benchmarks/bench_lecture_hall.py --matrix [--duration 120]

``--live`` is issue 27's live class: N students (default 300) join one class by its link across R
replicas (default 4) behind HAProxy, with a throwaway PostgreSQL cluster as the class database
(tests/_postgres.py; SQLite with a note when PostgreSQL is missing). Each student is a websocket
tab plus the browser's watcher (pages/_live_watch/index.html): it long-polls
``/_live/version?class=CODE&since=STAMP&session=ID`` through HAProxy with its SRV cookie and
reruns its page when the stamp changes. Measured: the replicas' CPU while every follower idles on
an unchanged view (--idle s); each lecturer view change (Kernel playground / Shape calculator,
through the store with the key, as the lecturer's page does) until each follower's page shows it;
a question that every student opens and answers within --answer-window s (each answer's tap
round trip, acknowledged answers against the store's counts); the store's transactions per
second in each phase (pg_stat_database: all replicas' processes together), per replica and per
student. Prints the README's table:

    python benchmarks/bench_lecture_hall.py --live [--students 300] [--replicas 4] [--idle 30]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parents[1]
PAGE_NAME = "kernel_playground"  # the page's URL path, as a browser opening a deep link sends it
FIRST_QUERY = "preset=Gaussian+blur"
SLIDERS = ("kp_gaussian_blur_size", "kp_gaussian_blur_sigma")  # the widgets' keys
RERUN_TIMEOUT_S = 90.0
CONFIGS = {
    "shipped": [],
    "defaults": ["--server.fileWatcherType", "auto", "--runner.postScriptGC", "true"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        line = next(line for line in f if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def start_server(port: int, extra: list[str], log, root: Path = ROOT) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port), *extra]
    server = subprocess.Popen(cmd, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    health = f"http://127.0.0.1:{port}/_stcore/health"
    for _ in range(240):
        if server.poll() is not None:
            raise RuntimeError(f"server exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(health, timeout=1):
                return server
        except OSError:
            time.sleep(0.25)
    raise RuntimeError("server did not answer /_stcore/health within 60 s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


class Student:
    """One browser tab: remembers what the browser would (page hash, URL, the widgets' ids)."""

    def __init__(self, ws, page: str = PAGE_NAME, query: str = FIRST_QUERY,
                 sliders: tuple[str, ...] = SLIDERS) -> None:
        self.ws, self.page_hash, self.query, self.page, self.sliders = ws, "", query, page, sliders
        self.widget_ids: dict[str, str] = {}  # user key -> "$$ID-<hash>-<key>"
        self.errors = self.pages_not_found = 0
        self.last_error = ""
        self.session_id, self.file_urls, self.uploads = "", None, 0
        self.cookies = self.xsrf = self.replica = ""  # what the browser sends back (join() sets them)
        self.last_upload = ""  # the delete URL of the photo on show
        self.shown = ""  # the url path of the page the last run showed (st.navigation's choice)
        self.page_hashes: dict[str, str] = {}  # url path -> page script hash, as the browser's navigation knows
        self.texts: list[str] = []  # the last run's markdown and captions
        self.watch_args: dict = {}  # the live class watcher's arguments (pages/_live_watch): code, stamp, session

    async def open_page(self) -> float:
        """Open the deep link; click it once more if the first run fell back to the home page."""
        took = await asyncio.wait_for(self.rerun(), RERUN_TIMEOUT_S)
        if not all(key in self.widget_ids for key in self.sliders):
            took += await asyncio.wait_for(self.rerun(), RERUN_TIMEOUT_S)
        if not all(key in self.widget_ids for key in self.sliders):
            raise RuntimeError(f"the {self.page} sliders {self.sliders} did not show (page not found "
                               f"{self.pages_not_found}×, errors {self.errors}: {self.last_error})")
        return took

    async def rerun(self, sliders: dict[str, float] | None = None) -> float:
        """Send one rerun (with new slider values), read until the run ends; seconds."""
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string, state.page_name, state.page_script_hash = self.query, self.page, self.page_hash
        # Only the changed widgets: the server keeps the others' values from the previous run.
        for key, value in (sliders or {}).items():
            widget = state.widget_states.widgets.add()
            widget.id = self.widget_ids[key]
            if value is True:  # a button's tap
                widget.trigger_value = True
            elif isinstance(value, str):  # a radio or select box: the chosen option's label
                widget.string_value = value
            elif isinstance(value, tuple) and value[0] == "file":  # a file uploader's state
                widget.file_uploader_state_value.CopyFrom(value[1])
            else:
                widget.double_array_value.data.append(value)  # sliders send their value(s) as an array
        start = time.perf_counter()
        self.seen = set()  # widget keys this run drew: did it run the student's page?
        self.texts = []
        await self.ws.send(msg.SerializeToString())
        while True:
            fwd = ForwardMsg()
            fwd.ParseFromString(await self.ws.recv())
            kind = fwd.WhichOneof("type")
            if kind == "new_session":
                self.page_hash = fwd.new_session.page_script_hash
                self.session_id = fwd.new_session.initialize.session_id or self.session_id
            elif kind == "navigation" and fwd.navigation.page_script_hash:
                # The page st.navigation actually ran. new_session can name the default (home)
                # page before the deep link is resolved; a rerun sent with that hash would run
                # the home page (a fast, wrong measurement) - a browser keeps this one.
                self.page_hash = fwd.navigation.page_script_hash
                self.page_hashes = {p.url_pathname: p.page_script_hash for p in fwd.navigation.app_pages}
                self.shown = next((p for p, h in self.page_hashes.items() if h == self.page_hash), "")
            elif kind == "file_urls_response":
                self.file_urls = fwd.file_urls_response
            elif kind == "page_info_changed":
                self.query = fwd.page_info_changed.query_string
            elif kind == "page_not_found":
                self.pages_not_found += 1
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                element = fwd.delta.new_element
                field = element.WhichOneof("type")
                if field == "exception":
                    self.errors += 1
                    self.last_error = element.exception.type or element.exception.message
                elif field == "markdown":
                    self.texts.append(element.markdown.body)
                elif field == "component_instance" and element.component_instance.component_name.endswith("live_watch"):
                    self.watch_args = json.loads(element.component_instance.json_args or "{}")
                widget_id = getattr(getattr(element, field), "id", "")
                if isinstance(widget_id, str) and widget_id.startswith("$$ID-"):
                    self.widget_ids[widget_id.split("-", 2)[2]] = widget_id
                    self.seen.add(widget_id.split("-", 2)[2])
            # A run that st.navigation or a new rerun cut short ends "early": the student waits on.
            elif kind == "script_finished" and fwd.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                return time.perf_counter() - start


async def lecture(port: int, pid: int, students: int, reruns: int, deadline: float) -> dict:
    """All students open the page, then all move their sliders at once until done or deadline."""
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    sockets = [await websockets.connect(url, subprotocols=["streamlit"], max_size=None,
                                        ping_interval=None, open_timeout=60) for _ in range(students)]
    try:
        hall = [Student(ws) for ws in sockets]
        first = await asyncio.gather(*(s.open_page() for s in hall))
        rss_joined, rss_peak, latencies = rss_mib(pid), [0.0], []

        async def watch_memory():
            while True:
                rss_peak[0] = max(rss_peak[0], rss_mib(pid))
                await asyncio.sleep(0.25)

        async def study(number: int, student: Student):
            for n in range(reruns):
                if time.monotonic() > deadline:
                    return
                # A kernel no one asked for yet (7 sizes × 47 σ): no cache hit up to 329 reruns.
                j = number * reruns + n
                kernel = {SLIDERS[0]: 3 + 2 * (j // 47 % 7), SLIDERS[1]: round(0.3 + 0.1 * (j % 47 + 1), 1)}
                latencies.append(await asyncio.wait_for(student.rerun(kernel), RERUN_TIMEOUT_S))

        watcher = asyncio.create_task(watch_memory())
        start = time.perf_counter()
        try:
            await asyncio.gather(*(study(i, s) for i, s in enumerate(hall)))
        finally:
            watcher.cancel()
        wall = time.perf_counter() - start
        return {"first": first, "latencies": latencies, "wall": wall, "rss_joined": rss_joined,
                "rss_peak": max(rss_peak[0], rss_mib(pid)), "errors": sum(s.errors for s in hall),
                "not_found": sum(s.pages_not_found for s in hall),
                "error_kinds": sorted({s.last_error for s in hall if s.errors})}
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def p95(values: list[float]) -> float:
    return sorted(values)[math.ceil(0.95 * len(values)) - 1]


def run_config(name: str, extra: list[str], args, deadline: float) -> dict:
    with tempfile.TemporaryFile() as log:
        server, port = None, free_port()
        try:
            server = start_server(port, extra, log)
            result = asyncio.run(lecture(port, server.pid, args.students, args.reruns, deadline))
        except BaseException:
            log.seek(0)
            print(f"[{name}] server log (tail):\n" + log.read().decode(errors="replace")[-2000:])
            raise
        finally:
            if server is not None:
                stop_server(server)
        if result["errors"]:  # what the students saw, and the server's last traceback
            log.seek(0)
            text = log.read().decode(errors="replace")
            print(f"[{name}] errors shown to students: {result['error_kinds']}\n"
                  + text[text.rfind("Traceback"):][:2500])
    lat = result["latencies"]
    result.update(median=statistics.median(lat), p95=p95(lat), throughput=len(lat) / result["wall"],
                  load=os.getloadavg()[0])
    planned = args.students * args.reruns
    cut = "" if len(lat) == planned else f"  (time limit: {len(lat)} of {planned} reruns)"
    first = statistics.median(result["first"])
    print(f"{name:9s} median {result['median']:6.2f} s  p95 {result['p95']:6.2f} s  "
          f"{result['throughput']:5.2f} reruns/s  first load median {first:5.2f} s  "
          f"RSS {result['rss_joined']:4.0f} -> peak {result['rss_peak']:4.0f} MiB  errors "
          f"{result['errors']}  page not found {result['not_found']}  load {result['load']:.2f}{cut}",
          flush=True)
    return result


# --- a lecture exercise: students spread over pages, each acting every 2-5 s -------------------

# page -> (first query, the slider each student moves, a random value for it)
HALL_PAGES = {
    "kernel_playground": (FIRST_QUERY, SLIDERS, lambda rng: {
        SLIDERS[0]: rng.choice([3, 5, 7, 9, 11, 13, 15]), SLIDERS[1]: round(rng.uniform(0.3, 5.0), 1)}),
    "feature_maps": ("", ("fm_index",), lambda rng: {"fm_index": rng.randrange(0, 300)}),
    "saliency": ("", ("sal_in_index",), lambda rng: {"sal_in_index": rng.randrange(0, 300)}),
}


def photo_png(seed: int, side: int = 512) -> bytes:
    """A new random photo-like picture (smooth noise), as a student's upload."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (side // 16, side // 16, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(small).resize((side, side), Image.Resampling.BICUBIC).save(buffer, format="PNG")
    return buffer.getvalue()


async def upload_photo(student: "Student", port: int, data: bytes) -> float:
    """What a browser does for st.file_uploader: switch the image source to Upload, ask the
    server for an upload URL (BackMsg file_urls_request), PUT the file there (with the XSRF
    cookie and header), then rerun with the uploader's new state, and delete the photo this one
    replaced. Seconds for the whole."""
    import urllib.request as request

    from streamlit.proto.Common_pb2 import FileUploaderState

    start = time.perf_counter()
    if "kp_img_upload" not in student.widget_ids:
        await student.rerun({"kp_img_source": "Upload"})
    if "kp_img_upload" not in student.widget_ids:
        raise RuntimeError("the uploader did not show after choosing Upload")
    ask = BackMsg()
    ask.file_urls_request.request_id = f"r{student.uploads}"
    ask.file_urls_request.file_names.append("photo.png")
    ask.file_urls_request.session_id = student.session_id
    student.file_urls = None
    await student.ws.send(ask.SerializeToString())
    while student.file_urls is None:
        fwd = ForwardMsg()
        fwd.ParseFromString(await student.ws.recv())
        if fwd.WhichOneof("type") == "file_urls_response":
            student.file_urls = fwd.file_urls_response
    urls = student.file_urls.file_urls[0]
    boundary = "----hall" + str(student.uploads)
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    put = request.Request(f"http://127.0.0.1:{port}{urls.upload_url}", data=body, method="PUT", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}", "X-Xsrftoken": student.xsrf,
        "Cookie": student.cookies})
    await asyncio.to_thread(lambda: request.urlopen(put, timeout=60).read())
    state = FileUploaderState()
    info = state.uploaded_file_info.add()
    info.file_id, info.name, info.size = urls.file_id, "photo.png", len(data)
    info.file_urls.CopyFrom(urls)
    student.uploads += 1
    await student.rerun({"kp_img_upload": ("file", state)})
    # The browser deletes the file it replaced (st.file_uploader holds one): without this the
    # server keeps every photo a student ever uploaded until the session ends.
    if student.last_upload:
        delete = request.Request(f"http://127.0.0.1:{port}{student.last_upload}", method="DELETE",
                                 headers={"X-Xsrftoken": student.xsrf, "Cookie": student.cookies})
        await asyncio.to_thread(lambda: request.urlopen(delete, timeout=60).read())
    student.last_upload = urls.delete_url
    return time.perf_counter() - start


def browser_cookies(port: int) -> dict[str, str]:
    """The cookies a browser holds after its first request: Streamlit's XSRF cookie (it comes
    with the health check's answer) and, behind HAProxy, the SRV cookie naming its replica."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=30) as response:
        pairs = [header.split(";")[0].split("=", 1) for header in response.headers.get_all("Set-Cookie") or []]
    return {name: value for name, value in pairs}


async def join(port: int, page: str) -> "Student":
    """A student's browser opening the hall: first request (cookies), then the websocket with them."""
    cookies = await asyncio.to_thread(browser_cookies, port)
    header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"],
                                  max_size=None, ping_interval=None, open_timeout=60,
                                  additional_headers={"Cookie": header} if header else None)
    query, sliders, _ = HALL_PAGES[page]
    student = Student(ws, page, query, sliders)
    student.cookies, student.xsrf = header, cookies.get("_streamlit_xsrf", "")
    student.replica = cookies.get("SRV", "")
    return student


def hall_pages() -> list[str]:
    """The pages of HALL_PAGES that the app registers now (Saliency only once it is in the catalog)."""
    sys.path.insert(0, str(ROOT))
    from pages._catalog import PAGES

    registered = {Path(p.path).stem for p in PAGES}
    return [name for name in HALL_PAGES if name in registered]


def server_status(pid: int) -> tuple[float, int, float]:
    """A server process's RSS (MiB), its number of threads (Streamlit's and torch's) and the CPU
    seconds it has used (user + system); zeros once it is gone."""
    values = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                values[key] = value.split()[0] if value.split() else "0"
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0, 0.0
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return int(values["VmRSS"]) / 1024, int(values["Threads"]), cpu


async def hall(port: int, pids: dict[str, int], students: int, duration: float, pages: list[str],
               seed: int = 0, uploads: float = 0.0) -> dict:
    """Students open their page (round robin over ``pages``), then each acts after a random
    2-5 s pause until ``duration`` seconds have passed; latencies per page, the RSS of every
    process in ``pids`` (name -> pid) over time. ``uploads``: the share of playground actions
    that upload a new photo instead."""
    import random

    rng = random.Random(seed)
    hall_ = [await join(port, pages[k % len(pages)]) for k in range(students)]
    try:
        opened = time.perf_counter()
        first = []
        for group in range(0, students, 5):  # a hall fills up within a minute, not in one instant
            first += await asyncio.gather(*(s.open_page() for s in hall_[group:group + 5]))
        print(f"  {students} students opened their pages in {time.perf_counter() - opened:.1f} s "
              f"(first load median {statistics.median(first):.2f} s)", flush=True)
        latencies: dict[str, list[float]] = {page: [] for page in pages}
        if uploads:
            latencies["upload (playground)"] = []
        # (s, {process: (RSS MiB, threads)}, reruns so far)
        timeline: list[tuple[float, dict[str, tuple[float, int]], int]] = []
        start = time.perf_counter()
        end = time.monotonic() + duration

        def sample() -> None:
            timeline.append((time.perf_counter() - start, {name: server_status(pid) for name, pid in pids.items()},
                             sum(map(len, latencies.values()))))

        async def watch():
            while True:
                sample()
                await asyncio.sleep(5)

        async def study(student: Student, own: random.Random):
            values = HALL_PAGES[student.page][2]
            await asyncio.sleep(own.uniform(0, 5))  # not all in step
            while time.monotonic() < end:
                try:
                    if student.page == "kernel_playground" and own.random() < uploads:
                        latencies["upload (playground)"].append(await asyncio.wait_for(
                            upload_photo(student, port, photo_png(own.randrange(10**9))), RERUN_TIMEOUT_S))
                    else:
                        latencies[student.page].append(
                            await asyncio.wait_for(student.rerun(values(own)), RERUN_TIMEOUT_S))
                        if not set(student.sliders) <= student.seen:
                            raise RuntimeError(f"the rerun did not run {student.page}")
                except (asyncio.TimeoutError, RuntimeError, KeyError, OSError) as err:
                    student.errors += 1  # counted and reported; the lecture goes on
                    student.last_error = f"{type(err).__name__}: {err}"[:120]
                await asyncio.sleep(own.uniform(2, 5))  # reading, thinking

        watcher = asyncio.create_task(watch())
        cpu_start = time.process_time()
        try:
            await asyncio.gather(*(study(s, random.Random(rng.random())) for s in hall_))
        finally:
            watcher.cancel()
        simulator_cpu = time.process_time() - cpu_start
        sample()
        return {"latencies": latencies, "wall": time.perf_counter() - start, "timeline": timeline,
                "errors": {page: sum(s.errors for s in hall_ if s.page == page) for page in latencies},
                "error_kinds": sorted({s.last_error for s in hall_ if s.errors}),
                "not_found": sum(s.pages_not_found for s in hall_), "first": first,
                "per_replica": Counter(s.replica for s in hall_ if s.replica), "simulator_cpu": simulator_cpu}
    finally:
        await asyncio.gather(*(s.ws.close() for s in hall_), return_exceptions=True)


REPLICA_LINE = re.compile(r"replica (r\d+): pid (\d+)")


def children(pid: int) -> list[int]:
    """Every process below ``pid`` (HAProxy's master and worker under deploy/hall.py)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        with contextlib.suppress(OSError):
            for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
                found.append(int(child))
                todo.append(int(child))
    return found


@contextlib.contextmanager
def servers(replicas: int, log, class_db: str = "", root: Path = ROOT):
    """``replicas`` 0: one `streamlit run` (the app's plain way to run); N >= 1: N replicas behind
    HAProxy started by ``deploy/hall.py --replicas N`` (``class_db``: their live class database).
    ``root``: the app's folder (another revision's checkout for ``--against``).
    Yields (port, {process name: pid})."""
    port = free_port()
    if replicas == 0:
        server = start_server(port, [], log, root)
        try:
            yield port, {"server": server.pid}
        finally:
            stop_server(server)
        return
    hall_py = subprocess.Popen([sys.executable, "deploy/hall.py", "--replicas", str(replicas), "--port", str(port),
                                "--bind", "127.0.0.1", *(["--class-db", class_db] if class_db else [])],
                               cwd=root, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        pids: dict[str, int] = {}
        while time.monotonic() < deadline and hall_py.poll() is None:
            log.seek(0)
            pids = {name: int(pid) for name, pid in REPLICA_LINE.findall(log.read().decode(errors="replace"))}
            if len(pids) == replicas:
                with contextlib.suppress(OSError):
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                        break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"deploy/hall.py did not serve port {port} (exit code {hall_py.poll()})")
        haproxy = [pid for pid in children(hall_py.pid) if pid not in pids.values()
                   and "haproxy" in Path(f"/proc/{pid}/comm").read_text()]
        yield port, {**pids, **{f"haproxy{'' if i == 0 else i}": pid for i, pid in enumerate(haproxy)}}
    finally:
        hall_py.send_signal(signal.SIGTERM)
        try:
            hall_py.wait(timeout=30)
        except subprocess.TimeoutExpired:
            hall_py.kill()
            hall_py.wait()


def run_hall(args, students: int | None = None, replicas: int | None = None, root: Path = ROOT,
             label: str = "") -> dict:
    students = args.students if students is None else students
    replicas = args.replicas if replicas is None else replicas
    pages = hall_pages()
    where = "one `streamlit run` server" if replicas == 0 else f"{replicas} replica(s) behind HAProxy (deploy/hall.py)"
    print(f"{label + ': ' if label else ''}Lecture exercise: {students} students on {where}, over {', '.join(pages)}, each acting every 2-5 s "
          f"for {args.duration:.0f} s ({args.uploads:.0%} of playground actions upload a new photo); shipped config; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryFile() as log:
        try:
            with servers(replicas, log, root=root) as (port, pids):
                result = asyncio.run(hall(port, pids, students, args.duration, pages, uploads=args.uploads))
        except BaseException:
            log.seek(0)
            print("server log (tail):\n" + log.read().decode(errors="replace")[-2000:])
            raise
        if any(result["errors"].values()):
            log.seek(0)
            text = log.read().decode(errors="replace")
            print(f"errors shown to students: {result['error_kinds']}\n" + text[text.rfind("Traceback"):][:2500])
    everything = [v for values in result["latencies"].values() for v in values]
    for page, values in result["latencies"].items():
        if values:
            print(f"  {page:18s} {len(values):5d} reruns  p50 {statistics.median(values):5.2f} s  "
                  f"p95 {p95(values):5.2f} s  max {max(values):5.2f} s  errors {result['errors'][page]}")
    errors = sum(result["errors"].values())
    result.update(students=students, replicas=replicas, errors_total=errors, p50=statistics.median(everything),
                  p95=p95(everything), max=max(everything), rate=len(everything) / result["wall"])
    print(f"  {'all pages':18s} {len(everything):5d} reruns  p50 {result['p50']:5.2f} s  "
          f"p95 {result['p95']:5.2f} s  max {result['max']:5.2f} s  ({result['rate']:.2f} reruns/s)  errors "
          f"{errors}  page not found {result['not_found']}")
    if result["per_replica"]:
        print("  students per replica (their SRV cookie): "
              + ", ".join(f"{name} {n}" for name, n in sorted(result["per_replica"].items())))
    names = list(pids)
    print("  processes over time (s: RSS MiB / threads per process, reruns so far):")
    step = max(1, len(result["timeline"]) // 24)
    for t, status, done in result["timeline"][::step] + result["timeline"][-1:]:
        print(f"    {t:6.0f} s  " + "  ".join(f"{name} {status[name][0]:5.0f}/{status[name][1]:<3d}" for name in names)
              + f"  {done:5d} reruns")
    # Where the two cores went while the students acted: each server process and this simulator.
    (t0, first, _), (t1, last, _) = result["timeline"][0], result["timeline"][-1]
    busy = {name: (last[name][2] - first[name][2]) / (t1 - t0) for name in names}
    own = result["simulator_cpu"] / result["wall"]
    result["cpu_per_rerun_ms"] = 1000 * sum(busy.values()) / result["rate"]
    print("  CPU in use (cores): " + ", ".join(f"{name} {c:.2f}" for name, c in busy.items())
          + f", the students' simulator {own:.2f}; server CPU per rerun {result['cpu_per_rerun_ms']:.0f} ms")
    # Memory: the second half of the run against its middle (after warm-up), per process.
    half = args.duration / 2
    growth = {}
    for name in names:
        later = [status[name][0] for t, status, _ in result["timeline"] if t >= half]
        if later:
            growth[name] = (later[0], max(later), later[-1])
            print(f"  {name}: RSS in the second half {later[0]:.0f} -> max {max(later):.0f} MiB "
                  f"(+{100 * (max(later) / later[0] - 1):.1f} %), last {later[-1]:.0f} MiB")
    result["growth"] = growth
    print(f"  load average at the end {os.getloadavg()[0]:.2f}", flush=True)
    return result


@contextlib.contextmanager
def checkout(revision: str):
    """A throwaway checkout of ``revision`` (a git worktree in a temporary folder), removed after."""
    folder = Path(tempfile.mkdtemp(prefix="vizcore-against-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(folder), revision], cwd=ROOT, check=True,
                   capture_output=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT, capture_output=True)


def run_against(args) -> None:
    """``--hall --against REV``: the same hall on REV's app and on this tree's, in turn (``--rounds``
    times each, alternating, so drift on the machine hits both), and the ratios this tree / REV."""
    with checkout(args.against) as old_root:
        runs: dict[str, list[dict]] = {args.against: [], "this tree": []}
        for round_ in range(args.rounds):
            for label, root in ((args.against, old_root), ("this tree", ROOT)):
                runs[label].append(run_hall(args, root=root, label=f"{label}, round {round_ + 1}"))
    print(f"\n{'':12s} {'CPU per rerun':>14s} {'p50':>7s} {'p95':>7s} {'reruns/s':>9s} {'errors':>7s}")
    summary = {}
    for label, results in runs.items():
        summary[label] = {key: statistics.median(r[key] for r in results)
                          for key in ("cpu_per_rerun_ms", "p50", "p95", "rate", "errors_total")}
        row = summary[label]
        print(f"{label:12s} {row['cpu_per_rerun_ms']:11.0f} ms {row['p50']:6.2f}s {row['p95']:6.2f}s "
              f"{row['rate']:9.2f} {row['errors_total']:7.0f}")
    new, old = summary["this tree"], summary[args.against]
    print("this tree / " + args.against + ": " + "  ".join(
        f"{key} {new[key] / old[key]:.2f}×" for key in ("cpu_per_rerun_ms", "p50", "p95", "rate")))


def run_matrix(args) -> None:
    """``--matrix``: the capacity table, every load on 1 and 2 replicas behind HAProxy, in one run."""
    rows = {}
    for replicas in args.replica_counts:
        for students in args.loads:
            rows[replicas, students] = run_hall(args, students, replicas)
    print("\nCapacity (p95 target 1 s; 2-core machine; the students' simulator runs on the same cores):")
    print(f"  {'students':>8s} {'replicas':>8s} {'p50 s':>6s} {'p95 s':>6s} {'max s':>6s} {'reruns/s':>8s} {'errors':>6s}"
          f" {'p95 / 1 replica':>15s}")
    for (replicas, students), r in rows.items():
        one = rows.get((1, students))
        ratio = f"{r['p95'] / one['p95']:.2f}" if one and replicas != 1 else ""
        print(f"  {students:8d} {replicas:8d} {r['p50']:6.2f} {r['p95']:6.2f} {r['max']:6.2f} {r['rate']:8.2f} "
              f"{r['errors_total']:6d} {ratio:>15s}")


# --- the Occlusion page: a whole hall opens it on the same sample at once --------------------------

async def occlusion_hall(port: int, students: int, reruns: int) -> dict:
    """All students open Occlusion at once (digits, test image #0, 8×8 patch, stride 4), then all
    switch to the shapes model at once, then each moves the map-opacity slider ``reruns`` times
    (display only). Seconds per step and student."""
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    sockets = [await websockets.connect(url, subprotocols=["streamlit"], max_size=None,
                                        ping_interval=None, open_timeout=60) for _ in range(students)]
    try:
        hall_ = [Student(ws, "occlusion", "", ("occ_opacity", "occ_model")) for ws in sockets]
        opened = await asyncio.gather(*(s.open_page() for s in hall_))
        switched = await asyncio.gather(*(asyncio.wait_for(s.rerun({"occ_model": "shapes (pretrained)"}),
                                                           RERUN_TIMEOUT_S) for s in hall_))

        async def display(number: int, student: Student) -> list[float]:
            return [await asyncio.wait_for(student.rerun({"occ_opacity": round(0.05 * ((number + n) % 19 + 1), 2)}),
                                           RERUN_TIMEOUT_S) for n in range(reruns)]

        shown = [t for times in await asyncio.gather(*(display(i, s) for i, s in enumerate(hall_))) for t in times]
        return {"open": opened, "switch": switched, "display": shown,
                "errors": sum(s.errors for s in hall_), "error_kinds": sorted({s.last_error for s in hall_ if s.errors})}
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def run_occlusion_hall(args) -> dict:
    """``--occlusion``: N students open the Occlusion page on the same sample at once. The page's
    results are cached per (weights, image, settings) and Streamlit lets one session compute a
    missing entry while the others wait for it, so the work must be done once, not N times: the
    server logs every real computation (VIZCORE_LOG_COMPUTATIONS) and they are counted."""
    print(f"{args.students} students open Occlusion on the same test image at once, then switch to the "
          f"shapes model at once, then {args.reruns} display-only reruns each; shipped config, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)
    os.environ["VIZCORE_LOG_COMPUTATIONS"] = "1"  # this benchmark's server only (it inherits it)
    with tempfile.TemporaryFile() as log:
        server, port = None, free_port()
        try:
            server = start_server(port, [], log)
            result = asyncio.run(occlusion_hall(port, args.students, args.reruns))
        finally:
            if server is not None:
                stop_server(server)
            del os.environ["VIZCORE_LOG_COMPUTATIONS"]
        log.seek(0)
        text = log.read().decode(errors="replace")
    computed = [line for line in text.splitlines() if line.startswith("[vizcore] computed occlusion")]
    for step, values in (("open (digits)", result["open"]), ("switch to shapes", result["switch"]),
                         ("display-only rerun", result["display"])):
        print(f"  {step:20s} {len(values):4d} reruns  p50 {statistics.median(values):6.2f} s  "
              f"p95 {p95(values):6.2f} s  max {max(values):6.2f} s")
    print(f"  occlusion computations on the server: {len(computed)} (one per model: 2 expected) "
          f"for {2 * args.students} students' requests; errors {result['errors']} {result['error_kinds'] or ''}")
    for line in computed:
        print("    " + line)
    print(f"  load average at the end {os.getloadavg()[0]:.2f}", flush=True)
    return result


# --- the live class (issue 27): --live --------------------------------------------------------------

LIVE_VIEWS = [("kernel_playground", {"preset": "Sharpen"}), ("shape_calculator", {}),
              ("kernel_playground", {"preset": "Gaussian blur"}), ("shape_calculator", {})]
LIVE_CHOICES = ["3×3", "5×5", "7×7", "1×1"]
PG_STATS_LAG_S = 11.0  # pg_stat_database shows an idle backend's transactions this late at most


async def http_get(port: int, path: str, cookies: str, timeout: float) -> tuple[int, bytes]:
    """One GET through the balancer on its own connection, as the browser's fetch does: asyncio
    streams, not urllib in threads (a thread pool would queue 300 waiting long polls)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookies}\r\n"
                     f"Connection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def join_class(port: int, code: str) -> Student:
    """A phone opening the class link ``/live_class?class=CODE`` through the balancer: the first
    request (XSRF and SRV cookies), then its websocket with them."""
    cookies = await asyncio.to_thread(browser_cookies, port)
    header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"],
                                  max_size=None, ping_interval=None, open_timeout=60,
                                  additional_headers={"Cookie": header} if header else None)
    student = Student(ws, "live_class", f"class={code}", ())
    student.cookies, student.xsrf, student.replica = header, cookies.get("_streamlit_xsrf", ""), cookies.get("SRV", "")
    return student


class Follower:
    """A phone in the class: a Student (its websocket) and the watcher that pages/_live_watch's
    index.html runs in the browser: long-poll ``/_live/version`` with the page's stamp, and when
    the answer differs, ask Streamlit for a rerun (one run at a time on the websocket)."""

    def __init__(self, student: Student, port: int) -> None:
        self.student, self.port = student, port
        self.lock = asyncio.Lock()
        self.stamp = None
        self.polls = self.poll_errors = 0
        self.arrived: dict[int, float] = {}  # view change number -> when its page showed it

    async def run(self, widgets: dict | None = None) -> float:
        async with self.lock:
            took = await asyncio.wait_for(self.student.rerun(widgets), RERUN_TIMEOUT_S)
            self.stamp = self.student.watch_args.get("stamp", self.stamp)  # the component's render args
            return took

    async def watch(self, stop: asyncio.Event, on_rerun) -> None:
        from urllib.parse import urlencode

        while not stop.is_set():
            args = self.student.watch_args
            query = urlencode({"class": args.get("code", ""), "since": self.stamp or "", "session": args.get("session", "")})
            try:
                status, body = await http_get(self.port, f"/_live/version?{query}", self.student.cookies, 40)
                found = json.loads(body)["stamp"] if status == 200 else None
            except (OSError, asyncio.TimeoutError, ValueError, KeyError, IndexError):
                status, found = 0, None
            self.polls += 1
            if status != 200:
                self.poll_errors += 1
                await asyncio.sleep(2)  # as the watcher does
                continue
            if found is not None and found != self.stamp:
                self.stamp = found
                try:
                    await self.run()
                except (asyncio.TimeoutError, OSError, websockets.ConnectionClosed) as err:
                    self.student.errors += 1
                    self.student.last_error = f"{type(err).__name__}: {err}"[:120]
                on_rerun(self)


def pg_transactions(url: str) -> int | None:
    """Transactions committed and rolled back in the class database so far (pg_stat_database),
    or None on SQLite. The store's queries are short transactions: this counts them across all
    replicas' processes, which no in-process counter can."""
    if not url.startswith("postgresql"):
        return None
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as db:
        row = db.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                         "WHERE datname = current_database()").fetchone()
    return int(row[0])


@contextlib.contextmanager
def class_database():
    """(SQLAlchemy URL, what it is): a throwaway PostgreSQL cluster (tests/_postgres.py), or a
    temporary SQLite file when PostgreSQL is not installed."""
    sys.path.insert(0, str(ROOT / "tests"))
    import _postgres

    if _postgres.available():
        with _postgres.cluster() as (url, _):
            yield url, "PostgreSQL (throwaway cluster)"
        return
    folder = tempfile.mkdtemp(prefix="bench-live-")
    yield f"sqlite:///{folder}/class.db", "SQLite (PostgreSQL is not installed: no store transaction counts)"


async def live_class(port: int, pids: dict[str, int], url: str, args) -> dict:
    """The live lecture: students join by the class link and follow; idle; view changes; a question."""
    import random

    sys.path.insert(0, str(ROOT))
    from vizcore import live

    store = live.LiveStore(url)
    code, key = store.start_class()
    store.set_view(code, key, "shape_calculator", {})
    replicas = {name: pid for name, pid in pids.items() if name.startswith("r")}
    stop = asyncio.Event()
    changes: list[float] = []  # when each view change was made
    targets: list[str] = []

    def on_rerun(follower: Follower) -> None:
        for number, (made, target) in enumerate(zip(changes, targets)):
            if number not in follower.arrived and follower.student.shown == target:
                follower.arrived[number] = time.monotonic() - made

    followers: list[Follower] = []
    joined = time.perf_counter()
    for group in range(0, args.students, 10):  # a hall fills up over a minute, not in one instant
        batch = [Follower(await join_class(port, code), port) for _ in range(group, min(group + 10, args.students))]
        await asyncio.gather(*(f.run() for f in batch))
        followers += batch
    watchers = [asyncio.create_task(f.watch(stop, on_rerun)) for f in followers]
    try:
        following = sum(f.student.shown == "shape_calculator" for f in followers)
        print(f"  {args.students} students joined by the link in {time.perf_counter() - joined:.1f} s; "
              f"{following} show the lecturer's Shape calculator; per replica: "
              + ", ".join(f"{n} {c}" for n, c in sorted(Counter(f.student.replica for f in followers).items())), flush=True)

        # (d) idle followers of an unchanged view: the replicas' CPU and the store's transactions.
        # PostgreSQL's statistics lag: a backend that goes idle reports its counts within 10 s
        # (PGSTAT_IDLE_INTERVAL); the joins' burst must not be counted as idle transactions.
        await asyncio.sleep(PG_STATS_LAG_S if url.startswith("postgresql") else 3)
        cpu0, xacts0, t0 = {n: server_status(p)[2] for n, p in replicas.items()}, pg_transactions(url), time.monotonic()
        await asyncio.sleep(args.idle)
        idle_s = time.monotonic() - t0
        idle_cpu = {n: 1000 * (server_status(p)[2] - cpu0[n]) / idle_s for n, p in replicas.items()}
        xacts1 = pg_transactions(url)
        idle_tps = None if xacts0 is None else (xacts1 - xacts0) / idle_s

        # (a) the lecturer's view changes: until each follower's page shows it.
        per_page: dict[str, list[float]] = {}
        for number in range(args.changes):
            page, query = LIVE_VIEWS[number % len(LIVE_VIEWS)]
            targets.append(page)
            changes.append(time.monotonic())
            store.set_view(code, key, page, query)  # as the lecturer's page does after their run
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(number not in f.arrived for f in followers):
                await asyncio.sleep(0.1)
            per_page.setdefault(page, []).extend(f.arrived.get(number, math.inf) for f in followers)
            await asyncio.sleep(2)
        view_s = time.monotonic() - changes[0]
        xacts2 = pg_transactions(url)
        view_tps = None if xacts1 is None else (xacts2 - xacts1) / view_s

        # (e) Saliency on the ImageNet network: every follower shows the same six explanations;
        # each replica must compute them once (Streamlit's cache lets one session compute a
        # missing entry while the others wait), not once per student: the replicas log each
        # real computation (VIZCORE_LOG_COMPUTATIONS) and they are counted.
        saliency_s: list[float] = []
        if args.saliency:
            number = len(changes)
            targets.append("saliency")
            changes.append(time.monotonic())
            store.set_view(code, key, "saliency", {"model": "imagenet (pretrained)"})
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and any(number not in f.arrived for f in followers):
                await asyncio.sleep(0.2)
            saliency_s = [f.arrived.get(number, math.inf) for f in followers]

        # (b) a question: every student opens the Live class page and taps an answer within the window.
        qid = store.ask(code, key, {"type": "choice", "prompt": "Which kernel made this feature map?",
                                    "choices": LIVE_CHOICES, "answer": 1})
        taps: list[float] = []
        acknowledged: Counter = Counter()
        failed: list[str] = []
        rng = random.Random(0)
        asked = time.monotonic()

        async def answer(number: int, follower: Follower) -> None:
            s = follower.student
            await asyncio.sleep(rng.uniform(0, args.answer_window * 0.4))  # looks at the phone
            s.page, s.page_hash, s.query = "live_class", s.page_hashes.get("live_class", ""), f"class={code}"
            await follower.run()
            await asyncio.sleep(rng.uniform(0, args.answer_window * 0.4))  # thinks
            choice = number % len(LIVE_CHOICES)
            button = f"live_choice_{qid}_{choice}"
            if button not in s.seen:
                failed.append(f"no question on the page ({s.shown}): {' | '.join(s.texts)[:100]}")
                return
            taps.append(await follower.run({button: True}))
            if any(t.replace("\\", "").startswith(f"Your answer: {LIVE_CHOICES[choice]}") for t in s.texts):
                acknowledged[str(choice)] += 1
            else:
                failed.append(f"not acknowledged: {' | '.join(s.texts)[:100]}")

        await asyncio.gather(*(answer(i, f) for i, f in enumerate(followers)))
        answer_s = time.monotonic() - asked
        xacts3 = pg_transactions(url)
        answer_tps = None if xacts2 is None else (xacts3 - xacts2) / answer_s
        counted = store.counts(qid)
    finally:
        stop.set()
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        await asyncio.gather(*(f.student.ws.close() for f in followers), return_exceptions=True)
    return {"per_page": per_page, "saliency": saliency_s, "idle_cpu": idle_cpu, "idle_s": idle_s, "tps": {"idle": idle_tps, "view changes": view_tps,
            "answering": answer_tps}, "taps": taps, "acknowledged": acknowledged, "counted": counted, "failed": failed,
            "answer_s": answer_s, "errors": sum(f.student.errors for f in followers),
            "error_kinds": sorted({f.student.last_error for f in followers if f.student.errors}),
            "polls": sum(f.polls for f in followers), "poll_errors": sum(f.poll_errors for f in followers)}


def saliency_computations(log) -> Counter:
    """Saliency's real computations per replica, read from the replicas' own logs (hall.py names
    their folder in its log)."""
    log.flush()
    log.seek(0)
    found = re.search(r"replica logs in (\S+);", log.read().decode(errors="replace"))
    counts: Counter = Counter()
    if found:
        for path in sorted(Path(found.group(1)).glob("r*.log")):
            text = path.read_text(errors="replace")
            counts[path.stem] = sum(line.startswith("[vizcore] computed saliency") for line in text.splitlines())
    return counts


def run_live(args) -> dict:
    """``--live``: N students in one class across R replicas behind HAProxy, one class database."""
    os.environ["VIZCORE_LOG_COMPUTATIONS"] = "1"  # the replicas log each real computation: (e) counts them
    with class_database() as (url, what), tempfile.TemporaryFile() as log:
        print(f"Live class: {args.students} students following the lecturer across {args.replicas} replica(s) behind "
              f"HAProxy, class database {what}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)
        try:
            with servers(args.replicas, log, url) as (port, pids):
                r = asyncio.run(live_class(port, pids, url, args))
                r["computed"] = saliency_computations(log)
        except BaseException:
            log.seek(0)
            print("hall log (tail):\n" + log.read().decode(errors="replace")[-2000:])
            raise
    n, replicas = args.students, args.replicas

    def share(values: list[float]) -> str:
        within = sum(v <= 2 for v in values) / len(values)
        return f"p95 {p95(values):.2f} s, {100 * within:.0f} % within 2 s"

    def tps(value: float | None) -> str:
        if value is None:
            return "n/a (SQLite)"
        return f"{value:.1f} (per replica {value / replicas:.1f}, per student {value / n:.2f})"

    total_cpu = sum(r["idle_cpu"].values())
    sent, acked, counted = len(r["taps"]), sum(r["acknowledged"].values()), sum(r["counted"].values())
    once = dict(r["acknowledged"]) == r["counted"]
    rows = [(f"view change reaches 95 % of followers: {page.replace('_', ' ')}", share(values), "≤ 2 s")
            for page, values in r["per_page"].items()]
    if r["saliency"]:
        per_replica = ", ".join(f"{k} {v}" for k, v in sorted(r["computed"].items()))
        rows.append(("Saliency, ImageNet network: every follower's page shows it",
                     f"p50 {statistics.median(r['saliency']):.1f} s, p95 {p95(r['saliency']):.1f} s", "(reported)"))
        rows.append(("Saliency computations (six methods) for the whole class", f"{sum(r['computed'].values())} "
                     f"({per_replica}) for {n} followers", f"6 per replica ({6 * replicas}), not {6 * n}"))
    rows += [(f"{n} answers within {args.answer_window:.0f} s: counted", f"{counted} of {acked} acknowledged "
              f"({sent} sent), {'each exactly once' if once else 'MISMATCH'}", "all, once"),
             ("answer tap round trip", f"p50 {statistics.median(r['taps']):.2f} s, p95 {p95(r['taps']):.2f} s"
              if r["taps"] else "none", "p95 ≤ 1 s")]
    rows += [(f"store transactions/s, {phase}", tps(value), "bounded by replicas") for phase, value in r["tps"].items()]
    rows.append((f"CPU of all replicas, {n} idle followers", f"{total_cpu:.0f} ms/s ({total_cpu / n:.1f} per follower; "
                 + ", ".join(f"{k} {v:.0f}" for k, v in r["idle_cpu"].items()) + ")", "< 1000 ms/s"))
    print(f"\n| {n} students, {replicas} replicas | measured | target (300 students, 4 replicas) |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if r["tps"]["idle"] is not None:
        print("  (store transactions: pg_stat_database's commits + rollbacks of all replicas together; a phase's "
              "count can include up to 10 s of the one before, PostgreSQL's statistics lag)")
    print(f"\n  long polls {r['polls']} ({r['poll_errors']} failed), script errors {r['errors']} {r['error_kinds'] or ''}; "
          f"idle window {r['idle_s']:.0f} s; the question took {r['answer_s']:.1f} s from asking to the last tap; "
          f"load average at the end {os.getloadavg()[0]:.2f}")
    for why in r["failed"][:5]:
        print("  " + why)
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--reruns", type=int, default=10, help="slider changes per student")
    parser.add_argument("--quick", action="store_true", help="5 students × 3 reruns")
    parser.add_argument("--time-limit", type=float, default=180.0, help="seconds for the whole run")
    parser.add_argument("--hall", action="store_true",
                        help="the lecture exercise: students over several pages, acting every 2-5 s")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of acting in --hall (a soak: 600)")
    parser.add_argument("--uploads", type=float, default=0.1,
                        help="--hall: share of playground actions that upload a new 512 px photo")
    parser.add_argument("--replicas", type=int, default=0,
                        help="--hall: 0 = one `streamlit run` server; N = N replicas behind HAProxy (deploy/hall.py)")
    parser.add_argument("--matrix", action="store_true",
                        help="the capacity table: --loads students on each of --replica-counts replicas")
    parser.add_argument("--loads", type=int, nargs="+", default=[30, 60, 90])
    parser.add_argument("--replica-counts", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--occlusion", action="store_true",
                        help="N students open the Occlusion page on the same sample at once (computed once?)")
    parser.add_argument("--live", action="store_true",
                        help="issue 27's live class: --students (default 300) follow the lecturer across --replicas "
                             "(default 4) behind HAProxy, one class database")
    parser.add_argument("--idle", type=float, default=30.0, help="--live: seconds of idle following measured")
    parser.add_argument("--changes", type=int, default=4, help="--live: the lecturer's view changes")
    parser.add_argument("--saliency", action=argparse.BooleanOptionalAction, default=True,
                        help="--live: the lecturer also opens Saliency on the ImageNet network (computed once per replica?)")
    parser.add_argument("--against", metavar="REV",
                        help="--hall: also run the same hall on git revision REV's app, in turn, and print the ratios")
    parser.add_argument("--rounds", type=int, default=1, help="--against: runs of each, alternating")
    parser.add_argument("--answer-window", type=float, default=20.0, help="--live: seconds in which all answers are sent")
    args = parser.parse_args()
    if args.live:
        given = any(a == "--students" or a.startswith("--students=") for a in sys.argv)
        args.students = args.students if given else 300  # the hall; the other modes default to 30
        args.replicas = args.replicas or 4
        run_live(args)
        return
    if args.occlusion:
        run_occlusion_hall(args)
        return
    if args.quick:
        args.students, args.reruns = 5, 3
    if args.matrix:
        run_matrix(args)
        return
    if args.hall and args.against:
        run_against(args)
        return
    if args.hall:
        run_hall(args)
        return
    load1, load5, _ = os.getloadavg()
    print(f"{args.students} students × {args.reruns} reruns of the Kernel playground (Gaussian blur, "
          f"new size/σ), {os.cpu_count()} cores, load average {load1:.2f} {load5:.2f}", flush=True)
    end = time.monotonic() + args.time_limit
    results = {}
    for i, (name, extra) in enumerate(CONFIGS.items()):
        # Each config gets an equal share of the time left; no new rerun starts after it.
        deadline = time.monotonic() + (end - time.monotonic()) / (len(CONFIGS) - i)
        results[name] = run_config(name, extra, args, deadline)
    shipped, defaults = results["shipped"], results["defaults"]
    ratios = (f"{key} {defaults[key] / shipped[key]:.2f}×" for key in ("median", "p95", "throughput", "rss_peak"))
    print("defaults / shipped: " + "  ".join(ratios))


if __name__ == "__main__":
    main()
