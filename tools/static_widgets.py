"""nbconvert preprocessor for `make slides` and `make book`: each widget output becomes its figure
and caption.

A static page has no kernel, so a panel's sliders could only pretend. After execution, the
notebook's metadata holds every widget's last state (nbclient stores it, image bytes included);
this replaces each widget view by what it showed: the caption (HTML widgets) and the figure
(Image widgets) as plain HTML, which needs no widget JavaScript, and no internet, to display.
Under a widget with controls (a panel, not a progress bar) it can add a note (`live_note`), e.g.
that moving the sliders needs the notebook.
"""

import html

from nbconvert.preprocessors import Preprocessor
from traitlets import Unicode

VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"
# Widgets that only display (or lay out) something; any other widget is a control.
DISPLAY_ONLY = {"HTMLModel", "HTMLMathModel", "LabelModel", "ImageModel", "FloatProgressModel",
                "IntProgressModel", "BoxModel", "HBoxModel", "VBoxModel", "GridBoxModel"}


def _tree(model_id, models):
    """The widget's model and its descendants', depth first (ids without a state are skipped)."""
    model = models.get(model_id)
    if model is None:
        return
    yield model
    for child in model["state"].get("children", []):
        yield from _tree(child.removeprefix("IPY_MODEL_"), models)


def _static_html(model):
    """HTML widgets as is, images inline, anything else (controls, boxes) nothing."""
    state = model["state"]
    name = state.get("_model_name", "")
    if name == "ImageModel":
        data = next((b["data"] for b in model.get("buffers", []) if b["path"] == ["value"]), "")
        fmt = html.escape(state.get("format", "png"))
        return f'<img class="static-widget-image" src="data:image/{fmt};base64,{data}">' if data else ""
    if name in ("HTMLModel", "HTMLMathModel"):
        return f'<div class="static-widget-html">{state.get("value", "")}</div>'
    return ""


class WidgetsToImages(Preprocessor):
    """Replace widget-view outputs by the static HTML of their last state (sliders dropped)."""

    live_note = Unicode("", help="HTML shown under each widget that has controls").tag(config=True)

    def preprocess(self, nb, resources):
        models = nb.metadata.get("widgets", {}).get(STATE, {}).get("state", {})
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                view = out.get("data", {}).get(VIEW)
                if view is not None:
                    tree = list(_tree(view["model_id"], models))
                    static = "".join(_static_html(m) for m in tree)
                    if self.live_note and any(m["state"].get("_model_name") not in DISPLAY_ONLY
                                              for m in tree):
                        static += f'<p class="static-widget-note">{self.live_note}</p>'
                    out["data"] = {"text/html": static}
        nb.metadata.pop("widgets", None)  # nothing left for the widget JavaScript to render
        return nb, resources
