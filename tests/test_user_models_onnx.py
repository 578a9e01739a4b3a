"""vizcore.user_models.onnx_reader: ONNX files (torch.onnx.export, tf2onnx) rebuilt from torch layers.

Oracles: onnxruntime runs the very file (the rebuilt network must give its numbers), and the torch
network a file was exported from gives every stage's activation. TensorFlow is not installed:
tf2onnx-style graphs (NHWC input, transposes, MatMul + Add, a final Softmax) are written by hand.
Every refusal is a ModelError with a sentence, never another exception.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from vizcore.blocks import Add, Concatenate, GraphBlock
from vizcore.models import ModelError
from vizcore.user_models import MAX_PARAMETERS, load_user_model
from vizcore.user_models.layers import Affine, ChannelsLastFlatten, SameConv2d, SameMaxPool2d
from vizcore.user_models.onnx_reader import convert

warnings.filterwarnings("ignore", category=DeprecationWarning)  # torch's legacy (dynamo=False) exporter
torch.manual_seed(0)


# --- helpers ------------------------------------------------------------------------------------

def export(model: nn.Module, shape: tuple[int, ...], *, dynamic: bool = True, sides: bool = False,
           training=torch.onnx.TrainingMode.EVAL, opset: int | None = None, **options) -> bytes:
    """The ONNX file torch writes for ``model`` on a (1, *shape) input."""
    axes = {0: "n", 2: "h", 3: "w"} if sides else {0: "n"}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.randn(1, *shape),), buffer, dynamo=False, input_names=["x"],
                          output_names=["y"], training=training, opset_version=opset, **options,
                          dynamic_axes={"x": axes, "y": {0: "n"}} if dynamic else None)
    return buffer.getvalue()


def run_ort(data: bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})[0]


def run_ours(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x.astype(np.float32))).numpy()


def assert_matches_ort(data: bytes, shape: tuple[int, ...], batch: int = 2, *, softmax: bool = False):
    model, meta = load_user_model(data, "m.onnx")
    x = np.random.default_rng(0).normal(size=(batch, *shape)).astype(np.float32)
    ours = run_ours(model, x)
    if softmax:
        ours = torch.softmax(torch.from_numpy(ours), 1).numpy()
    np.testing.assert_allclose(ours, run_ort(data, x), atol=1e-4, rtol=1e-4)
    return model, meta


def graph_file(nodes, inputs, outputs, initializers=(), *, producer="tf2onnx", opset=13) -> bytes:
    """A hand-written ONNX model (as tf2onnx and others write them)."""
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    model = helper.make_model(graph, producer_name=producer, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model.SerializeToString()


def tensor(name: str, array) -> TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def value(name: str, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def refused(data: bytes, *words: str) -> str:
    with pytest.raises(ModelError) as info:
        load_user_model(data, "m.onnx")
    message = str(info.value)
    for word in words:
        assert word.lower() in message.lower(), message
    return message


def stages(model: nn.Module) -> dict[str, nn.Module]:
    return dict(model.named_children())


# --- networks exported by torch ---------------------------------------------------------------

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.data())
def test_convolutions_match_onnxruntime(data):
    in_channels = data.draw(st.sampled_from([1, 3]))
    groups = data.draw(st.sampled_from([1, in_channels]))
    out_channels = groups * data.draw(st.integers(1, 3))
    kernel = (data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5)))
    stride = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    padding = (data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2)))
    dilation = data.draw(st.integers(1, 2))
    side = data.draw(st.integers(8, 20))
    pool = data.draw(st.sampled_from(["max", "avg", None]))
    sizes = [(side + 2 * p - dilation * (k - 1) - 1) // s + 1 for k, s, p in zip(kernel, stride, padding)]
    assume(min(sizes) >= 2)
    layers = [nn.Conv2d(in_channels, out_channels, kernel, stride, padding, dilation, groups,
                        bias=data.draw(st.booleans())), nn.ReLU()]
    if pool:
        layers.append(nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2))
        sizes = [n // 2 for n in sizes]
    layers += [nn.Flatten(), nn.Linear(out_channels * sizes[0] * sizes[1], 4)]
    model, meta = assert_matches_ort(export(nn.Sequential(*layers), (in_channels, side, side)),
                                     (in_channels, side, side))
    assert meta["input_shape"] == [in_channels, side, side] and meta["source"] == "ONNX (from PyTorch)"
    assert isinstance(stages(model)["0"], nn.Conv2d) and list(stages(model))[-1] == str(len(layers) - 1)


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(["max", "avg"]), kernel=st.integers(1, 4), stride=st.integers(1, 3),
       pad=st.integers(0, 2), ceil=st.booleans(), include_pad=st.booleans(), dilation=st.integers(1, 2),
       side=st.integers(8, 13))
def test_pooling_matches_onnxruntime(kind, kernel, stride, pad, ceil, include_pad, dilation, side):
    assume(pad <= kernel // 2)
    if kind == "max":
        pool = nn.MaxPool2d(kernel, stride, pad, dilation, ceil_mode=ceil)
    else:
        pool = nn.AvgPool2d(kernel, stride, pad, ceil_mode=ceil, count_include_pad=include_pad)
    net = nn.Sequential(nn.Conv2d(3, 2, 1), pool, nn.Flatten())
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, side, side))
    except RuntimeError:
        assume(False)
    data = export(net, (3, side, side))
    if kind == "avg" and ceil and pad:  # stated as unsupported
        refused(data, "ceil_mode")
        return
    assert_matches_ort(data, (3, side, side))


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.AvgPool2d(2)
        self.fc1 = nn.Linear(16 * 5 * 5, 32)
        self.relu3 = nn.ReLU()
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = x.view(x.size(0), -1)  # exported as Shape → Gather → Unsqueeze → Concat → Reshape
        return self.fc2(self.drop(self.relu3(self.fc1(x))))


@pytest.mark.parametrize("dynamic", [True, False])
def test_lenet_named_stages_and_folded_shape_computation(dynamic):
    """Also an older export: batch fixed at 1, opset 9, the weights listed among the graph's inputs."""
    source = LeNet()
    older = {} if dynamic else {"opset": 9, "keep_initializers_as_inputs": True}
    model, meta = assert_matches_ort(export(source, (1, 28, 28), dynamic=dynamic, **older), (1, 28, 28),
                                     batch=3 if dynamic else 1)
    assert list(stages(model)) == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten", "fc1",
                                   "relu3", "fc2"]
    assert isinstance(stages(model)["flatten"], nn.Flatten) and isinstance(stages(model)["fc2"], nn.Linear)
    assert meta["input_shape"] == [1, 28, 28] and meta["classes"] == [str(i) for i in range(10)]
    assert meta["open_size"] is False and meta["channels_last"] is False
    assert meta["params"] == sum(p.numel() for p in source.parameters())
    x = torch.randn(4, 1, 28, 28)  # the rebuilt network takes any batch, also from a batch-1 export
    with torch.no_grad():
        torch.testing.assert_close(model(x), source.eval()(x), atol=1e-5, rtol=1e-4)


class Block(nn.Module):
    """A residual block: relu(bn(conv(relu(bn(conv(x))))) + x)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv_a = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn_a = nn.BatchNorm2d(channels)
        self.relu_a = nn.ReLU()
        self.conv_b = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn_b = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()

    def forward(self, x):
        out = self.bn_b(self.conv_b(self.relu_a(self.bn_a(self.conv_a(x)))))
        return self.relu(out + x)


class ResNet(nn.Module):
    def __init__(self, classes: int = 5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu1 = nn.ReLU()
        self.block1 = Block(8)
        self.block2 = Block(8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.block2(self.block1(x))
        return self.fc(self.flatten(self.pool(x)))


def trained_looking(model: nn.Module) -> nn.Module:
    """Batch norms with statistics other than the initial ones (the exporter dedups equal tensors)."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            with torch.no_grad():
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.normal_(0, 0.2, generator=generator)
                module.running_mean.normal_(0, 0.2, generator=generator)
                module.running_var.uniform_(0.5, 2, generator=generator)
    return model.eval()


def test_residual_net_every_stage_equals_the_torch_source():
    source = trained_looking(ResNet())
    data = export(source, (3, 32, 32), training=torch.onnx.TrainingMode.PRESERVE)  # batch norms kept
    model, meta = assert_matches_ort(data, (3, 32, 32))
    names = list(stages(model))
    assert names == ["conv1", "bn1", "relu1", "block1_add", "block1_relu", "block2_add", "block2_relu", "pool",
                     "flatten", "fc"]
    block = stages(model)["block1_add"]
    assert isinstance(block, GraphBlock) and isinstance(block.layers["block1_add"], Add)
    assert [type(layer) for layer in block.paths()[0]] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.Conv2d,
                                                             nn.BatchNorm2d]
    assert [len(path) for path in block.paths()] == [5, 0]  # the branch and the skip connection
    # every stage's activation is the torch network's own at that point
    seen: dict[str, torch.Tensor] = {}
    where = {"conv1": source.conv1, "bn1": source.bn1, "relu1": source.relu1, "block1_relu": source.block1.relu,
             "block2_relu": source.block2.relu, "pool": source.pool, "flatten": source.flatten, "fc": source.fc}
    handles = [module.register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, o))
               for name, module in where.items()]
    handles += [source.block1.relu.register_forward_hook(lambda m, i, o: seen.__setitem__("block1_add", i[0])),
                source.block2.relu.register_forward_hook(lambda m, i, o: seen.__setitem__("block2_add", i[0]))]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        source(x)
        for handle in handles:
            handle.remove()
        out = x
        for name, stage in model.named_children():
            out = stage(out)
            torch.testing.assert_close(out, seen[name], atol=1e-5, rtol=1e-4, msg=name)
    trainable = sum(p.numel() for p in source.parameters())
    statistics = sum(b.numel() for n, b in source.named_buffers() if n.endswith(("running_mean", "running_var")))
    assert meta["params"] == trainable + statistics and meta["trainable_params"] == trainable


def test_batch_norm_folded_by_the_exporter_still_matches():
    source = trained_looking(ResNet())
    model, meta = assert_matches_ort(export(source, (3, 32, 32)), (3, 32, 32))
    assert "bn1" not in stages(model) and meta["params"] < sum(p.numel() for p in source.parameters()) + 100


class Inception(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.relu = nn.ReLU()
        self.b1 = nn.Conv2d(6, 4, 1)
        self.b3 = nn.Sequential(nn.Conv2d(6, 4, 1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
        self.b5 = nn.Sequential(nn.Conv2d(6, 2, 1), nn.ReLU(), nn.Conv2d(2, 4, 5, padding=2))
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(6, 2, 1))
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(14, 14, 1), nn.Sigmoid())
        self.head = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(14, 3), nn.Softmax(1))

    def forward(self, x):
        x = self.relu(self.stem(x))
        x = torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1)
        x = x * self.gate(x)  # squeeze-and-excitation: a Multiply merge
        return self.head(x)


def test_inception_concat_and_gate_blocks():
    model, _ = assert_matches_ort(export(Inception(), (3, 16, 16)), (3, 16, 16), softmax=True)
    blocks_ = [s for s in model.children() if isinstance(s, GraphBlock)]
    assert len(blocks_) == 2
    assert any(isinstance(layer, Concatenate) for layer in blocks_[0].layers.values())
    assert not isinstance(list(model.children())[-1], nn.Softmax)  # the final softmax is left out


def test_final_softmax_is_dropped_and_logits_returned():
    source = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh(), nn.Flatten(), nn.Linear(2 * 6 * 6, 4), nn.Softmax(dim=1))
    data = export(source, (1, 8, 8))
    model, _ = assert_matches_ort(data, (1, 8, 8), softmax=True)
    assert list(stages(model)) == ["0", "1", "2", "3"]
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source[:-1](x))


def test_activations_and_constants_match_onnxruntime():
    class Zoo(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.acts = nn.Sequential(nn.LeakyReLU(0.2), nn.ELU(0.7), nn.Hardswish(), nn.SiLU(), nn.GELU(),
                                      nn.Hardsigmoid(), nn.ReLU6(), nn.Hardtanh(-0.5, 0.5), nn.Sigmoid(),
                                      nn.Softplus(), nn.PReLU(4), nn.GELU(approximate="tanh"), nn.Mish(),
                                      nn.Softmax(dim=1))
            self.register_buffer("mean", torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1))
            self.fc = nn.Linear(4, 3)
            self.bn = nn.BatchNorm1d(3)

        def forward(self, x):
            x = (x - self.mean) / 0.25 * 2 + 1
            x = self.acts(self.conv(nn.functional.pad(x, (1, 2, 0, 1), mode="reflect")))
            return self.bn(self.fc(x.mean((2, 3))))

    source = Zoo()
    with torch.no_grad():
        source.bn.running_mean.normal_()
        source.bn.running_var.uniform_(0.5, 2)
    model, _ = assert_matches_ort(export(source, (3, 12, 12)), (3, 12, 12))
    assert isinstance(list(model.children())[-1], nn.BatchNorm1d)
    first = list(model.children())[0]
    assert isinstance(first, Affine)  # Sub, Div, Mul, Add of constants: one affine stage
    assert not any(isinstance(s, Affine) for s in list(model.children())[1:])


def test_gelu_written_with_erf_before_opset_20_is_one_layer():
    source = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GELU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    model, _ = assert_matches_ort(export(source, (3, 8, 8), opset=17), (3, 8, 8))
    assert [type(stage) for stage in model.children()] == [nn.Conv2d, nn.GELU, nn.Flatten, nn.Linear]


def test_open_picture_size_and_asymmetric_padding():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.pad = nn.ZeroPad2d((0, 1, 0, 1))
            self.conv = nn.Conv2d(3, 4, 3, stride=2)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(torch.relu(self.conv(self.pad(x)))), 1))

    data = export(Net(), (3, 20, 20), sides=True)
    model, meta = load_user_model(data, "m.onnx")
    assert meta["open_size"] and meta["input_shape"] == [3, 224, 224]
    for side in (17, 20):
        x = np.random.default_rng(side).normal(size=(2, 3, side, side)).astype(np.float32)
        np.testing.assert_allclose(run_ours(model, x), run_ort(data, x), atol=1e-4)


# --- tf2onnx-style graphs (NHWC input) -------------------------------------------------------

def tf_graph(*, side=16, channels=3, explicit_pads=False, pool=False, open_size=False, rescale=True) -> bytes:
    """What tf2onnx writes for Rescaling → Conv2D(4, 3, strides 2, "same", relu) [→ MaxPool2D(3, 2, "same")]
    → Flatten → Dense(5, softmax): NHWC input, Transpose to NCHW, Transpose back before the Reshape,
    MatMul + Add, a final Softmax."""
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    current = "input_1"
    if rescale:
        inits.append(tensor("scale", np.array(1 / 255, np.float32)))
        nodes.append(helper.make_node("Mul", [current, "scale"], ["rescaled"], name="sequential/rescaling/mul"))
        current = "rescaled"
    nodes.append(helper.make_node("Transpose", [current], ["nchw"], perm=[0, 3, 1, 2],
                                  name="sequential/conv2d/Conv2D__6"))
    inits += [tensor("W", rng.normal(size=(4, channels, 3, 3)).astype(np.float32)),
              tensor("B", rng.normal(size=4).astype(np.float32))]
    pads = {"pads": [0, 0, 1, 1]} if explicit_pads else {"auto_pad": "SAME_UPPER"}
    nodes.append(helper.make_node("Conv", ["nchw", "W", "B"], ["conv"], kernel_shape=[3, 3], strides=[2, 2],
                                  name="sequential/conv2d/BiasAdd", **pads))
    nodes.append(helper.make_node("Relu", ["conv"], ["relu"], name="sequential/conv2d/Relu"))
    current, size = "relu", -(-side // 2)
    if pool:
        pads = {"pads": [0, 0, 1, 1]} if explicit_pads else {"auto_pad": "SAME_UPPER"}
        nodes.append(helper.make_node("MaxPool", [current], ["pooled"], kernel_shape=[3, 3], strides=[2, 2],
                                      name="sequential/max_pooling2d/MaxPool", **pads))
        current, size = "pooled", -(-size // 2)
    features = 4 * size * size
    nodes.append(helper.make_node("Transpose", [current], ["nhwc"], perm=[0, 2, 3, 1],
                                  name="sequential/flatten/Reshape__12"))
    inits.append(tensor("shape", np.array([-1, features], np.int64)))
    nodes.append(helper.make_node("Reshape", ["nhwc", "shape"], ["flat"], name="sequential/flatten/Reshape"))
    inits += [tensor("K", rng.normal(size=(features, 5)).astype(np.float32) / 8),
              tensor("bias", rng.normal(size=5).astype(np.float32))]
    nodes.append(helper.make_node("MatMul", ["flat", "K"], ["dense"], name="sequential/dense/MatMul"))
    nodes.append(helper.make_node("Add", ["dense", "bias"], ["logits"], name="sequential/dense/BiasAdd"))
    nodes.append(helper.make_node("Softmax", ["logits"], ["dense_out"], axis=-1, name="sequential/dense/Softmax"))
    shape = ["unk__1", "h" if open_size else side, "w" if open_size else side, channels]
    return graph_file(nodes, [value("input_1", shape)], [value("dense_out", ["unk__1", 5])], inits)


def compare_nhwc(data: bytes, side: int, channels: int = 3):
    model, meta = load_user_model(data, "m.onnx")
    x = np.random.default_rng(side).uniform(0, 255, size=(2, channels, side, side)).astype(np.float32)
    ours = torch.softmax(torch.from_numpy(run_ours(model, x)), 1).numpy()
    np.testing.assert_allclose(ours, run_ort(data, x.transpose(0, 2, 3, 1)), atol=1e-5, rtol=1e-4)
    return model, meta


@pytest.mark.parametrize("side", [16, 15])
def test_tf2onnx_nhwc_graph_takes_nchw_pictures(side):
    model, meta = compare_nhwc(tf_graph(side=side), side)
    assert meta["source"] == "ONNX (from TensorFlow)" and meta["channels_last"] is True
    assert meta["input_shape"] == [3, side, side] and meta["scale"] == "0–255"
    assert list(stages(model)) == ["rescaling", "conv2d", "conv2d_relu", "flatten", "dense"]
    assert isinstance(stages(model)["conv2d"], SameConv2d)
    assert isinstance(stages(model)["flatten"], ChannelsLastFlatten)
    assert isinstance(stages(model)["dense"], nn.Linear) and stages(model)["dense"].bias is not None
    assert meta["summary"][1].output_shape == (-(-side // 2), -(-side // 2), 4)  # Keras' (H, W, C)


def test_tf2onnx_explicit_same_pads_and_pooling():
    model, _ = compare_nhwc(tf_graph(side=16, explicit_pads=True, pool=True), 16)
    assert isinstance(stages(model)["conv2d"], SameConv2d)
    assert isinstance(stages(model)["max_pooling2d"], SameMaxPool2d)
    model, _ = compare_nhwc(tf_graph(side=16, pool=True), 16)


def test_tf2onnx_open_size_with_global_pooling():
    rng = np.random.default_rng(3)
    nodes = [helper.make_node("Transpose", ["in"], ["t"], perm=[0, 3, 1, 2], name="model/conv/Conv2D__3"),
             helper.make_node("Conv", ["t", "W"], ["c"], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER",
                              name="model/conv/Conv2D"),
             helper.make_node("Relu", ["c"], ["r"], name="model/conv/Relu"),
             helper.make_node("Transpose", ["r"], ["back"], perm=[0, 2, 3, 1], name="model/conv/Relu__5"),
             helper.make_node("ReduceMean", ["back"], ["gap"], axes=[1, 2], keepdims=0, name="model/gap/Mean"),
             helper.make_node("MatMul", ["gap", "K"], ["m"], name="model/dense/MatMul"),
             helper.make_node("Softmax", ["m"], ["out"], axis=1, name="model/dense/Softmax")]
    inits = [tensor("W", rng.normal(size=(6, 1, 3, 3)).astype(np.float32)),
             tensor("K", rng.normal(size=(6, 3)).astype(np.float32))]
    data = graph_file(nodes, [value("in", ["n", "h", "w", 1])], [value("out", ["n", 3])], inits)
    model, meta = load_user_model(data, "m.onnx")
    assert meta["open_size"] and meta["input_shape"] == [1, 28, 28] and meta["channels_last"]
    for side in (9, 28):
        x = np.random.default_rng(side).normal(size=(2, 1, side, side)).astype(np.float32)
        ours = torch.softmax(torch.from_numpy(run_ours(model, x)), 1).numpy()
        np.testing.assert_allclose(ours, run_ort(data, x.transpose(0, 2, 3, 1)), atol=1e-5)


def test_tensorflow_dense_network_without_transposes_flattens_channels_last():
    rng = np.random.default_rng(2)
    nodes = [helper.make_node("Reshape", ["in", "shape"], ["flat"], name="model/flatten/Reshape"),
             helper.make_node("MatMul", ["flat", "K"], ["m"], name="model/dense/MatMul"),
             helper.make_node("Add", ["m", "b"], ["logits"], name="model/dense/BiasAdd"),
             helper.make_node("Softmax", ["logits"], ["out"], axis=-1, name="model/dense/Softmax")]
    inits = [tensor("shape", np.array([-1, 192], np.int64)), tensor("K", rng.normal(size=(192, 4)).astype(np.float32)),
             tensor("b", rng.normal(size=(1, 4)).astype(np.float32))]
    data = graph_file(nodes, [value("in", ["n", 8, 8, 3])], [value("out", ["n", 4])], inits)
    model, meta = compare_nhwc(data, 8)
    assert meta["input_shape"] == [3, 8, 8] and meta["channels_last"]
    assert [type(stage) for stage in model.children()] == [ChannelsLastFlatten, nn.Linear]


def test_hand_written_operations_match_onnxruntime():
    """Gemm with transB=0 and alpha/beta, Clip with inputs, HardSigmoid(0.2, 0.5), Pad, per-channel Sub and
    Div, asymmetric max and average pooling, Concat, LeakyRelu, Elu, a mid-graph Softmax, opset-11 style."""
    rng = np.random.default_rng(5)
    f = np.float32
    nodes = [
        helper.make_node("Sub", ["x", "mean"], ["a"], name="norm/sub"),
        helper.make_node("Div", ["a", "std"], ["b"], name="norm/div"),
        helper.make_node("Pad", ["b", "pads"], ["p"], mode="constant", name="pad"),
        helper.make_node("Conv", ["p", "W"], ["c"], kernel_shape=[3, 3], pads=[0, 1, 1, 0], name="conv"),
        helper.make_node("Clip", ["c", "lo", "hi"], ["k"], name="clip"),
        helper.make_node("MaxPool", ["k"], ["m"], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1],
                         name="maxpool"),
        helper.make_node("AveragePool", ["k"], ["v"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                         count_include_pad=1, name="avgpool"),
        helper.make_node("LeakyRelu", ["v"], ["lv"], alpha=0.3, name="leaky"),
        helper.make_node("Concat", ["m", "lv"], ["cat"], axis=1, name="cat"),
        helper.make_node("HardSigmoid", ["cat"], ["hs"], alpha=0.2, beta=0.5, name="hardsigmoid"),
        helper.make_node("GlobalMaxPool", ["hs"], ["g"], name="gmp"),
        helper.make_node("Flatten", ["g"], ["fl"], axis=1, name="flatten"),
        helper.make_node("Gemm", ["fl", "G", "C"], ["gemm"], alpha=0.5, beta=2.0, name="gemm"),
        helper.make_node("Elu", ["gemm"], ["e"], alpha=0.5, name="elu"),
        helper.make_node("Softmax", ["e"], ["s"], axis=1, name="mid_softmax"),
        helper.make_node("MatMul", ["s", "K"], ["out"], name="dense"),
    ]
    inits = [tensor("mean", rng.normal(size=(1, 3, 1, 1)).astype(f)), tensor("std", np.array([[[2.0]], [[0.5]], [[1]]], f)),
             tensor("pads", np.array([0, 0, 1, 2, 0, 0, 0, 1], np.int64)),
             tensor("W", rng.normal(size=(3, 3, 3, 3)).astype(f)), tensor("lo", np.array(-0.5, f)),
             tensor("hi", np.array(1.5, f)), tensor("G", rng.normal(size=(6, 4)).astype(f)),
             tensor("C", rng.normal(size=4).astype(f)), tensor("K", rng.normal(size=(4, 3)).astype(f))]
    data = graph_file(nodes, [value("x", ["N", 3, 11, 10])], [value("out", ["N", 3])], inits,
                      producer="hand", opset=11)
    model, meta = assert_matches_ort(data, (3, 11, 10), batch=3)
    assert meta["source"] == "ONNX" and not meta["channels_last"]
    names = list(stages(model))
    assert names[:3] == ["norm", "pad", "conv_pad"] and "mid_softmax" in names


# --- explanations on a rebuilt network --------------------------------------------------------

def test_guided_backprop_equals_captum_on_the_torch_source():
    from captum.attr import GuidedBackprop

    from vizcore.explain import guided_backprop

    source = trained_looking(ResNet())
    model, _ = load_user_model(export(source, (3, 32, 32)), "m.onnx")
    x = torch.randn(2, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = GuidedBackprop(source).attribute(x.clone().requires_grad_(True), target=3)
    ours = guided_backprop(model, x, 3)
    torch.testing.assert_close(ours, expected.detach(), atol=1e-5, rtol=1e-4)


# --- hostile and broken files -----------------------------------------------------------------

def small_file() -> bytes:
    return export(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 3)), (1, 8, 8))


def test_external_data_is_refused_before_anything_is_read(tmp_path):
    model = onnx.load_model_from_string(small_file())
    weight = model.graph.initializer[0]
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", str(tmp_path / "secret.bin")
    (tmp_path / "secret.bin").write_bytes(b"\0" * 4096)
    refused(model.SerializeToString(), "external data", weight.name)


def test_size_is_checked_from_the_dims_before_converting():
    model = onnx.load_model_from_string(small_file())
    huge = TensorProto(name="huge", data_type=TensorProto.FLOAT, dims=[MAX_PARAMETERS, 2])  # no data at all
    model.graph.initializer.append(huge)
    refused(model.SerializeToString(), "parameters")
    model = onnx.load_model_from_string(small_file())
    weight = model.graph.initializer[0]
    weight.dims[0] += 1  # its bytes no longer fit its shape
    refused(model.SerializeToString(), "broken")


def test_non_finite_weights_are_refused():
    model = onnx.load_model_from_string(small_file())
    weight = model.graph.initializer[0]
    array = numpy_helper.to_array(weight).copy()
    array.flat[0] = np.nan
    weight.CopyFrom(numpy_helper.from_array(array, weight.name))
    refused(model.SerializeToString(), "NaN")


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=1, max_size=400))
def test_random_bytes_are_refused_with_a_sentence(data):
    refused(data)


@settings(max_examples=20, deadline=None)
@given(st.floats(0.0, 0.99))
def test_truncated_files_are_refused_or_still_whole(fraction):
    data = small_file()
    try:
        load_user_model(data[:int(len(data) * fraction)], "m.onnx")
    except ModelError:
        pass


def test_broken_and_foreign_files():
    data = small_file()
    refused(data[:len(data) // 2], "not an ONNX network")
    refused(tensor("t", np.ones((3, 4), np.float32)).SerializeToString())  # another protobuf
    refused(onnx.load_model_from_string(data).graph.SerializeToString())
    refused(graph_file([], [value("x", [1, 1, 8, 8])], [value("x", [1, 1, 8, 8])]), "no layers")
    refused(helper.make_model(helper.make_graph([], "g", [], [])).SerializeToString(), "no layers")


def test_inputs_and_outputs_the_app_cannot_feed():
    relu = [helper.make_node("Relu", ["a"], ["y"])]
    refused(graph_file(relu + [helper.make_node("Relu", ["b"], ["z"])],
                       [value("a", [1, 1, 8, 8]), value("b", [1, 1, 8, 8])], [value("y", [1, 1, 8, 8])]), "2 inputs")
    refused(graph_file(relu + [helper.make_node("Relu", ["y"], ["z"])], [value("a", [1, 1, 8, 8])],
                       [value("y", [1, 1, 8, 8]), value("z", [1, 1, 8, 8])]), "2 outputs")
    refused(graph_file(relu, [value("a", [1, 64])], [value("y", [1, 64])]), "2 dimensions")
    refused(graph_file(relu, [value("a", [1, 1, 8, 8], TensorProto.INT64)], [value("y", [1, 1, 8, 8])]), "int64")


def test_unsupported_operations_are_named():
    w = tensor("W", np.zeros((1, 32, 8), np.float32))
    lstm = helper.make_node("LSTM", ["flat", "W", "W"], ["out"], hidden_size=8, name="my_lstm")
    nodes = [helper.make_node("Flatten", ["x"], ["flat"], name="flatten"), lstm]
    message = refused(graph_file(nodes, [value("x", [1, 1, 8, 8])], [value("out", [1, 8])], [w]), "LSTM", "my_lstm")
    assert "Conv" in message and "Gemm" in message  # the supported operations are listed
    custom = helper.make_node("Magic", ["x"], ["out"], domain="com.example", name="[click](https://evil.example)")
    message = refused(graph_file([custom], [value("x", [1, 1, 8, 8])], [value("out", [1, 8])]), "Magic", "custom")
    assert "](" not in message and "[" not in message  # the file's names never become markup
    transpose = helper.make_node("Transpose", ["x"], ["out"], perm=[0, 1, 3, 2], name="odd")
    refused(graph_file([transpose], [value("x", [1, 1, 8, 8])], [value("out", [1, 1, 8, 8])]), "transposes")


def test_too_many_nodes_are_refused():
    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"]) for i in range(2500)]
    refused(graph_file(nodes, [value("t0", [1, 1, 8, 8])], [value("t2500", [1, 1, 8, 8])]), "nodes")


def test_maps_too_large_for_the_app_are_refused_before_they_are_computed():
    conv = helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[1, 1], name="wide")
    data = graph_file([conv], [value("x", [1, 3, 1024, 1024])], [value("y", [1, 4096, 1024, 1024])],
                      [tensor("W", np.zeros((4096, 3, 1, 1), np.float32))])
    refused(data, "wide", "numbers for one picture")


@pytest.mark.parametrize("case", ["reshape", "matmul", "sub", "concat", "softmax"])
def test_operations_used_in_ways_the_app_does_not_rebuild(case):
    x = value("x", [1, 3, 8, 8])
    if case == "reshape":
        nodes = [helper.make_node("Reshape", ["x", "s"], ["y"], name="r")]
        inits = [tensor("s", np.array([1, 3, 4, 16], np.int64))]
    elif case == "matmul":
        nodes = [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("MatMul", ["f", "f"], ["y"], name="r")]
        inits = []
    elif case == "sub":
        nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Sub", ["x", "a"], ["y"], name="r")]
        inits = []
    elif case == "concat":
        nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Concat", ["x", "a"], ["y"], axis=2, name="r")]
        inits = []
    else:
        nodes = [helper.make_node("Softmax", ["x"], ["a"], axis=2, name="r"), helper.make_node("Relu", ["a"], ["y"])]
        inits = []
    refused(graph_file(nodes, [x], [value("y", None)], inits), "'r'")


def test_layers_that_do_not_fit_are_named():
    model = onnx.load_model_from_string(small_file())
    for init in model.graph.initializer:
        if tuple(init.dims) == (3, 72):
            init.CopyFrom(tensor(init.name, np.zeros((3, 70), np.float32)))
    refused(model.SerializeToString(), "does not fit")


def test_convert_returns_the_file_facts():
    converted = convert(small_file())
    assert converted.framework == "ONNX (from PyTorch)" and converted.input_shape == (1, 8, 8)
    assert converted.frozen == set() and converted.channels_last is False
