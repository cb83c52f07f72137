"""Transfer learning, measured: what pooled pretraining converges to, why fine-tuning from there is slow,
and how it compares with a network trained from scratch on the same K points.

- Pooled optimum: minimising E_{A,b,x}[(f(x) - A sin(x - b))^2] over all functions gives, at each x,
  the average target f*(x) = E[A] E_b[sin(x - b)] = -(2 E[A] / pi) cos x for b ~ U[0, pi].
- Fine-tuning, linearised: for GD on L_tr(phi) = (1/K) ||f_phi(X) - y||^2 near theta, the residual
  r = f(X) - y evolves as r_{t+1} = (I - (2 lr / K) J J^T) r_t, J = d f(X) / d phi (K x P). In the
  eigenbasis of the K x K kernel J J^T (eigenvalues mu_j), mode j shrinks by (1 - 2 lr mu_j / K) per
  step: lr must stay below K / mu_max, and then modes with small mu_j barely move.
"""

import math

import torch

from helpers.evaluation import mean_ci
from helpers.inner import adapt
from helpers.lessons.toy.panels import SCRATCH_LR, SCRATCH_STEPS, fit_from_scratch
from helpers.models import MLP, flatten, loss_grad, mse
from helpers.tasks import SinusoidTasks

HELD_OUT_SEED = 1_000_001  # held-out tasks of notebooks 01 and 02 (no training run uses it)


# ---------------------------------------------------------------------------------------------- #
# What pooled pretraining converges to

def pooled_optimum(x, tasks=SinusoidTasks()):
    """f*(x) = E[A sin(x - b)] = E[A] (cos(x - b_1) - cos(x - b_0)) / (b_1 - b_0) for
    A ~ U[a_0, a_1], b ~ U[b_0, b_1]: the minimiser of the pooled loss (the conditional mean of y
    given x). For the course's b ~ U[0, pi]: -(2 E[A] / pi) cos x."""
    mean_a = sum(tasks.amplitude) / 2
    b0, b1 = tasks.phase
    if b1 == b0:
        return mean_a * torch.sin(x - b0)
    return mean_a * (torch.cos(x - b1) - torch.cos(x - b0)) / (b1 - b0)


def pooled_optimum_mse(tasks=SinusoidTasks(), n_grid=2000):
    """E_T[L_test(f*)]: the query error of f* on a new task, E_x[Var(y | x)] = E[y^2] - E_x[f*(x)^2].

    E[y^2] = E[A^2] E_{x,b}[sin^2(x - b)]; the x and b averages are midpoint rules on n_grid points.
    """
    a0, a1 = tasks.amplitude
    mean_a2 = (a0 * a0 + a0 * a1 + a1 * a1) / 3

    def midpoints(low_high):
        low, high = low_high
        return low + (high - low) * (torch.arange(n_grid, dtype=torch.float64) + 0.5) / n_grid

    x, b = midpoints(tasks.x_range), midpoints(tasks.phase)
    mean_sin2 = torch.sin(x[:, None] - b[None, :]).pow(2).mean()
    return (mean_a2 * mean_sin2 - pooled_optimum(x, tasks).pow(2).mean()).item()


# ---------------------------------------------------------------------------------------------- #
# Why fine-tuning is slow: the linearised dynamics of gradient descent on the K support points

def support_jacobian(model, params, x):
    """J = d f_phi(x_j) / d phi at phi = params, for one task's K inputs x (K, 1): shape (K, P).

    One backward pass: each input x_j gets its own copy of the parameters (a task axis of size K),
    so the gradient of sum_j f(x_j) with respect to copy j is row j of J.
    """
    k = x.shape[0]
    with torch.enable_grad():
        copies = {n: v.detach().expand(k, *v.shape).clone().requires_grad_() for n, v in params.items()}
        out = model(copies, x.view(k, 1, -1)).sum()
        grads = torch.autograd.grad(out, list(copies.values()))
    return flatten(dict(zip(copies, grads, strict=True)), batch_dims=1)


def kernel_spectrum(model, params, x):
    """Eigenvalues mu (descending, (K,)) and eigenvectors U (K, K) of the kernel J J^T at params."""
    jac = support_jacobian(model, params, x).double()
    mu, u = torch.linalg.eigh(jac @ jac.T)
    return mu.flip(0).clamp_min(0.0), u.flip(1)


def max_stable_lr(mu, k_shot):
    """The largest GD step for which no mode of the linearised support loss grows: K / mu_max."""
    return k_shot / mu.max().item()


def linearised_support_loss(mu, u, residual, lr, steps):
    """L_tr after t = 0..steps GD steps of the linearised model: (1/K) sum_j (1 - 2 lr mu_j/K)^(2t) c_j^2,
    with c = U^T r_0 the initial residual r_0 = f(X) - y (K,) in the kernel's eigenbasis."""
    k = mu.shape[0]
    c2 = (u.T @ residual.double()).pow(2)
    t = torch.arange(steps + 1, dtype=torch.float64)[:, None]
    return ((1 - 2 * lr * mu / k)[None, :].pow(2 * t) * c2).sum(-1) / k


def fine_tune(model, params, x, y, steps, lr, x_te=None, y_te=None, record=None):
    """phi_t = phi_{t-1} - lr grad L_tr(phi_{t-1}) for t = 1..steps on one task (x, y of shape (K, 1)),
    from phi_0 = params. Returns (phi_steps, L_tr (steps + 1,), L_test or None).

    L_test (on x_te, y_te) is computed after the steps listed in `record` (default: every step;
    L_test then has shape (steps + 1,), else (len(record),)). One batched backprop per step (the
    model's own loss_grad); raises FloatingPointError if the loss stops being finite.
    """
    check_lr(lr)
    record = set(range(steps + 1) if record is None else record)
    xb, yb = x.unsqueeze(0), y.unsqueeze(0)
    phi = {k: v.detach().unsqueeze(0) for k, v in params.items()}
    train, test = [], []
    with torch.no_grad():
        for t in range(steps + 1):
            if x_te is not None and t in record:
                test.append(mse(model, phi, x_te, y_te).reshape(()))
            if t == steps:
                train.append(mse(model, phi, xb, yb))
                break
            loss, grads = loss_grad(model, phi, xb, yb)
            train.append(loss)
            phi = {k: p - lr * grads[k] for k, p in phi.items()}
    train = torch.cat(train)
    if not torch.isfinite(train[-1]):
        raise FloatingPointError(f"fine-tuning diverged (loss is not finite): lower the learning rate "
                                 f"(lr={lr})")
    return {k: v[0] for k, v in phi.items()}, train, torch.stack(test) if x_te is not None else None


def support_curves(model, params, x, y, steps, lr):
    """L_tr (steps + 1, T) of GD from params on T tasks (x, y of shape (T, K, 1)) with a step size
    per task, lr of shape (T,) (or a number). Nothing is raised: a diverging task shows inf or nan."""
    lr = torch.as_tensor(lr, dtype=x.dtype).expand(x.shape[0])
    phi = {k: v.detach().expand(x.shape[0], *v.shape) for k, v in params.items()}
    losses = []
    with torch.no_grad():
        for _ in range(steps):
            loss, grads = loss_grad(model, phi, x, y)
            losses.append(loss)
            phi = {k: p - lr.view(-1, *[1] * (p.dim() - 1)) * grads[k] for k, p in phi.items()}
        losses.append(mse(model, phi, x, y))
    return torch.stack(losses)


def kernel_limits(model, params, x):
    """K / mu_max for each of T tasks (x of shape (T, K, 1)): the linearised model's largest stable step."""
    return torch.tensor([max_stable_lr(kernel_spectrum(model, params, xi)[0], xi.shape[0]) for xi in x])


def step_size_probe(model, params, x, y, factors=(0.5, 1, 2, 4, 10), steps=100):
    """{factor: (tasks whose first step raises L_tr, tasks that diverge within `steps`)} for GD
    with lr = factor * K / mu_max per task, on T tasks (x, y of shape (T, K, 1)). Diverged: L_tr
    not finite or above 1e3 after `steps` steps (the targets' variance is ~4)."""
    limits = kernel_limits(model, params, x)
    out = {}
    for factor in factors:
        curves = support_curves(model, params, x, y, steps, factor * limits)
        diverged = ~torch.isfinite(curves[-1]) | (curves[-1] > 1e3)
        out[factor] = (int((curves[1] > curves[0]).sum()), int(diverged.sum()))
    return out


def linearisation_errors(model, params, x, y, steps, lr):
    """max over t = 1..steps of |L_tr linearised - L_tr network| / L_tr network, per task: (T,)."""
    real = support_curves(model, params, x, y, steps, lr).double()
    errors = []
    for i in range(x.shape[0]):
        mu, u = kernel_spectrum(model, params, x[i])
        with torch.no_grad():
            r0 = (model(params, x[i]) - y[i])[:, 0]
        lin = linearised_support_loss(mu, u, r0, lr, steps)
        errors.append(((lin[1:] - real[1:, i]).abs() / real[1:, i]).max())
    return torch.stack(errors)


# ---------------------------------------------------------------------------------------------- #
# Transfer vs scratch on held-out tasks

def held_out_batch(k_shot, n_tasks=100, seed=HELD_OUT_SEED, k_query=100, tasks=SinusoidTasks()):
    """The held-out tasks of notebooks 01 and 02 for a given K (the same for every method)."""
    return tasks.sample(n_tasks, k_shot, k_query, seed)


def transfer_errors(model, params, batch, steps=(0, 1, 5, 10), lr=0.01):
    """{n: query MSE (T,)} of the pretrained network after n fine-tuning GD steps of size lr on each
    task's support set, for every n in steps (the query set is scored only at those n)."""
    check_lr(lr)
    checkpoints = sorted(set(steps))
    if not checkpoints or checkpoints[0] < 0 or any(int(n) != n for n in checkpoints):
        raise ValueError(f"steps must be integers >= 0, got {steps!r}")
    phi, done, errors = params, 0, {}
    for n in checkpoints:
        phi = adapt(model, phi, batch.x_tr, batch.y_tr, n - done, lr) if n > done else phi
        done = n
        with torch.no_grad():
            errors[n] = mse(model, phi, batch.x_te, batch.y_te)
    return errors


def scratch_errors(batch, steps=SCRATCH_STEPS, lr=SCRATCH_LR, seed=0):
    """Query MSE (T,) of a network fitted from scratch on each task's K points (notebook 00's fit)."""
    model = MLP()
    phi = fit_from_scratch(batch.x_tr, batch.y_tr, steps, lr, seed, model)
    with torch.no_grad():
        return mse(model, phi, batch.x_te, batch.y_te)


def mse_table(rows, columns):
    """A markdown table: rows {label: {column: (mean, ci95)}}, columns the column keys in order."""
    lines = ["| | " + " | ".join(str(c) for c in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for label, values in rows.items():
        cells = [f"{values[c][0]:.2f} ± {values[c][1]:.2f}" if c in values else "" for c in columns]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_table(rows, columns):
    """A markdown table of paired differences: rows {label: {column: delta}}, delta (T,) the per-task
    differences a - b of two methods' errors on the same T tasks. Each cell: mean(delta) with its 95%
    CI half-width, and in brackets on how many of the T tasks a has the lower error (delta < 0)."""
    lines = ["| | " + " | ".join(str(c) for c in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for label, values in rows.items():
        cells = []
        for c in columns:
            if c not in values:
                cells.append("")
                continue
            delta = values[c]
            mean, ci = mean_ci(delta)
            cells.append(f"{mean:+.2f} ± {ci:.2f} ({int((delta < 0).sum())}/{delta.numel()})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def check_lr(lr, high=1.0):
    """ValueError unless 0 < lr <= high (a slider's learning rate)."""
    if not (isinstance(lr, int | float) and math.isfinite(lr) and 0 < lr <= high):
        raise ValueError(f"the fine-tuning learning rate must be in (0, {high}], got {lr!r}")
