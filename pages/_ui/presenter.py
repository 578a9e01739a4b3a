"""The app's CSS and the Presenter switch (classroom, issue 12): larger text for a projector, a
``presenter=1`` link opens with it on."""
from __future__ import annotations

import streamlit as st

PRESENTER_KEY = "presenter"
# Every page at 1280×720: Streamlit's 6rem empty band above the title goes, and a page title stays
# on one line (2.75rem titles broke "LIME: explain one prediction…" in two), so the first picture
# and the controls that make it come up on the first screen.
APP_CSS = ("<style>[data-testid='stMainBlockContainer'] { padding: 1.5rem 2.5rem 4rem 2.5rem !important; } "
           "[data-testid='stMain'] h1 { font-size: 2.1rem !important; padding-top: 0.25rem !important; } "
           # A metric's value or label too long for its column wraps at its spaces instead of ending in
           # "…" (Presenter mode's letters cut "(None, 4, 4, 4)" short).
           "[data-testid='stMetricValue'], [data-testid='stMetricValue'] *, [data-testid='stMetricLabel'] * "
           "{ white-space: normal !important; overflow: visible !important; text-overflow: clip !important; } "
           # At 1280×720 the 13 pages' list filled the sidebar: Presenter, Copy link and the playground's
           # own controls needed a scroll nobody found (issue 25). A tighter list (in px, so Presenter
           # mode's larger root font does not undo it) leaves them on the first screen.
           "[data-testid='stSidebarHeader'] { height: 40px !important; margin-bottom: 2px !important; } "
           "[data-testid='stSidebarNavLink'] { height: 24px !important; min-height: 0 !important; margin: 1px 0 !important; } "
           "[data-testid='stSidebarNavLink'] span { font-size: 16px !important; line-height: 24px !important; } "
           "[data-testid='stNavSectionHeader'] { font-size: 14px !important; line-height: 18px !important; "
           "margin: 6px 0 2px 0 !important; } "
           "[data-testid='stSidebarNavSeparator'] { padding-top: 6px !important; } "
           "[data-testid='stSidebarUserContent'] { padding-top: 8px !important; } "
           # Up to 768 px wide (a phone, a tablet, half a laptop screen) Streamlit folds the sidebar away
           # and its top bar, opaque, covers the page's first 4rem: the title started under it.
           "@media (max-width: 768px) { [data-testid='stMainBlockContainer'] { padding-top: 4.25rem !important; } }"
           "@media (max-width: 640px) { [data-testid='stMainBlockContainer'] { padding: 4.25rem 1rem 4rem 1rem !important; } }"
           "</style>")

# --- Back-row readability (issue 25), kept apart from the layout rules above ---------------------
# WCAG's 4.5 : 1 for text, read from the back row. Streamlit fades captions (the pages' intros)
# with opacity 0.6, 3.9 : 1 on white: here opaque, in a grey that keeps 8 : 1; a table's header
# cells (5.3 : 1, but the "light grey" network names) take the text colour. Its code
# highlighting is lighter still (numbers 2.6 : 1, operators 3.0, punctuation 3.6): here the same
# hues, darker, each at least 6 : 1 on the code's background. Inline code (the size formulas) is
# 0.75em by default: here nearly the size of the text round it; its colour is the theme's
# codeTextColor (.streamlit/config.toml).
_CODE = "[data-testid='stCode'] .token"
_READABLE_CSS = ("<style>"
                 "[data-testid='stCaptionContainer'] { color: #55514b !important; opacity: 1 !important; } "
                 # a table's headers and index (the Architectures table's network names): 70 % text colour
                 "[data-testid='stMain'] table th, [data-testid='stMain'] table th * { color: inherit !important; } "
                 "[data-testid='stMarkdownContainer'] code { font-size: 0.95em !important; } "
                 f"{_CODE}:is(.comment, .prolog, .doctype, .cdata, .punctuation) {{ color: #5c5955 !important; }} "
                 f"{_CODE}:is(.number, .boolean, .constant, .symbol, .property, .tag, .deleted) {{ color: #0d6b60 !important; }} "
                 f"{_CODE}:is(.operator, .entity, .url, .variable, .regex, .important) {{ color: #a04a00 !important; }} "
                 f"{_CODE}:is(.keyword, .builtin, .atrule, .attr-value, .selector, .attr-name) {{ color: #0b5394 !important; }} "
                 f"{_CODE}:is(.string, .char, .inserted) {{ color: #1d6b35 !important; }} "
                 "</style>")
APP_CSS += _READABLE_CSS

# Streamlit sizes its text in rem: a larger root font enlarges every heading, label and caption.
# The sidebar's section headings are set in px (APP_CSS): at least 16 px here, as all text.
_PRESENTER_CSS = ("<style>html { font-size: 22px; } [data-testid='stSidebar'] { min-width: 340px; } "
                  "[data-testid='stNavSectionHeader'] { font-size: 16px !important; }</style>")


def presenting() -> bool:
    """Whether the sidebar's Presenter switch is on (larger text, long explanations hidden)."""
    return bool(st.session_state.get(PRESENTER_KEY, False))


def presenter_switch() -> bool:
    """The Presenter switch in the sidebar; app.py draws it on every page.

    A link with ``presenter=1`` opens with it on. With it on, every figure's fonts are larger
    (:func:`show_figure`), so is the page's text, and :func:`explain` texts are hidden.
    """
    if "_presenter_link_read" not in st.session_state:
        st.session_state["_presenter_link_read"] = True
        if st.query_params.get(PRESENTER_KEY, "").lower() in ("1", "true", "yes", "on"):
            st.session_state[PRESENTER_KEY] = True
    on = st.sidebar.toggle("Presenter", key=PRESENTER_KEY,
                           help="For a projector: larger text in every figure and on the page, long "
                                "explanations hidden. A link with presenter=1 opens this way.")
    if on:
        st.html(_PRESENTER_CSS)
    return on


def keep_presenter_in_link() -> None:
    """After a page ran (app.py): the address says presenter=1 exactly when presenting."""
    if presenting():
        if st.query_params.get(PRESENTER_KEY) != "1":
            st.query_params[PRESENTER_KEY] = "1"
    elif PRESENTER_KEY in st.query_params:
        del st.query_params[PRESENTER_KEY]
