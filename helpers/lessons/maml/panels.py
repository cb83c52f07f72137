"""Notebook 03 (MAML): adaptation and cost panels.

AdaptationPanel  inner steps, inner learning rate, K shots and task sliders: MAML's and the
                 transfer baseline's fits after k gradient steps on a held-out task.
MemoryPanel      an inner-steps slider: MAML's backprop memory (plotted, every k) and time per
                 meta-iteration (measured when you reach k), with first-order MAML and iMAML.
"""

import math

import matplotlib.pyplot as plt
import torch

from helpers.checks import check_int
from helpers.inner import adapt
from helpers.models import MLP, mse
from helpers.plots import COLORS, LABELS
from helpers.pretrained import load_pretrained
from helpers.tasks import SinusoidTasks
from helpers.widgets import (
    CachedBackgroundFigure,  # axes, ticks and legend rendered once; only data redrawn
    Panel,
    slider,
)

from .cost import COST_METHODS, fastest_seconds, saved_bytes

HELD_OUT_SEED = 3_000_003  # tasks no training run saw (training seeds are small integers)
DIVERGED = 100.0  # gradient descent that multiplies the support loss by this much has diverged


def check_inner_lr(value, high=1.0):
    """ValueError unless 0 < value <= high (the inner learning-rate slider's alpha)."""
    if not (isinstance(value, int | float) and math.isfinite(value) and 0 < value <= high):
        raise ValueError(f"inner learning rate must be in (0, {high}], got {value!r}")


class AdaptationPanel(Panel):
    """MAML's meta-parameters and the pretrained-on-all-tasks baseline, each adapted by k gradient
    steps of size alpha on the first K support points of a held-out task (dashed: before adapting).

    maml, transfer: (model, params) pairs; default: the shipped "maml" and "transfer" models.
    """

    def __init__(self, maml=None, transfer=None, inner_steps=1, inner_lr=0.01, k_shot=5, task=0,
                 n_tasks=20, k_max=20, max_steps=20, n_query=100, seed=HELD_OUT_SEED,
                 tasks=SinusoidTasks()):
        self.models = {"maml": maml or load_pretrained("maml"),
                       "transfer": transfer or load_pretrained("transfer")}
        self.k_max, self.max_steps, self.n_tasks = k_max, max_steps, n_tasks
        self.tasks = tasks
        self.batch = tasks.sample(n_tasks, k_max, n_query, seed)
        self.grid = torch.linspace(*tasks.x_range, 200).view(-1, 1)
        fig, ax = plt.subplots(figsize=(7.5, 3.4), FigureClass=CachedBackgroundFigure)
        (self.truth_line,) = ax.plot([], [], color=COLORS["truth"], lw=1.5, label=LABELS["truth"])
        self.lines = {}
        for name in self.models:
            (before,) = ax.plot([], [], color=COLORS[name], lw=1, ls="--", alpha=0.8)
            (after,) = ax.plot([], [], color=COLORS[name], lw=2.2, label=LABELS[name])
            self.lines[name] = (before, after)
        (self.support_pts,) = ax.plot([], [], "o", ms=7, color=COLORS["truth"], label="support set (K shots)")
        ax.set_xlim(*tasks.x_range)
        ax.set_ylim(-1.5 * tasks.amplitude[1], 1.5 * tasks.amplitude[1])  # fixed: a divergence shows
        ax.set(xlabel="x", ylabel="y")
        ax.locator_params(nbins=5)  # few tick labels: text is most of the rendering time
        ax.legend(loc="upper right", fontsize=8, ncol=2)
        fig.tight_layout()
        fig.set_layout_engine(None)  # else every savefig reruns a hidden layout pass over all text
        fig.dynamic = (self.truth_line, *[line for pair in self.lines.values() for line in pair],
                       self.support_pts)
        self.ax = ax
        controls = {
            "inner_steps": slider("inner steps k", inner_steps, 0, max_steps, 1, integer=True),
            "inner_lr": slider("inner learning rate alpha", inner_lr, -3, 0, 0.1, log=True),
            "k_shot": slider("K shots", k_shot, 1, k_max, 1, integer=True),
            "task": slider("task", task, 0, n_tasks - 1, 1, integer=True),
        }
        super().__init__(controls, fig)

    def draw(self, inner_steps, inner_lr, k_shot, task):
        check_int("inner_steps", inner_steps, 0, self.max_steps)
        check_inner_lr(inner_lr)
        check_int("k_shot", k_shot, 1, self.k_max)
        check_int("task", task, 0, self.n_tasks - 1)
        b = self.batch[task]
        x_tr, y_tr = b.x_tr[0, :k_shot], b.y_tr[0, :k_shot]
        self.query_mse = {}
        with torch.no_grad():
            for name, (model, params) in self.models.items():
                phi = adapt(model, params, x_tr, y_tr, inner_steps, inner_lr)
                start, end = mse(model, params, x_tr, y_tr).item(), mse(model, phi, x_tr, y_tr).item()
                if end > DIVERGED * max(start, 1e-3):
                    raise FloatingPointError(
                        f"{LABELS[name]} diverged: {inner_steps} steps of alpha = {inner_lr:.3g} raised its "
                        f"support loss from {start:.3g} to {end:.3g}; lower the inner learning rate")
                before, after = self.lines[name]
                before.set_data(self.grid.flatten(), model(params, self.grid).flatten())
                after.set_data(self.grid.flatten(), model(phi, self.grid).flatten())
                self.query_mse[name] = (mse(model, params, b.x_te[0], b.y_te[0]).item(),
                                        mse(model, phi, b.x_te[0], b.y_te[0]).item())
            truth = self.tasks.function(self.grid.unsqueeze(0), b.amplitude, b.phase)[0]
        self.truth_line.set_data(self.grid.flatten(), truth.flatten())
        self.support_pts.set_data(x_tr.flatten(), y_tr.flatten())
        self.summary = (f"task {task} (A = {b.amplitude.item():.2f}, b = {b.phase.item():.2f}), query MSE "
                        "before (dashed) -> after adapting (solid): " + "; ".join(
                            f"{LABELS[n]} {m0:.2f} -> {m1:.2f}" for n, (m0, m1) in self.query_mse.items()))
        return self.summary


class MemoryPanel(Panel):
    """An inner-steps slider: the memory autograd holds for backprop while computing one
    meta-gradient of MAML, first-order MAML and iMAML on one meta-batch (plotted for every k), and
    the time each takes at the selected k (in the caption), all measured on this machine.

    The memory of every k is measured at construction (one run per method and k, so the curves
    show at once); the time of a k is measured the first time the slider reaches it (one run per
    method) and cached, so that each update stays cheap. rows: lessons.maml.cost rows to reuse (same
    meta_batch), e.g. from the notebook's own measurement.
    """

    def __init__(self, inner_steps=1, max_steps=16, meta_batch=5, k_shot=10, rows=(), seed=0):
        check_int("max_steps", max_steps, 1, 100)
        self.max_steps = max_steps
        self.model = MLP()
        self.params = self.model.init(seed)
        self.batch = SinusoidTasks().sample(meta_batch, k_shot, k_shot, seed)
        rows = [r for r in rows if r["tasks"] == meta_batch]
        self.saved = {(r["method"], r["inner_steps"]): r["saved_bytes"] for r in rows}
        self.seconds = {(r["method"], r["inner_steps"]): r["seconds"] for r in rows}
        for k in range(max_steps + 1):
            for method in COST_METHODS:
                if (method, k) not in self.saved:
                    self.saved[method, k] = saved_bytes(method, k, self.model, self.params, self.batch)
        fig, ax = plt.subplots(figsize=(6.5, 3.0), FigureClass=CachedBackgroundFigure)
        ks = list(range(max_steps + 1))
        for method in COST_METHODS:
            ax.plot(ks, [self.saved[method, k] / 1e6 for k in ks], color=COLORS[method], marker="o", ms=3,
                    label=LABELS[method])
        self.cursor = ax.axvline(inner_steps, color="0.3", lw=1, ls=":")
        (self.current,) = ax.plot([], [], "o", ms=9, mfc="none", mec="0.2", mew=1.5)
        ax.set(xlabel="inner steps k", ylabel=f"MB held for backprop ({meta_batch} tasks)",
               xlim=(-0.5, max_steps + 0.5), ylim=(0, None))
        ax.locator_params(nbins=5)
        ax.legend(fontsize=8, loc="upper left")
        fig.tight_layout()
        fig.set_layout_engine(None)  # else every savefig reruns a hidden layout pass over all text
        fig.dynamic = (self.cursor, self.current)  # the curves are fixed: only the marker moves
        self.ax = ax
        super().__init__({"inner_steps": slider("inner steps k", inner_steps, 0, max_steps, 1,
                                                integer=True)}, fig)

    def draw(self, inner_steps):
        check_int("inner_steps", inner_steps, 0, self.max_steps)
        for method in COST_METHODS:
            if (method, inner_steps) not in self.seconds:
                self.seconds[method, inner_steps] = fastest_seconds(
                    method, inner_steps, self.model, self.params, self.batch, repeats=1)
        self.cursor.set_xdata([inner_steps, inner_steps])
        self.current.set_data([inner_steps] * len(COST_METHODS),
                              [self.saved[m, inner_steps] / 1e6 for m in COST_METHODS])
        self.summary = f"k = {inner_steps}, memory and time per meta-gradient: " + "; ".join(
            f"{LABELS[m]} {self.saved[m, inner_steps] / 1e6:.2f} MB, "
            f"{1e3 * self.seconds[m, inner_steps]:.0f} ms" for m in COST_METHODS
        ) + f" ({self.batch.n_tasks} tasks, measured on this machine)"
        return self.summary
