"""Long runs and what they compute: a Run button and Stop while it runs, exact cache keys, and the
log lines the browser tests and the lecture-hall benchmark read."""
from __future__ import annotations

import numpy as np
import streamlit as st

AUTO_SECONDS = 1.5  # runs estimated shorter than this start by themselves


class _RunSlots:
    """The Run and Stop buttons' places, emptied together once the run is done."""

    def __init__(self, *slots):
        self.slots = slots

    def empty(self) -> None:
        for slot in self.slots:
            slot.empty()


def _forget(key: str) -> None:
    st.session_state[key] = None


def run_controls(prefix: str, label: str, key: tuple, estimate: float | tuple[float, float], *,
                 hint: str = "press the button to start it"):
    """For a run estimated longer than AUTO_SECONDS: a Run button (``label``), then a Stop button
    while it runs. Shared by Occlusion and LIME; buttons ``{prefix}_run`` and ``{prefix}_stop``.

    Returns None while the run waits for its button (the page stops there), else the buttons'
    places to empty once the run is done. The request is kept per ``key`` (the run's settings),
    so a rerun of the same settings runs on; Stop forgets it, and the rerun Stop triggers (which
    interrupts the run) leaves the page usable without starting again.
    """
    from vizcore.explain import _forward

    # A range (low, high): the time this server's recent runs measured; it waits for its button
    # unless even the slow end is short.
    low, high = estimate if isinstance(estimate, tuple) else (estimate, estimate)
    if high <= AUTO_SECONDS:
        return _RunSlots()
    wanted = f"{prefix}_requested"
    run = st.empty()
    if st.session_state.get(wanted) != key:
        if not run.button(label, key=f"{prefix}_run", type="primary"):
            st.info(f"This takes about {_forward.format_span(low, high)}: {hint}.")
            return None
        st.session_state[wanted] = key
    # The Stop button comes after the Run button's place, never in it: a button drawn where the
    # clicked one was did not receive its own click in the browser (tested).
    stop = st.empty()
    stop.button("Stop", key=f"{prefix}_stop", on_click=_forget, args=(wanted,),
                help="Stop this run; the page stays usable.")
    return _RunSlots(run, stop)


def content_hash(*arrays) -> str:
    """A hash of every byte, shape and dtype of arrays or tensors, for cache keys.

    Streamlit samples large arrays when it hashes them, so two inputs that differ in one pixel
    could share a cached result; this reads them whole.
    """
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def log_arguments(page: str, **values) -> None:
    """When asked (``VIZCORE_LOG_ARGUMENTS``), one line with the settings a page's computation
    has just used, by their link names: the browser tests hold them against what the page shows
    and what its address says."""
    import json
    import os
    import sys

    if os.environ.get("VIZCORE_LOG_ARGUMENTS"):
        print(f"[vizcore] arguments {page} {json.dumps(values, default=str)}", file=sys.stderr, flush=True)


def log_computation(what: str) -> None:
    """One line per real computation when asked (the lecture-hall benchmark counts them)."""
    import os
    import sys

    if os.environ.get("VIZCORE_LOG_COMPUTATIONS"):
        print(f"[vizcore] computed {what}", file=sys.stderr, flush=True)
