"""The linear system of iMAML's meta-gradient seen densely: (I + H/lam) g = v (Algorithm 2, step 5).

H is the Hessian of L_tr at phi: 1,761 x 1,761 for the 1-40-40-1 MLP, formed here only to look at
it (the algorithm itself never does). With eigenvalues e_1 <= ... <= e_P of H, the eigenvalues of
I + H/lam are 1 + e_j/lam: lam squeezes the spectrum towards 1. The system is positive definite
iff lam > -e_1 (the "critical" lambda), and CG's error shrinks at least by (sqrt(kappa) - 1) /
(sqrt(kappa) + 1) per step, kappa = (1 + e_P/lam) / (1 + e_1/lam) the condition number.
"""

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch

from helpers.cg import CGResult, conjugate_gradient
from helpers.imaml import task_hessians
from helpers.plots import COLORS


def hessian_eigenvalues(model, phi, x, y):
    """Eigenvalues of H_i = Hessian of L_tr_i at phi_i, ascending: shape (T, P), float64."""
    H = task_hessians(model, {k: v.double() for k, v in phi.items()}, x.double(), y.double())
    return torch.linalg.eigvalsh(H)


def system_eigenvalues(eigs, lam):
    """Eigenvalues of I + H/lam from those of H."""
    if not lam > 0:
        raise ValueError(f"lam must be > 0, got {lam}")
    return 1 + eigs / lam


def critical_lambda(eigs):
    """-e_1 (or 0 if H >= 0): for lam at or below it, I + H/lam is not positive definite."""
    return torch.clamp(-eigs[..., 0], min=0.0)


def condition_number(eigs, lam):
    """kappa(I + H/lam) = (1 + e_P/lam) / (1 + e_1/lam); inf where the system is indefinite."""
    s = system_eigenvalues(eigs, lam)
    return torch.where(s[..., 0] > 0, s[..., -1] / s[..., 0].clamp(min=1e-300), math.inf)


def cg_rate(kappa):
    """CG's guaranteed error reduction per step, (sqrt(kappa) - 1) / (sqrt(kappa) + 1)."""
    r = math.sqrt(kappa)
    return (r - 1) / (r + 1)


@dataclass
class CGPath:
    """xs[j] = the CG iterate after j steps, shape (J + 1, T, P); result: the CGResult;
    breakdown (T,): the step at which CG met p^T A p <= 0 (A not positive definite), -1 if never."""

    xs: torch.Tensor
    result: CGResult
    breakdown: torch.Tensor


def cg_path(matvec, b, steps):
    """Every iterate x_0, ..., x_J of helpers.cg.conjugate_gradient(matvec, b, steps), b: (T, P).

    CG only returns its last iterate; the others are rebuilt from the search directions p_j that
    it hands to matvec: x_{j+1} = x_j + alpha_j p_j with alpha_j = ||r_j||^2 / p_j^T A p_j, the
    same update it makes (and none once it meets p^T A p <= 0). xs[-1] equals the result's x.
    """
    seen = []

    def recording(p):
        ap = matvec(p)
        seen.append((p, ap))
        return ap

    res = conjugate_gradient(recording, b, steps)
    x = torch.zeros_like(b)
    xs = [x]
    stopped = torch.zeros(b.shape[0], dtype=torch.bool)
    breakdown = torch.full((b.shape[0],), -1, dtype=torch.long)
    for j, (p, ap) in enumerate(seen):
        pap = (p * ap).sum(-1)
        breakdown = torch.where(~stopped & (pap <= 0), j, breakdown)
        stopped |= pap <= 0
        alpha = torch.where(stopped, 0.0, res.residuals[j] ** 2 / torch.where(stopped, 1.0, pap))
        x = x + alpha.unsqueeze(-1) * p
        xs.append(x)
    xs += [x] * (steps + 1 - len(xs))  # CG stops early once every system is solved exactly
    return CGPath(torch.stack(xs), res, breakdown)


def extreme_eigenvalues(matvec, n_systems, n, steps=60, seed=0, dtype=torch.float64):
    """(smallest, largest) eigenvalue of symmetric A_i for each of n_systems systems, each (T,),
    by `steps` Lanczos iterations using only matvec(v) = A v on v of shape (T, n). The extremes of a
    spectrum converge first: ~60 products suffice here, against a dense eigendecomposition.

    Every new vector is orthogonalised twice against all earlier ones (full re-orthogonalisation);
    when the Krylov space of a system is exhausted (beta ~ 0) it restarts from a random vector
    orthogonal to them, which leaves a block-diagonal, still exact, tridiagonal matrix.
    """
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n_systems, n, generator=g, dtype=dtype)
    q = q / q.norm(dim=-1, keepdim=True)
    basis, alphas, betas = [q], [], []
    q_prev, beta = torch.zeros_like(q), torch.zeros(n_systems, dtype=dtype)
    steps = min(steps, n)

    def orthogonalise(w):
        Q = torch.stack(basis, dim=1)  # (T, j, n)
        for _ in range(2):
            w = w - torch.einsum("tjn,tj->tn", Q, torch.einsum("tjn,tn->tj", Q, w))
        return w

    scale = torch.zeros(n_systems, dtype=dtype)
    for j in range(steps):
        w = matvec(q) - beta.unsqueeze(-1) * q_prev
        alpha = (w * q).sum(-1)
        w = orthogonalise(w)
        beta = w.norm(dim=-1)
        scale = torch.maximum(scale, alpha.abs() + beta)
        alphas.append(alpha)
        if j == steps - 1:
            break
        exhausted = beta <= 1e-10 * scale
        if exhausted.any():
            r = orthogonalise(torch.randn(n_systems, n, generator=g, dtype=dtype))
            w = torch.where(exhausted.unsqueeze(-1), r / r.norm(dim=-1, keepdim=True), w)
            beta = torch.where(exhausted, 0.0, beta)
        betas.append(beta)
        q_prev, q = q, w / torch.where(exhausted, 1.0, beta).unsqueeze(-1)
        basis.append(q)
    a = torch.stack(alphas, -1)
    tri = torch.diag_embed(a)
    if betas:
        b = torch.stack(betas, -1)
        tri = tri + torch.diag_embed(b, 1) + torch.diag_embed(b, -1)
    ritz = torch.linalg.eigvalsh(tri)
    return ritz[..., 0], ritz[..., -1]


def plot_spectrum(eigs, lams, axes=None):
    """(left) the eigenvalues of H, sorted; (right) those of I + H/lam for each lam in `lams`,
    with the indefinite ones (<= 0) marked. eigs: (P,) for one task. Returns (fig, axes)."""
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    else:
        fig = axes[0].figure
    e = eigs.double().numpy()
    idx = np.arange(1, e.size + 1)
    ax = axes[0]
    ax.plot(idx, e, color=COLORS["imaml"], lw=1.5)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_yscale("symlog", linthresh=1e-2)
    ax.set(xlabel="index j (sorted)", ylabel="eigenvalue $e_j$ of $H$",
           title=f"spectrum of the {e.size:,} x {e.size:,} Hessian $H$ of $L_{{tr}}$")
    ax = axes[1]
    shades = plt.cm.viridis(np.linspace(0.1, 0.85, len(lams)))
    for lam, c in zip(lams, shades, strict=True):
        s = system_eigenvalues(eigs, lam).numpy()
        kappa = condition_number(eigs, lam).item()
        label = (f"$\\lambda$ = {lam:g}: " +
                 (f"$\\kappa$ = {kappa:,.0f}" if math.isfinite(kappa) else "indefinite"))
        ax.plot(idx, s, color=c, lw=1.5, label=label)
        neg = s <= 0
        if neg.any():
            ax.plot(idx[neg], s[neg], "x", color=c, ms=5)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_yscale("symlog", linthresh=1e-1)
    ax.set(xlabel="index j (sorted)", ylabel="$1 + e_j / \\lambda$",
           title="eigenvalues of $I + H/\\lambda$ (x: $\\leq 0$)")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig, axes
