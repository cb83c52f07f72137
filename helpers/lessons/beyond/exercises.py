"""Checkers for notebook 07 (beyond iMAML: the Bayesian reading, other inner solvers).

Each check_* calls the student's function, compares it with an independent computation, prints
"correct: ..." or "not yet right: ..." and returns True / False. An unfinished answer (a stub
returning None, or raising) never raises here.
"""

import torch

from helpers.exercises import call, report

from .bayes import map_by_gradient_descent

F64 = torch.float64


def _tensor_call(fn, *args):
    """call(fn, *args), and a message unless the answer is a tensor."""
    value, problem = call(fn, *args)
    if problem is None and not isinstance(value, torch.Tensor):
        return None, f"{fn.__name__} should return a tensor, got {type(value).__name__}"
    return value, problem


def _problems():
    """(Phi, y, theta, lam, sigma): one with more points than features, one with fewer (K < D)."""
    g = torch.Generator().manual_seed(6)
    out = []
    for k, d, lam, sigma in ((12, 3, 0.7, 0.4), (3, 6, 2.0, 0.8)):
        out.append((torch.randn(k, d, generator=g, dtype=F64), torch.randn(k, generator=g, dtype=F64),
                    torch.randn(d, generator=g, dtype=F64), lam, sigma))
    return out


# ---------------------------------------------------------------- exercise: the posterior mean

def check_posterior_mean(posterior_mean):
    """posterior_mean(Phi, y, theta, lam, sigma) -> the mean of p(w | D^tr) for the prior
    N(theta, lam^-1 I) and the likelihood N(Phi w, sigma^2 I). Compared with the iMAML inner solve:
    gradient descent on NLL(w) + (lam/2)||w - theta||^2 run to ||grad|| <= 1e-12 (no closed form)."""
    for Phi, y, theta, lam, sigma in _problems():
        value, problem = _tensor_call(posterior_mean, Phi, y, theta, lam, sigma)
        if problem:
            return report(False, problem)
        if value.shape != theta.shape:
            return report(False, f"expected shape {tuple(theta.shape)}, got {tuple(value.shape)}")
        want, _, _ = map_by_gradient_descent(Phi, y, theta, lam, sigma, delta=1e-12)
        err = (value - want).abs().max().item()
        if not err <= 1e-6:
            return report(False, f"on a problem with K = {Phi.shape[0]} points and D = {Phi.shape[1]} "
                                  f"features the mean differs from the MAP estimate by {err:.2e}. Write the "
                                  "log-posterior, set its gradient to zero, solve for w.")
    return report(True, "equals the MAP estimate found by gradient descent on the proximal objective "
                         "(to 1e-6), with more and with fewer points than features")


# ---------------------------------------------------------------- exercise: the implicit Jacobian

def check_implicit_jacobian(implicit_jacobian):
    """implicit_jacobian(Phi, lam, sigma) -> d phi* / d theta (D, D) for the MAP phi*(theta).
    Compared with central finite differences of the gradient-descent MAP in theta."""
    for Phi, y, theta, lam, sigma in _problems():
        value, problem = _tensor_call(implicit_jacobian, Phi, lam, sigma)
        if problem:
            return report(False, problem)
        d = theta.numel()
        if value.shape != (d, d):
            return report(False, f"expected shape {(d, d)}, got {tuple(value.shape)}")
        eps = 1e-4
        cols = []
        for j in range(d):
            e = torch.zeros(d, dtype=F64)
            e[j] = eps
            plus, _, _ = map_by_gradient_descent(Phi, y, theta + e, lam, sigma, delta=1e-13)
            minus, _, _ = map_by_gradient_descent(Phi, y, theta - e, lam, sigma, delta=1e-13)
            cols.append((plus - minus) / (2 * eps))
        want = torch.stack(cols, dim=1)
        err = (value - want).abs().max().item()
        if not err <= 1e-6:
            return report(False, f"differs from finite differences of phi*(theta) by {err:.2e} (K = "
                                  f"{Phi.shape[0]}, D = {d}). Differentiate A phi* = lam theta + Phi^T y / "
                                  "sigma^2 in theta.")
    return report(True, "matches finite differences of the MAP estimate in theta: this is iMAML's "
                         "(I + H/lam)^-1 with H = Phi^T Phi / sigma^2")
