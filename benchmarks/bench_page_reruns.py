"""Median rerun time of every registered page after a widget change, through AppTest.

Targets from the issues (2 cores): kernel playground ≤ 150 ms, shape calculator / pooling /
quiz ≤ 100 ms, feature maps ≤ 300 ms. Prints median, p90 and the ratio to the target.

``--imagenet``: the four model pages with the ImageNet network on the cat photo, each rerun
with nothing changed after its results are cached (issue 18: ≤ 150 ms), beside the same pages
with the small digits model (the peer: what a rerun costs without a 224² network).

    python benchmarks/bench_page_reruns.py [--reruns 20] [--imagenet]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import logging  # noqa: E402

import streamlit.config  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from pages._catalog import PAGES  # noqa: E402
from pages._warm import torch_threads  # noqa: E402

import torch  # noqa: E402

torch.set_num_threads(torch_threads())  # as the server's start-up does

TARGET_MS = {
    "pages/kernel_playground.py": 150,
    "pages/shape_calculator.py": 100,
    "pages/pooling.py": 100,
    "pages/quiz.py": 100,
    "pages/feature_maps.py": 300,
    "pages/training.py": 150,
}


def first_slider_or_number(at):
    for kind in ("slider", "number_input", "select_slider", "button"):
        widgets = list(getattr(at, kind))
        if widgets:
            return widgets[0]
    return None


def bump(widget) -> None:
    """Change a widget's value within its range, alternating direction."""
    if widget.type == "button":
        widget.click()
        return
    value = widget.value
    if isinstance(value, (int, float)):
        hi = getattr(widget, "max", None)
        lo = getattr(widget, "min", None)
        step = getattr(widget, "step", 1) or 1
        new = value + step if hi is None or value + step <= hi else value - step
        widget.set_value(type(value)(new if lo is None else max(lo, new)))
    else:
        options = list(widget.options)
        widget.set_value(options[(options.index(str(value)) + 1) % len(options)] if str(value) in options else options[0])


def measure(path: str, reruns: int) -> tuple[float, float, str]:
    at = AppTest.from_file(str(ROOT / path), default_timeout=300).run()
    widget = first_slider_or_number(at)
    if widget is None:
        return float("nan"), float("nan"), "no slider"
    label = widget.label
    times = []
    for _ in range(reruns):
        widget = first_slider_or_number(at)
        bump(widget)
        start = time.perf_counter()
        at.run()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.9 * (len(times) - 1))], label


MODEL_PAGES = {"pages/feature_maps.py": "fm", "pages/saliency.py": "sal", "pages/occlusion.py": "occ",
               "pages/lime.py": "lime"}


def cached_rerun(path: str, model: str, reruns: int) -> tuple[float, float]:
    """Median and p90 (ms) of a rerun with nothing changed once ``model``'s results are cached."""
    prefix = MODEL_PAGES[path]
    at = AppTest.from_file(str(ROOT / path), default_timeout=300)
    at.session_state[f"{prefix}_model"] = f"{model} (pretrained)"
    at.session_state[f"{prefix}_in_source"] = "Photo (sample, upload or camera)"
    at.session_state[f"{prefix}_in_photo_sample"] = "chelsea"
    at.run()
    for button in [b for b in at.button if b.label.startswith(("Run ", "Sample "))]:
        button.click().run()  # a long run waits for its button: press it once, its result is cached
    at.run()
    times = []
    for _ in range(reruns):
        start = time.perf_counter()
        at.run()
        times.append((time.perf_counter() - start) * 1000)
    assert not at.exception, at.exception
    times.sort()
    return statistics.median(times), times[int(0.9 * (len(times) - 1))]


def imagenet_reruns(reruns: int) -> None:
    print(f"{'page':26} {'imagenet median':>16} {'p90':>7} {'digits median':>14} {'ratio':>6} {'target':>7}")
    for path in MODEL_PAGES:
        big, big90 = cached_rerun(path, "imagenet", reruns)
        small, _ = cached_rerun(path, "digits", reruns)
        verdict = "PASS" if big <= 150 else "MISS"
        print(f"{path:26} {big:13.1f} ms {big90:7.1f} {small:11.1f} ms {big / small:6.2f} {150:7d} {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=20)
    parser.add_argument("--imagenet", action="store_true", help="cached reruns of the model pages with the ImageNet network")
    args = parser.parse_args()
    streamlit.config.set_option("client.showErrorDetails", "full")
    logging.getLogger("streamlit").setLevel(logging.ERROR)  # bare-mode warnings, not results
    if args.imagenet:
        imagenet_reruns(args.reruns)
        return
    print(f"{'page':34} {'widget':28} {'median ms':>10} {'p90 ms':>8} {'target':>7} {'ratio':>6}")
    for page in PAGES:
        median, p90, label = measure(page.path, args.reruns)
        target = TARGET_MS.get(page.path, 150)
        ratio = median / target
        verdict = "PASS" if ratio <= 1 else "MISS"
        print(f"{page.path:34} {label[:28]:28} {median:10.1f} {p90:8.1f} {target:7d} {ratio:6.2f} {verdict}")


if __name__ == "__main__":
    main()
