"""The Kernel Playground page's state: each setting's session key, default, range or choices and
name in the shared link, the link read and written from those tables, and the settings a worked
example loads. No Streamlit here, so a shared link is tested without a browser.

The arithmetic is in :mod:`vizcore.playground`, the figures in :mod:`vizcore.figures.playground`.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from vizcore import images, kernels
from vizcore.playground import ACTIVATIONS, DISPLAYS, PADDING_MODES, ROW_SCALES


def conv_settings(state: Mapping[str, object]) -> dict[str, object]:
    """The page's operation settings as :func:`vizcore.conv.correlate2d` keyword arguments."""
    kind = state["kp_pad_kind"]
    if kind in ("valid", "same"):
        padding: object = kind
    elif kind == "pair":
        padding = (int(state["kp_pad_r"]), int(state["kp_pad_c"]))
    else:
        padding = int(state["kp_pad"])
    return dict(stride=(int(state["kp_stride_r"]), int(state["kp_stride_c"])), padding=padding,
                dilation=int(state["kp_dil"]), padding_mode=state["kp_pmode"])


# --- the page's settings and the link a lecturer copies -------------------------------------
# The page keeps every setting under one session key ("kp_..."); the tables below say each
# one's default, allowed range or choices, and its name in the address. Reading and writing
# the address are pure functions of these tables, so a shared link is tested without a browser.

VIEWS = ("Image", "Matrix", "1D")
OPERATIONS = ("cross-correlation", "convolution")
COLOUR_MODES = ("gray", "per-channel", "3D", "filters")
KERNEL_SOURCES = ("Preset", "Random", "Grid")
PAD_KINDS = ("number", "pair", "valid", "same")
KERNELS_1D = ("moving average", "difference", "custom")
CHANNELS = ("red", "green", "blue")
MAX_MATRIX = 16
MAX_FILTERS = 7  # more filters beside the user's kernel: one figure row stays readable
MAX_TEXT = 400  # characters of a free-text setting (a signal, a 1D kernel) a link may carry
MAX_SIGNAL = 64  # values of a 1D signal: every one is drawn as a numbered cell
FIRST_EXAMPLE = next(iter(kernels.WORKED_EXAMPLES))
FIRST_SIGNAL = next(iter(kernels.SIGNAL_EXAMPLES))


def param_key(preset: str, param: str) -> str:
    """The session key of one preset's setting, e.g. ``kp_gaussian_blur_sigma``."""
    slug = "".join(c if c.isalnum() else "_" for c in preset.lower())
    return f"kp_{slug}_{param}"


DEFAULTS: dict[str, object] = {
    "kp_view": "Image", "kp_color": "gray", "kp_src": "Preset", "kp_preset": "Sobel x",
    "kp_rand_rows": 3, "kp_rand_cols": 3, "kp_seed": 0, "kp_rand_int": False,
    "kp_grid_rows": 3, "kp_grid_cols": 3, "kp_norm": False, "kp_op": "cross-correlation",
    "kp_stride_r": 1, "kp_stride_c": 1, "kp_pad_kind": "number", "kp_pad": 0, "kp_pad_r": 0,
    "kp_pad_c": 0, "kp_pmode": "zeros", "kp_dil": 1, "kp_bias": 0.0, "kp_act": "none",
    "kp_show": "raw", "kp_w_red": 1.0, "kp_w_green": 1.0, "kp_w_blue": 1.0,
    "kp_filters": ["Sobel y", "Laplacian 4"], "kp_example": FIRST_EXAMPLE, "kp_mat_rows": 6,
    "kp_mat_cols": 6, "kp_mat_seed": 0, "kp_cell": 0, "kp_ex1d": FIRST_SIGNAL,
    "kp_signal": kernels.SIGNAL_EXAMPLES[FIRST_SIGNAL].signal, "kp_k1d_kind": "custom",
    "kp_k1d_size": 3, "kp_k1d_text": kernels.SIGNAL_EXAMPLES[FIRST_SIGNAL].kernel, "kp_s1d": 1,
    "kp_p1d": 0, "kp_d1d": 1, "kp_causal": False, "kp_cell1d": 0, "kp_sample": "brick",
    "kp_robust": True, "kp_rowscale": "shared",
}
# (min, max) of every number widget: the widgets use them, and link values outside are refused
# (Streamlit raises on a session value outside a widget's range).
RANGES: dict[str, tuple[float, float]] = {
    "kp_rand_rows": (1, 15), "kp_rand_cols": (1, 15), "kp_seed": (0, 10_000),
    "kp_grid_rows": (1, 15), "kp_grid_cols": (1, 15), "kp_stride_r": (0, 16), "kp_stride_c": (0, 16),
    "kp_pad": (0, 32), "kp_pad_r": (0, 32), "kp_pad_c": (0, 32), "kp_dil": (0, 8),
    "kp_bias": (-1000.0, 1000.0), "kp_w_red": (-10.0, 10.0), "kp_w_green": (-10.0, 10.0),
    "kp_w_blue": (-10.0, 10.0), "kp_mat_rows": (1, MAX_MATRIX), "kp_mat_cols": (1, MAX_MATRIX),
    "kp_cell": (0, 10**6), "kp_cell1d": (0, 10**6), "kp_s1d": (0, 16), "kp_p1d": (0, 32),
    "kp_d1d": (0, 8), "kp_k1d_size": (1, 15),
}
for _preset in kernels.PRESETS.values():
    for _p in _preset.params:
        DEFAULTS[param_key(_preset.name, _p.name)] = int(_p.default) if _p.is_int else float(_p.default)
        RANGES[param_key(_preset.name, _p.name)] = (_p.low, _p.high)
CHOICES: dict[str, tuple[str, ...]] = {
    "kp_view": VIEWS, "kp_color": COLOUR_MODES, "kp_src": KERNEL_SOURCES,
    "kp_preset": tuple(kernels.PRESETS), "kp_op": OPERATIONS,
    "kp_pmode": PADDING_MODES, "kp_act": ACTIVATIONS, "kp_show": DISPLAYS,
    "kp_example": tuple(kernels.WORKED_EXAMPLES), "kp_ex1d": tuple(kernels.SIGNAL_EXAMPLES),
    "kp_k1d_kind": KERNELS_1D, "kp_sample": tuple(images.SAMPLES), "kp_rowscale": ROW_SCALES,
}
# query parameter -> session key, for the settings written as they are (the rest below)
LINK_KEYS = {
    "view": "kp_view", "color": "kp_color", "src": "kp_src", "preset": "kp_preset",
    "seed": "kp_seed", "krows": "kp_rand_rows", "kcols": "kp_rand_cols", "ints": "kp_rand_int",
    "norm": "kp_norm", "op": "kp_op", "pmode": "kp_pmode", "dil": "kp_dil", "bias": "kp_bias",
    "act": "kp_act", "show": "kp_show", "example": "kp_example", "cell": "kp_cell",
    "ex1d": "kp_ex1d", "signal": "kp_signal", "k1d": "kp_k1d_kind", "k1dsize": "kp_k1d_size",
    "kernel1d": "kp_k1d_text", "s1d": "kp_s1d", "p1d": "kp_p1d", "d1d": "kp_d1d",
    "robust": "kp_robust", "rowscale": "kp_rowscale",
    "causal": "kp_causal", "cell1d": "kp_cell1d", "sample": "kp_sample",
}
PRESET_PARAMS = ("size", "sigma", "angle", "wavelength", "amount")
# The grids a link can carry: query name -> (values key, rows key, cols key, largest side).
LINK_GRIDS = {
    "grid": ("kp_grid_base", "kp_grid_rows", "kp_grid_cols", kernels.MAX_KERNEL_SIZE),
    "matrix": ("kp_matrix_base", "kp_mat_rows", "kp_mat_cols", MAX_MATRIX),
}


def encode_grid(arr: np.ndarray) -> str:
    """A 2D array as link text: cells joined by ``,``, rows by ``;`` (``"1,0,-1;2,0,-2"``).

    Six significant digits, whole numbers without a decimal point.
    """
    return ";".join(",".join(kernels.format_array(v).rstrip(".") for v in row) for row in arr)


def decode_grid(text: str, max_side: int | None = None) -> np.ndarray:
    """The array of :func:`encode_grid`'s text (fractions like ``1/3`` allowed).

    Raises
    ------
    KernelError
        For a cell that is not a number, ragged rows, or a side longer than `max_side`.
    """
    # Sizes first: a link of a million cells is refused before any of them is read.
    if max_side is not None and (text.count(";") >= max_side or len(text) > 40 * max_side * max_side):
        raise kernels.KernelError(f"A grid has at most {max_side} rows and columns.")
    rows = [kernels.parse_vector(r, "A grid row") for r in text.split(";")]
    if len({len(r) for r in rows}) != 1:
        raise kernels.KernelError("Every grid row needs the same number of cells.")
    arr = np.array(rows)
    if max_side is not None and max(arr.shape) > max_side:
        raise kernels.KernelError(f"A grid has at most {max_side} rows and columns.")
    return arr


def split_pair(text: str) -> tuple[str, str]:
    """``"2,3"`` -> ``("2", "3")``; one value is used for both: ``"2"`` -> ``("2", "2")``."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (1, 2):
        raise ValueError(text)
    return (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[1])


def decode_setting(key: str, text: str) -> object:
    """A link's text as the setting's type (choice, bool, int, float or free text).

    Raises ValueError for a choice that does not exist or a number outside the setting's range.
    """
    default = DEFAULTS[key]
    if key in CHOICES:
        if text not in CHOICES[key]:
            raise ValueError(text)
        return text
    if isinstance(default, bool):
        # "yes" is not silently false, and a word that means neither is refused.
        word = text.strip().lower()
        if word not in _TRUE + _FALSE:
            raise ValueError(text)
        return word in _TRUE
    if isinstance(default, (int, float)):
        value = to_number(text, whole=isinstance(default, int))
        low, high = RANGES.get(key, (-np.inf, np.inf))
        if not low <= value <= high:
            raise ValueError(text)
        return value
    if len(text) > MAX_TEXT:
        raise ValueError(text[:20])
    return text


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def to_number(text: str, *, whole: bool = False) -> int | float:
    """A link's number as a finite float (or an int when ``whole``); ValueError otherwise.

    ``inf``, ``-inf``, ``nan``, ``1e999`` and 5,000-digit numbers are refused here, before a
    range check or an ``int()`` could overflow. ``"2.0"`` is a fine whole number (sliders send
    whole numbers as floats).
    """
    text = str(text).strip()
    if len(text) > 40:
        raise ValueError(text[:20])
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    if whole:
        if not value.is_integer():
            raise ValueError(text)
        return int(value)
    return value


def example_settings(name: str) -> dict[str, object]:
    """The settings one worked example sets: its matrix, its kernel (into the grid), stride,
    padding and dilation; the rest back to plain cross-correlation without bias."""
    ex = kernels.WORKED_EXAMPLES[name]
    matrix, kernel = np.array(ex.matrix, dtype=float), np.array(ex.kernel, dtype=float)
    out: dict[str, object] = {
        "kp_matrix_base": matrix, "kp_mat_rows": matrix.shape[0], "kp_mat_cols": matrix.shape[1],
        "kp_grid_base": kernel, "kp_grid_rows": kernel.shape[0], "kp_grid_cols": kernel.shape[1],
        "kp_src": "Grid", "kp_norm": False, "kp_op": "cross-correlation",
    }
    out["kp_stride_r"], out["kp_stride_c"] = kernels.as_pair(ex.stride)
    if isinstance(ex.padding, str):
        out["kp_pad_kind"] = ex.padding
    else:
        out["kp_pad_kind"], out["kp_pad"] = "number", int(ex.padding)
    out.update(kp_dil=ex.dilation, kp_pmode="zeros", kp_bias=0.0, kp_act="none", kp_cell=0,
               kp_example_loaded=True)
    return out


def signal_example_settings(name: str) -> dict[str, object]:
    """The settings one 1D lecture example sets (signal, kernel, stride, padding, dilation)."""
    ex = kernels.SIGNAL_EXAMPLES[name]
    return {"kp_signal": ex.signal, "kp_k1d_kind": "custom", "kp_k1d_text": ex.kernel,
            "kp_s1d": ex.stride, "kp_p1d": ex.padding, "kp_d1d": ex.dilation,
            "kp_causal": ex.causal, "kp_cell1d": 0}


def resize_grid(values: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """`values` cut or grown to rows × cols: kept from the top left, new cells 0."""
    old = np.asarray(values, dtype=float)
    new = np.zeros((rows, cols))
    r, c = min(old.shape[0], rows), min(old.shape[1], cols)
    new[:r, :c] = old[:r, :c]
    return new


def random_kernel(rows: int, cols: int, seed: int, *, integers: bool = False,
                  channels: int | None = None) -> np.ndarray:
    """The playground's random kernel: uniform in −1..1, or whole numbers −5..5."""
    bound = 5 if integers else 1
    return kernels.random_kernel((rows, cols), seed, channels=channels, integers=integers,
                                 low=-bound, high=bound)


def _decode_compound(name: str, text: str) -> dict[str, object]:
    """The settings one of the link's composite entries (stride, pad, weights, filters) sets."""
    if name == "stride":
        rows, cols = split_pair(text)
        return {"kp_stride_r": decode_setting("kp_stride_r", rows),
                "kp_stride_c": decode_setting("kp_stride_c", cols)}
    if name == "pad":
        if text in ("valid", "same"):
            return {"kp_pad_kind": text}
        if "," in text:
            rows, cols = split_pair(text)
            return {"kp_pad_r": decode_setting("kp_pad_r", rows),
                    "kp_pad_c": decode_setting("kp_pad_c", cols), "kp_pad_kind": "pair"}
        return {"kp_pad": decode_setting("kp_pad", text), "kp_pad_kind": "number"}
    if name == "weights":
        values = kernels.parse_vector(text)
        if len(values) != len(CHANNELS):
            raise ValueError(text)
        return {f"kp_w_{c}": decode_setting(f"kp_w_{c}", str(float(v))) for c, v in zip(CHANNELS, values)}
    if name == "filters":
        names = text.split("|")
        if len(names) > MAX_FILTERS:  # each filter is another full-size map in memory and figure
            raise ValueError(text)
        return {"kp_filters": [f for f in names if f in kernels.PRESETS]}
    raise KeyError(name)


def _entry(name: str, value: str) -> str:
    """``name=value`` of a refused entry for the page's message, the value cut to 30 characters
    (a hostile link may carry megabytes). The page shows it as plain text, never as markup."""
    value = str(value)
    return f"{name}={value[:30]}…" if len(value) > 30 else f"{name}={value}"


def read_link(query: Mapping[str, str]) -> tuple[dict[str, object], list[str]]:
    """The settings a shared address asks for, and the entries that were not understood.

    Every entry is checked on its own: a bad one is reported (``"pad=99"``) and the others
    still apply. A Matrix link without its matrix loads the worked example first, so the
    link's own settings win over the example's.

    Returns
    -------
    settings : dict
        Session key -> value, to put into the page's state before its widgets are drawn.
    ignored : list of str
        ``name=value`` of the entries that were left at their defaults.
    """
    out: dict[str, object] = {}
    ignored: list[str] = []
    query = {name: kernels.EXAMPLE_ALIASES.get(value, value) if name in ("example", "ex1d") else value
             for name, value in query.items()}  # links from before the names lost their "[deck ...]"
    if (query.get("view") == "Matrix" or "example" in query) and "matrix" not in query:
        example = query.get("example")
        if example in kernels.WORKED_EXAMPLES:
            out["kp_example"] = example
        out.update(example_settings(out.get("kp_example", FIRST_EXAMPLE)))
    for name, key in LINK_KEYS.items():
        if name in query:
            try:
                out[key] = decode_setting(key, query[name])
            except ValueError:
                ignored.append(_entry(name, query[name]))
    preset = out.get("kp_preset", DEFAULTS["kp_preset"])
    for name in PRESET_PARAMS:
        key = param_key(preset, name)
        if name in query and key in DEFAULTS:
            try:  # "2.0" is a fine size: sliders send whole numbers as floats
                out[key] = decode_setting(key, str(to_number(query[name], whole=isinstance(DEFAULTS[key], int))))
            except ValueError:
                ignored.append(_entry(name, query[name]))
    for name in ("stride", "pad", "weights", "filters"):
        if name in query:
            try:
                out.update(_decode_compound(name, query[name]))
            except (ValueError, TypeError):  # KernelError is a ValueError
                ignored.append(_entry(name, query[name]))
    for name, (values_key, rows_key, cols_key, max_side) in LINK_GRIDS.items():
        if name in query:
            try:
                arr = decode_grid(query[name], max_side)
            except ValueError:
                ignored.append(f"{name}=…")
                continue
            out[values_key], out[rows_key], out[cols_key] = arr, *arr.shape
            out["kp_example_loaded"] = True
    return out, ignored


def write_link(state: Mapping[str, object]) -> dict[str, str]:
    """The query parameters for `state`: every setting that differs from its default.

    Only the current preset's settings are written, the kernel grid only when it is used, the
    matrix only in the Matrix view; a grid with an empty cell is left out.
    """
    out: dict[str, str] = {}
    for name, key in LINK_KEYS.items():
        if state.get(key) != DEFAULTS[key]:
            out[name] = str(state[key])
    preset = state["kp_preset"]
    for p in kernels.PRESETS[preset].params:
        key = param_key(preset, p.name)
        if state.get(key) != DEFAULTS[key]:
            out[p.name] = str(state[key])
    if (state["kp_stride_r"], state["kp_stride_c"]) != (1, 1):
        out["stride"] = f"{state['kp_stride_r']},{state['kp_stride_c']}"
    kind = state["kp_pad_kind"]
    if kind in ("valid", "same"):
        out["pad"] = kind
    elif kind == "pair":
        out["pad"] = f"{state['kp_pad_r']},{state['kp_pad_c']}"
    elif state["kp_pad"] != 0:
        out["pad"] = str(state["kp_pad"])
    weights = [state[f"kp_w_{c}"] for c in CHANNELS]
    if weights != [1.0, 1.0, 1.0]:
        out["weights"] = ",".join(f"{w:g}" for w in weights)
    if state["kp_filters"] != DEFAULTS["kp_filters"]:
        out["filters"] = "|".join(state["kp_filters"])
    for name, used in (("grid", state["kp_src"] == "Grid"), ("matrix", state["kp_view"] == "Matrix")):
        values_key = LINK_GRIDS[name][0]
        if used and values_key in state:
            try:
                out[name] = encode_grid(kernels.parse_grid(state[values_key]))
            except kernels.KernelError:
                pass  # an empty cell: the link keeps the other settings
    return out
