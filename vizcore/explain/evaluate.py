"""Score every explanation method on many test images: which one finds the object, which the tag?

:func:`evaluate` runs each method of :mod:`vizcore.explain` with the settings its page starts
with (:func:`default_methods`) on the first N test images of a data set, times it, and keeps the
maps; the reference maps (random, centre prior, Sobel edges) are scored beside them. The
deletion and insertion curves ask the model and are computed once here; the mask scores are
cheap and computed from the kept maps when a table is asked for (:func:`score_table`), so a
different pointing tolerance needs no new run.

The methods' own functions are called, never re-implemented: the scores judge exactly the maps a
student sees on the Saliency, Occlusion and LIME pages.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from . import _forward, scores
from ._base import ExplainError
from .grad_cam import grad_cam, map_layers
from .gradient import gradient, input_x_gradient
from .guided_backprop import guided_backprop
from .heatmap import heatmap
from .integrated_gradients import integrated_gradients
from .lime import lime, segment_means
from .occlusion import fill, occlusion, windows
from .segment import segment
from .smoothgrad import smoothgrad

CHUNK = 10  # images per step: progress moves and a stop is obeyed at least this often
TARGETS = ("predicted", "label")
SCORES = {  # column: what it says (higher is better unless noted)
    "pointing game": "share of images whose strongest pixel lies on the object (within the tolerance)",
    "relevance mass": "share of the map's positive relevance on the object",
    "relevance rank": "share of the top-K pixels on the object (K = object size)",
    "deletion AUC": "area under the probability as the top pixels are removed (lower is better)",
    "insertion AUC": "area under the probability as the top pixels are revealed (higher is better)",
    "ms / image": "time the method took per image (lower is faster)",
}
CUE_SCORES = {
    "points at the object": "share of images whose strongest pixel lies on the object",
    "points at the tag": "share of images whose strongest pixel lies on the corner tag",
    "mass on the object": "share of positive relevance on the object",
    "mass on the tag": "share of positive relevance on the tag",
}


@dataclass(frozen=True)
class Method:
    """One explanation method with fixed settings: a name, its settings, and how to run it."""
    name: str
    settings: tuple[tuple[str, object], ...]
    run: Callable = field(compare=False, repr=False)  # (model, x, targets, pictures, stop) -> (n, H, W)
    passes: float = 3.0  # cost per image in forward passes (a backward pass costs about two)

    def describe(self) -> str:
        """The settings as short text, e.g. "samples 50, noise 0.15"."""
        return ", ".join(f"{k} {v}" for k, v in self.settings) or "no settings"


def _gradient_family(fn, reduce: str = "abs-max", **options):
    def run(model, x, targets, pictures, stop):
        out = fn(model, x, targets, **options)
        return heatmap(out[0] if isinstance(out, tuple) else out, reduce)
    return run


def default_grad_cam_layer(model: nn.Module, input_shape) -> str | None:
    """Grad-CAM's usual layer: the last convolution (Selvaraju et al.), or None if there is none."""
    sizes = map_layers(model, tuple(input_shape))
    convs = [name for name, child in model.named_children()
             if name in sizes and isinstance(child, nn.Conv2d)]
    return convs[-1] if convs else None


def default_methods(model: nn.Module, input_shape, mean=None, std=None, *, smoothgrad_samples: int = 50,
                    noise: float = 0.15, ig_steps: int = 50, occlusion_window: int | None = None,
                    occlusion_stride: int | None = None, occlusion_fill: str = "grey", lime_samples: int = 500,
                    lime_segments: int = 25, lime_fill: str = "mean") -> list[Method]:
    """Every method of :mod:`vizcore.explain` with its page's first settings, reduced to (N, H, W).

    Gradient-based maps use the lecture's rule (|value|, maximum over channels; Simonyan et al.);
    Integrated Gradients starts from the mean colour (0 after normalising); Grad-CAM uses the
    last convolution; occlusion an 8×8 patch moved by 4 pixels, filled with grey (the Occlusion
    page's start); LIME (as the LIME page starts) cuts 25 SLIC superpixels, hides them with their
    own mean colour in ``lime_samples`` random masks (seed 0) and paints each superpixel with its
    coefficient. SmoothGrad, Integrated Gradients and Grad-CAM start as the Saliency page does
    (its functions' defaults).
    ``mean``/``std``: the model's normalisation (for the grey fill; default mean 0.5, std 0.25).
    """
    channels, height, width = (int(v) for v in input_shape)
    mean = [0.5] * channels if mean is None else list(mean)
    std = [0.25] * channels if std is None else list(std)
    window = min(occlusion_window or 8, height, width)  # the Occlusion page starts at 8 and 4
    stride = min(occlusion_stride or 4, window)
    methods = [
        Method("Gradient", (("map", "|gradient|, max over channels"),), _gradient_family(gradient)),
        Method("Gradient × input", (), _gradient_family(input_x_gradient)),
        Method("SmoothGrad", (("samples", smoothgrad_samples), ("noise", noise)),
               _gradient_family(smoothgrad, samples=smoothgrad_samples, noise=noise), 3.0 * smoothgrad_samples),
        Method("Integrated Gradients", (("steps", ig_steps), ("baseline", "mean colour")),
               _gradient_family(integrated_gradients, steps=ig_steps), 3.0 * ig_steps),
        Method("Guided backprop", (), _gradient_family(guided_backprop)),
    ]
    layer = default_grad_cam_layer(model, input_shape)
    if layer is not None:
        methods.append(Method("Grad-CAM", (("layer", layer),),
                              lambda m, x, t, p, stop: grad_cam(m, x, t, layer)))

    def run_occlusion(model, x, targets, pictures, stop):
        return occlusion(model, x, targets, window, stride, fill(x, occlusion_fill, mean, std), stop=stop)

    positions = windows(height, width, window, stride).count
    methods.append(Method("Occlusion", (("window", window), ("stride", stride), ("fill", occlusion_fill)),
                          run_occlusion, positions + 1.0))

    def run_lime(model, x, targets, pictures, stop):
        maps = []
        for k in range(x.shape[0]):
            segments = segment(pictures[k], "slic", lime_segments)
            one = x[k:k + 1]
            # "mean": each superpixel's own mean colour (lime's default, as on the LIME page)
            hide = segment_means(one, segments) if lime_fill == "mean" else fill(one, lime_fill, mean, std)
            result = lime(model, one, int(targets[k]), segments, lime_samples, seed=0, hide=hide, stop=stop)
            maps.append(result.coefficients[segments])
        return np.stack(maps)

    methods.append(Method("LIME", (("samples", lime_samples), ("superpixels", lime_segments),
                                   ("fill", lime_fill)), run_lime, float(lime_samples)))
    return methods


def forward_passes(methods: list[Method], n: int, steps: int | None = 32) -> float:
    """About how many forward passes an evaluation of ``n`` images costs (``steps=None``: no curves).

    Times a model's measured seconds per image (``_forward.Plan.estimate``) this is the estimate
    a page shows before it runs.
    """
    # Each curve runs its steps − 1 inner points; the 3 end points are shared by all maps.
    curves = 0 if steps is None else 2 * (steps - 1) * (len(methods) + len(scores.REFERENCES)) + 3
    return n * (sum(m.passes for m in methods) + curves)


@dataclass
class Evaluation:
    """What :func:`evaluate` measured on ``n`` images (fewer than asked when it was stopped).

    ``maps[name]`` (n, H, W) float32 for every method and reference; ``deletion[name]`` and
    ``insertion[name]`` (n, steps + 1) the curves' probabilities over ``fractions``;
    ``seconds[name]`` the method's own time; ``curve_seconds`` the time of all curves.
    """
    names: list[str]
    references: list[str]
    settings: dict[str, str]
    indices: np.ndarray        # which test images (n,)
    labels: np.ndarray         # their true classes (n,)
    predictions: np.ndarray    # the model's classes (n,)
    targets: np.ndarray        # the class each map explains (n,)
    maps: dict[str, np.ndarray]
    fractions: np.ndarray
    deletion: dict[str, np.ndarray]
    insertion: dict[str, np.ndarray]
    seconds: dict[str, float]
    curve_seconds: float
    total_seconds: float
    asked: int
    masks: np.ndarray | None = None      # (n, H, W) the object, if the data set knows it
    cue_masks: np.ndarray | None = None  # (n, H, W) the shortcut's tag, if there is one
    stopped: bool = False

    @property
    def n(self) -> int:
        return int(len(self.indices))

    @property
    def accuracy(self) -> float:
        return float((self.predictions == self.labels).mean()) if self.n else float("nan")

    def ms_per_image(self, name: str) -> float:
        return 1000.0 * self.seconds.get(name, 0.0) / max(self.n, 1)

    def slowest(self) -> str:
        """The method that took the most time."""
        return max((name for name in self.names if name not in self.references), key=self.seconds.get)


def _pictures(images: torch.Tensor) -> np.ndarray:
    """uint8 (N, C, H, W) -> (N, H, W) or (N, H, W, 3) for segmentation."""
    pixels = images.numpy()
    return pixels[:, 0] if pixels.shape[1] == 1 else pixels.transpose(0, 2, 3, 1)


def evaluate(model: nn.Module, split, n: int = 100, *, methods: list[Method] | None = None,
             target: str = "predicted", steps: int = 32, curves: bool = True, seed: int = 0,
             normalise_as: dict | None = None, resume: Evaluation | None = None,
             progress: _forward.Progress | None = None, stop: _forward.StopFlag = None,
             on_chunk: Callable[[Evaluation], None] | None = None) -> Evaluation:
    """Run every method and reference on the first ``n`` images of ``split`` and score them.

    Parameters
    ----------
    model : the classifier (read only: shared models are never changed).
    split : a :class:`vizcore.data.DataSplit` (a test split; its masks, if any, are the truth).
    methods : default :func:`default_methods` for the model.
    target : "predicted" explains the class the model chose (what it decided), "label" the true one.
    steps : steps of the deletion and insertion curves; ``curves=False`` skips them (the mask
        scores alone need no forward pass beyond the methods').
    normalise_as : a model's meta (``mean``, ``std``): feed the pictures normalised as *that*
        model was trained (e.g. the scenes model on shortcut pictures); default the split's own.
    resume : an earlier, stopped result of the same call: its images are kept, the rest is run.
    progress : called as ``progress(done, total)`` after each method on each chunk of images.
    stop : a ``threading.Event`` or function; when set, the images finished so far are returned
        with ``stopped=True``.
    on_chunk : called with the result so far after every chunk of :data:`CHUNK` images (a page
        keeps it, so an interrupted run loses at most one chunk).
    """
    started = time.perf_counter()
    if target not in TARGETS:
        raise ExplainError(f"The explained class must be one of {', '.join(TARGETS)}, got {target!r}.")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ExplainError(f"Choose at least one image, got {n!r}.")
    n = min(int(n), len(split))
    if methods is None:
        norm = normalise_as or {"mean": split.mean, "std": split.std}
        methods = default_methods(model, split.input_shape, norm["mean"], norm["std"])
    references = list(scores.REFERENCES)
    names = [m.name for m in methods] + references
    part = split.subset(n)
    if normalise_as is not None:
        part = dataclasses.replace(part, mean=list(normalise_as["mean"]), std=list(normalise_as["std"]))
    x = part.x
    pictures = _pictures(part.images)
    labels = part.labels.numpy()
    predictions = _forward.outputs(model, x).argmax(1).numpy()
    targets = predictions if target == "predicted" else labels
    counts = scores._step_counts(x.shape[2] * x.shape[3], steps)
    hw = tuple(x.shape[2:])
    cue = getattr(part, "cue_masks", None)

    # Finished chunks so far: the resumed result's, then ours.
    first = 0
    maps = {name: [] for name in names}
    deletion = {name: [] for name in names}
    insertion = {name: [] for name in names}
    seconds = {name: 0.0 for name in names}
    curve_seconds, spent = 0.0, 0.0
    if resume is not None:
        if resume.names != names or resume.asked != n or (bool(resume.deletion) != curves):
            raise ExplainError("This earlier result comes from other settings; it cannot be continued.")
        first = resume.n
        for name in names:
            maps[name].append(resume.maps[name])
            if curves:
                deletion[name].append(resume.deletion[name])
                insertion[name].append(resume.insertion[name])
        seconds.update(resume.seconds)
        curve_seconds, spent = resume.curve_seconds, resume.total_seconds

    def result(done: int, stopped: bool) -> Evaluation:
        def stack(parts: list, shape: tuple) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros((0, *shape), np.float32)

        return Evaluation(
            names=names, references=references,
            settings={m.name: m.describe() for m in methods} | {r: "reference" for r in references},
            indices=np.arange(done), labels=labels[:done], predictions=predictions[:done],
            targets=np.asarray(targets[:done]), maps={k: stack(v, hw) for k, v in maps.items()},
            fractions=counts / counts[-1],
            deletion={k: stack(v, (len(counts),)) for k, v in deletion.items()} if curves else {},
            insertion={k: stack(v, (len(counts),)) for k, v in insertion.items()} if curves else {},
            seconds=dict(seconds), curve_seconds=curve_seconds,
            total_seconds=spent + time.perf_counter() - started, asked=n,
            masks=part.masks[:done].numpy() if part.masks is not None else None,
            cue_masks=cue[:done].numpy() if cue is not None else None, stopped=stopped)

    chunks = range(first, n, CHUNK)
    total_units, unit = len(chunks) * (len(methods) + 1), 0
    done = first
    blurred = scores.blur(x)
    try:
        for start in chunks:
            end = min(n, start + CHUNK)
            xs, ts = x[start:end], torch.as_tensor(targets[start:end])
            chunk_maps, chunk_seconds = {}, {}
            for method in methods:
                if _forward._should_stop(stop):
                    raise _forward.Stopped(start, n)
                t0 = time.perf_counter()
                out = method.run(model, xs, ts, pictures[start:end], stop)
                chunk_seconds[method.name] = time.perf_counter() - t0
                out = out.detach().numpy() if isinstance(out, torch.Tensor) else out
                chunk_maps[method.name] = np.asarray(out, dtype=np.float32)
                unit += 1
                if progress is not None:
                    progress(unit, total_units)
            t0 = time.perf_counter()
            refs = scores.reference_maps(part.images[start:end].float() / 255.0, seed=seed + start)
            for name in references:
                chunk_maps[name] = refs[name].astype(np.float32)
                chunk_seconds[name] = (time.perf_counter() - t0) / len(references)
            t0 = time.perf_counter()
            chunk_curves = {}
            if curves:
                # The curves' end points are the same for every map: the picture, the mean colour
                # (deletion's baseline 0) and the blur (insertion's start), each run once.
                ends = [_forward.probabilities(model, v, ts, stop=stop).double().numpy()
                        for v in (xs, torch.zeros_like(xs), blurred[start:end])]
            for name in names if curves else ():
                chunk_curves[name] = (
                    scores.deletion_curve(model, xs, ts, chunk_maps[name], steps, stop=stop,
                                          ends=(ends[0], ends[1]))[1],
                    scores.insertion_curve(model, xs, ts, chunk_maps[name], steps, start=blurred[start:end],
                                           stop=stop, ends=(ends[2], ends[0]))[1])
            curve_seconds += time.perf_counter() - t0
            for name in names:  # a chunk counts only when all of it is done
                maps[name].append(chunk_maps[name])
                seconds[name] += chunk_seconds[name]
                if curves:
                    deletion[name].append(chunk_curves[name][0])
                    insertion[name].append(chunk_curves[name][1])
            done = end
            unit += 1
            if on_chunk is not None and done < n:
                on_chunk(result(done, stopped=True))
            if progress is not None:
                progress(unit, total_units)
    except _forward.Stopped:
        return result(done, stopped=True)
    return result(done, stopped=False)


# --- tables ---------------------------------------------------------------------------------------

def per_image_scores(result: Evaluation, name: str, tolerance: float = 0.0) -> dict[str, np.ndarray]:
    """Every score of method ``name`` on each image, (n,) arrays keyed by the table's columns."""
    out = {}
    if result.masks is not None:
        maps = result.maps[name]
        out["pointing game"] = scores.pointing_game(maps, result.masks, tolerance).astype(np.float64)
        out["relevance mass"] = scores.relevance_mass(maps, result.masks)
        out["relevance rank"] = scores.relevance_rank(maps, result.masks)
    if name in result.deletion:
        out["deletion AUC"] = scores.auc(result.fractions, result.deletion[name])
        out["insertion AUC"] = scores.auc(result.fractions, result.insertion[name])
    return out


def score_table(result: Evaluation, tolerance: float = 0.0) -> list[dict]:
    """One row per method and reference: the mean of each score over the images, and ms / image."""
    if result.n == 0:
        return []
    rows = []
    for name in result.names:
        row = {"method": name, "kind": "reference" if name in result.references else "method"}
        row.update({k: float(v.mean()) for k, v in per_image_scores(result, name, tolerance).items()})
        row["ms / image"] = result.ms_per_image(name)
        row["settings"] = result.settings[name]
        rows.append(row)
    return rows


def cue_table(result: Evaluation, tolerance: float = 0.0) -> list[dict]:
    """The shortcut lesson per method: does the map point at the object or at the tag?

    Needs a data set with a cue (``cue_masks``); empty otherwise.
    """
    if result.cue_masks is None or result.masks is None or result.n == 0:
        return []
    rows = []
    for name in result.names:
        maps = result.maps[name]
        rows.append({
            "method": name, "kind": "reference" if name in result.references else "method",
            "points at the object": float(scores.pointing_game(maps, result.masks, tolerance).mean()),
            "points at the tag": float(scores.pointing_game(maps, result.cue_masks, tolerance).mean()),
            "mass on the object": float(scores.relevance_mass(maps, result.masks).mean()),
            "mass on the tag": float(scores.relevance_mass(maps, result.cue_masks).mean()),
        })
    return rows
