"""Other inner solvers reaching the same phi: iMAML's meta-gradient does not care which one ran.

iMAML's meta-gradient (Algorithm 2, steps 4-5) g_i = (I + H_i/lam)^-1 grad L_test_i(phi_i) takes
only phi_i as input. MAML's is d L_test(phi_k(theta)) / d theta through the solver's own steps: the
derivative of the path. On a linear model f(x) = Phi(x) w (bayes.LinearFeatureModel, e.g.
the last layer of a shipped network on its trunk features) the inner problem
    G_i(w) = (1/K) ||Phi_i w - y_i||^2 + (lam/2) ||w - theta||^2                      (eq. 4)
is quadratic, phi* is known in closed form, and every claim can be checked to rounding error.
"""

import torch

from helpers import models
from helpers.checks import check_non_negative, check_positive
from helpers.imaml import exact_imaml_grad
from helpers.inner import _as_batched, _lift, proximal_grad
from helpers.models import flatten, loss_grad, mse, task_norm, unflatten


def closed_form_solution(features, params, x, y, lam):
    """phi_i* of the linear model: (2/K Phi^T Phi + lam I) w = 2/K Phi^T y + lam theta, per task
    (the MSE's gradient is 2/K Phi^T (Phi w - y)). params = {"w0": theta (D,)}; x, y (T, K, 1)."""
    check_positive(lam=lam)
    x, y, _ = _as_batched(params, x, y)
    Phi = features(x)
    k, d = Phi.shape[-2], Phi.shape[-1]
    A = 2 / k * Phi.transpose(-1, -2) @ Phi + lam * torch.eye(d, dtype=Phi.dtype)
    b = 2 / k * (Phi.transpose(-1, -2) @ y).squeeze(-1) + lam * params["w0"]
    return {"w0": torch.linalg.solve(A, b)}


def lbfgs_solve(model, params, x, y, lam, tol=1e-10, max_iter=500):
    """phi_i by L-BFGS (torch.optim.LBFGS, strong Wolfe line search) on sum_i G_i: the tasks are
    independent, so the sum is minimised exactly where each G_i is. Returns (phi, iterations)."""
    check_positive(lam=lam, tol=tol, max_iter=max_iter)
    x, y, _ = _as_batched(params, x, y)
    theta = {k: v.detach() for k, v in _lift(params, x.shape[0]).items()}
    like = {k: v[0] for k, v in theta.items()}
    flat_theta = flatten(theta, 1)
    w = flat_theta.clone().requires_grad_()
    opt = torch.optim.LBFGS([w], lr=1, max_iter=max_iter, tolerance_grad=tol, tolerance_change=0,
                            history_size=50, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        with torch.enable_grad():
            G = mse(model, unflatten(w, like), x, y) + lam / 2 * (w - flat_theta).pow(2).sum(-1)
            G.sum().backward()
        return G.sum()

    opt.step(closure)
    return unflatten(w.detach(), like), opt.state[w]["n_iter"]


def unrolled_meta_grad(model, params, batch, lam, lr, steps, momentum=0.0, start=None):
    """MAML's meta-gradient through `steps` steps on G_i: d (1/T) sum_i L_test_i(phi_k) / d theta by
    backprop through the steps (second order). momentum > 0: heavy-ball steps phi <- phi - lr grad G
    + momentum (phi - phi_prev). start: a warm start per task (T, ...) that does not depend on theta
    (e.g. the solution for the previous meta-parameters); default theta itself.
    With momentum=0 and no start this is helpers.maml.maml_grad(..., lam=lam). Returns (grad, phi).
    """
    check_positive(lam=lam, lr=lr)
    check_non_negative(steps=steps, momentum=momentum)
    theta = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
    with torch.enable_grad():
        th = _lift(theta, batch.n_tasks)
        phi = th if start is None else {k: v.detach().requires_grad_() for k, v in start.items()}
        prev = phi
        for _ in range(steps):
            _, g = loss_grad(model, phi, batch.x_tr, batch.y_tr, create_graph=True)
            new = {k: p - lr * (g[k] + lam * (p - th[k])) + momentum * (p - prev[k]) for k, p in phi.items()}
            prev, phi = phi, new
        loss = mse(model, phi, batch.x_te, batch.y_te).mean()
        grads = torch.autograd.grad(loss, list(theta.values()), allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, theta.values(), strict=True)]
    return dict(zip(params, grads, strict=True)), {k: v.detach() for k, v in phi.items()}


def relative_error(a, b):
    """||a - b|| / ||b|| over all entries of two parameter dicts (or tensors)."""
    a = flatten(a) if isinstance(a, dict) else a
    b = flatten(b) if isinstance(b, dict) else b
    return models.relative_error(a.flatten(), b.flatten()).item()


def path_study(model, params, batch, lam, lr, ks, warm_start, momentum=0.9, phi_star=None):
    """Meta-gradient errors along three solver paths, against iMAML's exact meta-gradient at phi*:
    'GD' and 'heavy ball' start at theta, 'GD, warm start' at `warm_start` (held fixed). For each path
    and k in ks: distance max_i ||phi_k - phi*||, error of iMAML's formula at phi_k (dense, exact) and
    error of MAML's meta-gradient through the k steps. Returns {path: {"dist", "imaml", "maml"}}."""
    if phi_star is None:
        raise ValueError("phi_star (the exact inner solution, e.g. closed_form_solution) is required")
    g_star, _ = exact_imaml_grad(model, params, batch, lam, lr, 0, 0.0, phi=phi_star)
    paths = {"GD": (0.0, None), "heavy ball": (momentum, None), "GD, warm start": (0.0, warm_start)}
    out = {}
    for name, (beta, start) in paths.items():
        rows = {"dist": [], "imaml": [], "maml": []}
        for k in ks:
            g_maml, phi = unrolled_meta_grad(model, params, batch, lam, lr, k, beta, start)
            g_imaml, _ = exact_imaml_grad(model, params, batch, lam, lr, 0, 0.0, phi=phi)
            rows["dist"].append((flatten(phi, 1) - flatten(phi_star, 1)).norm(dim=1).max().item())
            rows["imaml"].append(relative_error(g_imaml, g_star))
            rows["maml"].append(relative_error(g_maml, g_star))
        out[name] = rows
    return out


def stationarity(model, params, phi, x, y, lam):
    """max_i ||grad G_i(phi_i)||: how far phi is from solving the inner problem."""
    x, y, _ = _as_batched(params, x, y)
    return task_norm(proximal_grad(model, phi, _lift(params, x.shape[0]), x, y, lam)).max().item()


PATH_MARKERS = {"GD": "o", "heavy ball": "s", "GD, warm start": "^"}


def plot_path_study(result, ks):
    """Meta-gradient error against the distance to phi*, one marker per path and k: iMAML's formula
    (filled) and MAML's unrolled gradient (open)."""
    import matplotlib.pyplot as plt

    from helpers.plots import COLORS, LABELS

    fig, ax = plt.subplots(figsize=(6.8, 4.2))
    for path, rows in result.items():
        m = PATH_MARKERS.get(path, "o")
        ax.plot(rows["dist"], rows["imaml"], m, color=COLORS["imaml"], ms=7, alpha=0.85,
                label=f"{LABELS['imaml']} formula at $\\phi_k$, {path}")
        ax.plot(rows["dist"], rows["maml"], m, mfc="none", mew=1.5, color=COLORS["maml"], ms=8,
                label=f"{LABELS['maml']} (backprop through the steps), {path}")
        for k, x, y in zip(ks, rows["dist"], rows["maml"], strict=True):
            if path == "GD, warm start" and k > 1:  # k = 1 would sit on k = 4
                ax.annotate(f"k={k}", (x, y), textcoords="offset points", xytext=(5, 3), fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"distance to the inner solution $\max_i \|\phi_{i,k} - \phi_i^*\|$")
    ax.set_ylabel("meta-gradient error vs the exact\nimplicit gradient at $\\phi^*$")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
