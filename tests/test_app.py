"""The app frame: navigation, the home page, every registered page, and vizcore's independence."""
import pkgutil
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import vizcore
from pages._catalog import PAGES, SECTION_ORDER

ROOT = Path(__file__).resolve().parents[1]


def test_home_page_links_every_registered_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Seeing convolutions"
    shown_sections = [h.value for h in at.subheader]
    assert shown_sections == [s for s in SECTION_ORDER if any(p.section == s for p in PAGES)]
    lines = [m.value for m in at.markdown]
    links = {link.proto.page: link.proto.help for link in at.main.get("page_link")}
    for page in PAGES:  # its card: the link (what it teaches in the link's help) and its short line
        assert page.short in lines and links[Path(page.path).stem] == page.teaches


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.path)
def test_registered_page_exists_and_runs_on_its_own(page):
    assert (ROOT / page.path).is_file()
    assert page.section in SECTION_ORDER or page.path == "pages/live_class.py"  # beside Home
    at = AppTest.from_file(str(ROOT / page.path), default_timeout=120).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]  # shipped defaults show no error


def test_vizcore_never_imports_streamlit():
    modules = [f"vizcore.{m.name}" for m in pkgutil.iter_modules(vizcore.__path__)]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print('streamlit' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_streamlit_run_serves_app_py_as_an_app_that_imports_the_libraries_at_start():
    """`streamlit run app.py` finds `app` (an st.App whose start-up does the heavy imports);
    imported outside a session, app.py draws nothing and runs no page."""
    from streamlit.web.server.app_discovery import discover_asgi_app

    found = discover_asgi_app(ROOT / "app.py")
    assert found.is_asgi_app and found.app_name == "app"
    code = (
        "import sys, asyncio\n"
        "import app\n"
        "from streamlit.web.server.starlette.starlette_app import App\n"
        "assert isinstance(app.app, App), type(app.app)\n"
        "assert not [m for m in sys.modules if m.startswith('pages.') and m not in "
        "('pages._catalog', 'pages._ui', 'pages._warm', 'pages._live', 'pages._phone') "
        "and not m.startswith('pages._ui.')], 'a page ran'\n"
        "from pages import _warm\n"
        "assert 'torch' not in sys.modules\n"
        "async def start():\n"
        "    async with _warm.warm_libraries(app.app):\n"
        "        pass\n"
        "asyncio.run(start())\n"
        "import torch, threadpoolctl\n"
        "print(torch.get_num_threads())\n"
        "print(max(i['num_threads'] for i in threadpoolctl.threadpool_info()))\n"
        "print(sorted(set(_warm.MODULES) - set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if k != "VIZCORE_TORCH_THREADS"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-3:] == ["1", "1", "[]"]  # one thread per call: see pages/_warm.py


@pytest.mark.parametrize("value,threads", [(None, 1), ("1", 1), ("2", min(2, os.cpu_count() or 1)), ("0", 1),
                                           ("-3", 1), ("100000", os.cpu_count() or 1), ("two", 1), ("", 1)])
def test_the_servers_torch_threads_come_from_one_setting(value, threads):
    from pages._warm import torch_threads

    assert torch_threads({} if value is None else {"VIZCORE_TORCH_THREADS": value}) == threads


ARENAS_CODE = """
import ctypes, os, sys, tempfile, threading
from pages._warm import limit_malloc_arenas
print(limit_malloc_arenas())
start, hold = threading.Barrier(16), []
def rerun():  # a session's thread: allocates while the others do (each would get an arena)
    start.wait()
    hold.append([bytearray(4096) for _ in range(2000)])
threads = [threading.Thread(target=rerun) for _ in range(16)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL("libc.so.6")
libc.fopen.restype = ctypes.c_void_p
path = tempfile.mktemp()
f = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, ctypes.c_void_p(f)); libc.fclose(ctypes.c_void_p(f))
print(open(path).read().count("<heap nr="))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
@pytest.mark.parametrize("setting,capped", [(None, True), ("0", False)])
def test_the_server_caps_mallocs_arenas(setting, capped):
    """Streamlit runs each rerun in a new thread; glibc would give up to 8 arenas per core, where
    freed memory lingers (RSS +30 % in a soak). The start-up cap keeps every thread in 2."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIZCORE_MALLOC_ARENAS", "MALLOC_ARENA_MAX")}
    if setting is not None:
        env["VIZCORE_MALLOC_ARENAS"] = setting
    out = subprocess.run([sys.executable, "-c", ARENAS_CODE], cwd=ROOT, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    cap, arenas = map(int, out.stdout.split())
    if capped:
        assert (cap, arenas) == (2, 2)
    else:  # the same threads without the cap: the test can tell the difference
        assert cap == 0 and arenas > 2


def test_shipped_config_hides_tracebacks_and_stays_fast():
    import tomllib

    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["client"]["showErrorDetails"] == "none"
    assert cfg["browser"]["gatherUsageStats"] is False
    assert cfg["server"]["fileWatcherType"] == "none"
    assert cfg["runner"]["postScriptGC"] is False
    from vizcore.images import MAX_UPLOAD_BYTES

    assert cfg["server"]["maxUploadSize"] * 2**20 >= MAX_UPLOAD_BYTES  # code limit is the binding one


@pytest.mark.parametrize("path", ["pages/home.py"] + [p.path for p in PAGES])
def test_every_page_routes_a_cold_deep_link_through_the_app(path):
    """Without this call a deep link on a fresh server shows Streamlit's legacy page list."""
    assert "\nroute_through_app()" in (ROOT / path).read_text()
