"""Teachable in one class: every notebook opens with its time, marks its optional sections in their
headings and cell tags (tools/notebook_paths.py), and its core path runs without them."""

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from notebook_paths import core, is_optional, minutes, run, tag_problems  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def read(path):
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_optional_sections_are_tagged_as_their_headings_say(path):
    assert tag_problems(read(path)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_opens_with_its_core_path_time(path):
    first = read(path).cells[0]
    assert first.cell_type == "markdown" and "Core path" in first.source and "min" in first.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_readme_table_states_each_notebooks_time(path):
    readme = (ROOT / "README.md").read_text().splitlines()
    rows = [line for line in readme if line.startswith(f"| `{path.name}`")]
    assert len(rows) == 1 and f"| {minutes(read(path))} |" in rows[0], (rows, minutes(read(path)))


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if any(is_optional(c) for c in read(p).cells)],
                         ids=lambda p: p.name)
def test_core_path_runs_without_the_optional_sections(path):
    run(core(read(path)))  # raises CellExecutionError if a core cell needs an optional one


# --- class time by one rule (tools/course_time.py) ------------------------------------------------

from course_time import CLASS_MINUTES, EXERCISE, estimate, questions, stated_minutes, table  # noqa: E402


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stated_time_is_the_rules_estimate_and_fits_a_class(path):
    nb = read(path)
    core_min = stated_minutes(estimate(nb))
    optional = any(is_optional(c) for c in nb.cells)
    extra = stated_minutes(estimate(nb, optional=True))
    want = f"{core_min} min" + (f" (+{extra} optional)" if optional else "")
    assert minutes(nb) == want, f"the first cell states {minutes(nb)}; the rule gives {want}"
    assert estimate(nb) <= CLASS_MINUTES


def test_readme_time_table_is_the_rules():
    readme = (ROOT / "README.md").read_text()
    assert table(NOTEBOOKS) in readme, table(NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_an_exercise_called_optional_is_tagged_optional(path):
    for i, cell in enumerate(read(path).cells):
        for line in cell.source.splitlines():
            if cell.cell_type == "markdown" and EXERCISE.match(line) and "optional" in line:
                assert is_optional(cell), f"cell {i}: {line!r} is not tagged optional"


def test_the_rule_counts_the_panel_questions():
    """The 43 questions beside panels, numbered 1, 2, ... in each list."""
    found = [q for p in NOTEBOOKS for q in questions(read(p))]
    assert len(found) == 43
    for (cell, n, _), (prev_cell, prev_n, _) in zip(found[1:], found, strict=False):
        assert n == (prev_n + 1 if cell == prev_cell else 1)
