"""The Explanation scores table: every method on 100 scenes test images, against the methods' own time.

Two measurements in one run, on the same model, images and settings (LIME at 500 samples):

1. the methods alone: each method's function called directly on the images, 10 at a time, as
   a script that only wanted the maps would call them (the sum of their times);
2. the whole table: ``vizcore.explain.evaluate.evaluate`` (the same methods, the three
   reference maps, the deletion and insertion curves) and then ``score_table``.

Printed: both totals, the scoring overhead (2 − 1) as a share of 1, split into the curves'
forward passes (with their floor: passes × the measured per-image forward time) and the rest
(reference maps, mask scores, bookkeeping). Targets: the table ≤ 60 s, the overhead ≤ 10 %.
The order alternates between rounds so a busy machine slows both alike.

    python benchmarks/bench_scores.py [--images 100] [--steps 16,32] [--rounds 1] [--model scenes]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from vizcore import data, models  # noqa: E402
from vizcore.explain import _forward, evaluate as ev  # noqa: E402

TABLE_TARGET_S = 60.0
OVERHEAD_TARGET = 0.10


def methods_alone(model, split, meta, methods, n: int) -> dict[str, float]:
    """Seconds per method for its maps of the first n images, called directly, 10 at a time."""
    part = split.subset(n)
    mean = torch.tensor(meta["mean"])[:, None, None]
    std = torch.tensor(meta["std"])[:, None, None]
    x = (part.images.float() / 255 - mean) / std
    with torch.no_grad():
        targets = model(x).argmax(1)
    pictures = part.images.numpy().transpose(0, 2, 3, 1)
    seconds = {}
    for method in methods:
        start = time.perf_counter()
        for i in range(0, n, ev.CHUNK):
            method.run(model, x[i:i + ev.CHUNK], targets[i:i + ev.CHUNK], pictures[i:i + ev.CHUNK], None)
        seconds[method.name] = time.perf_counter() - start
    return seconds


def forward_rate(model, shape, plan, images: int = 512, repeats: int = 3) -> float:
    """Best seconds per image of plain batched forward passes (the floor of every perturbation)."""
    x = torch.randn((images, *shape), generator=torch.Generator().manual_seed(0))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        _forward.outputs(model, x, plan=plan)
        best = min(best, time.perf_counter() - start)
    return best / images


def whole_table(model, split, meta, methods, n: int, steps: int) -> tuple[float, float, ev.Evaluation]:
    start = time.perf_counter()
    result = ev.evaluate(model, split, n, methods=methods, steps=steps, normalise_as=meta)
    t_table = time.perf_counter()
    ev.score_table(result, tolerance=4.3)
    ev.cue_table(result, tolerance=4.3)
    end = time.perf_counter()
    return end - start, end - t_table, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--steps", default="16,32", help="deletion/insertion steps to measure, comma separated")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--model", default="scenes")
    parser.add_argument("--dataset", default="scenes")
    args = parser.parse_args()
    steps_list = [int(s) for s in args.steps.split(",")]

    if args.model not in models.shipped_models():
        sys.exit(f"No shipped model {args.model!r} in assets/ (have: {', '.join(models.shipped_models())}).")
    model, meta = models.load_pretrained(args.model)
    split = data.load_dataset(args.dataset, "test")
    methods = ev.default_methods(model, meta["input_shape"], meta["mean"], meta["std"], lime_samples=500)
    plan = _forward.plan_for(model, tuple(meta["input_shape"]))
    load = os.getloadavg()
    print(f"model {args.model} on {args.images} {args.dataset} test images · torch threads {torch.get_num_threads()} · "
          f"load average {load[0]:.1f} · forward plan: batch {plan.batch_size}, "
          f"{'channels-last' if plan.channels_last else 'NCHW'}, {plan.seconds_per_image * 1e3:.3f} ms/image")
    print("settings: " + "; ".join(f"{m.name}: {m.describe()}" for m in methods))

    for steps in steps_list:
        for r in range(args.rounds):
            if r % 2 == 0:
                alone = methods_alone(model, split, meta, methods, args.images)
                total, table_s, result = whole_table(model, split, meta, methods, args.images, steps)
            else:
                total, table_s, result = whole_table(model, split, meta, methods, args.images, steps)
                alone = methods_alone(model, split, meta, methods, args.images)
            a = sum(alone.values())
            inside = sum(result.seconds[m.name] for m in methods)
            passes = int(ev.forward_passes(methods, result.n, steps) - ev.forward_passes(methods, result.n, None))
            rate = forward_rate(model, tuple(meta["input_shape"]), plan)
            floor = passes * rate
            rest = total - inside - result.curve_seconds
            print(f"\nsteps {steps}, round {r + 1}")
            print(f"{'method':24s} {'alone s':>8s} {'in table s':>10s} {'ms/image':>9s}")
            for m in methods:
                print(f"{m.name:24s} {alone[m.name]:8.2f} {result.seconds[m.name]:10.2f} "
                      f"{1e3 * result.seconds[m.name] / result.n:9.1f}")
            print(f"{'sum of the methods':24s} {a:8.2f} {inside:10.2f}")
            estimate = plan.estimate(ev.forward_passes(methods, result.n, steps))
            print(f"whole table: {total:.1f} s (the page's estimate beforehand: {estimate:.0f} s; target ≤ {TABLE_TARGET_S:.0f} s: "
                  f"{'PASS' if total <= TABLE_TARGET_S else 'MISS'})")
            print(f"  curves: {result.curve_seconds:.1f} s for {passes:,} forward passes "
                  f"(floor {floor:.1f} s at {rate * 1e3:.3f} ms/image measured now, {result.curve_seconds / max(floor, 1e-9):.2f}× floor)")
            print(f"  references, mask scores and bookkeeping: {rest:.2f} s (table and cue scores alone {table_s:.2f} s)")
            overhead = (total - a) / a
            print(f"scoring overhead (table − methods alone) / methods alone: {overhead:.0%} "
                  f"(target ≤ {OVERHEAD_TARGET:.0%}: {'PASS' if overhead <= OVERHEAD_TARGET else 'MISS'}); "
                  f"without the curves: {(total - result.curve_seconds - a) / a:.1%}")
            print(f"slowest method: {result.slowest()} "
                  f"({result.seconds[result.slowest()] / inside:.0%} of the methods' time)")


if __name__ == "__main__":
    main()
