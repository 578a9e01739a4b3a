"""User-supplied text is shown literally: `literal` escapes everything markdown would interpret.

The oracle is a CommonMark renderer (markdown-it-py, with GFM tables and strikethrough as
Streamlit's renderer has them): the escaped text must render to exactly the original characters,
with no link, image, emphasis, heading, list or HTML element.
"""
from __future__ import annotations

import html

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
