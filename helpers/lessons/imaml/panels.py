"""Notebook 05, iMAML: the explorer of lambda, CG steps and delta for one held-out task.

For the shipped iMAML network and meta-parameters theta (in float64) and a held-out task,
ExplorerPanel runs Algorithm 2 with the inner solver the model was meta-trained with:
    step 3  phi = the Hessian-free solver (helpers.inner.hessian_free_solve: Newton steps, each by
            CG with Hessian-vector products, and a line search) on
            G(phi) = L_tr(phi) + (lam/2)||phi - theta||^2 from theta, stopped as soon as
            ||grad G(phi)|| <= delta (meta-training stops there too, or after its budget of Newton
            steps: the plot marks that budget; the explorer lets the solve run on)
    step 4  v = grad L_test(phi)
    step 5  g = k CG steps on (I + H/lam) g = v, H the Hessian of L_tr at phi (Hessian-vector
            products only)
and compares g with the exact implicit gradient g* = (I + H*/lam)^-1 grad L_test(phi*), phi* the
same solve continued to ||grad G|| <= 1e-12 and H* formed densely (figure2.reference).

Cached per (task, lam): the solver's path (phi after every Newton step: any delta picks its stopping
step from it) and the reference; per stopping step, the CG path for every k. Moving the CG slider
then costs a redraw only; the redraw repaints just the artists that change over a cached
background (helpers.widgets.CachedBackgroundFigure).
"""

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator

from helpers.cg import conjugate_gradient
from helpers.imaml import query_grad
from helpers.inner import hessian_free_solve
from helpers.models import hvp_operator, relative_error, unflatten
from helpers.plots import COLORS, LABELS
from helpers.pretrained import load_pretrained, pretrained_record
from helpers.tasks import SinusoidTasks
from helpers.widgets import CachedBackgroundFigure, Panel, slider

from .figure2 import CONVERGED_TOL, reference
from .spectrum import cg_path

# Held-out tasks of the explorer: K = 10 support and 10 query points as in meta-training, drawn
# from a seed no training run uses.
TASK_SEED = 505
TASK_POOL = 12
TASK_INDICES = (5, 6, 2, 0)  # amplitudes 3.6, 1.0, 4.4, 0.4

MAX_NEWTON_STEPS = 25  # the explorer's solve: far beyond training's budget, down to DELTA_FLOOR
DELTA_FLOOR = 1e-8  # the smallest delta of the slider: the path stops once it is reached
MAX_CG_STEPS = 40
DELTA_EXPONENTS = (-8.0, 0.0, 0.5)
LAM_FACTORS = [2.0**i for i in range(-6, 4)]  # the lam slider: the shipped lam times 1/64 ... 8


def lam_values(lam):
    """The lam slider's positions around the shipped lam: lam / 64 ... 8 lam, by factors of 2."""
    return [lam * f for f in LAM_FACTORS]


def _key(lam):
    """Cache key of a lam (slider values are floats: compare them to 6 decimals in log10)."""
    return round(math.log10(lam), 6)


def explorer_tasks(dtype=torch.float64):
    """The explorer's held-out tasks as one TaskBatch (float64 by default)."""
    pool = SinusoidTasks().sample(TASK_POOL, 10, 10, TASK_SEED, dtype)
    return pool[torch.tensor(TASK_INDICES)]


def _stop(norms, delta):
    """Newton steps the inner solver runs for tolerance delta: the first s with norms[s] <= delta."""
    reached = (norms <= delta).nonzero()
    return reached[0].item() if len(reached) else len(norms) - 1


@dataclass
class _Solve:
    """What depends only on (task, lam): the solver's path and the exact reference."""

    grad_norms: torch.Tensor  # (S + 1,) ||grad G|| at theta, then after each Newton step
    phis: torch.Tensor  # (S + 1, P) phi at theta, then after each Newton step
    ref: object  # figure2.Reference for this one task
    star_curve: np.ndarray  # f_phi* on the plotting grid


class ExplorerPanel(Panel):
    """Sliders lam, cg_steps, delta, task; one figure: the adapted curve, the inner solver's
    gradient norms with the delta line, the CG residuals, and the meta-gradient's relative error
    against the exact implicit gradient (curve over CG steps, marker at the chosen k).

    With no arguments: the shipped "imaml" network, meta-parameters, lam, delta and inner solver (its
    CG steps per Newton step; its budget of Newton steps is marked). precompute: (task, lam) pairs
    to solve at construction rather than on first visit.
    """

    def __init__(self, model=None, params=None, tasks=None, lam=None, cg_steps=10, delta=None, task=0,
                 solver_cg_steps=None, train_steps=None, max_cg_steps=MAX_CG_STEPS, cache_size=16,
                 precompute=()):
        if params is None:
            model, params = load_pretrained("imaml")
            config = pretrained_record("imaml")["config"]
            lam = config["lam"] if lam is None else lam
            delta = config["delta"] if delta is None else delta
            solver_cg_steps = config["solver_cg_steps"] if solver_cg_steps is None else solver_cg_steps
            train_steps = config["inner_steps"] if train_steps is None else train_steps
        delta = 1e-3 if delta is None else delta
        self.default_lam = 1.0 if lam is None else lam
        self.lam_values = lam_values(self.default_lam)
        self.solver_cg_steps = 10 if solver_cg_steps is None else solver_cg_steps
        self.train_steps = train_steps
        self.model = model
        self.theta = {k: v.detach().double() for k, v in params.items()}
        self.tasks = explorer_tasks() if tasks is None else tasks
        self.max_cg_steps, self.cache_size = max_cg_steps, cache_size
        self.grid = torch.linspace(-5, 5, 200, dtype=torch.float64).view(1, -1, 1)
        self._cache = OrderedDict()  # (task, lam) -> _Solve
        self._paths = OrderedDict()  # (task, lam, Newton step) -> CG path and errors
        self._curves = {}  # task -> (truth, meta-init prediction) on the grid
        for t, lam_ in precompute:
            self._solve(t, lam_)
        self._build_figure()
        lo, hi = (math.log10(v) for v in (self.lam_values[0], self.lam_values[-1]))
        controls = {
            "lam": slider("λ (lam)", self.default_lam, lo, hi, math.log10(2.0), log=True),
            "cg_steps": slider("CG steps k", cg_steps, 0, max_cg_steps, 1, integer=True),
            "delta": slider("δ (delta)", delta, *DELTA_EXPONENTS, log=True, readout_format=".0e"),
            "task": slider("task", task, 0, self.tasks.n_tasks - 1, 1, integer=True),
        }
        super().__init__(controls, self.fig)

    # ------------------------------------------------------------------ computation

    def _task(self, task):
        return self.tasks[task]

    def _solve(self, task, lam):
        """Cached inner-solver path and reference for (task, lam)."""
        key = (task, _key(lam))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        b = self._task(task)
        trace = []
        sol = hessian_free_solve(self.model, self.theta, b.x_tr, b.y_tr, lam, MAX_NEWTON_STEPS,
                                 DELTA_FLOOR, self.solver_cg_steps, trace=trace)
        start = torch.cat([v.reshape(1, -1) for v in self.theta.values()], dim=1)
        phis = torch.cat([start] + [f for f, *_ in trace])
        # the reference: the same solve, continued with exact Newton steps to ||grad G|| <= 1e-12
        ref = reference(self.model, self.theta, b, lam, phi=sol.phi)
        with torch.no_grad():
            star_curve = self.model(ref.phi, self.grid).flatten().numpy()
        solve = _Solve(sol.grad_norms[:, 0], phis, ref, star_curve)
        self._cache[key] = solve
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return solve

    def residuals(self, lam, cg_steps, delta, task):
        """CG's relative residuals ||r_j|| / ||v||, j = 0..cg_steps, for these settings (steps 3-5)."""
        self._check(lam, cg_steps, delta, task)
        solve = self._solve(task, lam)
        phi = self._phi_at(solve, _stop(solve.grad_norms, delta))
        b = self._task(task)
        _, v = query_grad(self.model, phi, b.x_te, b.y_te)
        hvp = hvp_operator(self.model, phi, b.x_tr, b.y_tr, self.theta)
        res = conjugate_gradient(lambda u: u + hvp(u) / lam, v, cg_steps).residuals[:, 0]
        return res / res[0]

    def gradient_norms(self, task, lam):
        """||grad G(phi_s)|| along the inner solver's path for (task, lam), shape (S + 1,)."""
        return self._solve(task, lam).grad_norms

    def _phi_at(self, solve, step):
        """phi after `step` Newton steps (one task, with its task axis)."""
        return unflatten(solve.phis[step:step + 1], self.theta)

    def _check(self, lam, cg_steps, delta, task):
        if not (isinstance(lam, int | float) and math.isfinite(lam) and lam > 0):
            raise ValueError(f"lam must be a number > 0, got {lam!r}")
        if not (isinstance(delta, int | float) and delta >= 0):
            raise ValueError(f"delta must be a number >= 0, got {delta!r}")
        if not (isinstance(cg_steps, int) and 0 <= cg_steps <= self.max_cg_steps):
            raise ValueError(f"cg_steps must be an integer in [0, {self.max_cg_steps}], got {cg_steps!r}")
        if not (isinstance(task, int) and 0 <= task < self.tasks.n_tasks):
            raise ValueError(f"task must be an integer in [0, {self.tasks.n_tasks - 1}], got {task!r}")

    def _meta_gradient(self, solve, task, lam, step):
        """Steps 4-5 at phi after `step` Newton steps, for every number of CG steps up to the maximum
        at once (cached: moving only the CG slider then costs no computation)."""
        key = (task, _key(lam), step)
        if key not in self._paths:
            phi = self._phi_at(solve, step)
            b = self._task(task)
            _, v = query_grad(self.model, phi, b.x_te, b.y_te)  # step 4
            hvp = hvp_operator(self.model, phi, b.x_tr, b.y_tr, self.theta)
            path = cg_path(lambda u: u + hvp(u) / lam, v, self.max_cg_steps)  # step 5
            exact = solve.ref.g[0]
            with torch.no_grad():
                curve = self.model(phi, self.grid).flatten().numpy()
            res = path.result.residuals[:, 0] / v.norm()
            # CG stops early when it meets p^T A p <= 0: its residual stays where it stopped
            res = torch.cat([res, res[-1:].expand(self.max_cg_steps + 1 - len(res))])
            self._paths[key] = {
                "phi": phi, "curve": curve, "xs": path.xs[:, 0],
                "residuals": res.numpy(),
                "errors": relative_error(path.xs[:, 0], exact).numpy(),
                "fo_error": relative_error(v[0], exact).item(), "breakdown": path.breakdown[0].item(),
            }
            while len(self._paths) > 4 * self.cache_size:
                self._paths.popitem(last=False)
        return self._paths[key]

    def compute(self, lam, cg_steps, delta, task):
        """Algorithm 2 for these settings, and its error: a dict of everything draw() shows."""
        self._check(lam, cg_steps, delta, task)
        solve = self._solve(task, lam)
        norms = solve.grad_norms
        step = _stop(norms, delta)  # step 3: Newton steps until ||grad G|| <= delta
        out = dict(self._meta_gradient(solve, task, lam, step))
        out.update(solve=solve, step=step, grad_norm=norms[step].item(),
                   stopped_at_delta=norms[step].item() <= delta,
                   error=float(out["errors"][cg_steps]), meta_grad=out["xs"][cg_steps])
        return out

    # ------------------------------------------------------------------ figure

    def _build_figure(self):
        # Rendering the PNG is most of an update: three axes at dpi 72, unicode instead of mathtext
        # (whose parser is slow), and only major ticks, plainly labelled, on the log axes.
        fig = CachedBackgroundFigure(figsize=(13.5, 3.9), dpi=72)
        axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.15, 1, 1]})
        ax_fit, ax_inner, ax_cg = axes
        self.fig, self.axes = fig, axes
        grid = self.grid.flatten().numpy()
        zero = 0 * grid
        (self.truth_line,) = ax_fit.plot(grid, zero, color=COLORS["truth"], lw=1.5,
                                         label=LABELS["truth"])
        (self.theta_line,) = ax_fit.plot(grid, zero, color=COLORS["scratch"], lw=1.2, ls="--",
                                         label="meta-init θ")
        (self.star_line,) = ax_fit.plot(grid, zero, color=COLORS["imaml"], lw=5, alpha=0.25,
                                        label="exact φ*")
        (self.phi_line,) = ax_fit.plot(grid, zero, color=COLORS["imaml"], lw=1.8,
                                       label="φ: solve stopped at δ")
        (self.support,) = ax_fit.plot([], [], "o", color=COLORS["truth"], ms=6,
                                      label="support set D_tr")
        ax_fit.set(xlim=(-5, 5), ylim=(-6.5, 6.5), xlabel="x", ylabel="y",
                   title="step 3: the adapted model")
        self.task_text = ax_fit.text(0.02, 0.97, "", transform=ax_fit.transAxes, va="top", fontsize=9)
        ax_fit.legend(fontsize=7, loc="lower left", ncol=2)

        (self.norm_line,) = ax_inner.semilogy([0], [1], "o-", color=COLORS["imaml"], lw=1.2, ms=3,
                                              alpha=0.35)
        (self.norm_used,) = ax_inner.semilogy([0], [1], "o-", color=COLORS["imaml"], lw=1.8, ms=4,
                                              label="‖∇G(φ_s)‖")
        self.delta_line = ax_inner.axhline(1e-3, color="k", ls="--", lw=1, label="δ")
        (self.stop_marker,) = ax_inner.semilogy([0], [1], "o", color=COLORS["imaml"], ms=9)
        if self.train_steps is not None:
            ax_inner.axvline(self.train_steps, color="0.5", ls=":", lw=1.2,
                             label=f"training's budget ({self.train_steps} steps)")
        ax_inner.set(xlim=(-0.5, MAX_NEWTON_STEPS + 0.5), ylim=(1e-14, 1e2), xlabel="Newton step s",
                     ylabel="‖∇G‖", title="step 3: inner solver, stops at ‖∇G‖ ≤ δ")
        ax_inner.legend(fontsize=8, loc="lower left")

        j = np.arange(self.max_cg_steps + 1)
        (self.res_line,) = ax_cg.semilogy(j, j + 1.0, color="k", lw=1.0, alpha=0.3)
        (self.res_used,) = ax_cg.semilogy(j, j + 1.0, color="k", lw=1.5,
                                          label="CG residual ‖r_j‖ / ‖v‖")
        (self.err_line,) = ax_cg.semilogy(j, j + 1.0, color=COLORS["imaml"], lw=1.0, alpha=0.35)
        (self.err_used,) = ax_cg.semilogy(j, j + 1.0, color=COLORS["imaml"], lw=2,
                                          label="meta-gradient error ‖g_j − g*‖ / ‖g*‖")
        self.fo_line = ax_cg.axhline(1.0, color=COLORS["fomaml"], ls="--", lw=1.2,
                                     label="error of first-order (dφ/dθ ≈ I)")
        (self.err_marker,) = ax_cg.semilogy([0], [1], "o", color=COLORS["imaml"], ms=9)
        self.err_text = ax_cg.annotate("", (0, 1), xytext=(0, 12), textcoords="offset points",
                                       fontsize=11, color=COLORS["imaml"], weight="bold",
                                       bbox={"fc": "white", "ec": "none", "alpha": 0.85, "pad": 1})
        ax_cg.set(xlim=(0, self.max_cg_steps), ylim=(1e-12, 30), xlabel="CG iteration j",
                  title="step 5: CG on (I + H/λ) g = v")
        ax_cg.legend(fontsize=7, loc="lower left")
        plain = FuncFormatter(lambda value, _: f"{value:.0e}".replace("e+00", "").replace("e-0", "e-")
                              .replace("e+0", "e"))
        for axis in (ax_inner.yaxis, ax_cg.yaxis):
            axis.set_major_locator(LogLocator(base=10, numticks=5))
            axis.set_minor_locator(NullLocator())
            axis.set_major_formatter(plain)
        ax_inner.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
        fig.tight_layout()
        fig.dynamic = [self.truth_line, self.theta_line, self.star_line, self.phi_line, self.support,
                       self.task_text, self.norm_line, self.norm_used, self.delta_line, self.stop_marker,
                       self.res_line, self.res_used, self.err_line, self.err_used, self.fo_line,
                       self.err_marker, self.err_text]

    def _task_curves(self, task):
        """The true function and the meta-init's prediction on the grid (cached per task)."""
        if task not in self._curves:
            b = self._task(task)
            theta = {k: v.unsqueeze(0) for k, v in self.theta.items()}
            with torch.no_grad():
                self._curves[task] = (
                    SinusoidTasks.function(self.grid, b.amplitude, b.phase).flatten().numpy(),
                    self.model(theta, self.grid).flatten().numpy(),
                )
        return self._curves[task]

    def draw(self, lam, cg_steps, delta, task):
        out = self.compute(lam, cg_steps, delta, task)
        self.last = out
        b = self._task(task)
        solve = out["solve"]
        truth, init = self._task_curves(task)
        self.truth_line.set_ydata(truth)
        self.theta_line.set_ydata(init)
        self.star_line.set_ydata(solve.star_curve)
        self.phi_line.set_ydata(out["curve"])
        self.support.set_data(b.x_tr.flatten().numpy(), b.y_tr.flatten().numpy())
        self.task_text.set_text(f"task {task}: A = {b.amplitude.item():.2f}, b = {b.phase.item():.2f}")

        norms = solve.grad_norms.clamp(min=1e-30).numpy()
        s = np.arange(len(norms))
        stop = out["step"]
        self.norm_line.set_data(s, norms)
        self.norm_used.set_data(s[: stop + 1], norms[: stop + 1])
        self.delta_line.set_ydata([max(delta, 1e-30)] * 2)
        self.stop_marker.set_data([stop], [norms[stop]])

        j = np.arange(self.max_cg_steps + 1)
        res = np.maximum(out["residuals"], 1e-30)
        errs = np.maximum(out["errors"], 1e-30)
        self.res_line.set_data(j, res)
        self.res_used.set_data(j[: cg_steps + 1], res[: cg_steps + 1])
        self.err_line.set_data(j, errs)
        self.err_used.set_data(j[: cg_steps + 1], errs[: cg_steps + 1])
        self.fo_line.set_ydata([out["fo_error"]] * 2)
        self.err_marker.set_data([cg_steps], [errs[cg_steps]])
        self.err_text.set_text(f"k = {cg_steps}: error {out['error']:.1e}")
        self.err_text.xy = (cg_steps, errs[cg_steps])
        self.err_text.set_y(12 if errs[cg_steps] < 1e-2 else -22)  # keep clear of the top line
        self.err_text.set_horizontalalignment("right" if cg_steps > self.max_cg_steps / 2 else "left")
        out["caption"] = self._caption(out, lam, cg_steps, delta)
        return out["caption"]

    def _caption(self, out, lam, cg_steps, delta):
        ref = out["solve"].ref
        text = (f"λ = {lam:.3g}, δ = {delta:.0e}, k = {cg_steps} CG steps: meta-gradient relative "
                f"error {out['error']:.1e} against the exact implicit gradient at φ* (first-order: "
                f"{out['fo_error']:.1e}). Inner solve: {out['step']} Newton steps, "
                f"‖∇G‖ = {out['grad_norm']:.1e}.")
        if self.train_steps is not None and out["step"] > self.train_steps:
            text += (f" Meta-training stops after {self.train_steps} Newton steps: it would not reach "
                     "this δ here.")
        if out["breakdown"] >= 0:
            when = ("within" if out["breakdown"] < cg_steps else "after")
            text += (f" ⚠ I + H/λ is NOT positive definite at this φ (λ too small): CG met a "
                     f"direction with pᵀ(I + H/λ)p ≤ 0 at iteration {out['breakdown']}, {when} the "
                     f"{cg_steps} steps used, and stopped there instead of returning NaN. The implicit "
                     "gradient is not trustworthy here: raise λ.")
        if not out["stopped_at_delta"]:
            text += " ⚠ The inner solver did not reach ‖∇G‖ ≤ δ."
        if not ref.converged.item():
            text += (f" ⚠ The reference φ* could not be solved to ‖∇G‖ ≤ {CONVERGED_TOL:.0e} (it stalls "
                     f"at {ref.grad_norm.item():.0e}): g* is only approximate here, and a δ below that "
                     "level may be unreachable.")
        elif not ref.positive_definite.item():
            text += " ⚠ I + H*/λ is not positive definite even at φ*."
        return text
