"""How far is first-order MAML from MAML? Both meta-gradients on the same tasks, as k grows.

For task i with phi_i = k steps of gradient descent from theta (MAML Algorithm 2, step 6):
    exact      g_i     = d L_test_i(phi_i) / d theta
                       = prod_{j=k-1..0} (I - alpha H_tr_i(phi_i^(j))) grad L_test_i(phi_i)
    first order g_i^FO = grad L_test_i(phi_i)            (every Jacobian I - alpha H replaced by I)
Reported per k: the cosine similarity and the relative error ||g^FO - g|| / ||g||, both for the
batch meta-gradient (1/T) sum_i g_i that an update uses, and per task. At k = 0 they agree exactly.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

from helpers.inner import adapt
from helpers.models import flatten, loss_grad, mse, relative_error
from helpers.plots import COLORS, LABELS


def per_task_meta_grads(model, params, batch, inner_steps, inner_lr, first_order=False):
    """g_i for every task of `batch`, flattened: shape (T, P). Their mean is maml_grad's result.

    Exact: theta gets one leaf per task, so one backward pass through the unrolled loop
    yields every task's own gradient at once.
    """
    T = batch.n_tasks
    if first_order:
        phi = adapt(model, params, batch.x_tr, batch.y_tr, inner_steps, inner_lr)
        _, grads = loss_grad(model, phi, batch.x_te, batch.y_te)
        return flatten(grads, batch_dims=1)
    theta = {k: v.detach().expand(T, *v.shape).clone().requires_grad_() for k, v in params.items()}
    with torch.enable_grad():
        phi = adapt(model, theta, batch.x_tr, batch.y_tr, inner_steps, inner_lr, create_graph=True)
        # the sum over tasks: task i's loss depends only on its own leaf, so d/d theta_i is g_i
        loss = mse(model, phi, batch.x_te, batch.y_te).sum()
        grads = torch.autograd.grad(loss, list(theta.values()))
    return flatten(dict(zip(params, grads, strict=True)), batch_dims=1)


def cosine(a, b):
    """Cosine similarity along the last axis."""
    return torch.nn.functional.cosine_similarity(a, b, dim=-1, eps=1e-30)


def first_order_bias(model, params, batch, steps_list, inner_lr, meta_batch=25):
    """One row per k in steps_list, all on the same tasks.

    Per task: task_cosine and task_relative_error, tensors of shape (T,). Per meta-batch (the
    tasks split into consecutive groups of meta_batch, each averaged as one meta-iteration would):
    cosine and relative_error, tensors of shape (T // meta_batch,).
    """
    T = batch.n_tasks
    if not isinstance(meta_batch, int) or not 1 <= meta_batch <= T:
        raise ValueError(f"meta_batch must be an integer in [1, {T}] (the batch has {T} tasks), "
                         f"got {meta_batch!r}")
    n = T // meta_batch
    rows = []
    for k in steps_list:
        exact = per_task_meta_grads(model, params, batch, k, inner_lr)
        fo = per_task_meta_grads(model, params, batch, k, inner_lr, first_order=True)
        g = exact[: n * meta_batch].reshape(n, meta_batch, -1).mean(1)
        g_fo = fo[: n * meta_batch].reshape(n, meta_batch, -1).mean(1)
        rows.append({
            "inner_steps": k,
            "meta_batch": meta_batch,
            "cosine": cosine(g_fo, g),
            "relative_error": relative_error(g_fo, g),
            "task_cosine": cosine(fo, exact),
            "task_relative_error": relative_error(fo, exact),
        })
    return rows


def plot_bias(rows, axes=None):
    """Cosine similarity and relative error against k, median and interquartile range (band) over
    meta-batches (solid) and over single tasks (dashed). Returns (fig, (ax_cos, ax_err))."""
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.4))
    else:
        fig = axes[0].figure
    k = [r["inner_steps"] for r in rows]
    color = COLORS["fomaml"]
    for ax, key in zip(axes, ("cosine", "relative_error"), strict=True):
        for prefix, ls, marker, what in (("", "-", "o", f"meta-batch of {rows[0]['meta_batch']} tasks"),
                                          ("task_", "--", ".", "single task")):
            values = np.stack([r[prefix + key].numpy() for r in rows])
            q1, med, q3 = np.percentile(values, [25, 50, 75], axis=1)
            ax.fill_between(k, q1, q3, color=color, alpha=0.12 if prefix else 0.25, lw=0)
            ax.plot(k, med, color=color, ls=ls, marker=marker, ms=4, label=f"{what} (median, IQR)")
        ax.set_xlabel("inner steps k")
    axes[0].axhline(1.0, color="0.5", lw=0.8)
    axes[0].set(ylabel="cosine(g_FO, g)", title=f"{LABELS['fomaml']} vs exact MAML: direction")
    axes[1].set(ylabel="||g_FO - g|| / ||g||", title=f"{LABELS['fomaml']} vs exact MAML: relative error")
    axes[1].set_ylim(bottom=0)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig, axes
