"""Probes: what a panel shows at the settings a question asks about, read from the panel itself.

A setting is a Python expression evaluated with `panel` (the notebook's panel), `math`, `first`,
`from_on` and `readings` (instructor/readings.py) in scope: a dict of the panel's controls,
`dict(k_shot=1)`; or `first([dict(...), ...], lambda p: ...)`, the first of those settings at which
the condition holds for the panel ("how many steps until ..."); or `from_on(...)`, the first from
which it holds at every later one ("from how many shots on ..."). A question may add a reading, an
expression in the same scope evaluated at each setting, for what the figure shows and the caption
does not say (a string, printed after the caption). A panel that races (the race of 08, which has
`run`) runs to its end at each setting.

    run_probes(path, questions, answers)        the notebook run with probe cells after its
                                                question cells (the guide)
    probe_in_process(path, questions, answers)  each panel built from only the cells it needs, in
                                                this process (the test)
"""

import ast
import html
import json
import math
import os
import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from instructor import readings

ROOT = Path(__file__).resolve().parents[1]
PROBE = "GUIDE-PROBE "
PANEL_ASSIGNMENT = re.compile(r"^(\w+) = (?:\w+\.)?\w+Panel\(", re.M)
TAGS = re.compile(r"<[^>]+>")
TIMED = re.compile(r"\d[\d,.]*\s?(?:ms|s)\b")  # a wall time in a caption: it varies between runs


def caption_text(panel):
    """The panel's caption as plain text."""
    return html.unescape(TAGS.sub("", panel.caption.value)).strip()


def is_timed(panel):
    """A panel whose numbers are wall-clock measurements throughout (the race)."""
    return hasattr(panel, "run")


def untimed(caption):
    """The caption with its wall times blanked: what stays the same from one run to the next."""
    return TIMED.sub("(time)", caption)


def _first(panel, settings, condition, outcome):
    """The first setting at which condition(panel) holds; else the last one, with outcome["met"]
    False (a question whose answer is "none of them")."""
    for setting in settings:
        panel.set(**setting)
        if condition(panel):
            outcome["met"] = True
            return setting
    outcome["met"] = False
    return settings[-1]


def _from_on(panel, settings, condition, outcome):
    """The first setting from which condition(panel) holds at every later one ("from how many
    shots on ..."); else the last one, with outcome["met"] False."""
    start = len(settings)
    for i in range(len(settings) - 1, -1, -1):
        panel.set(**settings[i])
        if not condition(panel):
            break
        start = i
    outcome["met"] = start < len(settings)
    return settings[min(start, len(settings) - 1)]


def _shown(value):
    return f"{value:g}" if isinstance(value, float) else str(value)


def read(panel, plan):
    """[{"question", "setting", "caption", "met", "timed"}] for plan [(question number,
    [expression, ...], reading)]; the panel is put back as it was. "setting" names the controls each
    expression set, as they stood; "met" is False where `first` found no setting that qualifies."""
    before, rows, outcome = panel.values(), [], {}
    scope = {"panel": panel, "math": math, "readings": readings,
             "first": lambda *a: _first(panel, *a, outcome),
             "from_on": lambda *a: _from_on(panel, *a, outcome)}
    for n, expressions, reading in plan:
        for expression in expressions:
            outcome.clear()
            setting = eval(expression, scope)  # noqa: S307 (the guide's own expressions)
            panel.set(**setting)
            if is_timed(panel):
                panel.run()
            values = panel.values()
            shown = ", ".join(f"{k} = {_shown(values[k])}" for k in setting)
            caption = caption_text(panel) + (f" [{eval(reading, scope)}]" if reading else "")  # noqa: S307
            rows.append({"question": n, "setting": shown, "caption": caption,
                         "met": outcome.get("met", True), "timed": is_timed(panel)})
    panel.set(**before)
    return rows


def line(row):
    """The guide's line for one probe."""
    if not row["met"]:
        return f"- none of the settings tried qualifies; the last, {row['setting']}: {row['caption']}"
    return f"- at {row['setting']}: {row['caption']}"


# ---------------------------------------------------------------------------------------------- #
# Which panel a question is about, and the probe plan of a notebook

def panel_before(nb, cell):
    """(index of the cell that creates it, variable name) of the panel the question cell `cell` is
    about: the last one created before it."""
    for i in range(cell - 1, -1, -1):
        c = nb.cells[i]
        if c.cell_type == "code" and (found := PANEL_ASSIGNMENT.findall(c.source)):
            return i, found[-1]
    raise ValueError(f"no panel is created before cell {cell}")


def plans(nb, questions, answers):
    """{question cell: (panel cell, panel name, [(question number, [expression, ...], reading)])}
    for the notebook's questions [(cell, number in its list, text)] (tools/course_time.questions)
    and their answers (Q: settings, reading); questions are numbered 1, 2, ... across the notebook."""
    out = {}
    for n, ((cell, _, _), q) in enumerate(zip(questions, answers, strict=True), 1):
        if q.settings:
            panel_cell, name = panel_before(nb, cell)
            out.setdefault(cell, (panel_cell, name, []))[2].append((n, list(q.settings), q.reading))
    return out


def _collect(rows):
    found = {}
    for row in rows:
        found.setdefault(row["question"], []).append(row)
    return found


def run_probes(path, questions, answers):
    """{question number: [row, ...]}: the notebook run as JupyterLab runs it, with a probe cell
    after each question cell (the kernel imports this module: the repository is on its path)."""
    nb = nbformat.read(path, as_version=4)
    for cell, (_, name, plan) in sorted(plans(nb, questions, answers).items(), reverse=True):
        source = (f"from instructor.probe import PROBE as _P, read as _read\nimport json as _json\n"
                  f"print(_P + _json.dumps(_read({name}, {plan!r})))")
        nb.cells.insert(cell + 1, nbformat.v4.new_code_cell(source))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    NotebookClient(nb, timeout=900, resources={"metadata": {"path": str(path.parent)}}).execute()
    rows = [row for c in nb.cells if c.cell_type == "code" for out in c.get("outputs", [])
            for text in out.get("text", "").splitlines() if text.startswith(PROBE)
            for row in json.loads(text[len(PROBE):])]
    return _collect(rows)


# ---------------------------------------------------------------------------------------------- #
# The cheap way: only the cells a panel needs, in this process

def _names(source):
    """(names the cell assigns, names it reads) at its top level."""
    tree = ast.parse(source)
    stored, loaded = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (stored if isinstance(node.ctx, ast.Store) else loaded).add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            stored |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            stored.add(node.name)
    return stored, loaded


def needed_cells(nb, panel_cell):
    """(indices of the code cells the panel needs, in order; the panel cell's source up to the line
    that creates the panel). A cell is needed when it last assigns, before the panel cell, a name
    that the panel cell or another needed cell reads."""
    lines = nb.cells[panel_cell].source.splitlines()
    end = next(i for i, s in enumerate(lines) if PANEL_ASSIGNMENT.match(s))
    setup = "\n".join(lines[: end + 1])
    stored, loaded = _names(setup)
    wanted, cells = loaded - stored, set()
    for i in range(panel_cell - 1, -1, -1):
        c = nb.cells[i]
        if c.cell_type != "code":
            continue
        stored, loaded = _names(c.source)
        if stored & wanted:
            cells.add(i)
            wanted = (wanted - stored) | (loaded - stored)
    return sorted(cells), setup


def probe_in_process(path, questions, answers):
    """As run_probes, but each panel is built in this process from only the cells it needs (working
    directory notebooks/), and the race (timed throughout) is left out."""
    nb = nbformat.read(path, as_version=4)
    rows, built = [], {}
    cwd = os.getcwd()
    os.chdir(path.parent)
    try:
        for _, (panel_cell, name, plan) in sorted(plans(nb, questions, answers).items()):
            if panel_cell not in built:
                cells, setup = needed_cells(nb, panel_cell)
                scope = {}
                for i in cells:
                    exec(compile(nb.cells[i].source, f"{path.name}[{i}]", "exec"), scope)  # noqa: S102
                exec(setup, scope)  # noqa: S102
                built[panel_cell] = scope[name]
            panel = built[panel_cell]
            if not is_timed(panel):
                rows += read(panel, plan)
    finally:
        os.chdir(cwd)
    return _collect(rows)
