"""The CNN visualizer: a frame around every page (page config, navigation, the Presenter
switch), then the page.

`streamlit run app.py` first imports this file outside any session to find `app`, an st.App
whose start-up imports the heavy libraries once, before the server answers: the first
students' pages then only run their own code. Every session runs this file as its script.
"""
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from pages._catalog import PAGES, SECTION_ORDER
from pages._phone import phone_frame
from pages._live import after_page as live_after_page, before_page as live_before_page, follow_panel
from pages._ui.figures import warm_up_plotly
from pages._ui.links import UNLINKABLE_KEY, UNLINKABLE_MODEL_KEY, sidebar_link_place
from pages._ui.models import note_page
from pages._ui.page import error_boundary
from pages._ui.presenter import APP_CSS, keep_presenter_in_link, presenter_switch


def frame() -> None:
    """Page config, navigation and the Presenter switch around the chosen page."""
    st.set_page_config(page_title="Seeing convolutions", layout="wide")

    # The live class sits beside Home, without a section heading of its own: the list then still
    # leaves Presenter and Copy link on a 720-px sidebar in Presenter mode.
    sections = {"": [st.Page("pages/home.py", title="Home", default=True)]
                + [st.Page(p.path, title=p.title) for p in PAGES if p.section == ""]}
    for section in SECTION_ORDER:
        registered = [st.Page(p.path, title=p.title) for p in PAGES if p.section == section]
        if registered:
            sections[section] = registered

    # Every page listed: collapsed, the navigation showed "View 3 more" in place of Occlusion, LIME
    # and Explanation scores once the app had 13 pages.
    navigation = st.navigation(sections, expanded=True)
    note_page(navigation.url_path)  # the model pages carry their model and picture to the next one
    st.session_state.pop(UNLINKABLE_KEY, None)  # set again by this run's page if its input is an upload
    st.session_state.pop(UNLINKABLE_MODEL_KEY, None)  # likewise for an uploaded network
    st.html(APP_CSS)
    phone_frame()  # the sidebar closes after a page is picked on a narrow screen
    presenter_switch()
    sidebar_link_place(st.sidebar.container())  # a page's "Copy link" box, under the switch
    warm_up = warm_up_plotly()  # the browser loads Plotly while the page runs
    live_before_page(navigation.url_path)  # a class=CODE link joins; a follower goes to the lecturer's view
    with error_boundary():
        navigation.run()
    live_after_page(navigation.url_path)  # the lecturer's view is published; a follower who moved explores
    follow_panel(navigation.url_path)
    keep_presenter_in_link()
    if warm_up is not None:
        warm_up.empty()


if get_script_run_ctx() is None:  # imported by `streamlit run` (or uvicorn): the server
    from pages._warm import limit_malloc_arenas, warm_libraries

    limit_malloc_arenas()  # as early as the server's own code runs: before most of its threads

    from pages._live import routes as live_routes

    # The live class's watcher endpoint beside Streamlit's own (no script run per waiting student).
    app = st.App("app.py", lifespan=warm_libraries, routes=live_routes())
else:  # a session's run
    frame()
