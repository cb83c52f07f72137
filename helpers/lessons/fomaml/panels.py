"""Notebook 04 (first-order MAML): the gradient-bias panel.

BiasPanel  inner steps, inner learning rate, K shots and where theta is: the first-order
           meta-gradient against the exact one, component by component, on one meta-batch.
"""

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from helpers.checks import check_int
from helpers.lessons.maml.panels import HELD_OUT_SEED, check_inner_lr
from helpers.models import MLP, relative_error
from helpers.plots import COLORS
from helpers.pretrained import load_pretrained
from helpers.tasks import SinusoidTasks
from helpers.widgets import CachedBackgroundFigure, Panel, slider

from .bias import cosine, per_task_meta_grads

LIM = 1.6  # BiasPanel's axes, in units of the largest exact component


class BiasPanel(Panel):
    """Inner steps k, inner learning rate alpha, K shots and where theta is: every component of the
    first-order meta-gradient against the exact MAML one, on the same meta-batch of held-out tasks
    (a point on the diagonal is a component first-order MAML gets right).

    points: {name: (model, params)} to choose from; default: a random initialisation (seed 0, where
    meta-training starts) and the shipped "maml" meta-parameters.
    """

    def __init__(self, points=None, inner_steps=1, inner_lr=0.01, k_shot=10, meta_batch=10, k_max=20,
                 max_steps=20, seed=HELD_OUT_SEED):
        if points is None:
            model = MLP()
            points = {"random init": (model, model.init(0)), "MAML's theta": load_pretrained("maml")}
        self.points = dict(points)
        self.k_max, self.max_steps = k_max, max_steps
        self.batch = SinusoidTasks().sample(meta_batch, k_max, k_max, seed)
        fig, ax = plt.subplots(figsize=(4.8, 4.0), FigureClass=CachedBackgroundFigure)
        n_params = next(iter(self.points.values()))[0].n_params()
        (self.dots,) = ax.plot([], [], ".", ms=3, color=COLORS["fomaml"], alpha=0.6,
                               label=f"the {n_params:,} components")
        ax.plot([-LIM, LIM], [-LIM, LIM], color="0.4", lw=1, label="first order = exact")
        # Both scaled by the largest exact component, so that the axes never change and only the
        # dots are redrawn; a first-order component beyond the frame is clipped.
        ax.set(xlabel="exact MAML meta-gradient g (/ max |g|)",
               ylabel="first-order meta-gradient g_FO (/ max |g|)", xlim=(-LIM, LIM), ylim=(-LIM, LIM))
        ax.locator_params(nbins=4)
        ax.legend(fontsize=8, loc="upper left")
        fig.tight_layout()
        fig.set_layout_engine(None)  # else every savefig reruns a hidden layout pass over all text
        fig.dynamic = (self.dots,)
        self.ax = ax
        controls = {
            "inner_steps": slider("inner steps k", inner_steps, 0, max_steps, 1, integer=True),
            "inner_lr": slider("inner learning rate alpha", inner_lr, -3, -1, 0.1, log=True),
            "k_shot": slider("K shots", k_shot, 1, k_max, 1, integer=True),
            "where": widgets.ToggleButtons(options=list(self.points), description="theta at",
                                           style={"description_width": "initial"}),
        }
        super().__init__(controls, fig)

    def draw(self, inner_steps, inner_lr, k_shot, where):
        check_int("inner_steps", inner_steps, 0, self.max_steps)
        check_inner_lr(inner_lr, high=0.1)
        check_int("k_shot", k_shot, 1, self.k_max)
        if where not in self.points:
            raise ValueError(f"where must be one of {list(self.points)}, got {where!r}")
        model, params = self.points[where]
        b = self.batch
        batch = type(b)(b.x_tr[:, :k_shot], b.y_tr[:, :k_shot], b.x_te, b.y_te, b.amplitude, b.phase)
        exact = per_task_meta_grads(model, params, batch, inner_steps, inner_lr)
        fo = per_task_meta_grads(model, params, batch, inner_steps, inner_lr, first_order=True)
        g, g_fo = exact.mean(0), fo.mean(0)
        if not (torch.isfinite(g).all() and torch.isfinite(g_fo).all()):
            raise FloatingPointError(f"the meta-gradient is not finite: lower alpha (alpha={inner_lr:.3g})")
        self.cosine, self.relative_error = cosine(g_fo, g).item(), relative_error(g_fo, g).item()
        self.task_cosine = cosine(fo, exact).median().item()
        scale = max(g.abs().max().item(), 1e-30)
        self.dots.set_data((g / scale).numpy(), (g_fo / scale).numpy())
        self.summary = (f"{where}, k = {inner_steps}, alpha = {inner_lr:.3g}, K = {k_shot}: meta-gradient of "
                        f"{b.n_tasks} tasks: cosine {self.cosine:.3f}, relative error "
                        f"{self.relative_error:.2f}; single tasks: median cosine {self.task_cosine:.3f}")
        return self.summary
