"""Interactive panels: controls + one figure redrawn in place, with errors shown, not swallowed.

A panel subclass builds its figure once and implements `draw(**values)`, which updates the artists
for the current control values and returns a caption. The figure is shown as an ipywidgets.Image
whose bytes are replaced on each change, so the same panel works in JupyterLab and in Voila slides.
Bad input (ValueError, FloatingPointError) becomes a clear message above the figure; any other
error is shown as a traceback, and re-raised when HELPERS_STRICT_WIDGETS=1 (as under `make test`)
so that a broken callback fails the notebook tests.
"""

import html
import os
import statistics
import time
import traceback

import ipywidgets as widgets
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .plots import COLORS, png_bytes


class Panel:
    """Base class: `controls` maps keyword names of draw() to ipywidgets value widgets."""

    def __init__(self, controls, fig):
        self.controls = dict(controls)
        self.fig = fig
        plt.close(fig)  # shown through self.image only, never twice by the inline backend
        self.caption = widgets.HTML()
        self.image = widgets.Image(format="png")
        self.widget = widgets.VBox(
            [widgets.HBox(list(self.controls.values()), layout={"flex_flow": "row wrap"}),
             self.caption, self.image]
        )
        self.last_error = None
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self._muted = False
        self.refresh()
        # The layout is final after the first draw; a layout engine left set (tight_layout leaves
        # a placeholder) would redo a hidden layout pass on every savefig, 3-5x the render time.
        self.fig.set_layout_engine(None)

    def draw(self, **values):
        """Update the figure for these control values; return a one-line caption."""
        raise NotImplementedError

    def values(self):
        return {name: c.value for name, c in self.controls.items()}

    def _on_change(self, _change):
        if not self._muted:
            self.refresh()

    def refresh(self):
        """Redraw for the current control values; show errors in the caption."""
        try:
            caption = self.draw(**self.values())
            self.image.value = png_bytes(self.fig)
            self.caption.value = f"<span class='panel-caption'>{html.escape(caption)}</span>"
            self.last_error = None
        except (ValueError, FloatingPointError) as err:
            self.last_error = err
            self.caption.value = (
                f"<b style='color:{COLORS['imaml']}' class='panel-error'>"
                f"&#9888; {html.escape(str(err))}</b>"
            )
        except Exception as err:
            self.last_error = err
            self.caption.value = f"<pre class='panel-error'>{html.escape(traceback.format_exc())}</pre>"
            if os.environ.get("HELPERS_STRICT_WIDGETS") == "1":
                raise

    def set(self, **values):
        """Set several controls, then redraw once (what a student does with the sliders)."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise ValueError(f"unknown control(s) {sorted(unknown)}; have {sorted(self.controls)}")
        self._muted = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._muted = False
        self.refresh()
        # The layout is final after the first draw; a layout engine left set (tight_layout leaves
        # a placeholder) would redo a hidden layout pass on every savefig, 3-5x the render time.
        self.fig.set_layout_engine(None)
        return self

    def time_updates(self, settings):
        """Median wall time in ms of set(**s) over a list of settings (the slider callback)."""
        times = []
        for s in settings:
            t0 = time.perf_counter()
            self.set(**s)
            times.append(1e3 * (time.perf_counter() - t0))
        return statistics.median(times)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def slider(description, value, min, max, step, log=False, integer=False, readout_format=None):
    """A slider with a typed readout, continuous_update=False (each change may take ~100 ms)."""
    common = dict(value=value, min=min, max=max, step=step, description=description,
                  continuous_update=False, style={"description_width": "initial"})
    if integer:
        return widgets.IntSlider(**common)
    if log:
        return widgets.FloatLogSlider(base=10, readout_format=readout_format or ".3g", **common)
    return widgets.FloatSlider(readout_format=readout_format or ".2f", **common)


class CachedBackgroundFigure(Figure):
    """A Figure that renders everything but its `dynamic` artists once, keeps those pixels, and
    on later draws pastes them back and draws only the dynamic artists (matplotlib's blitting,
    applied to every draw, savefig included). Axes, ticks, labels and legend are most of the cost
    of a redraw; a panel whose data change but whose axes do not needs them only once. The cache
    is per render size, so a new dpi or figure size re-renders in full."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dynamic = ()
        self._background = None  # (width, height) of the renderer, and its pixels

    def draw(self, renderer):
        # A layout pass (savefig(bbox_inches="tight")) draws with disabled draw_* methods: its
        # "pixels" must not become the cache, so draw it the ordinary way.
        if not self.dynamic or "draw_path" in vars(renderer):
            return super().draw(renderer)
        size = (renderer.width, renderer.height)
        if self._background is None or self._background[0] != size:
            shown = [a.get_visible() for a in self.dynamic]
            for a in self.dynamic:
                a.set_visible(False)
            try:
                super().draw(renderer)
            finally:
                for a, visible in zip(self.dynamic, shown, strict=True):
                    a.set_visible(visible)
            self._background = (size, renderer.copy_from_bbox(self.bbox))
        else:
            renderer.restore_region(self._background[1])
        for a in self.dynamic:
            a.draw(renderer)
        self.stale = False
