"""Widget values across runs: kept while a widget is not drawn (another view or page is shown),
reset when the current model no longer offers them, a data editor's state held to its size."""
from __future__ import annotations

import streamlit as st


def remember(key: str, default) -> None:
    """Keep a widget's value while the widget is not drawn (another view or page is shown).

    Streamlit drops a widget's state after a run that doesn't draw it, so the value is also
    kept under a plain key and restored from there. Defaults go through session state, never
    through `index=`/`value=`, which would conflict with the restored value.
    """
    kept = f"{key}__kept"
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(kept, default)
    st.session_state[kept] = st.session_state[key]


def kept_value(key: str, default=None):
    """A widget's value before the widget is drawn in this run: its state, else the value kept
    for it by :func:`remember` or :func:`write_link_state`, else ``default``."""
    return st.session_state.get(key, st.session_state.get(f"{key}__kept", default))


def keep_valid(key: str, options: list, default) -> None:
    """Reset a kept widget value the current model does not offer (e.g. after a model switch)."""
    if key in st.session_state and st.session_state[key] not in options:
        st.session_state[key] = default


def drop_added_rows(editor_key: str, *, max_added: int = 0, max_rows: int = 64) -> bool:
    """Before an ``st.data_editor`` is drawn: forget its state when it claims more than
    ``max_added`` added rows (0: a fixed-size grid, which also deletes none) or edits more than
    ``max_rows`` rows. Only a crafted client sends such a state, and Streamlit would apply
    30,000 added rows one by one (over 20 s per rerun) before the page could refuse them.
    Returns True (with a message) when the state was dropped."""
    state = st.session_state.get(editor_key)
    if isinstance(state, dict) and (len(state.get("added_rows") or []) > max_added
                                    or (max_added == 0 and state.get("deleted_rows"))
                                    or len(state.get("edited_rows") or {}) > max_rows):
        del st.session_state[editor_key]
        st.warning("This table keeps its size: added or deleted rows were dropped.")
        return True
    return False
