"""The hostile files and links of issue 11 each grow the server process by less than 300 MB.

The files are generated here (nothing hostile is stored in the repository). One fresh worker
process handles them one after the other: before each case it resets the kernel's peak-memory
mark (``/proc/self/clear_refs``), afterwards it reads the peak (``VmHWM``), so the growth of
each case is measured on its own, including everything the case allocated and freed again.
Before the budgets these cases took +1.1 GB to +5 GB, or ran for minutes.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MB = 300
pytestmark = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")


def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) // 1024  # MB
    return out


def _measure(work) -> dict:
    import gc

    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # peak RSS := current RSS
    before = _status()["VmRSS"]
    start = time.perf_counter()
    try:
        outcome = work()
    except ValueError as err:  # every budget says no with a ValueError subclass and a message
        outcome = f"refused: {str(err)[:120]}"
    seconds = time.perf_counter() - start
    return {"growth_mb": _status()["VmHWM"] - before, "seconds": round(seconds, 2), "outcome": str(outcome)}


def _png(size, mode="RGB", array=None) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    (Image.fromarray(array) if array is not None else Image.new(mode, size, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip(files) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files:
            archive.writestr(name, content)
    return buffer.getvalue()


def _cases() -> dict:
    """name -> callable; the hostile inputs are built here, before any measurement."""
    import numpy as np
    import torch
    from streamlit.testing.v1 import AppTest

    from pages import _kernel_playground_state as pg_state
    from vizcore import data, images, models, playground as pg

    def saved(obj) -> bytes:
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        return buffer.getvalue()

    state = models.build_model("digits").state_dict()
    stride0 = saved({k: torch.zeros(1).expand(4 * 10**8) if k == "fc1.weight" else v for k, v in state.items()})
    stride0_40gb = saved({k: torch.zeros(1).expand(10**10) for k in state})
    deflated = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(saved({"w": torch.zeros(4 * 10**8 // 4)})), "r") as src, \
            zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():  # 400 MB of zeros in a ~400 KB file
            dst.writestr(info.filename, src.read(info))
    meta = {"classes": [str(i) for i in range(10)], "input_shape": [1, 60000, 60000], "mean": [0.1], "std": [0.3]}
    huge_meta = models.save_checkpoint(models.build_model("digits"), meta)
    sixteen = _png(None, array=(np.arange(6300 * 6300, dtype=np.uint32) % 65536).astype(np.uint16).reshape(6300, 6300))
    nan_tiff = io.BytesIO()
    from PIL import Image
    values = np.ones((2000, 2000), dtype=np.float32)  # 16 MB: under the 20 MB upload limit
    values[1, 1] = np.nan
    Image.fromarray(values, mode="F").save(nan_tiff, format="TIFF")
    big_png = _png((5000, 5000), "L")
    zip_5000 = _zip((f"c{i % 2}/{i}.png", big_png) for i in range(5000))
    tiny = _png((4, 4))
    zip_1600 = _zip((f"class{c}/{i}.png", tiny) for c in range(1600) for i in range(3))
    photo = _png(None, array=np.random.default_rng(0).integers(0, 256, (1024, 1024, 3), dtype=np.uint8))

    def playground(query: dict, setup=None) -> str:
        at = AppTest.from_file(str(ROOT / "pages" / "kernel_playground.py"), default_timeout=300)
        for k, v in query.items():
            at.query_params[k] = v
        at.run()
        if setup:
            setup(at)
        assert not at.exception, at.exception
        payload = sum(len(c.proto.spec) for c in at.get("plotly_chart"))
        return f"page ran, figures {payload / 2**20:.1f} MB"

    def all_filters(at) -> None:
        at.radio(key="kp_img_source").set_value("Upload")
        at.run()
        at.select_slider(key="kp_img_side").set_value(1024)
        at.file_uploader(key="kp_img_upload").set_value(("photo.png", photo, "image/png"))
        at.multiselect(key="kp_filters").set_value(list(pg.kernels.PRESETS)[:pg_state.MAX_FILTERS])
        at.run()

    def pooling_flood() -> str:
        at = AppTest.from_file(str(ROOT / "pages" / "pooling.py"), default_timeout=300).run()
        at.session_state["pool_matrix_0"] = {"edited_rows": {}, "deleted_rows": [], "added_rows": [{"0": 1}] * 30_000}
        at.run()
        assert not at.exception
        return "page ran"

    def link_matrix_1e308() -> str:
        return playground({"view": "Matrix", "matrix": ";".join([",".join(["1e308"] * 16)] * 16)})

    return {
        "stride-0 .pt (400M numbers claimed)": lambda: models.load_checkpoint(stride0, "digits"),
        "stride-0 .pt (40 GB claimed)": lambda: models.load_checkpoint(stride0_40gb, "digits"),
        "deflated .pt record (400 MB of zeros)": lambda: models.load_checkpoint(deflated.getvalue(), "digits"),
        "meta input_shape [1, 60000, 60000]": lambda: models.load_checkpoint(huge_meta, "digits"),
        "16-bit 6300×6300 PNG": lambda: images.reduce_to_working_size(images.load_image(sixteen), 1024)[0].size,
        "float TIFF with a NaN pixel": lambda: images.load_image(nan_tiff.getvalue()),
        "zip of 5,000 PNGs of 5000×5000": lambda: data.load_image_folder_zip(zip_5000),
        "zip of 1,600 classes": lambda: data.load_image_folder_zip(zip_1600),
        "link: one filter 300 times": lambda: playground({"color": "filters", "filters": "|".join(["Sobel y"] * 300)}),
        "N filters on a 1024 px photo": lambda: playground({"color": "filters"}, all_filters),
        "link: 16×16 matrix of 1e308": link_matrix_1e308,
        "pooling editor +30,000 rows": pooling_flood,
    }


def worker() -> None:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests"))
    import conftest  # noqa: F401 - the same Streamlit options as the tests

    cases = _cases()
    from streamlit.testing.v1 import AppTest

    for warm in ("kernel_playground", "pooling"):  # imports and caches: not the cases' cost
        AppTest.from_file(str(ROOT / "pages" / f"{warm}.py"), default_timeout=300).run()
    print(json.dumps({name: _measure(work) for name, work in cases.items()}))


def test_each_hostile_input_grows_the_process_by_less_than_300_mb():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, __file__, "worker"], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    report = "\n".join(f"{name}: +{r['growth_mb']} MB, {r['seconds']} s, {r['outcome']}" for name, r in results.items())
    print(report)
    assert all(r["growth_mb"] < LIMIT_MB for r in results.values()), report
    assert all(r["seconds"] < 60 for r in results.values()), report
    refused = [n for n, r in results.items() if r["outcome"].startswith("refused")]
    assert set(refused) >= {"stride-0 .pt (400M numbers claimed)", "stride-0 .pt (40 GB claimed)",
                            "deflated .pt record (400 MB of zeros)", "meta input_shape [1, 60000, 60000]",
                            "float TIFF with a NaN pixel", "zip of 5,000 PNGs of 5000×5000",
                            "zip of 1,600 classes"}, report


if __name__ == "__main__" and sys.argv[1:] == ["worker"]:
    worker()
