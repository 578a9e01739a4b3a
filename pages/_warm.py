"""The server's start-up: import the heavy libraries once, before the first student arrives.

On a fresh server the first session used to pay for every import (pandas 0.4 s, torch 1.5 s,
plotly's validators 0.5 s on the first figure...), 3 s or more on 2 cores before its page
appeared. ``app.py`` hands :func:`warm_libraries` to ``st.App`` as its lifespan, so these
imports run while the server starts and it answers only when they are done. It also sets the
number of threads torch uses per pass, once for the whole server (see ``TORCH_THREADS_ENV``).

Not a page itself (the leading underscore keeps it out of navigation).
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import time

# What the pages import at their top, heaviest first; all of it is needed by some page. pandas
# must be whole before any session draws a chart: plotly's JSON encoder looks it up in sys.modules
# without importing it, and once found a half-imported module of another session's thread (an
# AttributeError two of 30 students saw in a soak).
MODULES = ("torch", "pandas", "plotly.graph_objects", "scipy.fft", "sklearn.linear_model", "skimage.segmentation",
           "vizcore.playground", "vizcore.figures.playground", "vizcore.features", "vizcore.figures.features",
           "vizcore.explain", "vizcore.figures.saliency", "vizcore.models", "vizcore.train",
           "vizcore.thumbnails",  # the home page's pictures: the first page every student opens
           # torch.broadcast_shapes (an occluded or hidden part's fill: Occlusion, LIME and the home
           # page's pictures of them) imports this, and sympy with it, on its first call: 0.5 s.
           "torch.fx.experimental.symbolic_shapes")

log = logging.getLogger(__name__)

# torch's own threads per forward pass. One: measured on this 2-core machine while other work ran,
# an ImageNet forward pass took 22 ms on one thread and 1.9 s on two (the two threads wait for a
# core each); a lecture server runs many students' passes at once, each in its session's thread,
# and they share the cores better one thread each. Set once for the whole server at start-up,
# before any session runs (a session never changes it).
TORCH_THREADS_ENV = "VIZCORE_TORCH_THREADS"


def torch_threads(environ=os.environ) -> int:
    """The torch thread count for this server: ``VIZCORE_TORCH_THREADS`` (1 … the cores), else 1."""
    try:
        wanted = int(environ.get(TORCH_THREADS_ENV, "1"))
    except ValueError:
        log.warning("%s=%r is not a whole number: using 1 thread", TORCH_THREADS_ENV, environ.get(TORCH_THREADS_ENV))
        return 1
    return max(1, min(wanted, os.cpu_count() or 1))


def limit_threads() -> None:
    """Torch and the maths libraries under numpy, scipy and scikit-learn (BLAS, OpenMP) run
    :func:`torch_threads` threads per call, for the whole server: once, at start-up, before any
    session runs. Two threads per call thrashed on a busy 2-core machine (a logistic regression of
    the Transfer learning page took 1.7 s instead of 63 ms)."""
    threads = torch_threads()
    # OpenMP (torch's, scikit-learn's) reads this once, when it loads, for every thread: a limit set
    # later holds only in the thread that set it, and sessions run in threads of their own.
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    for name in ("scipy.linalg", "sklearn"):  # load the BLAS libraries the limit below applies to
        importlib.import_module(name)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(limits=threads, user_api="blas")  # BLAS's setting holds for the whole process


# glibc's malloc gives threads arenas of their own, up to 8 per core, and Streamlit runs every
# rerun in a new thread: freed memory then stays spread over many arenas. Measured with 20
# simulated students for 5 minutes, side by side (benchmarks/bench_lecture_hall.py --hall), the
# server ended at 920-960 MiB with glibc's default, 690-730 MiB with MALLOC_ARENA_MAX=2 set
# before the start and 765 MiB with the cap set in-process, at the same latencies.
MALLOC_ARENAS_ENV = "VIZCORE_MALLOC_ARENAS"
M_ARENA_MAX = -8  # mallopt's parameter number (glibc's malloc.h)


def limit_malloc_arenas(environ=os.environ) -> int:
    """Cap glibc's malloc arenas for the whole server (``VIZCORE_MALLOC_ARENAS``, default 2; 0 leaves
    glibc's default), as MALLOC_ARENA_MAX would. Called by app.py when the server imports it: the
    cap holds for the arenas made after it (glibc fixes its own limit only once 8 arenas exist),
    so MALLOC_ARENA_MAX=2 set before the start does a little better (deploy/hall.py sets it). The
    cap set, or 0 where there is no glibc (macOS, Windows) or it was not changed."""
    import ctypes

    try:
        arenas = int(environ.get(MALLOC_ARENAS_ENV, "2"))
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (ValueError, OSError, AttributeError):
        return 0
    if arenas <= 0 or "MALLOC_ARENA_MAX" in environ:  # glibc's own variable, set before start, wins
        return 0
    return arenas if mallopt(M_ARENA_MAX, arenas) == 1 else 0


def import_libraries() -> float:
    """Import every module in MODULES and build one figure (plotly loads its validators on the
    first one); the seconds it took."""
    started = time.perf_counter()
    limit_threads()  # first: before an OpenMP library loads
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
    log.info("Libraries imported in %.1f s; torch uses %d thread(s) per pass", seconds, torch_threads())
    yield
