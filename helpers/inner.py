"""Inner loops: task adaptation phi = Alg(theta, D^tr), batched over tasks.

`adapt` is MAML's inner loop: k steps of gradient descent, optionally on the proximal objective
    G_i(phi) = L_tr(phi) + (lam/2) ||phi - theta||^2                         (iMAML eq. 4)
and differentiable end to end when create_graph=True.
`proximal_solve` and `hessian_free_solve` are iMAML's two inner solvers (Algorithm 2, step 3):
gradient descent, or Newton steps solved by conjugate gradient, on G_i until ||grad G_i(phi)|| <=
delta for every task (or max_steps run out); no graph is kept. `inner_solve` picks one by name.
"""

from dataclasses import asdict, dataclass

import torch

from .cg import conjugate_gradient
from .checks import check_finite, check_int, check_non_negative, check_positive
from .models import flatten, hvp_operator, loss_grad, mse, per_task, task_norm, unflatten
from .precondition import gauss_newton_preconditioner


def _as_batched(params, x, y):
    """Lift a single task (x of shape (N, 1)) to a batch of one; report whether we did."""
    if x.dim() not in (2, 3) or x.shape != y.shape:
        raise ValueError(
            f"x and y must both have shape (N, 1) or (tasks, N, 1), got {tuple(x.shape)} and "
            f"{tuple(y.shape)}"
        )
    if x.dim() == 2:
        single = all(p.dim() <= 2 for p in params.values())
        return x.unsqueeze(0), y.unsqueeze(0), single
    return x, y, False


def _lift(theta, n_tasks):
    """theta as one slice per task, unless it already carries a task axis."""
    return theta if theta["w0"].dim() == 3 else per_task(theta, n_tasks)


def _check_finite(loss, what, hint, **inputs):
    """A non-finite loss: ValueError naming an input that holds NaN or inf, else FloatingPointError."""
    if not torch.isfinite(loss).all():
        check_finite(**inputs)  # NaN in, NaN out: name the input
        raise FloatingPointError(f"{what} diverged (loss is not finite): {hint}")


def adapt(model, params, x, y, steps, lr, lam=0.0, create_graph=False, check=True):
    """phi after `steps` gradient steps of size lr on L_tr(phi) + (lam/2)||phi - params||^2.

    x, y: one task (N, 1) or a batch (T, N, 1); params: shared theta, or per-task with a task axis.
    create_graph=True keeps the unrolled loop differentiable w.r.t. params (MAML).
    check=False returns a diverged task's non-finite phi instead of raising (evaluation counts them).
    """
    check_int("steps", steps, 0)
    check_non_negative(lam=lam)
    check_positive(lr=lr)
    x, y, single = _as_batched(params, x, y)
    theta = _lift(params, x.shape[0])
    if not create_graph:
        theta = {k: v.detach() for k, v in theta.items()}
    phi = theta
    with torch.set_grad_enabled(create_graph):
        for _ in range(steps):
            _, grads = loss_grad(model, phi, x, y, create_graph)
            phi = {k: p - lr * (grads[k] + lam * (p - theta[k])) if lam else p - lr * grads[k]
                   for k, p in phi.items()}
    if steps and check:
        _check_finite(mse(model, phi, x, y), "adaptation", f"lower the learning rate (lr={lr})",
                      x=x, y=y, params=params)
    return {k: p[0] for k, p in phi.items()} if single else phi


@dataclass
class ProximalSolution:
    """phi per task and how the solve went: grad_norms[s, i] = ||grad G_i|| before iteration s."""

    phi: dict
    steps: torch.Tensor  # (T,) accepted steps per task
    grad_norms: torch.Tensor  # (S + 1, T), one row per iteration
    grad_evals: torch.Tensor  # (T,) gradient evaluations spent (a Hessian-vector product counts 2)

    @property
    def final_grad_norm(self):
        return self.grad_norms[-1]


def proximal_objective(model, phi, theta, x, y, lam):
    """G_i(phi) = L_tr_i(phi) + (lam/2)||phi - theta||^2, shape (T,), and its gradient, per task."""
    loss, grads = loss_grad(model, phi, x, y)
    diff = {k: phi[k] - theta[k] for k in phi}
    G = loss + 0.5 * lam * task_norm(diff).pow(2)
    return G, {k: g + lam * diff[k] for k, g in grads.items()}


def proximal_grad(model, phi, theta, x, y, lam):
    """grad_phi G_i(phi) = grad L_tr(phi) + lam (phi - theta), per task."""
    return proximal_objective(model, phi, theta, x, y, lam)[1]


def _where(mask, a, b):
    """Per task: a[i] where mask[i] else b[i], for dicts of tensors with a leading task axis."""
    return {k: torch.where(mask.view(-1, *[1] * (a[k].dim() - 1)), a[k], b[k]) for k in a}


def proximal_solve(model, params, x, y, lam, lr, max_steps, delta, trace=None):
    """iMAML's inner solve (Algorithm 2, step 3): phi_i with ||grad G_i(phi_i)|| <= delta.

    Gradient descent from phi = theta, at most max_steps iterations; each task stops as soon as
    its own gradient norm is below delta. A step that would increase G_i is rejected and that
    task's step size halved, so the solve never diverges. Where G_i is strongly convex (H_i + lam I
    positive definite), ||phi - phi*|| <= ||grad G_i|| / (lam + smallest eigenvalue of H_i):
    delta controls the distance to the exact minimiser. `trace`, a list, receives (flat phi (T, P),
    ||grad G|| (T,), gradient evaluations so far (T,)) after every iteration.
    """
    check_positive(lam=lam, lr=lr)
    check_int("max_steps", max_steps, 0)
    check_non_negative(delta=delta)
    x, y, _ = _as_batched(params, x, y)
    theta = {k: v.detach() for k, v in _lift(params, x.shape[0]).items()}
    phi = dict(theta)
    G, g = proximal_objective(model, phi, theta, x, y, lam)
    norms = [task_norm(g)]
    _check_finite(G, "the inner objective", "check the inputs for NaN or inf", x=x, y=y, params=params)
    steps = torch.zeros(x.shape[0], dtype=torch.long)
    evals = torch.ones(x.shape[0], dtype=torch.long)
    step_size = torch.full((x.shape[0],), float(lr), dtype=x.dtype)
    for _ in range(max_steps):
        active = norms[-1] > delta
        if not active.any():
            break
        evals += active
        scale = step_size * active
        trial = {k: p - scale.view(-1, *[1] * (p.dim() - 1)) * g[k] for k, p in phi.items()}
        G_trial, g_trial = proximal_objective(model, trial, theta, x, y, lam)
        # accept unless G rises by more than rounding (a NaN or inf trial is rejected too)
        accept = active & (G_trial <= G + 16 * torch.finfo(G.dtype).eps * G.abs())
        step_size = torch.where(active & ~accept, step_size / 2, step_size)
        phi, g = _where(accept, trial, phi), _where(accept, g_trial, g)
        G = torch.where(accept, G_trial, G)
        steps += accept
        norms.append(task_norm(g))
        if trace is not None:
            trace.append((flatten(phi, batch_dims=1), norms[-1], evals.clone()))
    return ProximalSolution(phi, steps, torch.stack(norms), evals)


def _flat_objective(model, phi, theta, like, x, y, lam):
    """proximal_objective on flat per-task vectors phi, theta (T, P): (G (T,), gradient), gradient()
    -> (grad G (T, P), lin), lin the model's Linearization at phi (helpers.models.MLP.linearize;
    None for another model). A Linearization's backward pass runs only when gradient() is called
    (a line search's rejected trials need G alone)."""
    phi_dict = unflatten(phi, like)
    diff = phi - theta
    if hasattr(model, "linearize"):
        loss, hs = model.forward_loss(phi_dict, x, y)

        def gradient():
            lin = model.linearize(phi_dict, x, y, hs)
            return torch.add(flatten(lin.grads, 1), diff, alpha=lam), lin
    else:
        loss, grads = loss_grad(model, phi_dict, x, y)

        def gradient():
            return torch.add(flatten(grads, 1), diff, alpha=lam), None
    return loss + 0.5 * lam * torch.linalg.vecdot(diff, diff), gradient


def curvature_products(model, phi, x, y, like, precondition=False, shift=1.0, scale=1.0, lin=None):
    """(hvp, M_inv) at per-task phi: v -> H_i v (helpers.models.hvp_operator) and, if precondition,
    the Gauss-Newton preconditioner with shift and scale (else None). A model with a Linearization
    (helpers.models.MLP.linearize; `lin` if already at hand, and then phi is not read) gives both
    from one pass at phi."""
    if lin is None and hasattr(model, "linearize"):
        lin = model.linearize(phi, x, y)
    hvp = hvp_operator(model, phi, x, y, like) if lin is None else lin.hvp_operator(like)
    if not precondition:
        return hvp, None
    factors = None if lin is None else lin.jacobian_factors()
    return hvp, gauss_newton_preconditioner(model, phi, x, shift, scale, factors)


def _newton_step(model, phi, theta, like, x, y, lam, G, g, norm, mu, cg_steps, precondition, lin):
    """One damped Newton step on G_i for each of the given tasks (see hessian_free_solve), on flat
    (T, P) phi, theta and g = grad G, lin the Linearization at phi (or None). Returns (phi, G, g,
    accepted, mu, gradient evaluations, the Linearization at the new phi or None)."""
    phi_dict = unflatten(phi, like) if lin is None else None
    hvp, M_inv = curvature_products(model, phi_dict, x, y, like, precondition, lam + mu, lin=lin)
    shift = (lam + mu).unsqueeze(-1)
    # inexact Newton: CG to a relative residual of min(0.1, ||grad G||) keeps convergence
    # superlinear without solving each system to rounding error
    newton = conjugate_gradient(lambda u: hvp(u).addcmul_(shift, u), g, cg_steps, norm * norm.clamp(max=0.1),
                                M_inv)
    evals = 2 * newton.steps_taken
    # CG's iterate before an indefinite direction still descends unless it is 0; else the step of
    # the system without H
    d = torch.where((torch.linalg.vecdot(g, newton.x) > 0).unsqueeze(-1), newton.x, g / shift)
    slope = torch.linalg.vecdot(g, d)
    t = torch.ones_like(norm)
    ok = torch.zeros_like(norm, dtype=torch.bool)
    rounding = 16 * torch.finfo(G.dtype).eps * G.abs()
    for _ in range(30):  # Armijo backtracking, per task (at rounding level, no decrease is asked)
        evals += ~ok
        trial = phi - t.unsqueeze(-1) * d
        G_trial, gradient = _flat_objective(model, trial, theta, like, x, y, lam)
        ok = G_trial <= G - 1e-4 * t * slope + rounding
        if ok.all():
            break
        t = torch.where(ok, t, t / 2)
    g_trial, lin_trial = gradient()
    full = ok & (t == 1) & ~newton.non_positive_curvature
    mu = torch.where(full, mu / 4, torch.clamp(4 * mu, min=0.1 * lam))
    keep = ok.unsqueeze(-1)
    # every task accepted: the last trial is the new phi of all, evaluated with its passes
    return (torch.where(keep, trial, phi), torch.where(ok, G_trial, G), torch.where(keep, g_trial, g), ok, mu,
            evals, lin_trial if ok.all() else None)


def hessian_free_solve(model, params, x, y, lam, max_steps, delta, cg_steps=10, phi=None, trace=None,
                       precondition=False):
    """iMAML's Hessian-free inner solver: at most max_steps damped Newton steps on G_i, each

        d_i = (H_i + (lam + mu_i) I)^-1 grad G_i(phi_i)     (cg_steps of CG, Hessian-vector products)
        phi_i <- phi_i - t_i d_i                             (t_i = 1, halved until G_i falls enough)

    from phi = theta (or the warm start `phi`), each task stopping once ||grad G_i|| <= delta (only
    the tasks still running are computed). The damping mu_i (Levenberg-Marquardt) grows when CG
    finds the system indefinite or the full step was cut, and shrinks after a full step: Newton near
    a minimiser, safe steps away from one. precondition=True runs the CG preconditioned by the
    Gauss-Newton part of H_i (helpers.precondition): Newton steps of the same accuracy in fewer CG
    iterations. `trace`, a list, receives (flat phi (T, P), ||grad G|| (T,), gradient evaluations
    so far (T,)) after every step.
    """
    check_positive(lam=lam)
    check_int("max_steps", max_steps, 0)
    check_int("cg_steps", cg_steps, 0)
    check_non_negative(delta=delta)
    x, y, _ = _as_batched(params, x, y)
    lifted = _lift(params, x.shape[0])
    like = {k: v[0] for k, v in lifted.items()}
    theta = flatten(lifted, batch_dims=1).detach()
    phi = theta if phi is None else flatten(phi, batch_dims=1).detach()
    G, gradient = _flat_objective(model, phi, theta, like, x, y, lam)
    g, lin = gradient()
    _check_finite(G, "the inner objective", "check the inputs for NaN or inf", x=x, y=y, params=params)
    norms = [g.norm(dim=-1)]
    n_tasks = x.shape[0]
    steps = torch.zeros(n_tasks, dtype=torch.long)
    evals = torch.ones(n_tasks, dtype=torch.long)
    # the running tasks i and their state, narrowed when tasks stop; phi (all tasks) is written back
    # when they do, and after every step for a trace
    i, mu = torch.arange(n_tasks), torch.zeros(n_tasks, dtype=x.dtype)
    phi_i, theta_i, x_i, y_i, G_i, g_i = phi, theta, x, y, G, g
    for _ in range(max_steps):
        running = (norms[-1] > delta).nonzero().squeeze(1)
        if not len(running):
            break
        if len(running) < len(i):
            phi = phi.index_copy(0, i, phi_i)
            keep = torch.searchsorted(i, running)
            phi_i, theta_i, x_i, y_i, G_i, g_i, mu = (t[keep]
                                                      for t in (phi_i, theta_i, x_i, y_i, G_i, g_i, mu))
            lin = None if lin is None else lin.index(keep)
            i = running
        phi_i, G_i, g_i, ok, mu, evals_i, lin = _newton_step(
            model, phi_i, theta_i, like, x_i, y_i, lam, G_i, g_i, norms[-1][i], mu, cg_steps, precondition,
            lin)
        steps, evals = steps.index_add(0, i, ok.long()), evals.index_add(0, i, evals_i)
        norms.append(norms[-1].index_copy(0, i, g_i.norm(dim=-1)))
        if trace is not None:
            phi = phi.index_copy(0, i, phi_i)
            trace.append((phi, norms[-1], evals.clone()))
    phi = phi.index_copy(0, i, phi_i)
    return ProximalSolution(unflatten(phi, like), steps, torch.stack(norms), evals)


INNER_SOLVERS = ("gd", "hessian_free")


def inner_solve(model, params, x, y, lam, delta, solver="gd", inner_lr=0.01, inner_steps=16, cg_steps=10,
                trace=None, precondition=False):
    """Algorithm 2, step 3 with the named solver: proximal_solve ("gd": inner_steps gradient steps of
    size inner_lr at most) or hessian_free_solve ("hessian_free": inner_steps Newton steps of
    cg_steps CG steps each at most, preconditioned CG if precondition)."""
    if solver == "gd":
        return proximal_solve(model, params, x, y, lam, inner_lr, inner_steps, delta, trace)
    if solver == "hessian_free":
        return hessian_free_solve(model, params, x, y, lam, inner_steps, delta, cg_steps, trace=trace,
                                  precondition=precondition)
    raise ValueError(f"solver must be one of {INNER_SOLVERS}, got {solver!r}")


@dataclass(frozen=True)
class Adaptation:
    """A test-time adaptation rule phi = Alg(theta, D^tr) run for at most `steps` iterations,
    task-batched: lam = 0: gradient steps of size lr on L_tr (MAML's inner loop, no safeguard);
    lam > 0: iterations of iMAML's inner solver `solver` on G, as in meta-training: a task stops once
    ||grad G|| <= delta (delta = 0: every iteration runs). A task whose gradient steps diverge gets a
    non-finite phi (evaluation counts it)."""

    lr: float = 0.01
    lam: float = 0.0
    solver: str = "gd"
    cg_steps: int = 10
    delta: float = 0.0

    def __post_init__(self):
        check_positive(lr=self.lr)
        check_non_negative(lam=self.lam, delta=self.delta)
        check_int("cg_steps", self.cg_steps, 0)
        if self.solver not in INNER_SOLVERS:
            raise ValueError(f"solver must be one of {INNER_SOLVERS}, got {self.solver!r}")

    def __call__(self, model, params, batch, steps):
        return self.path(model, params, batch, steps)[-1]

    def path(self, model, params, batch, steps):
        """[phi after 0, 1, ..., steps iterations] (the first is theta, with a task axis)."""
        theta = _lift(params, batch.n_tasks)
        if self.lam:
            trace = []
            inner_solve(model, params, batch.x_tr, batch.y_tr, self.lam, self.delta, self.solver, self.lr,
                        steps, self.cg_steps, trace)
            phis = [theta] + [unflatten(flat, {k: v[0] for k, v in theta.items()}) for flat, *_ in trace]
            return phis + phis[-1:] * (steps + 1 - len(phis))  # every task stopped at delta early
        phis = [theta]
        for _ in range(steps):
            phis.append(adapt(model, phis[-1], batch.x_tr, batch.y_tr, 1, self.lr, check=False))
        return phis

    def describe(self):
        if not self.lam:
            return f"n gradient steps of size {self.lr} on L_tr"
        stop = f", each task stopping once ||grad G|| <= {self.delta:g}" if self.delta else ""
        if self.solver == "gd":
            return (f"n iterations of gradient descent on L_tr + lam/2 ||phi - theta||^2 (lam = {self.lam}, "
                    f"step {self.lr}, a step that would raise the objective rejected and halved{stop})")
        return (f"n Hessian-free (Newton-CG) iterations on L_tr + lam/2 ||phi - theta||^2 (lam = {self.lam}, "
                f"at most {self.cg_steps} CG steps each, backtracking line search{stop})")

    def as_dict(self):
        return asdict(self)
