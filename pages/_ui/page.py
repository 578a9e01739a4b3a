"""The frame around a page (app.py): stop_page ends only the page, error_boundary turns an
unexpected exception into a short message and a server log entry."""
from __future__ import annotations

import contextlib
import threading
from typing import NoReturn

import streamlit as st
from streamlit.logger import get_logger

ERROR_MESSAGE = ("Something went wrong on this page, and it has been noted on the server. Reload the page "
                 "(the link keeps your settings), or change a setting and try again.")
log = get_logger("seeing_convolutions")


class PageStopped(BaseException):
    """Raised by :func:`stop_page`; ends the page, never the script run (a BaseException, like
    st.stop's, so a page's ``except Exception`` lets it pass)."""


_frame = threading.local()  # per script thread: whether this run's page runs inside app.py's frame


def stop_page(spec=None) -> NoReturn:
    """End the page's run here: use it instead of ``st.stop()``. With ``spec`` (the page's
    LinkSpec) the address is written first.

    ``st.stop()`` ends the whole script run as "stopped early", and Streamlit then skips its
    end-of-run bookkeeping: the state of every widget this run did not draw is kept, while the
    browser removes those widgets. Drawn again later (after an upload, say), such a widget
    took its lowest value in the browser while the server computed with the kept one, and the
    next click sent the lowest values back (issue 25). Inside app.py's frame this ends only the
    page, so the run finishes normally; a page run on its own (AppTest) uses st.stop().
    """
    # Imported here: links imports this module (finish_link reads _frame's place for the box).
    from pages._ui.links import write_link_state

    if spec is not None:
        write_link_state(spec)
    if getattr(_frame, "active", False):
        raise PageStopped
    st.stop()


@contextlib.contextmanager
def error_boundary():
    """The frame around a page (app.py). :func:`stop_page` ends the page here. An unexpected
    exception becomes a short message a lecturer can act on; the traceback goes to the
    server's log under Streamlit's own words "Uncaught app execution", so a test that reads the
    log still fails. st.rerun passes through (a BaseException, not an error)."""
    _frame.active = True
    try:
        yield
    except PageStopped:
        pass
    except Exception:  # noqa: BLE001 - the boundary: everything a page did not expect
        log.exception("Uncaught app execution (shown to the user as a short message)")
        st.error(ERROR_MESSAGE)
    finally:
        _frame.active = False
        _frame.link_place = None
