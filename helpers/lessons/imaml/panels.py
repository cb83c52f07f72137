"""Notebook 05, iMAML: the explorer of lambda, CG steps and delta for one held-out task.

For the shipped iMAML meta-parameters theta, run in the network with its ReLUs replaced by a sharp
softplus (helpers.models.SoftplusMLP: within 0.035 of ReLU per unit, and smooth, so that phi* has
a Hessian and the implicit gradient exists; with ReLU most minimisers sit on a hinge, see
notebook 05 section 8), and a held-out task, ExplorerPanel runs Algorithm 2 in float64:
    step 3  phi = gradient descent on G(phi) = L_tr(phi) + (lam/2)||phi - theta||^2 from theta
            (up to MAX_INNER_STEPS steps), then damped Newton steps, stopped as soon as
            ||grad G(phi)|| <= delta (the inner solver's tolerance)
    step 4  v = grad L_test(phi)
    step 5  g = k CG steps on (I + H/lam) g = v, H the Hessian of L_tr at phi (Hessian-vector
            products only)
and compares g with the exact implicit gradient g* = (I + H*/lam)^-1 grad L_test(phi*), phi*
the last Newton iterate (||grad G|| <= 1e-12) and H* dense (figure2.exact_implicit_grads).

What depends only on (task, lam) is computed once and cached: the gradient-descent path (for every
lam of the slider at once, at a task's first visit: its gradient norms, and phi every CHECKPOINT
steps, from which any stopping step is replayed in a few steps), the Newton steps and the
reference. The CG path for every k is cached per stopping step. Moving the CG slider then costs a
redraw only, moving delta ~40 Hessian-vector products; the redraw repaints just the artists that
change over a cached background (_BlitFigure).
"""

import io
import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

from helpers.cg import conjugate_gradient
from helpers.imaml import hvp_operator, query_grad
from helpers.inner import proximal_objective
from helpers.models import SoftplusMLP, flatten, loss_grad, per_task, relative_error, task_norm, unflatten
from helpers.plots import COLORS, LABELS
from helpers.pretrained import load_pretrained, pretrained_record
from helpers.tasks import SinusoidTasks
from helpers.widgets import Panel, slider

from .figure2 import SMOOTH_BETA, SMOOTH_TOL, Reference, exact_implicit_grads, solve_inner_exactly
from .spectrum import cg_path

# Held-out tasks of the explorer: K = 10 support and 10 query points as in meta-training, drawn
# from a seed no training run uses (tests check that phi* is a smooth minimiser for each of them at
# the shipped lam).
TASK_SEED = 505
TASK_POOL = 12
TASK_INDICES = (5, 6, 2, 0)  # amplitudes 3.6, 1.0, 4.4, 0.4

# The shipped inner step size. The shipped theta is sharp (e_max(H) ~ 500-1000, above 2/0.01 - lam):
# proximal_solve's rule (reject a step that raises G, halve the step size) keeps it stable.
INNER_LR = 0.01
MAX_INNER_STEPS = 300  # gradient steps; then Newton steps (NEWTON_STEPS at most)
NEWTON_STEPS = 15
DELTA_FLOOR = 1e-6  # the smallest delta of the slider: the path stops once it is reached
CHECKPOINT = 25
MAX_CG_STEPS = 40
LAM_VALUES = [2.0**i for i in range(-3, 4)]  # 1/8 ... 8, with the shipped 1 and 2 on the grid
LAM_EXPONENTS = (math.log10(LAM_VALUES[0]), math.log10(LAM_VALUES[-1]), math.log10(2.0))
DELTA_EXPONENTS = (-6.0, 0.0, 0.5)


def _key(lam):
    """Cache key of a lam (slider values are floats: compare them to 6 decimals in log10)."""
    return round(math.log10(lam), 6)


def explorer_tasks(dtype=torch.float64):
    """The explorer's held-out tasks as one TaskBatch (float64 by default)."""
    pool = SinusoidTasks().sample(TASK_POOL, 10, 10, TASK_SEED, dtype)
    return pool[torch.tensor(TASK_INDICES)]


class _Canvas(FigureCanvasAgg):
    def draw_idle(self, *args, **kwargs):
        """Nothing to do: the panel shows the PNG that savefig renders (an Agg draw_idle would
        render the whole figure once more on every update)."""


class _BlitFigure(Figure):
    """A figure whose PNG export redraws only its `dynamic` artists over a cached image of the
    rest (axes, ticks, labels, legends: most of the rendering time of a full draw). The axis
    limits of the explorer are fixed, so the cached background stays valid."""

    dynamic = ()
    _background = None

    def savefig(self, fname, *, format=None, **kwargs):
        if format != "png" or not isinstance(fname, io.BytesIO) or kwargs:
            for artist in self.dynamic:
                artist.set_animated(False)
            return super().savefig(fname, format=format, **kwargs)
        canvas = self.canvas
        if self._background is None or self._background[0] != self.bbox.bounds:
            for artist in self.dynamic:
                artist.set_animated(True)
            canvas.draw()  # everything but the dynamic artists
            self._background = (self.bbox.bounds, canvas.copy_from_bbox(self.bbox))
        else:
            canvas.restore_region(self._background[1])
        for artist in self.dynamic:
            self.draw_artist(artist)
        width, height = canvas.get_width_height()
        image = PIL.Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        image.save(fname, format="png", compress_level=1)


def _stop(norms, delta):
    """Iterations the inner solver runs for tolerance delta: the first s with norms[s] <= delta."""
    reached = (norms <= delta).nonzero()
    return reached[0].item() if len(reached) else len(norms) - 1


@dataclass
class _Path:
    """Step 3's gradient descent for one (task, lam): ||grad G|| after each iteration, and the
    state (flat phi, step size) after 0, CHECKPOINT, 2 CHECKPOINT, ... iterations."""

    grad_norms: torch.Tensor  # (S + 1,)
    checkpoints: torch.Tensor  # (C, P)
    step_sizes: torch.Tensor  # (C,)


@dataclass
class _Solve:
    """What depends only on (task, lam): the gradient-descent path and the exact reference."""

    grad_norms: torch.Tensor  # (S + 1 + N,) ||grad G|| after each gradient step, then Newton step
    path: _Path
    newton: torch.Tensor  # (N, P) phi after each Newton step
    ref: object  # figure2.Reference for this one task
    star_curve: np.ndarray  # f_phi* on the plotting grid


class ExplorerPanel(Panel):
    """Sliders lam, cg_steps, delta, task; one figure: the adapted curve, the inner solver's
    gradient norms with the delta line, the CG residuals, and the meta-gradient's relative error
    against the exact implicit gradient (curve over CG steps, marker at the chosen k).

    With no arguments: the shipped "imaml" meta-parameters, lam and inner step size. beta: the
    softplus sharpness of the smooth copy (None: the ReLU network itself). precompute: (task, lam)
    pairs to solve at construction rather than on first visit.
    """

    def __init__(self, model=None, params=None, tasks=None, lam=None, cg_steps=5, delta=1e-3, task=0,
                 inner_lr=None, max_inner_steps=MAX_INNER_STEPS, max_cg_steps=MAX_CG_STEPS,
                 cache_size=16, precompute=(), beta=SMOOTH_BETA):
        if params is None:
            model, params = load_pretrained("imaml")
            config = pretrained_record("imaml")["config"]
            lam = config["lam"] if lam is None else lam
            inner_lr = config["inner_lr"] if inner_lr is None else inner_lr
        lam = 1.0 if lam is None else lam
        inner_lr = INNER_LR if inner_lr is None else inner_lr
        self.default_lam = lam
        # beta=None runs the ReLU network itself (phi* then mostly sits on a hinge)
        self.model = model if beta is None else SoftplusMLP(model.sizes, beta)
        self.theta = {k: v.detach().double() for k, v in params.items()}
        self.like = self.theta
        self.tasks = explorer_tasks() if tasks is None else tasks
        self.inner_lr, self.max_inner_steps, self.max_cg_steps = inner_lr, max_inner_steps, max_cg_steps
        self.cache_size = cache_size
        self.grid = torch.linspace(-5, 5, 200, dtype=torch.float64).view(1, -1, 1)
        self._cache = OrderedDict()  # (task, lam) -> _Solve
        self._paths_gd = {}  # (task, lam) -> _Path of the gradient steps
        self._paths = OrderedDict()  # (task, lam, inner step) -> CG path and errors
        self._curves = {}  # task -> (truth, meta-init prediction) on the grid
        for t, lam_ in precompute:
            self._solve(t, lam_)
        self._build_figure()
        controls = {
            "lam": slider("λ (lam)", lam, *LAM_EXPONENTS, log=True),
            "cg_steps": slider("CG steps k", cg_steps, 0, max_cg_steps, 1, integer=True),
            "delta": slider("δ (delta)", delta, *DELTA_EXPONENTS, log=True, readout_format=".0e"),
            "task": slider("task", task, 0, self.tasks.n_tasks - 1, 1, integer=True),
        }
        super().__init__(controls, self.fig)

    # ------------------------------------------------------------------ computation

    def _task(self, task):
        return self.tasks[task]

    def _descend(self, task, lams):
        """Step 3 for several lam at once (a batch over lam): helpers.inner.proximal_solve's
        gradient descent on G from theta (a step that would raise G is rejected and that run's step
        size halved), each run stopping once ||grad G|| <= DELTA_FLOOR or after max_inner_steps
        iterations. Stores per lam the gradient norm after every iteration, and the state (phi,
        step size) every CHECKPOINT iterations."""
        b = self._task(task)
        L = len(lams)
        x, y = b.x_tr.expand(L, -1, -1), b.y_tr.expand(L, -1, -1)
        theta = per_task(self.theta, L)
        lam = torch.tensor(lams, dtype=torch.float64)
        lam_as = {k: lam.view(-1, *[1] * (v.dim() - 1)) for k, v in theta.items()}

        def objective(phi):  # G and grad G (eq. 4) with one lam per row
            loss, grads = loss_grad(self.model, phi, x, y)
            diff = {k: phi[k] - theta[k] for k in phi}
            return (loss + 0.5 * lam * task_norm(diff).pow(2),
                    {k: grads[k] + lam_as[k] * diff[k] for k in phi})

        def where(mask, a, c):
            return {k: torch.where(mask.view_as(lam_as[k]), a[k], c[k]) for k in a}

        phi = theta
        G, g = objective(phi)
        norms = [task_norm(g)]
        step_size = torch.full((L,), float(self.inner_lr), dtype=torch.float64)
        checkpoints, sizes = [flatten(phi, batch_dims=1)], [step_size]
        for it in range(1, self.max_inner_steps + 1):
            active = norms[-1] > DELTA_FLOOR
            if not active.any():
                break
            scale = step_size * active
            trial = {k: p - scale.view_as(lam_as[k]) * g[k] for k, p in phi.items()}
            G_trial, g_trial = objective(trial)
            accept = active & (G_trial <= G)
            step_size = torch.where(active & ~accept, step_size / 2, step_size)
            phi, g, G = where(accept, trial, phi), where(accept, g_trial, g), torch.where(accept, G_trial, G)
            norms.append(task_norm(g))
            if it % CHECKPOINT == 0:
                checkpoints.append(flatten(phi, batch_dims=1))
                sizes.append(step_size)
        norms, checkpoints, sizes = torch.stack(norms), torch.stack(checkpoints), torch.stack(sizes)
        for i, lam_i in enumerate(lams):
            reached = (norms[:, i] <= DELTA_FLOOR).nonzero()
            last = reached[0].item() if len(reached) else len(norms) - 1
            self._paths_gd[(task, _key(lam_i))] = _Path(
                norms[: last + 1, i].clone(), checkpoints[: last // CHECKPOINT + 1, i].clone(),
                sizes[: last // CHECKPOINT + 1, i].clone())

    def _solve(self, task, lam):
        """Cached gradient-descent path on G and reference for (task, lam)."""
        key = (task, _key(lam))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if key not in self._paths_gd:
            # First visit of this task: every lam of the slider in one batched descent.
            lams = [v for v in LAM_VALUES if (task, _key(v)) not in self._paths_gd]
            self._descend(task, lams + ([] if _key(lam) in {_key(v) for v in lams} else [lam]))
        path = self._paths_gd[key]
        b = self._task(task)
        phi = self._phi_at_gd(path, task, lam, len(path.grad_norms) - 1)
        # Gradient descent is slow here (the shipped theta is sharp: e_max(H) ~ 500, so the step
        # is small while lam + e_min(H) ~ 1 sets the pace): the path continues with damped Newton
        # steps, the paper's "Hessian-free" inner solver, whose last iterate is the reference phi*.
        newton = []
        if path.grad_norms[-1] > DELTA_FLOOR:
            phi, norm = solve_inner_exactly(self.model, self.theta, b.x_tr, b.y_tr, lam, self.inner_lr,
                                            newton_steps=NEWTON_STEPS, phi=phi, history=newton)
        else:
            phi, norm = solve_inner_exactly(self.model, self.theta, b.x_tr, b.y_tr, lam, self.inner_lr,
                                            newton_steps=NEWTON_STEPS, phi=phi)
        g, v, pd = exact_implicit_grads(self.model, phi, b, lam)
        ref = Reference(phi, norm, norm <= SMOOTH_TOL, pd, v, g)
        norms = torch.cat([path.grad_norms] + [n for _, n in newton])
        with torch.no_grad():
            star_curve = self.model(ref.phi, self.grid).flatten().numpy()
        newton = torch.cat([f for f, _ in newton]) if newton else torch.zeros(0, g.shape[-1], dtype=g.dtype)
        solve = _Solve(norms, path, newton, ref, star_curve)
        self._cache[key] = solve
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return solve

    def residuals(self, lam, cg_steps, delta, task):
        """CG's relative residuals ||r_j|| / ||v||, j = 0..cg_steps, for these settings (steps 3-5)."""
        self._check(lam, cg_steps, delta, task)
        solve = self._solve(task, lam)
        phi = self._phi_at(solve, task, lam, _stop(solve.grad_norms, delta))
        b = self._task(task)
        _, v = query_grad(self.model, phi, b.x_te, b.y_te)
        hvp = hvp_operator(self.model, phi, b.x_tr, b.y_tr, self.like)
        res = conjugate_gradient(lambda u: u + hvp(u) / lam, v, cg_steps).residuals[:, 0]
        return res / res[0]

    def gradient_norms(self, task, lam):
        """||grad G(phi_s)|| along the inner solver's path for (task, lam), shape (S + 1,)."""
        return self._solve(task, lam).grad_norms

    def _phi_at(self, solve, task, lam, step):
        """phi after `step` iterations of the inner solver: gradient steps, then Newton steps."""
        gd = len(solve.path.grad_norms) - 1
        if step <= gd:
            return self._phi_at_gd(solve.path, task, lam, step)
        return unflatten(solve.newton[step - gd - 1:step - gd], self.like)

    def _phi_at_gd(self, path, task, lam, step):
        """phi after `step` gradient iterations, replayed from the last checkpoint before it with
        the update rule of helpers.inner.proximal_solve (every iteration before `step` is active)."""
        c = step // CHECKPOINT
        b = self._task(task)
        theta = {k: v.unsqueeze(0) for k, v in self.theta.items()}
        phi = unflatten(path.checkpoints[c:c + 1], self.like)
        step_size = path.step_sizes[c].item()
        G, g = proximal_objective(self.model, phi, theta, b.x_tr, b.y_tr, lam)
        for _ in range(step - c * CHECKPOINT):
            trial = {k: p - step_size * g[k] for k, p in phi.items()}
            G_trial, g_trial = proximal_objective(self.model, trial, theta, b.x_tr, b.y_tr, lam)
            if G_trial.item() <= G.item():
                phi, G, g = trial, G_trial, g_trial
            else:
                step_size /= 2
        return phi

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
        """Steps 4-5 at phi after `step` inner steps, for every number of CG steps up to the
        maximum at once (cached: moving only the CG slider then costs no computation)."""
        key = (task, _key(lam), step)
        if key not in self._paths:
            phi = self._phi_at(solve, task, lam, step)
            b = self._task(task)
            _, v = query_grad(self.model, phi, b.x_te, b.y_te)  # step 4
            hvp = hvp_operator(self.model, phi, b.x_tr, b.y_tr, self.like)
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
        step = _stop(norms, delta)  # step 3: iterate until ||grad G|| <= delta
        out = dict(self._meta_gradient(solve, task, lam, step))
        out.update(solve=solve, step=step, grad_norm=norms[step].item(),
                   stopped_at_delta=norms[step].item() <= delta,
                   error=float(out["errors"][cg_steps]), meta_grad=out["xs"][cg_steps])
        return out

    # ------------------------------------------------------------------ figure

    def _build_figure(self):
        # Rendering the PNG is most of an update: three axes at dpi 72, unicode instead of mathtext
        # (whose parser is slow), and only major ticks, plainly labelled, on the log axes.
        fig = _BlitFigure(figsize=(13.5, 3.9), dpi=72)
        _Canvas(fig)
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

        (self.norm_line,) = ax_inner.loglog([1], [1], color=COLORS["imaml"], lw=1.2, alpha=0.35)
        (self.norm_used,) = ax_inner.loglog([1], [1], color=COLORS["imaml"], lw=1.8,
                                            label="‖∇G(φ_s)‖")
        self.delta_line = ax_inner.axhline(1e-3, color="k", ls="--", lw=1, label="δ")
        (self.stop_marker,) = ax_inner.loglog([1], [1], "o", color=COLORS["imaml"], ms=7)
        self.newton_line = ax_inner.axvline(self.max_inner_steps + 1, color="k", ls=":", lw=1)
        self.newton_text = ax_inner.text(self.max_inner_steps + 1, 3e1, " Newton →", fontsize=8)
        ax_inner.set(xlim=(1, self._x_newton(self.max_inner_steps, NEWTON_STEPS + 1)),
                     ylim=(1e-14, 1e2), xlabel="gradient step s + 1, then Newton steps", ylabel="‖∇G‖",
                     title="step 3: inner solver, stops at ‖∇G‖ ≤ δ")
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
        for axis in (ax_inner.xaxis, ax_inner.yaxis, ax_cg.yaxis):
            axis.set_major_locator(LogLocator(base=10, numticks=5))
            axis.set_minor_locator(NullLocator())
            axis.set_major_formatter(plain)
        # x ticks for the gradient steps only: Newton steps follow at equal spacing on the right
        ax_inner.xaxis.set_major_locator(FixedLocator([1, 10, 100]))
        fig.tight_layout()
        fig.dynamic = [self.truth_line, self.theta_line, self.star_line, self.phi_line, self.support,
                       self.task_text, self.norm_line, self.norm_used, self.delta_line,
                       self.newton_line, self.newton_text,
                       self.stop_marker, self.res_line, self.res_used, self.err_line, self.err_used,
                       self.fo_line, self.err_marker, self.err_text]

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
        gd = len(solve.path.grad_norms) - 1
        s = np.concatenate([np.arange(1, gd + 2),
                            [self._x_newton(gd, j) for j in range(1, len(norms) - gd)]])
        self.newton_line.set_xdata([gd + 1] * 2)
        self.newton_text.set_x(gd + 1)
        self.newton_line.set_visible(len(norms) > gd + 1)
        self.newton_text.set_visible(len(norms) > gd + 1)
        stop = out["step"]
        self.norm_line.set_data(s, norms)
        self.norm_used.set_data(s[: stop + 1], norms[: stop + 1])
        self.delta_line.set_ydata([max(delta, 1e-30)] * 2)
        self.stop_marker.set_data([s[stop]], [norms[stop]])

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

    def _x_newton(self, gd, j):
        """Where Newton step j (1, 2, ...) after `gd` gradient steps sits on the log x axis."""
        return (gd + 1) * 1.3**j

    def _steps_text(self, out):
        gd = len(out["solve"].path.grad_norms) - 1
        if out["step"] <= gd:
            return f"{out['step']} gradient steps"
        return f"{gd} gradient steps + {out['step'] - gd} Newton steps"

    def _caption(self, out, lam, cg_steps, delta):
        ref = out["solve"].ref
        text = (f"λ = {lam:.3g}, δ = {delta:.0e}, k = {cg_steps} CG steps: meta-gradient relative "
                f"error {out['error']:.1e} against the exact implicit gradient (first-order: "
                f"{out['fo_error']:.1e}). Inner solve: {self._steps_text(out)}, "
                f"‖∇G‖ = {out['grad_norm']:.1e}.")
        if out["breakdown"] >= 0:
            when = ("within" if out["breakdown"] < cg_steps else "after")
            text += (f" ⚠ I + H/λ is NOT positive definite at this φ (λ too small): CG met a "
                     f"direction with pᵀ(I + H/λ)p ≤ 0 at iteration {out['breakdown']}, {when} the "
                     f"{cg_steps} steps used, and stopped there instead of returning NaN. The implicit "
                     "gradient is not trustworthy here: raise λ.")
        if not out["stopped_at_delta"]:
            text += " ⚠ The inner solver did not reach ‖∇G‖ ≤ δ."
        if not ref.smooth.item():
            text += (f" ⚠ The reference φ* could not be solved to ‖∇G‖ ≤ {SMOOTH_TOL:.0e} (it stalls "
                     f"at {ref.grad_norm.item():.0e}): g* is only approximate here, and a δ below that "
                     "level may be unreachable.")
        elif not ref.positive_definite.item():
            text += " ⚠ I + H*/λ is not positive definite even at φ*."
        return text

