"""A freehand digit made to look like the digits data before the digits model reads it (issue 17).

Strokes of every digit 0-9 are drawn at the canvas's size (280x280) by tests/_digit_strokes.py,
a few seeded variants each, and go the page's way (pages/_ui/model_input.py ``_draw``: ink ->
``features.digit_drawing_steps`` -> ``features.normalise``) into the shipped digits model. The
oracle for "looks like the data" is the data set itself (vizcore.data), measured here.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from _digit_strokes import drawn_digits
from vizcore import data, features, models

VARIANTS, SEED = 20, 0  # 200 drawings
TARGET = 0.9


@pytest.fixture(scope="module")
def digits_model():
    return models.load_pretrained("digits")


@pytest.fixture(scope="module")
def drawings():
    return drawn_digits(VARIANTS, SEED)


@pytest.fixture(scope="module")
def pictures(drawings):
    return np.stack([features.digit_drawing_steps(ink)[-1].image for _, ink in drawings])


def read(model, meta, pictures: np.ndarray) -> np.ndarray:
    """The model's answers for 28x28 pictures, normalised as the page does."""
    x = torch.cat([features.normalise(p[None], meta) for p in pictures])
    with torch.no_grad():
        return model(x).argmax(dim=1).numpy()


def vertical_one() -> np.ndarray:
    """The issue's drawing: a clean vertical "1" down the middle with the page's 20-px brush."""
    img = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(img).line([(140, 40), (140, 250)], fill=255, width=20)
    return np.asarray(img, dtype=np.float32) / 255


def test_hand_drawn_digits_are_read_right(digits_model, drawings, pictures):
    model, meta = digits_model
    truth = np.array([d for d, _ in drawings])
    answers = read(model, meta, pictures)
    share = float(np.mean(answers == truth))
    per_digit = {d: float(np.mean(answers[truth == d] == d)) for d in range(10)}
    print(f"\nread right: {share:.1%} of {len(truth)} drawings; per digit "
          + ", ".join(f"{d}: {s:.0%}" for d, s in per_digit.items()))
    assert share >= TARGET
    assert min(per_digit.values()) >= 0.5  # no digit is mostly misread


def test_the_vertical_one_of_the_issue_is_read_as_one(digits_model):
    model, meta = digits_model
    picture = features.digit_drawing_steps(vertical_one())[-1].image
    p = torch.softmax(model(features.normalise(picture[None], meta)), dim=1)[0].detach()
    assert int(p.argmax()) == 1 and float(p[1]) > 0.9


def test_the_pictures_look_like_the_data(pictures):
    stored = data._digits_all()[0][:, 0].numpy()
    assert pictures.shape[1:] == stored.shape[1:] == (28, 28) and pictures.dtype == stored.dtype == np.uint8
    # the data's frame: a 4-pixel black border around the 20x20 digit, which is as tall as the box
    for frame in (stored, pictures):
        assert frame[:, :4].max() == frame[:, 24:].max() == frame[:, :, :4].max() == frame[:, :, 24:].max() == 0
    assert (pictures[:, 4].max(axis=1) > 0).all() and (pictures[:, 23].max(axis=1) > 0).all()
    # the data's range: black background, strokes near white
    assert pictures.min() == 0 and pictures.max(axis=(1, 2)).min() >= np.percentile(stored.max(axis=(1, 2)), 0.5)
    # the data's stroke weight: as much ink in the frame
    ink, stored_ink = pictures.mean(axis=(1, 2)) / 255, stored.mean(axis=(1, 2)) / 255
    low, high = np.percentile(stored_ink, [1, 99])
    assert low <= ink.min() and ink.max() <= high
    assert abs(ink.mean() - stored_ink.mean()) < 0.02
    # the centre of mass near the frame's centre, as the data's
    centres = np.array([features.centre_of_mass(p) for p in pictures])
    stored_centres = np.array([features.centre_of_mass(p) for p in stored])
    assert np.abs(centres - 13.5).max() <= 3 and np.abs(stored_centres - 13.5).max() <= 3
    assert np.abs(centres.mean(axis=0) - stored_centres.mean(axis=0)).max() < 0.75


def test_the_steps_are_shown_in_order():
    steps = features.digit_drawing_steps(vertical_one())
    assert [s.title for s in steps] == ["Your drawing", "Cut out and scaled", "Stroke weight like the data",
                                        "8×8 cells, contrast stretched", "In the data's 28×28 frame"]
    assert [s.image.shape for s in steps] == [(280, 280), (64, 64), (64, 64), (8, 8), (28, 28)]
    assert all(s.image.dtype == np.uint8 and s.note for s in steps)
    fitted, weighed, cells = (s.image / 255 for s in steps[1:4])
    assert features.ink_box(fitted)[:2] == (0, 64)  # as tall as the frame
    assert features.ink_box(fitted)[3] - features.ink_box(fitted)[2] < 12  # a "1" stays narrow
    assert (fitted > 0.5).mean() < 0.15 and weighed.mean() == pytest.approx(features.DIGITS_INK_SHARE, abs=0.02)
    assert cells.max() == 1
    by_mass = features.digit_drawing_steps(vertical_one(), by_mass=True)
    assert by_mass[-1].title == "Centred by mass"
    assert np.allclose(features.centre_of_mass(by_mass[-1].image), 13.5, atol=0.5)
    assert features.digit_drawing_steps(np.zeros((280, 280), np.float32)) == []


def test_stroke_weight_thickens_thin_and_thins_heavy_strokes():
    thin = np.zeros((64, 64), np.float32)
    thin[:, 30:33] = 1
    img = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(img).ellipse((10, 0, 54, 63), outline=255, width=14)  # a fat "0"
    heavy = np.asarray(img, dtype=np.float32) / 255
    assert (heavy > 0.5).mean() > 0.4
    for ink in (thin, heavy):
        out = features.match_stroke_weight(ink, 0.3)
        assert out.shape == (64, 64) and out.mean() == pytest.approx(0.3, abs=0.03)
        assert features.ink_box(out)[:2] == (0, 64)
    assert features.match_stroke_weight(np.zeros((10, 10)), 0.3).shape == (64, 64)


def test_centre_by_mass_moves_the_ink_and_keeps_it():
    picture = np.zeros((28, 28), np.uint8)
    picture[2:8, 20:27] = 200
    out = features.centre_by_mass(picture)
    assert out.sum() == picture.sum() and np.allclose(features.centre_of_mass(out), 13.5, atol=0.5)
