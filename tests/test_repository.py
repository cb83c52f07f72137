"""Repository habits: clean notebooks, a README that lists them, and a table that matches the records."""

import json
from pathlib import Path

import pytest

from helpers.report import inner_solves_note, maml_paper_table, shots_table

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS + SOLUTIONS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    nb = json.loads(path.read_text())
    assert nb["nbformat"] == 4
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"cell {i} has stale outputs: run `make clean-notebooks`"
            assert cell["execution_count"] is None, f"cell {i} has an execution count"


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    missing = [p.name for p in NOTEBOOKS if p.name not in readme]
    assert not missing, f"README.md does not list {missing}"


def test_readme_table_is_the_recorded_one():
    """The README's MAML-paper table must be what `python -m helpers.report` prints now."""
    readme = (ROOT / "README.md").read_text()
    assert maml_paper_table()[1] in readme and shots_table() in readme
    assert inner_solves_note() in " ".join(readme.split())  # the sentence may wrap
