"""Notebook 01, transfer learning: figures and the fine-tuning widget.

plot_pooled_fit    the pretrained network against the pooled optimum -(2 E[A]/pi) cos x
plot_fine_tuning   one task, the network after 0, 1, 10, ... fine-tuning steps
plot_kernel_modes  why fine-tuning is slow: kernel eigenvalues, where the error sits, loss curves
plot_held_out      query error vs fine-tuning steps on held-out tasks, against training from scratch
TransferPanel      K shots, steps, learning rate, amplitude and phase sliders
"""

import math

import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from helpers.lessons.toy.panels import SCRATCH_STEPS, fit_from_scratch
from helpers.models import mse
from helpers.plots import COLORS, LABELS, plain_log_axis
from helpers.tasks import SinusoidTasks
from helpers.widgets import CachedBackgroundFigure, Panel, slider

from .finetune import (
    check_lr,
    fine_tune,
    kernel_spectrum,
    linearised_support_loss,
    max_stable_lr,
    pooled_optimum,
    pooled_optimum_mse,
)

OPTIMUM = r"pooled optimum $-\frac{2\,\mathbb{E}[A]}{\pi}\cos x$"


def log_steps(steps, n=30):
    """0, steps and about n log-spaced steps in between: enough points for a curve on a log axis
    (scoring the query set at every step would double the cost of a fine-tuning run)."""
    return sorted({0, steps} | {int(s) for s in torch.logspace(0, math.log10(max(steps, 1)), n)})


def _grid(tasks, n=200):
    return torch.linspace(*tasks.x_range, n).view(-1, 1)


def plot_pooled_fit(model, params, live=None, n_tasks=30, seed=0, tasks=SinusoidTasks()):
    """Faint curves of n_tasks tasks, the pooled optimum f*, the network (and a short live run)."""
    grid = _grid(tasks)
    batch = tasks.sample(n_tasks, 1, 1, seed)
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    curves = tasks.function(grid.expand(n_tasks, -1, -1), batch.amplitude, batch.phase)
    for i, c in enumerate(curves):
        ax.plot(grid, c, color=COLORS["truth"], lw=0.6, alpha=0.15,
                label=f"{n_tasks} tasks from p(T)" if i == 0 else None)
    with torch.no_grad():
        if live is not None:
            live_model, live_params, label = live
            ax.plot(grid, live_model(live_params, grid), color=COLORS["transfer"], lw=1.5, ls=":",
                    label=label)
        ax.plot(grid, model(params, grid), color=COLORS["transfer"], lw=2.5, label=LABELS["transfer"])
    ax.plot(grid, pooled_optimum(grid, tasks), color=COLORS["truth"], lw=1.5, ls="--", label=OPTIMUM)
    top = 1.15 * tasks.amplitude[1]
    ax.set(xlabel="x", ylabel="y", xlim=tasks.x_range, ylim=(-top, top))
    ax.legend(loc="upper right", fontsize=8, ncol=2)
    fig.tight_layout()
    return fig, ax


def plot_fine_tuning(model, params, task, steps=(0, 1, 10, 100, 1000), lr=0.01, tasks=SinusoidTasks()):
    """One task (a batch of one): the pretrained network after each number of GD steps in steps."""
    grid = _grid(tasks)
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    ax.plot(grid, tasks.function(grid[None], task.amplitude, task.phase)[0], color=COLORS["truth"],
            lw=1.5, label=LABELS["truth"])
    x, y = task.x_tr[0], task.y_tr[0]
    phi, done = params, 0
    shades = torch.linspace(0.35, 1.0, len(steps)).tolist()
    for n, alpha in zip(sorted(steps), shades, strict=True):
        phi, _, _ = fine_tune(model, phi, x, y, n - done, lr)
        done = n
        with torch.no_grad():
            test = mse(model, phi, task.x_te[0], task.y_te[0]).item()
            ax.plot(grid, model(phi, grid), color=COLORS["transfer"], alpha=alpha, lw=1 + alpha,
                    label=f"{n} steps: $L_{{test}}$ = {test:.2f}")
    ax.plot(x, y, "o", ms=7, color=COLORS["truth"], label=f"support set (K = {x.shape[0]})")
    top = 1.3 * tasks.amplitude[1]
    ax.set(xlabel="x", ylabel="y", xlim=tasks.x_range, ylim=(-top, top),
           title=rf"fine-tuning by gradient descent, $\alpha$ = {lr}")
    ax.legend(loc="upper right", fontsize=8, ncol=2)
    fig.tight_layout()
    return fig, ax


def plot_kernel_modes(model, params, task, lr=0.01, steps=1000):
    """Three panels for one task: kernel eigenvalues mu_j against the stability limit K/lr, the share
    of the initial support error in each mode, and L_tr (real and linearised) and L_test vs steps."""
    x, y = task.x_tr[0], task.y_tr[0]
    k = x.shape[0]
    mu, u = kernel_spectrum(model, params, x)
    with torch.no_grad():
        r0 = (model(params, x) - y)[:, 0]
    share = (u.T @ r0.double()).pow(2) / r0.double().pow(2).sum()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    modes = torch.arange(1, k + 1)
    ax = axes[0]
    ax.bar(modes, mu, color=COLORS["transfer"])
    ax.axhline(k / lr, color=COLORS["imaml"], ls="--", lw=1.2, label=r"stability limit $\mu = K/\alpha$")
    for j, m in zip(modes.tolist(), mu.tolist(), strict=True):
        factor = abs(1 - 2 * lr * m / k)
        tenfold = math.log(10) / -math.log(factor) if 0 < factor < 1 else math.inf
        label = "∞" if math.isinf(tenfold) else "<1" if tenfold < 1 else f"{tenfold:.0f}"
        ax.annotate(label, (j, max(m, 1e-3)), ha="center", va="bottom", fontsize=7)
    ax.set(yscale="log", xlabel="mode j", ylabel=r"eigenvalue $\mu_j$ of $J J^\top$",
           title=rf"kernel eigenvalues (labels: steps to shrink 10x at $\alpha$ = {lr})",
           ylim=(None, 3 * k / lr))
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8, loc="upper right")
    ax = axes[1]
    ax.bar(modes, share, color=COLORS["truth"], alpha=0.6)
    ax.set(xlabel="mode j", ylabel="share of initial $L_{tr}$", title="where the error sits")
    ax = axes[2]
    record = log_steps(steps)
    _, real, test = fine_tune(model, params, x, y, steps, lr, task.x_te[0], task.y_te[0], record)
    lin = linearised_support_loss(mu, u, r0, lr, steps)
    t = torch.arange(steps + 1)
    ax.plot(t, real, color=COLORS["transfer"], lw=2, label="$L_{tr}$, network")
    ax.plot(t, lin, color=COLORS["transfer"], lw=1.2, ls="--", label="$L_{tr}$, linearised")
    ax.plot(record, test, color=COLORS["truth"], lw=1.5, label="$L_{test}$, network")
    ax.set(xscale="symlog", yscale="log", xlabel="fine-tuning steps", ylabel="MSE",
           title=rf"one task, K = {k}, $\alpha$ = {lr}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig, axes, {"mu": mu, "share": share, "real": real, "linearised": lin, "test": (record, test)}


def plot_held_out(curves, scratch, optimum_mse=None):
    """One panel per K: mean L_test (95% CI) vs fine-tuning steps ({K: {n: (mean, ci)}}), the network
    fitted from scratch ({K: (mean, ci)}, band) and, dashed, the pooled optimum's error."""
    fig, axes = plt.subplots(1, len(curves), figsize=(11, 3.3), sharey=True, squeeze=False)
    for ax, (k, curve) in zip(axes[0], curves.items(), strict=True):
        steps = list(curve)
        means = [curve[n][0] for n in steps]
        ci = [curve[n][1] for n in steps]
        ax.errorbar(steps, means, yerr=ci, color=COLORS["transfer"], marker="o", ms=3, capsize=2,
                    label=f"{LABELS['transfer']}, fine-tuned")
        m, h = scratch[k]
        ax.axhspan(max(m - h, 1e-3), m + h, color=COLORS["scratch"], alpha=0.25, lw=0)
        ax.axhline(m, color=COLORS["scratch"], lw=2,
                   label=f"{LABELS['scratch']} ({SCRATCH_STEPS} Adam steps)")
        if optimum_mse is not None:
            ax.axhline(optimum_mse, color=COLORS["truth"], ls="--", lw=1, label="pooled optimum")
        ax.set(xscale="symlog", yscale="log", xlim=(0, max(steps)), ylim=(0.1, 15), title=f"K = {k}",
               xlabel=r"fine-tuning steps ($\alpha$ = 0.01)")
        plain_log_axis(ax.yaxis)
        ax.set_yticks([0.1, 0.2, 0.5, 1, 2, 5, 10])
        ax.xaxis.set_major_locator(FixedLocator([0, 1, 10, 100, 1000]))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
    axes[0, 0].set_ylabel("mean query MSE $L_{test}$")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig, axes[0]


class TransferPanel(Panel):
    """Fine-tune the pretrained network on the first K support points of a task (amplitude A, phase b)
    with `steps` GD steps of size lr; compare with a network fitted from scratch on the same points.

    Left: the fits. Right: L_tr and L_test along the fine-tuning, and the scratch fit's L_test.
    """

    def __init__(self, model, params, k_shot=5, steps=10, lr=0.01, amplitude=3.0, phase=1.0, seed=0,
                 k_max=20, max_steps=200, n_query=100, tasks=SinusoidTasks()):
        self.model, self.params, self.tasks = model, params, tasks
        self.k_max, self.max_steps, self.n_query, self.seed = k_max, max_steps, n_query, seed
        self.grid = _grid(tasks)
        self._scratch_cache = {}
        fig, (ax, ax_loss) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1.6, 1]},
                                          FigureClass=CachedBackgroundFigure)
        (self.truth_line,) = ax.plot([], [], color=COLORS["truth"], lw=1.5, label=LABELS["truth"])
        (self.scratch_line,) = ax.plot([], [], color=COLORS["scratch"], lw=2,
                                       label=f"{LABELS['scratch']} ({SCRATCH_STEPS} Adam steps)")
        with torch.no_grad():
            pooled = model(params, self.grid)
        ax.plot(self.grid.flatten(), pooled.flatten(), color=COLORS["transfer"], lw=1.2, ls="--",
                label="pretrained, 0 steps")
        (self.tuned_line,) = ax.plot([], [], color=COLORS["transfer"], lw=2.5, label="pretrained, fine-tuned")
        (self.support_pts,) = ax.plot([], [], "o", ms=7, color=COLORS["truth"], label="support set")
        # fixed limits and few ticks: nothing but the data changes, so the rest is drawn once
        ax.set(xlabel="x", ylabel="y", xlim=tasks.x_range, xticks=[-4, -2, 0, 2, 4],
               ylim=(-1.5 * tasks.amplitude[1], 1.5 * tasks.amplitude[1]), yticks=[-5, 0, 5])
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, ncol=3)
        (self.train_curve,) = ax_loss.plot([], [], color=COLORS["transfer"], lw=1.2, ls="--", label="support")
        (self.test_curve,) = ax_loss.plot([], [], color=COLORS["transfer"], lw=2, label="query")
        (self.scratch_level,) = ax_loss.plot([], [], color=COLORS["scratch"], ls=":", lw=1.5,
                                             label="query, from scratch")
        ax_loss.set(xlabel="fine-tuning step", ylabel="MSE", xscale="symlog", yscale="log",
                    xlim=(0, max_steps), ylim=(1e-3, 1e2))
        plain_log_axis(ax_loss.yaxis)
        ax_loss.xaxis.set_major_locator(FixedLocator([0, 1, 10, 100, 1000]))
        ax_loss.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax_loss.xaxis.set_minor_locator(NullLocator())
        ax_loss.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, ncol=3)
        fig.tight_layout()
        fig.set_layout_engine(None)  # keep the positions; no hidden layout pass at every savefig
        fig.dynamic = (self.truth_line, self.scratch_line, self.tuned_line, self.support_pts,
                       self.train_curve, self.test_curve, self.scratch_level)
        self.ax, self.ax_loss = ax, ax_loss
        controls = {
            "k_shot": slider("K shots", k_shot, 1, k_max, 1, integer=True),
            "steps": slider("fine-tuning steps", steps, 0, max_steps, 1, integer=True),
            "lr": slider("learning rate alpha", lr, -3, -0.5, 0.1, log=True),
            "amplitude": slider("amplitude A", amplitude, *tasks.amplitude, 0.1),
            "phase": slider("phase b", phase, *tasks.phase, 0.05),
        }
        super().__init__(controls, fig)

    def _scratch(self, key, x_tr, y_tr):
        """The from-scratch fit depends on (A, b, K) only: cache it across learning-rate/steps moves."""
        if key not in self._scratch_cache:
            self._scratch_cache[key] = fit_from_scratch(x_tr, y_tr, seed=self.seed)
        return self._scratch_cache[key]

    def draw(self, k_shot, steps, lr, amplitude, phase):
        if not (isinstance(k_shot, int) and 1 <= k_shot <= self.k_max):
            raise ValueError(f"k_shot must be an integer in [1, {self.k_max}], got {k_shot!r}")
        if not (isinstance(steps, int) and 0 <= steps <= self.max_steps):
            raise ValueError(f"steps must be an integer in [0, {self.max_steps}], got {steps!r}")
        check_lr(lr)
        task = self.tasks.task(amplitude, phase, self.k_max, self.n_query, generator=self.seed)
        x, y = task.x_tr[0, :k_shot], task.y_tr[0, :k_shot]
        x_te, y_te = task.x_te[0], task.y_te[0]
        model = self.model
        # raises FloatingPointError (shown in the caption) if the step is too large and it diverges
        record = log_steps(steps)
        phi, train, test = fine_tune(model, self.params, x, y, steps, lr, x_te, y_te, record)
        train, test = train.tolist(), test.tolist()
        scratch = self._scratch((amplitude, phase, k_shot), x, y)
        with torch.no_grad():
            scratch_test = mse(model, scratch, x_te, y_te).item()
            truth = self.tasks.function(self.grid[None], task.amplitude, task.phase)
            self.truth_line.set_data(self.grid.flatten(), truth.flatten())
            self.tuned_line.set_data(self.grid.flatten(), model(phi, self.grid).flatten())
            self.scratch_line.set_data(self.grid.flatten(), model(scratch, self.grid).flatten())
        self.support_pts.set_data(x.flatten(), y.flatten())
        self.train_curve.set_data(list(range(steps + 1)), train)
        self.test_curve.set_data(record, test)
        self.scratch_level.set_data([0, self.max_steps], [scratch_test, scratch_test])
        mu, _ = kernel_spectrum(model, self.params, x)
        self.lr_limit = max_stable_lr(mu, k_shot)
        self.support_mse, self.query_mse, self.scratch_mse = train[-1], test[-1], scratch_test
        self.query_mse_before = test[0]
        limit = f"K/mu_max = {self.lr_limit:.3g}"
        warning = (f" lr is above {limit}, where the linearised model diverges." if lr > self.lr_limit
                   else f" (linearised stability limit {limit})")
        return (f"K = {k_shot}, {steps} steps of size {lr:.3g}: fine-tuned L_test {test[-1]:.2f} "
                f"(before: {test[0]:.2f}), from scratch L_test {scratch_test:.2f}.{warning}")


def pooled_summary(model, params, tasks=SinusoidTasks()):
    """(max |f_theta(x) - f*(x)| on a grid, E_T[L_test(f*)]): how close the network is to the optimum."""
    grid = _grid(tasks, 1001)
    with torch.no_grad():
        gap = (model(params, grid) - pooled_optimum(grid, tasks)).abs().max().item()
    return gap, pooled_optimum_mse(tasks)
