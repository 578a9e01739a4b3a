"""Generated practice questions on shapes, parameters and receptive fields.

Questions are made from a random generator seeded by a *quiz code*: the same code, difficulty
and question number give the same question on every machine, so a lecturer can hand out a code
and the whole class works on identical questions. Every answer is computed with
:mod:`vizcore.shapes` (the tests run the real PyTorch layers on thousands of generated questions).

Kinds of questions (see ``KINDS``): output shape of a convolution (with batch and channels, NCHW or
NHWC), parameters of convolution and dense layers, padding for "same", stride or padding inferred
from shapes, receptive field of a stack (incl. dilated/causal 1D), pooling output shape, flatten
size, and "is this configuration valid?".
"""
from __future__ import annotations

import ast
import operator
import random
import re
from dataclasses import dataclass, field

from vizcore import shapes

DIFFICULTIES = ("easy", "medium", "hard")
KINDS = {
    "conv_shape": "Convolution output shape",
    "conv_params": "Parameters of a convolution",
    "dense_params": "Parameters of a dense layer",
    "same_padding": "Padding for 'same'",
    "infer_stride_padding": "Stride or padding from shapes",
    "receptive_field": "Receptive field",
    "pool_shape": "Pooling output shape",
    "flatten_size": "Flatten size",
    "valid_config": "Is this configuration valid?",
}
LAYOUTS = {
    "NCHW": "NCHW: batch, channels, height, width — PyTorch",
    "NHWC": "NHWC: batch, height, width, channels — TensorFlow/Keras",
}

Answer = int | bool | tuple[int, ...]


@dataclass(frozen=True)
class Question:
    """One generated question.

    ``prompt``, ``hint`` and ``solution`` are Markdown; ``solution`` is the worked solution with
    the numbers substituted. ``spec`` holds the configuration as plain values (and
    :mod:`vizcore.shapes` layers) so tests can rebuild it with real torch layers.
    """

    kind: str
    difficulty: str
    prompt: str
    answer: Answer
    hint: str
    solution: str
    answer_format: str
    spec: dict = field(default_factory=dict, compare=False)

    @property
    def answer_text(self) -> str:
        return format_answer(self.answer)


class AnswerFormatError(ValueError):
    """A typed answer that is not a number, a shape or yes/no."""


@dataclass(frozen=True)
class Feedback:
    """Result of checking a typed answer: ``correct`` is None when the answer could not be read
    (or has the wrong form), so it should not count as a wrong attempt."""

    correct: bool | None
    message: str


# ----------------------------------------------------------------------------------------------
# Quiz codes
# ----------------------------------------------------------------------------------------------

def normalize_code(code: str) -> str:
    """Quiz codes ignore case and surrounding spaces: "cnn 7 " and "CNN 7" are the same quiz."""
    text = " ".join(str(code).split()).upper()
    if not text:
        raise ValueError("The quiz code is empty: type any word or number, e.g. LECTURE7.")
    if len(text) > 40:
        raise ValueError("The quiz code is too long: at most 40 characters.")
    return text


def make_question(code: str, index: int, difficulty: str = "easy", kinds=None) -> Question:
    """Question number ``index`` (0, 1, 2, ...) of the quiz ``code`` at ``difficulty``.

    ``kinds`` restricts the kinds of questions (keys of ``KINDS``); default: all.
    """
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {difficulty!r}.")
    kinds = list(KINDS) if not kinds else list(kinds)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown question kinds: {unknown}")
    # String seeds are hashed with SHA-512 by `random`: the same on every machine and run.
    rng = random.Random(f"{normalize_code(code)}|{difficulty}|{int(index)}|{','.join(sorted(kinds))}")
    kind = rng.choice(kinds)
    return _GENERATORS[kind](rng, difficulty)


def make_quiz(code: str, difficulty: str = "easy", count: int = 10, kinds=None) -> list[Question]:
    """The first ``count`` questions of a quiz."""
    return [make_question(code, i, difficulty, kinds) for i in range(count)]


# ----------------------------------------------------------------------------------------------
# Answers: reading what a student types, comparing, formatting
# ----------------------------------------------------------------------------------------------

_YES = {"yes", "y", "valid", "true", "ok", "works", "ja", "oui"}
_NO = {"no", "n", "invalid", "false", "not valid", "fails", "nein", "non"}
_ARITHMETIC = re.compile(r"^[\d\s+\-*/()·]+$")
_THOUSANDS = re.compile(r"^\d{1,3}([,' _]\d{3})+$")
MAX_ANSWER = 200  # characters of a typed answer
MAX_OPERATORS = 40  # + − × ÷ in one calculation (the tree is evaluated recursively)
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.FloorDiv: operator.floordiv, ast.Div: operator.truediv}


def _evaluate(node):
    """Whole-number arithmetic only (+ − × ÷ and brackets), nothing else is evaluated."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, (ast.Div, ast.FloorDiv)) and right == 0:
            raise AnswerFormatError("Division by zero in your answer.")
        if abs(left) > 10**15 or abs(right) > 10**15:
            raise AnswerFormatError("That number is too large.")
        return _OPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    raise AnswerFormatError("Only numbers and + − * / can be used in a calculation.")


def parse_answer(text: str) -> Answer:
    """Read a typed answer.

    Accepts a whole number ("280", "6,288" is read by :func:`check_answer` as 6288 when one
    number is expected), a calculation ("16*8*7*7 + 16"), a shape in any common notation
    ("(5, 4, 26, 26)", "5x4x26x26", "5×4×26×26", "5,4,26,26", "[5 4 26 26]") or yes/no.
    """
    raw = str(text).strip()
    if not raw:
        raise AnswerFormatError("Type an answer first.")
    # Sizes before any work: every answer here fits in 200 characters and 15 digits per number;
    # a 1,000-term sum would exhaust Python's recursion, a 5,000-digit number its int parser.
    if len(raw) > MAX_ANSWER:
        raise AnswerFormatError(f"That answer is {len(raw)} characters long; answers here fit in {MAX_ANSWER}.")
    if re.search(r"\d{16}", raw):
        raise AnswerFormatError("That number is too large: no answer here has more than 15 digits.")
    if len(re.findall(r"[+\-*/·]", raw)) > MAX_OPERATORS:
        raise AnswerFormatError(f"That calculation is too long: use at most {MAX_OPERATORS} operations.")
    lowered = raw.lower().rstrip(".!")
    if lowered in _YES:
        return True
    if lowered in _NO:
        return False
    inner = raw
    while len(inner) >= 2 and inner[0] + inner[-1] in ("()", "[]", "{}"):
        inner = inner[1:-1].strip()
    if _ARITHMETIC.match(inner) and re.search(r"\d\s*[+\-*/·]\s*[\d(]", inner):
        try:
            tree = ast.parse(inner.replace("·", "*"), mode="eval")
        except SyntaxError:
            raise AnswerFormatError(f"Could not read the calculation {raw!r}.") from None
        value = _evaluate(tree)
        if isinstance(value, float):
            if not value.is_integer():
                raise AnswerFormatError(f"{raw} = {value:g} is not a whole number.")
            value = int(value)
        return value
    parts = [p for p in re.split(r"[\s,;x×X]+", inner) if p]
    if not parts:
        raise AnswerFormatError(f"Could not read {raw!r}: type a number like 280 or a shape like (5, 4, 26, 26).")
    numbers = []
    for part in parts:
        if not re.fullmatch(r"[+-]?\d+", part):
            raise AnswerFormatError(
                f"Could not read {part!r} in {raw!r}: type a number like 280, a shape like "
                "(5, 4, 26, 26) or yes/no."
            )
        numbers.append(int(part))
    return numbers[0] if len(numbers) == 1 else tuple(numbers)


def format_answer(answer: Answer) -> str:
    if isinstance(answer, bool):
        return "yes" if answer else "no"
    if isinstance(answer, tuple):
        return "(" + ", ".join(str(v) for v in answer) + ")"
    return f"{answer:,}"


def check_answer(question: Question, text: str) -> Feedback:
    """Compare a typed answer with the question's answer, with feedback a student can act on."""
    expected = question.answer
    try:
        given = parse_answer(text)
    except AnswerFormatError as err:
        return Feedback(None, f"{err} Expected: {question.answer_format}.")
    if isinstance(expected, bool):
        if not isinstance(given, bool):
            return Feedback(None, "Answer yes or no.")
        return Feedback(given == expected, "Correct!" if given == expected else "Not quite.")
    if isinstance(expected, tuple):
        if not isinstance(given, tuple):
            return Feedback(None, f"This question wants a whole shape: {question.answer_format}.")
        if given == expected:
            return Feedback(True, "Correct!")
        if given == expected[1:]:
            return Feedback(False, "Not quite: the batch dimension is missing — it comes first.")
        if sorted(given) == sorted(expected):
            return Feedback(False, "Right numbers, wrong order: check the layout asked for "
                                   f"({question.spec.get('layout', 'as in the question')}).")
        return Feedback(False, "Not quite.")
    # One number expected.
    if isinstance(given, bool):
        return Feedback(None, f"This question wants {question.answer_format}.")
    if isinstance(given, tuple):
        if _THOUSANDS.match(str(text).strip()):
            given = int(re.sub(r"[,' _]", "", str(text).strip()))
        elif len(set(given)) == 1 and question.kind == "receptive_field":
            given = given[0]  # "7x7" for a 7-pixel receptive field
        else:
            return Feedback(None, f"This question wants {question.answer_format}, not a shape.")
    if given == expected:
        return Feedback(True, "Correct!")
    return Feedback(False, "Not quite.")


def _size_mistakes(n: int, k: int, stride: int, padding, dilation: int = 1) -> list[tuple[int, str]]:
    """Sizes that the common slips give for one side, with the slip in the lecture's words."""
    if isinstance(padding, str):
        return []
    p, span = int(padding), dilation * (k - 1) + 1
    out = []
    if p:
        out.append(((n - span) // stride + 1, "forgot the padding"))
        out.append(((n + p - span) // stride + 1, "padded one side only (p, not 2p)"))
    out.append(((n + 2 * p - span) // stride, "no +1 after the division"))
    if stride > 1:
        out.append((n + 2 * p - span + 1, "forgot the stride"))
        out.append((-(-(n + 2 * p - span) // stride) + 1, "rounded up instead of down"))
    if dilation > 1:
        out.append(((n + 2 * p - k) // stride + 1, "forgot the dilation"))
    return out


def likely_mistake(question: Question, text: str) -> str | None:
    """The slip a wrong answer most likely reveals, in the lecture's words ("forgot the padding",
    "no +1 after the division", "forgot the bias"…), or None when no common slip gives it; when
    two slips give the same number, both ("… or …").

    Each slip is recomputed from the question's own numbers: an answer is put down to a slip only
    when that slip gives exactly this answer.
    """
    try:
        given = parse_answer(text)
    except AnswerFormatError:
        return None
    if given == question.answer:
        return None
    spec, kind = question.spec, question.kind
    if kind in ("conv_shape", "pool_shape") and isinstance(given, tuple) and isinstance(question.answer, tuple):
        batch, channels, h, w = spec["input"]
        kernel = spec["kernel"] if isinstance(spec["kernel"], tuple) else (spec["kernel"], spec["kernel"])
        out_channels = spec.get("out_channels", channels)
        layout = spec["layout"]
        if sorted(given) == sorted(question.answer):
            return "the right numbers in the wrong order (check NCHW against NHWC)"
        if len(given) == 3 and given == question.answer[1:]:
            return "left out the batch dimension"
        right = _from_layout(question.answer, layout)
        if kind == "conv_shape" and len(given) == 4 and _from_layout(given, layout)[1] == channels != out_channels:
            if _from_layout(given, layout)[2:] == right[2:]:
                return "kept the input's channels: a convolution gives one channel per filter"
        dilation = spec.get("dilation", 1)
        slips = [why for (mh, why), (mw, _) in zip(_size_mistakes(h, kernel[0], spec["stride"], spec["padding"], dilation),
                                                   _size_mistakes(w, kernel[1], spec["stride"], spec["padding"], dilation))
                 # the same slip on both sides, as a student makes it
                 if (mh, mw) != tuple(right[2:]) and len(given) == 4
                 and _from_layout(given, layout) == (batch, out_channels, mh, mw)]
        return " or ".join(dict.fromkeys(slips)) or None
    if kind == "conv_params" and isinstance(given, int):
        cin, cout, (kh, kw) = spec["in_channels"], spec["out_channels"], spec["kernel"]
        groups, bias = spec["groups"], spec["bias"]
        weights = (cin // groups) * kh * kw * cout
        slips = [(weights, "forgot the bias (one per filter)") if bias else (weights + cout, "added biases the layer does not have"),
                 (kh * kw * cout + (cout if bias else 0), "forgot the input channels (each filter has a slice per channel)"),
                 (cin * kh * kw * cout + (cout if bias else 0), "ignored the groups") if groups > 1 else (None, ""),
                 (kh * kw * cin + (1 if bias else 0), "counted one filter only")]
        return " or ".join(why for value, why in slips if value == given) or None
    if kind == "dense_params" and isinstance(given, int):
        inputs, units, bias = spec["in_features"], spec["units"], spec["bias"]
        slips = [(inputs * units, "forgot the bias (one per unit)") if bias else (inputs * units + units, "added biases the layer does not have"),
                 (inputs + units, "added instead of multiplying")]
        return " or ".join(why for value, why in slips if value == given) or None
    return None


def slip_answers(question: Question) -> dict[str, str]:
    """For a conv_shape or pool_shape question: each wrong answer a common slip gives (as
    :func:`format_answer` writes it) and the slip, named by :func:`likely_mistake` itself; empty
    for other kinds and for 'same'/'valid' padding."""
    spec = question.spec
    if question.kind not in ("conv_shape", "pool_shape") or isinstance(spec["padding"], str):
        return {}
    batch, channels, h, w = spec["input"]
    kh, kw = spec["kernel"] if isinstance(spec["kernel"], tuple) else (spec["kernel"],) * 2
    out_channels, dilation = spec.get("out_channels", channels), spec.get("dilation", 1)
    slips = {}
    for (mh, _), (mw, _) in zip(_size_mistakes(h, kh, spec["stride"], spec["padding"], dilation),
                                _size_mistakes(w, kw, spec["stride"], spec["padding"], dilation)):
        text = format_answer(_in_layout(batch, out_channels, mh, mw, spec["layout"]))
        why = likely_mistake(question, text)
        if why and min(mh, mw) >= 1:
            slips[text] = why
    return slips


def _from_layout(shape: tuple, layout: str) -> tuple:
    """(N, C, H, W) from a shape written in ``layout``."""
    if layout == "NHWC" and len(shape) == 4:
        n, h, w, c = shape
        return n, c, h, w
    return tuple(shape)


# ----------------------------------------------------------------------------------------------
# Text helpers
# ----------------------------------------------------------------------------------------------

def _shape(values) -> str:
    return "(" + ", ".join(str(v) for v in values) + ")"


def _times(*values) -> str:
    return "×".join(str(v) for v in values)


def _hwc(shape) -> str:
    """A (C, H, W) shape as the lectures write it: H×W×C."""
    channels, *size = shape
    return _times(*size, channels)


def _s(count: int) -> str:
    """The plural ending for ``count`` things: "1 channel", "0 channels", "3 channels"."""
    return "" if count == 1 else "s"


def _images(channels: int) -> str:
    return {1: "grayscale", 3: "RGB"}.get(channels, f"{channels}-channel")


def _inputs(channels: int, size: int) -> str:
    """e.g. "RGB images of 100×100 pixels (3 channels)" or "feature maps of 32×32 with 64 channels"."""
    if channels in (1, 3):
        return f"{_images(channels)} images of {size}×{size} pixels (**{channels}** channel{_s(channels)})"
    return f"feature maps of {size}×{size} with **{channels}** channels"


def _shape_format(layout: str) -> str:
    """What a shape answer looks like: "a shape like (N, C, H, W)"."""
    return f"a shape like {_shape(layout)}"


def _in_layout(n: int, c: int, h: int, w: int, layout: str) -> tuple[int, int, int, int]:
    return (n, c, h, w) if layout == "NCHW" else (n, h, w, c)


def _padding_words(padding) -> str:
    if padding == "same":
        return "'same' padding"
    if padding in ("valid", 0):
        return "no padding ('valid')"
    return f"padding {padding}"


def _size_lines(h, w, kh, kw, stride, padding, dilation=1, ceil_mode=False) -> list[str]:
    """Worked output-size formula for height and width (one line if they are equal)."""
    def formula(n, k):
        return shapes.explain_output_size(n, k, stride, padding, dilation, ceil_mode)

    if (h, kh) == (w, kw):
        return [f"- height = width: `{formula(h, kh)}`"]
    return [f"- height: `{formula(h, kh)}`", f"- width: `{formula(w, kw)}`"]


SIZE_HINT = ("Use out = floor((n + 2p − d·(k − 1) − 1) / s) + 1 for height and width "
             "(with d = 1: floor((n + 2p − k) / s) + 1).")


# ----------------------------------------------------------------------------------------------
# Generators: one per kind, each (rng, difficulty) -> Question
# ----------------------------------------------------------------------------------------------

def _conv_shape(rng: random.Random, level: str) -> Question:
    layout = "NCHW" if level == "easy" else rng.choice(list(LAYOUTS))
    batch = rng.choice([1, 2, 4, 5, 8, 10, 16, 32, 64])
    channels = rng.choice([1, 3]) if level == "easy" else rng.choice([1, 3, 3, 8, 16, 32, 64])
    filters = rng.choice([2, 4, 6, 8, 10, 16, 32, 64])
    while True:
        h = rng.randint(5, 64) if level != "easy" else rng.choice([28, 30, 32, 64, 100, 224])
        w = h if level != "hard" or rng.random() < 0.5 else rng.randint(5, 64)
        k = rng.choice({"easy": [3, 5], "medium": [1, 3, 5, 7], "hard": [2, 3, 4, 5, 7, 11]}[level])
        kh, kw = k, k
        if level == "hard" and rng.random() < 0.3:
            kw = rng.choice([1, 3, 5])
        stride = {"easy": 1, "medium": rng.choice([1, 2, 2, 3]), "hard": rng.choice([1, 2, 3, 4])}[level]
        dilation = rng.choice([2, 3]) if level == "hard" and rng.random() < 0.3 else 1
        if level == "easy":
            padding = rng.choice([0, k // 2])
        elif rng.random() < 0.35 and (layout == "NHWC" or stride == 1):
            padding = rng.choice(["same", "valid"])
        else:
            padding = rng.randint(0, max(kh, kw) // 2)
        try:
            return conv_shape_question(batch, channels, h, w, filters, (kh, kw), stride, padding, dilation, layout,
                                       level)
        except shapes.ShapeError:
            continue  # this layer cannot work: draw another


def conv_shape_question(batch: int, channels: int, h: int, w: int, filters: int, kernel: tuple[int, int],
                        stride: int, padding, dilation: int = 1, layout: str = "NCHW",
                        level: str = "easy") -> Question:
    """The conv_shape question about one given layer, in the quiz's words (the generator's and the
    Shape calculator's "ask the hall"); ShapeError when the layer cannot work."""
    kh, kw = kernel
    oh = shapes.conv_output_size(h, kh, stride, padding, dilation)
    ow = shapes.conv_output_size(w, kw, stride, padding, dilation)
    answer = _in_layout(batch, filters, oh, ow, layout)
    kernel = kh if kh == kw else (kh, kw)
    extras = f", dilation {dilation}" if dilation > 1 else ""
    prompt = (
        f"A batch of **{batch}** {_images(channels)} image{_s(batch)} of **{h}×{w}** pixels "
        f"({channels} channel{_s(channels)}) goes through a convolution layer with "
        f"**{filters}** filter{_s(filters)} of size **{_times(kh, kw)}**, stride {stride}, "
        f"{_padding_words(padding)}{extras}.\n\n"
        f"What is the shape of the output tensor in **{LAYOUTS[layout]}** order?"
    )
    if layout == "NHWC" and (isinstance(padding, str) or padding == 0):
        code = (f"tf.keras.layers.Conv2D(filters={filters}, kernel_size={kernel}, strides={stride}, "
                f"padding='{padding or 'valid'}'" + (f", dilation_rate={dilation}" if dilation > 1 else "") + ")")
    else:
        code = (f"nn.Conv2d({channels}, {filters}, kernel_size={kernel}, stride={stride}, "
                f"padding={padding!r}" + (f", dilation={dilation}" if dilation > 1 else "") + ")")
    prompt += f"\n\n`{code}`"
    input_shape = _in_layout(batch, channels, h, w, layout)
    solution = "\n".join([
        f"Input {layout} {_shape(input_shape)}.",
        *_size_lines(h, w, kh, kw, stride, padding, dilation),
        f"- channels = number of filters = {filters}; the batch stays {batch}.",
        f"\n**Answer ({layout}): {_shape(answer)}**",
    ])
    hint = SIZE_HINT + " The output has one channel per filter; the batch size does not change."
    if padding == "same":
        hint += " Keras 'same' padding gives ceil(n / s)."
    return Question("conv_shape", level, prompt, answer, hint, solution,
                    _shape_format(layout),
                    dict(input=(batch, channels, h, w), out_channels=filters, kernel=(kh, kw),
                         stride=stride, padding=padding, dilation=dilation, layout=layout))


def _conv_params(rng: random.Random, level: str) -> Question:
    channels = rng.choice([1, 3]) if level == "easy" else rng.choice([1, 3, 6, 8, 16, 32, 64, 128])
    filters = rng.choice([4, 6, 8, 10, 16, 32, 64]) if level == "easy" else rng.choice(
        [6, 10, 16, 32, 64, 96, 128, 256])
    k = rng.choice([3, 5]) if level == "easy" else rng.choice([1, 3, 5, 7, 11])
    kh, kw = k, k
    bias, groups = True, 1
    if level == "hard":
        if rng.random() < 0.3:
            kw = rng.choice([1, 3, 5])
        bias = rng.random() < 0.6
        if rng.random() < 0.4:
            groups = rng.choice([g for g in (2, 4, 8, channels) if channels % g == 0 and filters % g == 0] or [1])
    size = rng.choice([28, 32, 64, 100, 224])
    params = shapes.conv_params(channels, filters, (kh, kw), bias, groups)
    group_text = f", groups={groups}" if groups > 1 else ""
    prompt = (
        f"How many learnable parameters does a convolution layer with **{filters}** filter{_s(filters)} of size "
        f"**{_times(kh, kw)}** have on {_inputs(channels, size)}"
        f"{'' if bias else ', **without bias**'}{f', in **{groups} groups**' if groups > 1 else ''}?"
        f"\n\n`nn.Conv2d({channels}, {filters}, kernel_size={k if kh == kw else (kh, kw)}"
        f"{'' if bias else ', bias=False'}{group_text})`"
    )
    per_filter = (channels // groups) * kh * kw
    steps = [
        "The image size does not matter: the same filters slide over every position.",
        f"- weights per filter: (input channels / groups) · kh · kw = {channels // groups} · {kh} · {kw} = {per_filter}"
        if groups > 1 else f"- weights per filter: channels · kh · kw = {channels} · {kh} · {kw} = {per_filter}",
        f"- all filters: {per_filter} · {filters} = {per_filter * filters}",
        f"- biases: {filters if bias else 0}" + ("" if bias else " (bias=False)"),
        f"\n**Answer: {per_filter * filters} + {filters if bias else 0} = {params:,}**",
    ]
    hint = ("Each filter has one kh×kw slice per input channel plus one bias; "
            "multiply by the number of filters. The image size does not matter.")
    if groups > 1:
        hint += " With groups, each filter sees only input channels / groups channels."
    return Question("conv_params", level, prompt, params, hint, "\n".join(steps), "one whole number",
                    dict(in_channels=channels, out_channels=filters, kernel=(kh, kw), bias=bias, groups=groups))


def _dense_params(rng: random.Random, level: str) -> Question:
    units = rng.choice([10, 32, 50, 64, 100, 128, 256, 500, 1000])
    bias = level != "hard" or rng.random() < 0.6
    input_map = None
    if level == "easy":
        side = rng.choice([8, 28, 32])
        in_features = side * side
        source = f"flattened {side}×{side} grayscale images ({side}·{side} = {in_features} inputs)"
    else:
        h = rng.choice([2, 3, 4, 5, 6, 7, 8, 12, 14])
        c = rng.choice([8, 16, 32, 64, 128, 256])
        input_map = (h, h, c)
        in_features = h * h * c
        source = f"the flattened {h}×{h}×{c} feature map (height × width × channels) of the last pooling layer"
    params = shapes.linear_params(in_features, units, bias)
    prompt = (f"A dense (fully connected) layer with **{units}** unit{_s(units)}{'' if bias else ' and **no bias**'} "
              f"gets {source}. How many learnable parameters does it have?"
              f"\n\n`nn.Linear({in_features if level == 'easy' else '?'}, {units}"
              f"{'' if bias else ', bias=False'})`")
    steps = []
    if input_map:
        steps.append(f"- inputs after Flatten: {_times(*input_map)} = {in_features}")
    steps += [f"- weights: inputs · units = {in_features} · {units} = {in_features * units:,}",
              f"- biases: {units if bias else 0}",
              f"\n**Answer: {params:,}**"]
    hint = "Every unit has one weight per input plus one bias: inputs · units + units."
    return Question("dense_params", level, prompt, params, hint, "\n".join(steps), "one whole number",
                    dict(in_features=in_features, units=units, bias=bias, input_map=input_map))


def _same_padding(rng: random.Random, level: str) -> Question:
    n = rng.choice([8, 16, 28, 32, 64, 100, 224])
    dilation = 1
    if level == "easy":
        k = rng.choice([3, 5, 7])
    elif level == "medium":
        k = rng.choice([1, 3, 5, 7, 9, 11])
    else:
        k, dilation = rng.choice([(3, 2), (3, 3), (3, 4), (5, 2), (2, 2), (2, 4), (4, 2), (7, 2)])
    before, after = shapes.same_padding(n, k, 1, dilation)
    assert before == after, "only symmetric paddings are asked"
    prompt = (f"A **{n}×{n}** input goes through a **{k}×{k}** convolution with stride 1"
              f"{f' and **dilation {dilation}**' if dilation > 1 else ''}. How many zeros of padding "
              f"must be added on **each side** so that the output is {n}×{n} again ('same')?")
    span = shapes.effective_kernel_size(k, dilation)
    steps = []
    if dilation > 1:
        steps.append(f"- the dilated kernel spans d·(k − 1) + 1 = {dilation}·({k} − 1) + 1 = {span} inputs")
    steps += [f"- same size needs 2p = {'d·(k − 1)' if dilation > 1 else 'k − 1'} = {span - 1}, so p = {before}",
              f"- check: `{shapes.explain_output_size(n, k, 1, before, dilation)}`",
              f"\n**Answer: {before}**"]
    hint = ("With stride 1 the output is n + 2p − (k − 1) (for a dilated kernel use its span "
            "d·(k − 1) + 1): choose p so that this equals n. A 5×5 kernel needs 2.")
    return Question("same_padding", level, prompt, before, hint, "\n".join(steps), "one whole number",
                    dict(n=n, kernel=k, dilation=dilation))


def _infer_stride_padding(rng: random.Random, level: str) -> Question:
    ask = {"easy": "padding", "medium": rng.choice(["padding", "stride"]), "hard": "both"}[level]
    c_in = rng.choice([1, 3, 8, 16, 32])
    c_out = rng.choice([8, 16, 32, 64])
    while True:
        n = rng.choice([16, 28, 32, 64, 100, 224]) if level == "easy" else rng.randint(7, 128)
        k = rng.choice([3, 5, 7]) if level == "easy" else rng.choice([1, 2, 3, 4, 5, 7, 11])
        stride = 1 if level == "easy" else rng.choice([1, 2, 3, 4])
        padding = rng.randint(0, k - 1)
        try:
            out = shapes.conv_output_size(n, k, stride, padding)
        except shapes.ShapeError:
            continue
        if out < 2:
            continue
        options = shapes.padding_stride_options(n, k, out)
        if ask == "padding":
            matching = [o for o in options if o.stride == stride]
        elif ask == "stride":
            matching = [o for o in options if o.padding == padding]
        else:
            matching = options
        if len(matching) == 1:
            break
    answer = {"padding": padding, "stride": stride, "both": (stride, padding)}[ask]
    given = {"padding": f"The stride is {stride}. What is the **padding**?",
             "stride": f"The padding is {padding}. What is the **stride**?",
             "both": "What are the **stride and the padding**? Answer as (stride, padding)."}[ask]
    prompt = (f"An input has {c_in} channel{_s(c_in)} and spatial size **{n}×{n}**. "
              f"A **{k}×{k}** convolution produces a new volume with {c_out} channel{_s(c_out)} and spatial size "
              f"**{out}×{out}**. {given}"
              + ("\n\n(Only paddings smaller than the kernel count: more padding would add "
                 "windows that see nothing but zeros.)" if ask != "stride" else ""))
    tries = []
    if ask == "padding":
        candidates = [(p, stride) for p in range(k)]
    elif ask == "stride":
        candidates = [(padding, s) for s in range(1, min(n, 8) + 1)]
    else:
        candidates = [(o.padding, o.stride) for o in options]
    for p, s in candidates:
        try:
            result = shapes.conv_output_size(n, k, s, p)
        except shapes.ShapeError:
            continue
        mark = " ✔" if result == out else ""
        tries.append(f"- p = {p}, s = {s}: `{shapes.explain_output_size(n, k, s, p)}`{mark}")
    steps = [f"Solve {out} = floor(({n} + 2p − {k}) / s) + 1 by trying the possible values:",
             *tries, f"\n**Answer: {format_answer(answer)}**"]
    hint = (f"Put the numbers into out = floor((n + 2p − k) / s) + 1 and try values: "
            f"n = {n}, k = {k}, out = {out}. Keeping the size with stride 1 needs p = (k − 1) / 2.")
    return Question("infer_stride_padding", level, prompt, answer, hint, "\n".join(steps),
                    "(stride, padding)" if ask == "both" else "one whole number",
                    dict(n=n, kernel=k, out=out, stride=stride, padding=padding, ask=ask,
                         in_channels=c_in, out_channels=c_out))


def _receptive_field(rng: random.Random, level: str) -> Question:
    causal = False
    if level == "easy":
        k = rng.choice([3, 5])
        count = rng.randint(1, 4)
        layers = [("conv", k, 1, 1)] * count
        words = (f"**{count}** stacked **{k}×{k}** convolution layers (stride 1)" if count > 1
                 else f"**one** **{k}×{k}** convolution layer (stride 1)")
    elif level == "medium":
        layers = []
        for _ in range(rng.randint(2, 3)):
            layers += [("conv", rng.choice([3, 5]), 1, 1)] * rng.randint(1, 2)
            pool = rng.choice([2, 3])
            layers.append(("pool", pool, rng.choice([pool, 2]), 1))
        if rng.random() < 0.5:
            layers = layers[:-1]
        words = "this stack: " + " → ".join(
            f"conv {k}×{k}" if kind == "conv" else f"max-pool {k}×{k} stride {s}" for kind, k, s, _ in layers)
    else:
        k = rng.choice([2, 2, 3])
        count = rng.randint(3, 5)
        # Kernel 2 with rates 1, 3, 9 would leave gaps in the field: only gap-free stacks are asked.
        base = 2 if k == 2 else rng.choice([2, 3])
        layers = [("conv", k, 1, base ** i) for i in range(count)]
        causal = True
        words = (f"**{count}** stacked causal 1D convolutions with kernel size **{k}** and dilation rates "
                 f"**{', '.join(str(d) for _, _, _, d in layers)}**")
    kernels = [k for _, k, _, _ in layers]
    strides = [s for _, _, s, _ in layers]
    dilations = [d for _, _, _, d in layers]
    field = shapes.receptive_field(kernels, strides, dilations)
    unit = "time steps" if causal else "pixels (per side)"
    prompt = f"What is the receptive field of one output unit after {words}? Give its size in input {unit}."
    if causal:
        prompt += ("\n\n" + "\n".join(
            f"`Conv1D(filters=32, kernel_size={k}, padding='causal', dilation_rate={d})`" for _, k, _, d in layers))
    fields = shapes.receptive_field_stack(kernels, strides, dilations)
    steps = ["Start with 1 input and jump 1. Each layer adds (span − 1) · jump, where span = d·(k − 1) + 1; "
             "a stride multiplies the jump:"]
    size, jump = 1, 1
    for (kind, k, s, d), (new_size, new_jump, _) in zip(layers, fields):
        span = shapes.effective_kernel_size(k, d)
        steps.append(f"- {kind} k={k}{f', d={d}' if d > 1 else ''}{f', s={s}' if s > 1 else ''}: "
                     f"{size} + ({span} − 1)·{jump} = **{new_size}**" + (f", jump {jump}·{s} = {new_jump}" if s > 1 else ""))
        size, jump = new_size, new_jump
    if causal:
        steps.append(f"\nCausal padding only moves the window into the past: each output sees the current step "
                     f"and {field - 1} steps back.")
    steps.append(f"\n**Answer: {field}**")
    hint = ("r = 1 + Σ (span − 1) · jump, with span = d·(k − 1) + 1 and jump = product of the strides "
            "before the layer. Two stacked 3×3 convolutions see 5×5.")
    return Question("receptive_field", level, prompt, field, hint, "\n".join(steps), "one whole number",
                    dict(layers=layers, causal=causal))


def _pool_shape(rng: random.Random, level: str) -> Question:
    layout = "NCHW" if level == "easy" else rng.choice(list(LAYOUTS))
    batch = rng.choice([1, 4, 8, 16, 32, 64])
    channels = rng.choice([1, 3, 16, 32, 64, 128])
    mode = rng.choice(["max", "max", "avg"])
    while True:
        h = rng.choice([4, 8, 24, 26, 28, 32, 55, 56, 64]) if level == "easy" else rng.randint(3, 64)
        w = h if level != "hard" or rng.random() < 0.6 else rng.randint(3, 64)
        k = 2 if level == "easy" else rng.choice([2, 2, 3, 4])
        stride = k if level == "easy" else rng.choice([k, k, 1, 2])
        padding, ceil_mode = 0, False
        if layout == "NHWC" and rng.random() < 0.4:
            padding = "same" if mode == "max" else "valid"
        elif level == "hard":
            padding = rng.randint(0, k // 2)
            ceil_mode = rng.random() < 0.5
        try:
            return pool_shape_question(batch, channels, h, w, mode, k, stride, padding, ceil_mode, layout, level)
        except shapes.ShapeError:
            continue  # the window does not fit: draw another


def pool_shape_question(batch: int, channels: int, h: int, w: int, mode: str, k: int, stride: int, padding=0,
                        ceil_mode: bool = False, layout: str = "NCHW", level: str = "easy") -> Question:
    """The pool_shape question about one given pooling layer (``mode`` "max" or "avg"), in the
    quiz's words; ShapeError when the window does not fit."""
    oh = shapes.conv_output_size(h, k, stride, padding, 1, ceil_mode)
    ow = shapes.conv_output_size(w, k, stride, padding, 1, ceil_mode)
    answer = _in_layout(batch, channels, oh, ow, layout)
    # Keras has no numeric padding: such a layer is shown in PyTorch even for NHWC.
    if layout == "NHWC" and (isinstance(padding, str) or padding == 0):
        keras = "MaxPooling2D" if mode == "max" else "AveragePooling2D"
        code = f"tf.keras.layers.{keras}(pool_size={k}, strides={stride}, padding='{padding or 'valid'}')"
    else:
        name = "MaxPool2d" if mode == "max" else "AvgPool2d"
        code = (f"nn.{name}(kernel_size={k}, stride={stride}, padding={padding}"
                + (", ceil_mode=True" if ceil_mode else "") + ")")
    input_shape = _in_layout(batch, channels, h, w, layout)
    prompt = (f"A feature-map tensor of shape **{_shape(input_shape)}** ({layout}) goes through "
              f"{'max' if mode == 'max' else 'average'} pooling with a **{k}×{k}** window, stride {stride}, "
              f"{_padding_words(padding)}{', ceil_mode=True' if ceil_mode else ''}.\n\n`{code}`\n\n"
              f"What is the output shape ({layout})?")
    solution = "\n".join([
        *_size_lines(h, w, k, k, stride, padding, 1, ceil_mode),
        f"- pooling works on every channel separately: still {channels} channel{_s(channels)}; batch {batch}.",
        "- parameters: 0 (pooling learns nothing).",
        f"\n**Answer ({layout}): {_shape(answer)}**",
    ])
    hint = (SIZE_HINT + " Pooling keeps the number of channels." +
            (" ceil_mode rounds up, but a window may not start in the padding." if ceil_mode else ""))
    return Question("pool_shape", level, prompt, answer, hint, solution,
                    _shape_format(layout),
                    dict(input=(batch, channels, h, w), mode=mode, kernel=k, stride=stride,
                         padding=padding, ceil_mode=ceil_mode, layout=layout))


def _random_stack(rng: random.Random, level: str) -> list[shapes.Layer]:
    """conv(s) + pool blocks as in the lectures' small CNNs."""
    layers: list[shapes.Layer] = []
    blocks = {"easy": 1, "medium": rng.randint(1, 2), "hard": rng.randint(2, 3)}[level]
    filters = rng.choice([8, 16, 32])
    for _ in range(blocks):
        for _ in range(rng.randint(1, 2)):
            k = rng.choice([3, 3, 5])
            padding = 0 if level == "easy" else rng.choice([0, k // 2, "same", "valid"])
            layers += [shapes.Conv2d(filters, k, padding=padding), shapes.ReLU()]
        layers.append(shapes.MaxPool2d(2))
        filters *= 2
    return layers


def _describe_stack(layers: list[shapes.Layer]) -> str:
    return "\n".join(f"{i}. {layer.describe()}" for i, layer in enumerate(layers, start=1))


def _flatten_size(rng: random.Random, level: str) -> Question:
    while True:
        channels = rng.choice([1, 3])
        side = rng.choice([28, 32, 64, 80, 96]) if level != "easy" else rng.choice([28, 32])
        layers = _random_stack(rng, level) + [shapes.Flatten()]
        try:
            summary = shapes.summarize(layers, (channels, side, side))
        except shapes.ShapeError:
            continue
        break
    answer = summary.output_shape[0]
    prompt = (f"An {_images(channels)} image of **{side}×{side}** pixels ({channels} channel"
              f"{_s(channels)}) goes through these layers:\n\n{_describe_stack(layers)}\n\n"
              "How many numbers come out of the Flatten layer (per image)?")
    lines = []
    for row in summary.rows:
        if row.kind == "ReLU":
            continue
        shape = row.output_shape
        if row.kind == "Flatten":
            c, h, w = row.input_shape
            lines.append(f"- Flatten: {h}·{w}·{c} = **{shape[0]:,}**")
        else:
            lines.append(f"- {row.name} ({row.layer.describe()}): {_hwc(row.input_shape)} → {_hwc(shape)}")
    solution = "Follow the shape (height × width × channels) layer by layer:\n" + "\n".join(lines) + \
        f"\n\n**Answer: {answer:,}**"
    hint = ("Follow height × width × channels through each layer ('same' keeps the size, a k×k 'valid' "
            "convolution removes k − 1, 2×2 pooling halves with the floor), then multiply.")
    return Question("flatten_size", level, prompt, answer, hint, solution, "one whole number",
                    dict(input=(channels, side, side), layers=layers))


def _valid_config(rng: random.Random, level: str) -> Question:
    channels = rng.choice([1, 3])
    side = rng.choice([16, 28, 32, 64])
    layers = _random_stack(rng, level)  # an easy question gets an easy (short) stack
    fault = rng.choice(["none", "none", "collapse", "pool_padding", "groups", "dilation"]) \
        if level != "easy" else rng.choice(["none", "collapse"])
    if fault == "collapse":
        side = rng.randint(3, 12)
        layers = layers + [shapes.Conv2d(64, rng.choice([3, 5, 7])), shapes.MaxPool2d(2)]
    elif fault == "pool_padding":
        k = rng.choice([2, 3, 4])
        layers.insert(rng.randrange(len(layers) + 1), shapes.MaxPool2d(k, padding=k // 2 + rng.randint(0, 1)))
    elif fault == "groups":
        g = rng.choice([2, 4])
        layers.insert(0, shapes.Conv2d(rng.choice([8, 6, 10]), 3, padding=1, groups=g))
    elif fault == "dilation":
        layers.append(shapes.Conv2d(16, 3, dilation=rng.choice([4, 8, 16])))
    layers.append(shapes.Flatten())
    try:
        summary = shapes.summarize(layers, (channels, side, side))
        valid, reason = True, None
    except shapes.ShapeError as err:
        valid, reason, summary = False, str(err), None
    prompt = (f"Can this stack run on a batch of {_images(channels)} images of **{side}×{side}** pixels "
              f"({channels} channel{_s(channels)})?\n\n{_describe_stack(layers)}\n\n"
              "Answer **yes** or **no**.")
    if valid:
        lines = [f"- {row.name}: {_times(*row.output_shape)}" for row in summary.rows if row.kind != "ReLU"]
        solution = ("Every layer gets an input it can handle (shapes as C×H×W or features):\n"
                    + "\n".join(lines) + "\n\n**Answer: yes**")
    else:
        solution = f"It fails. {reason}\n\n**Answer: no**"
    hint = _valid_config_hint(layers)
    return Question("valid_config", level, prompt, valid, hint, solution, "yes or no",
                    dict(input=(channels, side, side), layers=layers))


def _valid_config_hint(layers: list[shapes.Layer]) -> str:
    """The checks that matter for this stack only: no word of groups, dilation or pooling
    padding when the stack has none."""
    hint = "Follow the size through the stack: does every window still fit (kernel ≤ padded input"
    if any(getattr(layer, "dilation", 1) not in (1, (1, 1)) for layer in layers):
        hint += ", the dilated span d·(k − 1) + 1 included"
    hint += ")?"
    if any(layer.kind.endswith("Pool2d") and getattr(layer, "padding", 0) not in (0, (0, 0)) for layer in layers):
        hint += " Pooling padding at most half the window?"
    if any(getattr(layer, "groups", 1) > 1 for layer in layers):
        hint += " Do the groups divide the channels (in and out)?"
    return hint


def answer_placeholder(question: Question) -> str:
    """An example of what to type, for this question's kind of answer only."""
    fmt = question.answer_format
    if fmt == "yes or no":
        return "yes or no"
    if fmt == "one whole number":
        return "e.g. 280, or a sum like 16*8*7*7+16"
    if fmt.startswith("(stride, padding)"):
        return "e.g. 2, 1"
    if fmt.startswith("a shape like"):
        if "C, H, W" in fmt:  # NCHW
            return "e.g. (5, 4, 26, 26) or 5x4x26x26"
        return "e.g. (5, 26, 26, 4) or 5x26x26x4"
    return f"e.g. {fmt}"


_GENERATORS = {
    "conv_shape": _conv_shape,
    "conv_params": _conv_params,
    "dense_params": _dense_params,
    "same_padding": _same_padding,
    "infer_stride_padding": _infer_stride_padding,
    "receptive_field": _receptive_field,
    "pool_shape": _pool_shape,
    "flatten_size": _flatten_size,
    "valid_config": _valid_config,
}


# ----------------------------------------------------------------------------------------------
# "Check my own question"
# ----------------------------------------------------------------------------------------------

OWN_LAYERS = ("Conv2d", "MaxPool2d", "AvgPool2d", "GlobalAvgPool", "Flatten", "Linear")


@dataclass(frozen=True)
class OwnAnswer:
    """Output shape (with the batch, in the asked layout), parameters and worked solution."""

    output_shape: tuple[int, ...]
    params: int
    solution: str


def check_own_question(
    layer: str,
    input_shape,
    layout: str = "NCHW",
    *,
    filters: int = 1,
    kernel_size=3,
    stride=None,
    padding=0,
    dilation: int = 1,
    bias: bool = True,
    groups: int = 1,
    ceil_mode: bool = False,
    units: int = 1,
) -> OwnAnswer:
    """Answer a student's own question about one layer.

    ``input_shape`` includes the batch: (N, C, H, W) or (N, H, W, C) as ``layout`` says, or
    (N, F) for Linear. ``stride=None`` means 1 for a convolution and the window for pooling.

    Raises
    ------
    shapes.ShapeError : with a message, when the layer cannot work on this input.
    """
    if layout not in LAYOUTS:
        raise shapes.ShapeError(f"layout must be NCHW or NHWC, got {layout!r}.")
    if layer not in OWN_LAYERS:
        raise shapes.ShapeError(f"unknown layer {layer!r}; choose one of {', '.join(OWN_LAYERS)}.")
    dims = tuple(input_shape)
    if layer == "Linear":
        if len(dims) != 2:
            raise shapes.ShapeError("a Linear layer needs a flat input (N, features): Flatten first.")
        batch, sample = dims[0], (dims[1],)
    else:
        if len(dims) != 4:
            raise shapes.ShapeError(f"give the input as {_shape(layout)} (batch included), got {dims}.")
        batch = dims[0]
        sample = dims[1:] if layout == "NCHW" else (dims[3], *dims[1:3])
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 10**6:
        raise shapes.ShapeError(f"the batch size must be a whole number from 1 to 1,000,000, got {batch!r}.")
    if layer == "Conv2d":
        description = shapes.Conv2d(filters, kernel_size, 1 if stride is None else stride, padding,
                                    dilation, bias, groups)
    elif layer in ("MaxPool2d", "AvgPool2d"):
        description = shapes.LAYER_TYPES[layer](kernel_size, stride, padding, ceil_mode)
    elif layer == "Linear":
        description = shapes.Linear(units, bias)
    else:  # GlobalAvgPool, Flatten: nothing to choose
        description = shapes.LAYER_TYPES[layer]()
    row = shapes.summarize([description], sample).rows[0]
    out, params, channels = row.output_shape, row.params, sample[0]
    output_shape = _in_layout(batch, *out, layout) if len(out) == 3 else (batch, *out)

    lines = [f"Input {layout if len(dims) == 4 else '(N, F)'} {_shape(dims)}; layer: {description.describe()}."]
    if layer in ("Conv2d", "MaxPool2d", "AvgPool2d"):
        is_conv = layer == "Conv2d"
        strides = _pair_of(stride if stride is not None else (1 if is_conv else kernel_size))
        dilations = _pair_of(dilation if is_conv else 1)
        for axis, n, k, s, p, d in zip(("height", "width"), sample[1:], _pair_of(kernel_size), strides,
                                       _pair_of(padding), dilations):
            lines.append(f"- {axis}: `{shapes.explain_output_size(n, k, s, p, d, ceil_mode and not is_conv)}`")
    if layer == "Conv2d":
        kh, kw = _pair_of(kernel_size)
        per_filter = (channels // groups) * kh * kw
        lines += [f"- channels = filters = {filters}",
                  f"- parameters: {shapes.counted(per_filter, 'weight')} per filter ((channels / groups) · kh · kw) · "
                  f"{shapes.counted(filters, 'filter')} + {shapes.counted(filters if bias else 0, 'bias', 'biases')} "
                  f"= {params:,}"]
    elif layer in ("MaxPool2d", "AvgPool2d"):
        lines += [f"- channels unchanged: {channels}", "- parameters: 0"]
    elif layer == "GlobalAvgPool":
        lines += [f"- one average per channel: {channels} number{_s(channels)}", "- parameters: 0"]
    elif layer == "Flatten":
        lines += [f"- {_hwc(sample)} = {out[0]:,} numbers per sample", "- parameters: 0"]
    else:
        lines += [f"- parameters: {channels} · {units} = {shapes.counted(channels * units, 'weight')} + "
                  f"{shapes.counted(units if bias else 0, 'bias', 'biases')} = {params:,}"]
    lines.append(f"\n**Output shape: {_shape(output_shape)}, parameters: {params:,}**")
    return OwnAnswer(output_shape, params, "\n".join(lines))


def _pair_of(value):
    if isinstance(value, (tuple, list)):
        return tuple(value)
    return (value, value)


def parse_shape(text: str) -> tuple[int, ...]:
    """A typed input shape such as "(5, 3, 30, 30)" or "5x30x30x3"."""
    value = parse_answer(text)
    if not isinstance(value, tuple):
        raise AnswerFormatError(f"{text!r} is not a shape: type e.g. (5, 3, 30, 30).")
    if any(v < 1 for v in value):
        raise AnswerFormatError("Every size in a shape must be at least 1.")
    return value
