"""Architectures: why modern CNNs look the way they do (deck 004, the lecture's last part)."""
from __future__ import annotations

import dataclasses
import time

import streamlit as st

from pages import route_through_app

# First, before the page's heavy imports (torch): a cold deep link's bare first run reruns at
# once inside app.py's frame, which starts the browser loading Plotly while torch loads.
route_through_app()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pages import _own_models  # noqa: E402
from pages._ui.figures import show_figure  # noqa: E402
from pages._ui.links import finish_link, link_state  # noqa: E402
from pages._ui.models import _shipped_model  # noqa: E402
from pages._ui.picture import _sample  # noqa: E402
from pages._ui.text import explain, literal  # noqa: E402
from vizcore import architectures as arch, data, deeper, images, links, models  # noqa: E402
from vizcore.figures import architectures as arch_figs  # noqa: E402
from vizcore.shapes import ShapeError  # noqa: E402

TABS = ["Famous networks", "Small filters", "1×1 convolution", "Inception module", "Going deeper",
        "MNIST exercise"]
IMAGENET = "imagenet" in models.pretrained_models()
# The 1×1 section's feature volume: a stage of the ImageNet network on a photo, else the digits model.
STAGE_MODEL = "imagenet" if IMAGENET else "digits"
STAGES = (tuple(["stem"] + [f"block{i}" for i in range(1, 17)] + ["head"]) if IMAGENET
          else ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2"))
DEFAULT_STAGE = "block3" if IMAGENET else "pool1"
PHOTOS = images.PHOTO_NAMES
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1)
WIDTHS = (4, 8, 16)
MAX_SECONDS = 30.0  # each network trains at most this long ("about half a minute each")
RESULT = "arch_deep_result"
G = arch.GOOGLENET_INCEPTIONS["3a"]
FILTER_NAMES = ("n1", "r3", "n3", "r5", "n5", "pp")

LINK = links.LinkSpec([
    links.Choice("tab", TABS[0], TABS, key="arch_tab"),
    links.Int("k", 7, 3, 15, key="arch_k"),
    links.Int("cin", 1, 1, 2048, key="arch_cin"),
    links.Int("cout", 1, 1, 2048, key="arch_cout"),
    links.Int("size", 28, 1, 1024, key="arch_size"),
    links.Choice("stage", DEFAULT_STAGE, STAGES, key="arch_stage"),
    links.Choice("photo", "chelsea", PHOTOS, key="arch_photo"),
    links.Int("depth", 8, 1, 1024, key="arch_depth_out"),
    links.Int("row", 28, 0, 1023, key="arch_row"),
    links.Int("col", 28, 0, 1023, key="arch_col"),
    links.Int("out", 0, 0, 1023, key="arch_out"),
    links.Int("seed", 0, 0, 10_000, key="arch_seed"),
    links.Int("isize", 28, 1, 512, key="arch_isize"),
    links.Int("ichannels", 192, 1, 4096, key="arch_ichannels"),
    *[links.Int(name, value, 1, 1024, key=f"arch_{name}") for name, value in zip(FILTER_NAMES, G)],
    *[links.Bool(f"use_{b}", True, key=f"arch_use_{b}") for b in ("1x1", "3x3", "5x5", "pool")],
    links.Bool("reduce", True, key="arch_reduce"),
    links.Choice("layers", 20, deeper.DEPTHS, key="arch_layers"),
    links.Bool("bn", True, key="arch_bn"),
    links.Bool("highway", False, key="arch_highway"),
    links.Int("steps", 200, 10, deeper.MAX_STEPS, key="arch_steps"),
    links.Choice("width", 8, WIDTHS, key="arch_width"),
    links.Choice("lr", 3e-3, LEARNING_RATES, key="arch_lr"),
    links.Choice("opt", "adam", ("adam", "sgd"), key="arch_opt"),
    links.Int("dseed", 0, 0, 10_000, key="arch_dseed"),
])

st.title("Architectures")
explain("Why modern CNNs look the way they do: small stacked filters, 1×1 convolutions, inception modules "
        "and skip connections, counted layer by layer and tried out live.")
link_state(LINK, "architectures")
# Only the open tab runs; the widgets of closed tabs are not drawn and Streamlit would forget them.
for field in LINK.fields:
    if field.state_key in st.session_state:
        st.session_state[field.state_key] = st.session_state[field.state_key]
tabs = st.tabs(TABS, key="arch_tab", on_change="rerun")


def _number(v: int) -> str:
    return f"{v:,}"


# --------------------------------------------------------------------------- famous networks

@st.cache_data(max_entries=1, show_spinner=False)
def _summaries() -> list[dict]:
    return [arch.summary(name) for name in arch.NAMES]


def famous_tab() -> None:
    rows = _summaries()
    table = pd.DataFrame([{"network": f"{s['short']} ({s['year']})", "depth": s["depth"],
                           "parameters": _number(s["params"]), "multiply-adds": _number(s["mult_adds"]),
                           "what it introduced": s["trick"], "error its paper reported": s["reported_error"]}
                          for s in rows]).set_index("network")
    st.table(table)
    show_figure(arch_figs.famous_figure(rows), key="arch_famous_figure")
    st.caption("Depth: the layers with weights on the longest path (convolutions and dense layers; a "
               "shortcut's 1×1 projection and batch norm are not counted), as the papers count. "
               "Parameters: learnable numbers, biases included. Multiply-adds: convolutions and dense "
               "layers, for one image of the paper's input size (LeNet-5 1×32×32, AlexNet 3×227×227, "
               "the others 3×224×224). All computed from the layer tables in vizcore.architectures, "
               "never copied. AlexNet as one tower, GoogLeNet without its auxiliary classifiers, the "
               "ResNets as in the paper (stride on the first 1×1), the last row is this app's ImageNet network.")
    with st.expander("Sources of the reported errors"):
        for s in rows:
            st.caption(f"{s['title']}: {s['source']}")


# --------------------------------------------------------------------------- small filters

@st.cache_data(max_entries=1, show_spinner=False)
def _digit() -> np.ndarray:
    test = data.load_dataset("digits", "test")
    return test.images[0, 0].numpy()


def small_filters_tab() -> None:
    c1, c2, c3, c4 = st.columns(4)
    k = c1.number_input("One layer's kernel k", 3, 15, key="arch_k")
    cin = c2.number_input("Input channels", 1, 2048, key="arch_cin")
    cout = c3.number_input("Filters (every layer)", 1, 2048, key="arch_cout")
    size = c4.number_input("Map size (rows = cols)", 1, 1024, key="arch_size")
    try:
        one, stack = arch.small_filters(k, cin, cout, size)
    except ShapeError as exc:
        st.error(f"These layers cannot work: {exc}")
        return
    n = len(stack.kernels)
    left, right = st.columns([3, 2])
    with right:
        picture = _digit()
        fields = [3 + 2 * i for i in range(n)]
        show_figure(arch_figs.receptive_field_figure(picture, k, fields, 13.5, 13.5, height=330),
                    key="arch_rf_figure")
        st.caption(f"Red dashes: the {k}×{k} window of one layer. Coloured squares: what one output of the "
                   f"3×3 stack sees after 1, 2, … {n} layers ({', '.join(f'{f}×{f}' for f in fields)}).")
    with left:
        rows = [{"": f"one {k}×{k} layer", "receptive field": f"{one.receptive_field}×{one.receptive_field}",
                 "weights": _number(one.weights), "parameters (with biases)": _number(one.params),
                 "multiply-adds": _number(one.mult_adds), "non-linearities": one.nonlinearities},
                {"": f"{n} stacked 3×3 layers", "receptive field": f"{stack.receptive_field}×{stack.receptive_field}",
                 "weights": _number(stack.weights), "parameters (with biases)": _number(stack.params),
                 "multiply-adds": _number(stack.mult_adds), "non-linearities": stack.nonlinearities}]
        st.table(pd.DataFrame(rows).set_index(""))
        rest = f" + {n - 1} × {cout} × {cout} × 9" if n > 1 else ""
        st.markdown(f"**Weights:** one layer `{cout} × {cin} × {k} × {k} = {one.weights:,}`; the stack "
                    f"`{cout} × {cin} × 9{rest} = {stack.weights:,}` "
                    f"({stack.weights / one.weights:.0%} of it).")
        if stack.receptive_field != k:
            st.info(f"{n} stacked 3×3 layers see {stack.receptive_field}×{stack.receptive_field}: an even k has "
                    "no stack of 3×3 layers with exactly its field.")
        explain(f"Multiply-adds for one {size}×{size} map with 'same' padding. Per channel pair one "
                f"{k}×{k} layer has {k * k} weights, the stack {9 * n}; and every layer of the stack adds a "
                "ReLU: more non-linearity for fewer weights. That is why VGG uses only 3×3 filters.")


# --------------------------------------------------------------------------- 1×1 convolution

@st.cache_data(max_entries=16, show_spinner="Running the network to the chosen stage…")
def _volume(photo: str, stage: str) -> np.ndarray:
    model, meta = _shipped_model(STAGE_MODEL)
    img, _ = _sample(photo, 1024)
    return arch.stage_output(model, models.preprocess(img, meta), stage)


def clamp(key: str, high: int) -> None:
    st.session_state[key] = max(0, min(int(st.session_state[key]), high))


def pointwise_tab() -> None:
    c1, c2, c3, c4 = st.columns(4)
    photo = c1.selectbox("Photo", PHOTOS, key="arch_photo")
    stage = c2.selectbox("Feature volume after", STAGES, key="arch_stage",
                         help="A stage of the ImageNet network (EfficientNet-Lite0) run on the photo." if IMAGENET
                         else "A layer of the digits model run on the photo.")
    depth = c3.number_input("Reduce to depth D", 1, 1024, key="arch_depth_out")
    seed = c4.number_input("Seed of the 1×1 filters", 0, 10_000, key="arch_seed")
    volume = _volume(photo, stage)
    c, h, w = volume.shape
    for key, high in (("arch_row", h - 1), ("arch_col", w - 1), ("arch_out", depth - 1)):
        clamp(key, high)
    d1, d2, d3, d4 = st.columns(4)
    row = d1.number_input("Pixel row", 0, h - 1, key="arch_row")
    col = d2.number_input("Pixel column", 0, w - 1, key="arch_col")
    out = d3.number_input("Output channel", 0, depth - 1, key="arch_out")
    weights, bias = arch.pointwise_filters(c, depth, seed)
    value = arch.fibre_sum(volume, weights, bias, row, col, out)
    counts = arch.pointwise_counts(c, depth, h, w)
    d4.metric(f"output[{out}, {row}, {col}]", f"{value['value']:.6g}")
    st.markdown(f"The volume after **{stage}** is **{c} × {h} × {w}** (channels × rows × columns). A 1×1 "
                f"convolution to depth {depth} has **{counts['params']:,}** parameters "
                f"(`{depth} × {c} + {depth}`) and needs **{counts['mult_adds']:,}** multiply-adds "
                f"(`{h} × {w} × {c} × {depth}`); its output is {depth} × {h} × {w}.")
    left, right = st.columns([2, 1])
    with left:
        show_figure(arch_figs.fibre_figure(value["fibre"], value["weights"], value["products"], height=380),
                    key="arch_fibre_figure")
    with right:
        out_map = arch.pointwise(volume, weights[out:out + 1], bias[out:out + 1])[0]
        show_figure(arch_figs.output_map_figure(out_map, row, col, title=f"output channel {out}", height=380),
                    key="arch_output_map")
    top = np.argsort(-np.abs(value["products"]))[:4]
    terms = " + ".join(f"({value['fibre'][i]:.4g} × {value['weights'][i]:.4g})" for i in sorted(top))
    st.markdown(f"`output[{out}, {row}, {col}] = Σ_c fibre[c] × w[{out}, c] + b[{out}]` = {terms} + … "
                f"({c} terms) + ({value['bias']:.4g}) = **{value['value']:.6g}**")
    explain("The 1×1 filter looks at one pixel at a time and mixes its channels: a dense layer applied "
            "to every pixel's fibre. It changes the depth cheaply (GoogLeNet's reductions, the "
            "bottlenecks of ResNet-50, EfficientNet's expand and project) and, with a ReLU after it, adds "
            "non-linearity. The filters here are random (seeded), as a fresh layer's.")


# --------------------------------------------------------------------------- inception module

def inception_tab() -> None:
    c1, c2, c3 = st.columns([1, 1, 2])
    size = c1.number_input("Input size (rows = cols)", 1, 512, key="arch_isize")
    channels = c2.number_input("Input depth", 1, 4096, key="arch_ichannels")
    reductions = c3.toggle("1×1 reductions (GoogLeNet)", key="arch_reduce",
                           help="Off: the naive module, where the 3×3 and 5×5 filters see every input channel "
                                "and the pooling passes all of them through.")
    cols = st.columns(6)
    labels = ("#1×1", "#3×3 reduce", "#3×3", "#5×5 reduce", "#5×5", "pool proj")
    config = [cols[i].number_input(label, 1, 1024, key=f"arch_{name}",
                                   disabled=(not reductions and name in ("r3", "r5", "pp")))
              for i, (label, name) in enumerate(zip(labels, FILTER_NAMES))]
    uses = st.columns(4)
    use = tuple(uses[i].checkbox(f"{b} branch", key=f"arch_use_{b}") for i, b in enumerate(("1x1", "3x3", "5x5", "pool")))
    st.caption("Preset: GoogLeNet's inception (3a) on 28×28×192 (Szegedy et al. 2015, Table 1).")
    try:
        report = arch.inception_report(size, channels, config, reductions=reductions, use=use)
    except ShapeError as exc:
        st.error(f"This module cannot work: {exc}")
        return
    out = report["output_shape"]
    m1, m2, m3 = st.columns(3)
    m1.metric("Concatenated output", f"{out[0]} × {out[1]} × {out[2]}")
    m2.metric("Parameters", f"{report['params']:,}")
    m3.metric("Multiply-adds", f"{report['mult_adds']:,}")
    table = pd.DataFrame([{"branch": r["branch"], "layers": r["layers"],
                           "output shape": " × ".join(map(str, r["output shape"])),
                           "parameters": _number(r["params"]), "multiply-adds": _number(r["mult_adds"])}
                          for r in report["branches"]])
    st.dataframe(table, hide_index=True, key="arch_inception_table")
    show_figure(arch_figs.inception_figure(report, height=220), key="arch_inception_figure")
    w, wo = report["with_reductions"], report["without_reductions"]
    st.markdown(f"**With** the 1×1 reductions: {w['params']:,} parameters, {w['mult_adds']:,} multiply-adds, depth "
                f"{w['output_shape'][0]}. **Without**: {wo['params']:,} parameters, {wo['mult_adds']:,} "
                f"multiply-adds, depth {wo['output_shape'][0]} (the pooling passes all {channels} channels on).")
    st.subheader("DepthConcat of maps of different sizes")
    a = np.full((14, 14, 2), 1.0, dtype=np.float32) * np.array([1.0, 0.6], dtype=np.float32)
    b = np.full((16, 16, 3), 1.0, dtype=np.float32) * np.array([0.9, 0.7, 0.5], dtype=np.float32)
    result = arch.depth_concat(a, b)
    st.markdown(f"The deck's example: A (14, 14, 2) and B (16, 16, 3) give "
                f"**{tuple(result.shape)}**: the largest height and width, the depths added; A's maps get "
                "a frame of zeros (one row and column on each side).")
    show_figure(arch_figs.depth_concat_figure(result, ["A 1", "A 2", "B 1", "B 2", "B 3"], height=240),
                key="arch_concat_figure")


# --------------------------------------------------------------------------- going deeper

@st.cache_resource(max_entries=3, show_spinner="Preparing the digits…")
def _split(split: str) -> data.DataSplit:
    return data.load_dataset("digits", split)


@st.cache_data(max_entries=32, show_spinner=False)
def _initial_norms(cfg: deeper.DeepConfig) -> tuple[list[str], list[float]]:
    return deeper.initial_gradient_norms(cfg, _split("train"))


def _configs() -> list[deeper.DeepConfig]:
    base = dict(depth=int(st.session_state["arch_layers"]), width=int(st.session_state["arch_width"]),
                batch_norm=bool(st.session_state["arch_bn"]), steps=int(st.session_state["arch_steps"]),
                lr=float(st.session_state["arch_lr"]), optimizer=st.session_state["arch_opt"],
                seed=int(st.session_state["arch_dseed"]))
    kinds = ["plain", "residual"] + (["highway"] if st.session_state["arch_highway"] else [])
    return [deeper.DeepConfig(kind=k, **base) for k in kinds]


def deeper_settings() -> None:
    c1, c2, c3, c4 = st.columns(4)
    c1.select_slider("Depth (weight layers)", deeper.DEPTHS, key="arch_layers")
    c2.number_input("Training steps (mini-batches of 32)", 10, deeper.MAX_STEPS, key="arch_steps")
    c3.toggle("Batch norm", key="arch_bn")
    c3.toggle("Add highway", key="arch_highway",
              help="Also train a highway network: y = H(x)·T(x) + x·(1 − T(x)), with a learned gate T.")
    c4.select_slider("Channels per layer", WIDTHS, key="arch_width")
    c1.selectbox("Optimizer", ("adam", "sgd"), key="arch_opt", format_func={"adam": "Adam",
                                                                           "sgd": "SGD, momentum 0.9"}.get)
    c2.select_slider("Learning rate", LEARNING_RATES, key="arch_lr")
    c4.number_input("Seed", 0, 10_000, key="arch_dseed")


def _label(cfg: deeper.DeepConfig) -> str:
    return f"{cfg.kind} {cfg.depth}"


def deeper_tab() -> None:
    explain("Deck 004, \"Going deeper is easy – or not?\": the same stack of 3×3 convolutions trained on the "
            "digits, once plain and once with skip connections x + F(x) every two layers (ResNet). "
            "Seeded: the same settings give the same curves.")
    run_row, settings = st.container(), st.container()
    with settings:
        deeper_settings()
    configs = _configs()
    train_col, stop_col, note_col = run_row.columns([1, 1, 4], vertical_alignment="bottom")
    start = train_col.button("Train", type="primary", key="arch_deep_train", width="stretch")
    stop_col.button("Stop", key="arch_deep_stop", width="stretch",
                    help="Ends the run now; what was trained so far is shown.")
    note_col.caption(f"Trains {len(configs)} networks one after the other, each for at most "
                     f"{MAX_SECONDS:.0f} s on the server.")
    status, chart = run_row.container(), run_row.empty()

    previous = st.session_state.get(RESULT)
    if previous and previous["status"] == "running":  # a click (Stop or another widget) ended the run
        previous["status"] = "stopped"
    if start:
        result = {"status": "running", "configs": configs, "runs": {}}
        st.session_state[RESULT] = result
        train_split, val_split = _split("train"), _split("val")
        for cfg in configs:
            label = _label(cfg)
            bar = status.progress(0.0, text=f"{label}: starting…")
            last = [0.0, 0.0]  # the bar's and the chart's last update

            def on_step(event, label=label, bar=bar, result=result, last=last):
                result["runs"][label] = event["history"]
                now = time.perf_counter()
                if now - last[0] > 0.3:  # each screen update is where a click on Stop ends the run
                    last[0] = now
                    bar.progress(event["step"] / event["steps"],
                                 text=f"{label}: step {event['step']}/{event['steps']}, loss {event['history'].loss[-1]:.3f}")
                if now - last[1] > 1.5:  # the chart is heavier: less often
                    last[1] = now
                    with chart.container():
                        show_figure(arch_figs.deeper_curves(result["runs"], steps=cfg.steps, height=340),
                                    key=f"arch_live_{label}_{event['step']}")

            history = deeper.train_deep(cfg, train_split, val_split, max_seconds=MAX_SECONDS, callback=on_step)
            result["runs"][label] = history
            bar.progress(1.0, text=f"{label}: {len(history.step)} steps in {history.seconds:.1f} s, validation "
                                   f"accuracy {history.val_accuracy[-1]:.1%}"
                                   + (" (stopped by the time limit)" if history.stopped else ""))
        result["status"] = "done"
        chart.empty()

    result = st.session_state.get(RESULT)
    with run_row:
        if result and result["runs"] and result["configs"] == configs:
            runs = result["runs"]
            if result["status"] == "stopped":
                st.warning("Stopped: the curves show what was trained until then.")
            show_figure(arch_figs.deeper_curves(runs, steps=configs[0].steps, height=340), key="arch_deep_curves")
            show_figure(arch_figs.gradient_norms_figure(runs, height=340), key="arch_deep_grads")
            st.caption("Dashed: every layer's gradient norm on the first mini-batch; solid: at the last "
                       "measurement. Below: all measurements, every 25 steps from the top.")
            show_figure(arch_figs.gradient_history_figure(runs, height=300), key="arch_deep_grad_history")
            st.table(pd.DataFrame([{"network": label, "steps": len(h.step), "seconds": f"{h.seconds:.1f}",
                                    "parameters": _number(h.params), "last loss": f"{h.loss[-1]:.3f}",
                                    "validation accuracy": f"{h.val_accuracy[-1]:.1%}" if h.val_accuracy else "–"}
                                   for label, h in runs.items()]).set_index("network"))
        else:
            if result and result["runs"]:
                st.info("The settings changed since the last run: press Train for these.")
            initial = {}
            for cfg in configs:
                # the first mini-batch's gradients do not depend on the steps or the optimizer
                names, norms = _initial_norms(dataclasses.replace(cfg, steps=1, lr=1.0, optimizer="sgd"))
                h = deeper.DeepHistory(layer_names=names, grad_step=[0], grad_norms=[norms])
                initial[_label(cfg)] = h
            show_figure(arch_figs.gradient_norms_figure(initial, height=320), key="arch_deep_grads_init")
            plain = initial[_label(configs[0])].grad_norms[0]
            skip = initial[_label(configs[1])].grad_norms[0]
            st.caption(f"Before training, on the first mini-batch: the gradient reaching the first layer is "
                       f"{plain[0]:.3g} in the plain stack and {skip[0]:.3g} with skip connections "
                       f"(the last hidden layer: {plain[-2]:.3g} and {skip[-2]:.3g}). Press Train to race them.")


# --------------------------------------------------------------------------- MNIST exercise

def mnist_tab() -> None:
    explain("Deck 004, exercises/07_CNN_MNIST: the fully connected network (a) and the first CNN (b) as "
            "Keras' model.summary() prints them, with every parameter count worked out.")
    for title, (layers, shape) in arch.MNIST_EXERCISE.items():
        s = arch.keras_summary(layers, shape)
        st.markdown(f"**{title}** (input {' × '.join(map(str, shape))})")
        st.dataframe(pd.DataFrame([{**r, "Param #": _number(r["Param #"])} for r in s["rows"]]), hide_index=True,
                     key=f"arch_keras_{title}",
                     column_config={"formula": st.column_config.TextColumn(width="large")})
        st.caption(f"Total params: {s['total']:,} · Trainable params: {s['trainable']:,} · "
                   f"Non-trainable params: {s['non_trainable']:,}")
    st.caption("Most weights sit in the dense layers: the convolution has 320, the dense layer after it 250,890. "
               "The deck also reports 76 % validation accuracy for this CNN without standardising the inputs "
               "and 92.5 % with per-pixel standardisation (its measurement, not recomputed here).")
    _own_models.summary_section("arch_own", literal)


for tab, show_tab in zip(tabs, (famous_tab, small_filters_tab, pointwise_tab, inception_tab, deeper_tab, mnist_tab)):
    with tab:
        if tab.open:
            show_tab()
finish_link(LINK)
