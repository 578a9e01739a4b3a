"""Plotly figure builders shared by the pages, and the one figure style of the whole app.

Pages only call these and hand the figure to Streamlit, so every figure is testable
without a browser.

The style is a Plotly template, ``TEMPLATE`` (registered as ``plotly.io.templates["vizcore"]``),
sized for a projector at 1280×720 seen from the back row: ticks, legends, colour bars and
annotations at 16 px, body text 18 px, titles 22 px, near-black text, margins that grow to fit
titles and tick labels (``automargin``). Every figure builder puts it in its layout through
:func:`layout` (or ``template_json()`` for figures built from plain dicts), and
:func:`for_presenter` turns any finished figure into the presenter version (all text larger).
"""
from __future__ import annotations

import copy
import html
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from PIL import Image

FONT_SIZE = 18  # body text
TICK_SIZE = 16  # ticks, legends, colour bars, annotations: never below 14 px
TITLE_SIZE = FONT_SIZE + 4
TEXT_COLOUR = "#1a1a1a"  # near black: grey text fades on a projector
MIN_FONT_SIZE = 14
PRESENTER_SCALE = 1.3  # the Presenter switch: every font this much larger...
TITLE_MAX_SCALE = 1.1  # ...but titles (already the largest): at 1.3 they ran past half-width charts
DIVERGING = "RdBu_r"  # negative blue, zero white, positive red
SEQUENTIAL = "Viridis"  # one direction (|values|, counts): dark low, bright high, never wraps
ONE_SIGNED = "gray"  # values of one sign (a blur of a photo): black at the lowest, white at the highest
# Plotly's toolbar (its "modebar": camera, zoom, reset) floats over a figure's top right corner:
# measured in Chromium on the LIME page, from 2 to 29 px below the figure's top. A title starts
# below it, or the icons sit on its last words (LIME's "What each superpixel adds to p(…)", issue
# 25). A title placed at pad.t has its text box begin 4.6 px higher (the font's ascent over its
# capitals): 38 leaves 4 px between the two.
TOOLBAR_PX = 38
TEMPLATE_NAME = "vizcore"
PRESENTER_TEMPLATE_NAME = "vizcore_presenter"


def make_template(scale: float = 1.0) -> go.layout.Template:
    """The app's figure style with every font size multiplied by ``scale`` (titles by at most
    ``TITLE_MAX_SCALE``)."""
    tick, body = round(TICK_SIZE * scale), round(FONT_SIZE * scale)
    title = round(TITLE_SIZE * min(scale, TITLE_MAX_SCALE))
    small = dict(size=tick, color=TEXT_COLOUR)
    colorbar = dict(tickfont=small, title=dict(font=small), thickness=18, outlinewidth=0)
    # ticks="": labels without tick marks (Plotly.js would draw marks even where labels are hidden)
    axis = dict(automargin=True, tickfont=small, title=dict(font=dict(size=body, color=TEXT_COLOUR)),
                color=TEXT_COLOUR, gridcolor="#e3e3e3", zerolinecolor="#9a9a9a", linecolor="#444444", ticks="")
    return go.layout.Template(
        layout=dict(
            font=dict(size=body, color=TEXT_COLOUR),
            # automargin pins a title to the container's top edge (plotly.js: y 1, yanchor "top"),
            # under the toolbar: pad.t moves it below, and the top margin grows to fit if needed.
            title=dict(font=dict(size=title, color=TEXT_COLOUR), automargin=True, x=0.01, xanchor="left",
                       pad=dict(t=TOOLBAR_PX)),
            paper_bgcolor="white", plot_bgcolor="white",
            xaxis=axis, yaxis=axis,
            legend=dict(font=small, title=dict(font=small)),
            coloraxis=dict(colorbar=colorbar),
            hoverlabel=dict(font=dict(size=tick)),
            annotationdefaults=dict(font=small),
            colorscale=dict(sequential=SEQUENTIAL, diverging=DIVERGING),
            colorway=["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
                      "#e377c2"],
        ),
        data=dict(heatmap=[go.Heatmap(colorbar=colorbar)]),
    )


TEMPLATE = make_template()
PRESENTER_TEMPLATE = make_template(PRESENTER_SCALE)
pio.templates[TEMPLATE_NAME] = TEMPLATE
pio.templates[PRESENTER_TEMPLATE_NAME] = PRESENTER_TEMPLATE
_TEMPLATE_JSON = TEMPLATE.to_plotly_json()
_PRESENTER_JSON = PRESENTER_TEMPLATE.to_plotly_json()


def template_json() -> dict:
    """The template as a plain dict, for figures built without Plotly's validation
    (``go.Figure(..., _validate=False)`` would pass a template's name to the browser unresolved)."""
    return copy.deepcopy(_TEMPLATE_JSON)


def plain(text) -> str:
    """User text (class names, file names) for figure text, which Plotly reads as a subset of HTML
    (``<a href>``, ``<b>``, entities) and hover templates fill at ``%{…}``: ``<``, ``>``, ``&``
    and ``{`` written as entities, so the text shows character for character and fills nothing."""
    return html.escape(str(text), quote=False).replace("{", "&#123;")


def colorbar(title: str, **extra) -> dict:
    """A titled colour bar: every colour bar says what its colours mean. The title runs along
    the bar's right side: above it, it sat on the top tick label whenever a tick fell on the
    bar's top (the "5" of a 0…5 map printed over "value")."""
    if not title:
        raise ValueError("a colour bar needs a title (what do the colours show?)")
    return dict(title=dict(text=title, side="right"), **extra)


def horizontal_colorbar(title: str, **extra) -> dict:
    """A titled colour bar lying under a narrow chart that still reads from the back row: the
    title above the bar, three horizontal tick labels (never rotated) at the template's tick
    size, written short ("0.04", not "0.0400"). ``extra``: position (x, y, len...)."""
    bar = colorbar(title)
    bar.update(orientation="h", title=dict(text=title, side="top", font=dict(size=TICK_SIZE, color=TEXT_COLOUR)),
               tickangle=0, nticks=3, tickformat=".2~g", tickfont=dict(size=TICK_SIZE, color=TEXT_COLOUR),
               thickness=14)
    bar.update(extra)
    return bar


def layout(*, title: str | None = None, height: int | None = None, **extra) -> dict:
    """The app's template, projector fonts and tight margins, as a layout dict for
    ``go.Figure(data, layout)``.

    Building a figure in one constructor call is several times faster than ``update_layout``
    calls one after another, and pages rebuild figures on every rerun.
    """
    base = dict(
        template=template_json(),
        title=dict(text=title) if title else None,
        font=dict(size=FONT_SIZE, color=TEXT_COLOUR),
        margin=dict(l=10, r=10, t=60 if title else 10, b=10),
        height=height,
    )
    base.update(extra)  # e.g. a larger top margin for subplot titles
    return base


_FONT_KEYS = ("font", "textfont", "tickfont", "insidetextfont", "outsidetextfont")


def _scale_fonts(node, scale: float) -> None:
    """Multiply every explicit font size in a figure dict (in place)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _FONT_KEYS and isinstance(value, dict) and isinstance(value.get("size"), (int, float)):
                value["size"] = round(value["size"] * scale)
            if key != "template":
                _scale_fonts(value, scale)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _scale_fonts(item, scale)


def for_presenter(fig: go.Figure | dict, scale: float = PRESENTER_SCALE) -> go.Figure:
    """The same figure (a Figure or its dict) for the Presenter switch: the presenter template
    and every font ``scale`` times larger; the figure grows a little so the larger text fits."""
    spec = fig.to_dict() if isinstance(fig, go.Figure) else copy.deepcopy(dict(fig))
    _scale_fonts(spec, scale)
    layout_ = spec.setdefault("layout", {})
    layout_["template"] = copy.deepcopy(_PRESENTER_JSON)
    if isinstance(layout_.get("height"), (int, float)):
        layout_["height"] = round(layout_["height"] * (1 + (scale - 1) / 2))
    return go.Figure(spec, _validate=False)


def style(fig: go.Figure, *, height: int | None = None, **extra) -> go.Figure:
    """Apply the app's template, projector fonts and margins to a figure built elsewhere
    (e.g. by ``make_subplots``); its own top margin stays when that is larger. ``extra``:
    more layout settings (legend, margin...)."""
    top = fig.layout.margin.t
    # Assigned, not merged: make_subplots starts from the default template (Streamlit's).
    fig.layout.template = TEMPLATE
    settings = layout(title=fig.layout.title.text, height=height, **extra)
    del settings["template"]
    fig.update_layout(settings)
    if top is not None and "margin" not in extra and top > fig.layout.margin.t:
        fig.layout.margin.t = top
    return fig


def number(v: float) -> str:
    """A number as the app writes it: thousands separated, 4 significant digits below 1,000."""
    v = float(v)
    if not np.isfinite(v):
        return str(v)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4g}"


@dataclass(frozen=True)
class ColourRange:
    """Which values a colour scale spans. Values below ``zmin`` or above ``zmax`` are drawn in
    the end colours (``below``/``above`` of them); ``data_min``/``data_max`` is the true range."""
    zmin: float
    zmax: float
    data_min: float
    data_max: float
    below: int
    above: int
    robust: bool

    @property
    def clipped(self) -> int:
        return self.below + self.above

    def colorbar(self, title: str) -> dict:
        """A titled colour bar whose end ticks say "≤"/"≥" when values lie beyond them."""
        bar = colorbar(title)
        if self.clipped and self.zmax > self.zmin:
            mid = (self.zmin + self.zmax) / 2
            bar.update(tickmode="array", tickvals=[self.zmin, mid, self.zmax],
                       ticktext=[("≤ " if self.below else "") + number(self.zmin), number(mid),
                                 ("≥ " if self.above else "") + number(self.zmax)])
        return bar

    def describe(self, total: int | None = None) -> str:
        """One sentence for a caption: what the colours span and what lies beyond."""
        span = f"Colours span {number(self.zmin)} … {number(self.zmax)}"
        if self.robust:
            span += " (1st–99th percentile"
            span += ", centred on 0)" if self.zmin == -self.zmax else ")"
        if self.clipped:
            of = f" of {total:,}" if total else ""
            span += (f"; {self.clipped:,}{of} values lie beyond and are drawn in the end colours "
                     f"(marked ≤/≥ on the colour bar)")
        return span + f". True range {number(self.data_min)} … {number(self.data_max)}."


def colour_range(z: np.ndarray, *, diverging: bool = False, robust: bool = False,
                 percentiles: tuple[float, float] = (1.0, 99.0)) -> ColourRange:
    """The colour range of ``z``: its full min..max, or with ``robust`` the 1st..99th
    percentile, so that a few extreme values (the strongest edges of a photo) do not wash
    everything else out. ``diverging``: symmetric around 0, so white is exactly 0.

    NaN and infinite values are ignored; an empty or flat range becomes a small one around it.
    """
    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.floating):
        z = z.astype(np.float64)
    # float32 maps stay float32 (a row of eight 1024² maps is 32 MB, not 64 MB per copy), and
    # only maps that hold NaN or inf pay for a filtered copy.
    finite = z.ravel() if np.isfinite(z).all() else z[np.isfinite(z)]
    if not finite.size:
        return ColourRange(-1.0, 1.0, 0.0, 0.0, 0, 0, robust)
    data_min, data_max = float(finite.min()), float(finite.max())
    low, high = data_min, data_max
    if robust:
        low, high = (float(v) for v in np.percentile(finite, percentiles))
        if high <= low:  # most values equal (a flat photo): the full range says more
            low, high = data_min, data_max
    if diverging:
        bound = max(abs(low), abs(high)) or max(abs(data_min), abs(data_max)) or 1.0
        low, high = -bound, bound
    elif high <= low:
        low, high = low - 0.5, high + 0.5
    below, above = int((finite < low).sum()), int((finite > high).sum())
    return ColourRange(low, high, data_min, data_max, below, above, robust)


SIGN_TOLERANCE = 1e-6  # of the largest |value|: rounding noise (-1e-13 in a blur) has no sign


def two_signed(values) -> bool:
    """Whether ``values`` (NaN and inf ignored) hold both negative and positive numbers, each
    larger than ``SIGN_TOLERANCE`` times the largest magnitude."""
    v = np.asarray(values)
    if not np.issubdtype(v.dtype, np.floating):
        v = v.astype(np.float64)
    finite = v.ravel() if np.isfinite(v).all() else v[np.isfinite(v)]
    if not finite.size:
        return False
    low, high = float(finite.min()), float(finite.max())
    tol = SIGN_TOLERANCE * max(-low, high)
    return low < -tol and high > tol


@dataclass(frozen=True)
class ColourScale:
    """The colours of a map: a Plotly scale name and the values at its ends."""
    colorscale: str
    zmin: float
    zmax: float
    diverging: bool


def colour_scale_for(values) -> ColourScale:
    """The app's one rule for maps that may have either sign: values of both signs on the
    diverging red–blue scale centred on 0 (white is exactly 0); values of one sign (all ≥ 0,
    a blur; or all ≤ 0) on the sequential ``ONE_SIGNED`` scale from their min to their max, so
    no half of the colour bar stays unused and a blurred photo still looks like a photo.

    NaN and infinite values are ignored; a flat or empty map gets a small range around it.
    """
    if two_signed(values):
        r = colour_range(values, diverging=True)
        return ColourScale(DIVERGING, r.zmin, r.zmax, True)
    r = colour_range(values)
    return ColourScale(ONE_SIGNED, r.zmin, r.zmax, False)


# --- numbers written into cells --------------------------------------------------------------

# Widths of characters in em, a little wider than Arial's (Chromium on Linux draws Plotly's text
# in Liberation Sans or DejaVu Sans): enough to tell whether a number fits its cell.
_CHAR_EM = {".": 0.32, ",": 0.32, "-": 0.4, "−": 0.62, " ": 0.3, "e": 0.62, "+": 0.66}


def text_width(text: str, size: float) -> float:
    """About how many pixels ``text`` takes at font ``size`` (px): digits 0.64 em each."""
    return size * sum(_CHAR_EM.get(ch, 0.64) for ch in str(text))


def short_numbers(values, max_chars: int = 4) -> list[list[str]]:
    """A small matrix's numbers for its cells, each at most ``max_chars`` long where possible:
    whole numbers as they are, the others with the same number of decimals (3, 2, 1, 0: the
    most that fit), a leading "0" dropped (".05", "-.32"). Hover shows the exact values."""
    v = np.atleast_2d(np.asarray(values, dtype=np.float64))

    def text(x: float, decimals: int) -> str:
        if not np.isfinite(x):
            return str(x)
        if float(x).is_integer() and abs(x) < 1e6:
            return str(int(x))
        t = f"{x:.{decimals}f}"
        return t[1:] if t.startswith("0.") else "-" + t[2:] if t.startswith("-0.") else t

    for decimals in (3, 2, 1, 0):
        texts = [[text(x, decimals) for x in row] for row in v]
        if all(len(t) <= max_chars for row in texts for t in row):
            return texts
    return [[text(x, 0) if abs(x) >= 1 else f"{x:.1g}" for x in row] for row in v]


def cell_font_size(labels, cell_px: float, *, largest: int = FONT_SIZE - 2, smallest: int = MIN_FONT_SIZE,
                   scale: float = PRESENTER_SCALE, fill: float = 0.85) -> int | None:
    """The largest font size (at most ``largest``) at which every label fits in a square cell
    of ``cell_px`` pixels, also once :func:`for_presenter` made it ``scale`` times larger;
    None when even ``smallest`` is too large (then write no numbers: hover shows them)."""
    widest = max((text_width(t, 1.0) for t in labels), default=0.0)
    for size in range(largest, smallest - 1, -1):
        big = size * scale
        if widest * big <= fill * cell_px and 1.2 * big <= fill * cell_px:
            return size
    return None


@lru_cache(maxsize=16)
def _stops(colorscale: str) -> tuple[np.ndarray, np.ndarray]:
    import plotly.colors  # plotly's named scales, so the PNG has the chart's colours

    scale = plotly.colors.get_colorscale(colorscale)
    positions = np.array([p for p, _ in scale], dtype=np.float64)
    rgb = np.array([plotly.colors.unlabel_rgb(plotly.colors.convert_colors_to_same_type(c, "rgb")[0][0])
                    for _, c in scale], dtype=np.float64)
    return positions, rgb


def colourise(values: np.ndarray, *, zmin: float, zmax: float, colorscale: str) -> np.ndarray:
    """Values as RGB uint8 (…, 3) on a Plotly colour scale from ``zmin`` to ``zmax`` (clipped)."""
    v = np.asarray(values, dtype=np.float64)
    span = zmax - zmin
    t = np.clip((v - zmin) / span, 0, 1) if span > 0 else np.full(v.shape, 0.5)
    t = np.where(np.isfinite(t), t, 0.5)
    positions, rgb = _stops(colorscale)
    channels = [np.interp(t, positions, rgb[:, k]) for k in range(3)]
    return np.stack(channels, axis=-1).round().astype(np.uint8)


def heatmap(
    z: np.ndarray,
    *,
    title: str | None = None,
    colorscale: str = "gray",
    diverging: bool = False,
    zmin: float | None = None,
    zmax: float | None = None,
    show_values: bool = False,
    colorbar_title: str | None = None,
    x: list | None = None,
    y: list | None = None,
    height: int | None = None,
) -> go.Figure:
    """A 2D array as an image-like heatmap: row 0 at the top, square pixels, a colour bar.

    ``diverging=True`` uses a red-blue scale centred on 0 for values of both signs, so the sign
    of a filter response is visible at a glance, and a gray scale from min to max for values of
    one sign (:func:`colour_scale_for`). ``show_values`` writes each number into its cell (small matrices).
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"heatmap needs a 2D array, got shape {z.shape}")
    if diverging:  # both signs centred on 0, one sign from min to max: colour_scale_for
        scale = colour_scale_for(z)
        zmin, zmax, colorscale = scale.zmin, scale.zmax, scale.colorscale
    trace = dict(
        type="heatmap",
        z=z,
        x=x,
        y=y,
        colorscale=colorscale,
        zmin=zmin,
        zmax=zmax,
        colorbar=colorbar(colorbar_title or "value"),
        hovertemplate="row %{y}, col %{x}<br>value %{z:.4g}<extra></extra>",
    )
    if show_values:
        trace.update(text=[[_fmt(v) for v in row] for row in z], texttemplate="%{text}",
                     textfont=dict(size=FONT_SIZE - 2))
    axes = dict(showgrid=False, constrain="domain")
    if show_values:
        axes["dtick"] = 1  # cell indices only: no 0.5 ticks when boxes are drawn over cells
    return go.Figure(
        [trace],
        layout(
            title=title,
            height=height,
            xaxis=dict(axes, side="top" if show_values else "bottom"),
            yaxis=dict(axes, autorange="reversed", scaleanchor="x"),
        ),
    )


def image(img: Image.Image | np.ndarray, *, title: str | None = None, height: int | None = None) -> go.Figure:
    """A photo (PIL image, (H,W) gray or (H,W,3)/(3,H,W) RGB array in 0..255) without axes."""
    arr = np.asarray(img)
    if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(1, 2, 0)
    arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    trace = dict(type="image", z=arr, hovertemplate="row %{y}, col %{x}<br>%{z}<extra></extra>")
    return go.Figure([trace], layout(title=title, height=height,
                                     xaxis=dict(visible=False), yaxis=dict(visible=False)))


def _fmt(v: float) -> str:
    if not np.isfinite(v):
        return str(v)
    return str(int(v)) if float(v).is_integer() else f"{v:.3g}"
