"""Figures and downloads: a Plotly figure with its PNG button, an array as CSV and NPY, and Plotly
warmed up in the browser on a session's first run."""
from __future__ import annotations

import io

import numpy as np
import streamlit as st

from pages._ui.presenter import presenting

PLOTLY_CONFIG = {
    "displaylogo": False,
    "toImageButtonOptions": {"format": "png", "scale": 2},
}


def show_figure(fig, *, key: str | None = None, **kwargs):
    """Show a plotly figure; its camera button downloads a PNG (made in the browser, offline).

    Returns what ``st.plotly_chart`` returns (the selection, when ``on_select`` is given).
    The figure keeps the app's own template (``theme=None``: Streamlit's chart theme would
    shrink its tick labels); with the Presenter switch on, every font is larger.
    """
    if presenting():
        from vizcore.figures import style

        fig = style.for_presenter(fig)
    kwargs.setdefault("theme", None)
    return st.plotly_chart(fig, key=key, config=PLOTLY_CONFIG, **kwargs)


def download_array(arr: np.ndarray, name: str, *, key: str) -> None:
    """Buttons that download `arr` as CSV (2D only, as a table) and as NPY.

    The files are made only when a button is clicked, so reruns stay fast.
    """
    arr = np.asarray(arr)
    left, right = st.columns(2)
    if arr.ndim <= 2:
        left.download_button(
            "Download CSV", lambda: _csv(arr), file_name=f"{name}.csv", mime="text/csv",
            key=f"{key}_csv", on_click="ignore",
        )
    right.download_button(
        "Download NPY", lambda: _npy(arr), file_name=f"{name}.npy",
        mime="application/octet-stream", key=f"{key}_npy", on_click="ignore",
    )


def _csv(arr: np.ndarray) -> str:
    buf = io.StringIO()
    np.savetxt(buf, np.atleast_2d(arr), delimiter=",", fmt="%.6g")
    return buf.getvalue()


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def warm_up_plotly():
    """On a session's first run, before the page itself: a tiny chart in the sidebar, so the
    browser fetches and starts Plotly (its largest script) while the page's script runs.
    Returns the placeholder; app.py empties it after the page ran."""
    if "_plotly_warm" in st.session_state:
        return None
    st.session_state["_plotly_warm"] = True
    slot = st.sidebar.empty()
    slot.plotly_chart({"data": [{"type": "scatter", "x": [0], "y": [0], "hoverinfo": "skip",
                                 "marker": {"opacity": 0}}],  # nothing to see: transparent, 10 px high
                       "layout": {"height": 10, "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
                                  "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
                                  "xaxis": {"visible": False}, "yaxis": {"visible": False}}},
                      config={"displayModeBar": False, "staticPlot": True}, theme=None, key="_plotly_warm_chart")
    return slot
