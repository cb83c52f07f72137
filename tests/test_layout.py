"""The layout: the library (helpers/*.py) never imports a lesson, and a lesson (a package or module of
helpers/lessons/) imports only the library and the lessons its docstring names."""

import ast
import re
from pathlib import Path

import pytest

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
LESSONS = HELPERS / "lessons"
LIBRARY = sorted(HELPERS.glob("*.py"))
# each lesson package, and each module beside them (helpers/lessons/pretrain.py)
LESSON_UNITS = sorted(p for p in LESSONS.iterdir()
                      if (p / "__init__.py").exists() or (p.suffix == ".py" and p.name != "__init__.py"))


def imported(path):
    """Absolute names of what the module at `path` imports: modules, and module.name for each
    `from module import name` (which may be a submodule); relative imports resolved."""
    package = path.relative_to(HELPERS.parent).parts[:-1]  # what `from . import` refers to
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(filter(None, [base, node.module]))
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def lessons_imported(path):
    """The lessons (toy, transfer, ...) the module at `path` imports from."""
    return {name.split(".")[2] for name in imported(path) if name.startswith("helpers.lessons.")}


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.name)
def test_the_library_imports_no_lesson(path):
    lessons = [name for name in imported(path) if (name + ".").startswith("helpers.lessons.")]
    assert not lessons, f"helpers/{path.name} imports {lessons}"


@pytest.mark.parametrize("unit", LESSON_UNITS, ids=lambda p: p.name)
def test_a_lesson_imports_only_the_lessons_its_docstring_names(unit):
    entry = unit / "__init__.py" if unit.is_dir() else unit
    named = set(re.findall(r"helpers\.lessons\.(\w+)", ast.get_docstring(ast.parse(entry.read_text())) or ""))
    files = sorted(unit.rglob("*.py")) if unit.is_dir() else [unit]
    used = set().union(*(lessons_imported(f) for f in files)) - {unit.stem}
    assert used <= named, f"{unit.name} imports lessons {sorted(used - named)} its docstring does not name"
