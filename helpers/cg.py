"""Conjugate gradient with Hessian-vector products only (iMAML, Algorithm 2, step 5)."""

from dataclasses import dataclass

import torch

from .checks import check_int, check_non_negative


@dataclass
class CGResult:
    """x: the solution (T, P); residuals[j, i] = ||b_i - A x_i|| after j iterations; steps_taken[i]
    the iterations system i ran (one product with A each) before it stopped.

    non_positive_curvature[i] is True when CG met p^T A p <= 0 for system i (A is not positive
    definite there); x_i is then the last iterate before that direction, never NaN.
    """

    x: torch.Tensor
    residuals: torch.Tensor
    non_positive_curvature: torch.Tensor
    steps_taken: torch.Tensor

    @property
    def iterations(self):
        return self.residuals.shape[0] - 1


def conjugate_gradient(matvec, b, steps, tol=0.0, precondition=None):
    """Solve A x = b for symmetric positive definite A, given only matvec(v) = A v.

    b: (P,) or (T, P) for T independent systems solved together (matvec must act row-wise).
    Runs at most `steps` iterations; a system stops once its residual norm is <= tol (a number, or
    one per system). precondition(r) = M^-1 r, M symmetric positive definite and close to A, makes
    it preconditioned CG (same residuals ||b - A x||, fewer iterations when M^-1 A is well
    conditioned; helpers.precondition).
    """
    check_int("steps", steps, 0)
    check_non_negative(tol=torch.as_tensor(tol).min().item())
    single = b.dim() == 1
    b = b.unsqueeze(0) if single else b
    x = torch.zeros_like(b)
    r = b.clone()
    z = r if precondition is None else precondition(r)
    p = z.clone()
    rs = torch.linalg.vecdot(r, z)  # r^T M^-1 r
    residuals = [r.norm(dim=-1)]
    bad = torch.zeros(b.shape[0], dtype=torch.bool)
    taken = torch.zeros(b.shape[0], dtype=torch.long)
    active = residuals[0] > tol
    for _ in range(steps):
        if not active.any():
            break
        taken += active
        Ap = matvec(p)
        pAp = torch.linalg.vecdot(p, Ap)
        bad |= active & (pAp <= 0)
        active &= pAp > 0
        alpha = torch.where(active, rs / pAp, 0).unsqueeze(-1)  # 0 freezes a stopped system
        x.addcmul_(alpha, p)
        r.addcmul_(alpha, Ap, value=-1)
        z = r if precondition is None else precondition(r)
        rs_new = torch.where(active, torch.linalg.vecdot(r, z), rs)
        p = torch.addcmul(z, torch.where(active, rs_new / rs, 0).unsqueeze(-1), p)
        rs = rs_new
        residuals.append(r.norm(dim=-1))
        active &= residuals[-1] > tol
    res = CGResult(x, torch.stack(residuals), bad, taken)
    if single:
        res = CGResult(res.x[0], res.residuals[:, 0], res.non_positive_curvature[0], taken[0])
    return res
