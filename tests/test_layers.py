"""The package's layers (README, "The package"): imports only point down.

``games`` (the rules) <- ``prompts`` <- ``rewards`` <- ``envs`` (Gymnasium classes). The check reads
every module's import statements (static, so lazy imports inside functions count too).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sftrl_repro"

#: subpackage -> the subpackages of sftrl_repro it may import (itself included)
ALLOWED = {
    "games": {"games", "utils", "paths"},
    "prompts": {"games", "prompts", "utils", "paths"},
    "rewards": {"games", "prompts", "rewards", "utils", "paths"},
    "envs": {"games", "prompts", "rewards", "envs", "utils", "paths"},
}


def package_imports(path: Path) -> set[str]:
    """The first-level ``sftrl_repro`` subpackages that the module at ``path`` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against the module's own package
                base = path.relative_to(PACKAGE.parent).with_suffix("").parts[: -node.level]
                names = [".".join(base + ((node.module,) if node.module else ()))]
            else:
                names = [node.module or ""]
        for name in names:
            parts = name.split(".")
            if parts[0] == "sftrl_repro" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_lower_layers_only_import_downwards(layer):
    offenders = {}
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        bad = package_imports(path) - ALLOWED[layer]
        if bad:
            offenders[str(path.relative_to(PACKAGE))] = sorted(bad)
    assert not offenders, f"{layer} imports from layers above it: {offenders}"


def test_the_checker_sees_an_upward_import(tmp_path):
    module = tmp_path / "probe.py"
    module.write_text("import numpy\nfrom sftrl_repro.envs import VIRL_ID\nimport sftrl_repro.games.cards\n")
    assert package_imports(module) == {"envs", "games"}
