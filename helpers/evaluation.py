"""Held-out evaluation: mean query MSE after n adaptation steps, with a 95% confidence interval."""

import math

import torch

from .inner import adapt, proximal_solve
from .models import mse
from .tasks import SinusoidTasks


def adaptation_errors(model, params, batch, steps, lr, lam=0.0):
    """Query MSE per task after 0, 1, ..., steps gradient steps: shape (steps + 1, T).

    lam > 0 adapts with iMAML's own inner solver (proximal_solve with delta = 0, n iterations).
    """
    if lam:
        phis = [proximal_solve(model, params, batch.x_tr, batch.y_tr, lam, lr, n, 0.0).phi
                for n in range(steps + 1)]
    else:
        phis = [params]
        for _ in range(steps):
            phis.append(adapt(model, phis[-1], batch.x_tr, batch.y_tr, 1, lr))
    return torch.stack([mse(model, phi, batch.x_te, batch.y_te) for phi in phis]).detach()


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
