"""Data flows one way (DESIGN section 1): a lower layer never imports a higher one.

Every ``import lsec.x`` / ``from lsec.x import ...`` in ``src/lsec`` (also the lazy ones inside functions) is
read with :mod:`ast` and checked against the layers each package may not reach.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "lsec"
HIGHER = ("evaluate", "serve", "analysis", "cli", "distributed")
FORBIDDEN = {
    "data": ("graph", "nn", "train", "metrics", *HIGHER),
    "graph": ("nn", "train", *HIGHER),
    "nn": ("train", *HIGHER),  # nn may use data.schema (the vocabulary), never files: not checked here
    "train": ("serve", "analysis", "cli", "distributed"),
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """(first package under ``lsec``, line) of every lsec import in a file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "lsec" and len(parts) > 1:
                found.add((parts[1], node.lineno))
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_lower_layers_never_import_higher_ones(layer):
    files = sorted((SRC / layer).rglob("*.py"))
    assert files, layer
    bad = [
        f"{path.relative_to(SRC)}:{line} imports lsec.{package}"
        for path in files
        for package, line in sorted(imported_packages(path))
        if package in FORBIDDEN[layer]
    ]
    assert not bad, bad


def test_the_check_sees_lazy_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from lsec.serve.expansion_store import ExpansionStore\n    import lsec.cli\n")
    assert imported_packages(probe) == {("serve", 2), ("cli", 3)}
