"""Checkers for notebook 02 (multi-task learning).

Each check_* compares the student's function with an independent computation (a different
algorithm for the same minimiser), prints "correct: ..." or "not yet right: ..." and returns
True / False; a stub or an error in the student's code is reported, never raised.
"""

import torch

from helpers.evaluation import mean_ci
from helpers.exercises import call, report
from helpers.lessons.transfer.exercises import as_tensor
from helpers.lessons.transfer.finetune import held_out_batch

from .heads import design_matrix, fit_head, head_mse


def _problem(seed, k, d):
    g = torch.Generator().manual_seed(seed)
    phi = torch.randn(k, d, generator=g, dtype=torch.float64)
    phi[:, -1] = 1.0  # the bias column of [h(x), 1]
    y = torch.randn(k, generator=g, dtype=torch.float64)
    return phi, y, torch.randn(d, generator=g, dtype=torch.float64)


# ------------------------------------------------------------------ exercise 1: the ridge head

def ridge_reference(phi, y, w_bar, lam):
    """argmin_w ||phi w - y||^2 / K + (lam/2)||w - w_bar||^2 as an ordinary least-squares problem
    on the stacked system [phi / sqrt(K); sqrt(lam/2) I] w = [y / sqrt(K); sqrt(lam/2) w_bar]."""
    k, d = phi.shape
    a = torch.cat([phi / k**0.5, (lam / 2) ** 0.5 * torch.eye(d, dtype=phi.dtype)])
    b = torch.cat([y / k**0.5, (lam / 2) ** 0.5 * w_bar])
    return torch.linalg.lstsq(a, b.unsqueeze(-1), driver="gelsd").solution[:, 0]


def check_ridge_head(ridge_head, rtol=1e-6):
    """Exercise 1: ridge_head(phi, y, w_bar, lam) -> w (d,) for one task: phi (K, d), y (K,),
    w_bar (d,); compared with least squares on the stacked system (float64)."""
    for seed, k, d, lam in [(2, 3, 6, 1.0), (1, 20, 41, 0.1), (0, 5, 41, 1e-3), (3, 50, 10, 1e-2)]:
        phi, y, w_bar = _problem(seed, k, d)
        name = getattr(ridge_head, "__name__", "your function")
        text = f"{name}(phi of shape ({k}, {d}), y, w_bar, lam={lam})"
        got, problem = call(ridge_head, phi.clone(), y.clone(), w_bar.clone(), lam, name=text)
        if problem:
            return report(False, problem)
        got, problem = as_tensor(got, text, (d,))
        if problem:
            return report(False, problem)
        reference = ridge_reference(phi, y, w_bar, lam)
        err = ((got - reference).norm() / reference.norm()).item()
        if not err <= rtol:
            return report(False, f"{text} is off by {err:.2g} (relative). Hint: set the gradient "
                                 "(2/K) phi^T (phi w - y) + lam (w - w_bar) to zero and solve for w.")
    return report(True, "the head is one small linear solve: as many unknowns as trunk features + 1, "
                        "whatever K is, and it is the exact minimiser (no learning rate, no steps).")


# ------------------------------------------------------------ exercise 2: a head in the heads' span

def subspace_reference(phi, y, heads, r):
    """w_bar + V c: V spans the top-r principal directions of the trained heads (eigenvectors of
    their covariance), c the least-squares coefficients on the support points."""
    w_bar = heads.mean(0)
    centred = heads - w_bar
    _, vecs = torch.linalg.eigh(centred.T @ centred)
    v = vecs[:, -r:]  # eigh sorts eigenvalues in ascending order
    c = torch.linalg.lstsq(phi @ v, (y - phi @ w_bar).unsqueeze(-1), driver="gelsd").solution[:, 0]
    return w_bar + v @ c


def check_subspace_head(subspace_head, model=None, params=None, k_shot=5, n_tasks=100, rtol=1e-5):
    """Exercise 2: subspace_head(phi, y, heads, r) -> w (d,): the head w_bar + V c with V the top-r
    principal directions of the trained heads (M, d) and c fitted by least squares on the K
    support points. Checked against an eigen-decomposition; with (model, params) it also reports the
    K-shot query MSE on held-out tasks next to the ridge head's."""
    g = torch.Generator().manual_seed(5)
    for seed, k, d, m, r in [(0, 5, 41, 20, 2), (1, 10, 41, 50, 3), (2, 4, 6, 8, 1)]:
        phi, y, _ = _problem(seed, k, d)
        # heads with a dominant r-dimensional spread, as the trained heads have
        def randn(*shape):
            return torch.randn(*shape, generator=g, dtype=torch.float64)

        heads = randn(m, r) @ randn(r, d) + 0.05 * randn(m, d) + randn(d)
        name = getattr(subspace_head, "__name__", "your function")
        text = f"{name}(phi of shape ({k}, {d}), y, heads of shape ({m}, {d}), r={r})"
        got, problem = call(subspace_head, phi.clone(), y.clone(), heads.clone(), r, name=text)
        if problem:
            return report(False, problem)
        got, problem = as_tensor(got, text, (d,))
        if problem:
            return report(False, problem)
        reference = subspace_reference(phi, y, heads, r)
        err = ((got - reference).norm() / reference.norm()).item()
        if not err <= rtol:
            return report(False, f"{text} is off by {err:.2g} (relative). Hint: centre the heads on their "
                                 "mean, take the top-r right singular vectors V (torch.linalg.svd), then "
                                 "solve (phi V) c = y - phi w_bar by least squares.")
    message = "the new head lives in the span the training tasks found."
    if model is not None:
        batch = held_out_batch(k_shot, n_tasks)
        phi_tr = design_matrix(model, params, batch.x_tr).double()
        heads = model.head_matrix(params).double()
        ws = torch.stack([subspace_head(phi_tr[i], batch.y_tr[i, :, 0].double(), heads, 2)
                          for i in range(n_tasks)]).to(batch.x_tr.dtype)
        sub_err = head_mse(model, params, ws, batch.x_te, batch.y_te)
        ridge_err = head_mse(model, params, fit_head(model, params, batch.x_tr, batch.y_tr), batch.x_te,
                             batch.y_te)
        sub, ridge, delta = mean_ci(sub_err), mean_ci(ridge_err), mean_ci(sub_err - ridge_err)
        message += (f" {k_shot}-shot query MSE on {n_tasks} held-out tasks: r = 2 subspace head "
                    f"{sub[0]:.3f} ± {sub[1]:.3f}, ridge head {ridge[0]:.3f} ± {ridge[1]:.3f}; paired "
                    f"difference on the same tasks {delta[0]:+.3f} ± {delta[1]:.3f}, the subspace head "
                    f"lower on {int((sub_err < ridge_err).sum())} of {n_tasks}.")
    return report(True, message)
