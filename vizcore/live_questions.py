"""The question on screen right now, for a live class's "Ask the hall" (issue 27).

Each builder turns what a page shows into a question spec for :meth:`vizcore.live.LiveStore.ask`:

- :func:`layer_shape`: the Shape calculator's layer, as the quiz's own conv_shape question;
- :func:`pooling_shape`: the Pooling page's window on the map it shows (pool_shape);
- :func:`which_class`: "which class will the network say?" with the model's top classes and decoys;
- :func:`which_filter`: "which filter made this feature map?" with four filters of one layer.

Every answer is computed here from the page's own numbers (the quiz's shape arithmetic, the
model's probabilities), never copied. A choice question's picture is drawn by the page
(:mod:`vizcore.figures.live`) and stored with the class; its id goes into the spec's ``"picture"``.
Plain Python: no Streamlit.
"""
from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from vizcore import quiz

LIVE_BATCH = 8      # the calculator has no batch: 8 makes the batch dimension part of the answer
LETTERS = "ABCD"    # the four filters of "which filter made this feature map?"
CLASS_CHOICES = 4   # top-1, the next classes and one random class


def layer_shape(rows: int, cols: int, in_channels: int, filters: int, kernel: int, stride: int, padding,
                dilation: int = 1, batch: int = LIVE_BATCH) -> dict:
    """A number question: this convolution layer's output shape, in the quiz's words, with the
    answers of the common slips ("forgot the padding", …). ``padding``: a number, "valid" or
    "same". Shapes in NCHW (PyTorch), but in NHWC for "same": that is Keras' padding (PyTorch
    refuses it at a stride above 1), so the question shows the Keras layer. Raises
    :class:`vizcore.shapes.ShapeError` when the layer cannot work."""
    padding = padding if isinstance(padding, str) else int(padding)
    question = quiz.conv_shape_question(int(batch), int(in_channels), int(rows), int(cols), int(filters),
                                        (int(kernel), int(kernel)), int(stride), padding, int(dilation),
                                        "NHWC" if padding == "same" else "NCHW")
    return _number_spec(question)


def pooling_shape(rows: int, cols: int, channels: int, mode: str, kernel: int, stride: int, padding: int = 0,
                  ceil_mode: bool = False, batch: int = 1) -> dict:
    """A number question: the pooled output shape (NCHW) of a (batch, channels, rows, cols) map
    under this window (``mode`` "max" or "avg"), in the quiz's words, with the slips' answers."""
    question = quiz.pool_shape_question(int(batch), int(channels), int(rows), int(cols), mode, int(kernel),
                                        int(stride), int(padding), bool(ceil_mode), "NCHW")
    return _number_spec(question)


def which_class(probabilities: Sequence[float], class_names: Sequence[str], seed: int) -> dict:
    """A choice question: the network's top-1 class among decoys (the next most probable classes and
    one drawn at random), shuffled by ``seed``; ``answer`` is the top-1's place. The prompt holds no
    class name (a user's network may name its classes in hostile markdown; choices are shown
    literally)."""
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if p.size < 2 or p.size > len(class_names):
        raise ValueError(f"{p.size} probabilities for {len(class_names)} classes: need 2 or more, one per class.")
    order = [int(i) for i in np.argsort(-p, kind="stable")]  # ties: the lower index first, as argmax
    rng = random.Random(int(seed))
    count = min(CLASS_CHOICES, p.size)
    picked = order[:count - 1]
    rest = order[count - 1:]
    picked.append(rest[rng.randrange(len(rest))])  # a random decoy: not always the near misses
    rng.shuffle(picked)
    return {"type": "choice", "prompt": "Which class will the network say for this picture?",
            "choices": [str(class_names[i]) for i in picked], "answer": picked.index(order[0]),
            "classes": picked}


def which_filter(filters: np.ndarray, feature_map_index: int, seed: int, layer: str) -> dict:
    """A choice question: which of four filters of ``layer`` (``filters``: out × in × kh × kw) made
    feature map ``feature_map_index``; the three decoys are other filters of the same layer drawn
    by ``seed``. ``"filters"`` lists the filter index behind each letter, in the choices' order
    (the page draws them so); Reveal names the right letter's (:func:`vizcore.live.describe`)."""
    count = int(np.asarray(filters).shape[0])
    right = int(feature_map_index)
    if count < len(LETTERS) or not 0 <= right < count:
        raise ValueError(f"A layer with {count} filters cannot give four to choose from (feature map {right}).")
    rng = random.Random(int(seed))
    shown = [right, *rng.sample([i for i in range(count) if i != right], len(LETTERS) - 1)]
    rng.shuffle(shown)
    return {"type": "choice", "prompt": "Which filter made this feature map?",
            "choices": [f"Filter {letter}" for letter in LETTERS], "answer": shown.index(right),
            "filters": shown, "layer": str(layer)}


def _number_spec(question: quiz.Question) -> dict:
    return {"type": "number", "prompt": question.prompt, "answer": question.answer_text,
            "mistakes": quiz.slip_answers(question)}
