"""The deck's bilevel slide: iMAML's inner level on one task, with a lambda slider.

ProximalAdaptationPanel  the shipped iMAML's theta adapted to one held-out task by its own rule
                         (helpers.pretrained.adapter("imaml").rule: solver, CG steps, inner steps as
                         trained) with lam chosen on the slider (helpers.lessons.imaml.lam_values
                         around the shipped lam): the adapted function phi against theta's.
"""

import dataclasses
import math

import matplotlib.pyplot as plt
import torch

from helpers.checks import check_int
from helpers.lessons.imaml import lam_values
from helpers.models import flatten, mse
from helpers.plots import COLORS, LABELS
from helpers.pretrained import adapter, load_pretrained, pretrained_record
from helpers.tasks import SinusoidTasks
from helpers.widgets import CachedBackgroundFigure, Panel, slider

TASK_SEED = 4_000_004  # held-out tasks: no training run uses this seed
N_TASKS = 4


def _key(lam):
    return round(math.log10(lam), 6)


class ProximalAdaptationPanel(Panel):
    """Sliders lam and task. Solid: phi = argmin L_tr(phi) + (lam/2)||phi - theta||^2 found by the
    shipped iMAML's adaptation rule (its solver, for its trained number of inner steps) at the chosen
    lam; dashed: theta's prediction; dots: the K support points. Every (lam, task) is solved when
    the panel is built (one task-batched solve per lam), so moving a slider only redraws."""

    def __init__(self, name="imaml", task=0, n_tasks=N_TASKS, n_query=100, seed=TASK_SEED,
                 tasks=SinusoidTasks()):
        self.model, self.theta = load_pretrained(name)
        config = pretrained_record(name)["config"]
        self.shipped_lam, self.steps, self.k_shot = config["lam"], config["inner_steps"], config["k_shot"]
        self.base_rule = adapter(name).rule
        self.lams = lam_values(self.shipped_lam)
        self.n_tasks, self.tasks = n_tasks, tasks
        self.batch = tasks.sample(n_tasks, self.k_shot, n_query, seed)
        self.grid = torch.linspace(*tasks.x_range, 200).view(1, -1, 1)
        with torch.no_grad():
            self.theta_curve = self.model(self.theta, self.grid).flatten()
            self.theta_mse = mse(self.model, self.theta, self.batch.x_te, self.batch.y_te)
            self.truth = tasks.function(self.grid.expand(n_tasks, -1, -1), self.batch.amplitude,
                                        self.batch.phase)
        self._solved = {}
        for lam in self.lams:
            self._solve(lam)
        fig, ax = plt.subplots(figsize=(7.5, 3.4), FigureClass=CachedBackgroundFigure)
        x = self.grid.flatten()
        (self.truth_line,) = ax.plot(x, x * 0, color=COLORS["truth"], lw=1.5, label=LABELS["truth"])
        ax.plot(x, self.theta_curve, color=COLORS["imaml"], lw=1, ls="--", alpha=0.8,
                label="θ (meta-parameters)")
        (self.phi_line,) = ax.plot(x, x * 0, color=COLORS["imaml"], lw=2.2, label="φ adapted at λ")
        (self.support_pts,) = ax.plot([], [], "o", ms=7, color=COLORS["truth"],
                                      label=f"support set (K = {self.k_shot})")
        ax.set_xlim(*tasks.x_range)
        ax.set_ylim(-1.5 * tasks.amplitude[1], 1.5 * tasks.amplitude[1])
        ax.set(xlabel="x", ylabel="y")
        ax.locator_params(nbins=5)
        ax.legend(loc="upper right", fontsize=8, ncol=2)
        fig.tight_layout()
        fig.set_layout_engine(None)
        fig.dynamic = (self.truth_line, self.phi_line, self.support_pts)
        self.ax = ax
        lo, hi = (math.log10(v) for v in (self.lams[0], self.lams[-1]))
        controls = {
            "lam": slider("λ (lam)", self.shipped_lam, lo, hi, math.log10(2.0), log=True),
            "task": slider("task", task, 0, n_tasks - 1, 1, integer=True),
        }
        super().__init__(controls, fig)

    def _solve(self, lam):
        """(phi curves on the grid (T, G), query MSE (T,), ||phi - theta|| (T,)) at lam, cached."""
        key = _key(lam)
        if key not in self._solved:
            rule = dataclasses.replace(self.base_rule, lam=lam)
            phi = rule(self.model, self.theta, self.batch, self.steps)
            with torch.no_grad():
                curves = self.model(phi, self.grid).squeeze(-1)
                errors = mse(self.model, phi, self.batch.x_te, self.batch.y_te)
                theta = flatten({k: v.unsqueeze(0) for k, v in self.theta.items()}, batch_dims=1)
                moved = (flatten(phi, batch_dims=1) - theta).norm(dim=-1)
            self._solved[key] = (curves, errors, moved)
        return self._solved[key]

    def draw(self, lam, task):
        if not (isinstance(lam, int | float) and math.isfinite(lam)
                and self.lams[0] * 0.999 <= lam <= self.lams[-1] * 1.001):
            raise ValueError(f"lam must lie in [{self.lams[0]:.3g}, {self.lams[-1]:.3g}], got {lam!r}")
        check_int("task", task, 0, self.n_tasks - 1)
        curves, errors, moved = self._solve(lam)
        b = self.batch[task]
        x = self.grid.flatten()
        self.truth_line.set_data(x, self.truth[task].flatten())
        self.phi_line.set_data(x, curves[task])
        self.support_pts.set_data(b.x_tr.flatten(), b.y_tr.flatten())
        self.summary = (f"λ = {lam:.3g} (trained with {self.shipped_lam:g}), task {task}: query MSE "
                        f"θ {self.theta_mse[task].item():.2f} -> φ {errors[task].item():.2f}; "
                        f"||φ - θ|| = {moved[task].item():.2f} ({self.base_rule.solver}, "
                        f"{self.steps} steps)")
        return self.summary
