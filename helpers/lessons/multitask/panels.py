"""Notebook 02, multi-task learning: figures and widgets.

load_models        the shipped multi-task models (one per number of training tasks) and the baseline
tradeoff_table     per-task MSE of the shared-trunk model vs one network per task, for every M
plot_tradeoff      mean per-task MSE vs M, and each task's two errors
plot_head_spectrum singular values of the trained heads (how many directions the tasks need)
TradeOffPanel      number of training tasks M and task sliders: shared head vs separate network
NewHeadPanel       M, K shots and lambda sliders: a new head fitted in closed form on the frozen trunk
"""

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import MaxNLocator

from helpers.evaluation import mean_ci
from helpers.lessons.transfer.finetune import HELD_OUT_SEED, held_out_batch
from helpers.plots import COLORS, LABELS, plain_log_axis
from helpers.pretrained import load_pretrained, pretrained_record
from helpers.tasks import SinusoidTasks
from helpers.widgets import CachedBackgroundFigure, Panel, slider

from .heads import (
    N_TASKS,
    SEPARATE,
    design_matrix,
    fit_head,
    head_mse,
    mean_head,
    model_name,
    per_task_mse,
    shipped_tasks,
)

SEPARATE_LABEL = "one network per task"


def load_models(n_tasks=N_TASKS):
    """{M: (model, params)} for the shipped multi-task models, the baseline (model, params) of one
    network per task (first M networks = first M tasks) and the pool's (amplitude, phase)."""
    models = {m: load_pretrained(model_name(m)) for m in n_tasks}
    separate = load_pretrained(SEPARATE)
    amplitude, phase = shipped_tasks(pretrained_record(SEPARATE))
    for m in n_tasks:  # every model must have been trained on the first M tasks of the same pool
        a, b = shipped_tasks(pretrained_record(model_name(m)))
        if not (torch.allclose(a, amplitude[:m]) and torch.allclose(b, phase[:m])):
            raise ValueError(f"{model_name(m)} was trained on other tasks than the first {m} of the pool")
    return models, separate, (amplitude, phase)


def tradeoff_table(models, separate, tasks_ab):
    """{M: {"shared": (M,), "separate": (M,)}}: per-task MSE on the training tasks' true curves."""
    amplitude, phase = tasks_ab
    out = {}
    for m, (model, params) in models.items():
        out[m] = {"shared": per_task_mse(model, params, amplitude[:m], phase[:m]),
                  "separate": per_task_mse(*separate, amplitude[:m], phase[:m])}
    return out


def plot_tradeoff(table):
    """Left: every task's MSE (dots) and the mean per-task MSE (line) against M, shared trunk vs one
    network per task. Right: for the largest M, each task's shared-trunk MSE against its own
    network's (above the diagonal: sharing hurts that task)."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    ms = list(table)
    for key, color, label, shift in (("shared", COLORS["multitask"], "shared trunk, one head per task", 0.93),
                                     ("separate", COLORS["scratch"], SEPARATE_LABEL, 1.07)):
        for m in ms:
            ax.plot([m * shift] * m, table[m][key], "o", ms=2.5, color=color, alpha=0.35)
        ax.plot([m * shift for m in ms], [table[m][key].mean() for m in ms], color=color, marker="o", lw=2,
                label=f"{label} (line: mean)")
    ax.set(xscale="log", yscale="log", xlabel="number of training tasks M", ylabel="per-task MSE",
           title="same budget: 3,000 Adam steps, 20 fresh points per task per step")
    ax.title.set_fontsize(9)
    ax.set_xticks(ms, [str(m) for m in ms])
    ax.minorticks_off()
    ax.legend(fontsize=8, loc="lower left")
    m = ms[-1]
    sep, sh = table[m]["separate"], table[m]["shared"]
    lo, hi = min(sep.min(), sh.min()).item() / 2, max(sep.max(), sh.max()).item() * 2
    ax2.plot([lo, hi], [lo, hi], color="0.5", lw=1, ls="--")
    ax2.scatter(sep, sh, color=COLORS["multitask"], s=18)
    ax2.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel=f"MSE, {SEPARATE_LABEL}",
            ylabel="MSE, shared trunk", title=f"M = {m}: one point per training task")
    ax2.text(0.03, 0.95, "sharing hurts", transform=ax2.transAxes, fontsize=8, va="top", color="0.4")
    ax2.text(0.97, 0.05, "sharing helps", transform=ax2.transAxes, fontsize=8, ha="right", color="0.4")
    ax2.title.set_fontsize(9)
    fig.tight_layout()
    return fig, (ax, ax2)


def plot_head_spectrum(model, params):
    """Singular values of the centred head matrix [w_i - w_bar, c_i - c_bar] (M x (hidden+1))."""
    heads = model.head_matrix(params)
    s = torch.linalg.svdvals(heads - heads.mean(0))
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(torch.arange(1, s.numel() + 1), s, color=COLORS["multitask"])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="direction j", ylabel="singular value",
           title=f"the {model.n_heads} trained heads, centred on their mean")
    fig.tight_layout()
    return fig, ax, s


def new_head_errors(models, k_shots=(5, 10, 20), lam=1e-3, seed=HELD_OUT_SEED, n_tasks=100):
    """{K: {M: (mean, ci)}}: held-out query MSE of closed-form new heads on each model's trunk."""
    out = {}
    for k in k_shots:
        batch = held_out_batch(k, n_tasks, seed)
        out[k] = {m: mean_ci(head_mse(model, params, fit_head(model, params, batch.x_tr, batch.y_tr, lam),
                                      batch.x_te, batch.y_te))
                  for m, (model, params) in models.items()}
    return out


def plot_new_head_errors(errors):
    """Mean held-out query MSE of new heads against the trunk's number of training tasks M, per K
    (means only: the errors are heavy-tailed, a symmetric CI would reach below zero on a log axis)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    shades = torch.linspace(0.45, 1.0, len(errors)).tolist()
    for (k, by_m), alpha in zip(errors.items(), shades, strict=True):
        ax.plot(list(by_m), [v[0] for v in by_m.values()], color=COLORS["multitask"], alpha=alpha, marker="o",
                label=f"K = {k}")
    ms = list(next(iter(errors.values())))
    ax.set(xscale="log", yscale="log", xlabel="training tasks M of the trunk",
           ylabel="new head's mean query MSE")
    ax.set_xticks(ms, [str(m) for m in ms])
    ax.minorticks_off()
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig, ax


def _selection(description, options, value):
    return widgets.SelectionSlider(options=list(options), value=value, description=description,
                                   continuous_update=False, style={"description_width": "initial"})


class TradeOffPanel(Panel):
    """Number of training tasks M and a task among them: the true curve, the shared-trunk model's
    head for it and the task's own network; right, every task's two errors (the trade-off)."""

    def __init__(self, models, separate, tasks_ab, n_tasks=20, task=1, tasks=SinusoidTasks()):
        self.models, self.separate, self.tasks = models, separate, tasks
        self.amplitude, self.phase = tasks_ab
        self.table = tradeoff_table(models, separate, tasks_ab)
        self.grid = torch.linspace(*tasks.x_range, 200).view(1, -1, 1)
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.5, 3.6), gridspec_kw={"width_ratios": [1.5, 1]},
                                      FigureClass=CachedBackgroundFigure)
        (self.truth_line,) = ax.plot([], [], color=COLORS["truth"], lw=1.5, label=LABELS["truth"])
        (self.separate_line,) = ax.plot([], [], color=COLORS["scratch"], lw=2.5, label=SEPARATE_LABEL)
        (self.shared_line,) = ax.plot([], [], color=COLORS["multitask"], lw=2, ls="--",
                                      label="shared trunk, this task's head")
        ax.set(xlabel="x", ylabel="y", xlim=tasks.x_range, xticks=[-4, -2, 0, 2, 4], yticks=[-5, 0, 5],
               ylim=(-1.2 * tasks.amplitude[1], 1.2 * tasks.amplitude[1]))
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, ncol=3)
        lo = min(min(t["shared"].min(), t["separate"].min()).item() for t in self.table.values()) / 2
        hi = max(max(t["shared"].max(), t["separate"].max()).item() for t in self.table.values()) * 2
        ax2.plot([lo, hi], [lo, hi], color="0.5", lw=1, ls="--")
        self.points = ax2.scatter([], [], color=COLORS["multitask"], s=16)
        (self.highlight,) = ax2.plot([], [], "o", ms=11, mfc="none", mec=COLORS["truth"], mew=1.5)
        ax2.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel=f"MSE, {SEPARATE_LABEL}",
                ylabel="MSE, shared trunk")
        for axis in (ax2.xaxis, ax2.yaxis):
            plain_log_axis(axis)
        ax2.text(0.03, 0.95, "sharing hurts", transform=ax2.transAxes, fontsize=8, va="top", color="0.4")
        ax2.text(0.97, 0.05, "sharing helps", transform=ax2.transAxes, fontsize=8, ha="right", color="0.4")
        ax2.set_title("every training task", fontsize=9)
        fig.tight_layout()
        fig.set_layout_engine(None)  # keep the positions; no hidden layout pass at every savefig
        fig.dynamic = (self.truth_line, self.separate_line, self.shared_line, self.points, self.highlight)
        self.ax, self.ax2 = ax, ax2
        controls = {"n_tasks": _selection("training tasks M", models, n_tasks),
                    "task": slider("task", task, 1, max(models), 1, integer=True)}
        super().__init__(controls, fig)

    def draw(self, n_tasks, task):
        if n_tasks not in self.models:
            raise ValueError(f"n_tasks must be one of {list(self.models)}, got {n_tasks!r}")
        if not isinstance(task, int) or task < 1:
            raise ValueError(f"task must be an integer >= 1, got {task!r}")
        if task > n_tasks:  # no head for it in this model: move the slider to the last task, M
            task = n_tasks
            self._muted = True
            try:
                self.controls["task"].value = task
            finally:
                self._muted = False
        i = task - 1
        amp, ph = self.amplitude[i : i + 1], self.phase[i : i + 1]
        model, params = self.models[n_tasks]
        with torch.no_grad():
            shared = model(params, self.grid, torch.tensor([i]))
            own = self.separate[0](self.separate[1], self.grid, torch.tensor([i]))
        x = self.grid.flatten()
        self.truth_line.set_data(x, self.tasks.function(self.grid, amp, ph).flatten())
        self.shared_line.set_data(x, shared.flatten())
        self.separate_line.set_data(x, own.flatten())
        t = self.table[n_tasks]
        self.points.set_offsets(torch.stack([t["separate"], t["shared"]], 1).numpy())
        self.highlight.set_data([t["separate"][i].item()], [t["shared"][i].item()])
        hurt = int((t["shared"] > t["separate"]).sum())
        self.shared_mse, self.separate_mse = t["shared"][i].item(), t["separate"][i].item()
        return (f"M = {n_tasks}: mean per-task MSE {t['shared'].mean():.4f} with the shared trunk, "
                f"{t['separate'].mean():.4f} with one network per task; sharing hurts {hurt} of {n_tasks} "
                f"tasks. Task {task} (A = {amp.item():.2f}, b = {ph.item():.2f}): "
                f"shared {self.shared_mse:.4f}, "
                f"own network {self.separate_mse:.4f}.")


class NewHeadPanel(Panel):
    """A new task: a head fitted in closed form (ridge towards the mean head, strength lam) on the
    first K support points, on the frozen trunk of the model trained on M tasks. Right: the mean
    query MSE of such heads on held-out tasks against K, for this M and lam."""

    def __init__(self, models, amplitude=3.5, phase=2.0, n_tasks=20, k_shot=5, lam=1e-3, k_max=20,
                 n_held_out=100, seed=1, held_out_seed=HELD_OUT_SEED, baselines=None, tasks=SinusoidTasks()):
        self.models, self.tasks, self.k_max = models, tasks, k_max
        self.task = tasks.task(amplitude, phase, k_max, 100, generator=seed)
        self.held_out = tasks.sample(n_held_out, k_max, 100, held_out_seed)
        # Phi of the held-out tasks per M, once: a slider move then costs one small solve per K
        self._phi, self._curves = {}, {}
        for m, mp in models.items():
            phi_te = design_matrix(*mp, self.held_out.x_te).double()
            y_te = self.held_out.y_te.double()
            self._phi[m] = (design_matrix(*mp, self.held_out.x_tr).double(),
                            phi_te.transpose(-1, -2) @ phi_te, phi_te.transpose(-1, -2) @ y_te,
                            y_te.pow(2).sum(dim=(-2, -1)))
        self.ks = list(range(1, k_max + 1))
        self.grid = torch.linspace(*tasks.x_range, 200).view(1, -1, 1)
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.5, 3.6), gridspec_kw={"width_ratios": [1.5, 1]},
                                      FigureClass=CachedBackgroundFigure)
        truth = tasks.function(self.grid, self.task.amplitude, self.task.phase)
        ax.plot(self.grid.flatten(), truth.flatten(), color=COLORS["truth"], lw=1.5, label=LABELS["truth"])
        (self.mean_line,) = ax.plot([], [], color=COLORS["multitask"], lw=1.2, ls="--",
                                    label="mean head (K = 0)")
        (self.head_line,) = ax.plot([], [], color=COLORS["multitask"], lw=2.5, label="new head, fitted")
        (self.support_pts,) = ax.plot([], [], "o", ms=7, color=COLORS["truth"], label="support set")
        ax.set(xlabel="x", ylabel="y", xlim=tasks.x_range, xticks=[-4, -2, 0, 2, 4], yticks=[-5, 0, 5],
               ylim=(-1.5 * tasks.amplitude[1], 1.5 * tasks.amplitude[1]))
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, ncol=4)
        (self.curve,) = ax2.plot(self.ks, [1.0] * len(self.ks), color=COLORS["multitask"], lw=2, marker="o",
                                 ms=3, label="new head")
        (self.marker,) = ax2.plot([], [], "o", ms=10, mfc="none", mec=COLORS["truth"], mew=1.5)
        for name, values in (baselines or {}).items():
            label = LABELS[name] if name != "transfer" else "pretrained, 10 steps"
            ax2.plot(list(values), [v[0] for v in values.values()], color=COLORS[name], marker="s", ls=":",
                     label=label)
        ax2.set(yscale="log", ylim=(1e-3, 1e2), xlabel="K shots", ylabel="mean query MSE, held-out tasks",
                xlim=(0.5, k_max + 0.5), xticks=[1, 5, 10, 15, 20])
        plain_log_axis(ax2.yaxis)
        ax2.legend(fontsize=7, loc="lower left")
        fig.tight_layout()
        fig.set_layout_engine(None)  # keep the positions; no hidden layout pass at every savefig
        fig.dynamic = (self.mean_line, self.head_line, self.support_pts, self.curve, self.marker)
        self.ax, self.ax2 = ax, ax2
        controls = {"n_tasks": _selection("training tasks M", models, n_tasks),
                    "k_shot": slider("K shots", k_shot, 1, k_max, 1, integer=True),
                    "lam": slider("lambda", lam, -5, 1, 0.25, log=True)}
        super().__init__(controls, fig)

    def held_out_curve(self, n_tasks, lam):
        """Mean query MSE of closed-form heads on the held-out tasks for each K in self.ks:
        a list of (mean, ci). Cached per (M, lam): moving the K slider costs nothing."""
        key = (n_tasks, lam)
        if key not in self._curves:
            model, params = self.models[n_tasks]
            phi_tr, gram_te, b_te, yy = self._phi[n_tasks]
            w_bar = mean_head(model, params).double().unsqueeze(-1)
            curve = []
            for k in self.ks:
                p, y = phi_tr[:, :k], self.held_out.y_tr[:, :k].double()
                # fit_head's solution in its dual form, a K x K solve instead of 41 x 41:
                # (P^T P / K + lam/2 I)^-1 P^T r / K = P^T (P P^T + (lam K / 2) I)^-1 r
                gram = p @ p.transpose(-1, -2) + 0.5 * lam * k * torch.eye(k, dtype=torch.float64)
                w = w_bar + p.transpose(-1, -2) @ torch.linalg.solve(gram, y - p @ w_bar)
                # ||Phi_te w - y_te||^2 / N from the precomputed Phi_te^T Phi_te, Phi_te^T y_te, y_te^T y_te
                sq = (w.transpose(-1, -2) @ gram_te @ w - 2 * w.transpose(-1, -2) @ b_te)[:, 0, 0] + yy
                curve.append(mean_ci(sq.clamp_min(0.0) / self.held_out.y_te.shape[1]))
            self._curves[key] = curve
        return self._curves[key]

    def draw(self, n_tasks, k_shot, lam):
        if n_tasks not in self.models:
            raise ValueError(f"n_tasks must be one of {list(self.models)}, got {n_tasks!r}")
        if not (isinstance(k_shot, int) and 1 <= k_shot <= self.k_max):
            raise ValueError(f"k_shot must be an integer in [1, {self.k_max}], got {k_shot!r}")
        model, params = self.models[n_tasks]
        x, y = self.task.x_tr[:, :k_shot], self.task.y_tr[:, :k_shot]
        w = fit_head(model, params, x, y, lam)  # ValueError for a bad lam
        w_bar = mean_head(model, params)[None]
        with torch.no_grad():
            phi_grid = design_matrix(model, params, self.grid)
            query = design_matrix(model, params, self.task.x_te)
            self.query_mse = (query @ w.unsqueeze(-1) - self.task.y_te).pow(2).mean().item()
            self.mean_head_mse = (query @ w_bar.unsqueeze(-1) - self.task.y_te).pow(2).mean().item()
        self.mean_line.set_data(self.grid.flatten(), (phi_grid @ w_bar.unsqueeze(-1)).flatten())
        self.head_line.set_data(self.grid.flatten(), (phi_grid @ w.unsqueeze(-1)).flatten())
        self.support_pts.set_data(x.flatten(), y.flatten())
        curve = self.held_out_curve(n_tasks, lam)
        self.curve.set_ydata([c[0] for c in curve])
        j = k_shot - 1
        self.marker.set_data([self.ks[j]], [curve[j][0]])
        self.held_out_mse = curve[j]
        return (f"M = {n_tasks}, K = {k_shot}, lambda = {lam:.3g}: this task's query MSE "
                f"{self.query_mse:.3f} "
                f"(mean head alone: {self.mean_head_mse:.2f}); on {self.held_out.n_tasks} held-out tasks "
                f"{curve[j][0]:.3f} ± {curve[j][1]:.3f}.")
