"""User-supplied text is shown literally: `literal` escapes everything markdown would interpret.

The oracle is a CommonMark renderer (markdown-it-py, with GFM tables and strikethrough as
Streamlit's renderer has them): the escaped text must render to exactly the original characters,
with no link, image, emphasis, heading, list or HTML element.
"""
from __future__ import annotations

import html
import re

import markdown_it
import pytest
from hypothesis import given, settings, strategies as st

from pages._ui.text import literal

MD = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])

HOSTILE = [
    "[Click here for your grade](https://evil.example/grade)",
    "![remote](https://evil.example/pixel.png)",
    "# Heading", "- item", "1. item", "> quote", "**bold** _it_ ~~gone~~", "`code`", "$x^2$",
    ":red[alarm] :material/home: :smile:", "<script>alert(1)</script>", "a | b\n--|--\n1 | 2",
    "line one\nline two", "\\*not bold\\*", "&amp; &lt;",
]


def rendered_text(markdown: str) -> str:
    """What a reader sees: the rendered HTML with the paragraph wrapper removed, unescaped."""
    out = MD.render(markdown).strip()
    assert out.startswith("<p>") and out.endswith("</p>"), out
    inner = out[3:-4]
    assert "<" not in inner, f"markup in {inner!r}"
    return html.unescape(inner)


def test_hostile_examples_render_as_their_characters():
    for text in HOSTILE:
        assert rendered_text(literal(text)) == " ".join(text.splitlines())


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40))
def test_any_text_renders_literally(text):
    shown = " ".join(text.splitlines())
    if not shown.strip():  # whitespace alone renders to nothing at all
        return
    assert rendered_text(literal(text)) == shown.strip()


def _photo_input_script():
    from pages._ui.picture import image_input

    image_input("t")


def test_an_earlier_uploads_name_is_shown_literally():
    """The kept upload's file name ("Using your earlier upload: …") is the uploader's text."""
    import io as _io

    from PIL import Image
    from streamlit.testing.v1 import AppTest

    buf = _io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buf, format="PNG")
    name = "[grade](https://evil.example) ![x](https://evil.example/p.png) <b>hi</b>.png"
    at = AppTest.from_function(_photo_input_script, default_timeout=60)
    at.run()
    at.radio(key="t_source").set_value("Upload").run()
    at.file_uploader(key="t_upload").set_value((name, buf.getvalue(), "image/png")).run()
    at.file_uploader(key="t_upload").set_value(None).run()
    assert not at.exception
    (shown,) = [c.value for c in at.caption if "earlier upload" in c.value]
    assert rendered_text(shown) == f"Using your earlier upload: {name}"


HOSTILE_CLASS = "[grade](https://evil.example) ![x](https://evil.example/p.png) *b*"


@pytest.mark.parametrize("page,model_key", [("saliency", "sal_model"), ("occlusion", "occ_model"),
                                            ("lime", "lime_model"), ("feature_maps", "fm_model")])
def test_class_names_from_an_uploaded_model_show_literally(page, model_key):
    """An uploaded checkpoint's class names (its meta: the uploader's text) reach the class choice's
    caption and the metrics' labels, values and deltas (Streamlit renders markdown in all three:
    Feature maps' "Predicted class" value was a working link, issue 25): every one renders as its
    characters."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from vizcore import models

    model, meta = models.load_pretrained("digits")
    meta = {**meta, "classes": [f"{HOSTILE_CLASS} {k}" for k in range(10)], "dataset": HOSTILE_CLASS}
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "pages" / f"{page}.py"), default_timeout=120)
    at.session_state["trained_models"] = {"evil": (model, meta)}
    at.session_state[model_key] = "evil (trained in this session)"
    at.run()
    assert not at.exception, at.exception
    texts = [c.value for c in at.caption if HOSTILE_CLASS[:6] in c.value.replace("\\", "")]
    texts += [str(part) for m in at.metric for part in (m.label, m.value, m.proto.delta)
              if "grade" in str(part)]
    assert texts, "the class names are shown somewhere"
    for text in texts:
        shown = rendered_text(text)
        assert "https://evil.example" not in shown or HOSTILE_CLASS in shown, (text, shown)


FIGURE_NAMES = ['<a href="https://x.org">x</a>', "<b>bold</b>", "%{x} %{y}", "&lt;i&gt; & {z}"]


def _figure_strings(node) -> list[str]:
    """Every string of a figure's dict but its template (the app's own)."""
    if isinstance(node, dict):
        return [s for key, value in node.items() if key != "template" for s in _figure_strings(value)]
    if isinstance(node, (list, tuple)):
        return [s for value in node for s in _figure_strings(value)]
    return [node] if isinstance(node, str) else []


def test_plain_figure_text_decodes_to_the_characters():
    from vizcore.figures import style

    for name in FIGURE_NAMES:
        shown = style.plain(name)
        assert "<" not in shown and "%{" not in shown and html.unescape(shown) == name


def test_class_names_in_figures_are_plain_text():
    """Plotly renders <a href>, <b>… in ticks, legends, titles and hover text, and fills %{…} in
    hover templates: class names (a checkpoint's, a zip's, typed ones) go in as plain text."""
    import numpy as np

    from vizcore.figures import features as feature_figs, training as training_figs, transfer as tl_figs

    names = FIGURE_NAMES
    n = len(names)
    figures = [training_figs.confusion_figure(np.eye(n, dtype=int), names),
               training_figs.misclassified_figure(np.zeros((2, 1, 4, 4)), names[:2], names[2:], [0.5, 0.6]),
               tl_figs.feature_maps({"m": np.arange(2.0 * n).reshape(n, 2)}, np.arange(n), names),
               tl_figs.predicted_bars(names, np.full(n, 1 / n)),
               feature_figs.probabilities_bar([(c, 0.25) for c in names])]
    for fig in figures:
        strings = _figure_strings(fig.to_dict())
        for text in strings:
            assert not re.search(r"<\s*(a|b|i)\b", text, re.IGNORECASE), text
            assert "%{x} %{y}" not in text, text
        assert any(html.unescape(t) == names[0] or names[0] in html.unescape(t) for t in strings), "names shown"
