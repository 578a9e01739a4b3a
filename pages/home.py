"""Home: what the app is and what each page teaches."""
import streamlit as st

from pages._catalog import PAGES, SECTION_ORDER
from pages import route_through_app

route_through_app()  # a cold deep link runs inside app.py's frame

# Card titles (the links) larger than the descriptions under them: read first, from the back row.
st.html("<style>[data-testid='stMain'] [data-testid='stPageLink'] p { font-size: 1.45rem; font-weight: 700; }"
        "</style>")
st.title("Seeing convolutions")
st.markdown(
    "An interactive companion to the lectures on convolutional neural networks. "
    "Every number on these pages is computed by real operations (numpy, PyTorch), "
    "so you can check the slides, try your own photos and practise until the arithmetic is easy."
)
for page in [p for p in PAGES if p.section == ""]:  # the live class, for the whole hall
    with st.container(border=True):
        st.page_link(page.path, label=f"**{page.title}** →")
        st.markdown(page.teaches)
for section in SECTION_ORDER:
    pages = [p for p in PAGES if p.section == section]
    if not pages:
        continue
    st.header(section)
    for page in pages:
        with st.container(border=True):
            st.page_link(page.path, label=f"**{page.title}** →")
            st.markdown(page.teaches)
