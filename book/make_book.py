"""`make book`: the course as a static website, built from freshly executed notebooks.

    python book/make_book.py   (`make book` runs `make slides-html` first: the deck's static slides)

1. Run every notebook that book/_toc.yml lists, the course's and the solutions, as JupyterLab
   runs it (working directory its folder), with HELPERS_STRICT_WIDGETS=1 as under `make test`: a
   cell that raises, or a widget callback that fails, stops the build. The instructor's guide
   (instructor/*.md, written by `python -m instructor.build_guide`) and solutions/README.md are
   copied as they are.
2. Turn each widget into its last figure and caption (tools/static_widgets.py, as the static deck
   does) with a line saying the sliders need the notebook; add a "Run this page" note under the
   title.
3. Jupyter Book 1.x (Sphinx) builds build/book/src/ (book/ plus those notebooks) into
   build/book/_build/html/.
4. Copy in MathJax (from lecture/node_modules), the static slides (build/slides/) and the clean
   notebooks, to download.

Prints the time of each step and the site's size.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from sphinx_external_toc.parsing import parse_toc_yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from static_widgets import WidgetsToImages  # noqa: E402

BOOK = ROOT / "book"
TOC = BOOK / "_toc.yml"
OUT = ROOT / "build" / "book"
SRC = OUT / "src"
SITE = OUT / "_build" / "html"
SLIDES = ROOT / "build" / "slides"
MATHJAX = ROOT / "lecture" / "node_modules" / "mathjax" / "es5" / "tex-svg-full.js"
# What the landing page includes from the repository (README sections and the README's image).
INCLUDED = ["README.md", "lecture/slide-explorer.png"]
CELL_TIMEOUT = 600  # seconds: a guard against a hung cell, not a budget

LIVE_NOTE = ("Static copy of an interactive panel: to move its sliders, run the notebook "
             "(see <em>Run this page</em> above).")
RUN_NOTE = """:::{{admonition}} Run this page
:class: note
This page is the notebook as it ran when the website was built; its panels do not move here.
To run it and move the sliders: download <a href="{name}" download>{name}</a> and open it in
JupyterLab in the course's environment (`make lab` in a copy of the repository, as in the
quick start on the home page; it is `{folder}/{name}` there).
:::"""


def toc_notebooks():
    """Paths of the notebooks book/_toc.yml lists (notebooks/NAME, solutions/NAME), in reading order."""
    return [ROOT / f"{doc}.ipynb" for doc in parse_toc_yaml(TOC) if (ROOT / f"{doc}.ipynb").exists()]


def toc_pages():
    """Paths of the markdown pages book/_toc.yml lists from outside book/ (the instructor's guide,
    solutions/README.md)."""
    return [ROOT / f"{doc}.md" for doc in parse_toc_yaml(TOC) if "/" in doc and (ROOT / f"{doc}.md").exists()]


def execute(path):
    """The notebook run top to bottom in notebooks/ (widget states stored), then made static."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=CELL_TIMEOUT, store_widget_state=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nb, _ = WidgetsToImages(live_note=LIVE_NOTE).preprocess(nb, {})
    add_run_note(nb, path.name, path.parent.name)
    return nb


def add_run_note(nb, name, folder="notebooks"):
    """The "Run this page" note under the page's title (the first cell's first line), else first."""
    note, first = RUN_NOTE.format(name=name, folder=folder), nb.cells[0]
    if first.cell_type == "markdown" and first.source.startswith("# "):
        title, _, rest = first.source.partition("\n")
        first.source = f"{title}\n\n{note}\n\n{rest}"
    else:
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(note))


def main():
    if not (SLIDES / "lecture_imaml.slides.html").exists():
        sys.exit(f"{SLIDES.relative_to(ROOT)} has no static deck: run `make book`, not this script")
    os.environ["HELPERS_STRICT_WIDGETS"] = "1"  # the kernels inherit it
    shutil.rmtree(OUT, ignore_errors=True)
    shutil.copytree(BOOK, SRC, ignore=shutil.ignore_patterns("make_book.py", "__pycache__"))
    for path in [ROOT / name for name in INCLUDED] + toc_pages():
        (SRC / path.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SRC / path.relative_to(ROOT))

    t_start = time.perf_counter()
    for path in toc_notebooks():
        t0 = time.perf_counter()
        nb = execute(path)
        target = SRC / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        print(f"book: ran {path.relative_to(ROOT)} in {time.perf_counter() - t0:.0f} s", flush=True)
    t_run = time.perf_counter() - t_start

    t0 = time.perf_counter()
    subprocess.run([Path(sys.executable).parent / "jupyter-book", "build", SRC, "--path-output", OUT,
                    "--warningiserror", "--keep-going", "--quiet"], check=True)
    t_sphinx = time.perf_counter() - t0

    # Not staged in src/_static: Jupyter Book would add every .js there to each page a second time.
    (SITE / "_static" / "mathjax").mkdir()
    shutil.copy(MATHJAX, SITE / "_static" / "mathjax")
    shutil.copytree(SLIDES, SITE / "slides")
    for path in toc_notebooks():
        shutil.copy(path, SITE / path.relative_to(ROOT))  # the clean notebook, beside its page
    files = [f for f in SITE.rglob("*") if f.is_file()]
    size = sum(f.stat().st_size for f in files) / 1e6
    print(f"book: notebooks ran in {t_run:.0f} s, Jupyter Book built the site in {t_sphinx:.0f} s; "
          f"the site, {SITE.relative_to(ROOT)}/ (open index.html): {size:.1f} MB in {len(files)} files")


if __name__ == "__main__":
    main()
