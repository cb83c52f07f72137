"""Write the instructor's guide, instructor/*.md: `python -m instructor.build_guide [NOTEBOOK ...]`.

For each notebook: a minute-by-minute plan of its core path (the rule of tools/course_time.py),
what to say at each panel, and for every question beside a panel the expected answer with the
panel's own caption at the settings the question asks about. The captions are computed by running
the notebook with probe cells inserted after its question cells (they set the panel as a student
would, read its caption, and put the panel back), so the guide's numbers are the panels' numbers.
Plus one page for the deck (each live panel's opening caption, the measured limitations, the
fallback) and an index. tests/test_instructor_guide.py fails when a question has no answer or a
panel's caption no longer matches the guide.
"""

import html
import json
import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from course_time import (  # noqa: E402
    CLASS_MINUTES,
    CODE_CELL_MINUTES,
    EXERCISE_MINUTES,
    QUESTION_MINUTES,
    WORDS_PER_MINUTE,
    cell_minutes,
    estimate,
    questions,
)
from notebook_paths import NOTEBOOKS, is_optional  # noqa: E402

from instructor.answers import MISTAKES, PANELS, QUESTIONS  # noqa: E402

GUIDE = ROOT / "instructor"
PROBE = "GUIDE-PROBE "
PANEL_ASSIGNMENT = re.compile(r"^(\w+) = (?:lesson\.)?\w+Panel\(", re.M)
TAGS = re.compile(r"<[^>]+>")


def numbered_questions(nb):
    """[(cell index, number in the notebook, text)]: the notebook's questions numbered 1, 2, ..."""
    return [(cell, n, text) for n, (cell, _, text) in enumerate(questions(nb), 1)]


def panel_before(nb, cell):
    """The variable name of the panel the question cell `cell` is about: the last one assigned
    before it."""
    for c in reversed(nb.cells[:cell]):
        if c.cell_type == "code" and (found := PANEL_ASSIGNMENT.findall(c.source)):
            return found[-1]
    raise ValueError(f"no panel is created before cell {cell}")


def probe_source(panel, plan):
    """A code cell that sets `panel` to each setting of plan [(question, [expression, ...])],
    prints the captions as one JSON line, and puts the panel back as it was."""
    return f"""import html as _html, json as _json, re as _re
_before, _out = {panel}.values(), []
for _n, _exprs in {plan!r}:
    for _expr in _exprs:
        {panel}.set(**eval(_expr))
        _text = _html.unescape(_re.sub("<[^>]+>", "", {panel}.caption.value)).strip()
        _out.append({{"question": _n, "setting": _expr, "caption": _text}})
{panel}.set(**_before)
print({PROBE!r} + _json.dumps(_out))"""


def probe(path):
    """{question number: [{"setting", "caption"}, ...]}: the notebook run with probe cells after
    its question cells (settings from instructor/answers.py)."""
    nb = nbformat.read(path, as_version=4)
    answers = QUESTIONS[path.stem]
    by_cell = {}
    for cell, n, _ in numbered_questions(nb):
        by_cell.setdefault(cell, []).append((n, answers[n - 1].settings))
    for cell in sorted(by_cell, reverse=True):  # insert from the end: indices stay valid
        if any(exprs for _, exprs in by_cell[cell]):
            source = probe_source(panel_before(nb, cell), by_cell[cell])
            nb.cells.insert(cell + 1, nbformat.v4.new_code_cell(source))
    NotebookClient(nb, timeout=600, resources={"metadata": {"path": str(path.parent)}}).execute()
    found = {}
    for c in nb.cells:
        for out in c.get("outputs", []) if c.cell_type == "code" else []:
            for line in out.get("text", "").splitlines():
                if line.startswith(PROBE):
                    for row in json.loads(line[len(PROBE):]):
                        found.setdefault(row["question"], []).append(row)
    return found


# ---------------------------------------------------------------------------------------------- #
# The pages

def plan_rows(nb):
    """[(start minute, end minute, what)]: the core path cut at its section headings."""
    rows, start, minutes, title = [], 0.0, 0.0, "Opening: title, time and learning goals"
    for cell in nb.cells:
        if is_optional(cell):
            continue
        heading = next((line[3:].strip() for line in cell.source.splitlines()
                        if cell.cell_type == "markdown" and line.startswith("## ")), None)
        if heading and cell.source.lstrip().startswith("## ") and minutes > start:
            rows.append((start, minutes, title))
            start, title = minutes, heading
        elif heading and not cell.source.lstrip().startswith("## "):  # a heading inside a cell
            minutes += cell_minutes(cell)
            rows.append((start, minutes, title))
            start, title = minutes, heading
            continue
        minutes += cell_minutes(cell)
    rows.append((start, minutes, title))
    return rows


def page(path, probed):
    """The guide's markdown page for one notebook."""
    nb = nbformat.read(path, as_version=4)
    stem, answers = path.stem, QUESTIONS[path.stem]
    title = nb.cells[0].source.splitlines()[0].lstrip("# ").strip()
    lines = [f"# Guide: {title}", "",
             f"Notebook `notebooks/{path.name}`. Core path by the course's time rule: "
             f"{estimate(nb):.0f} min (of a {CLASS_MINUTES}-minute class); optional cells "
             f"{estimate(nb, optional=True):.0f} min more.", "",
             "## Class plan (core path)", "", "| minutes | what |", "|---|---|"]
    lines += [f"| {a:.0f}-{b:.0f} | {what} |" for a, b, what in plan_rows(nb)]
    if PANELS.get(stem):
        lines += ["", "## What to say at each panel", ""]
        for panel, points in PANELS[stem].items():
            lines += [f"**`{panel}`**", ""] + [f"- {p}" for p in points] + [""]
    qs = numbered_questions(nb)
    if qs:
        lines += ["## Answers to the questions beside the panels", ""]
    for cell, n, text in qs:
        q = answers[n - 1]
        optional = " (optional section)" if is_optional(nb.cells[cell]) else ""
        lines += [f"### Question {n}{optional}", "", f"> {text}", "", f"**Answer.** {q.answer}", ""]
        for row in probed.get(n, []):
            lines += [f"- panel at `{row['setting']}`: {row['caption']}"]
        if probed.get(n):
            lines += [""]
        if q.mistake:
            lines += [f"*Likely mistake.* {q.mistake}", ""]
    if MISTAKES.get(stem):
        lines += ["## Likely mistakes", ""] + [f"- {m}" for m in MISTAKES[stem]] + [""]
    return "\n".join(lines).rstrip() + "\n"


def index_page(paths):
    rows = "\n".join(f"- [{p.stem}]({p.stem}.md)" for p in paths)
    return f"""# Instructor's guide

For the lecturer: students can skip this part of the site. One page per notebook: a class plan for
its core path, minute by minute; what to say at each panel; the expected answer to every question
beside a panel, with the panel's own caption at the settings the question asks about (computed when
the guide was built, by `python -m instructor.build_guide`, from the same panels the students
move); and the mistakes students are likely to make. The deck has a page of its own, and the
solutions notebooks follow, run with their outputs.

**The time rule** (`tools/course_time.py`): a notebook's core path is its cells not tagged
`optional`; its time is its words at {WORDS_PER_MINUTE} words a minute, plus
{CODE_CELL_MINUTES:g} minute per code cell, {QUESTION_MINUTES:g} per question beside a panel and
{EXERCISE_MINUTES:g} per exercise. Every core path fits a {CLASS_MINUTES}-minute class; the
optional sections are for a second slot or for home.

{rows}
- [The lecture deck](deck.md)
"""


def main(names):
    paths = [p for p in sorted(NOTEBOOKS.glob("[0-9]*.ipynb")) if not names or p.stem in names]
    for path in paths:
        (GUIDE / f"{path.stem}.md").write_text(page(path, probe(path)))
        print(f"guide: wrote instructor/{path.stem}.md", flush=True)
    if not names:
        from instructor.deck_guide import deck_page
        (GUIDE / "deck.md").write_text(deck_page())
        (GUIDE / "index.md").write_text(index_page(paths))
        print("guide: wrote instructor/deck.md and instructor/index.md")


def caption_text(value):
    """A panel's caption as plain text (what the probe cells print)."""
    return html.unescape(TAGS.sub("", value)).strip()


if __name__ == "__main__":
    main(sys.argv[1:])
