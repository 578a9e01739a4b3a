"""Training and inference speed of vizcore, side by side with a minimal plain-PyTorch loop.

    python benchmarks/bench_train.py            # throughput + single-image inference (about a minute)
    python benchmarks/bench_train.py --full     # also: time from scratch to the accuracy target

1. Throughput (images/s): ``vizcore.train.train`` against the shortest honest PyTorch loop
   (pre-normalised float tensors, randperm, forward, loss, backward, step) on the same model
   initialisation, data, batch size and thread count, no augmentation. Runs alternate and the
   median counts, because the machine is shared. Target: ratio >= 0.9.
2. ``--full``: the shipped models' recorded training settings from scratch; the time (training
   plus the per-epoch validation) until the test accuracy first reaches 99 %. Targets on 2 cores:
   digits <= 60 s, shapes <= 300 s.
3. One picture through ``preprocess`` + the model in eval mode (median of 200). Target <= 10 ms.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402

from vizcore import augment, models  # noqa: E402
from vizcore.data import load_dataset  # noqa: E402
from vizcore.train import TrainConfig, evaluate, new_model, train  # noqa: E402


def plain_pytorch_epoch(model, x, y, optimizer, batch_size, generator):
    """The minimal loop: what a tutorial writes."""
    model.train()
    order = torch.randperm(len(x), generator=generator)
    for i in range(0, len(x), batch_size):
        index = order[i:i + batch_size]
        loss = F.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def throughput(name: str, n: int, batch_size: int, repeats: int) -> tuple[float, float]:
    data = load_dataset(name, "train", size=n) if name == "shapes" else load_dataset(name, "train").subset(n)
    start_model = new_model(name, data, seed=0)
    x, y = data.x, data.labels
    ours, peer = [], []
    cfg = TrainConfig(epochs=1, batch_size=batch_size, lr=1e-3)
    def run_ours() -> float:
        model = copy.deepcopy(start_model)
        t = time.perf_counter()
        train(model, data, None, cfg)
        return len(data) / (time.perf_counter() - t)

    def run_peer() -> float:
        model = copy.deepcopy(start_model)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        t = time.perf_counter()
        plain_pytorch_epoch(model, x, y, optimizer, batch_size, torch.Generator().manual_seed(0))
        return len(data) / (time.perf_counter() - t)

    run_ours(), run_peer()  # warm-up: first calls pay for allocations and kernel selection
    for i in range(repeats):  # alternate who goes first: neighbours' load drifts over time
        if i % 2:
            peer.append(run_peer()), ours.append(run_ours())
        else:
            ours.append(run_ours()), peer.append(run_peer())
    return statistics.median(ours), statistics.median(peer)


def time_to_target(name: str, target: float = 0.99) -> tuple[float | None, float, int]:
    """Retrain with the shipped meta's settings; seconds of training until test accuracy >= target."""
    _, meta = models.load_pretrained(name)
    saved = meta["train_config"]
    cfg = TrainConfig(**{**saved, "augment": augment.AugmentConfig(**saved["augment"])})
    train_data, val_data, test_data = (load_dataset(name, s) for s in ("train", "val", "test"))
    model = new_model(name, train_data, seed=cfg.seed, **{k: tuple(v) if isinstance(v, list) else v
                                                          for k, v in meta["options"].items()})
    reached: dict[str, float | int | None] = {"seconds": None, "epoch": 0}
    scoring = [0.0]  # time spent on the extra test scoring, not part of training

    def on_epoch(event):
        if event["kind"] != "epoch" or reached["seconds"] is not None:
            return
        t = time.perf_counter()
        _, accuracy = evaluate(model, test_data)
        scoring[0] += time.perf_counter() - t
        if accuracy >= target:
            reached.update(seconds=event["history"].seconds, epoch=event["epoch"])

    stop = lambda: reached["seconds"] is not None  # noqa: E731
    history = train(model, train_data, val_data, cfg, callback=on_epoch, should_stop=stop)
    return reached["seconds"], history.seconds - scoring[0], int(reached["epoch"])


def inference_ms(name: str, runs: int = 200) -> float:
    model, meta = models.load_pretrained(name)
    c, h, w = meta["input_shape"]
    img = Image.new("RGB" if c == 3 else "L", (w * 3, h * 3), 128)
    times = []
    with torch.no_grad():
        for _ in range(runs):
            t = time.perf_counter()
            torch.softmax(model(models.preprocess(img, meta)), 1)
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="also measure time to the accuracy target")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)\n")

    print("1. Training throughput, one epoch, no augmentation (median of alternating runs)")
    print(f"{'model':8} {'images':>6} {'batch':>5} {'vizcore img/s':>14} {'plain img/s':>12} {'ratio':>6}")
    for name, n, batch in (("digits", 1078, 64), ("shapes", 1000, 32)):
        ours, peer = throughput(name, n, batch, args.repeats)
        print(f"{name:8} {n:6d} {batch:5d} {ours:14.0f} {peer:12.0f} {ours / peer:6.2f}  (target >= 0.9)")

    if args.full:
        print("\n2. From scratch to 99 % test accuracy with the shipped settings")
        for name, budget in (("digits", 60), ("shapes", 300)):
            seconds, total, epoch = time_to_target(name)
            shown = f"{seconds:7.1f} s at epoch {epoch}" if seconds is not None else f"not reached ({total:.0f} s)"
            ratio = f"{seconds / budget:.2f} of the budget" if seconds is not None else "-"
            print(f"{name:8} {shown}  (budget {budget} s: {ratio})")

    print("\n3. One picture: preprocess + forward + softmax (median of 200)")
    for name in ("digits", "shapes"):
        ms = inference_ms(name)
        print(f"{name:8} {ms:6.2f} ms  ({ms / 10:.2f} of the 10 ms budget)")


if __name__ == "__main__":
    main()
