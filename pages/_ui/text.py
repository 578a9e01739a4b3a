"""Text on the page: user-supplied text shown literally, long explanations hidden while presenting."""
from __future__ import annotations

import streamlit as st

from pages._ui.presenter import presenting

# Every character Streamlit's markdown gives a meaning to: emphasis, links, images, headings,
# lists, tables, code, maths ($), HTML-like tags, and the `:red[...]`/`:material/...:` directives.
_MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$:=&\"'")


def literal(text: object) -> str:
    """``text`` escaped so that Streamlit's markdown shows it character for character.

    Use it for everything a user supplied (file and class names, link values, answers) that is
    embedded in a markdown string: a name such as ``[Click here](https://...)`` then shows as
    those characters, never as a working link, image, heading or colour.
    """
    escaped = "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in str(text))
    # Line breaks would start new markdown blocks (a list, a heading): keep it on one line.
    return " ".join(escaped.splitlines())


def show_text(text: object, kind: str = "caption") -> None:
    """Show user-supplied text literally in an element of ``kind``: caption, markdown, info,
    warning or error (all render markdown, so the text is escaped first)."""
    show = {"caption": st.caption, "markdown": st.markdown, "info": st.info,
            "warning": st.warning, "error": st.error, "success": st.success}[kind]
    show(literal(text))


def explain(text: str, *, kind: str = "caption") -> None:
    """A long explanation (app text, markdown allowed): shown, except in presenter mode, where
    the lecturer says it. ``kind``: "markdown", "caption" or "info"."""
    if not presenting():
        {"markdown": st.markdown, "caption": st.caption, "info": st.info}[kind](text)
