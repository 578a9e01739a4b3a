"""The Training page driven like a user in AppTest: tiny runs, curves, confusion matrix, upload."""
import base64
import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from vizcore import models

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "training.py")


def _page(pace: str = "as fast as it can") -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["train_pace"] = pace  # the page's default is lecture pace (3 s per epoch)
    at.run()
    assert not at.exception
    return at


def _charts(at) -> dict[str, dict]:
    return {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def _values(trace_field):
    if isinstance(trace_field, dict) and "bdata" in trace_field:
        shape = trace_field.get("shape", "-1")
        shape = [int(v) for v in str(shape).split(",")] if not isinstance(shape, list) else shape
        return np.frombuffer(base64.b64decode(trace_field["bdata"]), trace_field["dtype"]).reshape(shape)
    return np.asarray(trace_field)


def test_tiny_digits_run_shows_curves_confusion_matrix_and_adds_a_session_model():
    at = _page()
    at.number_input(key="train_n_digits").set_value(40)
    at.number_input(key="train_epochs_digits").set_value(2)
    at.button(key="train_start").click().run()
    assert not at.exception
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    curves = [s for s in specs if any(t.get("name") == "validation" for t in s["data"])]
    assert curves, "learning curves missing"
    names = {t["name"] for t in curves[0]["data"]}
    assert {"training", "validation", "training (each batch)"} <= names
    val_acc = [t for t in curves[0]["data"] if t["name"] == "validation" and t.get("xaxis") == "x2"]
    assert len(_values(val_acc[0]["y"])) == 2  # one point per epoch
    confusion = [s for s in specs if s["data"][0].get("type") == "heatmap"]
    assert confusion
    matrix = _values(confusion[0]["data"][0]["z"])
    assert matrix.shape == (10, 10) and matrix.sum() == 360  # every test image counted once
    accuracy = float(np.trace(matrix) / matrix.sum())
    metric = at.metric[0]
    assert metric.label == "Test accuracy" and metric.value == f"{accuracy:.1%}"
    trained = at.session_state["trained_models"]
    assert len(trained) == 1
    model, meta = next(iter(trained.values()))
    assert meta["classes"] == [str(i) for i in range(10)] and meta["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    # The download is a checkpoint that loads back into the same model.
    assert at.get("download_button")


def test_small_data_comparison_shows_both_runs_on_one_chart():
    at = _page()
    at.radio(key="train_mode").set_value("Small data: see overfitting").run()
    at.number_input(key="train_small_n_digits").set_value(20)
    at.number_input(key="train_epochs_digits").set_value(1)
    at.button(key="train_start").click().run()
    assert not at.exception
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    names = {t["name"] for s in specs for t in s["data"] if "name" in t}
    assert {"plain: training", "plain: validation", "augmentation + dropout: training",
            "augmentation + dropout: validation"} <= names
    table = at.table[0].value
    assert list(table["run"]) == ["plain", "augmentation + dropout"]
    assert len(at.session_state["trained_models"]) == 2


def test_standardisation_comparison_trains_three_runs_fed_as_their_meta_says():
    """The deck's exercise: none, per channel, per pixel, on one chart. Each session model's
    meta and first stage feed the test images exactly as the run trained: the test accuracy
    shown equals the model's own on pixels standardised by an independent numpy computation."""
    from vizcore import data

    at = _page()
    at.radio(key="train_mode").set_value("Standardise the inputs: none, per channel, per pixel").run()
    at.number_input(key="train_n_digits").set_value(60)
    at.number_input(key="train_epochs_digits").set_value(1)
    at.button(key="train_start").click().run()
    assert not at.exception
    assert list(at.table[0].value["run"]) == ["none", "per channel", "per pixel"]
    names = {t["name"] for s in _charts(at).values() for t in s["data"] if "name" in t}
    assert {"none: validation", "per channel: validation", "per pixel: validation"} <= names
    train, test = data.load_dataset("digits", "train"), data.load_dataset("digits", "test")
    pixels = test.images.numpy().astype(np.float64) / 255
    train_pixels = train.images.numpy().astype(np.float64) / 255
    expected_inputs = {
        "none": pixels,
        "per channel": (pixels - train_pixels.mean()) / train_pixels.std(ddof=1),
        "per pixel": (pixels - train_pixels.mean(0)) / np.maximum(train_pixels.std(0, ddof=1), 1e-3),
    }
    shown = {row["run"]: row["test accuracy"] for _, row in at.table[0].value.iterrows()}
    trained = list(at.session_state["trained_models"].values())
    for (model, meta), how in zip(trained, data.STANDARDISATIONS):
        assert meta["standardisation"] == how
        assert (meta["mean"], meta["std"]) == (([0.0], [1.0]) if how != "per channel" else (train.mean, train.std))
        assert (next(iter(model.named_children()))[0] == "standardise") == (how == "per pixel")
        x = torch.tensor(expected_inputs[how], dtype=torch.float32)
        with torch.no_grad():
            fed = model(data.standardised(test, how).x)
            independent = model[1:](x) if how == "per pixel" else model(x)  # past its own standardise stage
        assert torch.allclose(fed, independent, atol=1e-3)
        assert shown[how] == f"{(fed.argmax(1) == test.labels).float().mean().item():.1%}"
    # The per-pixel model on Feature maps: its test images fed as its meta says, its first stage shown.
    fm = AppTest.from_file(str(Path(PAGE).parent / "feature_maps.py"), default_timeout=120)
    fm.session_state["trained_models"] = dict([list(at.session_state["trained_models"].items())[2]])
    fm.session_state["fm_model"] = f"{list(fm.session_state['trained_models'])[0]} (trained in this session)"
    fm.run()
    assert not fm.exception and not fm.error, [e.value for e in fm.error]
    assert fm.selectbox(key="fm_layer").options[0].startswith("standardise")


def test_stop_after_an_interrupted_run_keeps_what_was_trained():
    """A Stop click interrupts the script; the next run finds the half-done run in session state."""
    from vizcore.data import load_dataset
    from vizcore.train import History, TrainConfig, new_model

    at = _page()
    splits = {s: load_dataset("digits", s) for s in ("train", "val", "test")}
    history = History(epoch=[1], train_loss=[2.0], train_accuracy=[0.3], val_loss=[2.1], val_accuracy=[0.25],
                      batch_epoch=[1.0], batch_loss=[2.0])
    model = new_model("digits", splits["train"])
    at.session_state["training_result"] = {
        "status": "running", "splits": splits, "name": "digits", "mode": "Train a model",
        "runs": {"this run": {"label": "this run", "arch": "digits", "options": {}, "model": model,
                              "cfg": TrainConfig(epochs=5), "history": history, "status": "running", "n": 50}}}
    at.button(key="train_stop").click().run()
    assert not at.exception
    assert any("Stopped after 1 finished epoch" in w.value for w in at.warning)
    assert at.metric[0].label == "Test accuracy"
    assert len(at.session_state["trained_models"]) == 1


def test_interrupted_before_the_first_epoch_says_so():
    from vizcore.data import load_dataset
    from vizcore.train import History, TrainConfig, new_model

    at = _page()
    splits = {s: load_dataset("digits", s) for s in ("train", "val", "test")}
    at.session_state["training_result"] = {
        "status": "running", "splits": splits, "name": "digits", "mode": "Train a model",
        "runs": {"this run": {"label": "this run", "arch": "digits", "options": {},
                              "model": new_model("digits", splits["train"]), "cfg": TrainConfig(epochs=5),
                              "history": History(batch_epoch=[0.1], batch_loss=[2.3]), "status": "running",
                              "n": 50}}}
    at.button(key="train_stop").click().run()
    assert not at.exception
    assert any("before the first epoch finished" in i.value for i in at.info)
    assert not at.metric and "trained_models" not in at.session_state


def _zip(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _png(colour):
    buffer = io.BytesIO()
    Image.new("RGB", (12, 12), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_own_zip_trains_and_bad_zip_gives_a_message():
    at = _page()
    at.selectbox(key="train_data").set_value("zip").run()
    at.file_uploader(key="train_zip").set_value(("bad.zip", _zip({"../x.png": _png("red")}), "application/zip")).run()
    assert not at.exception
    assert any("leaves its folder" in e.value for e in at.error)
    files = {f"data/red/{i}.png": _png((200 + i, 0, 0)) for i in range(6)}
    files.update({f"data/blue/{i}.png": _png((0, 0, 200 + i)) for i in range(6)})
    files["data/notes.txt"] = b"hi"
    at.file_uploader(key="train_zip").set_value(("mine.zip", _zip(files), "application/zip")).run()
    # the zip's names are the user's text, shown as escaped markdown: compare what a reader sees
    assert any("2 classes (blue, red)" in s.value.replace("\\", "") for s in at.success)
    assert any("Skipped 1 files" in w.value.replace("\\", "") for w in at.warning)
    at.number_input(key="train_epochs_zip").set_value(1)
    at.button(key="train_start").click().run()
    assert not at.exception
    assert at.metric[0].label == "Test accuracy"


def test_upload_of_weights_accepts_a_checkpoint_and_refuses_code():
    import pickle

    class Payload:
        def __reduce__(self):
            return (exec, ("import builtins; builtins.PAGE_PAYLOAD = True",))

    at = _page()
    at.file_uploader(key="train_up_file").set_value(("evil.pt", pickle.dumps(Payload()), "application/octet-stream")).run()
    assert not at.exception
    assert any("loaded safely" in e.value for e in at.error)
    import builtins
    assert not hasattr(builtins, "PAGE_PAYLOAD")
    model = models.build_model("digits", num_classes=3)
    meta = {"classes": ["a", "b", "c"], "input_shape": [1, 28, 28], "mean": [0.1], "std": [0.3], "dataset": "x"}
    at.file_uploader(key="train_up_file").set_value(("mine.pt", models.save_checkpoint(model, meta),
                                                     "application/octet-stream")).run()
    assert not at.exception
    assert any("classes a, b, c" in s.value for s in at.success)
    (loaded, loaded_meta), = at.session_state["trained_models"].values()
    assert loaded_meta["classes"] == ["a", "b", "c"]
    x = torch.randn(1, 1, 28, 28)
    torch.testing.assert_close(loaded(x), model.eval()(x))


def _selector_script():
    import streamlit as st

    from pages._ui.models import model_selector

    model, meta = model_selector("sel")
    st.write(f"chosen {meta['name']} with {len(meta['classes'])} classes, training={model.training}")


def test_model_selector_lists_shipped_and_session_models():
    at = AppTest.from_function(_selector_script, default_timeout=60)
    at.run()
    assert not at.exception
    options = at.selectbox(key="sel").options
    assert options[:4] == ["digits (pretrained)", "scenes (pretrained)", "shapes (pretrained)",
                           "shortcut (pretrained)"]
    assert at.markdown[-1].value == "chosen digits with 10 classes, training=False"
    assert "test accuracy 99" in at.caption[-1].value
    session_model = models.build_model("shapes", num_classes=2).eval()
    meta = models.default_meta(session_model, "shapes", name="mine", classes=["yes", "no"])
    at.session_state["trained_models"] = {"mine": (session_model, meta)}
    at.run()
    assert "mine (trained in this session)" in at.selectbox(key="sel").options
    at.selectbox(key="sel").set_value("mine (trained in this session)").run()
    assert at.markdown[-1].value == "chosen mine with 2 classes, training=False"
    # The session model disappears (a new session): the selector falls back to a shipped model.
    at.session_state["trained_models"] = {}
    at.run()
    assert not at.exception and at.markdown[-1].value.startswith("chosen digits")


def test_lecture_pace_is_the_default_and_makes_every_epoch_take_its_time():
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert at.radio(key="train_pace").value.startswith("lecture")
    at.number_input(key="train_n_digits").set_value(40)
    at.number_input(key="train_epochs_digits").set_value(2)
    at.radio(key="train_pace").set_value("lecture (3 s per epoch)")
    started = time.perf_counter()
    at.button(key="train_start").click().run()
    took = time.perf_counter() - started
    assert not at.exception
    assert took >= 2 * 3.0 - 0.5  # two epochs at 3 s each (the run alone takes well under a second)
