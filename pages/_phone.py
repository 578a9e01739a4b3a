"""A phone's first screen (issue 25 part 6): the sidebar closes after a page is picked, and a page
can mark the block a phone shows right under its title (its picture or question, before the
controls that a projector shows first).

Not a page itself (the leading underscore keeps it out of navigation).
"""
from __future__ import annotations

import streamlit as st

# Streamlit's own widths (its 1.67 bundle): below 768 px ("md") it treats the sidebar as lying
# over the page (a tap outside closes it), below 640 px its columns stack into one long column.
OVERLAY_SIDEBAR_PX = 768
STACKED_PX = 640

FIRST_KEY = "phone_first_"  # st.container(key=...) gives the block the class st-key-<key>
LAST_KEY = "phone_last_"

_BLOCK = "[data-testid='stMainBlockContainer'] > [data-testid='stVerticalBlock']"
# On a stacked page: the title, then the blocks marked by first_on_phones, then the rest in the
# page's order (a flex column's `order`; Streamlit wraps a keyed container in a layout wrapper);
# a column holding a block marked by last_on_phones goes after its row's other columns. Only
# what is drawn moves: the Tab key and screen readers keep the page's order.
PHONE_CSS = (
    "<style>"
    f"@media (max-width: {STACKED_PX}px) {{ "
    f"{_BLOCK} > [data-testid='stElementContainer']:has(h1) {{ order: -2; }} "
    f"{_BLOCK} > [class*='st-key-{FIRST_KEY}'], "
    f"{_BLOCK} > [data-testid='stLayoutWrapper']:has(> [class*='st-key-{FIRST_KEY}']) {{ order: -1; }} "
    f"[data-testid='stColumn']:has([class*='st-key-{LAST_KEY}']) {{ order: 1; }} }} "
    # The element that holds the script below draws nothing: no gap for it either.
    "[data-testid='stElementContainer']:has(script[data-sidebar-closer]) { display: none; }"
    "</style>")

# Streamlit closes its sidebar after a page is picked only when the browser's user agent names a
# phone (its nav link's click handler); any other narrow window (a tablet, a desktop site on a
# phone, a small browser window) kept it open over 80 % of the page. After Streamlit's own
# handler has run and drawn (the timeout), the sidebar's own close button closes it, unless
# Streamlit already did: clicking it then would open it again. Wider windows show the sidebar
# beside the page and keep it. Once per browser tab: the script runs again on each new run's
# element, the flag keeps a single listener.
SIDEBAR_CLOSER = f"""<script data-sidebar-closer>
if (!window.sidebarCloser) {{
  window.sidebarCloser = true;
  document.addEventListener("click", (event) => {{
    if (window.innerWidth >= {OVERLAY_SIDEBAR_PX} || !event.target.closest('[data-testid="stSidebarNavLink"]')) return;
    setTimeout(() => {{
      const sidebar = document.querySelector('[data-testid="stSidebar"]');
      const close = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
      if (sidebar && sidebar.getAttribute("data-collapsed") === "false" && close) close.click();
    }});
  }});
}}
</script>"""


def phone_frame() -> None:
    """The phone's CSS and the sidebar closer; app.py draws them on every page."""
    st.html(PHONE_CSS)
    st.html(SIDEBAR_CLOSER, unsafe_allow_javascript=True)


def first_on_phones(name: str):
    """A container shown where the page draws it on wide screens, and right under the page's title
    on a phone, e.g. a picture or a question that would otherwise come after a screenful of
    controls. Only for a block drawn directly in the page (not inside columns or another
    container): the order applies among the page's own blocks."""
    return st.container(key=f"{FIRST_KEY}{name}")


def last_on_phones(name: str):
    """A container inside one of a row's columns: on a phone (columns stacked) that column comes
    after the row's other columns, e.g. a long text beside pictures that should come first."""
    return st.container(key=f"{LAST_KEY}{name}")
