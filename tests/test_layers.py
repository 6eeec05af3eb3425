"""Imports point downward only: the core never imports the pipeline or a face (CLI, Ray, OFX)."""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "genrefocus_video"
CORE = ["io", "optics", "render", "deblur", "depth", "focus", "generative", "params",
        "colour.py", "filters.py", "flow.py", "tracks.py", "record.py", "errors.py"]
FORBIDDEN = ("genrefocus_video.pipeline", "genrefocus_video.cli", "genrefocus_video.ofx", "ray")


def _imports(path: Path) -> list[str]:
    """Absolute module names imported by `path` (relative imports resolved against the package)."""
    rel = path.relative_to(PKG.parent).with_suffix("")
    package = list(rel.parts[:-1])
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            names.append(mod)
            names += [f"{mod}.{a.name}" for a in node.names]
    return names


def test_core_modules_import_no_pipeline_or_face():
    offenders = []
    for entry in CORE:
        target = PKG / entry
        files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
        assert files, entry
        for f in files:
            for name in _imports(f):
                if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN):
                    offenders.append(f"{f.relative_to(PKG)} imports {name}")
    assert offenders == [], offenders


def test_the_checker_sees_relative_imports():
    """A known upward import is recognised (guards against a checker that can never fail)."""
    names = _imports(PKG / "pipeline" / "stages" / "__init__.py")
    assert any(n.startswith("genrefocus_video.record") for n in names)
