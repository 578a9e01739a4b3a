"""vizcore.train: the loop learns, is deterministic, stops on request; metrics against sklearn; the CLI."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from vizcore import augment, models
from vizcore.figures import training as training_figs
from vizcore.data import load_dataset
from vizcore.train import History, TrainConfig, confusion_matrix, evaluate, main, new_model, predict, train


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "train").subset(192), load_dataset("digits", "val").subset(100)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("optimizer, lr", [("adam", 2e-3), ("sgd", 0.01)])
def test_a_few_epochs_lower_the_loss(digits, optimizer, lr):
    train_data, val_data = digits
    model = new_model("digits", train_data, seed=1)
    before, _ = evaluate(model, train_data)
    history = train(model, train_data, val_data, TrainConfig(epochs=3, batch_size=32, optimizer=optimizer, lr=lr))
    after, accuracy = evaluate(model, train_data)
    assert after < 0.7 * before and history.train_loss[-1] < history.train_loss[0]
    assert accuracy > 0.5 and len(history.batch_loss) == 3 * 6 and history.images_seen == 3 * 192
    assert not model.training


@pytest.mark.parametrize("options", [{}, {"dropout": 0.3, "batch_norm": True}])
def test_same_seed_same_weights_other_seed_other_weights(digits, options):
    train_data, val_data = digits
    cfg = TrainConfig(epochs=1, batch_size=32, augment=augment.PRESETS["digits"], seed=5, threads=1)
    runs = []
    for seed in (5, 5, 6):
        model = new_model("digits", train_data, seed=0, **options)
        h = train(model, train_data, val_data, TrainConfig(**{**cfg.__dict__, "seed": seed}))
        runs.append((_state(model), h.batch_loss))
    for key in runs[0][0]:
        assert torch.equal(runs[0][0][key], runs[1][0][key])
    assert runs[0][1] == runs[1][1]
    assert not torch.equal(runs[0][0]["conv1.weight"], runs[2][0]["conv1.weight"])
    # Training leaves torch's global random generator where it was.
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    train(new_model("digits", train_data), train_data.subset(8), None, TrainConfig(epochs=1, batch_size=4))
    assert torch.equal(torch.rand(1), expected)


def test_stop_flag_and_callbacks(digits):
    train_data, val_data = digits
    events = []
    history = train(new_model("digits", train_data), train_data, val_data, TrainConfig(epochs=4, batch_size=32),
                    callback=lambda e: events.append((e["kind"], e["epoch"], e["batch"])),
                    should_stop=lambda: sum(kind == "batch" for kind, _, _ in events) >= 8)
    assert history.stopped and len(history.batch_loss) == 8
    assert [e for e in events if e[0] == "epoch"] == [("epoch", 1, 6), ("epoch", 2, 6)]
    assert history.epoch == [1, 2] and len(history.val_accuracy) == 2


def test_an_exception_in_the_callback_leaves_threads_and_mode_restored(digits):
    train_data, _ = digits
    model, threads = new_model("digits", train_data), torch.get_num_threads()

    def interrupt(event):
        raise KeyboardInterrupt  # what a Stop click in Streamlit does to the script, in effect

    with pytest.raises(KeyboardInterrupt):
        train(model, train_data, None, TrainConfig(epochs=1, threads=1), callback=interrupt)
    assert torch.get_num_threads() == threads and not model.training


def test_evaluate_matches_a_direct_computation(digits):
    _, val_data = digits
    model = new_model("digits", val_data, seed=3)
    loss, accuracy = evaluate(model, val_data, batch_size=7)
    with torch.no_grad():
        logits = model(val_data.x)
    assert loss == pytest.approx(F.cross_entropy(logits, val_data.labels).item(), rel=1e-5)
    assert accuracy == pytest.approx((logits.argmax(1) == val_data.labels).float().mean().item())
    torch.testing.assert_close(predict(model, val_data, batch_size=13), logits, rtol=1e-5, atol=1e-5)


@pytest.mark.filterwarnings("ignore:A single label was found")
@settings(max_examples=100, deadline=None)
@given(k=st.integers(1, 12), data=st.data())
def test_confusion_matrix_equals_sklearn(k, data):
    n = data.draw(st.integers(0, 60))
    true = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)), dtype=np.int64)
    pred = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)), dtype=np.int64)
    ours = confusion_matrix(true, pred, k)
    assert ours.shape == (k, k) and ours.sum() == n
    if n:
        np.testing.assert_array_equal(ours, sk_confusion_matrix(true, pred, labels=list(range(k))))


def test_figures_show_the_numbers_they_are_given():
    h = History(epoch=[1, 2], train_loss=[1.0, 0.5], train_accuracy=[0.6, 0.9], val_loss=[1.1, 0.8],
                val_accuracy=[0.55, 0.7], batch_epoch=[0.5, 1.0, 1.5, 2.0], batch_loss=[1.2, 0.9, 0.6, 0.4])
    fig = training_figs.learning_curves({"a": h, "b": h})
    traces = {(t.name, t.xaxis): list(t.y) for t in fig.data}
    assert traces[("a: validation", "x2")] == [0.55, 0.7] and traces[("b: training", "x")] == [1.0, 0.5]
    matrix = np.array([[3, 1], [0, 4]])
    heat = training_figs.confusion_figure(matrix, ["cat", "dog"])
    np.testing.assert_array_equal(heat.data[0].z, matrix)
    assert list(heat.data[0].x) == ["cat", "dog"]
    wrong = training_figs.misclassified_figure(np.zeros((3, 1, 8, 8)), ["1", "2", "3"], ["7", "7", "8"],
                                                  [0.9, 0.5, 0.4], columns=2)
    assert [a.text for a in wrong.layout.annotations] == ["1 → 7 (90%)", "2 → 7 (50%)", "3 → 8 (40%)"]


def test_cli_writes_weights_and_meta_that_load_back(tmp_path, capsys):
    meta = main(["digits", "--epochs", "1", "--train-size", "64", "--batch-size", "32", "--out", str(tmp_path),
                 "--name", "tiny", "--dropout", "0.2", "--batch-norm", "--channels", "4", "8", "--seed", "7"])
    assert "test accuracy" in capsys.readouterr().out
    written = json.loads((tmp_path / "tiny.json").read_text())
    assert written == json.loads(json.dumps(meta))
    assert written["train_command"] == ("python -m vizcore.train digits --epochs 1 --train-size 64 --batch-size 32 "
                                        f"--out {tmp_path} --name tiny --dropout 0.2 --batch-norm --channels 4 8 --seed 7")
    assert written["seed"] == 7 and written["architecture"] == "digits" and written["options"]["batch_norm"]
    model, loaded_meta = models.load_pretrained("tiny", tmp_path)
    assert loaded_meta == written and models.count_parameters(model) == written["params"]
    _, accuracy = evaluate(model, load_dataset("digits", "test"))
    assert accuracy == pytest.approx(written["test_accuracy"], abs=1e-6)
