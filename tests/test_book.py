"""The course website (`make book`): every notebook is in it, the deck's slides are linked, and a
notebook runs as in JupyterLab, with its widgets frozen into their last figure and caption.

The built site itself is opened in Chromium by tests/test_browser.py.
"""

import sys
from pathlib import Path

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book"))
sys.path.insert(0, str(ROOT / "lecture"))
import deck  # noqa: E402  (lecture/deck.py: where the deck is)
import make_book  # noqa: E402  (book/make_book.py: what `make book` runs)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_every_notebook_is_in_the_book_toc():
    listed = make_book.toc_notebooks()
    assert [p for p in listed if not p.exists()] == [], "book/_toc.yml lists a missing notebook"
    missing = [p.name for p in NOTEBOOKS if p not in listed and p != deck.DECK]
    assert not missing, f"book/_toc.yml does not list {missing}"


def test_the_instructors_part_lists_every_solution_and_guide_page():
    """The part students can skip: the instructor's guide (instructor/*.md) and the solutions,
    run with their outputs."""
    listed = make_book.toc_notebooks() + make_book.toc_pages()
    wanted = sorted((ROOT / "solutions").glob("*.ipynb")) + sorted((ROOT / "instructor").glob("*.md"))
    assert [p.relative_to(ROOT) for p in wanted if p not in listed] == []


def test_landing_page_links_the_decks_static_slides():
    intro = (make_book.BOOK / "intro.md").read_text()
    assert f'href="slides/{deck.DECK.stem}.slides.html"' in intro


def _notebook(tmp_path, *sources):
    path = tmp_path / "page.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A page")]
                                  + [nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_a_book_page_runs_in_its_folder_with_widgets_frozen_and_a_run_note(tmp_path):
    path = _notebook(tmp_path, "import os\nprint(os.getcwd())",
                     "import ipywidgets as w\n"
                     "panel = w.VBox([w.FloatSlider(value=1.0), w.HTML('<b>lambda = 1</b>')])\n"
                     "panel",
                     "panel.children[1].value = '<b>lambda = 2</b>'")
    nb = make_book.execute(path)
    assert "Run this page" in nb.cells[0].source
    cwd, widget = nb.cells[1].outputs[0], nb.cells[2].outputs[0]
    assert cwd["text"].strip() == str(tmp_path)
    # The last state (lambda = 2), as static HTML, with the line about the live version.
    assert widget["data"].keys() == {"text/html"}
    assert "<b>lambda = 2</b>" in widget["data"]["text/html"]
    assert make_book.LIVE_NOTE in widget["data"]["text/html"]
    assert "widgets" not in nb.metadata


def test_a_cell_that_raises_stops_the_book(tmp_path):
    path = _notebook(tmp_path, "raise ValueError('broken notebook')")
    with pytest.raises(CellExecutionError, match="broken notebook"):
        make_book.execute(path)


def test_the_run_note_goes_under_the_title_or_first():
    titled = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 09 · A page\nIts story.")])
    make_book.add_run_note(titled, "09_page.ipynb")
    title, note, story = titled.cells[0].source.split("\n\n")
    assert (title, story) == ("# 09 · A page", "Its story.")
    assert note == make_book.RUN_NOTE.format(name="09_page.ipynb", folder="notebooks")
    assert 'href="09_page.ipynb"' in note

    untitled = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    make_book.add_run_note(untitled, "09_page.ipynb")
    assert [c.cell_type for c in untitled.cells] == ["markdown", "code"]
    assert untitled.cells[0].source == make_book.RUN_NOTE.format(name="09_page.ipynb", folder="notebooks")
