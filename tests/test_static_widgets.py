"""tools/static_widgets.py: widget views become the HTML of their last state (static deck, book)."""

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from static_widgets import STATE, VIEW, WidgetsToImages  # noqa: E402

# A panel (a slider above a caption and a figure) and a tqdm progress bar, as nbclient stores them.
MODELS = {
    "panel": {"state": {"_model_name": "VBoxModel",
                        "children": ["IPY_MODEL_controls", "IPY_MODEL_caption", "IPY_MODEL_image"]}},
    "controls": {"state": {"_model_name": "HBoxModel", "children": ["IPY_MODEL_slider"]}},
    "slider": {"state": {"_model_name": "FloatLogSliderModel", "value": 2.0}},
    "caption": {"state": {"_model_name": "HTMLModel", "value": "<span>lambda = 2</span>"}},
    "image": {"state": {"_model_name": "ImageModel", "format": "png"},
              "buffers": [{"path": ["value"], "data": "iVBORw0KGgo=", "encoding": "base64"}]},
    "bar": {"state": {"_model_name": "HBoxModel",
                      "children": ["IPY_MODEL_label", "IPY_MODEL_progress"]}},
    "label": {"state": {"_model_name": "HTMLModel", "value": "100%"}},
    "progress": {"state": {"_model_name": "FloatProgressModel", "value": 30.0}},
}


def _notebook():
    views = [nbformat.v4.new_output("display_data", data={
        VIEW: {"model_id": m, "version_major": 2, "version_minor": 0}, "text/plain": "VBox()"})
        for m in ("panel", "bar")]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("panel", outputs=views[:1]),
                                         nbformat.v4.new_code_cell("bar", outputs=views[1:])])
    nb.metadata["widgets"] = {STATE: {"state": MODELS, "version_major": 2, "version_minor": 0}}
    return nb


def test_a_panel_becomes_its_caption_and_figure_and_the_note_marks_only_controls():
    nb, _ = WidgetsToImages(live_note="run the notebook").preprocess(_notebook(), {})
    panel, bar = (c.outputs[0]["data"] for c in nb.cells)
    assert panel == {"text/html": '<div class="static-widget-html"><span>lambda = 2</span></div>'
                                  '<img class="static-widget-image" src="data:image/png;base64,'
                                  'iVBORw0KGgo=">'
                                  '<p class="static-widget-note">run the notebook</p>'}
    assert bar == {"text/html": '<div class="static-widget-html">100%</div>'}  # no controls
    assert "widgets" not in nb.metadata


def test_without_a_note_the_static_deck_shows_the_figure_alone():
    nb, _ = WidgetsToImages().preprocess(_notebook(), {})
    assert "static-widget-note" not in nb.cells[0].outputs[0]["data"]["text/html"]
