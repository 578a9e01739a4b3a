"""vizcore.user_models.keras_reader: Keras .keras and legacy .h5 files read as data, against Keras itself.

Keras 3 (torch backend) is the oracle: each fixture network is built and saved by Keras, loaded by
the app, and its logits and every stage's maps are compared with what Keras computes. Keras 2
files (TensorFlow is not installed) are written by hand with h5py in Keras 2's layout and compared
with the same weights in a Keras 3 model. Hostile files must each end in a ModelError sentence.
"""
import io
import json
import logging
import os
import tempfile
import time
import zipfile
from pathlib import Path

os.environ["KERAS_BACKEND"] = "torch"  # before the first `import keras`

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402
from keras import layers  # noqa: E402

from vizcore import features  # noqa: E402
from vizcore.blocks import GraphBlock  # noqa: E402
from vizcore.models import ModelError  # noqa: E402
from vizcore.user_models import (MAX_FILE_BYTES, MAX_PARAMETERS, UNZIPPED_FACTOR, count_parameters,  # noqa: E402
                                 load_user_model)
from vizcore.user_models import keras_reader  # noqa: E402

FORMATS = ("keras", "h5")
# Keras (torch backend) converts tensors with np.array(copy=False) semantics numpy 2 warns about; and
# every legacy save logs that .h5 is legacy. Neither is about the code under test.
pytestmark = [pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
              pytest.mark.filterwarnings("ignore:The structure of `inputs` doesn't match"),
              pytest.mark.filterwarnings("ignore:Layer .* does not have a `quantize` method")]
logging.getLogger("absl").setLevel(logging.ERROR)


# --- helpers ------------------------------------------------------------------------------------

def saved(model, fmt: str) -> bytes:
    """The bytes of ``model.save`` in ``fmt`` ("keras": Keras 3's zip; "h5": the legacy HDF5 file)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"net.{fmt}"
        model.save(path)
        return path.read_bytes()


def keras_out(model, x: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(x, training=False))


def nchw(x: np.ndarray) -> np.ndarray:
    return x.transpose(0, 3, 1, 2) if x.ndim == 4 else x


def ours(model, x_nhwc: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(nchw(x_nhwc)))).numpy()


def close(a: np.ndarray, b: np.ndarray, what: str = "") -> None:
    assert a.shape == b.shape, (what, a.shape, b.shape)
    scale = max(1.0, float(np.abs(b).max()) if b.size else 1.0)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-4 * scale, err_msg=what)


def softmax(z: np.ndarray) -> np.ndarray:
    return torch.softmax(torch.from_numpy(z), dim=1).numpy()


def ends_in_softmax(kmodel) -> bool:
    last = kmodel.layers[-1]
    act = getattr(last, "activation", None)
    return isinstance(last, layers.Softmax) or getattr(act, "__name__", "") == "softmax"


def check_parity(kmodel, fmt: str, x: np.ndarray, *, stages: bool = True, raw: bool = False):
    """Load ``kmodel`` saved as ``fmt``; its logits (softmaxed where Keras ends in softmax) and each
    stage's maps equal Keras' outputs. Returns (model, meta); ``raw``: the converter alone (any
    number of channels), meta holds only the parameter count."""
    if raw:
        model = keras_reader.convert(saved(kmodel, fmt), fmt).model.eval()
        meta = {"params": sum(count_parameters(model))}
    else:
        model, meta = load_user_model(saved(kmodel, fmt), f"net.{fmt}")
    ref = keras_out(kmodel, x)
    got = ours(model, x)
    close(softmax(got) if ends_in_softmax(kmodel) else got, nchw(ref), "output")
    if stages:
        check_stages(kmodel, model, x)
    return model, meta


def check_stages(kmodel, model, x: np.ndarray) -> None:
    """Every stage named after a layer of ``kmodel`` gives that layer's output (NCHW for NHWC)."""
    names = {layer.name for layer in kmodel.layers}
    stage_names = [n for n, _ in model.named_children()]
    probed = [n for n in stage_names if n in names]
    assert probed, stage_names
    probe = keras.Model(kmodel.inputs, [kmodel.get_layer(n).output for n in probed])
    refs = probe(x, training=False)
    refs = [keras.ops.convert_to_numpy(r) for r in (refs if isinstance(refs, (list, tuple)) else [refs])]
    ref_by_name = dict(zip(probed, refs))
    h = torch.from_numpy(np.ascontiguousarray(nchw(x)))
    with torch.no_grad():
        for name, stage in model.named_children():
            h = stage(h)
            if name in ref_by_name:
                got = h.numpy()
                act = getattr(kmodel.get_layer(name), "activation", None)
                if name == stage_names[-1] and getattr(act, "__name__", "") == "softmax":
                    got = softmax(got)  # the stage leaves the softmax out
                close(got, nchw(ref_by_name[name]), f"stage {name}")


def inputs(shape, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) * scale).astype("float32")


def refused(data: bytes, filename: str, *words: str) -> str:
    with pytest.raises(ModelError) as info:
        load_user_model(data, filename)
    message = str(info.value)
    for word in words:
        assert word in message, message
    return message


# --- one layer at a time ------------------------------------------------------------------------

@settings(max_examples=30, deadline=None, derandomize=True)
@given(kernel=st.integers(1, 4), stride=st.integers(1, 3), dilation=st.integers(1, 2),
       padding=st.sampled_from(["valid", "same"]), groups=st.sampled_from([1, 2]), c_in=st.sampled_from([2, 4]),
       filters=st.sampled_from([2, 6]), size=st.integers(7, 13), bias=st.booleans(), fmt=st.sampled_from(FORMATS),
       activation=st.sampled_from(["linear", "relu", "tanh"]))
def test_conv2d_matches_keras(kernel, stride, dilation, padding, groups, c_in, filters, size, bias, fmt, activation):
    if stride > 1:
        dilation = 1  # Keras refuses a stride and a dilation together
    keras.utils.set_random_seed(kernel * 100 + size)
    kmodel = keras.Sequential([keras.Input((size, size + 1, c_in)),
                               layers.Conv2D(filters, kernel, strides=stride, dilation_rate=dilation, padding=padding,
                                             groups=groups, use_bias=bias, activation=activation,
                                             bias_initializer="random_normal", name="conv")])
    model, meta = check_parity(kmodel, fmt, inputs((2, size, size + 1, c_in), kernel), raw=True)
    assert meta["params"] == kmodel.count_params()
    assert features.stage_convolution(model, "conv") in ("conv", "conv.conv")


@settings(max_examples=30, deadline=None, derandomize=True)
@given(kind=st.sampled_from(["depthwise", "separable"]), kernel=st.integers(1, 4), stride=st.integers(1, 2),
       dilation=st.integers(1, 2), padding=st.sampled_from(["valid", "same"]), mult=st.integers(1, 2),
       size=st.integers(8, 12), bias=st.booleans(), fmt=st.sampled_from(FORMATS))
def test_depthwise_and_separable_convolutions_match_keras(kind, kernel, stride, dilation, padding, mult, size, bias,
                                                          fmt):
    if stride > 1:
        dilation = 1
    keras.utils.set_random_seed(size + kernel)
    common = dict(strides=stride, dilation_rate=dilation, padding=padding, depth_multiplier=mult, use_bias=bias,
                  bias_initializer="random_normal", name="sep")
    layer = (layers.DepthwiseConv2D(kernel, **common) if kind == "depthwise"
             else layers.SeparableConv2D(5, kernel, activation="relu", **common))
    kmodel = keras.Sequential([keras.Input((size, size, 3)), layer])
    model, meta = check_parity(kmodel, fmt, inputs((2, size, size, 3), size), raw=True)
    assert meta["params"] == kmodel.count_params()
    assert features.stage_convolution(model, "sep") is not None


@settings(max_examples=30, deadline=None, derandomize=True)
@given(kind=st.sampled_from(["max", "avg"]), pool=st.integers(1, 3), stride=st.integers(1, 3),
       padding=st.sampled_from(["valid", "same"]), size=st.integers(5, 11), fmt=st.sampled_from(FORMATS))
def test_pooling_matches_keras(kind, pool, stride, padding, size, fmt):
    layer = (layers.MaxPooling2D if kind == "max" else layers.AveragePooling2D)(pool, strides=stride,
                                                                                 padding=padding, name="pool")
    kmodel = keras.Sequential([keras.Input((size, size + 2, 3)), layer])
    x = inputs((2, size, size + 2, 3), size) - 0.5  # negative values: a padded zero must never win a max
    check_parity(kmodel, fmt, x, raw=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_global_pooling_and_maps_layers_match_keras(fmt):
    keras.utils.set_random_seed(3)
    inp = keras.Input((12, 10, 3))
    x = layers.ZeroPadding2D(((1, 2), (0, 3)), name="pad")(inp)
    x = layers.Cropping2D(((2, 0), (1, 1)), name="crop")(x)
    x = layers.UpSampling2D(2, name="up")(x)
    x = layers.Conv2D(4, 3, strides=2, padding="same", name="conv")(x)
    x = layers.UpSampling2D((2, 3), interpolation="bilinear", name="smooth_up")(x)
    kept = layers.GlobalMaxPooling2D(keepdims=True, name="gmax")(x)
    x = layers.Multiply(name="gate")([x, kept])
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(2 * 3 * 4, name="expand")(x)
    x = layers.Reshape((2, 3, 4), name="to_maps")(x)  # a vector back into (H, W, C) maps
    x = layers.Conv2D(4, 2, name="conv_again")(x)
    x = layers.Flatten(name="flatten")(x)
    kmodel = keras.Model(inp, layers.Dense(3, name="head")(x))
    model, meta = check_parity(kmodel, fmt, inputs((2, 12, 10, 3), 1))
    assert meta["input_shape"] == [3, 12, 10] and meta["params"] == kmodel.count_params()


@pytest.mark.parametrize("fmt", FORMATS)
def test_keras3_arithmetic_on_tensors(fmt):
    """Keras 3 saves `x + 3.0` or `a + b` written on tensors as operations (MobileNetV3's hard sigmoid)."""
    keras.utils.set_random_seed(12)
    inp = keras.Input((9, 9, 3))
    x = inp - 0.5
    x = x / 0.25
    a = layers.Conv2D(4, 3, padding="same", name="conv_a")(x)
    gate = layers.ReLU(6.0, name="relu6")(a + 3.0) * (1.0 / 6.0)  # hard sigmoid, as keras.applications writes it
    x = layers.Multiply(name="hard_swish")([a, gate])
    b = layers.Conv2D(4, 1, name="conv_b")(x)
    x = 2.0 - (x + b)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    kmodel = keras.Model(inp, layers.Dense(3, name="head")(x))
    model, meta = check_parity(kmodel, fmt, inputs((2, 9, 9, 3), 13))
    assert meta["params"] == kmodel.count_params()


ACTIVATIONS = ["relu", "relu6", "elu", "selu", "gelu", "sigmoid", "tanh", "swish", "silu", "hard_sigmoid",
               "hard_silu", "softplus", "softsign", "mish", "leaky_relu", "linear", "softmax", "log_softmax"]


@settings(max_examples=25, deadline=None, derandomize=True)
@given(kinds=st.lists(st.sampled_from(["conv", "depthwise", "separable", "maxpool", "avgpool", "bn", "activation",
                                       "dropout", "pad"]), min_size=1, max_size=6),
       seed=st.integers(0, 2**16), fmt=st.sampled_from(FORMATS))
def test_random_layer_stacks_match_keras(kinds, seed, fmt):
    """Any stack of the supported layers: the logits and every stage's maps are Keras' own."""
    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    size, stack = 16, [keras.Input((16, 16, 3))]
    for i, kind in enumerate(kinds):
        padding = "valid" if size >= 6 and rng.random() < 0.5 else "same"
        stride = int(rng.integers(1, 3)) if size >= 4 else 1
        activation = str(rng.choice(ACTIVATIONS))
        name = f"{kind}{i}"
        if kind == "conv":
            layer = layers.Conv2D(int(rng.integers(2, 7)), int(rng.integers(1, 4)), strides=stride, padding=padding,
                                  activation=activation, name=name)
        elif kind == "depthwise":
            layer = layers.DepthwiseConv2D(3, strides=stride, padding=padding, depth_multiplier=int(rng.integers(1, 3)),
                                           activation=activation, name=name)
        elif kind == "separable":
            layer = layers.SeparableConv2D(4, 3, strides=stride, padding=padding, activation=activation, name=name)
        elif kind in ("maxpool", "avgpool"):
            layer = (layers.MaxPooling2D if kind == "maxpool" else layers.AveragePooling2D)(
                2, strides=stride, padding="same" if size < 4 else padding, name=name)
        elif kind == "bn":
            layer = layers.BatchNormalization(epsilon=float(rng.choice([1e-3, 1e-5])), name=name)
        elif kind == "activation":
            layer = layers.Activation(activation, name=name)
        elif kind == "dropout":
            layer = layers.Dropout(0.3, name=name)
        else:
            layer = layers.ZeroPadding2D(int(rng.integers(1, 3)), name=name)
        stack.append(layer)
        kmodel = keras.Sequential(stack)
        size = kmodel.output_shape[1]
    kmodel = keras.Sequential([*stack, layers.Flatten(name="flatten"), layers.Dense(4, activation="softmax",
                                                                                     name="head")])
    for layer in kmodel.layers:
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([gamma + rng.normal(0, 0.3, gamma.shape), rng.normal(0, 0.3, beta.shape), rng.normal(
                0, 0.3, mean.shape), rng.uniform(0.5, 2.0, var.shape)])
    model, meta = check_parity(kmodel, fmt, inputs((2, 16, 16, 3), seed))
    assert meta["params"] == kmodel.count_params()


# --- whole networks -----------------------------------------------------------------------------

def fashion_cnn():
    """The decks' Fashion-MNIST CNN (channels as in the notebook, halved to keep the test fast)."""
    keras.utils.set_random_seed(1)
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(16, 3, activation="relu", name="conv1"),
        layers.MaxPooling2D(2, name="pool1"),
        layers.Conv2D(32, 3, activation="relu", name="conv2"),
        layers.MaxPooling2D(2, name="pool2"),
        layers.Flatten(name="flatten"),
        layers.Dense(64, activation="relu", name="dense1"),
        layers.Dropout(0.5, name="dropout"),
        layers.Dense(10, activation="softmax", name="dense2"),
    ], name="fashion")


@pytest.mark.parametrize("fmt", FORMATS)
def test_deck_fashion_mnist_cnn_matches_keras(fmt):
    kmodel = fashion_cnn()
    # As a student's notebook leaves it: compiled and trained (the files then hold optimizer state too).
    kmodel.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    kmodel.fit(inputs((16, 28, 28, 1), 7), np.arange(16) % 10, epochs=1, batch_size=8, verbose=0)
    model, meta = check_parity(kmodel, fmt, inputs((3, 28, 28, 1), 2))
    assert [n for n, _ in model.named_children()] == [layer.name for layer in kmodel.layers]
    assert meta["input_shape"] == [1, 28, 28] and meta["classes"] == [str(i) for i in range(10)]
    assert meta["params"] == kmodel.count_params() and meta["scale"] == "0–1" and meta["channels_last"]
    assert meta["source"] == ("Keras 3" if fmt == "keras" else "Keras 3 (legacy .h5)")
    assert features.stage_convolution(model, "conv1") == "conv1.conv"
    assert isinstance(model.dense2, torch.nn.Linear)  # the softmax is left out: logits


@pytest.mark.parametrize("fmt", FORMATS)
def test_alexnet_like_cifar_net_with_batch_norm_and_rescaling(fmt):
    keras.utils.set_random_seed(2)
    kmodel = keras.Sequential([
        keras.Input((32, 32, 3)),
        layers.Rescaling(1 / 255, name="rescale"),
        layers.Conv2D(12, 5, strides=2, padding="same", name="conv1"),
        layers.BatchNormalization(name="bn1"),
        layers.ReLU(name="relu1"),
        layers.MaxPooling2D(3, strides=2, padding="same", name="pool1"),
        layers.Conv2D(16, 3, padding="same", use_bias=False, name="conv2"),
        layers.BatchNormalization(epsilon=1e-5, name="bn2"),
        layers.Activation("relu", name="relu2"),
        layers.Conv2D(16, 3, padding="same", activation="relu", name="conv3"),
        layers.MaxPooling2D(2, name="pool2"),
        layers.Flatten(name="flatten"),
        layers.Dense(32, name="fc1"),
        layers.BatchNormalization(name="bn3"),
        layers.ReLU(name="relu3"),
        layers.Dropout(0.5, name="drop"),
        layers.Dense(10, name="fc2"),
        layers.Softmax(name="probabilities"),
    ])
    # Trained-looking batch-norm statistics (not the initial 0 and 1).
    rng = np.random.default_rng(5)
    for layer in kmodel.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.set_weights([w + rng.random(w.shape).astype("float32") for w in layer.get_weights()])
    kmodel.get_layer("conv1").trainable = False
    model, meta = check_parity(kmodel, fmt, inputs((2, 32, 32, 3), 3, 255.0))
    assert meta["scale"] == "0–255" and meta["input_shape"] == [3, 32, 32]
    assert meta["params"] == kmodel.count_params()
    assert "probabilities" not in dict(model.named_children())
    assert "conv1" in meta["frozen"] and "conv2" not in meta["frozen"]
    assert isinstance(model.bn3, torch.nn.BatchNorm1d) and model.bn2.eps == pytest.approx(1e-5)


@pytest.mark.parametrize("fmt", FORMATS)
def test_functional_residual_and_concatenate_blocks(fmt):
    keras.utils.set_random_seed(4)
    inp = keras.Input((16, 16, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inp)
    y = layers.Conv2D(8, 3, padding="same", activation="relu", name="res_a")(x)
    y = layers.Conv2D(8, 3, padding="same", name="res_b")(y)
    y = layers.BatchNormalization(name="res_bn")(y)
    x = layers.Add(name="res_add")([x, y])
    x = layers.ReLU(name="res_relu")(x)
    a = layers.Conv2D(4, 1, name="branch_1x1")(x)
    b = layers.Conv2D(6, 3, padding="same", name="branch_3x3")(x)
    c = layers.MaxPooling2D(3, strides=1, padding="same", name="branch_pool")(x)
    x = layers.Concatenate(name="inception")([a, b, c])
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    kmodel = keras.Model(inp, layers.Dense(4, activation="softmax", name="head")(x))
    model, meta = check_parity(kmodel, fmt, inputs((2, 16, 16, 3), 4))
    stages = dict(model.named_children())
    assert list(stages) == ["stem", "res_add", "res_relu", "inception", "gap", "head"]
    assert isinstance(stages["res_add"], GraphBlock) and isinstance(stages["inception"], GraphBlock)
    assert meta["params"] == kmodel.count_params()
    assert [row.name for row in meta["summary"]][:5] == ["stem", "res_add/res_a", "res_add/res_b", "res_add/res_bn",
                                                          "res_add/res_add"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_nested_base_model_is_unfolded_and_frozen(fmt):
    keras.utils.set_random_seed(6)
    base_in = keras.Input((20, 20, 3))
    h = layers.Conv2D(6, 3, strides=2, activation="relu", name="base_conv")(base_in)
    h = layers.BatchNormalization(name="base_bn")(h)
    h = layers.SeparableConv2D(8, 3, padding="same", activation="relu", name="base_sep")(h)
    base = keras.Model(base_in, h, name="base")
    base.trainable = False
    tower = keras.Sequential([layers.Conv2D(8, 1, name="gap")], name="tower")  # the name of an outer layer too
    inp = keras.Input((20, 20, 3))
    x = layers.RandomFlip(name="augment")(inp)
    x = base(x)
    x = tower(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    kmodel = keras.Model(inp, layers.Dense(5, activation="softmax", name="head")(x))
    data = saved(kmodel, fmt)
    model, meta = load_user_model(data, f"transfer.{fmt}")
    x = inputs((2, 20, 20, 3), 6)
    close(softmax(ours(model, x)), keras_out(kmodel, x))
    assert [n for n, _ in model.named_children()] == ["augment", "base_conv", "base_bn", "base_sep", "tower_gap",
                                                      "gap", "head"]
    assert {"base_conv", "base_bn", "base_sep"} <= set(meta["frozen"]) and "head" not in meta["frozen"]
    assert meta["params"] == kmodel.count_params()


@pytest.mark.parametrize("fmt", FORMATS)
def test_activation_zoo_and_preprocessing_layers_match_keras(fmt):
    keras.utils.set_random_seed(7)
    norm = layers.Normalization(name="norm")
    norm.adapt(inputs((16, 10, 10, 3), 8, 3.0))
    inp = keras.Input((10, 10, 3))
    x = norm(inp)
    x = layers.GaussianNoise(0.1, name="noise")(x)
    x = layers.RandomRotation(0.1, name="rotate")(x)
    x = layers.RandomContrast(0.2, name="contrast")(x)
    x = layers.Conv2D(6, 3, padding="same", activation="gelu", name="c_gelu")(x)
    x = layers.Conv2D(6, 3, padding="same", activation="swish", name="c_swish")(x)
    x = layers.LeakyReLU(0.1, name="leaky")(x)
    x = layers.Conv2D(6, 3, padding="same", activation="hard_sigmoid", name="c_hsig")(x)
    x = layers.Conv2D(6, 3, padding="same", activation="hard_silu", name="c_hswish")(x)
    x = layers.ELU(0.5, name="elu")(x)
    x = layers.ReLU(max_value=6.0, name="relu6")(x)
    x = layers.ReLU(max_value=0.9, name="relu_capped")(x)
    x = layers.ReLU(threshold=0.3, name="relu_threshold")(x)
    x = layers.Activation("sigmoid", name="sig")(x)
    x = layers.Dense(5, activation="elu", name="dense_on_maps")(x)
    x = layers.BatchNormalization(scale=False, center=False, name="bn_plain")(x)
    x = layers.BatchNormalization(scale=False, name="bn_noscale")(x)
    x = layers.ReLU(negative_slope=0.2, name="relu_leaky")(x)
    x = layers.SpatialDropout2D(0.3, name="sdrop")(x)
    x = layers.Activation("softmax", name="channel_softmax")(x)
    se = layers.GlobalAveragePooling2D(name="se_pool")(x)
    se = layers.Reshape((1, 1, 5), name="se_reshape")(se)
    se = layers.Conv2D(5, 1, activation="tanh", name="se_conv")(se)
    x = layers.Multiply(name="se_scale")([x, se])
    x = layers.Reshape((-1,), name="to_vector")(x)
    x = layers.Dense(7, activation="softplus", name="fc")(x)
    x = layers.Dense(4, name="logits")(x)
    kmodel = keras.Model(inp, layers.Activation("softmax", name="probs")(x))
    model, meta = check_parity(kmodel, fmt, inputs((2, 10, 10, 3), 9, 3.0))
    assert "probs" not in dict(model.named_children())
    assert isinstance(model.norm, keras_reader.Affine)
    assert meta["params"] == kmodel.count_params() - 7  # Normalization's mean, variance and count are constants here


@pytest.mark.parametrize("fmt", FORMATS)
def test_normalization_from_config_and_crops_that_change_nothing(fmt):
    """Normalization divides by max(√variance, 1e-7) (a zero variance too); RandomCrop and Resizing
    to the size the maps already have are the identity at inference."""
    keras.utils.set_random_seed(17)
    kmodel = keras.Sequential([keras.Input((8, 8, 3)),
                               layers.Normalization(mean=[0.1, 0.2, 0.3], variance=[0.25, 0.0, 4.0], name="norm"),
                               layers.RandomCrop(8, 8, name="crop"), layers.Resizing(8, 8, name="resize"),
                               layers.Flatten(name="flatten"), layers.Dense(3, name="head")])
    model, _ = check_parity(kmodel, fmt, inputs((2, 8, 8, 3), 18))
    assert isinstance(model.crop, torch.nn.Identity)
    cropping = keras.Sequential([keras.Input((8, 8, 3)), layers.RandomCrop(6, 6, name="crop"), layers.Flatten(),
                                 layers.Dense(3)])
    refused(saved(cropping, fmt), f"net.{fmt}", "'crop'", "6×6")


@pytest.mark.parametrize("fmt", FORMATS)
def test_grey_input_without_channel_axis(fmt):
    """keras.Input((28, 28)) + Flatten + Dense: the first deck network takes a grey picture."""
    keras.utils.set_random_seed(8)
    kmodel = keras.Sequential([keras.Input((28, 28)), layers.Rescaling(1 / 255, name="scale"),
                               layers.Flatten(name="flatten"), layers.Dense(16, activation="relu", name="hidden"),
                               layers.Dense(10, activation="softmax", name="out")])
    model, meta = load_user_model(saved(kmodel, fmt), f"mlp.{fmt}")
    assert meta["input_shape"] == [1, 28, 28] and meta["scale"] == "0–255"
    x = inputs((2, 28, 28), 9, 255.0)
    with torch.no_grad():
        got = model(torch.from_numpy(x[:, None])).numpy()
    close(softmax(got), keras_out(kmodel, x))


def test_open_input_size_is_left_open():
    keras.utils.set_random_seed(9)
    kmodel = keras.Sequential([keras.Input((None, None, 3)), layers.Conv2D(4, 3, name="conv"),
                               layers.GlobalAveragePooling2D(name="gap"), layers.Dense(3, name="head")])
    converted = keras_reader.convert(saved(kmodel, "keras"), "keras")
    assert converted.input_shape == (3, None, None) and converted.channels_last
    model, meta = load_user_model(saved(kmodel, "h5"), "open.h5")
    assert meta["open_size"] and meta["input_shape"] == [3, 224, 224]
    close(ours(model, inputs((1, 17, 23, 3))), keras_out(kmodel, inputs((1, 17, 23, 3))))


# --- Keras 2 files, written by hand in TensorFlow 2.15's layout ---------------------------------

def k2_layer(cls: str, name: str, inbound=None, **config) -> dict:
    """A Keras 2 layer entry: plain dtype strings, [[name, 0, 0, {}]] wiring."""
    entry = {"class_name": cls, "config": {"name": name, "trainable": config.pop("trainable", True),
                                           "dtype": "float32", **config}, "name": name}
    if inbound is not None:
        entry["inbound_nodes"] = [[[source, 0, 0, {}] for source in inbound]] if inbound else []
    return entry


def conv_cfg(filters, kernel, strides=1, padding="valid", activation="linear", **extra) -> dict:
    return dict(filters=filters, kernel_size=[kernel, kernel], strides=[strides, strides], padding=padding,
                data_format="channels_last", dilation_rate=[1, 1], groups=1, activation=activation, use_bias=True,
                kernel_initializer={"class_name": "GlorotUniform", "config": {"seed": None}},
                bias_initializer={"class_name": "Zeros", "config": {}}, kernel_regularizer=None,
                bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                **extra)


def write_keras2_h5(config: dict, weights: dict[str, list[tuple[str, np.ndarray]]]) -> bytes:
    """A legacy .h5 as TensorFlow 2.15's model.save writes it: model_config JSON attribute,
    weights at model_weights/<layer>/<weight name> with each group's weight_names."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.15.0"
        f.attrs["model_config"] = json.dumps(config).encode("utf-8")
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = np.array([n.encode() for n in weights], dtype="S")
        group.attrs["backend"] = b"tensorflow"
        group.attrs["keras_version"] = b"2.15.0"
        for layer, values in weights.items():
            g = group.create_group(layer)
            g.attrs["weight_names"] = np.array([n.encode() for n, _ in values], dtype="S")
            for name, value in values:
                g.create_dataset(name, data=value)
    return buffer.getvalue()


def keras2_functional():
    """A Keras 3 model (the oracle) and the same network and weights as a Keras 2 .h5."""
    keras.utils.set_random_seed(10)
    base_in = keras.Input((8, 8, 8))
    base_out = layers.Conv2D(6, 3, padding="same", name="bc")(base_in)
    base_out = layers.BatchNormalization(name="bbn")(base_out)
    base = keras.Model(base_in, base_out, name="base")
    inp = keras.Input((16, 16, 3), name="input_1")
    a = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2d")(inp)
    b = layers.SeparableConv2D(8, 3, padding="same", depth_multiplier=2, name="separable_conv2d")(a)
    b = layers.BatchNormalization(name="batch_normalization")(b)
    x = layers.Add(name="add")([a, b])
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=1, name="depthwise_conv2d")(x)
    x = layers.LeakyReLU(0.1, name="leaky_re_lu")(x)
    x = base(x)
    x = layers.MaxPooling2D(2, name="max_pooling2d")(x)
    x = layers.Flatten(name="flatten")(x)
    kmodel = keras.Model(inp, layers.Dense(5, activation="softmax", name="dense")(x))
    rng = np.random.default_rng(11)
    for layer in (*kmodel.layers, *base.layers):
        if layer.weights and not isinstance(layer, keras.Model):
            layer.set_weights([w + 0.3 * rng.random(w.shape).astype("float32") for w in layer.get_weights()])
    w = {layer.name: layer.get_weights() for layer in (*kmodel.layers, *base.layers)}

    def names(layer, keys):
        return [(f"{layer}/{k}:0", v) for k, v in zip(keys, w[layer])]

    bn_keys = ["gamma", "beta", "moving_mean", "moving_variance"]
    config = {"class_name": "Functional", "config": {"name": "model", "trainable": True, "layers": [
        k2_layer("InputLayer", "input_1", [], batch_input_shape=[None, 16, 16, 3], sparse=False, ragged=False),
        k2_layer("Conv2D", "conv2d", ["input_1"], **conv_cfg(8, 3, padding="same", activation="relu")),
        k2_layer("SeparableConv2D", "separable_conv2d", ["conv2d"],
                 **conv_cfg(8, 3, padding="same", depth_multiplier=2)),
        k2_layer("BatchNormalization", "batch_normalization", ["separable_conv2d"], axis=[3], momentum=0.99,
                 epsilon=0.001, center=True, scale=True),
        k2_layer("Add", "add", ["conv2d", "batch_normalization"]),
        k2_layer("DepthwiseConv2D", "depthwise_conv2d", ["add"], kernel_size=[3, 3], strides=[2, 2],
                 padding="same", data_format="channels_last", dilation_rate=[1, 1], groups=1, activation="linear",
                 use_bias=True, depth_multiplier=1),
        k2_layer("LeakyReLU", "leaky_re_lu", ["depthwise_conv2d"], alpha=0.1),
        {"class_name": "Model", "name": "base", "inbound_nodes": [[["leaky_re_lu", 1, 0, {}]]],
         "config": {"name": "base", "trainable": False, "layers": [
             k2_layer("InputLayer", "input_2", [], batch_input_shape=[None, 8, 8, 8]),
             k2_layer("Conv2D", "bc", ["input_2"], trainable=False, **conv_cfg(6, 3, padding="same")),
             k2_layer("BatchNormalization", "bbn", ["bc"], trainable=False, axis=-1, epsilon=0.001, center=True,
                      scale=True)],
             "input_layers": [["input_2", 0, 0]], "output_layers": [["bbn", 0, 0]]}},
        k2_layer("MaxPooling2D", "max_pooling2d", ["base"], pool_size=[2, 2], padding="valid", strides=[2, 2],
                 data_format="channels_last"),
        k2_layer("Flatten", "flatten", ["max_pooling2d"], data_format="channels_last"),
        k2_layer("Dense", "dense", ["flatten"], units=5, activation="softmax", use_bias=True)],
        "input_layers": [["input_1", 0, 0]], "output_layers": [["dense", 0, 0]]}, "keras_version": "2.15.0",
        "backend": "tensorflow"}
    weights = {"input_1": [], "conv2d": names("conv2d", ["kernel", "bias"]),
               "separable_conv2d": names("separable_conv2d", ["depthwise_kernel", "pointwise_kernel", "bias"]),
               "batch_normalization": names("batch_normalization", bn_keys), "add": [],
               "depthwise_conv2d": names("depthwise_conv2d", ["depthwise_kernel", "bias"]), "leaky_re_lu": [],
               # A frozen nested model: TF lists its layers' trainable weights first, then the others.
               "base": names("bc", ["kernel", "bias"]) + names("bbn", bn_keys),
               "max_pooling2d": [], "flatten": [], "dense": names("dense", ["kernel", "bias"])}
    return kmodel, write_keras2_h5(config, weights)


def test_keras2_h5_with_separable_conv_and_nested_model():
    kmodel, data = keras2_functional()
    model, meta = load_user_model(data, "tf215.h5")
    assert meta["source"] == "Keras 2 (legacy .h5)" and meta["input_shape"] == [3, 16, 16]
    x = inputs((2, 16, 16, 3), 12)
    close(softmax(ours(model, x)), keras_out(kmodel, x))
    check_stages(kmodel, model, x)
    assert {"bc", "bbn"} <= set(meta["frozen"]) and meta["params"] == kmodel.count_params()


def test_keras2_sequential_without_input_layer_and_keras2_hard_sigmoid():
    """Old Sequential files give the input size on the first layer (batch_input_shape); Keras 2's
    hard_sigmoid is clip(0.2·x + 0.5, 0, 1) (Keras 3's is relu6(x + 3) / 6)."""
    keras.utils.set_random_seed(13)
    oracle = keras.Sequential([keras.Input((9, 9, 1)), layers.Conv2D(3, 2, strides=2, padding="same", name="c")])
    kernel, bias = oracle.layers[0].get_weights()
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        k2_layer("Conv2D", "c", batch_input_shape=[None, 9, 9, 1],
                 **conv_cfg(3, 2, strides=2, padding="same", activation="hard_sigmoid")),
        k2_layer("GlobalMaxPooling2D", "g", data_format="channels_last")]}}
    data = write_keras2_h5(config, {"c": [("c/kernel:0", kernel), ("c/bias:0", bias)], "g": []})
    model, meta = load_user_model(data, "old.h5")
    x = inputs((2, 9, 9, 1), 14, 8.0) - 4
    expected = np.clip(0.2 * keras_out(oracle, x) + 0.5, 0, 1).max(axis=(1, 2))
    close(ours(model, x), expected)
    assert meta["input_shape"] == [1, 9, 9] and meta["params"] == 3 * 2 * 2 * 1 + 3


def test_keras2_sequential_that_starts_with_a_model():
    """Sequential([base, ...]) where only the base model has the Input layer."""
    keras.utils.set_random_seed(15)
    oracle = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(2, 3, name="bc"), layers.Flatten(name="f"),
                               layers.Dense(2, name="d")])
    (kernel, bias), (dense, dense_bias) = oracle.layers[0].get_weights(), oracle.layers[2].get_weights()
    base = {"class_name": "Sequential", "config": {"name": "base", "layers": [
        k2_layer("InputLayer", "base_input", batch_input_shape=[None, 8, 8, 3]),
        k2_layer("Conv2D", "bc", **conv_cfg(2, 3))]}}
    config = {"class_name": "Sequential", "config": {"name": "outer", "layers": [
        base, k2_layer("Flatten", "f"), k2_layer("Dense", "d", units=2, activation="linear", use_bias=True)]}}
    data = write_keras2_h5(config, {"base": [("bc/kernel:0", kernel), ("bc/bias:0", bias)], "f": [],
                                    "d": [("d/kernel:0", dense), ("d/bias:0", dense_bias)]})
    model, meta = load_user_model(data, "transfer.h5")
    x = inputs((2, 8, 8, 3), 16)
    close(ours(model, x), keras_out(oracle, x))
    assert meta["input_shape"] == [3, 8, 8] and [n for n, _ in model.named_children()] == ["bc", "f", "d"]


# --- hostile and broken files -------------------------------------------------------------------

def tiny(name="tiny"):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(2, 3, name="conv"), layers.Flatten(name="flat"),
                             layers.Dense(3, name="head")], name=name)


def zip_with(config: dict | str | bytes, weights: bytes | None = b"", extra: dict | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        z.writestr("config.json", config if isinstance(config, (str, bytes)) else json.dumps(config))
        if weights is not None:
            z.writestr("model.weights.h5", weights)
        for name, content in (extra or {}).items():
            z.writestr(name, content)
    return buffer.getvalue()


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


@pytest.mark.parametrize("fmt", FORMATS)
def test_lambda_layer_is_refused_before_any_weight_is_read(fmt):
    inp = keras.Input((8, 8, 1))
    x = layers.Conv2D(2, 3, name="conv")(inp)
    x = layers.Lambda(lambda t: t * 2, name="double_it")(x)
    kmodel = keras.Model(inp, layers.Dense(3, name="head")(layers.Flatten()(x)))
    data = saved(kmodel, fmt)
    message = refused(data, f"net.{fmt}", "Lambda", "'double_it'", "never runs code", "Conv2D")
    assert "Traceback" not in message
    if fmt == "keras":  # with broken weights, the Lambda is still what is reported: weights never opened
        parts = members(data)
        refused(zip_with(parts["config.json"], b"not hdf5 at all"), "net.keras", "Lambda", "'double_it'")


@keras.saving.register_keras_serializable(package="student")
class Twice(layers.Layer):
    def call(self, x):
        return 2 * x


def test_custom_layer_class_is_refused_naming_it():
    kmodel = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(2, 3), Twice(name="twice"), layers.Flatten(),
                               layers.Dense(3)])
    for fmt in FORMATS:
        refused(saved(kmodel, fmt), f"net.{fmt}", "'twice'", "Twice", "rebuilds these layer types", "Dense")


def test_unknown_activation_is_refused_before_the_weights():
    parts = members(saved(tiny(), "keras"))
    config = json.loads(parts["config.json"])
    config["config"]["layers"][-1]["config"]["activation"] = {"module": "builtins", "class_name": "function",
                                                               "config": "my_activation", "registered_name": "function"}
    refused(zip_with(config, b"no weights read"), "net.keras", "'head'", "my_activation", "Supported activations")


def test_too_many_layers_and_quantised_layers_are_refused():
    many = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        k2_layer("InputLayer", "in", batch_input_shape=[None, 8, 8, 3]),
        *(k2_layer("Dropout", f"d{i}", rate=0.1) for i in range(601))]}}
    refused(write_keras2_h5(many, {}), "deep.h5", "more than 600 layers")
    kmodel = tiny()
    kmodel.quantize("int8")
    refused(saved(kmodel, "keras"), "q.keras", "'head'", "quantised")


def test_keras2_lambda_and_tf_op_layers_are_refused():
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        k2_layer("InputLayer", "in", batch_input_shape=[None, 8, 8, 1]),
        k2_layer("Lambda", "scale_it", function=["4wEAAAAAAAAA", None, None], function_type="lambda")]}}
    refused(write_keras2_h5(config, {"scale_it": []}), "old.h5", "Lambda", "'scale_it'")
    config["config"]["layers"][1] = k2_layer("TFOpLambda", "tf.math.add", function="math.add")
    refused(write_keras2_h5(config, {}), "old.h5", "TFOpLambda", "layers.Add()")


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_and_random_files_are_refused(fmt):
    data = saved(tiny(), fmt)
    refused(data[: len(data) // 2], f"net.{fmt}")
    refused(data[:100], f"net.{fmt}")
    refused(np.random.default_rng(0).bytes(5000), f"net.{fmt}")
    refused(b"\x89HDF\r\n\x1a\n" + np.random.default_rng(1).bytes(3000), f"net.{fmt}", "damaged")
    refused(b"PK\x03\x04" + np.random.default_rng(2).bytes(3000), f"net.{fmt}")


def test_zip_bombs_are_refused_before_inflating():
    # A config.json of 20 MB of spaces: a few kB in the zip.
    parts = members(saved(tiny(), "keras"))
    bomb = zip_with(b" " * (20 * 2**20) + parts["config.json"], parts["model.weights.h5"])
    assert len(bomb) < 200_000
    refused(bomb, "bomb.keras", "config.json", "MB")
    # A member whose header claims more than the limit altogether.
    data = bytearray(zip_with(parts["config.json"], parts["model.weights.h5"], {"padding.bin": b"\0" * 1000}))
    central = data.rfind(b"PK\x01\x02")  # the last member's central directory entry
    data[central + 24:central + 28] = (UNZIPPED_FACTOR * MAX_FILE_BYTES + 1).to_bytes(4, "little")
    refused(bytes(data), "bomb.keras", "unpacks to more than")


def test_zip_without_weights_or_with_a_json_that_is_not_a_model():
    parts = members(saved(tiny(), "keras"))
    refused(zip_with(parts["config.json"], None), "net.keras", "holds no weights")
    refused(zip_with({"hello": "world"}), "net.keras", "does not describe a Keras")
    refused(zip_with("[1, 2, 3]"), "net.keras", "does not describe a Keras")
    refused(zip_with("{not json"), "net.keras", "not readable JSON")
    refused(zip_with("[" * 100_000), "net.keras", "not readable JSON")
    refused(zip_with(parts["config.json"], b"\x89HDF\r\n\x1a\n broken"), "net.keras", "damaged")
    config = json.loads(parts["config.json"])
    config["config"]["layers"][1]["config"]["filters"] = "many"
    refused(zip_with(config, parts["model.weights.h5"]), "net.keras", "'conv'", "number of filters")


def test_weights_that_do_not_fit_the_config_are_refused_before_reading():
    parts = members(saved(tiny(), "keras"))
    config = json.loads(parts["config.json"])
    config["config"]["layers"][1]["config"]["filters"] = 3  # the file's kernel has 2 filters
    refused(zip_with(config, parts["model.weights.h5"]), "net.keras", "'conv'", "shape")
    config["config"]["layers"][1]["config"]["filters"] = 5_000_000  # 50 M parameters in the kernel alone
    message = refused(zip_with(config, parts["model.weights.h5"]), "net.keras", "parameters")
    assert f"{MAX_PARAMETERS:,}" in message


def test_windows_that_would_need_gigabytes_are_refused():
    """'same' padding grows with the window: a made-up dilation or pool size would allocate gigabytes."""
    parts = members(saved(tiny(), "keras"))
    for key, value, words in (("dilation_rate", [100_000, 1], "window of"), ("strides", [5000, 5000], "stride of"),
                              ("padding", "full", "'full'")):
        config = json.loads(parts["config.json"])
        config["config"]["layers"][1]["config"][key] = value
        config["config"]["layers"][1]["config"]["padding"] = value if key == "padding" else "same"
        refused(zip_with(config, parts["model.weights.h5"]), "net.keras", "'conv'", words)


def test_nan_weights_are_refused():
    kmodel = tiny()
    kernel, bias = kmodel.get_layer("head").get_weights()
    kernel[0, 1] = np.nan
    kmodel.get_layer("head").set_weights([kernel, bias])
    for fmt in FORMATS:
        refused(saved(kmodel, fmt), f"net.{fmt}", "NaN", "'head'")


def test_weights_linked_to_other_files_are_refused(tmp_path):
    """An HDF5 external link (or external storage) would read another file of the server: never followed."""
    data = saved(tiny(), "h5")
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f.create_dataset("kernel", data=np.ones((3, 3, 1, 2), "float32"))
    buffer = io.BytesIO(data)
    with h5py.File(buffer, "r+") as f:
        group = f["model_weights/conv/tiny/conv"]
        del group["kernel"]
        group["kernel"] = h5py.ExternalLink(str(secret), "kernel")
    refused(buffer.getvalue(), "net.h5", "'conv'")
    buffer = io.BytesIO(data)
    with h5py.File(buffer, "r+") as f:
        group = f["model_weights/conv/tiny/conv"]
        del group["kernel"]
        group.create_dataset("kernel", shape=(3, 3, 1, 2), dtype="float32", external=[(str(secret), 0, 72)])
    refused(buffer.getvalue(), "net.h5", "not stored in the file itself")


def test_a_file_that_makes_hdf5_loop_is_cut_off(monkeypatch):
    """One changed byte in a global-heap object's size makes libhdf5 loop for ever while it holds the
    GIL (h5py 3.16): the worker process is killed after WORKER_TIMEOUT_S, the server lives on."""
    monkeypatch.setattr(keras_reader, "WORKER_TIMEOUT_S", 2.0)
    data = bytearray(saved(tiny(), "h5"))
    heap_object = len(keras.__version__).to_bytes(8, "little") + keras.__version__.encode()
    data[data.rfind(heap_object)] = 0xEE  # the keras_version string's size, in the global heap
    start = time.monotonic()
    message = refused(bytes(data), "stall.h5")
    assert time.monotonic() - start < 15
    assert "took longer than 2 s" in message or "damaged" in message, message
    model, meta = load_user_model(saved(tiny(), "h5"), "fine.h5")  # a fresh worker reads the next file
    assert meta["params"] == tiny().count_params()


def test_a_stalled_or_crashed_worker_is_replaced(monkeypatch):
    data = saved(tiny(), "keras")
    monkeypatch.setattr(keras_reader, "WORKER_TIMEOUT_S", 1.0)
    for source, words in (("import sys, time\nsys.stdin.buffer.readline()\ntime.sleep(60)", "took longer than 1 s"),
                          ("import os\nos._exit(3)", "damaged")):
        keras_reader._WORKER.kill()
        monkeypatch.setattr(keras_reader, "_WORKER_SOURCE", source)
        refused(data, "net.keras", words)
    keras_reader._WORKER.kill()
    monkeypatch.undo()
    assert load_user_model(data, "net.keras")[1]["params"] == tiny().count_params()


def test_networks_the_app_cannot_feed_are_refused():
    a, b = keras.Input((8, 8, 3)), keras.Input((8, 8, 3))
    two_inputs = keras.Model([a, b], layers.Dense(2)(layers.Flatten()(layers.Add()([a, b]))))
    inp = keras.Input((8, 8, 3))
    flat = layers.Flatten()(inp)
    two_outputs = keras.Model(inp, [layers.Dense(2)(flat), layers.Dense(3)(flat)])
    vector = keras.Sequential([keras.Input((784,)), layers.Dense(10)])
    shared = layers.Conv2D(3, 1, name="shared")
    siamese = keras.Model(inp, layers.Flatten()(shared(shared(inp))))
    for fmt in FORMATS:
        refused(saved(two_inputs, fmt), f"n.{fmt}", "takes 2 inputs; the app feeds one picture")
        refused(saved(two_outputs, fmt), f"n.{fmt}", "2 outputs")
        refused(saved(vector, fmt), f"n.{fmt}", "(784,)", "not a picture")
        refused(saved(siamese, fmt), f"n.{fmt}", "'shared'", "used 2 times")
    refused(write_keras2_h5({"class_name": "Sequential", "config": {"name": "s", "layers": [
        k2_layer("InputLayer", "in", batch_input_shape=[None, 8, 8, 3])]}}, {}), "w.h5", "no layers")
    weights_only = io.BytesIO()
    with h5py.File(weights_only, "w") as f:
        f.create_group("conv")
    refused(weights_only.getvalue(), "weights.h5", "only weights")
