"""What the app's caches can hold per process, against issue 21's 1 GB.

1. Lists every st.cache_data / st.cache_resource in pages/ and app.py (by AST, so a new
   cache cannot be forgotten): function, kind, max_entries, max_size. A cache without a bound
   (no max_entries and not in benchmarks/cache_bounds.py's SELF_BOUNDED) is printed UNBOUNDED.
2. Opens the pages in their heaviest shipped settings with AppTest (the ImageNet network on the
   cat photo on Feature maps and Occlusion at ≥ 400 patch positions, a dataset model's top
   activations at k = 16, Transfer learning computing shapes, an Explanation scores run, Training
   on a 64×64 set) and loads every key of the caches whose keys are few (models, data splits),
   then walks Streamlit's cache_resource storage and measures every entry (vizcore.memory:
   tensors by storage, arrays by buffer, each once; other objects by pickled length). A
   self-bounded store counts as its largest item × its own bound; the upload caches are
   computed from the upload limits (no page run makes a 400-picture zip here).
3. Bound per function = entries × worst entry; all st.cache_data together = the process-wide
   server.maxCacheDataSize of .streamlit/config.toml. Prints the table and the sum against
   1024 MiB; exits 1 when a cache is unbounded or the sum is over.

    python benchmarks/bench_cache_memory.py [--static]   # --static: the recorded figures, no page runs

Takes ~3-4 minutes on 2 busy cores (most of it the occlusion run and loading the data sets).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import cache_bounds as cb  # noqa: E402

MIB = 2**20


def _apptest(page: str, *, query: dict | None = None, **state):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / page), default_timeout=600)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    return at


def _press(at, *starts: str) -> None:
    """Press every button whose label starts with one of ``starts`` (a long run waits for it)."""
    for _ in range(3):
        buttons = [b for b in at.button if b.label.startswith(starts)]
        if not buttons:
            return
        buttons[0].click().run()


def drive_pages(log) -> None:
    """The heaviest shipped settings of every page that holds a cache_resource."""
    photo = {"in_source": "Photo (sample, upload or camera)", "in_photo_sample": "chelsea"}

    def step(what, fn):
        start = time.perf_counter()
        at = fn()
        problem = f" EXCEPTION {at.exception[0].value}" if at is not None and at.exception else ""
        log(f"  {what}: {time.perf_counter() - start:.1f} s{problem}")

    def feature_maps(model, k=16):
        at = _apptest("pages/feature_maps.py", fm_model=f"{model} (pretrained)", fm_patch_k=k,
                      **{f"fm_{k2}": v for k2, v in photo.items()})
        _press(at, "Run ", "Sample ", "Find ", "Look ")
        return at

    step("Feature maps, imagenet, cat photo", lambda: feature_maps("imagenet"))
    step("Feature maps, scenes model, k = 16", lambda: feature_maps("scenes"))

    def occlusion():
        # ≥ MAX_FRAMES (400) positions: the player holds its most frames (25 × 25 = 625 positions).
        at = _apptest("pages/occlusion.py", occ_model="imagenet (pretrained)", occ_window=32, occ_stride=8,
                      **{f"occ_{k2}": v for k2, v in photo.items()})
        _press(at, "Run ")
        return at

    step("Occlusion, imagenet, 32/8 (625 positions)", occlusion)

    def transfer():
        at = _apptest("pages/transfer_learning.py", tl_data="shapes")
        _press(at, "Run the pictures")
        return at

    step("Transfer learning, shapes k = 10", transfer)

    def scores():
        at = _apptest("pages/explanation_scores.py", query={"n": "10"})
        _press(at, "Run")
        return at

    step("Explanation scores, scenes, 10 images", scores)
    step("Explanation scores, the shortcut lesson (accuracies only)",
         lambda: _apptest("pages/explanation_scores.py", es_view="The shortcut lesson: wolf or husky?"))
    step("Training, shapes", lambda: _apptest("pages/training.py", train_data="shapes"))


def load_every_key(log) -> dict[str, list]:
    """The caches whose keys are few, every key loaded: those in pages/_ui/ through the cached
    functions themselves; the page-local ones (which only a page script defines) by the same
    loader they call, measured apart."""
    from pages._ui.model_input import test_pictures, test_split
    from pages._ui.models import _shipped_model
    from vizcore import data, transfer

    start = time.perf_counter()
    for name in ("digits", "shapes", "scenes", "shortcut", "imagenet"):
        _shipped_model(name)
    for name in data.available_datasets():
        test_split(name)
        test_pictures(name)
    direct = {
        # as the page keeps them: without the object masks
        "training._splits": [{s: dataclasses.replace(data.load_dataset(n, s), masks=None, cue_masks=None)
                              for s in data.SPLITS} for n in data.available_datasets()],
        "architectures._split": [data.load_dataset("digits", s) for s in data.SPLITS],
        "transfer_learning._builtin": [transfer.builtin_split(n, s) for n in transfer.BUILTIN for s in ("train", "test")],
        "transfer_learning._like": [transfer.scratch_split(n) for n in transfer.BUILTIN],
    }
    log(f"  every key of the models and data splits: {time.perf_counter() - start:.1f} s")
    return direct


def upload_bounds() -> dict[str, tuple[float, str]]:
    """The upload caches' worst entry from the upload limits (uint8 pictures)."""
    from vizcore import data, transfer

    zip_train = data.ZIP_MAX_FILES * 64 * 64 * 3
    own = transfer.MAX_OWN_PICTURES * transfer.INPUT_SIDE ** 2 * 3
    return {"training._zip_dataset": (zip_train, f"limits: {data.ZIP_MAX_FILES} pictures × 64² × 3"),
            "transfer_learning._zip_pictures": (own, f"limits: {transfer.MAX_OWN_PICTURES} pictures × 224² × 3"),
            "transfer_learning._camera_pictures": (own, f"limits: {transfer.MAX_OWN_PICTURES} pictures × 224² × 3")}


def _evaluation_at(evaluation, images: int) -> float:
    """Bytes of an Explanation scores result scaled to ``images``: its arrays with one row per
    image grow, the rest stays."""
    import numpy as np
    import torch

    from vizcore.memory import deep_size

    n = len(evaluation.indices)
    rows = 0
    for value in vars(evaluation).values():
        for item in (value.values() if isinstance(value, dict) else [value]):
            if isinstance(item, (np.ndarray, torch.Tensor)) and item.ndim and item.shape[0] == n:
                rows += item.nbytes if isinstance(item, np.ndarray) else item.untyped_storage().nbytes()
    return deep_size(evaluation) - rows + rows / max(n, 1) * images


def _store_bound(name: str, store) -> tuple[float, str]:
    """A self-bounded store's worst content: its largest item × its own bound."""
    from vizcore.memory import deep_size

    if name == "explanation_scores.store":
        # The maps and curves grow with the images evaluated: a result at the page's MAX_IMAGES (500).
        worst_item = max((_evaluation_at(v, 500) for v in store.results.values()), default=0)
        total = min(store.entries * worst_item, max(store.max_bytes, worst_item))
        return total, (f"{len(store.results)} measured, {worst_item / MIB:.0f} MiB at 500 images; store: "
                       f"{store.entries} results within {store.max_bytes / MIB:.0f} MiB")
    if name == "transfer_learning._store":
        items = list(store._table.values())
        worst = max((deep_size(v) for v in items), default=0)
        return worst * store.max_entries, f"{len(items)} pictures measured, {worst / 1024:.1f} KiB × {store.max_entries}"
    if name == "transfer_learning._results":
        from vizcore import transfer

        # A result's arrays grow with the classes (probabilities, confusion, the classifier's
        # weights): the largest measured, scaled to the most classes an own zip may have.
        items = list(store.table.values())
        classes = max((len(v[0].confusion) if isinstance(v, tuple) else len(v.confusion) for v in items), default=1)
        worst = max((deep_size(v) for v in items), default=0) * max(transfer.MAX_OWN_CLASSES / classes, 1)
        return worst * store.max_entries, (f"{len(items)} results measured ({classes} classes), scaled to "
                                           f"{transfer.MAX_OWN_CLASSES} classes: {worst / 1024:.1f} KiB × "
                                           f"{store.max_entries}")
    if name == "transfer_learning._curve_runs":
        return 3 * 4 * 3 * 5 * 3 * 200 + 12 * 1000, "540 floats with their keys (computed)"
    raise KeyError(name)


# Caches whose entries are views of another cache's entries with the same key (and neither ever
# evicts: fewer possible keys than entries), measured after it with the same buffers seen.
SHARES_WITH = {"_ui.model_input.test_pictures": "_ui.model_input.test_split"}
# Caches for which every possible key was loaded: the bound is the sum of the largest entries.
ALL_KEYS = {"_ui.models._shipped_model", "_ui.model_input.test_split", "_ui.model_input.test_pictures",
            "training._splits", "architectures._split", "transfer_learning._builtin", "transfer_learning._like"}


def measure(log, caches: list) -> dict[str, tuple[float, float, str]]:
    """name -> (worst entry, bound of the function, both in bytes; how they were found)."""
    from streamlit.runtime.caching import cache_resource_api

    from vizcore.memory import deep_size

    drive_pages(log)
    direct = load_every_key(log)
    by_function = {}
    for c in caches:
        if c.kind == "cache_resource":
            by_function.setdefault(c.name.rsplit(".", 1)[-1], []).append(c.name)
    values_of: dict[str, list] = {}
    stored = cache_resource_api._resource_caches._function_caches.get(None, {})
    for cache in stored.values():
        function = cache.display_name.rsplit(".", 1)[-1]  # a page runs as __main__: the name tells
        names = by_function.get(function, [])
        if len(names) != 1:
            log(f"  {cache.display_name}: {len(names)} caches of that name in the code, not measured")
            continue
        with cache._mem_cache_lock:
            values_of[names[0]] = [r.value for r in cache._mem_cache.values()]
    values_of.update(direct)
    values_of.setdefault("transfer_learning._curve_runs", [None])  # computed, not measured
    result: dict[str, tuple[float, float, str]] = {}
    seen_of: dict[str, set] = {}
    for name in sorted(values_of, key=lambda n: n in SHARES_WITH):
        values = values_of[name]
        if name in cb.SELF_BOUNDED and cb.SELF_BOUNDED[name][0] == 1:
            if values and (values[0] is not None or name == "transfer_learning._curve_runs"):
                bound, how = _store_bound(name, values[0])
                result[name] = (bound, bound, how)
            continue
        if name in SHARES_WITH:
            shared = seen_of.get(SHARES_WITH[name], set())
            sizes = [deep_size(v, set(shared)) for v in values]
            how = f"views of {SHARES_WITH[name]}'s entries"
        else:
            seen_of[name] = set()
            sizes = []
            for v in values:
                seen: set = set()
                sizes.append(deep_size(v, seen))
                seen_of[name] |= seen
            how = "measured"
        if not sizes:
            continue
        n = cb.entries(next(c for c in caches if c.name == name))
        if name in ALL_KEYS:
            bound = sum(sorted(sizes)[-n:])
            how += f": all {len(sizes)} keys, the largest {min(n, len(sizes))} summed"
        else:
            bound = n * max(sizes)
            how += f": {len(sizes)} entries, the largest × {n}"
        result[name] = (max(sizes), bound, how)
    for name, (size, how) in upload_bounds().items():
        n = cb.entries(next(c for c in caches if c.name == name))
        result[name] = (size, n * size, how)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--static", action="store_true", help="no page runs: the figures in cache_bounds.py")
    args = parser.parse_args()
    caches, stray = cb.scan()

    measured: dict[str, tuple[float, str]] = {}
    if not args.static:
        import streamlit.config

        from pages._warm import limit_threads

        limit_threads()
        streamlit.config.set_option("client.showErrorDetails", "full")
        from streamlit.logger import set_log_level

        set_log_level("error")  # bare-mode warnings, not results
        print("Opening the pages in their heaviest settings…")
        measured = measure(print, caches)

    print(f"\n{'function':38} {'kind':9} {'max_entries':>11} {'max_size':>9} {'entries':>7} "
          f"{'worst MiB':>9} {'bound MiB':>9}  how")
    total, unbounded, stale = 0.0, [], []
    for c in sorted(caches, key=lambda c: (c.kind, c.name)):
        n = cb.entries(c)
        if c.kind == "cache_data":
            flag = "" if n is not None else "UNBOUNDED (no max_entries)"
            unbounded += [c.name] if n is None else []
            print(f"{c.name:38} {'data':9} {str(c.max_entries):>11} {str(c.max_size):>9} {str(n):>7} "
                  f"{'':>9} {'':>9}  {flag or 'in the cache_data budget'}")
            continue
        recorded = cb.RECORDED.get(c.name)
        if c.name in measured:
            worst, bound, how = measured[c.name][0] / MIB, measured[c.name][1] / MIB, measured[c.name][2]
            if recorded is None or bound > recorded[2] * 1.05 + 0.05 or recorded[0] != n:
                stale.append(f"{c.name}: measured {bound:.1f} MiB with {n} entries, recorded {recorded}")
        elif recorded is not None and recorded[0] == n:
            worst, bound, how = recorded[1], recorded[2], "recorded in cache_bounds.py (not reached in this run)"
        else:
            worst, bound, how = None, None, "NOT MEASURED" if recorded is None else "entries changed: measure again"
        if n is None or bound is None:
            unbounded.append(c.name)
            print(f"{c.name:38} {'resource':9} {str(c.max_entries):>11} {'-':>9} {str(n):>7} "
                  f"{'?' if worst is None else f'{worst:9.1f}'} {'UNBOUNDED':>9}  {how}")
            continue
        total += bound
        print(f"{c.name:38} {'resource':9} {str(c.max_entries):>11} {'-':>9} {n:7d} {worst:9.1f} {bound:9.1f}  {how}")
    budget = cb.config_cache_data_mib()
    if budget is None:
        unbounded.append("server.maxCacheDataSize")
        print(f"{'all st.cache_data together':38} {'':9} {'':>11} {'':>9} {'':>7} {'':>9} {'UNBOUNDED':>9}  "
              "server.maxCacheDataSize not set in .streamlit/config.toml")
    else:
        total += budget
        print(f"{'all st.cache_data together':38} {'data':9} {'':>11} {'':>9} {'':>7} {'':>9} {budget:9.1f}  "
              "server.maxCacheDataSize (.streamlit/config.toml)")
    for where in stray:
        unbounded.append(where)
        print(f"{where:38} UNBOUNDED: a cache_data/cache_resource that is not a decorator of a def")
    verdict = "PASS" if total <= cb.LIMIT_MIB and not unbounded else "FAIL"
    print(f"\nSum of all cache bounds per process: {total:.0f} MiB of {cb.LIMIT_MIB} MiB "
          f"({total / cb.LIMIT_MIB:.2f}) {verdict}")
    if unbounded:
        print("Unbounded: " + ", ".join(unbounded))
    if stale:
        print("Measured above the figures recorded in benchmarks/cache_bounds.py (paste the RECORDED below into it):")
        for line in stale:
            print("  " + line)
    if measured:
        print("RECORDED = {\n" + "".join(
            f'    "{c.name}": ({cb.entries(c)}, {measured[c.name][0] / MIB:.2f}, {measured[c.name][1] / MIB:.2f}),\n'
            for c in sorted(caches, key=lambda c: c.name) if c.kind == "cache_resource" and c.name in measured) + "}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
