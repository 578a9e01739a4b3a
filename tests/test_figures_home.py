"""Every Plotly figure lives in vizcore/figures/: the arithmetic modules draw nothing and import
no Plotly, so they load (and are tested) without it."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIZCORE = ROOT / "vizcore"
ARITHMETIC = ["vizcore.conv", "vizcore.kernels", "vizcore.pooling", "vizcore.shapes", "vizcore.quiz",
              "vizcore.images", "vizcore.links", "vizcore.models", "vizcore.data", "vizcore.train",
              "vizcore.features", "vizcore.explain", "vizcore.playground", "vizcore.augment",
              "vizcore.efficientnet", "vizcore.thumbnails"]
ARITHMETIC += sorted(f"vizcore.explain.{p.stem}" for p in (VIZCORE / "explain").glob("*.py") if p.stem != "__init__")

# One fresh interpreter: each module in turn, and which of them (if any) brought Plotly in.
_PROBE = """
import importlib, json, sys
modules = json.loads(sys.argv[1])
pulled = []
for name in modules:
    importlib.import_module(name)
    if any(m == "plotly" or m.startswith("plotly.") for m in sys.modules):
        pulled.append(name)
        break
print(json.dumps({"pulled": pulled, "plotly": "plotly" in sys.modules}))
"""


def test_arithmetic_modules_import_no_plotly():
    run = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(ARITHMETIC)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["pulled"] == [], f"{result['pulled'][0]} imports plotly"
    assert result["plotly"] is False  # "plotly" not in sys.modules after all of them


def _imports_plotly(path: Path) -> bool:
    """Whether the module imports plotly anywhere (also inside a function)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(n == "plotly" or n.startswith("plotly.") for n in names):
            return True
    return False


def test_every_module_that_imports_plotly_lives_in_figures():
    figures = VIZCORE / "figures"
    importers = [p for p in sorted(VIZCORE.rglob("*.py")) if _imports_plotly(p)]
    assert importers, "the scan found no Plotly import at all: it is broken"
    outside = [str(p.relative_to(ROOT)) for p in importers if figures not in p.parents]
    assert not outside, f"Plotly imported outside vizcore/figures/: {outside}"
