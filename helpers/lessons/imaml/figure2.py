"""The iMAML paper's Figure 2 on the sinusoid toy problem, measured (Rajeswaran et al. 2019).

(a) Accuracy. The exact implicit meta-gradient of task i is
        g_i* = (I + H_i*/lam)^-1 grad L_test_i(phi_i*),   phi_i* = argmin_phi G_i(phi),
        G_i(phi) = L_tr_i(phi) + (lam/2) ||phi - theta||^2                   (iMAML eqs. 4 and 6)
    with phi_i* solved to ||grad G_i|| <= 1e-12 (the Hessian-free solver, run long, in float64) and
    H_i* formed densely. Against it, as the work k grows:
        MAML      backprop through k gradient steps on G_i      maml_grad(..., lam=lam)
        FO-MAML   grad L_test_i(phi_k), the Jacobian taken as I   maml_grad(..., first_order=True)
        iMAML     k conjugate-gradient steps at phi_i*          (Algorithm 2, step 5)
(b) Cost. Memory autograd holds for backprop and time per meta-gradient as the number of inner
    steps grows, MAML against iMAML (lessons.maml.cost, measured on this machine).

The implicit function theorem needs a smooth L_tr. The shipped iMAML network is smooth (softplus);
a ReLU network is only piecewise smooth, and G_i often has its minimum on a hinge (a support point
exactly at a ReLU kink), where no gradient, Hessian or implicit gradient exists and no solver drives
||grad G_i|| to zero: `second_layer_preactivations` finds such hinges. `Reference.converged` says
whether the reference solve reached CONVERGED_TOL.
"""

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch

from helpers.checks import check_positive
from helpers.imaml import query_grad, task_hessians
from helpers.inner import hessian_free_solve
from helpers.lessons.maml import cost
from helpers.maml import maml_grad
from helpers.models import flatten, hvp_operator, relative_error
from helpers.plots import COLORS

from .spectrum import cg_path, extreme_eigenvalues

SOLVE_TOL = 1e-12  # the inner solve of the reference stops at this ||grad G||
CONVERGED_TOL = 1e-6  # reached: a smooth minimiser (1e-8 to 1e-14, by rounding); hinges stall >= 1e-3


def second_layer_preactivations(phi, x):
    """z_2 = W_1 relu(w_0 x + b_0) + b_1 at the inputs x, per task (T, N, 40): a support point sits
    on a hinge of unit m when z_2[., j, m] = 0 (the ReLU network of helpers.models.MLP)."""
    h1 = torch.relu(x @ phi["w0"].transpose(-1, -2) + phi["b0"].unsqueeze(-2))
    return h1 @ phi["w1"].transpose(-1, -2) + phi["b1"].unsqueeze(-2)


def solve_inner_exactly(model, params, x, y, lam, newton_steps=30, tol=SOLVE_TOL, phi=None,
                        newton_cg_steps=300):
    """phi_i* = argmin G_i as accurately as float64 allows: the Hessian-free solver
    (helpers.inner.hessian_free_solve) from theta (or from `phi`) with up to newton_cg_steps CG steps
    per Newton step. Returns (phi, ||grad G_i(phi_i)|| (T,)).
    """
    check_positive(lam=lam)
    sol = hessian_free_solve(model, params, x, y, lam, newton_steps, tol, newton_cg_steps, phi=phi)
    return sol.phi, sol.final_grad_norm


def exact_implicit_grads(model, phi, batch, lam):
    """Dense solve of (I + H_i/lam) g_i = v_i at the given phi_i (Cholesky where the matrix is
    positive definite, LU otherwise). Returns (g (T, P), v (T, P), positive_definite (T,))."""
    check_positive(lam=lam)
    _, v = query_grad(model, phi, batch.x_te, batch.y_te)
    H = task_hessians(model, phi, batch.x_tr, batch.y_tr)
    A = torch.eye(H.shape[-1], dtype=H.dtype) + H / lam
    chol, info = torch.linalg.cholesky_ex(A)
    pd = info == 0
    g = torch.cholesky_solve(v.unsqueeze(-1), chol).squeeze(-1)
    if not pd.all():
        g = torch.where(pd.unsqueeze(-1), g, torch.linalg.solve(A, v))
    return g, v, pd


@dataclass
class Reference:
    """The exact implicit meta-gradient per task, and how trustworthy it is.

    phi: phi_i* (task axis first); grad_norm (T,) = ||grad G_i(phi_i*)||; converged (T,) bool: the
    solve reached CONVERGED_TOL (a smooth minimiser); positive_definite (T,): I + H_i*/lam is;
    v (T, P) = grad L_test_i(phi_i*); g (T, P) = g_i*.
    """

    phi: dict
    grad_norm: torch.Tensor
    converged: torch.Tensor  # grad_norm <= CONVERGED_TOL
    positive_definite: torch.Tensor
    v: torch.Tensor
    g: torch.Tensor


def reference(model, params, batch, lam, newton_steps=30, phi=None, newton_cg_steps=300):
    """Reference for the tasks of `batch` (float64 recommended): accurate phi*, then dense g*."""
    phi, norm = solve_inner_exactly(model, params, batch.x_tr, batch.y_tr, lam, newton_steps, phi=phi,
                                    newton_cg_steps=newton_cg_steps)
    g, v, pd = exact_implicit_grads(model, phi, batch, lam)
    return Reference(phi, norm, norm <= CONVERGED_TOL, pd, v, g)


def stable_step(model, params, batch, lam, phi, margin=1.5):
    """A gradient step size for G_i that is stable on every task of `batch`: 1 / (margin (e_max +
    lam)), e_max the largest Hessian eigenvalue of L_tr over the tasks, at theta and at `phi`
    (Lanczos). Gradient descent with step alpha diverges along eigenvalues above 2/alpha - lam."""
    P = sum(v.numel() for v in params.values())
    theta = {k: v.expand(batch.n_tasks, *v.shape) for k, v in params.items()}
    e_max = max(extreme_eigenvalues(hvp_operator(model, at, batch.x_tr, batch.y_tr, params),
                                    batch.n_tasks, P, steps=30)[1].max().item() for at in (theta, phi))
    return 1.0 / (margin * (e_max + lam))


def meta_gradient_errors(model, params, batch, ref, lam, inner_lr, inner_steps, cg_steps):
    """Figure 2(a): relative error of the batch meta-gradient (1/T) sum_i g_i against the exact
    (1/T) sum_i g_i*, for MAML and FO-MAML after each k in inner_steps (gradient steps on G_i of
    size inner_lr) and iMAML after each k in cg_steps (CG at phi_i*).
    Returns {"maml": [(k, err)], "fomaml": [...], "imaml": [...]}.
    """
    exact = ref.g.mean(0)
    out = {"maml": [], "fomaml": [], "imaml": []}
    for k in inner_steps:
        for method, first_order in (("maml", False), ("fomaml", True)):
            grad, _ = maml_grad(model, params, batch, k, inner_lr, first_order=first_order, lam=lam)
            out[method].append((k, relative_error(flatten(grad), exact).item()))
    like = {k: v for k, v in params.items()}
    hvp = hvp_operator(model, ref.phi, batch.x_tr, batch.y_tr, like)
    xs = cg_path(lambda u: u + hvp(u) / lam, ref.v, max(cg_steps)).xs
    out["imaml"] = [(k, relative_error(xs[k].mean(0), exact).item()) for k in cg_steps]
    return out


def cost_rows(model, params, batch, inner_steps, lam, inner_lr, cg_steps=5, repeats=3):
    """Figure 2(b): lessons.maml.cost rows (memory held for backprop, seconds) for MAML (backprop
    through k steps on G) and iMAML (k inner steps, delta = 0, then cg_steps CG steps)."""
    maml = cost.cost_vs_inner_steps("maml", inner_steps, model, params, batch, repeats=repeats,
                                    inner_lr=inner_lr, lam=lam)
    imaml = cost.cost_vs_inner_steps("imaml", inner_steps, model, params, batch, repeats=repeats,
                                     inner_lr=inner_lr, lam=lam, cg_steps=cg_steps)
    return maml + imaml


def plot_figure2(errors, rows, axes=None):
    """(a) meta-gradient error against k; (b) memory and (c) time against inner steps.
    Returns (fig, axes)."""
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    else:
        fig = axes[0].figure
    ax = axes[0]
    names = {"maml": "MAML: k GD steps on $G$, backprop",
             "fomaml": "first-order MAML: k GD steps",
             "imaml": "iMAML: k CG steps at $\\phi^*$"}
    for method in ("maml", "fomaml", "imaml"):
        k, err = np.array(errors[method]).T
        ax.loglog(k, err, marker="o", ms=4, color=COLORS[method], label=names[method])
    ax.set(xlabel="k (inner GD steps, or CG steps)", ylabel="relative error of meta-gradient",
           title="(a) accuracy vs the exact implicit gradient")
    ax.legend(fontsize=8)
    cost.plot_cost(rows, axes=axes[1:])
    axes[1].set_title("(b) memory autograd holds (measured)")
    axes[2].set_title("(c) time per meta-gradient (measured)")
    for a in axes[1:]:
        a.set_xlabel("inner steps k")
    fig.tight_layout()
    return fig, axes

