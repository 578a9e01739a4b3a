"""Figures for the Transfer learning page: the accuracy-vs-pictures curve, the features map.

The confusion matrix and the misclassified pictures are the Training page's figures
(:mod:`vizcore.figures.training`), so both pages read the same way.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vizcore.figures import style

# One colour per strategy, the same on every figure of the page.
STRATEGY_COLOURS = {"features + LR": "#1f77b4", "fine-tune": "#2ca02c", "from scratch": "#d62728",
                    "from scratch + augmentation": "#ff7f0e"}
CLASS_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#843c39", "#7b4173",
                 "#3182bd", "#e6550d", "#31a354", "#756bb1"]


def accuracy_curve(ks: list[int], curves: dict[str, np.ndarray], *, chance: float | None = None,
                   title: str | None = None, height: int = 420) -> go.Figure:
    """Test accuracy against pictures per class (log axis), one line per strategy: the mean over
    the seeded draws, a bar from the lowest to the highest draw. ``curves[name]`` is
    (len(ks), draws) with NaN where a run is missing; a dashed line marks guessing."""
    traces = []
    for name, values in curves.items():
        values = np.asarray(values, dtype=float)
        have = ~np.isnan(values).all(axis=1)
        if not have.any():
            continue
        x = np.asarray(ks)[have]
        v = values[have]
        mean, low, high = np.nanmean(v, 1), np.nanmin(v, 1), np.nanmax(v, 1)
        traces.append(go.Scatter(
            x=x, y=mean, mode="lines+markers", name=name,
            line=dict(color=STRATEGY_COLOURS.get(name, "#333333"), width=3),
            error_y=dict(type="data", symmetric=False, array=high - mean, arrayminus=mean - low, thickness=1.5),
            hovertemplate=f"{name}<br>k = %{{x}}: %{{y:.1%}}<extra></extra>"))
    if chance is not None and ks:
        traces.append(go.Scatter(x=[min(ks), max(ks)], y=[chance, chance], mode="lines", name="guessing",
                                 line=dict(color="#888888", dash="dash", width=2), hoverinfo="skip"))
    fig = go.Figure(traces, style.layout(
        title=title, height=height,
        xaxis=dict(title="pictures per class (k)", type="log", tickvals=list(ks), ticktext=[str(k) for k in ks]),
        yaxis=dict(title="test accuracy", range=[0, 1.03], tickformat=".0%"),
        legend=dict(orientation="h", y=-0.25)))
    return fig


def feature_maps(maps: dict[str, np.ndarray], labels: np.ndarray, classes: list[str],
                 scores: dict[str, float] | None = None, *, height: int = 470) -> go.Figure:
    """Side by side 2-D maps of the same pictures (e.g. frozen features vs raw pixels), each
    point a test picture coloured by its class; each title gives the map's silhouette score."""
    names = list(maps)
    titles = [f"{n} (silhouette {scores[n]:.2f})" if scores and n in scores and np.isfinite(scores[n]) else n
              for n in names]
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=titles, horizontal_spacing=0.06)
    labels = np.asarray(labels)
    for col, name in enumerate(names, start=1):
        points = np.asarray(maps[name])
        for c, cls in enumerate(classes):
            where = labels == c
            if not where.any():
                continue
            fig.add_trace(go.Scattergl(
                x=points[where, 0], y=points[where, 1], mode="markers", name=style.plain(cls), legendgroup=str(c),
                showlegend=col == 1, marker=dict(size=7, color=CLASS_COLOURS[c % len(CLASS_COLOURS)]),
                hovertemplate=f"{style.plain(cls)}<extra></extra>"), row=1, col=col)
    fig.update_xaxes(showticklabels=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, zeroline=False)
    style.style(fig, height=height, legend=dict(orientation="h", y=-0.08),
                margin=dict(l=10, r=10, t=50, b=10))
    fig.update_annotations(font_size=style.FONT_SIZE)
    return fig


def predicted_bars(classes: list[str], probabilities: np.ndarray, *, height: int = 300,
                   title: str | None = None) -> go.Figure:
    """The new classifier's probabilities for one picture, largest first (at most 10)."""
    p = np.asarray(probabilities, dtype=float)
    order = np.argsort(-p)[:10][::-1]
    fig = go.Figure([go.Bar(x=p[order], y=[style.plain(classes[i]) for i in order], orientation="h",
                            marker_color="#1f77b4", text=[f"{v:.0%}" for v in p[order]], textposition="outside",
                            cliponaxis=False, hovertemplate="%{y}: %{x:.1%}<extra></extra>")],
                    style.layout(title=title, height=height, xaxis=dict(range=[0, 1.15], tickformat=".0%",
                                                                        title="probability")))
    return fig
