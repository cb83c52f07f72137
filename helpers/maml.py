"""MAML and first-order MAML meta-gradients, batched over tasks (MAML paper, Algorithm 2).

    phi_i = theta - alpha grad L_tr_i(theta), repeated k times
    MAML:      g = (1/T) sum_i d L_test_i(phi_i) / d theta    (backprop through the k steps)
    FO-MAML:   g = (1/T) sum_i grad L_test_i(phi_i)          (drops the Jacobian d phi_i / d theta)
"""

from dataclasses import dataclass

import torch

from .inner import adapt
from .models import loss_grad, mse


@dataclass
class MetaInfo:
    """Diagnostics of one meta-gradient: the mean query loss after adaptation."""

    loss: float


def maml_grad(model, params, batch, inner_steps, inner_lr, first_order=False, lam=0.0, check=True):
    """Meta-gradient of (1/T) sum_i L_test_i(phi_i(theta)) for the tasks of `batch`.

    lam > 0 runs the inner steps on the proximal objective of iMAML (used to compare methods).
    params with a task axis (helpers.models.per_task) give one meta-gradient per task, each divided
    by T. check=False lets a diverged task's meta-gradient be non-finite instead of raising.
    Returns (grad: dict like params, MetaInfo).
    """
    if first_order:
        phi = adapt(model, params, batch.x_tr, batch.y_tr, inner_steps, inner_lr, lam, check=check)
        loss, grads = loss_grad(model, phi, batch.x_te, batch.y_te)
        return {k: g.mean(0) for k, g in grads.items()}, MetaInfo(loss.mean().item())
    theta = {k: v.detach().requires_grad_() for k, v in params.items()}
    with torch.enable_grad():
        phi = adapt(model, theta, batch.x_tr, batch.y_tr, inner_steps, inner_lr, lam,
                    create_graph=True, check=check)
        loss = mse(model, phi, batch.x_te, batch.y_te).mean()
        grads = torch.autograd.grad(loss, list(theta.values()))
    return dict(zip(params, grads, strict=True)), MetaInfo(loss.item())


def fomaml_grad(model, params, batch, inner_steps, inner_lr, lam=0.0):
    """First-order MAML: maml_grad with first_order=True."""
    return maml_grad(model, params, batch, inner_steps, inner_lr, first_order=True, lam=lam)
