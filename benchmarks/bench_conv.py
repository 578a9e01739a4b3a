"""vizcore.conv.correlate2d against its peers, side by side in one run, with the memory floor.

Applies 3x3, 7x7 and 15x15 kernels ("same" zero padding) to a 1024x1024 RGB float32 image, numpy in
and numpy out for every contender (layout conversions count), and checks that they all agree.
Measurements are interleaved round-robin and the median is reported, so a busy machine slows
all contenders alike; compare the ratios, not the absolute times.

Targets: 3x3 within 3x the memory-bandwidth floor (bytes read + written / copy bandwidth of a
buffer larger than the cache); every size within 1.2x of the best peer. The floor from a copy of
the cache-resident image itself is printed too.

    python benchmarks/bench_conv.py            # full run, about a minute
    python benchmarks/bench_conv.py --quick    # smoke run, a few seconds
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.ndimage
import scipy.signal
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vizcore import conv  # noqa: E402

SLOW_S = 1.0  # a contender slower than this per call is timed once (torch NCHW 15x15 takes ~10 s)


def median_ms(times: list[float]) -> float:
    return float(np.median(times)) * 1e3


def copy_bandwidth(nbytes: int, reps: int) -> float:
    """Bytes moved (read + written) per second by np.copyto of an nbytes buffer."""
    src = np.ones(nbytes // 4, np.float32)
    dst = np.empty_like(src)
    times = []
    for _ in range(reps + 1):
        start = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - start)
    return 2 * nbytes / float(np.median(times[1:]))


def contenders(x: np.ndarray, kernel: np.ndarray) -> dict:
    k = kernel.shape[0]
    xt = torch.from_numpy(x)
    weight = torch.from_numpy(kernel).expand(x.shape[0], 1, k, k)
    flipped = np.ascontiguousarray(kernel[::-1, ::-1])

    def torch_nchw():
        return F.conv2d(xt[None], weight, padding=k // 2, groups=x.shape[0])[0].numpy()

    def torch_channels_last():
        xi = xt[None].contiguous(memory_format=torch.channels_last)
        w = weight.contiguous(memory_format=torch.channels_last)
        return F.conv2d(xi, w, padding=k // 2, groups=x.shape[0])[0].contiguous().numpy()

    return {
        "vizcore": lambda: conv.correlate2d(x, kernel, padding="same"),
        "ndimage": lambda: np.stack([scipy.ndimage.correlate(c, kernel, mode="constant") for c in x]),
        "fftconvolve": lambda: scipy.signal.fftconvolve(x, flipped[None], mode="same", axes=(1, 2)),
        "torch NCHW": torch_nchw,
        "torch CL": torch_channels_last,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats, skip torch NCHW 15x15 (~10 s a call)")
    parser.add_argument("--reps", type=int, default=None, help="timed calls per contender (default 11, quick 3)")
    args = parser.parse_args()
    reps = args.reps or (3 if args.quick else 11)
    torch.set_grad_enabled(False)

    rng = np.random.default_rng(0)
    x = (rng.random((3, 1024, 1024), dtype=np.float32) * 255).astype(np.float32)
    image_bytes = x.nbytes
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.1f}")
    bw_cache = copy_bandwidth(image_bytes, 3 * reps)
    bw_dram = copy_bandwidth(256 << 20, max(3, reps // 2))
    floor_ms = 2 * image_bytes / bw_dram * 1e3
    cache_floor_ms = 2 * image_bytes / bw_cache * 1e3
    print(f"copy bandwidth (read + write): {bw_dram / 1e9:.1f} GB/s for 256 MiB (memory), "
          f"{bw_cache / 1e9:.1f} GB/s for the 12 MiB image itself (it fits in the cache)")
    print(f"floor = (12 MiB read + 12 MiB written) / {bw_dram / 1e9:.1f} GB/s = {floor_ms:.2f} ms "
          f"(from cache: {cache_floor_ms:.2f} ms)\n")

    names = list(contenders(x, np.ones((3, 3), np.float32)))
    header = f"{'kernel':>7} | " + " | ".join(f"{n:>11}" for n in names) + \
        f" | {'route':>7} | {'ours/floor':>10} | {'ours/cache floor':>16} | {'ours/best peer':>14} | result"
    print(header)
    print("-" * len(header))
    all_pass = True
    for k in (3, 7, 15):
        kernel = rng.standard_normal((k, k)).astype(np.float32)
        calls = contenders(x, kernel)
        if args.quick and k == 15:
            del calls["torch NCHW"]
        times = {n: [] for n in calls}
        results = {}
        for name, fn in calls.items():  # warm-up, checked result; very slow contenders run only this once
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
        repeat = [n for n in calls if times[n][0] < SLOW_S]
        for n in repeat:
            times[n].clear()
        for _ in range(reps):  # round-robin: load spikes hit every contender
            for name in repeat:
                start = time.perf_counter()
                calls[name]()
                times[name].append(time.perf_counter() - start)
        reference = results["torch CL"]
        for name, out in results.items():
            error = float(np.abs(out - reference).max() / np.abs(reference).max())
            assert out.shape == reference.shape and error < 1e-4, f"{name} disagrees ({error:.1e})"

        ms = {n: median_ms(t) for n, t in times.items()}
        best_peer = min(v for n, v in ms.items() if n != "vizcore")
        ratio_floor = ms["vizcore"] / floor_ms
        ratio_peer = ms["vizcore"] / best_peer
        ok = ratio_peer <= 1.2 and (k != 3 or ratio_floor <= 3.0)
        all_pass &= ok
        target = "<=3x floor, <=1.2x peer" if k == 3 else "<=1.2x peer"
        job = conv._prepare(x, kernel, 1, "same", 1, "zeros")
        cells = " | ".join(f"{ms[n]:>8.1f} ms" if n in ms else f"{'skipped':>11}" for n in names)
        print(f"{k:>3}x{k:<3} | {cells} | {conv._route(job, 'auto'):>7} | {ratio_floor:>9.1f}x | "
              f"{ms['vizcore'] / cache_floor_ms:>15.1f}x | "
              f"{ratio_peer:>13.2f}x | {'PASS' if ok else 'MISS'} ({target})")
    print("\nAll outputs agree with torch channels-last to 1e-4 (relative to the largest value).")
    print(f"load average at the end {os.getloadavg()[0]:.1f}; overall: {'PASS' if all_pass else 'MISS'}")


if __name__ == "__main__":
    main()
