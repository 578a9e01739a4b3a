"""pages/_ui/picture.py: the image picker every page uses, driven like a user in AppTest."""
import io

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest


def picker_script():
    import streamlit as st

    from pages._ui.picture import image_input

    view = st.radio("View", ["Picture", "Elsewhere"], key="view")
    if view == "Picture":
        img = image_input("t", mode="RGB", max_side=256, default_sample="chelsea")
        if img is not None:
            st.write(f"size {img.width}x{img.height} mode {img.mode}")


def png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), 120, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def shown(at) -> str:
    return " ".join(m.value for m in at.markdown)


def test_default_sample_is_reduced_to_working_size_with_a_note():
    at = AppTest.from_function(picker_script).run()
    assert not at.exception
    assert at.selectbox(key="t_sample").value == "chelsea"
    assert "size 256x170 mode RGB" in shown(at)  # 451x300 photo, longest side 256
    assert any("Reduced to 256×170" in c.value for c in at.caption)


def test_upload_is_used_and_survives_switching_away_and_back():
    at = AppTest.from_function(picker_script).run()
    at.radio(key="t_source").set_value("Upload").run()
    assert any("Choose an image" in i.value for i in at.info)
    at.get("file_uploader")[0].set_value(("me.png", png(100, 60), "image/png"))
    at.run()
    assert "size 100x60 mode RGB" in shown(at)
    at.radio(key="view").set_value("Elsewhere").run()
    at.radio(key="view").set_value("Picture").run()
    assert at.radio(key="t_source").value == "Upload"
    assert "size 100x60 mode RGB" in shown(at)
    assert any("me.png" in c.value.replace("\\", "") for c in at.caption)  # shown literally: escaped markdown


def test_broken_and_non_image_uploads_show_a_message_not_a_traceback():
    for name, data, words in [
        ("broken.png", png(100, 60)[:80], "damaged"),
        ("page.png", b"<html>not a picture</html>", "not an image"),
        ("long.png", png(2000, 20), "aspect ratio"),
    ]:
        at = AppTest.from_function(picker_script).run()
        at.radio(key="t_source").set_value("Upload").run()
        at.get("file_uploader")[0].set_value((name, data, "image/png"))
        at.run()
        assert not at.exception
        assert len(at.error) == 1 and words in at.error[0].value, name
        assert "size" not in shown(at)
