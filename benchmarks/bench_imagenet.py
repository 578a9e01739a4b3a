"""Issue 18's speed targets for the ImageNet network (EfficientNet-Lite0, 3×224×224), one thread.

Every explanation method on one real photo (the Chelsea sample, preprocessed as the pages do),
side by side with the peer the issue names, each pair timed in interleaved rounds (ours, peer,
floor, ours, peer, floor, ...) so a busy machine slows all alike. A ratio is the median over rounds
of the per-round ratio. The floors are plain PyTorch doing only the unavoidable work:

- gradient methods: one forward + backward to the input (``torch.autograd.grad``, no weight
  gradients), in the faster of NCHW and channels-last;
- SmoothGrad / Integrated Gradients: the same number of images through forward + backward in
  batches, in the batch size and layout fastest per image here (a short pre-pass ranks them; the
  best two are timed again in the rounds and the faster kept);
- occlusion / LIME: the same number of images through plain forward passes under
  ``inference_mode``, batch size and layout chosen the same way (batch 1 is a candidate too).
  Each of these sections also prints the floor's own speed-up over the peer: the most that any
  implementation could reach, against which the speed-up targets can be read.

Memory: each method runs in a fresh process (this script with ``--memory-child``) after loading
the model and making its input; the peak RSS during a first run (which includes one-time work such
as the forward plan's measurement) and during a second run, each above the RSS before the first
run (VmHWM, reset through /proc/self/clear_refs; ru_maxrss where that is not allowed).

Sections are functions ``section(setup, rounds) -> list[Check]`` in ``SECTIONS``; a table of
every check with PASS/MISS is printed at the end.

    python benchmarks/bench_imagenet.py [--rounds 5] [--only memory,gradient,smoothgrad,ig,occlusion,lime,photo]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from vizcore import explain, features, images, models  # noqa: E402
from vizcore.explain import _forward  # noqa: E402
from vizcore.explain.lime import segment_means  # noqa: E402
from vizcore.explain.occlusion import fill, windows  # noqa: E402

warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
warnings.filterwarnings("ignore", message=".*backward hook.*")

PHOTO = "chelsea"
NEW_PHOTOS = ("chelsea", "astronaut", "coffee", "rocket")
SMOOTHGRAD_SAMPLES, NOISE = 20, 0.15
IG_STEPS = 32
WINDOW, STRIDE = 32, 16
LIME_SAMPLES, LIME_SEGMENTS = 250, 25
GRAD_CAM_LAYER = "head"
FORWARD_BATCHES = (1, 2, 4, 8, 16, 32)   # candidates of the forward floor
BACKWARD_BATCHES = (1, 2, 4, 8, 16)      # candidates of the forward + backward floor
MEMORY_TARGET_MB = 300


# --- what every section shares -----------------------------------------------------------------

@dataclass
class Floor:
    """The plain-PyTorch configuration that was fastest per image here."""
    batch: int
    channels_last: bool
    ms_per_image: float

    def __str__(self) -> str:
        return f"batches of {self.batch}, {'channels-last' if self.channels_last else 'NCHW'}"


@dataclass
class Setup:
    """The model, the photo as its input, the class to explain, and what sections measured once."""
    model: torch.nn.Module
    meta: dict
    x: torch.Tensor          # (1, 3, 224, 224), normalised
    target: int
    floors: dict = field(default_factory=dict)
    _segments: np.ndarray | None = None

    @property
    def segments(self) -> np.ndarray:
        """SLIC superpixels (~25) of the photo as the model sees it (the centre crop)."""
        if self._segments is None:
            picture = features.to_pixels(self.x, self.meta)
            self._segments = explain.segment(picture, "slic", LIME_SEGMENTS)
        return self._segments

    @property
    def grey(self) -> torch.Tensor:
        return fill(self.x, "grey", self.meta["mean"], self.meta["std"])


@dataclass
class Check:
    """One measured figure and its target: ``value ≤ target`` (``value ≥ target`` if at_least)."""
    section: str
    name: str
    ours: str
    reference: str
    value: float
    unit: str
    target: float | None = None
    at_least: bool = False
    ok: bool | None = None   # set directly by checks that are not a number against a bound

    def __post_init__(self):
        if self.ok is None and self.target is not None:
            self.ok = self.value >= self.target if self.at_least else self.value <= self.target

    @property
    def verdict(self) -> str:
        if self.ok is None:
            return "info"
        if self.ok:
            return "PASS"
        bound = f"{'≥' if self.at_least else '≤'} {self.target:g}{self.unit}" if self.target is not None else ""
        return f"MISS ({self.value:.3g}{self.unit}, target {bound})".replace(", target )", ")")

    def line(self) -> str:
        target = "" if self.target is None else f"{'≥' if self.at_least else '≤'} {self.target:g}{self.unit}"
        return (f"{self.section:10s} {self.name:42s} {self.ours:>11s}  {self.reference:44s} "
                f"{self.value:8.3g}{self.unit:3s} {target:>9s}  {self.verdict}")


def load(threads: int) -> Setup:
    torch.set_num_threads(threads)  # this process only: a measurement setting, not the app's
    model, meta = models.load_pretrained("imagenet")
    _, x = features.preprocess_steps(images.sample_image(PHOTO), meta)
    with torch.inference_mode():
        target = int(model(x).argmax())
    return Setup(model, meta, x, target)


def interleaved(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Milliseconds per call of each function, one call of each per round, after one warm-up each."""
    for fn in calls.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def ratio(a: list[float], b: list[float]) -> float:
    """Median of the per-round ratios a / b (each round's calls ran back to back)."""
    return statistics.median(x / y for x, y in zip(a, b))


def ms(times: list[float]) -> str:
    m = statistics.median(times)
    return f"{m:.0f} ms" if m >= 100 else f"{m:.1f} ms"


def laid_out(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return torch.empty(x.shape, memory_format=fmt).copy_(x)


def input_grad(model: torch.nn.Module, inp: torch.Tensor, target: int) -> torch.Tensor:
    """Plain PyTorch: d logit_target / d input, no weight gradients."""
    inp = inp.detach().requires_grad_()
    (grad,) = torch.autograd.grad(model(inp)[:, target].sum(), inp)
    return grad


def pick_floors(s: Setup, backward: bool, keep: int = 2, reps: int = 3) -> list[Floor]:
    """The ``keep`` batch sizes and layouts with the least time per image (plain forward, or forward
    + backward), best first: a short pre-pass; the sections then time these again in their rounds."""
    if backward in s.floors:
        return s.floors[backward]
    batches = BACKWARD_BATCHES if backward else FORWARD_BATCHES
    x = torch.randn(max(batches), 3, 224, 224, generator=torch.Generator().manual_seed(1))
    configs = [(b, cl, laid_out(x[:b], cl)) for b in batches for cl in (False, True)]
    step = (lambda inp: input_grad(s.model, inp, s.target)) if backward else _forward_only(s.model)
    per_image = {(b, cl): [] for b, cl, _ in configs}
    for rep in range(reps + 1):  # the first rep is a warm-up
        for b, cl, inp in configs:
            start = time.perf_counter()
            step(inp)
            if rep:
                per_image[(b, cl)].append((time.perf_counter() - start) * 1000 / b)
    ranked = sorted(per_image, key=lambda k: min(per_image[k]))
    s.floors[backward] = [Floor(b, cl, min(per_image[(b, cl)])) for b, cl in ranked[:keep]]
    return s.floors[backward]


def with_floor(s: Setup, calls: dict[str, Callable[[], object]], images: int, backward: bool,
               rounds: int) -> tuple[dict[str, list[float]], Floor]:
    """``calls`` and the floor candidates for ``images`` images, interleaved; ``times["floor"]`` is
    the candidate with the least median time (it says which)."""
    floors = pick_floors(s, backward)
    candidates = {f"floor {i}": floor_call(s, f, images, backward) for i, f in enumerate(floors)}
    times = interleaved({**calls, **candidates}, rounds)
    best = min(candidates, key=lambda k: statistics.median(times[k]))
    times["floor"] = times[best]
    return times, floors[int(best.split()[1])]


def _forward_only(model):
    def run(inp):
        with torch.inference_mode():
            return model(inp)
    return run


def floor_call(s: Setup, floor: Floor, images: int, backward: bool) -> Callable[[], None]:
    """``images`` images through the floor's configuration (one random batch, used again and again)."""
    inp = laid_out(torch.randn(floor.batch, 3, 224, 224, generator=torch.Generator().manual_seed(2)),
                   floor.channels_last)
    step = (lambda b: input_grad(s.model, b, s.target)) if backward else _forward_only(s.model)
    full, tail = divmod(images, floor.batch)

    def run():
        for _ in range(full):
            step(inp)
        if tail:
            step(inp[:tail])
    return run


def agreement(section: str, name: str, ours: torch.Tensor, theirs: torch.Tensor, peer: str) -> Check:
    """Loose agreement: |ours − theirs| ≤ 1e-2 · max|theirs| + 1e-2 · |theirs| everywhere.

    Loose because batches of other sizes and layouts round differently, and through a ReLU6 a
    rounding difference can flip a unit on or off (SmoothGrad's noisy copies meet such kinks).
    """
    ours, theirs = ours.detach().double(), theirs.detach().double()
    scale = float(theirs.abs().max())
    diff = float((ours - theirs).abs().max())
    close = torch.allclose(ours, theirs, rtol=1e-2, atol=1e-2 * scale)
    return Check(section, f"{name} = {peer}'s map: max |Δ|", "",
                 f"max |map| {scale:.3g} (|Δ|/max {diff / scale:.1e}); atol 1% of max",
                 diff, "", ok=close)


def our_methods(s: Setup) -> dict[str, Callable[[], object]]:
    """Each method once, as the pages call it (also what the memory section runs)."""
    m, x, t = s.model, s.x, s.target

    def predict(name: str = PHOTO):
        _, inp = features.preprocess_steps(images.sample_image(name), s.meta)
        with torch.inference_mode():
            return torch.softmax(m(inp), dim=1)

    def forward():
        with torch.inference_mode():
            return m(x)

    return {
        "forward": forward,
        "gradient": lambda: explain.gradient(m, x, t),
        "gradient × input": lambda: explain.input_x_gradient(m, x, t),
        "guided backprop": lambda: explain.guided_backprop(m, x, t),
        f"Grad-CAM ({GRAD_CAM_LAYER})": lambda: explain.grad_cam(m, x, t, GRAD_CAM_LAYER),
        f"SmoothGrad ({SMOOTHGRAD_SAMPLES})": lambda: explain.smoothgrad(m, x, t, samples=SMOOTHGRAD_SAMPLES,
                                                                         noise=NOISE),
        f"IG ({IG_STEPS} steps)": lambda: explain.integrated_gradients(m, x, t, steps=IG_STEPS),
        f"occlusion {WINDOW}/{STRIDE} grey": lambda: explain.occlusion(m, x, t, WINDOW, STRIDE, s.grey),
        f"LIME ({LIME_SAMPLES})": lambda: explain.lime(m, x, t, s.segments, samples=LIME_SAMPLES,
                                                       hide=segment_means(x, s.segments)),
        "photo → prediction": predict,
    }


# --- sections -------------------------------------------------------------------------------------

def bench_gradient(s: Setup, rounds: int) -> list[Check]:
    """One forward, one forward + backward (both layouts), and the four one-pass gradient methods."""
    m, x, t = s.model, s.x, s.target
    ours = our_methods(s)
    methods = ["gradient", "gradient × input", "guided backprop", f"Grad-CAM ({GRAD_CAM_LAYER})"]
    x_nchw, x_cl = laid_out(x, False), laid_out(x, True)
    forward = _forward_only(m)
    calls = {"forward NCHW": lambda: forward(x_nchw),
             "forward channels-last": lambda: forward(x_cl),
             "fwd+bwd NCHW": lambda: input_grad(m, x_nchw, t),
             "fwd+bwd channels-last": lambda: input_grad(m, x_cl, t)}
    calls.update({name: ours[name] for name in methods})
    times = interleaved(calls, 3 * rounds)  # cheap calls: more rounds
    fwd = min(("forward NCHW", "forward channels-last"), key=lambda k: statistics.median(times[k]))
    floor = min(("fwd+bwd NCHW", "fwd+bwd channels-last"), key=lambda k: statistics.median(times[k]))
    checks = [Check("gradient", f"one {name} at 224² (batch 1)", ms(times[name]), "", statistics.median(times[name]),
                    " ms") for name in calls if name not in methods]
    for name in methods:
        checks.append(Check("gradient", f"{name} / fwd+bwd floor", ms(times[name]),
                            f"floor {ms(times[floor])} ({floor})", ratio(times[name], times[floor]), "×", 1.2))
    checks.append(Check("gradient", "forward / fwd+bwd (info)", ms(times[fwd]), f"{floor}",
                        ratio(times[fwd], times[floor]), "×"))
    return checks


def bench_smoothgrad(s: Setup, rounds: int) -> list[Check]:
    """SmoothGrad, 20 samples: vs 20 images through batched fwd+bwd, and vs captum's NoiseTunnel."""
    from captum.attr import NoiseTunnel, Saliency

    m, x, t = s.model, s.x, s.target
    std = NOISE * float(x.max() - x.min())

    def captum():
        return NoiseTunnel(Saliency(m)).attribute(x, nt_type="smoothgrad", nt_samples=SMOOTHGRAD_SAMPLES,
                                                  stdevs=std, target=t, abs=False)

    name = f"SmoothGrad ({SMOOTHGRAD_SAMPLES})"
    ours = our_methods(s)[name]
    times, floor = with_floor(s, {"ours": ours, "captum": captum}, SMOOTHGRAD_SAMPLES, True, rounds)
    torch.manual_seed(0)  # captum draws from the global generator; ours from a private one seeded 0
    return [
        Check("smoothgrad", f"{name} / batched fwd+bwd floor", ms(times["ours"]),
              f"floor {ms(times['floor'])} ({SMOOTHGRAD_SAMPLES} imgs, {floor})",
              ratio(times["ours"], times["floor"]), "×", 1.2),
        Check("smoothgrad", f"{name} / captum NoiseTunnel(Saliency)", ms(times["ours"]),
              f"captum {ms(times['captum'])} (nt_samples={SMOOTHGRAD_SAMPLES}, one batch)",
              ratio(times["ours"], times["captum"]), "×", 1.0),
        agreement("smoothgrad", name, ours(), captum(), "captum"),
    ]


def bench_integrated_gradients(s: Setup, rounds: int) -> list[Check]:
    """Integrated Gradients, 32 steps (Gauss–Legendre, with the convergence delta, both sides)."""
    from captum.attr import IntegratedGradients

    m, x, t = s.model, s.x, s.target

    def captum():
        return IntegratedGradients(m).attribute(x, target=t, n_steps=IG_STEPS, return_convergence_delta=True)

    name = f"IG ({IG_STEPS} steps)"
    ours = our_methods(s)[name]
    times, floor = with_floor(s, {"ours": ours, "captum": captum}, IG_STEPS, True, rounds)
    (a, delta), (b, delta_c) = ours(), captum()
    return [
        Check("ig", f"{name} / batched fwd+bwd floor", ms(times["ours"]),
              f"floor {ms(times['floor'])} ({IG_STEPS} imgs, {floor})",
              ratio(times["ours"], times["floor"]), "×", 1.2),
        Check("ig", f"{name} / captum IntegratedGradients", ms(times["ours"]),
              f"captum {ms(times['captum'])} (gausslegendre, with delta)",
              ratio(times["ours"], times["captum"]), "×", 1.0),
        agreement("ig", name, a, b, "captum"),
        Check("ig", f"{name} convergence delta (ours, captum)", "", f"captum {float(delta_c[0]):.4g}",
              float(delta[0]), ""),
    ]


def bench_occlusion(s: Setup, rounds: int) -> list[Check]:
    """Occlusion 32×32 stride 16, grey: vs captum's Occlusion (perturbations_per_eval=1), and the floor."""
    from captum.attr import Occlusion

    m, x, t = s.model, s.x, s.target
    grid = windows(224, 224, WINDOW, STRIDE)
    grey = s.grey.expand_as(x).contiguous()
    f = lambda z: torch.softmax(m(z), dim=1)  # noqa: E731  (ours explains the probability)

    def captum():
        return Occlusion(f).attribute(x, target=t, sliding_window_shapes=(3, WINDOW, WINDOW),
                                      strides=(3, STRIDE, STRIDE), baselines=grey)

    name = f"occlusion {WINDOW}/{STRIDE} grey"
    ours = our_methods(s)[name]
    times, floor = with_floor(s, {"ours": ours, "captum": captum}, grid.count, False, rounds)
    plan = _forward.plan_for(m, (3, 224, 224))
    with torch.no_grad():
        theirs = captum()[:, 0]
    return [
        *peer_and_floor("occlusion", f"{name} speed-up over captum", times, "captum",
                        f"({grid.count}+1 passes of 1)", 4.0, f"{name} / batched forward floor", grid.count, floor),
        Check("occlusion", "ours' plan (plan_for): ms per image", f"batch {plan.batch_size}",
              f"{'channels-last' if plan.channels_last else 'NCHW'}; floor {floor.ms_per_image:.1f} ms/img",
              plan.seconds_per_image * 1000, " ms"),
        agreement("occlusion", name, ours(), theirs, "captum"),
    ]


def peer_and_floor(section: str, label: str, times: dict, peer: str, how: str, speed_up: float,
                   floor_label: str, images: int, floor) -> list[Check]:
    """The three checks of a forward-only method: its speed-up over the peer (target
    ``speed_up``), its time over the batched forward floor (≤ 1.2×), and the floor's own speed-up
    over the peer (the most any implementation could reach)."""
    return [
        Check(section, label, ms(times["ours"]), f"{peer} {ms(times[peer])} {how}",
              ratio(times[peer], times["ours"]), "×", speed_up, at_least=True),
        Check(section, floor_label, ms(times["ours"]), f"floor {ms(times['floor'])} ({images} imgs, {floor})",
              ratio(times["ours"], times["floor"]), "×", 1.2),
        Check(section, f"floor's speed-up over {peer} (the ceiling)", ms(times["floor"]),
              f"{peer} {ms(times[peer])}", ratio(times[peer], times["floor"]), "×"),
    ]


def bench_lime(s: Setup, rounds: int) -> list[Check]:
    """LIME, 250 samples, the same SLIC superpixels, hidden superpixels filled with their mean colour
    (the page's default; lime's hide_color=None): vs lime's LimeImageExplainer, and the floor."""
    from lime.lime_image import LimeImageExplainer

    m, x, segments = s.model, s.x, s.segments
    batch = pick_floors(s, backward=False)[0].batch  # lime's batch_size: the best one here
    image = x[0].permute(1, 2, 0).double().numpy()

    def classifier(batch: np.ndarray) -> np.ndarray:  # what a lime user writes for a torch model
        inp = torch.from_numpy(batch).float().permute(0, 3, 1, 2)  # NHWC float: channels-last strides
        with torch.inference_mode():
            return torch.softmax(m(inp), dim=1).numpy()

    def peer():
        with contextlib.redirect_stderr(io.StringIO()):  # lime always draws a progress bar
            return LimeImageExplainer(kernel_width=0.25, random_state=0).explain_instance(
                image, classifier, num_samples=LIME_SAMPLES, batch_size=batch, hide_color=None,
                segmentation_fn=lambda _img: segments, random_seed=0)

    name = f"LIME ({LIME_SAMPLES})"
    times, floor = with_floor(s, {"ours": our_methods(s)[name], "lime": peer}, LIME_SAMPLES, False, rounds)
    return peer_and_floor("lime", f"{name}, {segments.max() + 1} superpixels: speed-up over lime", times, "lime",
                          f"(batch_size={batch})", 1.8, f"{name} / batched forward floor", LIME_SAMPLES, floor)


def bench_photo(s: Setup, rounds: int) -> list[Check]:
    """A new photo (already decoded) to class probabilities: preprocess_steps + forward, ≤ 0.5 s."""
    pictures = [images.sample_image(n) for n in NEW_PHOTOS]
    state = {"i": 0}

    def predict():
        img = pictures[state["i"] % len(pictures)]
        state["i"] += 1
        _, inp = features.preprocess_steps(img, s.meta)
        with torch.inference_mode():
            return torch.softmax(s.model(inp), dim=1)

    times = interleaved({"predict": predict}, 3 * rounds)["predict"]
    return [Check("photo", "new photo: preprocess + forward", ms(times),
                  f"{len(NEW_PHOTOS)} sample photos in turn, max {max(times):.0f} ms",
                  statistics.median(times), " ms", 500)]


# --- memory: each method in a fresh process --------------------------------------------------------

def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM (and ru_maxrss) to the current RSS
        return True
    except OSError:
        return False


def _peak_mb(resettable: bool) -> float:
    return _status_mb("VmHWM") if resettable else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_methods(s: Setup) -> dict[str, Callable[[], object]]:
    """Every method, and the forward plan's first measurement alone (occlusion and LIME start with it)."""
    return {**our_methods(s), "plan_for (first measurement)":
            lambda: _forward.plan_for(s.model, tuple(s.x.shape[1:]), s.x.dtype)}


def memory_child(method: str, threads: int) -> None:
    """Runs in its own process: RSS after loading, then the peak growth of a first and a second run."""
    s = load(threads)
    loaded = _status_mb("VmRSS")
    call = memory_methods(s)[method]
    if method.startswith("LIME"):
        s.segments  # noqa: B018  (the superpixels are the page's input, made before the method runs)
    before = _status_mb("VmRSS")
    growth = []
    for _ in range(2):  # the second run's peak is also counted from before the first run
        resettable = _reset_peak()
        call()
        growth.append(_peak_mb(resettable) - before)
    print(json.dumps({"loaded": loaded, "first": growth[0], "second": growth[1], "resettable": resettable}))


def bench_memory(s: Setup, rounds: int) -> list[Check]:
    """RSS after loading the model (this process), and every method's peak RSS growth (fresh processes)."""
    checks = [Check("memory", "RSS after loading the model", f"{_status_mb('VmRSS'):.0f} MB",
                    f"parameters {sum(p.numel() for p in s.model.parameters()) * 4 / 2**20:.0f} MB",
                    _status_mb("VmRSS"), " MB")]
    for method in memory_methods(s):
        out = subprocess.run([sys.executable, __file__, "--memory-child", method, "--threads",
                              str(torch.get_num_threads())], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        checks.append(Check("memory", f"peak RSS growth: {method}", f"{r['first']:.0f} MB",
                            f"1st run; 2nd run {r['second']:.0f} MB (RSS loaded {r['loaded']:.0f} MB)",
                            max(r["first"], r["second"]), " MB", MEMORY_TARGET_MB))
    return checks


SECTIONS: dict[str, Callable[[Setup, int], list[Check]]] = {
    "memory": bench_memory,
    "gradient": bench_gradient,
    "smoothgrad": bench_smoothgrad,
    "ig": bench_integrated_gradients,
    "occlusion": bench_occlusion,
    "lime": bench_lime,
    "photo": bench_photo,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (3× for the cheap sections)")
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections: " + ", ".join(SECTIONS))
    parser.add_argument("--threads", type=int, default=1, help="torch threads in this benchmark process")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.threads)
        return
    s = load(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); EfficientNet-Lite0 on "
          f"{PHOTO!r} (class {s.target}: {s.meta['classes'][s.target]}); {args.rounds} rounds", flush=True)
    checks: list[Check] = []
    for section in args.only.split(","):
        start = time.perf_counter()
        found = SECTIONS[section](s, args.rounds)
        for c in found:
            print(c.line(), flush=True)
        print(f"  ({section}: {time.perf_counter() - start:.0f} s)", flush=True)
        checks += found
    print(f"\n{'section':10s} {'check':42s} {'ours':>11s}  {'reference':44s} {'value':>11s} {'target':>9s}  verdict")
    for c in checks:
        print(c.line())
    judged = [c for c in checks if c.ok is not None]
    missed = [c for c in judged if not c.ok]
    print(f"\n{len(judged) - len(missed)}/{len(judged)} checks PASS"
          + (": MISS " + "; ".join(f"{c.name} {c.value:.3g}{c.unit}" for c in missed) if missed else ""))


if __name__ == "__main__":
    main()
