"""A whole lecture hall on one command: N replicas of the app behind HAProxy, stopped together.

    python deploy/hall.py --replicas N --port P [--bind 0.0.0.0] [--remote HOST:PORT ...]

Starts N `streamlit run app.py` replicas on ports of 127.0.0.1 (one Python process holds about
one core: its sessions share one GIL), all with one cookie secret and their share of the cores
for torch, waits until each answers /_stcore/health, then runs HAProxy (deploy/haproxy.cfg,
cookie affinity) on P in front of them and of any replicas on other machines (--remote).
A replica that dies is started again on its port; HAProxy's health check takes it back.
SIGINT (Ctrl+C) or SIGTERM stops everything it started. It installs nothing: HAProxy comes
from Debian's package (apt-get install haproxy).
"""
from __future__ import annotations

import argparse
import ctypes
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = Path(__file__).with_name("haproxy.cfg")
SECRET_ENV = "VIZCORE_COOKIE_SECRET"
CLASS_DB_ENV = "VIZCORE_CLASS_DB"  # read by pages/_live.py: every replica of a hall shares one class database
THREADS_ENV = "VIZCORE_TORCH_THREADS"  # read by pages/_warm.py
START_S = 180.0  # a replica imports torch, plotly, scikit-learn… before it answers: minutes on a busy machine
STOP_S = 10.0  # how long a process may take to stop after SIGTERM before it is killed

STOP = {"requested": False}  # set by SIGINT/SIGTERM; every wait below checks it


def request_stop(*_) -> None:
    """The signal handler: only a flag (a lock taken here could be the one the main thread holds)."""
    STOP["requested"] = True


def pause(seconds: float) -> bool:
    """Sleep a moment; whether a stop was asked for."""
    if not STOP["requested"]:
        time.sleep(seconds)
    return STOP["requested"]


@dataclass
class Replica:
    """One local `streamlit run app.py`: its name in HAProxy (the SRV cookie), port and process."""
    name: str
    port: int
    log: Path
    process: subprocess.Popen | None = None
    started: float = 0.0
    restarts: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port(taken: set[int]) -> int:
    """A port of 127.0.0.1 no one listens on now, and not one of ``taken`` (the hall's own port
    and the replicas' so far: free now, but they will be used), which it joins."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port


def port_is_free(bind: str, port: int) -> bool:
    """Whether HAProxy will be able to listen there: checked before a minute of replica start-up."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as HAProxy does
        try:
            s.bind((bind, port))
        except OSError:
            return False
    return True


def _die_with_parent() -> None:
    """In the child, before exec: its own process group (so a stop reaches its children too, and
    the terminal's Ctrl+C reaches only hall.py, which stops it in order), and SIGTERM if hall.py
    itself dies without cleaning up (SIGKILL): no orphan keeps a port and a core."""
    os.setsid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
    except (AttributeError, OSError):
        pass


def torch_threads(replicas: int, environ=os.environ) -> int:
    """Threads per torch pass in each replica: the app's own setting (``VIZCORE_TORCH_THREADS``,
    default 1: a busy server's many passes share the cores better one thread each, see
    pages/_warm.py), never more than a replica's share of this machine's cores."""
    share = max(1, (os.cpu_count() or 1) // max(1, replicas))
    wanted = environ.get(THREADS_ENV, "1")
    return min(share, max(1, int(wanted))) if wanted.isdigit() else 1


def start_replica(replica: Replica, secret: str, threads: int) -> None:
    """`streamlit run app.py` from the repository root (its .streamlit/config.toml applies), on
    loopback only: students reach it through HAProxy. The secret travels in the environment,
    not on the command line, where `ps` would show it to every user of the machine."""
    # MALLOC_ARENA_MAX: glibc reads it at the start; the app caps arenas itself a little later
    # (pages/_warm.py), when the process has made some already. 2 arenas: 20 students for 5
    # minutes ended at 690-730 MiB against 920-960 with glibc's default.
    env = dict(os.environ, STREAMLIT_SERVER_COOKIE_SECRET=secret, **{THREADS_ENV: str(threads)})
    env.setdefault("MALLOC_ARENA_MAX", "2")
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(replica.port)]
    with open(replica.log, "ab") as log:  # the child keeps its own copy of the descriptor
        replica.process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                           stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    replica.started = time.monotonic()


def healthy(url: str) -> bool:
    """Whether a replica answers Streamlit's health check."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def wait_until_healthy(replicas: list[Replica]) -> None:
    """Until every replica answers (they start in parallel); SystemExit if one exits or is late."""
    deadline = time.monotonic() + START_S
    waiting = list(replicas)
    while waiting and not STOP["requested"]:
        for replica in list(waiting):
            if replica.process.poll() is not None:
                raise SystemExit(f"replica {replica.name} exited with code {replica.process.returncode} "
                                 f"while starting:\n{tail(replica.log)}")
            if healthy(replica.url):
                waiting.remove(replica)
        if time.monotonic() > deadline:
            raise SystemExit(f"replicas {', '.join(r.name for r in waiting)} did not answer within {START_S:.0f} s")
        pause(0.25)


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, to show why a process ended."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def find_haproxy() -> str | None:
    """HAProxy's path: on PATH, else where Debian installs it (/usr/sbin is not on a normal
    user's PATH there)."""
    return shutil.which("haproxy") or shutil.which("haproxy", path="/usr/local/sbin:/usr/sbin:/sbin")


def render_config(bind: str, port: int, servers: list[tuple[str, str]], stats_port: int = 8404) -> str:
    """deploy/haproxy.cfg with the frontend's address and one `server` line per replica
    (name, host:port); the name is also the replica's SRV cookie value. The status page listens
    on 127.0.0.1:``stats_port`` only (main() passes a free port)."""
    lines = "\n".join(f"    server {name} {address} cookie {name}" for name, address in servers)
    return string.Template(TEMPLATE.read_text()).substitute(bind=bind, port=port, servers=lines,
                                                            stats_port=stats_port)


def start_haproxy(haproxy: str, config: Path) -> subprocess.Popen:
    """HAProxy in master-worker mode in the foreground (-W -db): one process tree to stop."""
    return subprocess.Popen([haproxy, "-W", "-db", "-f", str(config)], stdin=subprocess.DEVNULL,
                            preexec_fn=_die_with_parent)


def wait_for_port(process: subprocess.Popen, bind: str, port: int, timeout: float = 15.0) -> None:
    """Until HAProxy accepts connections on the hall's port; SystemExit if it exits first."""
    host = "127.0.0.1" if bind in ("0.0.0.0", "") else "::1" if bind == "::" else bind
    deadline = time.monotonic() + timeout
    while not STOP["requested"]:
        if process.poll() is not None:
            raise SystemExit(f"haproxy exited with code {process.returncode} (its messages are above)")
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"haproxy did not listen on port {port} within {timeout:.0f} s")
            pause(0.1)


def terminate(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to each process group, SIGKILL to what is left after STOP_S: nothing survives."""
    alive = [p for p in processes if p is not None and p.poll() is None]
    for process in alive:
        signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_S
    for process in alive:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for process in alive:
        if process.poll() is None:  # still there: no more asking
            signal_group(process, signal.SIGKILL)
            process.wait()


def signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)  # each child leads its own group (_die_with_parent)
    except ProcessLookupError:
        pass


def supervise(replicas: list[Replica], haproxy: subprocess.Popen, secret: str, threads: int) -> None:
    """Until stopped: start again a replica that died (on its port, so HAProxy's `server` line
    still fits; its health check takes it back). A replica that keeps dying soon after its
    start waits longer each time, up to a minute, instead of looping on a broken app."""
    while not pause(0.5):
        if haproxy.poll() is not None:
            raise SystemExit(f"haproxy exited with code {haproxy.returncode}: stopping the hall")
        for replica in replicas:
            code = replica.process.poll()
            if code is None:
                continue
            now = time.monotonic()
            replica.restarts = [t for t in replica.restarts if now - t < 300]
            delay = min(60.0, 2.0 ** len(replica.restarts)) if now - replica.started < 60 else 0.0
            if now - replica.started < delay:  # not yet: look again at the next poll
                continue
            print(f"replica {replica.name} exited with code {code}; restarting it on port {replica.port}",
                  flush=True)
            if code > 0:  # it failed (a negative code: a signal ended it, e.g. the OOM killer's)
                print(tail(replica.log), file=sys.stderr, flush=True)
            replica.restarts.append(now)
            start_replica(replica, secret, threads)
            print(f"replica {replica.name}: pid {replica.process.pid}, {replica.url}", flush=True)


def hall_url(bind: str, port: int) -> str:
    """The address students type: this machine's address on the network when bound to all."""
    host = bind
    if bind in ("0.0.0.0", "::", ""):
        try:  # the interface a packet would leave by (UDP connect sends nothing)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect(("10.255.255.255", 1))
                host = s.getsockname()[0]
        except OSError:
            host = socket.gethostname()
    return f"http://{host}:{port}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, required=True,
                        help="Streamlit processes to start on this machine (0: balancer only, with --remote)")
    parser.add_argument("--port", type=int, required=True, help="the port students connect to")
    parser.add_argument("--bind", default="0.0.0.0",
                        help="address HAProxy listens on (default 0.0.0.0: every interface)")
    parser.add_argument("--first-replica-port", type=int, default=0,
                        help="local replicas on this port and the next ones (default: free ports)")
    parser.add_argument("--remote", action="append", default=[], metavar="HOST:PORT",
                        help="a replica running on another machine with the same cookie secret (repeatable)")
    parser.add_argument("--class-db", default=os.environ.get(CLASS_DB_ENV, ""),
                        help=f"the live class's database for every replica (default: ${CLASS_DB_ENV}, else a SQLite "
                             "file the replicas of this machine share); across machines: postgresql+psycopg://…")
    parser.add_argument("--cookie-secret", default=os.environ.get(SECRET_ENV, ""),
                        help=f"server.cookieSecret of every replica (default: ${SECRET_ENV}, else a random one)")
    args = parser.parse_args(argv)
    if args.replicas < 0 or (args.replicas == 0 and not args.remote):
        parser.error("--replicas must be at least 1, or 0 with at least one --remote")
    for remote in args.remote:
        host, _, port = remote.rpartition(":")
        if not host or not port.isdigit():
            parser.error(f"--remote {remote!r}: expected HOST:PORT")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    haproxy_path = find_haproxy()
    if haproxy_path is None:
        print("hall.py needs HAProxy, which is not installed: sudo apt-get install haproxy", file=sys.stderr)
        return 2
    if args.remote and not args.cookie_secret:
        print(f"replicas on other machines need the hall's cookie secret: choose one and give it here "
              f"(--cookie-secret or ${SECRET_ENV}) and to each of them (--server.cookieSecret)", file=sys.stderr)
        return 2
    if not port_is_free(args.bind, args.port):
        print(f"port {args.port} on {args.bind} is in use: choose another --port", file=sys.stderr)
        return 2
    # One secret for all replicas (Streamlit signs its cookies with it); a random one when they
    # all run here and none was given.
    secret = args.cookie_secret or secrets.token_urlsafe(32)
    if not args.cookie_secret:
        print(f"note: a random cookie secret was made for this hall; replicas on several machines "
              f"must share one: set ${SECRET_ENV} or --cookie-secret", flush=True)
    threads = torch_threads(args.replicas)
    if args.class_db:  # the replicas inherit the environment: one class database for the whole hall
        os.environ[CLASS_DB_ENV] = args.class_db
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_stop)

    workdir = Path(tempfile.mkdtemp(prefix="hall-"))
    taken = {args.port}
    replicas = [Replica(f"r{i + 1}", args.first_replica_port + i if args.first_replica_port else free_port(taken),
                        workdir / f"r{i + 1}.log") for i in range(args.replicas)]
    haproxy = None
    try:
        for replica in replicas:  # all at once: their start-ups overlap
            start_replica(replica, secret, threads)
            print(f"replica {replica.name}: pid {replica.process.pid}, {replica.url}", flush=True)
        remotes = [(f"r{args.replicas + i + 1}", remote) for i, remote in enumerate(args.remote)]
        for name, remote in remotes:
            print(f"replica {name}: remote, http://{remote}", flush=True)
        print(f"replica logs in {workdir}; waiting until the replicas answer…", flush=True)
        wait_until_healthy(replicas)
        config = workdir / "haproxy.cfg"
        servers = [(r.name, f"127.0.0.1:{r.port}") for r in replicas] + remotes
        stats_port = free_port(taken)
        config.write_text(render_config(args.bind, args.port, servers, stats_port))
        if not STOP["requested"]:
            haproxy = start_haproxy(haproxy_path, config)
            wait_for_port(haproxy, args.bind, args.port)
        if not STOP["requested"]:
            print(f"haproxy: pid {haproxy.pid}, config {config}", flush=True)
            print(f"status page (this machine only): http://127.0.0.1:{stats_port}/haproxy-stats", flush=True)
            print(f"hall: {hall_url(args.bind, args.port)} ({args.replicas} local and {len(remotes)} remote "
                  f"replicas, {threads} torch thread(s) each; Ctrl+C stops them all)", flush=True)
            supervise(replicas, haproxy, secret, threads)
    finally:
        print("stopping the hall…", flush=True)
        terminate([haproxy] + [r.process for r in replicas])
        shutil.rmtree(workdir, ignore_errors=True)
        print("hall stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
