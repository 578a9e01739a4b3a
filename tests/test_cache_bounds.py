"""Issue 21: every cache of the app is bounded and all bounds together stay within 1 GB per process.

AST only (no page runs): the caches in pages/ (pages/_ui/ too) and app.py against the table in
benchmarks/cache_bounds.py, whose figures benchmarks/bench_cache_memory.py measures.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vizcore.memory import deep_size

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("cache_bounds", ROOT / "benchmarks" / "cache_bounds.py")
cb = sys.modules.setdefault("cache_bounds", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(cb)


@pytest.fixture(scope="module")
def scanned():
    return cb.scan()


def test_every_cache_is_bounded(scanned):
    caches, stray = scanned
    assert len(caches) > 30  # the scan found the app's caches
    assert stray == [], f"cache_data/cache_resource used other than as a decorator: {stray}"
    for c in caches:
        if c.kind == "cache_data":
            assert isinstance(c.max_entries, int), f"{c.name} (line {c.line}): st.cache_data without max_entries"
        else:
            assert cb.entries(c) is not None, (
                f"{c.name} (line {c.line}): st.cache_resource without max_entries; give it one, or add it "
                "to SELF_BOUNDED in benchmarks/cache_bounds.py with the reason it is bounded")


def test_table_matches_the_code(scanned):
    caches, _ = scanned
    resources = {c.name: c for c in caches if c.kind == "cache_resource"}
    assert set(cb.RECORDED) == set(resources), (
        "run benchmarks/bench_cache_memory.py and paste its RECORDED into benchmarks/cache_bounds.py: "
        f"missing {sorted(set(resources) - set(cb.RECORDED))}, gone {sorted(set(cb.RECORDED) - set(resources))}")
    for name, (entries, worst, bound) in cb.RECORDED.items():
        assert entries == cb.entries(resources[name]), f"{name}: max_entries changed, measure again"
        assert 0 <= bound <= entries * (worst + 0.005) + 0.01, name
    stale = [n for n in cb.SELF_BOUNDED if n not in resources or resources[n].max_entries is not None]
    assert stale == [], f"SELF_BOUNDED names no unbounded cache: {stale}"


def test_all_bounds_within_one_gigabyte():
    budget = cb.config_cache_data_mib()
    assert budget is not None, "set server.maxCacheDataSize in .streamlit/config.toml"
    resources = sum(bound for _, _, bound in cb.RECORDED.values())
    allowed = cb.LIMIT_MIB - resources
    assert budget <= allowed, f"server.maxCacheDataSize {budget:.0f} MiB; the caches leave {allowed:.0f} MiB"


def test_an_unbounded_cache_is_caught(tmp_path):
    (tmp_path / "pages").mkdir()
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / "app.py").write_text("import streamlit as st\n")
    (tmp_path / "pages" / "new.py").write_text(
        "import streamlit as st\nfrom streamlit import cache_data\n\n"
        "@st.cache_resource\ndef model(name):\n    return name\n\n"
        "@st.cache_data(max_entries=4, max_size='10MB')\ndef table(x):\n    return x\n\n"
        "later = st.cache_resource(lambda: 1)\n")
    caches, stray = cb.scan(tmp_path)
    found = {c.name: c for c in caches}
    assert cb.entries(found["new.model"]) is None
    assert (found["new.table"].max_entries, found["new.table"].max_size) == (4, "10MB")
    assert stray == ["pages/new.py:2", "pages/new.py:12"]
    (tmp_path / ".streamlit" / "config.toml").write_text('[server]\nmaxCacheDataSize = "384mb"\n')
    assert cb.config_cache_data_mib(tmp_path) == 384


def test_deep_size_counts_each_buffer_once():
    t = torch.zeros(1000, dtype=torch.float32)
    a = np.zeros((100, 10), dtype=np.float64)
    assert deep_size(t) == 4000 and deep_size(t[10:20]) == 4000  # a view holds its whole storage
    assert deep_size(a) == 8000 and deep_size(a[::2].T) == 8000
    shared = {"x": (t, t[:5], t.numpy()), "y": [a, a[3]], "z": b"12345"}
    inner = deep_size(shared) - deep_size({"x": (0, 0, 0), "y": [0, 0], "z": b""})
    assert 4000 + 8000 + 5 <= inner <= 4000 + 8000 + 5 + 400  # tuple/list headers only besides
    seen: set = set()
    assert deep_size(t, seen) == 4000 and deep_size(t[1:], seen) == 0
