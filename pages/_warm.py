"""The server's start-up: import the heavy libraries once, before the first student arrives.

On a fresh server the first session used to pay for every import (pandas 0.4 s, torch 1.5 s,
plotly's validators 0.5 s on the first figure...), 3 s or more on 2 cores before its page
appeared. ``app.py`` hands :func:`warm_libraries` to ``st.App`` as its lifespan, so these
imports run while the server starts and it answers only when they are done.

Not a page itself (the leading underscore keeps it out of navigation).
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time

# What the pages import at their top, heaviest first; all of it is needed by some page. pandas
# must be whole before any session draws a chart: plotly's JSON encoder looks it up in sys.modules
# without importing it, and once found a half-imported module of another session's thread (an
# AttributeError two of 30 students saw in a soak).
MODULES = ("torch", "pandas", "plotly.graph_objects", "scipy.fft", "sklearn.linear_model", "skimage.segmentation",
           "vizcore.playground", "vizcore.figures.playground", "vizcore.features", "vizcore.figures.features",
           "vizcore.explain", "vizcore.figures.saliency", "vizcore.models", "vizcore.train")

log = logging.getLogger(__name__)


def import_libraries() -> float:
    """Import every module in MODULES and build one figure (plotly loads its validators on the
    first one); the seconds it took."""
    started = time.perf_counter()
    for name in MODULES:
        importlib.import_module(name)
    import numpy as np
    import plotly.io

    from vizcore.figures import style

    plotly.io.to_json(style.heatmap(np.eye(2), title="warm-up"), validate=False)
    return time.perf_counter() - started


@contextlib.asynccontextmanager
async def warm_libraries(app):
    """st.App lifespan: the imports in a worker thread, then serve."""
    seconds = await asyncio.to_thread(import_libraries)
    log.info("Libraries imported in %.1f s", seconds)
    yield
