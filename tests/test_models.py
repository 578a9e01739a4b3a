"""vizcore.models: named layers, safe weight loading, shipped weights and preprocessing."""
import io
import json
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from PIL import Image

from vizcore import models
from vizcore.data import load_dataset
from vizcore.models import ModelError, build_model, load_pretrained, load_weights, preprocess


def _bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["digits", "shapes"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_models_are_named_sequentials_giving_logits(name, batch_norm):
    model = build_model(name, batch_norm=batch_norm, dropout=0.25)
    channels, side = models.DEFAULT_INPUT[name]
    names = [n for n, _ in model.named_children()]
    assert isinstance(model, torch.nn.Sequential)
    assert names[0] == "conv1" and "flatten" in names and names[-1].startswith("fc")
    assert ("bn1" in names) == batch_norm and "dropout1" in names
    assert model(torch.zeros(3, channels, side, side)).shape == (3, 10 if name == "digits" else 8)
    assert models.count_parameters(model) < 2_000_000


def test_tinyvgg_feature_map_sizes_follow_valid_convolutions():
    model = build_model("shapes")
    x, sides = torch.zeros(1, 3, 64, 64), {}
    for name, layer in model.named_children():
        x = layer(x)
        if x.dim() == 4:
            sides[name] = x.shape[-1]
    assert [sides[k] for k in ("conv1", "conv2", "pool1", "conv3", "conv4", "pool2")] == [62, 60, 30, 28, 26, 13]


def test_unknown_model_and_options_are_clear_errors():
    with pytest.raises(ModelError, match="Unknown model"):
        build_model("resnet")
    with pytest.raises(ModelError, match="does not take"):
        build_model("digits", colour="red")
    with pytest.raises(ModelError, match="too small"):
        build_model("shapes", image_size=8)


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(["digits", "shapes"]), batch_norm=st.booleans(),
       classes=st.integers(2, 12), c1=st.integers(2, 12), c2=st.integers(2, 12),
       channels=st.sampled_from([1, 3]), size=st.sampled_from([28, 32, 40, 64]))
def test_uploaded_state_dict_of_any_size_loads_back_identically(name, batch_norm, classes, c1, c2, channels, size):
    torch.manual_seed(0)
    model = build_model(name, batch_norm=batch_norm, num_classes=classes, channels=(c1, c2),
                        in_channels=channels, image_size=size).eval()
    if batch_norm:  # non-trivial running statistics must travel too
        model.bn1.running_mean.uniform_(-1, 1)
    loaded = load_weights(_bytes(model.state_dict()), name)
    x = torch.randn(2, channels, size, size)
    assert not loaded.training
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_checkpoint_round_trip_keeps_meta():
    model = build_model("shapes", num_classes=3)
    meta = {"name": "mine", "classes": ["a", "b", "c"], "input_shape": [3, 64, 64],
            "mean": [0.1, 0.2, 0.3], "std": [0.5, 0.5, 0.5], "dataset": "my images"}
    loaded, loaded_meta = models.load_checkpoint(models.save_checkpoint(model, meta), "shapes")
    assert loaded_meta["classes"] == ["a", "b", "c"] and loaded_meta["mean"] == [0.1, 0.2, 0.3]
    assert loaded_meta["params"] == models.count_parameters(model)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    # A plain state dict gets default class names.
    _, plain_meta = models.load_checkpoint(_bytes(model.state_dict()), "shapes")
    assert plain_meta["classes"] == ["0", "1", "2"]


class _Payload:
    def __reduce__(self):
        return (exec, ("import builtins; builtins.PAYLOAD_RAN = True",))


@pytest.mark.parametrize("make", [
    lambda: b"",
    lambda: b"definitely not a pickle",
    lambda: pickle.dumps(_Payload()),
    lambda: _bytes({"conv1.weight": _Payload()}),
    lambda: _bytes(build_model("digits")),  # a whole pickled module, not a state dict
    lambda: _bytes({"layers": [1, 2, 3]}),
    lambda: _bytes([torch.zeros(3)]),
    lambda: _bytes(build_model("shapes").state_dict()),  # another architecture
    lambda: _bytes({**build_model("digits").state_dict(), "extra.weight": torch.zeros(1)}),
    lambda: _bytes({k: v for k, v in build_model("digits").state_dict().items() if k != "fc2.bias"}),
    lambda: _bytes({k: (v[:1] if k == "fc2.bias" else v) for k, v in build_model("digits").state_dict().items()}),
    lambda: _bytes({**build_model("digits").state_dict(), "fc1.weight": torch.zeros(120, 401)}),
])
def test_bad_weight_files_are_refused_without_running_code(make):
    import builtins

    data = make()
    with pytest.raises(ModelError):
        load_weights(data, "digits")
    assert not getattr(builtins, "PAYLOAD_RAN", False)


def test_payload_would_run_with_plain_pickle():
    """The refusal above is meaningful: the same bytes do run code when unpickled naively."""
    import builtins

    pickle.loads(pickle.dumps(_Payload()))
    assert builtins.PAYLOAD_RAN
    del builtins.PAYLOAD_RAN


@pytest.mark.parametrize("name", ["digits", "shapes"])
def test_shipped_weights_reach_their_stated_test_accuracy(name):
    model, meta = load_pretrained(name)
    assert not model.training
    assert set(meta) >= {"name", "classes", "input_shape", "mean", "std", "dataset", "test_accuracy",
                         "params", "train_command", "seed"}
    assert meta["params"] == models.count_parameters(model) < 2_000_000
    assert meta["train_command"].startswith("python -m vizcore.train ")
    test = load_dataset(meta["dataset"], "test")
    assert test.mean == meta["mean"] and test.std == meta["std"] and test.classes == meta["classes"]
    with torch.no_grad():
        accuracy = (model(test.x).argmax(1) == test.labels).float().mean().item()
    assert accuracy == pytest.approx(meta["test_accuracy"], abs=1e-6)
    assert accuracy >= 0.99
    assert (models.ASSETS / f"{name}.pt").stat().st_size < 3 * 2**20
    assert name in models.shipped_models()


def test_missing_pretrained_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="No shipped weights"):
        load_pretrained("digits", tmp_path)


@settings(max_examples=30, deadline=None)
@given(width=st.integers(5, 90), height=st.integers(5, 90), mode=st.sampled_from(["L", "RGB"]),
       seed=st.integers(0, 2**16))
def test_preprocess_resizes_converts_and_normalises(width, height, mode, seed):
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    img = Image.fromarray(pixels).convert(mode)
    for meta in ({"input_shape": [1, 28, 28], "mean": [0.2], "std": [0.3]},
                 {"input_shape": [3, 64, 64], "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]}):
        c, h, w = meta["input_shape"]
        x = preprocess(img, meta)
        reference = np.asarray(img.convert("L" if c == 1 else "RGB").resize((w, h), Image.Resampling.BILINEAR),
                               dtype=np.float32).reshape(h, w, c).transpose(2, 0, 1)
        expected = (reference / 255 - np.array(meta["mean"])[:, None, None]) / np.array(meta["std"])[:, None, None]
        assert x.shape == (1, c, h, w) and x.dtype == torch.float32
        np.testing.assert_allclose(x[0].numpy(), expected, rtol=1e-5, atol=1e-5)


def test_shipped_meta_files_are_plain_json():
    for name in ("digits", "shapes"):
        meta = json.loads((models.ASSETS / f"{name}.json").read_text())
        assert meta["input_shape"] == [1, 28, 28] if name == "digits" else [3, 64, 64]
