"""Figures for the Architectures page: receptive fields of small filters, a pixel's fibre under a
1×1 convolution, an inception module's branches, DepthConcat, the famous networks side by side,
and the plain-versus-residual training race (curves and per-layer gradient norms)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vizcore.deeper import DeepHistory
from vizcore.figures import style

RUN_COLOURS = {"plain": "#d62728", "residual": "#1f77b4", "highway": "#2ca02c"}
STACK_COLOURS = ["#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"]


def _square(centre_r: float, centre_c: float, size: int, colour: str, dash: str = "solid", width: int = 3) -> dict:
    half = size / 2
    return dict(type="rect", x0=centre_c - half, x1=centre_c + half, y0=centre_r - half, y1=centre_r + half,
                line=dict(color=colour, width=width, dash=dash))


def receptive_field_figure(picture: np.ndarray, k: int, stack_fields: list[int], row: int, col: int, *,
                           height: int = 360) -> go.Figure:
    """The picture with the k×k window of one layer (red, dashed) and the fields 3, 5, 7 … that each
    added 3×3 layer of the stack sees around the same output pixel (one colour per layer)."""
    fig = style.image(picture, title=None, height=height)
    shapes_ = [_square(row, col, k, "#d62728", "dash", 4)]
    for i, size in enumerate(stack_fields):
        shapes_.append(_square(row, col, size, STACK_COLOURS[i % len(STACK_COLOURS)], width=2))
    fig.update_layout(shapes=shapes_, margin=dict(l=0, r=0, t=10, b=0))
    return fig


def fibre_figure(fibre: np.ndarray, weights: np.ndarray, products: np.ndarray, *, height: int = 330) -> go.Figure:
    """The pixel's fibre (its value in every channel), the 1×1 filter's weights, and their products:
    the output value is the sum of the products plus the bias."""
    channels = np.arange(len(fibre))
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.09,
                        subplot_titles=("fibre: the pixel in every input channel", "the 1×1 filter's weights",
                                        "products (their sum + bias = the output value)"))
    for r, (values, colour) in enumerate(((fibre, "#555555"), (weights, "#1f77b4"), (products, "#d62728")), start=1):
        fig.add_trace(go.Bar(x=channels, y=values, marker_color=colour, showlegend=False,
                             hovertemplate="channel %{x}: %{y:.4g}<extra></extra>"), row=r, col=1)
    fig.update_xaxes(title_text="input channel", row=3, col=1)
    style.style(fig, height=height, margin=dict(l=10, r=10, t=40, b=10))
    fig.update_annotations(font_size=style.TICK_SIZE)
    return fig


def output_map_figure(out_map: np.ndarray, row: int, col: int, *, title: str, height: int = 330) -> go.Figure:
    """One output channel of the 1×1 convolution, with the chosen pixel framed."""
    fig = style.heatmap(out_map, title=title, diverging=True, colorbar_title="value", height=height)
    fig.update_layout(shapes=[dict(type="rect", x0=col - 0.5, x1=col + 0.5, y0=row - 0.5, y1=row + 0.5,
                                   line=dict(color="#111111", width=3))])
    return fig


def inception_figure(report: dict, *, height: int = 300) -> go.Figure:
    """The concatenated output's depth as one bar, split into the channels each branch gives."""
    fig = go.Figure(layout=style.layout(height=height, barmode="stack",
                                        xaxis=dict(title="output channels (depth)"),
                                        yaxis=dict(visible=False), showlegend=False,
                                        uniformtext=dict(minsize=style.MIN_FONT_SIZE, mode="hide")))
    for i, row in enumerate(report["branches"]):
        depth = row["output shape"][0]
        fig.add_trace(go.Bar(y=["concat"], x=[depth], orientation="h", name=f"{row['branch']}: {depth}",
                             marker_color=STACK_COLOURS[i % len(STACK_COLOURS)], text=[f"{row['branch']}: {depth}"],
                             textposition="inside", hovertemplate=f"{row['branch']}: {depth} channels<extra></extra>"))
    return fig


def depth_concat_figure(result_hwc: np.ndarray, sources: list[str], *, height: int = 260) -> go.Figure:
    """Every channel of a DepthConcat result side by side (one colour scale, from 0 = dark); the
    zeros added around smaller maps show as the dark frame."""
    depth = result_hwc.shape[2]
    fig = make_subplots(rows=1, cols=depth, subplot_titles=sources, horizontal_spacing=0.02)
    vmax = float(np.abs(result_hwc).max()) or 1.0
    for d in range(depth):
        fig.add_trace(go.Heatmap(z=result_hwc[:, :, d], zmin=0, zmax=vmax, colorscale=style.SEQUENTIAL,
                                 showscale=False,
                                 hovertemplate="row %{y}, col %{x}: %{z:.3g}<extra></extra>"), row=1, col=d + 1)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{d + 1 if d else ''}", showticklabels=False,
                         row=1, col=d + 1)
        fig.update_xaxes(showticklabels=False, row=1, col=d + 1)
    style.style(fig, height=height, margin=dict(l=10, r=10, t=40, b=10))
    fig.update_annotations(font_size=style.TICK_SIZE)
    return fig


def famous_figure(summaries: list[dict], *, height: int = 380) -> go.Figure:
    """Parameters (left) and multiply-adds per image (right) of every network, logarithmic bars."""
    names = [f"{s['short']} ({s['depth']})" for s in summaries]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=("parameters", "multiply-adds per image"))
    for col, key, colour in ((1, "params", "#1f77b4"), (2, "mult_adds", "#d62728")):
        values = [s[key] for s in summaries]
        fig.add_trace(go.Bar(y=names, x=values, orientation="h", marker_color=colour, showlegend=False,
                             hovertemplate="%{y}: %{x:,}<extra></extra>"), row=1, col=col)
        fig.update_xaxes(type="log", dtick=1, exponentformat="power", row=1, col=col)
    fig.update_yaxes(autorange="reversed")
    style.style(fig, height=height, margin=dict(l=10, r=20, t=40, b=10))
    fig.update_annotations(font_size=style.FONT_SIZE)
    return fig


def deeper_curves(runs: dict[str, DeepHistory], *, steps: int | None = None, height: int = 380) -> go.Figure:
    """Training loss per step (left) and validation accuracy (right) of every run; ``steps``: the
    x axes' end (the planned steps, so live curves grow into a fixed frame)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Training loss", "Validation accuracy"),
                        horizontal_spacing=0.1)
    for label, h in runs.items():
        colour = RUN_COLOURS.get(label.split()[0], "#9467bd")
        fig.add_trace(go.Scatter(x=h.step, y=h.loss, mode="lines", name=label, legendgroup=label,
                                 line=dict(color=colour, width=2)), row=1, col=1)
        fig.add_trace(go.Scatter(x=h.eval_step, y=h.val_accuracy, mode="lines+markers", name=label,
                                 legendgroup=label, showlegend=False, line=dict(color=colour, width=3)),
                      row=1, col=2)
    fig.update_xaxes(title_text="step (mini-batch)", range=[0, steps] if steps else None)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=2)
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    style.style(fig, height=height, legend=dict(orientation="h", y=-0.42), margin=dict(l=10, r=10, t=50, b=10))
    fig.update_annotations(font_size=style.FONT_SIZE)
    return fig


def gradient_norms_figure(runs: dict[str, DeepHistory], *, height: int = 380) -> go.Figure:
    """‖gradient‖ of every weight layer (input → output, logarithmic) at initialisation (dashed)
    and at the last measurement (solid): a plain deep stack's first layers get almost nothing."""
    fig = go.Figure(layout=style.layout(height=height, xaxis=dict(title="layer (input → output)"),
                                        yaxis=dict(type="log", title="gradient norm", exponentformat="power", dtick=1),
                                        legend=dict(orientation="h", y=-0.45), margin=dict(l=10, r=10, t=10, b=10)))
    for label, h in runs.items():
        if not h.grad_norms:
            continue
        colour = RUN_COLOURS.get(label.split()[0], "#9467bd")
        g = np.maximum(h.grad_matrix(), 1e-30)  # an exact zero has no logarithm
        x = list(range(1, g.shape[1] + 1))
        names = h.layer_names
        fig.add_trace(go.Scatter(x=x, y=g[0], mode="lines", name=f"{label}: at initialisation",
                                 line=dict(color=colour, dash="dash", width=2), customdata=names,
                                 hovertemplate="%{customdata}: %{y:.3g}<extra></extra>"))
        if len(g) > 1:
            fig.add_trace(go.Scatter(x=x, y=g[-1], mode="lines+markers", name=f"{label}: step {h.grad_step[-1]}",
                                     line=dict(color=colour, width=3), customdata=names,
                                     hovertemplate="%{customdata}: %{y:.3g}<extra></extra>"))
    return fig


def gradient_history_figure(runs: dict[str, DeepHistory], *, height: int = 320) -> go.Figure:
    """log10 ‖gradient‖ of every layer (columns, input → output) at every measurement (rows, from
    initialisation down), one panel per run, on one colour scale."""
    labels = [label for label, h in runs.items() if h.grad_norms]
    fig = make_subplots(rows=1, cols=max(len(labels), 1), subplot_titles=labels, horizontal_spacing=0.06)
    logs = {label: np.log10(np.maximum(runs[label].grad_matrix(), 1e-12)) for label in labels}
    low = min((v.min() for v in logs.values()), default=0.0)
    high = max((v.max() for v in logs.values()), default=1.0)
    for i, label in enumerate(labels, start=1):
        h = runs[label]
        fig.add_trace(go.Heatmap(z=logs[label], x=list(range(1, logs[label].shape[1] + 1)), y=h.grad_step,
                                 zmin=low, zmax=high, colorscale=style.SEQUENTIAL, showscale=i == len(labels),
                                 colorbar=style.colorbar("log10 ‖grad‖"),
                                 hovertemplate="layer %{x}, step %{y}: 10^%{z:.2f}<extra></extra>"), row=1, col=i)
        fig.update_xaxes(title_text="layer", row=1, col=i)
        fig.update_yaxes(autorange="reversed", title_text="step" if i == 1 else None, row=1, col=i)
    style.style(fig, height=height, margin=dict(l=10, r=10, t=40, b=10))
    fig.update_annotations(font_size=style.FONT_SIZE)
    return fig
