"""Every generated quiz answer against the real PyTorch layers, plus answer parsing.

The torch side is built here from each question's plain `spec`, independently of vizcore.shapes,
and run on the meta device (shapes only, no arithmetic), so thousands of questions take seconds.
"""
import math
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from vizcore import quiz, shapes

META = torch.device("meta")
QUESTIONS_PER_LEVEL = 1500  # x 3 levels = 4500 questions, all kinds


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny convolutions: with several threads on a loaded 2-core machine torch spends ~20x
    longer synchronising threads than computing (measured 9 ms vs 0.4 ms per question)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tf_same_pads(n: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow's documented "same" rule: ceil(n / s) outputs, extra zero at the end."""
    out = math.ceil(n / s)
    total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def to_layout(shape: tuple, layout: str) -> tuple:
    n, c, h, w = shape
    return (n, c, h, w) if layout == "NCHW" else (n, h, w, c)


def torch_conv_shape(spec) -> tuple:
    n, c, h, w = spec["input"]
    kh, kw = spec["kernel"]
    s, d, p = spec["stride"], spec["dilation"], spec["padding"]
    x = torch.empty(n, c, h, w, device=META)
    if p == "same" and s > 1:  # Keras' rule, which PyTorch has no argument for
        (top, bottom), (left, right) = tf_same_pads(h, kh, s, d), tf_same_pads(w, kw, s, d)
        x = F.pad(x, (left, right, top, bottom))
        p = 0
    conv = nn.Conv2d(c, spec["out_channels"], (kh, kw), s, p, d, device=META)
    return to_layout(tuple(conv(x).shape), spec["layout"])


def torch_pool_shape(spec) -> tuple:
    n, c, h, w = spec["input"]
    k, s, p = spec["kernel"], spec["stride"], spec["padding"]
    x = torch.empty(n, c, h, w, device=META)
    if p == "same":  # Keras max pooling "same": padding that never wins
        (top, bottom), (left, right) = tf_same_pads(h, k, s), tf_same_pads(w, k, s)
        x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
        p = 0
    elif p == "valid":
        p = 0
    pool = F.max_pool2d if spec["mode"] == "max" else F.avg_pool2d
    return to_layout(tuple(pool(x, k, s, p, ceil_mode=spec["ceil_mode"]).shape), spec["layout"])


def torch_module(layer, channels: int) -> tuple[nn.Module, int]:
    """A torch module for one vizcore.shapes layer description, built here from its fields."""
    if isinstance(layer, shapes.Conv2d):
        padding = layer.padding
        module = nn.Conv2d(channels, layer.out_channels, layer.kernel_size, layer.stride, padding,
                           layer.dilation, layer.groups, layer.bias, device=META)
        return module, layer.out_channels
    if isinstance(layer, shapes.MaxPool2d):
        return nn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding, ceil_mode=layer.ceil_mode), channels
    if isinstance(layer, shapes.ReLU):
        return nn.Identity(), channels  # element-wise: same shape (ReLU on meta imports torch._refs, slow)
    if isinstance(layer, shapes.Flatten):
        return nn.Flatten(), channels
    raise AssertionError(f"unexpected layer {layer!r}")


def run_stack(input_shape, layers) -> torch.Size:
    c, h, w = input_shape
    x = torch.empty(2, c, h, w, device=META)
    for layer in layers:
        module, c = torch_module(layer, c)
        x = module(x)
    return x.shape


def torch_receptive_field(layers) -> int:
    """Width of the input region one central output unit depends on (autograd, 1D)."""
    kernels = [k for _, k, _, _ in layers]
    # No padding anywhere, so every output's field lies inside the input: this length (an upper
    # bound of any field) leaves at least one output unit.
    length = sum(d * (k - 1) + 1 for _, k, _, d in layers) * math.prod(s for _, _, s, _ in layers) + 1
    x = torch.ones(1, 1, length, requires_grad=True)
    y = x
    for kind, k, s, d in layers:
        if kind == "conv":
            conv = nn.Conv1d(1, 1, k, stride=s, dilation=d, bias=False)
            nn.init.ones_(conv.weight)
            y = conv(y)
        else:
            y = F.avg_pool1d(y, k, s)  # same window as max pooling, but every input counts
    y[0, 0, y.shape[-1] // 2].backward()
    support = torch.nonzero(x.grad[0, 0]).flatten()
    span = int(support.max() - support.min() + 1)
    assert len(support) == span, f"the field of {layers} has gaps"
    assert len(kernels) == len(layers)
    return span


def torch_answer(q: quiz.Question):
    spec = q.spec
    if q.kind == "conv_shape":
        return torch_conv_shape(spec)
    if q.kind == "conv_params":
        conv = nn.Conv2d(spec["in_channels"], spec["out_channels"], spec["kernel"], bias=spec["bias"],
                         groups=spec["groups"], device=META)
        return sum(p.numel() for p in conv.parameters())
    if q.kind == "dense_params":
        if spec["input_map"]:
            h, w, c = spec["input_map"]
            assert nn.Flatten()(torch.empty(1, c, h, w, device=META)).shape[1] == spec["in_features"]
        dense = nn.Linear(spec["in_features"], spec["units"], bias=spec["bias"], device=META)
        return sum(p.numel() for p in dense.parameters())
    if q.kind == "same_padding":
        n, k, d = spec["n"], spec["kernel"], spec["dilation"]
        conv = nn.Conv1d(1, 1, k, padding=q.answer, dilation=d, device=META)
        assert conv(torch.empty(1, 1, n, device=META)).shape[-1] == n
        # the smallest padding that keeps the size: one less shrinks the output
        if q.answer > 0:
            smaller = nn.Conv1d(1, 1, k, padding=q.answer - 1, dilation=d, device=META)
            assert smaller(torch.empty(1, 1, n, device=META)).shape[-1] < n
        return q.answer
    if q.kind == "infer_stride_padding":
        stride, padding = {"padding": (spec["stride"], q.answer), "stride": (q.answer, spec["padding"]),
                           "both": q.answer}[spec["ask"]]
        conv = nn.Conv2d(spec["in_channels"], spec["out_channels"], spec["kernel"], stride, padding, device=META)
        out = conv(torch.empty(1, spec["in_channels"], spec["n"], spec["n"], device=META)).shape
        assert out[1:] == (spec["out_channels"], spec["out"], spec["out"])
        # Unique among the allowed values (paddings below the kernel size, any stride).
        matches = [(s, p) for s in range(1, spec["n"] + 1) for p in range(spec["kernel"])
                   if spec["n"] + 2 * p >= spec["kernel"]
                   and (spec["n"] + 2 * p - spec["kernel"]) // s + 1 == spec["out"]
                   and (spec["ask"] != "padding" or s == spec["stride"])
                   and (spec["ask"] != "stride" or p == spec["padding"])]
        assert len(matches) == 1, matches
        return q.answer
    if q.kind == "receptive_field":
        return torch_receptive_field(spec["layers"])
    if q.kind == "pool_shape":
        return torch_pool_shape(spec)
    if q.kind == "flatten_size":
        return run_stack(spec["input"], spec["layers"])[1]
    if q.kind == "valid_config":
        try:
            run_stack(spec["input"], spec["layers"])
        except (RuntimeError, ValueError):
            return False
        return True
    raise AssertionError(q.kind)


@pytest.mark.parametrize("difficulty", quiz.DIFFICULTIES)
def test_generated_answers_equal_torch(difficulty):
    kinds_seen = set()
    for index in range(QUESTIONS_PER_LEVEL):
        q = quiz.make_question(f"torch-check-{difficulty}", index, difficulty)
        kinds_seen.add(q.kind)
        assert torch_answer(q) == q.answer, (q.prompt, q.spec)
        assert q.answer_text in q.solution
        feedback = quiz.check_answer(q, q.answer_text)
        assert feedback.correct is True, (q.answer_text, feedback)
    assert kinds_seen == set(quiz.KINDS)


def test_every_kind_at_every_level_is_answered_by_torch():
    for difficulty in quiz.DIFFICULTIES:
        for kind in quiz.KINDS:
            for index in range(15):
                q = quiz.make_question("per-kind", index, difficulty, [kind])
                assert q.kind == kind and q.difficulty == difficulty
                assert torch_answer(q) == q.answer


def test_valid_config_questions_have_both_answers():
    answers = {quiz.make_question("mix", i, "medium", ["valid_config"]).answer for i in range(60)}
    assert answers == {True, False}


def test_same_code_same_questions_other_code_other_questions():
    first = quiz.make_quiz("Lecture 7", "medium", 12)
    again = quiz.make_quiz("  lecture   7 ", "medium", 12)
    assert [q.prompt for q in first] == [q.prompt for q in again]
    other = quiz.make_quiz("Lecture 8", "medium", 12)
    assert [q.prompt for q in first] != [q.prompt for q in other]
    harder = quiz.make_quiz("Lecture 7", "hard", 12)
    assert [q.prompt for q in first] != [q.prompt for q in harder]


def test_bad_codes_and_settings_are_refused():
    with pytest.raises(ValueError, match="empty"):
        quiz.make_question("   ", 0)
    with pytest.raises(ValueError, match="difficulty"):
        quiz.make_question("A", 0, "expert")
    with pytest.raises(ValueError, match="unknown"):
        quiz.make_question("A", 0, "easy", ["nonsense"])


def test_solutions_and_hints_are_written_out():
    for q in quiz.make_quiz("words", "hard", 40):
        assert q.hint and q.prompt and q.answer_format
        assert "**Answer" in q.solution
        assert quiz.format_answer(q.answer) in q.solution


# ---------------------------------------------------------------------------------------------
# Answer parsing
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["(5, 4, 26, 26)", "5x4x26x26", "5×4×26×26", "5,4,26,26", "[5, 4, 26, 26]",
                                  "5 4 26 26", " ( 5 ,4, 26,26 ) ", "5X4X26X26"])
def test_shape_notations(text):
    assert quiz.parse_answer(text) == (5, 4, 26, 26)


@pytest.mark.parametrize("text, value", [("280", 280), (" 6288 ", 6288), ("16*8*7*7 + 16", 6288),
                                         ("(5*5*3+1)*6", 456), ("12·12·64", 9216), ("-3", -3),
                                         ("yes", True), ("No", False), ("valid", True), ("invalid", False)])
def test_numbers_calculations_and_yes_no(text, value):
    assert quiz.parse_answer(text) == value


@pytest.mark.parametrize("text", ["", "abc", "5 apples", "3.5", "1/0", "__import__('os')", "2**999"])
def test_unreadable_answers_raise(text):
    with pytest.raises(quiz.AnswerFormatError):
        quiz.parse_answer(text)


def _question(answer, kind="conv_shape", layout="NCHW"):
    return quiz.Question(kind, "easy", "?", answer, "hint", f"**Answer: {answer}**", "a shape", {"layout": layout})


def test_check_answer_feedback():
    q = _question((5, 4, 26, 26))
    assert quiz.check_answer(q, "5x4x26x26").correct is True
    missing_batch = quiz.check_answer(q, "(4, 26, 26)")
    assert missing_batch.correct is False and "batch" in missing_batch.message
    order = quiz.check_answer(q, "(5, 26, 26, 4)")
    assert order.correct is False and "order" in order.message
    assert quiz.check_answer(q, "(5, 4, 24, 24)").correct is False
    assert quiz.check_answer(q, "280").correct is None  # wrong form: not counted as wrong
    assert quiz.check_answer(q, "what?").correct is None

    number = _question(6288, kind="conv_params")
    assert quiz.check_answer(number, "6,288").correct is True
    assert quiz.check_answer(number, "6288").correct is True
    assert quiz.check_answer(number, "16*8*7*7+16").correct is True
    assert quiz.check_answer(number, "6289").correct is False
    assert quiz.check_answer(number, "yes").correct is None

    field = _question(7, kind="receptive_field")
    assert quiz.check_answer(field, "7x7").correct is True
    assert quiz.check_answer(field, "5x5").correct is False

    valid = _question(False, kind="valid_config")
    assert quiz.check_answer(valid, "no").correct is True
    assert quiz.check_answer(valid, "yes").correct is False
    assert quiz.check_answer(valid, "12").correct is None


# ---------------------------------------------------------------------------------------------
# "Check my own question" against torch
# ---------------------------------------------------------------------------------------------

def test_lecture_questions():
    # Lecture 7: a batch of 5 RGB 30x30 images, four 5x5 kernels, no padding, stride 1.
    own = quiz.check_own_question("Conv2d", (5, 3, 30, 30), filters=4, kernel_size=5)
    assert own.output_shape == (5, 4, 26, 26)
    # ... with stride 3 and padding: Keras "same" gives ceil(30 / 3) = 10.
    own = quiz.check_own_question("Conv2d", (5, 30, 30, 3), "NHWC", filters=4, kernel_size=5, stride=3,
                                  padding="same")
    assert own.output_shape == (5, 10, 10, 4)
    # Ten 3x3 filters on RGB 100x100 images.
    assert quiz.check_own_question("Conv2d", (1, 3, 100, 100), filters=10, kernel_size=3).params == 280
    # 8 channels 32x32 -> 16 channels 32x32 with 7x7: stride 1, padding 3, 16*8*7*7 + 16 weights.
    own = quiz.check_own_question("Conv2d", (1, 8, 32, 32), filters=16, kernel_size=7, padding=3)
    assert own.output_shape == (1, 16, 32, 32) and own.params == 6288
    # Keras Conv2D(6, 5) on 28x28x3: 456 parameters; Flatten of 12x12x64: 9216.
    assert quiz.check_own_question("Conv2d", (1, 28, 28, 3), "NHWC", filters=6, kernel_size=5).params == 456
    assert quiz.check_own_question("Flatten", (1, 12, 12, 64), "NHWC").output_shape == (1, 9216)
    assert quiz.check_own_question("Linear", (1, 784), units=500).params == 392500
    assert quiz.check_own_question("MaxPool2d", (1, 1, 4, 4), kernel_size=2).output_shape == (1, 1, 2, 2)


@settings(max_examples=150, deadline=None)
@given(
    layer=st.sampled_from(["Conv2d", "MaxPool2d", "AvgPool2d"]),
    n=st.integers(1, 4), c=st.sampled_from([1, 2, 3, 4, 6]), h=st.integers(1, 40), w=st.integers(1, 40),
    k=st.integers(1, 6), s=st.integers(1, 4), p=st.integers(0, 3), d=st.integers(1, 3),
    filters=st.sampled_from([1, 2, 4, 6]), groups=st.sampled_from([1, 2]), bias=st.booleans(),
    ceil_mode=st.booleans(), layout=st.sampled_from(["NCHW", "NHWC"]),
)
def test_own_question_equals_torch(layer, n, c, h, w, k, s, p, d, filters, groups, bias, ceil_mode, layout):
    x = torch.empty(n, c, h, w, device=META)
    typed = to_layout((n, c, h, w), layout)
    try:
        if layer == "Conv2d":
            module = nn.Conv2d(c, filters, k, s, p, d, groups, bias, device=META)
            expected_params = sum(t.numel() for t in module.parameters())
        elif layer == "MaxPool2d":
            module, expected_params = nn.MaxPool2d(k, s, p, ceil_mode=ceil_mode), 0
        else:
            module, expected_params = nn.AvgPool2d(k, s, p, ceil_mode=ceil_mode), 0
        expected = to_layout(tuple(module(x).shape), layout)
    except (RuntimeError, ValueError):
        expected = None
    try:
        own = quiz.check_own_question(layer, typed, layout, filters=filters, kernel_size=k, stride=s, padding=p,
                                      dilation=d, bias=bias, groups=groups, ceil_mode=ceil_mode)
    except shapes.ShapeError as err:
        assert expected is None, f"torch gives {expected}, but: {err}"
        assert str(err)
        return
    assert expected is not None, f"torch refuses, quiz says {own.output_shape}"
    assert own.output_shape == expected
    assert own.params == expected_params
    assert quiz.format_answer(own.output_shape) in own.solution


def test_own_question_refuses_bad_input_clearly():
    with pytest.raises(shapes.ShapeError, match="Flatten first"):
        quiz.check_own_question("Linear", (1, 3, 8, 8), units=4)
    with pytest.raises(shapes.ShapeError, match="batch included"):
        quiz.check_own_question("Conv2d", (3, 8, 8), filters=4)
    with pytest.raises(shapes.ShapeError, match="stride"):
        quiz.check_own_question("Conv2d", (1, 3, 8, 8), filters=4, stride=0)
    with pytest.raises(quiz.AnswerFormatError):
        quiz.parse_shape("(1, 0, 3)")
    assert quiz.parse_shape("5x3x30x30") == (5, 3, 30, 30)


# --- counts and their nouns (issue 25: "after 1 stacked 5×5 convolution layers") ----------------

# "1" (not part of 1×1, 0.1 or 21) followed within three words by a plural noun
ONE_WITH_PLURAL = re.compile(r"(?<![\d.,×·])1(?:\*\*)? (?:(?:\*\*)?[\w×-]+(?:\*\*)? ){0,3}?"
                             r"(filters|channels|units|layers|images|inputs|numbers|convolutions|groups|weights|biases)\b")


def test_the_grammar_check_catches_the_issues_sentence():
    assert ONE_WITH_PLURAL.search("after **1** stacked **5×5** convolution layers (stride 1)")
    assert ONE_WITH_PLURAL.search("with **1** filters of size **3×3**")
    assert not ONE_WITH_PLURAL.search("after **one** **5×5** convolution layer; 1×1 filters; 21 channels")


def test_counts_of_one_take_the_singular_in_every_prompt_and_solution():
    texts = []
    for level in ("easy", "medium", "hard"):
        for kind in quiz.KINDS:
            for index in range(30):
                q = quiz.make_question("GRAMMAR", index, level, [kind])
                texts += [q.prompt, q.solution]
    # the Shape calculator's "ask the hall" and "check my own question" take any count, 1 included
    for layout in quiz.LAYOUTS:
        texts += [quiz.conv_shape_question(1, 1, 8, 8, 1, (3, 3), 1, 0, layout=layout).prompt,
                  quiz.pool_shape_question(1, 1, 8, 8, "max", 2, 2, layout=layout).solution]
    texts += [quiz.check_own_question("GlobalAvgPool", (1, 1, 8, 8)).solution,
              quiz.check_own_question("Conv2d", (1, 1, 8, 8), filters=1).solution,
              quiz.check_own_question("Linear", (1, 4), units=1).solution]
    wrong = [m.group(0) for t in texts for m in [ONE_WITH_PLURAL.search(t)] if m]
    assert not wrong, wrong
