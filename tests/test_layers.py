"""The package's layering: no module imports from a layer above its own.

Layers, top to bottom (docs/development.md): the command line; what a command runs (classify,
style, measure); what ``--backend`` builds (models); the DLP path; weights files and images;
the engine; storage and runtime; errors and the version. Two packages of the same layer do not
import each other, so no cycle can hide there.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "vggcli"

LAYERS = {  # the first name under vggcli → its layer (higher may import lower)
    "__init__": 9,  # the public API: re-exports from every layer
    "__main__": 9,
    "cli": 8,
    "measure": 7,  # measures style transfer too (vgg bench stylize)
    "cluster": 7,  # runs classify and style on Dask workers
    "classify": 6,
    "datasets": 5,  # below classify, beside models (neither imports the other)
    "style": 6,
    "models": 5,
    "dlp": 4,
    "weights": 3,
    "images": 3,
    "engine": 2,
    "storage": 1,
    "runtime": 1,
    "errors": 0,
    "_version": 0,
    "data": 0,
}


def _part(module: str) -> str:
    """'vggcli.engine.network' → 'engine'."""
    return module.split(".")[1] if module.count(".") else "__init__"


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every vggcli module that ``path`` imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vggcli"):
            if node.module == "vggcli":  # from vggcli import models: the names are modules
                found += [(node.lineno, f"vggcli.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("vggcli.")]
    return found


def violations(package: Path = PACKAGE) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package.parent).with_suffix("")
        part = _part(".".join(relative.parts))
        for line, module in imports(path):
            target = _part(module)
            if target not in LAYERS or part not in LAYERS:
                found.append(f"{relative}:{line}: {module} has no layer in LAYERS")
            elif LAYERS[target] > LAYERS[part] or (
                LAYERS[target] == LAYERS[part] and target != part
            ):
                found.append(f"{relative}:{line}: {part} (layer {LAYERS[part]}) imports {module}")
    return found


def test_no_module_imports_from_a_higher_layer():
    assert violations() == []


def test_the_rule_fails_on_an_upward_import(tmp_path):
    engine = tmp_path / "vggcli" / "engine"
    engine.mkdir(parents=True)
    (engine / "network.py").write_text("from vggcli.weights.resolve import resolve_weights\n")
    (tmp_path / "vggcli" / "weights.py").write_text("from vggcli.images import load_image\n")
    assert violations(tmp_path / "vggcli") == [
        "vggcli/engine/network:1: engine (layer 2) imports vggcli.weights.resolve",
        "vggcli/weights:1: weights (layer 3) imports vggcli.images",
    ]


@pytest.mark.parametrize("name", ["build_model", "resolve_weights", "WeightSet", "__version__"])
def test_the_public_api_stays_importable_from_the_package(name):
    import vggcli

    assert getattr(vggcli, name) is not None


def test_the_package_root_holds_few_modules():
    roots = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert len(roots) <= 8, roots
