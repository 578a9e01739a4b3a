"""Shape calculator: what comes out of a layer or a stack of layers, and how many parameters."""
import pandas as pd
import streamlit as st

from pages import route_through_app

# First, before the page's heavy imports (torch): a cold deep link's bare first run reruns at
# once inside app.py's frame, which starts the browser loading Plotly while torch loads.
route_through_app()

from pages import _live  # noqa: E402
from pages._ui.figures import show_figure  # noqa: E402
from pages._ui.links import finish_link, link_state  # noqa: E402
from pages._ui.state import drop_added_rows  # noqa: E402
from pages._ui.text import explain  # noqa: E402
from vizcore import links, live_questions, shapes  # noqa: E402
from vizcore.shapes import ShapeError  # noqa: E402
from vizcore.figures import shapes as shape_figs  # noqa: E402

OWN_STACK = "Own stack"
MAX_LAYERS = 64  # rows of the stack editor: more than any network of the lecture
# A first stack to edit: a small CNN for 28x28 gray images.
OWN_LAYERS = [
    shapes.Conv2d(8, 3, padding="same"), shapes.ReLU(), shapes.MaxPool2d(2),
    shapes.Conv2d(16, 3), shapes.ReLU(), shapes.MaxPool2d(2), shapes.Flatten(), shapes.Linear(10),
]
PADDING_MODES = ("number", "valid", "same")
# Starting values of the widgets (kept in session state, so no widget gets a second default).
DEFAULTS = {
    "sc_rows": 7,
    "sc_cols": 7,
    "sc_in_channels": 3,
    "sc_filters": 4,
    "sc_kernel": 3,
    "sc_stride": 2,
    "sc_padding": 1,
    "sc_dilation": 1,
    "sc_inv_n": 32,
    "sc_inv_kernel": 7,
    "sc_inv_wanted": 32,
    "sc_inv_dilation": 1,
    "sc_output_padding": 0,
    "sc_padding_mode": "number",
    "sc_transposed": False,
}

TABS = ["One layer", "Which padding and stride?", "Layer stack"]
_RANGES = {"sc_rows": (1, 4096), "sc_cols": (1, 4096), "sc_in_channels": (1, 4096), "sc_filters": (1, 4096),
           "sc_kernel": (1, 64), "sc_stride": (1, 64), "sc_padding": (0, 64), "sc_dilation": (1, 16),
           "sc_inv_n": (1, 4096), "sc_inv_kernel": (1, 64), "sc_inv_wanted": (1, 4096), "sc_inv_dilation": (1, 16),
           "sc_output_padding": (0, 63)}
# The address carries the open tab, the one layer, the padding question and the stack's preset.
LINK = links.LinkSpec(
    [links.Choice("tab", TABS[0], TABS, key="section")]
    + [links.Int(key[3:].replace("in_channels", "cin"), DEFAULTS[key], *_RANGES[key], key=key) for key in _RANGES]
    + [links.Choice("padmode", DEFAULTS["sc_padding_mode"], PADDING_MODES, key="sc_padding_mode"),
       links.Bool("transposed", DEFAULTS["sc_transposed"], key="sc_transposed"),
       links.Choice("preset", OWN_STACK, [OWN_STACK, *shapes.PRESETS], key="sc_preset"),
       links.Choice("layout", "NCHW", ("NCHW", "NHWC"), key="sc_layout")])

st.title("Shape calculator")
explain(
    "Output sizes, parameters and receptive fields, computed the way PyTorch and Keras compute "
    "them. Use it to check a slide or your own answer."
)
link_state(LINK, "shape_calculator")  # a shared link's settings, before any widget
# Only the open tab runs (on_change="rerun"), so a rerun pays for one tab's widgets and figure.
# Widgets of closed tabs are not rendered and Streamlit would forget their values: writing them
# back keeps them.
for key in list(st.session_state):
    if isinstance(key, str) and key.startswith("sc_"):
        st.session_state[key] = st.session_state[key]
for key, value in DEFAULTS.items():
    st.session_state.setdefault(key, value)
one_layer, inverse, stack = st.tabs(TABS, key="section", on_change="rerun")


def one_layer_tab() -> None:
    # The answer first, the settings below it: on a 1280×720 projector the output shape and the
    # parameters are on the first screen (issue 25); the widgets fill the place above afterwards.
    result = st.container()
    left, right = st.columns(2)
    with left:
        rows = st.number_input("Input rows (height)", 1, 4096, key="sc_rows")
        cols = st.number_input("Input columns (width)", 1, 4096, key="sc_cols")
        in_channels = st.number_input("Input channels", 1, 4096, key="sc_in_channels")
        filters = st.number_input("Filters (output channels)", 1, 4096, key="sc_filters")
        transposed = st.toggle("Transposed convolution", key="sc_transposed")
    with right:
        kernel = st.number_input("Kernel size", 1, 64, key="sc_kernel")
        stride = st.number_input("Stride", 1, 64, key="sc_stride")
        mode = st.radio("Padding", PADDING_MODES, horizontal=True, key="sc_padding_mode",
                        help='"same" follows Keras: ceil(n / stride) outputs, the extra zero at '
                             "the bottom/right. PyTorch accepts padding='same' for stride 1 only.")
        padding = st.number_input("Zeros on each side", 0, 64, key="sc_padding",
                                  disabled=mode != "number")
        dilation = st.number_input("Dilation", 1, 16, key="sc_dilation")
        output_padding = st.number_input("Output padding (transposed only)", 0, 63,
                                         key="sc_output_padding", disabled=not transposed)
    pad = padding if mode == "number" else mode
    op = output_padding if transposed else 0
    try:
        out_rows = shapes.conv_output_size(rows, kernel, stride, pad, dilation, False, transposed, op)
        out_cols = shapes.conv_output_size(cols, kernel, stride, pad, dilation, False, transposed, op)
        params = shapes.explain_conv_params(in_channels, filters, kernel)
    except ShapeError as exc:
        result.error(f"This layer cannot work: {exc}")
        return

    if not transposed:  # the quiz asks about forward layers only
        _live.offer_question("Ask the hall: this layer's output shape", lambda: live_questions.layer_shape(
            rows, cols, in_channels, filters, kernel, stride, pad, dilation), key="live_ask_layer")
    shape, keras, count = result.columns(3)
    shape.metric("Output (PyTorch NCHW)", f"(N, {filters}, {out_rows}, {out_cols})")
    keras.metric("Output (Keras NHWC)", f"(None, {out_rows}, {out_cols}, {filters})")
    count.metric("Parameters", f"{shapes.conv_params(in_channels, filters, kernel):,}")
    for axis, n in (("Rows", rows), ("Columns", cols)):
        formula = shapes.explain_output_size(n, kernel, stride, pad, dilation,
                                             transposed=transposed, output_padding=op)
        result.markdown(f"**{axis}:** `{formula}`")
    result.markdown(f"**Parameters:** `{params}` — the same for every image size (the filters are shared "
                    "by all positions)" + (", and the same for the transposed layer." if transposed else "."))

    try:
        figure = shape_figs.kernel_positions_figure(rows, cols, kernel, stride, pad, dilation, transposed, op)
    except ShapeError as exc:
        st.info(f"No picture: {exc}")
    else:
        show_figure(figure, key="kernel_positions")
        if not transposed:
            dropped = []
            for axis, n in (("rows", rows), ("columns", cols)):
                lost = shapes.axis_layout(n, kernel, stride, pad, dilation).dropped_by_floor()
                if lost:
                    dropped.append(f"{axis} {', '.join(map(str, lost))}")
            if dropped:
                st.warning("The floor in the formula drops input " + " and ".join(dropped)
                           + ": no window reaches them (shown in red).")
    torch_code, keras_code = st.columns(2)
    torch_code.code(shapes.pytorch_call(in_channels, filters, kernel, stride, pad, dilation,
                                        transposed, op, input_size=(rows, cols)), language="python",
                    wrap_lines=True)
    keras_code.code(shapes.keras_call(filters, kernel, stride, pad, dilation, transposed, op),
                    language="python", wrap_lines=True)


def inverse_tab() -> None:
    st.write("Which padding and stride turn **n** inputs into the output size you want?")
    c1, c2, c3, c4 = st.columns(4)
    n = c1.number_input("Input size n", 1, 4096, key="sc_inv_n")
    kernel = c2.number_input("Kernel size k", 1, 64, key="sc_inv_kernel")
    wanted = c3.number_input("Wanted output size", 1, 4096, key="sc_inv_wanted")
    dilation = c4.number_input("Dilation", 1, 16, key="sc_inv_dilation")
    try:
        options = shapes.padding_stride_options(n, kernel, wanted, dilation)
    except ShapeError as exc:
        st.error(str(exc))
        return
    if not options:
        st.warning(f"No padding (0 to {dilation * (kernel - 1)}) and stride (1 to {n}) turns {n} "
                   f"inputs into {wanted} outputs with a {kernel}-wide kernel.")
        return
    st.success(f"{len(options)} way(s); the first: padding {options[0].padding}, stride "
               f"{options[0].stride}.")
    st.dataframe(
        pd.DataFrame([{"padding": o.padding, "stride": o.stride,
                       "windows fit exactly": "yes" if o.exact else "no (the floor drops inputs)"}
                      for o in options]),
        hide_index=True, key="inverse_table",
    )


def stack_tab() -> None:
    start = st.selectbox("Start from", [OWN_STACK, *shapes.PRESETS], key="sc_preset")
    index = 0 if start == OWN_STACK else 1 + list(shapes.PRESETS).index(start)
    layers = OWN_LAYERS if start == OWN_STACK else shapes.PRESETS[start]
    channels, height, width = (1, 28, 28) if start == OWN_STACK else shapes.PRESET_INPUTS[start]
    c1, c2, c3 = st.columns(3)
    # Keys per preset, so that picking a preset brings its own input size.
    for name, value in zip("chw", (channels, height, width)):
        st.session_state.setdefault(f"sc_stack_{name}_{index}", value)
    channels = c1.number_input("Input channels", 1, 4096, key=f"sc_stack_c_{index}")
    height = c2.number_input("Input height", 1, 4096, key=f"sc_stack_h_{index}")
    width = c3.number_input("Input width", 1, 4096, key=f"sc_stack_w_{index}")
    st.caption("Edit the table: add or delete rows, change layer types and numbers. `size` is the "
               "number of filters (Conv2d) or units (Linear); padding is a number, valid or same.")
    # The editor's state holds edits relative to the table it started from; when it was
    # forgotten (another tab was open), it starts again from the last edited rows.
    editor_key, rows_key, base_key = (f"stack_editor_{index}", f"_stack_rows_{index}",
                                      f"_stack_base_{index}")
    if editor_key not in st.session_state or base_key not in st.session_state:
        st.session_state[base_key] = st.session_state.get(rows_key) or shapes.table_from_layers(layers)
    drop_added_rows(editor_key, max_added=MAX_LAYERS)  # a crafted client's 30,000 rows stop here
    edited = st.data_editor(
        pd.DataFrame(st.session_state[base_key], columns=shapes.TABLE_COLUMNS).astype(
            {"size": "Int64", "kernel": "Int64", "stride": "Int64", "dilation": "Int64"}),
        num_rows="dynamic", hide_index=True, key=editor_key,
        column_config={
            "layer": st.column_config.SelectboxColumn("layer", options=list(shapes.LAYER_TYPES), required=True),
            "size": st.column_config.NumberColumn("size", min_value=1, step=1),
            "kernel": st.column_config.NumberColumn("kernel", min_value=1, max_value=64, step=1),
            "stride": st.column_config.NumberColumn("stride", min_value=1, max_value=64, step=1),
            "padding": st.column_config.TextColumn("padding"),
            "dilation": st.column_config.NumberColumn("dilation", min_value=1, max_value=16, step=1),
        },
    )
    if len(edited) > MAX_LAYERS:
        st.error(f"A stack here has at most {MAX_LAYERS} layers; the rows after that are left out.")
        edited = edited.iloc[:MAX_LAYERS]
    st.session_state[rows_key] = edited.astype(object).where(edited.notna(), None).to_dict("records")
    try:
        stack_layers = shapes.layers_from_table(st.session_state[rows_key])
        summary = shapes.summarize(stack_layers, (channels, height, width))
    except ShapeError as exc:
        st.error(str(exc))
        return
    if not summary.rows:
        st.info("The table is empty: add a layer.")
        return

    totals = st.columns(4)
    totals[0].metric("Learnable parameters", f"{summary.total_params:,}")
    totals[1].metric("Non-trainable (batch norm statistics)", f"{summary.non_trainable_params:,}")
    totals[2].metric("Multiply-adds per image", f"{summary.total_macs:,}")
    totals[3].metric("Activation memory per image", f"{summary.activation_bytes() / 2**20:,.2f} MiB")
    layout = st.radio("Shapes as", ("NCHW", "NHWC"), horizontal=True, key="sc_layout",
                      help="NCHW: PyTorch (batch, channels, height, width). NHWC: Keras' "
                           "model.summary() (None is the batch).")
    # The whole table, no inner scroll box (a lecturer reads VGG's 39 rows down the page), big
    # numbers with thousands separators as in the totals above.
    counts = {name: st.column_config.NumberColumn(name, format="localized")
              for name in ("params", "non-trainable", "multiply-adds")}
    st.dataframe(pd.DataFrame(summary.table(layout)), hide_index=True, key="summary_table", height="content",
                 column_config=counts)
    st.caption(
        f"Output: {summary.output_shape}. Keras' \"Total params\" would say "
        f"{summary.keras_total_params:,} (it also counts batch norm's running mean and variance). "
        "Receptive field: input pixels (rows x cols, padding included) one unit of that layer "
        "sees; jump: input pixels between neighbouring units. Multiply-adds count convolutions "
        "and linear layers; activation memory is every layer's output in float32."
    )
    if summary.total_params:
        log_scale = st.toggle("Logarithmic scale", key="sc_log_scale")
        show_figure(shape_figs.params_figure(summary, log_scale), key="params_chart")


for tab, show_tab in ((one_layer, one_layer_tab), (inverse, inverse_tab), (stack, stack_tab)):
    with tab:
        if tab.open:
            show_tab()
finish_link(LINK)
