"""The transfer-learning baseline: one network "pretrained on all tasks" (MAML paper, section 5.1).

It regresses pooled data from many random tasks; since the phase and amplitude are random, the best
single prediction is the average curve E[A sin(x - b)], close to zero. Fine-tuning then starts
from there with plain gradient descent on the K support points.
"""

import time

import torch
from tqdm.auto import trange

from helpers.checks import check_positive
from helpers.models import MLP, mse
from helpers.tasks import SinusoidTasks, make_generator


def pretrain_pooled(model=None, *, iterations=5000, tasks_per_batch=25, points_per_task=10,
                    lr=1e-3, seed=0, tasks=SinusoidTasks(), dtype=torch.float32, progress=True):
    """Minimise the pooled MSE (1/T) sum_i L_i(theta) over fresh random tasks with Adam.

    Returns (model, params, list of losses, seconds).
    """
    check_positive(iterations=iterations, tasks_per_batch=tasks_per_batch, lr=lr)
    g = make_generator(seed)
    model = model or MLP()
    params = {k: v.requires_grad_() for k, v in model.init(g, dtype=dtype).items()}
    opt = torch.optim.Adam(params.values(), lr=lr)
    losses = []
    t0 = time.perf_counter()
    for _ in trange(iterations, desc="transfer", disable=not progress, mininterval=0.5):
        batch = tasks.sample(tasks_per_batch, points_per_task, 1, g, dtype)
        loss = mse(model, params, batch.x_tr, batch.y_tr).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, {k: v.detach() for k, v in params.items()}, losses, time.perf_counter() - t0
