"""The live class's projector figure: how the hall answered."""
from __future__ import annotations

import plotly.graph_objects as go

from .style import layout

RIGHT, WRONG = "#1e8449", "#9e9e9e"  # the right answer in green, every other answer grey


def answer_histogram(histogram: list[tuple[str, int, bool]], *, height: int = 380) -> go.Figure:
    """One bar per distinct answer (most common first), the right one green, with its count."""
    labels = [label for label, _, _ in histogram]
    counts = [count for _, count, _ in histogram]
    colours = [RIGHT if ok else WRONG for _, _, ok in histogram]
    fig = go.Figure(go.Bar(x=labels, y=counts, marker_color=colours, text=counts, textposition="outside",
                           hovertemplate="%{x}: %{y} answers<extra></extra>", cliponaxis=False))
    fig.update_layout(**layout(title="How the hall answered (green: right)", height=height))
    fig.update_xaxes(type="category", title="answer")
    fig.update_yaxes(title="students", rangemode="tozero")
    return fig
