"""iMAML's implicit meta-gradient (Rajeswaran et al. 2019, Algorithm 2), batched over tasks.

    phi_i* = argmin_phi L_tr_i(phi) + (lam/2) ||phi - theta||^2               (step 3, delta-accurate,
                                                 by gradient descent or the Hessian-free solver)
    v_i    = grad L_test_i(phi_i)                                           (step 4)
    g_i    = (I + H_i/lam)^-1 v_i,  H_i = Hessian of L_tr_i at phi_i          (step 5, by CG)
    meta-gradient = (1/T) sum_i g_i                                         (Algorithm 1, step 7)

Step 5's accuracy delta' is monitored as CG's relative residual ||(I + H_i/lam) g_i - v_i|| / ||v_i||
(IMAMLInfo.cg_relative_residual), as step 3's delta is as ||grad G_i(phi_i)||.
"""

from dataclasses import dataclass

import torch

from .cg import conjugate_gradient
from .checks import check_int, check_non_negative, check_positive
from .inner import _as_batched, curvature_products, inner_solve, proximal_solve
from .models import flatten, loss_grad, mse, unflatten


@dataclass
class IMAMLInfo:
    """Diagnostics of one implicit meta-gradient.

    inner_steps (T,), inner_grad_norm (T,) = ||grad G_i|| at the returned phi_i, inner_grad_norms
    (S + 1, T) per step, inner_grad_evals (T,) gradient evaluations of the inner solve, cg_residuals
    (J + 1, T), non_positive_curvature (T,) bool (CG's report that I + H_i/lam is not positive
    definite), phi the task parameters.
    """

    loss: float
    inner_steps: torch.Tensor
    inner_grad_norm: torch.Tensor
    inner_grad_norms: torch.Tensor
    inner_grad_evals: torch.Tensor
    cg_residuals: torch.Tensor
    non_positive_curvature: torch.Tensor
    phi: dict

    @property
    def cg_relative_residual(self):
        """delta' reached, per task: ||(I + H_i/lam) g_i - v_i|| / ||v_i|| (CG starts from g = 0; a
        task with v_i = 0 is solved exactly, 0)."""
        first, last = self.cg_residuals[0], self.cg_residuals[-1]
        return torch.where(first > 0, last / first.clamp(min=torch.finfo(first.dtype).tiny), 0)


def query_grad(model, phi, x, y):
    """Per-task query loss (T,) and v_i = grad L_test_i(phi_i), flattened to (T, P)."""
    loss, grads = loss_grad(model, phi, x, y)
    return loss, flatten(grads, batch_dims=1)


def _check_imaml_args(lam, inner_lr, inner_steps, delta, cg_steps=0):
    check_positive(lam=lam, inner_lr=inner_lr)
    check_int("inner_steps", inner_steps, 0)
    check_int("cg_steps", cg_steps, 0)
    check_non_negative(delta=delta)


def imaml_grad(model, params, batch, lam, inner_lr=0.01, inner_steps=16, delta=1e-3, cg_steps=5, cg_tol=0.0,
               solver="gd", solver_cg_steps=10, delta_prime=0.0, precondition=False, skip_unsolved=False):
    """The implicit meta-gradient (Algorithm 2) averaged over the tasks of `batch`.

    Step 3 runs helpers.inner.inner_solve(solver): "gd" (inner_steps gradient steps of inner_lr at
    most) or "hessian_free" (inner_steps Newton steps of solver_cg_steps CG steps each at most;
    inner_lr unused). Step 5 is at most cg_steps of conjugate gradient; a task stops once its
    residual is <= cg_tol, or <= delta_prime ||v_i|| (relative) when delta_prime > 0.
    precondition=True preconditions both CGs by the Gauss-Newton part of H_i (helpers.precondition).
    skip_unsolved=True averages g_i only over the tasks whose inner solve met delta (all, if none did).
    Returns (grad: dict like params, IMAMLInfo). Tasks whose system is found indefinite keep the
    last CG iterate and are flagged in info.non_positive_curvature.
    """
    _check_imaml_args(lam, inner_lr, inner_steps, delta, cg_steps)
    check_non_negative(delta_prime=delta_prime)
    # a model with hand-written products (helpers.models.MLP) needs no autograd here: inference mode
    # skips autograd's bookkeeping on each of the thousands of small operations
    with torch.inference_mode(hasattr(model, "linearize")):
        sol = inner_solve(model, params, batch.x_tr, batch.y_tr, lam, delta, solver, inner_lr, inner_steps,
                          solver_cg_steps, precondition=precondition)
        loss, v = query_grad(model, sol.phi, batch.x_te, batch.y_te)
        hvp, M_inv = curvature_products(model, sol.phi, batch.x_tr, batch.y_tr, params, precondition, lam,
                                        lam)
        tol = delta_prime * v.norm(dim=-1) if delta_prime else cg_tol
        cg = conjugate_gradient(lambda u: hvp(u).div_(lam).add_(u), v, cg_steps, tol, M_inv)  # u + H u / lam
    solved = sol.final_grad_norm <= delta
    g = cg.x[solved] if skip_unsolved and solved.any() else cg.x
    grad = unflatten(g.mean(0), params)
    info = IMAMLInfo(
        loss.mean().item(), sol.steps, sol.final_grad_norm, sol.grad_norms, sol.grad_evals, cg.residuals,
        cg.non_positive_curvature, {k: p.clone() for k, p in sol.phi.items()},  # an ordinary tensor again
    )
    return grad, info


def task_hessians(model, phi, x, y):
    """Dense Hessians H_i of L_tr_i at phi_i, shape (T, P, P) (P = 1,761 for 1-40-40-1)."""
    x, y, _ = _as_batched(phi, x, y)
    like = {k: v[0] for k, v in phi.items()}

    def loss(flat, xi, yi):
        return mse(model, unflatten(flat, like), xi, yi)

    flat = flatten(phi, batch_dims=1).detach()
    return torch.func.vmap(torch.func.hessian(loss))(flat, x, y)


def exact_imaml_grad(model, params, batch, lam, inner_lr, inner_steps, delta, phi=None):
    """Reference for imaml_grad: dense H_i and a direct solve of (I + H_i/lam) g_i = v_i.

    phi: task parameters to use (default: the same inner solve as imaml_grad).
    Returns (grad, per-task g_i of shape (T, P)).
    """
    _check_imaml_args(lam, inner_lr, inner_steps, delta)
    if phi is None:
        phi = proximal_solve(
            model, params, batch.x_tr, batch.y_tr, lam, inner_lr, inner_steps, delta
        ).phi
    _, v = query_grad(model, phi, batch.x_te, batch.y_te)
    H = task_hessians(model, phi, batch.x_tr, batch.y_tr)
    eye = torch.eye(H.shape[-1], dtype=H.dtype)
    g = torch.linalg.solve(eye + H / lam, v)
    return unflatten(g.mean(0), params), g
