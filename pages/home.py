"""Home: what the app does, in pictures. One card per page: a small picture computed by the
app's own code as that page computes it (vizcore.thumbnails), the page's link and a short line."""
import io
from pathlib import Path
from typing import Callable, NamedTuple

import streamlit as st

from pages import _live, route_through_app
from pages._catalog import PAGES, SECTION_ORDER

route_through_app()  # a cold deep link runs inside app.py's frame

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from pages._ui.model_input import test_split  # noqa: E402
from pages._ui.models import _shipped_model  # noqa: E402
from vizcore import data, shapes, thumbnails as th  # noqa: E402

COLUMNS = 4  # cards a row: a section's pages side by side on a projector; one a row on a phone
DIGIT = "3"  # the test digit the model pages' pictures explain (a "1" shows little)


def digit_and_model():
    model, meta = _shipped_model("digits")
    return model, meta, th.first_picture(test_split("digits"), DIGIT)


def shortcut_picture():
    model, meta = _shipped_model("shortcut")
    pictures, _ = data.preview_pictures("shortcut", 1)
    return model, meta, pictures[0].numpy().transpose(1, 2, 0)


class Picture(NamedTuple):
    make: Callable[[], np.ndarray]
    alt: str  # what it shows, for a screen reader


PICTURES = {
    "pages/kernel_playground.py": Picture(lambda: th.kernel_response(th.sample("brick", zoom=2)),
                                          "A brick wall and its Sobel response: vertical edges in red and blue"),
    "pages/shape_calculator.py": Picture(lambda: th.layer_blocks(shapes.PRESETS["LeNet-5"], shapes.PRESET_INPUTS["LeNet-5"]),
                                         "LeNet-5's tensors as blocks shrinking from the 32×32 input to 10 classes"),
    "pages/pooling.py": Picture(lambda: th.max_pooled(th.sample("camera")), "A photo and its 4×4 max pooling"),
    "pages/quiz.py": Picture(th.conv_arithmetic, "A 5×5 input with padding 1, a 3×3 window at stride 2, "
                                                 "and the 3×3 output"),
    "pages/training.py": Picture(lambda: th.digits_and_confusion(_shipped_model("digits")[0], test_split("digits")),
                                 "Nine test digits and the trained model's confusion matrix"),
    "pages/feature_maps.py": Picture(lambda: th.channel_maps(*digit_and_model()),
                                     "A digit and four feature maps of the first convolution"),
    "pages/transfer_learning.py": Picture(lambda: th.one_per_class(*data.preview_pictures("shapes")),
                                          "One picture of each of the eight shape classes"),
    "pages/architectures.py": Picture(th.parameter_bars, "Parameter counts from LeNet-5 to EfficientNet-Lite0, "
                                                         "as bars on a log scale"),
    "pages/saliency.py": Picture(lambda: th.gradient_map(*digit_and_model()), "A digit and its gradient saliency map"),
    "pages/occlusion.py": Picture(lambda: th.occlusion_map(*digit_and_model()), "A digit and its occlusion map"),
    "pages/lime.py": Picture(lambda: th.lime_superpixels(*digit_and_model()),
                             "A digit cut into superpixels, and the five that LIME finds raise the class"),
    "pages/explanation_scores.py": Picture(lambda: th.gradient_map(*shortcut_picture()),
                                           "A shape with a coloured corner tag, and the gradient of a model that "
                                           "learnt the tag"),
}


@st.cache_data(max_entries=24, show_spinner=False)  # 13 pages, and the QR codes of a few addresses
def picture_png(path: str, address: str = "") -> bytes:
    """A card's picture as PNG bytes: the same for every session (made from the shipped models,
    data and samples only); ``address`` is the live class's, for its QR code."""
    picture = th.qr_code(address) if path == "pages/live_class.py" else PICTURES[path].make()
    out = io.BytesIO()
    Image.fromarray(picture).save(out, format="PNG")
    return out.getvalue()


def card(page) -> None:
    """A page's card: its picture, its link and its short line, one under the other."""
    with st.container(border=True, key=f"home_card_{Path(page.path).stem}"):
        st.image(picture_png(page.path), width="stretch", alt=PICTURES[page.path].alt, output_format="PNG")
        st.page_link(page.path, label=f"**{page.title}** →", help=page.teaches)
        st.markdown(page.short)


def live_card(page) -> None:
    """The live class's card, beside the title: its QR code left of the link and the line (as
    low as the title's lines, so the pages' pictures start on the first screen)."""
    address = _live.live_address()
    with st.container(border=True, horizontal=True, vertical_alignment="center", key="home_card_live_class"):
        # at its own size: a QR code scaled by the browser blurs its modules
        st.image(picture_png(page.path, address), width="content", alt=f"QR code of {address}", output_format="PNG")
        with st.container():
            st.page_link(page.path, label=f"**{page.title}** →", help=page.teaches)
            st.markdown(page.short)


# Cards with little room around the picture, the title and the line: two rows of them fit the
# projector's first screen. Titles (the links) larger than the lines under them, read first from
# the back row; a title longer than its card wraps (Streamlit cuts a link's label to one line).
st.html("<style>[class*='st-key-home_card_'] { padding: 0.6rem; gap: 0.4rem; }"
        "[data-testid='stMain'] [data-testid='stPageLink'] a { padding-left: 0; }"
        "[data-testid='stMain'] [data-testid='stPageLink'] span { white-space: normal; }"
        "[data-testid='stMain'] [data-testid='stPageLink'] p { font-size: 1.15rem; font-weight: 700; "
        "line-height: 1.3; }</style>")
intro, beside = st.columns([3, 2], vertical_alignment="center")
with intro:
    st.title("Seeing convolutions")
    st.markdown("Every number and picture in this companion to the CNN lectures is computed by real "
                "operations (numpy, PyTorch): check the slides, try your own photos, practise the arithmetic.")
with beside:
    for page in [p for p in PAGES if p.section == ""]:  # the live class, for the whole hall
        live_card(page)
for section in SECTION_ORDER:
    pages = [p for p in PAGES if p.section == section]
    if not pages:
        continue
    st.subheader(section)
    for start in range(0, len(pages), COLUMNS):
        for column, page in zip(st.columns(COLUMNS), pages[start:start + COLUMNS]):
            with column:
                card(page)
