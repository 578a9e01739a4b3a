"""A hostile student against every page: random and extreme links, typed text, table states and files.

Each page is driven through AppTest with what a crafted client or a shared link can send. The
page must never raise; what it refuses it says so in a message; no user text becomes markup (the
rendered markdown of every message holds no link, image or HTML element); a shared model is
unchanged afterwards. Few examples each: the whole file stays fast.
"""
from __future__ import annotations

import html
import io
import json
import re
import zipfile
from pathlib import Path

import markdown_it
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image
from streamlit.testing.v1 import AppTest

from pages import _kernel_playground_state as pg_state
from vizcore import features, kernels, models

ROOT = Path(__file__).resolve().parents[1]
FEW = settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
MD = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])

INJECTIONS = ["[Click here for your grade](https://evil.example/grade)", "![x](https://evil.example/p.png)",
              "<img src=x onerror=alert(1)>", "**bold** _it_ `code` $x^2$ :red[alarm]"]
EXTREMES = ["inf", "-inf", "nan", "NaN", "1e999", "-1e999", "1e308", "-1", "0", "2.5", "9" * 400,
            "", " ", "yes", "no", "maybe", "1,2", "1,2,3,4", "same", "valid", "1/0", "0x10"]
HOSTILE = st.one_of(st.sampled_from(EXTREMES + INJECTIONS), st.text(max_size=30),
                    st.integers(-10**30, 10**30).map(str), st.floats().map(repr))


def page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=120)


# Every text field Streamlit renders as markdown (issue 25: a metric's *value* became a link): a
# widget's label and help, a metric's label, value and delta, a radio's options, an expander's,
# tab's or popover's label, a message's body. A select box's options are plain text.
MARKDOWN_FIELDS = ("body", "label", "help", "delta")
MARKDOWN_OPTIONS = ("Radio",)


def _nodes(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _nodes(child)


def shown_text(at: AppTest) -> list[str]:
    """The source of every text that renders markdown, in every element and block of the page."""
    found = []
    for node in _nodes(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None or type(proto).__name__ in ("PlotlyChart", "Code", "Dataframe"):
            continue
        protos = [proto]
        if type(proto).__name__ == "Block":  # an expander's, tab's or popover's label
            protos += [getattr(proto, kind) for kind in ("expandable", "tab", "popover") if proto.HasField(kind)]
        for part in protos:
            fields = part.DESCRIPTOR.fields_by_name
            found += [getattr(part, f) for f in MARKDOWN_FIELDS
                      if f in fields and fields[f].type == fields[f].TYPE_STRING and getattr(part, f)]
            if type(part).__name__ in MARKDOWN_OPTIONS:
                found += list(part.options)
    return found


def assert_no_markup(at: AppTest) -> None:
    for text in shown_text(at):
        rendered = MD.render(str(text))
        assert not re.search(r"<(a|img|script|iframe)\b", rendered), f"markup from {text!r}: {rendered}"


def assert_fine(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert_no_markup(at)


def reader_sees(at: AppTest, kind: str) -> str:
    return " ".join(html.unescape(MD.render(e.value)) for e in getattr(at, kind))


# --- kernel playground: any link -------------------------------------------------------------

LINK_NAMES = list(pg_state.LINK_KEYS) + list(pg_state.PRESET_PARAMS) + ["stride", "pad", "weights", "filters", "grid", "matrix"]


@FEW
@given(query=st.dictionaries(st.sampled_from(LINK_NAMES), HOSTILE, max_size=6),
       view=st.sampled_from(list(pg_state.VIEWS)), repeated=st.sampled_from([0, 8, 300]))
def test_kernel_playground_survives_any_link(query, view, repeated):
    query = {"view": view, **query}
    if repeated:  # one filter over and over: the link that took +1.6 GB
        query["filters"] = "|".join(["Sobel y"] * repeated)
    at = page("kernel_playground")
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    assert_fine(at)
    _, ignored = pg_state.read_link(query)
    if ignored:  # every refused entry is named in the warning, as its plain characters
        warning = reader_sees(at, "warning")
        assert all(entry.split("=")[0] + "=" in warning for entry in ignored), (ignored, warning)
    assert len(at.session_state["kp_filters"]) <= pg_state.MAX_FILTERS


@FEW
@given(signal=HOSTILE, kernel=HOSTILE)
def test_kernel_playground_1d_survives_any_typed_signal_and_kernel(signal, kernel):
    at = page("kernel_playground")
    at.query_params["view"] = "1D"
    at.run()
    at.text_input(key="kp_signal").set_value(signal)
    at.text_input(key="kp_k1d_text").set_value(kernel).run()
    assert_fine(at)
    try:
        kernels.parse_vector(signal, max_len=pg_state.MAX_SIGNAL)
        kernels.parse_vector(kernel)
        refused = False
    except kernels.KernelError:
        refused = True
    assert not refused or at.error, "a refused signal or kernel needs a message"


def test_kernel_playground_huge_values_and_a_crafted_grid_state():
    at = page("kernel_playground")
    at.query_params["view"] = "Matrix"
    at.query_params["matrix"] = ";".join([",".join(["1e308"] * 6)] * 6)
    at.query_params["grid"] = "1e308,1e308;1e308,1e308"
    at.query_params["src"] = "Grid"
    at.query_params["norm"] = "1"
    at.run()
    assert_fine(at)
    assert not any("sum to 0" in e.value for e in at.info)
    at.session_state["kp_matrix"] = {"edited_rows": {}, "added_rows": [{"1": 1}] * 30_000, "deleted_rows": []}
    at.run()
    assert_fine(at)
    assert at.session_state["kp_matrix_base"].shape == (6, 6)


# --- shape calculator: crafted stack tables --------------------------------------------------

LAYER_ROW = st.fixed_dictionaries({
    "layer": st.sampled_from(["Conv2d", "MaxPool2d", "AvgPool2d", "Linear", "ReLU", "Flatten", "BatchNorm2d", "Nope"]),
    "size": st.one_of(st.none(), st.integers(-5, 10**12)), "kernel": st.one_of(st.none(), st.integers(-5, 10**6)),
    "stride": st.one_of(st.none(), st.integers(-5, 10**6)), "padding": st.one_of(st.none(), HOSTILE),
    "dilation": st.one_of(st.none(), st.integers(-5, 100)),
})


@FEW
@given(rows=st.lists(LAYER_ROW, max_size=4), flood=st.sampled_from([0, 70, 30_000]))
def test_shape_calculator_survives_any_stack_table(rows, flood):
    at = page("shape_calculator").run()
    at.session_state["section"] = "Layer stack"
    at.run()
    at.session_state["stack_editor_0"] = {"edited_rows": {}, "deleted_rows": [],
                                          "added_rows": rows + [{"layer": "ReLU"}] * flood}
    at.run()
    assert_fine(at)
    assert len(at.session_state["_stack_rows_0"]) <= 64
    if flood > 64:
        assert at.warning


# --- pooling: crafted matrices, tiny pictures --------------------------------------------------

@FEW
@given(cells=st.dictionaries(st.integers(0, 3), st.dictionaries(st.sampled_from(["0", "1", "2", "3"]), st.one_of(
    st.sampled_from([1e308, -1e308, 1.7e308, float("inf"), float("nan")]), st.none(), HOSTILE), max_size=4),
    max_size=4), flood=st.sampled_from([0, 30_000]), kernel=st.integers(1, 16), stride=st.integers(1, 16),
    padding=st.integers(0, 8))
def test_pooling_survives_any_matrix_and_setting(cells, flood, kernel, stride, padding):
    at = page("pooling").run()
    at.number_input(key="pool_kernel").set_value(kernel)
    at.number_input(key="pool_stride").set_value(stride)
    at.number_input(key="pool_padding").set_value(padding)
    at.session_state["pool_matrix_0"] = {"edited_rows": cells, "deleted_rows": [],
                                         "added_rows": [{"0": 1}] * flood}
    at.run()
    assert_fine(at)
    if flood:
        assert at.warning


def _png(size, mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 128).save(buffer, format="PNG")
    return buffer.getvalue()


def test_pooling_translation_shift_larger_than_the_picture_gets_a_message():
    at = page("pooling").run()
    at.radio(key="pool_view").set_value("Translation invariance").run()
    at.radio(key="pool_shift_source").set_value("Upload").run()
    at.file_uploader(key="pool_shift_upload").set_value(("tiny.png", _png((2, 2)), "image/png")).run()
    at.slider(key="pool_shift_px").set_value(4).run()
    assert_fine(at)
    assert at.error


# --- quiz: any typed answer ------------------------------------------------------------------

@FEW
@given(answer=st.one_of(HOSTILE, st.sampled_from(["+".join(["1"] * 1000), "9" * 5000, "(" * 300 + "1" + ")" * 300,
                                                  "1" + "*9" * 60, "1/" * 50 + "1"])))
def test_quiz_survives_any_answer(answer):
    at = page("quiz").run()
    (box,) = [t for t in at.text_input if t.key.startswith("quiz_answer_")]
    box.set_value(answer)
    at.button(key="quiz_check").click().run()
    assert_fine(at)
    assert at.error or at.warning or at.success or at.info  # every answer gets feedback


@FEW
@given(shape=HOSTILE, padding=HOSTILE)
def test_quiz_own_question_survives_any_shape_and_padding(shape, padding):
    at = page("quiz").run()
    at.radio(key="quiz_mode").set_value("Check my own question").run()
    (shape_box,) = [t for t in at.text_input if t.key.startswith("own_shape_")]
    shape_box.set_value(shape)
    at.text_input(key="own_padding").set_value(padding).run()
    assert_fine(at)
    assert at.error or at.metric


# --- training: hostile files ---------------------------------------------------------------

def _zip(files: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _zip_with_header_bit(raw: bytes, central: int, local: int, change) -> bytes:
    out = bytearray(raw)
    for signature, offset in ((b"PK\x01\x02", central), (b"PK\x03\x04", local)):
        at = out.find(signature)
        while at >= 0:
            out[at + offset:at + offset + 2] = change(bytes(out[at + offset:at + offset + 2]))
            at = out.find(signature, at + 4)
    return bytes(out)


def _saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def hostile_zips() -> dict[str, bytes]:
    small = {f"{c}/{i}.png": _png((8, 8)) for c in ("a", "b") for i in range(3)}
    stored = _zip(small, zipfile.ZIP_STORED)
    crc = bytearray(stored)
    crc[crc.find(b"IDAT") + 8] ^= 0xFF
    big = _png((5000, 5000), "L")
    return {
        "huge pictures": _zip({f"c{i % 2}/{i}.png": big for i in range(14)}),  # 14 × 25 MP in 1 MB
        "bad crc": bytes(crc),
        "encrypted": _zip_with_header_bit(stored, 8, 6, lambda v: bytes([v[0] | 1, v[1]])),
        "method 99": _zip_with_header_bit(stored, 10, 8, lambda v: (99).to_bytes(2, "little")),
        "markup classes": _zip({f"{c}/{i}.png": _png((8, 8)) for c in ("[Click](https://evil.example)", "**b**")
                                for i in range(3)}),
        "html classes": _zip({f"{c}/{i}.png": _png((8, 8)) for c in ("<b>x</b>", "b") for i in range(3)}),
        "not a zip": b"PK\x03\x04 nothing",
    }


def hostile_weights() -> dict[str, bytes]:
    good = models.build_model("digits").state_dict()
    nan = {k: v.clone() for k, v in good.items()}
    nan["fc3.weight"][0, 0] = float("nan")
    meta = {"classes": [str(i) for i in range(10)], "input_shape": [1, 28, 28], "mean": [0.1], "std": [0.3]}
    return {
        "stride-0 views": _saved({k: torch.zeros(1).expand(10**8 if k == "fc1.weight" else 1) for k in good}),
        "nan weights": _saved(nan),
        "meta 60000 px": models.save_checkpoint(models.build_model("digits"), {**meta, "input_shape": [1, 60000, 60000]}),
        "meta wrong types": models.save_checkpoint(models.build_model("digits"), {**meta, "params": "lots", "mean": []}),
        "markup classes": models.save_checkpoint(models.build_model("digits"), {
            **meta, "classes": ["[Click here](https://evil.example)"] + [f"*{i}*" for i in range(9)]}),
        "pickled code": b"\x80\x04cbuiltins\nexec\n.",
    }


ZIPS, WEIGHTS = hostile_zips(), hostile_weights()


@FEW
@given(kind=st.sampled_from(sorted(ZIPS)), name=st.sampled_from(["data.zip", "[x](https://e.example).zip"]))
def test_training_page_survives_hostile_zips(kind, name):
    at = page("training").run()
    at.selectbox(key="train_data").set_value("zip").run()
    at.file_uploader(key="train_zip").set_value((name, ZIPS[kind], "application/zip")).run()
    assert_fine(at)
    assert at.error or at.success
    if kind != "markup classes":
        assert at.error, kind


@FEW
@given(kind=st.sampled_from(sorted(WEIGHTS)), name=st.sampled_from(["w.pt", "[x](https://e.example).pt"]))
def test_training_page_survives_hostile_weight_files(kind, name):
    at = page("training").run()
    at.file_uploader(key="train_up_file").set_value((name, WEIGHTS[kind], "application/octet-stream")).run()
    assert_fine(at)
    if kind == "markup classes":
        assert at.success and "[Click here](https://evil.example)" in reader_sees(at, "success")
    else:
        assert at.error, kind


# --- feature maps: a session model with odd but allowed names, any link -----------------------

@FEW
@given(query=st.dictionaries(st.sampled_from(["model", "layer", "channel", "source", "view", "x"]), HOSTILE, max_size=3))
def test_feature_maps_survives_any_link_and_keeps_the_shared_model(query):
    from pages._ui.models import _shipped_model

    shipped, _ = _shipped_model("digits")  # the cached object every session's page reads
    shipped_before = features.weights_hash(shipped)
    model, meta = models.load_checkpoint(WEIGHTS["markup classes"], "digits")
    at = page("feature_maps")
    for name, value in query.items():
        at.query_params[name] = value
    at.session_state["trained_models"] = {"[session](https://evil.example) model": (model, meta)}
    before = features.weights_hash(model)
    at.run()
    assert_fine(at)
    (selector,) = [s for s in at.selectbox if s.key == "fm_model"]
    selector.set_value([o for o in selector.options if "session" in o][0]).run()
    assert_fine(at)
    assert features.weights_hash(model) == before
    assert not any(m._forward_hooks for m in model.modules()) and not model.training
    assert features.weights_hash(shipped) == shipped_before and not shipped.training
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in shipped.modules())


@pytest.mark.parametrize("name", ["kernel_playground", "pooling", "shape_calculator", "quiz", "training", "architectures",
                                  "explanation_scores", "transfer_learning"])
def test_every_page_shows_a_markup_link_as_text(name):
    at = page(name)
    for key in ("view", "preset", "x", "filters"):
        at.query_params[key] = INJECTIONS[0]
    at.run()
    assert_fine(at)


HOSTILE_NAME = "[Click here for your grade](https://evil.example/grade) ![x](https://evil.example/p.png)"


@pytest.mark.parametrize("name,model_key,prefix", [("saliency", "sal_model", "sal_in"), ("occlusion", "occ_model", "occ_in"),
                                                   ("lime", "lime_model", "lime_in"), ("feature_maps", "fm_model", "fm")])
def test_hostile_class_names_file_names_and_links_never_become_markup(name, model_key, prefix):
    """Issue 25 part 4: a model whose class names and data set are markdown links, an upload whose
    file name is one, and link values that are: nowhere on the page (labels, help texts, metric
    values, radio options, expanders, messages) does any of it render as a link or an image."""
    model, meta = models.load_pretrained("digits")
    meta = {**meta, "classes": [f"{HOSTILE_NAME} {k}" for k in range(10)], "dataset": HOSTILE_NAME}
    at = page(name)
    at.session_state["trained_models"] = {HOSTILE_NAME: (model, meta)}
    at.session_state[model_key] = f"{HOSTILE_NAME} (trained in this session)"
    for key in ("imgclass", "layer", "cls", "sample"):
        at.query_params[key] = INJECTIONS[0]
    at.run()
    assert_fine(at)
    assert any("evil.example" in text.replace("\\", "") for text in shown_text(at)), "the hostile names reach the page"
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (90, 160, 40)).save(buf, format="PNG")
    at.session_state[f"{prefix}_source"] = "Photo (sample, upload or camera)"
    at.session_state[f"{prefix}_photo_source"] = "Upload"
    at.run()
    at.file_uploader(key=f"{prefix}_photo_upload").set_value((f"{HOSTILE_NAME}.png", buf.getvalue(), "image/png")).run()
    at.file_uploader(key=f"{prefix}_photo_upload").set_value(None).run()  # "Using your earlier upload: <name>"
    assert_fine(at)
    assert any("earlier upload" in text and "evil.example" in text.replace("\\", "") for text in shown_text(at))


# --- issue 25 part 4: the class names a user types, on Training and Transfer learning -----------

# What a student types as class names: a markdown link, an HTML link, markdown emphasis. Folder
# names in a zip cannot hold "/", so the zip's link is a mailto: one.
TYPED = ["[grade 4](https://example.org/4)", '<a href="https://x.org">x</a>', "**bold**"]
ZIP_TYPED = ["[grade 4](mailto:grade@example.org)", '<a href="mailto:x@x.org">x', "**bold**"]
# Plotly renders <a href>, <b>, <i>, <span>, <sup>, <sub>, <em>, <strong> in figure text
PLOTLY_MARKUP = re.compile(r"<\s*(a|img|b|i|span|sup|sub|em|strong|script)\b", re.IGNORECASE)


def visible(markdown: str) -> str:
    """What a reader sees of a markdown text: its rendering without tags, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", MD.render(markdown)))


def figure_strings(at: AppTest) -> list[str]:
    """Every string of every chart on the page (its template left out: the app's own)."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key != "template":
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            found.append(node)

    for chart in at.get("plotly_chart"):
        walk(json.loads(chart.proto.spec))
    return found


def _coloured_png(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (12, 12), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def assert_typed_names_literal(at: AppTest, names: list[str]) -> None:
    """No rendered link, image or markup anywhere; every text that quotes a typed name shows it
    character for character (``**bold**`` with its stars, a link as its brackets and address);
    figures hold no Plotly markup and show the names (escaped) where they show them."""
    assert_fine(at)
    for text in shown_text(at):
        for name in names:
            if name in text.replace("\\", ""):
                assert name in visible(text), (name, text, MD.render(text))
    for text in figure_strings(at):
        assert not PLOTLY_MARKUP.search(text), text


def test_training_shows_typed_zip_class_names_literally():
    """The zip's folder names are the class names the student typed: the success message, the
    classes caption, the confusion matrix and the misclassified pictures show them literally; a
    name with < or > is refused, and the refusal quotes it literally."""
    at = page("training").run()
    at.selectbox(key="train_data").set_value("zip").run()
    refused = _zip({f"{c}/{i}.png": _png((8, 8)) for c in ZIP_TYPED for i in range(3)})
    at.file_uploader(key="train_zip").set_value(("classes.zip", refused, "application/zip")).run()
    assert at.error and ZIP_TYPED[1] in reader_sees(at, "error")
    assert_typed_names_literal(at, ZIP_TYPED)
    named = [ZIP_TYPED[0], ZIP_TYPED[2]]
    files = {f"{c}/{i}.png": _coloured_png((250 * k, 40 + 10 * i, 250 * (1 - k)))
             for k, c in enumerate(named) for i in range(6)}
    at.file_uploader(key="train_zip").set_value(("classes.zip", _zip(files), "application/zip")).run()
    assert at.success and all(n in reader_sees(at, "success") for n in named)
    at.number_input(key="train_epochs_zip").set_value(1)
    at.button(key="train_start").click().run()
    assert at.metric and at.metric[0].label == "Test accuracy"
    assert_typed_names_literal(at, named)
    shown = figure_strings(at)
    assert any(html.escape(named[0], quote=False) in s for s in shown), "the names reach the confusion matrix"


def test_transfer_learning_shows_typed_webcam_class_names_literally():
    """Webcam class names typed into "Class name": the class list, the strategies' figures (confusion
    matrix, features map, a new photo's bars and title) show them literally; a name with < or >
    is refused and quoted literally."""
    at = page("transfer_learning")
    at.query_params["data"] = "webcam"
    at.run()
    for k, name in enumerate(TYPED):
        for shade in range(3):
            buf = io.BytesIO()
            Image.new("RGB", (64, 48), (250 - 100 * k, 30 * shade, 100 * k)).save(buf, format="JPEG")
            at.text_input(key="tl_cam_name").set_value(name)
            at.camera_input(key="tl_cam_photo").set_value(("photo.jpg", buf.getvalue(), "image/jpeg"))
            at.run()
            at.button(key="tl_cam_add").click().run()
    assert_typed_names_literal(at, TYPED)
    assert TYPED[1] in reader_sees(at, "info")  # refused ("< or >"), quoted as typed
    # without the refused class: two typed names, and the page computes
    at.session_state["tl_camera_pictures"] = {n: p for n, p in at.session_state["tl_camera_pictures"].items()
                                              if n != TYPED[1]}
    at.run()
    assert at.metric, "the logistic regression ran"
    named = [TYPED[0], TYPED[2]]
    reached = []
    for view in ("Confusion matrices", "Misclassified pictures", "Features map", "Try a new photo"):
        at.radio(key="tl_view").set_value(view).run()
        assert_typed_names_literal(at, named)
        reached += figure_strings(at)
    assert any(html.escape(named[0], quote=False) in s for s in reached), "the names reach the figures"
