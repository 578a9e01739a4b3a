"""Shared test set-up: the repo root on sys.path, full error details in AppTest."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit.config  # noqa: E402

# The shipped config hides error details from users; tests want to see them.
streamlit.config.set_option("client.showErrorDetails", "full")
