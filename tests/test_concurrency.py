"""Two students, one shared model: every function that reads a model gives each thread its own answer.

Streamlit serves each session from its own thread and the pages share one cached model. The
oracle is the same call made serially, before any thread starts: two threads working on two
different images at the same time must get exactly those results, every time. Afterwards the
model is unchanged (weights hash, eval mode, no hooks), and neither torch's thread count nor its
global random generator was touched by work done for one session.
"""
from __future__ import annotations

import threading

import torch
from torch import nn

from vizcore import features, models
from vizcore.data import load_dataset
from vizcore.explain import _base as explain_base
from vizcore.train import TrainConfig, evaluate, new_model, predict, train

ROUNDS = 25  # per thread and function; the hook-based activations crossed ~half of 600 calls


def _images(meta: dict, seed: int) -> torch.Tensor:
    c, h, w = meta["input_shape"]
    return torch.randn(1, c, h, w, generator=torch.Generator().manual_seed(seed))


def _untouched(model: nn.Module) -> tuple:
    """What another session could see change: weights, modes, hooks, requires_grad."""
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())
    return (features.weights_hash(model), tuple(m.training for m in model.modules()), hooks,
            tuple(p.requires_grad for p in model.parameters()))


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if hasattr(a, "__dataclass_fields__"):
        return _same(vars(a), vars(b))
    if hasattr(a, "dtype") and hasattr(a, "shape"):  # numpy
        return a.dtype == b.dtype and a.shape == b.shape and (a == b).all()
    return a == b


def _race(work, inputs) -> list[str]:
    """Run ``work(x)`` ROUNDS times in one thread per input, all at once; the mismatches found."""
    expected = [work(x) for x in inputs]
    start = threading.Barrier(len(inputs))
    wrong: list[str] = []

    def student(k: int) -> None:
        start.wait()
        for r in range(ROUNDS):
            try:
                if not _same(work(inputs[k]), expected[k]):
                    wrong.append(f"thread {k}, round {r}: another thread's result")
            except Exception as exc:  # noqa: BLE001 - any failure counts
                wrong.append(f"thread {k}, round {r}: {exc!r}")

    threads = [threading.Thread(target=student, args=(k,)) for k in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return wrong


def _reads_of_a_model(model: nn.Sequential, meta: dict) -> dict:
    conv = features.conv_layers(model)[-1]
    names = features.layer_names(model)

    def conv_value(x):
        acts = features.activations(model, x)
        layer_input = features.layer_inputs(model, x, acts)[conv]
        return features.explain_conv_value(model, conv, layer_input, 1, 2, 3)

    return {
        "activations": lambda x: features.activations(model, x),
        "top_activations": lambda x: features.top_activations(model, x.repeat(3, 1, 1, 1) * torch.tensor(
            [1.0, -0.5, 2.0]).view(3, 1, 1, 1), k=2, batch_size=2),
        "explain_conv_value": conv_value,
        "filters and bias": lambda x: (features.filters(model, conv), features.bias(model, conv)),
        "explain.run_layers": lambda x: explain_base.run_layers(model, x, names[2]),
        "top_classes": lambda x: features.top_classes(features.activations(model, x)[features.SOFTMAX],
                                                      meta["classes"]),
    }


def test_every_read_of_a_shared_model_gives_each_thread_its_own_answer():
    for name in ("digits", "shapes"):
        model, meta = models.load_pretrained(name)
        before = _untouched(model)
        inputs = [_images(meta, 1), _images(meta, 2)]
        for what, work in _reads_of_a_model(model, meta).items():
            wrong = _race(work, inputs)
            assert not wrong, f"{name} {what}: {wrong[:3]} ({len(wrong)} of {2 * ROUNDS})"
        assert _untouched(model) == before, f"{name}: the shared model changed"


def test_predict_and_evaluate_on_a_shared_model_in_two_threads():
    model, _ = models.load_pretrained("digits")
    before = _untouched(model)
    test = load_dataset("digits", "test")
    halves = [test.subset(slice(0, 60)), test.subset(slice(60, 120))]
    for work in (lambda d: predict(model, d, batch_size=16), lambda d: evaluate(model, d, batch_size=16)):
        wrong = _race(work, halves)
        assert not wrong, wrong[:3]
    assert _untouched(model) == before


def test_training_leaves_threads_and_the_global_generator_alone():
    data = load_dataset("digits", "train").subset(64)
    model = new_model("digits", data, seed=3, dropout=0.5)
    threads, rng = torch.get_num_threads(), torch.random.get_rng_state()
    seen = []

    def during(event):  # what any other session would see while this one trains
        seen.append((torch.get_num_threads(), torch.equal(torch.random.get_rng_state(), rng)))

    train(model, data, None, TrainConfig(epochs=1, batch_size=16, seed=3, threads=1), callback=during)
    assert seen and all(n == threads and same_rng for n, same_rng in seen), seen
    assert torch.get_num_threads() == threads and torch.equal(torch.random.get_rng_state(), rng)


def test_two_sessions_training_with_dropout_at_once_get_the_serial_weights():
    data = load_dataset("digits", "train").subset(64)
    cfg = TrainConfig(epochs=1, batch_size=16, seed=7)

    def trained(seed: int) -> dict:
        model = new_model("digits", data, seed=seed, dropout=0.5)
        train(model, data, None, TrainConfig(**{**cfg.__dict__, "seed": seed}))
        return model.state_dict()

    serial = [trained(7), trained(8)]
    assert not _same(serial[0], serial[1])
    results: dict[int, dict] = {}
    start = threading.Barrier(2)

    def student(k: int) -> None:
        start.wait()
        results[k] = trained(7 + k)

    threads = [threading.Thread(target=student, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _same(results[0], serial[0]) and _same(results[1], serial[1])


def test_training_dropout_keeps_the_expected_value():
    # The private-generator dropout of vizcore.train is nn.Dropout's: zero with probability p,
    # scale the rest by 1/(1-p). Oracle: the fraction kept and the scale of the kept values.
    from vizcore.train import _forward

    model = nn.Sequential(nn.Identity(), nn.Dropout(0.3)).train()
    x = torch.full((200_000,), 2.0)
    y = _forward(model, x, torch.Generator().manual_seed(0))
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.005
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 2.0 / 0.7))
    model.eval()
    assert torch.equal(_forward(model, x, torch.Generator()), x)
