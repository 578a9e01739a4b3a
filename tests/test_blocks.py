"""One kind of block for every network (issue 26): a block runs its layers through the step it is
given. Checked against hand-written torch modules (forward), captum (guided backprop) and the
gradient's own support (receptive fields through branches)."""
from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from vizcore import efficientnet, features
from vizcore.blocks import Add, Block, Concatenate, GraphBlock, Multiply
from vizcore.explain import guided_backprop
from vizcore.user_models._graph import INPUT, Node, to_stages

captum_attr = pytest.importorskip("captum.attr")
warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")


class HandWritten(nn.Module):
    """relu(conv1(x)) → [x1 + relu(conv2(x1))] → cat(x2, relu(conv3(x2))) * sigmoid(conv4(...)) → pool → fc"""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        self.conv3, self.conv4 = nn.Conv2d(4, 4, 5, padding=2), nn.Conv2d(8, 8, 1)
        self.relu1, self.relu2, self.relu3 = nn.ReLU(), nn.ReLU(), nn.ReLU()
        self.gate, self.pool, self.flat, self.fc = nn.Sigmoid(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)

    def forward(self, x):
        x1 = self.relu1(self.conv1(x))
        x2 = x1 + self.relu2(self.conv2(x1))
        x3 = torch.cat([x2, self.relu3(self.conv3(x2))], 1)
        return self.fc(self.flat(self.pool(x3 * self.gate(self.conv4(x3)))))


def converted(net: HandWritten) -> nn.Sequential:
    """The same network as a converter wires it."""
    return to_stages([
        Node("conv1", net.conv1, [INPUT]), Node("relu1", net.relu1, ["conv1"]),
        Node("conv2", net.conv2, ["relu1"]), Node("relu2", net.relu2, ["conv2"]), Node("add", Add(), ["relu1", "relu2"]),
        Node("conv3", net.conv3, ["add"]), Node("relu3", net.relu3, ["conv3"]), Node("cat", Concatenate(1), ["add", "relu3"]),
        Node("conv4", net.conv4, ["cat"]), Node("gate", net.gate, ["conv4"]), Node("mul", Multiply(), ["cat", "gate"]),
        Node("pool", net.pool, ["mul"]), Node("flat", net.flat, ["pool"]), Node("fc", net.fc, ["flat"])], "fc")


def test_cuts_make_one_stage_per_layer_and_one_per_block():
    model = converted(HandWritten())
    assert [n for n, _ in model.named_children()] == ["conv1", "relu1", "add", "cat", "mul", "pool", "flat", "fc"]
    assert all(isinstance(model.get_submodule(n), GraphBlock) for n in ("add", "cat", "mul"))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), side=st.integers(6, 20))
def test_blocks_compute_what_the_hand_written_network_computes(seed, side):
    torch.manual_seed(seed)
    net = HandWritten().eval()
    model = converted(net).eval()
    x = torch.randn(2, 3, side, side)
    torch.testing.assert_close(model(x), net(x), rtol=1e-5, atol=1e-6)
    acts = features.activations(model, x)
    torch.testing.assert_close(acts["add"], (lambda a: a + net.relu2(net.conv2(a)))(net.relu1(net.conv1(x))))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), target=st.integers(0, 4))
def test_guided_backprop_through_blocks_equals_captum(seed, target):
    torch.manual_seed(seed)
    net = HandWritten().eval()
    x = torch.randn(1, 3, 12, 12)
    expected = captum_attr.GuidedBackprop(net).attribute(x.clone().requires_grad_(True), target=target)
    torch.testing.assert_close(guided_backprop(converted(net), x, target), expected, rtol=1e-4, atol=1e-6)


def test_the_imagenet_block_is_a_block_and_explain_imports_no_network():
    import pathlib

    assert issubclass(efficientnet.InvertedResidual, Block)
    explain = pathlib.Path(features.__file__).parent / "explain"
    for source in explain.glob("*.py"):
        assert "efficientnet" not in source.read_text(), source.name


@settings(max_examples=25, deadline=None)
@given(k_main=st.sampled_from([1, 3, 5]), k_side=st.sampled_from([1, 3]), stride=st.sampled_from([1, 2]),
       side=st.integers(9, 17), i=st.integers(0, 3), j=st.integers(0, 3), skip=st.booleans())
def test_receptive_field_through_a_block_is_the_gradients_support(k_main, k_side, stride, side, i, j, skip):
    """The window the page draws is exactly where the value's gradient is non-zero (positive weights:
    nothing cancels), for a block of two branches that meet in an Add."""
    torch.manual_seed(0)
    conv0 = nn.Conv2d(1, 2, 3, padding=1)
    main = nn.Conv2d(2, 2, k_main, stride=stride, padding=k_main // 2)
    side_branch = nn.Identity() if skip and stride == 1 else nn.Conv2d(2, 2, k_side, stride=stride, padding=k_side // 2)
    for conv in (conv0, main, side_branch):
        if isinstance(conv, nn.Conv2d):
            nn.init.uniform_(conv.weight, 0.1, 1.0)
    model = to_stages([Node("conv0", conv0, [INPUT]), Node("main", main, ["conv0"]),
                       Node("side", side_branch, ["conv0"]), Node("add", Add(), ["main", "side"])], "add")
    x = torch.rand(1, 1, side, side, requires_grad=True)
    out = model(x)
    i, j = min(i, out.shape[2] - 1), min(j, out.shape[3] - 1)
    out[0, 0, i, j].backward()
    rows, cols = torch.nonzero(x.grad[0, 0], as_tuple=True)
    window = features.receptive_field(model, "add", i, j, (side, side)).clipped(side, side)
    assert (window.top, window.bottom, window.left, window.right) == (
        int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1)
