"""The Kernel Playground page driven like a user (AppTest): what it shows is checked against
PyTorch's conv2d/conv1d computed here, and bad settings must give a clear message."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

from vizcore import images, kernels

PAGE = "../pages/kernel_playground.py"


def run_page(**query) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    return at


def chart(at: AppTest, key: str) -> dict:
    (found,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")]
    return json.loads(found.proto.spec)


def z_values(spec: dict, trace: int = 0) -> np.ndarray:
    z = spec["data"][trace]["z"]
    if isinstance(z, dict):  # plotly 6+: typed array
        shape = z["shape"]
        shape = [int(n) for n in shape.split(",")] if isinstance(shape, str) else shape
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)
    return np.array(z, dtype=float)


def torch_conv2d(x: np.ndarray, kernel: np.ndarray, stride=1, padding=0, dilation=1) -> np.ndarray:
    xt = torch.tensor(np.asarray(x, dtype=np.float64))
    xt = xt[None, None] if xt.ndim == 2 else xt[None]
    k = torch.tensor(np.array(kernel, dtype=np.float64))
    k = k[None, None] if k.ndim == 2 else k[None]
    return F.conv2d(xt, k, stride=stride, padding=padding, dilation=dilation)[0].squeeze(0).numpy()


def brick_gray() -> np.ndarray:
    img, _ = images.reduce_to_working_size(images.sample_image("brick"), 512)
    return images.to_array(img.convert("RGB"), "L")


def markdown(at: AppTest, start: str) -> str:
    """The text of the first markdown element that starts with `start`."""
    return next(m.value for m in at.markdown if m.value.startswith(start))


def errors(at: AppTest) -> str:
    """The error messages as a reader sees them (messages quoting user text are escaped markdown)."""
    return " ".join(e.value.replace("\\", "") for e in at.error)


def test_default_image_view_shows_sobel_x_of_the_brick_wall_as_torch_computes_it():
    at = run_page()
    shown = z_values(chart(at, "kp_fig_output"))
    expected = torch_conv2d(brick_gray(), kernels.sobel_x())
    assert shown.shape == expected.shape == (510, 510)
    np.testing.assert_allclose(shown, expected, rtol=1e-5, atol=1e-3)
    formula = markdown(at, "**Output size")
    assert formula.startswith("**Output size 510×510**")
    # a square photo and the same settings both ways: one formula for the rows and the columns
    assert "`H_out = W_out = ⌊(H + 2p − d·(k − 1) − 1) / s⌋ + 1`" in formula
    assert "⌊(512 + 2·0 − 1·(3 − 1) − 1) / 1⌋ + 1 = ⌊509 / 1⌋ + 1 = 510" in formula and "W_out = ⌊(W" not in formula
    code = at.code[0].value
    assert "nn.Conv2d(1, 1, kernel_size=3, stride=1, padding=0" in code
    assert "[[[[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]]]]" in code


def test_preset_stride_padding_and_activation_change_the_output():
    at = run_page()
    at.selectbox(key="kp_preset").set_value("Gaussian blur").run()
    at.slider(key="kp_gaussian_blur_sigma").set_value(2.0)
    at.number_input(key="kp_stride_r").set_value(2)
    at.number_input(key="kp_stride_c").set_value(3)
    at.number_input(key="kp_pad").set_value(2)
    at.number_input(key="kp_bias").set_value(-100.0)
    at.selectbox(key="kp_act").set_value("ReLU")
    at.run()
    assert not at.exception and not at.error
    expected = np.maximum(torch_conv2d(brick_gray(), kernels.gaussian(5, 2.0), stride=(2, 3), padding=2) - 100, 0)
    np.testing.assert_allclose(z_values(chart(at, "kp_fig_output")), expected, rtol=1e-5, atol=1e-3)
    formula = markdown(at, "**Output size")
    assert "⌊(512 + 2·2 − 1·(5 − 1) − 1) / 2⌋ + 1 = ⌊511 / 2⌋ + 1 = 256" in formula
    assert "⌊(512 + 2·2 − 1·(5 − 1) − 1) / 3⌋ + 1 = ⌊511 / 3⌋ + 1 = 171" in formula
    assert formula.startswith("**Output size 256×171**") and "W_out = ⌊(W + 2p" in formula  # a formula per axis
    # The URL now reopens this view.
    assert at.query_params["preset"] == "Gaussian blur" and at.query_params["stride"] == "2,3"
    assert at.query_params["sigma"] == "2.0" and at.query_params["act"] == "ReLU"


def test_true_convolution_rotates_the_kernel_and_shows_it():
    at = run_page()
    at.radio(key="kp_op").set_value("convolution")
    at.radio(key="kp_show").set_value("absolute")
    at.run()
    rotated = z_values(chart(at, "kp_fig_rotated"))
    np.testing.assert_array_equal(rotated, np.rot90(kernels.sobel_x(), 2))
    expected = np.abs(torch_conv2d(brick_gray(), np.rot90(kernels.sobel_x(), 2)))
    np.testing.assert_allclose(z_values(chart(at, "kp_fig_output")), expected, rtol=1e-5, atol=1e-3)
    assert "rotated 180°" in at.code[0].value


def test_colour_3d_kernel_sums_the_channels_like_one_conv2d_filter():
    at = run_page(sample="astronaut")
    at.radio(key="kp_color").set_value("3D").run()
    at.number_input(key="kp_w_red").set_value(2.0)
    at.number_input(key="kp_w_blue").set_value(-1.0)
    at.run()
    img, _ = images.reduce_to_working_size(images.sample_image("astronaut"), 512)
    x = images.to_array(img, "RGB")
    kernel3 = np.array([2.0, 1.0, -1.0])[:, None, None] * kernels.sobel_x()
    expected = torch_conv2d(x, kernel3)
    np.testing.assert_allclose(z_values(chart(at, "kp_fig_output")), expected, rtol=1e-4, atol=1e-2)
    parts = chart(at, "kp_fig_parts")
    per_channel = [z_values(parts, c) for c in range(3)]
    total = z_values(chart(at, "kp_fig_sum"))  # the sum has its own figure (and colour scale)
    np.testing.assert_allclose(per_channel[0] + per_channel[1] + per_channel[2], total, atol=1e-2)
    np.testing.assert_allclose(total, expected, rtol=1e-4, atol=1e-2)
    assert "nn.Conv2d(3, 1" in at.code[0].value


def test_grid_kernel_with_an_empty_cell_gives_a_clear_error():
    at = run_page()
    at.radio(key="kp_src").set_value("Grid").run()
    at.session_state["kp_grid"] = {"edited_rows": {1: {"2": None}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    assert "Row 1, column 2 is empty" in errors(at)  # counted from 0, like the figures


def test_stride_zero_and_reflect_too_wide_give_messages_not_tracebacks():
    at = run_page()
    at.number_input(key="kp_stride_r").set_value(0).run()
    assert not at.exception and "stride must be at least 1" in errors(at)
    at = run_page(view="Matrix")
    at.number_input(key="kp_pad").set_value(6)
    at.selectbox(key="kp_pmode").set_value("reflect")
    at.run()
    assert not at.exception and "Reflect padding of 6" in errors(at)


def test_kernel_larger_than_the_padded_input_is_explained():
    at = run_page(view="Matrix", example=list(kernels.WORKED_EXAMPLES)[9])  # the 3×3 image
    at.number_input(key="kp_pad").set_value(0)
    at.number_input(key="kp_dil").set_value(2)
    at.run()
    assert not at.exception
    assert "larger than the padded input" in errors(at) and "dilated to 5" in errors(at)


def test_matrix_view_worked_example_arithmetic_and_stepping():
    at = run_page(view="Matrix")
    x = np.array(kernels.WORKED_EXAMPLES[next(iter(kernels.WORKED_EXAMPLES))].matrix, dtype=float)
    k = np.array([[3, 0, 8], [1, 5, 10], [0, 2, 9]], dtype=float)
    out = z_values(chart(at, "kp_fig_out_0"))
    np.testing.assert_array_equal(out, torch_conv2d(x, k))
    assert "1×3 + 4×0 + 12×8 + 9×1 + 15×5 + 3×10 + 1×0 + 4×2 + 8×9 = 293" in markdown(at, "**Output row")
    at.button(key="kp_next").click().run()
    assert "Output row 0, column 1" in markdown(at, "**Output row")
    assert f"= {int(out[0, 1])}" in markdown(at, "**Output row")
    at.slider(key="kp_cell").set_value(15).run()
    assert "Output row 3, column 3" in markdown(at, "**Output row")
    at.button(key="kp_next").click().run()  # already the last cell: stays there
    assert at.session_state["kp_cell"] == 15


def test_matrix_view_with_an_edited_cell_stride_and_padding():
    at = run_page(view="Matrix")
    at.session_state["kp_matrix"] = {"edited_rows": {0: {"0": 100}}, "added_rows": [], "deleted_rows": []}
    at.number_input(key="kp_stride_r").set_value(2)
    at.number_input(key="kp_stride_c").set_value(2)
    at.number_input(key="kp_pad").set_value(1)
    at.run()
    assert not at.exception and not at.error
    x = np.array(kernels.WORKED_EXAMPLES[next(iter(kernels.WORKED_EXAMPLES))].matrix, dtype=float)
    x[0, 0] = 100
    k = np.array([[3, 0, 8], [1, 5, 10], [0, 2, 9]], dtype=float)
    expected = torch_conv2d(x, k, stride=2, padding=1)
    np.testing.assert_array_equal(z_values(chart(at, "kp_fig_out_0")), expected)
    # The first window lies mostly on the padding ring: zeros times weights.
    assert "0×3 + 0×0 + 0×8 + 0×1 + 100×5 + 4×10 + 0×0 + 9×2 + 15×9" in markdown(at, "**Output row")
    padded = chart(at, "kp_fig_matrix_0")
    assert padded["data"][0]["y"][0] == -1  # the padding ring's row label
    assert at.query_params["matrix"].startswith("100,4,12")


def test_link_reopens_the_same_view():
    at = run_page(view="Matrix", example=list(kernels.WORKED_EXAMPLES)[2], cell="3")
    assert at.radio(key="kp_view").value == "Matrix"
    assert at.session_state["kp_stride_r"] == 2  # the stride-2 example
    assert "Output row 1, column 1" in markdown(at, "**Output row")
    at = run_page(preset="Laplacian 4", stride="2,1", pad="same", pmode="replicate", show="min-max")
    assert at.selectbox(key="kp_preset").value == "Laplacian 4"
    assert at.selectbox(key="kp_pad_kind").value == "same"
    assert (at.number_input(key="kp_stride_r").value, at.number_input(key="kp_stride_c").value) == (2, 1)
    assert markdown(at, "**Output size").startswith("**Output size 256×512**")
    at = run_page(preset="No such kernel", stride="-1", pad="99")
    warning = at.warning[0].value.replace("\\", "")  # what a reader sees: the link's text is escaped markdown
    assert "preset=No such kernel" in warning and "stride=-1" in warning and "pad=99" in warning
    assert at.selectbox(key="kp_preset").value == "Sobel x" and at.number_input(key="kp_pad").value == 0


@pytest.mark.parametrize("example, expected", [
    (1, [20.0, 50.0, 80.0]),  # deck 004: 10, 20, 30 with kernel 1, 2, causal
])
def test_1d_causal_example(example, expected):
    at = run_page(view="1D")
    at.selectbox(key="kp_ex1d").set_value(list(kernels.SIGNAL_EXAMPLES)[example]).run()
    x = torch.tensor([[[10.0, 20.0, 30.0]]])
    ref = F.conv1d(F.pad(x, (1, 0)), torch.tensor([[[1.0, 2.0]]]))[0, 0].numpy()
    np.testing.assert_allclose(ref, expected)
    np.testing.assert_allclose(z_values(chart(at, "kp_fig_signal_out"))[0], ref)
    assert "0×1 + 10×2 = 20" in markdown(at, "**Output 0:")


def test_1d_moving_average_with_stride_and_dilation():
    at = run_page(view="1D")
    at.number_input(key="kp_s1d").set_value(2)
    at.number_input(key="kp_d1d").set_value(2)
    at.run()
    a = torch.tensor([[[1.0, 5, 3, 7, 5, 9, 7, 14]]], dtype=torch.float64)
    ref = F.conv1d(a, torch.full((1, 1, 3), 1 / 3, dtype=torch.float64), stride=2, dilation=2)[0, 0].numpy()
    np.testing.assert_allclose(z_values(chart(at, "kp_fig_signal_out"))[0], ref)
    assert "⌊(8 + 2·0 − 2·(3 − 1) − 1) / 2⌋ + 1 = ⌊3 / 2⌋ + 1 = 2" in markdown(at, "**Output length")
    at.text_input(key="kp_signal").set_value("1, 2, x").run()
    assert "entry 3 ('x') is not a number" in errors(at)


def test_a_filter_sent_from_feature_maps_is_applied_to_the_photo():
    """Feature maps stores a learned filter in session state and switches here."""
    learned = [[0.25, -0.5, 0.125], [1.0, 0.0, -1.0], [0.5, 0.75, -0.25]]
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["playground_kernel"] = learned
    at.run()
    assert not at.exception and not at.error
    assert at.session_state["kp_src"] == "Grid"
    shown = z_values(chart(at, "kp_fig_output"))
    np.testing.assert_allclose(shown, torch_conv2d(brick_gray(), np.array(learned)), rtol=1e-5, atol=1e-3)
    at.run()  # the filter stays in the grid on the next rerun
    np.testing.assert_allclose(z_values(chart(at, "kp_fig_output")), shown)


def test_a_broken_filter_sent_from_another_page_gives_a_message():
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["playground_kernel"] = [[1.0, float("nan")], [0.0, 1.0]]
    at.run()
    assert not at.exception
    assert "could not be used" in errors(at)


def test_first_view_shows_the_photo_and_its_filtered_result_as_still_images(monkeypatch):
    """The first picture needs no Plotly: two st.image elements at the top of the Image view,
    the input's pixels and the output coloured exactly as the chart colours its values."""
    import io

    from PIL import Image
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    from vizcore import conv
    from vizcore.figures import playground as pg_figs, style

    stored: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def recording(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        stored[file_id] = path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", recording)
    at = run_page()
    shown = at.get("image")
    assert len(shown) >= 2
    urls = [img.url for element in shown[:2] for img in element.proto.imgs]
    first, second = (np.asarray(Image.open(io.BytesIO(stored[u.rsplit("/", 1)[-1].split(".")[0]])))
                     for u in urls)
    # the photo: the default sample's gray pixels
    np.testing.assert_array_equal(first, brick_gray())
    # the result: vizcore's correlation of the default preset, coloured on the chart's scale
    y = conv.correlate2d(brick_gray(), kernels.preset_kernel(at.session_state["kp_preset"]))
    out = chart(at, "kp_fig_output")
    np.testing.assert_allclose(z_values(out), y, rtol=1e-5, atol=1e-3)
    trace = out["data"][0]
    crange = pg_figs.response_range(y, "raw", robust=True)
    assert (trace["zmin"], trace["zmax"]) == pytest.approx((crange.zmin, crange.zmax))
    colorscale = style.colour_scale_for(y).colorscale
    expected = style.colourise(y.astype(np.float32), zmin=crange.zmin, zmax=crange.zmax, colorscale=colorscale)
    np.testing.assert_array_equal(second, expected)
    assert "as on the chart's colour bar" in shown[1].proto.imgs[0].caption
