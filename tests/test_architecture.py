"""The import rules of docs/architecture.md, read from the source: floors, and no private names across modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mtlstudy

PACKAGE = Path(mtlstudy.__file__).parent

#: The floor of each part of mtlstudy (docs/architecture.md): a module imports only from its own
#: package and from lower floors, so parts on one floor never import each other.
FLOORS = {
    "_": 1,  # mtlstudy/_*.py: names, errors, checks, the run protocol
    "data": 2,
    "models": 2,
    "search_spaces": 2,
    "metrics": 3,
    "losses": 3,
    "training": 4,
    "analysis": 5,
    "schedulers": 5,
    "trainables": 5,
    "study": 6,
    "cli": 7,
}


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every mtlstudy module (a package by its ``__init__.py``)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _part(module: str) -> str:
    """The key of :data:`FLOORS` that ``module`` belongs to."""
    parts = module.split(".")
    if len(parts) == 1:
        return "_"
    return "_" if parts[1].startswith("_") else parts[1]


def _package(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _imports(module: str) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) of every mtlstudy import in ``module``,
    those inside functions and ``TYPE_CHECKING`` blocks included."""
    found = []
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names if alias.name.startswith("mtlstudy")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("mtlstudy"):
            found += [(node.module, alias.name, node.lineno) for alias in node.names]
    return found


def test_every_part_has_a_floor():
    assert {_part(module) for module in MODULES} <= set(FLOORS)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_its_own_package_and_lower_floors(module):
    wrong = [
        f"line {line}: {target}"
        for target, _, line in _imports(module)
        if _part(target) != _part(module) and FLOORS[_part(target)] >= FLOORS[_part(module)]
    ]
    assert not wrong, f"{module} (floor {FLOORS[_part(module)]}) imports from its floor or above: {wrong}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_private_name_of_another_module(module):
    """A private name stays in its module; what two modules share is public in their package.

    A package may import its own private submodules (``from mtlstudy.analysis import _texts``)
    and another part's public API, but never another part's private modules (floor 1 aside).
    """
    wrong = []
    for target, name, line in _imports(module):
        own_package = _package(module)
        submodule = f"{target}.{name}" if name else None
        if name and name.startswith("_") and name != "__future__":
            if not (submodule in MODULES and target == own_package):
                wrong.append(f"line {line}: {name} from {target}")
        private_module = any(part.startswith("_") for part in target.split(".")[2:])
        if _part(target) != "_" and private_module and _part(target) != _part(module):
            wrong.append(f"line {line}: another part's private module {target}")
    assert not wrong, f"{module}: {wrong}"
