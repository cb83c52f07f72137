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
    steps: torch.Tensor  # (T,) accepted gradient steps per task
    grad_norms: torch.Tensor  # (S + 1, T), one row per iteration

    @property
    def final_grad_norm(self):
        return self.grad_norms[-1]


def proximal_objective(model, phi, theta, x, y, lam):
    """G_i(phi) = L_tr_i(phi) + (lam/2)||phi - theta||^2, shape (T,), and its gradient, per task."""
    loss, grads = loss_grad(model, phi, x, y)
    diff = {k: phi[k] - theta[k] for k in phi}
    G = loss + 0.5 * lam * task_norm(diff).pow(2)
    return G, {k: g + lam * diff[k] for k, g in grads.items()}


def proximal_grad(model, phi, theta, x, y, lam):
    """grad_phi G_i(phi) = grad L_tr(phi) + lam (phi - theta), per task."""
    return proximal_objective(model, phi, theta, x, y, lam)[1]


def _where(mask, a, b):
    """Per task: a[i] where mask[i] else b[i], for dicts of tensors with a leading task axis."""
    return {k: torch.where(mask.view(-1, *[1] * (a[k].dim() - 1)), a[k], b[k]) for k in a}


def proximal_solve(model, params, x, y, lam, lr, max_steps, delta):
    """iMAML's inner solve (Algorithm 2, step 3): phi_i with ||grad G_i(phi_i)|| <= delta.

    Gradient descent from phi = theta, at most max_steps iterations; each task stops as soon as
    its own gradient norm is below delta. A step that would increase G_i is rejected and that
    task's step size halved, so the solve never diverges. Where G_i is strongly convex (H_i + lam I
    positive definite), ||phi - phi*|| <= ||grad G_i|| / (lam + smallest eigenvalue of H_i):
    delta controls the distance to the exact minimiser.
    """
    check_positive(lam=lam, lr=lr)
    check_non_negative(max_steps=max_steps, delta=delta)
    x, y, _ = _as_batched(params, x, y)
    theta = {k: v.detach() for k, v in _lift(params, x.shape[0]).items()}
    phi = dict(theta)
    G, g = proximal_objective(model, phi, theta, x, y, lam)
    norms = [task_norm(g)]
    _check_finite(G, "the inner objective", "check the inputs for NaN or inf")
    steps = torch.zeros(x.shape[0], dtype=torch.long)
    step_size = torch.full((x.shape[0],), float(lr), dtype=x.dtype)
    for _ in range(max_steps):
        active = norms[-1] > delta
        if not active.any():
            break
        scale = step_size * active
        trial = {k: p - scale.view(-1, *[1] * (p.dim() - 1)) * g[k] for k, p in phi.items()}
        G_trial, g_trial = proximal_objective(model, trial, theta, x, y, lam)
        # accept unless G rises by more than rounding (a NaN or inf trial is rejected too)
        accept = active & (G_trial <= G + 16 * torch.finfo(G.dtype).eps * G.abs())
        step_size = torch.where(active & ~accept, step_size / 2, step_size)
        phi, g = _where(accept, trial, phi), _where(accept, g_trial, g)
        G = torch.where(accept, G_trial, G)
        steps += accept
        norms.append(task_norm(g))
    return ProximalSolution(phi, steps, torch.stack(norms))
