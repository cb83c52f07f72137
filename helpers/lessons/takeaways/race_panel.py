"""RacePanel: watch MAML, first-order MAML and iMAML meta-train, live (helpers.lessons.takeaways.race).

Pick the contestants and their settings, press start: the race runs in a background thread, and the
figure (validation MSE against meta-iterations and against training seconds, each contestant's fit
on one held-out task) is redrawn twice a second while the kernel stays free. Moving a control while
a race runs changes nothing until the next start.
"""

import math
import threading

import ipywidgets as widgets
import matplotlib.pyplot as plt

from helpers.plots import COLORS, LABELS, plain_log_axis
from helpers.widgets import Panel, slider

from .race import METHODS, MODES, OUTER_LR, Contestant, Race

WIDE = {"description_width": "initial"}
TICKS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5)


class RacePanel(Panel):
    """Checkboxes pick the contestants; sliders set MAML's inner step alpha and steps k (alpha also
    drives iMAML's gradient-descent solver), iMAML's lam, solver and CG steps, K in training, Adam's
    meta step size (one for all), the mode (equal time or equal meta-iterations) and the race's
    wall-clock budget."""

    def __init__(self, budget=60):
        self.race, self.thread, self._stop = None, None, threading.Event()
        self._lock = threading.RLock()  # one drawing at a time: the race thread's and a control's
        fig, axes = plt.subplots(1, 3, figsize=(11, 3.3), gridspec_kw={"width_ratios": [1, 1, 1.1]})
        self.axes = axes
        self.lines = {}
        for method in METHODS:
            style = {"color": COLORS[method], "label": LABELS[method], "lw": 2}
            self.lines[method] = [axes[0].plot([], [], **style)[0], axes[1].plot([], [], **style)[0],
                                  axes[2].plot([], [], **style)[0]]
        self.truth = axes[2].plot([], [], color=COLORS["truth"], lw=1.2, label=LABELS["truth"])[0]
        self.support = axes[2].plot([], [], "o", ms=5, color=COLORS["truth"], label="support set")[0]
        for ax, x in zip(axes[:2], ("meta-iterations", "training seconds"), strict=True):
            ax.set(xlabel=x, ylabel="validation MSE (5-shot, 10 steps)", yscale="log")
            plain_log_axis(ax.yaxis, TICKS)
        axes[1].set_ylabel("")
        axes[2].set(xlabel="x", ylabel="y", title="adapted on one held-out task")
        fig.tight_layout()
        checkbox = dict(indent=False, layout={"width": "auto"})
        controls = {
            "maml": widgets.Checkbox(value=True, description="MAML", **checkbox),
            "fomaml": widgets.Checkbox(value=False, description="first-order MAML", **checkbox),
            "imaml": widgets.Checkbox(value=True, description="iMAML", **checkbox),
            "inner_lr": slider("inner step α", 0.01, -3, 0, 0.25, log=True),
            "inner_steps": slider("MAML inner steps k", 1, 1, 10, 1, integer=True),
            "lam": slider("iMAML λ", Contestant("imaml").lam, -0.5, 2, 0.25, log=True),
            "solver": widgets.Dropdown(options=[("Hessian-free", "hessian_free"), ("gradient descent", "gd")],
                                       value=Contestant("imaml").solver, description="iMAML solver",
                                       style=WIDE),
            "cg_steps": slider("iMAML CG steps", Contestant("imaml").cg_steps, 1, 20, 1, integer=True),
            "k_shot": slider("K in training", 10, 2, 20, 1, integer=True),
            "outer_lr": slider("meta step size", OUTER_LR, -4, -1, 0.5, log=True),
            "mode": widgets.Dropdown(options=[("equal time", "time"), ("equal steps", "iterations")],
                                     value=MODES[0], description="mode", style=WIDE),
            "budget": slider("seconds", budget, 10, 300, 10, integer=True),
        }
        self.start_button = widgets.Button(description="start", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="stop", button_style="danger", icon="stop")
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        super().__init__(controls, fig)
        self.widget.children = (widgets.HBox([self.start_button, self.stop_button]), *self.widget.children)

    def contestants(self, maml, fomaml, imaml, inner_lr, inner_steps, lam, solver, cg_steps, **_):
        """The Contestants the controls pick (ValueError: none picked)."""
        shared = {"inner_lr": inner_lr, "inner_steps": inner_steps}
        picked = [Contestant(m, **shared) for m, on in (("maml", maml), ("fomaml", fomaml)) if on]
        if imaml:
            picked.append(Contestant("imaml", inner_lr=inner_lr, lam=lam, solver=solver, cg_steps=cg_steps))
        if not picked:
            raise ValueError("pick at least one contestant (MAML, first-order MAML or iMAML)")
        return picked

    def new_race(self):
        v = self.values()
        return Race(self.contestants(**v), k_shot=v["k_shot"], mode=v["mode"], outer_lr=v["outer_lr"])

    def start(self):
        """Stop a running race, then start a new one with the current settings, in the background."""
        self.stop()
        try:
            self.race = self.new_race()
        except ValueError as err:
            self.race = None
            return self.show_message(err)
        self._stop.clear()
        self.thread = threading.Thread(target=self._run, args=(self.race,), daemon=True)
        self.thread.start()

    def _run(self, race):
        race.run(self.values()["budget"], self._stop.is_set, self._show)

    def stop(self):
        """Stop the race (it keeps its curves) and wait for its thread."""
        self._stop.set()
        if self.thread is not None:
            self.thread.join()
            self.thread = None

    def run(self, seconds=None):
        """A race with the current settings, run to its end in this thread (headless: tests, the
        book); seconds: its budget (default the slider's)."""
        self.stop()
        self.race = self.new_race()
        return self.race.run(self.values()["budget"] if seconds is None else seconds, on_update=self._show)

    def _show(self, race):
        if race is self.race:
            self.refresh()

    def refresh(self):
        """As Panel.refresh, and a contestant that stopped (diverged) is named as a message above the
        figure that still shows the others."""
        with self._lock:
            super().refresh()
            stopped = self.race is not None and any(lane.stopped for lane in self.race.lanes)
            if stopped and self.last_error is None:
                self.show_message(FloatingPointError("; ".join(self.race.summary())))

    def draw(self, **values):
        self.contestants(**values)  # the settings are checked even while a race runs
        race = self.race
        lanes = {lane.contestant.method: lane for lane in race.lanes} if race else {}
        for method, lines in self.lines.items():
            lane = lanes.get(method)
            points = [p for p in lane.points if math.isfinite(p[2])] if lane else []
            iterations, seconds, mse, _ = zip(*points, strict=True) if points else ((), (), (), ())
            lines[0].set_data(iterations, mse)
            lines[1].set_data(seconds, mse)
            fit = lane is not None and lane.fit is not None
            lines[2].set_data((race.grid.flatten(), lane.fit) if fit else ([], []))
            for line in lines:
                line.set_visible(lane is not None)
        shown = [lines[0] for lines in self.lines.values() if lines[0].get_visible()]
        self.axes[0].legend(handles=shown, loc="upper right", fontsize=8)
        if race is None:
            return "Press start: the contestants meta-train from the same initialisation on the same tasks."
        task = race.val[0]
        self.truth.set_data(race.grid.flatten(), race.truth)
        self.support.set_data(task.x_tr.flatten(), task.y_tr.flatten())
        for ax in self.axes:
            ax.relim()
            ax.autoscale_view()
        state = "racing" if race.racing else "stopped"
        return f"{state} after {race.elapsed:.0f} s: " + "; ".join(race.summary())
