"""Each notebook's core path and its optional sections.

A notebook marks an optional section in its heading, `## 6. Figure 2, measured (optional)`, and every
cell of that section (its heading included, up to the next `## ` heading) carries the cell tag
"optional". The core path is the notebook without those cells. It must run on its own (a test runs
it), so no core cell may use what an optional section computed.

    python tools/notebook_paths.py        # per notebook: core and full run time, words on the core path
"""

import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
TAG = "optional"
SECTION = re.compile(r"^## ")
OPTIONAL_HEADING = re.compile(r"^## .*\(optional\)\s*$")
CORE_MINUTES = re.compile(r"Core path about (\d+) min")
OPTIONAL_MINUTES = re.compile(r"add(?:s)? about (\d+) min")


def is_optional(cell):
    return TAG in cell.get("metadata", {}).get("tags", [])


def tag_problems(nb):
    """Cells whose "optional" tag disagrees with the heading of their section (empty if none)."""
    problems, optional = [], False
    for i, cell in enumerate(nb.cells):
        first = cell.source.splitlines()[0] if cell.source else ""
        if cell.cell_type == "markdown" and SECTION.match(first):
            optional = bool(OPTIONAL_HEADING.match(first))
        if is_optional(cell) != optional:
            problems.append(f"cell {i} ({first[:50]!r}) should {'' if optional else 'not '}be tagged {TAG!r}")
    return problems


def core(nb):
    """A copy of the notebook without its optional cells."""
    out = nbformat.from_dict(nb)
    out.cells = [c for c in nb.cells if not is_optional(c)]
    return out


def minutes(nb):
    """'45 min (+15 optional)': the class time the notebook's first cell states."""
    first = " ".join(nb.cells[0].source.split())
    core_min = CORE_MINUTES.search(first)
    extra = OPTIONAL_MINUTES.search(first)
    if core_min is None:
        raise ValueError("the first cell does not say 'Core path about N min'")
    return f"{core_min[1]} min" + (f" (+{extra[1]} optional)" if extra else "")


def words(nb):
    """Words of the notebook's markdown (prose and math), code excluded."""
    return sum(len(c.source.split()) for c in nb.cells if c.cell_type == "markdown")


def run(nb, timeout=600):
    """Execute the notebook as JupyterLab does (working directory notebooks/); return the seconds."""
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=timeout, resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return time.perf_counter() - t0


def main(paths):
    print("| notebook | core path run | full run | words, core path | words, all |")
    print("|---|---|---|---|---|")
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        core_seconds = run(core(nb))
        full_seconds = run(nbformat.read(path, as_version=4))
        print(f"| {path.name} | {core_seconds:.0f} s | {full_seconds:.0f} s | {words(core(nb)):,} "
              f"| {words(nb):,} |", flush=True)


if __name__ == "__main__":
    main([Path(p) for p in sys.argv[1:]] or sorted(NOTEBOOKS.glob("[0-9]*.ipynb")))
