"""The app's pages. Importing this package settles how Streamlit routes them.

Streamlit decides once per server process, on the first session, whether a folder named
`pages/` next to app.py is a legacy (v1) multipage folder. On a fresh server the first deep
link (e.g. /kernel_playground) is then run as a bare legacy page, bypassing app.py and its
st.navigation. Every page imports this package, so the first such run switches the process to
st.navigation routing and reruns through app.py.
"""
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

if PagesManager.uses_pages_directory:
    PagesManager.uses_pages_directory = False
    if st.runtime.exists():
        st.rerun()
