"""The package's shape, checked: layers import only downwards, no cycles, families stay apart, and every import
inside a function says why it is there.

The layers, bottom to top (a module imports only from its own layer or below):

0. core helpers: io, locks, config, metrics, provenance, device, draw, reports, contracts, registry
1. data primitives shared by all families: ``lsvit.data``
2. models (timm-registered) and the benchmark's primitives: ``lsvit.models``, ``lsvit.perf``
3. the ``best/`` folder as a format: ``lsvit.checkpoint``
4. the training engine: ``lsvit.engine``
5. ONNX export and runtime: ``lsvit.deploy``
6. the families, one folder per input type: ``lsvit.families.<type>`` (none imports another)
7. what serves every family: inference, realtime, the split benchmark, reversal pairs
8. the benchmark: ``lsvit.bench``
9. entry: ``lsvit.plugins`` (the one registration place) and ``lsvit.cli`` (what every tool passes through)
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lsvit"
LAYERS = [
    ("lsvit", "lsvit.io", "lsvit.locks", "lsvit.config", "lsvit.metrics", "lsvit.provenance", "lsvit.device",
     "lsvit.draw", "lsvit.reports", "lsvit.contracts", "lsvit.registry"),
    ("lsvit.data",),
    ("lsvit.models", "lsvit.perf"),
    ("lsvit.checkpoint",),
    ("lsvit.engine",),
    ("lsvit.deploy",),
    ("lsvit.families",),
    ("lsvit.inference", "lsvit.realtime", "lsvit.split_benchmark", "lsvit.pairs", "lsvit.sweeps"),
    ("lsvit.bench",),
    ("lsvit.plugins", "lsvit.cli"),
]
# the one upward edge, inside a function: `lsvit.setup()` reaches the registration place without `import lsvit`
# importing torch (the package's top is the lightest module there is)
ALLOWED_UPWARD = {("lsvit", "lsvit.plugins")}
MAX_FUNCTION_IMPORTS = 30


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def layer_of(module: str) -> int:
    best, depth = None, -1
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and p.count(".") > depth and (p != "lsvit" or module == p
                                                                                          or i == 0):
                best, depth = i, p.count(".")
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def family_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "families" else None


def internal_imports() -> list[tuple[str, str, int, bool, str]]:
    """``(importer, imported module, line, inside a function, the source line and the one above)``."""
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        src = path.read_text()
        lines = src.splitlines()
        tree = ast.parse(src)
        inside = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for n in ast.walk(f) if n is not f}
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "lsvit":
                names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                         for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.split(".")[0] == "lsvit"]
            text = "\n".join(lines[max(0, node.lineno - 2):node.end_lineno]) if names else ""
            for name in dict.fromkeys(names):
                out.append((module_name(path), name, node.lineno, id(node) in inside, text))
    return out


def test_every_module_has_a_layer_and_imports_only_downwards():
    upward = []
    for importer, imported, line, _, _ in internal_imports():
        if layer_of(imported) > layer_of(importer) and (importer, imported) not in ALLOWED_UPWARD:
            upward.append(f"{importer}:{line} imports {imported} (layer {layer_of(imported)} > {layer_of(importer)})")
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    graph: dict[str, set[str]] = defaultdict(set)
    for importer, imported, *_ in internal_imports():
        if (importer, imported) not in ALLOWED_UPWARD and importer != imported:
            graph[importer].add(imported)
    # Tarjan's strongly connected components: any component of more than one module is a cycle
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_families_do_not_import_each_other():
    crossing = [f"{a}:{line} imports {b}" for a, b, line, _, _ in internal_imports()
                if family_of(a) and family_of(b) and family_of(a) != family_of(b)]
    assert not crossing, "\n".join(crossing)


def test_imports_inside_functions_are_few_and_say_why():
    inner = [(a, b, line, text) for a, b, line, fn, text in internal_imports() if fn]
    assert len(inner) <= MAX_FUNCTION_IMPORTS, (
        f"{len(inner)} internal imports inside functions (at most {MAX_FUNCTION_IMPORTS}):\n"
        + "\n".join(f"{a}:{line} {b}" for a, b, line, _ in inner))
    silent = [f"{a}:{line} {b}" for a, b, line, text in inner if "#" not in text]
    assert not silent, "imports inside functions without a comment saying why:\n" + "\n".join(silent)


def test_the_layer_table_is_what_the_checks_use():
    # a guard on the guard: a module in the wrong layer would make the checks above vacuous
    assert layer_of("lsvit.engine.trainer") == 4 and layer_of("lsvit.families.clips.datamodule") == 6
    assert layer_of("lsvit") == 0 and layer_of("lsvit.data.dataset") == 1 and layer_of("lsvit.cli") == 9
    assert family_of("lsvit.families.keypoints.dataset") == "keypoints" and family_of("lsvit.engine") is None


def test_importing_registers_nothing_and_setup_registers_everything():
    """Registration happens at one explicit place (``lsvit.setup()``), never as a side effect of an import: in a
    fresh process, every module of the package imported registers no family, input type or config resolver; one
    call of ``setup()`` registers them all. (Red when any module registers at import, e.g. a resolver registered
    at the bottom of ``families/keypoints/fileformat.py``, as the keypoint CLI once relied on.)"""
    import subprocess
    import sys

    code = """
import importlib, pkgutil, json
import lsvit
from omegaconf import OmegaConf
skip = ()
mods = [m.name for m in pkgutil.walk_packages(lsvit.__path__, "lsvit.") if not m.name.startswith(skip)]
for m in mods:
    try:
        importlib.import_module(m)
    except ImportError as e:  # an optional extra that is not installed: its module cannot register anything
        if "lsvit" in str(e):
            raise
from lsvit import plugins, registry
from lsvit.models.registry import FAMILIES
import timm
def state():
    return {"resolvers": sorted(n for n in plugins.RESOLVERS if OmegaConf.has_resolver(n)),
            "types": sorted(registry.input_types()), "families": sorted(FAMILIES),
            "timm": sorted(n for n in FAMILIES if timm.is_model(n))}
before = state()
lsvit.setup()
print(json.dumps({"n": len(mods), "before": before, "after": state()}))
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "LSVIT_PLUGINS": ""})
    assert r.returncode == 0, r.stderr[-3000:]
    import json

    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["n"] > 80  # every module was imported
    assert out["before"] == {"resolvers": [], "types": [], "families": [], "timm": []}
    after = out["after"]
    assert after["resolvers"] == ["keypoint_features", "run_dir_of"]
    assert after["types"] == ["clips", "embeddings", "keypoints"]
    assert {"lsvit_tiny_patch16_224", "bilstm_attention", "keypoint_lstm"} <= set(after["families"]) == set(after["timm"])
