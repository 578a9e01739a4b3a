"""The Kernel playground's settings and shared link (pages/_kernel_playground_state.py), without Streamlit:
whatever the page writes into the address must open the same view again."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from vizcore import kernels
from vizcore import playground as pg
from vizcore.figures import playground as pg_figs
from pages import _kernel_playground_state as pg_state

FAST = settings(max_examples=100, deadline=None)

whole_grids = st.integers(1, 15).flatmap(
    lambda rows: st.integers(1, 15).flatmap(
        lambda cols: st.lists(st.lists(st.integers(-999, 999), min_size=cols, max_size=cols),
                              min_size=rows, max_size=rows))).map(lambda g: np.array(g, dtype=float))


@FAST
@given(whole_grids)
def test_whole_number_grids_survive_the_link_exactly(grid):
    text = pg_state.encode_grid(grid)
    assert "." not in text  # "2" rather than "2." in a link a person may read
    np.testing.assert_array_equal(pg_state.decode_grid(text), grid)


@FAST
@given(st.lists(st.lists(st.floats(-1e6, 1e6, allow_subnormal=False), min_size=3, max_size=3),
                min_size=1, max_size=5))
def test_fractional_grids_survive_the_link_to_six_digits(rows):
    grid = np.array(rows)
    np.testing.assert_allclose(pg_state.decode_grid(pg_state.encode_grid(grid)), grid, rtol=6e-6, atol=1e-300)


@pytest.mark.parametrize("text, why", [
    ("1,2;3", "same number of cells"),
    ("1,x;3,4", "not a number"),
    ("", "empty"),
])
def test_broken_grid_text_is_refused_with_a_reason(text, why):
    with pytest.raises(kernels.KernelError, match=why):
        pg_state.decode_grid(text)


def test_a_grid_larger_than_allowed_is_refused():
    assert pg_state.decode_grid("1/3,1/2").tolist() == [[1 / 3, 1 / 2]]
    with pytest.raises(kernels.KernelError, match="at most 2"):
        pg_state.decode_grid("1,2,3", max_side=2)


@pytest.mark.parametrize("text, pair", [("2", ("2", "2")), ("2,3", ("2", "3")), (" 4 , 1 ", ("4", "1"))])
def test_split_pair(text, pair):
    assert pg_state.split_pair(text) == pair


def test_split_pair_refuses_three_values():
    with pytest.raises(ValueError):
        pg_state.split_pair("1,2,3")


@pytest.mark.parametrize("value, pair", [(2, (2, 2)), ((2, 1), (2, 1)), ([3, 4], (3, 4))])
def test_as_pair(value, pair):
    assert kernels.as_pair(value) == pair


@pytest.mark.parametrize("key", [k for k in pg_state.DEFAULTS if not isinstance(pg_state.DEFAULTS[k], list)])
def test_every_default_is_a_valid_setting(key):
    """A default outside its widget's range or choices would make Streamlit raise."""
    assert pg_state.decode_setting(key, str(pg_state.DEFAULTS[key])) == pg_state.DEFAULTS[key]


@pytest.mark.parametrize("key, text", [
    ("kp_view", "Nonsense"), ("kp_pad", "33"), ("kp_pad", "-1"), ("kp_dil", "1.5"),
    ("kp_bias", "nan"), ("kp_bias", "inf"), ("kp_seed", "ten"),
])
def test_decode_setting_refuses_what_a_widget_cannot_show(key, text):
    with pytest.raises(ValueError):
        pg_state.decode_setting(key, text)


def test_decode_setting_types():
    assert pg_state.decode_setting("kp_norm", "True") is True and pg_state.decode_setting("kp_norm", "no") is False
    assert pg_state.decode_setting("kp_dil", "3") == 3 and pg_state.decode_setting("kp_bias", "-2.5") == -2.5
    assert pg_state.decode_setting("kp_signal", "1, 2") == "1, 2"


def test_read_link_keeps_the_good_entries_and_names_the_bad_ones():
    found, ignored = pg_state.read_link({"preset": "No such kernel", "stride": "-1", "pad": "99",
                                   "act": "ReLU", "weights": "1,2,99", "grid": "1,2;3"})
    assert ignored == ["preset=No such kernel", "stride=-1", "pad=99", "weights=1,2,99", "grid=…"]
    assert found == {"kp_act": "ReLU"}  # a bad weights entry changes none of the three weights


def test_read_link_reads_preset_settings_of_the_linked_preset_only():
    found, ignored = pg_state.read_link({"preset": "Gaussian blur", "sigma": "2.0", "size": "7.0",
                                   "angle": "30"})
    assert ignored == []
    assert found == {"kp_preset": "Gaussian blur", "kp_gaussian_blur_sigma": 2.0,
                     "kp_gaussian_blur_size": 7}


def test_a_matrix_link_without_its_matrix_loads_the_example_then_the_link_wins():
    name = list(kernels.WORKED_EXAMPLES)[2]  # stride 2
    found, _ = pg_state.read_link({"view": "Matrix", "example": name, "dil": "2"})
    example = kernels.WORKED_EXAMPLES[name]
    np.testing.assert_array_equal(found["kp_matrix_base"], np.array(example.matrix, dtype=float))
    np.testing.assert_array_equal(found["kp_grid_base"], np.array(example.kernel, dtype=float))
    assert (found["kp_stride_r"], found["kp_stride_c"]) == (2, 2)
    assert found["kp_dil"] == 2 and found["kp_src"] == "Grid" and found["kp_example_loaded"]


@pytest.mark.parametrize("name", list(kernels.WORKED_EXAMPLES))
def test_example_settings_are_valid_widget_values(name):
    found = pg_state.example_settings(name)
    for key, value in found.items():
        if key in pg_state.RANGES or key in pg_state.CHOICES:
            assert pg_state.decode_setting(key, str(value)) == value, key
    assert found["kp_matrix_base"].shape == (found["kp_mat_rows"], found["kp_mat_cols"])


@pytest.mark.parametrize("name", list(kernels.SIGNAL_EXAMPLES))
def test_signal_example_settings_are_valid_widget_values(name):
    for key, value in pg_state.signal_example_settings(name).items():
        if key in pg_state.RANGES or key in pg_state.CHOICES:
            assert pg_state.decode_setting(key, str(value)) == value, key


@st.composite
def page_states(draw):
    """A full page state as a user could leave it (every setting within its widget's range)."""
    state = dict(pg_state.DEFAULTS)
    for key, choices in pg_state.CHOICES.items():
        state[key] = draw(st.sampled_from(choices))
    if state["kp_view"] != "Matrix":
        # Elsewhere a changed example is not in effect; a link naming it loads it (see the report).
        state["kp_example"] = pg_state.DEFAULTS["kp_example"]
    for key, (low, high) in pg_state.RANGES.items():
        if isinstance(pg_state.DEFAULTS[key], int):
            state[key] = draw(st.integers(int(low), int(high)))
        elif key.startswith("kp_w_"):
            state[key] = draw(st.integers(-100, 100)) / 10  # what the 0.1-step widget gives
        else:
            state[key] = draw(st.floats(low, high))
    for key in ("kp_rand_int", "kp_norm", "kp_causal"):
        state[key] = draw(st.booleans())
    for key in ("kp_signal", "kp_k1d_text"):
        state[key] = draw(st.text(max_size=20))
    state["kp_pad_kind"] = draw(st.sampled_from(pg_state.PAD_KINDS))
    state["kp_filters"] = draw(st.lists(st.sampled_from(list(kernels.PRESETS)), max_size=4))
    grid = draw(whole_grids)
    state["kp_grid_base"], (state["kp_grid_rows"], state["kp_grid_cols"]) = grid, grid.shape
    if state["kp_view"] == "Matrix":  # the page always has a matrix there
        matrix = draw(whole_grids)
        state["kp_matrix_base"], (state["kp_mat_rows"], state["kp_mat_cols"]) = matrix, matrix.shape
    return state


def carried_keys(state: dict) -> list[str]:
    """The settings a link carries for `state` (the rest are not in effect)."""
    keys = list(pg_state.LINK_KEYS.values()) + ["kp_stride_r", "kp_stride_c", "kp_pad_kind", "kp_filters"]
    keys += [f"kp_w_{c}" for c in pg_state.CHANNELS]
    keys += [pg_state.param_key(state["kp_preset"], p.name) for p in kernels.PRESETS[state["kp_preset"]].params]
    keys += {"number": ["kp_pad"], "pair": ["kp_pad_r", "kp_pad_c"]}.get(state["kp_pad_kind"], [])
    if state["kp_src"] == "Grid":
        keys += ["kp_grid_base", "kp_grid_rows", "kp_grid_cols"]
    if state["kp_view"] == "Matrix":
        keys += ["kp_matrix_base", "kp_mat_rows", "kp_mat_cols"]
    return keys


@FAST
@given(page_states())
def test_a_written_link_reads_back_as_the_same_settings(state):
    link = pg_state.write_link(state)
    assert all(isinstance(v, str) for v in link.values())
    found, ignored = pg_state.read_link(link)
    assert ignored == []
    reopened = {**pg_state.DEFAULTS, **found}
    for key in carried_keys(state):
        if isinstance(state[key], np.ndarray):
            np.testing.assert_array_equal(reopened[key], state[key], err_msg=key)
        else:
            assert reopened[key] == state[key], key


def test_the_default_state_writes_an_empty_link():
    assert pg_state.write_link(dict(pg_state.DEFAULTS)) == {}


def test_a_grid_with_an_empty_cell_is_left_out_of_the_link():
    state = {**pg_state.DEFAULTS, "kp_src": "Grid", "kp_grid_base": np.array([[1.0, np.nan]]), "kp_dil": 2}
    assert pg_state.write_link(state) == {"src": "Grid", "dil": "2"}


def test_resize_grid_keeps_the_top_left_and_fills_zeros():
    grid = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(pg_state.resize_grid(grid, 3, 2), [[0, 1], [3, 4], [0, 0]])


@FAST
@given(st.integers(1, 15), st.integers(1, 15), st.integers(0, 10_000), st.booleans())
def test_random_kernel_is_reproducible_and_in_range(rows, cols, seed, integers):
    k = pg_state.random_kernel(rows, cols, seed, integers=integers)
    assert k.shape == (rows, cols)
    np.testing.assert_array_equal(k, pg_state.random_kernel(rows, cols, seed, integers=integers))
    bound = 5 if integers else 1
    assert np.all(np.abs(k) <= bound)
    if integers:
        assert np.all(k == np.round(k))
    assert pg_state.random_kernel(rows, cols, seed, integers=integers, channels=3).shape == (3, rows, cols)


# --- what the page computes from its settings ----------------------------------------------

def test_conv_settings_for_each_padding_kind():
    state = {**pg_state.DEFAULTS, "kp_stride_r": 2, "kp_pad": 3, "kp_pad_r": 1, "kp_pad_c": 4, "kp_dil": 2}
    assert pg_state.conv_settings(state) == dict(stride=(2, 1), padding=3, dilation=2, padding_mode="zeros")
    assert pg_state.conv_settings({**state, "kp_pad_kind": "pair"})["padding"] == (1, 4)
    assert pg_state.conv_settings({**state, "kp_pad_kind": "same"})["padding"] == "same"


@FAST
@given(st.integers(1, 20), st.integers(1, 20), st.integers(1, 5), st.integers(1, 5),
       st.integers(1, 3), st.integers(1, 3), st.integers(0, 3), st.integers(1, 3))
def test_output_size_formulas_agree_with_torch(h, w, kh, kw, sh, sw, pad, dil):
    if h + 2 * pad < dil * (kh - 1) + 1 or w + 2 * pad < dil * (kw - 1) + 1:
        return  # torch refuses these too; conv's message is tested in test_conv
    lines, out = pg.output_size_formulas((h, w), (kh, kw), (sh, sw), pad, dil)
    expected = F.conv2d(torch.zeros(1, 1, h, w), torch.zeros(1, 1, kh, kw), stride=(sh, sw),
                        padding=pad, dilation=dil).shape[-2:]
    assert out == tuple(expected)
    assert lines[0].startswith("H_out") and lines[0].endswith(f"= {out[0]}")
    assert lines[1].startswith("W_out") and lines[1].endswith(f"= {out[1]}")


def test_filter_bank_centres_smaller_kernels_and_scales_each_channel():
    small, big = np.ones((1, 1)), np.arange(9.0).reshape(3, 3)
    bank = pg.filter_bank([small, big], np.array([1.0, 2.0, -1.0]))
    assert bank.shape == (2, 3, 3, 3)
    np.testing.assert_array_equal(bank[0, 1], [[0, 0, 0], [0, 2, 0], [0, 0, 0]])
    np.testing.assert_array_equal(bank[1, 2], -big)
    np.testing.assert_array_equal(pg.centre_in(np.ones((1, 2)), (3, 4)),
                                  [[0, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]])


def test_content_hash_sees_every_pixel():
    """st.cache_data samples big arrays; one changed pixel in 512×512×3 must change the key."""
    x = np.zeros((3, 512, 512), dtype=np.uint8)
    y = x.copy()
    y[1, 300, 17] = 1
    assert pg.content_hash(x) == pg.content_hash(x.copy()) != pg.content_hash(y)


def test_kernel_1d_choices():
    np.testing.assert_allclose(pg.kernel_1d("moving average", 4), [0.25] * 4)
    np.testing.assert_array_equal(pg.kernel_1d("difference"), [-1, 1])
    np.testing.assert_allclose(pg.kernel_1d("custom", text="1/3, 1/3, 1/3"), [1 / 3] * 3)
    with pytest.raises(kernels.KernelError, match="at most 15 taps"):
        pg.kernel_1d("custom", text=", ".join(["1"] * 16))
    with pytest.raises(kernels.KernelError, match="not a number"):
        pg.kernel_1d("custom", text="1, x")


@FAST
@given(st.integers(1, 30), st.integers(1, 5), st.integers(1, 3), st.integers(0, 3), st.integers(1, 3),
       st.booleans())
def test_signal_padding_and_positions_match_torch_conv1d(n, taps, stride, padding, dilation, causal):
    before, after = pg.signal_padding(taps, padding, dilation, causal)
    if n + before + after < dilation * (taps - 1) + 1:
        return
    x = torch.arange(float(n))[None, None]
    count = F.conv1d(F.pad(x, (before, after)), torch.ones(1, 1, taps), stride=stride,
                     dilation=dilation).shape[-1]
    positions = pg.output_positions(count, taps, stride, dilation, before, causal)
    first_tap = np.arange(count) * stride - before  # index of each window's oldest input
    newest = first_tap + dilation * (taps - 1)
    if causal:
        assert before == dilation * (taps - 1) and after == 0
        np.testing.assert_array_equal(positions, newest)  # never ahead of its inputs
    else:
        np.testing.assert_allclose(positions, (first_tap + newest) / 2)


@pytest.mark.parametrize("how, diverging, zmax", [("raw", True, None), ("absolute", False, None),
                                                  ("clipped 0..255", False, 255), ("min-max", False, 255)])
def test_response_row_colours_like_one_response(how, diverging, zmax):
    maps = [np.array([[-3.0, 1.0]]), np.array([[2.0, 0.5]])]
    fig = pg_figs.response_row(maps, ["a", "b"], how, robust=False)
    assert len(fig.data) == 2 and [a.text for a in fig.layout.annotations] == ["a", "b"]
    if diverging:
        assert (fig.data[0].zmin, fig.data[0].zmax) == (-3.0, 3.0)
    elif how == "absolute":  # from 0 to the largest value of all maps
        assert (fig.data[0].zmin, fig.data[0].zmax) == (0, 2.0)
    else:
        assert (fig.data[0].zmin, fig.data[0].zmax) == (0, zmax)
    # one scale for both maps, the same as one response figure of both maps together
    one = pg_figs.response_figure(np.concatenate(maps, axis=1), how, robust=False).data[0]
    for trace in fig.data:
        assert (trace.zmin, trace.zmax) == (one.zmin, one.zmax)


@pytest.mark.parametrize("value, text", [(3.0, "3"), (-2.0, "-2"), (1 / 3, "0.3333"), (12345.6, "1.235e+04")])
def test_format_number(value, text):
    assert pg_figs.format_number(value) == text
