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
import re
import statistics
import time
import traceback

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text

from .plots import COLORS, png_bytes

NOT_A_NUMBER = re.compile(r"\b(nan|inf)\b")  # how Python prints a float that is not finite


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
        self.initial = self.values()  # where sweep() starts from
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
            self.show_message(err)
        except Exception as err:
            self.last_error = err
            self.caption.value = f"<pre class='panel-error'>{html.escape(traceback.format_exc())}</pre>"
            if os.environ.get("HELPERS_STRICT_WIDGETS") == "1":
                raise

    def show_message(self, err):
        """Bad input or a divergence (ValueError, FloatingPointError): its message above the figure."""
        self.last_error = err
        self.caption.value = (f"<b style='color:{COLORS['imaml']}' class='panel-error'>"
                              f"&#9888; {html.escape(str(err))}</b>")

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

    def callback_times(self, settings):
        """Wall time in ms of set(**s) for each of a list of settings (the slider callback)."""
        times = []
        for s in settings:
            t0 = time.perf_counter()
            self.set(**s)
            times.append(1e3 * (time.perf_counter() - t0))
        return times

    def time_updates(self, settings):
        """Median wall time in ms of set(**s) over a list of settings."""
        return statistics.median(self.callback_times(settings))

    def sweep(self):
        """{label: settings} taking each control in turn to its smallest, a middle and its largest
        value (the others at their initial values), then every control to its smallest ("all=min")
        and every control to its largest ("all=max") at once."""
        ranges = {name: control_range(c) for name, c in self.controls.items()}
        out = {f"{name}={which}": {**self.initial, name: v} for name, r in ranges.items()
               for which, v in r.items()}
        for which in ("min", "max"):
            out[f"all={which}"] = {name: r[which] for name, r in ranges.items()}
        return out

    def sweep_problems(self, messages=(), settings=None):
        """Apply each of `settings` (default: self.sweep()); {label: what is wrong} for those that
        show neither a finite figure nor a clear message in the caption (a traceback, a NaN or inf
        printed or plotted). messages: the labels that should show a message (bad input, a
        divergence) instead of a figure; a message elsewhere is a problem, and so is its absence."""
        problems = {}
        for label, s in (self.sweep() if settings is None else settings).items():
            try:
                self.set(**s)
            except Exception as err:  # re-raised by refresh() under HELPERS_STRICT_WIDGETS=1
                problems[label] = f"raised {type(err).__name__}: {err}"
                continue
            problem = self._frame_problem()
            if problem is None and (self.last_error is None) == (label in messages):
                problem = (f"expected a message, showed a figure: {self.caption.value}" if label in messages
                           else f"an unexpected message: {self.last_error}")
            if problem:
                problems[label] = problem
        return problems

    def _frame_problem(self):
        """What is wrong with the panel as it shows now, or None."""
        err, caption = self.last_error, html.unescape(self.caption.value)
        if err is not None and not isinstance(err, ValueError | FloatingPointError):
            return f"a traceback in the caption: {type(err).__name__}: {err}"
        if err is not None:  # a message above the last good figure
            return _shows_nan([caption]) if str(err) else "an empty error message"
        if bytes(self.image.value[:4]) != b"\x89PNG":
            return "no figure"
        for line in self.fig.findobj(Line2D):
            if line.get_visible() and not np.isfinite(np.asarray(line.get_xydata(), dtype=float)).all():
                return f"a line with NaN or inf data: {line.get_label()!r}"
        return _shows_nan([caption] + [t.get_text() for t in self.fig.findobj(Text) if t.get_visible()])

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def _shows_nan(texts):
    shown = [t for t in texts if NOT_A_NUMBER.search(t)]
    return f"NaN or inf shown: {shown[0]!r}" if shown else None


def control_range(control):
    """{"min", "mid", "max"}: the smallest, a middle and the largest value of a slider, toggle or
    selection (on the slider's grid; a log slider's middle exponent), or {"min": False, "max":
    True} for a checkbox."""
    if isinstance(control, widgets.Checkbox):
        return {"min": False, "max": True}
    if isinstance(control, widgets.FloatLogSlider | widgets.IntSlider | widgets.FloatSlider):
        low, high, step = control.min, control.max, control.step
        mid = low + round((high - low) / 2 / step) * step
        values = (low, mid, high)
        if isinstance(control, widgets.FloatLogSlider):
            values = tuple(control.base**v for v in values)
        elif isinstance(control, widgets.FloatSlider):
            values = tuple(round(v, 12) for v in values)
        return dict(zip(("min", "mid", "max"), values))
    options = [o[1] if isinstance(o, tuple) else o for o in control.options]
    return {"min": options[0], "mid": options[len(options) // 2], "max": options[-1]}


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
