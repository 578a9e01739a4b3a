"""Going deeper (the Architectures page): training time per depth, vizcore.deeper against a bare loop.

    python benchmarks/bench_deeper.py                  # depths 8 20 32 56, plain/residual/highway, 200 steps
    python benchmarks/bench_deeper.py --depths 8 56 --steps 100

For every depth and kind, ``vizcore.deeper.train_deep`` (history, gradient norms every 25 steps,
validation every 25 steps) and the shortest honest PyTorch loop on the same network, data and
batches (forward, loss, backward, step; nothing recorded) run in turn on 1 thread; the script
prints seconds, the ratio ours/peer and the validation accuracy reached. No speed target in
issue 20: the page bounds every network to 30 s (MAX_SECONDS), so the table says which depths
finish their steps inside that bound on this machine.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vizcore import data, deeper  # noqa: E402


def bare_loop(cfg: deeper.DeepConfig, train_split: data.DataSplit) -> float:
    """The peer: the same network and batches, nothing measured on the way."""
    model = deeper.build(cfg)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr) if cfg.optimizer == "adam" else \
        torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)
    rng = torch.Generator().manual_seed(cfg.seed + 1)
    x_all, y_all = train_split.x, train_split.labels
    order, position = torch.randperm(len(y_all), generator=rng), 0
    start = time.perf_counter()
    for _ in range(cfg.steps):
        if position + cfg.batch_size > len(order):
            order, position = torch.randperm(len(y_all), generator=rng), 0
        index = order[position:position + cfg.batch_size]
        position += cfg.batch_size
        loss = F.cross_entropy(model(x_all[index]), y_all[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--depths", type=int, nargs="+", default=[8, 20, 32, 56])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--kinds", nargs="+", default=list(deeper.KINDS))
    parser.add_argument("--no-batch-norm", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the app: one thread per session
    train_split, val_split = data.load_dataset("digits", "train"), data.load_dataset("digits", "val")
    print(f"{'depth':>5} {'kind':>8} {'vizcore s':>10} {'bare s':>8} {'ratio':>6} {'val acc':>8} {'<= 30 s':>8}")
    for depth in args.depths:
        for kind in args.kinds:
            cfg = deeper.DeepConfig(kind=kind, depth=depth, steps=args.steps, batch_norm=not args.no_batch_norm)
            h = deeper.train_deep(cfg, train_split, val_split)
            peer = bare_loop(cfg, train_split)
            print(f"{depth:>5} {kind:>8} {h.seconds:>10.2f} {peer:>8.2f} {h.seconds / peer:>6.2f} "
                  f"{h.val_accuracy[-1]:>8.1%} {'yes' if h.seconds <= 30 else 'NO':>8}", flush=True)


if __name__ == "__main__":
    main()
