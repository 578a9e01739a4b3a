"""LIME (Ribeiro et al. 2016): explain one prediction with a simple model fitted around it.

The recipe, as the lecture gives it:

1. cut the image into superpixels (:func:`vizcore.explain.segment.segment`), F of them;
2. draw random on/off masks over the superpixels (row 0 keeps everything) and hide the "off"
   ones — fill them with ``hide``: black, the mean colour, a blurred copy;
3. classify every perturbed image and keep the target's probability;
4. weight each sample by how close it is to the original: the cosine distance d between its
   mask and the all-ones mask, through the kernel sqrt(exp(−d² / w²)), w = 0.25;
5. fit a weighted linear model probability ≈ intercept + Σ coefficient_f · mask_f (ridge, as
   the ``lime`` package does; or lasso, or a random forest's importances as the slide offers).
   The coefficients say how much each superpixel adds to the probability.

With the same masks this gives exactly the ``lime`` package's numbers. With few superpixels
(F ≤ 12) all 2^F masks can be enumerated: no sampling noise at all (:func:`all_masks`).
Random masks make LIME unstable — two seeds often disagree on the top superpixels — which
:func:`stability` measures.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from . import _forward
from ._base import ExplainError, as_targets, check_input, check_targets

SURROGATES = ("ridge", "lasso", "tree")
MAX_EXACT_FEATURES = 12       # 2^12 = 4096 masks
MAX_SAMPLES = 100_000


# --- masks ------------------------------------------------------------------------------------

def random_masks(samples: int, features: int, seed: int = 0) -> np.ndarray:
    """(samples, features) 0/1 masks, each superpixel kept with probability ½; row 0 all ones.

    Drawn from a private ``np.random.default_rng(seed)``: no global random state is touched.
    """
    _check_count(samples, "number of samples", 2, MAX_SAMPLES)
    masks = np.random.default_rng(seed).integers(0, 2, size=(samples, features), dtype=np.int64)
    masks[0] = 1
    return masks


def all_masks(features: int) -> np.ndarray:
    """All 2^F masks of F superpixels, the all-ones mask first (LIME's row 0)."""
    if not 1 <= features <= MAX_EXACT_FEATURES:
        raise ExplainError(f"All masks can be listed for 1 … {MAX_EXACT_FEATURES} superpixels "
                           f"(2^{MAX_EXACT_FEATURES} = {2 ** MAX_EXACT_FEATURES} images), not {features}.")
    masks = np.array(list(itertools.product((1, 0), repeat=features)), dtype=np.int64)
    return masks  # (1, 1, …, 1) comes first


def kernel_weights(masks: np.ndarray, kernel_width: float = 0.25) -> np.ndarray:
    """LIME's sample weights sqrt(exp(−d² / w²)), d the cosine distance to the all-ones mask.

    For a mask keeping k of F superpixels, d = 1 − k / (√k · √F) = 1 − √(k / F) (1 if k = 0,
    as scikit-learn's cosine distance gives for a zero vector).
    """
    masks = np.asarray(masks, dtype=np.float64)
    if not kernel_width > 0:
        raise ExplainError(f"The kernel width must be positive, got {kernel_width!r}.")
    kept = masks.sum(axis=1)
    distance = 1.0 - np.sqrt(kept / masks.shape[1])
    return np.sqrt(np.exp(-(distance ** 2) / kernel_width ** 2))


def _check_count(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ExplainError(f"The {name} must be a whole number from {low} to {high:,}, got {value!r}.")
    return int(value)


def _check_segments(segments, height: int, width: int) -> np.ndarray:
    segments = np.asarray(segments)
    if segments.shape != (height, width):
        raise ExplainError(f"The superpixels ({segments.shape}) must cover the {height}×{width} input.")
    if not np.issubdtype(segments.dtype, np.integer):
        raise ExplainError("Superpixel labels must be whole numbers.")
    present = np.unique(segments)
    if present[0] != 0 or present[-1] != present.size - 1:
        raise ExplainError("Superpixel labels must be 0 … F−1 with none missing.")
    return segments.astype(np.int64)


def _check_masks(masks, features: int) -> np.ndarray:
    masks = np.asarray(masks)
    if masks.ndim != 2 or masks.shape[1] != features or masks.shape[0] < 2:
        raise ExplainError(f"The masks must be (samples ≥ 2, {features}) for {features} superpixels, "
                           f"got shape {masks.shape}.")
    if not np.isin(masks, (0, 1)).all():
        raise ExplainError("Masks hold only 0 (hidden) and 1 (kept).")
    return masks.astype(np.int64)


# --- perturbed images and their predictions -------------------------------------------------------

class Perturber:
    """Makes perturbed copies of one image: in sample s, superpixel f is hidden where mask[s, f] = 0.

    A batch is built with one lookup (masks[:, segments] is the per-pixel mask) and one
    ``torch.where``, in channels-last layout: no Python loop over samples or superpixels.
    """

    def __init__(self, x: torch.Tensor, segments: np.ndarray, masks: np.ndarray, hide=0.0):
        from .occlusion import _as_baseline  # the same rules for "what fills the gap"

        self.x = x.permute(0, 2, 3, 1).contiguous()          # (1, H, W, C)
        hide = _as_baseline(hide, x)
        self.hide = hide if hide.ndim == 0 else hide.expand_as(x).permute(0, 2, 3, 1).contiguous()
        self.segments = torch.as_tensor(segments, dtype=torch.long)
        self.masks = torch.as_tensor(masks, dtype=torch.bool)

    def __len__(self) -> int:
        return self.masks.shape[0]

    def __call__(self, start: int, stop: int) -> torch.Tensor:
        keep = self.masks[start:stop][:, self.segments]      # (B, H, W) True = keep the pixel
        return torch.where(keep[..., None], self.x, self.hide).permute(0, 3, 1, 2)

    def pictures(self, rows: Sequence[int]) -> torch.Tensor:
        """The perturbed inputs (len(rows), C, H, W) of the given samples (for the gallery)."""
        index = torch.as_tensor(list(rows), dtype=torch.long)
        keep = self.masks[index][:, self.segments]
        return torch.where(keep[..., None], self.x, self.hide).permute(0, 3, 1, 2).contiguous()


def sample_probabilities(model: nn.Module, x: torch.Tensor, segments, masks, hide=0.0, *,
                         progress: _forward.Progress | None = None, stop: _forward.StopFlag = None,
                         plan: _forward.Plan | None = None) -> torch.Tensor:
    """Every class's probability (S, K) for each perturbed copy of ``x`` (1, C, H, W)."""
    check_input(model, x)
    if x.shape[0] != 1:
        raise ExplainError("LIME explains one image at a time.")
    segments = _check_segments(segments, x.shape[2], x.shape[3])
    masks = _check_masks(masks, int(segments.max()) + 1)
    perturber = Perturber(x.detach(), segments, masks, hide)
    return _forward.probabilities(model, perturber, total=len(perturber), progress=progress, stop=stop,
                                  plan=plan)


# --- the surrogate model ----------------------------------------------------------------------

@dataclass
class Surrogate:
    """The simple model fitted to the samples, and how well it fits them."""
    kind: str
    coefficients: np.ndarray   # (F,) what each superpixel adds (importances for "tree")
    intercept: float
    r2: float                  # weighted R² on the samples
    local_prediction: float    # its prediction for the unperturbed image (all ones)


def _weighted_r2(y: np.ndarray, fitted: np.ndarray, w: np.ndarray) -> float:
    """scikit-learn's ``r2_score(y, fitted, sample_weight=w)`` (1 − weighted SSE / weighted SST)."""
    residual = float(np.sum(w * (y - fitted) ** 2))
    total = float(np.sum(w * (y - np.average(y, weights=w)) ** 2))
    if total == 0.0:
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total


def weighted_ridge(masks: np.ndarray, scores: np.ndarray, weights: np.ndarray,
                   alpha: float = 1.0) -> tuple[np.ndarray, float]:
    """Minimise Σ wᵢ (yᵢ − b − xᵢ·c)² + α ‖c‖²: the intercept b is not penalised.

    Centre X and y on their weighted means, solve (XᵀWX + αI) c = XᵀWy, then b = ȳ − x̄·c
    (what scikit-learn's ``Ridge(alpha).fit(X, y, sample_weight=w)`` solves), in float64.
    """
    X = np.asarray(masks, dtype=np.float64)
    y = np.asarray(scores, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    x_mean = np.einsum("s,sf->f", w, X) / w.sum()
    y_mean = float(np.einsum("s,s->", w, y) / w.sum())
    Xc, yc = X - x_mean, y - y_mean
    # einsum, not a BLAS matmul: the sums are small, and a BLAS thread pool competing with
    # torch's threads on a busy server turned a 0.1 ms product into 20–200 ms now and then.
    weighted = Xc * w[:, None]
    gram = np.einsum("sf,sg->fg", weighted, Xc) + alpha * np.eye(X.shape[1])
    coef = np.linalg.solve(gram, np.einsum("sf,s->f", weighted, yc))
    return coef, y_mean - float(np.dot(x_mean, coef))


def fit_surrogate(masks: np.ndarray, scores: np.ndarray, weights: np.ndarray, kind: str = "ridge", *,
                  alpha: float | None = None, seed: int = 0) -> Surrogate:
    """Fit probability ≈ intercept + masks · coefficients, each sample weighted by its kernel weight.

    kind : "ridge" (lime's choice, alpha 1), "lasso" (alpha 0.01 as captum's ``Lime``: many
        coefficients become exactly 0) or "tree" (a random forest; the coefficients are its
        impurity importances, ≥ 0, which say how much a superpixel matters but not in which direction).
    """
    masks = np.asarray(masks, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    ones = np.ones((1, masks.shape[1]))
    if kind == "ridge":
        coef, intercept = weighted_ridge(masks, scores, weights, 1.0 if alpha is None else alpha)
        fitted, local = masks @ coef + intercept, float(coef.sum() + intercept)
    elif kind == "lasso":
        from sklearn.linear_model import Lasso

        model = Lasso(alpha=0.01 if alpha is None else alpha, max_iter=10_000)
        model.fit(masks, scores, sample_weight=weights)
        coef, intercept = model.coef_.astype(np.float64), float(model.intercept_)
        fitted, local = model.predict(masks), float(model.predict(ones)[0])
    elif kind == "tree":
        from sklearn.ensemble import RandomForestRegressor

        model = RandomForestRegressor(n_estimators=50, min_samples_leaf=5, random_state=seed)
        model.fit(masks, scores, sample_weight=weights)
        coef, intercept = model.feature_importances_.astype(np.float64), float(np.average(scores, weights=weights))
        fitted, local = model.predict(masks), float(model.predict(ones)[0])
    else:
        raise ExplainError(f"Unknown surrogate {kind!r}: choose one of {', '.join(SURROGATES)}.")
    return Surrogate(kind, coef, intercept, _weighted_r2(scores, fitted, weights), local)


# --- the whole method -----------------------------------------------------------------------------

@dataclass
class LimeResult:
    """Everything LIME computed, so a page can show each of its steps.

    ``masks`` (S, F) 0/1 with row 0 all ones; ``scores`` (S,) the target's probability per sample;
    ``weights`` (S,) kernel weights; ``coefficients`` (F,), ``intercept``, ``r2`` and
    ``local_prediction`` of the surrogate; ``probabilities`` (S, K) every class's probability
    (to explain another class without running the model again, see :meth:`refit`).
    """
    segments: np.ndarray
    target: int
    masks: np.ndarray
    scores: np.ndarray
    weights: np.ndarray
    coefficients: np.ndarray
    intercept: float
    r2: float
    local_prediction: float
    probabilities: np.ndarray
    surrogate: str = "ridge"
    kernel_width: float = 0.25

    def refit(self, target: int | None = None, surrogate: str | None = None, seed: int = 0) -> "LimeResult":
        """The same samples explained for another class or with another surrogate (no forward pass)."""
        target = self.target if target is None else int(target)
        if not 0 <= target < self.probabilities.shape[1]:
            raise ExplainError(f"Class index {target} is outside 0 … {self.probabilities.shape[1] - 1}.")
        kind = surrogate or self.surrogate
        scores = self.probabilities[:, target]
        fit = fit_surrogate(self.masks, scores, self.weights, kind, seed=seed)
        return LimeResult(self.segments, target, self.masks, scores, self.weights, fit.coefficients,
                          fit.intercept, fit.r2, fit.local_prediction, self.probabilities, kind,
                          self.kernel_width)


def lime(model: nn.Module, x: torch.Tensor, target: int, segments, samples: int | str = 1000,
         seed: int = 0, hide=0.0, kernel_width: float = 0.25, masks=None, *,
         surrogate: str = "ridge", progress: _forward.Progress | None = None,
         stop: _forward.StopFlag = None, plan: _forward.Plan | None = None) -> LimeResult:
    """Explain the model's ``target`` probability for one image ``x`` (1, C, H, W) with LIME.

    Parameters
    ----------
    segments : (H, W) superpixel labels 0 … F−1 (see :func:`~vizcore.explain.segment.segment`).
    samples : number of random masks, or "all" for all 2^F masks (F ≤ 12): exact, no noise.
    seed : seed of the private random generator drawing the masks.
    hide : what a hidden superpixel is filled with, in the model's input space: a number, or a
        tensor broadcastable to ``x`` (e.g. a blurred copy, or :func:`segment_means`).
    kernel_width : w in the kernel sqrt(exp(−d² / w²)).
    masks : your own (S, F) masks instead of random ones (e.g. the ``lime`` package's).
    surrogate : "ridge", "lasso" or "tree" (see :func:`fit_surrogate`).
    progress, stop, plan : as for :func:`vizcore.explain._forward.outputs`.

    With ``masks`` and ``hide`` as given to the ``lime`` package, the coefficients, intercept and
    R² equal ``LimeImageExplainer(kernel_width=0.25).explain_instance(...)``'s.
    """
    check_input(model, x)
    if x.shape[0] != 1:
        raise ExplainError("LIME explains one image at a time.")
    segments = _check_segments(segments, x.shape[2], x.shape[3])
    features = int(segments.max()) + 1
    if masks is None:
        masks = all_masks(features) if samples == "all" else random_masks(samples, features, seed)
    masks = _check_masks(masks, features)
    probs = sample_probabilities(model, x, segments, masks, hide, progress=progress, stop=stop,
                                 plan=plan).double().numpy()
    targets = as_targets(target, 1)
    check_targets(targets, probs.shape[1])
    weights = kernel_weights(masks, kernel_width)
    target = int(targets[0])
    fit = fit_surrogate(masks, probs[:, target], weights, surrogate, seed=seed)
    return LimeResult(segments, target, masks, probs[:, target], weights, fit.coefficients,
                      fit.intercept, fit.r2, fit.local_prediction, probs, surrogate, kernel_width)


# --- what to show and how much to trust it ------------------------------------------------------------

def segment_means(x: torch.Tensor, segments) -> torch.Tensor:
    """Each superpixel filled with its own mean colour: lime's ``hide_color=None``."""
    segments = torch.as_tensor(np.asarray(segments), dtype=torch.long)
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    index = segments.reshape(-1)
    n = int(index.max()) + 1
    sums = torch.zeros(x.shape[0], x.shape[1], n, dtype=x.dtype).index_add_(2, index, flat)
    counts = torch.bincount(index, minlength=n).to(x.dtype)
    return (sums / counts)[:, :, index].reshape(x.shape)


def top_features(coefficients, k: int = 5, sign: str = "positive") -> np.ndarray:
    """Indices of the k superpixels with the largest coefficients, strongest first.

    sign : "positive" (those that raise the probability), "negative" (lower it) or "both"
    (largest |coefficient|), as lime's ``get_image_and_mask`` chooses them.
    """
    coef = np.asarray(coefficients, dtype=np.float64)
    order = np.argsort(-np.abs(coef), kind="stable")
    if sign == "positive":
        order = order[coef[order] > 0]
    elif sign == "negative":
        order = order[coef[order] < 0]
    elif sign != "both":
        raise ExplainError(f"sign must be positive, negative or both, got {sign!r}.")
    return order[:max(0, int(k))]


def explanation_mask(segments, coefficients, k: int = 5, sign: str = "positive") -> np.ndarray:
    """(H, W) +1 where a chosen superpixel raises the probability, −1 where it lowers it, else 0."""
    return superpixel_mask(segments, coefficients, top_features(coefficients, k, sign))


def superpixel_mask(segments, coefficients, chosen) -> np.ndarray:
    """(H, W) +1 on the ``chosen`` superpixels that raise the probability, −1 on those that lower
    it, else 0: the page draws the very superpixels its bar chart outlines."""
    segments = np.asarray(segments)
    coef = np.asarray(coefficients, dtype=np.float64)
    chosen = np.asarray(chosen, dtype=np.int64)
    value = np.zeros(coef.shape[0])
    value[chosen] = np.sign(coef[chosen])
    return value[segments].astype(np.int64)


def jaccard(a, b) -> float:
    """|A ∩ B| / |A ∪ B| of two sets of superpixels (1 when both are empty)."""
    a, b = set(np.asarray(a).tolist()), set(np.asarray(b).tolist())
    return 1.0 if not a | b else len(a & b) / len(a | b)


def mean_pairwise_jaccard(top_sets: Sequence) -> float:
    """Mean Jaccard agreement over all pairs of runs (1 = every run picks the same superpixels)."""
    pairs = list(itertools.combinations(top_sets, 2))
    if not pairs:
        raise ExplainError("Agreement needs at least two runs.")
    return float(np.mean([jaccard(a, b) for a, b in pairs]))


@dataclass
class Stability:
    """How much runs with different seeds agree on the top-k superpixels, per sample count."""
    samples: list[int]
    seeds: list[int]
    agreement: np.ndarray      # (len(samples),) mean pairwise Jaccard of the top-k sets
    low: np.ndarray            # (len(samples),) the least agreeing pair
    tops: list[list[np.ndarray]]  # tops[i][j]: top-k of seed j at samples[i]
    k: int


def stability(model: nn.Module, x: torch.Tensor, target: int, segments, samples: Sequence[int] = (250, 500, 1000),
              seeds: Sequence[int] = (0, 1, 2, 3, 4), k: int = 5, hide=0.0, kernel_width: float = 0.25, *,
              sign: str = "positive", surrogate: str = "ridge", progress: _forward.Progress | None = None,
              stop: _forward.StopFlag = None, plan: _forward.Plan | None = None) -> Stability:
    """Top-k agreement (Jaccard) between seeds, for each number of samples.

    A run with fewer samples is the first rows of the run with the most (row 0 stays all ones,
    the rest are as random), so each seed costs only ``max(samples)`` forward passes.
    """
    check_input(model, x)
    segments = _check_segments(segments, x.shape[2], x.shape[3])
    features = int(segments.max()) + 1
    samples = sorted({_check_count(s, "number of samples", 2, MAX_SAMPLES) for s in samples})
    seeds = list(seeds)
    if len(seeds) < 2:
        raise ExplainError("Stability needs at least two seeds.")
    most = samples[-1]
    total = most * len(seeds)
    tops: list[list[np.ndarray]] = [[] for _ in samples]
    for j, seed in enumerate(seeds):
        masks = random_masks(most, features, seed)
        step = None if progress is None else (lambda done, _t, j=j: progress(j * most + done, total))
        probs = sample_probabilities(model, x, segments, masks, hide, progress=step, stop=stop,
                                     plan=plan).double().numpy()[:, target]
        weights = kernel_weights(masks, kernel_width)
        for i, n in enumerate(samples):
            fit = fit_surrogate(masks[:n], probs[:n], weights[:n], surrogate, seed=seed)
            tops[i].append(top_features(fit.coefficients, k, sign))
    agreement = np.array([mean_pairwise_jaccard(t) for t in tops])
    low = np.array([min(jaccard(a, b) for a, b in itertools.combinations(t, 2)) for t in tops])
    return Stability(samples, seeds, agreement, low, tops, k)


def exact_is_possible(segments) -> bool:
    """True when the superpixels are few enough (≤ 12) to list all 2^F masks."""
    return int(np.max(segments)) + 1 <= MAX_EXACT_FEATURES


__all__ = ["lime", "LimeResult", "Surrogate", "Stability", "fit_surrogate", "weighted_ridge",
           "random_masks", "all_masks", "kernel_weights", "sample_probabilities", "segment_means",
           "top_features", "explanation_mask", "superpixel_mask", "jaccard", "mean_pairwise_jaccard", "stability",
           "exact_is_possible", "SURROGATES", "MAX_EXACT_FEATURES", "Perturber"]
