"""Notebook 07 (and the lecture deck): the Bayesian reading of iMAML as a live panel.

BayesPanel: Bayesian linear regression on the exact sinusoid basis [sin x, cos x], prior N(theta,
lam^-1 I) around the task family's mean weights. A lambda slider sets the prior strength; the panel
draws the posterior mean with its uncertainty band, and the iMAML inner solution (gradient descent on
the proximal objective) on top of it, in function space and in the 2-D weight space.
"""

import math

import matplotlib.pyplot as plt
import torch

from helpers.plots import COLORS, LABELS
from helpers.tasks import SinusoidTasks
from helpers.widgets import CachedBackgroundFigure, Panel, slider

from . import bayes

SIGMA = 0.5  # the observation noise: added to the support points and assumed by the likelihood
GD_DELTA = 1e-8  # the panel's inner solve stops at ||grad G|| <= GD_DELTA


def family_mean_weights(tasks=SinusoidTasks()):
    """E[w] over the task family, w = (A cos b, -A sin b) with A, b uniform: the prior mean a
    meta-learner should place theta at. E[A] E[cos b], -E[A] E[sin b], in closed form."""
    (a0, a1), (b0, b1) = tasks.amplitude, tasks.phase
    mean_a = (a0 + a1) / 2
    mean_cos = (math.sin(b1) - math.sin(b0)) / (b1 - b0)
    mean_sin = (math.cos(b0) - math.cos(b1)) / (b1 - b0)
    return torch.tensor([mean_a * mean_cos, -mean_a * mean_sin], dtype=torch.float64)


def ellipse(mean, cov, n_std=2.0, n=100):
    """Points (n, 2) of the n_std contour of N(mean, cov) in 2-D."""
    t = torch.linspace(0, 2 * math.pi, n, dtype=torch.float64)
    circle = torch.stack([torch.cos(t), torch.sin(t)], dim=1)
    return mean + n_std * circle @ torch.linalg.cholesky(cov).T


class BayesPanel(Panel):
    """lam (prior precision) and K sliders: posterior mean = iMAML inner solution, with a +-2 std band.

    Left: the task, its K noisy support points, the prior mean function Phi(x) theta, the posterior
    mean with the band +-2 std of f(x), and the iMAML inner solution (gradient descent on
    G(w) = NLL(w) + (lam/2)||w - theta||^2). Right: the same in weight space: prior and posterior
    2-std ellipses, the gradient-descent path from theta, and the task's true weights.
    """

    def __init__(self, lam=1.0, k_shot=3, amplitude=3.5, phase=2.2, sigma=SIGMA, k_max=20, seed=0,
                 tasks=SinusoidTasks()):
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        self.sigma, self.k_max, self.tasks = sigma, k_max, tasks
        g = torch.Generator().manual_seed(seed)
        task = tasks.task(amplitude, phase, k_max, 1, generator=g, dtype=torch.float64)
        self.x = task.x_tr[0]
        self.y = task.y_tr[0] + sigma * torch.randn(self.x.shape, generator=g, dtype=torch.float64)
        self.w_true = bayes.sinusoid_weights(task.amplitude[0], task.phase[0])
        self.theta = family_mean_weights(tasks)
        self.grid = torch.linspace(*tasks.x_range, 200, dtype=torch.float64).view(-1, 1)
        self.Phi_grid = bayes.sinusoid_features(self.grid)
        gx = self.grid.flatten()
        self.marks = slice(5, None, 12)  # where the iMAML solution is drawn as markers

        fig, (ax, axw) = plt.subplots(1, 2, figsize=(9.5, 3.9), gridspec_kw={"width_ratios": [1.7, 1]},
                                      FigureClass=CachedBackgroundFigure)
        # One legend for both axes (a line stands for the curve on the left and the ellipse on the
        # right): text layout dominates the cost of a redraw, so the figure keeps little text.
        ax.plot(gx, self.Phi_grid @ self.w_true, color=COLORS["truth"], lw=1.2, label=LABELS["truth"])
        (self.prior_line,) = ax.plot(gx, self.Phi_grid @ self.theta, "--", color=COLORS["scratch"], lw=1.2,
                                     label="prior: mean, 2 std")
        nan = torch.full_like(gx, float("nan"))
        self.prior_band = ax.fill_between(gx, nan, nan, color=COLORS["scratch"], alpha=0.12, lw=0)
        self.band = ax.fill_between(gx, nan, nan, color=COLORS["imaml"], alpha=0.2, lw=0)
        (self.post_line,) = ax.plot([], [], color=COLORS["imaml"], lw=2, label="posterior: mean, 2 std")
        (self.gd_pts,) = ax.plot([], [], "x", color=COLORS["truth"], ms=6, mew=1.5,
                                 label="iMAML inner solution (GD)")
        (self.support_pts,) = ax.plot([], [], "o", color=COLORS["truth"], ms=5)
        ax.set_xlim(*tasks.x_range)
        ax.set_ylim(-1.4 * tasks.amplitude[1], 1.4 * tasks.amplitude[1])
        ax.set_yticks([-5, 0, 5])
        ax.set_xlabel(f"x   (dots: K support points with noise std {sigma})")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, fontsize=8)  # never under a band

        # weight space: the family's weights fill a half annulus (b in [0, pi] gives w_2 <= 0)
        a = torch.linspace(0, math.pi, 60, dtype=torch.float64)
        outer = tasks.amplitude[1] * torch.stack([torch.cos(a), -torch.sin(a)], 1)
        inner = tasks.amplitude[0] * torch.stack([torch.cos(a), -torch.sin(a)], 1).flip(0)
        ring = torch.cat([outer, inner])
        axw.fill(ring[:, 0], ring[:, 1], color=COLORS["scratch"], alpha=0.15, lw=0)
        (self.prior_ell,) = axw.plot([], [], "--", color=COLORS["scratch"], lw=1.2)
        (self.post_ell,) = axw.plot([], [], color=COLORS["imaml"], lw=2)
        (self.path_line,) = axw.plot([], [], "x-", color=COLORS["truth"], lw=0.8, ms=3)
        axw.plot(*self.theta, "s", color=COLORS["scratch"], ms=6)
        axw.plot(*self.w_true, "*", color=COLORS["truth"], ms=11)
        axw.set_xlim(-6.5, 6.5)
        axw.set_ylim(-6.5, 3.5)
        axw.set_aspect("equal")
        axw.set_xticks([-5, 0, 5], [])  # grid lines without labels: text is what costs time
        axw.set_yticks([-5, 0], [])
        axw.set_xlabel("weights (w1, w2), grid at -5, 0, 5:\nsquare θ, star this task")
        fig.tight_layout()
        # No layout pass on every savefig, and only the artists that the sliders change are redrawn
        # over a cached rendering of the rest (text is most of the cost of a redraw).
        fig.set_layout_engine(None)
        fig.dynamic = (self.prior_band, self.band, self.post_line, self.gd_pts, self.support_pts,
                       self.prior_ell, self.post_ell, self.path_line)
        self.ax, self.axw = ax, axw
        controls = {
            "lam": slider("prior precision λ", lam, -2, 2, 0.25, log=True),
            "k_shot": slider("K shots", k_shot, 1, k_max, 1, integer=True),
        }
        super().__init__(controls, fig)

    def solve(self, lam, k_shot):
        """(posterior, iMAML inner solution w, GD steps, GD path) for the first K support points."""
        if not isinstance(k_shot, int) or not 1 <= k_shot <= self.k_max:
            raise ValueError(f"k_shot must be an integer in [1, {self.k_max}], got {k_shot!r}")
        Phi, y = bayes.sinusoid_features(self.x[:k_shot]), self.y[:k_shot]
        post = bayes.posterior(Phi, y, self.theta, lam, self.sigma)
        w, steps, path = bayes.map_by_gradient_descent(Phi, y, self.theta, lam, self.sigma, GD_DELTA)
        return post, w, steps, torch.stack(path)

    def draw(self, lam, k_shot):
        post, w, steps, path = self.solve(lam, k_shot)
        mean, std = bayes.predictive(self.Phi_grid, post)
        gx = self.grid.flatten()
        self.post_line.set_data(gx, mean)
        # prior std of f(x) = sqrt(Phi(x)^T Phi(x) / lam) = 1/sqrt(lam): ||[sin x, cos x]|| = 1
        prior_mean = self.Phi_grid @ self.theta
        half = 2 / math.sqrt(lam)
        self.prior_band.set_data(gx, prior_mean - half, prior_mean + half)
        self.band.set_data(gx, mean - 2 * std, mean + 2 * std)
        self.gd_pts.set_data(gx[self.marks], (self.Phi_grid @ w)[self.marks])
        self.support_pts.set_data(self.x[:k_shot].flatten(), self.y[:k_shot].flatten())
        prior_cov = torch.eye(2, dtype=torch.float64) / lam
        self.prior_ell.set_data(*ellipse(self.theta, prior_cov).T)
        self.post_ell.set_data(*ellipse(post.mean, post.cov).T)
        shown = path[:: max(1, len(path) // 40)]  # at most ~40 markers, whatever the step count
        self.path_line.set_data(shown[:, 0], shown[:, 1])
        self.gap = (w - post.mean).abs().max().item()
        self.steps = steps
        self.band_width = 2 * std.mean().item()
        truth = self.Phi_grid @ self.w_true
        self.mse = (mean - truth).pow(2).mean().item()
        return (
            f"λ = {lam:.3g}, K = {k_shot}: GD on the proximal objective took {steps} steps; "
            f"|iMAML φ* − posterior mean| = {self.gap:.1e}. Band ±{self.band_width:.2f} on average; "
            f"posterior-mean MSE to the true curve {self.mse:.3f}."
        )
