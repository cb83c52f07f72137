"""Reptile (Nichol, Achiam & Schulman 2018), the other first-order meta-learner, batched over tasks.

    phi_i = k steps of gradient descent of size alpha on task i's data, from theta
    theta <- theta + eps (1/T) sum_i (phi_i - theta)

No query loss and no derivative of the inner loop: the meta-update is the average displacement of
the adapted parameters. With k = 1 it is plain gradient descent on the pooled loss (the transfer
baseline); from k = 2 on, the displacement also carries curvature information, which is what makes
it a meta-learner.
"""

import time

import torch
from tqdm.auto import trange

from helpers.checks import check_positive
from helpers.inner import adapt
from helpers.models import MLP
from helpers.tasks import SinusoidTasks, make_generator
from helpers.training import History


def task_data(batch):
    """Reptile adapts on all the points a task comes with: support and query sets together."""
    return torch.cat([batch.x_tr, batch.x_te], 1), torch.cat([batch.y_tr, batch.y_te], 1)


def reptile_direction(model, params, batch, inner_steps, inner_lr):
    """(1/T) sum_i (phi_i - theta): the direction Reptile moves theta in (a dict like params)."""
    if not isinstance(inner_steps, int) or inner_steps < 1:
        raise ValueError(f"inner_steps must be an integer >= 1, got {inner_steps!r}")
    x, y = task_data(batch)
    phi = adapt(model, params, x, y, inner_steps, inner_lr)
    return {k: (phi[k] - v.detach()).mean(0) for k, v in params.items()}


def reptile_train(model=None, params=None, *, iterations=1000, meta_batch=25, k_shot=10, k_query=10,
                  inner_steps=5, inner_lr=0.02, eps=1.0, seed=0, tasks=SinusoidTasks(),
                  dtype=torch.float32, progress=True):
    """Meta-train theta with the Reptile update; eps decays linearly from `eps` to 0 over the run,
    so that the last batches do not jerk theta around. Returns (model, params, History) where
    History.loss is the mean support-and-query loss of the tasks before adaptation."""
    check_positive(iterations=iterations, meta_batch=meta_batch, inner_lr=inner_lr, eps=eps)
    g = make_generator(seed)
    model = model or MLP()
    if params is None:
        params = model.init(g, dtype=dtype)
    theta = {k: v.detach().clone() for k, v in params.items()}
    history = History()
    t0 = time.perf_counter()
    for it in trange(iterations, desc="reptile", disable=not progress, mininterval=0.5):
        batch = tasks.sample(meta_batch, k_shot, k_query, g, dtype)
        x, y = task_data(batch)
        history.loss.append((model(theta, x) - y).pow(2).mean().item())
        step = eps * (1 - it / iterations)
        direction = reptile_direction(model, theta, batch, inner_steps, inner_lr)
        theta = {k: v + step * direction[k] for k, v in theta.items()}
    history.seconds = time.perf_counter() - t0
    return model, theta, history
