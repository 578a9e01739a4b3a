"""vizcore.explain vs captum 0.9: every method on the same model, input and settings, side by side.

Shipped shapes (TinyVGG, 3×64×64) and digits (LeNet, 1×28×28) models, batch 1 and 64. Each
pair is timed interleaved (ours, captum, ours, captum ...) so a busy machine slows both
alike; the ratio is the median over rounds of ours / captum (target ≤ 1.0 for every method),
the ratio of the minimum times is printed too (least disturbed by other work).

Sections are functions ``section(case, rounds) -> list[Row]`` in ``SECTIONS``; a new method
family adds one function and one entry. ``--batching`` measures the input values per pass of
Integrated Gradients and SmoothGrad (their constants ``VALUES_PER_PASS`` come from it).

    python benchmarks/bench_explain.py [--rounds 15] [--only gradient,ig] [--batches 1,64] [--threads 1]
                                       [--batching] [--page [--reruns 15]]
"""
from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from vizcore import explain, models  # noqa: E402

warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
TARGET = 1.0


@dataclass
class Case:
    """One model with one batch of inputs and targets."""
    name: str
    model: torch.nn.Module
    x: torch.Tensor
    target: torch.Tensor

    @property
    def label(self) -> str:
        return f"{self.name} ×{self.x.shape[0]}"


@dataclass
class Row:
    method: str
    case: str
    ours: list[float]  # milliseconds per call
    peer: list[float]
    target: float = TARGET  # the ratio ours / peer to stay within (occlusion/LIME rows set their own)

    @property
    def ratio(self) -> float:
        """Median of the per-round ratios: each round's two calls ran back to back, so a burst of
        other work on the machine mostly hits both (steadier than a ratio of medians)."""
        return statistics.median(a / b for a, b in zip(self.ours, self.peer))

    @property
    def ratio_min(self) -> float:
        return min(self.ours) / min(self.peer)


def make_case(name: str, batch: int, seed: int = 0) -> Case:
    model, meta = models.load_pretrained(name)
    c, h, w = meta["input_shape"]
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, c, h, w, generator=g)
    target = torch.randint(0, len(meta["classes"]), (batch,), generator=g)
    return Case(name, model, x, target)


def side_by_side(method: str, case: Case, ours: Callable[[], object], peer: Callable[[], object],
                 rounds: int) -> Row:
    """Interleaved timings (ms) of two calls after one warm-up call each."""
    ours(), peer()
    a, b = [], []
    for _ in range(rounds):
        for fn, out in ((ours, a), (peer, b)):
            start = time.perf_counter()
            fn()
            out.append((time.perf_counter() - start) * 1000)
    return Row(method, case.label, a, b)


def _rounds(case: Case, rounds: int, heavy: bool = False) -> int:
    """Fewer rounds for the expensive calls at batch 64."""
    return max(3, rounds // (4 if heavy and case.x.shape[0] > 1 else 1))


# --- sections: one per method family (others add theirs below) --------------------------------

def bench_gradient(case: Case, rounds: int) -> list[Row]:
    from captum.attr import InputXGradient, Saliency

    m, x, t = case.model, case.x, case.target
    return [
        side_by_side("gradient", case, lambda: explain.gradient(m, x, t),
                     lambda: Saliency(m).attribute(x, target=t, abs=False), rounds),
        side_by_side("gradient × input", case, lambda: explain.input_x_gradient(m, x, t),
                     lambda: InputXGradient(m).attribute(x, target=t), rounds),
    ]


def bench_smoothgrad(case: Case, rounds: int, samples: int = 50, noise: float = 0.15) -> list[Row]:
    from captum.attr import NoiseTunnel, Saliency

    m, x, t = case.model, case.x, case.target
    std = noise * float(x.max() - x.min())
    return [side_by_side(f"SmoothGrad ({samples} samples)", case,
                         lambda: explain.smoothgrad(m, x, t, samples=samples, noise=noise),
                         lambda: NoiseTunnel(Saliency(m)).attribute(x, nt_type="smoothgrad", nt_samples=samples,
                                                                    stdevs=std, target=t, abs=False),
                         _rounds(case, rounds, heavy=True))]


def bench_integrated_gradients(case: Case, rounds: int, steps: int = 50) -> list[Row]:
    from captum.attr import IntegratedGradients

    m, x, t = case.model, case.x, case.target
    return [side_by_side(f"Integrated Gradients ({steps} steps, with delta)", case,
                         lambda: explain.integrated_gradients(m, x, t, steps=steps),
                         lambda: IntegratedGradients(m).attribute(x, target=t, n_steps=steps,
                                                                  return_convergence_delta=True),
                         _rounds(case, rounds, heavy=True))]


def bench_guided_backprop(case: Case, rounds: int) -> list[Row]:
    from captum.attr import GuidedBackprop

    m, x, t = case.model, case.x, case.target
    return [side_by_side("guided backprop", case, lambda: explain.guided_backprop(m, x, t),
                         lambda: GuidedBackprop(m).attribute(x, target=t), rounds)]


def bench_grad_cam(case: Case, rounds: int) -> list[Row]:
    from captum.attr import LayerAttribution, LayerGradCam

    m, x, t = case.model, case.x, case.target
    layer = "conv4" if case.name == "shapes" else "conv2"
    size = tuple(x.shape[2:])

    def peer():
        cam = LayerGradCam(m, getattr(m, layer)).attribute(x, target=t, relu_attributions=True)
        return LayerAttribution.interpolate(cam, size, "bilinear")[:, 0]

    return [side_by_side(f"Grad-CAM ({layer}, bilinear)", case, lambda: explain.grad_cam(m, x, t, layer), peer,
                         rounds)]


# --- perturbation methods (occlusion, LIME): against captum / lime and the forward floor ---------

FLOOR_BATCHES = (16, 32, 64, 128, 256)


def _floor_configs(case: Case) -> list[torch.Tensor]:
    """One random batch per (batch size 16–256, NCHW or channels-last): the floor's candidates."""
    c, h, w = case.x.shape[1:]
    x = torch.randn(max(FLOOR_BATCHES), c, h, w, generator=torch.Generator().manual_seed(1))
    # torch.empty(memory_format=...) + copy: with one channel, contiguous(memory_format=...) would
    # keep NCHW strides, and true channels-last was 2–5× faster for the digits model.
    return [torch.empty((b, c, h, w), memory_format=fmt).copy_(x[:b]) for b in FLOOR_BATCHES
            for fmt in (torch.contiguous_format, torch.channels_last)]


def _perturbation_rows(name: str, case: Case, images: int, ours: Callable[[], object],
                       peer: Callable[[], object], peer_target: float, rounds: int) -> list[Row]:
    """Ours vs the peer (interleaved), and ours vs the forward floor measured in the same rounds.

    The floor is ``images`` × the best per-image time of a plain forward pass without autograd
    over batch sizes 16–256 in NCHW and channels-last (each candidate's median over the rounds).
    """
    configs = _floor_configs(case)
    with torch.inference_mode():
        for inp in configs:
            case.model(inp)
    ours(), peer()
    a, b, per_config = [], [], [[] for _ in configs]
    for _ in range(rounds):
        for fn, out in ((ours, a), (peer, b)):
            start = time.perf_counter()
            fn()
            out.append((time.perf_counter() - start) * 1000)
        with torch.inference_mode():
            for inp, times in zip(configs, per_config):
                start = time.perf_counter()
                case.model(inp)
                times.append((time.perf_counter() - start) * 1000 / inp.shape[0])
    floor = images * min(statistics.median(t) for t in per_config)
    return [Row(f"{name} vs its peer's default", case.label, a, b, target=peer_target),
            Row(f"{name} vs forward floor ({images} passes)", case.label, a, [floor] * len(a))]


def bench_occlusion(case: Case, rounds: int, window: int = 8, stride: int = 4) -> list[Row]:
    """Occlusion 8×8 stride 4, one image: ≥ 4× faster than captum's default, ≤ 1.3× the floor."""
    from captum.attr import Occlusion

    if case.x.shape[0] != 1:
        return []  # N images cost N times one: batch 1 says it all
    m, x, t = case.model, case.x, case.target
    c, h, w = x.shape[1:]
    positions = (-(-(h - window) // stride) + 1) * (-(-(w - window) // stride) + 1)
    f = lambda z: torch.softmax(m(z), dim=1)  # noqa: E731
    rows = _perturbation_rows(
        f"occlusion {window}×{window} stride {stride}", case, positions,
        lambda: explain.occlusion(m, x, t, window, stride, 0.0),
        lambda: Occlusion(f).attribute(x, target=t, sliding_window_shapes=(c, window, window),
                                       strides=(c, stride, stride)),
        0.25, max(3, rounds // 3))
    rows[1].target = 1.3
    return rows


def bench_lime(case: Case, rounds: int, samples: int = 1000, n_segments: int = 50) -> list[Row]:
    """LIME, 1000 samples, the same SLIC superpixels for both: ≥ 1.8× faster than the lime
    package's default (batch size 10, hide_color=None, top_labels=5), ≤ 1.2× the floor."""
    import contextlib
    import io

    import numpy as np
    from lime.lime_image import LimeImageExplainer

    from vizcore import data
    from vizcore.explain.lime import segment_means

    if case.x.shape[0] != 1:
        return []  # LIME explains one image
    m = case.model
    split = data.load_dataset(case.name, "test")
    x = split.normalize(split.images[0]).unsqueeze(0)
    picture = split.images[0].numpy().transpose(1, 2, 0)
    segments = explain.segment(picture[..., 0] if picture.shape[-1] == 1 else picture, "slic", n_segments)
    with torch.no_grad():
        target = int(m(x).argmax())
    image = x[0].permute(1, 2, 0).double().numpy()
    channels = x.shape[1]

    def classifier(batch: np.ndarray) -> np.ndarray:  # what a lime user writes for a torch model
        t = torch.from_numpy(np.ascontiguousarray(batch[..., :channels])).float().permute(0, 3, 1, 2)
        with torch.no_grad():
            return torch.softmax(m(t), dim=1).numpy()

    def peer():
        with contextlib.redirect_stderr(io.StringIO()):  # lime always draws a progress bar
            LimeImageExplainer(kernel_width=0.25, random_state=0).explain_instance(
                image if channels == 3 else image[..., 0], classifier, num_samples=samples,
                segmentation_fn=lambda _img: segments, random_seed=0)

    rows = _perturbation_rows(
        f"LIME {samples} samples ({segments.max() + 1} superpixels)", case, samples,
        lambda: explain.lime(m, x, target, segments, samples=samples, hide=segment_means(x, segments)),
        peer, 1 / 1.8, max(3, rounds // 3))
    rows[1].target = 1.2
    return rows


SECTIONS: dict[str, Callable[[Case, int], list[Row]]] = {
    "gradient": bench_gradient,
    "smoothgrad": bench_smoothgrad,
    "ig": bench_integrated_gradients,
    "guided": bench_guided_backprop,
    "gradcam": bench_grad_cam,
    "occlusion": bench_occlusion,
    "lime": bench_lime,
}


# --- how many input values per pass (Integrated Gradients, SmoothGrad) ---------------------------

def measure_values_per_pass(rounds: int, candidates=(2**17, 2**19, 2**20, 2**21, 2**23, 10**12)) -> None:
    """Median ms of IG (50 steps) and SmoothGrad (50 samples) for each ``VALUES_PER_PASS``
    (input values per forward/backward pass; the last candidate: everything in one pass, captum's way)."""
    modules = {"ig": importlib.import_module("vizcore.explain.integrated_gradients"),
               "smoothgrad": importlib.import_module("vizcore.explain.smoothgrad")}
    calls = {"ig": lambda c: explain.integrated_gradients(c.model, c.x, c.target, steps=50),
             "smoothgrad": lambda c: explain.smoothgrad(c.model, c.x, c.target, samples=50)}
    kept = {k: mod.VALUES_PER_PASS for k, mod in modules.items()}
    name_of = lambda v: "all" if v >= 10**12 else f"2^{v.bit_length() - 1}"  # noqa: E731
    try:
        for name in ("shapes", "digits"):
            for batch in (1, 64):
                case = make_case(name, batch)
                for method, call in calls.items():
                    times = {v: [] for v in candidates}
                    for _ in range(max(3, rounds // (4 if batch > 1 else 1))):
                        for v in candidates:  # interleaved, so load on the machine hits all alike
                            modules[method].VALUES_PER_PASS = v
                            start = time.perf_counter()
                            call(case)
                            times[v].append((time.perf_counter() - start) * 1000)
                    med = {v: statistics.median(t) for v, t in times.items()}
                    best = min(med, key=med.get)
                    cells = "  ".join(f"{name_of(v)}: {t:8.1f}" for v, t in med.items())
                    print(f"{method:10s} {case.label:11s} {cells}   best {name_of(best)}", flush=True)
    finally:
        for k, mod in modules.items():
            mod.VALUES_PER_PASS = kept[k]


# --- the Saliency page (AppTest) ------------------------------------------------------------------

PAGE_TARGETS_MS = {"new image": 300, "display change": 100}


def measure_saliency_page(reruns: int) -> None:
    """Median rerun of pages/saliency.py (all six methods, the page's defaults) after choosing a
    new test image (everything computed), and after a display-only change (opacity, one colour
    scale, signed: the maps come from the cache). CPU time (all threads of this process) is
    printed too: less sensitive to other work on the machine than the wall time."""
    import streamlit.config  # noqa: F401  (AppTest reads .streamlit/config.toml)
    from streamlit.testing.v1 import AppTest

    for name in ("shapes", "digits"):
        at = AppTest.from_file(str(ROOT / "pages" / "saliency.py"), default_timeout=300)
        at.session_state["sal_model"] = f"{name} (pretrained)"
        at.run()
        if at.exception:
            raise SystemExit(f"{name}: the page failed: {at.exception[0].value}")
        times: dict[str, list[float]] = {"new image": [], "display change": []}
        cpu: dict[str, list[float]] = {"new image": [], "display change": []}
        top = at.slider(key="sal_in_index").max
        for n in range(reruns + 2):  # the first two fill the caches (test set, model, Plotly)
            at.slider(key="sal_in_index").set_value((5 + 11 * n) % (top + 1))
            start, start_cpu = time.perf_counter(), time.process_time()
            at.run()
            if n >= 2:
                times["new image"].append((time.perf_counter() - start) * 1000)
                cpu["new image"].append((time.process_time() - start_cpu) * 1000)
            changes = (lambda: at.slider(key="sal_opacity").set_value(0.4 + 0.05 * (n % 4)),
                       lambda: at.toggle(key="sal_shared").set_value(not at.toggle(key="sal_shared").value),
                       lambda: at.toggle(key="sal_signed").set_value(not at.toggle(key="sal_signed").value))
            changes[n % 3]()
            start, start_cpu = time.perf_counter(), time.process_time()
            at.run()
            if n >= 2:
                times["display change"].append((time.perf_counter() - start) * 1000)
                cpu["display change"].append((time.process_time() - start_cpu) * 1000)
            if at.exception:
                raise SystemExit(f"{name}: the page failed: {at.exception[0].value}")
        for what, values in times.items():
            med, target = statistics.median(values), PAGE_TARGETS_MS[what]
            print(f"saliency page {name:7s} {what:15s} median {med:7.1f} ms  p90 "
                  f"{sorted(values)[int(0.9 * (len(values) - 1))]:7.1f} ms  CPU {statistics.median(cpu[what]):7.1f} ms  "
                  f"target {target} ms  "
                  f"{'PASS' if med <= target else 'MISS'}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections: " + ", ".join(SECTIONS))
    parser.add_argument("--batches", default="1,64")
    parser.add_argument("--models", default="shapes,digits")
    parser.add_argument("--batching", "--ig-batching", action="store_true",
                        help="measure IG's and SmoothGrad's values per pass instead")
    parser.add_argument("--page", action="store_true", help="time the Saliency page's reruns instead (AppTest)")
    parser.add_argument("--reruns", type=int, default=15, help="page reruns per kind (--page)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for this benchmark process (0: torch's default); 1 is steadier "
                             "on a machine other work shares")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # this process only: a measurement setting, not the app's
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.batching:
        measure_values_per_pass(args.rounds)
        return
    if args.page:
        measure_saliency_page(args.reruns)
        return
    rows: list[Row] = []
    print(f"{'method':44s} {'case':11s} {'ours ms':>9s} {'captum ms':>10s} {'ratio':>6s} {'min ratio':>9s}")
    for name in args.models.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            case = make_case(name, batch)
            for section in args.only.split(","):
                for row in SECTIONS[section](case, args.rounds):
                    rows.append(row)
                    verdict = "PASS" if row.ratio <= row.target else f"MISS (target {row.target:.2f})"
                    print(f"{row.method:44s} {row.case:11s} {statistics.median(row.ours):9.2f} "
                          f"{statistics.median(row.peer):10.2f} {row.ratio:6.2f} {row.ratio_min:9.2f}  {verdict}",
                          flush=True)
    missed = [r for r in rows if r.ratio > r.target]
    print(f"\n{len(rows) - len(missed)}/{len(rows)} within their targets (× the peer's median time)"
          + (": missed " + "; ".join(f"{r.method} {r.case} {r.ratio:.2f}" for r in missed) if missed else ""))


if __name__ == "__main__":
    main()
