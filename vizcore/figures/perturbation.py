"""Figures of the perturbation methods: occlusion's maps and player, LIME's four steps.

Built from plain dicts with the app's template (:func:`vizcore.figures.style.layout`) and without
Plotly's validation (``_validate=False``), which is slow for figures with many frames; colour
scales are spelled out as stops because the browser knows fewer scale names than Python.
Pictures are (H, W) gray or (H, W, 3) colour arrays in 0 … 255.
"""
from __future__ import annotations

import base64
import io
import json
from functools import lru_cache

import numpy as np
import plotly.colors
import plotly.graph_objects as go
from PIL import Image

from vizcore.figures import style
from vizcore.explain.occlusion import Windows

POSITIVE, NEGATIVE = "#b2182b", "#2166ac"  # the diverging scale's ends: raises / lowers the score
BOUNDARY = (255, 221, 0)                     # superpixel outlines: yellow shows on every colour
PATCH_LINE = "#ff7f0e"
DISPLAY_SIDE = 384                           # small pictures are enlarged to about this size
MAX_FRAMES = 400                             # the occlusion player shows at most this many positions
BAR_PX = 22                                  # one superpixel's bar: its number stays clear of its neighbours


@lru_cache(maxsize=16)
def _scale(name: str) -> tuple:
    return tuple(tuple(stop) for stop in plotly.colors.get_colorscale(name))


def _figure(data: list[dict], *, title: str | None = None, height: int | None = None, **layout) -> go.Figure:
    base = style.layout(title=title, height=height)
    base.update(layout)
    return go.Figure(dict(data=data, layout=base), _validate=False)


plain = style.plain  # class names in figure text, character for character


def png_bytes(picture: np.ndarray) -> bytes:
    """A picture as PNG file bytes (for downloads)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb(picture)).save(buffer, format="PNG")
    return buffer.getvalue()


def png_uri(picture: np.ndarray) -> str:
    """A picture as a PNG data address, for an image trace's ``source`` (compact, and a string
    that Plotly and Streamlit copy for free)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb(picture)).save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def rgb(picture: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 from a gray or colour picture in 0 … 255."""
    picture = np.asarray(picture)
    if picture.ndim == 3 and picture.shape[-1] == 1:
        picture = picture[..., 0]
    if picture.ndim == 2:
        picture = np.repeat(picture[..., None], 3, axis=2)
    return np.clip(np.round(picture), 0, 255).astype(np.uint8)


def enlarge(picture: np.ndarray, side: int = DISPLAY_SIDE) -> tuple[np.ndarray, int]:
    """The picture enlarged by a whole factor (square pixels) to about ``side``, and the factor."""
    factor = max(1, side // max(picture.shape[:2]))
    return np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1), factor


def _image_axes(height: int, width: int) -> dict:
    """Axes that show pixel (row, col) with row 0 on top and square pixels, no ticks."""
    hidden = dict(visible=False, showgrid=False, zeroline=False)
    return dict(xaxis=dict(hidden, range=[-0.5, width - 0.5], constrain="domain"),
                yaxis=dict(hidden, range=[height - 0.5, -0.5], scaleanchor="x", constrain="domain"))


def _fig_height(height: int, width: int, base: int = 420, extra: int = 0) -> int:
    return int(min(620, max(260, base * height / max(width, 1)))) + extra


# --- occlusion --------------------------------------------------------------------------------------

def occluded_preview(picture: np.ndarray, box: tuple[int, int, int, int] | None, *,
                     title: str | None = None) -> go.Figure:
    """A picture (one occluded input) with the patch rows r0 … r1−1, cols c0 … c1−1 outlined."""
    img = rgb(picture)
    h, w = img.shape[:2]
    shapes = []
    if box is not None:
        r0, r1, c0, c1 = box
        shapes.append(dict(type="rect", x0=c0 - 0.5, x1=c1 - 0.5, y0=r0 - 0.5, y1=r1 - 0.5,
                           line=dict(color=PATCH_LINE, width=3)))
    trace = dict(type="image", z=img, hovertemplate="row %{y}, col %{x}<extra></extra>")
    return _figure([trace], title=title, height=_fig_height(h, w, 260), shapes=shapes, **_image_axes(h, w))


def _position_text(grid: Windows) -> np.ndarray:
    """'rows a–b, cols c–d' of every occluder position (for hover)."""
    text = np.empty((grid.rows, grid.cols), dtype=object)
    for i in range(grid.rows):
        for j in range(grid.cols):
            r0, r1, c0, c1 = grid.box(i, j)
            text[i, j] = f"rows {r0}–{r1 - 1}, cols {c0}–{c1 - 1}"
    return text


def score_map(scores: np.ndarray, grid: Windows, original: float, *, output: str = "probability",
              class_name: str = "", title: str | None = None) -> go.Figure:
    """Zeiler & Fergus's map: the class's probability (or logit) with the patch at each position.

    Dark where hiding the patch made the probability fall: where the model looked. Hover gives
    the patch's pixel rows and columns, the value there and the drop from the unoccluded input.
    """
    scores = np.asarray(scores, dtype=np.float64)
    label = "probability" if output == "probability" else "logit"
    custom = np.stack([_position_text(grid), np.vectorize(style.number)(original - scores)], axis=-1)
    zmin, zmax = (0.0, 1.0) if output == "probability" else (float(scores.min()), float(scores.max()))
    if zmax <= zmin:
        zmin, zmax = zmin - 0.5, zmax + 0.5
    trace = dict(type="heatmap", z=scores, zmin=zmin, zmax=zmax, colorscale=_scale(style.SEQUENTIAL),
                 customdata=custom, colorbar=style.colorbar(f"{label} of {plain(class_name)}" if class_name else label),
                 hovertemplate=f"position (%{{y}}, %{{x}})<br>patch over %{{customdata[0]}}<br>"
                               f"{label} %{{z:.4f}}<br>drop %{{customdata[1]}}<extra></extra>")
    axes = dict(showgrid=False, constrain="domain", title=dict(text="patch column"))
    return _figure([trace], title=plain(title) if title else None, height=_fig_height(grid.rows, grid.cols, 380),
                   xaxis=axes, yaxis=dict(axes, title=dict(text="patch row"), autorange="reversed", scaleanchor="x"))


def pixel_overlay(picture: np.ndarray, values: np.ndarray, *, opacity: float = 0.6,
                  colorbar_title: str = "drop in probability", title: str | None = None,
                  bound: float | None = None) -> go.Figure:
    """A per-pixel map over the input: red where hiding the pixel lowered the score, blue where it raised it.

    The app's shared overlay (:func:`vizcore.figures.saliency.overlay`) with a signed scale centred on
    0, so "no effect" is transparent; ``bound`` fixes the scale's end (else the largest |value|).
    """
    from vizcore.figures import saliency as saliency_figs

    values = np.asarray(values, dtype=np.float64)
    bound = bound or float(np.abs(values).max()) or 1.0
    h, w = values.shape
    return saliency_figs.overlay(picture, values, signed=True, opacity=opacity, zmin=-bound, zmax=bound,
                                 title=title, colorbar_title=colorbar_title, height=_fig_height(h, w, 420))


class FrozenFigure(go.Figure):
    """A finished figure that hands out its dict without walking it again.

    ``Figure.to_dict`` deep-copies every frame and looks for arrays to encode in every value: for
    the player's few hundred frames that was most of a page rerun (≈ 60 ms). This one encodes its
    JSON once; ``to_dict`` parses it back (a fresh dict each time, so a caller may change it, as
    the Presenter switch does).
    """

    def __init__(self, fig: go.Figure):
        super().__init__(_validate=False)
        self._frozen_json = fig.to_json(validate=False)

    def to_dict(self) -> dict:
        return json.loads(self._frozen_json)

    def to_json(self, *args, **kwargs) -> str:
        return self._frozen_json


def frame_positions(count: int, limit: int = MAX_FRAMES) -> np.ndarray:
    """Which positions the player shows: all, or evenly spaced ones when there are too many."""
    if count <= limit:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, limit).round().astype(int))


def occlusion_player(picture: np.ndarray, fill_picture: np.ndarray, grid: Windows, probabilities: np.ndarray,
                     original: np.ndarray, classes: list[str], target: int, *, output: str = "probability",
                     values: np.ndarray | None = None, frame_ms: int = 120) -> go.Figure:
    """The lecture's animation: the patch moves, the class probabilities change, the map fills in.

    Three panels per position: the occluded input, the map of the target's score so far (the
    new point outlined, positions not reached yet greyed out) and every class's probability. Play/pause buttons and a slider run in
    the browser (no rerun). ``probabilities`` (rows, cols, K), ``original`` (K,) the unoccluded
    ones; ``values`` (rows, cols) the map's numbers when ``output`` is "logit".
    """
    img, fill = rgb(picture), rgb(fill_picture)
    h, w = img.shape[:2]
    probabilities = np.asarray(probabilities, dtype=np.float64)
    shown = probabilities[..., target] if values is None else np.asarray(values, dtype=np.float64)
    label = "probability" if output == "probability" else "logit"
    zmin, zmax = (0.0, 1.0) if output == "probability" else (float(shown.min()), float(shown.max()) + 1e-9)
    positions = frame_positions(grid.count)
    bar_colours = ["#1f77b4"] * len(classes)
    bar_colours[target] = POSITIVE
    names = [plain(c) for c in classes]

    def patch(p: int) -> dict:
        i, j = divmod(int(p), grid.cols)
        r0, r1, c0, c1 = grid.box(i, j)
        return dict(type="image", source=png_uri(fill[r0:r1, c0:c1]), x0=c0, y0=r0)

    def not_yet(p: int) -> list[dict]:
        """Grey boxes over the positions the patch has not reached yet (the map fills in)."""
        i, j = divmod(int(p), grid.cols)
        grey = dict(type="rect", xref="x2", yref="y2", fillcolor="#d9d9d9", line=dict(width=0), layer="above")
        return [dict(grey, x0=j + 0.5, x1=grid.cols - 0.5, y0=i - 0.5, y1=i + 0.5),
                dict(grey, x0=-0.5, x1=grid.cols - 0.5, y0=i + 0.5, y1=grid.rows - 0.5)]

    def marker(p: int) -> dict:
        i, j = divmod(int(p), grid.cols)
        return dict(type="scatter", x=[j], y=[i])

    def bars(p: int) -> dict:
        i, j = divmod(int(p), grid.cols)
        return dict(type="bar", x=tuple(np.round(probabilities[i, j], 4).tolist()))

    first = int(positions[0])
    data = [
        dict(type="image", source=png_uri(img), x0=0, y0=0, xaxis="x", yaxis="y", hoverinfo="skip"),
        dict(xaxis="x", yaxis="y", hoverinfo="skip", **patch(first)),
        dict(type="heatmap", z=np.round(shown, 4), zmin=zmin, zmax=zmax, colorscale=_scale(style.SEQUENTIAL),
             xaxis="x2", yaxis="y2", colorbar=style.colorbar(label, x=0.64, len=0.8),
             hovertemplate=f"position (%{{y}}, %{{x}})<br>{label} %{{z:.4f}}<extra></extra>"),
        dict(mode="markers", xaxis="x2", yaxis="y2", hoverinfo="skip", showlegend=False,
             marker=dict(symbol="square-open", size=16, color=PATCH_LINE, line=dict(width=3)), **marker(first)),
        dict(orientation="h", y=names, xaxis="x3", yaxis="y3", marker=dict(color=bar_colours),
             hovertemplate="%{y}: %{x:.4f}<extra></extra>", showlegend=False, **bars(first)),
        dict(type="scatter", mode="markers", x=np.round(original, 4), y=names, xaxis="x3", yaxis="y3",
             name="without the patch", marker=dict(symbol="line-ns-open", size=22, color="#1a1a1a",
                                                   line=dict(width=3)),
             hovertemplate="%{y} without the patch: %{x:.4f}<extra></extra>"),
    ]
    frames, steps = [], []
    for p in positions:
        i, j = divmod(int(p), grid.cols)
        name = str(int(p))
        frames.append(dict(name=name, traces=[1, 3, 4], data=[patch(p), marker(p), bars(p)],
                           layout=dict(shapes=not_yet(p))))
        steps.append(dict(method="animate", label=f"({i}, {j})",
                          args=[[name], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                             transition=dict(duration=0))]))
    hidden = dict(visible=False, showgrid=False, zeroline=False)
    play = dict(frame=dict(duration=frame_ms, redraw=True), fromcurrent=True, transition=dict(duration=0))
    panel_title = dict(xref="paper", yref="paper", y=1.0, yanchor="bottom", showarrow=False,
                       font=dict(size=style.FONT_SIZE))
    layout = dict(
        xaxis=dict(hidden, domain=[0.0, 0.28], range=[-0.5, w - 0.5], anchor="y"),
        yaxis=dict(hidden, domain=[0.0, 1.0], range=[h - 0.5, -0.5], scaleanchor="x", anchor="x"),
        xaxis2=dict(domain=[0.37, 0.62], showgrid=False, zeroline=False, range=[-0.5, grid.cols - 0.5],
                    anchor="y2", constrain="domain", title=dict(text="patch column")),
        yaxis2=dict(domain=[0.0, 1.0], showgrid=False, zeroline=False, range=[grid.rows - 0.5, -0.5],
                    scaleanchor="x2", anchor="x2", constrain="domain"),
        xaxis3=dict(domain=[0.8, 1.0], range=[-0.02, 1.1], tickvals=[0, 0.5, 1], tickformat=".0%", anchor="y3",
                    title=dict(text="probability")),
        yaxis3=dict(domain=[0.0, 1.0], anchor="x3", autorange="reversed", type="category", automargin=True),
        annotations=[dict(panel_title, x=0.14, xanchor="center", text="Occluded input"),
                     dict(panel_title, x=0.495, xanchor="center", text=f"Map of the {label} so far"),
                     dict(panel_title, x=1.0, xanchor="right", text="Every class's probability")],
        legend=dict(orientation="h", x=1.0, xanchor="right", y=-0.2, yanchor="top"),
        # The slider spans the width; Play/Pause sit under it (side by side they overlapped on a
        # 1280 px screen).
        updatemenus=[dict(type="buttons", direction="left", x=0.0, y=-0.5, xanchor="left", yanchor="top",
                          showactive=False, pad=dict(t=0, r=10),
                          buttons=[dict(label="▶ Play", method="animate", args=[None, play]),
                                   dict(label="❚❚ Pause", method="animate",
                                        args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False))])])],
        # Step labels would crowd the slider (one per position): they are transparent, and the
        # current position is written above it.
        sliders=[dict(active=0, steps=steps, x=0.0, len=1.0, y=-0.27, yanchor="top", pad=dict(t=0),
                      font=dict(color="rgba(0,0,0,0)"), ticklen=0, minorticklen=0,
                      currentvalue=dict(prefix="patch at (row, col) = ",
                                        font=dict(size=style.TICK_SIZE, color=style.TEXT_COLOUR)))],
        margin=dict(l=10, r=10, t=50, b=220),
        shapes=not_yet(first),
    )
    base = style.layout(height=_fig_height(h, w, 330, extra=250))
    base.update(layout)
    fig = go.Figure(dict(data=data, layout=base), _validate=False)
    # Assigning fig.frames would validate every frame again (≈ 1 ms each, the whole rerun budget
    # for a few hundred positions); the frames are plain, already checked by the tests.
    fig._frame_objs = tuple(go.Frame(frame, _validate=False) for frame in frames)
    return FrozenFigure(fig)


# --- LIME ----------------------------------------------------------------------------------------------

def boundaries(labels: np.ndarray) -> np.ndarray:
    """True on pixels whose right or lower neighbour lies in another superpixel."""
    edge = np.zeros(labels.shape, bool)
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return edge


def centroids(segments: np.ndarray) -> np.ndarray:
    """(F, 2) row, col of each superpixel's centre of mass (a pixel inside it when the centre is not)."""
    segments = np.asarray(segments)
    n = int(segments.max()) + 1
    rows, cols = np.indices(segments.shape)
    size = np.bincount(segments.ravel(), minlength=n)
    centre = np.stack([np.bincount(segments.ravel(), rows.ravel(), n) / size,
                       np.bincount(segments.ravel(), cols.ravel(), n) / size], axis=1)
    for f in range(n):  # a C-shaped segment's centre may lie outside it: take its nearest pixel
        r, c = np.round(centre[f]).astype(int)
        if segments[min(r, segments.shape[0] - 1), min(c, segments.shape[1] - 1)] != f:
            pr, pc = np.nonzero(segments == f)
            k = np.argmin((pr - centre[f, 0]) ** 2 + (pc - centre[f, 1]) ** 2)
            centre[f] = pr[k], pc[k]
    return centre


def outlined(picture: np.ndarray, segments: np.ndarray, side: int = DISPLAY_SIDE) -> tuple[np.ndarray, int]:
    """The picture enlarged with the superpixel boundaries drawn in one-pixel yellow lines."""
    big, factor = enlarge(rgb(picture), side)
    labels, _ = enlarge(np.asarray(segments), side)
    out = big.copy()
    out[boundaries(labels)] = BOUNDARY
    return out, factor


def superpixel_figure(picture: np.ndarray, segments: np.ndarray, *, coefficients: np.ndarray | None = None,
                      title: str | None = None, numbers: bool = True) -> go.Figure:
    """The superpixels drawn on the picture, each with its number (and coefficient on hover)."""
    img, factor = outlined(picture, segments)
    h, w = img.shape[:2]
    # A PNG, not the pixel array: the enlarged picture as numbers would be ~0.5 MB per rerun.
    data = [dict(type="image", source=png_uri(img), x0=0, y0=0, hoverinfo="skip")]
    if numbers:
        centre = centroids(segments) * factor + (factor - 1) / 2
        sizes = np.bincount(np.asarray(segments).ravel())
        hover = [f"superpixel {f}<br>{sizes[f]} pixels" + (
            f"<br>coefficient {style.number(coefficients[f])}" if coefficients is not None else "")
            for f in range(len(sizes))]
        data.append(dict(type="scatter", mode="text", x=centre[:, 1], y=centre[:, 0],
                         text=[str(f) for f in range(len(sizes))], hovertext=hover, hoverinfo="text",
                         textfont=dict(size=style.TICK_SIZE, color="white"), showlegend=False,
                         textposition="middle center"))
        # a dark halo under each number keeps it readable on light superpixels
        data.insert(1, dict(type="scatter", mode="markers", x=centre[:, 1], y=centre[:, 0], hoverinfo="skip",
                            marker=dict(size=22, color="rgba(0,0,0,0.55)"), showlegend=False))
    return _figure(data, title=title, height=_fig_height(h, w, 460), **_image_axes(h, w))


def perturbed_pictures(picture: np.ndarray, fill_picture: np.ndarray, segments: np.ndarray,
                       masks: np.ndarray) -> np.ndarray:
    """(S, H, W, 3) uint8: each sample's picture, hidden superpixels replaced by ``fill_picture``."""
    img, fill = rgb(picture), rgb(np.broadcast_to(fill_picture, np.asarray(picture).shape))
    keep = np.asarray(masks, bool)[:, np.asarray(segments)]  # (S, H, W)
    return np.where(keep[..., None], img[None], fill[None])


def coefficient_bars(coefficients: np.ndarray, *, top: list[int] | None = None, title: str | None = None,
                     ylabel: str = "coefficient (probability added)", max_bars: int = 24) -> go.Figure:
    """One bar per superpixel, largest at the top: red raises the class's probability, blue lowers it.

    The bars lie horizontally so every superpixel's number reads level (standing bars needed
    their labels rotated, and 21 of them ran into one another). With more than ``max_bars``
    superpixels only the strongest (by |coefficient|) are drawn, and the axis says so.
    ``top``: superpixels to outline (those in the explanation image). ``ylabel`` names the
    coefficient (it runs along the value axis).
    """
    coef = np.asarray(coefficients, dtype=np.float64)
    order = np.argsort(-np.abs(coef), kind="stable")[:max_bars]
    order = order[np.argsort(-coef[order], kind="stable")]
    chosen = set(top or [])
    trace = dict(type="bar", orientation="h", y=[f"#{f}" for f in order], x=coef[order],
                 marker=dict(color=[POSITIVE if coef[f] > 0 else NEGATIVE for f in order],
                             line=dict(color=["#1a1a1a" if f in chosen else "rgba(0,0,0,0)" for f in order],
                                       width=3)),
                 hovertemplate="superpixel %{y}<br>coefficient %{x:.5f}<extra></extra>")
    shown = "superpixel" if len(order) == coef.size else f"the {len(order)} strongest of {coef.size} superpixels"
    return _figure([trace], title=title, height=max(260, 90 + BAR_PX * len(order)),
                   yaxis=dict(type="category", title=dict(text=shown), autorange="reversed", automargin=True),
                   xaxis=dict(title=dict(text=ylabel), zeroline=True, zerolinewidth=2, nticks=5, tickformat=".2~g"))


def _rgb_of(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[k:k + 2], 16) for k in (1, 3, 5))


def explanation_picture(picture: np.ndarray, segments: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """lime's explanation image, enlarged: the chosen superpixels in colour and outlined, the rest
    faded. The tint follows the app's one colour meaning (the bar chart's and every signed map's):
    red where a superpixel raises the probability, blue where it lowers it (lime's own picture uses
    green and red)."""
    img = rgb(picture).astype(np.float64)
    mask = np.asarray(mask)
    chosen = (mask != 0)[..., None]
    out = np.where(chosen, img, 0.3 * img + 0.7 * 255)
    tint = np.zeros_like(img)
    tint[mask > 0] = _rgb_of(POSITIVE)
    tint[mask < 0] = _rgb_of(NEGATIVE)
    out = np.where(chosen, 0.65 * out + 0.35 * tint, out)
    big, _ = enlarge(np.clip(np.round(out), 0, 255).astype(np.uint8))
    labels, _ = enlarge(np.asarray(segments))
    inside, _ = enlarge(mask != 0)
    big[boundaries(labels) & inside] = (20, 20, 20)
    return big


def picture_figure(picture: np.ndarray, *, title: str | None = None) -> go.Figure:
    """A picture drawn pixel for pixel, without axes."""
    img = rgb(picture)
    h, w = img.shape[:2]
    return _figure([dict(type="image", source=png_uri(img), x0=0, y0=0, hoverinfo="skip")], title=title,
                   height=_fig_height(h, w, 460), **_image_axes(h, w))


def stability_figure(samples: list[int], agreement: np.ndarray, low: np.ndarray, *, k: int = 5,
                     seeds: int = 5, title: str | None = None) -> go.Figure:
    """Top-k agreement between seeds (mean pairwise Jaccard, and the worst pair) per sample count."""
    data = [
        dict(type="scatter", mode="lines+markers", x=list(samples), y=np.asarray(agreement), name="mean of all pairs",
             line=dict(color=POSITIVE, width=3), marker=dict(size=10),
             hovertemplate="%{x} samples: mean agreement %{y:.2f}<extra></extra>"),
        dict(type="scatter", mode="lines+markers", x=list(samples), y=np.asarray(low), name="least agreeing pair",
             line=dict(color=NEGATIVE, width=2, dash="dash"), marker=dict(size=8),
             hovertemplate="%{x} samples: worst pair %{y:.2f}<extra></extra>"),
    ]
    return _figure(data, title=title, height=380,
                   xaxis=dict(type="log", title=dict(text="samples (perturbed images)"), tickvals=list(samples)),
                   yaxis=dict(range=[-0.02, 1.05], title=dict(text=f"top-{k} Jaccard across {seeds} seeds")),
                   legend=dict(orientation="h", y=-0.25))
