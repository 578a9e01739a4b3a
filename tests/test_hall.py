"""A whole lecture hall through a real HAProxy on loopback: `deploy/hall.py --replicas 2`.

One hall for the module (its replicas start in parallel), driven like browsers through
Streamlit's websocket protocol (tests/_hall_client.py): the app is served, a student stays on one
replica (the SRV cookie), uploads work with the cookie and fail without it, killing a replica
costs only its own students a reconnect, and hall.py starts it again; a live class survives a
killed replica (its students rejoin on the other one, every acknowledged answer counted once).
Skipped when HAProxy is
missing (apt-get install haproxy), failed under CI, where .ci/run installs it.
"""
from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import websockets

from _hall_client import SLIDERS, Student, get, photo_png
from vizcore import live

ROOT = Path(__file__).resolve().parents[1]
HALL = ROOT / "deploy" / "hall.py"
START_S = 150  # two replicas importing torch at once on 2 busy cores
FEW_S = 10  # "within a few seconds": a killed replica's student has a working page again


def need_haproxy() -> None:
    if load_hall().find_haproxy() is None:
        if os.environ.get("CI"):
            pytest.fail("HAProxy is missing (.ci/run installs it)", pytrace=False)
        pytest.skip("HAProxy is not installed (apt-get install haproxy)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_hall():
    """deploy/hall.py as a module (deploy/ is not a package)."""
    spec = importlib.util.spec_from_file_location("deploy_hall", HALL)
    module = importlib.util.module_from_spec(spec)
    sys.modules["deploy_hall"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("replicas, remotes", [(1, []), (3, ["10.0.0.12:8501"])])
def test_haproxy_accepts_the_rendered_config(tmp_path, replicas, remotes):
    need_haproxy()
    hall = load_hall()
    servers = [(f"r{i + 1}", f"127.0.0.1:{8600 + i}") for i in range(replicas)]
    servers += [(f"r{replicas + i + 1}", remote) for i, remote in enumerate(remotes)]
    config = tmp_path / "haproxy.cfg"
    config.write_text(hall.render_config("0.0.0.0", 8080, servers))
    check = subprocess.run([hall.find_haproxy(), "-c", "-f", str(config)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    text = config.read_text()
    for name, address in servers:
        assert f"server {name} {address} cookie {name}" in text
    assert "cookie SRV insert indirect nocache httponly" in text and "balance leastconn" in text


class Hall:
    """The running `deploy/hall.py`: its URL, and what it printed (pids and ports of replicas)."""

    def __init__(self, process: subprocess.Popen, log: Path, port: int):
        self.process, self.log, self.port = process, log, port
        self.url = f"http://127.0.0.1:{port}"

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def replicas(self) -> list[tuple[str, int, int]]:
        """(name, pid, port) for every replica line printed so far, restarts included."""
        return [(name, int(pid), int(port)) for name, pid, port in
                re.findall(r"^replica (r\d+): pid (\d+), http://127\.0\.0\.1:(\d+)$", self.text(), re.M)]

    def pid(self, name: str) -> int:
        """The pid of the replica's latest start."""
        return [pid for n, pid, _ in self.replicas() if n == name][-1]


@pytest.fixture(scope="module")
def hall(tmp_path_factory):
    need_haproxy()
    port = free_port()
    log = tmp_path_factory.mktemp("hall") / "hall.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, str(HALL), "--replicas", "2", "--port", str(port),
                                    "--bind", "127.0.0.1", "--class-db", os.environ["VIZCORE_CLASS_DB"]],
                                   cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)  # conftest's throwaway class database
    running = Hall(process, log, port)
    deadline = time.monotonic() + START_S
    while "\nhall: " not in running.text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"deploy/hall.py did not start the hall:\n{running.text()[-3000:]}")
        time.sleep(0.2)
    try:
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            code = "still running after 40 s"
        config = re.search(r"^haproxy: pid \d+, config (\S+)$", running.text(), re.M)
        left = [f"replica {name} (pid {pid})" for name, pid, _ in running.replicas() if alive(pid)]
        left += [f"streamlit on port {p}" for _, _, p in running.replicas() if command_line(rf"--server\.port {p}$")]
        left += ["haproxy"] if config and command_line(rf"^haproxy .*{re.escape(config.group(1))}") else []
        assert code == 0 and not left, f"exit code {code}, left running: {left}\n{running.text()[-2000:]}"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def command_line(pattern: str) -> bool:
    """Whether a running process's command line matches (pgrep -f, without needing procps)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if re.search(pattern, cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()):
                return True
        except OSError:  # it ended meanwhile
            pass
    return False


def test_the_app_is_served_through_the_balancer_and_both_replicas_get_students(hall):
    status, cookies, body, headers = get(hall.url + "/")
    assert status == 200 and b"<html" in body.lower() and headers.get("X-Replica") in ("r1", "r2")
    assert cookies["SRV"] == headers["X-Replica"]
    assert get(hall.url + "/_stcore/health")[0] == 200

    async def two_students():
        students = [Student(hall.url), Student(hall.url)]
        try:
            for student in students:  # one after the other: leastconn sees the first one's websocket
                await student.connect()
            await asyncio.gather(*(s.open_page() for s in students))
            return [(s.replica, s.cookies.get("SRV"), s.errors, set(SLIDERS) <= s.seen) for s in students]
        finally:
            await asyncio.gather(*(s.close() for s in students))

    seen = asyncio.run(two_students())
    assert sorted(replica for replica, *_ in seen) == ["r1", "r2"], seen
    assert all(cookie == replica and errors == 0 and drawn for replica, cookie, errors, drawn in seen), seen


def test_each_replica_runs_one_torch_thread_per_pass_and_two_malloc_arenas(hall):
    """Two replicas on this machine: each within its share of the cores (one thread per torch
    pass, the app's default), glibc's arenas capped before the start (RSS stays lower)."""
    for name in ("r1", "r2"):
        environ = dict(item.split("=", 1) for item in
                       Path(f"/proc/{hall.pid(name)}/environ").read_text().split("\0") if "=" in item)
        assert environ["VIZCORE_TORCH_THREADS"] == "1" and environ["MALLOC_ARENA_MAX"] == "2"
        assert environ["STREAMLIT_SERVER_COOKIE_SECRET"]  # one secret for all replicas


@pytest.mark.parametrize("replicas, setting, threads", [(1, None, 1), (2, None, 1), (1, "2", min(2, os.cpu_count() or 1)),
                                                        (64, "2", 1), (1, "many", 1), (1, "0", 1)])
def test_torch_threads_stay_within_a_replicas_share_of_the_cores(replicas, setting, threads):
    environ = {} if setting is None else {"VIZCORE_TORCH_THREADS": setting}
    assert load_hall().torch_threads(replicas, environ) == threads


def test_the_balancer_refuses_a_body_over_the_upload_limit(hall):
    """HAProxy answers 413 from the headers alone (21 MiB > the app's 20 MB), before any body."""
    with socket.create_connection(("127.0.0.1", hall.port), timeout=10) as s:
        s.sendall(b"PUT /_stcore/upload_file/x/y HTTP/1.1\r\nHost: hall\r\nContent-Length: 30000000\r\n\r\n")
        assert s.recv(200).split(b"\r\n")[0] == b"HTTP/1.1 413 Payload Too Large"


def test_the_status_page_is_served_on_loopback_only_never_on_the_halls_port(hall):
    stats = re.search(r"^status page \(this machine only\): (http://127\.0\.0\.1:\d+/haproxy-stats)$", hall.text(), re.M)
    assert stats, hall.text()[-2000:]
    with urllib.request.urlopen(stats.group(1), timeout=10) as answer:
        assert answer.status == 200 and b"replicas" in answer.read()
    try:
        with urllib.request.urlopen(f"{hall.url}/haproxy-stats", timeout=10) as answer:
            body = answer.read()
    except urllib.error.HTTPError as err:
        body = err.read()
    assert b"Statistics Report" not in body  # the hall's port passes it to a replica (Streamlit's 404 page)
    config = re.search(r"^haproxy: pid \d+, config (\S+)$", hall.text(), re.M).group(1)
    assert re.search(r"^\s+bind 127\.0\.0\.1:\d+$", Path(config).read_text(), re.M)


def test_a_student_with_the_cookie_stays_on_one_replica(hall):
    for name in ("r1", "r2"):
        answered = {get(hall.url + "/_stcore/health", {"SRV": name})[3].get("X-Replica") for _ in range(15)}
        assert answered == {name}
    without, deadline = set(), time.monotonic() + 5  # a closing websocket may still count for a moment
    while without != {"r1", "r2"} and time.monotonic() < deadline:
        without |= {get(hall.url + "/_stcore/health")[3].get("X-Replica") for _ in range(4)}
    assert without == {"r1", "r2"}  # no cookie: spread over both


def test_uploads_succeed_with_the_cookie_and_fail_on_the_other_replica(hall):
    async def upload_several():
        _, cookies, _, _ = get(hall.url + "/_stcore/health")  # the browser's first request: SRV and XSRF cookies
        student = Student(hall.url, cookies)
        await student.connect()
        try:
            assert student.replica == cookies["SRV"]
            await student.open_page()
            shown = []
            for seed in range(3):
                data = photo_png(seed)
                status, body = await student.upload(data)
                assert status == 204, body  # stored, no content
                await student.show_upload(data)
                shown.append((student.errors, student.alerts, tuple(student.images)))
            media = get(hall.url + student.images[0], student.cookies)[0]
            other = {"r1": "r2", "r2": "r1"}[student.replica]
            wrong = await student.upload(photo_png(9), {**student.cookies, "SRV": other})
            media_elsewhere = get(hall.url + student.images[0], {**student.cookies, "SRV": other})[0]
            return shown, media, wrong, media_elsewhere
        finally:
            await student.close()

    shown, media, (status, body), media_elsewhere = asyncio.run(upload_several())
    # Every upload drew the picture: no error, no "Choose an image" prompt, the still pictures.
    assert all(errors == 0 and not alerts and len(images) >= 2 for errors, alerts, images in shown), shown
    assert len({images for *_, images in shown}) == 3  # each upload's own pictures
    assert media == 200
    # Without affinity, what streamlit#4173/#9976 report: only the session's replica knows it.
    assert status == 400 and "Invalid session_id" in body, (status, body)
    assert media_elsewhere == 404


def test_a_killed_replica_costs_only_its_own_students_a_reconnect(hall):
    async def scenario():
        pinned = {name: Student(hall.url, {"SRV": name}) for name in ("r1", "r2")}
        for student in pinned.values():
            await student.connect()
        first, second = pinned["r1"], pinned["r2"]
        try:
            assert (first.replica, second.replica) == ("r1", "r2")
            await asyncio.gather(first.open_page(), second.open_page())
            recovered = asyncio.Event()
            failures: list[str] = []

            async def keep_working():  # the other replica's student, during and after the kill
                n = 0
                while not recovered.is_set() or n < 3:
                    try:
                        await second.rerun({SLIDERS[1]: round(0.5 + 0.1 * (n % 40), 1)})
                    except Exception as err:  # counted: the target is none at all
                        failures.append(repr(err))
                        return n
                    n += 1
                return n

            worker = asyncio.create_task(keep_working())
            await asyncio.sleep(0.5)
            os.kill(hall.pid("r1"), signal.SIGKILL)
            killed = time.monotonic()
            with pytest.raises(websockets.ConnectionClosed):  # the browser sees its websocket close
                await asyncio.wait_for(first.rerun({SLIDERS[1]: 2.0}), FEW_S)
            await reconnect(first, killed)  # and reconnects, its old cookie (SRV=r1) included
            await first.open_page()
            back = time.monotonic() - killed
            recovered.set()
            reruns = await worker
            return first, second, back, reruns, failures
        finally:
            await asyncio.gather(*(s.close() for s in pinned.values()))

    first, second, back, reruns, failures = asyncio.run(scenario())
    assert not failures and second.errors == 0 and reruns >= 3, (failures, second.errors, reruns)
    # A new session on the live replica, its cookie changed to it, the page drawn, no error.
    assert first.replica == "r2" and first.cookies["SRV"] == "r2"
    assert set(SLIDERS) <= first.seen and first.errors == 0
    assert back < FEW_S, f"the killed replica's student waited {back:.1f} s for a working page"


def test_a_restarted_replica_rejoins(hall):
    killed = [pid for name, pid, _ in hall.replicas() if name == "r1"][0]
    if alive(killed):  # the failover test did not get as far as the kill
        os.kill(killed, signal.SIGKILL)
    deadline = time.monotonic() + START_S
    while get(hall.url + "/_stcore/health", {"SRV": "r1"})[3].get("X-Replica") != "r1":
        assert time.monotonic() < deadline, f"r1 did not rejoin:\n{hall.text()[-2000:]}"
        time.sleep(0.5)
    assert f"replica r1 exited with code -{int(signal.SIGKILL)}" in hall.text()
    assert hall.pid("r1") != killed and alive(hall.pid("r1"))

    async def on_r1():
        student = Student(hall.url, {"SRV": "r1"})
        await student.connect()
        try:
            await student.open_page()
            await student.rerun({SLIDERS[0]: 7})
            return student
        finally:
            await student.close()

    student = asyncio.run(on_r1())
    assert student.replica == "r1" and student.errors == 0 and set(SLIDERS) <= student.seen


CHOICES = ["3×3", "5×5", "7×7", "1×1"]


def plain(texts: list[str]) -> list[str]:
    return [t.replace("\\", "") for t in texts]  # the page escapes Markdown in what it quotes


async def reconnect(student: Student, since: float) -> None:
    """The browser's reconnect after its websocket closed: the same address, its old cookies."""
    while True:
        try:
            await student.connect()
            return
        except (OSError, websockets.InvalidStatus):
            assert time.monotonic() - since < FEW_S, "no websocket within a few seconds"
            await asyncio.sleep(0.2)


def test_a_replica_killed_mid_question_keeps_its_students_in_the_class(hall):
    """Four students on two replicas (two joined by the class link, two by the code box) answer a
    question on their pages; r2 is killed. Its students land on r1 in new sessions, still in the
    class (the address kept class=CODE), and can answer again; every answer acknowledged before
    the kill is counted exactly once."""
    store = live.LiveStore(os.environ["VIZCORE_CLASS_DB"])  # the lecturer, through the store with the key
    code, key = store.start_class()
    qid = store.ask(code, key, {"type": "choice", "prompt": "Which kernel made this feature map?",
                                "choices": CHOICES, "answer": 1})
    logs = Path(re.search(r"^replica logs in (\S+);", hall.text(), re.M).group(1))
    logged = {name: (logs / f"{name}.log").stat().st_size for name in ("r1", "r2")}

    async def answer(student: Student, choice: int) -> list[str]:
        """A tap on a choice; the acknowledgement the page shows (none: no question on the page)."""
        button = f"live_choice_{qid}_{choice}"
        if button not in student.seen:
            return []
        await student.rerun({button: True})
        return [t for t in plain(student.texts) if t.startswith("Your answer:")]

    async def open_page(student: Student) -> None:
        """The Live class page; once more if a fresh session's first run showed another page."""
        for _ in range(2):
            await student.rerun()
            if {"live_code", "live_leave"} & student.seen:
                return

    async def scenario():
        # Each browser keeps its anonymous class id in a cookie (the page's watcher sets it).
        students = [Student(hall.url, {"SRV": f"r{1 + i % 2}", "vizcore_student": secrets.token_hex(12)},
                            page="live_class", query=f"class={code}" if i < 2 else "") for i in range(4)]
        try:
            for student in students:
                await student.connect()
            await asyncio.gather(*(open_page(s) for s in students))
            for student in students[2:]:  # the code box and Join
                await student.rerun({"live_code": code.lower(), "live_join": True})
            opened = [(s.replica, s.query, "Which kernel made this feature map?" in s.texts) for s in students]
            acknowledged = [await answer(s, i) for i, s in enumerate(students)]
            assert store.counts(qid) == {"0": 1, "1": 1, "2": 1, "3": 1}
            os.kill(hall.pid("r2"), signal.SIGKILL)
            killed = time.monotonic()
            lost = students[1::2]
            for student in lost:
                with pytest.raises(websockets.ConnectionClosed):  # the browser sees its websocket close
                    await asyncio.wait_for(student.rerun(), FEW_S)
            counted_after_kill = store.counts(qid)
            for student in lost:
                await reconnect(student, killed)
            await asyncio.gather(*(open_page(s) for s in lost))  # the page at the address it showed
            back = time.monotonic() - killed
            rejoined = [(s.replica, s.query, plain(s.texts), "live_code" in s.seen) for s in lost]
            again = [await answer(s, 0) for s in lost]  # a new session, the browser's id: their answer changes
            still = await answer(students[0], 3)  # the other replica's student changes their answer
            return opened, acknowledged, counted_after_kill, back, rejoined, again, still, students
        finally:
            await asyncio.gather(*(s.close() for s in students), return_exceptions=True)

    opened, acknowledged, counted_after_kill, back, rejoined, again, still, students = asyncio.run(scenario())
    assert [(r, q) for r, q, _ in opened] == [("r1", f"class={code}"), ("r2", f"class={code}")] * 2, opened
    assert all(shown for *_, shown in opened), opened  # the code-box students' address got class=CODE too
    assert acknowledged == [[f"Your answer: {c} (you can change it until the lecturer reveals)"] for c in CHOICES]
    assert counted_after_kill == {"0": 1, "1": 1, "2": 1, "3": 1}  # nothing acknowledged was lost
    for replica, query, texts, join_form in rejoined:  # on r1, in the class, the question on the page
        assert replica == "r1" and query == f"class={code}" and not join_form, (replica, query)
        assert "Which kernel made this feature map?" in texts and f"Live class {code}: following the lecturer" in texts
    assert back < FEW_S, f"the killed replica's students waited {back:.1f} s for the class"
    assert all(ack and ack[0].startswith(f"Your answer: {CHOICES[0]}") for ack in again), again
    assert still and still[0].startswith(f"Your answer: {CHOICES[3]}")
    # One answer per student: the lost students' new sessions kept their browser's id, so their
    # second answer replaced the first (never counted twice); the other student changed theirs.
    assert store.counts(qid) == {"0": 2, "2": 1, "3": 1}
    assert all(s.errors == 0 for s in students), [s.errors for s in students]
    text = (logs / "r1.log").read_bytes()[logged["r1"]:].decode(errors="replace")
    assert "Traceback" not in text and "Uncaught app execution" not in text, text[-3000:]
