"""Inner loops: task adaptation phi = Alg(theta, D^tr), batched over tasks.

`adapt` is MAML's inner loop: k steps of gradient descent, optionally on the proximal objective
    G_i(phi) = L_tr(phi) + (lam/2) ||phi - theta||^2                         (iMAML eq. 4)
and differentiable end to end when create_graph=True.
`proximal_solve` is iMAML's inner solver (Algorithm 2, step 3): gradient descent on G_i until
||grad G_i(phi)|| <= delta for every task (or max_steps run out); no graph is kept.
"""

from dataclasses import dataclass

import torch

from .models import loss_grad, mse, per_task, task_norm
from .tasks import check_non_negative, check_positive


def _as_batched(params, x, y):
    """Lift a single task (x of shape (N, 1)) to a batch of one; report whether we did."""
    if x.dim() == 2 and y.dim() == 2:
        single = all(p.dim() <= 2 for p in params.values())
        return x.unsqueeze(0), y.unsqueeze(0), single
    if x.dim() != 3 or x.shape != y.shape:
        raise ValueError(
            f"x and y must both have shape (N, 1) or (tasks, N, 1), got {tuple(x.shape)} and "
            f"{tuple(y.shape)}"
        )
    return x, y, False


def _lift(theta, n_tasks):
    """theta as one slice per task, unless it already carries a task axis."""
    return theta if theta["w0"].dim() == 3 else per_task(theta, n_tasks)


def _check_finite(loss, what, hint):
    if not torch.isfinite(loss).all():
        raise FloatingPointError(f"{what} diverged (loss is not finite): {hint}")


def adapt(model, params, x, y, steps, lr, lam=0.0, create_graph=False):
    """phi after `steps` gradient steps of size lr on L_tr(phi) + (lam/2)||phi - params||^2.

    x, y: one task (N, 1) or a batch (T, N, 1); params: shared theta, or per-task with a task axis.
    create_graph=True keeps the unrolled loop differentiable w.r.t. params (MAML).
    """
    check_non_negative(steps=steps, lam=lam)
    check_positive(lr=lr)
    x, y, single = _as_batched(params, x, y)
    theta = _lift(params, x.shape[0])
    if not create_graph:
        theta = {k: v.detach() for k, v in theta.items()}
    phi = theta
    with torch.set_grad_enabled(create_graph):
        for _ in range(steps):
            _, grads = loss_grad(model, phi, x, y, create_graph)
            phi = {k: p - lr * (grads[k] + lam * (p - theta[k])) if lam else p - lr * grads[k]
                   for k, p in phi.items()}
    if steps:
        _check_finite(mse(model, phi, x, y), "adaptation", f"lower the learning rate (lr={lr})")
    return {k: p[0] for k, p in phi.items()} if single else phi


@dataclass
class ProximalSolution:
    """phi per task and how the solve went: grad_norms[s, i] = ||grad G_i|| before step s."""

    phi: dict
    steps: torch.Tensor  # (T,) gradient steps taken per task
    grad_norms: torch.Tensor  # (S + 1, T)

    @property
    def final_grad_norm(self):
        return self.grad_norms[-1]


def proximal_grad(model, phi, theta, x, y, lam):
    """grad_phi G_i(phi) = grad L_tr(phi) + lam (phi - theta), per task."""
    _, grads = loss_grad(model, phi, x, y)
    return {k: g + lam * (phi[k] - theta[k]) for k, g in grads.items()}


def proximal_solve(model, params, x, y, lam, lr, max_steps, delta):
    """iMAML's inner solve (Algorithm 2, step 3): phi_i with ||grad G_i(phi_i)|| <= delta.

    Gradient descent from phi = theta; each task stops as soon as its own gradient norm is below
    delta. Since G_i is lam-strongly convex near a minimiser where H >= 0, ||phi - phi*|| <=
    ||grad G_i|| / lam: delta bounds the distance to the exact minimiser.
    """
    check_positive(lam=lam, lr=lr)
    check_non_negative(max_steps=max_steps, delta=delta)
    x, y, _ = _as_batched(params, x, y)
    theta = {k: v.detach() for k, v in _lift(params, x.shape[0]).items()}
    phi = dict(theta)
    steps = torch.zeros(x.shape[0], dtype=torch.long)
    norms = []
    for step in range(max_steps + 1):
        g = proximal_grad(model, phi, theta, x, y, lam)
        norm = task_norm(g)
        norms.append(norm)
        active = norm > delta
        if step == max_steps or not active.any():
            break
        scale = (lr * active).to(x.dtype)
        phi = {k: p - scale.view(-1, *[1] * (p.dim() - 1)) * g[k] for k, p in phi.items()}
        steps += active
    norms = torch.stack(norms)
    _check_finite(norms[-1], "the inner solve", f"lower the inner learning rate (lr={lr})")
    return ProximalSolution(phi, steps, norms)
