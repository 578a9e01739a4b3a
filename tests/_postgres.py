"""A throwaway PostgreSQL cluster for tests (Debian's postgresql package): initdb in a temp dir,
pg_ctl start on a free port with its socket in the same dir, pg_ctl stop at the end.

Not a test module. Run as root, the server runs as the ``postgres`` user (runuser), as
PostgreSQL refuses to run as root.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

BIN_DIRS = tuple(sorted(str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")))


def _bin(name: str) -> str | None:
    for folder in BIN_DIRS:
        if Path(folder, name).exists():
            return str(Path(folder, name))
    return shutil.which(name)


def available() -> bool:
    return _bin("initdb") is not None and _bin("pg_ctl") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def cluster():
    """Yields ``(url, control)``: a SQLAlchemy URL of a fresh database, and ``control(action)``
    with action "stop" or "start" (a restart mid-test)."""
    folder = Path(tempfile.mkdtemp(prefix="vizcore-pg-"))
    data = folder / "data"
    port = _free_port()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    subprocess.run(_as_server_user([_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]),
                   check=True, capture_output=True)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"

    def control(action: str) -> None:
        command = [_bin("pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log")]
        if action == "start":
            command += ["-o", options, "start"]
        else:
            command += ["-m", "fast", "stop"]
        subprocess.run(_as_server_user(command), check=True, capture_output=True, timeout=60)

    control("start")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", control
    finally:
        with contextlib.suppress(Exception):
            control("stop")
        shutil.rmtree(folder, ignore_errors=True)
