"""A lecture starts: many students open the same deep link on a freshly started server.

Each must get the page inside app.py's navigation, never Streamlit's legacy listing of the
files in pages/ (see pages/__init__.py). Students are simulated with Streamlit's own websocket
protocol on 127.0.0.1, as a browser tab would talk to the server.
"""
import asyncio
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

websockets = pytest.importorskip("websockets")

ROOT = Path(__file__).resolve().parents[1]
STUDENTS = 6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def open_deep_link(port: int, page_name: str) -> tuple[str, list[str]]:
    """One tab opens /<page_name>: returns the page it lands on and the sidebar's page names."""
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    async with websockets.connect(url, subprotocols=["streamlit"], max_size=None) as ws:
        msg = BackMsg()
        msg.rerun_script.page_name = page_name
        await ws.send(msg.SerializeToString())
        landed, listed = "", []
        while True:
            fwd = ForwardMsg()
            fwd.ParseFromString(await asyncio.wait_for(ws.recv(), 120))
            kind = fwd.WhichOneof("type")
            if kind == "navigation":
                pages = fwd.navigation.app_pages
                listed = [p.page_name for p in pages]
                landed = next(p.page_name for p in pages if p.page_script_hash == fwd.navigation.page_script_hash)
            elif kind == "script_finished" and fwd.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                return landed, listed


@pytest.mark.parametrize("page_name, title", [("kernel_playground", "Kernel playground"), ("quiz", "Shape quiz")])
def test_simultaneous_cold_deep_links_all_land_inside_the_app(page_name, title):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.25)

        async def lecture():
            return await asyncio.gather(*[open_deep_link(port, page_name) for _ in range(STUDENTS)])

        results = asyncio.run(lecture())
    finally:
        server.terminate()
        server.wait(timeout=10)
    for landed, listed in results:
        assert landed == title
        assert listed[0] == "Home" and "Kernel playground" in listed
        assert not {"app", "ui", "catalog"} & set(listed)
