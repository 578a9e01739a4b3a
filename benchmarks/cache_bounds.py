"""The bounds of every st.cache_data / st.cache_resource in pages/ and app.py, in one place.

Read by benchmarks/bench_cache_memory.py (which measures the entries and prints the table) and
by tests/test_cache_bounds.py (which checks, by AST only, that every cache in the code is here
and bounded, and that the sum stays within ``LIMIT_MIB``). A new cache must be added here: the
test fails and the benchmark prints it as UNBOUNDED until it is.

Bound of a cache_resource function = its entries (``max_entries``, or for a function without
one the number of entries its keys allow, see ``SELF_BOUNDED``) × its worst entry (measured by
the benchmark in the heaviest setting a page allows, MiB, ``RECORDED``). Every
st.cache_data entry together is bounded by ``server.maxCacheDataSize`` in .streamlit/config.toml.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MIB = 1024  # issue 21: the sum of all cache bounds per process ≤ 1 GB

# cache_resource functions without max_entries: how many entries they can have, and why.
SELF_BOUNDED: dict[str, tuple[int, str]] = {
    "_ui.models._shipped_model": (5, "one entry per shipped model name (4 small ones + the ImageNet network)"),
    "explanation_scores.shipped_model": (2, "called with 'shortcut' and 'scenes' only"),
    "explanation_scores.store": (1, "no arguments; the ResultStore keeps STORE_ENTRIES results within STORE_BYTES"),
    "transfer_learning._store": (1, "no arguments; the FeatureStore keeps max_entries pictures"),
    "transfer_learning._results": (1, "no arguments; _Results keeps max_entries results"),
    "transfer_learning._curve_runs": (1, "no arguments; one float per (set, blocks, strategy, k, seed): "
                                         "3 × 4 × 3 × 5 × 3 keys at most"),
}

# Per cache_resource function, as bench_cache_memory.py measured it in the heaviest setting a page
# allows: (entries, worst entry MiB, bound MiB). The bound is entries × worst entry, or where every
# possible key was loaded the sum of the largest entries; a self-bounded store's bound is the store
# when full. Run the benchmark after changing a page's settings, a cache's max_entries or a store's
# bound, and paste the RECORDED it prints here.
RECORDED: dict[str, tuple[int, float, float]] = {
    "_own_models._lecturer_model": (2, 20.00, 40.00),  # not measured: a network file is at most 20 MB
    # (float32 weights: ≤ 20 MiB once rebuilt); the benchmark has no lecturer's folder to load
    "_ui.models._shipped_model": (5, 17.93, 19.18),
    "_ui.model_input.test_pictures": (6, 0.00, 0.00),
    "_ui.model_input.test_split": (6, 19.54, 70.62),
    "architectures._split": (3, 0.81, 1.36),
    "explanation_scores.accuracy_on": (12, 0.02, 0.19),
    "explanation_scores.shipped_model": (2, 0.28, 0.56),
    "explanation_scores.store": (1, 96.00, 96.00),
    "feature_maps.photo_pool": (2, 5.74, 11.48),
    "feature_maps.stage_outputs": (8, 4.00, 31.98),
    "feature_maps.top_activations": (8, 0.40, 3.21),
    "occlusion.player_figure": (12, 3.86, 46.34),
    "training._splits": (2, 140.72, 281.44),
    "training._zip_dataset": (1, 58.59, 58.59),
    "transfer_learning._builtin": (6, 23.45, 52.56),
    "transfer_learning._camera_pictures": (1, 57.42, 57.42),
    "transfer_learning._curve_runs": (1, 0.11, 0.11),
    "transfer_learning._like": (3, 0.01, 0.03),
    "transfer_learning._results": (1, 17.42, 17.42),
    "transfer_learning._store": (1, 48.99, 48.99),
    "transfer_learning._zip_pictures": (1, 57.42, 57.42),
}


@dataclass(frozen=True)
class Cache:
    """One decorated function: where it is, its kind and its literal bounds (None: not set)."""
    name: str            # module.function, e.g. "feature_maps.stage_outputs", "_ui.models._shipped_model"
    kind: str            # "cache_data" or "cache_resource"
    line: int
    max_entries: int | None
    max_size: str | None


def _literal(node: ast.AST | None):
    try:
        return ast.literal_eval(node) if node is not None else None
    except ValueError:
        return "<expression>"


def scan(root: Path = ROOT) -> tuple[list[Cache], list[str]]:
    """Every decorated cache in pages/ (its packages too) and app.py, and every other mention of
    cache_data/cache_resource that is not such a decorator (``file:line``: unrecognised, so
    counted as unbounded). A cache's name is its module's path under pages/ and its function
    (``_ui.models._shipped_model`` for pages/_ui/models.py)."""
    caches, stray = [], []
    for path in sorted([*(root / "pages").rglob("*.py"), root / "app.py"]):
        parts = path.relative_to(root).with_suffix("").parts
        module = ".".join(parts[1:] if parts[0] == "pages" else parts)  # pages/_ui/models.py: _ui.models
        tree = ast.parse(path.read_text(), filename=str(path))
        decorators: set[int] = set()
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for dec in node.decorator_list:
                target = dec.func if isinstance(dec, ast.Call) else dec
                kind = getattr(target, "attr", None) or getattr(target, "id", None)
                if kind not in ("cache_data", "cache_resource"):
                    continue
                decorators.add(id(target))
                keywords = {k.arg: k.value for k in dec.keywords} if isinstance(dec, ast.Call) else {}
                caches.append(Cache(f"{module}.{node.name}", kind, node.lineno,
                                    _literal(keywords.get("max_entries")), _literal(keywords.get("max_size"))))
        for node in ast.walk(tree):
            name = getattr(node, "attr", None) if isinstance(node, ast.Attribute) else \
                getattr(node, "id", None) if isinstance(node, ast.Name) else None
            if isinstance(node, ast.alias):
                name = node.name
            if name in ("cache_data", "cache_resource") and id(node) not in decorators:
                stray.append(f"{path.relative_to(root)}:{getattr(node, 'lineno', '?')}")
    return caches, stray


def entries(cache: Cache) -> int | None:
    """How many entries the cache can hold (None: unbounded)."""
    if isinstance(cache.max_entries, int):
        return cache.max_entries
    if cache.kind == "cache_resource" and cache.name in SELF_BOUNDED:
        return SELF_BOUNDED[cache.name][0]
    return None


def config_cache_data_mib(root: Path = ROOT) -> float | None:
    """``server.maxCacheDataSize`` from .streamlit/config.toml in MiB (None: not set or 0), read
    with Streamlit's own parser (a value it refuses raises its error)."""
    import tomllib

    from streamlit.byte_util import config_max_cache_data_size_to_bytes

    value = tomllib.loads((root / ".streamlit" / "config.toml").read_text()).get("server", {}).get("maxCacheDataSize")
    size = config_max_cache_data_size_to_bytes(value)
    return size / 2**20 if size else None
