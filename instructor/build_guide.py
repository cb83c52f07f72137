"""Write the instructor's guide, instructor/*.md:

    python -m instructor.build_guide [NOTEBOOK ...]           run the notebooks' probes, write pages
    python -m instructor.build_guide --pages [NOTEBOOK ...]   rewrite pages from the last probes
                                                              (after editing instructor/answers/)

For each notebook: a minute-by-minute plan of its core path (the rule of tools/course_time.py),
what to say at each panel, the expected answer to every question beside a panel with the panel's
own caption at the settings the question asks about (instructor/probe.py runs the notebook with
probe cells after its question cells), and the mistakes students are likely to make. Plus a page
for the deck (instructor/deck_guide.py) and an index. Run one notebook at a time; the race of 08
takes a few minutes. tests/test_instructor_guide.py fails when a question has no answer or a
panel's caption no longer matches the guide.
"""

import json
import sys
from pathlib import Path

import nbformat

from instructor import probe
from instructor.answers import MODULES, for_notebook

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

GUIDE = ROOT / "instructor"
PROBES = ROOT / "build" / "guide"  # the last probes of each notebook, {question number: [row, ...]}
TIMED_NOTE = ("*The race's numbers are wall-clock measurements made when the guide was built; "
              "on another machine, or a busy one, they differ: the answer says what to look for.*")


def numbered(nb):
    """[(cell, number in the notebook, number in its list, text)] of the notebook's questions."""
    return [(cell, n, k, text) for n, (cell, k, text) in enumerate(questions(nb), 1)]


def sections(cell):
    """[(heading or None, part of the cell)]: a markdown cell cut at its `## ` headings (the part
    before the first heading has none); any other cell whole."""
    if cell.cell_type != "markdown":
        return [(None, cell)]
    parts, heading, lines = [], None, []
    for line in cell.source.splitlines():
        if line.startswith("## "):
            if lines or heading:
                parts.append((heading, lines))
            heading, lines = line[3:].strip(), []
        lines.append(line)
    parts.append((heading, lines))
    return [(h, nbformat.from_dict({**cell, "source": "\n".join(part)})) for h, part in parts]


def plan_rows(nb):
    """[(start minute, end minute, what)]: the core path cut at its section headings."""
    rows, start, minutes, title = [], 0.0, 0.0, "Opening: title, time and learning goals"
    for cell in nb.cells:
        if is_optional(cell):
            continue
        for heading, part in sections(cell):
            if heading:
                if minutes > start:
                    rows.append((start, minutes, title))
                start, title = minutes, heading
            minutes += cell_minutes(part)
    rows.append((start, minutes, title))
    return rows


def page(path, probed):
    """The guide's markdown page for one notebook."""
    nb = nbformat.read(path, as_version=4)
    answers = for_notebook(path.stem)
    lines = [f"# Guide: {title(path.stem)}", "",
             f"Notebook `notebooks/{path.name}`. Core path by the course's time rule: "
             f"{estimate(nb):.0f} min (of a {CLASS_MINUTES}-minute class); the optional cells "
             f"{estimate(nb, optional=True):.0f} min more.", "",
             "## Class plan (core path)", "", "| minutes | what |", "|---|---|"]
    lines += [f"| {a:.0f}-{b:.0f} | {what} |" for a, b, what in plan_rows(nb)]
    if answers.PANELS:
        lines += ["", "## What to say at each figure and panel", ""]
        for where, points in answers.PANELS.items():
            lines += [f"**{where}**", ""] + [f"- {p}" for p in points] + [""]
    qs = numbered(nb)
    if qs:
        lines += ["## Answers to the questions beside the panels", "",
                  "Under each answer: what the panel shows at the settings the question asks about "
                  "(its caption, read from the panel when this guide was built).", ""]
    for cell, n, k, text in qs:
        q = answers.QUESTIONS[n - 1]
        _, panel = probe.panel_before(nb, cell)
        optional = ", optional section" if is_optional(nb.cells[cell]) else ""
        lines += [f"### `{panel}`, question {k}{optional}", "", f"> {text}", "",
                  f"**Answer.** {q.answer}", ""]
        rows = probed.get(n, [])
        lines += [probe.line(row) for row in rows] + ([""] if rows else [])
        if any(row["timed"] for row in rows):
            lines += [TIMED_NOTE, ""]
    if answers.MISTAKES:
        lines += ["## Likely mistakes", ""] + [f"- {m}" for m in answers.MISTAKES] + [""]
    return "\n".join(lines).rstrip() + "\n"


def title(stem):
    """The notebook's title, the first line of its first cell."""
    nb = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    return nb.cells[0].source.splitlines()[0].lstrip("# ").strip()


def index_page():
    rows = "\n".join(f"- [{title(stem)}]({stem}.md)" for stem in MODULES)
    return f"""# Instructor's guide

For the lecturer: **students can skip this part of the site.** One page per notebook: a class plan
for its core path, minute by minute; what to say at each figure and panel; the expected answer to
every question beside a panel, with the panel's own caption at the settings the question asks
about (computed when the guide was built, by `python -m instructor.build_guide`, from the same
panels the students move; `tests/test_instructor_guide.py` fails when a panel's caption no longer
matches); and the mistakes students are likely to make. The deck has a page of its own, and the
solutions notebooks follow, run with their outputs.

**The time rule** (`tools/course_time.py`): a notebook's core path is its cells not tagged
`optional`; its time is its words at {WORDS_PER_MINUTE} words a minute, plus {CODE_CELL_MINUTES:g}
minute per code cell, {QUESTION_MINUTES:g} per question beside a panel and {EXERCISE_MINUTES:g} per
exercise. Every core path fits a {CLASS_MINUTES}-minute class; the optional sections are for a
second slot or for home. Each page's class plan cuts the same estimate at the section headings.

{rows}
- [The lecture deck](deck.md)
"""


def main(args):
    pages_only = "--pages" in args
    names = [a for a in args if a != "--pages"]
    unknown = set(names) - set(MODULES)
    if unknown:
        sys.exit(f"unknown notebook(s) {sorted(unknown)}; have {list(MODULES)}")
    PROBES.mkdir(parents=True, exist_ok=True)
    for stem in names or MODULES:
        path, saved = NOTEBOOKS / f"{stem}.ipynb", PROBES / f"{stem}.json"
        if pages_only:
            probed = {int(n): rows for n, rows in json.loads(saved.read_text()).items()}
        else:
            probed = probe.run_probes(path, questions(nbformat.read(path, as_version=4)),
                                      for_notebook(stem).QUESTIONS)
            saved.write_text(json.dumps(probed, indent=1))
        (GUIDE / f"{stem}.md").write_text(page(path, probed))
        print(f"guide: wrote instructor/{stem}.md", flush=True)
    if not names:
        from instructor.deck_guide import deck_page

        (GUIDE / "deck.md").write_text(deck_page())
        (GUIDE / "index.md").write_text(index_page())
        print("guide: wrote instructor/deck.md and instructor/index.md")


if __name__ == "__main__":
    main(sys.argv[1:])
