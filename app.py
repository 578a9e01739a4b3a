"""The CNN visualizer: a frame around every page (page config, navigation, the Presenter
switch), then the page."""
import streamlit as st

from pages._catalog import PAGES, SECTION_ORDER
from pages._ui import (
    import_pandas, keep_presenter_in_link, preload_after_first_page, presenter_switch, warm_up_plotly)

st.set_page_config(page_title="Seeing convolutions", layout="wide")

sections = {"": [st.Page("pages/home.py", title="Home", default=True)]}
for section in SECTION_ORDER:
    registered = [st.Page(p.path, title=p.title) for p in PAGES if p.section == section]
    if registered:
        sections[section] = registered

navigation = st.navigation(sections)
presenter_switch()
warm_up = warm_up_plotly()  # the browser loads Plotly while the page's imports run
import_pandas()  # before any page's chart (see pages/_ui.py: _PANDAS_TURN)
navigation.run()
keep_presenter_in_link()
if warm_up is not None:
    warm_up.empty()
preload_after_first_page()
