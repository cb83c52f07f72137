"""The instructors' key (solutions/) covers every exercise: each checker a notebook calls is called,
under `assert`, by that notebook's solutions notebook (nbval runs them: each solution passes)."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def checkers(path, asserted=False):
    """Names of the exercise checkers (check_*) the notebook's code cells call."""
    nb = json.loads(path.read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    call = r"assert\s+(?:not\s+)?(?:\w+\.)?(check_\w+)\(" if asserted else r"(check_\w+)\("
    return set(re.findall(call, code))


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if checkers(p)], ids=lambda p: p.name)
def test_every_exercise_has_an_asserted_solution(path):
    key = ROOT / "solutions" / f"{path.stem}_solutions.ipynb"
    assert key.exists(), f"no solutions notebook {key.name} for {path.name}"
    assert checkers(path) <= checkers(key, asserted=True), checkers(path) - checkers(key, asserted=True)


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if checkers(p)], ids=lambda p: p.name)
def test_a_checker_call_that_ends_a_cell_prints_only_its_message(path):
    """A checker returns True/False for `assert` in the solutions; a cell ending in the bare call
    would show that value under the message, so the notebooks end such a line with `;`."""
    nb = json.loads(path.read_text())
    bare = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
            and re.fullmatch(r"(?:\w+\.)?check_\w+\(.*\)", "".join(c["source"]).strip().splitlines()[-1])]
    assert not bare, f"cells {bare} end in a checker call without ';' (it would print True/False)"
