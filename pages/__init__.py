"""The app's pages; `route_through_app()` keeps every page inside app.py's frame.

Streamlit decides once per server process, when the first session starts, that a folder
named `pages/` beside app.py is a legacy (v1) multipage folder. Until app.py's st.navigation
has run, a deep link such as /kernel_playground is then run as a bare page: no page config,
and a sidebar listing every file in pages/ (app, _catalog, _warm...). On a fresh server every
session that opens a deep link at the same moment gets such a run (seen with 7 of 8 students),
so each page checks its own run, not just the first one.
"""
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx


def route_through_app() -> None:
    """Call first on every page: a bare legacy run switches to st.navigation and reruns."""
    ctx = get_script_run_ctx()
    if ctx is None:  # plain Python, not a Streamlit run
        return
    manager = ctx.pages_manager
    pages = manager.get_pages()
    main = Path(manager.main_script_path).resolve()
    listed = {Path(page["script_path"]).resolve() for page in pages.values() if page.get("script_path")}
    current = pages.get(manager.current_page_script_hash, {}).get("script_path")
    # Only the legacy listing registers the main script itself as one of the pages.
    if main in listed and current and Path(current).resolve() != main:
        PagesManager.uses_pages_directory = False
        st.rerun()
