"""The CNN visualizer: a frame around every page (page config, navigation), then the page."""
import streamlit as st

from pages._catalog import PAGES, SECTION_ORDER

st.set_page_config(page_title="Seeing convolutions", layout="wide")

sections = {"": [st.Page("pages/home.py", title="Home", default=True)]}
for section in SECTION_ORDER:
    registered = [st.Page(p.path, title=p.title) for p in PAGES if p.section == section]
    if registered:
        sections[section] = registered

st.navigation(sections).run()
