"""A preconditioner for the conjugate gradient of iMAML's two linear systems (Algorithm 2, steps 3
and 5), built from the Gauss-Newton part of the Hessian.

With N support points the Hessian of L_tr(phi) = (1/N) sum_n (f_n(phi) - y_n)^2 splits into

    H = (2/N) J^T J  +  (2/N) sum_n r_n Hess f_n,        J = d f / d phi  (N x P), r_n = f_n - y_n

The Gauss-Newton part (2/N) J^T J has rank N (10 here, against P = 1,761 parameters) and carries the
large eigenvalues (thousands); the residual part is small near a fit. So M = c I + (2/N) J^T J is
close to c I + H, and the Woodbury identity inverts it with an N x N solve:

    M^-1 r = (r - (2/N) J^T (c I_N + (2/N) J J^T)^-1 J r) / c

Conjugate gradient on M^-1 (c I + H) then needs a handful of steps where plain CG needs tens.
"""

import torch


def output_jacobian(model, phi, x):
    """J_i = d f(phi_i, x_n) / d phi_i for every task and support point: (T, N, P), columns ordered
    as helpers.models.flatten (from the model's jacobian_factors)."""
    return _jacobian(model.jacobian_factors(phi, x))


def _jacobian(factors):
    """J (T, N, P) from the factors, each layer's rows written in place (no temporary copies)."""
    T, N = factors[0][0].shape[:2]
    J = torch.empty(T, N, sum(delta.shape[-1] * (h.shape[-1] + 1) for delta, h in factors),
                    dtype=factors[0][0].dtype)
    start = 0
    for delta, h in factors:
        n_out, n_in = delta.shape[-1], h.shape[-1]
        weights = J[..., start:start + n_out * n_in].unflatten(-1, (n_out, n_in))
        torch.mul(delta.unsqueeze(-1), h.unsqueeze(-2), out=weights)
        J[..., start + n_out * n_in:start + n_out * (n_in + 1)] = delta
        start += n_out * (n_in + 1)
    return J


def gauss_newton_preconditioner(model, phi, x, shift, scale=1.0, factors=None):
    """r -> scale * (shift I + (2/N) J_i^T J_i)^-1 r for every task (r: (T, P)), J_i the output
    Jacobian of `model` at phi_i on the support inputs x (T, N, 1); shift: a number or one per task
    (> 0). For the meta-gradient's I + H/lam use shift = scale = lam. factors: the model's
    jacobian_factors at phi, if already at hand (a helpers.models.Linearization's)."""
    if not hasattr(model, "jacobian_factors"):
        raise ValueError("the Gauss-Newton preconditioner needs a model with jacobian_factors "
                         f"(helpers.models.MLP), got {type(model).__name__}: run with precondition=False")
    if factors is None:
        factors = model.jacobian_factors(phi, x)
    J = _jacobian(factors)
    # J J^T from the factors: row n . row m = (delta_n . delta_m)(h_n . h_m + 1), summed over layers
    JJt = sum((delta @ delta.mT) * (h @ h.mT + 1) for delta, h in factors)
    a = 2 / x.shape[-2]
    shift = torch.as_tensor(shift, dtype=J.dtype).expand(J.shape[0])
    chol = torch.linalg.cholesky(a * JJt + shift.view(-1, 1, 1) * torch.eye(J.shape[1], dtype=J.dtype))
    Jt, factor = J.mT, (scale / shift).unsqueeze(-1)

    def apply(r):
        r = r.unsqueeze(-2)  # a row vector times J^T, then times J: the fast layouts
        w = torch.cholesky_solve(torch.bmm(r, Jt).mT, chol)  # (T, N, 1)
        return torch.baddbmm(r, w.mT, J, alpha=-a).squeeze(-2).mul_(factor)

    return apply
