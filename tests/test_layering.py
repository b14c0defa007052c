"""The pipeline runs one way: no module of an earlier stage imports a later one.

The stages, bottom to top: spec -> plan -> blocks -> {complexity, diagram, export,
convert, space} -> api -> cli. The middle group are siblings: none imports another
(a sibling's helper that two of them need belongs in a lower stage). Shared helpers
(``archspec/_startup.py``, ``archspec/extras.py``, ``archspec/registry.py`` (the one Registry class), ``archspec/files.py`` for atomic
writes, ``archspec/formatting.py`` for numbers shown to people, ``archspec/_version.py``) sit below every stage and import none of them.

Every import counts, lazy ones inside functions and ``TYPE_CHECKING`` blocks too: a
lazy import is still a dependency, it only fails later. The test reads the source with
``ast`` (nothing is imported), so it is fast and cannot be fooled by import order.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "archspec"

# The stage of each top-level part of the package; equal numbers are siblings.
STAGES = {
    "spec": 1, "plan": 2, "blocks": 3,
    "complexity": 4, "diagram": 4, "export": 4, "convert": 4, "space": 4,
    "api": 5,  # the package's own __init__ counts as the façade: it re-exports archspec.api
    "cli": 6, "__main__": 7,
}
BOTTOM = {"_startup", "extras", "files", "formatting", "registry", "_version"}

# (importing module, imported module): deliberate exceptions, each with its reason. Empty is the aim.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, text: str | None = None) -> set[str]:
    """Every ``archspec`` module ``path`` (or ``text`` read as that file) imports, anywhere in it, as absolute names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text() if text is None else text, str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # ``from . import x`` and ``from .. import x`` name modules, not attributes
            found.update(f"{target}.{alias.name}" for alias in node.names
                         if (PACKAGE.parent / f"{target}.{alias.name}".replace(".", "/")).with_suffix(".py").exists()
                         or (PACKAGE.parent / f"{target}.{alias.name}".replace(".", "/")).is_dir())
    return {f for f in found if f == "archspec" or f.startswith("archspec.")}


def part_of(module: str) -> str:
    """``archspec.plan.types`` -> ``plan``; the package itself -> ``api`` (its public face)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "api"


def violations() -> list[tuple[str, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        here = part_of(source)
        for target in sorted(imports_of(path)):
            there = part_of(target)
            if here == there:
                continue
            if there in BOTTOM:
                continue
            if here in BOTTOM or STAGES[there] > STAGES[here] or (STAGES[there] == STAGES[here]):
                found.append((source, target))
    return found


def test_every_part_of_the_package_has_a_stage():
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    parts -= {"__init__"}
    assert parts <= set(STAGES) | BOTTOM, f"give these a stage in test_layering.py: {sorted(parts - set(STAGES) - BOTTOM)}"


def test_no_stage_imports_a_later_one_or_a_sibling():
    found = [v for v in violations() if v not in EXCEPTIONS]
    assert not found, "imports against the pipeline's direction:\n" + "\n".join(f"  {a} -> {b}" for a, b in found)


def test_every_exception_is_still_needed():
    stale = set(EXCEPTIONS) - set(violations())
    assert not stale, f"no longer needed, remove from EXCEPTIONS: {sorted(stale)}"


@pytest.mark.parametrize("source, expected", [
    ("from ..plan.types import Plan", "archspec.plan.types"),
    ("from .. import api", "archspec.api"),
    ("def f():\n    from archspec.export.atomic import write_text", "archspec.export.atomic"),
])
def test_the_scanner_sees_relative_and_lazy_imports(source, expected):
    """The checker itself can fail: a relative or function-local import is found."""
    assert expected in imports_of(PACKAGE / "spec" / "models.py", source)
