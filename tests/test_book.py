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
    assert nb.cells[1].cell_type == "markdown" and "Run this page" in nb.cells[1].source
    assert f'href="{path.name}"' in nb.cells[1].source
    cwd, widget = nb.cells[2].outputs[0], nb.cells[3].outputs[0]
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
