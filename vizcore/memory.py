"""How many bytes an object holds: what a cache entry costs the server.

Tensors count their storage once (views share it), numpy arrays their base buffer once, bytes
and strings their length; containers, dataclasses and plain objects are walked. Anything else
(a Plotly figure, a fitted scikit-learn model with no arrays, ...) counts as its pickled length.
Used to state the bounds of the app's caches (benchmarks/bench_cache_memory.py).
"""
from __future__ import annotations

import pickle
import sys
import types
from typing import Any

_SKIP = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def deep_size(obj: Any, seen: set | None = None) -> int:
    """Bytes held by ``obj`` and everything it refers to, each buffer counted once.

    ``seen`` (ids and buffer addresses already counted) may be shared between calls, so the
    same tensor reached from two objects counts once.
    """
    seen = set() if seen is None else seen
    return _size(obj, seen)


def _buffer_key(address: int) -> tuple[str, int]:
    return ("buffer", address)


def _size(obj: Any, seen: set) -> int:  # noqa: C901 - one branch per kind of object
    if obj is None or isinstance(obj, (bool, int, float, complex)) or isinstance(obj, _SKIP):
        return 0
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.Tensor):
        storage = obj.untyped_storage()
        key = _buffer_key(storage.data_ptr())
        if key in seen:
            return 0
        seen.add(key)
        return int(storage.nbytes())
    if torch is not None and isinstance(obj, torch.nn.Module):
        return sum(_size(t, seen) for t in [*obj.parameters(), *obj.buffers()])
    np = sys.modules.get("numpy")
    if np is not None and isinstance(obj, np.ndarray):
        root = obj
        while isinstance(root.base, np.ndarray):
            root = root.base
        if torch is not None and isinstance(root.base, torch.Tensor):  # Tensor.numpy(): the tensor's storage
            return _size(root.base, seen)
        key = _buffer_key(root.__array_interface__["data"][0])
        if key in seen:
            return 0
        seen.add(key)
        return int(root.nbytes) + (0 if root.dtype != object else sum(_size(v, seen) for v in root.ravel()))
    if isinstance(obj, (bytes, bytearray, str, memoryview)):
        return len(obj) if not isinstance(obj, memoryview) else obj.nbytes
    if isinstance(obj, dict):
        return sys.getsizeof(obj) + sum(_size(k, seen) + _size(v, seen) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return sys.getsizeof(obj) + sum(_size(v, seen) for v in obj)
    pil = sys.modules.get("PIL.Image")
    if pil is not None and isinstance(obj, pil.Image):
        return obj.width * obj.height * len(obj.getbands())
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(obj, (pd.DataFrame, pd.Series)):
        return int(obj.memory_usage(deep=True).sum() if isinstance(obj, pd.DataFrame) else obj.memory_usage(deep=True))
    plotly = sys.modules.get("plotly.basedatatypes")
    if plotly is None or not isinstance(obj, plotly.BaseFigure):
        fields = getattr(obj, "__dict__", None)
        slots = [getattr(obj, s) for s in getattr(type(obj), "__slots__", ()) if hasattr(obj, s)]
        if fields is not None or slots:
            return sys.getsizeof(obj) + _size(fields or {}, seen) + sum(_size(v, seen) for v in slots)
    try:
        return len(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # locks, generators...: only their own small size
        return sys.getsizeof(obj)
