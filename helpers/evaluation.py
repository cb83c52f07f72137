"""Held-out evaluation: mean query MSE after n adaptation steps, with a 95% confidence interval."""

import math

import torch

from .inner import adapt
from .models import mse
from .tasks import SinusoidTasks


def adaptation_errors(model, params, batch, steps, lr, lam=0.0):
    """Query MSE per task after 0, 1, ..., steps gradient steps: shape (steps + 1, T).

    lam > 0 adapts on the proximal objective L_tr(phi) + (lam/2)||phi - theta||^2 (iMAML's solver).
    """
    phi = params
    errors = [mse(model, phi, batch.x_te, batch.y_te)]
    for _ in range(steps):
        # one gradient step on L_tr from phi, plus the pull -lr * lam * (phi - theta) to the anchor
        phi_next = adapt(model, phi, batch.x_tr, batch.y_tr, 1, lr)
        phi = {k: v - lr * lam * (phi[k] - params[k]) for k, v in phi_next.items()} if lam else phi_next
        errors.append(mse(model, phi, batch.x_te, batch.y_te))
    return torch.stack(errors).detach()


def mean_ci(values):
    """Mean and half-width of the 95% normal confidence interval."""
    values = values.double()
    return values.mean().item(), 1.96 * values.std().item() / math.sqrt(values.numel())


def evaluate(model, params, n_tasks=1000, k_shot=5, steps=(0, 1, 5, 10), lr=0.01, lam=0.0,
             k_query=100, seed=12345, tasks=SinusoidTasks()):
    """{n: (mean MSE, 95% CI half-width)} over n_tasks held-out tasks after n adaptation steps."""
    dtype = next(iter(params.values())).dtype
    batch = tasks.sample(n_tasks, k_shot, k_query, seed, dtype)
    errors = adaptation_errors(model, params, batch, max(steps), lr, lam)
    return {n: mean_ci(errors[n]) for n in steps}
