"""nbconvert preprocessor for `make slides`: each widget output becomes its figure and caption.

A static HTML deck has no kernel, so a panel's sliders could only pretend. After `--execute`, the
notebook's metadata holds every widget's last state (nbclient stores it, image bytes included);
this replaces each widget view by what it showed: the caption (HTML widgets) and the figure
(Image widgets) as plain HTML, which needs no widget JavaScript, and no internet, to display.
"""

import html

from nbconvert.preprocessors import Preprocessor

VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"


def _static_html(model_id, models):
    """HTML for a widget and its children, depth first: HTML widgets as is, images inline."""
    model = models.get(model_id)
    if model is None:
        return ""
    state = model["state"]
    name = state.get("_model_name", "")
    if name == "ImageModel":
        data = next((b["data"] for b in model.get("buffers", []) if b["path"] == ["value"]), "")
        fmt = html.escape(state.get("format", "png"))
        return f'<img class="static-widget-image" src="data:image/{fmt};base64,{data}">' if data else ""
    if name in ("HTMLModel", "HTMLMathModel"):
        return f'<div class="static-widget-html">{state.get("value", "")}</div>'
    children = [c.removeprefix("IPY_MODEL_") for c in state.get("children", [])]
    return "".join(_static_html(c, models) for c in children)


class WidgetsToImages(Preprocessor):
    """Replace widget-view outputs by the static HTML of their last state (sliders dropped)."""

    def preprocess(self, nb, resources):
        models = nb.metadata.get("widgets", {}).get(STATE, {}).get("state", {})
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                view = out.get("data", {}).get(VIEW)
                if view is not None:
                    out["data"] = {"text/html": _static_html(view["model_id"], models)}
        nb.metadata.pop("widgets", None)  # nothing left for the widget JavaScript to render
        return nb, resources
