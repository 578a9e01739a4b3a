"""What a user's file lacks, the user says (issue 26): class names, pixel scale, size and channels
left open; each choice checked, each refusal a sentence."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from vizcore import features
from vizcore.models import ModelError
from vizcore.user_models import SCALES, MEAN_STD, guess_scale, output_count, with_choices
from vizcore.user_models.layers import Affine

META = {"classes": [str(i) for i in range(3)], "input_shape": [3, 32, 32], "mean": [0.0] * 3, "std": [1.0] * 3,
        "scale": "0–1", "open_size": True, "open_channels": True}


@settings(max_examples=30, deadline=None)
@given(scale=st.sampled_from(list(SCALES)), pixels=st.lists(st.integers(0, 255), min_size=3, max_size=3))
def test_each_scale_feeds_the_numbers_the_network_was_trained_on(scale, pixels):
    chosen = with_choices(META, scale=scale)
    x = features.normalise(torch.tensor(pixels, dtype=torch.float32).view(3, 1, 1).numpy(), chosen)
    expected = {"0–1": [p / 255 for p in pixels], "0–255": pixels, "−1–1": [p / 127.5 - 1 for p in pixels]}[scale]
    torch.testing.assert_close(x.flatten().double(), torch.tensor(expected, dtype=torch.float64), rtol=1e-5, atol=1e-5)


def test_mean_std_per_channel_and_refusals():
    chosen = with_choices(META, scale=MEAN_STD, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    assert chosen["mean"] == [0.485, 0.456, 0.406] and chosen["scale"] == MEAN_STD
    for bad in ({"mean": [0.5], "std": [0.5, 0.5, 0.5]}, {"mean": [0.5] * 3, "std": [0.0, 1, 1]},
                {"mean": [float("nan")] * 3, "std": [1.0] * 3}):
        with pytest.raises(ModelError):
            with_choices(META, scale=MEAN_STD, **bad)
    with pytest.raises(ModelError, match="3 outputs; 2 class names"):
        with_choices(META, classes=["cat", "dog"])
    with pytest.raises(ModelError, match="twice"):
        with_choices(META, classes=["cat", "cat", "dog"])
    assert with_choices(META, classes=[" cat", "dog ", "**cup**", ""])["classes"] == ["cat", "dog", "**cup**"]


def test_a_size_and_channels_left_open_are_the_users_choice():
    grey = with_choices(META, channels=1, size=28)
    assert grey["input_shape"] == [1, 28, 28] and grey["mean"] == [0.0] and grey["std"] == [1.0]
    with pytest.raises(ModelError):
        with_choices(META, size=4)
    with pytest.raises(ModelError):
        with_choices(META, channels=4)
    closed = dict(META, open_size=False, open_channels=False)
    assert with_choices(closed, size=64, channels=1)["input_shape"] == [3, 32, 32]  # the file's own wins


def test_a_leading_rescaling_means_raw_pixels_and_a_wrong_size_names_the_layer():
    model = nn.Sequential()
    model.add_module("rescaling", Affine(1 / 255, 0.0))
    model.add_module("conv", nn.Conv2d(3, 2, 5))
    model.add_module("flatten", nn.Flatten())
    model.add_module("dense", nn.Linear(2 * 28 * 28, 4))
    assert guess_scale(model) == "0–255"
    assert output_count(model, (3, 32, 32)) == 4
    with pytest.raises(ModelError, match="'dense'"):
        output_count(model, (3, 64, 64))
