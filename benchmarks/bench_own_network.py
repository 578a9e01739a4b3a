"""Issue 26's targets for a student's own network, measured side by side in one run.

1. Opening a file: ``vizcore.models.load_user_model`` on a 5-million-parameter network (Keras
   .keras and legacy .h5, and ONNX from torch) against its target of 2 s, beside Keras' own
   ``keras.saving.load_model`` on the same file (the peer; it builds the same network).
2. A page's rerun: each model page (Feature maps, Saliency, Occlusion, LIME) with the shipped
   ``scenes`` network, and with the very same network exported to ONNX and opened as "your own
   network" (the same size, so any difference is the converted form). Target ≤ 1.2×.

    python benchmarks/bench_own_network.py [--reruns 7]
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("VIZCORE_CLASS_DB", f"sqlite:///{tempfile.mkdtemp()}/class.db")

import streamlit.config  # noqa: E402

streamlit.config.set_option("client.showErrorDetails", "full")

import torch  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from pages._warm import torch_threads  # noqa: E402
from vizcore import models  # noqa: E402

torch.set_num_threads(torch_threads())
PAGES = {"feature_maps.py": "fm_model", "saliency.py": "sal_model", "occlusion.py": "occ_model", "lime.py": "lime_model"}


def median_time(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def keras_five_million(folder: Path) -> list[Path]:
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64, 64, 3)), layers.Rescaling(1 / 255),
                              layers.Conv2D(64, 3, padding="same", activation="relu"), layers.BatchNormalization(),
                              layers.MaxPooling2D(), layers.Conv2D(128, 3, padding="same", activation="relu"),
                              layers.MaxPooling2D(), layers.Conv2D(256, 3, strides=2, padding="same", activation="relu"),
                              layers.Flatten(), layers.Dense(300, activation="relu"), layers.Dropout(0.5),
                              layers.Dense(10, activation="softmax")])
    print(f"Keras network: {model.count_params():,} parameters")
    paths = [folder / "five_million.keras", folder / "five_million.h5"]
    for path in paths:
        model.save(path)
    return paths


def onnx_five_million(folder: Path) -> Path:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.BatchNorm2d(64),
                              torch.nn.MaxPool2d(2), torch.nn.Conv2d(64, 128, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.MaxPool2d(2), torch.nn.Conv2d(128, 256, 3, stride=2, padding=1), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(256 * 8 * 8, 300), torch.nn.ReLU(),
                              torch.nn.Linear(300, 10)).eval()
    print(f"torch network for ONNX: {sum(p.numel() for p in net.parameters()):,} parameters")
    path = folder / "five_million.onnx"
    torch.onnx.export(net, (torch.zeros(1, 3, 64, 64),), path, dynamo=False, input_names=["x"], output_names=["y"])
    return path


def opening(repeats: int) -> None:
    import keras

    folder = Path(tempfile.mkdtemp())
    files = keras_five_million(folder) + [onnx_five_million(folder)]
    print("\n1. Opening a 5 M-parameter file (median of", repeats, "runs; target ≤ 2 s)")
    print(f"{'file':24s} {'MB':>6s} {'ours s':>8s} {'keras s':>8s} {'ours/keras':>10s} {'target':>7s}")
    for path in files:
        data = path.read_bytes()
        ours = median_time(lambda: models.load_user_model(data, path.name), repeats)
        theirs = median_time(lambda: keras.saving.load_model(path, compile=False), repeats) if path.suffix != ".onnx" else None
        ratio = f"{ours / theirs:10.2f}" if theirs else f"{'—':>10s}"
        print(f"{path.name:24s} {len(data) / 2**20:6.1f} {ours:8.3f} {theirs if theirs else float('nan'):8.3f} "
              f"{ratio} {'met' if ours <= 2 else 'MISSED':>7s}")


def scenes_as_onnx() -> bytes:
    model, _ = models.load_pretrained("scenes")
    buffer = io.BytesIO()
    torch.onnx.export(model, (torch.zeros(1, 3, 64, 64),), buffer, dynamo=False, input_names=["x"], output_names=["y"])
    return buffer.getvalue()


def page_rerun(page: str, key: str, own: bytes | None, reruns: int) -> float:
    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=300)
    if own is None:
        at.session_state[key] = "scenes (pretrained)"
        at.run()
    else:
        at.session_state[key] = "Your own network…"
        at.run()
        at.file_uploader(key=f"{key}_own_file").set_value(("scenes_export.onnx", own, "application/octet-stream")).run()
        at.button(key=f"{key}_own_use").click().run()
        assert at.session_state[key] == "scenes_export (your own)", at.session_state[key]
    at.run()  # results cached: what a student's next click costs
    assert not at.exception, at.exception
    return median_time(at.run, reruns)


def reruns(count: int) -> None:
    own = scenes_as_onnx()
    print("\n2. A page's rerun after its results are cached (median of", count, "; target: own ≤ 1.2× shipped)")
    print(f"{'page':20s} {'shipped ms':>11s} {'own ms':>8s} {'own/shipped':>12s} {'target':>7s}")
    for page, key in PAGES.items():
        shipped = page_rerun(page, key, None, count)
        yours = page_rerun(page, key, own, count)
        print(f"{page:20s} {1000 * shipped:11.0f} {1000 * yours:8.0f} {yours / shipped:12.2f} "
              f"{'met' if yours <= 1.2 * shipped else 'MISSED':>7s}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reruns", type=int, default=7)
    parser.add_argument("--opens", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {os.cpu_count()} cores")
    opening(args.opens)
    reruns(args.reruns)
