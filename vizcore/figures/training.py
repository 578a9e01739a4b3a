"""Figures for the Training page: learning curves, confusion matrix, misclassified pictures.

Built here (not in the page) so tests can check what they show.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vizcore.figures import style
from vizcore.train import History

# One colour per run; training dashed, validation solid, so "the gap" reads at a glance.
RUN_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def learning_curves(runs: dict[str, History], *, height: int = 460) -> go.Figure:
    """Loss (left) and accuracy (right) per epoch for training and validation, for one or more runs.

    Each batch's training loss is drawn faintly behind the epoch means of the first run. Training
    accuracy rising while validation accuracy stalls or falls is overfitting.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss (cross-entropy)", "Accuracy"),
                        horizontal_spacing=0.1)
    for i, (name, h) in enumerate(runs.items()):
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        prefix = f"{name}: " if len(runs) > 1 else ""
        if len(runs) == 1 and h.batch_loss:
            fig.add_trace(go.Scatter(x=h.batch_epoch, y=h.batch_loss, mode="lines", name="training (each batch)",
                                     line=dict(color=colour, width=1), opacity=0.3), row=1, col=1)
        for values, col, part, dash in ((h.train_loss, 1, "training", "dash"), (h.val_loss, 1, "validation", "solid"),
                                        (h.train_accuracy, 2, "training", "dash"),
                                        (h.val_accuracy, 2, "validation", "solid")):
            if values:
                fig.add_trace(go.Scatter(x=h.epoch[:len(values)], y=values, mode="lines+markers",
                                         name=f"{prefix}{part}", legendgroup=f"{name}{part}",
                                         showlegend=col == 1, line=dict(color=colour, dash=dash, width=3)),
                              row=1, col=col)
    epochs = max((len(h.epoch) for h in runs.values()), default=1)
    # Whole epochs from 1 only: after a one-epoch run an axis from 0 wrote a "0" tick into the
    # accuracy's "0%" (issue 25's first-screen test trains one epoch).
    fig.update_xaxes(title_text="epoch", tickvals=list(range(1, epochs + 1, max(1, round(epochs / 10)))))
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=2)
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    style.style(fig, height=height, legend=dict(orientation="h", y=-0.2),
                margin=dict(l=10, r=10, t=50, b=10))  # room for subplot titles
    fig.update_annotations(font_size=style.FONT_SIZE)
    return fig


def confusion_figure(matrix: np.ndarray, classes: list[str], *, title: str | None = None) -> go.Figure:
    """The confusion matrix as a heatmap with counts: row = true class, column = predicted class.

    The diagonal holds the correct answers; everything off it is a mistake.
    """
    matrix = np.asarray(matrix)
    names = [style.plain(c) for c in classes]  # the user's folder names: literal, never markup
    fig = style.heatmap(matrix, title=title, colorscale="Blues", show_values=len(classes) <= 12,
                        colorbar_title="images", x=names, y=names,
                        height=max(380, min(900, 45 * len(classes) + 160)))
    fig.update_traces(hovertemplate="true %{y}, predicted %{x}<br>%{z} images<extra></extra>")
    # Many classes (up to 100) stay on one screen: at most 30 labels per axis, hover names each cell.
    ticks = {"nticks": 30} if len(classes) > 30 else {}
    # The x axis at the bottom: on top (style.heatmap's place for a matrix's column numbers) its
    # title ran into the figure's title (issue 17).
    fig.update_xaxes(title_text="predicted class", type="category", side="bottom", **ticks)
    fig.update_yaxes(title_text="true class", type="category", **ticks)
    return fig


def misclassified_figure(images: np.ndarray, true: list[str], predicted: list[str], confidence: list[float],
                         *, columns: int = 6, height_per_row: int = 190) -> go.Figure:
    """A grid of pictures the model got wrong, each titled "true → predicted (confidence)".

    ``images`` is (N, C, H, W) 0..255 (C = 1 or 3).
    """
    images = np.asarray(images)
    n = len(images)
    rows = max(1, -(-n // columns))
    titles = [f"{style.plain(t)} → {style.plain(p)} ({c:.0%})" for t, p, c in zip(true, predicted, confidence)]
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=titles, horizontal_spacing=0.02,
                        vertical_spacing=0.12 / rows)
    for i, img in enumerate(images):
        arr = np.clip(img, 0, 255).astype(np.uint8).transpose(1, 2, 0)
        if arr.shape[2] == 1:
            arr = np.repeat(arr, 3, axis=2)
        fig.add_trace(go.Image(z=arr, hovertemplate=f"{titles[i]}<extra></extra>"),
                      row=i // columns + 1, col=i % columns + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    style.style(fig, height=rows * height_per_row + 40, margin=dict(l=10, r=10, t=30, b=10))
    fig.update_annotations(font_size=style.FONT_SIZE - 4)
    return fig
