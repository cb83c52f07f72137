"""Notebook 00, the toy problem: few-shot sinusoid regression fitted from scratch.

`fit_from_scratch` is the no-meta-learning baseline every later notebook compares against: a fresh
network fitted by full-batch Adam to the K support points D^tr of a task, and nothing else.
`plot_tasks` draws tasks of the family p(T); `ScratchFitPanel` is the widget of notebook 00.
Notebook 01 reuses `fit_from_scratch` as its "from scratch" baseline.
"""

import math

import matplotlib.pyplot as plt
import torch

from helpers.checks import check_int
from helpers.models import MLP, flatten, loss_grad, mse, unflatten
from helpers.plots import COLORS, LABELS
from helpers.tasks import SinusoidTasks
from helpers.widgets import CachedBackgroundFigure, Panel, slider

# The widget's fixed budget: enough for a mean training MSE below 0.05 for every K <= 40 (measured
# on 200 tasks per K), and cheap: ~20 ms of CPU per fit, about half of a slider callback.
SCRATCH_STEPS = 100
SCRATCH_LR = 0.03


def _check_fit_args(x, y, steps, lr, seed):
    check_int("steps", steps, 0)
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if x.dim() not in (2, 3) or x.shape != y.shape or x.shape[-1] != 1:
        raise ValueError(
            f"x and y must both have shape (K, 1) or (tasks, K, 1), got {tuple(x.shape)} and "
            f"{tuple(y.shape)}"
        )
    if x.shape[-2] < 1:
        raise ValueError("the support set needs at least one point (K >= 1)")


def fit_from_scratch(x, y, steps=SCRATCH_STEPS, lr=SCRATCH_LR, seed=0, model=None):
    """phi fitted to the support set D^tr alone: `steps` full-batch Adam steps of size lr on
    L_tr(phi) = (1/K) sum_j (f_phi(x_j) - y_j)^2, starting from the random init model.init(seed).

    x, y: one task of shape (K, 1), giving parameters without a task axis; or T tasks of shape
    (T, K, 1), giving parameters with a leading task axis. Every task starts from the same init and
    is fitted independently (each task's loss depends on its own parameters only, and Adam acts
    elementwise). model defaults to MLP() (1-40-40-1); any model with init(seed) and
    f(params, x) works. Returns a dict of tensors. Raises ValueError for bad arguments and
    FloatingPointError if the fit diverges.
    """
    _check_fit_args(x, y, steps, lr, seed)
    model = model or MLP()
    shapes = model.init(seed, dtype=x.dtype)
    # One flat vector per task, and params as views into it: Adam is then a handful of tensor
    # ops per step, which (with MLP's batched backprop) keeps a 100-step fit at ~20 ms for the widget.
    flat = flatten(shapes)
    if x.dim() == 3:
        flat = flat.expand(x.shape[0], -1)
    flat = flat.clone()
    params = unflatten(flat, shapes)
    if any(p.untyped_storage().data_ptr() != flat.untyped_storage().data_ptr()
           for p in params.values()):  # the in-place update of flat must move params
        raise RuntimeError("unflatten must return views of the flat parameter vector")
    m = torch.zeros_like(flat)
    v = torch.zeros_like(flat)
    beta1, beta2, eps = 0.9, 0.999, 1e-8  # Adam's defaults (Kingma & Ba 2015)
    with torch.no_grad():
        for t in range(1, steps + 1):
            g = flatten(loss_grad(model, params, x, y)[1], batch_dims=x.dim() - 2)
            m.lerp_(g, 1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            denom = (v / (1 - beta2**t)).sqrt_().add_(eps)
            flat.addcdiv_(m, denom, value=-lr / (1 - beta1**t))
        if not torch.isfinite(mse(model, params, x, y)).all():
            raise FloatingPointError(
                f"the fit from scratch diverged: lower the learning rate (lr={lr})"
            )
    return {k: p.clone(memory_format=torch.contiguous_format) for k, p in params.items()}


def plot_tasks(batch, tasks=SinusoidTasks(), ncols=3, query=False, size=(3.2, 2.4)):
    """Small multiples: one axes per task of `batch` with its true curve and support set D^tr
    (and its query set D^test if query=True); size is one axes' (width, height). Returns
    (fig, axes)."""
    n = batch.n_tasks
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows + 0.4),
                             sharex=True, sharey=True, squeeze=False)
    grid = torch.linspace(*tasks.x_range, 200).view(1, -1, 1)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_visible(False)
            continue
        amp, phase = batch.amplitude[i : i + 1], batch.phase[i : i + 1]
        ax.plot(grid.flatten(), tasks.function(grid, amp, phase).flatten(),
                color=COLORS["truth"], lw=1.2, label=LABELS["truth"])
        if query:
            ax.plot(batch.x_te[i].flatten(), batch.y_te[i].flatten(), "o", mfc="none", ms=4,
                    color=COLORS["truth"], alpha=0.4,
                    label=f"query set $D^{{test}}$ ({batch.x_te.shape[1]} points)")
        ax.plot(batch.x_tr[i].flatten(), batch.y_tr[i].flatten(), "o", ms=5,
                color=COLORS["truth"], label=f"support set $D^{{tr}}$ (K = {batch.x_tr.shape[1]})")
        ax.set_title(f"A = {amp.item():.2f}, b = {phase.item():.2f}", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("x")
    for ax in axes[:, 0]:
        ax.set_ylabel("y")
    axes.flat[0].set_ylim(-1.15 * tasks.amplitude[1], 1.15 * tasks.amplitude[1])
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))
    return fig, axes


class ScratchFitPanel(Panel):
    """Amplitude A, phase b and K sliders: the true curve, K support points and a 1-40-40-1 MLP
    fitted from scratch on them (fit_from_scratch), with its support and query MSE in the caption.

    The support points are the first K of a fixed draw of k_max inputs (adding shots adds points,
    it does not move the others) and the query set is a fixed draw of n_query inputs.
    """

    def __init__(self, amplitude=3.0, phase=1.0, k_shot=5, steps=SCRATCH_STEPS, lr=SCRATCH_LR,
                 seed=0, k_max=40, n_query=100, tasks=SinusoidTasks()):
        self.tasks, self.steps, self.lr, self.seed = tasks, steps, lr, seed
        self.k_max, self.n_query = k_max, n_query
        self.model = MLP()
        self.grid = torch.linspace(*tasks.x_range, 200).view(-1, 1)
        fig, ax = plt.subplots(figsize=(7.5, 3.6), FigureClass=CachedBackgroundFigure)
        (self.truth_line,) = ax.plot([], [], color=COLORS["truth"], lw=1.5, label=LABELS["truth"])
        (self.query_pts,) = ax.plot([], [], "o", mfc="none", ms=4, color=COLORS["truth"],
                                    alpha=0.35, label="query set")
        (self.fit_line,) = ax.plot([], [], color=COLORS["scratch"], lw=2.2,
                                   label=f"{LABELS['scratch']} ({steps} Adam steps)")
        (self.support_pts,) = ax.plot([], [], "o", ms=7, color=COLORS["truth"],
                                      label="support set")
        ax.set_xlim(*tasks.x_range)
        # Few ticks and a plain-text legend: text is most of the cost of rendering the figure.
        ax.set_xticks([t for t in range(math.ceil(tasks.x_range[0]), math.floor(tasks.x_range[1]) + 1)
                       if t % 2 == 0])
        ax.set_yticks([-tasks.amplitude[1], 0, tasks.amplitude[1]])
        # Fixed limits so that moving a slider never rescales the picture; a fit that shoots
        # off the axes is itself the lesson (and the caption still reports its error).
        ax.set_ylim(-1.5 * tasks.amplitude[1], 1.5 * tasks.amplitude[1])
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, ncol=4)
        fig.tight_layout()
        # Keep these positions but drop the layout engine tight_layout leaves behind: with one
        # set, every savefig first runs a hidden layout pass over all the text (a third of the
        # cost of an update). And from here on only four artists change: render the rest once.
        fig.set_layout_engine(None)
        fig.dynamic = (self.truth_line, self.query_pts, self.fit_line, self.support_pts)
        self.ax = ax
        controls = {
            "amplitude": slider("amplitude A", amplitude, *tasks.amplitude, 0.1),
            "phase": slider("phase b", phase, *tasks.phase, 0.05),
            "k_shot": slider("K shots", k_shot, 1, k_max, 1, integer=True),
        }
        super().__init__(controls, fig)

    def draw(self, amplitude, phase, k_shot):
        if not 1 <= k_shot <= self.k_max:
            raise ValueError(f"k_shot must lie in [1, {self.k_max}], got {k_shot}")
        # Same generator seed every call: same inputs x, only A and b change the targets y.
        task = self.tasks.task(amplitude, phase, self.k_max, self.n_query, generator=self.seed)
        x_tr, y_tr = task.x_tr[0, :k_shot], task.y_tr[0, :k_shot]
        x_te, y_te = task.x_te[0], task.y_te[0]
        params = fit_from_scratch(x_tr, y_tr, self.steps, self.lr, self.seed, self.model)
        with torch.no_grad():
            y_grid = self.model(params, self.grid)
            truth = self.tasks.function(self.grid.unsqueeze(0), task.amplitude, task.phase)[0]
            support_mse = mse(self.model, params, x_tr, y_tr).item()
            query_mse = mse(self.model, params, x_te, y_te).item()
        self.truth_line.set_data(self.grid.flatten(), truth.flatten())
        self.fit_line.set_data(self.grid.flatten(), y_grid.flatten())
        self.support_pts.set_data(x_tr.flatten(), y_tr.flatten())
        self.query_pts.set_data(x_te.flatten(), y_te.flatten())
        self.support_mse, self.query_mse = support_mse, query_mse
        self.zero_mse = y_te.pow(2).mean().item()
        return (
            f"K = {k_shot}: support error L_tr = {support_mse:.3f}, query error L_test = "
            f"{query_mse:.2f} on {self.n_query} query points (predicting y = 0: {self.zero_mse:.2f})"
        )
