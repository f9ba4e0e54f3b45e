"""No package of billing/ reaches into another package's private names.

A ``_name`` is free to change with its module; when another package uses it, the two can no
longer change apart (compare once read seven private names of the rater). The walk below reads
every module of billing/ with ``ast`` and fails on:

- ``from billing.x import _name`` (or ``from billing.x._mod import ...``, or ``import
  billing.x._mod``) in a module of another package than ``billing.x``;
- ``something._name`` where ``_name`` is defined (def, class, assignment, attribute) only in
  other packages of billing/: an object of another package's type used through its private
  attribute (``rater._credit_terms()`` in compare, ``self._base`` in a subclass in another package).

A package is the folder of a module (``billing/compare/*.py`` is ``billing.compare``; the top-level
modules ``billing/*.py`` are the package ``billing``). Dunder names are not private.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

BILLING = Path(__file__).resolve().parents[1] / "billing"


def _package(path: Path) -> str:
    return ".".join(("billing", *path.relative_to(BILLING).parent.parts))


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _modules() -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in sorted(BILLING.rglob("*.py"))}


def _owner(module: str) -> str:
    """The package a dotted module name belongs to (itself when it is a package)."""
    path = BILLING.parent.joinpath(*module.split("."))
    return module if (path / "__init__.py").exists() else module.rsplit(".", 1)[0]


def _private_owner(dotted: str) -> str | None:
    """The package whose private name ``dotted`` (billing.x.y...) goes through, if any."""
    parts = dotted.split(".")
    first = next((i for i, p in enumerate(parts) if _private(p)), None)
    return None if first is None else _owner(".".join(parts[:first]))


def _import_violations(path: Path, tree: ast.Module) -> list[str]:
    here, found = _package(path), []
    targets: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = here.split(".")[: len(here.split(".")) - node.level + 1]
                module = ".".join([*base, *([module] if module else [])])
            targets.extend((node.lineno, f"{module}.{a.name}") for a in node.names)
        elif isinstance(node, ast.Import):
            targets.extend((node.lineno, a.name) for a in node.names)
    for line, target in targets:
        owner = _private_owner(target) if target.startswith("billing.") else None
        if owner is not None and owner != here:
            found.append(f"{path.relative_to(BILLING.parent)}:{line}: imports {target} "
                         f"(private to {owner})")
    return found


def _defined_private_names(trees: dict[Path, ast.Module]) -> dict[str, set[str]]:
    """Private names each package defines: functions, classes, assigned names and attributes."""
    defined: dict[str, set[str]] = defaultdict(set)
    for path, tree in trees.items():
        names = defined[_package(path)]
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
    return {package: {n for n in names if _private(n)} for package, names in defined.items()}


def _attribute_violations(trees: dict[Path, ast.Module]) -> list[str]:
    defined = _defined_private_names(trees)
    found = []
    for path, tree in trees.items():
        here = _package(path)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)):
                continue
            if node.attr in defined.get(here, set()):
                continue  # this package's own private name (or one it defines alike)
            owners = sorted(p for p, names in defined.items() if node.attr in names)
            if owners:
                found.append(f"{path.relative_to(BILLING.parent)}:{node.lineno}: "
                             f".{node.attr} (private to {', '.join(owners)})")
    return found


def test_no_private_name_is_imported_across_packages() -> None:
    trees = _modules()
    found = [v for path, tree in trees.items() for v in _import_violations(path, tree)]
    assert found == []


def test_no_private_attribute_of_another_package_is_used() -> None:
    assert _attribute_violations(_modules()) == []


@pytest.mark.parametrize(("package", "source", "expected"), [
    # the walk must see what it is meant to forbid: checked on small sources, placed in a package
    ("compare", "from billing.rating.rater import _EXACT\n", 1),
    ("compare", "from billing.pricing._core import total\n", 1),
    ("compare", "import billing.pricing._core\n", 1),
    ("pricing", "from billing.pricing._core import total\n", 0),  # same package
    ("pricing", "from ._core import total\n", 0),
    ("compare", "from ..pricing._core import total\n", 1),
    ("compare", "from billing.rating.rater import Rater\n", 0),
])
def test_the_import_walk_catches_a_private_import(package: str, source: str,
                                                  expected: int) -> None:
    path = BILLING / package / "probe.py"
    assert len(_import_violations(path, ast.parse(source))) == expected


def test_the_attribute_walk_catches_a_private_attribute() -> None:
    owner = BILLING / "rating" / "probe_owner.py"
    user = BILLING / "compare" / "probe_user.py"
    trees = {
        owner: ast.parse("class R:\n    def _terms(self): ...\n"),
        user: ast.parse("def f(r):\n    return r._terms()\n"),
    }
    assert _attribute_violations(trees) == [
        "billing/compare/probe_user.py:2: ._terms (private to billing.rating)"]
