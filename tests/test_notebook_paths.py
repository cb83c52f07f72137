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
