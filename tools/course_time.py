"""The class time of a notebook's core path, by one stated rule.

    minutes = core words / WORDS_PER_MINUTE            (reading the prose and the math)
            + CODE_CELL_MINUTES per core code cell     (run it, read what it prints or draws)
            + QUESTION_MINUTES per panel question      (move the sliders, answer)
            + EXERCISE_MINUTES per core exercise       (write the function, run the checker)

The core path is the notebook without its cells tagged "optional" (tools/notebook_paths.py). A
panel question is an item of a numbered list in a markdown cell that asks "Questions"; an exercise
is a bold or heading "Exercise N". Each notebook's first cell states "Core path about N min": N is
this estimate rounded up to the next 5 minutes, and at most one class slot, CLASS_MINUTES; "add
about M min" states the optional cells' estimate by the same rule, rounded up the same way.

    python tools/course_time.py     # the README's table: stated time, estimate, core words
"""

import math
import re
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebook_paths import NOTEBOOKS, is_optional, minutes  # noqa: E402

WORDS_PER_MINUTE = 120  # technical prose with formulas, read carefully in class
CODE_CELL_MINUTES = 1.0
QUESTION_MINUTES = 2.0
EXERCISE_MINUTES = 8.0
CLASS_MINUTES = 45

QUESTIONS = re.compile(r"^\**Questions\b", re.M)
QUESTION_ITEM = re.compile(r"^\d+\.\s", re.M)
EXERCISE = re.compile(r"^(?:\*\*|#+ )Exercise \d+", re.M)


def questions(nb):
    """The panel questions of the notebook's cells: (cell index, number, text) in order."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and QUESTIONS.search(cell.source):
            body = cell.source[QUESTIONS.search(cell.source).end():]
            items = QUESTION_ITEM.split(body)[1:]
            found += [(i, n, " ".join(text.split())) for n, text in enumerate(items, 1)]
    return found


def counts(nb, optional=False):
    """What the rule counts on the core path (or on the optional cells): words, code cells, panel
    questions, exercises."""
    part = nbformat.from_dict(nb)
    part.cells = [c for c in nb.cells if is_optional(c) == optional]
    prose = [c.source for c in part.cells if c.cell_type == "markdown"]
    return {"words": sum(len(s.split()) for s in prose),
            "code_cells": sum(c.cell_type == "code" for c in part.cells),
            "questions": len(questions(part)),
            "exercises": sum(len(EXERCISE.findall(s)) for s in prose)}


def cell_minutes(cell):
    """One cell's minutes by the rule (summed over the core path, they are `estimate`)."""
    if cell.cell_type == "code":
        return CODE_CELL_MINUTES
    one = nbformat.v4.new_notebook(cells=[cell])
    n = counts(one, optional=is_optional(cell))
    return (n["words"] / WORDS_PER_MINUTE + n["questions"] * QUESTION_MINUTES
            + n["exercises"] * EXERCISE_MINUTES)


def estimate(nb, optional=False):
    """The minutes of the core path (or of the optional cells) by the rule, a float."""
    return sum(cell_minutes(c) for c in nb.cells if is_optional(c) == optional)


def stated_minutes(estimate_minutes):
    """The time a notebook should state for an estimate: rounded up to the next 5 minutes."""
    return 5 * math.ceil(estimate_minutes / 5)


def table(paths):
    """The README's table, one row per notebook."""
    rows = ["| notebook | stated core time | core estimate by the rule | core words | code cells | "
            "panel questions | exercises |", "|---|---|---|---|---|---|---|"]
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        n = counts(nb)
        rows.append(f"| {path.stem} | {minutes(nb).split(' (')[0]} | {estimate(nb):.0f} min | "
                    f"{n['words']:,} | {n['code_cells']} | {n['questions']} | {n['exercises']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table([Path(p) for p in sys.argv[1:]] or sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))))
